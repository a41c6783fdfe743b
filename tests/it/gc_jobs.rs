//! The generated registry cleanup jobs (`gc:` in gen-pipeline.yml, issue 14): config errors,
//! every validator on the rendered jobs, GitLab's schedule-only job under gitlab-ci-local, the
//! cron-only Drone/Woodpecker steps, the job's command line, and `check` covering GitHub's
//! separate cleanup workflow.

use std::path::Path;
use std::process::Command;

use crate::tools::{check_all, copy_tree, gen_pipeline, git, git_init_commit, repo_root, run_tool};

/// The e2e fixture project (a Dockerfile of three stages) with `config` as gen-pipeline.yml.
fn project(config: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("gp-gc-jobs-")
        .tempdir()
        .unwrap();
    copy_tree(&repo_root().join("tests/fixtures/e2e-project"), dir.path());
    std::fs::write(dir.path().join("gen-pipeline.yml"), config).unwrap();
    git_init_commit(dir.path(), "main");
    dir
}

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let o = gen_pipeline().current_dir(dir).args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const ALL_CI: &str = "ci: [github, gitlab, drone, woodpecker]\n";

fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn gc_config_errors_exit_2_with_the_line() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "gc:\n  enabled: true\n  older-than: 2 weeks\n",
            "gen-pipeline.yml:5:15",
            "invalid age `2 weeks`",
        ),
        (
            "gc:\n  enabled: true\n  schedule: \"@weekly\"\n",
            "gen-pipeline.yml:5:13",
            "invalid schedule `@weekly`",
        ),
        (
            "gc:\n  enabled: true\n  older-then: 14d\n",
            "gen-pipeline.yml:5:",
            "did you mean `older-than`?",
        ),
        (
            "gc:\n  enabled: yes please\n",
            "gen-pipeline.yml:4:",
            "invalid type",
        ),
        (
            "gc:\n  older-than: 14d\n",
            "`gc:` in gen-pipeline.yml",
            "`enabled` is not true",
        ),
    ];
    for (gc, where_, what) in cases {
        let p = project(&format!(
            "{ALL_CI}image: registry.example.com/acme/app\n{gc}"
        ));
        let (code, _, err) = run(p.path(), &[]);
        assert_eq!(code, 2, "{gc}\n{err}");
        assert!(err.contains(where_), "{gc}: no {where_:?} in\n{err}");
        assert!(err.contains(what), "{gc}: no {what:?} in\n{err}");
    }
    // A schedule is GitHub's only: refused when no GitHub workflow is generated.
    let p = project(
        "ci: [gitlab, drone]\nimage: registry.example.com/acme/app\ngc: {enabled: true, schedule: \"0 4 * * 1\"}\n",
    );
    let (code, _, err) = run(p.path(), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`gc: {schedule: …}` in gen-pipeline.yml does not apply to GitLab CI, Drone"),
        "{err}"
    );
    // Nothing was written by the refused runs.
    assert!(!p.path().join(".gitlab-ci.yml").exists());
}

/// Off by default and with `enabled: false`: the pipelines are byte-identical to a config
/// without the key, and no cleanup workflow is written.
#[test]
fn gc_off_leaves_the_pipelines_unchanged() {
    let base = format!("{ALL_CI}image: registry.example.com/acme/app\n");
    let plain = project(&base);
    let off = project(&format!("{base}gc: {{enabled: false}}\n"));
    for p in [&plain, &off] {
        let (code, _, err) = run(p.path(), &[]);
        assert_eq!(code, 0, "{err}");
    }
    for f in [
        ".github/workflows/images.yml",
        ".gitlab-ci.yml",
        ".drone.yml",
        ".woodpecker.yml",
    ] {
        let a = read(plain.path(), f);
        assert_eq!(a, read(off.path(), f), "{f}");
        assert!(!a.contains("gen-pipeline gc"), "{f}");
    }
    assert!(!off
        .path()
        .join(".github/workflows/gen-pipeline-gc.yml")
        .exists());
}

/// Every generated file with the cleanup jobs passes every validator (schemas, actionlint,
/// zizmor, yamllint, gitlab-ci-local, the envsubst oracle), for GHCR (packages API) and for
/// another registry (`gc --apply`), in both GitLab modes.
#[test]
fn gc_jobs_pass_every_validator() {
    for (image, mode) in [
        ("ghcr.io/acme/app", "pipeline"),
        ("registry.example.com/acme/app", "include"),
    ] {
        let p = project(&format!(
            "{ALL_CI}image: {image}\ngitlab-mode: {mode}\ngc: {{enabled: true}}\n"
        ));
        let (code, _, err) = run(p.path(), &[]);
        assert_eq!(code, 0, "{err}");
        let gitlab = if mode == "include" {
            ".gitlab/gen-pipeline.yml"
        } else {
            ".gitlab-ci.yml"
        };
        for (ci, f) in [
            ("github", ".github/workflows/images.yml"),
            ("github", ".github/workflows/gen-pipeline-gc.yml"),
            ("gitlab", gitlab),
            ("drone", ".drone.yml"),
            ("woodpecker", ".woodpecker.yml"),
        ] {
            let text = read(p.path(), f);
            // GitHub's images workflow leaves the cleanup to its own workflow file.
            assert_eq!(
                text.contains("gen-pipeline gc") || text.contains(" gc --"),
                !f.ends_with("images.yml"),
                "{f}:\n{text}"
            );
            check_all(ci, p.path().join(f));
        }
        let gh = read(p.path(), ".github/workflows/gen-pipeline-gc.yml");
        assert!(gh.starts_with("# Generated by gen-pipeline"), "{gh}");
        if image.starts_with("ghcr.io/") {
            // GHCR: gc lists, the packages API deletes; the job may write packages.
            assert!(
                gh.contains("packages: write") && gh.contains("--format json"),
                "{gh}"
            );
            assert!(!gh.contains("--apply"), "{gh}");
        } else {
            assert!(
                !gh.contains("packages: write") && gh.contains(" gc --apply"),
                "{gh}"
            );
        }
    }
}

fn gitlab_ci_local_list(dir: &Path, vars: &[&str]) -> Vec<String> {
    let mut cmd = Command::new("gitlab-ci-local");
    cmd.current_dir(dir)
        .arg("--list")
        .args(["--ignore-predefined-vars", "CI_PIPELINE_SOURCE"]);
    for v in vars {
        cmd.args(["--variable", v]);
    }
    let (desc, out) = run_tool(&mut cmd);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{desc}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rows = stdout.lines().skip_while(|l| !l.starts_with("name "));
    rows.next();
    rows.filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// GitLab: a schedule's pipeline with GP_GC=true runs only the cleanup job; a push pipeline (and
/// a schedule without GP_GC) runs the build jobs and not the cleanup job.
#[test]
fn gc_gitlab_schedule_runs_only_the_cleanup_job() {
    let p = project(
        "ci: gitlab\nimage: registry.example.com/acme/app\ngc: {enabled: true, older-than: 3d}\n",
    );
    let (code, _, err) = run(p.path(), &[]);
    assert_eq!(code, 0, "{err}");
    git(p.path(), &["add", "-A"]);
    git(p.path(), &["commit", "-q", "-m", "generated"]);
    let gc_run = gitlab_ci_local_list(p.path(), &["CI_PIPELINE_SOURCE=schedule", "GP_GC=true"]);
    assert_eq!(gc_run, ["gen-pipeline:gc"]);
    for vars in [
        &["CI_PIPELINE_SOURCE=push"][..],
        &["CI_PIPELINE_SOURCE=push", "GP_GC=true"][..],
        &["CI_PIPELINE_SOURCE=schedule"][..],
    ] {
        let jobs = gitlab_ci_local_list(p.path(), vars);
        assert!(!jobs.is_empty(), "{vars:?}: no build job");
        assert!(!jobs.iter().any(|j| j.contains("gc")), "{vars:?}: {jobs:?}");
    }
}

/// Drone: the cleanup is a pipeline of its own triggered by the cron job only, and the images
/// pipeline has no cron trigger. Woodpecker: the workflow runs on that cron, where every step but
/// the cleanup step is skipped, and the cleanup step runs on nothing else.
#[test]
fn gc_drone_and_woodpecker_cleanup_runs_on_cron_only() {
    let p = project(&format!(
        "{ALL_CI}image: registry.example.com/acme/app\ngc: {{enabled: true}}\n"
    ));
    let (code, _, err) = run(p.path(), &[]);
    assert_eq!(code, 0, "{err}");
    let runner = |f: &str| {
        let text = read(p.path(), f);
        crate::envsubst::runner_view(f, &text, &[])
    };
    let drone = runner(".drone.yml");
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&drone)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    assert_eq!(docs.len(), 2, "{drone}");
    let events = |v: &serde_yaml::Value| serde_yaml::to_string(&v["trigger"]["event"]).unwrap();
    assert!(!events(&docs[0]).contains("cron"), "{drone}");
    assert_eq!(docs[1]["name"], "gen-pipeline-gc");
    assert_eq!(events(&docs[1]).trim(), "- cron");
    assert_eq!(docs[1]["trigger"]["cron"][0], "gen-pipeline-gc");

    let wp: serde_yaml::Value = serde_yaml::from_str(&runner(".woodpecker.yml")).unwrap();
    let steps = wp["steps"].as_sequence().unwrap();
    for s in steps {
        let when = serde_yaml::to_string(&s["when"]).unwrap();
        if s["name"] == "gen-pipeline-gc" {
            assert_eq!(s["when"]["event"], "cron", "{when}");
            assert_eq!(s["when"]["cron"], "gen-pipeline-gc", "{when}");
        } else {
            assert!(
                !s["when"].is_null() && !when.contains("cron"),
                "step {:?} may run on cron: {when}",
                s["name"]
            );
        }
    }
}

/// The jobs' command lines carry the config's `older-than` and, for a config that is not
/// `gen-pipeline.yml` at the root, `--config`; GitHub's workflow carries the schedule.
#[test]
fn gc_job_command_line_matches_the_config() {
    let p = project("");
    std::fs::remove_file(p.path().join("gen-pipeline.yml")).unwrap();
    std::fs::create_dir_all(p.path().join("ci")).unwrap();
    std::fs::write(
        p.path().join("ci/gp.yml"),
        format!(
            "{ALL_CI}image: registry.example.com/acme/app\ndockerfile: ../Dockerfile\ngc: {{enabled: true, older-than: 36h, schedule: \"5 1 * * 2\"}}\n"
        ),
    )
    .unwrap();
    let (code, _, err) = run(p.path(), &["--config", "ci/gp.yml"]);
    assert_eq!(code, 0, "{err}");
    let gh = read(p.path(), "ci/.github/workflows/gen-pipeline-gc.yml");
    assert!(gh.contains("- cron: \"5 1 * * 2\""), "{gh}");
    for (f, want) in [
        (
            "ci/.github/workflows/gen-pipeline-gc.yml",
            "gc --apply --older-than 36h --config ci/gp.yml",
        ),
        (
            "ci/.gitlab-ci.yml",
            "gen-pipeline gc --apply --older-than 36h --config ci/gp.yml",
        ),
        (
            "ci/.drone.yml",
            "gen-pipeline gc --apply --older-than 36h --config ci/gp.yml",
        ),
        (
            "ci/.woodpecker.yml",
            "gen-pipeline gc --apply --older-than 36h --config ci/gp.yml",
        ),
    ] {
        let text = read(p.path(), f);
        assert!(text.contains(want), "{f}: no {want:?} in\n{text}");
    }
    // The generated flags are ones `gen-pipeline gc` accepts: run the GitLab job's command line
    // (the CI variables filled in) as a dry run against a given live-ref list; it gets as far
    // as the registry (unreachable here), so every flag parsed and the plan was made.
    let (code, _, err) = run(
        p.path(),
        &[
            "gc",
            "--older-than",
            "36h",
            "--config",
            "ci/gp.yml",
            "--branch",
            "main",
            "--sha",
            "0123456789abcdef0123456789abcdef01234567",
            "--default-branch",
            "main",
            "--live-ref",
            "main",
            "--image",
            "127.0.0.1:1/acme/app",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("127.0.0.1:1"), "{err}");
}

/// `check` compares GitHub's cleanup workflow too: missing, then in sync after `generate`.
#[test]
fn gc_check_covers_the_cleanup_workflow() {
    let p = project("ci: github\nimage: ghcr.io/acme/app\ngc: {enabled: true}\n");
    let (code, _, err) = run(p.path(), &[]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(p.path(), &["check"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(".github/workflows/gen-pipeline-gc.yml: in sync"),
        "{err}"
    );
    std::fs::remove_file(p.path().join(".github/workflows/gen-pipeline-gc.yml")).unwrap();
    let (code, _, err) = run(p.path(), &["check"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(".github/workflows/gen-pipeline-gc.yml: missing"),
        "{err}"
    );
    // Turned off, the cleanup workflow left behind is drift: it would keep running.
    let (code, _, err) = run(p.path(), &[]);
    assert_eq!(code, 0, "{err}");
    std::fs::write(
        p.path().join("gen-pipeline.yml"),
        "ci: github\nimage: ghcr.io/acme/app\n",
    )
    .unwrap();
    let (code, _, err) = run(p.path(), &["check"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("gen-pipeline-gc.yml: generated with `gc:` on, which is off now: delete it"),
        "{err}"
    );
    let (code, _, err) = run(p.path(), &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("gen-pipeline-gc.yml was generated with `gc:` on"),
        "{err}"
    );
    std::fs::remove_file(p.path().join(".github/workflows/gen-pipeline-gc.yml")).unwrap();
    let (code, _, err) = run(p.path(), &["check"]);
    assert_eq!(code, 0, "{err}");
    std::fs::write(
        p.path().join("gen-pipeline.yml"),
        "ci: github\nimage: ghcr.io/acme/app\ngc: {enabled: true}\n",
    )
    .unwrap();
    // Printing the GitHub workflow says the cleanup workflow is a file of its own.
    let (code, out, err) = run(p.path(), &["--ci", "github"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("# Generated by gen-pipeline"), "{out}");
    assert!(
        err.contains("gen-pipeline-gc.yml, and is not printed"),
        "{err}"
    );
}

/// `gen-pipeline gc` by hand takes the config's `gc: older-than` as its default (`--older-than`
/// still wins).
#[test]
fn gc_command_defaults_to_the_config_older_than() {
    let p = project("image: registry.example.com/acme/app\ngc: {enabled: true, older-than: 3d}\n");
    let policy = |extra: &[&str]| {
        let mut args = vec!["gc", "--format", "gitlab-policy"];
        args.extend_from_slice(extra);
        let (code, out, err) = run(p.path(), &args);
        assert_eq!(code, 0, "{err}");
        out
    };
    assert!(
        policy(&[]).contains("\nolder_than: 3d\n"),
        "{}",
        policy(&[])
    );
    let flag = policy(&["--older-than", "5h"]);
    assert!(flag.contains("\nolder_than: 5h\n"), "{flag}");
}
