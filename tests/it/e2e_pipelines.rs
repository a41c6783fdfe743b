//! The stand-in for a Drone server / Woodpecker server with several runners: runs every pipeline
//! of a generated Drone file (one `kind: pipeline` document each) or every workflow of a
//! Woodpecker folder (one file each) for a push, in `depends_on` order, EACH IN ITS OWN FRESH
//! WORKSPACE (a new volume with a clone of the same commit) and with a fresh builder (storage,
//! auth, blob-info cache), as separate machines would: nothing but the registry connects them.
//! Each pipeline runs on the text the runner parses (drone/envsubst over the whole file,
//! `crate::envsubst`), steps by the shared step driver (`e2e_woodpecker::StepRunner`). A
//! pipeline's `node:` / `labels:` are kept as metadata (the test compares them with the config);
//! a pipeline whose trigger (Drone) / `when` (Woodpecker) does not admit the push is not run.

use crate::e2e::drone_env;
use crate::e2e_support::Builder;
use crate::e2e_woodpecker::{
    git_head, substituted, when_admits, woodpecker_env, StepRunner, StepsRun, Workspace,
};
use crate::tools::run_tool;
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One pipeline as the driver ran it.
pub(crate) struct PipelineRun {
    pub name: String,
    pub depends_on: Vec<String>,
    /// Drone `node:` / Woodpecker `labels:` (metadata only: every pipeline runs on this machine).
    pub labels: BTreeMap<String, String>,
    /// Drone's `platform:` (`os`, `arch`; metadata too), empty for Woodpecker.
    pub platform: BTreeMap<String, String>,
    pub run: StepsRun,
    pub ws: Workspace,
    /// Held so its storage lives as long as the run.
    pub _builder: Builder,
}

/// A pipeline of the file(s): its name, the file holding it (relative to the project), its index
/// among the file's documents, and what the server reads before running it.
struct Spec {
    name: String,
    file: String,
    doc: usize,
}

pub(crate) fn docs_of(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

pub(crate) fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .into_iter()
        .flatten()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

pub(crate) fn label_map(v: &Value) -> BTreeMap<String, String> {
    v.as_mapping()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_string(),
                v.as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A fresh workspace holding a clone of `origin` (the same commit) at the file's `workspace:
/// path`, in a new volume: what a runner on another machine clones.
fn clone_workspace(origin: &Path, path_in_volume: &str, branch: &str) -> Workspace {
    let volume = tempfile::Builder::new()
        .prefix("gp-volume-")
        .tempdir()
        .unwrap();
    let checkout = volume.path().join(path_in_volume);
    let (desc, o) = run_tool(
        Command::new("git")
            .args(["clone", "-q", "-b", branch])
            .arg(origin)
            .arg(&checkout),
    );
    assert!(
        o.status.success(),
        "{desc}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Workspace {
        _volume: volume,
        checkout,
    }
}

/// The CI's variables for a push in a workspace, at a commit.
type EnvOf<'a> = dyn Fn(&Workspace, &str) -> Vec<(String, String)> + 'a;

/// Runs `specs` in `depends_on` order; `env_of(ws, sha)` gives the CI's variables for a push in
/// that workspace, `doc_of(text, spec)` the pipeline's document from the substituted file.
#[allow(clippy::too_many_arguments)]
fn run_all(
    ci: &'static str,
    project: &Path,
    branch: &str,
    secrets: &BTreeMap<&str, String>,
    specs: Vec<Spec>,
    env_of: &EnvOf,
    step_name_var: &str,
    steps_of: &dyn Fn(&Value) -> Vec<Value>,
    admits: &dyn Fn(&Value) -> bool,
) -> Vec<PipelineRun> {
    // The commit every runner clones.
    let origin = Workspace::of(project, branch, &specs[0].file);
    let sha = git_head(&origin.checkout);
    let path_in_volume = origin
        .checkout
        .strip_prefix(origin.checkout.parent().unwrap())
        .unwrap()
        .display()
        .to_string();
    let mut done: Vec<PipelineRun> = Vec::new();
    let mut pending = specs;
    while !pending.is_empty() {
        // Parse each pending pipeline from its own clone (the server reads the commit's file).
        let pos = pending
            .iter()
            .position(|s| {
                let text = std::fs::read_to_string(project.join(&s.file)).unwrap();
                let doc = &docs_of(&text)[s.doc];
                strings(&doc["depends_on"])
                    .iter()
                    .all(|d| done.iter().any(|r| &r.name == d))
            })
            .unwrap_or_else(|| {
                panic!(
                    "{ci}: depends_on cycle or unknown pipeline among {:?} after {:?}",
                    pending.iter().map(|s| &s.name).collect::<Vec<_>>(),
                    done.iter().map(|r| &r.name).collect::<Vec<_>>()
                )
            });
        let spec = pending.remove(pos);
        let ws = clone_workspace(&origin.checkout, &path_in_volume, branch);
        assert_eq!(
            git_head(&ws.checkout),
            sha,
            "every runner clones the same commit"
        );
        let env = env_of(&ws, &sha);
        let text = substituted(&ws.checkout.join(&spec.file), &env);
        let doc = docs_of(&text).swap_remove(spec.doc);
        let name = doc["name"]
            .as_str()
            .map(str::to_string)
            .unwrap_or(spec.name.clone());
        assert_eq!(name, spec.name);
        let labels = label_map(if ci == "drone" {
            &doc["node"]
        } else {
            &doc["labels"]
        });
        let platform = label_map(&doc["platform"]);
        let depends_on = strings(&doc["depends_on"]);
        if !admits(&doc) {
            continue;
        }
        let builder = Builder::fresh();
        let runner = StepRunner {
            ci,
            env,
            step_name_var,
            secrets,
            builder: &builder,
        };
        let run = runner.run(&ws.checkout, &steps_of(&doc), |s| {
            when_admits(s, "push", branch)
        });
        done.push(PipelineRun {
            name: spec.name,
            depends_on,
            labels,
            platform,
            run,
            ws,
            _builder: builder,
        });
    }
    done
}

/// Every pipeline of the Drone file `file` of `project`, for a push to `branch`.
pub(crate) fn run_drone_pipelines(
    project: &Path,
    file: &str,
    branch: &str,
    secrets: &BTreeMap<&str, String>,
) -> Vec<PipelineRun> {
    let text = std::fs::read_to_string(project.join(file)).unwrap();
    let specs = docs_of(&text)
        .iter()
        .enumerate()
        .map(|(i, d)| {
            assert_eq!(d["kind"].as_str(), Some("pipeline"), "{file} document {i}");
            Spec {
                name: d["name"].as_str().unwrap().to_string(),
                file: file.to_string(),
                doc: i,
            }
        })
        .collect();
    run_all(
        "drone",
        project,
        branch,
        secrets,
        specs,
        &|ws, sha| drone_env(ws, sha, branch),
        "DRONE_STEP_NAME",
        &|doc| doc["steps"].as_sequence().expect("no steps").clone(),
        // A pipeline's trigger is one condition over the build (event, cron, …).
        &|doc| {
            let mut as_step = serde_yaml::Mapping::new();
            as_step.insert("when".into(), doc["trigger"].clone());
            when_admits(&Value::Mapping(as_step), "push", branch)
        },
    )
}

/// Every workflow (`*.yml`, `*.yaml`) of the Woodpecker folder `dir` of `project`, for a push.
pub(crate) fn run_woodpecker_workflows(
    project: &Path,
    dir: &str,
    branch: &str,
    secrets: &BTreeMap<&str, String>,
) -> Vec<PipelineRun> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(project.join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    let specs = files
        .iter()
        .map(|p| {
            let f = p.file_name().unwrap().to_string_lossy().to_string();
            // Woodpecker's workflow name: the file name without extension and leading dots.
            let name = f
                .trim_end_matches(".yaml")
                .trim_end_matches(".yml")
                .trim_start_matches('.')
                .to_string();
            Spec {
                name,
                file: format!("{}/{f}", dir.trim_end_matches('/')),
                doc: 0,
            }
        })
        .collect();
    run_all(
        "woodpecker",
        project,
        branch,
        secrets,
        specs,
        &|ws, sha| woodpecker_env(ws, sha, branch),
        "CI_STEP_NAME",
        &|doc| doc["steps"].as_sequence().expect("no steps").clone(),
        &|doc| when_admits(doc, "push", branch),
    )
}
