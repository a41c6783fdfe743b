//! The CI-agnostic build plan. OWNER: planner (issue 4).
