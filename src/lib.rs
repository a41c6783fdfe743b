//! gen-pipeline: a multi-stage Dockerfile plus its git context in, per-stage CI pipelines out.
//!
//! The core is pure: [`dockerfile`] (parse, BuildKit rules) → [`graph`] (stages and edges) →
//! [`plan`] (one CI-agnostic plan) → [`render`] (templates reshape the plan; no decisions).
//! I/O lives at the edges: [`git`] (git2 + CI environment) and the binary.

pub mod app;
pub mod config;
pub mod diag;
pub mod dockerfile;
pub mod format;
pub mod gc;
pub mod gc_cmd;
pub mod git;
pub mod graph;
pub mod plan;
pub mod refs;
pub mod registry;
pub mod render;
pub mod select;
pub mod settings;
pub mod write;
