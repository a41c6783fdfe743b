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
