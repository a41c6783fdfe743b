//! Renderers: reshape a plan for a CI system's template. OWNER: planner (issue 4).
