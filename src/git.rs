//! Git and CI-environment context. The only module that touches git2 or the environment;
//! the core sees the plain [`GitContext`] struct.
//!
//! OWNER: ref policy work (issue 3).
