//! The CI-agnostic build plan: which stages get their own job, what each job needs, which
//! upstream images it receives by digest, and how it is tagged and cached.
//!
//! Every decision about the pipeline is taken here, once. Renderers only reshape a [`Plan`]
//! for their template; templates only loop and branch over it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::diag::suggest;
use crate::dockerfile::Dockerfile;
use crate::graph::StageGraph;

pub mod key;
pub mod platforms;
use crate::refs::{self, CachePolicy, CacheRefs, RefInfo};
use crate::select::{self, PlanInput};
pub use key::JobKey;
pub use platforms::{MergeJob, MergeSource, Runner};

/// GitLab rejects a job with more than 50 `needs` (the default `ci_max_needs`).
pub const GITLAB_MAX_NEEDS: usize = 50;
/// Self-managed GitLab accepts as few as 20 variables in one dotenv report (5 KB at most).
pub const GITLAB_MAX_DOTENV_VARS: usize = 20;

/// Which stages get a job of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Targets, and every stage that two or more jobs need (a shared base).
    #[default]
    Shared,
    /// Every named stage reachable from the targets.
    All,
    /// Only the targets; everything else is built inside the job that needs it.
    Targets,
}

impl std::str::FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "shared" => Ok(Split::Shared),
            "all" => Ok(Split::All),
            "targets" => Ok(Split::Targets),
            other => Err(format!(
                "unknown split policy `{other}` (expected shared, all or targets)"
            )),
        }
    }
}

/// How jobs build: BuildKit through `docker buildx` (docker-container driver) or daemonless buildah.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Builder {
    #[default]
    Buildx,
    Buildah,
}

impl std::str::FromStr for Builder {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "buildx" => Ok(Builder::Buildx),
            "buildah" => Ok(Builder::Buildah),
            other => Err(format!(
                "unknown builder `{other}` (expected buildx or buildah)"
            )),
        }
    }
}

/// The BuildKit image the docker-container driver runs when the config names none: a release
/// tag, never the moving `buildx-stable-1` buildx picks by default (BuildKit v0.33.0, released
/// 2026-09-02: moby/moby#53554, docker/buildx#4049).
pub const DEFAULT_BUILDKIT_IMAGE: &str = "moby/buildkit:v0.33.0";

/// The BuildKit that `docker buildx create --driver docker-container` (GitLab, Drone, Woodpecker)
/// and `docker/setup-buildx-action` (GitHub) start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Buildkit {
    /// `--driver-opt image=…` / `driver-opts: image=…`.
    pub image: String,
    /// A buildkitd TOML config (registry mirrors, a private registry's CA), relative to the
    /// repository root: `--buildkitd-config` / `buildkitd-config:`.
    pub config: Option<String>,
}

impl Default for Buildkit {
    fn default() -> Buildkit {
        Buildkit {
            image: DEFAULT_BUILDKIT_IMAGE.to_string(),
            config: None,
        }
    }
}

/// A build secret handed to BuildKit from an environment variable (`--secret id=…,env=…`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Secret {
    pub id: String,
    pub env: String,
    /// Also pass it to pull-request builds (Drone/Woodpecker's pull-request step). Off by
    /// default: a pull request's own Dockerfile decides what a build does with a secret
    /// (`RUN --mount=type=secret,id=… curl …`), so a secret reaches it only when the config opts
    /// in (`on-pr: true`).
    pub on_pr: bool,
}

/// Everything the planner needs besides the graph; project decisions (config file + flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// Image repository: the final stage pushes `<image>`, other targets `<image>/<stage>`,
    /// stages handed on only by digest `<image>/stages/<stage>`.
    pub image: String,
    /// Dockerfile path and build context, relative to the repository root.
    pub dockerfile: String,
    pub context: String,
    /// Stage names to build; empty means the default targets (see [`plan_input`]).
    pub targets: Vec<String>,
    /// `images:` stage name -> repository. When set, the published stages (and, without
    /// explicit targets, the targets): other targets are built but not pushed.
    pub images: BTreeMap<String, String>,
    /// `checks:` stages built (their RUN steps run) but never pushed; `None`: detected by name.
    pub checks: Option<Vec<String>>,
    pub split: Split,
    pub builder: Builder,
    pub build_args: BTreeMap<String, String>,
    pub secrets: Vec<Secret>,
    pub platforms: Vec<String>,
    /// Extra tags pushed on every image (besides the ref policy's).
    pub extra_tags: Vec<String>,
    pub cache_policy: CachePolicy,
    /// Pin the Dockerfile frontend with `BUILDKIT_SYNTAX` (e.g. `docker/dockerfile:1.7`).
    pub buildkit_syntax: Option<String>,
    /// Build with provenance attestations (the pushed digest is then an image index).
    pub provenance: bool,
    /// Skip jobs whose stage input key already has an image (config `skip`, default true).
    pub skip: bool,
    /// The BuildKit image and daemon config of the docker-container builder.
    pub buildkit: Buildkit,
    /// The ref the plan is generated on (for the plan's JSON; pipelines compute theirs at run time).
    pub git_ref: RefInfo,
    /// Native runner per platform (config `runners:`); empty: every job builds every platform
    /// on the default runner (see [`platforms`]).
    pub runners: BTreeMap<String, Runner>,
    /// The generated registry cleanup job (config `gc:`); `None`: no cleanup job.
    pub gc: Option<GcPlan>,
}

/// The release image a generated cleanup job runs: this version's (its entrypoint is
/// `gen-pipeline`; it has git for `ls-remote`).
pub const GC_IMAGE: &str = concat!(
    "ghcr.io/gen-pipeline/gen-pipeline:",
    env!("CARGO_PKG_VERSION")
);

/// The default weekly schedule of the GitHub cleanup workflow (Sunday 03:17 UTC, off the hour).
pub const DEFAULT_GC_SCHEDULE: &str = "17 3 * * 0";

/// A generated registry cleanup job (`gen-pipeline gc --apply` on a schedule), rendered by
/// every template: GitHub as a workflow of its own, GitLab as a job of scheduled pipelines,
/// Drone/Woodpecker as cron-triggered steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GcPlan {
    /// `--older-than` of the job (`14d`).
    pub older_than: String,
    /// GitHub: the `schedule:` cron (five fields, UTC).
    pub schedule: String,
    /// The image the job runs ([`GC_IMAGE`]).
    pub image: String,
    /// `--config PATH` when the config is not `gen-pipeline.yml` at the repository root: the job
    /// plans from the same config as the pipelines.
    pub config: Option<String>,
}

/// The plan: one struct every CI backend renders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub image: String,
    pub dockerfile: String,
    pub context: String,
    pub builder: Builder,
    pub split: Split,
    #[serde(rename = "ref")]
    pub git_ref: RefInfo,
    pub build_args: BTreeMap<String, String>,
    pub secrets: Vec<Secret>,
    pub platforms: Vec<String>,
    pub extra_tags: Vec<String>,
    pub buildkit_syntax: Option<String>,
    pub provenance: bool,
    /// Jobs whose key already has an image retag it instead of building.
    pub skip: bool,
    pub buildkit: Buildkit,
    /// Cache writes on tag / PR builds (the run-time snippet reads these).
    pub cache_on_tag: bool,
    pub cache_on_pr: bool,
    /// Jobs in topological (file) order: every job comes after the jobs it needs.
    pub jobs: Vec<Job>,
    /// The single job that builds every target without pushing, for pull requests from forks
    /// (no registry credentials, hence no digest to hand between jobs).
    pub fork_job: ForkJob,
    /// The id of the first job of CIs that decide once per run (GitHub): it computes every job's
    /// tags, cache refs and stage key, retags the jobs whose key has an image, and publishes that.
    pub setup_job: String,
    /// What the planner decided and why, for humans (printed by `plan`, commented in the output).
    pub notes: Vec<String>,
    /// Every stage's role in the plan and the reason (`plan --format text`).
    pub stages: Vec<StageDecision>,
    /// With `runners:`: the platform whose runner builds the `FROM --platform=$BUILDPLATFORM`
    /// stages (the first of `platforms:`).
    pub build_platform: Option<String>,
    /// With `runners:`: one job per published image that merges its per-platform images.
    pub merges: Vec<MergeJob>,
    /// With `runners:`: the build platform's runner (Drone and Woodpecker run every step of a
    /// pipeline on one runner: this one runs the first pipeline; see `render::split`).
    pub build_runner: Option<Runner>,
    /// The generated registry cleanup job, when the config enables one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gc: Option<GcPlan>,
}

/// What the plan does with a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StageRole {
    /// A job of its own that pushes an image.
    Job,
    /// A job of its own that builds without pushing (tests, lint, validation, output-only).
    Check,
    /// Built inside the job(s) that need it.
    Inline,
    /// Chosen through an ARG, but the effective values select a sibling.
    Alternative,
    /// No target needs it.
    Unused,
}

impl StageRole {
    pub fn as_str(self) -> &'static str {
        match self {
            StageRole::Job => "job",
            StageRole::Check => "check",
            StageRole::Inline => "inline",
            StageRole::Alternative => "alternative",
            StageRole::Unused => "unused",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageDecision {
    pub index: usize,
    pub label: String,
    pub line: usize,
    pub role: StageRole,
    /// Why, in words (names the ARG values, jobs, repository, override).
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Job {
    /// Job id, valid in every CI system: `[a-z][a-z0-9_-]*`, unique.
    pub id: String,
    /// The stage this job builds (`--target`), lower-cased; `None` for an unnamed last stage.
    pub stage: Option<String>,
    pub stage_index: usize,
    /// Human label: the stage name or `stage-<index>`.
    pub label: String,
    /// Built because it is a target (vs. shared by other jobs).
    pub is_target: bool,
    /// A check: built (its RUN steps run and can fail the pipeline) but never pushed; no job
    /// receives its digest.
    pub check: bool,
    /// Stages built inside this job (not handed in), sorted by index.
    pub inline_stages: Vec<String>,
    /// Job ids this job waits for (its nearest upstream jobs), in plan order.
    pub needs: Vec<String>,
    /// Upstream images handed in by digest: `--build-context <stage>=docker-image://<image>@<digest>`.
    pub contexts: Vec<ContextInput>,
    /// Repository the job pushes to: `<image>/<component>`.
    pub repository: String,
    /// The per-stage part of the cache refs (the run-time snippet appends the slug).
    pub cache_key: String,
    /// The variable (GitLab dotenv) / file name (Drone, Woodpecker) that carries this job's digest.
    pub digest_var: String,
    /// For the plan's JSON: tags and cache refs on the ref the plan was generated on.
    pub tags: Vec<String>,
    pub cache: CacheRefs,
    /// The inputs of the job's stage input key (see [`key`]).
    pub key: JobKey,
    /// With `runners:`: the one platform this job builds (`None`: every platform of the plan).
    pub platform: Option<String>,
    /// With `runners:`: the runner it runs on (`None`: the CI's default runner).
    pub runner: Option<Runner>,
    /// Its platform runs under QEMU on the default runner (no native runner configured).
    pub emulated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContextInput {
    /// The stage name the context overrides.
    pub stage: String,
    /// The upstream job that builds it.
    pub job: String,
    /// That job's repository (the digest is appended at run time).
    pub repository: String,
    /// That job's digest variable / file.
    pub digest_var: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForkJob {
    pub id: String,
    /// `(stage, cache_key)` of each target, built in order in one job.
    pub targets: Vec<ForkTarget>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForkTarget {
    /// The planned job this target is (its decisions are that job's).
    pub job: String,
    pub stage: Option<String>,
    pub label: String,
    pub repository: String,
    pub cache_key: String,
    /// The cache keys of every job whose stages this target's build includes: its own first, then
    /// those of every job it needs, transitively, in plan order. Without a push there is no digest
    /// to hand on, so the fork build runs the upstream stages itself and must read their caches
    /// too (else, with unchanged sources, it re-executes the shared stages' RUN steps).
    pub cache_keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("unknown target stage `{name}`{}", .suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownTarget {
        name: String,
        suggestion: Option<String>,
    },
    #[error("target `{0}` is an unnamed stage that is not the last one; BuildKit can only build it as part of another stage")]
    UnnamedTarget(usize),
    #[error("the Dockerfile has no stage to build")]
    NoStages,
    #[error("invalid image repository `{0}`: expected lower-case `host/path` without a tag")]
    BadImage(String),
    /// An image that starts with `$` but is not `$CI_REGISTRY_IMAGE[/path]`: any other variable or
    /// expression would be expanded by the CI (shell command substitution, GitHub expressions).
    #[error("invalid image repository `{0}`: the only variable allowed is `$CI_REGISTRY_IMAGE` (or `${{CI_REGISTRY_IMAGE}}`), optionally followed by `/path`; other `$` values would be expanded by the CI's shell or expression engine")]
    BadImageVariable(String),
    #[error("invalid platform `{0}`: expected `os/arch` or `os/arch/variant` (letters, digits, `_`, `.`, `-`), e.g. linux/amd64, linux/arm/v7")]
    BadPlatform(String),
    /// The generated jobs run on Linux builders: Windows images cannot be built there.
    #[error("platform `{0}`: Windows containers cannot be built by the generated jobs (they run on Linux builders)")]
    WindowsPlatform(String),
    /// A job would build a Windows stage (its FROM's base image or `--platform`): the error at
    /// that FROM (see [`crate::graph::WindowsStage`]).
    #[error("{}", .0.message)]
    WindowsStage(Box<crate::diag::Diagnostic>),
    /// A path (build context or Dockerfile) the CI files cannot carry safely.
    #[error("invalid {what} `{value}`: {reason}")]
    BadPath {
        what: &'static str,
        value: String,
        reason: &'static str,
    },
    /// A build argument value the CI files cannot carry (line breaks, control characters,
    /// Unicode line separators that YAML parsers treat as line breaks, CI expression syntax).
    #[error("build argument `{name}`: the value may not contain {reason}")]
    BadBuildArg { name: String, reason: String },
    #[error("{0}")]
    Invalid(String),
}

/// Build the plan for a stage graph (one platform) without the Dockerfile's instructions: every
/// job's key is unknown, so every job always builds, and no stage facts are known (tests of the
/// layout use this).
pub fn plan(graph: &StageGraph, opts: &PlanOptions) -> Result<Plan, PlanError> {
    plan_with(graph, None, opts)
}

/// Build the plan for one platform's stage graph and the parsed Dockerfile it came from.
pub fn plan_with(
    graph: &StageGraph,
    df: Option<&Dockerfile>,
    opts: &PlanOptions,
) -> Result<Plan, PlanError> {
    let platform = opts.platforms.first().cloned().unwrap_or_default();
    let facts = df.map(select::stage_facts).unwrap_or_default();
    plan_input(
        &PlanInput {
            graphs: vec![(platform, graph)],
            facts: &facts,
            dockerfile: df,
        },
        opts,
    )
}

/// Build the plan for a Dockerfile read as `input` (one graph per platform, stage facts, the
/// parsed Dockerfile for the stage input keys).
///
/// The rules (README, "How a pipeline is planned"):
/// - default targets are the stages no other stage needs (on any platform), except stages an
///   ARG-driven FROM does not select on any platform, stages that are nothing but `FROM image`,
///   earlier definitions of a repeated name, and bare `FROM <stage>` aliases (their stage is
///   the target instead); with `images:` and no `targets:`, the stages it names;
/// - checks (`checks:`, else detected by name / output-only shape) are built, never pushed, and
///   never handed on: whoever needs one builds it inline;
/// - the final stage (through aliases) publishes to `<image>`, other targets to
///   `<image>/<stage>`, shared intermediates to `<image>/stages/<stage>`; `images:` overrides.
pub fn plan_input(input: &PlanInput, opts: &PlanOptions) -> Result<Plan, PlanError> {
    let merged = select::merged(&input.graphs);
    let graph: &StageGraph = &merged;
    let df = input.dockerfile;
    let n = graph.stages.len();
    if n == 0 {
        return Err(PlanError::NoStages);
    }
    let image = opts.image.trim_end_matches('/').to_string();
    check_repository(&image).map_err(|e| match e {
        PlanError::BadImageVariable(_) => PlanError::BadImageVariable(opts.image.clone()),
        _ => PlanError::BadImage(opts.image.clone()),
    })?;
    validate_inputs(opts)?;
    let mut notes = Vec::new();

    // Only the last stage of a name can be addressed by `--target` or `--build-context`
    // (BuildKit resolves a name to its last definition); earlier ones behave like unnamed stages.
    // One pass: the last definition of each name (linear, not each stage against all later ones).
    let mut last_of: std::collections::HashMap<&str, usize> =
        std::collections::HashMap::with_capacity(n);
    for st in &graph.stages {
        if let Some(name) = &st.name {
            last_of.insert(name.as_str(), st.index);
        }
    }
    let addressable: Vec<bool> = (0..n)
        .map(|i| match &graph.stages[i].name {
            Some(name) => last_of.get(name.as_str()) == Some(&i),
            None => false,
        })
        .collect();
    let alternatives = select::alternatives(input, &opts.build_args);
    let unselected = |s: usize| alternatives[s].as_ref().is_some_and(|a| !a.selected);
    let alias: Vec<Option<usize>> = (0..n).map(|s| select::alias_of(input, s)).collect();
    // Follow bare `FROM <stage>` aliases to the stage that builds the image.
    let through_alias = |mut s: usize| {
        while let Some(b) = alias[s] {
            if !addressable[b] {
                break;
            }
            s = b;
        }
        s
    };
    let final_stage = through_alias(n - 1);

    // `images:`: stage -> repository.
    let mut mapped: BTreeMap<usize, String> = BTreeMap::new();
    for (name, repo) in &opts.images {
        let s = resolve_name(graph, name)?;
        let repo = repo.trim_end_matches('/').to_string();
        if !valid_repository(&repo) {
            return Err(PlanError::BadImage(repo));
        }
        mapped.insert(s, repo);
    }

    // Targets, and why each is one.
    let explicit = !opts.targets.is_empty();
    let mut target_why: BTreeMap<usize, String> = BTreeMap::new();
    if explicit {
        for s in resolve_targets(graph, &opts.targets)? {
            target_why.insert(s, "target (`--target` / `targets:`)".into());
        }
    } else if !mapped.is_empty() {
        for &s in mapped.keys() {
            target_why.insert(s, "target (named in `images:`)".into());
        }
    } else {
        for s in default_targets(graph, input, &addressable, &unselected, &through_alias) {
            let why = if s == n - 1 {
                "target: the final stage".to_string()
            } else if s == final_stage {
                format!(
                    "target: the final stage `{}` is a bare `FROM {}` (the same image)",
                    graph.stages[n - 1].label(),
                    graph.stages[s].label()
                )
            } else {
                "target: no other stage needs it".to_string()
            };
            target_why.insert(s, why);
        }
    }

    // Checks: declared, else detected among the targets.
    let mut check_why: BTreeMap<usize, String> = BTreeMap::new();
    match &opts.checks {
        Some(list) => {
            for name in list {
                let s = resolve_name(graph, name)?;
                check_why.insert(s, "declared in `checks:`".into());
                target_why
                    .entry(s)
                    .or_insert_with(|| "target (declared in `checks:`)".into());
            }
        }
        None => {
            for &s in target_why.keys() {
                if mapped.contains_key(&s) {
                    continue;
                }
                if let Some(r) = select::check_reason(input, s, s == final_stage) {
                    check_why.insert(s, r);
                }
            }
            if !check_why.is_empty() {
                let names: Vec<String> = check_why
                    .iter()
                    .map(|(&s, r)| format!("{} ({r})", graph.stages[s].label()))
                    .collect();
                notes.push(format!(
                    "checks detected (built, never pushed): {}; declare `checks: [...]` in gen-pipeline.yml to choose them (`checks: []` for none)",
                    names.join(", ")
                ));
            }
        }
    }
    // With `images:`, a target it does not name is built without pushing.
    if !mapped.is_empty() {
        for &s in target_why.keys() {
            if !mapped.contains_key(&s) && !check_why.contains_key(&s) {
                check_why.insert(s, "not named in `images:`".into());
            }
        }
    }
    let targets: BTreeSet<usize> = target_why.keys().copied().collect();
    let is_target: Vec<bool> = (0..n).map(|i| targets.contains(&i)).collect();
    let is_check: Vec<bool> = (0..n).map(|i| check_why.contains_key(&i)).collect();
    // A job hands its image on by digest only when it can be addressed and is pushed.
    // A stage that is only `FROM image` or a bare `FROM <stage>` is no image of its own: whoever
    // needs it builds it inline (a pull, or the aliased stage's image).
    let handoff: Vec<bool> = (0..n)
        .map(|i| {
            addressable[i]
                && !is_check[i]
                && alias[i].is_none()
                && select::copies_image(input, i).is_none()
        })
        .collect();

    // Stages reachable from the targets; consumers among them.
    let mut reachable = vec![false; n];
    let mut stack: Vec<usize> = targets.iter().copied().collect();
    while let Some(s) = stack.pop() {
        if std::mem::replace(&mut reachable[s], true) {
            continue;
        }
        stack.extend(graph.stages[s].depends_on.iter().copied());
    }
    // Windows stages (issue 9): refused where a job builds them (every reachable stage is built,
    // in a job of its own or inside one), a note where none does.
    let windows: Vec<Option<&crate::graph::WindowsStage>> = (0..n)
        .map(|s| {
            input
                .graphs
                .iter()
                .find_map(|(_, g)| g.stages[s].windows.as_ref())
        })
        .collect();
    let mut windows_unbuilt: Vec<String> = Vec::new();
    for (s, w) in windows.iter().enumerate() {
        let Some(w) = w else {
            continue;
        };
        if reachable[s] {
            return Err(PlanError::WindowsStage(Box::new(w.refusal())));
        }
        windows_unbuilt.push(format!(
            "{} (line {}: `{}` is {})",
            graph.stages[s].label(),
            graph.stages[s].line,
            w.what,
            w.why
        ));
    }
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); n];
    for s in (0..n).filter(|&s| reachable[s]) {
        for &d in &graph.stages[s].depends_on {
            consumers[d].push(s);
        }
    }

    // Decide the job stages; jobs over GitLab's needs limit build their upstream stages
    // themselves, which can leave upstream jobs without a consumer: iterate until stable.
    let mut self_contained: BTreeSet<usize> = BTreeSet::new();
    let (is_job, inputs_of) = loop {
        let is_job = layout(
            graph,
            opts.split,
            &reachable,
            &consumers,
            &is_target,
            &handoff,
            &self_contained,
        );
        let inputs_of: Vec<(BTreeSet<usize>, BTreeSet<usize>)> = (0..n)
            .map(|s| {
                if is_job[s] {
                    upstream(graph, &is_job, &handoff, s, self_contained.contains(&s))
                } else {
                    Default::default()
                }
            })
            .collect();
        let over: Vec<usize> = (0..n)
            .filter(|&s| {
                is_job[s] && !self_contained.contains(&s) && inputs_of[s].1.len() > GITLAB_MAX_NEEDS
            })
            .collect();
        if over.is_empty() {
            break (is_job, inputs_of);
        }
        self_contained.extend(over);
    };
    for &s in &self_contained {
        notes.push(format!(
            "job `{}` would need more than {GITLAB_MAX_NEEDS} jobs (GitLab's limit); it builds its upstream stages itself",
            graph.stages[s].label()
        ));
    }
    for s in (0..n)
        .filter(|&s| reachable[s] && !addressable[s] && !is_target[s] && consumers[s].len() >= 2)
    {
        let why = if graph.stages[s].name.is_some() {
            "is redefined later in the file"
        } else {
            "has no name"
        };
        notes.push(format!(
            "stage {} (line {}) {why}, so no other job can receive it by digest; it is built inside each job that needs it",
            graph.stages[s].label(),
            graph.stages[s].line
        ));
    }

    // Ids, repositories, digest variables.
    let job_stages: Vec<usize> = (0..n).filter(|&s| is_job[s]).collect();
    // The image published as `<image>`: the final stage, else the only published target.
    let published_targets: Vec<usize> = job_stages
        .iter()
        .copied()
        .filter(|&s| is_target[s] && !is_check[s])
        .collect();
    let main_stage = if published_targets.contains(&final_stage) {
        Some(final_stage)
    } else if published_targets.len() == 1 {
        Some(published_targets[0])
    } else {
        None
    }
    .filter(|s| !mapped.contains_key(s) && !mapped.values().any(|r| *r == image));
    let mut ids: BTreeMap<usize, String> = BTreeMap::new();
    let mut used_ids = BTreeSet::new();
    let mut used_vars = BTreeSet::new();
    let mut vars: BTreeMap<usize, String> = BTreeMap::new();
    let mut components: BTreeMap<usize, String> = BTreeMap::new();
    let mut used_components = BTreeSet::new();
    let mut repositories: BTreeMap<usize, String> = BTreeMap::new();
    let mut used_repos: BTreeMap<String, usize> = BTreeMap::new();
    for &s in &job_stages {
        let label = graph.stages[s].label();
        // An unnamed stage's label carries its index; its repository and cache key must not.
        let stable = graph.stages[s]
            .name
            .clone()
            .unwrap_or_else(|| "default".into());
        let id = unique(sanitize_id(&label), &mut used_ids);
        let comp = unique(repo_component(&stable), &mut used_components);
        let var = unique_with(
            format!("GP_DIGEST_{}", env_name(&label)),
            &mut used_vars,
            '_',
        );
        let repo = if let Some(r) = mapped.get(&s) {
            r.clone()
        } else if main_stage == Some(s) {
            image.clone()
        } else if is_target[s] {
            format!("{image}/{comp}")
        } else {
            format!("{image}/stages/{comp}")
        };
        if !is_check[s] {
            if let Some(&other) = used_repos.get(&repo) {
                return Err(PlanError::Invalid(format!(
                    "stages `{}` and `{}` would both push to `{repo}`; map them to different repositories in `images:`",
                    graph.stages[other].label(),
                    label
                )));
            }
            used_repos.insert(repo.clone(), s);
        }
        ids.insert(s, id);
        components.insert(s, comp);
        vars.insert(s, var);
        repositories.insert(s, repo);
    }

    let mut jobs = Vec::new();
    for &s in &job_stages {
        let stage = &graph.stages[s];
        let (inline, inputs) = inputs_of[s].clone();
        let contexts: Vec<ContextInput> = inputs
            .iter()
            .map(|&d| ContextInput {
                stage: graph.stages[d]
                    .name
                    .clone()
                    .expect("job stages that are consumed are named"),
                job: ids[&d].clone(),
                repository: repositories[&d].clone(),
                digest_var: vars[&d].clone(),
            })
            .collect();
        let repository = repositories[&s].clone();
        let cache_key = refs::cache_stage_part(&components[&s]);
        let mut tags: Vec<String> = refs::image_tags(&opts.git_ref);
        for t in &opts.extra_tags {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        let cache = refs::cache_refs(
            &format!("{image}/cache"),
            &cache_key,
            &opts.git_ref,
            &opts.cache_policy,
        );
        jobs.push(Job {
            id: ids[&s].clone(),
            stage: stage.name.clone(),
            stage_index: s,
            label: stage.label(),
            is_target: is_target[s],
            check: is_check[s],
            inline_stages: inline.iter().map(|&d| graph.stages[d].label()).collect(),
            needs: contexts.iter().map(|c| c.job.clone()).collect(),
            contexts,
            repository,
            cache_key,
            digest_var: vars[&s].clone(),
            tags: if is_check[s] { Vec::new() } else { tags },
            cache,
            key: JobKey::default(),
            platform: None,
            runner: None,
            emulated: false,
        });
    }

    // Stage input keys: the stages each job builds and the upstream jobs it receives.
    let position: BTreeMap<&str, usize> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.id.as_str(), i))
        .collect();
    let key_jobs: Vec<key::KeyJob> = jobs
        .iter()
        .map(|j| key::KeyJob {
            id: &j.id,
            label: &j.label,
            stages: inputs_of[j.stage_index]
                .0
                .iter()
                .copied()
                .chain([j.stage_index])
                .collect(),
            upstream: j.needs.iter().map(|n| position[n.as_str()]).collect(),
        })
        .collect();
    let builder_name = match opts.builder {
        Builder::Buildx => "buildx",
        Builder::Buildah => "buildah",
    };
    let keys = key::job_keys(
        df,
        graph,
        &key::KeySettings {
            builder: builder_name,
            provenance: opts.provenance,
            platforms: &opts.platforms,
            buildkit_syntax: opts.buildkit_syntax.as_deref(),
            build_args: &opts.build_args,
        },
        &key_jobs,
    );
    for (j, k) in jobs.iter_mut().zip(keys) {
        j.key = k;
    }
    if !opts.skip {
        notes.push("skip: false: every job builds, whatever its key".into());
    } else {
        for j in jobs.iter().filter(|j| j.key.always_build && df.is_some()) {
            notes.push(format!(
                "job `{}` always builds: {}",
                j.id,
                j.key.reasons.join("; ")
            ));
        }
    }

    let setup_job = unique("gen-pipeline".to_string(), &mut used_ids);
    let job_index: BTreeMap<&str, usize> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.id.as_str(), i))
        .collect();
    let fork_job = ForkJob {
        id: unique("fork-pr".to_string(), &mut used_ids),
        targets: jobs
            .iter()
            .filter(|j| j.is_target)
            .map(|j| ForkTarget {
                job: j.id.clone(),
                stage: j.stage.clone(),
                label: j.label.clone(),
                repository: j.repository.clone(),
                cache_key: j.cache_key.clone(),
                cache_keys: upstream_cache_keys(&jobs, &job_index, j),
            })
            .collect(),
    };

    let shared: Vec<&str> = jobs
        .iter()
        .filter(|j| !j.is_target)
        .map(|j| j.label.as_str())
        .collect();
    if !shared.is_empty() {
        let what = match opts.split {
            Split::Shared => "shared stage(s) built once and handed on by digest",
            Split::All | Split::Targets => {
                "intermediate stage(s) built in a job of their own and handed on by digest"
            }
        };
        notes.push(format!(
            "{what} (pushed to {image}/stages/<stage>, tagged per ref and commit so the digest outlives registry garbage collection): {}",
            shared.join(", ")
        ));
    }
    let alts: Vec<String> = (0..n)
        .filter(|&s| unselected(s) && !reachable[s] && windows[s].is_none())
        .map(|s| graph.stages[s].label())
        .collect();
    if !alts.is_empty() {
        notes.push(format!(
            "alternatives the ARG values do not select (no job; build one with --target): {}",
            alts.join(", ")
        ));
    }
    if !windows_unbuilt.is_empty() {
        notes.push(format!(
            "Windows stages no job builds (the jobs run on Linux builders; `--target` on one is refused): {}",
            windows_unbuilt.join(", ")
        ));
    }
    notes.push(format!(
        "each job writes one dotenv variable (its digest), within GitLab's {GITLAB_MAX_DOTENV_VARS}-variable report limit"
    ));

    // Every stage's role, with the reason.
    let job_of: BTreeMap<usize, &Job> = jobs.iter().map(|j| (j.stage_index, j)).collect();
    let over_limit: BTreeSet<&str> = jobs
        .iter()
        .filter(|j| self_contained.contains(&j.stage_index))
        .map(|j| j.id.as_str())
        .collect();
    let mut users_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for j in &jobs {
        for need in &j.needs {
            users_of
                .entry(need.as_str())
                .or_default()
                .push(j.id.as_str());
        }
    }
    let mut built_in: Vec<Vec<String>> = vec![Vec::new(); n];
    for j in &jobs {
        for &d in &inputs_of[j.stage_index].0 {
            built_in[d].push(j.id.clone());
        }
    }
    let stages: Vec<StageDecision> = (0..n)
        .map(|s| {
            let st = &graph.stages[s];
            let (role, reason) = if let Some(j) = job_of.get(&s) {
                if j.check {
                    (
                        StageRole::Check,
                        format!(
                            "{}; built, never pushed{}",
                            check_why[&s],
                            if opts.checks.is_none() && mapped.is_empty() {
                                " (override: `checks:` in gen-pipeline.yml)"
                            } else {
                                ""
                            }
                        ),
                    )
                } else if j.is_target {
                    (
                        StageRole::Job,
                        format!("{} -> {}", target_why[&s], j.repository),
                    )
                } else {
                    let users: BTreeSet<&str> = users_of
                        .get(j.id.as_str())
                        .into_iter()
                        .flatten()
                        .copied()
                        .collect();
                    let users: Vec<&str> = users.into_iter().collect();
                    (
                        StageRole::Job,
                        format!(
                            "needed by jobs {}: built once, handed on by digest -> {}",
                            users.join(", "),
                            j.repository
                        ),
                    )
                }
            } else if reachable[s] {
                let inside = built_in[s].join(", ");
                let why = if let Some(img) = select::copies_image(input, s) {
                    format!("only `FROM {img}`: no image of its own")
                } else if alias[s].is_some() {
                    format!("a bare `FROM {}`: the same image", st.base)
                } else if is_check[s] {
                    "a check: never handed on by digest".to_string()
                } else if st.name.is_none() {
                    "unnamed: cannot be handed on by `--build-context`".to_string()
                } else if !addressable[s] {
                    "an earlier definition of a repeated name: BuildKit addresses only the last"
                        .to_string()
                } else if built_in[s].iter().any(|j| over_limit.contains(j.as_str())) {
                    format!("needed by a job over GitLab's {GITLAB_MAX_NEEDS}-needs limit")
                } else if built_in[s].len() >= 2 {
                    format!("split: {}", split_name(opts.split))
                } else {
                    "only one job needs it".to_string()
                };
                (StageRole::Inline, format!("{why}; built inside {inside}"))
            } else if let Some(a) = alternatives[s].as_ref().filter(|a| !a.selected) {
                (
                    StageRole::Alternative,
                    format!(
                        "not selected by {} (FROM {} at line {}); {}",
                        a.values.join(", "),
                        a.written,
                        a.line,
                        if windows[s].is_some() {
                            "a Windows stage: no generated job can build it"
                        } else {
                            "build it with --target"
                        }
                    ),
                )
            } else {
                let why = if st.name.is_some() && !addressable[s] {
                    let later = graph.stages[s + 1..]
                        .iter()
                        .find(|t| t.name == st.name)
                        .map_or(0, |t| t.line);
                    format!("an earlier definition of `{}` (line {later} redefines it; BuildKit builds the last)", st.label())
                } else if let Some(img) = select::copies_image(input, s) {
                    format!("only `FROM {img}`: re-tagging an image is no job")
                } else if let Some(b) = alias[s] {
                    let b = through_alias(b);
                    match job_of.get(&b) {
                        Some(j) => format!(
                            "a bare `FROM {}`: the same image as `{}`, built by job {}",
                            st.base,
                            graph.stages[b].label(),
                            j.id
                        ),
                        None => format!("a bare `FROM {}`: no image of its own", st.base),
                    }
                } else if explicit || !mapped.is_empty() {
                    "no target needs it".to_string()
                } else if consumers_any(graph, s) {
                    "only unused stages or unselected alternatives need it".to_string()
                } else {
                    "no target needs it".to_string()
                };
                (StageRole::Unused, why)
            };
            StageDecision {
                index: s,
                label: st.label(),
                line: st.line,
                role,
                reason,
            }
        })
        .collect();

    // Multi-platform on native runners: which stages run on the build platform, which stages
    // each job builds.
    let build_flag: Vec<bool> = match df {
        Some(df) => df
            .instructions
            .iter()
            .filter(|i| i.keyword == "from")
            .map(|i| i.flags.iter().any(|f| platforms::is_build_platform_flag(f)))
            .collect(),
        None => vec![false; n],
    };
    let build_flag = if build_flag.len() == n {
        build_flag
    } else {
        vec![false; n]
    };
    let on_build = platforms::on_build_platform(
        &build_flag,
        &graph
            .stages
            .iter()
            .map(|s| s.base_stage)
            .collect::<Vec<_>>(),
    );
    let job_stages: Vec<Vec<usize>> = jobs
        .iter()
        .map(|j| {
            inputs_of[j.stage_index]
                .0
                .iter()
                .copied()
                .chain([j.stage_index])
                .collect()
        })
        .collect();

    let mut plan = Plan {
        image,
        dockerfile: opts.dockerfile.clone(),
        context: opts.context.clone(),
        builder: opts.builder,
        split: opts.split,
        git_ref: opts.git_ref.clone(),
        build_args: opts.build_args.clone(),
        secrets: opts.secrets.clone(),
        platforms: opts.platforms.clone(),
        extra_tags: opts.extra_tags.clone(),
        buildkit_syntax: opts.buildkit_syntax.clone(),
        provenance: opts.provenance,
        skip: opts.skip,
        buildkit: opts.buildkit.clone(),
        cache_on_tag: opts.cache_policy.write_on_tag,
        cache_on_pr: opts.cache_policy.write_on_pr,
        jobs,
        fork_job,
        setup_job,
        notes,
        stages,
        build_platform: None,
        merges: Vec::new(),
        build_runner: None,
        gc: opts.gc.clone(),
    };
    platforms::fan_out(&mut plan, opts, &job_stages, &on_build);
    Ok(plan)
}

fn split_name(s: Split) -> &'static str {
    match s {
        Split::Shared => "shared",
        Split::All => "all",
        Split::Targets => "targets",
    }
}

fn consumers_any(graph: &StageGraph, s: usize) -> bool {
    graph.stages.iter().any(|t| t.depends_on.contains(&s))
}

/// The default targets: stages no other stage needs, minus unselected alternatives, stages that
/// only re-tag an image and earlier definitions of a repeated name; a bare `FROM <stage>` alias
/// is replaced by its stage. Falls back to the last stage.
fn default_targets(
    graph: &StageGraph,
    input: &PlanInput,
    addressable: &[bool],
    unselected: &dyn Fn(usize) -> bool,
    through_alias: &dyn Fn(usize) -> usize,
) -> BTreeSet<usize> {
    let n = graph.stages.len();
    let mut needed = vec![false; n];
    for s in &graph.stages {
        for &d in &s.depends_on {
            needed[d] = true;
        }
    }
    let mut out = BTreeSet::new();
    for i in 0..n {
        if needed[i] || !(addressable[i] || (graph.stages[i].name.is_none() && i == n - 1)) {
            continue;
        }
        if unselected(i) || select::copies_image(input, i).is_some() {
            continue;
        }
        out.insert(through_alias(i));
    }
    if out.is_empty() {
        out.insert(through_alias(n - 1));
    }
    out
}

/// A stage named in the config (`images:`, `checks:`): its last definition.
fn resolve_name(graph: &StageGraph, name: &str) -> Result<usize, PlanError> {
    resolve_targets(graph, std::slice::from_ref(&name.to_string()))?
        .into_iter()
        .next()
        .ok_or(PlanError::NoStages)
}

/// Values that end up in every CI file must be safe there: valid tags, plain build-arg names and
/// one-line values without CI expression syntax, identifier-like secret environment names.
fn validate_inputs(opts: &PlanOptions) -> Result<(), PlanError> {
    let bad = |m: String| Err(PlanError::Invalid(m));
    if !valid_image_reference(&opts.buildkit.image) {
        return bad(format!(
            "buildkit-image `{}` is not a plain image reference (e.g. {DEFAULT_BUILDKIT_IMAGE}: only letters, digits and ._/:@-)",
            opts.buildkit.image
        ));
    }
    if let Some(c) = &opts.buildkit.config {
        if !valid_repo_path(c) {
            return bad(format!(
                "buildkitd-config `{c}` must be a relative path inside the repository (letters, digits and ._/- only, no `..`)"
            ));
        }
    }
    for t in &opts.extra_tags {
        if !refs::is_valid_tag(t) {
            return bad(format!(
                "extra tag `{t}` is not a valid image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})"
            ));
        }
        if t == "latest" {
            return bad("extra tag `latest` would be pushed from every branch; the default branch gets `latest` already".into());
        }
    }
    let ident = |s: &str| {
        s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    for (k, v) in &opts.build_args {
        if !ident(k) {
            return bad(format!(
                "build argument name `{k}` must be letters, digits and `_`"
            ));
        }
        if let Some(reason) = unsafe_value(v) {
            return Err(PlanError::BadBuildArg {
                name: k.clone(),
                reason,
            });
        }
    }
    for p in &opts.platforms {
        if !valid_platform(p) {
            return Err(PlanError::BadPlatform(p.clone()));
        }
        if p.to_ascii_lowercase().starts_with("windows/") {
            return Err(PlanError::WindowsPlatform(p.clone()));
        }
    }
    check_path("build context", &opts.context)?;
    check_path("Dockerfile path", &opts.dockerfile)?;
    for s in &opts.secrets {
        if !ident(&s.env) {
            return bad(format!(
                "secret `{}`: environment variable `{}` must be letters, digits and `_`",
                s.id, s.env
            ));
        }
        if s.id.is_empty()
            || !s
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return bad(format!(
                "secret id `{}` must be letters, digits, `_`, `.` and `-`",
                s.id
            ));
        }
    }
    if opts.builder == Builder::Buildah && opts.platforms.len() > 1 && opts.runners.is_empty() {
        return bad("the buildah builder builds one platform per job; use the buildx builder for multi-platform images, or map platforms to runners with `runners:` (one job per platform)".into());
    }
    Ok(())
}

/// Which reachable stages get a job of their own. Dependencies always point to earlier stages,
/// so walking the file backwards visits every consumer before the stages it consumes.
fn layout(
    graph: &StageGraph,
    split: Split,
    reachable: &[bool],
    consumers: &[Vec<usize>],
    is_target: &[bool],
    handoff: &[bool],
    self_contained: &BTreeSet<usize>,
) -> Vec<bool> {
    let n = graph.stages.len();
    let mut is_job = vec![false; n];
    let mut needed_by: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    for s in (0..n).rev().filter(|&s| reachable[s]) {
        let mut jobs = BTreeSet::new();
        for &c in &consumers[s] {
            if self_contained.contains(&c) {
                continue; // builds `s` itself
            }
            if is_job[c] {
                jobs.insert(c);
            } else {
                jobs.extend(needed_by[c].iter().copied());
            }
        }
        is_job[s] = is_target[s]
            || (handoff[s]
                && !jobs.is_empty()
                && match split {
                    Split::Shared => jobs.len() >= 2,
                    Split::All => true,
                    Split::Targets => false,
                });
        needed_by[s] = jobs;
    }
    is_job
}

/// The stages job `s` builds itself and the job stages it receives by digest.
fn upstream(
    graph: &StageGraph,
    is_job: &[bool],
    handoff: &[bool],
    s: usize,
    self_contained: bool,
) -> (BTreeSet<usize>, BTreeSet<usize>) {
    let mut inline = BTreeSet::new();
    let mut inputs = BTreeSet::new();
    let mut stack: Vec<usize> = graph.stages[s].depends_on.clone();
    while let Some(d) = stack.pop() {
        if is_job[d] && handoff[d] && !self_contained {
            inputs.insert(d);
        } else if inline.insert(d) {
            stack.extend(graph.stages[d].depends_on.iter().copied());
        }
    }
    (inline, inputs)
}

fn resolve_targets(graph: &StageGraph, wanted: &[String]) -> Result<BTreeSet<usize>, PlanError> {
    let n = graph.stages.len();
    let mut out = BTreeSet::new();
    for w in wanted {
        let lw = w.to_ascii_lowercase();
        // A later definition of a duplicated name wins, as in BuildKit.
        if let Some(s) = graph
            .stages
            .iter()
            .rev()
            .find(|s| s.name.as_deref() == Some(lw.as_str()))
        {
            out.insert(s.index);
        } else if let Ok(i) = lw.parse::<usize>() {
            if i + 1 == n {
                out.insert(i);
            } else if i < n {
                return Err(PlanError::UnnamedTarget(i));
            } else {
                return Err(PlanError::UnknownTarget {
                    name: w.clone(),
                    suggestion: None,
                });
            }
        } else {
            let names = graph.stages.iter().filter_map(|s| s.name.as_deref());
            return Err(PlanError::UnknownTarget {
                name: w.clone(),
                suggestion: suggest(&lw, names).map(str::to_string),
            });
        }
    }
    Ok(out)
}

fn unique(base: String, used: &mut BTreeSet<String>) -> String {
    unique_with(base, used, '-')
}

/// `base`, or `base<sep>2`, `base<sep>3`, … when taken (`_` for variable names).
fn unique_with(base: String, used: &mut BTreeSet<String>, sep: char) -> String {
    let mut candidate = base.clone();
    let mut k = 2;
    while !used.insert(candidate.clone()) {
        candidate = format!("{base}{sep}{k}");
        k += 1;
    }
    candidate
}

/// A job id valid in GitHub (`[A-Za-z_][A-Za-z0-9_-]*`), GitLab and Drone.
fn sanitize_id(label: &str) -> String {
    let mut s: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        s.insert_str(0, "stage-");
    }
    s
}

/// A path component valid in an image repository: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
pub fn repo_component(label: &str) -> String {
    let mapped: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches('-');
    if trimmed.is_empty() {
        "stage".to_string()
    } else {
        trimmed.to_string()
    }
}

fn env_name(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// `job`'s cache key, then those of every job it needs (transitively), in plan order.
/// `index` maps job ids to their position in `jobs` (built once: this runs for every target, so a
/// per-call map or a scan over all jobs would make the fork job quadratic in the number of jobs).
fn upstream_cache_keys(jobs: &[Job], index: &BTreeMap<&str, usize>, job: &Job) -> Vec<String> {
    let mut seen: BTreeSet<usize> = BTreeSet::new();
    let mut stack: Vec<usize> = job.needs.iter().map(|n| index[n.as_str()]).collect();
    while let Some(i) = stack.pop() {
        if seen.insert(i) {
            stack.extend(jobs[i].needs.iter().map(|n| index[n.as_str()]));
        }
    }
    std::iter::once(job.cache_key.clone())
        .chain(seen.into_iter().map(|i| jobs[i].cache_key.clone()))
        .collect()
}

/// Whether `image` is a plain image reference for `--driver-opt image=…`: name, optional tag and
/// digest, only `[A-Za-z0-9._/:@-]` (nothing a shell or a CI expression would read).
pub fn valid_image_reference(image: &str) -> bool {
    !image.is_empty()
        && image.len() <= 255
        && image.starts_with(|c: char| c.is_ascii_alphanumeric())
        && image
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/:@-".contains(c))
}

/// Whether `path` is a plain relative path inside the repository: `[A-Za-z0-9._/-]`, not
/// absolute, no `..` component.
pub fn valid_repo_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c))
        && path.split('/').all(|c| c != "..")
}

/// The placeholder `plan` shows when no registry is known. A plan may carry it (to show its
/// jobs), but [`crate::render::render`] refuses to write it into a pipeline.
pub const UNKNOWN_IMAGE: &str = "$IMAGE";

/// Whether `image` is a repository [`check_repository`] accepts.
pub fn valid_repository(image: &str) -> bool {
    check_repository(image).is_ok()
}

/// `host[:port]/path` with lower-case path components and no tag or digest, or GitLab's
/// `$CI_REGISTRY_IMAGE` / `${CI_REGISTRY_IMAGE}` followed by optional `/path` components.
///
/// Every character of an accepted value is one of `[a-z0-9._-/:]` (plus upper-case letters
/// and `[]` in the host, and the one variable reference), so the value is inert inside the
/// double-quoted shell words and YAML scalars of every template: no `$(…)`, backquotes,
/// quotes, `${{ … }}` expressions or line breaks can get through.
pub fn check_repository(image: &str) -> Result<(), PlanError> {
    let bad = || PlanError::BadImage(image.to_string());
    if image == UNKNOWN_IMAGE {
        return Ok(());
    }
    if let Some(rest) = image.strip_prefix('$') {
        let rest = rest
            .strip_prefix("CI_REGISTRY_IMAGE")
            .filter(|r| r.is_empty() || r.starts_with('/'))
            .or_else(|| rest.strip_prefix("{CI_REGISTRY_IMAGE}"))
            .ok_or_else(|| PlanError::BadImageVariable(image.to_string()))?;
        if rest.is_empty() {
            return Ok(());
        }
        let path = rest
            .strip_prefix('/')
            .ok_or_else(|| PlanError::BadImageVariable(image.to_string()))?;
        return if path.split('/').all(valid_component) {
            Ok(())
        } else {
            Err(bad())
        };
    }
    let (first, rest) = match image.split_once('/') {
        Some((f, r)) => (f, Some(r)),
        None => (image, None),
    };
    let is_host = first.contains('.') || first.contains(':') || first == "localhost";
    let components: Vec<&str> = if is_host {
        if !valid_host(first) {
            return Err(bad());
        }
        rest.map(|r| r.split('/').collect()).unwrap_or_default()
    } else {
        image.split('/').collect()
    };
    if !components.is_empty() && components.iter().all(|c| valid_component(c)) {
        Ok(())
    } else {
        Err(bad())
    }
}

/// A repository path component: `[a-z0-9]+([._-][a-z0-9]+)*` (runs of separators allowed).
fn valid_component(c: &str) -> bool {
    !c.is_empty()
        && c.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
        && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
        && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
}

/// A registry host: DNS labels (`[A-Za-z0-9-]`, dot-separated) or a bracketed IPv6 address,
/// then an optional `:port`.
fn valid_host(h: &str) -> bool {
    let (name, port) = if let Some(rest) = h.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return false;
        };
        if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(p) => ("x", Some(p)),
                None => return false,
            },
        }
    } else {
        match h.rsplit_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (h, None),
        }
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// `os/arch[/variant]`, each part `[A-Za-z0-9_.-]+` (what `platforms.Parse` can yield).
pub fn valid_platform(p: &str) -> bool {
    let parts: Vec<&str> = p.split('/').collect();
    (2..=3).contains(&parts.len())
        && parts.iter().all(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        })
}

/// Characters a value carried into a CI file may not contain: why, if it has one. Line breaks,
/// other control characters (a tab is fine), U+0085/U+2028/U+2029 (YAML parsers treat them as
/// line breaks), U+FEFF, and `${{` (GitHub expression syntax).
pub fn unsafe_value(v: &str) -> Option<String> {
    if v.contains("${{") {
        return Some("`${{` (CI expression syntax)".to_string());
    }
    v.chars()
        .find(|&c| {
            (c.is_control() && c != '\t') || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
        })
        .map(|c| match c {
            '\n' | '\r' => "a line break".to_string(),
            c => format!(
                "the character U+{:04X} (a control character or line separator)",
                c as u32
            ),
        })
}

/// A build context or Dockerfile path must be safe in every CI file: no control or line
/// separator characters, no `$` or backquote (expanded by Drone/Woodpecker/GitLab or a shell),
/// no quotes or backslashes, and not an option (`-…`).
fn check_path(what: &'static str, value: &str) -> Result<(), PlanError> {
    let reason = if value.is_empty() {
        Some("it is empty")
    } else if value.starts_with('-') {
        Some("it starts with `-` (it would be read as an option)")
    } else if unsafe_value(value).is_some() {
        Some("it contains a line break, a control character or a Unicode line separator")
    } else if value.contains(['$', '`']) {
        Some("it contains `$` or a backquote, which the CI would expand")
    } else if value.contains(['"', '\'', '\\']) {
        Some("it contains a quote or a backslash")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(PlanError::BadPath {
            what,
            value: value.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::graph::Stage;
    use crate::refs::RefKind;

    fn stage(index: usize, name: Option<&str>, base: &str, depends_on: &[usize]) -> Stage {
        Stage {
            index,
            name: name.map(str::to_string),
            base: base.to_string(),
            base_stage: None,
            depends_on: depends_on.to_vec(),
            line: index * 3 + 1,
            platform: None,
            edges: Vec::new(),
            windows: None,
        }
    }

    fn graph(stages: Vec<Stage>) -> StageGraph {
        StageGraph {
            stages,
            images: Vec::new(),
            meta_args: Default::default(),
            warnings: Vec::new(),
            declared_args: Default::default(),
            secret_mounts: Vec::new(),
        }
    }

    pub(crate) fn options() -> PlanOptions {
        PlanOptions {
            image: "registry.example.com/team/proj".into(),
            dockerfile: "Dockerfile".into(),
            context: ".".into(),
            targets: Vec::new(),
            split: Split::Shared,
            builder: Builder::Buildx,
            build_args: BTreeMap::new(),
            secrets: Vec::new(),
            platforms: Vec::new(),
            extra_tags: Vec::new(),
            images: BTreeMap::new(),
            checks: None,
            cache_policy: CachePolicy::default(),
            buildkit_syntax: None,
            provenance: false,
            skip: true,
            buildkit: Buildkit::default(),
            runners: Default::default(),
            git_ref: RefInfo::new(
                RefKind::Branch,
                "feature/x",
                "0123456789abcdef0123456789abcdef01234567",
                "main",
                None,
            ),
            gc: None,
        }
    }

    /// build-base -> base -> app1, app2 (the Drone forum question's shape).
    pub(crate) fn two_apps() -> StageGraph {
        graph(vec![
            stage(0, Some("build-base"), "python:3.12-slim", &[]),
            stage(1, Some("base"), "python:3.12-slim", &[0]),
            stage(2, Some("app1"), "base", &[1]),
            stage(3, Some("app2"), "base", &[1]),
        ])
    }

    #[test]
    fn shared_base_gets_its_own_job_and_private_stages_stay_inline() {
        let p = plan(&two_apps(), &options()).unwrap();
        let ids: Vec<&str> = p.jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, ["base", "app1", "app2"]);
        assert_eq!(p.jobs[0].inline_stages, ["build-base"]);
        assert!(p.jobs[0].needs.is_empty());
        assert_eq!(p.jobs[1].needs, ["base"]);
        assert_eq!(p.jobs[1].contexts[0].stage, "base");
        assert_eq!(
            p.jobs[1].contexts[0].repository,
            "registry.example.com/team/proj/stages/base"
        );
        assert_eq!(p.jobs[1].contexts[0].digest_var, "GP_DIGEST_BASE");
        assert_eq!(p.fork_job.targets.len(), 2);
    }

    #[test]
    fn cache_refs_differ_per_stage_and_follow_the_ref() {
        let p = plan(&two_apps(), &options()).unwrap();
        let tos: BTreeSet<_> = p.jobs.iter().map(|j| j.cache.to.clone().unwrap()).collect();
        assert_eq!(tos.len(), p.jobs.len());
        assert_eq!(
            p.jobs[1].cache.to.as_deref(),
            Some("registry.example.com/team/proj/cache:app1.feature-x")
        );
        assert_eq!(
            p.jobs[1].cache.from,
            [
                "registry.example.com/team/proj/cache:app1.feature-x",
                "registry.example.com/team/proj/cache:app1.main"
            ]
        );
        assert_eq!(
            p.jobs[1].tags,
            ["feature-x", "sha-0123456789abcdef0123456789abcdef01234567"]
        );
    }

    #[test]
    fn split_policies() {
        let mut o = options();
        o.split = Split::All;
        let ids: Vec<String> = plan(&two_apps(), &o)
            .unwrap()
            .jobs
            .into_iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(ids, ["build-base", "base", "app1", "app2"]);
        o.split = Split::Targets;
        let p = plan(&two_apps(), &o).unwrap();
        assert_eq!(
            p.jobs.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
            ["app1", "app2"]
        );
        assert_eq!(p.jobs[0].inline_stages, ["build-base", "base"]);
        assert!(p.jobs.iter().all(|j| j.needs.is_empty()));
    }

    #[test]
    fn explicit_targets_and_typos() {
        let mut o = options();
        o.targets = vec!["APP1".into()];
        let p = plan(&two_apps(), &o).unwrap();
        assert_eq!(
            p.jobs.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
            ["app1"]
        );
        assert_eq!(p.jobs[0].inline_stages, ["build-base", "base"]);
        o.targets = vec!["ap1".into()];
        let e = plan(&two_apps(), &o).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown target stage `ap1` (did you mean `app1`?)"
        );
    }

    #[test]
    fn diamond_needs_nearest_jobs_only() {
        // deps <- {api, web, worker}; web also copies from api. api is needed by one job only
        // and is no leaf: it is built inside web, which receives deps by digest.
        let g = graph(vec![
            stage(0, Some("deps"), "node:22", &[]),
            stage(1, Some("api"), "deps", &[0]),
            stage(2, Some("web"), "deps", &[0, 1]),
            stage(3, Some("worker"), "deps", &[0]),
        ]);
        let p = plan(&g, &options()).unwrap();
        assert_eq!(
            p.jobs.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
            ["deps", "web", "worker"]
        );
        let web = p.jobs.iter().find(|j| j.id == "web").unwrap();
        assert_eq!(web.needs, ["deps"]);
        assert_eq!(web.inline_stages, ["api"]);
        // Asked for explicitly, api becomes a job and web needs both.
        let mut o = options();
        o.targets = vec!["web".into(), "api".into()];
        let p = plan(&g, &o).unwrap();
        let web = p.jobs.iter().find(|j| j.id == "web").unwrap();
        assert_eq!(web.needs, ["deps", "api"]);
    }

    #[test]
    fn unnamed_intermediate_stages_are_built_inline() {
        let g = graph(vec![
            stage(0, None, "alpine", &[]),
            stage(1, Some("a"), "alpine", &[0]),
            stage(2, Some("b"), "alpine", &[0]),
        ]);
        let p = plan(&g, &options()).unwrap();
        assert_eq!(
            p.jobs.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(p.jobs[0].inline_stages, ["stage-0"]);
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("stage stage-0 (line 1) has no name")),
            "{:?}",
            p.notes
        );
    }

    #[test]
    fn only_the_last_definition_of_a_name_is_a_job() {
        // base, a, a2 use the first `base`; b and c the second. `--target base` would build the
        // second, so the first cannot be a job: a and a2 build it themselves.
        let g = graph(vec![
            stage(0, Some("base"), "alpine", &[]),
            stage(1, Some("a"), "base", &[0]),
            stage(2, Some("a2"), "base", &[0]),
            stage(3, Some("base"), "debian", &[]),
            stage(4, Some("b"), "base", &[3]),
            stage(5, Some("c"), "base", &[3]),
        ]);
        let p = plan(&g, &options()).unwrap();
        let ids: Vec<&str> = p.jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, ["a", "a2", "base", "b", "c"]);
        assert_eq!(p.jobs[0].inline_stages, ["base"]);
        assert!(p.jobs[0].needs.is_empty());
        assert_eq!(p.jobs[2].stage_index, 3);
        assert_eq!(p.jobs[3].needs, ["base"]);
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("(line 1) is redefined later")),
            "{:?}",
            p.notes
        );
    }

    #[test]
    fn digest_variables_stay_shell_names() {
        let g = graph(vec![
            stage(0, Some("deps-x"), "alpine", &[]),
            stage(1, Some("deps_x"), "alpine", &[]),
            stage(2, Some("a"), "alpine", &[0, 1]),
            stage(3, Some("b"), "alpine", &[0, 1]),
        ]);
        let p = plan(&g, &options()).unwrap();
        let vars: Vec<&str> = p.jobs.iter().map(|j| j.digest_var.as_str()).collect();
        assert_eq!(vars[..2], ["GP_DIGEST_DEPS_X", "GP_DIGEST_DEPS_X_2"]);
        assert!(vars.iter().all(|v| v
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')));
    }

    #[test]
    fn unsafe_inputs_are_rejected() {
        let mut o = options();
        o.extra_tags = vec!["latest".into()];
        assert!(plan(&two_apps(), &o)
            .unwrap_err()
            .to_string()
            .contains("every branch"));
        o.extra_tags = vec!["Bad Tag".into()];
        assert!(plan(&two_apps(), &o)
            .unwrap_err()
            .to_string()
            .contains("not a valid image tag"));
        let mut o = options();
        o.build_args
            .insert("TOKEN".into(), "${{ secrets.X }}".into());
        assert!(plan(&two_apps(), &o)
            .unwrap_err()
            .to_string()
            .contains("CI expression"));
        let mut o = options();
        o.secrets = vec![Secret {
            id: "npm".into(),
            env: "NPM TOKEN".into(),
            on_pr: false,
        }];
        assert!(plan(&two_apps(), &o).is_err());
        let mut o = options();
        o.builder = Builder::Buildah;
        o.platforms = vec!["linux/amd64".into(), "linux/arm64".into()];
        assert!(plan(&two_apps(), &o)
            .unwrap_err()
            .to_string()
            .contains("one platform"));
    }

    #[test]
    fn gitlab_needs_limit_falls_back_to_inline() {
        let mut stages: Vec<Stage> = (0..60)
            .map(|i| stage(i, Some(&format!("s{i}")), "alpine", &[]))
            .collect();
        stages.push(stage(
            60,
            Some("all"),
            "alpine",
            &(0..60).collect::<Vec<_>>(),
        ));
        stages.push(stage(
            61,
            Some("other"),
            "alpine",
            &(0..60).collect::<Vec<_>>(),
        ));
        let p = plan(&graph(stages), &options()).unwrap();
        // Both consumers build the 60 stages themselves, so none of them needs a job of its own.
        assert_eq!(
            p.jobs.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
            ["all", "other"]
        );
        for j in &p.jobs {
            assert!(j.needs.is_empty());
            assert_eq!(j.inline_stages.len(), 60);
        }
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("more than 50 jobs (GitLab's limit)")),
            "{:?}",
            p.notes
        );
        // 50 inputs are still fine.
        let mut stages: Vec<Stage> = (0..50)
            .map(|i| stage(i, Some(&format!("s{i}")), "alpine", &[]))
            .collect();
        stages.push(stage(
            50,
            Some("all"),
            "alpine",
            &(0..50).collect::<Vec<_>>(),
        ));
        stages.push(stage(
            51,
            Some("other"),
            "alpine",
            &(0..50).collect::<Vec<_>>(),
        ));
        let p = plan(&graph(stages), &options()).unwrap();
        assert_eq!(p.jobs.len(), 52);
        assert_eq!(
            p.jobs.iter().find(|j| j.id == "all").unwrap().needs.len(),
            50
        );
    }

    /// Section 4: an image that starts with `$` is only `$CI_REGISTRY_IMAGE[/path]`; nothing a
    /// shell or GitHub would expand gets through, and the host is checked too.
    #[test]
    fn image_starting_with_dollar_is_validated() {
        for ok in [
            "$CI_REGISTRY_IMAGE",
            "${CI_REGISTRY_IMAGE}",
            "$CI_REGISTRY_IMAGE/apps",
            "${CI_REGISTRY_IMAGE}/a/b-c",
            "localhost:5000/x",
            "[::1]:5000/x",
            "Registry.Example.com/team/x",
        ] {
            let mut o = options();
            o.image = ok.into();
            assert!(plan(&two_apps(), &o).is_ok(), "{ok}");
        }
        for bad in [
            "$(touch${IFS}/tmp/x)",
            "${{ github.event.pull_request.title }}",
            "$CI_REGISTRY_IMAGEX",
            "$HOME/x",
            "${CI_REGISTRY_IMAGE:-x}",
            "$CI_REGISTRY_IMAGE$(id)",
        ] {
            let mut o = options();
            o.image = bad.into();
            match plan(&two_apps(), &o) {
                Err(PlanError::BadImageVariable(i)) => assert_eq!(i, bad),
                other => panic!("{bad}: {other:?}"),
            }
        }
        for bad in [
            "$CI_REGISTRY_IMAGE/Bad",
            "$CI_REGISTRY_IMAGE/a$(id)",
            "ex.com$(touch${IFS}x)/a",
            "ex.com:port/a",
            "ex\".com/a",
            "ghcr.io/a\nb",
            "`id`",
        ] {
            let mut o = options();
            o.image = bad.into();
            assert!(
                matches!(plan(&two_apps(), &o), Err(PlanError::BadImage(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn platforms_and_context_are_validated() {
        let mut o = options();
        o.platforms = vec!["linux/amd64".into(), "linux/arm/v7".into()];
        o.context = "services/api".into();
        assert!(plan(&two_apps(), &o).is_ok());
        for p in [
            "${{ secrets.X }}",
            "linux/amd64\nrun: x",
            "linux",
            "linux/amd64,linux/arm64",
            "a/b/c/d",
            "linux/$(id)",
        ] {
            let mut o = options();
            o.platforms = vec![p.into()];
            assert_eq!(
                plan(&two_apps(), &o),
                Err(PlanError::BadPlatform(p.into())),
                "{p}"
            );
        }
        for (c, what) in [
            ("${{ secrets.X }}", "build context"),
            ("a\nb", "build context"),
            ("a\u{2028}b", "build context"),
            ("$HOME", "build context"),
            ("-x", "build context"),
            ("", "build context"),
        ] {
            let mut o = options();
            o.context = c.into();
            match plan(&two_apps(), &o) {
                Err(PlanError::BadPath { what: w, value, .. }) => {
                    assert_eq!((w, value.as_str()), (what, c))
                }
                other => panic!("{c:?}: {other:?}"),
            }
        }
        let mut o = options();
        o.platforms = vec!["windows/amd64".into()];
        assert_eq!(
            plan(&two_apps(), &o),
            Err(PlanError::WindowsPlatform("windows/amd64".into()))
        );
        let mut o = options();
        o.dockerfile = "docker/`id`.Dockerfile".into();
        assert!(matches!(
            plan(&two_apps(), &o),
            Err(PlanError::BadPath {
                what: "Dockerfile path",
                ..
            })
        ));
    }

    #[test]
    fn final_stage_publishes_to_the_image_and_shared_stages_under_stages() {
        let p = plan(&two_apps(), &options()).unwrap();
        let repos: Vec<(&str, &str)> = p
            .jobs
            .iter()
            .map(|j| (j.id.as_str(), j.repository.as_str()))
            .collect();
        assert_eq!(
            repos,
            [
                ("base", "registry.example.com/team/proj/stages/base"),
                ("app1", "registry.example.com/team/proj/app1"),
                ("app2", "registry.example.com/team/proj"),
            ]
        );
        // An unnamed final stage: `<image>`, and a cache key without its index.
        let g = graph(vec![
            stage(0, Some("a"), "alpine", &[]),
            stage(1, None, "alpine", &[0]),
        ]);
        let p = plan(&g, &options()).unwrap();
        assert_eq!(p.jobs[0].repository, "registry.example.com/team/proj");
        assert_eq!(p.jobs[0].cache_key, "default");
    }

    #[test]
    fn images_key_maps_and_selects_the_published_stages() {
        let mut o = options();
        o.images = BTreeMap::from([("app1".to_string(), "ghcr.io/acme/one".to_string())]);
        let p = plan(&two_apps(), &o).unwrap();
        let ids: Vec<&str> = p.jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, ["app1"], "without targets:, images: names the targets");
        assert_eq!(p.jobs[0].repository, "ghcr.io/acme/one");
        // With explicit targets, one not named in images: is built but not pushed.
        o.targets = vec!["app1".into(), "app2".into()];
        let p = plan(&two_apps(), &o).unwrap();
        let app2 = p.jobs.iter().find(|j| j.id == "app2").unwrap();
        assert!(app2.check && app2.tags.is_empty());
        // Two stages on one repository are refused.
        o.images.insert("app2".into(), "ghcr.io/acme/one".into());
        let e = plan(&two_apps(), &o).unwrap_err().to_string();
        assert!(e.contains("would both push to `ghcr.io/acme/one`"), "{e}");
        o.images = BTreeMap::from([("nope".to_string(), "ghcr.io/acme/x".to_string())]);
        assert!(plan(&two_apps(), &o).is_err());
    }

    #[test]
    fn checks_are_built_never_pushed_nor_handed_on() {
        // base <- app, test; test is a check by name and a leaf.
        let g = graph(vec![
            stage(0, Some("base"), "alpine", &[]),
            stage(1, Some("test"), "base", &[0]),
            stage(2, Some("app"), "base", &[0]),
        ]);
        let p = plan(&g, &options()).unwrap();
        let test = p.jobs.iter().find(|j| j.id == "test").unwrap();
        assert!(test.check && test.is_target && test.tags.is_empty());
        assert!(
            p.notes.iter().any(|n| n.contains("checks detected")),
            "{:?}",
            p.notes
        );
        assert_eq!(p.fork_job.targets.len(), 2, "fork PRs still run the check");
        // `checks: []` turns detection off: test is an ordinary published target.
        let mut o = options();
        o.checks = Some(Vec::new());
        let p = plan(&g, &o).unwrap();
        assert!(!p.jobs.iter().any(|j| j.check));
        // A declared check that another stage needs is built inline there, never received.
        let g = graph(vec![
            stage(0, Some("lint"), "alpine", &[]),
            stage(1, Some("a"), "alpine", &[0]),
            stage(2, Some("b"), "alpine", &[0]),
        ]);
        let mut o = options();
        o.checks = Some(vec!["lint".into()]);
        let p = plan(&g, &o).unwrap();
        for id in ["a", "b"] {
            let j = p.jobs.iter().find(|j| j.id == id).unwrap();
            assert!(j.needs.is_empty(), "{id} needs {:?}", j.needs);
            assert_eq!(j.inline_stages, ["lint"]);
        }
        assert!(p.jobs.iter().any(|j| j.id == "lint" && j.check));
    }

    #[test]
    fn earlier_duplicate_leaf_is_never_a_default_target() {
        // Two `tool` stages, neither needed: only the last is a target (today stage 0 was a job
        // `tool` that pushed the wrong stage).
        let g = graph(vec![
            stage(0, Some("tool"), "alpine", &[]),
            stage(1, Some("tool"), "debian", &[]),
            stage(2, Some("app"), "debian", &[]),
        ]);
        let p = plan(&g, &options()).unwrap();
        let idx: Vec<usize> = p.jobs.iter().map(|j| j.stage_index).collect();
        assert_eq!(idx, [1, 2]);
        assert_eq!(p.stages[0].role, StageRole::Unused);
        assert!(
            p.stages[0].reason.contains("line 4 redefines it"),
            "{}",
            p.stages[0].reason
        );
    }

    #[test]
    fn repository_validation() {
        assert!(valid_repository("ghcr.io/owner/name"));
        assert!(valid_repository("127.0.0.1:5000/proj"));
        assert!(valid_repository("$CI_REGISTRY_IMAGE"));
        assert!(!valid_repository("$IMAGE/x"));
        assert!(!valid_repository("ghcr.io/Owner/name"));
        assert!(!valid_repository("ghcr.io/owner/name:tag"));
        assert!(!valid_repository("ghcr.io"));
    }
}
