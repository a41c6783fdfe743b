//! End-to-end, Woodpecker: the generated `.woodpecker.yml` (`--builder buildah`) for
//! `tests/fixtures/e2e-project`, run against a real TLS + htpasswd registry.
//!
//! No Woodpecker runner installs here. `StepRunner` STANDS IN for one (and, in `e2e.rs`, for a
//! Drone runner): it runs each step's `commands` as one `sh -e` script in `depends_on` order, in one
//! workspace (a git checkout of the project), with the variables the CI sets for a push and the
//! step's `environment` (secrets from `from_secret`). Like both runners, it first passes the
//! whole file through drone/envsubst (`crate::envsubst`, an oracle of its v1.0.3 rules) with the
//! pipeline's variables, and runs the SUBSTITUTED text. The workspace is laid out as the file's `workspace:` says: a private temp
//! dir stands for the workspace volume (mounted at `base`), the checkout is its `path` sub-directory,
//! so the steps' `..` (where gen-pipeline keeps its state) is the volume, private to the test. Steps whose `when` excludes the event are skipped, as the runner would.
//! Images are ignored: the host's buildah (an isolated `Builder`) plays the step image.
//! Needs root, like `.ci/run`.

use crate::e2e::{check_images, project_with};
use crate::e2e_support::{push_base_image, Builder, Registry};
use crate::tools::run_tool;
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// One CI's conventions for the stand-in step driver.
pub(crate) struct StepRunner<'a> {
    /// `drone`, `woodpecker`: for messages.
    pub ci: &'a str,
    /// Variables the CI sets in every step of this pipeline (`DRONE_*`, `CI_*`).
    pub env: Vec<(String, String)>,
    /// The variable that holds the step's name (`DRONE_STEP_NAME`, `CI_STEP_NAME`).
    pub step_name_var: &'a str,
    /// `from_secret` ids -> values.
    pub secrets: &'a BTreeMap<&'a str, String>,
    pub builder: &'a Builder,
}

/// What the driver did: the combined log (`==> step NAME (secs)` headers), the steps run in
/// order, and the steps skipped by their `when`.
pub(crate) struct StepsRun {
    pub log: String,
    pub ran: Vec<String>,
    pub skipped: Vec<String>,
}

impl StepRunner<'_> {
    /// Runs `steps` (each with `name`, optional `depends_on`, `environment`, `commands`, taken
    /// from the file as the runner's substitution left it: see [`substituted`]) in the
    /// workspace `ws`; `runs(step)` says whether the step's `when` admits this pipeline (a skipped
    /// step counts as done for its dependents). Panics with the log when a step fails.
    pub(crate) fn run(
        &self,
        ws: &Path,
        steps: &[Value],
        runs: impl Fn(&Value) -> bool,
    ) -> StepsRun {
        let name = |s: &Value| {
            s["name"]
                .as_str()
                .unwrap_or_else(|| panic!("step without a name: {s:?}"))
                .to_string()
        };
        let mut done: Vec<String> = Vec::new();
        let mut out = StepsRun {
            log: String::new(),
            ran: Vec::new(),
            skipped: Vec::new(),
        };
        while done.len() < steps.len() {
            let next = steps
                .iter()
                .find(|s| {
                    !done.contains(&name(s))
                        && s["depends_on"]
                            .as_sequence()
                            .into_iter()
                            .flatten()
                            .all(|d| done.contains(&d.as_str().unwrap().to_string()))
                })
                .unwrap_or_else(|| {
                    panic!(
                        "{}: depends_on cycle or unknown step after {done:?}",
                        self.ci
                    )
                });
            let step = name(next);
            done.push(step.clone());
            if !runs(next) {
                out.log
                    .push_str(&format!("==> step {step} skipped (when)\n"));
                out.skipped.push(step);
                continue;
            }
            let mut cmd = self.builder.command("sh");
            cmd.current_dir(ws);
            cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
            cmd.env(self.step_name_var, &step);
            if let Some(env) = next["environment"].as_mapping() {
                for (k, v) in env {
                    let k = k.as_str().unwrap();
                    let v = match v {
                        Value::Mapping(m) => {
                            let id = m
                                .get("from_secret")
                                .and_then(|x| x.as_str())
                                .unwrap_or_else(|| panic!("{step}: {k}: {v:?}"));
                            self.secrets
                                .get(id)
                                .unwrap_or_else(|| panic!("secret {id} not provided"))
                                .clone()
                        }
                        Value::String(s) => s.clone(),
                        other => serde_yaml::to_string(other).unwrap().trim().to_string(),
                    };
                    cmd.env(k, v);
                }
            }
            let commands: Vec<String> = next["commands"]
                .as_sequence()
                .into_iter()
                .flatten()
                .map(|c| c.as_str().unwrap().to_string())
                .collect();
            let script = format!("set -e\n{}", commands.join("\n"));
            let t = Instant::now();
            let (_, o) = run_tool(cmd.arg("-c").arg(&script));
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            out.log.push_str(&format!(
                "==> step {step} ({:.1}s)\n{text}",
                t.elapsed().as_secs_f64()
            ));
            assert!(
                o.status.success(),
                "{} step {step} failed ({}):\n{}",
                self.ci,
                o.status,
                out.log
            );
            out.ran.push(step);
        }
        out
    }
}

/// The stand-in for a CI's workspace volume: `_volume` plays the volume mounted at the workspace
/// `base`, `checkout` (its `path` sub-directory) the clone of the project every step runs in.
pub(crate) struct Workspace {
    /// Held so the volume lives as long as the workspace.
    pub _volume: tempfile::TempDir,
    pub checkout: PathBuf,
}

impl Workspace {
    /// A git checkout of `project` on `branch` at `<volume>/<path>`, where `path` is the relative
    /// `workspace: path` the pipeline file sets (it must set one, with a `base`: the state directory
    /// gen-pipeline keeps beside the checkout is in the shared volume only then).
    pub(crate) fn of(project: &Path, branch: &str, file: &str) -> Workspace {
        let text = std::fs::read_to_string(project.join(file)).unwrap();
        let doc: Value = serde_yaml::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .find(|d: &Value| !d["workspace"].is_null())
            .unwrap_or_else(|| panic!("{file}: no `workspace:`"));
        let ws = &doc["workspace"];
        assert!(
            ws["base"].as_str().is_some_and(|b| b.starts_with('/')),
            "{file}: workspace base {:?}",
            ws["base"]
        );
        let path = ws["path"]
            .as_str()
            .unwrap_or_else(|| panic!("{file}: no workspace path"));
        assert!(
            !path.is_empty() && !path.starts_with('/') && !path.contains(".."),
            "{file}: workspace path {path:?}"
        );
        let volume = tempfile::Builder::new()
            .prefix("gp-volume-")
            .tempdir()
            .unwrap();
        let checkout = volume.path().join(path);
        crate::tools::copy_tree(project, &checkout);
        crate::tools::git_init_commit(&checkout, branch);
        Workspace {
            _volume: volume,
            checkout,
        }
    }

    /// gen-pipeline's state directory (`GP_STATE`): beside the checkout, in the volume.
    pub(crate) fn state(&self) -> PathBuf {
        self.checkout.parent().unwrap().join("gen-pipeline")
    }

    /// After a run: the checkout holds nothing of gen-pipeline's (no state directory, no registry
    /// credentials or docker config anywhere in it, no file git does not know), and the state is
    /// in the volume instead.
    pub(crate) fn assert_checkout_clean(&self, log: &str) {
        assert!(
            !self.checkout.join(".gen-pipeline").exists(),
            "a .gen-pipeline directory in the checkout\n{log}"
        );
        fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().to_string();
                if e.file_type().unwrap().is_dir() {
                    if name != ".git" {
                        walk(&e.path(), found);
                    }
                } else if ["auth.json", "config.json", "storage.conf", "lib.sh"]
                    .contains(&name.as_str())
                {
                    found.push(e.path());
                }
            }
        }
        let mut found = Vec::new();
        walk(&self.checkout, &mut found);
        assert!(
            found.is_empty(),
            "gen-pipeline files in the checkout: {found:?}\n{log}"
        );
        let (desc, o) = run_tool(Command::new("git").arg("-C").arg(&self.checkout).args([
            "status",
            "--porcelain",
            "--ignored",
        ]));
        assert!(o.status.success(), "{desc}");
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "",
            "the run wrote into the checkout\n{log}"
        );
        assert!(
            self.state().join("lib.sh").is_file(),
            "no state directory at {}\n{log}",
            self.state().display()
        );
    }
}

/// The pipeline file at `path` as the runner parses it: after drone/envsubst ran over the whole
/// file with the pipeline's variables `env` (Drone's runner and Woodpecker's server do this before
/// parsing; a file it rejects never runs). Panics with the runner's error.
pub(crate) fn substituted(path: &Path, env: &[(String, String)]) -> String {
    let raw = std::fs::read_to_string(path).unwrap();
    crate::envsubst::runner_view(&path.display().to_string(), &raw, env)
}

/// The commit checked out in `dir`.
pub(crate) fn git_head(dir: &Path) -> String {
    let (desc, o) = run_tool(
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["rev-parse", "HEAD"]),
    );
    assert!(o.status.success(), "{desc}");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Woodpecker's `steps:` as a list of steps with `name` (the list form, or the map form keyed by name).
fn woodpecker_steps(doc: &Value) -> Vec<Value> {
    match &doc["steps"] {
        Value::Sequence(s) => s.clone(),
        Value::Mapping(m) => m
            .iter()
            .map(|(k, v)| {
                let mut v = v.clone();
                v.as_mapping_mut().unwrap().insert("name".into(), k.clone());
                v
            })
            .collect(),
        other => panic!("no steps in the Woodpecker file: {other:?}"),
    }
}

/// A string or a list of strings (`event: push`, `event: [push, tag]`); `include:` lists too.
fn one_or_many(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(s) => s.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
        Value::Mapping(m) => m.get("include").map(one_or_many).unwrap_or_default(),
        other => panic!("unexpected when value {other:?}"),
    }
}

/// A step's `when` (Woodpecker's, and Drone's, which is one condition): absent, one condition or a
/// list of them; the step runs when ANY condition matches, and a condition matches when ALL its
/// filters do. Only the filters a successful push
/// pipeline can decide are evaluated (`event`, `branch` by exact name, `status`); any other filter
/// fails the test rather than being guessed.
pub(crate) fn when_admits(step: &Value, event: &str, branch: &str) -> bool {
    let conditions = match &step["when"] {
        Value::Null => return true,
        Value::Sequence(s) => s.clone(),
        m @ Value::Mapping(_) => vec![m.clone()],
        other => panic!("unexpected when: {other:?}"),
    };
    conditions.iter().any(|c| {
        c.as_mapping()
            .unwrap()
            .iter()
            .all(|(k, v)| match k.as_str().unwrap() {
                "event" => one_or_many(v).iter().any(|e| e == event),
                "branch" => one_or_many(v).iter().any(|b| b == branch),
                // Every earlier step succeeded (the driver stops at a failure).
                "status" => one_or_many(v).iter().any(|s| s == "success"),
                other => panic!(
                    "the stand-in driver does not evaluate `when: {other}` ({:?})",
                    step["name"]
                ),
            })
    })
}

/// The variables Woodpecker sets for a push pipeline to `branch` at `sha` (no CI_COMMIT_TAG, no
/// CI_COMMIT_PULL_REQUEST), in workspace `ws`.
pub(crate) fn woodpecker_env(ws: &Workspace, sha: &str, branch: &str) -> Vec<(String, String)> {
    [
        ("CI", "woodpecker".to_string()),
        ("CI_SYSTEM_NAME", "woodpecker".to_string()),
        ("CI_PIPELINE_EVENT", "push".to_string()),
        ("CI_PIPELINE_NUMBER", "1".to_string()),
        ("CI_REPO", "group/project".to_string()),
        ("CI_REPO_OWNER", "group".to_string()),
        ("CI_REPO_NAME", "project".to_string()),
        ("CI_REPO_DEFAULT_BRANCH", "main".to_string()),
        ("CI_COMMIT_BRANCH", branch.to_string()),
        ("CI_COMMIT_REF", format!("refs/heads/{branch}")),
        ("CI_COMMIT_SHA", sha.to_string()),
        ("CI_WORKSPACE", ws.checkout.display().to_string()),
    ]
    .map(|(k, v)| (k.to_string(), v))
    .into()
}

/// Runs the `.woodpecker.yml` of `project` as Woodpecker would for a push to `branch`.
pub(crate) fn run_woodpecker(
    project: &Path,
    branch: &str,
    secrets: &BTreeMap<&str, String>,
    builder: &Builder,
) -> (StepsRun, Workspace) {
    let ws = Workspace::of(project, branch, ".woodpecker.yml");
    let sha = git_head(&ws.checkout);
    let env = woodpecker_env(&ws, &sha, branch);
    let text = substituted(&ws.checkout.join(".woodpecker.yml"), &env);
    let doc: Value = serde_yaml::from_str(&text).unwrap();
    let steps = woodpecker_steps(&doc);
    let runner = StepRunner {
        ci: "woodpecker",
        env,
        step_name_var: "CI_STEP_NAME",
        secrets,
        builder,
    };
    let run = runner.run(&ws.checkout, &steps, |s| when_admits(s, "push", branch));
    (run, ws)
}

#[test]
fn woodpecker_when_filters() {
    let step = |y: &str| -> Value { serde_yaml::from_str(y).unwrap() };
    assert!(when_admits(&step("name: a"), "push", "main"));
    assert!(when_admits(
        &step("when: [{event: [push, tag]}]"),
        "push",
        "main"
    ));
    assert!(!when_admits(
        &step("when: [{event: pull_request}]"),
        "push",
        "main"
    ));
    assert!(when_admits(
        &step("when: [{event: pull_request}, {event: push}]"),
        "push",
        "main"
    ));
    assert!(!when_admits(
        &step("when: {event: push, branch: dev}"),
        "push",
        "main"
    ));
    assert!(when_admits(
        &step("when: [{event: [push, tag], status: [success, failure]}]"),
        "push",
        "main"
    ));
    assert!(!when_admits(
        &step("when: {status: failure}"),
        "push",
        "main"
    ));
}

#[test]
fn woodpecker_generated_pipeline_runs_steps_in_order() {
    let reg = Registry::start();
    let base = push_base_image(&reg);
    let project = project_with(&reg, &base, "woodpecker", ".woodpecker.yml", None);
    let secrets = BTreeMap::from([
        ("registry_username", reg.user().to_string()),
        ("registry_password", reg.password().to_string()),
    ]);
    let t = Instant::now();
    // Woodpecker steps share the workspace and, in the daemonless flavor, the builder storage kept
    // in it: one fresh builder for the run (a fresh runner), shared by its steps.
    let (run, ws) = run_woodpecker(project.path(), "main", &secrets, &Builder::fresh());
    eprintln!(
        "woodpecker pipeline on main: {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let log = &run.log;

    // depends_on order: the lib step (the shared shell) and the login step first, deps before both apps, cleanup last; the fork-PR step
    // (`when: event: pull_request`) skipped on a push.
    let pos = |s: &str| {
        run.ran
            .iter()
            .position(|r| r == s)
            .unwrap_or_else(|| panic!("step {s} did not run: {:?}\n{log}", run.ran))
    };
    assert_eq!(pos("lib"), 0, "{:?}", run.ran);
    assert_eq!(pos("login"), 1, "{:?}", run.ran);
    assert!(
        pos("deps") < pos("app1") && pos("deps") < pos("app2"),
        "{:?}",
        run.ran
    );
    assert_eq!(pos("cleanup"), run.ran.len() - 1, "{:?}", run.ran);
    assert_eq!(run.skipped, ["fork-pr"], "{log}");

    // Tags main/latest/sha-<short>; deps on the base; each app on this run's deps digest.
    let digests = check_images(&reg, &base, "main", &git_head(&ws.checkout));
    // Nothing of gen-pipeline's (credentials, builder storage, digests) was left in the checkout.
    ws.assert_checkout_clean(log);
    // The digest files handed between steps (read by the apps' --build-context) are the registry's.
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
    // Per-stage caches for main were written (buildah's cache repository per stage and ref: named
    // `cache/<stage><sep>main`, the separator being the cache-key policy's, see src/refs.rs).
    let catalog = reg.catalog();
    for stage in ["deps", "app1", "app2"] {
        let prefix = format!("group/project/cache/{stage}");
        let repo = catalog
            .iter()
            .find(|r| {
                r.strip_prefix(&prefix)
                    .is_some_and(|rest| rest.len() == 5 && rest.ends_with("main"))
            })
            .unwrap_or_else(|| panic!("no cache for {stage}: {catalog:?}"));
        assert!(!reg.tags(repo).is_empty(), "empty cache {repo}");
    }
}
