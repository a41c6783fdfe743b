//! The `gen-pipeline` binary: argument parsing, file I/O and error rendering.
//! Each subcommand is one small handler function; the library does the work.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

// The parser makes many small allocations; mimalloc parses a 10 MB Dockerfile markedly faster than
// glibc's malloc (see bench/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Args, Parser, Subcommand, ValueEnum};

use gen_pipeline::render::{self, Ci};
use gen_pipeline::{app, config, format, git, graph, plan};

const EXAMPLES: &str = "\
Examples:
  gen-pipeline --ci drone > .drone.yml          write a Drone pipeline to stdout
  gen-pipeline --ci github -o .github/workflows/images.yml
  gen-pipeline                                  generate every CI named in gen-pipeline.yml
  gen-pipeline check                            exit 1 with a diff when a committed pipeline is stale
  gen-pipeline plan -f Dockerfile --format mermaid
  gen-pipeline slug 'feature/JIRA-12_fix'       print a ref slug (GitLab's CI_COMMIT_REF_SLUG)
  gen-pipeline init                             write a commented gen-pipeline.yml

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
    Completions { shell: clap_complete::Shell },
}

/// Options of `generate` and `check` (each overrides the config file).
#[derive(Debug, Clone, Default, Args)]
struct GenArgs {
    /// CI system: github, gitlab, drone, woodpecker (repeatable; default: config, else existing CI files).
    #[arg(long, value_name = "CI")]
    ci: Vec<String>,
    /// Write to PATH instead of stdout (`-` for stdout); with several CI systems, the config's outputs are used.
    #[arg(short = 'o', long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Config file (default: ./gen-pipeline.yml when it exists).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// The Dockerfile (default: config, else ./Dockerfile).
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
    /// Which stages get their own job: shared, all, targets.
    #[arg(long, value_name = "POLICY")]
    split: Option<String>,
    /// buildx (BuildKit, docker-container driver) or buildah.
    #[arg(long, value_name = "BUILDER")]
    builder: Option<String>,
    /// Build argument for every job (repeatable); meta ARGs also steer the stage graph.
    #[arg(long = "build-arg", value_name = "K=V")]
    build_args: Vec<String>,
    /// Build secret from an environment variable: id=ID,env=VAR (repeatable).
    #[arg(long = "secret", value_name = "id=ID,env=VAR")]
    secrets: Vec<String>,
    /// Target platform (repeatable).
    #[arg(long = "platform", value_name = "OS/ARCH")]
    platforms: Vec<String>,
    /// Extra tag on every image (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    extra_tags: Vec<String>,
    /// Drone/Woodpecker: host (socket) or dind.
    #[arg(long, value_name = "MODE")]
    daemon: Option<String>,
    /// Folder of templates that replace the embedded ones.
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
    /// Pin the Dockerfile frontend with the BUILDKIT_SYNTAX build arg.
    #[arg(long, value_name = "IMAGE")]
    buildkit_syntax: Option<String>,
    /// Push provenance attestations (the pushed digest is then an image index).
    #[arg(long)]
    provenance: bool,
    #[command(flatten)]
    git: GitArgs,
}

/// Where the git context comes from; flags win over CI variables, which win over git.
#[derive(Debug, Clone, Default, Args)]
struct GitArgs {
    /// Repository to read (default: around the Dockerfile).
    #[arg(long, value_name = "DIR")]
    repo: Option<PathBuf>,
    #[arg(long, value_name = "NAME")]
    branch: Option<String>,
    #[arg(long = "git-tag", value_name = "NAME")]
    git_tag: Option<String>,
    #[arg(long, value_name = "SHA")]
    sha: Option<String>,
    #[arg(long, value_name = "NAME")]
    default_branch: Option<String>,
    /// Pull/merge request number.
    #[arg(long, value_name = "N")]
    pr: Option<u64>,
}

/// Options every command that reads a Dockerfile shares.
#[derive(Debug, Clone, Args)]
struct DockerfileArgs {
    /// The Dockerfile to read.
    /// (default: the config's, with --config, else ./Dockerfile)
    #[arg(long, short = 'f', value_name = "PATH")]
    dockerfile: Option<PathBuf>,
    /// Override a meta ARG (repeatable); `K` alone takes the value from the environment.
    #[arg(long = "build-arg", value_name = "K=V")]
    build_args: Vec<String>,
    /// Target platform (drives TARGETOS, TARGETARCH, ...).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", default_value = "linux/amd64")]
    platform: String,
}

#[derive(Debug, Args)]
struct PlanArgs {
    #[command(flatten)]
    input: DockerfileArgs,
    /// Image repository prefix for the jobs' tags and cache refs (default: config, else from the remote).
    #[arg(long, value_name = "REPO")]
    image: Option<String>,
    /// Stage to build (repeatable; default: the config's, else every leaf stage).
    #[arg(long = "target", value_name = "STAGE")]
    targets: Vec<String>,
    /// Which stages get their own job: shared, all, targets.
    #[arg(long, value_name = "POLICY")]
    split: Option<String>,
    /// Config file for the jobs (targets, split, image, …); none is read unless named here.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(flatten)]
    git: GitArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    format: PlanFormat,
    /// Print parse and graph times to stderr (for the benchmark).
    #[arg(long, hide = true)]
    timings: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PlanFormat {
    Text,
    Json,
    Mermaid,
    Dot,
    /// No output (benchmarking).
    #[value(hide = true)]
    None,
}

/// Bad input: already rendered diagnostics; exit code 2.
#[derive(Debug)]
struct InputError(String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Plan(args)) => cmd_plan(&args).map(|()| ExitCode::SUCCESS),
        Some(Command::Generate(args)) => cmd_generate(&args, false),
        Some(Command::Check(args)) => cmd_generate(&args, true),
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
        None => cmd_generate(&cli.generate, false),
    };
    match result {
        Ok(code) => code,
        Err(e) => match e.downcast_ref::<InputError>() {
            Some(InputError(rendered)) => {
                eprint!("{rendered}");
                ExitCode::from(2)
            }
            None => {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        },
    }
}

fn read_source(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path)
        .map_err(|e| InputError(format!("error: cannot read {}: {e}\n", path.display())))?;
    String::from_utf8(bytes)
        .map_err(|e| InputError(format!("error: {} is not UTF-8: {e}\n", path.display())).into())
}

fn build_args(list: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in list {
        match item.split_once('=') {
            Some(("", _)) => {
                return Err(InputError(format!("error: --build-arg `{item}`: empty name\n")).into())
            }
            Some((k, v)) => {
                out.insert(k.to_string(), v.to_string());
            }
            None => {
                if let Ok(v) = std::env::var(item) {
                    out.insert(item.clone(), v);
                }
            }
        }
    }
    Ok(out)
}

/// Read, parse and graph the Dockerfile `plan` looks at; warnings go to stderr.
fn load(path: &Path, input: &DockerfileArgs) -> anyhow::Result<app::Loaded> {
    let file = path.display().to_string();
    let source = read_source(path)?;
    let opts = graph::GraphOptions {
        build_args: build_args(&input.build_args)?,
        platform: input.platform.clone(),
        ..graph::GraphOptions::default()
    };
    let loaded = app::load(&file, &source, &opts).map_err(app_error)?;
    for w in &loaded.warnings {
        eprint!("{w}");
    }
    Ok(loaded)
}

/// The Dockerfile `plan` reads: `-f`, else the one `--config` names, else ./Dockerfile.
fn plan_dockerfile(args: &PlanArgs) -> anyhow::Result<PathBuf> {
    if let Some(d) = &args.input.dockerfile {
        return Ok(d.clone());
    }
    if let Some(c) = &args.config {
        let cfg = read_config(c)?;
        let dir = c.parent().unwrap_or(Path::new(""));
        return Ok(dir.join(cfg.dockerfile.as_deref().unwrap_or("Dockerfile")));
    }
    Ok(PathBuf::from("Dockerfile"))
}

fn cmd_plan(args: &PlanArgs) -> anyhow::Result<()> {
    let dockerfile = plan_dockerfile(args)?;
    let loaded = load(&dockerfile, &args.input)?;
    let g = &loaded.graph;
    let out = match args.format {
        PlanFormat::Text => format::text(g),
        PlanFormat::Json => plan_json(args, &dockerfile, &loaded)?,
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
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes()).context("writing output")?;
    Ok(())
}

/// `plan --format json`: the graph document plus the ref and the planned jobs.
fn plan_json(args: &PlanArgs, dockerfile: &Path, loaded: &app::Loaded) -> anyhow::Result<String> {
    let g = &loaded.graph;
    let gen = GenArgs {
        config: args.config.clone(),
        dockerfile: Some(dockerfile.to_path_buf()),
        image: args.image.clone(),
        build_args: args.input.build_args.clone(),
        platforms: vec![args.input.platform.clone()],
        targets: args.targets.clone(),
        split: args.split.clone(),
        git: args.git.clone(),
        ..GenArgs::default()
    };
    let p = resolve_plan(&gen, true)?.plan;
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        #[serde(flatten)]
        graph: format::PlanDoc,
        #[serde(rename = "ref")]
        git_ref: &'a gen_pipeline::refs::RefInfo,
        jobs: Vec<JobDoc<'a>>,
        /// What the planner decided and why (limits, unnamed or redefined stages, …).
        notes: &'a [String],
    }
    #[derive(serde::Serialize)]
    struct JobDoc<'a> {
        id: &'a str,
        stage: &'a str,
        needs: &'a [String],
        inline_stages: &'a [String],
        build_contexts: Vec<String>,
        tags: Vec<String>,
        cache_from: &'a [String],
        cache_to: &'a Option<String>,
        /// The stage input key's inputs (why a job rebuilt or skipped).
        key: &'a plan::JobKey,
    }
    let doc = Doc {
        graph: format::PlanDoc::from_graph(g),
        git_ref: &p.git_ref,
        jobs: p
            .jobs
            .iter()
            .map(|j| JobDoc {
                id: &j.id,
                stage: &j.label,
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
            })
            .collect(),
        notes: &p.notes,
    };
    let mut out = serde_json::to_string_pretty(&doc)?;
    out.push('\n');
    Ok(out)
}

fn git_context(args: &GitArgs, dockerfile: &Path) -> anyhow::Result<git::GitContext> {
    let dir = match &args.repo {
        Some(r) => r.clone(),
        None => dockerfile
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    let overrides = git::Overrides {
        branch: args.branch.clone(),
        tag: args.git_tag.clone(),
        sha: args.sha.clone(),
        default_branch: args.default_branch.clone(),
        pr: args.pr,
    };
    let ctx = git::discover_ref(&dir, &git::process_env, &overrides)
        .map_err(|e| InputError(format!("error: {e}\n")))?;
    for note in &ctx.notes {
        eprintln!("note: {note}");
    }
    Ok(ctx)
}

/// `for_plan`: called by `plan`, which has printed the Dockerfile's warnings already and shows
/// jobs even when no registry is known (`$IMAGE`).
fn resolve_plan(args: &GenArgs, for_plan: bool) -> anyhow::Result<Planned> {
    // Config: --config, else ./gen-pipeline.yml when present.
    let (config, config_dir) = match &args.config {
        Some(p) => (
            read_config(p)?,
            p.parent().map(Path::to_path_buf).unwrap_or_default(),
        ),
        // `plan -f X` reads a config only when --config names one: ./gen-pipeline.yml may describe another Dockerfile.
        None if !for_plan && Path::new(config::FILE_NAME).is_file() => {
            (read_config(Path::new(config::FILE_NAME))?, PathBuf::new())
        }
        None => (config::Config::default(), PathBuf::new()),
    };
    let from_config = |p: &str| {
        if config_dir.as_os_str().is_empty() {
            PathBuf::from(p)
        } else {
            config_dir.join(p)
        }
    };
    let dockerfile = match (&args.dockerfile, &config.dockerfile) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) => from_config(d),
        (None, None) => from_config("Dockerfile"),
    };
    let ctx = git_context(&args.git, &dockerfile)?;
    // Paths in the pipeline are relative to the repository root.
    let root = ctx
        .repo_root
        .clone()
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
    let rel = |p: &Path| -> String {
        let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let root = std::fs::canonicalize(&root).unwrap_or_else(|_| root.clone());
        let r = abs
            .strip_prefix(&root)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| p.to_path_buf());
        let s = r.display().to_string();
        if s.is_empty() {
            ".".to_string()
        } else {
            s
        }
    };
    let dockerfile_rel = rel(&dockerfile);
    let context = match (&args.context, &config.context) {
        (Some(c), _) => c.clone(),
        (None, Some(c)) => rel(&from_config(c)),
        (None, None) => rel(dockerfile
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))),
    };

    let mut build_args = config.build_args.clone();
    if !for_plan {
        // A committed pipeline must not carry a value read from the generating machine.
        if let Some(a) = args.build_args.iter().find(|a| !a.contains('=')) {
            return Err(InputError(format!(
                "error: --build-arg `{a}` needs a value (K=V) when generating a pipeline\n"
            ))
            .into());
        }
    }
    build_args.extend(self::build_args(&args.build_args)?);
    let file = dockerfile.display().to_string();
    let source = read_source(&dockerfile)?;
    let gopts = graph::GraphOptions {
        build_args: build_args.clone(),
        platform: args
            .platforms
            .first()
            .or(config.platforms.first())
            .cloned()
            .unwrap_or_else(|| "linux/amd64".into()),
        ..graph::GraphOptions::default()
    };
    let loaded = app::load(&file, &source, &gopts).map_err(app_error)?;
    if !for_plan {
        for w in &loaded.warnings {
            eprint!("{w}");
        }
    }

    let image = match (&args.image, &config.image) {
        (Some(i), _) | (None, Some(i)) => i.clone(),
        (None, None) => match git::default_image(&ctx, &git::process_env) {
            Ok(i) if plan::valid_repository(&i) => i,
            // `plan` still shows jobs without a registry; `generate` needs one.
            _ if for_plan => "$IMAGE".to_string(),
            Ok(i) => return Err(InputError(format!("error: the image `{i}` derived from the remote is not a valid repository; pass --image\n")).into()),
            Err(e) => return Err(InputError(format!("error: {e}\n")).into()),
        },
    };
    let mut secrets: Vec<plan::Secret> = config.secrets.iter().cloned().map(Into::into).collect();
    for s in &args.secrets {
        secrets.push(parse_secret(s)?);
    }
    let mut git_ref = ctx.ref_info();
    if let Some(b) = &config.default_branch {
        if args.git.default_branch.is_none() {
            git_ref = gen_pipeline::refs::RefInfo::new(
                git_ref.kind,
                &git_ref.name,
                &git_ref.sha,
                b,
                git_ref.pr,
            );
        }
    }
    let popts = plan::PlanOptions {
        image,
        dockerfile: dockerfile_rel,
        context,
        targets: if args.targets.is_empty() {
            config.targets.clone()
        } else {
            args.targets.clone()
        },
        split: match &args.split {
            Some(v) => parse_enum("split", v)?,
            None => config.split.map(|s| s.0).unwrap_or_default(),
        },
        builder: match &args.builder {
            Some(v) => parse_enum("builder", v)?,
            None => config.builder.map(|s| s.0).unwrap_or_default(),
        },
        build_args: {
            let mut b = build_args;
            if let Some(s) = args
                .buildkit_syntax
                .as_ref()
                .or(config.buildkit_syntax.as_ref())
            {
                b.insert("BUILDKIT_SYNTAX".into(), s.clone());
            }
            b
        },
        secrets,
        platforms: if args.platforms.is_empty() {
            config.platforms.clone()
        } else {
            args.platforms.clone()
        },
        extra_tags: if args.extra_tags.is_empty() {
            config.extra_tags.clone()
        } else {
            args.extra_tags.clone()
        },
        cache_policy: gen_pipeline::refs::CachePolicy {
            write_on_tag: config.cache.write_on_tag,
            write_on_pr: config.cache.write_on_pr,
        },
        buildkit_syntax: args
            .buildkit_syntax
            .clone()
            .or(config.buildkit_syntax.clone()),
        provenance: args.provenance || config.provenance.unwrap_or(false),
        skip: config.skip.unwrap_or(true),
        git_ref,
    };
    let plan = app::plan(&loaded, &popts).map_err(app_error)?;
    let config_path = match &args.config {
        Some(p) => Some(p.clone()),
        None if !for_plan && Path::new(config::FILE_NAME).is_file() => {
            Some(PathBuf::from(config::FILE_NAME))
        }
        None => None,
    };
    Ok(Planned {
        config_path,
        config,
        config_dir,
        root,
        plan,
    })
}

/// Everything `generate`/`check` resolved from config + flags + git.
struct Resolved {
    cis: Vec<(Ci, Option<PathBuf>)>,
    rendered: Vec<(Ci, String)>,
}

fn parse_enum<T: std::str::FromStr<Err = String>>(flag: &str, v: &str) -> anyhow::Result<T> {
    v.parse::<T>()
        .map_err(|e| InputError(format!("error: --{flag}: {e}\n")).into())
}

/// Config + flags + git → the plan (shared by `generate`, `check` and `plan --format json`).
struct Planned {
    /// The config file read, if any.
    config_path: Option<PathBuf>,
    config: config::Config,
    config_dir: PathBuf,
    root: PathBuf,
    plan: plan::Plan,
}

fn resolve(args: &GenArgs) -> anyhow::Result<Resolved> {
    let Planned {
        config_path,
        config,
        config_dir,
        root,
        plan: the_plan,
    } = resolve_plan(args, false)?;
    let from_config = |p: &str| {
        if config_dir.as_os_str().is_empty() {
            PathBuf::from(p)
        } else {
            config_dir.join(p)
        }
    };

    let mut cis: Vec<Ci> = Vec::new();
    for c in &args.ci {
        cis.push(parse_enum("ci", c)?);
    }
    if cis.is_empty() {
        cis = config.ci.iter().map(|c| c.0).collect();
    }
    if cis.is_empty() {
        cis = app::detect_ci(&root);
    }
    if cis.is_empty() {
        return Err(InputError("error: no CI system: pass --ci github|gitlab|drone|woodpecker or set `ci:` in gen-pipeline.yml\n".into()).into());
    }
    let outputs: Vec<(Ci, Option<PathBuf>)> = match &args.output {
        Some(o) if cis.len() > 1 => {
            return Err(InputError(format!(
                "error: -o {} names one file but {} CI systems are selected\n",
                o.display(),
                cis.len()
            ))
            .into())
        }
        Some(o) if o.as_os_str() == "-" => vec![(cis[0], None)],
        Some(o) => vec![(cis[0], Some(o.clone()))],
        // No -o: a config names the outputs (relative to it); else one CI goes to stdout.
        None if args.config.is_some() || Path::new(config::FILE_NAME).is_file() => cis
            .iter()
            .map(|&c| {
                (
                    c,
                    Some(from_config(
                        &app::output_path(&config, c).display().to_string(),
                    )),
                )
            })
            .collect(),
        None if cis.len() == 1 => vec![(cis[0], None)],
        None => cis
            .iter()
            .map(|&c| (c, Some(PathBuf::from(c.default_path()))))
            .collect(),
    };
    // The header's command must not depend on how or from where this run was invoked, or
    // `check` would report drift for nothing: name the config relative to the repository root.
    let command = match &config_path {
        Some(p) => {
            let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            let root = std::fs::canonicalize(&root).unwrap_or_else(|_| root.clone());
            match abs.strip_prefix(&root).map(|r| r.display().to_string()) {
                Ok(r) if r == config::FILE_NAME => "gen-pipeline".to_string(),
                Ok(r) => format!("gen-pipeline --config {r}"),
                Err(_) => format!("gen-pipeline --config {}", p.display()),
            }
        }
        None => format!(
            "gen-pipeline --ci {{ci}} --dockerfile {}",
            the_plan.dockerfile
        ),
    };
    let ropts = render::RenderOptions {
        templates_dir: args
            .templates
            .clone()
            .or_else(|| config.templates.as_ref().map(|t| from_config(t))),
        daemon: match &args.daemon {
            Some(v) => parse_enum("daemon", v)?,
            None => config.daemon.map(|d| d.0).unwrap_or_default(),
        },
        command,
    };
    let rendered = app::render_all(&the_plan, &cis, &ropts).map_err(app_error)?;
    Ok(Resolved {
        cis: outputs,
        rendered,
    })
}

fn app_error(e: app::AppError) -> anyhow::Error {
    match e {
        app::AppError::Located { rendered } => InputError(rendered).into(),
        app::AppError::Plan(p) => InputError(format!("error: {p}\n")).into(),
        app::AppError::Usage(u) => InputError(format!("error: {u}\n")).into(),
        other => anyhow::Error::new(other),
    }
}

fn read_config(path: &Path) -> anyhow::Result<config::Config> {
    let source = read_source(path)?;
    config::parse(&source).map_err(|e| {
        InputError(e.diag.render("error", &path.display().to_string(), &source)).into()
    })
}

fn parse_secret(s: &str) -> anyhow::Result<plan::Secret> {
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
        (Some(id), Some(env)) => Ok(plan::Secret { id, env }),
        (Some(id), None) => Ok(plan::Secret {
            env: id.to_uppercase(),
            id,
        }),
        _ => Err(InputError(format!("error: --secret `{s}`: expected id=ID,env=VAR\n")).into()),
    }
}

fn cmd_generate(args: &GenArgs, check: bool) -> anyhow::Result<ExitCode> {
    let resolved = resolve(args)?;
    if check {
        return check_outputs(&resolved);
    }
    for ((ci, path), (_, text)) in resolved.cis.iter().zip(&resolved.rendered) {
        match path {
            None => {
                use std::io::Write as _;
                std::io::stdout()
                    .lock()
                    .write_all(text.as_bytes())
                    .context("writing output")?;
            }
            Some(p) => {
                render::write_atomic(p, text)
                    .with_context(|| format!("writing {}", p.display()))?;
                eprintln!("wrote {} ({})", p.display(), ci.name());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `check`: the verdict first (each file's state and the command that regenerates, on stderr),
/// then the diffs (stdout), so a log that is cut short still says what to do.
fn check_outputs(resolved: &Resolved) -> anyhow::Result<ExitCode> {
    let mut diffs = Vec::new();
    for ((ci, path), (_, text)) in resolved.cis.iter().zip(&resolved.rendered) {
        let p = path
            .clone()
            .unwrap_or_else(|| PathBuf::from(ci.default_path()));
        match app::drift(&p, text) {
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
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    for d in diffs {
        out.write_all(d.as_bytes()).context("writing the diff")?;
    }
    out.flush().context("writing the diff")?;
    Ok(ExitCode::from(1))
}

fn cmd_init(path: &Path, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        return Err(InputError(format!(
            "error: {} exists (use --force to overwrite)\n",
            path.display()
        ))
        .into());
    }
    let dockerfile = PathBuf::from("Dockerfile");
    let mut detected = config::Detected {
        dockerfile: "Dockerfile".into(),
        ..Default::default()
    };
    if let Ok(source) = std::fs::read_to_string(&dockerfile) {
        if let Ok(loaded) = app::load("Dockerfile", &source, &graph::GraphOptions::default()) {
            detected.stages = loaded
                .graph
                .stages
                .iter()
                .filter_map(|s| s.name.clone())
                .collect();
        }
    }
    if let Ok(ctx) = git::discover(
        Path::new("."),
        &git::process_env,
        &git::Overrides::default(),
    ) {
        detected.image = git::default_image(&ctx, &git::process_env).ok();
        detected.default_branch = Some(ctx.default_branch.clone());
        if let Some(root) = &ctx.repo_root {
            detected.ci = app::detect_ci(root);
        }
    }
    render::write_atomic(path, &config::template(&detected))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
