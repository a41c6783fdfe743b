//! The run-time key (`templates/shared/key.sh`: `gp_key`) against its Rust reference
//! (`gen_pipeline::plan::key::runtime_key`) for the same inputs, under dash and under busybox sh
//! with busybox's own find/sort/sha256sum (GitLab's docker:*-cli image), and the rules around it:
//! an uncommitted change never yields a key, `GP_SKIP=false` and `GP_KEY_ALWAYS=true` yield none,
//! an image without a digest yields none.

use std::path::Path;
use std::process::Command;

use gen_pipeline::plan::key::{content_lines, runtime_key};

/// key.sh as pipelines carry it: after ref.sh (its helpers).
fn key_sh() -> String {
    gen_pipeline::render::compact_shell(
        ["shared/ref.sh", "shared/key.sh"]
            .iter()
            .map(|n| gen_pipeline::render::embedded(n).unwrap()),
    )
}

/// A directory whose PATH offers only busybox applets (no git): Alpine's docker CLI image.
fn busybox_path() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for applet in [
        "find",
        "sort",
        "sha256sum",
        "cut",
        "readlink",
        "mktemp",
        "rm",
        "cat",
        "sed",
        "tr",
        "head",
        "printf",
        "mkdir",
        "sh",
    ] {
        std::os::unix::fs::symlink("/usr/bin/busybox", d.path().join(applet)).unwrap();
    }
    d
}

/// Runs `gp_key` in `shell` on `context` with stubbed image digests; returns `gp_key` (may be empty).
fn sh_key(
    shell: &[&str],
    path: Option<&Path>,
    context: &Path,
    env: &[(&str, &str)],
    images: &[(&str, &str)],
) -> String {
    // gp_key resolves an image with `gp_probe REF` (its digest in gp_dg, status 1 when none)
    let mut stub = String::from("gp_probe() {\n  case $1 in\n");
    for (r, d) in images {
        stub.push_str(&format!("  '{r}') gp_dg='{d}' ;;\n"));
    }
    stub.push_str("  *) gp_dg=; return 1 ;;\n  esac\n}\n");
    let script = format!(
        "{}\n{stub}gp_key >&2\nprintf '%s\\n' \"$gp_key\"\n",
        key_sh()
    );
    let mut cmd = Command::new(shell[0]);
    cmd.args(&shell[1..])
        .arg("-c")
        .arg(&script)
        .current_dir(context)
        .env("GP_CONTEXT", ".")
        .env("GP_BUILDER", "buildah");
    if let Some(p) = path {
        cmd.env("PATH", p);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{shell:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn tree() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt as _;
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::create_dir_all(p.join("app/src/deep")).unwrap();
    std::fs::create_dir_all(p.join("app/empty")).unwrap();
    std::fs::create_dir_all(p.join("app/.git/objects")).unwrap();
    std::fs::write(p.join("app/.git/HEAD"), "differs per clone").unwrap();
    std::fs::write(p.join("app/src/main.py"), "print('hi')\n").unwrap();
    std::fs::write(p.join("app/src/deep/data file.bin"), [0u8, 1, 2, 255]).unwrap();
    std::fs::write(p.join("app/run.sh"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(p.join("app/run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("src/main.py", p.join("app/link")).unwrap();
    std::fs::write(p.join("requirements.txt"), "flask==3\n").unwrap();
    std::fs::write(p.join("other.txt"), "not listed\n").unwrap();
    d
}

/// (context paths, stubbed `(image, digest)`s) of one case.
type Case<'a> = (Vec<String>, Vec<(&'a str, &'a str)>);

const SHELLS: &[&[&str]] = &[&["dash"], &["/usr/bin/busybox", "sh"]];

#[test]
fn sh_key_matches_rust_reference() {
    let t = tree();
    let bb = busybox_path();
    let cases: Vec<Case> = vec![
        (vec!["app".into(), "requirements.txt".into()], vec![]),
        (
            vec!["app/src".into(), "gone.txt".into()],
            vec![
                ("python:3.12-slim", "sha256:1111"),
                ("busybox:1", "sha256:2222"),
            ],
        ),
        (vec![".".into()], vec![("python:3.12-slim", "sha256:1111")]),
    ];
    for (paths, images) in &cases {
        let want = runtime_key(
            "0123abcd",
            t.path(),
            paths,
            &images
                .iter()
                .map(|(r, d)| (r.to_string(), d.to_string()))
                .collect::<Vec<_>>(),
        )
        .unwrap();
        let imgs: Vec<&str> = images.iter().map(|(r, _)| *r).collect();
        let env = [
            ("GP_KEY_STATIC", "0123abcd".to_string()),
            ("GP_KEY_PATHS", paths.join("\n")),
            ("GP_KEY_IMAGES", imgs.join(" ")),
        ];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for sh in SHELLS {
            let path = (sh[0].ends_with("busybox")).then(|| bb.path());
            let got = sh_key(sh, path, t.path(), &env, images);
            assert_eq!(
                got,
                want,
                "{sh:?} {paths:?}: lines the reference hashes:\n{}",
                content_lines(t.path(), paths).unwrap().join("\n")
            );
        }
    }
    // `.git` never counts: what differs between clones does not move the key.
    let before = runtime_key("s", t.path(), &[".".into()], &[]).unwrap();
    std::fs::write(t.path().join("app/.git/HEAD"), "another clone").unwrap();
    assert_eq!(
        before,
        runtime_key("s", t.path(), &[".".into()], &[]).unwrap()
    );
}

#[test]
fn sh_key_is_empty_when_the_job_must_build() {
    let t = tree();
    let base = [
        ("GP_KEY_STATIC", "s"),
        ("GP_KEY_PATHS", "app"),
        ("GP_KEY_IMAGES", "alpine:3"),
    ];
    let img = [("alpine:3", "sha256:33")];
    let with = |extra: &[(&str, &str)], images: &[(&str, &str)]| {
        let mut env = base.to_vec();
        env.extend_from_slice(extra);
        sh_key(&["dash"], None, t.path(), &env, images)
    };
    assert_eq!(with(&[], &img).len(), 64);
    assert_eq!(with(&[("GP_SKIP", "false")], &img), "");
    assert_eq!(with(&[("GP_KEY_ALWAYS", "true")], &img), "");
    assert_eq!(with(&[("GP_PUSH", "false")], &img), "");
    // Issue 10 merged with issue 11: a check pushes nothing, so no key image of it exists; it
    // never looks one up (no retag, no skip) and always builds.
    assert_eq!(with(&[("GP_CHECK", "true")], &img), "");
    assert_eq!(with(&[("GP_CHECK", "false")], &img).len(), 64);
    assert_eq!(with(&[], &[]), "", "an image without a digest");
}

#[test]
fn uncommitted_change_never_yields_a_key() {
    let t = tree();
    crate::tools::git_init_commit(t.path(), "main");
    let env = [
        ("GP_KEY_STATIC", "s"),
        ("GP_KEY_PATHS", "app\nrequirements.txt"),
    ];
    let clean = sh_key(&["dash"], None, t.path(), &env, &[]);
    assert_eq!(clean.len(), 64);
    // A change outside the key's paths leaves it alone.
    std::fs::write(t.path().join("other.txt"), "changed\n").unwrap();
    assert_eq!(sh_key(&["dash"], None, t.path(), &env, &[]), clean);
    // A modified or an untracked file under them: no key.
    std::fs::write(t.path().join("app/src/main.py"), "print('changed')\n").unwrap();
    assert_eq!(sh_key(&["dash"], None, t.path(), &env, &[]), "");
    let _ = Command::new("git")
        .current_dir(t.path())
        .args(["checkout", "--", "app/src/main.py"])
        .output()
        .unwrap();
    assert_eq!(sh_key(&["dash"], None, t.path(), &env, &[]), clean);
    std::fs::write(t.path().join("app/new.txt"), "new\n").unwrap();
    assert_eq!(sh_key(&["dash"], None, t.path(), &env, &[]), "");
}

/// Each external image is resolved once per run (GitHub's first job computes every job's key):
/// the second job's key reuses the first's digest, and the keys are those of separate runs.
#[test]
fn sh_key_resolves_each_image_once_per_run() {
    let t = tree();
    let count = t.path().join("probes");
    let script = format!(
        "{}\ngp_probe() {{ echo x >> '{}'; gp_dg=sha256:11; }}\n\
         GP_KEY_IMAGES='alpine:3 busybox:1'; gp_key; a=$gp_key; GP_KEY_IMAGES='busybox:1 alpine:3'; gp_key; \
         printf '%s %s\\n' \"$a\" \"$gp_key\"",
        key_sh(),
        count.display()
    );
    let out = Command::new("dash")
        .arg("-c")
        .arg(&script)
        .current_dir(t.path())
        .env("GP_CONTEXT", ".")
        .env("GP_KEY_STATIC", "s")
        .env("GP_KEY_PATHS", "app")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys = String::from_utf8(out.stdout).unwrap();
    let keys: Vec<&str> = keys.trim().split(' ').collect();
    let imgs = |l: &[&str]| -> Vec<(String, String)> {
        l.iter()
            .map(|i| (i.to_string(), "sha256:11".to_string()))
            .collect()
    };
    let paths = ["app".to_string()];
    assert_eq!(
        keys[0],
        runtime_key("s", t.path(), &paths, &imgs(&["alpine:3", "busybox:1"])).unwrap()
    );
    assert_eq!(
        keys[1],
        runtime_key("s", t.path(), &paths, &imgs(&["busybox:1", "alpine:3"])).unwrap()
    );
    let probes = std::fs::read_to_string(&count).unwrap();
    assert_eq!(probes.lines().count(), 2, "one probe per image");
}
