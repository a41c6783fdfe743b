//! The `gen-pipeline` binary: parses arguments, hands them to the settings layer
//! ([`gen_pipeline::settings`]), dispatches, and maps errors to exit codes (0 ok, 1 drift, 2 every
//! error). Everything else happens in the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

// The parser makes many small allocations; mimalloc parses a 10 MB Dockerfile markedly faster than
// glibc's malloc (see bench/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};

use gen_pipeline::plan::{Builder, Split};
use gen_pipeline::render::{Ci, Daemon, GitlabMode};
use gen_pipeline::settings::{self, Flags, GitFlags, Mode, Settings, Target};
use gen_pipeline::{app, config, format, git, write};

const EXAMPLES: &str = "\
Examples:
  gen-pipeline --ci drone > .drone.yml          write a Drone pipeline to stdout
  gen-pipeline --ci github -o .github/workflows/images.yml
  gen-pipeline                                  generate every CI named in gen-pipeline.yml
  gen-pipeline check                            exit 1 with a diff when a committed pipeline is stale
  gen-pipeline plan -f Dockerfile --format mermaid
  gen-pipeline slug 'feature/JIRA-12_fix'       print a ref slug (GitLab's CI_COMMIT_REF_SLUG)
  gen-pipeline init                             write a commented gen-pipeline.yml
  gen-pipeline gc --older-than 14d              list the tags of gone branches; --apply deletes

Exit codes: 0 ok, 1 drift (check), 2 bad input or usage.";

#[derive(Debug, Parser)]
#[command(name = "gen-pipeline", version, about = "Per-stage CI pipelines from a multi-stage Dockerfile", after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    generate: GenArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate pipelines (the default when no subcommand is given).
    Generate(GenArgs),
    /// Render in memory and compare with the committed pipeline(s): exit 1 with a diff on drift.
    Check(GenArgs),
    /// Show the stage graph and plan of a Dockerfile (stages, dependencies, jobs, tags, caches).
    Plan(PlanArgs),
    /// Delete the tags and cache refs the pipelines wrote for branches and pull requests that
    /// are gone (dry run unless --apply).
    Gc(GcArgs),
    /// Print the slug of a ref name (GitLab's CI_COMMIT_REF_SLUG).
    Slug {
        /// The branch or tag name.
        #[arg(allow_hyphen_values = true)]
        name: String,
        /// With the commit sha, a name that reduces to nothing gives `sha-<short sha>` (as the
        /// pipelines do) instead of an empty line.
        #[arg(long, value_name = "SHA")]
        sha: Option<String>,
    },
    /// Write a commented gen-pipeline.yml from what is detected here.
    Init {
        /// Where to write it.
        #[arg(long, default_value = "gen-pipeline.yml")]
        path: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print shell completions.
    Completions {
        /// The shell to write completions for.
        shell: clap_complete::Shell,
    },
}

/// A clap parser over the names a library enum's `FromStr` accepts: completions and `--help`
/// list the values, and a typo gets clap's "did you mean".
fn names<T>(
    values: &'static [(&'static str, &'static [&'static str], &'static str)],
) -> impl TypedValueParser<Value = T>
where
    T: std::str::FromStr + Clone + Send + Sync + 'static,
    T::Err: std::fmt::Debug,
{
    PossibleValuesParser::new(values.iter().map(|(name, aliases, help)| {
        PossibleValue::new(*name)
            .aliases(aliases.iter().copied())
            .help(*help)
    }))
    .map(|s| s.parse::<T>().expect("every listed name parses"))
}

const CI_NAMES: &[(&str, &[&str], &str)] = &[
    ("github", &["github-actions"], "GitHub Actions"),
    ("gitlab", &["gitlab-ci"], "GitLab CI"),
    ("drone", &[], "Drone"),
    ("woodpecker", &[], "Woodpecker"),
];
const SPLIT_NAMES: &[(&str, &[&str], &str)] = &[
    (
        "shared",
        &[],
        "targets and every stage two or more jobs need",
    ),
    ("all", &[], "every named stage reachable from the targets"),
    ("targets", &[], "only the targets"),
];
const BUILDER_NAMES: &[(&str, &[&str], &str)] = &[
    (
        "buildx",
        &[],
        "BuildKit through docker buildx (docker-container driver)",
    ),
    (
        "buildah",
        &[],
        "daemonless buildah (GitLab, Drone, Woodpecker)",
    ),
];
const DAEMON_NAMES: &[(&str, &[&str], &str)] = &[
    (
        "host",
        &[],
        "the host's Docker socket (trusted repositories)",
    ),
    ("dind", &[], "a privileged docker:dind service"),
];
const GITLAB_MODE_NAMES: &[(&str, &[&str], &str)] = &[
    ("pipeline", &[], "the whole .gitlab-ci.yml"),
    (
        "include",
        &[],
        "a file a hand-written .gitlab-ci.yml includes",
    ),
];

/// Options of `generate` and `check` (each overrides the config file).
#[derive(Debug, Clone, Default, Args)]
struct GenArgs {
    /// CI system (repeatable; default: the config's `ci`, else the CI files that exist).
    #[arg(long, value_name = "CI", value_parser = names::<Ci>(CI_NAMES))]
    ci: Vec<Ci>,
    /// Write to PATH (`-` for stdout). Without it, one --ci goes to stdout and a config's CI systems to their `output:` paths.
    #[arg(short = 'o', long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Replace files gen-pipeline did not generate (no `Generated by gen-pipeline` header).
    #[arg(long)]
    force: bool,
    /// Config file (default: ./gen-pipeline.yml, else the one at the repository root).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Read no config file.
    #[arg(long, conflicts_with = "config")]
    no_config: bool,
    /// The Dockerfile (default: the config's, else ./Dockerfile).
    #[arg(long, short = 'f', value_name = "PATH")]
    dockerfile: Option<PathBuf>,
    /// Build context, relative to the repository root (default: the Dockerfile's folder).
    #[arg(long, value_name = "DIR")]
    context: Option<String>,
    /// Image repository prefix; each job pushes <image>/<stage>.
    #[arg(long, value_name = "REPO")]
    image: Option<String>,
    /// Stage to build (repeatable; default: every leaf stage).
    #[arg(long = "target", value_name = "STAGE")]
    targets: Vec<String>,
    /// Which stages get their own job.
    #[arg(long, value_name = "POLICY", value_parser = names::<Split>(SPLIT_NAMES))]
    split: Option<Split>,
    /// How jobs build images.
    #[arg(long, value_name = "BUILDER", value_parser = names::<Builder>(BUILDER_NAMES))]
    builder: Option<Builder>,
    /// Build argument for every job, K=V (repeatable); meta ARGs also steer the stage graph.
    #[arg(long = "build-arg", value_name = "K=V")]
    build_args: Vec<String>,
    /// Build secret from an environment variable: id=ID,env=VAR (repeatable).
    #[arg(long = "secret", value_name = "id=ID,env=VAR")]
    secrets: Vec<String>,
    /// Target platform os/arch[/variant] (repeatable, or comma-separated as buildx takes it).
    #[arg(long = "platform", value_name = "OS/ARCH")]
    platforms: Vec<String>,
    /// Extra tag on every image (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    extra_tags: Vec<String>,
    /// Drone/Woodpecker: how steps reach a Docker daemon.
    #[arg(long, value_name = "MODE", value_parser = names::<Daemon>(DAEMON_NAMES))]
    daemon: Option<Daemon>,
    /// GitLab: the whole .gitlab-ci.yml, or a file to `include:` from a hand-written one.
    #[arg(long, value_name = "MODE", value_parser = names::<GitlabMode>(GITLAB_MODE_NAMES))]
    gitlab_mode: Option<GitlabMode>,
    /// Folder of templates that replace the embedded ones (<ci>/pipeline.yml.j2, shared/*.sh).
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
    /// Pin the Dockerfile frontend with the BUILDKIT_SYNTAX build arg (buildx only).
    #[arg(long, value_name = "IMAGE")]
    buildkit_syntax: Option<String>,
    /// Push provenance attestations (buildx only; the pushed digest is then an image index).
    #[arg(long)]
    provenance: bool,
    #[command(flatten)]
    git: GitArgs,
}

/// Where the git context comes from; flags win over CI variables, which win over git.
#[derive(Debug, Clone, Default, Args)]
struct GitArgs {
    /// Repository to read (default: the one around the Dockerfile).
    #[arg(long, value_name = "DIR")]
    repo: Option<PathBuf>,
    /// Branch being built (default: the CI's variables, else git's HEAD).
    #[arg(long, value_name = "NAME")]
    branch: Option<String>,
    /// Git tag being built (instead of a branch).
    #[arg(long = "git-tag", value_name = "NAME")]
    git_tag: Option<String>,
    /// Commit being built (4 to 64 hex digits; default: the CI's variables, else HEAD).
    #[arg(long, value_name = "SHA")]
    sha: Option<String>,
    /// The default branch, whose cache new branches start from (default: the config's, else origin/HEAD).
    #[arg(long, value_name = "NAME")]
    default_branch: Option<String>,
    /// Pull/merge request number.
    #[arg(long, value_name = "N")]
    pr: Option<u64>,
}

impl From<&GitArgs> for GitFlags {
    fn from(g: &GitArgs) -> GitFlags {
        GitFlags {
            repo: g.repo.clone(),
            branch: g.branch.clone(),
            git_tag: g.git_tag.clone(),
            sha: g.sha.clone(),
            default_branch: g.default_branch.clone(),
            pr: g.pr,
        }
    }
}

impl From<&GenArgs> for Flags {
    fn from(a: &GenArgs) -> Flags {
        Flags {
            ci: a.ci.clone(),
            output: a.output.clone(),
            force: a.force,
            config: a.config.clone(),
            no_config: a.no_config,
            dockerfile: a.dockerfile.clone(),
            context: a.context.clone(),
            image: a.image.clone(),
            targets: a.targets.clone(),
            split: a.split,
            builder: a.builder,
            build_args: a.build_args.clone(),
            secrets: a.secrets.clone(),
            platforms: a.platforms.clone(),
            extra_tags: a.extra_tags.clone(),
            daemon: a.daemon,
            gitlab_mode: a.gitlab_mode,
            templates: a.templates.clone(),
            buildkit_syntax: a.buildkit_syntax.clone(),
            provenance: a.provenance,
            git: (&a.git).into(),
        }
    }
}

#[derive(Debug, Args)]
struct PlanArgs {
    /// The Dockerfile to read (default: the config's, else ./Dockerfile).
    #[arg(long, short = 'f', value_name = "PATH")]
    dockerfile: Option<PathBuf>,
    /// Override a meta ARG (repeatable); `K` alone takes the value from the environment.
    #[arg(long = "build-arg", value_name = "K=V")]
    build_args: Vec<String>,
    /// Target platform os/arch[/variant] (drives TARGETOS, TARGETARCH, …; repeatable, or
    /// comma-separated: the plan resolves the graph on each; default: the config's, else linux/amd64).
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT]")]
    platforms: Vec<String>,
    /// Image repository prefix for the jobs' tags and cache refs (default: config, else from the remote).
    #[arg(long, value_name = "REPO")]
    image: Option<String>,
    /// Stage to build (repeatable; default: the config's, else every leaf stage).
    #[arg(long = "target", value_name = "STAGE")]
    targets: Vec<String>,
    /// Which stages get their own job.
    #[arg(long, value_name = "POLICY", value_parser = names::<Split>(SPLIT_NAMES))]
    split: Option<Split>,
    /// Config file (default: ./gen-pipeline.yml, else the one at the repository root, as for generate).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Read no config file.
    #[arg(long, conflicts_with = "config")]
    no_config: bool,
    #[command(flatten)]
    git: GitArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    format: PlanFormat,
    /// Print parse and graph times to stderr (for the benchmark).
    #[arg(long, hide = true)]
    timings: bool,
}

impl From<&PlanArgs> for Flags {
    fn from(a: &PlanArgs) -> Flags {
        Flags {
            config: a.config.clone(),
            no_config: a.no_config,
            dockerfile: a.dockerfile.clone(),
            image: a.image.clone(),
            targets: a.targets.clone(),
            split: a.split,
            build_args: a.build_args.clone(),
            platforms: a.platforms.clone(),
            git: (&a.git).into(),
            ..Flags::default()
        }
    }
}

#[derive(Debug, Args)]
struct GcArgs {
    /// Delete (without it, only print what would be deleted).
    #[arg(long)]
    apply: bool,
    /// A ref that exists (`refs/heads/B`, `refs/tags/T`, `refs/pull/N/head`, or a branch name);
    /// repeatable. With it or --live-refs-file, the remote is not asked.
    #[arg(long = "live-ref", value_name = "REF")]
    live_refs: Vec<String>,
    /// A file of live refs: `git ls-remote` output or one ref a line (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    live_refs_file: Option<PathBuf>,
    /// The git remote (name or URL) whose refs are live (`git ls-remote`).
    #[arg(long, value_name = "REMOTE", default_value = "origin")]
    remote: String,
    /// Only delete what is at least this old (`14d`, `36h`, `0s`: any age); default: the
    /// config's `gc: older-than`, else 14d.
    #[arg(long, value_name = "AGE")]
    older_than: Option<String>,
    /// Delete stale refs whose age cannot be read (a branch or PR that is gone from git).
    #[arg(long)]
    ignore_age: bool,
    /// Trust this CA certificate (PEM) besides the system's, for a registry with a private CA
    /// (without it, SSL_CERT_FILE replaces the built-in roots).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GcFormat::Table)]
    format: GcFormat,
    /// The Dockerfile (default: the config's, else ./Dockerfile).
    #[arg(long, short = 'f', value_name = "PATH")]
    dockerfile: Option<PathBuf>,
    /// Config file (default: ./gen-pipeline.yml, else the one at the repository root).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Read no config file.
    #[arg(long, conflicts_with = "config")]
    no_config: bool,
    /// Image repository prefix (default: the config's, else from the remote).
    #[arg(long, value_name = "REPO")]
    image: Option<String>,
    /// Stage the pipelines build (repeatable; default: the config's, else every leaf stage).
    #[arg(long = "target", value_name = "STAGE")]
    targets: Vec<String>,
    /// Which stages get their own job.
    #[arg(long, value_name = "POLICY", value_parser = names::<Split>(SPLIT_NAMES))]
    split: Option<Split>,
    /// Build argument, K=V (repeatable), as for generate.
    #[arg(long = "build-arg", value_name = "K=V")]
    build_args: Vec<String>,
    /// Extra tag on every image (repeatable), as for generate: never deleted.
    #[arg(long = "tag", value_name = "TAG")]
    extra_tags: Vec<String>,
    #[command(flatten)]
    git: GitArgs,
}

impl From<&GcArgs> for Flags {
    fn from(a: &GcArgs) -> Flags {
        Flags {
            config: a.config.clone(),
            no_config: a.no_config,
            dockerfile: a.dockerfile.clone(),
            image: a.image.clone(),
            targets: a.targets.clone(),
            split: a.split,
            build_args: a.build_args.clone(),
            extra_tags: a.extra_tags.clone(),
            git: (&a.git).into(),
            ..Flags::default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum GcFormat {
    /// What would be deleted and what is kept, one tag a line.
    Table,
    /// The same as one JSON document.
    Json,
    /// A GitLab cleanup policy (name_regex_delete / name_regex_keep) that approximates gc.
    GitlabPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PlanFormat {
    /// The stages, then the jobs (needs, inline stages, tags, caches) and the planner's notes.
    Text,
    /// The graph, the ref and the jobs as one JSON document.
    Json,
    /// The stage graph as a Mermaid flowchart.
    Mermaid,
    /// The stage graph as Graphviz dot.
    Dot,
    /// No output (benchmarking).
    #[value(hide = true)]
    None,
}

/// Why a command failed; every failure exits 2 (drift, exit 1, is not a failure).
#[derive(Debug)]
enum Failure {
    /// A diagnostic rendered with file:line:col and a caret.
    Rendered(String),
    /// A one-line reason.
    Message(String),
}

impl From<settings::SettingsError> for Failure {
    fn from(e: settings::SettingsError) -> Failure {
        if e.is_rendered() {
            Failure::Rendered(e.to_string())
        } else {
            Failure::Message(e.to_string())
        }
    }
}

impl From<app::AppError> for Failure {
    fn from(e: app::AppError) -> Failure {
        match e {
            app::AppError::Located { rendered } => Failure::Rendered(rendered),
            other => Failure::Message(other.to_string()),
        }
    }
}

impl From<write::WriteError> for Failure {
    fn from(e: write::WriteError) -> Failure {
        Failure::Message(e.to_string())
    }
}

fn io_failure(what: &str, e: std::io::Error) -> Failure {
    Failure::Message(format!("{what}: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Plan(args)) => cmd_plan(&args).map(|()| ExitCode::SUCCESS),
        Some(Command::Gc(args)) => cmd_gc(&args).map(|()| ExitCode::SUCCESS),
        Some(Command::Generate(args)) => cmd_generate(&args, Mode::Generate),
        Some(Command::Check(args)) => cmd_generate(&args, Mode::Check),
        Some(Command::Slug { name, sha }) => {
            match sha {
                Some(sha) => println!("{}", gen_pipeline::refs::ref_slug(&name, &sha)),
                None => println!("{}", gen_pipeline::refs::slug(&name)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Init { path, force }) => cmd_init(&path, force).map(|()| ExitCode::SUCCESS),
        Some(Command::Completions { shell }) => {
            use clap::CommandFactory as _;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "gen-pipeline",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        None => cmd_generate(&cli.generate, Mode::Generate),
    };
    match result {
        Ok(code) => code,
        Err(Failure::Rendered(text)) => {
            eprint!("{text}");
            if !text.ends_with('\n') {
                eprintln!();
            }
            ExitCode::from(2)
        }
        Err(Failure::Message(text)) => {
            eprintln!("error: {text}");
            ExitCode::from(2)
        }
    }
}

/// Resolve the settings, then read and graph the Dockerfile; notes and warnings go to stderr.
fn prepare(flags: &Flags, mode: Mode) -> Result<(Settings, app::Loaded), Failure> {
    let s = settings::resolve(flags, mode, &git::process_env)?;
    // Every configured platform, and BuildKit's error scope for the stages the plan builds.
    let loaded = app::load_for_plan(
        &s.dockerfile.display().to_string(),
        &s.source,
        &s.graph,
        &s.plan.platforms,
        &s.named_targets(),
    )?;
    // What the git context assumed, once the Dockerfile is known to be good: a fatal error in it
    // is then the only message.
    for note in &s.notes {
        eprintln!("note: {note}");
    }
    for w in &loaded.warnings {
        eprint!("{w}");
    }
    Ok((s, loaded))
}

fn cmd_plan(args: &PlanArgs) -> Result<(), Failure> {
    let (s, loaded) = prepare(&args.into(), Mode::Plan)?;
    let g = &loaded.graph;
    let out = match args.format {
        PlanFormat::Text => {
            let p = app::plan_with(&loaded, &s)?;
            format::plan_text(g, &p)
        }
        PlanFormat::Json => plan_json(&loaded, &app::plan_with(&loaded, &s)?),
        PlanFormat::Mermaid => format::mermaid(g),
        PlanFormat::Dot => format::dot(g),
        PlanFormat::None => String::new(),
    };
    if args.timings {
        eprintln!(
            "timings: parse {:.3} ms, graph {:.3} ms, stages {}",
            loaded.parse_time.as_secs_f64() * 1e3,
            loaded.graph_time.as_secs_f64() * 1e3,
            g.stages.len()
        );
    }
    print_stdout(&out)
}

fn cmd_gc(args: &GcArgs) -> Result<(), Failure> {
    use gen_pipeline::gc_cmd;
    let req = gc_cmd::Request {
        apply: args.apply,
        live_refs: args.live_refs.clone(),
        live_refs_file: args.live_refs_file.clone(),
        remote: args.remote.clone(),
        older_than: args.older_than.clone(),
        ignore_age: args.ignore_age,
        ca_file: args.ca_file.clone(),
        format: match args.format {
            GcFormat::Table => gc_cmd::Format::Table,
            GcFormat::Json => gc_cmd::Format::Json,
            GcFormat::GitlabPolicy => gc_cmd::Format::GitlabPolicy,
        },
    };
    let gc_failure = |e: gc_cmd::GcCmdError| match e {
        gc_cmd::GcCmdError::App(a) => Failure::from(a),
        other => Failure::Message(other.to_string()),
    };
    // A bad flag is the only message.
    req.flag_age().map_err(gc_failure)?;
    let (s, loaded) = prepare(&args.into(), Mode::Plan)?;
    gc_cmd::run(
        &req,
        &s,
        &loaded,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
    .map_err(gc_failure)
}

fn print_stdout(text: &str) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| io_failure("writing to stdout", e))
}

/// `plan --format json`: the graph document plus the ref and the planned jobs.
fn plan_json(loaded: &app::Loaded, p: &gen_pipeline::plan::Plan) -> String {
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        #[serde(flatten)]
        graph: format::PlanDoc,
        #[serde(rename = "ref")]
        git_ref: &'a gen_pipeline::refs::RefInfo,
        jobs: Vec<JobDoc<'a>>,
        /// What the planner decided and why (limits, unnamed or redefined stages, …).
        notes: &'a [String],
        /// Every stage's role (job / check / inline / alternative / unused) and the reason.
        decisions: &'a [gen_pipeline::plan::StageDecision],
        /// With `runners:`: the build platform and the per-image merge jobs.
        #[serde(skip_serializing_if = "Option::is_none")]
        build_platform: &'a Option<String>,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        merges: &'a [gen_pipeline::plan::MergeJob],
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
        key: &'a gen_pipeline::plan::JobKey,
        /// With `runners:`: the one platform the job builds, its runner, QEMU or not.
        #[serde(skip_serializing_if = "Option::is_none")]
        platform: &'a Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        runner: &'a Option<gen_pipeline::plan::Runner>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        emulated: bool,
    }
    let doc = Doc {
        graph: format::PlanDoc::from_graph(&loaded.graph),
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
                build_contexts: j
                    .contexts
                    .iter()
                    .map(|c| {
                        format!(
                            "{}=docker-image://{}@<digest from {}>",
                            c.stage, c.repository, c.job
                        )
                    })
                    .collect(),
                tags: j
                    .tags
                    .iter()
                    .map(|t| format!("{}:{t}", j.repository))
                    .collect(),
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

fn cmd_generate(args: &GenArgs, mode: Mode) -> Result<ExitCode, Failure> {
    let (s, loaded) = prepare(&args.into(), mode)?;
    let plan = app::plan_with(&loaded, &s)?;
    // Build args and secrets the Dockerfile never uses, secret mounts no secret provides.
    for w in app::usage_warnings(
        &s.dockerfile.display().to_string(),
        &s.source,
        &loaded.graph,
        &s.plan.build_args,
        &s.plan.secrets,
    ) {
        eprint!("{w}");
    }
    // Every pipeline is rendered before anything is written.
    let out = app::render_outputs(&plan, &s.outputs, &s.render)?;
    for note in &out.notes {
        eprintln!("note: {note}");
    }
    if mode == Mode::Check {
        return check_outputs(&out);
    }
    for p in &out.stale {
        eprintln!(
            "note: {} was generated with `gc:` on and still runs; delete it (`gc:` is off now)",
            p.display()
        );
    }
    for p in &out.stale_workflows {
        eprintln!(
            "note: {} is a Woodpecker workflow gen-pipeline wrote for `runners:` and no longer generates; it still runs: delete it",
            p.display()
        );
    }
    let generated = &out.files;
    let mut files = Vec::new();
    let mut cis = Vec::new();
    for g in generated {
        match &g.target {
            Target::Stdout => print_stdout(&g.text)?,
            Target::File { path, within } => {
                files.push(write::FileWrite {
                    path: path.clone(),
                    text: g.text.clone(),
                    within: within.clone(),
                });
                cis.push(g.ci);
            }
        }
    }
    for (path, ci) in write::write_all(&files, s.force)?.iter().zip(&cis) {
        eprintln!("wrote {} ({})", path.display(), ci.name());
    }
    Ok(ExitCode::SUCCESS)
}

/// `check`: the verdict first (each file's state and the command that regenerates, on stderr),
/// then the diffs (stdout), so a log that is cut short still says what to do.
fn check_outputs(out: &app::Outputs) -> Result<ExitCode, Failure> {
    let mut diffs = Vec::new();
    for p in &out.stale {
        eprintln!(
            "{}: generated with `gc:` on, which is off now: delete it",
            p.display()
        );
        diffs.push(String::new());
    }
    for p in &out.stale_workflows {
        eprintln!(
            "{}: a Woodpecker workflow gen-pipeline no longer generates (`runners:` changed): delete it",
            p.display()
        );
        diffs.push(String::new());
    }
    for g in &out.files {
        let Target::File { path: p, .. } = &g.target else {
            continue;
        };
        match app::drift(p, &g.text) {
            app::Drift::InSync => eprintln!("{}: in sync", p.display()),
            app::Drift::Missing => {
                eprintln!("{}: missing", p.display());
                diffs.push(String::new());
            }
            app::Drift::Differs(diff) => {
                eprintln!("{}: out of date", p.display());
                diffs.push(diff);
            }
        }
    }
    if diffs.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let mut regen: Vec<String> = vec!["gen-pipeline".into()];
    regen.extend(std::env::args().skip(1).filter(|a| a != "check"));
    eprintln!("regenerate with: {}", regen.join(" "));
    print_stdout(&diffs.concat())?;
    Ok(ExitCode::from(1))
}

fn cmd_init(path: &Path, force: bool) -> Result<(), Failure> {
    if path.exists() && !force {
        return Err(Failure::Message(format!(
            "{} exists (use --force to overwrite)",
            path.display()
        )));
    }
    let mut detected = config::Detected {
        dockerfile: "Dockerfile".into(),
        ..Default::default()
    };
    if let Ok(source) = std::fs::read_to_string("Dockerfile") {
        if let Ok(loaded) = app::load("Dockerfile", &source, &Default::default()) {
            detected.stages = loaded
                .graph
                .stages
                .iter()
                .filter_map(|s| s.name.clone())
                .collect();
            detected.plan = app::default_plan(&loaded).map(|p| config::DetectedPlan::from_plan(&p));
        }
    }
    let root = git::work_tree(Path::new("."));
    if let Ok(ctx) = git::discover(
        Path::new("."),
        &git::process_env,
        &git::Overrides::default(),
    ) {
        detected.image = git::default_image(&ctx, &git::process_env).ok();
        detected.default_branch = Some(ctx.default_branch.clone());
    }
    let found = app::detect_existing(root.as_deref().unwrap_or(Path::new(".")));
    for e in &found {
        if let Some(note) = app::init_choice(e, &mut detected) {
            eprintln!("note: {note}");
        }
    }
    let text = config::template(&detected);
    write::write_all(
        &[write::FileWrite {
            path: path.to_path_buf(),
            text,
            within: None,
        }],
        // The config has no generated header: `init` decides with its own exists check above.
        true,
    )?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
