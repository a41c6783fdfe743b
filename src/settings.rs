//! The settings layer: low-level inputs (command-line flags as typed, the config file, git and
//! the CI environment) in, validated high-level [`Settings`] out — what to read, how to plan,
//! what to render and where to write it. The binary only parses arguments into [`Flags`],
//! calls [`resolve`], runs the pipeline and maps errors to exit codes.
//!
//! Precedence, per setting: flag > config key > git/CI environment > default. Every setting
//! that a selected CI system or builder would ignore is refused here, in one place
//! ([`check_applicability`]), naming the flag or config key and the CI system.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::config::{self, Config};
use crate::git::{self, Env, GitError};
use crate::graph::GraphOptions;
use crate::plan::{self, Builder, PlanOptions, Secret, Split};
use crate::refs::{CachePolicy, RefInfo};
use crate::render::{Ci, Daemon, GitlabMode, RenderOptions};

/// Which command the settings are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Render and write (or print) pipelines.
    Generate,
    /// Render in memory and compare with the files on disk.
    Check,
    /// Show the graph and the plan; no CI system, no output.
    Plan,
}

/// Git-context flags; each wins over the CI's variables, which win over the repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitFlags {
    pub repo: Option<PathBuf>,
    pub branch: Option<String>,
    pub git_tag: Option<String>,
    pub sha: Option<String>,
    pub default_branch: Option<String>,
    pub pr: Option<u64>,
}

/// The command line as typed (already split into values, nothing resolved).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    pub ci: Vec<Ci>,
    pub output: Option<PathBuf>,
    pub force: bool,
    pub config: Option<PathBuf>,
    pub no_config: bool,
    pub dockerfile: Option<PathBuf>,
    pub context: Option<String>,
    pub image: Option<String>,
    pub targets: Vec<String>,
    pub split: Option<Split>,
    pub builder: Option<Builder>,
    pub build_args: Vec<String>,
    pub secrets: Vec<String>,
    pub platforms: Vec<String>,
    pub extra_tags: Vec<String>,
    pub daemon: Option<Daemon>,
    pub gitlab_mode: Option<GitlabMode>,
    pub templates: Option<PathBuf>,
    pub buildkit_syntax: Option<String>,
    pub provenance: bool,
    pub git: GitFlags,
}

/// Where one CI system's pipeline goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Stdout,
    File {
        path: PathBuf,
        /// Set for paths from the config: the file must stay inside the repository.
        within: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub ci: Ci,
    pub target: Target,
}

/// Everything a command needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: Mode,
    /// The config file read, if any.
    pub config_path: Option<PathBuf>,
    /// The Dockerfile as named (for diagnostics) and its text.
    pub dockerfile: PathBuf,
    pub source: String,
    /// The repository root (else the current folder): pipeline paths are relative to it.
    pub root: PathBuf,
    pub graph: GraphOptions,
    pub plan: PlanOptions,
    /// Generate/check: one entry per CI system, in order. Empty for `plan`.
    pub outputs: Vec<Output>,
    pub render: RenderOptions,
    /// Replace files gen-pipeline did not write.
    pub force: bool,
    /// What the git context assumed (one line each), for the caller to print.
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not UTF-8: {source}", .path.display())]
    NotUtf8 {
        path: PathBuf,
        #[source]
        source: std::string::FromUtf8Error,
    },
    /// A config file error, rendered with its file, line and caret.
    #[error("{rendered}")]
    Config { rendered: String },
    /// A setting no selected CI system (or builder) would act on.
    #[error("{setting} does not apply to {target}: {reason}")]
    NotApplicable {
        setting: String,
        target: String,
        reason: String,
    },
    #[error("{origin}: invalid platform `{value}`: expected os/arch[/variant] (lower-case letters, digits and `_`), e.g. linux/amd64 or linux/arm64/v8; several are separated by commas")]
    BadPlatform { origin: String, value: String },
    #[error("{origin}: the templates folder {} does not exist", .path.display())]
    MissingTemplates { origin: String, path: PathBuf },
    #[error("{origin}: the output path `{path}` {reason}")]
    BadOutput {
        origin: String,
        path: String,
        reason: &'static str,
    },
    /// A flag that cannot be combined with the command or another flag.
    #[error("{flag}: {reason}")]
    Usage { flag: String, reason: String },
    #[error(
        "no CI system: pass --ci github|gitlab|drone|woodpecker or set `ci:` in gen-pipeline.yml"
    )]
    NoCi,
    #[error("the image `{0}` derived from the remote is not a valid repository; pass --image")]
    DerivedImage(String),
    #[error(transparent)]
    Git(#[from] GitError),
}

impl Settings {
    /// The stages the plan builds when they are named (`targets:`/`--target`, else the stages
    /// `images:` names, plus the checks when any is named): BuildKit reports an invalid
    /// `COPY --from`/`RUN --mount` only for the stages it builds (see `app::load_for_plan`).
    /// Empty: the default targets, every stage's errors count.
    pub fn named_targets(&self) -> Vec<String> {
        let mut named = self.plan.targets.clone();
        if named.is_empty() {
            named.extend(self.plan.images.keys().cloned());
        }
        if !named.is_empty() {
            named.extend(self.plan.checks.iter().flatten().cloned());
        }
        named
    }
}

impl SettingsError {
    /// The message is a rendered diagnostic already (file:line:col, source line, caret).
    pub fn is_rendered(&self) -> bool {
        matches!(self, SettingsError::Config { .. })
    }
}

/// Where a value came from, as messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Flag,
    Config,
}

impl Origin {
    fn name(self, flag: &str, key: &str) -> String {
        match self {
            Origin::Flag => format!("--{flag}"),
            Origin::Config => format!("`{key}:` in gen-pipeline.yml"),
        }
    }
}

/// A flag's value, else the config's; with where it came from.
fn pick<T: Clone>(flag: &Option<T>, config: &Option<T>) -> Option<(T, Origin)> {
    match (flag, config) {
        (Some(v), _) => Some((v.clone(), Origin::Flag)),
        (None, Some(v)) => Some((v.clone(), Origin::Config)),
        (None, None) => None,
    }
}

fn read_text(path: &Path) -> Result<String, SettingsError> {
    let bytes = std::fs::read(path).map_err(|source| SettingsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|source| SettingsError::NotUtf8 {
        path: path.to_path_buf(),
        source,
    })
}

/// The config's `runners:` for the effective `platforms`: every key must be a valid platform of
/// `platforms` (exit 2 at the key's line and column, with the nearest configured platform as a
/// suggestion); Drone and Woodpecker labels are `key=value`; no label is empty or carries `${{`,
/// a quote or a newline.
pub fn resolve_runners(
    config: &Config,
    config_path: Option<&Path>,
    platforms: &[String],
) -> Result<BTreeMap<String, plan::Runner>, SettingsError> {
    let mut out = BTreeMap::new();
    if config.runners.is_empty() {
        return Ok(out);
    }
    let source = config_path
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let file = config_path
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| config::FILE_NAME.to_string());
    let fail = |platform: &str, msg: String, help: String| {
        let span =
            config::runner_span(&source, platform).unwrap_or(crate::diag::Span { line: 1, col: 1 });
        SettingsError::Config {
            rendered: crate::diag::Diagnostic::new(span, msg)
                .with_help(help)
                .render("error", &file, &source),
        }
    };
    for (p, entry) in &config.runners {
        if !platforms.contains(p) {
            let help = match crate::diag::suggest(p, platforms.iter().map(String::as_str)) {
                Some(s) => format!("did you mean `{s}`?"),
                None if platforms.is_empty() => {
                    "list the platforms to build in `platforms:` (e.g. `platforms: [linux/amd64, linux/arm64]`)".to_string()
                }
                None => format!("the platforms built are {}", platforms.join(", ")),
            };
            let what = if plan::valid_platform(p) {
                format!("`runners:` maps `{p}`, which is not a platform this pipeline builds")
            } else {
                format!("`runners:` maps `{p}`, which is no platform (expected os/arch[/variant])")
            };
            return Err(fail(p, what, help));
        }
        for (ci, labels, kv) in [
            ("github", &entry.github, false),
            ("gitlab", &entry.gitlab, false),
            ("drone", &entry.drone, true),
            ("woodpecker", &entry.woodpecker, true),
        ] {
            for l in labels {
                let bad = l.trim().is_empty()
                    || l.contains("${{")
                    || l.chars().any(|c| c.is_control() || "\"'`$".contains(c));
                if bad {
                    return Err(fail(
                        p,
                        format!("`runners:` {p} {ci}: invalid runner label `{l}`"),
                        "a label is one line of plain text (no quotes, `$` or control characters)"
                            .into(),
                    ));
                }
                if kv
                    && !l
                        .split_once('=')
                        .is_some_and(|(k, v)| !k.is_empty() && !v.is_empty())
                {
                    return Err(fail(
                        p,
                        format!("`runners:` {p} {ci}: label `{l}` is not `key=value`"),
                        format!("{ci} selects runners by labels, e.g. `platform={p}`"),
                    ));
                }
            }
        }
        // Drone and Woodpecker pick a runner per pipeline (workflow), not per step: labels for a
        // platform other than the build platform split the output into one pipeline per runner
        // (src/render/split.rs).
        out.insert(
            p.clone(),
            plan::Runner {
                github: entry.github.clone(),
                gitlab: entry.gitlab.clone(),
                drone: key_values(&entry.drone),
                woodpecker: key_values(&entry.woodpecker),
            },
        );
    }
    Ok(out)
}

/// `key=value` labels (validated) as a map.
fn key_values(labels: &[String]) -> BTreeMap<String, String> {
    labels
        .iter()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Read and parse a config file.
pub fn read_config(path: &Path) -> Result<Config, SettingsError> {
    let source = read_text(path)?;
    config::parse(&source).map_err(|e| SettingsError::Config {
        rendered: e.diag.render("error", &path.display().to_string(), &source),
    })
}

/// The config file to read: `--config`, else `./gen-pipeline.yml`, else the one at the root of
/// the repository around the current folder (so every command works from a subfolder);
/// none with `--no-config`.
pub fn find_config(flags: &Flags) -> Option<PathBuf> {
    if let Some(c) = &flags.config {
        return Some(c.clone());
    }
    if flags.no_config {
        return None;
    }
    let here = Path::new(config::FILE_NAME);
    if here.is_file() {
        return Some(here.to_path_buf());
    }
    let root = git::work_tree(Path::new("."))?;
    let at_root = root.join(config::FILE_NAME);
    at_root.is_file().then_some(at_root)
}

/// Validate platforms and split buildx's comma form (`linux/amd64,linux/arm64`).
pub fn parse_platforms(values: &[String], origin: &str) -> Result<Vec<String>, SettingsError> {
    let mut out = Vec::new();
    for v in values {
        for p in v.split(',') {
            let p = p.trim();
            let parts: Vec<&str> = p.split('/').collect();
            let ok = (2..=3).contains(&parts.len())
                && parts.iter().all(|c| {
                    !c.is_empty()
                        && c.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                });
            if !ok {
                return Err(SettingsError::BadPlatform {
                    origin: origin.to_string(),
                    value: p.to_string(),
                });
            }
            if !out.iter().any(|o| o == p) {
                out.push(p.to_string());
            }
        }
    }
    Ok(out)
}

/// `K=V` (and, when `from_env`, `K` taking its value from the environment).
fn parse_build_args(
    list: &[String],
    from_env: bool,
    env: Env,
) -> Result<BTreeMap<String, String>, SettingsError> {
    let mut out = BTreeMap::new();
    for item in list {
        match item.split_once('=') {
            Some(("", _)) => {
                return Err(SettingsError::Usage {
                    flag: format!("--build-arg `{item}`"),
                    reason: "empty name".into(),
                })
            }
            Some((k, v)) => {
                out.insert(k.to_string(), v.to_string());
            }
            None if !from_env => {
                // A committed pipeline must not carry a value read from the generating machine.
                return Err(SettingsError::Usage {
                    flag: format!("--build-arg `{item}`"),
                    reason: "needs a value (K=V) when generating a pipeline".into(),
                });
            }
            None => {
                if let Some(v) = env(item) {
                    out.insert(item.clone(), v);
                }
            }
        }
    }
    Ok(out)
}

/// `id=ID,env=VAR` (or `id=ID`, env = the id upper-cased).
pub fn parse_secret(s: &str) -> Result<Secret, SettingsError> {
    let mut id = None;
    let mut env = None;
    for part in s.split(',') {
        match part.split_once('=') {
            Some(("id", v)) => id = Some(v.to_string()),
            Some(("env", v)) => env = Some(v.to_string()),
            _ => {}
        }
    }
    match (id, env) {
        (Some(id), Some(env)) => Ok(Secret {
            id,
            env,
            on_pr: false,
        }),
        (Some(id), None) => Ok(Secret {
            env: id.to_uppercase(),
            id,
            on_pr: false,
        }),
        _ => Err(SettingsError::Usage {
            flag: format!("--secret `{s}`"),
            reason: "expected id=ID,env=VAR".into(),
        }),
    }
}

/// `p` (relative to the config's folder `base`) normalized without touching the disk; an error
/// when it is absolute or climbs out of `root`.
fn inside_root(base: &Path, root: &Path, p: &str, origin: &str) -> Result<PathBuf, SettingsError> {
    let bad = |reason| SettingsError::BadOutput {
        origin: origin.to_string(),
        path: p.to_string(),
        reason,
    };
    let rel = Path::new(p);
    if rel.is_absolute() || rel.has_root() {
        return Err(bad(
            "is absolute: outputs from the config must be relative paths inside the repository",
        ));
    }
    let abs = |x: &Path| {
        let a = if x.is_absolute() {
            x.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(x)
        };
        std::fs::canonicalize(&a).unwrap_or(a)
    };
    let root = abs(root);
    let mut out = abs(base);
    if !out.starts_with(&root) {
        return Err(bad(
            "is outside the repository (the config file is not inside it)",
        ));
    }
    for c in rel.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if out == root || !out.pop() {
                    return Err(bad("climbs out of the repository with `..`"));
                }
            }
            Component::Prefix(_) | Component::RootDir => return Err(bad(
                "is absolute: outputs from the config must be relative paths inside the repository",
            )),
        }
    }
    if out == root {
        return Err(bad("names the repository root itself, not a file"));
    }
    Ok(out)
}

/// Resolve flags + config + git + environment into settings for `mode`.
pub fn resolve(flags: &Flags, mode: Mode, env: Env) -> Result<Settings, SettingsError> {
    if mode == Mode::Check {
        if let Some(o) = &flags.output {
            return Err(SettingsError::Usage {
                flag: format!("-o {}", o.display()),
                reason: "`check` compares the files named by the config (or the CI's default paths) and never writes; drop -o (to check one file, name it in `output:`)".into(),
            });
        }
        if flags.force {
            return Err(SettingsError::Usage {
                flag: "--force".into(),
                reason: "`check` never writes a file".into(),
            });
        }
    }
    let config_path = find_config(flags);
    let config = match &config_path {
        Some(p) => read_config(p)?,
        None => Config::default(),
    };
    let config_dir = config_path
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let from_config = |p: &str| {
        if config_dir.as_os_str().is_empty() {
            PathBuf::from(p)
        } else {
            config_dir.join(p)
        }
    };

    // The Dockerfile is read before anything else can print: a missing one is the only message.
    let dockerfile = match (&flags.dockerfile, &config.dockerfile) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) => from_config(d),
        (None, None) => from_config("Dockerfile"),
    };
    let source = read_text(&dockerfile)?;

    let platforms = match (flags.platforms.is_empty(), config.platforms.is_empty()) {
        (false, _) => parse_platforms(&flags.platforms, "--platform")?,
        (true, false) => parse_platforms(&config.platforms, "`platforms:` in gen-pipeline.yml")?,
        (true, true) => Vec::new(),
    };
    let templates = match pick(
        &flags.templates,
        &config.templates.as_ref().map(|t| from_config(t)),
    ) {
        Some((dir, origin)) => {
            if !dir.is_dir() {
                return Err(SettingsError::MissingTemplates {
                    origin: origin.name("templates", "templates"),
                    path: dir,
                });
            }
            Some(dir)
        }
        None => None,
    };

    let git_dir = match &flags.git.repo {
        Some(r) => r.clone(),
        None => dockerfile
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    let overrides = git::Overrides {
        branch: flags.git.branch.clone(),
        tag: flags.git.git_tag.clone(),
        sha: flags.git.sha.clone(),
        default_branch: flags.git.default_branch.clone(),
        pr: flags.git.pr,
    };
    let ctx = git::discover_ref(&git_dir, env, &overrides)?;
    // Paths in the pipeline are relative to the repository root.
    let root = ctx
        .repo_root
        .clone()
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
    let root_real = std::fs::canonicalize(&root).unwrap_or_else(|_| root.clone());
    let rel = |p: &Path| -> String {
        let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let r = abs
            .strip_prefix(&root_real)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| p.to_path_buf());
        let s = r.display().to_string();
        if s.is_empty() {
            ".".to_string()
        } else {
            s
        }
    };
    let context = match (&flags.context, &config.context) {
        (Some(c), _) => c.clone(),
        (None, Some(c)) => rel(&from_config(c)),
        (None, None) => rel(dockerfile
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))),
    };

    let mut build_args = config.build_args.clone();
    build_args.extend(parse_build_args(
        &flags.build_args,
        mode == Mode::Plan,
        env,
    )?);
    let graph = GraphOptions {
        build_args: build_args.clone(),
        platform: platforms
            .first()
            .cloned()
            .unwrap_or_else(|| "linux/amd64".into()),
        ..GraphOptions::default()
    };

    let image = match (&flags.image, &config.image) {
        (Some(i), _) | (None, Some(i)) => i.clone(),
        (None, None) => match git::default_image(&ctx, env) {
            Ok(i) if plan::valid_repository(&i) => i,
            // `plan` still shows jobs without a registry; `generate` needs one.
            _ if mode == Mode::Plan => "$IMAGE".to_string(),
            Ok(i) => return Err(SettingsError::DerivedImage(i)),
            Err(e) => return Err(e.into()),
        },
    };
    let mut secrets: Vec<Secret> = config.secrets.iter().cloned().map(Into::into).collect();
    for s in &flags.secrets {
        secrets.push(parse_secret(s)?);
    }
    let mut git_ref = ctx.ref_info();
    if let Some(b) = &config.default_branch {
        if flags.git.default_branch.is_none() {
            git_ref = RefInfo::new(git_ref.kind, &git_ref.name, &git_ref.sha, b, git_ref.pr);
        }
    }

    let split = pick(&flags.split, &config.split.map(|s| s.0));
    let builder = pick(&flags.builder, &config.builder.map(|s| s.0));
    let daemon = pick(&flags.daemon, &config.daemon.map(|s| s.0));
    let gitlab_mode = pick(&flags.gitlab_mode, &config.gitlab_mode.map(|s| s.0));
    let buildkit_syntax = pick(&flags.buildkit_syntax, &config.buildkit_syntax);
    let provenance = match (flags.provenance, config.provenance) {
        (true, _) => Some((true, Origin::Flag)),
        (false, Some(true)) => Some((true, Origin::Config)),
        _ => None,
    };

    let cis: Vec<Ci> = if mode == Mode::Plan {
        Vec::new()
    } else {
        let mut cis = flags.ci.clone();
        if cis.is_empty() {
            cis = config.ci.iter().map(|c| c.0).collect();
        }
        if cis.is_empty() {
            cis = crate::app::detect_ci(&root);
        }
        if cis.is_empty() {
            return Err(SettingsError::NoCi);
        }
        let mut seen = Vec::new();
        cis.retain(|c| {
            let new = !seen.contains(c);
            seen.push(*c);
            new
        });
        cis
    };
    check_applicability(&Applicability {
        mode,
        cis: &cis,
        config_cis: &config.ci.iter().map(|c| c.0).collect::<Vec<_>>(),
        builder,
        daemon,
        gitlab_mode,
        provenance,
        buildkit_syntax: buildkit_syntax.as_ref().map(|(_, o)| *o),
    })?;
    let gitlab_mode = gitlab_mode.map(|(m, _)| m).unwrap_or_default();

    let outputs = match mode {
        Mode::Plan => Vec::new(),
        _ => outputs(
            flags,
            mode,
            &cis,
            &config,
            config_path.is_some(),
            &config_dir,
            // Config outputs must stay inside the repository; without one, inside the config's
            // own folder.
            &match (&ctx.repo_root, &config_path) {
                (Some(r), _) => r.clone(),
                (None, Some(_)) => config_dir_or_dot(&config_dir).to_path_buf(),
                (None, None) => root.clone(),
            },
            gitlab_mode,
        )?,
    };
    if flags.force && outputs.iter().all(|o| o.target == Target::Stdout) {
        return Err(SettingsError::Usage {
            flag: "--force".into(),
            reason: "nothing is written to a file (the pipeline goes to stdout)".into(),
        });
    }

    // The header's command must not depend on how or from where this run was invoked, or
    // `check` would report drift for nothing: name the config relative to the repository root.
    let dockerfile_rel = rel(&dockerfile);
    // The config as a job in the checkout names it (`None`: `gen-pipeline.yml` at the root).
    let config_arg = config_path.as_ref().and_then(|p| {
        let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
        match abs
            .strip_prefix(&root_real)
            .map(|r| r.display().to_string())
        {
            Ok(r) if r == config::FILE_NAME => None,
            Ok(r) => Some(r),
            Err(_) => Some(p.display().to_string()),
        }
    });
    let command = match (&config_path, &config_arg) {
        (Some(_), None) => "gen-pipeline".to_string(),
        (Some(_), Some(r)) => format!("gen-pipeline --config {r}"),
        (None, _) => format!("gen-pipeline --ci {{ci}} --dockerfile {dockerfile_rel}"),
    };
    let gc = gc_plan(
        config.gc.as_ref(),
        mode,
        &cis,
        &config.ci.iter().map(|c| c.0).collect::<Vec<_>>(),
        config_arg,
    )?;

    let runners = resolve_runners(&config, config_path.as_deref(), &platforms)?;
    let plan = PlanOptions {
        image,
        dockerfile: dockerfile_rel,
        context,
        targets: if flags.targets.is_empty() {
            config.targets.clone()
        } else {
            flags.targets.clone()
        },
        images: config.images.clone(),
        checks: config.checks.clone(),
        split: split.map(|(s, _)| s).unwrap_or_default(),
        builder: builder.map(|(b, _)| b).unwrap_or_default(),
        build_args: {
            let mut b = build_args;
            if let Some((s, _)) = &buildkit_syntax {
                b.insert("BUILDKIT_SYNTAX".into(), s.clone());
            }
            b
        },
        secrets,
        platforms,
        extra_tags: if flags.extra_tags.is_empty() {
            config.extra_tags.clone()
        } else {
            flags.extra_tags.clone()
        },
        cache_policy: CachePolicy {
            write_on_tag: config.cache.write_on_tag,
            write_on_pr: config.cache.write_on_pr,
        },
        runners,
        buildkit_syntax: buildkit_syntax.map(|(s, _)| s),
        provenance: provenance.is_some(),
        skip: config.skip.unwrap_or(true),
        buildkit: crate::plan::Buildkit {
            image: config
                .buildkit_image
                .clone()
                .unwrap_or_else(|| crate::plan::DEFAULT_BUILDKIT_IMAGE.to_string()),
            config: match &config.buildkitd_config {
                Some(c) => {
                    let path = from_config(c);
                    if !path.is_file() {
                        return Err(SettingsError::Usage {
                            flag: format!("buildkitd-config `{c}`"),
                            reason: format!("no such file ({})", path.display()),
                        });
                    }
                    Some(rel(&path))
                }
                None => None,
            },
        },
        git_ref,
        gc,
    };
    Ok(Settings {
        mode,
        config_path,
        dockerfile,
        source,
        root,
        graph,
        plan,
        outputs,
        render: RenderOptions {
            templates_dir: templates,
            daemon: daemon.map(|(d, _)| d).unwrap_or_default(),
            gitlab_mode,
            command,
        },
        force: flags.force,
        notes: ctx.notes,
    })
}

/// The cleanup job the config asks for (`gc:`), checked: keys set while `enabled` is not true
/// are refused (they would be ignored), and so is a `schedule` when no GitHub workflow is
/// generated (GitLab schedules and Drone/Woodpecker cron jobs are set up in the CI's settings).
fn gc_plan(
    gc: Option<&config::GcConfig>,
    mode: Mode,
    cis: &[Ci],
    config_cis: &[Ci],
    config_arg: Option<String>,
) -> Result<Option<plan::GcPlan>, SettingsError> {
    let Some(g) = gc else { return Ok(None) };
    if !g.enabled {
        if g.older_than.is_some() || g.schedule.is_some() {
            return Err(SettingsError::Usage {
                flag: "`gc:` in gen-pipeline.yml".into(),
                reason: "`older-than` or `schedule` is set but `enabled` is not true, so no cleanup job would use it: add `enabled: true` or remove the `gc:` key".into(),
            });
        }
        return Ok(None);
    }
    let mut meant_for = cis.to_vec();
    meant_for.extend(config_cis.iter().filter(|c| !cis.contains(c)));
    if g.schedule.is_some() && mode != Mode::Plan && !meant_for.contains(&Ci::Github) {
        return Err(SettingsError::NotApplicable {
            setting: "`gc: {schedule: …}` in gen-pipeline.yml".into(),
            target: ci_list(&meant_for),
            reason: "only the GitHub cleanup workflow carries its schedule; a GitLab pipeline schedule (variable GP_GC=true) and a Drone/Woodpecker cron job named gen-pipeline-gc are set up in the CI's settings".into(),
        });
    }
    Ok(Some(plan::GcPlan {
        older_than: g
            .older_than
            .as_ref()
            .map(|a| a.0.clone())
            .unwrap_or_else(|| crate::gc::DEFAULT_OLDER_THAN.to_string()),
        schedule: g
            .schedule
            .as_ref()
            .map(|c| c.0.clone())
            .unwrap_or_else(|| plan::DEFAULT_GC_SCHEDULE.to_string()),
        image: plan::GC_IMAGE.to_string(),
        config: config_arg,
    }))
}

/// The settings whose meaning depends on the CI system or the builder.
struct Applicability<'a> {
    mode: Mode,
    /// The CI systems this run renders.
    cis: &'a [Ci],
    /// The config's `ci:`: a config key is a project decision for all of them, so it is checked
    /// against those too (`--ci github` on a config whose `daemon:` is for Drone is fine).
    config_cis: &'a [Ci],
    builder: Option<(Builder, Origin)>,
    daemon: Option<(Daemon, Origin)>,
    gitlab_mode: Option<(GitlabMode, Origin)>,
    provenance: Option<(bool, Origin)>,
    buildkit_syntax: Option<Origin>,
}

fn ci_title(ci: Ci) -> &'static str {
    match ci {
        Ci::Github => "GitHub Actions",
        Ci::Gitlab => "GitLab CI",
        Ci::Drone => "Drone",
        Ci::Woodpecker => "Woodpecker",
    }
}

fn ci_list(cis: &[Ci]) -> String {
    cis.iter()
        .map(|&c| ci_title(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "Does this setting apply to this CI system?" — decided here, once. A setting that a CI system
/// it is meant for would silently ignore, or that none of them uses, is an error. A flag is meant
/// for the CI systems of this run; a config key for those and the config's `ci:`.
fn check_applicability(a: &Applicability) -> Result<(), SettingsError> {
    let meant_for = |origin: Origin| -> Vec<Ci> {
        let mut v = a.cis.to_vec();
        if origin == Origin::Config {
            for c in a.config_cis {
                if !v.contains(c) {
                    v.push(*c);
                }
            }
        }
        v
    };
    let buildah = matches!(a.builder, Some((Builder::Buildah, _)));
    if let Some((Builder::Buildah, origin)) = a.builder {
        // GitHub jobs build with docker/build-push-action: a buildah flavour would be another
        // workflow entirely. Refused rather than silently building with BuildKit.
        if a.mode != Mode::Plan && meant_for(origin).contains(&Ci::Github) {
            return Err(SettingsError::NotApplicable {
                setting: match origin {
                    Origin::Flag => "--builder buildah".into(),
                    Origin::Config => "`builder: buildah` in gen-pipeline.yml".into(),
                },
                target: ci_title(Ci::Github).into(),
                reason: "GitHub jobs build with docker/build-push-action (BuildKit); use the buildx builder there, or generate buildah jobs for GitLab, Drone or Woodpecker".into(),
            });
        }
        if let Some((true, o)) = a.provenance {
            return Err(SettingsError::NotApplicable {
                setting: o.name("provenance", "provenance"),
                target: "the buildah builder".into(),
                reason: "provenance attestations are a BuildKit feature; drop it or use --builder buildx".into(),
            });
        }
        if let Some(o) = a.buildkit_syntax {
            return Err(SettingsError::NotApplicable {
                setting: o.name("buildkit-syntax", "buildkit-syntax"),
                target: "the buildah builder".into(),
                reason: "BUILDKIT_SYNTAX selects a BuildKit frontend image, which buildah does not run; drop it or use --builder buildx".into(),
            });
        }
    }
    if a.mode == Mode::Plan {
        return Ok(());
    }
    if let Some((_, origin)) = a.daemon {
        let setting = origin.name("daemon", "daemon");
        let cis = meant_for(origin);
        if !cis.iter().any(|c| matches!(c, Ci::Drone | Ci::Woodpecker)) {
            return Err(SettingsError::NotApplicable {
                setting,
                target: ci_list(&cis),
                reason: "only Drone and Woodpecker steps choose how to reach a Docker daemon (GitHub runners have one; GitLab jobs use a docker:dind service)".into(),
            });
        }
        if buildah {
            return Err(SettingsError::NotApplicable {
                setting,
                target: "the buildah builder".into(),
                reason: "buildah jobs need no Docker daemon".into(),
            });
        }
    }
    if let Some((_, origin)) = a.gitlab_mode {
        let cis = meant_for(origin);
        if !cis.contains(&Ci::Gitlab) {
            return Err(SettingsError::NotApplicable {
                setting: origin.name("gitlab-mode", "gitlab-mode"),
                target: ci_list(&cis),
                reason: "it only shapes the GitLab CI output".into(),
            });
        }
    }
    Ok(())
}

/// Where each CI system's pipeline goes.
///
/// - `-o -`: stdout; `-o PATH`: that file (one CI system only);
/// - `--ci X` (one) without `-o`: stdout, even when a config names outputs (so
///   `gen-pipeline --ci drone > .drone.yml` works in a configured repository);
/// - otherwise, with a config: each CI's `output:` path (relative to the config, inside the
///   repository), else its conventional path beside the config;
/// - without a config: one CI to stdout, several to their conventional paths.
///
/// `check` always compares files: the config's paths, else the conventional ones.
#[allow(clippy::too_many_arguments)]
fn outputs(
    flags: &Flags,
    mode: Mode,
    cis: &[Ci],
    config: &Config,
    has_config: bool,
    config_dir: &Path,
    root: &Path,
    gitlab_mode: GitlabMode,
) -> Result<Vec<Output>, SettingsError> {
    let default_path = |ci: Ci| match ci {
        Ci::Gitlab => gitlab_mode.default_path(),
        c => c.default_path(),
    };
    let configured = |ci: Ci| -> Result<Target, SettingsError> {
        match config.output.iter().find(|(k, _)| k.0 == ci) {
            Some((_, p)) => {
                inside_root(
                    config_dir_or_dot(config_dir),
                    root,
                    p,
                    &format!("`output: {{{}: …}}` in gen-pipeline.yml", ci.name()),
                )?;
                // Shown as the user would write it: relative to the config's folder as named.
                Ok(Target::File {
                    path: config_dir.join(p),
                    within: Some(root.to_path_buf()),
                })
            }
            None => Ok(Target::File {
                path: if has_config {
                    config_dir.join(default_path(ci))
                } else {
                    PathBuf::from(default_path(ci))
                },
                within: has_config.then(|| root.to_path_buf()),
            }),
        }
    };
    let all = |f: &dyn Fn(Ci) -> Result<Target, SettingsError>| {
        cis.iter()
            .map(|&ci| Ok(Output { ci, target: f(ci)? }))
            .collect::<Result<Vec<_>, SettingsError>>()
    };
    if mode == Mode::Check {
        return all(&configured);
    }
    match &flags.output {
        Some(o) if cis.len() > 1 => Err(SettingsError::Usage {
            flag: format!("-o {}", o.display()),
            reason: format!(
                "names one file but {} CI systems are selected ({}); drop -o to write each to its `output:` path",
                cis.len(),
                ci_list(cis)
            ),
        }),
        Some(o) if o.as_os_str() == "-" => Ok(vec![Output {
            ci: cis[0],
            target: Target::Stdout,
        }]),
        Some(o) => Ok(vec![Output {
            ci: cis[0],
            target: Target::File {
                path: o.clone(),
                within: None,
            },
        }]),
        None if flags.ci.len() == 1 && cis.len() == 1 => Ok(vec![Output {
            ci: cis[0],
            target: Target::Stdout,
        }]),
        None if has_config => all(&configured),
        None if cis.len() == 1 => Ok(vec![Output {
            ci: cis[0],
            target: Target::Stdout,
        }]),
        None => all(&|ci| {
            Ok(Target::File {
                path: PathBuf::from(default_path(ci)),
                within: None,
            })
        }),
    }
}

fn config_dir_or_dot(d: &Path) -> &Path {
    if d.as_os_str().is_empty() {
        Path::new(".")
    } else {
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_validated_and_comma_form_split() {
        assert_eq!(
            parse_platforms(&["linux/amd64,linux/arm64/v8".into()], "--platform").unwrap(),
            ["linux/amd64", "linux/arm64/v8"]
        );
        assert_eq!(
            parse_platforms(
                &["linux/amd64".into(), "linux/amd64,linux/386".into()],
                "--platform"
            )
            .unwrap(),
            ["linux/amd64", "linux/386"]
        );
        for bad in [
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v8/x",
            "Linux/AMD64",
            "linux/amd64,",
            "linux/$(id)",
            "",
        ] {
            let e = parse_platforms(&[bad.into()], "--platform").unwrap_err();
            assert!(matches!(e, SettingsError::BadPlatform { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn config_outputs_stay_inside_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("sub")).unwrap();
        let ok = inside_root(root, root, "ci/x.yml", "o").unwrap();
        assert!(ok.ends_with("ci/x.yml"));
        assert!(inside_root(&root.join("sub"), root, "../x.yml", "o").is_ok());
        for bad in ["/etc/x.yml", "../x.yml", "a/../../x.yml", ".", "a/.."] {
            assert!(
                matches!(
                    inside_root(root, root, bad, "o"),
                    Err(SettingsError::BadOutput { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn applicability_is_decided_per_ci_and_builder() {
        let base = |cis: &'static [Ci]| Applicability {
            mode: Mode::Generate,
            cis,
            config_cis: &[],
            builder: None,
            daemon: None,
            gitlab_mode: None,
            provenance: None,
            buildkit_syntax: None,
        };
        let err = |a: &Applicability| check_applicability(a).unwrap_err().to_string();
        let mut a = base(&[Ci::Github]);
        a.builder = Some((Builder::Buildah, Origin::Flag));
        assert_eq!(
            err(&a).split(':').next().unwrap(),
            "--builder buildah does not apply to GitHub Actions"
        );
        a.builder = Some((Builder::Buildah, Origin::Config));
        assert!(
            err(&a).starts_with(
                "`builder: buildah` in gen-pipeline.yml does not apply to GitHub Actions"
            ),
            "{}",
            err(&a)
        );
        let mut a = base(&[Ci::Github, Ci::Gitlab]);
        a.daemon = Some((Daemon::Dind, Origin::Flag));
        assert!(err(&a).starts_with("--daemon does not apply to GitHub Actions, GitLab CI"));
        let mut a = base(&[Ci::Github, Ci::Drone]);
        a.daemon = Some((Daemon::Dind, Origin::Flag));
        assert!(check_applicability(&a).is_ok(), "Drone uses it");
        let mut a = base(&[Ci::Gitlab]);
        a.builder = Some((Builder::Buildah, Origin::Flag));
        assert!(check_applicability(&a).is_ok());
        a.provenance = Some((true, Origin::Flag));
        assert!(err(&a).starts_with("--provenance does not apply to the buildah builder"));
        a.provenance = None;
        a.buildkit_syntax = Some(Origin::Config);
        assert!(err(&a).starts_with(
            "`buildkit-syntax:` in gen-pipeline.yml does not apply to the buildah builder"
        ));
        // A config key is checked against the config's CI systems too.
        let mut a = base(&[Ci::Github]);
        a.config_cis = &[Ci::Github, Ci::Drone];
        a.daemon = Some((Daemon::Dind, Origin::Config));
        assert!(
            check_applicability(&a).is_ok(),
            "the config's Drone uses it"
        );
        a.daemon = Some((Daemon::Dind, Origin::Flag));
        assert!(err(&a).starts_with("--daemon does not apply to GitHub Actions:"));
        let mut a = base(&[Ci::Gitlab]);
        a.config_cis = &[Ci::Github];
        a.builder = Some((Builder::Buildah, Origin::Config));
        assert!(err(&a).contains("does not apply to GitHub Actions"));
        let mut a = base(&[Ci::Drone]);
        a.gitlab_mode = Some((GitlabMode::Include, Origin::Flag));
        assert!(err(&a).starts_with("--gitlab-mode does not apply to Drone"));
    }
}
