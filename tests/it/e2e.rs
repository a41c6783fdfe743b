//! End-to-end: generate pipelines for `tests/fixtures/e2e-project` with `--builder buildah` and RUN
//! them against a real registry (needs root, like `.ci/run`). Each pipeline run gets fresh builder
//! storage per job, like an ephemeral runner, so jobs only share work through the registry.

use crate::e2e_support::{push_base_image, ref_slug, BaseImage, Builder, GitlabCiLocal, PipelineRun, Registry};
use crate::tools::{copy_tree, repo_root, run_tool};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const GEN: &str = env!("CARGO_BIN_EXE_gen-pipeline");

fn fixture() -> std::path::PathBuf {
    repo_root().join("tests/fixtures/e2e-project")
}

/// A copy of the fixture with `deps.txt` replaced (when given) and the pipeline for `ci` generated
/// into `out` (relative to the project).
fn project_with(reg: &Registry, base: &BaseImage, ci: &str, out: &str, deps: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("gp-e2e-project-").tempdir().unwrap();
    copy_tree(&fixture(), dir.path());
    if let Some(d) = deps {
        std::fs::write(dir.path().join("deps.txt"), d).unwrap();
    }
    if let Some(parent) = Path::new(out).parent() {
        std::fs::create_dir_all(dir.path().join(parent)).unwrap();
    }
    let (desc, o) = run_tool(
        Command::new(GEN)
            .current_dir(dir.path())
            .args(["--ci", ci, "--builder", "buildah", "-f", "Dockerfile", "-o", out])
            .arg("--image")
            .arg(reg.image("group/project"))
            .arg("--build-arg")
            .arg(format!("BASE={}", base.reference)),
    );
    assert!(
        o.status.success(),
        "`{desc}` failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    dir
}

/// The digest each job handed on (`GP_DIGEST_X=sha256:...` dotenv lines, as echoed by the jobs).
fn handed_digests(log: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for l in log.lines() {
        for stage in ["deps", "app1", "app2"] {
            let key = format!("GP_DIGEST_{}=", stage.to_uppercase());
            if let Some(at) = l.find(&key) {
                let v: String = l[at + key.len()..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == ':').collect();
                if v.starts_with("sha256:") && v.len() == 71 {
                    m.insert(stage.to_string(), v);
                }
            }
        }
    }
    m
}

/// The checks shared by every CI: all three images pushed with the branch's tags; deps on the base;
/// each app built on the exact deps digest of this run. Returns the pushed digests by stage.
fn check_images(reg: &Registry, base: &BaseImage, branch: &str, sha: &str) -> BTreeMap<String, String> {
    let slug = ref_slug(branch);
    let short = format!("sha-{}", &sha[..7]);
    let mut digests = BTreeMap::new();
    for stage in ["deps", "app1", "app2"] {
        let repo = format!("group/project/{stage}");
        let tags = reg.tags(&repo);
        assert!(tags.contains(&slug) && tags.contains(&short), "{repo}: tags {tags:?} lack {slug}/{short}");
        if branch == "main" {
            assert!(tags.contains(&"latest".to_string()), "{repo}: no latest in {tags:?}");
        }
        let d = reg.manifest_digest(&repo, &short);
        assert_eq!(reg.manifest_digest(&repo, &slug), d, "{repo}: {slug} and {short} differ");
        digests.insert(stage.to_string(), d);
    }
    assert!(reg.built_on("group/project/deps", &digests["deps"], "library/busybox", &base.digest));
    for app in ["app1", "app2"] {
        let repo = format!("group/project/{app}");
        assert!(
            reg.built_on(&repo, &digests[app], "group/project/deps", &digests["deps"]),
            "{app} was not built on this run's deps {}",
            digests["deps"]
        );
    }
    digests
}

fn head_sha(run: &PipelineRun) -> String {
    let (desc, o) = run_tool(Command::new("git").arg("-C").arg(run.checkout.path()).args(["rev-parse", "HEAD"]));
    assert!(o.status.success(), "{desc}");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn gitlab_run(reg: &Registry, base: &BaseImage, branch: &str, deps: Option<&str>) -> (PipelineRun, BTreeMap<String, String>) {
    let project = project_with(reg, base, "gitlab", ".gitlab-ci.yml", deps);
    let t = Instant::now();
    let run = GitlabCiLocal::for_registry(reg, branch).run(project.path(), &Builder::fresh_per_job());
    eprintln!("gitlab pipeline on {branch}: {:.1}s", t.elapsed().as_secs_f64());
    for job in ["deps", "app1", "app2"] {
        assert!(run.log.contains(&format!("{job}")), "no job {job} in the log");
    }
    assert!(!run.log.contains("Job failed"), "{}", run.log);
    let sha = head_sha(&run);
    let digests = check_images(reg, base, branch, &sha);
    // The digest each job handed on through its dotenv report is the one in the registry.
    let handed = handed_digests(&run.log);
    for (stage, d) in &digests {
        if let Some(h) = handed.get(stage) {
            assert_eq!(h, d, "{stage}: handed-on digest differs from the registry's");
        }
    }
    (run, digests)
}

#[test]
fn gitlab_generated_pipeline_runs_on_main() {
    let reg = Registry::start();
    let base = push_base_image(&reg);
    let (run, _) = gitlab_run(&reg, &base, "main", None);
    assert!(run.log.contains("PASS") || run.log.contains("Job succeeded") || run.log.contains("pipeline complete"), "{}", run.log);
    // Per-stage caches for this branch were written to the registry.
    for stage in ["deps", "app1", "app2"] {
        assert!(!reg.tags(&format!("group/project/cache/{stage}-main")).is_empty(), "no cache for {stage}: {:?}", reg.catalog());
    }
}
