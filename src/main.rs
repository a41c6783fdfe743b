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
use gen_pipeline::settings::{self, Flags, GitFlags, Mode, Settings};
use gen_pipeline::{app, format, git, write};

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
    /// Build context, relative to the repository root (default: the Dockerfile's folder).
    #[arg(long, value_name = "DIR")]
    context: Option<String>,
    /// How jobs build images.
    #[arg(long, value_name = "BUILDER", value_parser = names::<Builder>(BUILDER_NAMES))]
    builder: Option<Builder>,
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
    shared: SharedArgs,
}

/// The flags every planning command takes (`generate`, `check`, `plan`, `gc`): the config, the
/// Dockerfile, the stages to build and the git context. Defined once, so each command accepts them
/// with the same names, value names and defaults, after its own flags and in the same order. A
/// command that reads one of them differently says so by replacing that flag's help text with
/// `mut_arg` (`plan`'s and `gc`'s `--build-arg`, `gc`'s `--target`); the rest share one text.
#[derive(Debug, Clone, Default, Args)]
struct SharedArgs {
    /// Config file (default: ./gen-pipeline.yml, else the one at the repository root).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Read no config file.
    #[arg(long, conflicts_with = "config")]
    no_config: bool,
    /// The Dockerfile (default: the config's, else ./Dockerfile).
    #[arg(long, short = 'f', value_name = "PATH")]
    dockerfile: Option<PathBuf>,
    /// Image repository prefix; each job pushes <image>/<stage> (default: the config's, else from the remote).
    #[arg(long, value_name = "REPO")]
    image: Option<String>,
    /// Stage to build (repeatable; default: the config's, else every leaf stage).
    #[arg(long = "target", value_name = "STAGE")]
    targets: Vec<String>,
    /// Which stages get their own job.
    #[arg(long, value_name = "POLICY", value_parser = names::<Split>(SPLIT_NAMES))]
    split: Option<Split>,
    /// Build argument for every job, K=V (repeatable); meta ARGs also steer the stage graph.
    #[arg(long = "build-arg", value_name = "K=V")]
    build_args: Vec<String>,
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

impl SharedArgs {
    /// The settings layer's flags with these set and every other flag unset: the one conversion
    /// each command's own flags are added to.
    fn flags(&self) -> Flags {
        Flags {
            config: self.config.clone(),
            no_config: self.no_config,
            dockerfile: self.dockerfile.clone(),
            image: self.image.clone(),
            targets: self.targets.clone(),
            split: self.split,
            build_args: self.build_args.clone(),
            git: GitFlags {
                repo: self.repo.clone(),
                branch: self.branch.clone(),
                git_tag: self.git_tag.clone(),
                sha: self.sha.clone(),
                default_branch: self.default_branch.clone(),
                pr: self.pr,
            },
            ..Flags::default()
        }
    }
}

impl From<&GenArgs> for Flags {
    fn from(a: &GenArgs) -> Flags {
        Flags {
            ci: a.ci.clone(),
            output: a.output.clone(),
            force: a.force,
            context: a.context.clone(),
            builder: a.builder,
            secrets: a.secrets.clone(),
            platforms: a.platforms.clone(),
            extra_tags: a.extra_tags.clone(),
            daemon: a.daemon,
            gitlab_mode: a.gitlab_mode,
            templates: a.templates.clone(),
            buildkit_syntax: a.buildkit_syntax.clone(),
            provenance: a.provenance,
            ..a.shared.flags()
        }
    }
}

#[derive(Debug, Args)]
#[command(mut_arg("build_args", |a| a.help(
    "Override a meta ARG (repeatable); `K` alone takes the value from the environment",
)))]
struct PlanArgs {
    /// Target platform os/arch[/variant] (drives TARGETOS, TARGETARCH, …; repeatable, or
    /// comma-separated: the plan resolves the graph on each; default: the config's, else linux/amd64).
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT]")]
    platforms: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    format: PlanFormat,
    /// Print parse and graph times to stderr (for the benchmark).
    #[arg(long, hide = true)]
    timings: bool,
    #[command(flatten)]
    shared: SharedArgs,
}

impl From<&PlanArgs> for Flags {
    fn from(a: &PlanArgs) -> Flags {
        Flags {
            platforms: a.platforms.clone(),
            ..a.shared.flags()
        }
    }
}

#[derive(Debug, Args)]
#[command(
    mut_arg("targets", |a| a.help(
        "Stage the pipelines build (repeatable; default: the config's, else every leaf stage)",
    )),
    mut_arg("build_args", |a| a.help("Build argument, K=V (repeatable), as for generate")),
)]
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
    /// Extra tag on every image (repeatable), as for generate: never deleted.
    #[arg(long = "tag", value_name = "TAG")]
    extra_tags: Vec<String>,
    #[command(flatten)]
    shared: SharedArgs,
}

impl From<&GcArgs> for Flags {
    fn from(a: &GcArgs) -> Flags {
        Flags {
            extra_tags: a.extra_tags.clone(),
            ..a.shared.flags()
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
        PlanFormat::Json => format::plan_json(g, &app::plan_with(&loaded, &s)?),
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
    let (stdout, files) = out.partition();
    for text in stdout {
        print_stdout(text)?;
    }
    let (files, cis): (Vec<_>, Vec<_>) = files.into_iter().unzip();
    for (path, ci) in write::write_all(&files, s.force)?.iter().zip(&cis) {
        eprintln!("wrote {} ({})", path.display(), ci.name());
    }
    Ok(ExitCode::SUCCESS)
}

/// `check`: the verdict first (each file's state and the command that regenerates, on stderr),
/// then the diffs (stdout), so a log that is cut short still says what to do.
fn check_outputs(out: &app::Outputs) -> Result<ExitCode, Failure> {
    let report = app::check(out);
    for line in &report.verdicts {
        eprintln!("{line}");
    }
    if !report.drifted {
        return Ok(ExitCode::SUCCESS);
    }
    let mut regen: Vec<String> = vec!["gen-pipeline".into()];
    regen.extend(std::env::args().skip(1).filter(|a| a != "check"));
    eprintln!("regenerate with: {}", regen.join(" "));
    print_stdout(&report.diffs)?;
    Ok(ExitCode::from(1))
}

fn cmd_init(path: &Path, force: bool) -> Result<(), Failure> {
    if path.exists() && !force {
        return Err(Failure::Message(format!(
            "{} exists (use --force to overwrite)",
            path.display()
        )));
    }
    let (text, notes) = app::init_config(Path::new("."), &git::process_env);
    for note in &notes {
        eprintln!("note: {note}");
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn cli_definition_is_consistent() {
        // Also checks that every `mut_arg` names a flag that exists.
        Cli::command().debug_assert();
    }

    /// The shared flags as typed, and what the settings layer must receive for them.
    fn shared_flags() -> (Vec<&'static str>, Flags) {
        let argv = vec![
            "--config",
            "c.yml",
            "-f",
            "D",
            "--image",
            "r/x",
            "--target",
            "t",
            "--split",
            "all",
            "--build-arg",
            "A=1",
            "--repo",
            "R",
            "--branch",
            "b",
            "--git-tag",
            "v1",
            "--sha",
            "abcd",
            "--default-branch",
            "m",
            "--pr",
            "3",
        ];
        let flags = Flags {
            config: Some("c.yml".into()),
            dockerfile: Some("D".into()),
            image: Some("r/x".into()),
            targets: vec!["t".into()],
            split: Some(Split::All),
            build_args: vec!["A=1".into()],
            git: GitFlags {
                repo: Some("R".into()),
                branch: Some("b".into()),
                git_tag: Some("v1".into()),
                sha: Some("abcd".into()),
                default_branch: Some("m".into()),
                pr: Some(3),
            },
            ..Flags::default()
        };
        (argv, flags)
    }

    /// The settings layer's flags for a command line.
    fn flags_of(argv: &[&str]) -> Flags {
        let cli = Cli::try_parse_from(std::iter::once("gen-pipeline").chain(argv.iter().copied()))
            .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        match &cli.command {
            None => (&cli.generate).into(),
            Some(Command::Generate(a) | Command::Check(a)) => a.into(),
            Some(Command::Plan(a)) => a.into(),
            Some(Command::Gc(a)) => a.into(),
            Some(other) => panic!("not a planning command: {other:?}"),
        }
    }

    #[test]
    fn every_planning_command_hands_the_shared_flags_on() {
        let (typed, want) = shared_flags();
        for sub in [&[][..], &["generate"], &["check"], &["plan"], &["gc"]] {
            let argv = [sub, &typed[..]].concat();
            assert_eq!(flags_of(&argv), want, "{sub:?}");
            let no_config = flags_of(&[sub, &["--no-config"][..]].concat());
            assert_eq!(
                no_config,
                Flags {
                    no_config: true,
                    ..Flags::default()
                },
                "{sub:?}"
            );
        }
    }

    #[test]
    fn each_command_hands_its_own_flags_on() {
        let (typed, shared) = shared_flags();
        let generate = [
            "--ci",
            "gitlab",
            "-o",
            "out.yml",
            "--force",
            "--context",
            "ctx",
            "--builder",
            "buildah",
            "--secret",
            "id=s,env=S",
            "--platform",
            "linux/arm64",
            "--tag",
            "x",
            "--daemon",
            "dind",
            "--gitlab-mode",
            "include",
            "--templates",
            "tpl",
            "--buildkit-syntax",
            "docker/dockerfile:1",
            "--provenance",
        ];
        let want = Flags {
            ci: vec![Ci::Gitlab],
            output: Some("out.yml".into()),
            force: true,
            context: Some("ctx".into()),
            builder: Some(Builder::Buildah),
            secrets: vec!["id=s,env=S".into()],
            platforms: vec!["linux/arm64".into()],
            extra_tags: vec!["x".into()],
            daemon: Some(Daemon::Dind),
            gitlab_mode: Some(GitlabMode::Include),
            templates: Some("tpl".into()),
            buildkit_syntax: Some("docker/dockerfile:1".into()),
            provenance: true,
            ..shared.clone()
        };
        for sub in [&[][..], &["generate"], &["check"]] {
            assert_eq!(flags_of(&[sub, &generate[..], &typed[..]].concat()), want);
        }
        let plan = flags_of(&[&["plan", "--platform", "linux/arm64"][..], &typed[..]].concat());
        assert_eq!(
            plan,
            Flags {
                platforms: vec!["linux/arm64".into()],
                ..shared.clone()
            }
        );
        let gc = flags_of(&[&["gc", "--tag", "x"][..], &typed[..]].concat());
        assert_eq!(
            gc,
            Flags {
                extra_tags: vec!["x".into()],
                ..shared
            }
        );
    }
}
