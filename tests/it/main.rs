//! The one integration-test binary (`cargo test --test it`). One module per area.
mod tools;
mod infra;
mod e2e_support;
mod conformance;
mod parser;
mod graph;
mod plan_cmd;
mod slug;
mod git_ctx;
mod pipelines;
mod dogfood;
mod action;
mod e2e;
mod precommit;
mod gitlab_dynamic;
mod cli;
mod e2e_github;
