//! Issue 13 on Drone and Woodpecker: `runners:` labels for a platform other than the build
//! platform split the output into one pipeline per runner (src/render/split.rs): Drone documents
//! in one file, Woodpecker workflows one per file, ordered with `depends_on`, digests handed
//! between pipelines through the registry (`gp_handoff`), never through workspace files.

use std::collections::BTreeMap;

use serde_yaml::Value;

use crate::e2e_pipelines::{docs_of, label_map, strings};
use crate::tools::{check_all, gen_ok, gen_pipeline};

use crate::platforms::DOCKERFILE;

/// Drone and Woodpecker labels for both platforms: linux/arm64 runs on runners of its own.
const CONFIG: &str = "\
image: registry.example.com/acme/mp
platforms: [linux/amd64, linux/arm64]
runners:
  linux/amd64:
    drone: [arch=amd64]
    woodpecker: [platform=linux/amd64]
  linux/arm64:
    drone: [arch=arm64]
    woodpecker: [platform=linux/arm64]
";

fn project(config: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(tmp.path().join("gen-pipeline.yml"), config).unwrap();
    tmp
}

fn step_names(doc: &Value) -> Vec<String> {
    doc["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

fn step<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no step {name} in {doc:?}"))
}

fn commands(s: &Value) -> String {
    strings(&s["commands"]).join("\n")
}

fn kv(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The pipelines every split output must have, whatever the CI: `(name, depends_on, labels,
/// steps other than lib/login/cleanup)`.
type Expected = (
    &'static str,
    Vec<&'static str>,
    BTreeMap<String, String>,
    Vec<&'static str>,
);

fn expected() -> Vec<Expected> {
    vec![
        // Built once on the build platform: what the arm64 runner waits for.
        (
            "images",
            vec![],
            kv(&[("K", "amd64")]),
            vec!["tools", "fork-pr"],
        ),
        // The build platform's per-platform jobs, in parallel with the arm64 pipeline.
        (
            "images-linux-amd64",
            vec!["images"],
            kv(&[("K", "amd64")]),
            vec![
                "base-linux-amd64",
                "test-linux-amd64",
                "app1-linux-amd64",
                "app2-linux-amd64",
            ],
        ),
        (
            "images-linux-arm64",
            vec!["images"],
            kv(&[("K", "arm64")]),
            vec![
                "base-linux-arm64",
                "test-linux-arm64",
                "app1-linux-arm64",
                "app2-linux-arm64",
            ],
        ),
        (
            "images-merge",
            vec!["images-linux-amd64", "images-linux-arm64"],
            kv(&[("K", "amd64")]),
            vec!["app1", "app2"],
        ),
    ]
}

/// Checks one pipeline document (Drone's or a Woodpecker workflow) against [`expected`]; `key` is
/// the label key (`arch` for Drone, `platform` for Woodpecker, value `linux/<arch>`).
fn check_pipeline(doc: &Value, name: &str, ci: &str) {
    let (_, deps, want_labels, steps) = expected()
        .into_iter()
        .find(|(n, ..)| *n == name)
        .unwrap_or_else(|| panic!("unexpected pipeline {name}"));
    let (key, label_doc) = if ci == "drone" {
        ("arch", &doc["node"])
    } else {
        ("platform", &doc["labels"])
    };
    let want: BTreeMap<String, String> = want_labels
        .values()
        .map(|arch| {
            let v = if ci == "drone" {
                arch.clone()
            } else {
                format!("linux/{arch}")
            };
            (key.to_string(), v)
        })
        .collect();
    assert_eq!(label_map(label_doc), want, "{ci} {name}: runner labels");
    // Drone also routes by the pipeline's platform (linux/amd64 when it has none): each names
    // its runner's.
    if ci == "drone" {
        let arch = want_labels.values().next().unwrap();
        assert_eq!(
            label_map(&doc["platform"]),
            kv(&[("os", "linux"), ("arch", arch)]),
            "{name}: platform"
        );
    }
    // Emulators only where the build platform's runner builds another platform.
    let login = commands(step(doc, "login"));
    assert_eq!(
        login.contains("tonistiigi/binfmt"),
        name == "images",
        "{ci} {name}: {login}"
    );
    assert_eq!(strings(&doc["depends_on"]), deps, "{ci} {name}: depends_on");
    let mut want_steps = vec!["lib", "login"];
    let (builds, fork): (Vec<&str>, Vec<&str>) = steps.iter().partition(|s| **s != "fork-pr");
    want_steps.extend(builds);
    want_steps.push("cleanup");
    want_steps.extend(fork);
    assert_eq!(step_names(doc), want_steps, "{ci} {name}: steps");
    // Each pipeline writes the run-time shell into its own workspace, once.
    assert!(
        commands(step(doc, "lib")).contains("gp_handoff() {"),
        "{ci} {name}"
    );
    // The first pipeline alone runs on pull requests.
    let when = if ci == "drone" {
        &doc["trigger"]
    } else {
        &doc["when"]
    };
    let events = strings(&when["event"]);
    if name == "images" {
        assert_eq!(events, ["push", "tag", "pull_request"], "{ci} {name}");
    } else {
        assert_eq!(events, ["push", "tag"], "{ci} {name}");
    }
}

/// What crosses pipelines: the arm64 apps receive `tools` (built once, its `sha-<sha>` tag) and
/// the merges the per-platform images of the other pipelines (their `sha-<sha>-<os>-<arch>` tags),
/// resolved in the registry; a digest of the same pipeline is still read from its file.
fn check_handoffs(by_name: &BTreeMap<String, Value>, ci: &str) {
    let arm = &by_name["images-linux-arm64"];
    let app1 = commands(step(arm, "app1-linux-arm64"));
    assert!(
        app1.contains("gp_handoff GP_DIGEST_TOOLS registry.example.com/acme/mp/stages/tools ''\n"),
        "{ci}: {app1}"
    );
    assert!(
        !app1.contains("gp_handoff GP_DIGEST_BASE_LINUX_ARM64"),
        "{ci}: same pipeline: {app1}"
    );
    assert_eq!(
        strings(&step(arm, "app1-linux-arm64")["depends_on"]),
        ["login", "base-linux-arm64"],
        "{ci}: a step depends only on steps of its own pipeline"
    );
    let merge = &by_name["images-merge"];
    let m = commands(step(merge, "app1"));
    for p in ["amd64", "arm64"] {
        assert!(
            m.contains(&format!(
                "gp_handoff GP_DIGEST_APP1_LINUX_{} registry.example.com/acme/mp/app1 linux/{p}\n",
                p.to_uppercase()
            )),
            "{ci}: {m}"
        );
    }
    assert_eq!(
        strings(&step(merge, "app1")["depends_on"]),
        ["login"],
        "{ci}"
    );
    // Nothing but the first pipeline builds for pull requests or carries the notes.
    for (name, doc) in by_name {
        if name != "images" {
            assert!(
                !step_names(doc).contains(&"fork-pr".to_string()),
                "{ci} {name}"
            );
        }
    }
}

#[test]
fn drone_runner_labels_split_into_one_pipeline_per_runner() {
    let p = project(CONFIG);
    gen_ok(
        p.path(),
        ["--ci", "drone", "-o", ".drone.yml", "--branch", "main"],
    );
    let path = p.path().join(".drone.yml");
    check_all("drone", &path);
    let text = std::fs::read_to_string(&path).unwrap();
    let all = docs_of(&crate::envsubst::runner_view("drone", &text, &[]));
    let names: Vec<String> = all
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "images",
            "images-linux-amd64",
            "images-linux-arm64",
            "images-merge"
        ]
    );
    let by_name: BTreeMap<String, Value> = names.iter().cloned().zip(all.clone()).collect();
    for (name, doc) in &by_name {
        assert_eq!(doc["kind"].as_str(), Some("pipeline"));
        assert_eq!(doc["type"].as_str(), Some("docker"));
        check_pipeline(doc, name, "drone");
    }
    check_handoffs(&by_name, "drone");
    // The notes and the header once, at the top of the file.
    assert_eq!(text.matches("Generated by gen-pipeline").count(), 1);
}

/// CONFIG with the Woodpecker output in `.woodpecker/` (for `check`, which reads `output:`).
fn woodpecker_config() -> String {
    format!("ci: woodpecker\noutput: {{woodpecker: .woodpecker/}}\n{CONFIG}")
}

#[test]
fn woodpecker_runner_labels_write_one_workflow_per_file() {
    let p = project(&woodpecker_config());
    let out = gen_ok(
        p.path(),
        [
            "--ci",
            "woodpecker",
            "-o",
            ".woodpecker/",
            "--branch",
            "main",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut files: Vec<String> = std::fs::read_dir(p.path().join(".woodpecker"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "images-linux-amd64.yaml",
            "images-linux-arm64.yaml",
            "images-merge.yaml",
            "images.yaml"
        ],
        "{stderr}"
    );
    let mut by_name = BTreeMap::new();
    for f in &files {
        let path = p.path().join(".woodpecker").join(f);
        check_all("woodpecker", &path);
        let text = std::fs::read_to_string(&path).unwrap();
        // Every file is gen-pipeline's (its header), so `check` and the overwrite rule cover it.
        assert!(text.starts_with("# Generated by gen-pipeline"), "{f}");
        let doc = docs_of(&crate::envsubst::runner_view(f, &text, &[])).remove(0);
        // Woodpecker names a workflow after its file: `depends_on` names files of this folder.
        let name = f.trim_end_matches(".yaml").to_string();
        check_pipeline(&doc, &name, "woodpecker");
        by_name.insert(name, doc);
    }
    check_handoffs(&by_name, "woodpecker");
    // `check` sees every workflow; in sync right after generating.
    let o = gen_pipeline()
        .current_dir(p.path())
        .args(["check", "--branch", "main"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(err.matches(": in sync").count(), 4, "{err}");
}

/// A file name Woodpecker reads as the one workflow, or stdout, cannot hold several: exit 2,
/// nothing written.
#[test]
fn woodpecker_split_into_one_file_is_exit_2() {
    let p = project(CONFIG);
    for out in ["-", ".woodpecker.yml", ".woodpecker.yaml"] {
        let o = gen_pipeline()
            .current_dir(p.path())
            .args(["--ci", "woodpecker", "-o", out, "--branch", "main"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{out}: {err}");
        assert!(
            err.contains("Woodpecker workflows") && err.contains("-o .woodpecker/"),
            "{out}: {err}"
        );
        assert!(o.stdout.is_empty(), "{out}");
    }
    let left: Vec<_> = std::fs::read_dir(p.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("woodpecker"))
        .collect();
    assert!(left.is_empty(), "nothing written: {left:?}");
}

/// Labels for the build platform only (or none): one pipeline, as before the split existed: no
/// second document, no `gp_handoff`, every build step in it.
#[test]
fn drone_woodpecker_labels_for_the_build_platform_only_keep_one_pipeline() {
    let p = project(
        "image: registry.example.com/acme/mp\nplatforms: [linux/amd64, linux/arm64]\n\
         runners:\n  linux/amd64: {drone: [arch=amd64], woodpecker: [platform=linux/amd64]}\n  \
         linux/arm64: {github: ubuntu-24.04-arm}\n",
    );
    for ci in ["drone", "woodpecker"] {
        let out = gen_ok(p.path(), ["--ci", ci, "-o", "-", "--branch", "main"]);
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(docs_of(&text).len(), 1, "{ci}");
        assert!(!text.contains("gp_handoff"), "{ci}");
        assert!(text.contains("  - name: app1-linux-arm64\n"), "{ci}");
    }
}

/// Workflows of an earlier split that the config no longer asks for are reported, never deleted.
#[test]
fn woodpecker_workflows_no_longer_generated_are_reported() {
    let p = project(&woodpecker_config());
    gen_ok(
        p.path(),
        [
            "--ci",
            "woodpecker",
            "-o",
            ".woodpecker/",
            "--branch",
            "main",
        ],
    );
    std::fs::write(
        p.path().join("gen-pipeline.yml"),
        "ci: woodpecker\noutput: {woodpecker: .woodpecker/}\nimage: registry.example.com/acme/mp\nplatforms: [linux/amd64, linux/arm64]\n",
    )
    .unwrap();
    let o = gen_pipeline()
        .current_dir(p.path())
        .args(["check", "--branch", "main"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    for f in [
        "images-linux-amd64.yaml",
        "images-linux-arm64.yaml",
        "images-merge.yaml",
    ] {
        assert!(
            err.contains(&format!(
                "{f}: a Woodpecker workflow gen-pipeline no longer generates"
            )),
            "{f}: {err}"
        );
    }
    let o = gen_pipeline()
        .current_dir(p.path())
        .args(["--branch", "main"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("no longer generates; it still runs: delete it"),
        "{err}"
    );
    assert!(
        p.path().join(".woodpecker/images-merge.yaml").exists(),
        "not deleted"
    );
}

/// An empty volumes or secrets block leaves no blank line inside a step (buildah: no socket).
#[test]
fn drone_woodpecker_steps_have_no_blank_line_for_an_empty_block() {
    let p = project("image: registry.example.com/acme/mp\nbuilder: buildah\n");
    for ci in ["drone", "woodpecker"] {
        let out = gen_ok(p.path(), ["--ci", ci, "-o", "-", "--branch", "main"]);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(!text.contains("\n\n    commands:"), "{ci}:\n{text}");
        assert!(!text.contains("\n\n    environment:"), "{ci}:\n{text}");
    }
}

/// handoff.sh's `gp_handoff` on top of the compact shell, with the registry probe stubbed (it
/// prints the digest of the ref it is asked for): which tag it resolves for a per-platform job
/// (`plan::platforms::platform_tag`), for a job built once on a branch (`sha-<full sha>`) and on a
/// release tag (no `sha-` tag there: the ref's first tag), and that it writes the digest file a
/// step of the same pipeline would have written; a missing image fails the step. Under dash,
/// busybox sh and bash.
#[test]
fn handoff_shell_resolves_the_producers_tag() {
    use gen_pipeline::plan::platforms::platform_tag;
    use gen_pipeline::render::{compact_shell, embedded, shell_parts};
    let mut parts: Vec<&str> = shell_parts(gen_pipeline::plan::Builder::Buildah)
        .iter()
        .map(|n| embedded(n).unwrap())
        .collect();
    parts.push(embedded("shared/merge.sh").unwrap());
    parts.push(embedded("shared/handoff.sh").unwrap());
    let lib = compact_shell(parts);
    let sha = "0123456789ABCDEF0123456789ABCDEF01234567";
    let full = sha.to_lowercase();
    let repo = "registry.example.com/acme/mp/app1";
    for (kind, name, platform, want_tag) in [
        (
            "branch",
            "main",
            "linux/arm64",
            platform_tag(sha, "linux/arm64"),
        ),
        ("branch", "feature/x", "", format!("sha-{full}")),
        ("tag", "v1.2.3", "", "1.2.3".to_string()),
        ("tag", "v1.2.3", "linux/386", platform_tag(sha, "linux/386")),
    ] {
        for sh in [vec!["dash"], vec!["busybox", "sh"], vec!["bash", "--posix"]] {
            let state = tempfile::tempdir().unwrap();
            let script = format!(
                "{lib}\ngp_digest_of() {{ case $1 in {repo}:{want_tag}) echo sha256:{d} ;; *) echo \"asked for $1\" >&2; return 1 ;; esac; }}\n\
                 gp_handoff GP_DIGEST_X {repo} '{platform}' && cat \"$GP_STATE/digests/GP_DIGEST_X\"",
                d = "a".repeat(64)
            );
            let o = std::process::Command::new(sh[0])
                .args(&sh[1..])
                .arg("-c")
                .arg(&script)
                .env("GP_SHA", sha)
                .env("GP_STATE", state.path())
                .env("GP_REF_KIND", kind)
                .env("GP_REF_NAME", name)
                .env("GP_DEFAULT_BRANCH", "main")
                .env("GP_EXTRA_TAGS", "stable")
                .env_remove("GP_REF_SLUG")
                .env_remove("GP_PLATFORM")
                .output()
                .unwrap();
            let out = String::from_utf8_lossy(&o.stdout);
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                o.status.success(),
                "{sh:?} {kind} {name} {platform:?}: {err}"
            );
            let d = format!("sha256:{}", "a".repeat(64));
            assert_eq!(
                out,
                format!("handed GP_DIGEST_X={d} ({repo}:{want_tag})\n{d}\n"),
                "{sh:?} {kind} {name} {platform:?}"
            );
        }
    }
    // No image under the tag: the step fails and says which.
    let o = std::process::Command::new("dash")
        .arg("-c")
        .arg(format!(
            "{lib}\ngp_digest_of() {{ return 1; }}\ngp_handoff GP_DIGEST_X {repo} linux/386"
        ))
        .env("GP_SHA", sha)
        .env("GP_STATE", tempfile::tempdir().unwrap().path())
        .env("GP_REF_KIND", "branch")
        .env("GP_REF_NAME", "main")
        .env("GP_DEFAULT_BRANCH", "main")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!(
            "{repo}:{} does not exist",
            platform_tag(sha, "linux/386")
        )),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The split under every flavor: buildah, a dind service, the registry cleanup (`gc:`), build
/// secrets. Every Drone document and Woodpecker workflow passes every validator; each pipeline has
/// its own service/volume for the daemon; the cleanup stays in the first Woodpecker workflow and a
/// Drone pipeline of its own, on cron only.
#[test]
fn split_pipelines_pass_every_validator_in_every_flavor() {
    for (flavor, extra) in [
        ("buildah", "builder: buildah\n"),
        ("dind", "daemon: dind\n"),
        (
            "host + gc + secret",
            "gc: {enabled: true}\nsecrets: [{id: npmrc, env: NPM_TOKEN}]\n",
        ),
    ] {
        let p = project(&format!("{CONFIG}{extra}"));
        gen_ok(
            p.path(),
            ["--ci", "drone", "-o", ".drone.yml", "--branch", "main"],
        );
        gen_ok(
            p.path(),
            [
                "--ci",
                "woodpecker",
                "-o",
                ".woodpecker/",
                "--branch",
                "main",
            ],
        );
        let drone = p.path().join(".drone.yml");
        check_all("drone", &drone);
        let text = std::fs::read_to_string(&drone).unwrap();
        let all = docs_of(&crate::envsubst::runner_view("drone", &text, &[]));
        let pipelines: Vec<&Value> = all
            .iter()
            .filter(|d| d["name"].as_str() != Some("gen-pipeline-gc"))
            .collect();
        assert_eq!(pipelines.len(), 4, "{flavor}");
        for d in &pipelines {
            let name = d["name"].as_str().unwrap();
            match flavor {
                "dind" => assert_eq!(d["services"][0]["name"].as_str(), Some("docker"), "{name}"),
                "buildah" => assert!(d["volumes"].is_null() && d["services"].is_null(), "{name}"),
                _ => assert!(
                    !d["volumes"].is_null(),
                    "{flavor} {name}: the socket volume"
                ),
            }
            if flavor.contains("secret") {
                // Push build steps take the secret; the merge steps build nothing and the pull-request
                // step gets none without `on-pr`.
                for st in d["steps"].as_sequence().unwrap() {
                    let n = st["name"].as_str().unwrap();
                    let builds = commands(st).contains("export GP_TARGET=");
                    assert_eq!(
                        !st["environment"]["NPM_TOKEN"].is_null(),
                        builds,
                        "{name} {n}"
                    );
                }
            }
        }
        assert_eq!(
            all.iter()
                .any(|d| d["name"].as_str() == Some("gen-pipeline-gc")),
            flavor.contains("gc"),
            "{flavor}"
        );
        for e in std::fs::read_dir(p.path().join(".woodpecker")).unwrap() {
            let path = e.unwrap().path();
            check_all("woodpecker", &path);
            let text = std::fs::read_to_string(&path).unwrap();
            let first = path.file_name().unwrap() == "images.yaml";
            assert_eq!(
                text.contains("  - name: gen-pipeline-gc\n"),
                first && flavor.contains("gc"),
                "{flavor} {}",
                path.display()
            );
            assert_eq!(
                text.contains("\nservices:\n"),
                flavor == "dind",
                "{flavor} {}",
                path.display()
            );
        }
    }
}
