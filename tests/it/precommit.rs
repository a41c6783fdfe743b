//! The compiling pre-commit hooks (`.pre-commit-hooks.yaml`, `scripts/pre-commit-hook.sh`):
//! manifest validation, and `pre-commit try-repo` against a copy of this repository from a test
//! project, so the hook builds gen-pipeline with `cargo build --release --locked` and runs it for
//! real: in sync passes, a new Dockerfile stage fails the check, the regenerate hook rewrites the
//! pipelines and the check passes again; a stale Cargo.lock makes the build fail (--locked).
//! (The hooks that install the wheel instead are tested in `install.rs`.)
//!
//! Cost: the hook's release build shares `target/release-shared` and its settings with the wheel
//! build (`install::release_build_env`), so it reuses every compiled dependency and compiles only
//! the gen-pipeline crate of the hook repository's clone; crates come from the local cargo cache
//! (CARGO_NET_OFFLINE=true); PRE_COMMIT_HOME is a fresh temporary dir.

use crate::tools::*;
use std::path::Path;
use std::process::{Command, Output};

fn manifest() -> std::path::PathBuf {
    repo_root().join(".pre-commit-hooks.yaml")
}

#[test]
fn manifest_is_valid_and_names_both_hooks() {
    let (desc, out) = run_tool(
        Command::new("pre-commit")
            .arg("validate-manifest")
            .arg(manifest()),
    );
    assert!(
        out.status.success(),
        "{desc}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    yamllint(manifest());
    let hooks: Vec<serde_yaml::Value> =
        serde_yaml::from_str(&std::fs::read_to_string(manifest()).unwrap()).unwrap();
    let ids: Vec<&str> = hooks.iter().map(|h| h["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["gen-pipeline-check", "gen-pipeline"]);
    for (h, command) in hooks.iter().zip(["check", "generate"]) {
        // A script that builds with the lockfile: pre-commit's `language: rust` runs
        // `cargo install` without --locked, which ignores Cargo.lock.
        assert_eq!(h["language"].as_str(), Some("script"));
        assert_eq!(
            h["entry"].as_str(),
            Some(format!("scripts/pre-commit-hook.sh {command}").as_str())
        );
        assert_eq!(h["pass_filenames"].as_bool(), Some(false));
    }
    let script = std::fs::read_to_string(repo_root().join("scripts/pre-commit-hook.sh")).unwrap();
    assert!(
        script.contains("cargo build --release --locked"),
        "{script}"
    );
}

/// This repository's git-tracked files as they are in the working tree, committed in a new repo.
fn hook_repo() -> tempfile::TempDir {
    tracked_copy("gp-hook-repo-", "main")
}

struct TryRepo {
    hook_repo: tempfile::TempDir,
    home: tempfile::TempDir,
}

impl TryRepo {
    fn run(&self, project: &Path, hook: &str, extra: &[&str]) -> (Output, String) {
        let mut cmd = Command::new("pre-commit");
        cmd.current_dir(project)
            .arg("try-repo")
            .arg(self.hook_repo.path())
            .arg(hook)
            .args(extra)
            .env("PRE_COMMIT_HOME", self.home.path())
            .env_remove("GEN_PIPELINE_BIN");
        crate::install::release_build_env(&mut cmd);
        let (desc, out) = run_tool(&mut cmd);
        let log = format!(
            "{desc}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out, log)
    }
}

#[test]
fn try_repo_check_fails_when_stale_and_regenerate_fixes_it() {
    let t = TryRepo {
        hook_repo: hook_repo(),
        home: tempfile::tempdir().unwrap(),
    };
    // A project like a user's: an example Dockerfile and config, pipelines generated and committed.
    let project = tempfile::Builder::new()
        .prefix("gp-hook-project-")
        .tempdir()
        .unwrap();
    let p = project.path();
    let example = repo_root().join("examples/go-distroless");
    for f in ["Dockerfile", "gen-pipeline.yml"] {
        std::fs::copy(example.join(f), p.join(f)).unwrap();
    }
    std::fs::write(p.join("notes.txt"), "not a build input\n").unwrap();
    let gen = Command::new(env!("CARGO_BIN_EXE_gen-pipeline"))
        .current_dir(p)
        .output()
        .unwrap();
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    git_init_commit(p, "main");
    let pipelines = [
        "pipelines/github-images.yml",
        "pipelines/gitlab-ci.yml",
        "pipelines/drone.yml",
        "pipelines/woodpecker.yml",
    ];
    let before: Vec<String> = pipelines
        .iter()
        .map(|f| std::fs::read_to_string(p.join(f)).unwrap())
        .collect();

    // 1. In sync: the hook (built by pre-commit from the hook repo) passes.
    let (out, log) = t.run(p, "gen-pipeline-check", &["--all-files"]);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("gen-pipeline check (generated CI pipelines are current)")
            && log.contains("Passed"),
        "{log}"
    );

    // 2. Stale: the Dockerfile gains a stage (a new leaf, so a new job).
    let mut df = std::fs::read_to_string(p.join("Dockerfile")).unwrap();
    df.push_str("\nFROM deps AS lint\nRUN go vet ./...\n");
    std::fs::write(p.join("Dockerfile"), df).unwrap();
    git(p, &["commit", "-qam", "lint stage"]);
    let (out, log) = t.run(p, "gen-pipeline-check", &["--all-files"]);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("Failed") && log.contains("pipelines/github-images.yml: out of date"),
        "{log}"
    );
    assert!(
        log.contains("+++ pipelines/github-images.yml (generated)") && log.contains("lint"),
        "{log}"
    );
    assert!(log.contains("regenerate with: gen-pipeline"), "{log}");
    // The check never writes.
    for (f, b) in pipelines.iter().zip(&before) {
        assert_eq!(
            &std::fs::read_to_string(p.join(f)).unwrap(),
            b,
            "check modified {f}"
        );
    }
    // `files:` — a commit touching only an unrelated file does not run the hook, even when stale.
    let (out, log) = t.run(p, "gen-pipeline-check", &["--files", "notes.txt"]);
    assert!(out.status.success() && log.contains("Skipped"), "{log}");

    // 3. Regenerate: the hook rewrites the pipelines (pre-commit reports modified files as a failure).
    let (out, log) = t.run(p, "gen-pipeline", &["--all-files"]);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("files were modified by this hook"), "{log}");
    for (f, b) in pipelines.iter().zip(&before) {
        let now = std::fs::read_to_string(p.join(f)).unwrap();
        assert_ne!(&now, b, "{f} not regenerated");
        assert!(now.contains("lint"), "{f} has no lint job");
    }
    git(p, &["commit", "-qam", "regenerated"]);
    let (out, log) = t.run(p, "gen-pipeline-check", &["--all-files"]);
    assert!(out.status.success() && log.contains("Passed"), "{log}");
    // And the regenerate hook is then a no-op.
    let (out, log) = t.run(p, "gen-pipeline", &["--all-files"]);
    assert!(out.status.success() && log.contains("Passed"), "{log}");

    // The hook builds with the lockfile: a Cargo.lock that no longer matches Cargo.toml fails the
    // build instead of being re-resolved (what `cargo install` without --locked would do).
    let lock = t.hook_repo.path().join("Cargo.lock");
    let text = std::fs::read_to_string(&lock).unwrap();
    let start = text
        .find("[[package]]\nname = \"similar\"")
        .expect("similar in Cargo.lock");
    let end = text[start + 1..]
        .find("[[package]]")
        .map_or(text.len(), |e| start + 1 + e);
    std::fs::write(&lock, format!("{}{}", &text[..start], &text[end..])).unwrap();
    git(t.hook_repo.path(), &["commit", "-qam", "stale lockfile"]);
    let (out, log) = t.run(p, "gen-pipeline-check", &["--all-files"]);
    assert!(!out.status.success(), "{log}");
    assert!(log.contains("--locked"), "{log}");
}
