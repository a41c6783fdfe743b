//! Generated pipelines for the examples: current, accepted by every real checker, snapshot-stable,
//! and wired right (needs, digests, caches).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use crate::tools::{check_all, gen_ok, gen_pipeline, repo_root};

const EXAMPLES: [&str; 4] = [
    "python-two-apps",
    "go-distroless",
    "node-monorepo",
    "rust-workspace",
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
            check_all(ci, example_file(ex, rel));
        }
    }
}

#[test]
fn snapshots() {
    for ex in EXAMPLES {
        for (ci, _) in CIS {
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
                let id = call
                    .trim_start()
                    .strip_prefix("GP_REPOSITORY=")
                    .and_then(|_| call.split("gp_github_job ").nth(1));
                if let Some(id) = id {
                    let field = |k: &str| {
                        call.split_whitespace()
                            .find_map(|w| w.strip_prefix(&format!("{k}=")))
                            .unwrap_or_else(|| panic!("{ex}: no {k} in {call}"))
                            .to_string()
                    };
                    repo_of.insert(id.trim().to_string(), field("GP_REPOSITORY"));
                    cache_keys.insert(field("GP_CACHE_KEY"));
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
            if job["outputs"]["digest"].is_null() {
                continue;
            }
            // Every build job waits for the first job and is one of the jobs it decided for.
            assert!(needs.contains(&setup), "{ex}: {id} does not need {setup}");
            assert!(
                repo_of.contains_key(&id),
                "{ex}: {setup} decides nothing for {id}"
            );
            for step in job["steps"].as_sequence().unwrap() {
                let Some(w) = step.get("with") else { continue };
                if let Some(ctx) = w.get("build-contexts") {
                    for line in s(ctx).lines().filter(|l| !l.trim().is_empty()) {
                        let (stage, rest) = line.split_once("=docker-image://").expect(line);
                        let (repo, digest) = rest
                            .split_once('@')
                            .unwrap_or_else(|| panic!("{ex}: {line} is not pinned by digest"));
                        // The upstream job's digest, or the key image's when it was skipped.
                        let up = digest
                            .strip_prefix("${{ needs.")
                            .and_then(|d| d.split_once(".outputs.digest || fromJSON(needs."))
                            .map(|(up, rest)| {
                                assert_eq!(
                                    rest,
                                    format!("{setup}.outputs.jobs).{up}.digest }}}}"),
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
            .filter(|(_, j)| !j["outputs"]["digest"].is_null())
            .count();
        assert_eq!(repo_of.len(), built, "{ex}: one decision per build job");
        assert_eq!(
            cache_keys.len(),
            built,
            "{ex}: cache keys must differ per stage"
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
            jobs += 1;
            let dotenv = s(&job["artifacts"]["reports"]["dotenv"]);
            exported.insert(dotenv.trim_end_matches(".env").to_string(), id.clone());
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
            for part in script.split("--build-context ").skip(1) {
                let ctx = part.split_whitespace().next().unwrap().trim_matches('"');
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

/// Drone and Woodpecker: every digest file a step reads is written by a step it depends on.
#[test]
fn drone_and_woodpecker_wiring() {
    for ex in EXAMPLES {
        for (ci, rel) in &CIS[2..] {
            // What the runner parses: the file after its variable substitution.
            let raw = std::fs::read_to_string(example_file(ex, rel)).unwrap();
            let text = crate::envsubst::runner_view(&format!("{ex} {ci}"), &raw, &[]);
            let all: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
                .map(|d| serde::Deserialize::deserialize(d).unwrap())
                .filter(|v: &Value| !v.is_null())
                .collect();
            let steps = all[0]["steps"].as_sequence().unwrap();
            let names: BTreeSet<String> = steps.iter().map(|st| s(&st["name"])).collect();
            let writes: BTreeMap<String, String> = steps
                .iter()
                .filter(|st| !st["environment"]["GP_DIGEST_FILE"].is_null())
                .map(|st| (s(&st["environment"]["GP_DIGEST_FILE"]), s(&st["name"])))
                .collect();
            for st in steps {
                let deps = seq(&st["depends_on"]);
                for d in &deps {
                    assert!(
                        names.contains(d),
                        "{ex} {ci}: {} depends on missing step {d}",
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
                for part in cmds.split("--build-context ").skip(1) {
                    let ctx = part.lines().next().unwrap();
                    let file = ctx
                        .split_once("@$(cat ")
                        .and_then(|(_, f)| f.split_once(')'))
                        .map(|(f, _)| f)
                        .unwrap_or_else(|| {
                            panic!("{ex} {ci}: {ctx} is not pinned by a digest file")
                        });
                    let producer = writes
                        .get(file)
                        .unwrap_or_else(|| panic!("{ex} {ci}: nothing writes {file}"));
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
