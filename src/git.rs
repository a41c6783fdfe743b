//! Git and CI-environment context. The only module that touches git2 or the environment;
//! the core sees the plain [`GitContext`] struct.
//!
//! OWNER: ref policy work (issue 3).
//!
//! Precedence, per field: explicit flags ([`Overrides`]) > the CI's own variables > the
//! repository. Nothing here fails for a missing repository, commit or remote: what could not be
//! read is assumed and said in [`GitContext::notes`] (one line each). The environment is read
//! through an injectable lookup ([`Env`]) so tests never touch the process environment.

use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

use crate::refs::{self, RefInfo, RefKind};

/// Reads one environment variable; `None` for unset. (Empty values are treated as unset.)
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, for the binary: `git::discover(dir, &git::process_env, &ov)`.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum GitError {
    #[error("cannot tell which image repository to push to ({reason}); pass --image REGISTRY/OWNER/NAME")]
    NoImage { reason: String },
    #[error("--sha {0:?} is not a commit id (4 to 64 hexadecimal digits)")]
    BadSha(String),
    #[error("{0} and {1} cannot be given together")]
    Conflict(&'static str, &'static str),
}

/// The CI system whose variables were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Ci {
    GitHub,
    GitLab,
    Drone,
    Woodpecker,
}

impl Ci {
    pub fn name(self) -> &'static str {
        match self {
            Ci::GitHub => "GitHub Actions",
            Ci::GitLab => "GitLab CI",
            Ci::Drone => "Drone",
            Ci::Woodpecker => "Woodpecker",
        }
    }
}

/// A remote parsed into host/owner/name (credentials and port dropped). GitLab subgroups stay
/// in `owner` (`group/sub`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Remote {
    pub host: String,
    pub owner: String,
    pub name: String,
}

/// Everything the generator needs to know about where it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitContext {
    /// Work tree (or git dir of a bare repository), when there is a repository.
    pub repo_root: Option<PathBuf>,
    /// The branch being built (for a PR: its head branch).
    pub branch: Option<String>,
    /// The tag being built, or (on a branch) an exact tag on HEAD.
    pub tag: Option<String>,
    pub sha: Option<String>,
    pub short_sha: Option<String>,
    /// HEAD is detached in the repository.
    pub detached: bool,
    pub default_branch: String,
    pub remote: Option<Remote>,
    /// Tracked files differ from HEAD (untracked files do not count).
    pub dirty: bool,
    pub shallow: bool,
    pub pr: Option<u64>,
    pub ci: Option<Ci>,
    /// GitLab's `CI_REGISTRY_IMAGE`.
    pub registry_image: Option<String>,
    /// What was assumed, one line each.
    pub notes: Vec<String>,
}

/// Explicit values (command-line flags); each wins over CI variables and git.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub branch: Option<String>,
    pub tag: Option<String>,
    pub sha: Option<String>,
    pub default_branch: Option<String>,
    pub pr: Option<u64>,
}

/// What the repository says.
#[derive(Debug, Default)]
struct GitFacts {
    root: Option<PathBuf>,
    branch: Option<String>,
    tag: Option<String>,
    sha: Option<String>,
    detached: bool,
    default_branch: Option<String>,
    remote: Option<Remote>,
    dirty: bool,
    shallow: bool,
}

/// What the CI variables say.
#[derive(Debug, Default)]
struct CiFacts {
    ci: Option<Ci>,
    branch: Option<String>,
    tag: Option<String>,
    pr: Option<u64>,
    sha: Option<String>,
    default_branch: Option<String>,
    remote: Option<Remote>,
    registry_image: Option<String>,
}

impl CiFacts {
    fn has_ref(&self) -> bool {
        self.branch.is_some() || self.tag.is_some() || self.pr.is_some()
    }
}

/// Reads the git context around `dir` (the repository containing it, searching upwards), the
/// CI variables from `env`, and applies `overrides`.
pub fn discover(dir: &Path, env: Env, overrides: &Overrides) -> Result<GitContext, GitError> {
    discover_with(dir, env, overrides, true)
}

/// [`discover`] without the working-tree scan behind `dirty` (left `false`): generating a
/// pipeline does not depend on it, and on a large checkout the scan costs more than the rest.
pub fn discover_ref(dir: &Path, env: Env, overrides: &Overrides) -> Result<GitContext, GitError> {
    discover_with(dir, env, overrides, false)
}

fn discover_with(
    dir: &Path,
    env: Env,
    overrides: &Overrides,
    check_dirty: bool,
) -> Result<GitContext, GitError> {
    if let Some(sha) = &overrides.sha {
        if !(4..=64).contains(&sha.len()) || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(GitError::BadSha(sha.clone()));
        }
    }
    if overrides.branch.is_some() && overrides.tag.is_some() {
        return Err(GitError::Conflict("--branch", "--git-tag"));
    }
    if overrides.pr.is_some() && overrides.tag.is_some() {
        return Err(GitError::Conflict("--pr", "--git-tag"));
    }
    let mut notes = Vec::new();
    let git = read_git(dir, &mut notes, check_dirty);
    let ci = read_ci(&|k| env(k).filter(|v| !v.is_empty()));
    Ok(merge(git, ci, overrides, notes))
}

fn merge(git: GitFacts, ci: CiFacts, ov: &Overrides, mut notes: Vec<String>) -> GitContext {
    let (mut branch, mut tag, mut pr) = if ci.has_ref() {
        notes.push(format!(
            "ref taken from {} variables",
            ci.ci.map_or("CI", Ci::name)
        ));
        (ci.branch.clone(), ci.tag.clone(), ci.pr)
    } else {
        (git.branch.clone(), git.tag.clone(), None)
    };
    if ov.tag.is_some() {
        tag = ov.tag.clone();
        branch = None;
        pr = None;
    }
    if ov.branch.is_some() {
        branch = ov.branch.clone();
        tag = None;
        pr = None;
    }
    if ov.pr.is_some() {
        pr = ov.pr;
        tag = None;
    }
    let sha = ov
        .sha
        .clone()
        .or(ci.sha.clone())
        .or(git.sha.clone())
        .map(|s| s.to_ascii_lowercase());
    let default_branch = match ov.default_branch.clone().or(ci.default_branch.clone()) {
        Some(d) => d,
        None => match git.default_branch.clone() {
            Some(d) => d,
            None => {
                notes.push("default branch assumed to be `main` (no origin/HEAD, init.defaultBranch, main or master); use --default-branch".into());
                "main".into()
            }
        },
    };
    let remote = ci.remote.clone().or(git.remote.clone());
    if sha.is_none() {
        notes.push("no commit sha known (no commits, no CI variable); use --sha".into());
    }
    if branch.is_none() && tag.is_none() && pr.is_none() {
        notes.push("no branch, tag or PR known: treated as a detached build".into());
    }
    GitContext {
        repo_root: git.root,
        short_sha: sha
            .as_deref()
            .map(refs::short_sha)
            .filter(|s| !s.is_empty()),
        branch,
        tag,
        sha,
        detached: git.detached,
        default_branch,
        remote,
        dirty: git.dirty,
        shallow: git.shallow,
        pr,
        ci: ci.ci,
        registry_image: ci.registry_image,
        notes,
    }
}

impl GitContext {
    /// The kind of build: PR > branch > tag > detached.
    pub fn kind(&self) -> RefKind {
        if self.pr.is_some() {
            RefKind::Pr
        } else if self.branch.is_some() {
            RefKind::Branch
        } else if self.tag.is_some() {
            RefKind::Tag
        } else {
            RefKind::Detached
        }
    }

    /// The ref this build is for, with its slug (see [`refs::ref_slug`]).
    pub fn ref_info(&self) -> RefInfo {
        let sha = self.sha.clone().unwrap_or_default();
        let kind = self.kind();
        let name = match kind {
            RefKind::Pr => self
                .branch
                .clone()
                .unwrap_or_else(|| format!("pr-{}", self.pr.unwrap_or(0))),
            RefKind::Branch => self.branch.clone().unwrap_or_default(),
            RefKind::Tag => self.tag.clone().unwrap_or_default(),
            RefKind::Detached => refs::short_sha(&sha),
        };
        RefInfo::new(kind, &name, &sha, &self.default_branch, self.pr)
    }
}

/// The image repository to push to when `--image` is not given:
/// - GitLab: `$CI_REGISTRY_IMAGE`; else for a GitLab remote `registry.gitlab.com/<owner>/<name>`
///   on gitlab.com and `<host>/<owner>/<name>` on other GitLab hosts;
/// - a github.com remote (or `GITHUB_REPOSITORY`): `ghcr.io/<owner>/<name>`;
///
/// all lower-cased; anything else is an error asking for `--image`.
pub fn default_image(ctx: &GitContext, env: Env) -> Result<String, GitError> {
    let reg = ctx
        .registry_image
        .clone()
        .or_else(|| env("CI_REGISTRY_IMAGE").filter(|v| !v.is_empty()));
    if let Some(img) = reg {
        return Ok(img.to_ascii_lowercase());
    }
    let Some(r) = &ctx.remote else {
        return Err(GitError::NoImage {
            reason: "no git remote and no CI repository variable".into(),
        });
    };
    let path = format!("{}/{}", r.owner, r.name).to_ascii_lowercase();
    if r.host == "github.com" {
        return Ok(format!("ghcr.io/{path}"));
    }
    if r.host == "gitlab.com" {
        return Ok(format!("registry.gitlab.com/{path}"));
    }
    if ctx.ci == Some(Ci::GitLab) || r.host.split('.').any(|l| l == "gitlab") {
        return Ok(format!("{}/{path}", r.host));
    }
    Err(GitError::NoImage {
        reason: format!("remote host {} is neither github.com nor a GitLab", r.host),
    })
}

/// The work tree of the repository containing `dir` (searching upwards), if any: where
/// `gen-pipeline.yml` is looked up when the current folder has none.
pub fn work_tree(dir: &Path) -> Option<PathBuf> {
    let repo = git2::Repository::discover(dir).ok()?;
    repo.workdir().map(Path::to_path_buf)
}

/// Parses a remote URL: `ssh://[user@]host[:port]/owner/name[.git]`, `https://…` (also
/// `http`, `git`, `git+ssh`), and scp-like `[user@]host:owner/name[.git]`. The owner may
/// contain `/` (GitLab subgroups). Local paths and `file://` give `None`.
pub fn parse_remote_url(url: &str) -> Option<Remote> {
    let url = url.trim();
    let (authority, path) = if let Some((scheme, rest)) = url.split_once("://") {
        let scheme = scheme.to_ascii_lowercase();
        if !matches!(
            scheme.as_str(),
            "ssh" | "git+ssh" | "ssh+git" | "https" | "http" | "git"
        ) {
            return None;
        }
        let (auth, path) = rest.split_once('/')?;
        let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
        let host = if host.starts_with('[') {
            host.split_once(']')
                .map_or(host, |(h, _)| h)
                .trim_start_matches('[')
        } else {
            host.split_once(':').map_or(host, |(h, _)| h)
        };
        (host, path)
    } else {
        // scp-like: a ':' before any '/'.
        let colon = url.find(':')?;
        if url[..colon].contains('/') {
            return None;
        }
        let auth = &url[..colon];
        let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
        if host.len() < 2 {
            return None; // `C:\…` and the like
        }
        (host, &url[colon + 1..])
    };
    if authority.is_empty() {
        return None;
    }
    let path = path.split(['?', '#']).next().unwrap_or("");
    let path = path.trim_matches('/');
    let path = path
        .strip_suffix(".git")
        .unwrap_or(path)
        .trim_end_matches('/');
    let (owner, name) = path.rsplit_once('/')?;
    let owner = owner.trim_start_matches('~').trim_matches('/');
    if owner.is_empty() || name.is_empty() {
        return None;
    }
    Some(Remote {
        host: authority.to_ascii_lowercase(),
        owner: owner.to_string(),
        name: name.to_string(),
    })
}

/// `owner/name` (from a CI variable) on `host`.
fn remote_from_path(host: &str, path: &str) -> Option<Remote> {
    let (owner, name) = path.trim_matches('/').rsplit_once('/')?;
    (!owner.is_empty() && !name.is_empty()).then(|| Remote {
        host: host.to_ascii_lowercase(),
        owner: owner.to_string(),
        name: name.to_string(),
    })
}

/// The host of a URL like `https://github.com` or `https://user@host:8443/x`.
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let auth = rest.split('/').next()?;
    let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    let host = host.split(':').next()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

fn pr_number(s: &str) -> Option<u64> {
    s.trim().parse().ok()
}

/// `refs/pull/<n>/merge` (or `/head`) → n.
fn github_pr_from_ref(r: &str) -> Option<u64> {
    let rest = r.strip_prefix("refs/pull/")?;
    pr_number(rest.split('/').next()?)
}

/// Reads `repository.default_branch` and `pull_request.number` from the GitHub event payload.
fn github_event(path: &str) -> (Option<String>, Option<u64>) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return (None, None);
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return (None, None);
    };
    let default = v
        .pointer("/repository/default_branch")
        .and_then(|d| d.as_str())
        .map(str::to_string);
    let pr = v
        .pointer("/pull_request/number")
        .and_then(|n| n.as_u64())
        .or_else(|| {
            v.pointer("/number")
                .and_then(|n| n.as_u64())
                .filter(|_| v.get("pull_request").is_some())
        });
    (default, pr)
}

fn detect_ci(env: Env) -> Option<Ci> {
    let is = |k: &str, v: &str| env(k).is_some_and(|x| x.eq_ignore_ascii_case(v));
    let has = |ks: &[&str]| ks.iter().any(|k| env(k).is_some());
    if is("GITHUB_ACTIONS", "true") {
        Some(Ci::GitHub)
    } else if env("GITLAB_CI").is_some() {
        Some(Ci::GitLab)
    } else if is("CI", "woodpecker") {
        Some(Ci::Woodpecker)
    } else if is("DRONE", "true") {
        Some(Ci::Drone)
    } else if has(&["GITHUB_SHA", "GITHUB_REF_NAME"]) {
        Some(Ci::GitHub)
    } else if has(&[
        "CI_COMMIT_REF_NAME",
        "CI_DEFAULT_BRANCH",
        "CI_MERGE_REQUEST_IID",
        "CI_REGISTRY_IMAGE",
    ]) {
        Some(Ci::GitLab)
    } else if has(&["CI_REPO_DEFAULT_BRANCH", "CI_COMMIT_PULL_REQUEST"]) {
        Some(Ci::Woodpecker)
    } else if has(&[
        "DRONE_COMMIT_SHA",
        "DRONE_BRANCH",
        "DRONE_TAG",
        "DRONE_REPO_BRANCH",
    ]) {
        Some(Ci::Drone)
    } else if has(&["CI_COMMIT_SHA", "CI_COMMIT_TAG", "CI_COMMIT_BRANCH"]) {
        Some(Ci::Woodpecker)
    } else {
        None
    }
}

fn read_ci(env: Env) -> CiFacts {
    let Some(ci) = detect_ci(env) else {
        return CiFacts::default();
    };
    let mut f = CiFacts {
        ci: Some(ci),
        ..CiFacts::default()
    };
    match ci {
        Ci::GitHub => {
            let (event_default, event_pr) =
                env("GITHUB_EVENT_PATH").map_or((None, None), |p| github_event(&p));
            let event = env("GITHUB_EVENT_NAME").unwrap_or_default();
            let gref = env("GITHUB_REF").unwrap_or_default();
            let pr = github_pr_from_ref(&gref).or(if event.starts_with("pull_request") {
                event_pr
            } else {
                None
            });
            if let Some(n) = pr {
                f.pr = Some(n);
                f.branch = env("GITHUB_HEAD_REF");
            } else {
                let name = env("GITHUB_REF_NAME");
                let ty = env("GITHUB_REF_TYPE").unwrap_or_default();
                if ty == "tag" || (ty.is_empty() && gref.starts_with("refs/tags/")) {
                    f.tag = name.or_else(|| gref.strip_prefix("refs/tags/").map(str::to_string));
                } else {
                    f.branch =
                        name.or_else(|| gref.strip_prefix("refs/heads/").map(str::to_string));
                }
            }
            f.sha = env("GITHUB_SHA");
            f.default_branch = event_default;
            let host = env("GITHUB_SERVER_URL")
                .and_then(|u| url_host(&u))
                .unwrap_or_else(|| "github.com".into());
            f.remote = env("GITHUB_REPOSITORY").and_then(|p| remote_from_path(&host, &p));
        }
        Ci::GitLab => {
            if let Some(n) = env("CI_MERGE_REQUEST_IID").and_then(|n| pr_number(&n)) {
                f.pr = Some(n);
                f.branch = env("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")
                    .or_else(|| env("CI_COMMIT_REF_NAME"));
            } else if let Some(t) = env("CI_COMMIT_TAG") {
                f.tag = Some(t);
            } else {
                f.branch = env("CI_COMMIT_BRANCH").or_else(|| env("CI_COMMIT_REF_NAME"));
            }
            f.sha = env("CI_COMMIT_SHA");
            f.default_branch = env("CI_DEFAULT_BRANCH");
            f.registry_image = env("CI_REGISTRY_IMAGE");
            let host =
                env("CI_SERVER_HOST").or_else(|| env("CI_SERVER_URL").and_then(|u| url_host(&u)));
            f.remote = match (host, env("CI_PROJECT_PATH")) {
                (Some(h), Some(p)) => remote_from_path(&h, &p),
                _ => None,
            };
        }
        Ci::Drone => {
            if let Some(n) = env("DRONE_PULL_REQUEST").and_then(|n| pr_number(&n)) {
                f.pr = Some(n);
                f.branch = env("DRONE_SOURCE_BRANCH");
            } else if let Some(t) = env("DRONE_TAG") {
                f.tag = Some(t);
            } else {
                f.branch = env("DRONE_BRANCH").or_else(|| env("DRONE_COMMIT_BRANCH"));
            }
            f.sha = env("DRONE_COMMIT_SHA").or_else(|| env("DRONE_COMMIT"));
            f.default_branch = env("DRONE_REPO_BRANCH");
            f.remote = env("DRONE_GIT_HTTP_URL")
                .and_then(|u| parse_remote_url(&u))
                .or_else(|| {
                    let host = env("DRONE_SYSTEM_HOST")
                        .or_else(|| env("DRONE_REPO_LINK").and_then(|u| url_host(&u)))?;
                    remote_from_path(&host, &env("DRONE_REPO")?)
                });
        }
        Ci::Woodpecker => {
            if let Some(n) = env("CI_COMMIT_PULL_REQUEST").and_then(|n| pr_number(&n)) {
                f.pr = Some(n);
                f.branch = env("CI_COMMIT_SOURCE_BRANCH");
            } else if let Some(t) = env("CI_COMMIT_TAG") {
                f.tag = Some(t);
            } else {
                f.branch = env("CI_COMMIT_BRANCH");
            }
            f.sha = env("CI_COMMIT_SHA");
            f.default_branch = env("CI_REPO_DEFAULT_BRANCH");
            f.remote = env("CI_REPO_CLONE_URL")
                .and_then(|u| parse_remote_url(&u))
                .or_else(|| {
                    let host = env("CI_FORGE_URL").and_then(|u| url_host(&u))?;
                    remote_from_path(&host, &env("CI_REPO")?)
                });
        }
    }
    f
}

fn read_git(dir: &Path, notes: &mut Vec<String>, check_dirty: bool) -> GitFacts {
    let repo = match git2::Repository::discover(dir) {
        Ok(r) => r,
        Err(e) => {
            let why = if e.code() == git2::ErrorCode::Owner {
                "repository owned by another user (libgit2 safe.directory check)".to_string()
            } else {
                format!("no git repository at or above {}", dir.display())
            };
            notes.push(format!("{why}: ref taken from CI variables and flags only"));
            return GitFacts::default();
        }
    };
    let mut f = GitFacts {
        root: Some(repo.workdir().unwrap_or_else(|| repo.path()).to_path_buf()),
        shallow: repo.is_shallow(),
        detached: repo.head_detached().unwrap_or(false),
        ..GitFacts::default()
    };
    match repo.head() {
        Ok(head) => {
            if head.is_branch() {
                f.branch = head.shorthand().map(str::to_string);
            }
            if let Ok(commit) = head.peel_to_commit() {
                f.sha = Some(commit.id().to_string());
                f.tag = tag_on(&repo, commit.id(), notes);
            }
        }
        Err(_) => {
            // Unborn branch: HEAD names a branch that has no commit yet.
            if let Ok(h) = repo.find_reference("HEAD") {
                f.branch = h
                    .symbolic_target()
                    .and_then(|t| t.strip_prefix("refs/heads/"))
                    .map(str::to_string);
            }
            notes.push("repository has no commits yet".into());
        }
    }
    if f.shallow {
        notes.push("shallow clone: only the fetched history is known".into());
    }
    let remote_name = match repo.remotes() {
        Ok(names) => {
            let names: Vec<String> = names.iter().flatten().map(str::to_string).collect();
            if names.iter().any(|n| n == "origin") {
                Some("origin".to_string())
            } else {
                names.into_iter().next()
            }
        }
        Err(_) => None,
    };
    match &remote_name {
        Some(name) => {
            if let Ok(r) = repo.find_remote(name) {
                f.remote = r.url().and_then(parse_remote_url);
                if f.remote.is_none() {
                    notes.push(format!("remote `{name}` URL is not a host/owner/name URL"));
                }
            }
        }
        None => notes.push("no git remote".into()),
    }
    f.default_branch = default_branch(&repo, remote_name.as_deref());
    f.dirty = check_dirty && is_dirty(&repo);
    f
}

fn default_branch(repo: &git2::Repository, remote: Option<&str>) -> Option<String> {
    if let Some(remote) = remote {
        let head = format!("refs/remotes/{remote}/HEAD");
        if let Ok(r) = repo.find_reference(&head) {
            let prefix = format!("refs/remotes/{remote}/");
            if let Some(b) = r.symbolic_target().and_then(|t| t.strip_prefix(&prefix)) {
                return Some(b.to_string());
            }
        }
    }
    if let Ok(b) = repo
        .config()
        .and_then(|c| c.get_string("init.defaultBranch"))
    {
        if !b.is_empty() {
            return Some(b);
        }
    }
    for b in ["main", "master"] {
        let local = format!("refs/heads/{b}");
        let remote_ref = remote.map(|r| format!("refs/remotes/{r}/{b}"));
        if repo.find_reference(&local).is_ok()
            || remote_ref.is_some_and(|r| repo.find_reference(&r).is_ok())
        {
            return Some(b.to_string());
        }
    }
    None
}

/// The tag pointing at `commit`: the highest release semver tag, else the highest semver tag,
/// else the first name in byte order.
fn tag_on(repo: &git2::Repository, commit: git2::Oid, notes: &mut Vec<String>) -> Option<String> {
    let mut names = Vec::new();
    let refs = repo.references_glob("refs/tags/*").ok()?;
    for r in refs.flatten() {
        let Some(name) = r
            .name()
            .and_then(|n| n.strip_prefix("refs/tags/"))
            .map(str::to_string)
        else {
            continue;
        };
        if r.peel_to_commit().map(|c| c.id()) == Ok(commit) {
            names.push(name);
        }
    }
    names.sort();
    if names.len() > 1 {
        notes.push(format!(
            "several tags on HEAD ({}): the highest release version is used",
            names.join(", ")
        ));
    }
    let key = |n: &String| {
        refs::parse_semver_tag(n).map(|v| {
            let num = |s: &str| s.parse::<u128>().unwrap_or(u128::MAX);
            (v.pre.is_none(), num(&v.major), num(&v.minor), num(&v.patch))
        })
    };
    let best = names
        .iter()
        .filter(|n| key(n).is_some())
        .max_by_key(|n| key(n));
    best.or(names.first()).cloned()
}

fn is_dirty(repo: &git2::Repository) -> bool {
    if repo.is_bare() {
        return false;
    }
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(false)
        .include_ignored(false)
        .exclude_submodules(true);
    repo.statuses(Some(&mut opts))
        .map(|s| !s.is_empty())
        .unwrap_or(false)
}

/// `git ls-remote` failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("`git ls-remote {remote}` in {dir} failed: {message}")]
pub struct LsRemoteError {
    pub remote: String,
    pub dir: String,
    pub message: String,
}

/// Every ref of `remote` (a remote name or URL) as `git ls-remote` prints them (`<sha>\t<ref>`
/// lines), run in `dir` with the git binary (so the user's credential helpers and SSH setup apply).
pub fn ls_remote(dir: &Path, remote: &str) -> Result<String, LsRemoteError> {
    let fail = |message: String| LsRemoteError {
        remote: remote.to_string(),
        dir: dir.display().to_string(),
        message,
    };
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["ls-remote", "--", remote])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    String::from_utf8(out.stdout).map_err(|_| fail("its output is not UTF-8".into()))
}
