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

use crate::e2e_support::{
    push_base_image, push_base_image_as, BaseImage, Builder, GitlabCiLocal, Registry,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const STAGES: [&str; 3] = ["deps", "app1", "app2"];

/// The fixture's check (issue 10): built in every run (a check pushes nothing, so it has no key
/// image to retag), never pushed.
const CHECK: &str = "test";

/// The repository each job pushes to (issue 10's names): the shared `deps` under `stages/`, the
/// final stage `app2` as the image itself.
fn repo(stage: &str) -> String {
    match stage {
        "deps" => "group/project/stages/deps".into(),
        "app2" => "group/project".into(),
        s => format!("group/project/{s}"),
    }
}

/// `items` and the check, which builds on every run.
fn built_with_check(items: &[&str]) -> BTreeSet<String> {
    let mut s = set(items);
    s.insert(CHECK.to_string());
    s
}

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

/// The job among `jobs` that a gitlab-ci-local log line comes from (`<job> > …`, `<job> $ …`).
fn gitlab_job_of(jobs: &[&str], l: &str) -> Option<String> {
    let first = l.split_whitespace().next()?;
    jobs.contains(&first)
        .then(|| first.to_string())
        .filter(|_| l.contains(" > ") || l.contains(" $ "))
}

/// The registry's digest of each stage's image under `tag`.
fn registry_digests(reg: &Registry, tag: &str) -> BTreeMap<String, String> {
    STAGES
        .iter()
        .map(|s| (s.to_string(), reg.manifest_digest(&repo(s), tag)))
        .collect()
}

/// Runs the GitLab pipeline of `project` on `branch` with fresh storage per job; returns the
/// jobs that built (sorted) and the digests each job handed on.
fn gitlab(
    reg: &Registry,
    project: &Path,
    branch: &str,
) -> (BTreeSet<String>, BTreeMap<String, String>, String) {
    gitlab_jobs(reg, project, branch, &STAGES, &[])
}

/// [`gitlab`] for a project whose pushing jobs are `jobs`, with extra CI `variables`.
fn gitlab_jobs(
    reg: &Registry,
    project: &Path,
    branch: &str,
    jobs: &[&str],
    variables: &[(&str, &str)],
) -> (BTreeSet<String>, BTreeMap<String, String>, String) {
    let (built, handed, log, _) = gitlab_jobs_calls(reg, project, branch, jobs, variables);
    (built, handed, log)
}

/// The jobs that built, the digests handed on, the log, and every `buildah` and `skopeo` call of
/// the run as `(job, "buildah ARGS" | "skopeo ARGS")`.
type GitlabRunCalls = (
    BTreeSet<String>,
    BTreeMap<String, String>,
    String,
    Vec<(String, String)>,
);

/// [`gitlab_jobs`], also returning every `buildah` and `skopeo` call of the run.
fn gitlab_jobs_calls(
    reg: &Registry,
    project: &Path,
    branch: &str,
    jobs: &[&str],
    variables: &[(&str, &str)],
) -> GitlabRunCalls {
    let b = Builder::fresh_per_job();
    let mut gcl = GitlabCiLocal::for_registry(reg, branch);
    gcl.variables
        .insert("GP_KEY_TRACE".to_string(), "true".to_string());
    for (k, v) in variables {
        gcl.variables.insert(k.to_string(), v.to_string());
    }
    let run = gcl.run(project, &b);
    assert!(!run.log.contains("Job failed"), "{}", run.log);
    let builds = b.builds();
    let built: BTreeSet<String> = builds.iter().cloned().collect();
    assert_eq!(built.len(), builds.len(), "a job built twice: {builds:?}");
    let handed = printed_digests(&run.log, |l| gitlab_job_of(jobs, l));
    assert_eq!(
        handed.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        jobs.iter().copied().collect::<BTreeSet<_>>(),
        "{}",
        run.log
    );
    let mut calls: Vec<(String, String)> = b
        .calls()
        .into_iter()
        .map(|(j, a)| (j, format!("buildah {a}")))
        .collect();
    let skopeo = std::fs::read_to_string(b.dir().join("skopeo-calls.log")).unwrap_or_default();
    calls.extend(skopeo.lines().map(|l| {
        let (j, a) = l.split_once(' ').unwrap_or((l, ""));
        (j.to_string(), format!("skopeo {a}"))
    }));
    (built, handed, run.log, calls)
}

/// An access-log line's method, URI, status and user agent.
fn access(line: &str) -> (String, String, u16, String) {
    let q: Vec<&str> = line.split('"').collect();
    let mut req = q.get(1).copied().unwrap_or("").split_whitespace();
    let (m, u) = (req.next().unwrap_or(""), req.next().unwrap_or(""));
    let status = q
        .get(2)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let ua = q.get(q.len().saturating_sub(2)).copied().unwrap_or("");
    (m.to_string(), u.to_string(), status, ua.to_string())
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
    // Without the fixture's `COPY . /src/`: gitlab-ci-local's shell executor keeps its own logs and
    // scripts in `.gitlab-ci-local/` inside the project it builds, so a job that copies the whole
    // context really has new input on every run (BuildKit would copy those files too; the key
    // does not read `.dockerignore`) and rightly rebuilds.
    let project = project_for(&reg, &base, "gitlab", ".gitlab-ci.yml", |df| {
        let out = df.replace("COPY . /src/\n", "");
        assert_ne!(out, df, "the fixture changed");
        out
    });
    // Cold: every job builds and pushes its key tag beside its ref tags.
    let (built, cold, log) = gitlab(&reg, project.path(), "main");
    assert_eq!(built, built_with_check(&STAGES));
    assert_eq!(registry_digests(&reg, "main"), cold);
    for s in STAGES {
        let tags = reg.tags(&repo(s));
        assert!(
            tags.iter().any(|t| t.starts_with("key-")),
            "{s}: {tags:?}\n{log}"
        );
    }
    // Unchanged, fresh storage for every job: no job builds; the same digests are handed on and
    // tagged for this run (a new commit, so new sha- tags).
    let before = reg.access_log().len();
    let (built, again, log, calls) = gitlab_jobs_calls(&reg, project.path(), "main", &STAGES, &[]);
    assert!(
        built == built_with_check(&[]),
        "jobs built on an unchanged run: {built:?}\n{log}"
    );
    // ... through the registry API (curl): a skipped job runs no buildah (not even `buildah
    // login`) and no skopeo; its requests are one HEAD for the base image's digest, one GET of
    // its key manifest and one manifest PUT per tag (main, sha-<commit>, latest), Basic auth sent
    // with the first request (no 401), no blob read. The check job (built on every run) adds one
    // HEAD through the API, for its cache source.
    let skipped_calls: Vec<_> = calls.iter().filter(|(j, _)| j != CHECK).collect();
    assert!(skipped_calls.is_empty(), "{skipped_calls:#?}\n{log}");
    let reqs: Vec<_> = reg.access_log()[before..]
        .iter()
        .map(|l| access(l))
        .filter(|(_, _, _, ua)| ua.starts_with("curl/"))
        .collect();
    let count = |m: &str, uri: &str, status: u16| {
        reqs.iter()
            .filter(|(rm, ru, rs, _)| rm == m && ru.contains(uri) && *rs == status)
            .count()
    };
    let tags = 3;
    assert_eq!(
        count("PUT", "/manifests/", 201),
        STAGES.len() * tags,
        "{reqs:#?}"
    );
    assert_eq!(
        count("GET", "/manifests/key-", 200),
        STAGES.len(),
        "{reqs:#?}"
    );
    assert_eq!(
        count("HEAD", "/library/busybox/manifests/1", 200),
        STAGES.len(),
        "{reqs:#?}"
    );
    assert!(
        reqs.iter()
            .all(|(_, u, s, _)| !u.contains("/blobs/") && *s != 401),
        "{reqs:#?}"
    );
    let per_skipped_job = 1 + 1 + tags;
    assert!(
        reqs.len() <= STAGES.len() * per_skipped_job + 1,
        "{} API requests: {reqs:#?}",
        reqs.len()
    );
    eprintln!(
        "unchanged run: {} registry API requests for {} skipped jobs (and the check's cache probe)",
        reqs.len(),
        STAGES.len()
    );
    assert_eq!(again, cold);
    assert_eq!(registry_digests(&reg, "main"), cold);
    assert_eq!(registry_digests(&reg, "latest"), cold);
    assert!(log.contains("tagging it, no build"), "{log}");
    // One app's source changes: only that app builds; the others hand on their old digests.
    std::fs::write(project.path().join("app1.txt"), "app1 v2\n").unwrap();
    let (built, changed, log) = gitlab(&reg, project.path(), "main");
    assert_eq!(built, built_with_check(&["app1"]), "{log}");
    assert_eq!(changed["deps"], cold["deps"]);
    assert_eq!(changed["app2"], cold["app2"]);
    assert_ne!(changed["app1"], cold["app1"]);
    assert!(reg.built_on(
        &repo("app1"),
        &changed["app1"],
        &repo("deps"),
        &cold["deps"]
    ));
    // A new base image under the same tag: every job depends on it, every job builds.
    let new_base = repush_base(&reg, &base);
    let (built, rebased, log) = gitlab(&reg, project.path(), "main");
    assert_eq!(built, built_with_check(&STAGES), "{log}");
    assert!(reg.built_on(
        &repo("deps"),
        &rebased["deps"],
        "library/busybox",
        &new_base
    ));
    for s in STAGES {
        assert_ne!(rebased[s], changed[s], "{s}");
    }
}

// ---------------------------------------------------------------------------------------------
// Issue 11's proof on the committed `examples/node-monorepo`: a source change under one app builds
// only that app's job.

/// The example's pushing jobs: the shared `deps` and its three apps.
const MONOREPO_JOBS: [&str; 4] = ["api", "deps", "web", "worker"];

/// Each job's key paths, `job -> paths`, from `gen-pipeline plan --format json` in `dir`.
fn planned_key_paths(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_gen-pipeline"))
        .current_dir(dir)
        .args(["plan", "--format", "json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    plan["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            let paths = j["key"]["paths"].as_array().unwrap();
            let paths = paths.iter().map(|p| p.as_str().unwrap().to_string());
            (j["id"].as_str().unwrap().to_string(), paths.collect())
        })
        .collect()
}

/// `text` with `from` replaced by `to`; panics when `from` is not there (the example changed and
/// this test's substitutions must be revisited).
fn substituted(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "the example no longer has `{from}`:\n{text}"
    );
    text.replace(from, to)
}

/// `examples/node-monorepo` run for real: cold run, then one source file under `apps/api`
/// changes and the rerun (fresh builder storage for every job) builds only `api`; `deps`, `web`
/// and `worker` retag their key images and hand on the cold run's digests.
///
/// What is substituted in a copy of the example, and why the proof stands:
/// - Nothing can be pulled here, so `FROM node:${NODE_VERSION}-alpine` becomes
///   `FROM <registry>/library/node:${NODE_VERSION}-alpine`, the busybox base image pushed under
///   that name to the test registry (the `ARG` and its expansion stay).
/// - busybox has no node/npm, so the two RUN commands become busybox commands that read and write
///   the same files: `npm ci` (its cache mount kept) records the manifests it was given in
///   `node_modules/`, `npm run build --workspace web` writes `apps/web/dist/server.js` from the
///   app's source. RUN commands are not key paths (only their text is in the key's static part,
///   alike for every run), so this changes no job's inputs.
/// - `ghcr.io/acme/...` in its `gen-pipeline.yml` points at the test registry.
///
/// Every COPY, every stage and the `images:`/`secrets:` config stay as committed, so the jobs and
/// their key paths are those planned from the real Dockerfile layout: the test first asserts that
/// `plan --format json` gives the same paths per job for the copy and for the committed example.
#[test]
fn gitlab_node_monorepo_source_change_in_one_app_builds_only_that_app() {
    let reg = Registry::start();
    push_base_image_as(&reg, "library/node", "22-alpine");
    let example = crate::tools::repo_root().join("examples/node-monorepo");
    let project = tempfile::Builder::new()
        .prefix("gp-e2e-monorepo-")
        .tempdir()
        .unwrap();
    crate::tools::copy_tree(&example, project.path());
    std::fs::remove_dir_all(project.path().join("pipelines")).unwrap();
    let df = std::fs::read_to_string(project.path().join("Dockerfile")).unwrap();
    let df = substituted(
        &df,
        "FROM node:${NODE_VERSION}-alpine AS deps",
        &format!(
            "FROM {}/library/node:${{NODE_VERSION}}-alpine AS deps",
            reg.host()
        ),
    );
    let df = substituted(
        &df,
        "npm ci\n",
        "mkdir -p node_modules && cat package.json package-lock.json apps/*/package.json > node_modules/.installed\n",
    );
    let df = substituted(
        &df,
        "RUN npm run build --workspace web\n",
        "RUN mkdir -p apps/web/dist && cp apps/web/build.js apps/web/dist/server.js\n",
    );
    std::fs::write(project.path().join("Dockerfile"), df).unwrap();
    let cfg = std::fs::read_to_string(project.path().join("gen-pipeline.yml")).unwrap();
    let cfg = substituted(&cfg, "ghcr.io/acme/", &format!("{}/acme/", reg.host()));
    std::fs::write(project.path().join("gen-pipeline.yml"), cfg).unwrap();
    let planned = planned_key_paths(project.path());
    assert_eq!(planned, planned_key_paths(&example));
    assert_eq!(
        planned.keys().map(String::as_str).collect::<Vec<_>>(),
        MONOREPO_JOBS
    );
    assert!(
        planned["api"].contains(&"apps/api".to_string()),
        "{planned:?}"
    );
    crate::tools::gen_ok(
        project.path(),
        [
            "--ci",
            "gitlab",
            "--builder",
            "buildah",
            "-o",
            ".gitlab-ci.yml",
        ],
    );
    let run = |what: &str| {
        let (built, handed, log) = gitlab_jobs(
            &reg,
            project.path(),
            "main",
            &MONOREPO_JOBS,
            &[("NPM_TOKEN", "not-a-token")],
        );
        let repo = |job: &str| match job {
            "deps" => "acme/node-monorepo/stages/deps".to_string(),
            app => format!("acme/node-monorepo/{app}"),
        };
        for (job, digest) in &handed {
            assert_eq!(
                &reg.manifest_digest(&repo(job), "main"),
                digest,
                "{what}: {job}"
            );
        }
        (built, handed, log)
    };
    let (built, cold, log) = run("cold");
    assert_eq!(built, set(&MONOREPO_JOBS), "{log}");
    // One app's source changes, in a new commit: only that app builds.
    let src = project.path().join("apps/api/index.js");
    let text = std::fs::read_to_string(&src).unwrap();
    std::fs::write(&src, format!("{text}// changed by the e2e test\n")).unwrap();
    let (built, changed, log) = run("api changed");
    assert_eq!(built, set(&["api"]), "{log}");
    for job in ["deps", "web", "worker"] {
        assert_eq!(changed[job], cold[job], "{job}\n{log}");
    }
    assert!(log.contains("tagging it, no build"), "{log}");
    assert_ne!(changed["api"], cold["api"]);
    assert!(reg.built_on(
        "acme/node-monorepo/api",
        &changed["api"],
        "acme/node-monorepo/stages/deps",
        &cold["deps"]
    ));
}

// ---------------------------------------------------------------------------------------------
// Drone, through the step driver that stands in for its runner (see `e2e.rs`).

/// A static file server on a free loopback port (python's http.server), stopped on drop.
struct FileServer {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl FileServer {
    fn start(files: &[(&str, &str)]) -> FileServer {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        FileServer {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The e2e fixture with its Dockerfile edited by `edit`, and its pipeline for `ci` (buildah)
/// generated into `out`.
fn project_for(
    reg: &Registry,
    base: &BaseImage,
    ci: &str,
    out: &str,
    edit: impl Fn(String) -> String,
) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("gp-e2e-skip-")
        .tempdir()
        .unwrap();
    crate::tools::copy_tree(
        &crate::tools::repo_root().join("tests/fixtures/e2e-project"),
        dir.path(),
    );
    let df = std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap();
    std::fs::write(dir.path().join("Dockerfile"), edit(df)).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_gen-pipeline"))
        .current_dir(dir.path())
        .args([
            "--ci",
            ci,
            "--builder",
            "buildah",
            "-f",
            "Dockerfile",
            "-o",
            out,
        ])
        .arg("--image")
        .arg(reg.image("group/project"))
        .arg("--build-arg")
        .arg(format!("BASE={}", base.reference))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    dir
}

/// The e2e fixture with `app2` also fetching `url` (`ADD <url>`), and its Drone pipeline.
fn project_with_remote_add(reg: &Registry, base: &BaseImage, url: &str) -> tempfile::TempDir {
    let url = url.to_string();
    project_for(reg, base, "drone", ".drone.yml", move |df| {
        df.replace(
            "COPY app2.txt /app.txt\n",
            &format!("COPY app2.txt /app.txt\nADD {url} /remote.txt\n"),
        )
    })
}

/// Runs the Drone push (or tag) pipeline of `project` with a fresh builder; `before` may change
/// the checkout after its commit (uncommitted changes). Returns the jobs that built and the
/// digests handed on (the digest files).
fn drone(
    reg: &Registry,
    project: &Path,
    branch: &str,
    tag: Option<&str>,
    before: impl Fn(&Path),
) -> (BTreeSet<String>, BTreeMap<String, String>, String) {
    let b = Builder::fresh();
    let ws = crate::e2e_woodpecker::Workspace::of(project, branch, ".drone.yml");
    before(&ws.checkout);
    let sha = crate::e2e_woodpecker::git_head(&ws.checkout);
    let mut env: Vec<(String, String)> = vec![
        ("CI".into(), "true".into()),
        ("DRONE".into(), "true".into()),
        ("DRONE_COMMIT_SHA".into(), sha.clone()),
        ("DRONE_REPO_BRANCH".into(), "main".into()),
        ("DRONE_WORKSPACE".into(), ws.checkout.display().to_string()),
    ];
    match tag {
        Some(t) => {
            env.push(("DRONE_BUILD_EVENT".into(), "tag".into()));
            env.push(("DRONE_TAG".into(), t.into()));
        }
        None => {
            env.push(("DRONE_BUILD_EVENT".into(), "push".into()));
            env.push(("DRONE_BRANCH".into(), branch.into()));
        }
    }
    // The file as Drone's runner parses it: after drone/envsubst over the whole file.
    let text = crate::e2e_woodpecker::substituted(&ws.checkout.join(".drone.yml"), &env);
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let steps = doc["steps"].as_sequence().unwrap().clone();
    let secrets = BTreeMap::from([
        ("registry_username", reg.user().to_string()),
        ("registry_password", reg.password().to_string()),
    ]);
    let runner = crate::e2e_woodpecker::StepRunner {
        ci: "drone",
        env,
        step_name_var: "DRONE_STEP_NAME",
        secrets: &secrets,
        builder: &b,
    };
    let event = if tag.is_some() { "tag" } else { "push" };
    let run = runner.run(&ws.checkout, &steps, |s| {
        crate::e2e_woodpecker::when_admits(s, event, branch)
    });
    let built: BTreeSet<String> = b.builds().into_iter().collect();
    let digests = STAGES
        .iter()
        .map(|s| {
            let f = ws
                .state()
                .join(format!("digests/GP_DIGEST_{}", s.to_uppercase()));
            let d = std::fs::read_to_string(&f).unwrap_or_default();
            (s.to_string(), d.trim().to_string())
        })
        .collect();
    (built, digests, run.log)
}

#[test]
fn drone_remote_add_dirty_checkout_and_tag_on_mains_content() {
    let reg = Registry::start();
    let base = push_base_image(&reg);
    let files = FileServer::start(&[("remote.txt", "fetched at build time\n")]);
    let url = format!("http://127.0.0.1:{}/remote.txt", files.port);
    let project = project_with_remote_add(&reg, &base, &url);
    let pipeline = std::fs::read_to_string(project.path().join(".drone.yml")).unwrap();
    let df = std::fs::read_to_string(project.path().join("Dockerfile")).unwrap();
    let add_line = df.lines().position(|l| l.starts_with("ADD ")).unwrap() + 1;
    assert!(
        pipeline.contains(&format!(
            "# note: job `app2` always builds: line {add_line}: ADD {url}"
        )),
        "{pipeline}"
    );
    let (built, cold, log) = drone(&reg, project.path(), "main", None, |_| {});
    assert_eq!(built, built_with_check(&STAGES), "{log}");
    assert_eq!(registry_digests(&reg, "main"), cold);
    // Unchanged: only the job with `ADD <url>` builds (the key cannot see the URL's content).
    let (built, again, log) = drone(&reg, project.path(), "main", None, |_| {});
    assert_eq!(built, built_with_check(&["app2"]), "{log}");
    assert_eq!(again["deps"], cold["deps"]);
    assert_eq!(again["app1"], cold["app1"]);
    // An uncommitted change never skips, even when its content has a key image already: the
    // commit has app1 v2, the working tree goes back to the original app1.txt (built above).
    let original = std::fs::read_to_string(project.path().join("app1.txt")).unwrap();
    std::fs::write(project.path().join("app1.txt"), "app1 v2\n").unwrap();
    let (built, dirty, log) = drone(&reg, project.path(), "main", None, |checkout| {
        std::fs::write(checkout.join("app1.txt"), &original).unwrap();
    });
    assert_eq!(built, built_with_check(&["app1", "app2"]), "{log}");
    assert!(
        log.contains("uncommitted changes in the build context"),
        "{log}"
    );
    assert_eq!(dirty["deps"], cold["deps"]);
    // The same content committed: the key image exists again, so app1 is skipped with the
    // original image; a tag pipeline on main's content publishes main's tested digests.
    std::fs::write(project.path().join("app1.txt"), &original).unwrap();
    let (built, main_run, log) = drone(&reg, project.path(), "main", None, |_| {});
    assert_eq!(built, built_with_check(&["app2"]), "{log}");
    assert_eq!(main_run["app1"], cold["app1"]);
    let (built, tagged, log) = drone(&reg, project.path(), "main", Some("v1.2.3"), |_| {});
    assert_eq!(built, built_with_check(&["app2"]), "{log}");
    let released = registry_digests(&reg, "1.2.3");
    assert_eq!(released["deps"], main_run["deps"]);
    assert_eq!(released["app1"], main_run["app1"]);
    assert_eq!(released, tagged);
}

// ---------------------------------------------------------------------------------------------
// buildx flavor (no Docker engine here): the Drone steps run through the step driver with a fake
// `docker` that logs every call and answers the registry probes, to show which docker commands a
// step whose key has an image makes: no builder is created and nothing is built.

const FAKE_DOCKER: &str = r#"#!/bin/sh
printf '%s %s\n' "${DRONE_STEP_NAME:-?}" "$*" >> "$FAKE_LOG"
case "$1 $2 $3" in
  "buildx imagetools inspect")
    case $4 in *:key-*) [ "$FAKE_KEYS" = exist ] || exit 1 ;; esac
    echo '"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"' ;;
  "buildx imagetools create") ;;
  "buildx inspect "*) [ -f "$FAKE_STATE/builder" ] || exit 1 ;;
  "buildx create "*) touch "$FAKE_STATE/builder" ;;
  "buildx build "*)
    while [ $# -gt 0 ]; do
      if [ "$1" = --metadata-file ]; then
        printf '{"containerimage.digest": "sha256:%s"}\n' bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb > "$2"
      fi
      shift
    done ;;
  *) cat > /dev/null 2>&1 || true ;;
esac
"#;

/// Runs the Drone buildx pipeline of the e2e fixture with the fake docker; returns its log of calls.
fn drone_buildx_calls(keys: &str) -> Vec<(String, String)> {
    drone_buildx_run(keys, "push").0
}

/// Runs the Drone buildx pipeline of the e2e fixture with the fake docker for `event` (`push` to
/// main, or `pull_request` 7 from `feature`); returns its log of calls and the steps run and
/// skipped. A pull request gets no secret at all: a step that asked for one would fail the run.
fn drone_buildx_run(
    keys: &str,
    event: &str,
) -> (Vec<(String, String)>, crate::e2e_woodpecker::StepsRun) {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("docker"), FAKE_DOCKER).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(bin.join("docker"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let project = tmp.path().join("project");
    crate::tools::copy_tree(
        &crate::tools::repo_root().join("tests/fixtures/e2e-project"),
        &project,
    );
    crate::tools::gen_ok(
        &project,
        [
            "--ci",
            "drone",
            "-f",
            "Dockerfile",
            "-o",
            ".drone.yml",
            "--image",
            "registry.example.com/group/project",
            "--build-arg",
            "BASE=registry.example.com/library/busybox:1",
        ],
    );
    let ws = crate::e2e_woodpecker::Workspace::of(&project, "main", ".drone.yml");
    let b = Builder::fresh();
    let log = tmp.path().join("calls.log");
    let path = format!("{}:{}", bin.display(), b.env()["PATH"]);
    let mut env: Vec<(String, String)> = [
        ("PATH", path.as_str()),
        ("FAKE_LOG", &log.display().to_string()),
        ("FAKE_STATE", &tmp.path().display().to_string()),
        ("FAKE_KEYS", keys),
        ("DRONE_BUILD_EVENT", event),
        ("DRONE_BRANCH", "main"),
        (
            "DRONE_COMMIT_SHA",
            &crate::e2e_woodpecker::git_head(&ws.checkout),
        ),
        ("DRONE_REPO_BRANCH", "main"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let pr = event == "pull_request";
    if pr {
        env.push(("DRONE_PULL_REQUEST".into(), "7".into()));
        env.push(("DRONE_SOURCE_BRANCH".into(), "feature".into()));
    }
    let text = crate::e2e_woodpecker::substituted(&ws.checkout.join(".drone.yml"), &env);
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let steps = doc["steps"].as_sequence().unwrap().clone();
    let secrets = if pr {
        BTreeMap::new()
    } else {
        BTreeMap::from([
            ("registry_username", "u".to_string()),
            ("registry_password", "p".to_string()),
        ])
    };
    let runner = crate::e2e_woodpecker::StepRunner {
        ci: "drone",
        env,
        step_name_var: "DRONE_STEP_NAME",
        secrets: &secrets,
        builder: &b,
    };
    let run = runner.run(&ws.checkout, &steps, |s| {
        crate::e2e_woodpecker::when_admits(s, event, "main")
    });
    let calls: Vec<(String, String)> = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let (s, a) = l.split_once(' ').unwrap();
            (s.to_string(), a.to_string())
        })
        .collect();
    for s in STAGES.iter().filter(|_| !pr) {
        let d = std::fs::read_to_string(
            ws.state()
                .join(format!("digests/GP_DIGEST_{}", s.to_uppercase())),
        )
        .unwrap_or_else(|e| panic!("{s}: {e}\n{}", run.log));
        assert!(d.trim().starts_with("sha256:"), "{s}: {d}");
    }
    (calls, run)
}

/// Issue 11, one Drone/Woodpecker pipeline: a pull request runs the shared `lib` step (the shell,
/// written once for both events) and the pull-request step only, with no secret, no registry
/// login, no key probe and no push; the push steps are skipped by their `when`.
#[test]
fn drone_pull_request_runs_the_shared_lib_and_its_own_step_only() {
    let (calls, run) = drone_buildx_run("missing", "pull_request");
    assert_eq!(run.ran, ["lib", "fork-pr"], "{}", run.log);
    let mut skipped = run.skipped.clone();
    skipped.sort();
    let mut want: Vec<String> = ["login", "cleanup", CHECK]
        .iter()
        .chain(STAGES.iter())
        .map(|s| s.to_string())
        .collect();
    want.sort();
    assert_eq!(skipped, want, "{}", run.log);
    assert!(
        calls.iter().all(|(step, a)| step == "fork-pr"
            && !a.starts_with("login")
            && !a.contains(":key-")
            && !a.contains("--push")),
        "{calls:#?}"
    );
    // Every target is built (the fixture's targets: every stage but the shared deps).
    let builds = calls
        .iter()
        .filter(|(_, a)| a.starts_with("buildx build"))
        .count();
    assert!(builds >= 2, "{calls:#?}\n{}", run.log);
}

#[test]
fn drone_buildx_step_whose_key_has_an_image_creates_no_builder() {
    let calls = drone_buildx_calls("exist");
    // The check step builds on every run (one builder, one build, never a key probe or a push);
    // the other steps, whose keys have images, create no builder and build nothing.
    let made = |what: &str| {
        calls
            .iter()
            .filter(|(step, a)| step != CHECK && a.starts_with(what))
            .count()
    };
    assert_eq!(made("buildx create"), 0, "{calls:#?}");
    assert_eq!(made("buildx build"), 0, "{calls:#?}");
    let check_calls: Vec<&String> = calls
        .iter()
        .filter(|(step, _)| step == CHECK)
        .map(|(_, a)| a)
        .collect();
    assert_eq!(
        check_calls
            .iter()
            .filter(|a| a.starts_with("buildx build"))
            .count(),
        1,
        "{calls:#?}"
    );
    assert!(
        check_calls
            .iter()
            .all(|a| !a.contains(":key-") && !a.contains("--push")),
        "a check never probes a key nor pushes: {calls:#?}"
    );
    // Each step probed its key and retagged its key image.
    for s in STAGES {
        assert!(
            calls.iter().any(|(step, a)| step == s
                && a.starts_with("buildx imagetools create --prefer-index=false")),
            "{s}: {calls:#?}"
        );
    }
    // Without key images: one builder for the whole run, one build per step.
    let calls = drone_buildx_calls("missing");
    let made = |what: &str| calls.iter().filter(|(_, a)| a.starts_with(what)).count();
    assert_eq!(made("buildx create"), 1, "{calls:#?}");
    assert_eq!(made("buildx build"), 4, "{calls:#?}");
    assert!(
        calls
            .iter()
            .filter(|(step, a)| step != CHECK && a.starts_with("buildx build"))
            .all(|(_, a)| a.contains(":key-")),
        "a built step pushes its key tag: {calls:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The buildah flavor's registry part (buildah.sh) on its own, with and without skopeo.

/// Lets the registry write the access-log lines of requests that just ended (it logs after the
/// response).
fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(300));
}

/// Runs `script` after the buildah pipelines' shell with builder `b`'s environment and `path`
/// as PATH; returns stdout, panicking with stderr on failure.
fn buildah_shell(b: &Builder, path: &str, script: &str) -> String {
    let shell = gen_pipeline::render::compact_shell(
        gen_pipeline::render::shell_parts(gen_pipeline::plan::Builder::Buildah)
            .iter()
            .map(|n| gen_pipeline::render::embedded(n).unwrap()),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = b
        .command("sh")
        .args(["-e", "-c", &format!("{shell}\n{script}")])
        .env("PATH", path)
        .env("GP_DIGEST_FILE", dir.path().join("digest"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Issue 11 (a skipped job's cost): buildah.sh's `gp_digest_of` and `gp_retag` by the registry
/// API (curl on PATH): one HEAD, and one manifest PUT per tag with no blob request at all; with
/// curl hidden and skopeo on PATH, the skopeo fallback reads one manifest and copies no layer
/// (only the config blob is read), keeping the digest; with neither, the buildah fallback gives
/// the same digests (it pulls the layers). The request counts per probe and per retag are
/// printed for bench/CACHE-RESULTS.md.
#[test]
fn buildah_retag_and_probe_with_skopeo_pull_no_layer() {
    let reg = Registry::start();
    let base = push_base_image(&reg);
    let b = Builder::fresh();
    b.login(&reg);
    let sys_path = std::env::var("PATH").unwrap();
    // PATHs without curl: the builder's wrappers (buildah, and skopeo or not) and the few tools
    // they need.
    let tools_dir = |wrappers: &[&str]| {
        let d = tempfile::tempdir().unwrap();
        for tool in [
            "sh", "sed", "head", "cat", "rm", "mktemp", "tr", "cut", "mkdir", "unshare", "mount",
        ] {
            let real = crate::tools::which(tool).unwrap();
            std::os::unix::fs::symlink(real, d.path().join(tool)).unwrap();
        }
        for w in wrappers {
            std::os::unix::fs::symlink(b.bin_dir().join(w), d.path().join(w)).unwrap();
        }
        assert!(!d.path().join("curl").exists());
        d
    };
    let (no_curl, no_skopeo) = (tools_dir(&["buildah", "skopeo"]), tools_dir(&["buildah"]));
    let with = format!("{}:{sys_path}", b.bin_dir().display());
    assert!(b.bin_dir().join("skopeo").exists(), "no skopeo wrapper");
    assert!(crate::tools::which("curl").is_ok(), "no curl");
    let skopeo_only = no_curl.path().display().to_string();
    let without = no_skopeo.path().display().to_string();
    let src = format!("{}@{}", base.repository, base.digest);
    for (name, path, tag) in [
        ("curl", &with, "c"),
        ("skopeo", &skopeo_only, "a"),
        ("buildah", &without, "b"),
    ] {
        let skopeo_calls =
            || std::fs::read_to_string(b.dir().join("skopeo-calls.log")).unwrap_or_default();
        let skopeo_before = skopeo_calls().len();
        let before = reg.access_log().len();
        let probed = buildah_shell(&b, path, &format!("gp_digest_of '{}'", base.reference));
        settle();
        let probe_reqs = reg.access_log().len() - before;
        assert_eq!(probed.trim(), base.digest, "{name}");
        let before = reg.access_log().len();
        let refs = format!("{0}:{tag}1 {0}:{tag}2 {0}:{tag}3", base.repository);
        buildah_shell(&b, path, &format!("gp_refs='{refs}'; gp_retag '{src}'"));
        settle();
        let log = reg.access_log()[before..].to_vec();
        let t = crate::e2e_support::traffic_from_log(&log);
        for i in 1..=3 {
            assert_eq!(
                reg.manifest_digest("library/busybox", &format!("{tag}{i}")),
                base.digest,
                "{name}"
            );
        }
        assert_eq!(t.manifest_pushes, 3, "{name}: {log:?}");
        let skopeo_ran = skopeo_calls().len() > skopeo_before;
        assert_eq!(skopeo_ran, name == "skopeo", "{name}: {}", skopeo_calls());
        if name == "curl" {
            // the registry API: no ping, no blob request, one PUT per tag, one manifest read
            assert_eq!(probe_reqs, 1, "{name}: {log:?}");
            assert_eq!(log.len(), 4, "{name}: {log:?}");
            assert!(log.iter().all(|l| !l.contains("/blobs/")), "{log:?}");
        }
        if name == "skopeo" {
            // skopeo reads the small config blob (HEADs the layers): no layer is pulled (the base
            // layer is busybox, about 1 MB), nothing is uploaded.
            assert!(t.pulled_bytes < 8 * 1024, "skopeo pulled a layer: {log:?}");
            assert_eq!(t.blob_pushes, 0, "{log:?}");
        }
        eprintln!(
            "{name}: digest probe {probe_reqs} requests; retag to 3 tags {} requests, {} blob GETs ({} bytes)",
            log.len(),
            t.blob_pulls,
            t.pulled_bytes
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The buildah flavor's registry API (curl) against a token-auth registry: tests/e2e/token-registry.py,
// a fake that speaks distribution's Bearer token flow over TLS (manifests only).

/// A running `tests/e2e/token-registry.py` on a free port, its CA trusted through
/// `/etc/containers/certs.d/127.0.0.1:<port>/ca.crt` (as the shell finds it); stopped and
/// untrusted on drop.
struct TokenRegistry {
    child: std::process::Child,
    host: String,
    state: tempfile::TempDir,
    certs_d: std::path::PathBuf,
}

/// A manifest seeded in the fake: repository, tag, media type, bytes.
type Seed<'a> = (&'a str, &'a str, &'a str, &'a str);

impl TokenRegistry {
    const USER: &'static str = "robot";
    const PASSWORD: &'static str = "pw-SECRET-PASSWORD";

    fn start(seed: &[Seed]) -> TokenRegistry {
        use std::process::Command;
        let state = tempfile::tempdir().unwrap();
        let s = state.path();
        let ossl = |args: &[&str]| {
            let o = Command::new("openssl")
                .current_dir(s)
                .args(args)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        };
        ossl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=gp test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ]);
        ossl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
        ]);
        std::fs::write(s.join("srv.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        ossl(&[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "srv.ext",
            "-out",
            "srv.crt",
        ]);
        let mut store = serde_json::Map::new();
        for (repo, tag, media_type, bytes) in seed {
            use sha2::Digest as _;
            let d = format!("sha256:{:x}", sha2::Sha256::digest(bytes.as_bytes()));
            let r = store
                .entry(repo.to_string())
                .or_insert_with(|| serde_json::json!({"manifests": {}, "tags": {}}));
            r["manifests"][&d] =
                serde_json::json!({"type": media_type, "b64": b64(bytes.as_bytes())});
            r["tags"][*tag] = serde_json::json!(d);
        }
        std::fs::write(s.join("store.json"), serde_json::to_string(&store).unwrap()).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let host = format!("127.0.0.1:{port}");
        let certs_d = std::path::PathBuf::from("/etc/containers/certs.d").join(&host);
        std::fs::create_dir_all(&certs_d).unwrap();
        std::fs::copy(s.join("ca.crt"), certs_d.join("ca.crt")).unwrap();
        let child = Command::new("python3")
            .arg(crate::tools::repo_root().join("tests/e2e/token-registry.py"))
            .arg(port.to_string())
            .arg(s.join("srv.crt"))
            .arg(s.join("srv.key"))
            .arg(s)
            .args([Self::USER, Self::PASSWORD])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if s.join("ready").exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        TokenRegistry {
            child,
            host,
            state,
            certs_d,
        }
    }

    /// The requests so far: `METHOD PATH AUTH STATUS`.
    fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(self.state.path().join("requests.log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    /// The digest and media type `repo:tag` points to in the fake's store.
    fn tag(&self, repo: &str, tag: &str) -> Option<(String, String)> {
        let s: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(self.state.path().join("store.json")).unwrap(),
        )
        .unwrap();
        let d = s[repo]["tags"][tag].as_str()?.to_string();
        let t = s[repo]["manifests"][&d]["type"].as_str()?.to_string();
        Some((d, t))
    }
}

impl Drop for TokenRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.certs_d);
    }
}

fn b64(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = c.iter().fold(0u32, |n, b| n << 8 | *b as u32) << (8 * (3 - c.len()));
        for i in 0..4 {
            out.push(if i <= c.len() {
                A[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// A PATH for the buildah flavor's shell with curl and the usual utilities, and stub `buildah`
/// and `skopeo` that log their calls to `<dir>/stub.log` (`buildah login` succeeds, the rest
/// fails): a fallback from the registry API shows up there.
fn api_path(dir: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in [
        "sh",
        "curl",
        "sed",
        "tr",
        "grep",
        "tail",
        "head",
        "cut",
        "sha256sum",
        "base64",
        "mktemp",
        "rm",
        "cat",
        "mkdir",
        "dirname",
    ] {
        std::os::unix::fs::symlink(crate::tools::which(tool).unwrap(), bin.join(tool)).unwrap();
    }
    let log = dir.join("stub.log");
    for tool in ["buildah", "skopeo"] {
        let text = format!(
            "#!/bin/sh\nprintf '%s\\n' \"{tool} $*\" >> '{}'\ncase \"{tool} $1\" in 'buildah login') cat >/dev/null; exit 0 ;; esac\nexit 1\n",
            log.display()
        );
        std::fs::write(bin.join(tool), text).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(bin.join(tool), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin.display().to_string()
}

/// Runs `script` after the buildah pipelines' shell under `sh -x` with `path` and `env`; returns
/// (success, stdout, stderr: the trace).
fn api_shell(
    dir: &Path,
    path: &str,
    env: &[(&str, String)],
    script: &str,
) -> (bool, String, String) {
    let shell = gen_pipeline::render::compact_shell(
        gen_pipeline::render::shell_parts(gen_pipeline::plan::Builder::Buildah)
            .iter()
            .map(|n| gen_pipeline::render::embedded(n).unwrap()),
    );
    let mut cmd = std::process::Command::new(crate::tools::which("sh").unwrap());
    cmd.args(["-x", "-c", &format!("{shell}\n{script}")])
        .env_clear()
        .env("PATH", path)
        .env("TMPDIR", dir)
        .env("GP_DIGEST_FILE", dir.join("digest"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Issue 11 (a skipped job's registry work by the registry API): against a token-auth registry
/// (Bearer challenge, token endpoint), the buildah flavor's shell probes the key image, retags
/// it by PUTting its manifest with its media type per tag and hands on its digest, with the
/// job's credentials (GitLab) or the login step's auth file (Drone/Woodpecker); an external
/// image needs no credentials (anonymous token); wrong credentials, a missing credential and
/// a registry that answers a wrong digest fall back to the tools (never a wrong tag); no
/// credential or token appears in the `sh -x` trace; no temp dir is left behind.
#[test]
fn buildah_registry_api_bearer_token_flow() {
    const OCI: &str = "application/vnd.oci.image.manifest.v1+json";
    const DOCKER: &str = "application/vnd.docker.distribution.manifest.v2+json";
    let key_manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:c"},"layers":[]}"#;
    let base_manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"digest":"sha256:b"},"layers":[]}"#;
    let reg = TokenRegistry::start(&[
        ("group/app", "key-abc", OCI, key_manifest),
        ("group/liar", "key-abc", OCI, key_manifest),
        ("library/base", "1", DOCKER, base_manifest),
    ]);
    let h = reg.host.clone();
    let digest = |m: &str| {
        use sha2::Digest as _;
        format!("sha256:{:x}", sha2::Sha256::digest(m.as_bytes()))
    };
    let (key_digest, base_digest) = (digest(key_manifest), digest(base_manifest));
    let dir = tempfile::tempdir().unwrap();
    let path = api_path(dir.path());
    let stub_log = || std::fs::read_to_string(dir.path().join("stub.log")).unwrap_or_default();
    let gitlab = |password: &str| {
        vec![
            ("GP_REGISTRY", h.clone()),
            ("GP_LOGIN_USER", TokenRegistry::USER.to_string()),
            ("GP_LOGIN_PASSWORD", password.to_string()),
        ]
    };
    let reuse = |repo: &str, tags: &str| {
        format!(
            "gp_probe '{h}/{repo}:key-abc' push; echo \"probed=$gp_dg\"; gp_refs='{}'; gp_retag \"{h}/{repo}@$gp_dg\" && echo retagged",
            tags.split(' ')
                .map(|t| format!("{h}/{repo}:{t}"))
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    let no_secret = |trace: &str| {
        let basic = b64(format!("{}:{}", TokenRegistry::USER, TokenRegistry::PASSWORD).as_bytes());
        assert!(
            !trace.contains("SECRET-"),
            "a secret in the trace:\n{trace}"
        );
        assert!(
            !trace.contains(&basic),
            "credentials in the trace:\n{trace}"
        );
    };

    // GitLab: the job's credentials; one token (pull,push) serves the probe and both PUTs.
    let before = reg.requests().len();
    let (ok, out, trace) = api_shell(
        dir.path(),
        &path,
        &gitlab(TokenRegistry::PASSWORD),
        &reuse("group/app", "main sha-1"),
    );
    assert!(ok, "{out}\n{trace}");
    assert!(out.contains(&format!("probed={key_digest}")), "{out}");
    assert!(out.contains("retagged"), "{out}");
    for t in ["main", "sha-1"] {
        assert_eq!(
            reg.tag("group/app", t),
            Some((key_digest.clone(), OCI.to_string()))
        );
    }
    let mut reqs = reg.requests()[before..].to_vec();
    // the PUTs run in parallel: their order is the registry's
    reqs[3..].sort();
    assert_eq!(
        reqs,
        [
            "GET /v2/group/app/manifests/key-abc none 401".to_string(),
            "GET /token?service=fake&scope=repository:group/app:pull,push basic-ok 200".into(),
            "GET /v2/group/app/manifests/key-abc bearer:pull,push 200".into(),
            "PUT /v2/group/app/manifests/main bearer:pull,push 201".into(),
            "PUT /v2/group/app/manifests/sha-1 bearer:pull,push 201".into(),
        ],
        "{trace}"
    );
    assert_eq!(stub_log(), "", "no tool ran, no login");
    no_secret(&trace);

    // Drone/Woodpecker: no credentials in the step, the login step's auth file.
    let auth = dir.path().join("auth.json");
    std::fs::write(
        &auth,
        format!(
            "{{\n\t\"auths\": {{\n\t\t\"other.example\": {{\n\t\t\t\"auth\": \"eDp5\"\n\t\t}},\n\t\t\"{h}\": {{\n\t\t\t\"auth\": \"{}\"\n\t\t}}\n\t}}\n}}\n",
            b64(format!("{}:{}", TokenRegistry::USER, TokenRegistry::PASSWORD).as_bytes())
        ),
    )
    .unwrap();
    let file_env = [("REGISTRY_AUTH_FILE", auth.display().to_string())];
    let (ok, out, trace) = api_shell(dir.path(), &path, &file_env, &reuse("group/app", "v1"));
    assert!(ok && out.contains("retagged"), "{out}\n{trace}");
    assert_eq!(reg.tag("group/app", "v1").unwrap().0, key_digest);
    assert_eq!(stub_log(), "");
    no_secret(&trace);

    // A missing key image: absent (status 1) from the 404, no tool asked.
    let (ok, out, trace) = api_shell(
        dir.path(),
        &path,
        &gitlab(TokenRegistry::PASSWORD),
        &format!("if gp_probe '{h}/group/app:key-none' push; then echo found; else echo \"absent $?\"; fi"),
    );
    assert!(ok && out.contains("absent 1"), "{out}\n{trace}");
    assert_eq!(stub_log(), "");

    // An external image, no credentials at all: an anonymous pull token (`access_token`), a HEAD.
    let before = reg.requests().len();
    let (ok, out, trace) = api_shell(
        dir.path(),
        &path,
        &[],
        &format!("gp_digest_of '{h}/library/base:1'"),
    );
    assert!(ok, "{out}\n{trace}");
    assert_eq!(out.trim(), base_digest);
    assert_eq!(
        reg.requests()[before..],
        [
            "HEAD /v2/library/base/manifests/1 none 401".to_string(),
            "GET /token?service=fake&scope=repository:library/base:pull none 200".into(),
            "HEAD /v2/library/base/manifests/1 bearer:pull 200".into(),
        ]
    );
    assert_eq!(stub_log(), "");

    // Wrong credentials: the token endpoint refuses; the probe falls back to the tools (login,
    // then skopeo), which decide (here: they fail, so no skip); the retag falls back too and
    // fails clearly; no tag is written.
    let (ok, out, trace) = api_shell(
        dir.path(),
        &path,
        &gitlab("wrong"),
        &format!(
            "if gp_probe '{h}/group/app:key-abc' push; then echo found; else echo \"absent $?\"; fi; gp_refs='{h}/group/app:bad'; gp_retag '{h}/group/app@{key_digest}' || echo \"retag failed $?\""
        ),
    );
    assert!(ok, "{out}\n{trace}");
    assert!(
        out.contains("absent 1") && out.contains("retag failed 1"),
        "{out}"
    );
    let log = stub_log();
    assert!(log.starts_with("buildah login"), "{log}");
    assert!(
        log.contains(&format!(
            "skopeo inspect --raw docker://{h}/group/app:key-abc"
        )),
        "{log}"
    );
    assert!(log.contains("skopeo copy"), "{log}");
    assert_eq!(reg.tag("group/app", "bad"), None);
    assert!(
        reg.requests().iter().any(|r| r.contains("basic-bad 401")),
        "{:?}",
        reg.requests()
    );

    // A registry that answers another digest for the PUT manifest: the retag is not trusted.
    let _ = std::fs::remove_file(dir.path().join("stub.log"));
    let (ok, out, trace) = api_shell(
        dir.path(),
        &path,
        &gitlab(TokenRegistry::PASSWORD),
        &format!(
            "{} || echo \"retag failed $?\"",
            reuse("group/liar", "main")
        ),
    );
    assert!(ok && out.contains("retag failed 1"), "{out}\n{trace}");
    assert!(stub_log().contains("skopeo copy"), "{}", stub_log());

    // No API session left a temp dir; the job's scratch directory (GP_DIGEST_FILE.d, which the
    // sessions used instead of temp dirs) is private and holds no credential nor token once
    // they closed.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("tmp."))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let scratch = dir.path().join("digest.d");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&scratch).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let basic = b64(format!("{}:{}", TokenRegistry::USER, TokenRegistry::PASSWORD).as_bytes());
    for f in std::fs::read_dir(&scratch).unwrap() {
        let f = f.unwrap().path();
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        assert!(
            !text.contains("SECRET-") && !text.contains(&basic),
            "{}: {text}",
            f.display()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Issue 11's unchanged bound (≤ 10 % of an unchanged run that builds): what a skipped job still
// costs is process starts, so the processes a skipped GitLab job starts are counted and pinned.

/// The external commands a skipped GitLab job (buildah flavour) may start, and how many in all.
///
/// A job whose key has an image starts, in its before_script, script and after_script:
/// `mkdir` (the job's private state with its scratch `digest.d`), `git` (one `git status` for
/// every key path: a dirty context never skips), `find` (one for every key path) with one
/// `printf` (the directories' lines) and one `sha256sum` (the files'), `sort` (the content lines),
/// `sha256sum` (the key), `curl` three times (the external base image's digest: a HEAD; the key
/// manifest: a GET; its PUT under every tag: one process, in parallel), `sha256sum` (the key
/// manifest's bytes: the digest handed on is the one of the bytes PUT, whatever the registry
/// says), and `rm` (after_script: the state); its dotenv line reads the digest with `read`. 12;
/// a context with executables adds one `printf`, one with symbolic links one `sh` and a
/// `readlink` per link (none here). Before this bound the same job started 27: a `mktemp`/`rm`
/// pair for the key and for each of its two API sessions, two `find` per key path, `cat` for the
/// credentials' curl config and for the dotenv line, `rm` and `mkdir` for the state.
const SKIPPED_JOB_PROCESSES: usize = 12;

/// Issue 11 (a skipped job's cost): the generated GitLab job of a one-stage project (an unpinned
/// base image, two key paths), run without a runner by `bench/cache/direct.py` (the job's
/// before_script, script and after_script in bash, as the cache benchmark runs it): the cold
/// run builds and pushes its key tag; the unchanged run, with every external command on PATH a
/// wrapper that logs its name, skips and starts at most [`SKIPPED_JOB_PROCESSES`] processes,
/// three of them curl, none of them buildah or skopeo.
#[test]
fn gitlab_skipped_job_starts_at_most_12_processes() {
    let reg = Registry::start();
    let base = push_base_image(&reg);
    let project = tempfile::Builder::new()
        .prefix("gp-e2e-count-")
        .tempdir()
        .unwrap();
    let p = project.path();
    std::fs::create_dir_all(p.join("src/lib")).unwrap();
    std::fs::write(p.join("app.txt"), "app\n").unwrap();
    std::fs::write(p.join("src/main.txt"), "main\n").unwrap();
    std::fs::write(p.join("src/lib/util.txt"), "util\n").unwrap();
    std::fs::write(
        p.join("Dockerfile"),
        format!(
            "FROM {} AS app\nCOPY app.txt /app.txt\nCOPY src/ /src/\n",
            base.reference
        ),
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_gen-pipeline"))
        .current_dir(p)
        .args(["--ci", "gitlab", "--builder", "buildah", "-f", "Dockerfile"])
        .args(["-o", ".gitlab-ci.yml", "--image"])
        .arg(reg.image("group/count"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    crate::tools::git_init_commit(p, "main");
    let work = tempfile::tempdir().unwrap();
    let b = Builder::fresh_per_job();
    let vars: Vec<String> = GitlabCiLocal::for_registry(&reg, "main")
        .variables
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let direct = |run: &str, extra: &[String]| {
        let logs = work.path().join(format!("logs-{run}"));
        let o = b
            .command("python3")
            .arg(crate::tools::repo_root().join("bench/cache/direct.py"))
            .arg("run")
            .arg(p.join(".gitlab-ci.yml"))
            .arg(work.path().join(format!("builds-{run}")))
            .arg(&logs)
            .args(&vars)
            .args(extra)
            .output()
            .unwrap();
        let log = std::fs::read_to_string(logs.join("app.log")).unwrap_or_default();
        assert!(
            o.status.success(),
            "{run}: {}{}\n{log}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        log
    };
    let cold = direct("cold", &[]);
    assert_eq!(b.builds(), ["app"], "{cold}");
    // The unchanged run: PATH holds only wrappers that log their name, then exec the tool.
    let bin = work.path().join("counted");
    std::fs::create_dir_all(&bin).unwrap();
    let started = work.path().join("started.log");
    std::os::unix::fs::symlink(crate::tools::which("bash").unwrap(), bin.join("bash")).unwrap();
    for tool in [
        "rm",
        "mkdir",
        "mktemp",
        "cat",
        "sed",
        "tr",
        "head",
        "tail",
        "cut",
        "grep",
        "find",
        "sort",
        "sha256sum",
        "base64",
        "readlink",
        "printf",
        "sh",
        "dirname",
        "tee",
        "cp",
        "git",
        "curl",
        "buildah",
        "skopeo",
    ] {
        let real = match tool {
            "buildah" | "skopeo" => b.bin_dir().join(tool),
            _ => crate::tools::which(tool).unwrap(),
        };
        let text = format!(
            "#!/bin/sh\necho {tool} >> '{}'\nexec '{}' \"$@\"\n",
            started.display(),
            real.display()
        );
        std::fs::write(bin.join(tool), text).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(bin.join(tool), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let log = direct("unchanged", &[format!("PATH={}", bin.display())]);
    assert!(log.contains("tagging it, no build"), "{log}");
    assert_eq!(b.builds(), ["app"], "{log}");
    let names = std::fs::read_to_string(&started).unwrap_or_default();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for n in names.lines() {
        *count.entry(n).or_default() += 1;
    }
    eprintln!(
        "a skipped job started {} processes: {count:?}",
        names.lines().count()
    );
    assert!(
        !count.contains_key("buildah") && !count.contains_key("skopeo"),
        "{count:?}\n{log}"
    );
    assert_eq!(count.get("curl"), Some(&3), "{count:?}\n{log}");
    assert!(
        names.lines().count() <= SKIPPED_JOB_PROCESSES,
        "a skipped job started {} processes (at most {SKIPPED_JOB_PROCESSES}): {count:?}\n{log}",
        names.lines().count()
    );
}
