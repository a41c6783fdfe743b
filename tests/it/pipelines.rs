//! Generated pipelines for the examples: current, accepted by every real checker, snapshot-stable,
//! and wired right (needs, digests, caches).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use crate::tools::{check_all, gen_ok, gen_pipeline, repo_root};

const EXAMPLES: [&str; 5] = [
    "python-two-apps",
    "go-distroless",
    "node-monorepo",
    "rust-workspace",
    // Issue 13: per-platform jobs on native runners and merge jobs (the wiring tests below cover
    // the per-platform digests and the merge jobs' sources).
    "multi-platform",
];
const CIS: [(&str, &str); 4] = [
    ("github", "pipelines/github-images.yml"),
    ("gitlab", "pipelines/gitlab-ci.yml"),
    ("drone", "pipelines/drone.yml"),
    ("woodpecker", "pipelines/woodpecker.yml"),
];

fn example_file(ex: &str, rel: &str) -> PathBuf {
    repo_root().join("examples").join(ex).join(rel)
}

/// The committed files of `ci` in example `ex`: its file, or for Woodpecker split into one
/// workflow per runner (`runners:`, src/render/split.rs) every workflow of the folder
/// `pipelines/woodpecker/`, the first (`images.yaml`) first.
fn example_files(ex: &str, ci: &str, rel: &str) -> Vec<PathBuf> {
    let dir = example_file(ex, "pipelines/woodpecker");
    if ci != "woodpecker" || !dir.is_dir() {
        return vec![example_file(ex, rel)];
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort_by_key(|p| (p.file_name().unwrap() != "images.yaml", p.clone()));
    files
}

fn docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

#[test]
fn committed_example_pipelines_are_current() {
    for ex in EXAMPLES {
        let out = gen_pipeline()
            .current_dir(repo_root())
            .args([
                "check",
                "--config",
                &format!("examples/{ex}/gen-pipeline.yml"),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "examples/{ex}: committed pipelines are stale; regenerate with `gen-pipeline --config examples/{ex}/gen-pipeline.yml`\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn example_pipelines_pass_every_checker() {
    for ex in EXAMPLES {
        for (ci, rel) in CIS {
            for f in example_files(ex, ci, rel) {
                check_all(ci, f);
            }
        }
    }
}

#[test]
fn snapshots() {
    for ex in EXAMPLES {
        for (ci, rel) in CIS {
            // Woodpecker split into one workflow per file: generated into a folder, one snapshot
            // per workflow (`<ex>-woodpecker` the first, `<ex>-woodpecker-<workflow>` the others).
            if example_files(ex, ci, rel).len() > 1 {
                let tmp = tempfile::tempdir().unwrap();
                let dir = format!("{}/", tmp.path().display());
                gen_ok(
                    repo_root(),
                    [
                        "--config",
                        &format!("examples/{ex}/gen-pipeline.yml"),
                        "--ci",
                        ci,
                        "-o",
                        &dir,
                    ],
                );
                let mut files: Vec<PathBuf> = std::fs::read_dir(tmp.path())
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .collect();
                files.sort();
                for f in files {
                    let text = std::fs::read_to_string(&f).unwrap();
                    crate::envsubst::runner_view(&format!("{ex} {ci}"), &text, &[]);
                    let stem = f.file_stem().unwrap().to_string_lossy().to_string();
                    let name = match stem.as_str() {
                        "images" => format!("{ex}-{ci}"),
                        other => format!("{ex}-{ci}-{other}"),
                    };
                    insta::assert_snapshot!(name, text);
                }
                continue;
            }
            let out = gen_ok(
                repo_root(),
                [
                    "--config",
                    &format!("examples/{ex}/gen-pipeline.yml"),
                    "--ci",
                    ci,
                    "-o",
                    "-",
                ],
            );
            let text = String::from_utf8(out.stdout).unwrap();
            if matches!(ci, "drone" | "woodpecker") {
                crate::envsubst::runner_view(&format!("{ex} {ci}"), &text, &[]);
            }
            insta::assert_snapshot!(format!("{ex}-{ci}"), text);
        }
    }
}

fn s(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_default()
}

fn seq(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|a| {
            a.iter()
                .map(|x| x.get("job").map(s).unwrap_or_else(|| s(x)))
                .collect()
        })
        .unwrap_or_default()
}

/// Every `${{ needs.X.outputs.digest }}` in a job's build-contexts names a job it needs that
/// exports `digest`; every context is pinned by digest; every needs exists.
#[test]
fn github_wiring() {
    for ex in EXAMPLES {
        let doc = docs(&example_file(ex, CIS[0].1)).remove(0);
        let jobs = doc["jobs"].as_mapping().unwrap();
        let ids: BTreeSet<String> = jobs.keys().map(s).collect();
        // The first job decides for every job: `GP_REPOSITORY=… GP_CACHE_KEY=… … gp_github_job ID`.
        let (setup, decide) = jobs
            .iter()
            .find_map(|(id, j)| {
                j["steps"]
                    .as_sequence()?
                    .iter()
                    .find(|st| st.get("id").map(s).as_deref() == Some("decide"))
                    .map(|st| (s(id), s(&st["run"])))
            })
            .unwrap_or_else(|| panic!("{ex}: no job with a `decide` step"));
        let mut repo_of: BTreeMap<String, String> = BTreeMap::new();
        let mut cache_keys = BTreeSet::new();
        let mut call = String::new();
        for line in decide.lines().map(str::trim) {
            call.push_str(line.trim_end_matches('\\'));
            call.push(' ');
            if !line.ends_with('\\') {
                // A per-platform job is decided in a subshell that tags for its platform:
                // `(GP_PLATFORM=linux/arm64; gp_platform_tags; GP_REPOSITORY=… gp_github_job ID)`.
                let decision = call.trim_start();
                let decision = match decision.strip_prefix("(GP_PLATFORM=") {
                    Some(rest) => rest
                        .split_once("; gp_platform_tags; ")
                        .map_or(decision, |(_, d)| d),
                    None => decision,
                };
                let id = decision
                    .strip_prefix("GP_REPOSITORY=")
                    .and_then(|_| call.split("gp_github_job ").nth(1));
                if let Some(id) = id {
                    let field = |k: &str| {
                        call.split_whitespace()
                            .find_map(|w| w.strip_prefix(&format!("{k}=")))
                            .unwrap_or_else(|| panic!("{ex}: no {k} in {call}"))
                            .to_string()
                    };
                    let id = id
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .trim_end_matches(';')
                        .trim_end_matches(')');
                    repo_of.insert(id.to_string(), field("GP_REPOSITORY"));
                    // A merge job (issue 13) builds nothing: no cache of its own.
                    if field("GP_CACHE_KEY") != "''" {
                        cache_keys.insert(field("GP_CACHE_KEY"));
                    }
                }
                call.clear();
            }
        }
        for (id, job) in jobs {
            let id = s(id);
            let needs = seq(&job["needs"]);
            for n in &needs {
                assert!(ids.contains(n), "{ex}: {id} needs missing job {n}");
            }
            // A check job (issue 10) hands on no digest but is decided for like the others.
            let check = s(&job["name"]).starts_with("check ");
            if job["outputs"]["digest"].is_null() && !check {
                continue;
            }
            // Every build job waits for the first job and is one of the jobs it decided for.
            assert!(needs.contains(&setup), "{ex}: {id} does not need {setup}");
            assert!(
                repo_of.contains_key(&id),
                "{ex}: {setup} decides nothing for {id}"
            );
            for step in job["steps"].as_sequence().unwrap() {
                // A merge job's sources: each per-platform job it needs, by digest, in its repository.
                if let Some(sources) = step["env"].get("GP_SOURCES") {
                    let sources = s(sources);
                    let marker = format!("@${{{{ fromJSON(needs.{setup}.outputs.jobs).");
                    let mut merged = 0;
                    for (i, _) in sources.match_indices(&marker) {
                        let repo = sources[..i].split_whitespace().last().unwrap();
                        let rest = &sources[i + marker.len()..];
                        let (up, rest) = rest.split_once(".digest || needs.").expect(rest);
                        assert!(
                            rest.starts_with(&format!("{up}.outputs.digest }}}}")),
                            "{ex}: {rest}"
                        );
                        assert!(
                            needs.contains(&up.to_string()),
                            "{ex}: {id} merges {up} without needing it"
                        );
                        assert_eq!(
                            repo, repo_of[up],
                            "{ex}: {id} merges another repository's {up}"
                        );
                        assert!(
                            !jobs[up]["outputs"]["digest"].is_null(),
                            "{ex}: {up} exports no digest"
                        );
                        merged += 1;
                    }
                    assert!(merged >= 2, "{ex}: {id} merges {merged} images: {sources}");
                }
                let Some(w) = step.get("with") else { continue };
                if let Some(ctx) = w.get("build-contexts") {
                    for line in s(ctx).lines().filter(|l| !l.trim().is_empty()) {
                        let (stage, rest) = line.split_once("=docker-image://").expect(line);
                        let (repo, digest) = rest
                            .split_once('@')
                            .unwrap_or_else(|| panic!("{ex}: {line} is not pinned by digest"));
                        // The key image's digest when the upstream job was skipped (the first job
                        // decided it; empty otherwise), else the upstream job's own output. In this
                        // order because a skipped job's output is empty on GitHub but the raw
                        // expression under act, and a check job builds even when its upstream skipped.
                        let up = digest
                            .strip_prefix(&format!("${{{{ fromJSON(needs.{setup}.outputs.jobs)."))
                            .and_then(|d| d.split_once(".digest || needs."))
                            .map(|(up, rest)| {
                                assert_eq!(
                                    rest,
                                    format!("{up}.outputs.digest }}}}"),
                                    "{ex}: {line}"
                                );
                                up
                            })
                            .expect(line);
                        assert!(
                            needs.contains(&up.to_string()),
                            "{ex}: {id} uses {up} without needing it"
                        );
                        assert!(
                            !jobs[up]["outputs"]["digest"].is_null(),
                            "{ex}: {up} exports no digest"
                        );
                        assert_eq!(
                            repo, repo_of[up],
                            "{ex}: context {stage} must be the image job {up} pushed"
                        );
                    }
                }
            }
        }
        let built = jobs
            .iter()
            .filter(|(_, j)| {
                !j["outputs"]["digest"].is_null() || s(&j["name"]).starts_with("check ")
            })
            .count();
        assert_eq!(repo_of.len(), built, "{ex}: one decision per build job");
        let merges = jobs
            .iter()
            .filter(|(_, j)| s(&j["name"]).starts_with("merge "))
            .count();
        assert_eq!(
            cache_keys.len(),
            built - merges,
            "{ex}: cache keys must differ per stage (and platform)"
        );
    }
}

/// GitLab: every `$GP_DIGEST_X` a job reads is the dotenv variable of a job it needs.
#[test]
fn gitlab_wiring() {
    for ex in EXAMPLES {
        let doc = docs(&example_file(ex, CIS[1].1)).remove(0);
        let map = doc.as_mapping().unwrap();
        let mut exported: BTreeMap<String, String> = BTreeMap::new();
        let mut keys = BTreeSet::new();
        let mut jobs = 0;
        for (id, job) in map {
            let id = s(id);
            if id.starts_with('.') || job.get("script").is_none() {
                continue;
            }
            let dotenv = s(&job["artifacts"]["reports"]["dotenv"]);
            exported.insert(dotenv.trim_end_matches(".env").to_string(), id.clone());
            // A merge job (issue 13) builds nothing: no cache of its own.
            if s(&job["variables"]["GP_CACHE_KEY"]).is_empty() {
                continue;
            }
            jobs += 1;
            keys.insert(s(&job["variables"]["GP_CACHE_KEY"]));
        }
        assert_eq!(keys.len(), jobs, "{ex}: cache keys must differ per job");
        for (id, job) in map {
            let id = s(id);
            if id.starts_with('.') || job.get("script").is_none() {
                continue;
            }
            let needs = seq(&job["needs"]);
            for n in &needs {
                assert!(
                    exported.values().any(|j| j == n),
                    "{ex}: {id} needs missing job {n}"
                );
            }
            let script = job["script"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(s)
                .collect::<Vec<_>>()
                .join("\n");
            // Build contexts, and a merge job's per-platform sources (`gp_merge "repo@$VAR" …`).
            let merged = script
                .split_once("gp_merge")
                .map(|(_, m)| {
                    m.split_whitespace()
                        .map(|w| format!("{w} "))
                        .collect::<String>()
                })
                .unwrap_or_default();
            let merged = merged
                .split_whitespace()
                .filter(|w| w.contains("@$"))
                .map(|w| w.to_string());
            let contexts = script
                .split("--build-context ")
                .skip(1)
                .map(|part| part.split_whitespace().next().unwrap().to_string());
            for ctx in contexts.chain(merged) {
                let ctx = ctx.trim_matches('"');
                let (_, var) = ctx
                    .split_once("@$")
                    .unwrap_or_else(|| panic!("{ex}: {ctx} is not pinned by digest"));
                let producer = exported
                    .get(var)
                    .unwrap_or_else(|| panic!("{ex}: nothing exports {var}"));
                assert!(
                    needs.contains(producer),
                    "{ex}: {id} reads {var} without needing {producer}"
                );
            }
        }
    }
}

/// Drone and Woodpecker: every digest file a step reads is written by a step of its pipeline it
/// depends on, or resolved earlier in the same step from the registry (`gp_handoff`) for a job of a
/// pipeline this one depends on (directly or not); every pipeline-level `depends_on` names a
/// pipeline of the output (Drone documents, Woodpecker workflow files).
#[test]
fn drone_and_woodpecker_wiring() {
    for ex in EXAMPLES {
        for (ci, rel) in &CIS[2..] {
            // What the runner parses: the file(s) after its variable substitution.
            let mut all: Vec<(String, Value)> = Vec::new();
            for f in example_files(ex, ci, rel) {
                let raw = std::fs::read_to_string(&f).unwrap();
                let text = crate::envsubst::runner_view(&format!("{ex} {ci}"), &raw, &[]);
                let stem = f.file_stem().unwrap().to_string_lossy().to_string();
                for d in serde_yaml::Deserializer::from_str(&text)
                    .map(|d| serde::Deserialize::deserialize(d).unwrap())
                    .filter(|v: &Value| !v.is_null())
                {
                    // The registry cleanup pipeline (Drone, `gc:`) hands no digest.
                    if d["name"].as_str() == Some("gen-pipeline-gc") {
                        continue;
                    }
                    let name = d["name"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or(stem.clone());
                    all.push((name, d));
                }
            }
            let pipeline_names: BTreeSet<String> = all.iter().map(|(n, _)| n.clone()).collect();
            // Which pipeline's step writes which digest file, and each pipeline's dependencies.
            let mut writer: BTreeMap<String, String> = BTreeMap::new();
            let mut deps_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (name, d) in &all {
                let deps = seq(&d["depends_on"]);
                for dep in &deps {
                    assert!(
                        pipeline_names.contains(dep),
                        "{ex} {ci}: pipeline {name} depends on missing pipeline {dep}"
                    );
                }
                deps_of.insert(name.clone(), deps);
                for st in d["steps"].as_sequence().unwrap() {
                    let cmds: String = st["commands"]
                        .as_sequence()
                        .into_iter()
                        .flatten()
                        .map(s)
                        .collect();
                    if let Some((_, rest)) = cmds.split_once("GP_DIGEST_FILE=\"") {
                        let file = rest.split_once('"').unwrap().0.to_string();
                        writer.insert(file, name.clone());
                    }
                }
            }
            let upstream = |p: &str| -> BTreeSet<String> {
                let mut seen = BTreeSet::new();
                let mut todo = vec![p.to_string()];
                while let Some(x) = todo.pop() {
                    for d in &deps_of[&x] {
                        if seen.insert(d.clone()) {
                            todo.push(d.clone());
                        }
                    }
                }
                seen
            };
            for (pipeline, d) in &all {
                let steps = d["steps"].as_sequence().unwrap();
                let names: BTreeSet<String> = steps.iter().map(|st| s(&st["name"])).collect();
                // A step's digest file: its `GP_DIGEST_FILE="…"` assignment (commands), unquoted.
                let writes: BTreeMap<String, String> = steps
                    .iter()
                    .filter_map(|st| {
                        let cmds: String = st["commands"].as_sequence()?.iter().map(s).collect();
                        let (_, rest) = cmds.split_once("GP_DIGEST_FILE=\"")?;
                        let file = rest.split_once('"')?.0.to_string();
                        Some((file, s(&st["name"])))
                    })
                    .collect();
                for st in steps {
                    let deps = seq(&st["depends_on"]);
                    for dep in &deps {
                        assert!(
                            names.contains(dep),
                            "{ex} {ci} {pipeline}: {} depends on missing step {dep}",
                            s(&st["name"])
                        );
                    }
                    let cmds = st["commands"]
                        .as_sequence()
                        .unwrap()
                        .iter()
                        .map(s)
                        .collect::<Vec<_>>()
                        .join("\n");
                    // Digests resolved from the registry in this step, before the build/merge.
                    let handed: BTreeSet<String> = cmds
                        .lines()
                        .filter_map(|l| l.trim().strip_prefix("gp_handoff "))
                        .map(|l| {
                            let var = l.split_whitespace().next().unwrap();
                            let file = format!("$GP_STATE/digests/{var}");
                            let from = writer.get(&file).unwrap_or_else(|| {
                                panic!("{ex} {ci}: nothing writes {file}")
                            });
                            assert!(
                                from != pipeline && upstream(pipeline).contains(from),
                                "{ex} {ci}: {pipeline} resolves {var}, written by {from}, which it does not depend on"
                            );
                            file
                        })
                        .collect();
                    // Every digest file read: build contexts and a merge step's per-platform sources.
                    for part in cmds.split("@$(cat ").skip(1) {
                        let ctx = format!("@$(cat {}", part.lines().next().unwrap());
                        let ctx = ctx.as_str();
                        let file = ctx
                            .split_once("@$(cat \"")
                            .and_then(|(_, f)| f.split_once("\")"))
                            .map(|(f, _)| f)
                            .unwrap_or_else(|| {
                                panic!("{ex} {ci}: {ctx} is not pinned by a digest file")
                            });
                        if handed.contains(file) {
                            continue;
                        }
                        let producer = writes.get(file).unwrap_or_else(|| {
                            panic!("{ex} {ci} {pipeline}: nothing in this pipeline writes {file}")
                        });
                        assert!(
                            deps.contains(producer),
                            "{ex} {ci}: {} reads {file} without depending on {producer}",
                            s(&st["name"])
                        );
                    }
                }
            }
        }
    }
}

/// A stale pipeline fails `check` with exit 1, a unified diff and the command that regenerates.
#[test]
fn check_detects_drift_and_generate_fixes_it() {
    let tmp = tempfile::tempdir().unwrap();
    crate::tools::copy_tree(&repo_root().join("examples/python-two-apps"), tmp.path());
    let run = |args: &[&str]| {
        gen_pipeline()
            .current_dir(tmp.path())
            .args(args)
            .output()
            .unwrap()
    };
    // Outside the repository the paths differ from the committed ones: regenerate first.
    assert_eq!(run(&["check"]).status.code(), Some(1));
    assert_eq!(run(&[]).status.code(), Some(0));
    assert_eq!(
        run(&["check"]).status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run(&["check"]).stderr)
    );
    let df = tmp.path().join("Dockerfile");
    let text = std::fs::read_to_string(&df).unwrap();
    std::fs::write(&df, format!("{text}\nFROM base AS app3\nRUN echo three\n")).unwrap();
    let out = run(&["check"]);
    assert_eq!(out.status.code(), Some(1));
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(
        diff.contains("+  app3:") || diff.contains("+app3:"),
        "{diff}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("regenerate with: gen-pipeline"));
    assert_eq!(run(&[]).status.code(), Some(0));
    assert_eq!(run(&["check"]).status.code(), Some(0));
}

/// Bad input exits 2 with a located message.
#[test]
fn bad_config_and_unknown_target_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    crate::tools::copy_tree(&repo_root().join("examples/python-two-apps"), tmp.path());
    std::fs::write(
        tmp.path().join("gen-pipeline.yml"),
        "ci: github\nimage: ghcr.io/a/b\ntargetz: [app1]\n",
    )
    .unwrap();
    let out = gen_pipeline().current_dir(tmp.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("gen-pipeline.yml:3:1: error: unknown field `targetz`"),
        "{err}"
    );
    assert!(err.contains("`targets`"), "{err}");
    std::fs::write(
        tmp.path().join("gen-pipeline.yml"),
        "ci: github\nimage: ghcr.io/a/b\n",
    )
    .unwrap();
    let out = gen_pipeline()
        .current_dir(tmp.path())
        .args(["--target", "ap1", "-o", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `app1`?"));
}

/// The daemonless flavor (`--builder buildah`) and the dind daemon mode pass the same checkers.
#[test]
fn buildah_and_dind_flavors_pass_every_checker() {
    let tmp = tempfile::tempdir().unwrap();
    for (ci, extra) in [
        ("gitlab", "--builder=buildah"),
        ("drone", "--builder=buildah"),
        ("woodpecker", "--builder=buildah"),
        ("drone", "--daemon=dind"),
        ("woodpecker", "--daemon=dind"),
    ] {
        let out_path = tmp.path().join(format!("{ci}{extra}.yml"));
        gen_ok(
            repo_root(),
            [
                "--config",
                "examples/node-monorepo/gen-pipeline.yml",
                "--ci",
                ci,
                extra,
                "-o",
                out_path.to_str().unwrap(),
            ],
        );
        let text = std::fs::read_to_string(&out_path).unwrap();
        if extra.contains("buildah") {
            assert!(
                text.contains("buildah login")
                    && !text.contains("docker login")
                    && !text.contains("buildx create"),
                "{ci}"
            );
        } else {
            assert!(
                text.contains("tcp://docker:2375") && !text.contains("docker.sock"),
                "{ci}"
            );
        }
        check_all(ci, &out_path);
    }
}

/// Two platforms: every CI registers emulators (setup-qemu on GitHub, binfmt elsewhere) and the
/// files still pass every checker.
#[test]
fn multi_platform_pipelines_register_emulators_and_pass_every_checker() {
    let tmp = tempfile::tempdir().unwrap();
    for (ci, marker) in [
        ("github", "docker/setup-qemu-action@"),
        ("gitlab", "tonistiigi/binfmt"),
        ("drone", "tonistiigi/binfmt"),
        ("woodpecker", "tonistiigi/binfmt"),
    ] {
        let out_path = tmp.path().join(format!("{ci}.yml"));
        gen_ok(
            repo_root(),
            [
                "--config",
                "examples/go-distroless/gen-pipeline.yml",
                "--ci",
                ci,
                "--platform",
                "linux/amd64",
                "--platform",
                "linux/arm64",
                "-o",
                out_path.to_str().unwrap(),
            ],
        );
        let text = std::fs::read_to_string(&out_path).unwrap();
        assert!(text.contains(marker), "{ci}: no {marker}");
        assert!(
            text.contains("linux/amd64,linux/arm64"),
            "{ci}: platforms not passed"
        );
        check_all(ci, &out_path);
    }
}

// ---------------------------------------------------------------------------------------------
// Issue 9, section 6: generated jobs.

/// The python-two-apps pipeline for `ci`, pushing to a registry of its own (not ghcr.io).
fn two_apps(ci: &str) -> Value {
    serde_yaml::from_str(&two_apps_text(ci)).unwrap()
}

fn two_apps_text(ci: &str) -> String {
    let out = gen_ok(
        repo_root(),
        [
            "--config",
            "examples/python-two-apps/gen-pipeline.yml",
            "--ci",
            ci,
            "--image",
            "registry.example.com/acme/app",
            "-o",
            "-",
        ],
    );
    String::from_utf8(out.stdout).unwrap()
}

fn step(job: &Value, pred: impl Fn(&Value) -> bool) -> &Value {
    job["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|st| pred(st))
        .expect("no such step")
}

fn uses(st: &Value, action: &str) -> bool {
    s(&st["uses"]).starts_with(&format!("{action}@"))
}

/// A GitHub `if:` of the shapes the template writes: `a == 'x'`, `a != b`, joined by `&&` and
/// `||` (no parentheses), evaluated against a flat context.
fn github_if(expr: &str, ctx: &BTreeMap<&str, &str>) -> bool {
    let operand = |t: &str| -> String {
        let t = t.trim();
        match t.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
            Some(lit) => lit.to_string(),
            None => ctx
                .get(t)
                .unwrap_or_else(|| panic!("unknown context {t:?} in {expr:?}"))
                .to_string(),
        }
    };
    let expr = expr
        .trim()
        .trim_start_matches("${{")
        .trim_end_matches("}}")
        .trim();
    expr.split("||").any(|conj| {
        conj.split("&&").all(|cmp| {
            let cmp = cmp.trim();
            // Decided at run time: an upstream failure, a cancel, the first job's decision.
            if cmp == "!failure()" || cmp == "!cancelled()" || cmp.starts_with("fromJSON(") {
                return true;
            }
            if let Some((a, b)) = cmp.split_once("!=") {
                operand(a) != operand(b)
            } else if let Some((a, b)) = cmp.split_once("==") {
                operand(a) == operand(b)
            } else {
                panic!("unsupported condition {cmp:?}")
            }
        })
    })
}

/// Same-repository pull requests built twice (their push and their pull_request event both ran
/// every job and both pushed). Now: a push runs the build jobs; a pull request from the same
/// repository runs nothing (its push did); a fork's pull request runs only the fork job.
#[test]
fn github_same_repository_pull_request_builds_once() {
    for ex in EXAMPLES {
        let doc = docs(&example_file(ex, CIS[0].1)).remove(0);
        let jobs = doc["jobs"].as_mapping().unwrap();
        let run = |event: &str, head_repo: &str| -> BTreeSet<String> {
            let ctx = BTreeMap::from([
                ("github.event_name", event),
                ("github.repository", "acme/app"),
                ("github.event.pull_request.head.repo.full_name", head_repo),
            ]);
            jobs.iter()
                .filter(|(_, j)| github_if(&s(&j["if"]), &ctx))
                .map(|(id, _)| s(id))
                .collect()
        };
        let builders: BTreeSet<String> = jobs
            .iter()
            .filter(|(_, j)| {
                !j["outputs"]["digest"].is_null() || s(&j["name"]).starts_with("check ")
            })
            .map(|(id, _)| s(id))
            .collect();
        // The first job decides for both: the build jobs' tags and keys, the fork job's caches.
        let setup: BTreeSet<String> = jobs
            .iter()
            .filter(|(_, j)| !j["outputs"]["jobs"].is_null())
            .map(|(id, _)| s(id))
            .collect();
        let fork: BTreeSet<String> = jobs
            .iter()
            .filter(|(_, j)| j["outputs"].is_null() && !s(&j["name"]).starts_with("check "))
            .map(|(id, _)| s(id))
            .collect();
        assert_eq!((fork.len(), setup.len()), (1, 1), "{ex}");
        let with_setup =
            |set: &BTreeSet<String>| -> BTreeSet<String> { set.union(&setup).cloned().collect() };
        assert_eq!(run("push", ""), with_setup(&builders), "{ex}: push");
        assert!(
            run("pull_request", "acme/app").is_empty(),
            "{ex}: a same-repository PR builds again: {:?}",
            run("pull_request", "acme/app")
        );
        assert_eq!(
            run("pull_request", "fork/app"),
            with_setup(&fork),
            "{ex}: fork PR"
        );
    }
}

/// A secret's value is masked in job outputs: a user name that occurs in a digest would blank
/// the digest handed to the next job. The user name comes from a variable.
#[test]
fn github_registry_username_is_a_variable_not_a_secret() {
    let doc = two_apps("github");
    for (id, job) in doc["jobs"].as_mapping().unwrap() {
        if job["outputs"].is_null() {
            continue;
        }
        let login = step(job, |st| uses(st, "docker/login-action"));
        assert_eq!(
            s(&login["with"]["username"]),
            "${{ vars.REGISTRY_USERNAME }}",
            "{}",
            s(id)
        );
        assert_eq!(
            s(&login["with"]["password"]),
            "${{ secrets.REGISTRY_PASSWORD }}"
        );
    }
    let text = two_apps_text("github");
    assert!(!text.contains("secrets.REGISTRY_USERNAME"), "{text}");
}

/// The fork job builds each target without the upstream images (nothing is pushed, so there is
/// no digest): it must read the caches of the upstream jobs' stages too, not only the target's.
/// Runs the first job's `decide` step as a fork's pull request does and reads what the fork job
/// hands to docker/build-push-action from its output.
#[test]
fn github_fork_job_reads_the_cache_of_every_stage_it_builds() {
    let doc = two_apps("github");
    let jobs = doc["jobs"].as_mapping().unwrap();
    let fork = jobs.values().find(|j| j["outputs"].is_null()).unwrap();
    let (setup, first) = jobs
        .iter()
        .find(|(_, j)| !j["outputs"]["jobs"].is_null())
        .unwrap();
    let decide = step(first, |st| s(&st["id"]) == "decide");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("decide.sh");
    std::fs::write(&script, s(&decide["run"])).unwrap();
    let output = dir.path().join("output");
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-e").arg(&script).env("GITHUB_OUTPUT", &output);
    for (k, v) in decide["env"].as_mapping().unwrap() {
        let v = match s(k).as_str() {
            "GP_REF_KIND" => "pr".to_string(),
            "GP_REF_NAME" => "feature/x".to_string(),
            "GP_SHA" => "0123456789abcdef0123456789abcdef01234567".to_string(),
            "GP_DEFAULT_BRANCH" => "main".to_string(),
            "GP_PR" => "7".to_string(),
            "GP_PUSH" => "false".to_string(),
            _ => s(v),
        };
        cmd.env(s(k), v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(&output).unwrap();
    let decided: serde_json::Value = serde_json::from_str(
        written
            .strip_prefix("jobs=")
            .unwrap_or_else(|| panic!("{written}"))
            .trim_end(),
    )
    .unwrap_or_else(|e| panic!("{e}: {written}"));
    let builds: Vec<&Value> = fork["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|st| uses(st, "docker/build-push-action"))
        .collect();
    assert_eq!(builds.len(), 2);
    let c = "registry.example.com/acme/app/cache";
    for b in builds {
        let target = s(&b["with"]["target"]);
        assert_eq!(
            s(&b["with"]["cache-from"]),
            format!(
                "${{{{ fromJSON(needs.{}.outputs.jobs).{target}.cache-from }}}}",
                s(setup)
            )
        );
        // A fork's pull request pushes and skips nothing.
        assert_eq!(
            decided[&target]["build"],
            serde_json::json!(false),
            "{written}"
        );
        let refs: Vec<&str> = decided[&target]["cache-from"]
            .as_str()
            .unwrap()
            .split('\n')
            .collect();
        assert_eq!(
            refs,
            [
                format!("type=registry,ref={c}:{target}.feature-x"),
                format!("type=registry,ref={c}:{target}.main"),
                format!("type=registry,ref={c}:base.feature-x"),
                format!("type=registry,ref={c}:base.main"),
            ],
            "{target}"
        );
    }
}

/// `docker context create gen-pipeline-tls` failed on a runner whose ~/.docker persists (shell
/// executor), and unnamed builders piled up there. Runs the GitLab setup (before_script) and
/// teardown (after_script) twice on one HOME with a `docker` stand-in that keeps state the way the
/// CLI does (contexts and builders in DOCKER_CONFIG, builder containers in the daemon).
#[test]
fn gitlab_setup_is_idempotent_and_removes_what_it_created() {
    let doc = two_apps("gitlab");
    let hidden = &doc[".gen-pipeline"];
    let lines = |k: &str| -> String {
        hidden[k]
            .as_sequence()
            .unwrap_or_else(|| panic!("no {k}"))
            .iter()
            .map(s)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (before, after) = (lines("before_script"), lines("after_script"));
    let tmp = tempfile::tempdir().unwrap();
    let (home, bin, daemon) = (
        tmp.path().join("home"),
        tmp.path().join("bin"),
        tmp.path().join("daemon"),
    );
    let checkout = tmp.path().join("builds/acme/app");
    for d in [&home, &bin, &daemon, &checkout] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(checkout.join("Dockerfile"), "FROM scratch\n").unwrap();
    let docker = bin.join("docker");
    std::fs::write(
        &docker,
        r#"#!/bin/sh
# docker CLI stand-in: state where the real CLI keeps it.
cfg=${DOCKER_CONFIG:-$HOME/.docker}
case "$1 ${2:-}" in
"login "*) mkdir -p "$cfg" && cat > /dev/null && echo '{"auths":{}}' > "$cfg/config.json" ;;
"context create")
  if [ -e "$cfg/contexts/$3" ]; then echo "context \"$3\" already exists" >&2; exit 1; fi
  mkdir -p "$cfg/contexts/$3" ;;
"buildx create")
  shift 2; name=""
  while [ $# -gt 0 ]; do case $1 in --name) name=$2; shift ;; esac; shift; done
  [ -n "$name" ] || name="builder-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
  if [ -e "$cfg/buildx/instances/$name" ]; then echo "existing instance for \"$name\"" >&2; exit 1; fi
  mkdir -p "$cfg/buildx/instances" && : > "$cfg/buildx/instances/$name" && : > "$GP_FAKE_DAEMON/buildx_buildkit_${name}0" ;;
"buildx rm") rm "$cfg/buildx/instances/$3" "$GP_FAKE_DAEMON/buildx_buildkit_${3}0" ;;
"buildx inspect") [ -e "$cfg/buildx/instances/$3" ] ;;
"buildx use") [ -e "$cfg/buildx/instances/$3" ] ;;
"context inspect") [ -e "$cfg/contexts/$3" ] ;;
*) echo "docker stand-in: unexpected $*" >&2; exit 1 ;;
esac
"#,
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The file's global variables (GP_DOCKER_CONTEXT, GP_BUILDKIT_IMAGE, …), as GitLab sets them.
    let globals: Vec<(String, String)> = doc["variables"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (s(k), s(v)))
        .collect();
    let run = |script: &str, job_id: &str| {
        let out = std::process::Command::new("sh")
            .args(["-e", "-c", script])
            .envs(globals.iter().map(|(k, v)| (k, v)))
            .current_dir(&checkout)
            .env("HOME", &home)
            .env(
                "PATH",
                format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
            )
            .env("GP_FAKE_DAEMON", &daemon)
            .env("CI_JOB_ID", job_id)
            .env("CI_PROJECT_DIR", &checkout)
            .env("CI_COMMIT_REF_NAME", "main")
            .env("CI_COMMIT_SHA", "0123456789abcdef0123456789abcdef01234567")
            .env("CI_DEFAULT_BRANCH", "main")
            .env("CI_REGISTRY", "registry.example.com")
            .env("CI_REGISTRY_USER", "u")
            .env("CI_REGISTRY_PASSWORD", "p")
            .env_remove("DOCKER_CONFIG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "job {job_id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let entries = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = walk(d)
            .into_iter()
            .map(|p| p.strip_prefix(d).unwrap().display().to_string())
            .collect();
        v.sort();
        v
    };
    for job_id in ["101", "102"] {
        // A job that builds creates its builder on its first build (gp_build's gp_builder_up).
        run(&format!("{before}\ngp_builder_up"), job_id);
        assert_eq!(
            entries(&daemon).len(),
            1,
            "job {job_id}: one builder while it runs"
        );
        run(&after, job_id);
        assert_eq!(
            entries(&daemon),
            Vec::<String>::new(),
            "builder left running"
        );
        assert_eq!(entries(&home), Vec::<String>::new(), "left in ~/.docker");
        assert_eq!(entries(&checkout), ["Dockerfile"], "left in the checkout");
        assert_eq!(
            entries(checkout.parent().unwrap()),
            ["app", "app/Dockerfile"],
            "left beside the checkout"
        );
    }
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap().flatten() {
        let p = e.path();
        out.push(p.clone());
        if p.is_dir() && !p.is_symlink() {
            out.extend(walk(&p));
        }
    }
    out
}

/// Every `docker buildx create` line of a GitLab/Drone/Woodpecker file carries `literal` (a builder
/// the template creates) or, in the shared shell's `gp_builder_up`, the flag it reads from its
/// variable (`from_var`, after the `set --` that builds its arguments).
fn assert_shell_builders(ci: &str, text: &str, literal: &str, from_var: &str) {
    // Drone and Woodpecker files write every `$` twice (their runners substitute the file).
    let text = if ci == "gitlab" {
        text.to_string()
    } else {
        text.replace("$$", "$")
    };
    let creates = text
        .lines()
        .filter(|l| l.contains("docker buildx create"))
        .count();
    assert!(creates >= 1, "{ci}: no builder");
    let literal_n = text
        .lines()
        .filter(|l| l.contains("docker buildx create") && l.contains(literal))
        .count();
    let shared_n = text.matches("docker buildx create \"$@\"").count();
    assert_eq!(
        literal_n + shared_n,
        creates,
        "{ci}: a builder without {literal}"
    );
    if shared_n > 0 {
        assert!(
            text.contains(from_var),
            "{ci}: gp_builder_up does not pass {from_var}"
        );
    }
}

/// Whether `text` sets `var` to `value`: a YAML variable (GitLab's `variables:`) or a shell
/// assignment (the settings Drone/Woodpecker write into lib.sh).
fn sets_var(text: &str, var: &str, value: &str) -> bool {
    text.contains(&format!("{var}: \"{value}\""))
        || text.contains(&format!(" {var}={value} "))
        || text.contains(&format!(" {var}={value}\n"))
}

/// How many docker-container builders a generated file creates.
fn builders(text: &str) -> usize {
    text.matches("docker/setup-buildx-action@").count()
        + text.matches("docker buildx create").count()
}

/// The BuildKit the docker-container driver starts was unpinned (`buildx-stable-1`) and could
/// not be configured. Now a release tag by default, and `buildkit-image` / `buildkitd-config`
/// reach every CI the way it takes them.
#[test]
fn buildkit_image_is_pinned_and_configurable() {
    let pinned = gen_pipeline::plan::DEFAULT_BUILDKIT_IMAGE;
    assert!(pinned.starts_with("moby/buildkit:v0."), "{pinned}");
    for (ci, want) in [
        ("github", format!("driver-opts: \"image={pinned}\"")),
        ("gitlab", format!("--driver-opt image={pinned}")),
        ("drone", format!("--driver-opt image={pinned}")),
        ("woodpecker", format!("--driver-opt image={pinned}")),
    ] {
        let text = two_apps_text(ci);
        if ci == "github" {
            let n = text.matches(&want).count();
            assert!(n >= 1, "{ci}: no {want}");
            assert_eq!(n, builders(&text), "{ci}: every builder is pinned");
        } else {
            assert_shell_builders(
                ci,
                &text,
                &want,
                "--driver-opt \"image=$GP_BUILDKIT_IMAGE\"",
            );
            assert!(
                sets_var(&text, "GP_BUILDKIT_IMAGE", pinned),
                "{ci}: the shared shell's builder gets no pinned image"
            );
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    let p = project.as_path();
    std::fs::create_dir_all(p.join("ci")).unwrap();
    // A file outside the project, for the `..` case below.
    std::fs::write(dir.path().join("etc.toml"), "").unwrap();
    std::fs::write(
        p.join("Dockerfile"),
        "FROM scratch AS base\nFROM base AS app\n",
    )
    .unwrap();
    std::fs::write(
        p.join("ci/buildkitd.toml"),
        "[registry.\"docker.io\"]\n  mirrors = [\"mirror.example.com\"]\n",
    )
    .unwrap();
    let config = "image: registry.example.com/acme/app\nbuildkit-image: registry.example.com/mirror/buildkit:v0.33.0\nbuildkitd-config: ci/buildkitd.toml\n";
    std::fs::write(p.join("gen-pipeline.yml"), config).unwrap();
    for (ci, want) in [
        (
            "github",
            "buildkitd-config: \"ci/buildkitd.toml\"".to_string(),
        ),
        ("gitlab", "--buildkitd-config ci/buildkitd.toml".to_string()),
        ("drone", "--buildkitd-config ci/buildkitd.toml".to_string()),
        (
            "woodpecker",
            "--buildkitd-config ci/buildkitd.toml".to_string(),
        ),
    ] {
        let out = p.join(format!("{ci}.yml"));
        gen_ok(p, ["--ci", ci, "-o", out.to_str().unwrap()]);
        let text = std::fs::read_to_string(&out).unwrap();
        // GitHub and template-made builders name the image in `image=…`; the shared shell's
        // builder reads it from GP_BUILDKIT_IMAGE.
        assert!(
            text.contains("image=registry.example.com/mirror/buildkit:v0.33.0")
                || sets_var(
                    &text,
                    "GP_BUILDKIT_IMAGE",
                    "registry.example.com/mirror/buildkit:v0.33.0"
                ),
            "{ci}: {text}"
        );
        assert!(!text.contains(pinned), "{ci}");
        if ci == "github" {
            assert_eq!(text.matches(&want).count(), builders(&text), "{ci}: {want}");
        } else {
            assert_shell_builders(
                ci,
                &text,
                &want,
                "--buildkitd-config \"$GP_BUILDKITD_CONFIG\"",
            );
            assert!(
                sets_var(&text, "GP_BUILDKITD_CONFIG", "ci/buildkitd.toml"),
                "{ci}: the shared shell's builder gets no buildkitd config"
            );
        }
        check_all(ci, &out);
    }
    // A missing file and an image that is not a plain reference are errors (exit 2).
    for (bad, msg) in [
        ("buildkitd-config: ci/missing.toml\n", "ci/missing.toml"),
        ("buildkit-image: \"$(id)\"\n", "buildkit-image"),
        ("buildkitd-config: ../etc.toml\n", "buildkitd-config"),
    ] {
        std::fs::write(
            p.join("gen-pipeline.yml"),
            format!("image: registry.example.com/acme/app\n{bad}"),
        )
        .unwrap();
        let out = gen_pipeline()
            .current_dir(p)
            .args(["--ci", "gitlab", "-o", "-"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(msg), "{bad}: {err}");
    }
}

/// Issue 11: "the shared shell is written once" per generated file. Counts the header line that
/// `render::compact_shell` puts before the run-time shell in every committed example of every CI
/// and in the buildah and dind flavors. Fails before the single-document Drone/Woodpecker layout,
/// whose pull-request pipeline wrote the shell a second time.
#[test]
fn shell_is_written_once_per_generated_file() {
    let marker = gen_pipeline::render::compact_shell(std::iter::empty())
        .trim()
        .to_string();
    assert!(
        marker.starts_with("# gen-pipeline run-time shell"),
        "{marker}"
    );
    let count = |what: &str, text: &str| {
        let n = text.lines().filter(|l| l.trim() == marker).count();
        assert_eq!(
            n, 1,
            "{what}: the shell's first line {marker:?} occurs {n} times"
        );
    };
    for ex in EXAMPLES {
        for (ci, rel) in CIS {
            for f in example_files(ex, ci, rel) {
                let text = std::fs::read_to_string(&f).unwrap();
                // A Drone file of several pipelines (`runners:`, src/render/split.rs) carries the
                // shell once per pipeline document: each runs on its own machine, in its own
                // workspace, and YAML anchors do not cross documents (templates/shared/README.md).
                let pipelines = text.matches("\nkind: pipeline\n").count()
                    + usize::from(text.starts_with("kind: pipeline\n"))
                    - usize::from(text.contains("\nname: gen-pipeline-gc\n"));
                if ci == "drone" && pipelines > 1 {
                    let n = text.lines().filter(|l| l.trim() == marker).count();
                    assert_eq!(n, pipelines, "{ex} {ci}: once per pipeline");
                    continue;
                }
                count(&format!("{ex} {ci}"), &text);
            }
        }
    }
    for (ci, extra) in [
        ("gitlab", "--builder=buildah"),
        ("drone", "--builder=buildah"),
        ("woodpecker", "--builder=buildah"),
        ("drone", "--daemon=dind"),
        ("woodpecker", "--daemon=dind"),
    ] {
        let out = gen_ok(
            repo_root(),
            [
                "--config",
                "examples/node-monorepo/gen-pipeline.yml",
                "--ci",
                ci,
                extra,
                "-o",
                "-",
            ],
        );
        count(
            &format!("node-monorepo {ci} {extra}"),
            &String::from_utf8(out.stdout).unwrap(),
        );
    }
}

/// Issue 11's size targets (`wc -l` of the committed python-two-apps examples: GitHub <= 300,
/// GitLab <= 250, Drone/Woodpecker <= 350; each further GitHub job <= 40 lines). Fails before the
/// compaction (GitHub 458 lines, GitLab 444, Drone 889 and Woodpecker 857 with the shell written
/// twice).
#[test]
fn python_two_apps_pipelines_meet_the_size_targets() {
    let mut report = Vec::new();
    for ((ci, rel), target) in CIS.iter().zip([300, 250, 350, 350]) {
        let total = std::fs::read_to_string(example_file("python-two-apps", rel))
            .unwrap()
            .lines()
            .count();
        report.push(format!("{ci}: {total} lines (target {target})"));
        assert!(total <= target, "{}", report.join("\n"));
    }
    eprintln!("{}", report.join("\n"));
    // A further job (an `app3` like `app2`) adds at most 40 lines to the GitHub file.
    let tmp = tempfile::tempdir().unwrap();
    crate::tools::copy_tree(&repo_root().join("examples/python-two-apps"), tmp.path());
    let github = |dir: &Path| -> usize {
        let out = gen_ok(dir, ["--ci", "github", "-o", "-"]);
        String::from_utf8(out.stdout).unwrap().lines().count()
    };
    let three = github(tmp.path());
    let df = tmp.path().join("Dockerfile");
    let text = std::fs::read_to_string(&df).unwrap();
    std::fs::write(
        &df,
        format!(
            "{text}\nFROM base AS app3\nCOPY app2/ ./app3/\nCMD [\"python\", \"-m\", \"app3\"]\n"
        ),
    )
    .unwrap();
    let four = github(tmp.path());
    assert!(
        four > three && four - three <= 40,
        "github: a fourth job adds {} lines ({three} -> {four})",
        four as i64 - three as i64
    );
    eprintln!("github: a further job adds {} lines", four - three);
}

/// Issue 11: GitLab's jobs take the ref's slug from GitLab (`GP_REF_SLUG: $CI_COMMIT_REF_SLUG`) and
/// the shell uses it in place of computing its own; the namespace rules (`br-` escape of reserved
/// slugs) still apply on top. Without GP_REF_SLUG the shell computes the same slug itself.
#[test]
fn gitlab_uses_ci_commit_ref_slug() {
    let doc = two_apps("gitlab");
    assert_eq!(s(&doc["variables"]["GP_REF_SLUG"]), "$CI_COMMIT_REF_SLUG");
    let shell = s(&doc[".gen-pipeline"]["before_script"][0]);
    assert!(shell.contains("gp_init()"), "{shell}");
    let run = |slug: &str| -> String {
        let script = format!(
            "{shell}\nGP_REF_KIND=branch GP_REF_NAME=Feature/X GP_SHA=0123456789abcdef0123456789abcdef01234567 \
             GP_DEFAULT_BRANCH=main GP_REPOSITORY=r GP_CACHE_REPO=r/cache GP_CACHE_KEY=k GP_REF_SLUG='{slug}'\n\
             gp_init; echo \"$gp_refs|$gp_reads|$gp_to\""
        );
        let out = std::process::Command::new("dash")
            .args(["-e", "-c", &script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .trim_end()
            .to_string()
    };
    let sha = "sha-0123456789abcdef0123456789abcdef01234567";
    assert_eq!(
        run(""),
        format!(" r:feature-x r:{sha}| r/cache:k.feature-x r/cache:k.main|r/cache:k.feature-x")
    );
    assert_eq!(
        run("from-gitlab"),
        format!(
            " r:from-gitlab r:{sha}| r/cache:k.from-gitlab r/cache:k.main|r/cache:k.from-gitlab"
        )
    );
    assert_eq!(
        run("latest"),
        format!(" r:br-latest r:{sha}| r/cache:k.br-latest r/cache:k.main|r/cache:k.br-latest")
    );
}
