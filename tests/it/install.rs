//! Installing gen-pipeline (issue 12): the crate package, the honest `rust-version`, the Python
//! wheel (maturin, `bindings = "bin"`) and the pre-commit hooks, and the release workflow.

use crate::tools::*;

/// A `[package]` field of Cargo.toml (`version`, `rust-version`, …) as a string.
pub fn manifest_field(key: &str) -> String {
    let path = repo_root().join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .take_while(|l| !l.starts_with('[') || l.trim() == "[package]")
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
        })
        .unwrap_or_else(|| panic!("no {key} in [package] of {}", path.display()))
}

/// `(major, minor, patch)` of a version such as `1.88` or `1.88.0`.
fn version_tuple(v: &str) -> (u64, u64, u64) {
    let mut it = v.split('.').map(|p| {
        p.parse::<u64>()
            .unwrap_or_else(|e| panic!("bad version {v:?}: {e}"))
    });
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

fn cargo() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO"));
    c.current_dir(repo_root());
    c
}

fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn rust_version_is_honest_for_every_locked_dependency() {
    // Every package of Cargo.lock, for every platform (Windows-only crates included), with the
    // rust-version it declares. Not --offline: crates of other platforms may not be downloaded yet.
    let (desc, out) = run_tool(cargo().args(["metadata", "--locked", "--format-version", "1"]));
    assert!(out.status.success(), "{desc}\n{}", output_text(&out));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ours = manifest_field("rust-version");
    let mut needed = ("0".to_string(), String::new());
    let mut checked = 0;
    for p in meta["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        if name == "gen-pipeline" {
            assert_eq!(p["rust_version"].as_str(), Some(ours.as_str()));
            continue;
        }
        checked += 1;
        if let Some(v) = p["rust_version"].as_str() {
            if version_tuple(v) > version_tuple(&needed.0) {
                needed = (v.to_string(), format!("{name} {}", p["version"]));
            }
        }
    }
    assert!(checked > 50, "only {checked} packages in cargo metadata");
    assert!(
        version_tuple(&ours) >= version_tuple(&needed.0),
        "rust-version = {ours:?} but the locked {} needs Rust {}",
        needed.1,
        needed.0
    );
    // Honest in the other direction too: not above what the dependencies need (our own code is
    // held to it by clippy's incompatible_msrv lint below).
    assert_eq!(
        version_tuple(&ours),
        version_tuple(&needed.0),
        "rust-version = {ours:?} is higher than any locked dependency needs ({} needs {}); lower it",
        needed.1,
        needed.0
    );
    // The project's own image builds with a Rust at least that new.
    let dockerfile = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    let image_rust = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ARG RUST_VERSION="))
        .expect("Dockerfile: ARG RUST_VERSION=");
    assert!(
        version_tuple(image_rust) >= version_tuple(&ours),
        "Dockerfile builds with Rust {image_rust}, below rust-version {ours}"
    );
}

/// Every `[dependencies]` entry is used by the crate's code (`name::` or `use name`): a crate
/// nothing uses still has to be downloaded, built and audited (`anyhow` was such a leftover).
#[test]
fn every_dependency_is_used_by_the_code() {
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let deps: Vec<String> = manifest
        .split("\n[dependencies]\n")
        .nth(1)
        .expect("Cargo.toml: [dependencies]")
        .lines()
        .take_while(|l| !l.starts_with('['))
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim().replace('-', "_")))
        .filter(|k| !k.is_empty() && !k.starts_with('#'))
        .collect();
    assert!(deps.len() > 5, "{deps:?}");
    let mut code = String::new();
    let mut dirs = vec![repo_root().join("src")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                code.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let unused: Vec<&String> = deps
        .iter()
        .filter(|d| !code.contains(&format!("{d}::")) && !code.contains(&format!("use {d}")))
        .collect();
    assert!(unused.is_empty(), "dependencies no code uses: {unused:?}");
}

#[test]
fn own_code_uses_no_std_api_newer_than_rust_version() {
    // clippy's incompatible_msrv lint reads rust-version from Cargo.toml and flags std items
    // stabilized after it (no older toolchain can be installed here to build with it for real).
    let (desc, out) = run_tool(cargo().args([
        "clippy",
        "--locked",
        "--quiet",
        "--lib",
        "--bins",
        "--",
        "-A",
        "clippy::all",
        "-D",
        "clippy::incompatible_msrv",
    ]));
    assert!(out.status.success(), "{desc}\n{}", output_text(&out));
}

#[test]
fn crate_package_contains_the_templates_and_publish_dry_run_passes() {
    let (desc, out) = run_tool(cargo().args(["package", "--locked", "--list", "--allow-dirty"]));
    assert!(out.status.success(), "{desc}\n{}", output_text(&out));
    let list: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    // Every template the binary embeds is in the package, and nothing outside the sources.
    for dir in [
        "templates/github",
        "templates/gitlab",
        "templates/drone",
        "templates/woodpecker",
        "templates/shared",
    ] {
        for e in std::fs::read_dir(repo_root().join(dir)).unwrap() {
            let rel = format!("{dir}/{}", e.unwrap().file_name().to_string_lossy());
            assert!(
                list.contains(&rel),
                "{rel} missing from the package: {list:?}"
            );
        }
    }
    for f in ["Cargo.lock", "README.md", "src/main.rs", "src/lib.rs"] {
        assert!(list.iter().any(|l| l == f), "{f} missing: {list:?}");
    }
    for l in &list {
        assert!(
            l.starts_with("src/")
                || l.starts_with("templates/")
                || [
                    ".cargo_vcs_info.json",
                    "Cargo.lock",
                    "Cargo.toml",
                    "Cargo.toml.orig",
                    "README.md"
                ]
                .contains(&l.as_str()),
            "unexpected file in the package: {l}"
        );
    }
    // The real thing: package, build the packaged sources with the lockfile, stop before uploading.
    // It reads the registry index (the sparse protocol), so it needs the crate registry reachable.
    let (desc, out) = run_tool(cargo().args(["publish", "--dry-run", "--locked", "--allow-dirty"]));
    let text = output_text(&out);
    assert!(out.status.success(), "{desc}\n{text}");
    assert!(text.contains("aborting upload due to dry run"), "{text}");
}

#[test]
fn release_workflow_passes_the_checkers_and_builds_every_asset_the_action_downloads() {
    let path = repo_root().join(".github/workflows/release.yml");
    // actionlint (with shellcheck), zizmor --offline (no finding), the workflow schema, yamllint.
    check_all("github", &path);
    let text = std::fs::read_to_string(&path).unwrap();
    let wf: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    // Tag-triggered only.
    let on = &wf["on"];
    assert!(
        on["push"]["tags"]
            .as_sequence()
            .is_some_and(|t| !t.is_empty())
            && on["push"]["branches"].is_null()
            && on["pull_request"].is_null(),
        "{on:?}"
    );
    // Least privilege: nothing at the top, each job names its own.
    assert_eq!(
        wf["permissions"].as_mapping().map(|m| m.len()),
        Some(0),
        "top-level permissions must be {{}}"
    );
    let jobs = wf["jobs"].as_mapping().unwrap();
    for (name, job) in jobs {
        assert!(
            job["permissions"].is_mapping(),
            "job {name:?} has no explicit permissions"
        );
        let perms = job["permissions"].as_mapping().unwrap();
        for (scope, level) in perms {
            if level.as_str() == Some("write") {
                let allowed = match name.as_str().unwrap() {
                    "github-release" => ["contents"].as_slice(),
                    "pypi" | "crate" => ["id-token"].as_slice(),
                    "image" | "image-index" => ["packages"].as_slice(),
                    _ => [].as_slice(),
                };
                assert!(
                    allowed.contains(&scope.as_str().unwrap()),
                    "job {name:?} writes {scope:?}"
                );
            }
        }
    }
    // Every action pinned to a full commit SHA with its version in a comment.
    let mut uses = 0;
    for line in text.lines() {
        let Some(rest) = line.trim().trim_start_matches("- ").strip_prefix("uses: ") else {
            continue;
        };
        uses += 1;
        let (_, pin) = rest
            .split_once('@')
            .unwrap_or_else(|| panic!("unpinned: {line}"));
        let (sha, comment) = pin
            .split_once(" # v")
            .unwrap_or_else(|| panic!("no version comment: {line}"));
        assert!(
            sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()) && !comment.is_empty(),
            "{line}"
        );
    }
    assert!(uses >= 10, "{uses}");
    // The binaries: exactly the targets whose assets action.yml downloads.
    let targets: Vec<&str> = wf["jobs"]["binaries"]["strategy"]["matrix"]["include"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    let action = std::fs::read_to_string(repo_root().join("action.yml")).unwrap();
    let mut action_targets: Vec<&str> = action
        .lines()
        .filter_map(|l| l.split_once("asset=gen-pipeline-"))
        .map(|(_, t)| t.split([' ', ';', '.']).next().unwrap())
        .collect();
    let mut sorted = targets.clone();
    sorted.sort();
    action_targets.sort();
    assert_eq!(sorted, action_targets);
    for t in [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "x86_64-apple-darwin",
        "aarch64-apple-darwin",
        "x86_64-pc-windows-msvc",
    ] {
        assert!(targets.contains(&t), "{t} not built");
    }
    // Release builds use the lockfile; the checksums cover every binary and the source digest.
    assert!(text.contains("cargo build --release --locked --bin gen-pipeline --target \"$TARGET\""));
    assert!(text.contains("maturin build --release --locked"));
    assert!(text.contains("bash scripts/source-digest.sh > dist/source-digest.txt"));
    assert!(text.contains("sha256sum gen-pipeline-* source-digest.txt > SHA256SUMS"));
    assert!(text.contains("static(-pie)? linked"));
    // The image: the project's own Dockerfile, its runtime stage, both platforms joined.
    let image = &wf["jobs"]["image"];
    let build = image["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("docker/build-push-action@"))
        })
        .expect("image job builds with docker/build-push-action");
    assert_eq!(build["with"]["file"].as_str(), Some("Dockerfile"));
    assert_eq!(build["with"]["target"].as_str(), Some("runtime"));
    assert!(std::fs::read_to_string(repo_root().join("Dockerfile"))
        .unwrap()
        .contains(" AS runtime"));
    let platforms: Vec<&str> = image["strategy"]["matrix"]["include"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| e["platform"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    assert!(text.contains("docker buildx imagetools create"));
}

/// The settings of the suite's release builds, shared by every test that builds in release (the
/// wheel, the compiling pre-commit hook) so the dependencies are compiled once: one target dir,
/// thin LTO off (only the tests' build time; users get the crate's release profile), crates from
/// the local cargo cache.
pub fn release_build_env(cmd: &mut std::process::Command) -> &mut std::process::Command {
    cmd.env(
        "CARGO_TARGET_DIR",
        repo_root().join("target/release-shared"),
    )
    .env("CARGO_PROFILE_RELEASE_LTO", "false")
    .env("CARGO_NET_OFFLINE", "true")
}

/// The wheel, built once per test run by maturin (`maturin build --release --locked`) into
/// `target/wheel/`; every wheel test uses it.
pub fn wheel() -> &'static std::path::Path {
    static WHEEL: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    WHEEL.get_or_init(|| {
        let dir = repo_root().join("target/wheel");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = std::process::Command::new("maturin");
        cmd.current_dir(repo_root())
            .args(["build", "--release", "--locked", "--out"])
            .arg(&dir);
        release_build_env(&mut cmd);
        let started = std::time::Instant::now();
        let (desc, out) = run_tool(&mut cmd);
        assert!(out.status.success(), "{desc}\n{}", output_text(&out));
        eprintln!("maturin build: {:.0?}", started.elapsed());
        let wheels: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "whl"))
            .collect();
        assert_eq!(wheels.len(), 1, "{wheels:?}");
        wheels.into_iter().next().unwrap()
    })
}

/// Python with `args`, failing the test with its output unless it succeeds.
fn python_ok(program: &std::path::Path, args: &[&str]) -> String {
    let (desc, out) = run_tool(std::process::Command::new(program).args(args));
    assert!(out.status.success(), "{desc}\n{}", output_text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The gen-pipeline binary inside the wheel (`<name>-<version>.data/scripts/gen-pipeline`).
fn binary_in_wheel(wheel: &std::path::Path) -> Vec<u8> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); n = [n for n in z.namelist() if n.endswith('.data/scripts/gen-pipeline')]; assert len(n) == 1, z.namelist(); sys.stdout.buffer.write(z.read(n[0]))",
        ])
        .arg(wheel)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    out.stdout
}

#[test]
fn wheel_installs_into_a_fresh_venv_and_generates_an_example() {
    let wheel = wheel();
    let version = manifest_field("version");
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    // A binary wheel for any Python 3 (no ABI), named after the crate's version.
    assert!(
        name.starts_with(&format!("gen_pipeline-{version}-py3-none-")),
        "{name}"
    );
    let venv = tempfile::Builder::new()
        .prefix("gp-venv-")
        .tempdir()
        .unwrap();
    python_ok(
        std::path::Path::new("python3"),
        &["-m", "venv", venv.path().to_str().unwrap()],
    );
    let bin = venv.path().join("bin");
    // Offline, from the wheel alone: it has no dependencies and compiles nothing.
    python_ok(
        &bin.join("pip"),
        &[
            "install",
            "--no-index",
            "--no-cache-dir",
            "--quiet",
            wheel.to_str().unwrap(),
        ],
    );
    let gp = bin.join("gen-pipeline");
    assert!(gp.is_file(), "the wheel installed no gen-pipeline");
    assert_eq!(std::fs::read(&gp).unwrap(), binary_in_wheel(wheel));
    let v = python_ok(&gp, &["--version"]);
    assert_eq!(v.trim(), format!("gen-pipeline {version}"));
    // Generate an example with the installed binary: exactly the committed pipeline.
    let copy = tracked_copy("gp-wheel-example-", "main");
    let (desc, out) = run_tool(
        std::process::Command::new(&gp)
            .current_dir(copy.path())
            .args([
                "--config",
                "examples/python-two-apps/gen-pipeline.yml",
                "--ci",
                "gitlab",
                "-o",
                "-",
            ])
            .env_remove("CI")
            .env_remove("GITLAB_CI")
            .env_remove("GITHUB_ACTIONS"),
    );
    assert!(out.status.success(), "{desc}\n{}", output_text(&out));
    let committed = std::fs::read_to_string(
        copy.path()
            .join("examples/python-two-apps/pipelines/gitlab-ci.yml"),
    )
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), committed);
}

#[test]
fn pre_commit_mirror_versions_follow_the_crate() {
    let version = manifest_field("version");
    let py = std::fs::read_to_string(repo_root().join("pre-commit-mirror/pyproject.toml")).unwrap();
    assert!(py.contains(&format!("\nversion = \"{version}\"\n")), "{py}");
    assert!(
        py.contains(&format!("dependencies = [\"gen-pipeline=={version}\"]")),
        "{py}"
    );
    // Same ids, entries and triggers as the compiling hooks, but on the wheel.
    let load = |p: &str| -> Vec<serde_yaml::Value> {
        serde_yaml::from_str(&std::fs::read_to_string(repo_root().join(p)).unwrap()).unwrap()
    };
    let (mirror, compiling) = (
        load("pre-commit-mirror/.pre-commit-hooks.yaml"),
        load(".pre-commit-hooks.yaml"),
    );
    assert_eq!(mirror.len(), compiling.len());
    for (m, c) in mirror.iter().zip(&compiling) {
        for key in ["id", "name", "files", "pass_filenames"] {
            assert_eq!(m[key], c[key], "{key}");
        }
        assert_eq!(m["language"].as_str(), Some("python"));
        assert_eq!(
            m["entry"].as_str().unwrap().replace("gen-pipeline ", ""),
            c["entry"]
                .as_str()
                .unwrap()
                .replace("scripts/pre-commit-hook.sh ", "")
        );
    }
}

#[test]
fn pre_commit_mirror_hook_installs_the_wheel_and_compiles_nothing() {
    let wheel = wheel();
    // The mirror repository, as the release workflow publishes it.
    let mirror = tempfile::Builder::new()
        .prefix("gp-mirror-")
        .tempdir()
        .unwrap();
    copy_tree(&repo_root().join("pre-commit-mirror"), mirror.path());
    git_init_commit(mirror.path(), "main");
    // A user's project with committed, current pipelines.
    let project = tempfile::Builder::new()
        .prefix("gp-mirror-project-")
        .tempdir()
        .unwrap();
    let p = project.path();
    let example = repo_root().join("examples/go-distroless");
    for f in ["Dockerfile", "gen-pipeline.yml"] {
        std::fs::copy(example.join(f), p.join(f)).unwrap();
    }
    gen_ok(p, ["generate"]);
    git_init_commit(p, "main");
    let home = tempfile::tempdir().unwrap();
    // No cargo or rustc on PATH: installing the hook cannot compile anything. pip is offline and
    // sees only the wheel and the mirror package's build backend (installed by .ci/install-tools.sh).
    let path: Vec<std::path::PathBuf> = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .filter(|d| !d.join("cargo").exists() && !d.join("rustc").exists())
        .collect();
    let run_with = |hook: &str, wheels: &std::path::Path| {
        let mut cmd = std::process::Command::new("pre-commit");
        cmd.current_dir(p)
            .args(["try-repo"])
            .arg(mirror.path())
            .args([hook, "--all-files"])
            .env("PATH", std::env::join_paths(&path).unwrap())
            .env("PRE_COMMIT_HOME", home.path())
            .env("PIP_NO_INDEX", "1")
            .env(
                "PIP_FIND_LINKS",
                format!("{} /opt/gen-pipeline-tools/wheels", wheels.display()),
            );
        let (desc, out) = run_tool(&mut cmd);
        (out.status, format!("{desc}\n{}", output_text(&out)))
    };
    // Control: without the wheel there is nothing to install (and nothing is built instead).
    let empty = tempfile::tempdir().unwrap();
    let (status, log) = run_with("gen-pipeline-check", empty.path());
    assert!(!status.success(), "{log}");
    assert!(
        log.contains(&format!(
            "No matching distribution found for gen-pipeline=={}",
            manifest_field("version")
        )),
        "{log}"
    );
    // With the wheel: installed and run (try-repo uses a temporary store, so the environment is
    // gone afterwards; the control above shows the wheel is what it installs).
    let run = |hook: &str| run_with(hook, wheel.parent().unwrap());
    let (status, log) = run("gen-pipeline-check");
    assert!(status.success() && log.contains("Passed"), "{log}");
    // Stale: a new stage fails the check with a diff.
    let mut df = std::fs::read_to_string(p.join("Dockerfile")).unwrap();
    df.push_str("\nFROM deps AS lint\nRUN go vet ./...\n");
    std::fs::write(p.join("Dockerfile"), df).unwrap();
    git(p, &["commit", "-qam", "lint stage"]);
    let (status, log) = run("gen-pipeline-check");
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("pipelines/github-images.yml: out of date") && log.contains("lint"),
        "{log}"
    );
    // (The regenerate hook runs the same binary; its behaviour is tested with the source hooks in
    // precommit.rs. Each try-repo here creates and fills a new virtualenv: kept to three.)
}

#[test]
fn readme_install_commands_name_the_current_version_and_real_assets() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let start = readme
        .find("## Install\n")
        .expect("README has an Install section");
    let end = readme[start..]
        .find("\n## Quick start")
        .expect("then a Quick start")
        + start;
    let install = &readme[start..end];
    let version = manifest_field("version");
    for cmd in [
        format!("pip install gen-pipeline=={version}"),
        format!("pipx run --spec gen-pipeline=={version} gen-pipeline --version"),
        format!("cargo install --locked gen-pipeline --version {version}"),
        "cargo install --locked --path .".to_string(),
        format!("ghcr.io/gen-pipeline/gen-pipeline:{version}"),
        format!("releases/download/v{version}"),
        format!("rev: v{version}"),
        "sha256sum --ignore-missing -c SHA256SUMS".to_string(),
    ] {
        assert!(install.contains(&cmd), "Install lacks `{cmd}`");
    }
    // Every release asset the workflow builds is named.
    let wf = std::fs::read_to_string(repo_root().join(".github/workflows/release.yml")).unwrap();
    let targets: Vec<&str> = wf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- target: "))
        .collect();
    assert_eq!(targets.len(), 5, "{targets:?}");
    for t in targets {
        assert!(
            install.contains(&format!("`{t}")),
            "Install does not name {t}"
        );
    }
    // The Quick start runs an installed binary, not cargo.
    let quick = &readme[end..];
    let quick = &quick[..quick[1..].find("\n## ").unwrap()];
    assert!(!quick.contains("cargo run"), "{quick}");
    assert!(quick.contains("gen-pipeline init"), "{quick}");
}
