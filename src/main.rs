//! The `gen-pipeline` binary: argument parsing, file I/O and error rendering.
//! Each subcommand is one small handler function; the library does the work.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};

use gen_pipeline::diag::Diagnostic;
use gen_pipeline::{dockerfile, format, graph};

#[derive(Debug, Parser)]
#[command(name = "gen-pipeline", version, about = "Per-stage CI pipelines from a multi-stage Dockerfile")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the stage graph of a Dockerfile (stages, bases, dependencies, external images).
    Plan(PlanArgs),
}

/// Options every command that reads a Dockerfile shares.
#[derive(Debug, Clone, Args)]
struct DockerfileArgs {
    /// The Dockerfile to read.
    #[arg(long, short = 'f', value_name = "PATH", default_value = "Dockerfile")]
    dockerfile: PathBuf,
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
        Some(Command::Plan(args)) => cmd_plan(&args),
        None => {
            use clap::CommandFactory as _;
            let _ = Cli::command().print_help();
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
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

/// A Dockerfile read, parsed and turned into a graph, warnings printed.
struct Loaded {
    graph: graph::StageGraph,
    parse_time: std::time::Duration,
    graph_time: std::time::Duration,
}

fn read_source(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path)
        .map_err(|e| InputError(format!("error: cannot read {}: {e}\n", path.display())))?;
    String::from_utf8(bytes).map_err(|e| InputError(format!("error: {} is not UTF-8: {e}\n", path.display())).into())
}

fn build_args(list: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in list {
        match item.split_once('=') {
            Some(("", _)) => return Err(InputError(format!("error: --build-arg `{item}`: empty name\n")).into()),
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

fn load(input: &DockerfileArgs) -> anyhow::Result<Loaded> {
    let path = &input.dockerfile;
    let file = path.display().to_string();
    let source = read_source(path)?;
    let opts = graph::GraphOptions {
        build_args: build_args(&input.build_args)?,
        platform: input.platform.clone(),
        ..graph::GraphOptions::default()
    };
    let t0 = Instant::now();
    let df = dockerfile::parse(&source).map_err(|e| InputError(e.diag.render("error", &file, &source)))?;
    let t1 = Instant::now();
    let g = graph::build_with_source(&df, &source, &opts).map_err(|e| InputError(e.diag.render("error", &file, &source)))?;
    let t2 = Instant::now();
    print_warnings(df.warnings.iter().chain(g.warnings.iter()), &file, &source);
    Ok(Loaded { graph: g, parse_time: t1 - t0, graph_time: t2 - t1 })
}

fn print_warnings<'a>(warnings: impl Iterator<Item = &'a Diagnostic>, file: &str, source: &str) {
    let mut err = String::new();
    for w in warnings {
        err.push_str(&w.render("warning", file, source));
    }
    eprint!("{err}");
}

fn cmd_plan(args: &PlanArgs) -> anyhow::Result<()> {
    let loaded = load(&args.input)?;
    let g = &loaded.graph;
    let out = match args.format {
        PlanFormat::Text => format::text(g),
        PlanFormat::Json => format::json(g),
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
