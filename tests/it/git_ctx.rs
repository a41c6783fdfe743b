//! Git context against real temporary repositories (made with the git CLI), CI variables and
//! flags taking precedence, and remote URL forms.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use gen_pipeline::git::{
    self, default_image, discover, parse_remote_url, Ci, GitError, Overrides, Remote,
};
use gen_pipeline::refs::{image_tags, RefKind};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "T")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A repository on `branch` with `commits` commits of `f.txt`.
fn repo(branch: &str, commits: usize) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    git(d.path(), &["init", "-q", "-b", branch]);
    for i in 0..commits {
        std::fs::write(d.path().join("f.txt"), format!("{i}\n")).unwrap();
        git(d.path(), &["add", "f.txt"]);
        git(d.path(), &["commit", "-q", "-m", &format!("c{i}")]);
    }
    d
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let m: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| m.get(k).cloned()
}

fn has_note(notes: &[String], needle: &str) -> bool {
    notes.iter().any(|n| n.contains(needle))
}

#[test]
fn branch_with_github_remote_and_origin_head() {
    let d = repo("feature/Login", 2);
    let p = d.path();
    git(
        p,
        &["remote", "add", "origin", "git@github.com:Acme/App.git"],
    );
    git(p, &["update-ref", "refs/remotes/origin/trunk", "HEAD"]);
    git(
        p,
        &[
            "symbolic-ref",
            "refs/remotes/origin/HEAD",
            "refs/remotes/origin/trunk",
        ],
    );
    let sha = git(p, &["rev-parse", "HEAD"]);
    // From a subdirectory: the repository is found upwards.
    std::fs::create_dir(p.join("sub")).unwrap();
    let ctx = discover(&p.join("sub"), &no_env, &Overrides::default()).unwrap();
    assert_eq!(ctx.branch.as_deref(), Some("feature/Login"));
    assert_eq!(ctx.sha.as_deref(), Some(sha.as_str()));
    assert_eq!(ctx.short_sha.as_deref(), Some(&sha[..7]));
    assert!(!ctx.detached && !ctx.dirty && !ctx.shallow);
    assert_eq!(ctx.default_branch, "trunk", "from the origin/HEAD symref");
    assert_eq!(
        ctx.remote,
        Some(Remote {
            host: "github.com".into(),
            owner: "Acme".into(),
            name: "App".into()
        })
    );
    assert_eq!(ctx.ci, None);
    assert_eq!(
        ctx.repo_root.as_deref().map(|r| r.canonicalize().unwrap()),
        Some(p.canonicalize().unwrap())
    );
    let info = ctx.ref_info();
    assert_eq!(
        (info.kind, info.name.as_str(), info.slug.as_str()),
        (RefKind::Branch, "feature/Login", "feature-login")
    );
    assert_eq!(
        image_tags(&info),
        ["feature-login".to_string(), format!("sha-{sha}")]
    );
    assert_eq!(default_image(&ctx, &no_env).unwrap(), "ghcr.io/acme/app");

    // Untracked files do not make the tree dirty; a modified tracked file does.
    std::fs::write(p.join("new.txt"), "x").unwrap();
    assert!(!discover(p, &no_env, &Overrides::default()).unwrap().dirty);
    std::fs::write(p.join("f.txt"), "changed").unwrap();
    assert!(discover(p, &no_env, &Overrides::default()).unwrap().dirty);
}

#[test]
fn detached_annotated_tag() {
    let d = repo("main", 2);
    let p = d.path();
    git(p, &["tag", "-a", "v1.2.3", "-m", "release"]);
    git(p, &["tag", "-a", "v1.10.0-rc.1", "-m", "rc"]);
    git(p, &["tag", "nightly"]);
    git(p, &["checkout", "-q", "--detach", "v1.2.3"]);
    let sha = git(p, &["rev-parse", "HEAD"]);
    let ctx = discover(p, &no_env, &Overrides::default()).unwrap();
    assert!(ctx.detached);
    assert_eq!(ctx.branch, None);
    // The highest release wins over a higher pre-release and a non-semver tag.
    assert_eq!(ctx.tag.as_deref(), Some("v1.2.3"));
    assert!(
        has_note(&ctx.notes, "several tags on HEAD"),
        "{:?}",
        ctx.notes
    );
    assert_eq!(
        ctx.sha.as_deref(),
        Some(sha.as_str()),
        "the commit, not the tag object"
    );
    let info = ctx.ref_info();
    assert_eq!(info.kind, RefKind::Tag);
    assert_eq!(image_tags(&info), ["1.2.3", "1.2", "1"]);
    assert_eq!(ctx.default_branch, "main", "main exists locally");

    // Detached on a commit with no tag.
    git(p, &["checkout", "-q", "--detach", "HEAD~1"]);
    let ctx = discover(p, &no_env, &Overrides::default()).unwrap();
    let info = ctx.ref_info();
    assert_eq!(info.kind, RefKind::Detached);
    assert_eq!(info.name, ctx.short_sha.clone().unwrap());
    // Tagged with the full sha (a short one is forgeable).
    assert_eq!(
        image_tags(&info),
        [format!("sha-{}", ctx.sha.clone().unwrap())]
    );
}

#[test]
fn repository_without_commits() {
    let d = repo("trunk", 0);
    let ctx = discover(d.path(), &no_env, &Overrides::default()).unwrap();
    assert_eq!(ctx.branch.as_deref(), Some("trunk"));
    assert_eq!(ctx.sha, None);
    assert!(has_note(&ctx.notes, "no commits"), "{:?}", ctx.notes);
    assert!(has_note(&ctx.notes, "no commit sha"), "{:?}", ctx.notes);
    // Still usable, from flags.
    let ov = Overrides {
        sha: Some("ABCDEF0123456789".into()),
        ..Overrides::default()
    };
    let ctx = discover(d.path(), &no_env, &ov).unwrap();
    assert_eq!(ctx.sha.as_deref(), Some("abcdef0123456789"));
    assert_eq!(
        image_tags(&ctx.ref_info()),
        ["trunk", "sha-abcdef0123456789"]
    );
}

#[test]
fn no_remote_default_branch_fallbacks() {
    // init.defaultBranch (repository config here) comes before main/master.
    let d = repo("master", 1);
    let p = d.path();
    let ctx = discover(p, &no_env, &Overrides::default()).unwrap();
    assert_eq!(ctx.remote, None);
    assert!(has_note(&ctx.notes, "no git remote"), "{:?}", ctx.notes);
    assert_eq!(ctx.default_branch, "master", "only master exists");
    let err = default_image(&ctx, &no_env).unwrap_err();
    assert!(matches!(err, GitError::NoImage { .. }));
    assert!(err.to_string().contains("--image"), "{err}");
    git(p, &["config", "init.defaultBranch", "develop"]);
    assert_eq!(
        discover(p, &no_env, &Overrides::default())
            .unwrap()
            .default_branch,
        "develop"
    );

    // Neither: assumed main, said so.
    let d = repo("feature", 1);
    let ctx = discover(d.path(), &no_env, &Overrides::default()).unwrap();
    assert_eq!(ctx.default_branch, "main");
    assert!(
        has_note(&ctx.notes, "default branch assumed"),
        "{:?}",
        ctx.notes
    );
    let ov = Overrides {
        default_branch: Some("feature".into()),
        ..Overrides::default()
    };
    let info = discover(d.path(), &no_env, &ov).unwrap().ref_info();
    assert!(image_tags(&info).contains(&"latest".to_string()));
}

#[test]
fn not_a_repository_works_from_flags_and_env() {
    let d = tempfile::tempdir().unwrap();
    let ctx = discover(d.path(), &no_env, &Overrides::default()).unwrap();
    assert_eq!(ctx.repo_root, None);
    assert!(has_note(&ctx.notes, "no git repository"), "{:?}", ctx.notes);
    assert_eq!(ctx.ref_info().kind, RefKind::Detached);
    assert_eq!(image_tags(&ctx.ref_info()), ["ref"]);

    let ov = Overrides {
        branch: Some("release/2.x".into()),
        sha: Some("0123abcd".into()),
        ..Overrides::default()
    };
    let info = discover(d.path(), &no_env, &ov).unwrap().ref_info();
    assert_eq!(
        (info.kind, info.slug.as_str(), info.short_sha.as_str()),
        (RefKind::Branch, "release-2-x", "0123abc")
    );

    let env = env_of(&[
        ("GITLAB_CI", "true"),
        ("CI_COMMIT_REF_NAME", "main"),
        ("CI_COMMIT_BRANCH", "main"),
        ("CI_COMMIT_SHA", "fedcba9876543210fedcba9876543210fedcba98"),
        ("CI_DEFAULT_BRANCH", "main"),
        ("CI_PROJECT_PATH", "group/sub/app"),
        ("CI_SERVER_HOST", "gitlab.example.com"),
    ]);
    let ctx = discover(d.path(), &env, &Overrides::default()).unwrap();
    assert_eq!(
        image_tags(&ctx.ref_info()),
        [
            "main",
            "sha-fedcba9876543210fedcba9876543210fedcba98",
            "latest"
        ]
    );
    assert_eq!(
        ctx.remote,
        Some(Remote {
            host: "gitlab.example.com".into(),
            owner: "group/sub".into(),
            name: "app".into()
        })
    );
    assert_eq!(
        default_image(&ctx, &env).unwrap(),
        "gitlab.example.com/group/sub/app"
    );
}

#[test]
fn shallow_clone() {
    let src = repo("trunk", 3);
    let head = git(src.path(), &["rev-parse", "HEAD"]);
    let dst = tempfile::tempdir().unwrap();
    let url = format!("file://{}", src.path().display());
    git(dst.path(), &["clone", "-q", "--depth", "1", &url, "c"]);
    let c = dst.path().join("c");
    let ctx = discover(&c, &no_env, &Overrides::default()).unwrap();
    assert!(ctx.shallow);
    assert!(has_note(&ctx.notes, "shallow"), "{:?}", ctx.notes);
    assert_eq!(ctx.sha.as_deref(), Some(head.as_str()));
    assert_eq!(ctx.branch.as_deref(), Some("trunk"));
    assert_eq!(ctx.default_branch, "trunk", "origin/HEAD set by clone");
    assert_eq!(ctx.remote, None, "a file:// remote has no owner/name");
    assert!(
        has_note(&ctx.notes, "not a host/owner/name URL"),
        "{:?}",
        ctx.notes
    );

    // The usual CI shape: shallow and detached, the CI says which branch.
    git(&c, &["checkout", "-q", "--detach"]);
    let env = env_of(&[
        ("CI", "woodpecker"),
        ("CI_COMMIT_BRANCH", "trunk"),
        ("CI_COMMIT_SHA", &head),
        ("CI_REPO_DEFAULT_BRANCH", "trunk"),
        ("CI_REPO", "acme/svc"),
        ("CI_FORGE_URL", "https://codeberg.org"),
    ]);
    let ctx = discover(&c, &env, &Overrides::default()).unwrap();
    assert!(ctx.detached);
    assert_eq!(ctx.ci, Some(Ci::Woodpecker));
    let info = ctx.ref_info();
    assert_eq!((info.kind, info.name.as_str()), (RefKind::Branch, "trunk"));
    assert!(image_tags(&info).contains(&"latest".to_string()));
    assert_eq!(
        ctx.remote.as_ref().map(|r| r.host.as_str()),
        Some("codeberg.org")
    );
    assert!(
        default_image(&ctx, &env).is_err(),
        "codeberg is neither GitHub nor GitLab"
    );
}

#[test]
fn ci_variables_override_git_and_flags_override_ci() {
    let d = repo("feature/local", 1);
    let p = d.path();
    git(
        p,
        &[
            "remote",
            "add",
            "origin",
            "https://github.com/acme/local.git",
        ],
    );
    let sha = "1111111111111111111111111111111111111111";

    // GitLab tag pipeline.
    let gl = env_of(&[
        ("GITLAB_CI", "true"),
        ("CI_COMMIT_REF_NAME", "v2.0.0"),
        ("CI_COMMIT_TAG", "v2.0.0"),
        ("CI_COMMIT_SHA", sha),
        ("CI_DEFAULT_BRANCH", "develop"),
        ("CI_REGISTRY_IMAGE", "registry.example.com/group/sub/app"),
    ]);
    let ctx = discover(p, &gl, &Overrides::default()).unwrap();
    assert_eq!(ctx.ci, Some(Ci::GitLab));
    assert_eq!(
        (ctx.branch.clone(), ctx.tag.as_deref()),
        (None, Some("v2.0.0"))
    );
    assert_eq!(ctx.sha.as_deref(), Some(sha));
    assert_eq!(ctx.default_branch, "develop");
    assert_eq!(ctx.ref_info().kind, RefKind::Tag);
    assert_eq!(
        default_image(&ctx, &gl).unwrap(),
        "registry.example.com/group/sub/app"
    );
    assert!(
        has_note(&ctx.notes, "GitLab CI variables"),
        "{:?}",
        ctx.notes
    );
    // GitLab merge request.
    let mr = env_of(&[
        ("GITLAB_CI", "true"),
        ("CI_COMMIT_REF_NAME", "feature/mr"),
        ("CI_MERGE_REQUEST_IID", "17"),
        ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/mr"),
        ("CI_COMMIT_SHA", sha),
    ]);
    let info = discover(p, &mr, &Overrides::default()).unwrap().ref_info();
    assert_eq!(
        (info.kind, info.pr, info.name.as_str()),
        (RefKind::Pr, Some(17), "feature/mr")
    );
    assert_eq!(image_tags(&info), ["pr-17"]);

    // Flags win over CI: a branch build with another sha and default branch.
    let ov = Overrides {
        branch: Some("hotfix/1".into()),
        sha: Some("2222222".into()),
        default_branch: Some("hotfix/1".into()),
        ..Overrides::default()
    };
    let ctx = discover(p, &gl, &ov).unwrap();
    assert_eq!(
        (ctx.branch.as_deref(), ctx.tag.clone()),
        (Some("hotfix/1"), None)
    );
    assert_eq!(
        image_tags(&ctx.ref_info()),
        ["hotfix-1", "sha-2222222", "latest"]
    );
    let ctx = discover(
        p,
        &gl,
        &Overrides {
            pr: Some(5),
            ..Overrides::default()
        },
    )
    .unwrap();
    assert_eq!(ctx.ref_info().kind, RefKind::Pr);

    // GitHub pull request, default branch from the event payload.
    let ev = d.path().join("event.json");
    std::fs::write(&ev, r#"{"number": 42, "pull_request": {"number": 42}, "repository": {"default_branch": "trunk"}}"#).unwrap();
    let gh = env_of(&[
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_REF", "refs/pull/42/merge"),
        ("GITHUB_REF_NAME", "42/merge"),
        ("GITHUB_REF_TYPE", "branch"),
        ("GITHUB_HEAD_REF", "feature/y"),
        ("GITHUB_SHA", sha),
        ("GITHUB_REPOSITORY", "Acme/Web"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_EVENT_PATH", ev.to_str().unwrap()),
    ]);
    let ctx = discover(p, &gh, &Overrides::default()).unwrap();
    assert_eq!(
        (ctx.pr, ctx.branch.as_deref(), ctx.default_branch.as_str()),
        (Some(42), Some("feature/y"), "trunk")
    );
    assert_eq!(default_image(&ctx, &gh).unwrap(), "ghcr.io/acme/web");
    // GitHub tag push (GITHUB_HEAD_REF is set but empty outside PRs).
    let gh_tag = env_of(&[
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_REF", "refs/tags/v3.1.4"),
        ("GITHUB_REF_NAME", "v3.1.4"),
        ("GITHUB_REF_TYPE", "tag"),
        ("GITHUB_HEAD_REF", ""),
        ("GITHUB_SHA", sha),
    ]);
    let ctx = discover(p, &gh_tag, &Overrides::default()).unwrap();
    assert_eq!(image_tags(&ctx.ref_info()), ["3.1.4", "3.1", "3"]);
    assert_eq!(
        ctx.default_branch, "main",
        "no payload: git's guess (main does not exist) → assumed"
    );

    // Drone pull request and tag.
    let dr = env_of(&[
        ("DRONE", "true"),
        ("DRONE_BRANCH", "main"),
        ("DRONE_SOURCE_BRANCH", "fix/z"),
        ("DRONE_PULL_REQUEST", "9"),
        ("DRONE_COMMIT_SHA", sha),
        ("DRONE_REPO_BRANCH", "main"),
        (
            "DRONE_GIT_HTTP_URL",
            "https://gitea.example.org/acme/svc.git",
        ),
    ]);
    let ctx = discover(p, &dr, &Overrides::default()).unwrap();
    assert_eq!(
        (ctx.ci, ctx.pr, ctx.branch.as_deref()),
        (Some(Ci::Drone), Some(9), Some("fix/z"))
    );
    assert_eq!(ctx.remote.as_ref().map(|r| r.owner.as_str()), Some("acme"));
    let dt = env_of(&[
        ("DRONE", "true"),
        ("DRONE_TAG", "2024.01"),
        ("DRONE_COMMIT_SHA", sha),
    ]);
    let info = discover(p, &dt, &Overrides::default()).unwrap().ref_info();
    assert_eq!(
        (info.kind, image_tags(&info)),
        (RefKind::Tag, vec!["2024.01".to_string()])
    );
    // Woodpecker pull request.
    let wp = env_of(&[
        ("CI", "woodpecker"),
        ("CI_COMMIT_BRANCH", "main"),
        ("CI_COMMIT_SOURCE_BRANCH", "feat/w"),
        ("CI_COMMIT_PULL_REQUEST", "3"),
        ("CI_COMMIT_SHA", sha),
        ("CI_REPO_DEFAULT_BRANCH", "main"),
    ]);
    let info = discover(p, &wp, &Overrides::default()).unwrap().ref_info();
    assert_eq!(
        (info.kind, info.pr, info.name.as_str()),
        (RefKind::Pr, Some(3), "feat/w")
    );

    // Without CI variables, git again.
    let ctx = discover(p, &no_env, &Overrides::default()).unwrap();
    assert_eq!(ctx.branch.as_deref(), Some("feature/local"));
    assert_eq!(default_image(&ctx, &no_env).unwrap(), "ghcr.io/acme/local");
}

#[test]
fn bad_flags_are_errors() {
    let d = tempfile::tempdir().unwrap();
    let bad = Overrides {
        sha: Some("xyz".into()),
        ..Overrides::default()
    };
    assert_eq!(
        discover(d.path(), &no_env, &bad).unwrap_err(),
        GitError::BadSha("xyz".into())
    );
    let both = Overrides {
        branch: Some("a".into()),
        tag: Some("b".into()),
        ..Overrides::default()
    };
    assert!(matches!(
        discover(d.path(), &no_env, &both).unwrap_err(),
        GitError::Conflict("--branch", "--git-tag")
    ));
    // The process environment reader is the one the binary uses.
    assert_eq!(git::process_env("GEN_PIPELINE_SURELY_UNSET_VARIABLE"), None);
}

#[test]
fn remote_url_forms() {
    let r = |h: &str, o: &str, n: &str| {
        Some(Remote {
            host: h.into(),
            owner: o.into(),
            name: n.into(),
        })
    };
    let cases = [
        (
            "git@github.com:Acme/App.git",
            r("github.com", "Acme", "App"),
        ),
        ("github.com:acme/app", r("github.com", "acme", "app")),
        (
            "ssh://git@github.com/acme/app.git",
            r("github.com", "acme", "app"),
        ),
        (
            "ssh://git@GitLab.Example.com:2222/group/sub/deep/proj.git",
            r("gitlab.example.com", "group/sub/deep", "proj"),
        ),
        (
            "git+ssh://git@host.example/o/n",
            r("host.example", "o", "n"),
        ),
        (
            "https://github.com/acme/app",
            r("github.com", "acme", "app"),
        ),
        (
            "https://github.com/acme/app.git/",
            r("github.com", "acme", "app"),
        ),
        (
            "https://oauth2:glpat-SECRET@gitlab.com/group/sub/proj.git",
            r("gitlab.com", "group/sub", "proj"),
        ),
        (
            "http://10.0.0.5:8080/scm/team/repo.git",
            r("10.0.0.5", "scm/team", "repo"),
        ),
        ("git://example.org/o/n.git", r("example.org", "o", "n")),
        ("ssh://[::1]:2222/o/n.git", r("::1", "o", "n")),
        (
            "git@gitlab.com:group/sub/proj.git",
            r("gitlab.com", "group/sub", "proj"),
        ),
        ("file:///srv/git/app.git", None),
        ("/srv/git/app.git", None),
        ("../app", None),
        ("C:\\repos\\app", None),
        ("https://github.com/app", None),
        ("git@github.com:app.git", None),
        ("", None),
    ];
    for (url, want) in cases {
        let got = parse_remote_url(url);
        assert_eq!(got, want, "{url}");
        if let Some(g) = got {
            assert!(
                !format!("{g:?}").contains("SECRET"),
                "credentials must be dropped"
            );
        }
    }
    // Image defaults per host.
    let ctx_for = |url: &str| {
        let d = repo("main", 1);
        git(d.path(), &["remote", "add", "origin", url]);
        discover(d.path(), &no_env, &Overrides::default()).unwrap()
    };
    assert_eq!(
        default_image(&ctx_for("git@gitlab.com:Group/Sub/Proj.git"), &no_env).unwrap(),
        "registry.gitlab.com/group/sub/proj"
    );
    assert_eq!(
        default_image(&ctx_for("https://gitlab.corp.example/a/b.git"), &no_env).unwrap(),
        "gitlab.corp.example/a/b"
    );
    assert!(default_image(&ctx_for("https://bitbucket.org/a/b.git"), &no_env).is_err());
}
