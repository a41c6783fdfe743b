//! Issue 9, section 3: every flag (and the equivalent config key) either acts or is refused with
//! exit 2 and a one-line reason naming the flag and the CI system.

use std::path::Path;

use crate::tools::{gen_ok, gen_pipeline};

const DOCKERFILE: &str = "FROM alpine:3.20 AS base\nRUN true\nFROM base AS app\nRUN true\n";

/// A folder with a Dockerfile (no git, no config).
fn project() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("Dockerfile"), DOCKERFILE).unwrap();
    tmp
}

/// Runs gen-pipeline in `dir`; the exit code and stderr.
fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = gen_pipeline().current_dir(dir).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Exit 2 with exactly one line on stderr, `error: …`, containing every `needle`.
#[track_caller]
fn refused(dir: &Path, args: &[&str], needles: &[&str]) {
    let (code, stderr) = run(dir, args);
    assert_eq!(code, Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{args:?}: `{n}` missing in {stderr}");
    }
}

const IMG: [&str; 2] = ["--image", "registry.example.com/team/proj"];

fn with_img<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend(IMG);
    v
}

#[test]
fn builder_buildah_with_github_is_refused() {
    let p = project();
    refused(
        p.path(),
        &with_img(&["--ci", "github", "--builder", "buildah"]),
        &["--builder buildah", "GitHub Actions"],
    );
    std::fs::write(
        p.path().join("gen-pipeline.yml"),
        "ci: github\nbuilder: buildah\nimage: registry.example.com/team/proj\n",
    )
    .unwrap();
    refused(
        p.path(),
        &[],
        &["`builder: buildah` in gen-pipeline.yml", "GitHub Actions"],
    );
    // GitLab builds with buildah: accepted ...
    std::fs::write(
        p.path().join("gen-pipeline.yml"),
        "ci: gitlab\nbuilder: buildah\nimage: registry.example.com/team/proj\n",
    )
    .unwrap();
    let out = gen_ok(p.path(), ["--ci", "gitlab"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("buildah"));
    // ... but the config's builder would silently not apply to a GitHub file.
    refused(
        p.path(),
        &["--ci", "github"],
        &["`builder: buildah` in gen-pipeline.yml", "GitHub Actions"],
    );
}

#[test]
fn daemon_with_github_or_gitlab_is_refused() {
    let p = project();
    for ci in ["github", "gitlab"] {
        refused(
            p.path(),
            &with_img(&["--ci", ci, "--daemon", "dind"]),
            &["--daemon does not apply to", "Drone and Woodpecker"],
        );
    }
    std::fs::write(
        p.path().join("gen-pipeline.yml"),
        "ci: [github, gitlab]\ndaemon: host\nimage: registry.example.com/team/proj\n",
    )
    .unwrap();
    refused(
        p.path(),
        &[],
        &["`daemon:` in gen-pipeline.yml", "GitHub Actions, GitLab CI"],
    );
    // Drone uses it.
    let out = gen_ok(p.path(), ["--ci", "drone", "--daemon", "dind"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("docker:28-dind"));
    // ... but not with buildah, which needs no daemon.
    refused(
        p.path(),
        &["--ci", "drone", "--daemon", "dind", "--builder", "buildah"],
        &["--daemon", "buildah"],
    );
}

#[test]
fn provenance_and_buildkit_syntax_with_buildah_are_refused() {
    let p = project();
    refused(
        p.path(),
        &with_img(&["--ci", "gitlab", "--builder", "buildah", "--provenance"]),
        &["--provenance does not apply to the buildah builder"],
    );
    refused(
        p.path(),
        &with_img(&[
            "--ci",
            "drone",
            "--builder",
            "buildah",
            "--buildkit-syntax",
            "docker/dockerfile:1.7",
        ]),
        &["--buildkit-syntax does not apply to the buildah builder"],
    );
    std::fs::write(
        p.path().join("gen-pipeline.yml"),
        "ci: gitlab\nbuilder: buildah\nprovenance: true\nimage: registry.example.com/team/proj\n",
    )
    .unwrap();
    refused(
        p.path(),
        &[],
        &["`provenance:` in gen-pipeline.yml does not apply to the buildah builder"],
    );
}

#[test]
fn templates_naming_a_missing_directory_is_refused() {
    let p = project();
    refused(
        p.path(),
        &with_img(&["--ci", "gitlab", "--templates", "no-such-dir"]),
        &["--templates", "no-such-dir", "does not exist"],
    );
    std::fs::write(
        p.path().join("gen-pipeline.yml"),
        "ci: gitlab\ntemplates: ci-templates\nimage: registry.example.com/team/proj\n",
    )
    .unwrap();
    refused(
        p.path(),
        &[],
        &["`templates:` in gen-pipeline.yml", "ci-templates"],
    );
}

#[test]
fn invalid_platform_is_refused_and_comma_form_is_two_platforms() {
    let p = project();
    for bad in [
        "linux",
        "linux/amd64/v8/x",
        "Linux/AMD64",
        "linux/amd64,",
        "linux/$(id)",
    ] {
        refused(
            p.path(),
            &with_img(&["--ci", "gitlab", "--platform", bad]),
            &["--platform: invalid platform", "os/arch[/variant]"],
        );
    }
    // buildx's comma form is two platforms: a multi-platform pipeline (emulators registered).
    let out = gen_ok(
        p.path(),
        with_img(&["--ci", "gitlab", "--platform", "linux/amd64,linux/arm64"]),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("GP_PLATFORMS: \"linux/amd64,linux/arm64\""),
        "{text}"
    );
    assert!(text.contains("tonistiigi/binfmt"), "{text}");
    std::fs::write(
        p.path().join("gen-pipeline.yml"),
        "ci: gitlab\nplatforms: [linux/amd64, arm64]\nimage: registry.example.com/team/proj\n",
    )
    .unwrap();
    refused(
        p.path(),
        &[],
        &["`platforms:` in gen-pipeline.yml: invalid platform `arm64`"],
    );
}

#[test]
fn check_with_output_is_refused() {
    let p = project();
    refused(
        p.path(),
        &with_img(&["check", "--ci", "gitlab", "-o", "x.yml"]),
        &["-o x.yml", "`check`"],
    );
    assert!(!p.path().join("x.yml").exists());
}

#[test]
fn gitlab_mode_without_gitlab_is_refused() {
    let p = project();
    refused(
        p.path(),
        &with_img(&["--ci", "drone", "--gitlab-mode", "include"]),
        &["--gitlab-mode does not apply to Drone"],
    );
}

#[test]
fn force_without_a_file_to_write_is_refused() {
    let p = project();
    refused(
        p.path(),
        &with_img(&["--ci", "drone", "--force"]),
        &["--force", "stdout"],
    );
    refused(
        p.path(),
        &with_img(&["check", "--ci", "drone", "--force"]),
        &["--force", "`check` never writes"],
    );
}
