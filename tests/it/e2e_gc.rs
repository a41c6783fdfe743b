//! End-to-end for `gen-pipeline gc` (issue 14) against the real registry (Debian docker-registry
//! with `storage: delete: enabled: true`, TLS with a private CA, htpasswd auth): three branches and
//! a release tag pushed by the generated GitLab pipeline (buildah, gitlab-ci-local), one branch
//! deleted from git, then gc's dry run, `--apply`, a second run, the registry's garbage collector,
//! and pulls of what must survive.

use crate::e2e::project_with;
use crate::e2e_support::{push_base_image, BaseImage, Builder, GitlabCiLocal, Registry};
use crate::tools::run_tool;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

const GEN: &str = env!("CARGO_BIN_EXE_gen-pipeline");

/// Runs the generated GitLab pipeline for a branch (or, with `tag`, a git tag) with its own deps.
fn push_ref(reg: &Registry, base: &BaseImage, name: &str, tag: bool, deps: &str) {
    let project = project_with(reg, base, "gitlab", ".gitlab-ci.yml", Some(deps));
    let mut gcl = GitlabCiLocal::for_registry(reg, name);
    if tag {
        gcl.variables.remove("CI_COMMIT_BRANCH");
        gcl.variables
            .insert("CI_COMMIT_TAG".to_string(), name.to_string());
    }
    let run = gcl.run(project.path(), &Builder::fresh_per_job());
    assert!(!run.log.contains("Job failed"), "{}", run.log);
}

/// Every repository of the registry with its tags and their digests.
fn snapshot(reg: &Registry) -> BTreeMap<String, BTreeMap<String, String>> {
    reg.catalog()
        .into_iter()
        .map(|repo| {
            let tags = reg
                .tags(&repo)
                .into_iter()
                .map(|t| {
                    let d = reg.manifest_digest(&repo, &t);
                    (t, d)
                })
                .collect();
            (repo, tags)
        })
        .filter(|(_, tags): &(String, BTreeMap<String, String>)| !tags.is_empty())
        .collect()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let (desc, o) = run_tool(
        Command::new("git")
            .current_dir(dir)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t.invalid",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args),
    );
    assert!(
        o.status.success(),
        "`{desc}`: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `gen-pipeline gc` in `project` with the flags that give the pipelines' plan; returns the
/// JSON report (stdout) and stderr.
fn gc(
    reg: &Registry,
    base: &BaseImage,
    project: &Path,
    auth: &Path,
    extra: &[&str],
) -> (serde_json::Value, String) {
    let (desc, o) = run_tool(
        Command::new(GEN)
            .current_dir(project)
            .env("REGISTRY_AUTH_FILE", auth)
            .env_remove("DOCKER_CONFIG")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("SSL_CERT_FILE")
            .args(["gc", "-f", "Dockerfile", "--default-branch", "main"])
            .arg("--image")
            .arg(reg.image("group/project"))
            .arg("--build-arg")
            .arg(format!("BASE={}", base.reference))
            .arg("--ca-file")
            .arg(reg.ca_cert())
            .args(["--remote", "../remote.git", "--format", "json"])
            .args(extra),
    );
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        o.status.success(),
        "`{desc}` failed:\n{}{stderr}",
        String::from_utf8_lossy(&o.stdout)
    );
    (serde_json::from_slice(&o.stdout).unwrap(), stderr)
}

fn entries(report: &serde_json::Value, list: &str) -> BTreeSet<(String, String)> {
    report[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["repository"].as_str().unwrap().to_string(),
                e["tag"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn gc_deletes_exactly_a_gone_branchs_tags_and_caches_on_a_real_registry() {
    let reg = Registry::start();
    let base = push_base_image(&reg);
    push_ref(&reg, &base, "main", false, "libfoo 1.0\nlibbar 2.3\n");
    push_ref(&reg, &base, "feature/keep", false, "libfoo 1.1-keep\n");
    push_ref(&reg, &base, "feature/gone", false, "libfoo 1.2-gone\n");
    push_ref(
        &reg,
        &base,
        "v1.0.0",
        true,
        "libfoo 1.0\nlibbar 2.3\nrelease\n",
    );
    let host = reg.host().to_string();
    let before = snapshot(&reg);

    // The project as a git repository whose remote has main, feature/keep and the release tag:
    // feature/gone was pushed, then deleted.
    let work = tempfile::Builder::new().prefix("gp-gc-").tempdir().unwrap();
    let project = project_with(&reg, &base, "gitlab", ".gitlab-ci.yml", None);
    let dir = work.path().join("project");
    crate::tools::copy_tree(project.path(), &dir);
    crate::tools::git_init_commit(&dir, "main");
    git(work.path(), &["init", "-q", "--bare", "remote.git"]);
    git(
        &dir,
        &["push", "-q", "../remote.git", "HEAD:refs/heads/main"],
    );
    for b in ["feature/keep", "feature/gone"] {
        git(
            &dir,
            &[
                "push",
                "-q",
                "../remote.git",
                &format!("HEAD:refs/heads/{b}"),
            ],
        );
    }
    git(&dir, &["tag", "v1.0.0"]);
    git(&dir, &["push", "-q", "../remote.git", "v1.0.0"]);
    git(
        &dir,
        &["push", "-q", "../remote.git", "--delete", "feature/gone"],
    );

    let auth = work.path().join("auth.json");
    std::fs::write(
        &auth,
        format!(
            r#"{{"auths":{{"{host}":{{"auth":"{}"}}}}}}"#,
            gen_pipeline::registry::base64_encode(
                format!("{}:{}", reg.user(), reg.password()).as_bytes()
            )
        ),
    )
    .unwrap();

    // What feature/gone wrote: in each image repository the tags on its `feature-gone` digest
    // (its slug, its commit's sha-*, its stage keys), and every buildah cache repository of its
    // slug (one tag per step plus `latest`), the check's included.
    let mut expected = BTreeSet::new();
    let mut image_repos = 0;
    // Stage input key tags (`key-*`) on feature/gone's digests (app1 copies the whole context,
    // its key may differ per checkout; the others have one).
    let mut keys = 0;
    for (repo, tags) in &before {
        if let Some(d) = tags.get("feature-gone") {
            image_repos += 1;
            let mine: BTreeSet<&String> = tags
                .iter()
                .filter(|(_, td)| *td == d)
                .map(|(t, _)| t)
                .collect();
            assert!(
                mine.iter().all(|t| *t == "feature-gone"
                    || t.starts_with("sha-")
                    || t.starts_with("key-")),
                "{repo}: feature/gone's digest carries another ref's tag: {mine:?}"
            );
            keys += mine.iter().filter(|t| t.starts_with("key-")).count();
            expected.extend(
                mine.into_iter()
                    .map(|t| (format!("{host}/{repo}"), t.clone())),
            );
        }
        if repo.starts_with("group/project/cache/") && repo.ends_with(".feature-gone") {
            expected.extend(tags.keys().map(|t| (format!("{host}/{repo}"), t.clone())));
        }
    }
    assert_eq!(
        image_repos, 3,
        "deps, app1 and app2 images of feature/gone: {before:?}"
    );
    assert!(keys >= 1, "feature/gone's key tags: {before:?}");
    let cache_repos: BTreeSet<&String> = expected
        .iter()
        .filter(|(r, _)| r.contains("/cache/"))
        .map(|(r, _)| r)
        .collect();
    assert_eq!(
        cache_repos.len(),
        4,
        "deps, test, app1, app2 caches: {cache_repos:?}"
    );

    // The default age threshold (14d) keeps everything that was just pushed, and says why.
    let (young, _) = gc(&reg, &base, &dir, &auth, &[]);
    assert_eq!(entries(&young, "delete"), BTreeSet::new());
    assert!(
        young["keep"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["tag"] == "feature-gone" && e["reason"].as_str().unwrap().contains("old")),
        "{young:#}"
    );

    // Dry run: exactly feature/gone's tags and caches; nothing is deleted.
    let (dry, stderr) = gc(&reg, &base, &dir, &auth, &["--older-than", "0s"]);
    eprintln!("{dry:#}\n{stderr}");
    assert_eq!(entries(&dry, "delete"), expected);
    assert_eq!(dry["apply"], false);
    assert_eq!(snapshot(&reg), before, "a dry run changed the registry");

    // --apply removes exactly those (the listing before minus the delete set).
    let (applied, stderr) = gc(&reg, &base, &dir, &auth, &["--older-than", "0s", "--apply"]);
    assert_eq!(entries(&applied, "delete"), expected);
    assert!(stderr.contains("deleted"), "{stderr}");
    let after = snapshot(&reg);
    let mut want = before.clone();
    for (repo, tag) in &expected {
        let r = repo.strip_prefix(&format!("{host}/")).unwrap();
        want.get_mut(r).unwrap().remove(tag);
    }
    want.retain(|_, tags| !tags.is_empty());
    assert_eq!(after, want, "the registry after --apply");
    // main, latest, the release and feature/keep are untouched.
    for repo in [
        "group/project",
        "group/project/app1",
        "group/project/stages/deps",
    ] {
        for t in ["main", "latest", "1.0.0", "1.0", "1", "feature-keep"] {
            assert_eq!(after[repo].get(t), before[repo].get(t), "{repo}:{t}");
            assert!(after[repo].contains_key(t), "{repo}:{t} gone");
        }
    }

    // A second run finds nothing.
    let (again, _) = gc(&reg, &base, &dir, &auth, &["--older-than", "0s"]);
    assert_eq!(entries(&again, "delete"), BTreeSet::new());

    // The registry's garbage collector reclaims the blobs only feature/gone used.
    let blobs = |reg: &Registry| walk_count(&reg.storage_dir().join("docker/registry/v2/blobs"));
    let blobs_before = blobs(&reg);
    let config = reg.storage_dir().parent().unwrap().join("config.yml");
    let (desc, o) = run_tool(
        Command::new("docker-registry")
            .arg("garbage-collect")
            .arg(&config),
    );
    let gc_log = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "`{desc}`:\n{gc_log}");
    assert!(gc_log.contains("eligible for deletion"), "{gc_log}");
    let blobs_after = blobs(&reg);
    assert!(
        blobs_after < blobs_before,
        "garbage-collect reclaimed nothing ({blobs_before} -> {blobs_after}):\n{gc_log}"
    );
    // main's images, the release and the live branch still pull, layers included.
    let puller = Builder::fresh();
    puller.login(&reg);
    for repo in [
        "group/project",
        "group/project/app1",
        "group/project/stages/deps",
    ] {
        for t in ["main", "1.0.0", "feature-keep"] {
            puller.buildah(&["pull", "--quiet", &format!("{host}/{repo}:{t}")]);
        }
    }
}

/// Files under `dir` (the registry's blob store: one `data` file per blob).
fn walk_count(dir: &Path) -> usize {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                n += walk_count(&p);
            } else {
                n += 1;
            }
        }
    }
    n
}
