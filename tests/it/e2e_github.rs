//! End-to-end, GitHub Actions: the workflow generated for `tests/fixtures/e2e-project` runs unmodified
//! under act on the host (`-P ubuntu-latest=-self-hosted --no-cache-server`) against a real TLS +
//! htpasswd registry. The docker/* actions are the buildah stand-ins in `tests/fixtures/actions/`
//! (passed with `--local-repository owner/repo@<pinned sha>=DIR`); `actions/checkout` is act's own
//! local checkout. Every job gets fresh builder storage (keyed on `GITHUB_JOB`), like a hosted runner,
//! so jobs share work only through the registry. Needs root, like `.ci/run`.

use crate::e2e::{check_images, project_generated};
use crate::e2e_support::{act_outputs, push_base_image, stage_repo, Act, Builder, Registry};
use crate::tools::run_tool;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

/// The lines act printed for one job (`[<workflow>/<job name>] ...`).
pub(crate) fn job_log<'a>(log: &'a str, job_name: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|l| {
            l.strip_prefix('[')
                .and_then(|r| r.split_once(']'))
                .map(|(label, _)| {
                    // `<workflow>/<job name>`; a job name may hold a `/` (`build app linux/386`).
                    let label = label.trim();
                    label.split_once('/').map_or(label, |(_, n)| n).trim() == job_name
                })
                .unwrap_or(false)
        })
        .collect()
}

/// The `--build-context NAME=docker-image://REPO@DIGEST` values a job's build-push step passed to buildah
/// (the stand-in echoes its full command line), as NAME -> (REPO, DIGEST).
pub(crate) fn build_contexts(lines: &[&str]) -> BTreeMap<String, (String, String)> {
    let mut m = BTreeMap::new();
    for l in lines.iter().filter(|l| l.contains("stand-in: buildah bud")) {
        let words: Vec<&str> = l.split_whitespace().collect();
        for w in words.windows(2).filter(|w| w[0] == "--build-context") {
            let (name, value) = w[1].split_once('=').unwrap();
            let image = value
                .strip_prefix("docker-image://")
                .unwrap_or_else(|| panic!("not an image context: {value}"));
            let (repo, digest) = image
                .split_once('@')
                .unwrap_or_else(|| panic!("context not pinned by digest: {value}"));
            m.insert(name.to_string(), (repo.to_string(), digest.to_string()));
        }
    }
    m
}

#[test]
fn github_generated_workflow_runs_under_act_on_main() {
    let reg = Registry::start();
    let base = push_base_image(&reg);
    let project = project_generated(
        &reg,
        &base,
        &["--ci", "github"],
        ".github/workflows/images.yml",
        None,
    );
    let workflow =
        std::fs::read_to_string(project.path().join(".github/workflows/images.yml")).unwrap();
    // The generator pins every action to a full commit SHA; the stand-ins are mapped to exactly those.
    for action in crate::e2e_support::STAND_IN_ACTIONS {
        let pin = workflow
            .lines()
            .find_map(|l| {
                l.trim()
                    .trim_start_matches("- ")
                    .strip_prefix(&format!("uses: {action}@"))
            })
            .unwrap_or_else(|| panic!("{action} not used:\n{workflow}"));
        let sha = pin.split_whitespace().next().unwrap();
        assert!(
            sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
            "{action} not pinned to a SHA: {pin}"
        );
    }

    let mut act = Act::for_registry(&reg, "main");
    // The template logs in to a non-ghcr registry with the REGISTRY_USERNAME variable and the
    // REGISTRY_PASSWORD secret. (The user here is `ci`: as a secret, every `ci` in the job outputs
    // was masked, `oci-mediatypes` included.)
    act.vars
        .insert("REGISTRY_USERNAME".to_string(), reg.user().to_string());
    act.secrets = BTreeMap::from([("REGISTRY_PASSWORD".to_string(), reg.password().to_string())]);
    // Verbose: act reports at debug level why it skips a job (the fork-PR job's `if`).
    act.extra_args.push("--verbose".to_string());
    let t = Instant::now();
    let builder = Builder::fresh_per_job();
    let run = act.run(project.path(), &builder);
    eprintln!(
        "github workflow under act on main: {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let log = &run.log;
    // Issue 9, section 6: the user name is not a secret, so no job output is masked by it.
    assert!(
        log.contains("image-manifest=true,oci-mediatypes=true"),
        "job outputs were masked:\n{log}"
    );

    // Every build job succeeded; the fork-PR job did not run on a push.
    for job in ["build deps", "build app1", "build app2"] {
        let lines = job_log(log, job);
        assert!(
            lines.iter().any(|l| l.contains("🏁  Job succeeded")),
            "{job} did not succeed:\n{log}"
        );
    }
    let fork = "build (pull request from a fork, no push)";
    let fork_lines = job_log(log, fork);
    assert!(
        fork_lines.iter().any(|l| l.contains(&format!(
            "Skipping job '{fork}' due to 'github.event_name == 'pull_request'"
        ))),
        "act did not skip the fork-PR job on its `if`:\n{}",
        fork_lines.join("\n")
    );
    assert!(
        !fork_lines
            .iter()
            .any(|l| l.contains("Job succeeded") || l.contains("⭐ Run")),
        "the fork-PR job ran on a push"
    );
    // actions/checkout is not cloned: act uses the local working copy for it.
    for job in ["build deps", "build app1", "build app2"] {
        assert!(
            job_log(log, job).iter().any(|l| l
                .contains("Skipping local actions/checkout because workdir was already copied")),
            "{job}: actions/checkout not handled locally"
        );
    }
    // Fresh storage per job: each build job had its own buildah root.
    for job in ["deps", "app1", "app2"] {
        assert!(
            builder.dir().join("jobs").join(job).join("root").is_dir(),
            "no per-job storage for {job}"
        );
    }
    assert!(
        !builder.dir().join("jobs/fork-pr").exists(),
        "the fork-PR job used the builder"
    );

    let (desc, o) = run_tool(
        Command::new("git")
            .arg("-C")
            .arg(run.checkout.path())
            .args(["rev-parse", "HEAD"]),
    );
    assert!(o.status.success(), "{desc}");
    let sha = String::from_utf8_lossy(&o.stdout).trim().to_string();
    // Tags main/latest/sha-<short>; deps on the base; each app on this run's deps digest.
    let digests = check_images(&reg, &base, "main", &sha);

    // Each job's `digest` output is the registry's digest of what it pushed.
    let outputs = act_outputs(log);
    for stage in ["deps", "app1", "app2"] {
        let out = outputs
            .get(&format!("build {stage}"))
            .unwrap_or_else(|| panic!("no outputs for {stage}: {outputs:?}"));
        assert_eq!(
            out.get("digest"),
            Some(&digests[stage]),
            "{stage}: step output digest vs registry"
        );
    }
    // The digest that reached each app through `needs.deps.outputs.digest` (the build-contexts line
    // the build step received) is the registry's deps digest, and the app is built on it.
    for app in ["app1", "app2"] {
        let ctx = build_contexts(&job_log(log, &format!("build {app}")));
        let (repo, digest) = ctx
            .get("deps")
            .unwrap_or_else(|| panic!("{app}: no deps build context: {ctx:?}\n{log}"));
        assert_eq!(repo, &reg.image(&stage_repo("deps")));
        assert_eq!(
            digest, &digests["deps"],
            "{app}: deps digest via needs differs from the registry's"
        );
        assert!(reg.built_on(&stage_repo(app), &digests[app], &stage_repo("deps"), digest));
    }
    assert!(
        build_contexts(&job_log(log, "build deps")).is_empty(),
        "deps got a build context"
    );
    // Per-stage, per-branch caches were written.
    for stage in ["deps", "app1", "app2"] {
        assert!(
            !reg.tags(&format!("group/project/cache/{stage}.main"))
                .is_empty(),
            "no cache for {stage}: {:?}",
            reg.catalog()
        );
    }
    // Each build job ran one build, the check `test` too (issue 10: built, never pushed); the
    // first job decided for all of them.
    let mut built = builder.builds();
    built.sort();
    assert_eq!(built, ["app1", "app2", "deps", "test"], "{log}");
    assert!(
        !reg.catalog().iter().any(|r| r == "group/project/test"),
        "the check was pushed: {:?}",
        reg.catalog()
    );
    assert!(
        job_log(log, "tags, caches and stage keys")
            .iter()
            .any(|l| l.contains("🏁  Job succeeded")),
        "{log}"
    );

    // Unchanged, on fresh storage for every job: the first job finds every stage key's image,
    // retags it with this run's tags, and every build job is skipped by its `if:`. The check
    // `test` builds on every run (it pushes nothing, so it has no key image), on the skipped
    // `deps`'s key image, handed on by the first job.
    let builder = Builder::fresh_per_job();
    let run = act.run(project.path(), &builder);
    let log = &run.log;
    assert_eq!(
        builder.builds(),
        ["test"],
        "an unchanged run built more than the check\n{log}"
    );
    for job in ["build deps", "build app1", "build app2"] {
        let lines = job_log(log, job);
        assert!(
            !lines.iter().any(|l| l.contains("⭐ Run")),
            "{job} ran on an unchanged run:\n{log}"
        );
    }
    for stage in ["deps", "app1", "app2"] {
        let retagged = format!("| gen-pipeline: {stage}: ");
        assert!(
            job_log(log, "tags, caches and stage keys")
                .iter()
                .any(|l| l.contains(&retagged) && l.contains("tagging it, no build")),
            "{stage} was not retagged by the first job:\n{log}"
        );
    }
    let (desc, o) = run_tool(
        Command::new("git")
            .arg("-C")
            .arg(run.checkout.path())
            .args(["rev-parse", "HEAD"]),
    );
    assert!(o.status.success(), "{desc}");
    let sha2 = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert_ne!(sha, sha2, "the rerun is a new commit");
    assert_eq!(check_images(&reg, &base, "main", &sha2), digests);
}
