//! The command line around generation: templates override, init, completions, help and version.

use std::process::Command;

use crate::tools::{copy_tree, gen_ok, gen_pipeline, git_init_commit, repo_root};

#[test]
fn templates_dir_overrides_one_ci_and_keeps_the_rest_embedded() {
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&repo_root().join("examples/python-two-apps"), tmp.path());
    let custom = tmp.path().join("ci-templates/gitlab");
    std::fs::create_dir_all(&custom).unwrap();
    std::fs::write(
        custom.join("pipeline.yml.j2"),
        "# custom\n{% for job in plan.jobs %}\n{{ job.id }}:\n  script:\n    - echo {{ job.repository | q }}\n{% endfor %}\n",
    )
    .unwrap();
    let out = gen_ok(
        tmp.path(),
        ["--ci", "gitlab", "--templates", "ci-templates", "-o", "-"],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("# custom\n"), "{text}");
    assert!(
        text.contains("app1:\n  script:\n    - echo \"ghcr.io/acme/python-two-apps/app1\""),
        "{text}"
    );
    // Not overridden: the embedded GitHub template.
    let out = gen_pipeline()
        .current_dir(tmp.path())
        .args(["--ci", "github", "--templates", "ci-templates", "-o", "-"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("docker/build-push-action@"));
    // A template with an undefined variable fails (strict), exit code 1 with the template named.
    std::fs::write(custom.join("pipeline.yml.j2"), "x: {{ plan.nope }}\n").unwrap();
    let out = gen_pipeline()
        .current_dir(tmp.path())
        .args(["--ci", "gitlab", "--templates", "ci-templates", "-o", "-"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("gitlab/pipeline.yml.j2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A template that renders invalid YAML is rejected before anything is written.
    std::fs::write(custom.join("pipeline.yml.j2"), "a: [b\n").unwrap();
    let target = tmp.path().join("out.yml");
    let out = gen_pipeline()
        .current_dir(tmp.path())
        .args(["--ci", "gitlab", "--templates", "ci-templates", "-o"])
        .arg(&target)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid YAML"));
    assert!(
        !target.exists(),
        "a failed render must not leave a file behind"
    );
}

#[test]
fn init_writes_a_config_that_generates() {
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&repo_root().join("examples/node-monorepo"), tmp.path());
    std::fs::remove_file(tmp.path().join("gen-pipeline.yml")).unwrap();
    git_init_commit(tmp.path(), "main");
    let st = Command::new("git")
        .current_dir(tmp.path())
        .args([
            "remote",
            "set-url",
            "origin",
            "git@github.com:Acme/Node-Mono.git",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let out = gen_pipeline()
        .current_dir(tmp.path())
        .arg("init")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = std::fs::read_to_string(tmp.path().join("gen-pipeline.yml")).unwrap();
    assert!(cfg.contains("image: ghcr.io/acme/node-mono"), "{cfg}");
    // The targets are what the default plan detected (issue 10), written for the user to decide.
    assert!(cfg.contains("\ntargets: [web, api, worker]\n"), "{cfg}");
    // A second init refuses to overwrite.
    assert_eq!(
        gen_pipeline()
            .current_dir(tmp.path())
            .arg("init")
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
    // The written config drives a bare `gen-pipeline`.
    let out = gen_pipeline().current_dir(tmp.path()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wf = std::fs::read_to_string(tmp.path().join(".github/workflows/images.yml")).unwrap();
    assert!(wf.contains("ghcr.io/acme/node-mono/stages/deps"), "{wf}");
}

#[test]
fn help_version_and_completions() {
    let out = gen_pipeline().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        help.contains("Examples:") && help.contains("gen-pipeline --ci drone > .drone.yml"),
        "{help}"
    );
    assert!(help.contains("Exit codes: 0 ok, 1 drift (check), 2 bad input or usage."));
    let out = gen_pipeline().arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("gen-pipeline {}", env!("CARGO_PKG_VERSION"))
    );
    let out = gen_pipeline()
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("complete -F _gen__pipeline"));
    // Usage errors exit 2.
    assert_eq!(
        gen_pipeline()
            .args(["--split", "some", "-f", "x"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        gen_pipeline()
            .args(["--bogus"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn slug_command_matches_gitlab() {
    for (name, want) in [
        ("feature/JIRA-12_fix", "feature-jira-12-fix"),
        ("-Main-", "main"),
        ("v1.2.3", "v1-2-3"),
    ] {
        let out = gen_pipeline().args(["slug", name]).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), want);
    }
    // A name that reduces to nothing: empty as GitLab has it, or the pipelines' sha fallback.
    let out = gen_pipeline().args(["slug", "///"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "\n");
    let out = gen_pipeline()
        .args(["slug", "///", "--sha", "ABCDEF0123456789"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "sha-abcdef0");
}

#[test]
fn plan_json_reads_the_named_or_found_config() {
    let root = repo_root();
    // --config: its Dockerfile, image and policy.
    let out = gen_ok(
        &root,
        [
            "plan",
            "--config",
            "examples/python-two-apps/gen-pipeline.yml",
            "--format",
            "json",
            "--branch",
            "dev",
            "--sha",
            "0123456789abcdef",
            "--default-branch",
            "main",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ref"]["slug"], "dev");
    assert_eq!(v["ref"]["kind"], "branch");
    let jobs: Vec<&str> = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(jobs, ["base", "app1", "app2"]);
    assert_eq!(
        v["jobs"][1]["tags"][0],
        "ghcr.io/acme/python-two-apps/app1:dev"
    );
    assert_eq!(
        v["jobs"][1]["cache_to"],
        "ghcr.io/acme/python-two-apps/cache:app1.dev"
    );
    assert_eq!(
        v["jobs"][1]["cache_from"][1],
        "ghcr.io/acme/python-two-apps/cache:app1.main"
    );
    // Without --config, ./gen-pipeline.yml (the project's own) applies, as for `generate`: its
    // targets are not stages of another Dockerfile.
    let out = gen_pipeline()
        .current_dir(&root)
        .args([
            "plan",
            "-f",
            "examples/python-two-apps/Dockerfile",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown target stage `runtime`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // --no-config: none is read.
    let out = gen_ok(
        &root,
        [
            "plan",
            "--no-config",
            "-f",
            "examples/python-two-apps/Dockerfile",
            "--format",
            "json",
            "--image",
            "registry.example.com/x",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["jobs"][0]["tags"][0].as_str().unwrap().split(':').next(),
        Some("registry.example.com/x/stages/base")
    );
}

#[test]
fn plan_json_takes_targets_split_and_says_why() {
    let out = gen_ok(
        repo_root(),
        [
            "plan",
            "--config",
            "examples/python-two-apps/gen-pipeline.yml",
            "--format",
            "json",
            "--target",
            "app1",
            "--split",
            "all",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let jobs: Vec<&str> = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(jobs, ["base", "build-base", "app1"]);
    let notes: Vec<&str> = v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("built in a job of their own") && n.contains("base, build-base")),
        "{notes:?}"
    );
    let out = gen_pipeline()
        .current_dir(repo_root())
        .args([
            "plan",
            "--config",
            "examples/python-two-apps/gen-pipeline.yml",
            "--format",
            "json",
            "--target",
            "ap1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `app1`?"));
}

// Issue 9, section 7: messages, help, exit codes.

const SMALL_DOCKERFILE: &str = "FROM alpine:3.20 AS base\nRUN true\nFROM base AS app\nRUN true\n";

fn small_project() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("Dockerfile"), SMALL_DOCKERFILE).unwrap();
    tmp
}

#[test]
fn io_errors_on_outputs_exit_2() {
    let p = small_project();
    std::fs::write(p.path().join("file"), "x").unwrap();
    let out = gen_pipeline()
        .current_dir(p.path())
        .args([
            "--ci",
            "drone",
            "--image",
            "registry.example.com/x",
            "-o",
            "file/sub/drone.yml",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "printed once: {stderr}");
    assert!(
        errors[0].starts_with("error: cannot write file/sub/drone.yml"),
        "{stderr}"
    );
}

#[test]
fn template_errors_print_once() {
    let p = small_project();
    let custom = p.path().join("t/gitlab");
    std::fs::create_dir_all(&custom).unwrap();
    std::fs::write(custom.join("pipeline.yml.j2"), "x: {{ plan.nope }}\n").unwrap();
    let out = gen_pipeline()
        .current_dir(p.path())
        .args([
            "--ci",
            "gitlab",
            "--image",
            "registry.example.com/x",
            "--templates",
            "t",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.matches("undefined value").count(), 1, "{stderr}");
    assert!(stderr.contains("gitlab/pipeline.yml.j2"), "{stderr}");
}

#[test]
fn no_git_notes_before_cannot_read_dockerfile() {
    let tmp = tempfile::tempdir().unwrap();
    let out = gen_pipeline()
        .current_dir(tmp.path())
        .args(["--ci", "drone", "-f", "missing/Dockerfile"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: cannot read missing/Dockerfile"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn branch_git_tag_conflict_names_git_tag() {
    let p = small_project();
    let out = gen_pipeline()
        .current_dir(p.path())
        .args([
            "--ci",
            "drone",
            "--image",
            "registry.example.com/x",
            "--branch",
            "a",
            "--git-tag",
            "v1",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "error: --branch and --git-tag cannot be given together"
    );
}

#[test]
fn every_flag_has_help_text() {
    for cmd in [
        &["generate", "-h"][..],
        &["check", "-h"],
        &["plan", "-h"],
        &["gc", "-h"],
        &["init", "-h"],
        &["slug", "-h"],
        &["completions", "-h"],
    ] {
        let out = gen_pipeline().args(cmd).output().unwrap();
        assert!(out.status.success());
        let help = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = help.lines().collect();
        let mut flags = 0;
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            let is_item = t.starts_with('-') || (t.starts_with('<') && l.starts_with("  "));
            if !is_item || l.len() - t.len() > 8 {
                continue;
            }
            flags += 1;
            // `  --flag <V>  Help text`: two spaces then text after the flag, or text on the next line.
            let spec_end = t.find("  ").map(|k| t[k..].trim().is_empty());
            let described = matches!(spec_end, Some(false))
                || lines
                    .get(i + 1)
                    .is_some_and(|n| n.starts_with("          ") && !n.trim().is_empty());
            assert!(described, "{cmd:?}: no help text for `{}`\n{help}", t);
        }
        assert!(flags > 0, "{cmd:?}: {help}");
    }
}

/// `--help` of a command as `--flag` → its whole entry (short form, value name, help text,
/// `[default: …]`, `[env: …]`, possible values), in the order shown.
fn help_entries(args: &[&str]) -> Vec<(String, String)> {
    let out = gen_pipeline().args(args).arg("--help").output().unwrap();
    assert!(out.status.success(), "{args:?}");
    let help = String::from_utf8(out.stdout).unwrap();
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        let t = line.trim_start();
        let indent = line.len() - t.len();
        // `  -f, --dockerfile <PATH>` or `      --config <PATH>`: an entry starts; deeper lines
        // (help, values, default) belong to it; an unindented line ends the list.
        if (indent == 2 || indent == 6) && t.starts_with('-') {
            let long = t
                .split([' ', ','])
                .find(|w| w.starts_with("--"))
                .unwrap_or_else(|| panic!("{args:?}: no long flag in `{t}`"));
            // The flag's line (short form, value name), then ` | ` and the rest.
            entries.push((long.to_string(), format!("{t} |")));
        } else if indent == 0 {
            continue;
        } else if let Some((_, text)) = entries.last_mut() {
            if !t.is_empty() {
                text.push(' ');
                text.push_str(t);
            }
        }
    }
    entries
}

/// The flags `generate`, `check`, `plan` and `gc` share (main.rs's `SharedArgs`), in their order.
const SHARED_FLAGS: &[&str] = &[
    "--config",
    "--no-config",
    "--dockerfile",
    "--image",
    "--target",
    "--split",
    "--build-arg",
    "--repo",
    "--branch",
    "--git-tag",
    "--sha",
    "--default-branch",
    "--pr",
];

#[test]
fn shared_flags_are_the_same_in_every_command() {
    // Every command's flags, pinned: losing or renaming one fails here.
    let generate_own = [
        "--ci",
        "--output",
        "--force",
        "--context",
        "--builder",
        "--secret",
        "--platform",
        "--tag",
        "--daemon",
        "--gitlab-mode",
        "--templates",
        "--buildkit-syntax",
        "--provenance",
    ];
    let commands: [(&[&str], Vec<&str>); 5] = [
        (&[], [&generate_own[..], &["--version"]].concat()),
        (&["generate"], generate_own.to_vec()),
        (&["check"], generate_own.to_vec()),
        (&["plan"], vec!["--platform", "--format"]),
        (
            &["gc"],
            vec![
                "--apply",
                "--live-ref",
                "--live-refs-file",
                "--remote",
                "--older-than",
                "--ignore-age",
                "--ca-file",
                "--format",
                "--tag",
            ],
        ),
    ];
    // Where a command reads a shared flag differently, its help says so (and only there).
    let own_text = [
        ("plan", "--build-arg"),
        ("gc", "--target"),
        ("gc", "--build-arg"),
    ];
    let reference: std::collections::BTreeMap<String, String> =
        help_entries(&["generate"]).into_iter().collect();
    for (args, own) in &commands {
        let entries = help_entries(args);
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        // The command's own flags, then the shared ones in one order, then --help (and --version).
        let mut want: Vec<&str> = own.iter().copied().filter(|f| *f != "--version").collect();
        want.extend(SHARED_FLAGS);
        want.push("--help");
        if own.contains(&"--version") {
            want.push("--version");
        }
        assert_eq!(names, want, "{args:?}");
        let command = args.first().copied().unwrap_or("generate");
        for (name, entry) in &entries {
            if !SHARED_FLAGS.contains(&name.as_str()) {
                continue;
            }
            let shared = &reference[name];
            if own_text.contains(&(command, name.as_str())) {
                // Same short form and value name; only the text differs.
                let spec = |e: &str| e.split(" |").next().unwrap().to_string();
                assert_eq!(spec(entry), spec(shared), "{command} {name}");
                assert_ne!(entry, shared, "{command} {name}: own help text expected");
            } else {
                assert_eq!(entry, shared, "{command} {name}");
            }
        }
    }
}

#[test]
fn shell_completions_list_enum_values() {
    let out = gen_ok(repo_root(), ["completions", "bash"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for values in [
        "github gitlab drone woodpecker",
        "shared all targets",
        "buildx buildah",
        "host dind",
        "pipeline include",
        "text json mermaid dot",
    ] {
        assert!(
            text.contains(values),
            "`{values}` missing in the bash completions"
        );
    }
    let out = gen_ok(repo_root(), ["completions", "fish"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("github\\t'GitHub Actions'"), "{text}");
}

#[test]
fn plan_format_text_shows_jobs() {
    let out = gen_ok(
        repo_root(),
        [
            "plan",
            "--config",
            "examples/python-two-apps/gen-pipeline.yml",
            "--branch",
            "dev",
            "--sha",
            "0123456789abcdef",
            "--default-branch",
            "main",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("jobs (branch dev, slug dev, image ghcr.io/acme/python-two-apps):"),
        "{text}"
    );
    assert!(
        text.contains("\n  app1  (stage app1)\n    needs:      base\n    builds in:  build-base\n"),
        "{text}"
    );
    assert!(
        text.contains("    tags:       ghcr.io/acme/python-two-apps/app1:dev"),
        "{text}"
    );
    assert!(
        text.contains("    cache to:   ghcr.io/acme/python-two-apps/cache:app1.dev"),
        "{text}"
    );
}

#[test]
fn plan_reads_gen_pipeline_yml_like_generate() {
    let dir = repo_root().join("examples/python-two-apps");
    let out = gen_ok(
        &dir,
        [
            "plan",
            "--format",
            "json",
            "--branch",
            "dev",
            "--sha",
            "0123456789abcdef",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["jobs"][0]["tags"][0],
        // issue 10: a stage handed on only by digest is pushed under `<image>/stages/`.
        "ghcr.io/acme/python-two-apps/stages/base:dev"
    );
}

#[test]
fn commands_from_a_subdirectory_find_the_config_at_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&repo_root().join("examples/python-two-apps"), tmp.path());
    git_init_commit(tmp.path(), "main");
    // The copy is a repository of its own: regenerate at its root, then work from a subfolder.
    gen_ok(tmp.path(), Vec::<&str>::new());
    let sub = tmp.path().join("app1");
    let out = gen_ok(&sub, ["check"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("in sync"));
    std::fs::remove_file(tmp.path().join("pipelines/drone.yml")).unwrap();
    gen_ok(&sub, ["generate"]);
    assert!(tmp.path().join("pipelines/drone.yml").is_file());
    assert!(!sub.join("pipelines").exists());
    gen_ok(tmp.path(), ["check"]);
    let out = gen_ok(&sub, ["plan", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["jobs"][0]["tags"][0]
        .as_str()
        .unwrap()
        .starts_with("ghcr.io/acme/python-two-apps/stages/base:"));
}

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn run_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    gen_pipeline().current_dir(dir).args(args).output().unwrap()
}

/// Section 4: `--image '$(…)'` executed under GitLab and Drone; `${{ … }}` reached GitHub.
#[test]
fn image_starting_with_dollar_accepts_only_ci_registry_image() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("Dockerfile"), "FROM alpine AS app\n").unwrap();
    for (ci, image) in [
        ("gitlab", "$(touch${IFS}/tmp/x)"),
        ("drone", "$(touch${IFS}/tmp/x)"),
        ("github", "${{ github.event.pull_request.title }}"),
    ] {
        let out = run_in(
            tmp.path(),
            &[
                "--ci", ci, "--image", image, "--branch", "main", "--sha", SHA, "-o", "-",
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{ci}: {stderr}");
        assert!(out.stdout.is_empty());
        assert!(
            stderr.contains("the only variable allowed is `$CI_REGISTRY_IMAGE`"),
            "{stderr}"
        );
    }
    let out = gen_ok(
        tmp.path(),
        [
            "--ci",
            "gitlab",
            "--image",
            "$CI_REGISTRY_IMAGE/apps",
            "--branch",
            "main",
            "--sha",
            SHA,
            "-o",
            "-",
        ],
    );
    // issue 10: the final stage publishes to the image itself.
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("GP_REPOSITORY: \"$CI_REGISTRY_IMAGE/apps\"")
    );
}

/// Section 3: warnings, with a "did you mean", for build args and secrets the Dockerfile never
/// uses and for a secret mount no secret provides; generation still succeeds.
#[test]
fn unused_build_args_and_secrets_warn_with_did_you_mean() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("Dockerfile"),
        "ARG NPM_VERSION=1\nFROM alpine AS app\nRUN --mount=type=secret,id=npmrc true\n",
    )
    .unwrap();
    let out = gen_ok(
        tmp.path(),
        [
            "--ci",
            "gitlab",
            "--image",
            "registry.example.com/x",
            "--branch",
            "main",
            "--sha",
            SHA,
            "--build-arg",
            "NPM_VERSON=2",
            "--build-arg",
            "HTTP_PROXY=http://p:3128",
            "--secret",
            "id=npmr,env=NPM_TOKEN",
            "-o",
            "-",
        ],
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("warning: build argument `NPM_VERSON` is not declared by any ARG in Dockerfile; BuildKit ignores it\n  = help: did you mean `NPM_VERSION`?\n"),
        "{stderr}"
    );
    assert!(!stderr.contains("HTTP_PROXY"), "predefined: {stderr}");
    assert!(
        stderr.contains("warning: secret `npmr` is not used by any `RUN --mount=type=secret` in Dockerfile\n  = help: did you mean `npmrc`?\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Dockerfile:3:5: warning: this mount needs the secret `npmrc`, which no secret provides\n  |\n3 | RUN --mount=type=secret,id=npmrc true\n  |     ^\n  = help: did you mean the provided secret `npmr`?\n"),
        "{stderr}"
    );
    // Everything used: no warning.
    let out = gen_ok(
        tmp.path(),
        [
            "--ci",
            "gitlab",
            "--image",
            "registry.example.com/x",
            "--branch",
            "main",
            "--sha",
            SHA,
            "--build-arg",
            "NPM_VERSION=2",
            "--secret",
            "id=npmrc,env=NPM_TOKEN",
            "-o",
            "-",
        ],
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
}

/// Section 7: a target from the config that names no stage is an error at its config line.
#[test]
fn unknown_target_from_the_config_is_located_in_the_config() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("Dockerfile"),
        "FROM alpine AS app\nFROM alpine AS web\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("gen-pipeline.yml"),
        "ci: gitlab\nimage: registry.example.com/x\ntargets:\n  - app\n  - wbe\n",
    )
    .unwrap();
    let out = run_in(tmp.path(), &["--branch", "main", "--sha", SHA, "-o", "-"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("gen-pipeline.yml:5:5: error: unknown target stage `wbe`\n  |\n5 |   - wbe\n  |     ^\n  = help: did you mean `web`?\n"),
        "{stderr}"
    );
}

/// Section 4: `plan --format json` parses and graphs once, with the config's build args (the
/// graph part used to come from a second parse without them).
#[test]
fn plan_json_parses_and_graphs_once_with_the_config() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("Dockerfile"),
        "ARG BASE=alpine\nFROM $BASE as app\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("c.yml"),
        "image: registry.example.com/x\nbuild-args: {BASE: debian}\n",
    )
    .unwrap();
    let out = gen_ok(
        tmp.path(),
        [
            "plan", "--config", "c.yml", "--format", "json", "--branch", "main", "--sha", SHA,
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["stages"][0]["base"], "debian");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.matches("casing do not match").count(), 1, "{stderr}");
}

/// Sections 3 and 7 through the binary: a BuildKit flag error and a Windows base exit 2 with
/// file:line:col and a caret (the Windows one from the planner, as the stage is built: after the
/// notes about the git context).
#[test]
fn flag_typos_and_windows_bases_exit_2_at_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    for (text, expect) in [
        (
            "FROM alpine AS a\nCOPY --form=a x y\n",
            "Dockerfile:2:6: error: unknown flag: form\n  |\n2 | COPY --form=a x y\n  |      ^\n  = help: did you mean `--from`?\n",
        ),
        (
            "FROM mcr.microsoft.com/windows/servercore:ltsc2022 AS app\n",
            "Dockerfile:1:6: error: `mcr.microsoft.com/windows/servercore:ltsc2022` is a Windows base image",
        ),
    ] {
        std::fs::write(tmp.path().join("Dockerfile"), text).unwrap();
        let out = run_in(tmp.path(), &["plan"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        let diagnostics: String = stderr
            .lines()
            .filter(|l| !l.starts_with("note: "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(diagnostics.starts_with(expect), "{stderr}");
    }
}
