//! Issue 13: multi-platform images on native runners (`runners:`), planned per stage: the config's
//! validation, the plan (per-platform jobs, build-platform stages, merge jobs, per-platform caches,
//! keys and tags) and the four renderings under every validator.

use std::collections::BTreeMap;
use std::path::Path;

use crate::tools::{check_all, gen_ok, gen_pipeline};

/// `tools` runs on the build platform, `base` on the target platform, `app1`/`app2` are published,
/// `test` is a check.
pub(crate) const DOCKERFILE: &str = "\
FROM --platform=$BUILDPLATFORM golang:1.23 AS tools
ARG TARGETARCH
RUN GOARCH=$TARGETARCH go build -o /out/tool ./cmd/tool

FROM alpine:3.20 AS base
RUN apk add --no-cache ca-certificates

FROM base AS test
RUN true

FROM base AS app1
COPY --from=tools /out/tool /usr/bin/tool

FROM base AS app2
COPY --from=tools /out/tool /usr/bin/tool
";

const CONFIG: &str = "\
image: registry.example.com/acme/mp
platforms: [linux/amd64, linux/arm64]
runners:
  linux/amd64:
    drone: [arch=amd64]
    woodpecker: [platform=linux/amd64]
  linux/arm64:
    github: ubuntu-24.04-arm
    gitlab: [saas-linux-small-arm64]
";

fn project(config: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(tmp.path().join("gen-pipeline.yml"), config).unwrap();
    tmp
}

fn plan_json(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let out = gen_ok(
        dir,
        [
            &["plan", "--format", "json", "--branch", "main", "--sha"][..],
            &[&"a".repeat(40)],
            extra,
        ]
        .concat(),
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn job<'a>(plan: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    plan["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == id)
        .unwrap_or_else(|| panic!("no job {id} in {:#}", plan["jobs"]))
}

fn ids(plan: &serde_json::Value) -> Vec<String> {
    plan["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn runners_fan_out_per_platform_and_merge_each_published_image() {
    let p = project(CONFIG);
    let plan = plan_json(p.path(), &[]);
    assert_eq!(plan["build_platform"], "linux/amd64");
    // `tools` (FROM --platform=$BUILDPLATFORM) is built once, for every platform, on the build
    // platform's runner; every other job is one job per platform.
    assert_eq!(
        ids(&plan),
        [
            "tools",
            "base-linux-amd64",
            "base-linux-arm64",
            "test-linux-amd64",
            "test-linux-arm64",
            "app1-linux-amd64",
            "app1-linux-arm64",
            "app2-linux-amd64",
            "app2-linux-arm64"
        ]
    );
    assert!(job(&plan, "tools").get("platform").is_none());
    let arm = job(&plan, "app1-linux-arm64");
    assert_eq!(arm["platform"], "linux/arm64");
    assert_eq!(
        arm["runner"]["github"],
        serde_json::json!(["ubuntu-24.04-arm"])
    );
    // Same-platform upstream digest; the build-platform stage's one (multi-platform) image.
    assert_eq!(
        arm["needs"],
        serde_json::json!(["tools", "base-linux-arm64"])
    );
    // Per (stage, platform): cache ref, tag, key.
    assert_eq!(
        arm["cache_to"],
        "registry.example.com/acme/mp/cache:app1-linux-arm64.main"
    );
    assert_eq!(
        arm["tags"],
        serde_json::json!([format!(
            "registry.example.com/acme/mp/app1:sha-{}-linux-arm64",
            "a".repeat(40)
        )])
    );
    let amd = job(&plan, "app1-linux-amd64");
    assert_ne!(amd["key"]["static_digest"], arm["key"]["static_digest"]);
    // The build platform's runner: no GitHub label (the default runner), Drone's node labels.
    assert_eq!(amd["runner"]["github"], serde_json::json!([]));
    assert_eq!(amd["runner"]["drone"], serde_json::json!({"arch": "amd64"}));
    // A check fans out too, but nothing merges it.
    assert_eq!(
        job(&plan, "test-linux-arm64")["tags"],
        serde_json::json!([])
    );
    let merges = plan["merges"].as_array().unwrap();
    let merge_ids: Vec<&str> = merges.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(merge_ids, ["app1", "app2"]);
    assert_eq!(
        merges[0]["needs"],
        serde_json::json!(["app1-linux-amd64", "app1-linux-arm64"])
    );
    assert!(merges[0]["tags"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("latest")));
    // The text plan says where each job runs.
    let text = String::from_utf8(
        gen_ok(p.path(), ["plan", "--format", "text", "--branch", "main"]).stdout,
    )
    .unwrap();
    assert!(text.contains("platform:   linux/arm64 on runner github ubuntu-24.04-arm; gitlab saas-linux-small-arm64"), "{text}");
    assert!(
        text.contains("app1  (stage app1, merge: one index of its platforms)"),
        "{text}"
    );
    assert!(
        text.contains("built once on the build platform's runner"),
        "{text}"
    );
}

/// Issue 13, "the index is reused when every platform is": the plan shows each merge job's index
/// key inputs (format version, the per-platform jobs whose digests it covers, in platform order,
/// and whether it is looked up: not with `skip: false`), in JSON and text.
#[test]
fn runners_plan_shows_each_merge_jobs_index_key_inputs() {
    let p = project(CONFIG);
    let plan = plan_json(p.path(), &[]);
    let m = &plan["merges"][0];
    assert_eq!(m["id"], "app1");
    assert_eq!(
        m["key"],
        serde_json::json!({
            "version": gen_pipeline::plan::platforms::INDEX_KEY_VERSION,
            "manifests": ["app1-linux-amd64", "app1-linux-arm64"],
            "reuse": true
        })
    );
    let text = String::from_utf8(
        gen_ok(p.path(), ["plan", "--format", "text", "--branch", "main"]).stdout,
    )
    .unwrap();
    assert!(
        text.contains("    index key:  version 1, the digests from app1-linux-amd64, app1-linux-arm64 in this order; registry.example.com/acme/mp/app1:key-<index key> is tagged, not created, when it exists\n"),
        "{text}"
    );
    // skip: false: every merge creates a new index, and the plan says so.
    let p = project(&format!("{CONFIG}skip: false\n"));
    let plan = plan_json(p.path(), &[]);
    assert_eq!(plan["merges"][1]["key"]["reuse"], false);
    let text = String::from_utf8(
        gen_ok(p.path(), ["plan", "--format", "text", "--branch", "main"]).stdout,
    )
    .unwrap();
    assert!(
        text.contains("    index key:  - (skip: false: a new index every run)\n"),
        "{text}"
    );
    assert!(
        text.contains("(skip: false: a new index every run): app1, app2"),
        "{text}"
    );
}

#[test]
fn runners_platform_without_runner_is_emulated_and_buildah_fans_out_build_platform_stages() {
    let p = project(
        "image: registry.example.com/acme/mp\nbuilder: buildah\nplatforms: [linux/amd64, linux/arm64, linux/s390x]\nrunners:\n  linux/arm64: {gitlab: [arm]}\n",
    );
    let plan = plan_json(p.path(), &[]);
    // buildah pushes one image per build: the build-platform stage gets one job per platform,
    // all on the build platform's runner (no emulation: its RUN steps run on the build platform).
    let t = job(&plan, "tools-linux-arm64");
    assert_eq!(t.get("runner"), None);
    assert_eq!(t.get("emulated"), None);
    assert_eq!(
        job(&plan, "base-linux-arm64")["runner"]["gitlab"],
        serde_json::json!(["arm"])
    );
    assert_eq!(job(&plan, "base-linux-s390x")["emulated"], true);
    assert_eq!(job(&plan, "base-linux-amd64").get("emulated"), None);
    let notes = plan["notes"].to_string();
    assert!(
        notes.contains("linux/s390x: the default runner with QEMU emulation"),
        "{notes}"
    );
}

#[test]
fn runners_config_errors_point_at_the_platform() {
    // (Drone/Woodpecker labels for a platform other than the build platform are no error: they
    // split the output into one pipeline per runner, tests/it/native_pipelines.rs.)
    let cases: [(&str, &[&str]); 3] = [
        (
            "platforms: [linux/amd64, linux/arm64]\nrunners:\n  linux/arm46: {github: arm}\n",
            &[
                "gen-pipeline.yml:4:3: error",
                "not a platform this pipeline builds",
                "did you mean `linux/arm64`?",
            ],
        ),
        (
            "runners:\n  linux/arm64: {github: arm}\n",
            &[
                "gen-pipeline.yml:3:3: error",
                "list the platforms to build in `platforms:`",
            ],
        ),
        (
            "platforms: [linux/amd64]\nrunners:\n  linux/amd64: {woodpecker: [amd64]}\n",
            &["gen-pipeline.yml:4:3: error", "is not `key=value`"],
        ),
    ];
    for (config, needles) in cases {
        let p = project(&format!("image: registry.example.com/acme/mp\n{config}"));
        let out = gen_pipeline()
            .current_dir(p.path())
            .args(["--ci", "gitlab", "-o", "-"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{config}: {stderr}");
        for n in needles {
            assert!(stderr.contains(n), "{config}: `{n}` missing in {stderr}");
        }
        assert!(stderr.contains('^'), "a caret: {stderr}");
    }
    // An unknown CI key inside a runner is the config parser's error, at its line.
    let p = project("image: registry.example.com/acme/mp\nplatforms: [linux/amd64]\nrunners:\n  linux/amd64: {gitlb: [x]}\n");
    let out = gen_pipeline()
        .current_dir(p.path())
        .args(["--ci", "gitlab", "-o", "-"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("gen-pipeline.yml:4:") && stderr.contains("did you mean `gitlab`?"),
        "{stderr}"
    );
}

#[test]
fn runners_with_one_platform_only_pick_the_runner() {
    let p = project(
        "image: registry.example.com/acme/mp\nplatforms: [linux/arm64]\nrunners:\n  linux/arm64: {github: ubuntu-24.04-arm}\n",
    );
    let plan = plan_json(p.path(), &[]);
    assert_eq!(ids(&plan), ["tools", "base", "test", "app1", "app2"]);
    assert_eq!(
        job(&plan, "app1")["runner"]["github"],
        serde_json::json!(["ubuntu-24.04-arm"])
    );
    assert!(plan.get("merges").is_none());
}

/// All four outputs under every validator; the per-platform wiring of each.
#[test]
fn runners_render_and_validate_on_all_four_cis() {
    let p = project(CONFIG);
    let mut texts = BTreeMap::new();
    for (ci, file) in [
        ("github", "images.yml"),
        ("gitlab", ".gitlab-ci.yml"),
        ("drone", ".drone.yml"),
        ("woodpecker", ".woodpecker.yml"),
    ] {
        gen_ok(p.path(), ["--ci", ci, "-o", file, "--branch", "main"]);
        let path = p.path().join(file);
        check_all(ci, &path);
        texts.insert(ci, std::fs::read_to_string(&path).unwrap());
    }
    let gh = &texts["github"];
    assert!(gh.contains("  app1-linux-arm64:\n    name: \"build app1 linux/arm64\"\n    needs: [gen-pipeline, tools, base-linux-arm64]"), "{gh}");
    assert!(gh.contains("runs-on: [\"ubuntu-24.04-arm\"]"));
    assert!(gh.contains("(GP_PLATFORM=linux/arm64; gp_platform_tags; GP_REPOSITORY="));
    assert!(gh.contains("docker buildx imagetools create"));
    // Native runners: no QEMU except where a platform has none.
    assert!(!gh.contains("setup-qemu-action"), "no emulation needed");
    let gl = &texts["gitlab"];
    assert!(gl.contains(
        "app1-linux-arm64:\n  extends: .gen-pipeline\n  tags: [\"saas-linux-small-arm64\"]\n"
    ));
    assert!(gl.contains("gp_merge\n      \"registry.example.com/acme/mp/app1@$GP_DIGEST_APP1_LINUX_AMD64\"\n      \"registry.example.com/acme/mp/app1@$GP_DIGEST_APP1_LINUX_ARM64\""));
    assert!(texts["drone"].contains("\nnode: {arch: \"amd64\"}\n"));
    assert!(texts["woodpecker"].contains("\nlabels: {platform: \"linux/amd64\"}\n"));
    for ci in ["drone", "woodpecker"] {
        assert!(texts[ci].contains("gp_platform_build"), "{ci}");
        assert!(texts[ci].contains("gp_merge"), "{ci}");
        // The pull-request step builds the build platform only (no emulation, no merge).
        assert!(
            texts[ci].contains("GP_PLATFORMS=linux/amd64\n        gp_build"),
            "{ci}"
        );
    }
}

/// merge.sh's `gp_platform_tags` on top of the compact shell (ref.sh computes the ref's tags once
/// a run, in `gp_tagl`): a per-platform job's image refs are the one tag
/// `plan::platforms::platform_tag` plans (no ref tag, no extra tag), while its cache refs stay the
/// ref's; under dash, busybox sh and bash.
#[test]
fn runners_shell_platform_tags_match_the_planned_platform_tag() {
    use gen_pipeline::plan::platforms::platform_tag;
    use gen_pipeline::render::{compact_shell, embedded, shell_parts};
    let mut parts: Vec<&str> = shell_parts(gen_pipeline::plan::Builder::Buildah)
        .iter()
        .map(|n| embedded(n).unwrap())
        .collect();
    parts.push(embedded("shared/merge.sh").unwrap());
    let lib = compact_shell(parts);
    let script = format!(
        "{lib}\ngp_platform_tags; gp_init; printf 'refs=%s\\nreads=%s\\n' \"$gp_refs\" \"$gp_reads\""
    );
    let shells: Vec<Vec<&str>> = vec![vec!["dash"], vec!["busybox", "sh"], vec!["bash", "--posix"]];
    for sha in [
        "0123456789abcdef0123456789abcdef01234567",
        "0123456789ABCDEF0123456789ABCDEF01234567",
        "",
        "not-a-sha",
    ] {
        for platform in ["linux/amd64", "linux/arm/v7", "Linux/386"] {
            let want = format!(
                "refs= registry.example.com/acme/mp/app1:{}\nreads= registry.example.com/acme/mp/cache:app1-x.main\n",
                platform_tag(sha, platform)
            );
            for sh in &shells {
                let o = std::process::Command::new(sh[0])
                    .args(&sh[1..])
                    .arg("-c")
                    .arg(&script)
                    .env("GP_SHA", sha)
                    .env("GP_PLATFORM", platform)
                    .env("GP_REF_KIND", "branch")
                    .env("GP_REF_NAME", "main")
                    .env("GP_DEFAULT_BRANCH", "main")
                    .env("GP_EXTRA_TAGS", "stable edge")
                    .env("GP_REPOSITORY", "registry.example.com/acme/mp/app1")
                    .env("GP_CACHE_REPO", "registry.example.com/acme/mp/cache")
                    .env("GP_CACHE_KEY", "app1-x")
                    .env_remove("GP_REF_SLUG")
                    .output()
                    .unwrap();
                assert!(
                    o.status.success(),
                    "{sh:?}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                assert_eq!(
                    String::from_utf8_lossy(&o.stdout),
                    want,
                    "{sh:?} sha {sha:?} platform {platform}"
                );
            }
        }
    }
}

/// index.sh's `gp_index_key` (issue 13, the index is reused when every platform is) is
/// `plan::platforms::index_key` of the digests it merges, in their order, under dash, busybox sh
/// and bash; none with `GP_SKIP=false`, nor with buildah when no skopeo is on PATH.
#[test]
fn runners_shell_index_key_matches_the_planned_index_key() {
    use gen_pipeline::plan::platforms::index_key;
    use gen_pipeline::render::{compact_shell, embedded};
    let lib = compact_shell([embedded("shared/index.sh").unwrap()]);
    let a = format!("sha256:{}", "0a".repeat(32));
    let b = format!("sha256:{}", "b1".repeat(32));
    let args = format!("r.example/x@{a} r.example/x@{b}");
    let script = format!("{lib}\ngp_index_key {args}; printf '%s\\n' \"$gp_ikey\"");
    let shells: Vec<Vec<&str>> = vec![vec!["dash"], vec!["busybox", "sh"], vec!["bash", "--posix"]];
    // PATH without skopeo: a directory holding only the tools the key needs.
    let bin = tempfile::tempdir().unwrap();
    for tool in ["sha256sum", "cut"] {
        let path = crate::tools::which(tool).unwrap();
        std::os::unix::fs::symlink(path, bin.path().join(tool)).unwrap();
    }
    let run = |sh: &[&str], builder: &str, skip: &str, path: Option<&std::path::Path>| {
        let mut c = std::process::Command::new(crate::tools::which(sh[0]).unwrap());
        c.args(&sh[1..])
            .arg("-c")
            .arg(&script)
            .env("GP_BUILDER", builder)
            .env("GP_SKIP", skip);
        if let Some(p) = path {
            c.env("PATH", p);
        }
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "{sh:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let want = index_key(&[&a, &b]);
    for sh in &shells {
        assert_eq!(run(sh, "buildx", "true", None), want, "{sh:?}");
        assert_eq!(run(sh, "buildx", "false", None), "", "{sh:?} skip: false");
        assert_eq!(
            run(sh, "buildx", "true", Some(bin.path())),
            want,
            "{sh:?} buildx, no skopeo"
        );
        assert_eq!(
            run(sh, "buildah", "true", Some(bin.path())),
            "",
            "{sh:?} buildah, no skopeo"
        );
    }
    // With skopeo (the e2e machines have it), buildah has a key too.
    if crate::tools::which("skopeo").is_ok() {
        assert_eq!(run(&shells[0], "buildah", "true", None), want);
    }
}

/// GitHub's merge steps inline the index key (they carry no shared shell): the `gp_kr=` line of
/// the committed multi-platform workflow, run under bash with two sources, names
/// `key-<plan::platforms::index_key of their digests>`, exactly as index.sh's `gp_index_key`.
#[test]
fn runners_github_merge_step_index_key_matches_the_planned_index_key() {
    use gen_pipeline::plan::platforms::index_key;
    let wf = std::fs::read_to_string(
        crate::tools::repo_root().join("examples/multi-platform/pipelines/github-images.yml"),
    )
    .unwrap();
    let lines: Vec<&str> = wf
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("gp_kr="))
        .collect();
    assert_eq!(lines.len(), 2, "one per merge job:\n{wf}");
    let a = format!("sha256:{}", "0a".repeat(32));
    let b = format!("sha256:{}", "b1".repeat(32));
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -euo pipefail; {}; printf '%s' \"$gp_kr\"",
            lines[0]
        ))
        .env("GP_REPOSITORY", "r.example/x")
        .env("GP_SOURCES", format!("r.example/x@{a}\n  r.example/x@{b}"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("r.example/x:key-{}", index_key(&[&a, &b]))
    );
}

/// A per-platform job without `GP_PLATFORM` stops with a clear message (merge.sh reads it as a
/// required input, `${GP_PLATFORM:?…}`, which is also what keeps shellcheck's SC2153 away) instead
/// of tagging `sha-<sha>-` and building every platform.
#[test]
fn runners_shell_platform_tags_require_gp_platform() {
    use gen_pipeline::render::{compact_shell, embedded, shell_parts};
    let mut parts: Vec<&str> = shell_parts(gen_pipeline::plan::Builder::Buildah)
        .iter()
        .map(|n| embedded(n).unwrap())
        .collect();
    parts.push(embedded("shared/merge.sh").unwrap());
    let lib = compact_shell(parts);
    let o = std::process::Command::new("dash")
        .arg("-c")
        .arg(format!("{lib}\ngp_platform_tags; echo \"tagged $gp_tagl\""))
        .env("GP_SHA", "0123456789abcdef0123456789abcdef01234567")
        .env("GP_REF_KIND", "branch")
        .env("GP_REF_NAME", "main")
        .env("GP_DEFAULT_BRANCH", "main")
        .env_remove("GP_PLATFORM")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(!String::from_utf8_lossy(&o.stdout).contains("tagged"));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("a per-platform job needs GP_PLATFORM"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `runners:` with `gc:` (both merged into the integration branch): the merge jobs and the cleanup
/// job side by side pass every validator, and GitLab's merge jobs extend `.gen-pipeline`, whose
/// rules keep them out of the cleanup schedule's pipeline.
#[test]
fn runners_with_gc_render_and_validate() {
    let p = project(&format!("{CONFIG}gc:\n  enabled: true\n"));
    for (ci, file) in [
        ("github", "images.yml"),
        ("gitlab", ".gitlab-ci.yml"),
        ("drone", ".drone.yml"),
        ("woodpecker", ".woodpecker.yml"),
    ] {
        gen_ok(p.path(), ["--ci", ci, "-o", file, "--branch", "main"]);
        let path = p.path().join(file);
        check_all(ci, &path);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("gp_merge") || ci == "github", "{ci}");
        if ci == "gitlab" {
            assert!(text.contains("\ngen-pipeline:gc:\n"), "{text}");
            assert!(
                text.contains("\napp1:\n  extends: .gen-pipeline\n"),
                "the merge job extends .gen-pipeline:\n{text}"
            );
        }
    }
}
