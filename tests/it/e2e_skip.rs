//! End-to-end, stage input keys (issue 11): generated pipelines (`--builder buildah`) for
//! `tests/fixtures/e2e-project`, run for real against a TLS + htpasswd registry with fresh builder
//! storage per job (or per run), counting the builds each job ran (`buildah bud` calls logged by
//! the builder wrapper):
//!
//! - GitLab under gitlab-ci-local: cold run; unchanged rerun builds nothing and hands on the same
//!   digests; a change in one app builds only that app; a new base image under the same tag
//!   rebuilds every dependent.
//! - Drone through the step driver: an uncommitted change never skips; a tag pipeline on main's
//!   content pushes main's digests; a stage with `ADD http(s)://…` always builds.

use crate::e2e::project_generated;
use crate::e2e_support::{push_base_image, BaseImage, Builder, GitlabCiLocal, Registry};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const STAGES: [&str; 3] = ["deps", "app1", "app2"];

/// The digest each job printed (`digest=sha256:…`, on a build and on a skip alike), by job.
fn printed_digests(log: &str, job_of: impl Fn(&str) -> Option<String>) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut current: Option<String> = None;
    for l in log.lines() {
        if let Some(j) = job_of(l) {
            current = Some(j);
        }
        if let (Some(j), Some(at)) = (&current, l.find("digest=sha256:")) {
            let d: String = l[at + "digest=".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == ':')
                .collect();
            if d.len() == 71 {
                m.insert(j.clone(), d);
            }
        }
    }
    m
}

fn gitlab_job(l: &str) -> Option<String> {
    let first = l.split_whitespace().next()?;
    STAGES
        .contains(&first)
        .then(|| first.to_string())
        .filter(|_| l.contains(" > ") || l.contains(" $ "))
}

/// The registry's digest of each stage's image under `tag`.
fn registry_digests(reg: &Registry, tag: &str) -> BTreeMap<String, String> {
    STAGES
        .iter()
        .map(|s| {
            (
                s.to_string(),
                reg.manifest_digest(&format!("group/project/{s}"), tag),
            )
        })
        .collect()
}

/// Runs the GitLab pipeline of `project` on `branch` with fresh storage per job; returns the
/// jobs that built (sorted) and the digests each job handed on.
fn gitlab(
    reg: &Registry,
    project: &Path,
    branch: &str,
) -> (BTreeSet<String>, BTreeMap<String, String>, String) {
    let b = Builder::fresh_per_job();
    let run = GitlabCiLocal::for_registry(reg, branch).run(project, &b);
    assert!(!run.log.contains("Job failed"), "{}", run.log);
    let builds = b.builds();
    let built: BTreeSet<String> = builds.iter().cloned().collect();
    assert_eq!(built.len(), builds.len(), "a job built twice: {builds:?}");
    let handed = printed_digests(&run.log, gitlab_job);
    assert_eq!(
        handed.keys().map(String::as_str).collect::<Vec<_>>(),
        ["app1", "app2", "deps"],
        "{}",
        run.log
    );
    (built, handed, run.log)
}

/// A new image under the base's tag: same busybox, one more label, so a new digest.
fn repush_base(reg: &Registry, base: &BaseImage) -> String {
    let b = Builder::fresh();
    b.login(reg);
    let ctr = b.buildah(&["from", "--quiet", &base.reference]);
    let ctr = ctr.trim().lines().last().unwrap().to_string();
    b.buildah(&["config", "--label", "gen-pipeline.test=v2", &ctr]);
    b.buildah(&["commit", "--quiet", &ctr, &base.reference]);
    b.buildah(&["push", "--quiet", &base.reference]);
    let d = reg.manifest_digest("library/busybox", "1");
    assert_ne!(d, base.digest, "the base did not change");
    d
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn gitlab_unchanged_inputs_skip_and_changed_ones_rebuild_only_their_jobs() {
    let reg = Registry::start();
    let base = push_base_image(&reg);
    let project = project_generated(
        &reg,
        &base,
        &["--ci", "gitlab", "--builder", "buildah"],
        ".gitlab-ci.yml",
        None,
    );
    // Cold: every job builds and pushes its key tag beside its ref tags.
    let (built, cold, _) = gitlab(&reg, project.path(), "main");
    assert_eq!(built, set(&STAGES));
    assert_eq!(registry_digests(&reg, "main"), cold);
    for s in STAGES {
        let tags = reg.tags(&format!("group/project/{s}"));
        assert!(tags.iter().any(|t| t.starts_with("key-")), "{s}: {tags:?}");
    }
    // Unchanged, fresh storage for every job: no job builds; the same digests are handed on and
    // tagged for this run (a new commit, so new sha- tags).
    let (built, again, log) = gitlab(&reg, project.path(), "main");
    assert!(
        built.is_empty(),
        "jobs built on an unchanged run: {built:?}\n{log}"
    );
    assert_eq!(again, cold);
    assert_eq!(registry_digests(&reg, "main"), cold);
    assert_eq!(registry_digests(&reg, "latest"), cold);
    assert!(log.contains("tagging it, no build"), "{log}");
    // One app's source changes: only that app builds; the others hand on their old digests.
    std::fs::write(project.path().join("app1.txt"), "app1 v2\n").unwrap();
    let (built, changed, log) = gitlab(&reg, project.path(), "main");
    assert_eq!(built, set(&["app1"]), "{log}");
    assert_eq!(changed["deps"], cold["deps"]);
    assert_eq!(changed["app2"], cold["app2"]);
    assert_ne!(changed["app1"], cold["app1"]);
    assert!(reg.built_on(
        "group/project/app1",
        &changed["app1"],
        "group/project/deps",
        &cold["deps"]
    ));
    // A new base image under the same tag: every job depends on it, every job builds.
    let new_base = repush_base(&reg, &base);
    let (built, rebased, log) = gitlab(&reg, project.path(), "main");
    assert_eq!(built, set(&STAGES), "{log}");
    assert!(reg.built_on(
        "group/project/deps",
        &rebased["deps"],
        "library/busybox",
        &new_base
    ));
    for s in STAGES {
        assert_ne!(rebased[s], changed[s], "{s}");
    }
}
