//! The whole pipeline from inputs to rendered files, as the binary, the tests and the GitHub
//! Action run it: Dockerfile text → graph → plan → rendered pipelines, and the drift check.
//! Typed errors; the binary turns them into exit codes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::diag::{Diagnostic, Span};
use crate::dockerfile::{self, Dockerfile};
use crate::graph::{self, GraphOptions, StageGraph};
use crate::plan::{self, Plan, PlanOptions};
use crate::render::{self, Ci, RenderOptions};
use crate::select;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad input with a location in a file (rendered with the source line and a caret).
    #[error("{rendered}")]
    Located { rendered: String },
    #[error("{0}")]
    Plan(#[from] plan::PlanError),
    #[error(transparent)]
    Render(#[from] render::RenderError),
    #[error("{0}")]
    Usage(String),
}

/// A Dockerfile read into a graph, with every warning rendered.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub dockerfile: Dockerfile,
    /// The graph on the first platform.
    pub graph: StageGraph,
    /// The graphs on the other configured platforms (`(platform, graph)`), for the planner.
    pub other_platforms: Vec<(String, StageGraph)>,
    pub warnings: Vec<String>,
    /// Time spent parsing and building the graph (for `plan --timings` and the benchmark).
    pub parse_time: Duration,
    pub graph_time: Duration,
}

/// Parse and graph a Dockerfile's text; `file` names it in diagnostics.
pub fn load(file: &str, source: &str, opts: &GraphOptions) -> Result<Loaded, AppError> {
    let t0 = Instant::now();
    let df = dockerfile::parse(source).map_err(|e| AppError::Located {
        rendered: e.diag.render("error", file, source),
    })?;
    let t1 = Instant::now();
    let g = graph::build_with_source(&df, source, opts).map_err(|e| AppError::Located {
        rendered: e.diag.render("error", file, source),
    })?;
    let t2 = Instant::now();
    let mut warnings: Vec<String> = df
        .warnings
        .iter()
        .chain(g.warnings.iter())
        .map(|w| w.render("warning", file, source))
        .collect();
    if let Some(w) = frontend_warning(&df) {
        warnings.push(w.render("warning", file, source));
    }
    Ok(Loaded {
        other_platforms: Vec::new(),
        dockerfile: df,
        graph: g,
        warnings,
        parse_time: t1 - t0,
        graph_time: t2 - t1,
    })
}

/// Named build contexts (`--build-context`) need Dockerfile frontend 1.4 or later. Current
/// BuildKit has it built in; a `# syntax=` directive that pins an older frontend disables them.
pub fn frontend_warning(df: &Dockerfile) -> Option<Diagnostic> {
    let (_, value) = df.directives.iter().find(|(k, _)| k == "syntax")?;
    let tag = value.rsplit_once(':').map(|(_, t)| t)?;
    let tag = tag.split('@').next().unwrap_or(tag);
    let version = tag.split('-').next().unwrap_or(tag);
    let mut parts = version.split('.').map(|p| p.parse::<u32>());
    let major = parts.next()?.ok()?;
    let minor = match parts.next() {
        Some(Ok(m)) => m,
        Some(Err(_)) => return None,
        None => return None, // `1` follows the newest 1.x
    };
    ((major, minor) < (1, 4)).then(|| {
        Diagnostic::new(Span { line: 1, col: 1 }, format!("`# syntax={value}` pins Dockerfile frontend {major}.{minor}, older than 1.4: the digest-pinned `--build-context` wiring needs 1.4 or later"))
            .with_help("remove the directive, use `docker/dockerfile:1`, or set `buildkit-syntax` in gen-pipeline.yml")
    })
}

/// Render `plan` for each CI system.
pub fn render_all(
    plan: &Plan,
    cis: &[Ci],
    opts: &RenderOptions,
) -> Result<Vec<(Ci, String)>, AppError> {
    cis.iter()
        .map(|&ci| Ok((ci, render::render(plan, ci, opts)?)))
        .collect()
}

/// Build the plan for a loaded Dockerfile (every platform it was loaded for).
pub fn plan(loaded: &Loaded, opts: &PlanOptions) -> Result<Plan, AppError> {
    let first = opts.platforms.first().cloned().unwrap_or_default();
    let mut graphs = vec![(first, &loaded.graph)];
    graphs.extend(loaded.other_platforms.iter().map(|(p, g)| (p.clone(), g)));
    // Computed here, not in `load`: only planning reads them.
    let facts = select::stage_facts(&loaded.dockerfile);
    Ok(plan::plan_input(
        &select::PlanInput {
            graphs,
            facts: &facts,
        },
        opts,
    )?)
}

/// The default plan of a loaded Dockerfile (no config: default targets, checks detected), for
/// `init`. The image and ref are placeholders; only the job selection is meant to be read.
pub fn default_plan(loaded: &Loaded) -> Option<Plan> {
    let opts = PlanOptions {
        image: "registry.example.com/project".into(),
        dockerfile: "Dockerfile".into(),
        context: ".".into(),
        targets: Vec::new(),
        images: Default::default(),
        checks: None,
        split: Default::default(),
        builder: Default::default(),
        build_args: Default::default(),
        secrets: Vec::new(),
        platforms: Vec::new(),
        extra_tags: Vec::new(),
        cache_policy: Default::default(),
        buildkit_syntax: None,
        provenance: false,
        git_ref: crate::refs::RefInfo::new(
            crate::refs::RefKind::Branch,
            "main",
            "0000000000000000000000000000000000000000",
            "main",
            None,
        ),
    };
    plan(loaded, &opts).ok()
}

/// [`load`] for planning: the graph on every platform in `platforms` (the first one in `opts`
/// is replaced by `platforms[0]`), and BuildKit's error scope: with explicit `targets`, an
/// invalid `COPY --from`/`RUN --mount` in a stage none of them builds is a warning, as BuildKit
/// reports it only for the stages it builds. The stage is then planned without that instruction.
pub fn load_for_plan(
    file: &str,
    source: &str,
    opts: &GraphOptions,
    platforms: &[String],
    targets: &[String],
) -> Result<Loaded, AppError> {
    let mut opts = opts.clone();
    if let Some(p) = platforms.first() {
        opts.platform = p.clone();
    }
    let mut loaded = match load(file, source, &opts) {
        Ok(l) => l,
        Err(e) if !targets.is_empty() => outside_targets(file, source, &opts, targets, e)?,
        Err(e) => return Err(e),
    };
    for p in platforms.iter().skip(1) {
        let popts = GraphOptions {
            platform: p.clone(),
            ..opts.clone()
        };
        let g = graph::build_with_source(&loaded.dockerfile, source, &popts).map_err(|e| {
            AppError::Located {
                rendered: e.diag.render("error", file, source),
            }
        })?;
        loaded.other_platforms.push((p.clone(), g));
    }
    Ok(loaded)
}

/// Retry a graph error with the offending COPY/ADD/RUN left out, as long as it lies in a stage
/// that no target needs; anything else returns the original error.
fn outside_targets(
    file: &str,
    source: &str,
    opts: &GraphOptions,
    targets: &[String],
    first: AppError,
) -> Result<Loaded, AppError> {
    let mut df = dockerfile::parse(source).map_err(|e| AppError::Located {
        rendered: e.diag.render("error", file, source),
    })?;
    let mut dropped: Vec<(usize, Diagnostic)> = Vec::new(); // (stage index, error)
    for _ in 0..64 {
        let e = match graph::build_with_source(&df, source, opts) {
            Ok(g) => {
                // Every dropped instruction must lie outside what the targets build.
                let mut reach = vec![false; g.stages.len()];
                let mut stack: Vec<usize> = Vec::new();
                for t in targets {
                    let t = t.to_ascii_lowercase();
                    match g
                        .stages
                        .iter()
                        .rev()
                        .find(|s| s.name.as_deref() == Some(t.as_str()))
                    {
                        Some(s) => stack.push(s.index),
                        None => return Err(first),
                    }
                }
                while let Some(s) = stack.pop() {
                    if !std::mem::replace(&mut reach[s], true) {
                        stack.extend(g.stages[s].depends_on.iter().copied());
                    }
                }
                if dropped.iter().any(|(s, _)| reach[*s]) {
                    return Err(first);
                }
                let mut warnings: Vec<String> = df
                    .warnings
                    .iter()
                    .chain(g.warnings.iter())
                    .map(|w| w.render("warning", file, source))
                    .collect();
                for (s, d) in &dropped {
                    let mut d = d.clone();
                    d.message = format!(
                        "{} (in stage {}, which the targets do not build: BuildKit reports it only when that stage is built)",
                        d.message,
                        g.stages[*s].label()
                    );
                    warnings.push(d.render("warning", file, source));
                }
                return Ok(Loaded {
                    other_platforms: Vec::new(),
                    graph: g,
                    dockerfile: df,
                    warnings,
                    parse_time: Duration::ZERO,
                    graph_time: Duration::ZERO,
                });
            }
            Err(e) => e,
        };
        let line = e.diag.span.line;
        let Some(pos) = df.instructions.iter().position(|i| {
            matches!(i.keyword.as_str(), "copy" | "add" | "run")
                && i.span.line <= line
                && line <= i.end_line.max(i.span.line)
        }) else {
            return Err(first);
        };
        let stage = df.instructions[..pos]
            .iter()
            .filter(|i| i.keyword == "from")
            .count();
        if stage == 0 {
            return Err(first);
        }
        df.instructions.remove(pos);
        dropped.push((stage - 1, e.diag));
    }
    Err(first)
}

/// The output path of `ci`'s pipeline: config `output`, else the CI's conventional path.
pub fn output_path(config: &Config, ci: Ci) -> PathBuf {
    config
        .output
        .iter()
        .find(|(k, _)| k.0 == ci)
        .map(|(_, v)| PathBuf::from(v))
        .unwrap_or_else(|| PathBuf::from(ci.default_path()))
}

/// CI systems whose pipeline files already exist under `root` (for a bare `gen-pipeline`).
pub fn detect_ci(root: &Path) -> Vec<Ci> {
    let mut found = Vec::new();
    if root.join(".github/workflows").is_dir() {
        found.push(Ci::Github);
    }
    if root.join(".gitlab-ci.yml").is_file() {
        found.push(Ci::Gitlab);
    }
    if root.join(".drone.yml").is_file() {
        found.push(Ci::Drone);
    }
    if root.join(".woodpecker.yml").is_file()
        || root.join(".woodpecker.yaml").is_file()
        || root.join(".woodpecker").is_dir()
    {
        found.push(Ci::Woodpecker);
    }
    found
}

/// The result of comparing a rendered pipeline with the file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    InSync,
    Missing,
    /// A unified diff from the file on disk to what would be generated.
    Differs(String),
}

pub fn drift(path: &Path, rendered: &str) -> Drift {
    match std::fs::read_to_string(path) {
        Err(_) => Drift::Missing,
        Ok(current) if current == rendered => Drift::InSync,
        Ok(current) => {
            let name = path.display().to_string();
            let diff = similar::TextDiff::from_lines(current.as_str(), rendered)
                .unified_diff()
                .context_radius(3)
                .header(&format!("{name} (on disk)"), &format!("{name} (generated)"))
                .to_string();
            Drift::Differs(diff)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn df(src: &str) -> Dockerfile {
        dockerfile::parse(src).unwrap()
    }

    #[test]
    fn old_frontend_pin_warns() {
        assert!(frontend_warning(&df("# syntax=docker/dockerfile:1.3\nFROM a\n")).is_some());
        assert!(frontend_warning(&df("# syntax=docker/dockerfile:1.2-labs\nFROM a\n")).is_some());
        assert!(frontend_warning(&df("# syntax=docker/dockerfile:1.4\nFROM a\n")).is_none());
        assert!(frontend_warning(&df("# syntax=docker/dockerfile:1\nFROM a\n")).is_none());
        assert!(frontend_warning(&df("FROM a\n")).is_none());
    }

    #[test]
    fn drift_reports_a_unified_diff() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.yml");
        assert_eq!(drift(&p, "a\n"), Drift::Missing);
        std::fs::write(&p, "a\nb\n").unwrap();
        assert_eq!(drift(&p, "a\nb\n"), Drift::InSync);
        match drift(&p, "a\nc\n") {
            Drift::Differs(d) => {
                assert!(d.contains("-b\n") && d.contains("+c\n"), "{d}");
            }
            other => panic!("{other:?}"),
        }
    }
}
