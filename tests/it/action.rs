//! The GitHub Action (`action.yml`): the real checkers on its metadata and scripts, and act running
//! `.github/workflows/self-test.yml` (`uses: ./`) on a copy of this repository, in sync and stale.
//!
//! act gets the binary under test through `GEN_PIPELINE_BIN` (the action's documented shortcut for
//! a prebuilt binary) and a no-op local stand-in for `actions/cache` (act cannot clone it offline).

use crate::tools::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn action() -> PathBuf {
    repo_root().join("action.yml")
}

fn self_test() -> PathBuf {
    repo_root().join(".github/workflows/self-test.yml")
}

#[test]
fn action_metadata_passes_the_checkers() {
    check_jsonschema("vendor.github-actions", action(), false);
    zizmor_offline(&[action()]);
    yamllint(action());
    // actionlint reads action.yml through the workflow's `uses: ./` (inputs, outputs, required).
    check_all("github", self_test());
}

#[test]
fn actionlint_validates_the_workflow_against_action_yml() {
    // Proof that actionlint really reads our action.yml through `uses: ./`: the self-test workflow
    // passes, and the same workflow with an input the action does not declare is rejected.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(action(), tmp.path().join("action.yml")).unwrap();
    let wf_dir = tmp.path().join(".github/workflows");
    std::fs::create_dir_all(&wf_dir).unwrap();
    // actionlint resolves `./` from the repository root, which it finds by `.git`.
    git(tmp.path(), &["init", "-q"]);
    let lint = || {
        Command::new("actionlint")
            .arg("-no-color")
            .arg(".github/workflows/self-test.yml")
            .current_dir(tmp.path())
            .output()
            .unwrap()
    };
    std::fs::copy(self_test(), wf_dir.join("self-test.yml")).unwrap();
    let good = lint();
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stdout)
    );
    let wf = std::fs::read_to_string(self_test())
        .unwrap()
        .replace("command: check", "command: check\n          comand: check");
    std::fs::write(wf_dir.join("self-test.yml"), wf).unwrap();
    let bad = lint();
    let text = String::from_utf8_lossy(&bad.stdout);
    assert!(
        !bad.status.success()
            && text.contains(r#"input "comand" is not defined in action "gen-pipeline""#),
        "{text}"
    );
}

#[test]
fn action_scripts_pass_shellcheck_and_never_expand_inputs() {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(action()).unwrap()).unwrap();
    assert_eq!(doc["runs"]["using"].as_str(), Some("composite"));
    let steps = doc["runs"]["steps"].as_sequence().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut scripts = 0;
    for (i, step) in steps.iter().enumerate() {
        if let Some(uses) = step["uses"].as_str() {
            let (_, pin) = uses
                .split_once('@')
                .unwrap_or_else(|| panic!("unpinned {uses}"));
            assert!(
                pin.len() == 40 && pin.chars().all(|c| c.is_ascii_hexdigit()),
                "{uses} is not pinned to a full SHA"
            );
        }
        let Some(run) = step["run"].as_str() else {
            continue;
        };
        scripts += 1;
        assert_eq!(step["shell"].as_str(), Some("bash"), "step {i}");
        assert!(
            !run.contains("${{"),
            "step {i} expands an expression inside run:\n{run}"
        );
        let f = tmp.path().join(format!("step-{i}.sh"));
        std::fs::write(&f, format!("#!/usr/bin/env bash\n{run}")).unwrap();
        let (desc, out) = run_tool(Command::new("shellcheck").args(["-s", "bash"]).arg(&f));
        assert!(
            out.status.success(),
            "{desc}\n{}\n{run}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    assert!(
        scripts >= 3,
        "expected the key, build, info and run scripts"
    );
    // Every input the scripts need reaches them through env:.
    let text = std::fs::read_to_string(action()).unwrap();
    for input in ["command", "config", "dockerfile", "ci", "image"] {
        assert!(
            text.contains(&format!("${{{{ inputs.{input} }}}}")),
            "input {input} unused"
        );
    }
}

/// The repository's tracked files on `branch` with a GitHub-shaped remote, so act sees a normal checkout.
fn repo_copy(branch: &str) -> tempfile::TempDir {
    let tmp = tracked_copy("gp-action-", branch);
    git(
        tmp.path(),
        &[
            "remote",
            "set-url",
            "origin",
            "https://github.com/gen-pipeline/gen-pipeline.git",
        ],
    );
    tmp
}

/// Runs the self-test workflow with act; returns (success, log).
fn act_self_test(checkout: &Path) -> (bool, String) {
    act_workflow(checkout, ".github/workflows/self-test.yml")
}

/// Runs one workflow of `checkout` with act; returns (success, log).
fn act_workflow(checkout: &Path, workflow: &str) -> (bool, String) {
    let stand_in = tempfile::tempdir().unwrap();
    std::fs::write(
        stand_in.path().join("action.yml"),
        "name: cache stand-in\ndescription: no cache server offline\ninputs:\n  path:\n    description: p\n  key:\n    description: k\n  restore-keys:\n    description: r\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo cache stand-in\n",
    )
    .unwrap();
    let action_text = std::fs::read_to_string(checkout.join("action.yml")).unwrap();
    let cache_pin = action_text
        .lines()
        .find_map(|l| l.trim().strip_prefix("uses: actions/cache@"))
        .and_then(|r| r.split_whitespace().next())
        .expect("action.yml uses actions/cache")
        .to_string();
    let (desc, out) = run_tool(
        Command::new("act")
            .current_dir(checkout)
            .args(["push", "-W", workflow])
            .args([
                "-P",
                "ubuntu-latest=-self-hosted",
                "--no-cache-server",
                "--defaultbranch",
                "main",
            ])
            .arg("--local-repository")
            .arg(format!(
                "actions/cache@{cache_pin}={}",
                stand_in.path().display()
            ))
            .arg("--env")
            .arg(format!(
                "GEN_PIPELINE_BIN={}",
                env!("CARGO_BIN_EXE_gen-pipeline")
            )),
    );
    let log = format!(
        "{desc}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), log)
}

#[test]
fn act_runs_the_action_in_sync_and_fails_when_stale() {
    // In sync: the committed example pipelines match; outputs carry the slug and the plan.
    let copy = repo_copy("feature/JIRA-12_x");
    let (ok, log) = act_self_test(copy.path());
    assert!(ok && log.contains("Job succeeded"), "{log}");
    assert!(
        log.contains("examples/go-distroless/pipelines/github-images.yml: in sync"),
        "{log}"
    );
    assert!(log.contains("SELF-TEST slug=feature-jira-12-x"), "{log}");
    // The plan output is exactly what the binary plans for that config (the self-test's `config`).
    let plan = Command::new(env!("CARGO_BIN_EXE_gen-pipeline"))
        .args([
            "plan",
            "--format",
            "json",
            "--config",
            "examples/go-distroless/gen-pipeline.yml",
        ])
        .current_dir(copy.path())
        .output()
        .unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let jobs: Vec<&str> = plan["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert!(jobs.len() >= 2, "{plan}");
    assert!(
        log.contains(&format!("SELF-TEST jobs={}", jobs.join(","))),
        "jobs {jobs:?} not in\n{log}"
    );

    // Stale: the example's Dockerfile gains a stage; the committed pipelines no longer match.
    let df = copy.path().join("examples/go-distroless/Dockerfile");
    let mut text = std::fs::read_to_string(&df).unwrap();
    text.push_str("\nFROM alpine:3.20 AS extra\nRUN echo extra > /extra\n");
    std::fs::write(&df, text).unwrap();
    git(copy.path(), &["commit", "-qam", "new stage"]);
    let (ok, log) = act_self_test(copy.path());
    assert!(!ok, "act passed although the pipeline is stale:\n{log}");
    assert!(
        log.contains("out of date") && log.contains("(generated)"),
        "{log}"
    );
    assert!(log.contains("regenerate with: gen-pipeline"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("| +") && l.contains("registry.example.com/acme/go-server/extra")),
        "diff lacks the new stage:\n{log}"
    );
    assert!(
        !log.contains("SELF-TEST slug="),
        "the step after the failed check ran:\n{log}"
    );

    // `command: generate` through the action rewrites the pipelines; a `check` after it passes.
    let regen = std::fs::read_to_string(copy.path().join(".github/workflows/self-test.yml"))
        .unwrap()
        .replace("name: self-test", "name: regen")
        .replace("command: check", "command: generate")
        .replace("      - name: action outputs", "      - uses: ./\n        with:\n          config: examples/go-distroless/gen-pipeline.yml\n      - name: action outputs");
    std::fs::write(copy.path().join(".github/workflows/regen.yml"), &regen).unwrap();
    let (ok, log) = act_workflow(copy.path(), ".github/workflows/regen.yml");
    assert!(
        ok && log.contains("wrote examples/go-distroless/pipelines/github-images.yml (github)"),
        "{log}"
    );
    assert!(
        log.contains("+ gen-pipeline check --config examples/go-distroless/gen-pipeline.yml"),
        "{log}"
    );
    assert!(
        log.contains("examples/go-distroless/pipelines/gitlab-ci.yml: in sync"),
        "{log}"
    );
    // (act's host executor runs in its own copy of the workspace: the rewritten files stay there.)
}
