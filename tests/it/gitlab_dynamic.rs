//! `examples/gitlab-dynamic`: a GitLab parent pipeline whose `generate` job runs gen-pipeline at
//! pipeline time and whose trigger job runs the result as a dynamic child pipeline. The parent is
//! schema-checked, gitlab-ci-local runs the `generate` job for real (shell executor, the binary under
//! test first on PATH) and the child it produced passes every GitLab checker.

use crate::tools::*;
use std::path::PathBuf;
use std::process::Command;

fn example() -> PathBuf {
    repo_root().join("examples/gitlab-dynamic")
}

#[test]
fn parent_pipeline_passes_the_schema_and_wires_the_child() {
    let parent = example().join(".gitlab-ci.yml");
    check_jsonschema("vendor.gitlab-ci", &parent, true);
    yamllint(&parent);
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&parent).unwrap()).unwrap();
    let trigger = &doc["images"]["trigger"];
    assert_eq!(trigger["strategy"].as_str(), Some("depend"));
    assert_eq!(trigger["include"][0]["job"].as_str(), Some("generate"));
    let artifact = trigger["include"][0]["artifact"].as_str().unwrap();
    // The trigger includes exactly what `generate` saves, and what gen-pipeline.yml writes.
    let saved: Vec<&str> = doc["generate"]["artifacts"]["paths"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(saved, [artifact]);
    let config: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(example().join("gen-pipeline.yml")).unwrap())
            .unwrap();
    assert_eq!(config["output"]["gitlab"].as_str(), Some(artifact));
    assert_eq!(doc["images"]["needs"][0].as_str(), Some("generate"));
}

#[test]
fn generate_job_runs_and_its_child_pipeline_passes_the_checkers() {
    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_gen-pipeline"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let tmp = tempfile::Builder::new()
        .prefix("gp-gitlab-dynamic-")
        .tempdir()
        .unwrap();
    copy_tree(&example(), tmp.path());
    git_init_commit(tmp.path(), "feature/X-1");
    let vars = [
        ("CI_REGISTRY_IMAGE", "registry.gitlab.invalid/group/project"),
        ("CI_COMMIT_REF_NAME", "feature/X-1"),
        ("CI_COMMIT_BRANCH", "feature/X-1"),
        ("CI_COMMIT_REF_SLUG", "feature-x-1"),
        ("CI_DEFAULT_BRANCH", "main"),
        ("CI_PIPELINE_SOURCE", "push"),
    ];
    let mut cmd = Command::new("gitlab-ci-local");
    cmd.current_dir(tmp.path())
        .env("PATH", &path)
        .arg("--force-shell-executor");
    cmd.arg("--ignore-predefined-vars")
        .arg(vars.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(","));
    for (k, v) in vars {
        cmd.arg("--variable").arg(format!("{k}={v}"));
    }
    cmd.arg("generate");
    let (desc, out) = run_tool(&mut cmd);
    let log = format!(
        "{desc}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && log.contains("PASS  generate"),
        "{log}"
    );
    assert!(log.contains("wrote child-pipeline.yml (gitlab)"), "{log}");

    // The artifact the trigger job includes: what gitlab-ci-local exported from the job.
    let child = tmp
        .path()
        .join(".gitlab-ci-local/artifacts/generate/child-pipeline.yml");
    assert!(child.is_file(), "no exported artifact\n{log}");
    let text = std::fs::read_to_string(&child).unwrap();
    // Built for this run: the project's registry from --image, and jobs for the config's targets.
    // `app`, the final stage, is the image itself; `test` is a check (built, never pushed); the
    // shared `deps` is handed on from `stages/deps` (issue 10's naming).
    assert!(
        text.contains("GP_REPOSITORY: \"registry.gitlab.invalid/group/project\"\n"),
        "{text}"
    );
    assert!(
        text.contains("GP_TARGET: \"test\"\n") && text.contains("GP_CHECK: \"true\"\n"),
        "{text}"
    );
    assert!(
        text.contains("deps=docker-image://registry.gitlab.invalid/group/project/stages/deps@"),
        "{text}"
    );
    check_all("gitlab", &child);

    // It is exactly what the binary renders for that commit outside CI (no drift possible).
    let direct = Command::new(env!("CARGO_BIN_EXE_gen-pipeline"))
        .current_dir(tmp.path())
        .args([
            "check",
            "--image",
            "registry.gitlab.invalid/group/project",
            "--branch",
            "feature/X-1",
            "--default-branch",
            "main",
        ])
        .env_remove("CI")
        .output()
        .unwrap();
    assert!(
        direct.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&direct.stdout),
        String::from_utf8_lossy(&direct.stderr)
    );
}
