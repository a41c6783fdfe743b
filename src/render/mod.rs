//! Renderers: each CI backend reshapes a [`Plan`] into its template's context and renders
//! an embedded minijinja template (overridable with `--templates DIR`). Backends make no
//! decisions: job layout, needs, tags, caches and digest wiring all come from the plan.
//!
//! Rendering is strict (an undefined variable is an error), every interpolated value goes
//! through a quoting filter, line endings are LF, and the result is parsed back as YAML
//! before it is returned. Drone and Woodpecker files are then escaped as a whole for the
//! variable substitution their runners apply to the file ([`envsubst_escape`]): their templates
//! are written as the runner must finally see them.

use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior, Value};
use serde::Serialize;

use crate::plan::Plan;

pub mod split;

/// The CI systems gen-pipeline writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Ci {
    Github,
    Gitlab,
    Drone,
    Woodpecker,
}

impl Ci {
    pub const ALL: [Ci; 4] = [Ci::Github, Ci::Gitlab, Ci::Drone, Ci::Woodpecker];

    pub fn name(self) -> &'static str {
        match self {
            Ci::Github => "github",
            Ci::Gitlab => "gitlab",
            Ci::Drone => "drone",
            Ci::Woodpecker => "woodpecker",
        }
    }

    /// Where the pipeline conventionally lives in a repository.
    pub fn default_path(self) -> &'static str {
        match self {
            Ci::Github => ".github/workflows/images.yml",
            Ci::Gitlab => ".gitlab-ci.yml",
            Ci::Drone => ".drone.yml",
            Ci::Woodpecker => ".woodpecker.yml",
        }
    }
}

impl std::str::FromStr for Ci {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "github" | "github-actions" => Ok(Ci::Github),
            "gitlab" | "gitlab-ci" => Ok(Ci::Gitlab),
            "drone" => Ok(Ci::Drone),
            "woodpecker" => Ok(Ci::Woodpecker),
            other => Err(format!(
                "unknown CI system `{other}` (expected github, gitlab, drone or woodpecker)"
            )),
        }
    }
}

/// How Drone/Woodpecker steps reach a Docker daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Daemon {
    /// The host's socket, mounted into the steps (needs a trusted repository).
    #[default]
    Host,
    /// A privileged `docker:dind` service.
    Dind,
}

impl std::str::FromStr for Daemon {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "host" => Ok(Daemon::Host),
            "dind" => Ok(Daemon::Dind),
            other => Err(format!(
                "unknown daemon mode `{other}` (expected host or dind)"
            )),
        }
    }
}

/// What the GitLab output is: the whole `.gitlab-ci.yml`, or a file a hand-written
/// `.gitlab-ci.yml` pulls in with `include: local:` (no `workflow:`, `stages:` or global
/// `variables:`; every job named `gen-pipeline-<job>` and run in the `.pre` stage, which every
/// pipeline has).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GitlabMode {
    #[default]
    Pipeline,
    Include,
}

impl GitlabMode {
    /// Where the output conventionally lives.
    pub fn default_path(self) -> &'static str {
        match self {
            GitlabMode::Pipeline => ".gitlab-ci.yml",
            GitlabMode::Include => ".gitlab/gen-pipeline.yml",
        }
    }
    /// Prefix of every job name (include mode: the user's file owns the plain names).
    pub fn job_prefix(self) -> &'static str {
        match self {
            GitlabMode::Pipeline => "",
            GitlabMode::Include => "gen-pipeline-",
        }
    }
}

impl std::str::FromStr for GitlabMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pipeline" => Ok(GitlabMode::Pipeline),
            "include" => Ok(GitlabMode::Include),
            other => Err(format!(
                "unknown GitLab mode `{other}` (expected pipeline or include)"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RenderOptions {
    /// A folder whose `<ci>/pipeline.yml.j2` (and `shared/*`) replace the embedded templates.
    pub templates_dir: Option<PathBuf>,
    pub daemon: Daemon,
    pub gitlab_mode: GitlabMode,
    /// The command that regenerates this file (written into its header); `{ci}` becomes the CI's name.
    pub command: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template error in {name}: {source}")]
    Template {
        name: String,
        #[source]
        source: minijinja::Error,
    },
    #[error("cannot read template {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A plan whose values are not safe in a CI file (a hand-made [`Plan`] that skipped
    /// [`crate::plan::plan`]'s validation), or the preview placeholder image.
    #[error("{0}")]
    Unsafe(#[from] crate::plan::PlanError),
    #[error("no image repository is known: pass --image or set `image:` in gen-pipeline.yml")]
    NoImage,
    /// Woodpecker runs one workflow per file: a split plan cannot go to one file.
    #[error("with `runners:` labels for Woodpecker on {platforms}, gen-pipeline writes {} Woodpecker workflows ({}), one per file, and Woodpecker reads several workflows only from a folder (.woodpecker/ by default): write the Woodpecker output into one (-o .woodpecker/, or `output: {{woodpecker: .woodpecker/}}` in gen-pipeline.yml); stdout and a single .woodpecker.yml hold one workflow", .names.len(), .names.join(", "))]
    SeveralWorkflows {
        names: Vec<String>,
        platforms: String,
    },
    #[error("the rendered {ci} pipeline is not valid YAML: {source}\n{text}")]
    Yaml {
        ci: &'static str,
        #[source]
        source: serde_yaml::Error,
        text: String,
    },
}

/// Pinned third-party actions: full commit SHA plus the release it is.
pub const ACTIONS: &[(&str, &str, &str, &str)] = &[
    (
        "checkout",
        "actions/checkout",
        "3d3c42e5aac5ba805825da76410c181273ba90b1",
        "v7.0.1",
    ),
    (
        "setup_qemu",
        "docker/setup-qemu-action",
        "96fe6ef7f33517b61c61be40b68a1882f3264fb8",
        "v4.2.0",
    ),
    (
        "setup_buildx",
        "docker/setup-buildx-action",
        "37fe631027851001ddb9b187196cc803df7f5f0e",
        "v4.3.0",
    ),
    (
        "login",
        "docker/login-action",
        "4907a6ddec9925e35a0a9e82d7399ccc52663121",
        "v4.1.0",
    ),
    (
        "build_push",
        "docker/build-push-action",
        "53b7df96c91f9c12dcc8a07bcb9ccacbed38856a",
        "v7.3.0",
    ),
];

/// Images the shell-based backends run in.
pub const DOCKER_CLI_IMAGE: &str = "docker:28-cli";
pub const DOCKER_DIND_IMAGE: &str = "docker:28-dind";
pub const BUILDAH_IMAGE: &str = "quay.io/buildah/stable:v1.38";

const EMBEDDED: &[(&str, &str)] = &[
    (
        "github/pipeline.yml.j2",
        include_str!("../../templates/github/pipeline.yml.j2"),
    ),
    (
        "github/gc.yml.j2",
        include_str!("../../templates/github/gc.yml.j2"),
    ),
    (
        "gitlab/pipeline.yml.j2",
        include_str!("../../templates/gitlab/pipeline.yml.j2"),
    ),
    (
        "drone/pipeline.yml.j2",
        include_str!("../../templates/drone/pipeline.yml.j2"),
    ),
    (
        "woodpecker/pipeline.yml.j2",
        include_str!("../../templates/woodpecker/pipeline.yml.j2"),
    ),
    (
        "shared/ref.sh",
        include_str!("../../templates/shared/ref.sh"),
    ),
    (
        "shared/build.sh",
        include_str!("../../templates/shared/build.sh"),
    ),
    (
        "shared/key.sh",
        include_str!("../../templates/shared/key.sh"),
    ),
    (
        "shared/buildx.sh",
        include_str!("../../templates/shared/buildx.sh"),
    ),
    (
        "shared/buildah.sh",
        include_str!("../../templates/shared/buildah.sh"),
    ),
    (
        "shared/buildx-build.sh",
        include_str!("../../templates/shared/buildx-build.sh"),
    ),
    (
        "shared/buildah-build.sh",
        include_str!("../../templates/shared/buildah-build.sh"),
    ),
    (
        "shared/github.sh",
        include_str!("../../templates/shared/github.sh"),
    ),
    (
        "shared/merge.sh",
        include_str!("../../templates/shared/merge.sh"),
    ),
    (
        "shared/handoff.sh",
        include_str!("../../templates/shared/handoff.sh"),
    ),
    (
        "shared/index.sh",
        include_str!("../../templates/shared/index.sh"),
    ),
];

/// The shared shell files a pipeline of `builder` carries, in order (Drone/Woodpecker write them,
/// joined by [`compact_shell`], to `lib.sh`; GitLab defines them in its hidden job). Only what the
/// builder uses: a buildah pipeline carries no docker command and vice versa.
pub fn shell_parts(builder: crate::plan::Builder) -> [&'static str; 5] {
    let (registry, build) = match builder {
        crate::plan::Builder::Buildx => ("shared/buildx.sh", "shared/buildx-build.sh"),
        crate::plan::Builder::Buildah => ("shared/buildah.sh", "shared/buildah-build.sh"),
    };
    [
        "shared/ref.sh",
        "shared/key.sh",
        registry,
        build,
        "shared/build.sh",
    ]
}

/// The shell files of GitHub's first job: the policy, the keys, buildx's registry part and the
/// per-job decisions (its build jobs are plain docker/build-push-action steps: no builder code).
pub const GITHUB_SHELL_PARTS: [&str; 4] = [
    "shared/ref.sh",
    "shared/key.sh",
    "shared/buildx.sh",
    "shared/github.sh",
];

/// The run-time shell as a pipeline carries it: the `parts`' texts joined under one header line,
/// without their full-line comments (they document the sources, templates/shared/*.sh and its
/// README.md; `# shellcheck` directives stay). End-of-line comments stay.
pub fn compact_shell<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut out =
        String::from("# gen-pipeline run-time shell (templates/shared/*.sh, see its README.md)\n");
    for part in parts {
        for line in part.lines() {
            let t = line.trim_start();
            if t.starts_with('#') && !t.starts_with("# shellcheck") {
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
    }
    out.truncate(out.trim_end().len());
    out
}

/// The embedded template text of `name` (e.g. `shared/build.sh`).
pub fn embedded(name: &str) -> Option<&'static str> {
    EMBEDDED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The context a template sees: the plan plus what the backend derives from it.
#[derive(Debug, Serialize)]
struct Context<'a> {
    plan: &'a Plan,
    /// The generated registry cleanup job (`plan.gc`; null when off).
    gc: Option<&'a crate::plan::GcPlan>,
    ci: Ci,
    daemon: Daemon,
    /// GitLab: a file to `include:` (see [`GitlabMode`]) rather than the whole pipeline.
    gitlab_include: bool,
    /// GitLab: prefix of every job name (empty for a whole pipeline).
    job_prefix: &'static str,
    command: &'a str,
    /// Registry host of the plan's image (for `docker login`).
    registry: String,
    /// The shared run-time shell: ref policy, per-job decisions and the build function.
    shell: String,
    /// GitHub's first job: policy, keys, registry probes and retag, per-job JSON decisions.
    shell_github: String,
    actions: std::collections::BTreeMap<&'static str, ActionPin>,
    /// The image shell-based steps run in (Drone, Woodpecker): docker CLI or buildah.
    step_image: &'static str,
    images: std::collections::BTreeMap<&'static str, &'static str>,
    /// Drone/Woodpecker: the pipelines this file holds (one unless `runners:` splits them, see
    /// [`split`]); empty for GitHub and GitLab.
    pipelines: Vec<split::Pipeline<'a>>,
}

#[derive(Debug, Serialize)]
struct ActionPin {
    uses: String,
    version: &'static str,
}

fn load(opts: &RenderOptions, name: &str) -> Result<String, RenderError> {
    if let Some(dir) = &opts.templates_dir {
        let path = dir.join(name);
        if path.exists() {
            return std::fs::read_to_string(&path)
                .map_err(|source| RenderError::Io { path, source });
        }
    }
    Ok(embedded(name)
        .expect("every embedded template is listed")
        .to_string())
}

/// Registry host of an image repository (`docker.io` when the first component is not a host).
pub fn registry_host(image: &str) -> String {
    if image.starts_with("$CI_REGISTRY_IMAGE") || image.starts_with("${CI_REGISTRY_IMAGE}") {
        return "$CI_REGISTRY".to_string();
    }
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_string()
        }
        _ => "docker.io".to_string(),
    }
}

/// The file name of GitHub's cleanup workflow, written beside the images workflow when the
/// config enables `gc:` (GitHub runs each workflow file on its own triggers).
pub const GITHUB_GC_FILE: &str = "gen-pipeline-gc.yml";

/// The name of the first (or only) Drone pipeline and the default Woodpecker workflow file stem.
pub const PIPELINE_NAME: &str = "images";

/// Render `plan` for `ci` as one file. A Woodpecker plan split into several workflows
/// ([`split::is_split`]) is [`RenderError::SeveralWorkflows`]: see [`render_workflows`].
pub fn render(plan: &Plan, ci: Ci, opts: &RenderOptions) -> Result<String, RenderError> {
    if ci == Ci::Woodpecker {
        let pls = split::pipelines(plan, ci, PIPELINE_NAME);
        if pls.len() > 1 {
            return Err(several_workflows(&pls));
        }
        return render_template(plan, ci, opts, "woodpecker/pipeline.yml.j2", pls);
    }
    let pls = match ci {
        Ci::Drone | Ci::Woodpecker => split::pipelines(plan, ci, PIPELINE_NAME),
        Ci::Github | Ci::Gitlab => Vec::new(),
    };
    render_template(
        plan,
        ci,
        opts,
        &format!("{}/pipeline.yml.j2", ci.name()),
        pls,
    )
}

fn several_workflows(pls: &[split::Pipeline]) -> RenderError {
    let mut platforms: Vec<String> = Vec::new();
    for pl in pls {
        for p in &pl.platforms {
            if !platforms.contains(p) {
                platforms.push(p.clone());
            }
        }
    }
    RenderError::SeveralWorkflows {
        names: pls.iter().map(|p| p.name.clone()).collect(),
        platforms: platforms.join(", "),
    }
}

/// Woodpecker's workflows, one file each: `(workflow name, text)`, the first named `stem` (the
/// file's name without extension and leading dots, as Woodpecker names a workflow), the others
/// `<stem>-<suffix>`; one workflow unless `runners:` splits the plan ([`split`]).
pub fn render_workflows(
    plan: &Plan,
    opts: &RenderOptions,
    stem: &str,
) -> Result<Vec<(String, String)>, RenderError> {
    split::pipelines(plan, Ci::Woodpecker, stem)
        .into_iter()
        .map(|pl| {
            let name = pl.name.clone();
            let text = render_template(
                plan,
                Ci::Woodpecker,
                opts,
                "woodpecker/pipeline.yml.j2",
                vec![pl],
            )?;
            Ok((name, text))
        })
        .collect()
}

/// GitHub's cleanup workflow ([`GITHUB_GC_FILE`]) when the plan has a cleanup job; `None`
/// otherwise. The other CI systems carry theirs in the pipeline file ([`render`]).
pub fn render_github_gc(plan: &Plan, opts: &RenderOptions) -> Result<Option<String>, RenderError> {
    if plan.gc.is_none() {
        return Ok(None);
    }
    render_template(plan, Ci::Github, opts, "github/gc.yml.j2", Vec::new()).map(Some)
}

fn render_template(
    plan: &Plan,
    ci: Ci,
    opts: &RenderOptions,
    name: &str,
    pipelines: Vec<split::Pipeline>,
) -> Result<String, RenderError> {
    // The plan's validation guarantees these; re-checked because a `Plan` is a plain struct.
    if plan.image == crate::plan::UNKNOWN_IMAGE {
        return Err(RenderError::NoImage);
    }
    crate::plan::check_repository(&plan.image)?;
    let name = name.to_string();
    let source = load(opts, &name)?;
    let load_all = |names: &[&str]| {
        names
            .iter()
            .map(|n| load(opts, n))
            .collect::<Result<Vec<String>, RenderError>>()
    };
    // Multi-platform on native runners (`runners:`): per-platform builds and the merge jobs;
    // only pipelines with `runners:` carry templates/shared/merge.sh.
    let multi = plan.platforms.len() > 1 && plan.build_platform.is_some();
    let mut parts = shell_parts(plan.builder).to_vec();
    let mut github_parts = GITHUB_SHELL_PARTS.to_vec();
    if multi {
        parts.push("shared/merge.sh");
        parts.push("shared/index.sh");
        github_parts.push("shared/merge.sh");
    }
    // Several pipelines (Drone/Woodpecker with `runners:` labels): digests cross them through
    // the registry.
    if matches!(ci, Ci::Drone | Ci::Woodpecker) && split::is_split(plan, ci) {
        parts.push("shared/handoff.sh");
    }
    let shell = compact_shell(load_all(&parts)?.iter().map(|s| s.as_str()));
    let shell_github = compact_shell(load_all(&github_parts)?.iter().map(|s| s.as_str()));
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env.add_filter("q", yaml_quote);
    env.add_filter("sh", shell_quote);
    // A macro's output without its final line break, so a call on its own line adds no blank line.
    env.add_filter("chomp", |s: String| s.trim_end_matches('\n').to_string());
    // A macro's output for the end of the previous line (`{{- m() | nl }}`): nothing when empty,
    // else a line break and the output, so an empty macro leaves no blank line.
    env.add_filter("nl", |s: String| {
        let t = s.trim_end_matches('\n');
        if t.is_empty() {
            String::new()
        } else {
            format!("\n{t}")
        }
    });
    // A GitHub expression, `${{ … }}`, without fighting the template syntax.
    env.add_function("gh", |expr: String| format!("${{{{ {expr} }}}}"));
    env.add_template_owned(name.clone(), source)
        .map_err(|source| RenderError::Template {
            name: name.clone(),
            source,
        })?;

    let ctx = Context {
        plan,
        gc: plan.gc.as_ref(),
        ci,
        daemon: opts.daemon,
        gitlab_include: opts.gitlab_mode == GitlabMode::Include,
        job_prefix: opts.gitlab_mode.job_prefix(),
        command: &opts.command.replace("{ci}", ci.name()),
        registry: registry_host(&plan.image),
        shell,
        shell_github,
        actions: ACTIONS
            .iter()
            .map(|(key, repo, sha, version)| {
                (
                    *key,
                    ActionPin {
                        uses: format!("{repo}@{sha}"),
                        version,
                    },
                )
            })
            .collect(),
        step_image: match plan.builder {
            crate::plan::Builder::Buildx => DOCKER_CLI_IMAGE,
            crate::plan::Builder::Buildah => BUILDAH_IMAGE,
        },
        images: [
            ("docker_cli", DOCKER_CLI_IMAGE),
            ("docker_dind", DOCKER_DIND_IMAGE),
            ("buildah", BUILDAH_IMAGE),
        ]
        .into_iter()
        .collect(),
        pipelines,
    };
    let tmpl = env
        .get_template(&name)
        .map_err(|source| RenderError::Template {
            name: name.clone(),
            source,
        })?;
    let text =
        tmpl.render(Value::from_serialize(&ctx))
            .map_err(|source| RenderError::Template {
                name: name.clone(),
                source,
            })?;
    let text = normalize(&text);
    check_yaml(ci, &text)?;
    match ci {
        Ci::Drone | Ci::Woodpecker => {
            // What the runner parses is `text`; what the file holds (and what schema checkers and
            // editors read) is its escaped form, valid YAML too.
            let escaped = envsubst_escape(&text);
            check_yaml(ci, &escaped)?;
            Ok(escaped)
        }
        Ci::Github | Ci::Gitlab => Ok(text),
    }
}

fn check_yaml(ci: Ci, text: &str) -> Result<(), RenderError> {
    for doc in serde_yaml::Deserializer::from_str(text) {
        <serde_yaml::Value as serde::Deserialize>::deserialize(doc).map_err(|source| {
            RenderError::Yaml {
                ci: ci.name(),
                source,
                text: text.to_string(),
            }
        })?;
    }
    Ok(())
}

/// Escapes `text` so that drone/envsubst v1.0.3 (which Drone's runners and Woodpecker's server
/// run over the WHOLE pipeline file, comments included, before parsing it as YAML) turns it back
/// into exactly `text`, substituting nothing.
///
/// The rules, from github.com/drone/envsubst v1.0.3 `parse/scan.go` (`scanEscaped`, used by
/// `parseAny` in `parse/parse.go`): outside an expression `$$` is one `$`, and a backslash
/// followed by `\` or `/` is dropped (the next character is kept as is); only `${` starts an
/// expression, and one that is not a valid parameter expression fails the whole pipeline
/// ("unable to parse variable name"). So every `$` is doubled (no `${` survives), and a run of
/// `n` backslashes becomes `2n` when `n` is even; when `n` is odd it becomes `2n + 1` before a
/// `/` and `2n - 1` before anything else. That keeps the run's parity, so the escapes of a YAML
/// double-quoted scalar (`\"`, `\n`, `\\`) pair up the same way in the escaped file: the file is
/// valid YAML both as written and as the runner parses it. Tested against an oracle of the upstream
/// rules in `tests/it/envsubst.rs`.
pub fn envsubst_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => {
                let mut n = 1;
                while chars.peek() == Some(&'\\') {
                    chars.next();
                    n += 1;
                }
                let k = match (n % 2, chars.peek()) {
                    (0, _) => 2 * n,
                    (_, Some('/')) => 2 * n + 1,
                    _ => 2 * n - 1,
                };
                out.extend(std::iter::repeat_n('\\', k));
            }
            c => out.push(c),
        }
    }
    out
}

/// LF endings, no trailing spaces, no run of blank lines, exactly one final newline.
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.replace("\r\n", "\n").split('\n') {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            if blank > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// The text of a value as shell and YAML expect it (`true`/`false` for booleans).
fn plain(value: &Value) -> String {
    if let Some(s) = value.as_str() {
        s.to_string()
    } else if value.kind() == minijinja::value::ValueKind::Bool {
        if value.is_true() { "true" } else { "false" }.to_string()
    } else {
        value.to_string()
    }
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML); always safe to interpolate.
pub fn yaml_quote(value: Value) -> String {
    let s = plain(&value);
    serde_json::to_string(&s).expect("strings always serialize")
}

/// A POSIX-shell single-quoted word.
pub fn shell_quote(value: Value) -> String {
    let s = plain(&value);
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c))
    {
        return s;
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Write `text` to `path` atomically: a temporary file in the same folder, then a rename.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())?;
    // A temporary file is created 0600; a pipeline is an ordinary file: keep the mode of the file
    // it replaces, else the usual 0644.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o644);
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::{options, two_apps};

    #[test]
    fn renders_every_ci_and_parses_back() {
        let p = crate::plan::plan(&two_apps(), &options()).unwrap();
        let dir = std::env::var("GEN_PIPELINE_RENDER_DUMP").ok();
        for ci in Ci::ALL {
            let text = render(
                &p,
                ci,
                &RenderOptions {
                    command: "gen-pipeline".into(),
                    ..Default::default()
                },
            )
            .unwrap();
            assert!(text.ends_with('\n') && !text.contains('\r'));
            assert!(
                text.contains("registry.example.com/team/proj/stages/base"),
                "{ci:?}"
            );
            if let Some(d) = &dir {
                std::fs::write(format!("{d}/{}.yml", ci.name()), &text).unwrap();
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn atomic_write_leaves_an_ordinary_file() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/x.yml");
        write_atomic(&p, "a: 1\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "a: 1\n");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o664)).unwrap();
        write_atomic(&p, "a: 2\n").unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o664
        );
        assert_eq!(
            std::fs::read_dir(p.parent().unwrap()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn envsubst_escape_doubles_dollars_and_keeps_backslash_parity() {
        assert_eq!(envsubst_escape("a $X ${y} $$"), "a $$X $${y} $$$$");
        assert_eq!(
            envsubst_escape(r"\n \ \\ \/ \\/ \\\"),
            r"\n \ \\\\ \\\/ \\\\/ \\\\\"
        );
        assert_eq!(envsubst_escape("no specials"), "no specials");
    }

    #[test]
    fn quoting_filters() {
        assert_eq!(yaml_quote(Value::from("a: b # c")), "\"a: b # c\"");
        assert_eq!(shell_quote(Value::from("K=v w")), "'K=v w'");
        assert_eq!(shell_quote(Value::from("it's")), "'it'\\''s'");
        assert_eq!(shell_quote(Value::from("plain-1.0")), "plain-1.0");
        assert_eq!(yaml_quote(Value::from(true)), "\"true\"");
    }
}
