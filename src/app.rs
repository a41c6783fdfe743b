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
    pub graph: StageGraph,
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

/// Build the plan for a loaded Dockerfile.
pub fn plan(loaded: &Loaded, opts: &PlanOptions) -> Result<Plan, AppError> {
    Ok(plan::plan_with(
        &loaded.graph,
        Some(&loaded.dockerfile),
        opts,
    )?)
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
