//! `gen-pipeline plan` as a process: golden outputs for the examples, exit codes, rendered errors.
//! Regenerate the goldens with `GEN_PIPELINE_BLESS=1 cargo test --test it plan_cmd::`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn plan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gen-pipeline"))
        .arg("plan")
        // The examples' Dockerfiles, not the project's own config (which `plan` reads like
        // `generate` does).
        .arg("--no-config")
        .args(args)
        .current_dir(root())
        .output()
        .expect("run gen-pipeline")
}

/// stderr without the `note:` lines the git context adds (they depend on the checkout).
fn diagnostics(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| !l.starts_with("note:"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The graph part of the JSON document (`stages`, `images`); `ref` and `jobs` depend on git state
/// and are covered by the planner's tests.
fn graph_part(json: &[u8]) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(json).expect("JSON output");
    serde_json::json!({ "stages": v["stages"], "images": v["images"] })
}

fn golden(example: &str, format: &str) {
    let dockerfile = format!("examples/{example}/Dockerfile");
    let out = plan(&["--dockerfile", &dockerfile, "--format", format]);
    let stderr = diagnostics(&out.stderr);
    assert!(out.status.success(), "{example} {format}: {stderr}");
    assert!(
        stderr.is_empty(),
        "{example}: unexpected warnings: {stderr}"
    );
    let actual = if format == "json" {
        let mut s = serde_json::to_string_pretty(&graph_part(&out.stdout)).unwrap();
        s.push('\n');
        s
    } else {
        String::from_utf8(out.stdout).expect("utf-8 output")
    };
    let path = root()
        .join("tests/golden/plan")
        .join(format!("{example}.{format}"));
    if std::env::var_os("GEN_PIPELINE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with GEN_PIPELINE_BLESS=1 to create it)",
            path.display()
        )
    });
    if expected != actual {
        let diff = similar::TextDiff::from_lines(&expected, &actual);
        panic!(
            "{} differs (GEN_PIPELINE_BLESS=1 to accept):\n{}",
            path.display(),
            diff.unified_diff()
        );
    }
}

const EXAMPLES: &[&str] = &[
    "python-two-apps",
    "go-distroless",
    "node-monorepo",
    "rust-workspace",
];

#[test]
fn golden_json_mermaid_dot_for_every_example() {
    for ex in EXAMPLES {
        for fmt in ["json", "mermaid", "dot"] {
            golden(ex, fmt);
        }
    }
}

#[test]
fn every_example_copies_only_files_that_exist() {
    // The examples are meant to build: every plain `COPY <src>... <dest>` source is in the folder.
    for ex in EXAMPLES {
        let dir = root().join("examples").join(ex);
        let text = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.first() != Some(&"COPY") || words.iter().any(|w| w.starts_with("--from")) {
                continue;
            }
            for src in &words[1..words.len() - 1] {
                assert!(
                    Path::new(&dir).join(src).exists(),
                    "{ex}: COPY source {src} is missing"
                );
            }
        }
    }
}

#[test]
fn json_shape_for_the_python_example() {
    let out = plan(&[
        "--dockerfile",
        "examples/python-two-apps/Dockerfile",
        "--format",
        "json",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        &keys[..2],
        ["stages", "images"],
        "the graph keys come first, in this order"
    );
    let stage = &v["stages"][2];
    let keys: Vec<&str> = stage
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["index", "name", "base", "depends_on", "line"]);
    assert_eq!(stage["name"], "app1");
    assert_eq!(stage["depends_on"], serde_json::json!([0, 1]));
    assert_eq!(v["images"], serde_json::json!(["python:3.12-slim"]));
}

#[test]
fn build_arg_and_platform_change_the_bases() {
    let out = plan(&[
        "--dockerfile",
        "examples/rust-workspace/Dockerfile",
        "--build-arg",
        "RUST_VERSION=1.80",
        "--platform",
        "linux/arm64",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["stages"][0]["base"], "rust:1.80-slim-bookworm");
}

fn write_temp(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn bad_from_exits_2_with_file_line_col_and_caret() {
    let (_dir, path) = write_temp("Dockerfile", "FROM alpine AS base\nRUN true\n\nFROM alpine\nCOPY --from=build /x /y\nFROM alpine AS build\n");
    let file = path.to_str().unwrap();
    let out = plan(&["--dockerfile", file, "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr,
        format!(
            "{file}:5:13: error: cannot copy from stage \"build\", it needs to be defined before current stage \"stage-1\"\n  |\n5 | COPY --from=build /x /y\n  |             ^\n  = help: stage `build` is defined on line 6; move it above line 4\n"
        )
    );
}

#[test]
fn variable_in_from_exits_2() {
    let (_dir, path) = write_temp(
        "Dockerfile",
        "FROM alpine AS base\nFROM alpine\n  COPY --from=$SRC /x /y\n",
    );
    let file = path.to_str().unwrap();
    let out = plan(&["--dockerfile", file]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with(&format!(
            "{file}:3:15: error: variable expansion is not supported for --from"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("3 |   COPY --from=$SRC /x /y\n  |               ^\n"),
        "{stderr}"
    );
}

#[test]
fn typo_in_from_is_a_warning_not_an_error() {
    let (_dir, path) = write_temp(
        "Dockerfile",
        "FROM alpine AS base\nFROM alpine\nCOPY --from=bse /x /y\n",
    );
    let file = path.to_str().unwrap();
    let out = plan(&["--dockerfile", file, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = diagnostics(&out.stderr);
    assert_eq!(
        stderr,
        format!("{file}:3:13: warning: `bse` is not a stage name; BuildKit will use the image `bse`\n  |\n3 | COPY --from=bse /x /y\n  |             ^\n  = help: did you mean `base`?\n")
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["images"], serde_json::json!(["alpine", "bse"]));
    assert_eq!(v["stages"][1]["depends_on"], serde_json::json!([]));
}

#[test]
fn usage_errors_and_missing_files_exit_2() {
    assert_eq!(plan(&["--format", "yaml"]).status.code(), Some(2));
    assert_eq!(plan(&["--bogus"]).status.code(), Some(2));
    let out = plan(&["--dockerfile", "/nonexistent/Dockerfile"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .starts_with("error: cannot read /nonexistent/Dockerfile"));
    let (_dir, path) = write_temp("Dockerfile", "RUN echo hi\nFROM alpine\n");
    let out = plan(&["--dockerfile", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(":1:1: error: `RUN` before the first FROM")
    );
}

/// Issue 9's Windows refusal applies only to a stage a job builds: a Windows stage the ARG values
/// do not select plans (exit 0) with a note, and becomes the refusal at its FROM (exit 2, caret)
/// as soon as a job would build it: `--target` on it, or a stage that builds on it. A
/// `--platform=windows/…` stage is the same. (Before, every Windows FROM was refused, built or not.)
#[test]
fn windows_stage_is_refused_only_when_a_job_builds_it() {
    let corpus = "tests/fixtures/plans/windows-base-linux-only.Dockerfile";
    let out = plan(&["-f", corpus, "--image", "registry.example.com/acme/app"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("note: Windows stages no job builds (the jobs run on Linux builders; `--target` on one is refused): base-windows (line 5: `mcr.microsoft.com/windows/servercore:ltsc2022` is a Windows base image)"),
        "{stdout}"
    );
    assert!(!stdout.contains("  base-windows  (stage"), "{stdout}");
    let refused = |args: &[&str], at: &str| {
        let out = plan(args);
        let stderr = diagnostics(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with(at), "{args:?}: {stderr}");
        assert!(
            stderr.contains("Windows containers cannot be built by the generated jobs"),
            "{stderr}"
        );
        assert!(
            stderr.contains("  |") && stderr.contains("^\n"),
            "a caret: {stderr}"
        );
    };
    refused(
        &["-f", corpus, "--target", "base-windows"],
        &format!("{corpus}:5:6: error: `mcr.microsoft.com/windows/servercore:ltsc2022` is a Windows base image"),
    );
    // Selected by a build arg: the final stage builds on it.
    refused(
        &["-f", corpus, "--build-arg", "TARGETOS=windows"],
        &format!("{corpus}:5:6: error:"),
    );
    let dir = tempfile::tempdir().unwrap();
    let df = dir.path().join("Dockerfile");
    std::fs::write(
        &df,
        "FROM alpine AS app\nFROM --platform=windows/amd64 alpine AS win\nFROM app\n",
    )
    .unwrap();
    let df = df.display().to_string();
    let out = plan(&["-f", &df]);
    assert_eq!(out.status.code(), Some(0), "{}", diagnostics(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("win (line 2: `windows/amd64` is a Windows platform)"));
    refused(
        &["-f", &df, "--target", "win"],
        &format!("{df}:2:17: error: `windows/amd64` is a Windows platform"),
    );
}

/// Issue 10's corpus: every `tests/fixtures/plans/*.Dockerfile` (OS/arch/flavour alternatives,
/// copy stages, bare final FROM, duplicate names, checks, a Windows base, …) planned with
/// `plan --format text` (the flags on its `# plan-args:` line) must print exactly its reviewed
/// `*.plan.txt`: the stage roles and reasons, the jobs, repositories and notes, and any warnings.
/// Regenerate with `GEN_PIPELINE_BLESS=1 cargo test --test it plan_cmd::` and review the diff.
#[test]
fn corpus_plans_match_their_goldens() {
    let dir = root().join("tests/fixtures/plans");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "the corpus has {} files", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let extra: Vec<&str> = text
            .lines()
            .find_map(|l| l.strip_prefix("# plan-args:"))
            .unwrap_or_else(|| panic!("{}: no `# plan-args:` line", file.display()))
            .split_whitespace()
            .collect();
        let rel = file.strip_prefix(root()).unwrap().display().to_string();
        let mut args = vec![
            "--dockerfile",
            rel.as_str(),
            "--image",
            "registry.example.com/acme/app",
            "--format",
            "text",
            // A fixed ref: the jobs' tags and cache refs in the text depend on it.
            "--branch",
            "main",
            "--sha",
            "0123456789abcdef",
            "--default-branch",
            "main",
        ];
        args.extend(extra);
        let out = plan(&args);
        let stderr = diagnostics(&out.stderr);
        // `# plan-exit: 2`: a file the planner refuses (e.g. a Windows base: the generated jobs
        // run on Linux builders); its golden is the diagnostic.
        let want_exit: i32 = text
            .lines()
            .find_map(|l| l.strip_prefix("# plan-exit:"))
            .map_or(0, |c| c.trim().parse().unwrap());
        assert_eq!(out.status.code(), Some(want_exit), "{rel}: {stderr}");
        let mut actual = String::from_utf8(out.stdout).unwrap();
        if !stderr.is_empty() {
            actual.push_str("\n---- stderr ----\n");
            actual.push_str(&stderr);
        }
        let golden = file.with_extension("plan.txt");
        if std::env::var_os("GEN_PIPELINE_BLESS").is_some() {
            std::fs::write(&golden, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if expected != actual {
            let diff = similar::TextDiff::from_lines(&expected, &actual);
            failures.push(format!(
                "{} differs (GEN_PIPELINE_BLESS=1 to accept):\n{}",
                golden.display(),
                diff.unified_diff()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Issue 10's properties, on generated Dockerfiles made of the corpus's shapes (ARG-selected
/// families, duplicate names, unnamed stages, copy-only and alias stages, checks), planned on
/// one to three platforms with the default targets.
mod properties {
    use gen_pipeline::app;
    use gen_pipeline::graph::GraphOptions;
    use gen_pipeline::plan::{self, PlanOptions};
    use gen_pipeline::refs::{CachePolicy, RefInfo, RefKind};
    use gen_pipeline::select::{self, PlanInput};
    use proptest::prelude::*;

    const NAMES: &[&str] = &[
        "base",
        "build",
        "tool",
        "app",
        "test",
        "bin-linux",
        "bin-windows",
        "bin-darwin",
        "prod_img",
        "dev_img",
        "lint",
        "",
    ];

    fn stage() -> impl Strategy<Value = (usize, usize, usize, usize)> {
        // (name, base kind, body kind, pick)
        (0..NAMES.len(), 0..5usize, 0..3usize, 0..16usize)
    }

    fn dockerfile(stages: &[(usize, usize, usize, usize)]) -> String {
        let mut out = String::from("ARG FLAVOR=prod\n");
        let mut defined: Vec<&str> = Vec::new();
        for &(name, base, body, pick) in stages {
            let from = match base {
                0 | 1 if !defined.is_empty() => defined[pick % defined.len()].to_string(),
                2 => "bin-${TARGETOS}".to_string(),
                3 => "${FLAVOR}_img".to_string(),
                _ => "alpine:3.20".to_string(),
            };
            let n = NAMES[name];
            if n.is_empty() {
                out.push_str(&format!("FROM {from}\n"));
            } else {
                out.push_str(&format!("FROM {from} AS {n}\n"));
            }
            match body {
                0 => {}
                1 => out.push_str("RUN echo hi\n"),
                _ => match defined.get(pick % defined.len().max(1)) {
                    Some(d) => out.push_str(&format!("COPY --from={d} / /x\n")),
                    None => out.push_str("RUN echo hi\n"),
                },
            }
            if !n.is_empty() {
                defined.push(n);
            }
        }
        out
    }

    fn options(platforms: Vec<String>) -> PlanOptions {
        PlanOptions {
            image: "registry.example.com/acme/app".into(),
            dockerfile: "Dockerfile".into(),
            context: ".".into(),
            targets: Vec::new(),
            images: Default::default(),
            checks: None,
            split: plan::Split::Shared,
            builder: plan::Builder::Buildx,
            build_args: Default::default(),
            secrets: Vec::new(),
            platforms,
            extra_tags: Vec::new(),
            cache_policy: CachePolicy::default(),
            buildkit_syntax: None,
            provenance: false,
            skip: true,
            buildkit: Default::default(),
            runners: Default::default(),
            git_ref: RefInfo::new(
                RefKind::Branch,
                "main",
                "0123456789abcdef0123456789abcdef01234567",
                "main",
                None,
            ),
            gc: None,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn default_plans_keep_the_rules(
            stages in proptest::collection::vec(stage(), 1..9),
            plats in proptest::sample::subsequence(vec!["linux/amd64", "linux/arm64", "windows/amd64", "darwin/arm64"], 1..4),
        ) {
            let src = dockerfile(&stages);
            let platforms: Vec<String> = plats.iter().map(|p| p.to_string()).collect();
            let Ok(loaded) = app::load_for_plan("Dockerfile", &src, &GraphOptions::default(), &platforms, &[]) else {
                return Ok(()); // an invalid file (e.g. a FROM that selects nothing) is not planned
            };
            let opts = options(platforms.clone());
            let Ok(p) = app::plan(&loaded, &opts) else { return Ok(()) };
            let mut graphs = vec![(platforms[0].clone(), &loaded.graph)];
            graphs.extend(loaded.other_platforms.iter().map(|(p, g)| (p.clone(), g)));
            let facts = select::stage_facts(&loaded.dockerfile);
            let input = PlanInput { graphs, facts: &facts, dockerfile: Some(&loaded.dockerfile) };
            let alts = select::alternatives(&input, &opts.build_args);
            let g = &loaded.graph;
            for j in &p.jobs {
                // No default target is an alternative the ARG values select on no platform.
                if j.is_target {
                    prop_assert!(
                        alts[j.stage_index].as_ref().is_none_or(|a| a.selected),
                        "target {} is an unselected alternative in\n{src}", j.label
                    );
                }
                // No job builds an earlier definition of a repeated name.
                prop_assert!(
                    !g.stages[j.stage_index + 1..].iter().any(|t| t.name.is_some() && t.name == j.stage),
                    "job {} is an earlier duplicate in\n{src}", j.id
                );
                // No published repository carries a stage index.
                if !j.check {
                    let tail = j.repository.trim_start_matches("registry.example.com/acme/app");
                    prop_assert!(
                        !tail.split('/').any(|c| c.strip_prefix("stage-").is_some_and(|d| d.chars().all(|c| c.is_ascii_digit()))),
                        "repository {} carries a stage index in\n{src}", j.repository
                    );
                }
            }
        }
    }
}

#[test]
fn plan_text_and_json_show_the_same_build_contexts_and_tags() {
    let args = [
        "--dockerfile",
        "examples/python-two-apps/Dockerfile",
        "--image",
        "reg.example/p",
        "--branch",
        "main",
        "--default-branch",
        "main",
        "--sha",
        "abcdef1",
    ];
    let context = "base=docker-image://reg.example/p/stages/base@<digest from base>";
    let tags = [
        "reg.example/p/app1:main",
        "reg.example/p/app1:sha-abcdef1",
        "reg.example/p/app1:latest",
    ];
    let text = plan(&args);
    assert!(text.status.success(), "{}", diagnostics(&text.stderr));
    let text = String::from_utf8(text.stdout).unwrap();
    let app1 = &text[text.find("  app1  (stage app1)").expect("app1 job")..];
    assert!(
        app1.contains(&format!(
            "    context:    {context}\n    tags:       {}\n",
            tags.join(", ")
        )),
        "{text}"
    );
    let json = plan(&[&args[..], &["--format", "json"]].concat());
    assert!(json.status.success(), "{}", diagnostics(&json.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let job = doc["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == "app1")
        .expect("app1 job");
    assert_eq!(job["build_contexts"], serde_json::json!([context]));
    assert_eq!(job["tags"], serde_json::json!(tags));
}
