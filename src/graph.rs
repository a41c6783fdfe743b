//! The stage graph: stages, their bases and edges, after meta-ARG expansion.
//!
//! OWNER: graph work (issue 2). `StageGraph` and `Stage` are the contract the planner
//! codes against; extend them, don't rename them.

use std::collections::BTreeMap;

use crate::diag::{Diagnostic, Span};
use crate::dockerfile::Dockerfile;

/// Inputs that change how the graph resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphOptions {
    /// `--build-arg K=V` overrides of meta ARGs.
    pub build_args: BTreeMap<String, String>,
    /// Target platform, e.g. `linux/amd64` (drives TARGETOS/TARGETARCH/...).
    pub platform: String,
    /// Build platform (drives BUILDOS/BUILDARCH/...).
    pub build_platform: String,
}

impl Default for GraphOptions {
    fn default() -> Self {
        GraphOptions { build_args: BTreeMap::new(), platform: "linux/amd64".into(), build_platform: "linux/amd64".into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StageGraph {
    /// Stages in file order; `stages[i].index == i`.
    pub stages: Vec<Stage>,
    /// External images referenced (FROM bases and `--from` images), sorted, unique.
    pub images: Vec<String>,
    /// Meta ARGs (declared before the first FROM) with their resolved values.
    #[serde(skip)]
    pub meta_args: BTreeMap<String, Option<String>>,
    /// Warnings BuildKit would print (duplicate stage names, ...). Never change the graph.
    #[serde(skip)]
    pub warnings: Vec<Diagnostic>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stage {
    pub index: usize,
    /// Lower-cased `AS` name.
    pub name: Option<String>,
    /// The FROM argument after expansion.
    pub base: String,
    /// `Some(i)` when `base` names an earlier stage.
    #[serde(skip)]
    pub base_stage: Option<usize>,
    /// Sorted, unique indices of the stages this one needs (FROM, COPY/ADD --from, RUN --mount from=).
    pub depends_on: Vec<usize>,
    /// 1-based line of the FROM.
    pub line: usize,
    /// Expanded `--platform` of the FROM, if any.
    #[serde(skip)]
    pub platform: Option<String>,
    /// Every edge with its location (for errors and the plan's reasoning).
    #[serde(skip)]
    pub edges: Vec<Edge>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub kind: EdgeKind,
    pub target: EdgeTarget,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    From,
    Copy,
    Mount,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeTarget {
    Stage(usize),
    Image(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{diag}")]
pub struct GraphError {
    pub diag: Diagnostic,
}

impl Stage {
    /// The name a `--build-context`/`--target` can address: the stage name, if any.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| format!("stage-{}", self.index))
    }
}

/// Build the stage graph of a parsed Dockerfile.
pub fn build(_df: &Dockerfile, _opts: &GraphOptions) -> Result<StageGraph, GraphError> {
    Err(GraphError { diag: Diagnostic::new(Span { line: 1, col: 1 }, "graph not implemented yet") })
}
