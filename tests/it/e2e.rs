//! End-to-end: generate pipelines for `tests/fixtures/e2e-project` with `--builder buildah` and RUN
//! them against a real registry (needs root, like `.ci/run`). Each pipeline run gets fresh builder
//! storage per job, like an ephemeral runner, so jobs only share work through the registry.

use crate::e2e_support::{
    push_base_image, ref_slug, stage_repo, step_stats, BaseImage, Builder, GitlabCiLocal,
    PipelineRun, Registry,
};
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
/// into `out` (relative to the project) with `--builder buildah`.
pub(crate) fn project_with(
    reg: &Registry,
    base: &BaseImage,
    ci: &str,
    out: &str,
    deps: Option<&str>,
) -> tempfile::TempDir {
    project_generated(reg, base, &["--ci", ci, "--builder", "buildah"], out, deps)
}

/// Like `project_with`, with the generator flags before `-f Dockerfile -o OUT --image --build-arg` given.
pub(crate) fn project_generated(
    reg: &Registry,
    base: &BaseImage,
    flags: &[&str],
    out: &str,
    deps: Option<&str>,
) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("gp-e2e-project-")
        .tempdir()
        .unwrap();
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
            .args(flags)
            .args(["-f", "Dockerfile", "-o", out])
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
                let v: String = l[at + key.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == ':')
                    .collect();
                if v.starts_with("sha256:") && v.len() == 71 {
                    m.insert(stage.to_string(), v);
                }
            }
        }
    }
    m
}

/// The output lines of one gitlab-ci-local job (`<job> > text` lines, prefix stripped).
fn job_output(log: &str, job: &str) -> String {
    log.lines()
        .filter(|l| l.split_whitespace().next() == Some(job))
        .filter_map(|l| l.split_once("> ").map(|x| x.1))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The checks shared by every CI: all three images pushed with the branch's tags; deps on the base;
/// each app built on the exact deps digest of this run. Returns the pushed digests by stage.
pub(crate) fn check_images(
    reg: &Registry,
    base: &BaseImage,
    branch: &str,
    sha: &str,
) -> BTreeMap<String, String> {
    let slug = ref_slug(branch);
    // Commits are tagged with their full sha (a short one is forgeable).
    let short = format!("sha-{sha}");
    let mut digests = BTreeMap::new();
    for stage in ["deps", "app1", "app2"] {
        let repo = stage_repo(stage);
        let tags = reg.tags(&repo);
        assert!(
            tags.contains(&slug) && tags.contains(&short),
            "{repo}: tags {tags:?} lack {slug}/{short}"
        );
        if branch == "main" {
            assert!(
                tags.contains(&"latest".to_string()),
                "{repo}: no latest in {tags:?}"
            );
        }
        let d = reg.manifest_digest(&repo, &short);
        assert_eq!(
            reg.manifest_digest(&repo, &slug),
            d,
            "{repo}: {slug} and {short} differ"
        );
        digests.insert(stage.to_string(), d);
    }
    assert!(reg.built_on(
        &stage_repo("deps"),
        &digests["deps"],
        "library/busybox",
        &base.digest
    ));
    // The check `test` ran (its registry cache exists) but pushed no image.
    let catalog = reg.catalog();
    assert!(
        !catalog.iter().any(|r| r == "group/project/test"),
        "the check was pushed: {catalog:?}"
    );
    assert!(
        catalog
            .iter()
            .any(|r| r.starts_with("group/project/cache/test")),
        "the check wrote no cache: {catalog:?}"
    );
    for app in ["app1", "app2"] {
        let repo = stage_repo(app);
        assert!(
            reg.built_on(&repo, &digests[app], &stage_repo("deps"), &digests["deps"]),
            "{app} was not built on this run's deps {}",
            digests["deps"]
        );
    }
    // app1 copies its whole build context (`COPY . /src/`): nothing of gen-pipeline's may be in
    // it, neither state written before the build (digest files) nor while building (its log).
    assert_no_pipeline_state_in_image(reg, "group/project/app1", &digests["app1"]);
    digests
}

/// Issue 9, section 6: an image built with `COPY . .` contains no gen-pipeline state.
pub(crate) fn assert_no_pipeline_state_in_image(reg: &Registry, repo: &str, digest: &str) {
    let files = reg.files(repo, digest);
    assert!(
        files.iter().any(|f| f.starts_with("src/app1.txt")),
        "{repo}: the build context was not copied: {files:?}"
    );
    let state: Vec<&String> = files
        .iter()
        .filter(|f| {
            // Not gen-pipeline's: gitlab-ci-local's own state; and, since gitlab-ci-local runs
            // every job in one shared directory, an upstream job's dotenv report (GitLab runs each
            // job in its own checkout and does not extract report artifacts into it).
            let harness = f.starts_with("src/.gitlab-ci-local/")
                || (f.starts_with("src/GP_DIGEST_")
                    && f.ends_with(".env")
                    && f.matches('/').count() == 1);
            f.starts_with("src/")
                && !harness
                && (f.contains("gen-pipeline") || f.contains("GP_DIGEST") || f.ends_with(".log"))
        })
        .collect();
    assert!(
        state.is_empty(),
        "{repo}@{digest} contains gen-pipeline state from the build context: {state:?}"
    );
}

/// Issue 9, section 6: after the GitLab jobs, the checkout holds only its files and the dotenv
/// reports (written after the build), and the per-job state beside it was removed by after_script.
fn assert_gitlab_state_removed(run: &PipelineRun) {
    let checkout = run.checkout.path();
    let (desc, o) = run_tool(Command::new("git").arg("-C").arg(checkout).args([
        "status",
        "--porcelain",
        "--ignored",
        "--untracked-files=all",
    ]));
    assert!(o.status.success(), "{desc}");
    let extra: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l[3..].to_string())
        .filter(|f| {
            // gitlab-ci-local's own state, and the dotenv reports.
            let harness = f.starts_with(".gitlab-ci-local/");
            let dotenv = f.starts_with("GP_DIGEST_") && f.ends_with(".env") && !f.contains('/');
            !harness && !dotenv
        })
        .collect();
    assert!(
        extra.is_empty(),
        "left in the checkout: {extra:?}\n{}",
        run.log
    );
    let name = checkout.file_name().unwrap().to_string_lossy().to_string();
    let beside: Vec<String> = std::fs::read_dir(checkout.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(&format!("{name}.gen-pipeline")))
        .collect();
    assert!(
        beside.is_empty(),
        "state left beside the checkout: {beside:?}\n{}",
        run.log
    );
    assert!(
        run.log.contains(".gen-pipeline-"),
        "the jobs did not use a state directory beside the checkout:\n{}",
        run.log
    );
}

fn head_sha(run: &PipelineRun) -> String {
    let (desc, o) = run_tool(
        Command::new("git")
            .arg("-C")
            .arg(run.checkout.path())
            .args(["rev-parse", "HEAD"]),
    );
    assert!(o.status.success(), "{desc}");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn gitlab_run(
    reg: &Registry,
    base: &BaseImage,
    branch: &str,
    deps: Option<&str>,
) -> (PipelineRun, BTreeMap<String, String>) {
    gitlab_run_with(reg, base, branch, deps, &[])
}

/// `gitlab_run` with extra pipeline variables (e.g. `GP_SKIP=false`).
fn gitlab_run_with(
    reg: &Registry,
    base: &BaseImage,
    branch: &str,
    deps: Option<&str>,
    vars: &[(&str, &str)],
) -> (PipelineRun, BTreeMap<String, String>) {
    let project = project_with(reg, base, "gitlab", ".gitlab-ci.yml", deps);
    let t = Instant::now();
    let mut gcl = GitlabCiLocal::for_registry(reg, branch);
    for (k, v) in vars {
        gcl.variables.insert(k.to_string(), v.to_string());
    }
    let run = gcl.run(project.path(), &Builder::fresh_per_job());
    eprintln!(
        "gitlab pipeline on {branch}: {:.1}s",
        t.elapsed().as_secs_f64()
    );
    for job in ["deps", "app1", "app2"] {
        assert!(
            run.log.contains(&job.to_string()),
            "no job {job} in the log"
        );
    }
    assert!(!run.log.contains("Job failed"), "{}", run.log);
    let sha = head_sha(&run);
    let digests = check_images(reg, base, branch, &sha);
    assert_gitlab_state_removed(&run);
    // The digest each job handed on through its dotenv report is the one in the registry.
    let handed = handed_digests(&run.log);
    for (stage, d) in &digests {
        if let Some(h) = handed.get(stage) {
            assert_eq!(
                h, d,
                "{stage}: handed-on digest differs from the registry's"
            );
        }
    }
    (run, digests)
}

#[test]
fn gitlab_generated_pipeline_runs_on_main() {
    let reg = Registry::start();
    let base = push_base_image(&reg);
    let (run, _) = gitlab_run(&reg, &base, "main", None);
    assert!(
        run.log.contains("PASS")
            || run.log.contains("Job succeeded")
            || run.log.contains("pipeline complete"),
        "{}",
        run.log
    );
    // Per-stage caches for this branch were written to the registry.
    for stage in ["deps", "app1", "app2"] {
        assert!(
            !reg.tags(&format!("group/project/cache/{stage}.main"))
                .is_empty(),
            "no cache for {stage}: {:?}",
            reg.catalog()
        );
    }
}

#[test]
fn gitlab_dev_branch_never_leaks_into_main() {
    let reg = Registry::start();
    let base = push_base_image(&reg);
    // dev changes the dependency input first, then main runs with the original one.
    let (_dev_run, dev) = gitlab_run(&reg, &base, "dev", Some("libfoo 9.9-dev\nlibbar 2.3\n"));
    let (_main_run, main) = gitlab_run(&reg, &base, "main", None);
    assert_ne!(
        dev["deps"], main["deps"],
        "dev and main deps images must differ"
    );
    let dev_deps = reg.layers(&stage_repo("deps"), &dev["deps"]);
    let main_deps = reg.layers(&stage_repo("deps"), &main["deps"]);
    // The layers only dev's deps has (its changed deps.txt and what was built from it).
    let dev_only: Vec<&String> = dev_deps.iter().filter(|l| !main_deps.contains(l)).collect();
    assert!(
        !dev_only.is_empty(),
        "dev's deps has no layer of its own: {dev_deps:?} vs {main_deps:?}"
    );
    for app in ["app1", "app2"] {
        let repo = stage_repo(app);
        let main_app = reg.layers(&repo, &main[app]);
        let dev_app = reg.layers(&repo, &dev[app]);
        assert_eq!(
            &main_app[..main_deps.len()],
            &main_deps[..],
            "main {app} is not on main's deps"
        );
        assert_eq!(
            &dev_app[..dev_deps.len()],
            &dev_deps[..],
            "dev {app} is not on dev's deps"
        );
        for l in &dev_only {
            assert!(
                !main_app.contains(l),
                "main {app} contains dev's deps layer {l}"
            );
        }
        // The file built from deps.txt says which input it came from.
        assert_ne!(main_app, dev_app);
    }
    // dev again, unchanged, on a fresh runner: its deps stage comes from dev's own cache (the
    // branch cache marker is found), not rebuilt from main's. Stage keys would skip every job of
    // this run (its inputs are dev's first run's), so the pipeline variable GP_SKIP=false makes
    // it build, which is what this part tests.
    let (dev_run2, dev2) = gitlab_run_with(
        &reg,
        &base,
        "dev",
        Some("libfoo 9.9-dev\nlibbar 2.3\n"),
        &[("GP_SKIP", "false")],
    );
    let stats = step_stats(&job_output(&dev_run2.log, "deps"));
    assert_eq!(
        (stats.run_executed, stats.run_cached),
        (0, 1),
        "dev's deps RUN not from dev's cache:\n{}",
        dev_run2.log
    );
    assert_eq!(
        reg.layers(&stage_repo("deps"), &dev2["deps"]),
        dev_deps,
        "dev's deps layers changed on a cached run"
    );
    // Tags: main's images moved `main`/`latest`; dev's sit under `dev` only.
    for stage in ["deps", "app1", "app2"] {
        let repo = stage_repo(stage);
        assert_eq!(reg.manifest_digest(&repo, "main"), main[stage]);
        assert_eq!(reg.manifest_digest(&repo, "latest"), main[stage]);
        assert_eq!(reg.manifest_digest(&repo, "dev"), dev2[stage]);
    }
}

// ---------------------------------------------------------------------------------------------
// Drone: no Drone runner installs here. `run_drone` STANDS IN for one: the step driver shared with
// the Woodpecker test (`e2e_woodpecker::StepRunner`) runs each step's `commands` in `depends_on`
// order, in one workspace (a git checkout of the project in the `path` sub-directory of a private
// temp dir that stands for the workspace volume), with the DRONE_* variables of a push and
// the step's `environment` (secrets from `from_secret`), on the file as Drone's runner substitutes
// it (drone/envsubst over the whole file, `crate::envsubst`). Images
// are ignored: the host's buildah plays the step image.

/// The DRONE_* variables of a push to `branch` at `sha`, in workspace `ws`.
pub(crate) fn drone_env(
    ws: &crate::e2e_woodpecker::Workspace,
    sha: &str,
    branch: &str,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("CI", "true"),
        ("DRONE", "true"),
        ("DRONE_BUILD_EVENT", "push"),
        ("DRONE_BRANCH", branch),
        ("DRONE_COMMIT_BRANCH", branch),
        ("DRONE_COMMIT_SHA", sha),
        ("DRONE_COMMIT", sha),
        ("DRONE_REPO_BRANCH", "main"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.push(("DRONE_WORKSPACE".into(), ws.checkout.display().to_string()));
    env
}

pub(crate) fn run_drone(
    project: &Path,
    file: &str,
    branch: &str,
    secrets: &BTreeMap<&str, String>,
    builder: &Builder,
) -> (String, crate::e2e_woodpecker::Workspace) {
    let ws = crate::e2e_woodpecker::Workspace::of(project, branch, file);
    let sha = crate::e2e_woodpecker::git_head(&ws.checkout);
    let env = drone_env(&ws, &sha, branch);
    // As Drone's runner does: substitute the whole file with the build's variables, then parse.
    let text = crate::e2e_woodpecker::substituted(&ws.checkout.join(file), &env);
    // One pipeline document: push and pull-request steps are selected by `when: event`.
    let pipeline: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(pipeline["kind"].as_str(), Some("pipeline"));
    let steps = pipeline["steps"].as_sequence().expect("no steps");
    let runner = crate::e2e_woodpecker::StepRunner {
        ci: "drone",
        env,
        step_name_var: "DRONE_STEP_NAME",
        secrets,
        builder,
    };
    let run = runner.run(&ws.checkout, steps, |s| {
        crate::e2e_woodpecker::when_admits(s, "push", branch)
    });
    assert_eq!(run.skipped, ["fork-pr"], "{}", run.log);
    (run.log, ws)
}

#[test]
fn drone_generated_pipeline_runs_steps_in_order() {
    let reg = Registry::start();
    let base = push_base_image(&reg);
    let project = project_with(&reg, &base, "drone", ".drone.yml", None);
    let secrets = BTreeMap::from([
        ("registry_username", reg.user().to_string()),
        ("registry_password", reg.password().to_string()),
    ]);
    let t = Instant::now();
    // Drone steps share the workspace and, in the daemonless flavor, one builder storage.
    let (log, ws) = run_drone(
        project.path(),
        ".drone.yml",
        "main",
        &secrets,
        &Builder::fresh(),
    );
    eprintln!("drone pipeline on main: {:.1}s", t.elapsed().as_secs_f64());
    let sha = crate::e2e_woodpecker::git_head(&ws.checkout);
    let digests = check_images(&reg, &base, "main", &sha);
    // Nothing of gen-pipeline's (credentials, builder storage, digests) was left in the checkout.
    ws.assert_checkout_clean(&log);
    // The digest files handed between steps are the registry's digests.
    for (stage, d) in &digests {
        let f = ws
            .state()
            .join(format!("digests/GP_DIGEST_{}", stage.to_uppercase()));
        assert_eq!(
            std::fs::read_to_string(&f).unwrap_or_default().trim(),
            d,
            "{stage}\n{log}"
        );
    }
    for stage in ["deps", "app1", "app2"] {
        assert!(log.contains(&format!("==> step {stage} ")), "{log}");
    }
}
