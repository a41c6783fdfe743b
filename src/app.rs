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
    /// The Dockerfile's name in diagnostics and its text, to locate errors found when planning.
    pub file: String,
    pub source: String,
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
    let mut warnings = rendered_warnings(&df, &g, file, source);
    if let Some(w) = frontend_warning(&df) {
        warnings.push(w.render("warning", file, source));
    }
    Ok(Loaded {
        other_platforms: Vec::new(),
        dockerfile: df,
        graph: g,
        warnings,
        file: file.to_string(),
        source: source.to_string(),
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

/// Build arguments BuildKit accepts without an `ARG` (predefined proxy args, `BUILDKIT_*`
/// frontend options, `SOURCE_DATE_EPOCH`) and the automatic platform ARGs the graph reads.
fn predefined_arg(name: &str) -> bool {
    const PROXIES: &[&str] = &[
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "FTP_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
    ];
    PROXIES.iter().any(|p| p.eq_ignore_ascii_case(name))
        || name.starts_with("BUILDKIT_")
        || name == "SOURCE_DATE_EPOCH"
        || name == "TARGETSTAGE"
        || graph::platform_args("", "").iter().any(|(k, _)| *k == name)
}

/// Warnings about inputs the Dockerfile never uses, rendered like every other diagnostic:
/// build arguments no `ARG` declares, secrets no `RUN --mount=type=secret` asks for, and
/// secret mounts whose id no secret provides (BuildKit would mount nothing, or fail a
/// `required` mount). Each comes with a "did you mean" when a name is close.
pub fn usage_warnings(
    file: &str,
    source: &str,
    graph: &StageGraph,
    build_args: &std::collections::BTreeMap<String, String>,
    secrets: &[plan::Secret],
) -> Vec<String> {
    use crate::diag::suggest;
    let mut out = Vec::new();
    let plain = |msg: String, help: Option<String>| {
        let mut s = format!("warning: {msg}\n");
        if let Some(h) = help {
            s.push_str(&format!("  = help: {h}\n"));
        }
        s
    };
    let declared = || graph.declared_args.iter().map(String::as_str);
    for name in build_args.keys() {
        if graph.declared_args.contains(name) || predefined_arg(name) {
            continue;
        }
        let help = suggest(name, declared()).map(|s| format!("did you mean `{s}`?"));
        out.push(plain(
            format!(
                "build argument `{name}` is not declared by any ARG in {file}; BuildKit ignores it"
            ),
            help,
        ));
    }
    let mounted = || graph.secret_mounts.iter().map(|m| m.id.as_str());
    for s in secrets {
        if mounted().any(|id| id == s.id) {
            continue;
        }
        let help = suggest(&s.id, mounted()).map(|m| format!("did you mean `{m}`?"));
        out.push(plain(
            format!(
                "secret `{}` is not used by any `RUN --mount=type=secret` in {file}",
                s.id
            ),
            help,
        ));
    }
    let mut seen: Vec<&str> = Vec::new();
    for m in &graph.secret_mounts {
        if secrets.iter().any(|s| s.id == m.id) || seen.contains(&m.id.as_str()) {
            continue;
        }
        seen.push(&m.id);
        let help = match suggest(&m.id, secrets.iter().map(|s| s.id.as_str())) {
            Some(s) => format!("did you mean the provided secret `{s}`?"),
            None => format!(
                "provide it with `--secret id={},env=VAR` or `secrets: [{{id: {}, env: VAR}}]` in gen-pipeline.yml",
                m.id, m.id
            ),
        };
        out.push(
            Diagnostic::new(
                m.span,
                format!(
                    "this mount needs the secret `{}`, which no secret provides",
                    m.id
                ),
            )
            .with_help(help)
            .render("warning", file, source),
        );
    }
    out
}

/// An unknown target that came from the config's `targets:` rendered at its line in the config
/// (`config_file`, `config_source`); `None` for any other error or when it is not found there.
pub fn config_target_error(
    config_file: &str,
    config_source: &str,
    err: &plan::PlanError,
) -> Option<String> {
    let plan::PlanError::UnknownTarget { name, suggestion } = err else {
        return None;
    };
    let span = crate::config::target_span(config_source, name)?;
    let mut d = Diagnostic::new(span, format!("unknown target stage `{name}`"));
    if let Some(s) = suggestion {
        d = d.with_help(format!("did you mean `{s}`?"));
    }
    Some(d.render("error", config_file, config_source))
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

/// One file (or stdout) a `generate`/`check` run produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub ci: Ci,
    pub target: crate::settings::Target,
    pub text: String,
}

/// What a `generate`/`check` run produces: the files, notes to print, and files gen-pipeline
/// wrote earlier that the current config no longer generates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outputs {
    pub files: Vec<Generated>,
    pub notes: Vec<String>,
    /// GitHub's cleanup workflow, generated while `gc:` was on and still there now that it is
    /// off (`check` reports it; gen-pipeline deletes nothing).
    pub stale: Vec<PathBuf>,
    /// Woodpecker workflows of an earlier per-runner split (`runners:`) that this run no longer
    /// generates (`check` reports them; gen-pipeline deletes nothing).
    pub stale_workflows: Vec<PathBuf>,
}

impl Outputs {
    /// The texts that go to stdout, in order, and the files to write, each with its CI system.
    pub fn partition(&self) -> (Vec<&str>, Vec<(crate::write::FileWrite, Ci)>) {
        use crate::settings::Target;
        let mut stdout = Vec::new();
        let mut files = Vec::new();
        for g in &self.files {
            match &g.target {
                Target::Stdout => stdout.push(g.text.as_str()),
                Target::File { path, within } => files.push((
                    crate::write::FileWrite {
                        path: path.clone(),
                        text: g.text.clone(),
                        within: within.clone(),
                    },
                    g.ci,
                )),
            }
        }
        (stdout, files)
    }
}

/// Render every output of a run: each CI's pipeline to its target and, when the plan has a
/// cleanup job, GitHub's cleanup workflow ([`render::GITHUB_GC_FILE`]) beside the images
/// workflow file. A GitHub workflow printed to stdout cannot carry a second workflow: the
/// returned notes say so (the caller prints them).
pub fn render_outputs(
    plan: &Plan,
    outputs: &[crate::settings::Output],
    opts: &RenderOptions,
) -> Result<Outputs, AppError> {
    use crate::settings::Target;
    let mut files = Vec::new();
    let mut notes = Vec::new();
    let mut stale = Vec::new();
    let mut stale_workflows = Vec::new();
    for o in outputs {
        if o.ci == Ci::Woodpecker {
            if let Target::File { path, within } = &o.target {
                woodpecker_files(plan, opts, path, within, &mut files, &mut stale_workflows)?;
                continue;
            }
        }
        files.push(Generated {
            ci: o.ci,
            target: o.target.clone(),
            text: render::render(plan, o.ci, opts)?,
        });
        if o.ci != Ci::Github {
            continue;
        }
        let Some(text) = render::render_github_gc(plan, opts)? else {
            // A cleanup workflow gen-pipeline wrote while `gc:` was on keeps running until removed.
            if let Target::File { path, .. } = &o.target {
                let old = path
                    .parent()
                    .map(|d| d.join(render::GITHUB_GC_FILE))
                    .unwrap_or_else(|| PathBuf::from(render::GITHUB_GC_FILE));
                if old != *path
                    && std::fs::read_to_string(&old)
                        .is_ok_and(|t| t.starts_with("# Generated by gen-pipeline"))
                {
                    stale.push(old);
                }
            }
            continue;
        };
        match &o.target {
            Target::Stdout => notes.push(format!(
                "the GitHub cleanup workflow (`gc:` in the config) is a file of its own, {}, and is not printed: write the GitHub output to a file (its `output:` path, or -o PATH) to generate it beside",
                render::GITHUB_GC_FILE
            )),
            Target::File { path, within } => {
                let gc_path = path
                    .parent()
                    .map(|d| d.join(render::GITHUB_GC_FILE))
                    .unwrap_or_else(|| PathBuf::from(render::GITHUB_GC_FILE));
                if path.file_name() == gc_path.file_name() {
                    return Err(AppError::Usage(format!(
                        "the GitHub output {} has the name of the cleanup workflow written beside it (`gc:` in the config): choose another `output:` name",
                        path.display()
                    )));
                }
                files.push(Generated {
                    ci: Ci::Github,
                    target: Target::File {
                        path: gc_path,
                        within: within.clone(),
                    },
                    text,
                });
            }
        }
    }
    Ok(Outputs {
        files,
        notes,
        stale,
        stale_workflows,
    })
}

/// Woodpecker's output file(s) for `path`: a folder (an existing directory, or a path ending in
/// `/`) gets `<folder>/images.yaml`; a file is the first workflow. With `runners:` labels for a
/// platform other than the build platform the plan is several workflows (see
/// [`render::split`]), written beside the first as `<stem>-<suffix>.<ext>` (Woodpecker names a
/// workflow after its file and reads several only from a folder: `.woodpecker.yml`/`.yaml` are
/// refused then). Workflows gen-pipeline wrote beside it earlier (`<stem>-*.yml|yaml` with its
/// header) that this run does not generate are reported as stale.
fn woodpecker_files(
    plan: &Plan,
    opts: &RenderOptions,
    path: &Path,
    within: &Option<PathBuf>,
    files: &mut Vec<Generated>,
    stale: &mut Vec<PathBuf>,
) -> Result<(), AppError> {
    use crate::settings::Target;
    let is_dir = path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/');
    let main = if is_dir {
        path.join(format!("{}.yaml", render::PIPELINE_NAME))
    } else {
        path.to_path_buf()
    };
    let name = main
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let (base, ext) = match name.rsplit_once('.') {
        Some((b, e)) if e == "yml" || e == "yaml" => (b.to_string(), e.to_string()),
        _ => (name.clone(), "yaml".to_string()),
    };
    // As Woodpecker names a workflow: the file name without extension and leading dots.
    let stem = base.trim_start_matches('.').to_string();
    let workflows = render::render_workflows(plan, opts, &stem)?;
    let dir = main.parent().map(Path::to_path_buf).unwrap_or_default();
    if workflows.len() > 1
        && !is_dir
        && matches!(name.as_str(), ".woodpecker.yml" | ".woodpecker.yaml")
    {
        return Err(AppError::Usage(format!(
            "{}: {}",
            path.display(),
            render::RenderError::SeveralWorkflows {
                names: workflows.iter().map(|(n, _)| n.clone()).collect(),
                platforms: render::split::pipelines(plan, Ci::Woodpecker, &stem)
                    .iter()
                    .flat_map(|p| p.platforms.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        )));
    }
    let mut written = Vec::new();
    for (i, (wf, text)) in workflows.into_iter().enumerate() {
        let p = if i == 0 {
            main.clone()
        } else {
            dir.join(format!("{wf}.{ext}"))
        };
        written.push(p.clone());
        files.push(Generated {
            ci: Ci::Woodpecker,
            target: Target::File {
                path: p,
                within: within.clone(),
            },
            text,
        });
    }
    // Workflows of an earlier split that this run no longer writes keep running until removed.
    let prefix = format!("{base}-");
    if let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir.as_path()
    }) {
        let mut old: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with(&prefix) && (n.ends_with(".yml") || n.ends_with(".yaml")))
            .map(|n| dir.join(n))
            .filter(|p| !written.contains(p))
            .filter(|p| {
                std::fs::read_to_string(p).is_ok_and(|t| {
                    t.lines().take(5).any(|l| l.contains(crate::write::MARKER))
                        && t.contains("\n# Workflow ")
                })
            })
            .collect();
        old.sort();
        stale.extend(old);
    }
    Ok(())
}

/// Build the plan for a loaded Dockerfile (every platform it was loaded for).
pub fn plan(loaded: &Loaded, opts: &PlanOptions) -> Result<Plan, AppError> {
    plan_loaded(loaded, opts).map_err(|e| located(loaded, e))
}

/// A plan error with a location in the Dockerfile, rendered with its line and caret.
fn located(loaded: &Loaded, e: plan::PlanError) -> AppError {
    match e {
        plan::PlanError::WindowsStage(d) => AppError::Located {
            rendered: d.render("error", &loaded.file, &loaded.source),
        },
        e => e.into(),
    }
}

fn plan_loaded(loaded: &Loaded, opts: &PlanOptions) -> Result<Plan, plan::PlanError> {
    let first = opts.platforms.first().cloned().unwrap_or_default();
    let mut graphs = vec![(first, &loaded.graph)];
    graphs.extend(loaded.other_platforms.iter().map(|(p, g)| (p.clone(), g)));
    // Computed here, not in `load`: only planning reads them.
    let facts = select::stage_facts(&loaded.dockerfile);
    plan::plan_input(
        &select::PlanInput {
            graphs,
            facts: &facts,
            dockerfile: Some(&loaded.dockerfile),
        },
        opts,
    )
}

/// Build the plan from resolved settings: an unknown target named in the config file is reported
/// at its line there (with a caret), not as a bare message.
pub fn plan_with(loaded: &Loaded, s: &crate::settings::Settings) -> Result<Plan, AppError> {
    plan_loaded(loaded, &s.plan).map_err(|e| {
        s.config_path
            .as_ref()
            .and_then(|p| Some((p, std::fs::read_to_string(p).ok()?)))
            .and_then(|(p, text)| config_target_error(&p.display().to_string(), &text, &e))
            .map(|rendered| AppError::Located { rendered })
            .unwrap_or_else(|| located(loaded, e))
    })
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
        skip: true,
        buildkit: Default::default(),
        runners: Default::default(),
        git_ref: crate::refs::RefInfo::new(
            crate::refs::RefKind::Branch,
            "main",
            "0000000000000000000000000000000000000000",
            "main",
            None,
        ),
        gc: None,
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
                let mut warnings = rendered_warnings(&df, &g, file, source);
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
                    file: file.to_string(),
                    source: source.to_string(),
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

/// A CI system whose files exist in a repository, and whether gen-pipeline wrote its pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingCi {
    pub ci: Ci,
    /// The file gen-pipeline would write (relative to the root).
    pub path: PathBuf,
    /// That file exists and has no `Generated by gen-pipeline` header.
    pub hand_written: bool,
}

/// The CI systems [`detect_ci`] finds under `root`, each with whether the file gen-pipeline
/// would write is hand-written (for `init`).
pub fn detect_existing(root: &Path) -> Vec<ExistingCi> {
    detect_ci(root)
        .into_iter()
        .map(|ci| {
            let path = PathBuf::from(ci.default_path());
            let hand_written = std::fs::symlink_metadata(root.join(&path)).is_ok_and(|m| {
                !m.is_file()
                    || !std::fs::read(root.join(&path))
                        .is_ok_and(|b| crate::write::is_generated(&String::from_utf8_lossy(&b)))
            });
            ExistingCi {
                ci,
                path,
                hand_written,
            }
        })
        .collect()
}

/// What `init` does with a CI system found in the repository: pick it, pick GitLab's include
/// mode beside a hand-written `.gitlab-ci.yml`, or leave out a CI whose file is hand-written.
/// Returns the note to print when the choice is not the plain one.
pub fn init_choice(e: &ExistingCi, detected: &mut crate::config::Detected) -> Option<String> {
    if !e.hand_written {
        detected.ci.push(e.ci);
        return None;
    }
    if e.ci == Ci::Gitlab {
        detected.ci.push(Ci::Gitlab);
        detected.gitlab_include = true;
        let out = crate::render::GitlabMode::Include.default_path();
        return Some(format!(
            "{} was not generated by gen-pipeline: the config uses `gitlab-mode: include`, which writes {out}; add `include: [{{local: {out}}}]` to {} to run its jobs",
            e.path.display(),
            e.path.display()
        ));
    }
    detected.left_out.push((e.ci, e.path.display().to_string()));
    Some(format!(
        "{} was not generated by gen-pipeline: {} is left out of `ci:` (gen-pipeline never overwrites it without --force); to generate it, add it with an `output:` path of its own",
        e.path.display(),
        e.ci.name()
    ))
}

/// `init`: the commented config for the repository around `dir`, from what is found there (the
/// Dockerfile's stages and default plan, the image and default branch git gives, the CI files
/// that exist), and a note for each CI system not chosen the plain way ([`init_choice`]).
pub fn init_config(dir: &Path, env: crate::git::Env) -> (String, Vec<String>) {
    let mut detected = crate::config::Detected {
        dockerfile: "Dockerfile".into(),
        ..Default::default()
    };
    if let Ok(source) = std::fs::read_to_string(dir.join("Dockerfile")) {
        if let Ok(loaded) = load("Dockerfile", &source, &Default::default()) {
            detected.stages = loaded
                .graph
                .stages
                .iter()
                .filter_map(|s| s.name.clone())
                .collect();
            detected.plan =
                default_plan(&loaded).map(|p| crate::config::DetectedPlan::from_plan(&p));
        }
    }
    let root = crate::git::work_tree(dir);
    if let Ok(ctx) = crate::git::discover(dir, env, &crate::git::Overrides::default()) {
        detected.image = crate::git::default_image(&ctx, env).ok();
        detected.default_branch = Some(ctx.default_branch.clone());
    }
    let notes = detect_existing(root.as_deref().unwrap_or(dir))
        .iter()
        .filter_map(|e| init_choice(e, &mut detected))
        .collect();
    (crate::config::template(&detected), notes)
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

/// `check`'s verdict on a run's outputs, for the caller to print.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckReport {
    /// One line per file: `in sync`, `missing`, `out of date`, or a stale file to delete.
    pub verdicts: Vec<String>,
    /// The unified diffs of the files that are out of date, in order.
    pub diffs: String,
    /// Some file is missing, out of date or stale (`check` exits 1).
    pub drifted: bool,
}

/// Compare every file a run would write with the one on disk ([`drift`]); stdout outputs are
/// not compared.
pub fn check(out: &Outputs) -> CheckReport {
    let mut report = CheckReport::default();
    for p in &out.stale {
        report.verdicts.push(format!(
            "{}: generated with `gc:` on, which is off now: delete it",
            p.display()
        ));
        report.drifted = true;
    }
    for p in &out.stale_workflows {
        report.verdicts.push(format!(
            "{}: a Woodpecker workflow gen-pipeline no longer generates (`runners:` changed): delete it",
            p.display()
        ));
        report.drifted = true;
    }
    for g in &out.files {
        let crate::settings::Target::File { path: p, .. } = &g.target else {
            continue;
        };
        let state = match drift(p, &g.text) {
            Drift::InSync => "in sync",
            Drift::Missing => "missing",
            Drift::Differs(diff) => {
                report.diffs.push_str(&diff);
                "out of date"
            }
        };
        report.drifted |= state != "in sync";
        report.verdicts.push(format!("{}: {state}", p.display()));
    }
    report
}

/// The parser's and the graph's warnings, rendered against `file`'s text.
fn rendered_warnings(
    df: &crate::dockerfile::Dockerfile,
    g: &crate::graph::StageGraph,
    file: &str,
    source: &str,
) -> Vec<String> {
    df.warnings
        .iter()
        .chain(g.warnings.iter())
        .map(|w| w.render("warning", file, source))
        .collect()
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
    fn check_reports_every_file_and_drifts_on_any_change() {
        use crate::settings::Target;
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| Generated {
            ci: Ci::Drone,
            target: Target::File {
                path: dir.path().join(name),
                within: None,
            },
            text: text.into(),
        };
        std::fs::write(dir.path().join("same.yml"), "a\n").unwrap();
        std::fs::write(dir.path().join("old.yml"), "a\n").unwrap();
        let stdout = Generated {
            ci: Ci::Github,
            target: Target::Stdout,
            text: "not compared\n".into(),
        };
        let mut out = Outputs {
            files: vec![file("same.yml", "a\n"), stdout],
            ..Outputs::default()
        };
        let r = check(&out);
        let d = dir.path().display();
        assert_eq!(r.verdicts, [format!("{d}/same.yml: in sync")]);
        assert!(!r.drifted && r.diffs.is_empty());
        out.files.push(file("gone.yml", "b\n"));
        out.files.push(file("old.yml", "c\n"));
        out.stale.push(dir.path().join("gc.yml"));
        let r = check(&out);
        assert_eq!(
            r.verdicts,
            [
                format!("{d}/gc.yml: generated with `gc:` on, which is off now: delete it"),
                format!("{d}/same.yml: in sync"),
                format!("{d}/gone.yml: missing"),
                format!("{d}/old.yml: out of date"),
            ]
        );
        assert!(r.drifted);
        assert!(r.diffs.contains("-a\n+c\n"), "{}", r.diffs);
        // Only the stale file drifts: still exit 1.
        out.files.truncate(1);
        assert!(check(&out).drifted);
        let two = Outputs {
            files: vec![
                file("same.yml", "a\n"),
                Generated {
                    ci: Ci::Github,
                    target: Target::Stdout,
                    text: "x\n".into(),
                },
            ],
            ..Outputs::default()
        };
        let (stdout, files) = two.partition();
        assert_eq!(stdout, ["x\n"]);
        assert_eq!(files.len(), 1);
        assert_eq!(
            (files[0].0.path.clone(), files[0].1),
            (dir.path().join("same.yml"), Ci::Drone)
        );
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
