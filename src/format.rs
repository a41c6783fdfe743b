//! Output of `gen-pipeline plan`: text, JSON, Mermaid and Graphviz renderings of the stage graph.
//!
//! The JSON document is built from serde structs ([`PlanDoc`]) so later keys (`ref`, `jobs`)
//! can be added as fields without changing the existing ones.

use std::fmt::Write as _;

use serde::Serialize;

use crate::graph::{EdgeKind, EdgeTarget, StageGraph};

/// The `--format json` document. Field order is the key order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanDoc {
    pub stages: Vec<StageDoc>,
    pub images: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageDoc {
    pub index: usize,
    pub name: Option<String>,
    pub base: String,
    pub depends_on: Vec<usize>,
    pub line: usize,
}

impl PlanDoc {
    pub fn from_graph(g: &StageGraph) -> Self {
        PlanDoc {
            stages: g
                .stages
                .iter()
                .map(|s| StageDoc {
                    index: s.index,
                    name: s.name.clone(),
                    base: s.base.clone(),
                    depends_on: s.depends_on.clone(),
                    line: s.line,
                })
                .collect(),
            images: g.images.clone(),
        }
    }
}

/// Pretty JSON with a trailing newline.
pub fn json(g: &StageGraph) -> String {
    let mut s =
        serde_json::to_string_pretty(&PlanDoc::from_graph(g)).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

/// `plan --format json`: the graph document plus the ref and the planned jobs.
pub fn plan_json(g: &StageGraph, p: &crate::plan::Plan) -> String {
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        #[serde(flatten)]
        graph: PlanDoc,
        #[serde(rename = "ref")]
        git_ref: &'a crate::refs::RefInfo,
        jobs: Vec<JobDoc<'a>>,
        /// What the planner decided and why (limits, unnamed or redefined stages, …).
        notes: &'a [String],
        /// Every stage's role (job / check / inline / alternative / unused) and the reason.
        decisions: &'a [crate::plan::StageDecision],
        /// With `runners:`: the build platform and the per-image merge jobs.
        #[serde(skip_serializing_if = "Option::is_none")]
        build_platform: &'a Option<String>,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        merges: &'a [crate::plan::MergeJob],
    }
    #[derive(serde::Serialize)]
    struct JobDoc<'a> {
        id: &'a str,
        stage: &'a str,
        /// Built, never pushed; no digest handed on.
        check: bool,
        needs: &'a [String],
        inline_stages: &'a [String],
        build_contexts: Vec<String>,
        tags: Vec<String>,
        cache_from: &'a [String],
        cache_to: &'a Option<String>,
        /// The stage input key's inputs (why a job rebuilt or skipped).
        key: &'a crate::plan::JobKey,
        /// With `runners:`: the one platform the job builds, its runner, QEMU or not.
        #[serde(skip_serializing_if = "Option::is_none")]
        platform: &'a Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        runner: &'a Option<crate::plan::Runner>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        emulated: bool,
    }
    let doc = Doc {
        graph: PlanDoc::from_graph(g),
        git_ref: &p.git_ref,
        jobs: p
            .jobs
            .iter()
            .map(|j| JobDoc {
                id: &j.id,
                stage: &j.label,
                check: j.check,
                needs: &j.needs,
                inline_stages: &j.inline_stages,
                build_contexts: j.contexts.iter().map(build_context).collect(),
                tags: qualified(&j.repository, &j.tags),
                cache_from: &j.cache.from,
                cache_to: &j.cache.to,
                key: &j.key,
                platform: &j.platform,
                runner: &j.runner,
                emulated: j.emulated,
            })
            .collect(),
        notes: &p.notes,
        decisions: &p.stages,
        build_platform: &p.build_platform,
        merges: &p.merges,
    };
    let mut out = serde_json::to_string_pretty(&doc).expect("the plan document serializes");
    out.push('\n');
    out
}

/// An image's tags as `repository:tag`.
fn qualified(repository: &str, tags: &[String]) -> Vec<String> {
    tags.iter().map(|t| format!("{repository}:{t}")).collect()
}

/// A job's `--build-context` for an upstream stage, with the digest the pipeline hands on.
fn build_context(c: &crate::plan::ContextInput) -> String {
    format!(
        "{}=docker-image://{}@<digest from {}>",
        c.stage, c.repository, c.job
    )
}

/// One line per stage: index, name, base, what it needs.
pub fn text(g: &StageGraph) -> String {
    let mut out = String::new();
    let width = g.stages.iter().map(|s| s.label().len()).max().unwrap_or(0);
    for s in &g.stages {
        let needs = if s.depends_on.is_empty() {
            "-".to_string()
        } else {
            s.depends_on
                .iter()
                .map(|&d| g.stages[d].label())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "{:>3}  {:<width$}  line {:<5} FROM {}  needs: {}",
            s.index,
            s.label(),
            s.line,
            s.base,
            needs
        );
    }
    if !g.images.is_empty() {
        let _ = writeln!(out, "images: {}", g.images.join(", "));
    }
    out
}

/// The planned jobs, one block each (needs, stages built inline, build contexts, tags and cache
/// refs on the ref the plan was made for), then the planner's notes: `plan --format text`.
pub fn jobs_text(p: &crate::plan::Plan) -> String {
    let mut out = String::new();
    let r = &p.git_ref;
    let kind = ref_kind_name(r);
    let what = if r.name.is_empty() {
        kind
    } else {
        format!("{kind} {}", r.name)
    };
    let _ = writeln!(out, "jobs ({what}, slug {}, image {}):", r.slug, p.image);
    let none = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(", ")
        }
    };
    for j in &p.jobs {
        if j.check {
            let _ = writeln!(
                out,
                "  {}  (stage {}, check: built, never pushed)",
                j.id, j.label
            );
        } else {
            let _ = writeln!(out, "  {}  (stage {})", j.id, j.label);
        }
        if let Some(pf) = &j.platform {
            let _ = writeln!(
                out,
                "    platform:   {pf}{}",
                runner_words(j.runner.as_ref(), j.emulated)
            );
        } else if p.build_platform.is_some() {
            let _ = writeln!(
                out,
                "    platform:   all, built on the build platform {}{}",
                p.build_platform.as_deref().unwrap_or_default(),
                runner_words(j.runner.as_ref(), false)
            );
        }
        let _ = writeln!(out, "    needs:      {}", none(&j.needs));
        if !j.inline_stages.is_empty() {
            let _ = writeln!(out, "    builds in:  {}", j.inline_stages.join(", "));
        }
        for c in &j.contexts {
            let _ = writeln!(out, "    context:    {}", build_context(c));
        }
        let _ = writeln!(
            out,
            "    tags:       {}",
            none(&qualified(&j.repository, &j.tags))
        );
        let _ = writeln!(out, "    cache from: {}", none(&j.cache.from));
        let _ = writeln!(
            out,
            "    cache to:   {}",
            j.cache
                .to
                .as_deref()
                .unwrap_or("- (this ref writes no cache)")
        );
    }
    for m in &p.merges {
        let _ = writeln!(
            out,
            "  {}  (stage {}, merge: one index of its platforms)",
            m.id, m.label
        );
        let _ = writeln!(out, "    needs:      {}", none(&m.needs));
        for src in &m.sources {
            let _ = writeln!(
                out,
                "    manifest:   {} {}@<digest from {}>",
                src.platform, m.repository, src.job
            );
        }
        let _ = writeln!(
            out,
            "    tags:       {}",
            none(&qualified(&m.repository, &m.tags))
        );
        if m.key.reuse {
            let _ = writeln!(
                out,
                "    index key:  version {}, the digests from {} in this order; {}:key-<index key> is tagged, not created, when it exists",
                m.key.version,
                m.key.manifests.join(", "),
                m.repository
            );
        } else {
            let _ = writeln!(
                out,
                "    index key:  - (skip: false: a new index every run)"
            );
        }
    }
    for n in &p.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

/// ` on runner github a, gitlab b` / ` on the default runner (QEMU)`.
fn runner_words(r: Option<&crate::plan::Runner>, emulated: bool) -> String {
    let Some(r) = r else {
        return if emulated {
            " on the default runner, emulated (QEMU)".into()
        } else {
            " on the default runner".into()
        };
    };
    let mut parts = Vec::new();
    for (ci, v) in r.labels() {
        if !v.is_empty() {
            parts.push(format!("{ci} {}", v.join(",")));
        }
    }
    format!(" on runner {}", parts.join("; "))
}

fn ref_kind_name(r: &crate::refs::RefInfo) -> String {
    serde_json::to_value(r.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Edges as (source node, target stage, labels), deduplicated, in a stable order.
/// Source nodes: `Ok(stage index)` or `Err(image index in g.images)`.
fn edges(g: &StageGraph) -> Vec<(Result<usize, usize>, usize, String)> {
    let mut out: Vec<(Result<usize, usize>, usize, Vec<EdgeKind>)> = Vec::new();
    for s in &g.stages {
        for e in &s.edges {
            let src = match &e.target {
                EdgeTarget::Stage(j) => Ok(*j),
                EdgeTarget::Image(img) => match g.images.binary_search(img) {
                    Ok(k) => Err(k),
                    Err(_) => continue,
                },
            };
            match out.iter_mut().find(|(a, b, _)| *a == src && *b == s.index) {
                Some((_, _, kinds)) => {
                    if !kinds.contains(&e.kind) {
                        kinds.push(e.kind);
                    }
                }
                None => out.push((src, s.index, vec![e.kind])),
            }
        }
    }
    out.into_iter()
        .map(|(a, b, mut kinds)| {
            kinds.sort_by_key(|k| kind_rank(*k));
            let label = kinds
                .iter()
                .map(|k| kind_label(*k))
                .collect::<Vec<_>>()
                .join(", ");
            (a, b, label)
        })
        .collect()
}

fn kind_rank(k: EdgeKind) -> u8 {
    match k {
        EdgeKind::From => 0,
        EdgeKind::Copy => 1,
        EdgeKind::Mount => 2,
    }
}

fn kind_label(k: EdgeKind) -> &'static str {
    match k {
        EdgeKind::From => "FROM",
        EdgeKind::Copy => "COPY",
        EdgeKind::Mount => "mount",
    }
}

fn mermaid_text(s: &str) -> String {
    s.replace('"', "#quot;")
}

/// A Mermaid flowchart: stages as boxes, external images as stadium nodes.
pub fn mermaid(g: &StageGraph) -> String {
    let mut out = String::from("flowchart LR\n");
    for (k, img) in g.images.iter().enumerate() {
        let _ = writeln!(out, "    img{k}([\"{}\"])", mermaid_text(img));
    }
    for s in &g.stages {
        let _ = writeln!(out, "    s{}[\"{}\"]", s.index, mermaid_text(&s.label()));
    }
    for (src, dst, label) in edges(g) {
        let from = match src {
            Ok(j) => format!("s{j}"),
            Err(k) => format!("img{k}"),
        };
        let _ = writeln!(out, "    {from} -->|{label}| s{dst}");
    }
    if !g.images.is_empty() {
        let ids: Vec<String> = (0..g.images.len()).map(|k| format!("img{k}")).collect();
        let _ = writeln!(
            out,
            "    classDef image fill:#eef,stroke:#88a,stroke-dasharray: 4 2"
        );
        let _ = writeln!(out, "    class {} image", ids.join(","));
    }
    out
}

fn dot_text(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A Graphviz digraph: stages as boxes, external images as dashed ellipses.
pub fn dot(g: &StageGraph) -> String {
    let mut out = String::from(
        "digraph stages {\n    rankdir=LR;\n    node [shape=box, fontname=\"monospace\"];\n",
    );
    for (k, img) in g.images.iter().enumerate() {
        let _ = writeln!(
            out,
            "    img{k} [label=\"{}\", shape=ellipse, style=dashed];",
            dot_text(img)
        );
    }
    for s in &g.stages {
        let _ = writeln!(
            out,
            "    s{} [label=\"{}\"];",
            s.index,
            dot_text(&s.label())
        );
    }
    for (src, dst, label) in edges(g) {
        let from = match src {
            Ok(j) => format!("s{j}"),
            Err(k) => format!("img{k}"),
        };
        let _ = writeln!(out, "    {from} -> s{dst} [label=\"{label}\"];");
    }
    out.push_str("}\n");
    out
}

/// `plan --format text`: the stage graph ([`text`]), then every stage's role in the job plan
/// (job / check / inline / alternative / unused) with the reason, then the jobs and the notes
/// ([`jobs_text`]: tags and cache refs are those of the ref the plan was made for).
pub fn plan_text(g: &StageGraph, p: &crate::plan::Plan) -> String {
    let mut out = text(g);
    let width = p.stages.iter().map(|s| s.label.len()).max().unwrap_or(0);
    out.push_str("\nstages:\n");
    for s in &p.stages {
        let _ = writeln!(
            out,
            "  {:<width$}  {:<11}  {}",
            s.label,
            s.role.as_str(),
            s.reason
        );
    }
    out.push('\n');
    out.push_str(&jobs_text(p));
    out
}
