//! `gen-pipeline gc` without a registry: flag and live-ref errors (exit 2 before any registry
//! call), the GitLab policy output, and a registry that cannot be reached. The registry behaviour
//! itself is proven in `e2e_gc`.

use crate::tools::{copy_tree, gen_pipeline, git_init_commit, repo_root};

fn project() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("gp-gc-cmd-")
        .tempdir()
        .unwrap();
    copy_tree(&repo_root().join("tests/fixtures/e2e-project"), dir.path());
    git_init_commit(dir.path(), "main");
    dir
}

fn gc(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let o = gen_pipeline()
        .current_dir(dir)
        .args([
            "gc",
            "--image",
            "127.0.0.1:1/group/project",
            "--default-branch",
            "main",
        ])
        .args(args)
        .env("REGISTRY_AUTH_FILE", dir.join("no-auth.json"))
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn gc_bad_older_than_exits_2() {
    let p = project();
    let (code, _, err) = gc(p.path(), &["--live-ref", "main", "--older-than", "14"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--older-than \"14\": expected a number and a unit"),
        "{err}"
    );
}

#[test]
fn gc_refuses_live_refs_without_the_default_branch() {
    // A wrong remote or list would make every branch look gone: refused before the registry is
    // asked (port 1 would fail with a connection error instead).
    let p = project();
    let (code, _, err) = gc(p.path(), &["--live-ref", "refs/heads/dev"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("the live refs do not include the default branch `main`"),
        "{err}"
    );
    std::fs::write(p.path().join("refs.txt"), "0123\trefs/heads/dev\n").unwrap();
    let (code, _, err) = gc(p.path(), &["--live-refs-file", "refs.txt"]);
    assert_eq!(code, 2, "{err}");
    // A remote that does not exist is a clear error too.
    let (code, _, err) = gc(p.path(), &["--remote", "/nonexistent/repo.git"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("git ls-remote /nonexistent/repo.git"), "{err}");
}

#[test]
fn gc_unreachable_registry_is_a_clear_error() {
    let p = project();
    let (code, out, err) = gc(p.path(), &["--live-ref", "main"]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.starts_with("error: GET https://127.0.0.1:1/v2/group/project"),
        "{err}"
    );
}

#[test]
fn gc_gitlab_policy_keeps_the_default_branch_and_releases() {
    let p = project();
    let (code, out, err) = gc(p.path(), &["--format", "gitlab-policy", "--tag", "stable"]);
    assert_eq!(code, 0, "{err}");
    let keep = out
        .lines()
        .find_map(|l| l.strip_prefix("name_regex_keep: "))
        .unwrap_or_else(|| panic!("{out}"));
    for part in ["main", "latest", "tag-.*", "stable"] {
        assert!(keep.contains(part), "{keep}");
    }
    assert!(out.contains("older_than: 14d"), "{out}");
}

/// The README's scheduled cleanup jobs (`<!-- gc-job: CI -->` then a yaml block) are what
/// `gc: {enabled: true}` generates for the e2e project: GitHub's block is the whole cleanup
/// workflow (image on GHCR), the others' blocks are excerpts (parts separated by a `# …` line,
/// each found as is) of the generated file (image on another registry). The generated files
/// pass every validator (`gc_jobs::gc_jobs_pass_every_validator`).
#[test]
fn gc_readme_cleanup_jobs_are_the_generated_ones() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let generate = |config: &str| {
        let p = project();
        std::fs::write(p.path().join("gen-pipeline.yml"), config).unwrap();
        let o = gen_pipeline().current_dir(p.path()).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        p
    };
    let ghcr = generate("ci: github\nimage: ghcr.io/acme/app\ngc: {enabled: true}\n");
    let other = generate(
        "ci: [gitlab, drone, woodpecker]\nimage: registry.example.com/acme/app\ngc: {enabled: true}\n",
    );
    let mut seen = Vec::new();
    for part in readme.split("<!-- gc-job: ").skip(1) {
        let (ci, rest) = part.split_once(" -->").unwrap();
        let body = rest
            .split_once("```yaml\n")
            .and_then(|(_, b)| b.split_once("\n```"))
            .map(|(b, _)| format!("{b}\n"))
            .unwrap_or_else(|| panic!("no yaml block after gc-job {ci}"));
        let generated = |dir: &std::path::Path, f: &str| {
            std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"))
        };
        match ci {
            "github" => assert_eq!(
                body,
                generated(ghcr.path(), ".github/workflows/gen-pipeline-gc.yml"),
                "README's GitHub cleanup workflow"
            ),
            other_ci => {
                let file = match other_ci {
                    "gitlab" => ".gitlab-ci.yml",
                    "drone" => ".drone.yml",
                    "woodpecker" => ".woodpecker.yml",
                    x => panic!("unknown CI {x}"),
                };
                let text = generated(other.path(), file);
                for piece in body.split("\n# …\n") {
                    let piece = piece.trim_matches('\n');
                    assert!(
                        text.contains(piece),
                        "README's {other_ci} block is not in the generated {file}:\n{piece}\n--- generated:\n{text}"
                    );
                }
            }
        }
        seen.push(ci.to_string());
    }
    assert_eq!(seen, ["github", "gitlab", "drone", "woodpecker"]);
}
