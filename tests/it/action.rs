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

/// Runs one workflow of `checkout` with act, the binary under test given as `GEN_PIPELINE_BIN`;
/// returns (success, log).
fn act_workflow(checkout: &Path, workflow: &str) -> (bool, String) {
    let bin = format!("GEN_PIPELINE_BIN={}", env!("CARGO_BIN_EXE_gen-pipeline"));
    act_workflow_env(checkout, workflow, &[bin.as_str()])
}

/// Runs one workflow of `checkout` with act and `--env` for each `K=V` of `env`; returns
/// (success, log).
fn act_workflow_env(checkout: &Path, workflow: &str, env: &[&str]) -> (bool, String) {
    let stand_in = tempfile::tempdir().unwrap();
    std::fs::write(
        stand_in.path().join("action.yml"),
        "name: cache stand-in\ndescription: no cache server offline\ninputs:\n  path:\n    description: p\n  key:\n    description: k\n  restore-keys:\n    description: r\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo cache stand-in\n",
    )
    .unwrap();
    let action_text = std::fs::read_to_string(repo_root().join("action.yml")).unwrap();
    let cache_pin = action_text
        .lines()
        .find_map(|l| l.trim().strip_prefix("uses: actions/cache@"))
        .and_then(|r| r.split_whitespace().next())
        .expect("action.yml uses actions/cache")
        .to_string();
    let mut cmd = Command::new("act");
    cmd.current_dir(checkout)
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
        .env_remove("GEN_PIPELINE_BIN");
    for e in env {
        cmd.arg("--env").arg(e);
    }
    let (desc, out) = run_tool(&mut cmd);
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
    // Above the final stage, so the final stage stays the image and `extra` is a new target.
    let at = text.rfind("\nFROM ").expect("a final FROM") + 1;
    text.insert_str(at, "FROM alpine:3.20 AS extra\nRUN echo extra > /extra\n\n");
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

/// A static file server on 127.0.0.1 (a free port) for a local "release": GET only, 404 for
/// anything missing, one request per connection. It records every path asked for, and stops
/// (joins its thread) when dropped.
struct ReleaseServer {
    addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ReleaseServer {
    fn start(root: &Path) -> Self {
        use std::io::{BufRead, BufReader, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (root, stop2, requests2) = (root.to_path_buf(), stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(10)));
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                // Skip the headers.
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                requests2.lock().unwrap().push(path.clone());
                let file = root.join(path.trim_start_matches('/'));
                let body = if path.contains("..") {
                    None
                } else {
                    std::fs::read(&file).ok()
                };
                let (status, body) = match body {
                    Some(b) => ("200 OK", b),
                    None => ("404 Not Found", b"not found\n".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(&body);
            }
        });
        ReleaseServer {
            addr,
            stop,
            requests,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for ReleaseServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn crate_version() -> String {
    crate::install::manifest_field("version")
}

fn sha256_hex(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)[..64].to_string()
}

/// A local release of the binary under test, laid out like the release workflow's assets:
/// `v<version>/gen-pipeline-x86_64-unknown-linux-musl`, `SHA256SUMS` and `source-digest.txt`
/// (the digest of `checkout`'s sources, by the same script the Action runs).
fn local_release(checkout: &Path) -> tempfile::TempDir {
    let root = tempfile::Builder::new()
        .prefix("gp-release-")
        .tempdir()
        .unwrap();
    let dir = root.path().join(format!("v{}", crate_version()));
    std::fs::create_dir_all(&dir).unwrap();
    let asset = "gen-pipeline-x86_64-unknown-linux-musl";
    std::fs::copy(env!("CARGO_BIN_EXE_gen-pipeline"), dir.join(asset)).unwrap();
    let digest = Command::new("bash")
        .arg(checkout.join("scripts/source-digest.sh"))
        .output()
        .unwrap();
    assert!(digest.status.success());
    std::fs::write(dir.join("source-digest.txt"), &digest.stdout).unwrap();
    std::fs::write(
        dir.join("SHA256SUMS"),
        format!("{}  {asset}\n", sha256_hex(&dir.join(asset))),
    )
    .unwrap();
    root
}

/// Points the self-test workflow of `checkout` at a release server.
fn use_release_server(checkout: &Path, url: &str) {
    let wf = checkout.join(".github/workflows/self-test.yml");
    let text = std::fs::read_to_string(&wf).unwrap().replace(
        "          command: check\n",
        &format!("          command: check\n          release-base-url: {url}\n"),
    );
    assert!(text.contains("release-base-url"));
    std::fs::write(wf, text).unwrap();
}

/// A `cargo` stand-in on PATH for act: logs its arguments and "builds" by copying the binary under
/// test to `<--target-dir>/release/gen-pipeline`, so the compile path runs in seconds.
fn fake_cargo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "#!/bin/sh\necho \"FAKE-CARGO $*\"\nwhile [ $# -gt 0 ]; do\n  if [ \"$1\" = --target-dir ]; then mkdir -p \"$2/release\" && cp {} \"$2/release/gen-pipeline\"; fi\n  shift\ndone\n",
        env!("CARGO_BIN_EXE_gen-pipeline")
    );
    let path = dir.path().join("cargo");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn action_downloads_the_release_binary_verifies_its_checksum_and_compiles_only_unreleased_refs() {
    let copy = repo_copy("main");
    let release = local_release(copy.path());
    let server = ReleaseServer::start(release.path());
    use_release_server(copy.path(), &server.url());
    let cargo = fake_cargo();
    let path = format!(
        "PATH={}:{}",
        cargo.path().display(),
        std::env::var("PATH").unwrap()
    );
    let version = crate_version();
    let asset = "gen-pipeline-x86_64-unknown-linux-musl";
    let sums = release.path().join(format!("v{version}/SHA256SUMS"));
    let good_sums = std::fs::read_to_string(&sums).unwrap();
    let hash = &good_sums[..64];

    // 1. A release ref: the binary is downloaded and verified; nothing is compiled.
    let (ok, log) = act_workflow_env(copy.path(), ".github/workflows/self-test.yml", &[&path]);
    assert!(ok && log.contains("Job succeeded"), "{log}");
    assert!(
        log.contains(&format!(
            "gen-pipeline {version}: downloaded {}/v{version}/{asset}, SHA-256 {hash} verified",
            server.url()
        )),
        "{log}"
    );
    assert!(
        !log.contains("FAKE-CARGO") && !log.contains("compiling"),
        "{log}"
    );
    assert!(
        log.contains("examples/go-distroless/pipelines/github-images.yml: in sync"),
        "{log}"
    );
    let asked = server.requests();
    for f in ["source-digest.txt", "SHA256SUMS", asset] {
        assert!(
            asked.contains(&format!("/v{version}/{f}")),
            "{f} not fetched: {asked:?}"
        );
    }

    // 2. A tampered checksum fails the step: no fallback to compiling, gen-pipeline never runs.
    let mut bad = good_sums.clone();
    bad.replace_range(
        0..8,
        if hash.starts_with("00000000") {
            "11111111"
        } else {
            "00000000"
        },
    );
    std::fs::write(&sums, &bad).unwrap();
    let (ok, log) = act_workflow_env(copy.path(), ".github/workflows/self-test.yml", &[&path]);
    assert!(!ok, "a tampered checksum passed:\n{log}");
    assert!(
        log.contains(&format!("checksum mismatch for {asset}")),
        "{log}"
    );
    assert!(
        !log.contains("FAKE-CARGO") && !log.contains("in sync") && !log.contains("SELF-TEST"),
        "{log}"
    );
    std::fs::write(&sums, &good_sums).unwrap();

    // 3. An unreleased ref (sources differ from the release's): the action says so and compiles
    //    with the lockfile (the cargo stand-in records the command).
    std::fs::write(
        release.path().join(format!("v{version}/source-digest.txt")),
        "0000000000000000000000000000000000000000000000000000000000000000\n",
    )
    .unwrap();
    let (ok, log) = act_workflow_env(copy.path(), ".github/workflows/self-test.yml", &[&path]);
    assert!(ok, "{log}");
    assert!(
        log.contains(&format!("this action's ref is not the release v{version}"))
            && log.contains("compiling gen-pipeline"),
        "{log}"
    );
    assert!(
        log.contains("FAKE-CARGO build --release --locked --bin gen-pipeline"),
        "{log}"
    );
    assert!(!log.contains("SHA-256"), "{log}");

    // 4. No release of this version at all (404): compiles too.
    std::fs::remove_dir_all(release.path().join(format!("v{version}"))).unwrap();
    let (ok, log) = act_workflow_env(copy.path(), ".github/workflows/self-test.yml", &[&path]);
    assert!(ok, "{log}");
    assert!(
        log.contains("this action's ref is not a release")
            && log.contains("FAKE-CARGO build --release --locked"),
        "{log}"
    );
}

#[test]
fn action_plan_step_uses_the_config_and_dockerfile_of_check_and_image_applies_to_every_command() {
    // A user's repository whose Dockerfile is not ./Dockerfile: ./gen-pipeline.yml names it.
    let repo = tempfile::Builder::new()
        .prefix("gp-action-user-")
        .tempdir()
        .unwrap();
    let r = repo.path();
    let example = repo_root().join("examples/go-distroless");
    std::fs::create_dir_all(r.join("docker")).unwrap();
    std::fs::create_dir_all(r.join("alt")).unwrap();
    std::fs::copy(example.join("Dockerfile"), r.join("docker/app.Dockerfile")).unwrap();
    std::fs::write(
        r.join("gen-pipeline.yml"),
        "ci: github\noutput:\n  github: ci/images.yml\ndockerfile: docker/app.Dockerfile\nimage: registry.example.com/from-config\n",
    )
    .unwrap();
    // A second config with no image: the `image` input supplies it.
    std::fs::write(
        r.join("alt/gen-pipeline.yml"),
        "ci: github\noutput:\n  github: images.yml\ndockerfile: ../docker/app.Dockerfile\n",
    )
    .unwrap();
    gen_ok(r, ["generate"]);
    gen_ok(
        r,
        [
            "generate",
            "--config",
            "alt/gen-pipeline.yml",
            "--image",
            "registry.example.com/from-input",
        ],
    );
    // The action under ./gp (`uses: ./gp`), as in a repository that vendors it.
    std::fs::create_dir_all(r.join("gp")).unwrap();
    std::fs::copy(action(), r.join("gp/action.yml")).unwrap();
    std::fs::create_dir_all(r.join(".github/workflows")).unwrap();
    std::fs::write(
        r.join(".github/workflows/gp.yml"),
        r#"name: gp
on: push
permissions: {}
jobs:
  gp:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1
        with:
          persist-credentials: false
      - id: default
        uses: ./gp
      - id: input
        uses: ./gp
        with:
          config: alt/gen-pipeline.yml
          image: registry.example.com/from-input
      - env:
          PLAN_DEFAULT: ${{ steps.default.outputs.plan }}
          PLAN_INPUT: ${{ steps.input.outputs.plan }}
        run: |
          printf '%s\n' "$PLAN_DEFAULT" | python3 -c 'import json, sys; print("PLAN-DEFAULT", " ".join(t for j in json.load(sys.stdin)["jobs"] for t in j["tags"]))'
          printf '%s\n' "$PLAN_INPUT" | python3 -c 'import json, sys; print("PLAN-INPUT", " ".join(t for j in json.load(sys.stdin)["jobs"] for t in j["tags"]))'
"#,
    )
    .unwrap();
    git_init_commit(r, "main");
    let (ok, log) = act_workflow(r, ".github/workflows/gp.yml");
    assert!(ok && log.contains("Job succeeded"), "{log}");
    // The plan step read ./gen-pipeline.yml and so docker/app.Dockerfile (not ./Dockerfile).
    let line = |prefix: &str| {
        log.lines()
            .find_map(|l| l.split_once(prefix).map(|(_, rest)| rest.to_string()))
            .unwrap_or_else(|| panic!("no {prefix} line in\n{log}"))
    };
    let default_tags = line("PLAN-DEFAULT ");
    assert!(
        default_tags.contains("registry.example.com/from-config/"),
        "{default_tags}\n{log}"
    );
    // The image input reached both plan and check (the check passes against pipelines generated
    // with that image).
    let input_tags = line("PLAN-INPUT ");
    assert!(
        input_tags.contains("registry.example.com/from-input/")
            && !input_tags.contains("from-config"),
        "{input_tags}\n{log}"
    );
    assert!(
        log.contains("+ gen-pipeline check --config alt/gen-pipeline.yml --image registry.example.com/from-input"),
        "{log}"
    );
    assert!(log.contains("alt/images.yml: in sync"), "{log}");
    assert!(log.contains("ci/images.yml: in sync"), "{log}");
}
