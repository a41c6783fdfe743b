//! Runs the real third-party checkers on pipeline files (see `/work/shared/TOOLING.md`).
//!
//! Every public helper PANICS with the tool's full output when the tool reports a finding, and also
//! when the tool is missing or crashes: a checker that did not run must never look like a pass.
//! The `try_*` variants return the failure instead (still panicking on a missing tool), so tests can
//! assert that a bad input is rejected for the right reason.
#![allow(dead_code)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root (where `.yamllint.yml` lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A checker rejected its input. `Display` shows the command and everything it printed.
#[derive(Debug, Clone)]
pub struct ToolFailure {
    pub command: String,
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl ToolFailure {
    /// The command line, stdout and stderr together, for `contains` assertions.
    pub fn output(&self) -> String {
        format!("{}\n{}\n{}", self.command, self.stdout, self.stderr)
    }
}

impl fmt::Display for ToolFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` failed (exit {:?})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    if let Some(dir) = cmd.get_current_dir() {
        s.push_str(&format!("  (in {})", dir.display()));
    }
    s
}

/// Runs `cmd` to completion; panics if the program cannot be started (missing tool).
pub fn run_tool(cmd: &mut Command) -> (String, Output) {
    let desc = describe(cmd);
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!("cannot run `{desc}`: {e} (is the tool installed? run .ci/install-tools.sh)")
    });
    (desc, out)
}

fn failure(command: String, out: &Output) -> ToolFailure {
    ToolFailure {
        command,
        status: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Ok when the tool exited 0, else the failure with its full output.
fn status_ok(cmd: &mut Command) -> Result<String, ToolFailure> {
    let (desc, out) = run_tool(cmd);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(failure(desc, &out))
    }
}

fn or_panic<T>(r: Result<T, ToolFailure>) -> T {
    r.unwrap_or_else(|f| panic!("{f}"))
}

fn assert_exists(path: &Path) {
    assert!(
        path.exists(),
        "input file {} does not exist",
        path.display()
    );
}

/// Splits a YAML stream into its documents (on `---` lines at column 0). A single document comes
/// back as one element. Text before the first `---` that is only comments/blank is dropped.
pub fn split_yaml_documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end();
        if bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t") {
            docs.push(String::new());
            let rest = bare.strip_prefix("---").unwrap().trim();
            if !rest.is_empty() && !rest.starts_with('#') {
                docs.last_mut().unwrap().push_str(rest);
                docs.last_mut().unwrap().push('\n');
            }
            continue;
        }
        if bare == "..." {
            continue;
        }
        docs.last_mut().unwrap().push_str(line);
    }
    docs.into_iter()
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .collect()
}

/// `check-jsonschema --builtin-schema <schema> [--data-transform gitlab-ci] <path>`.
/// `schema` is e.g. `vendor.github-workflows`, `vendor.github-actions`, `vendor.gitlab-ci`,
/// `vendor.drone-ci`, `vendor.woodpecker-ci`. A multi-document file is split and every
/// document is validated on its own (check-jsonschema cannot parse a YAML stream).
pub fn try_check_jsonschema(
    schema: &str,
    path: impl AsRef<Path>,
    gitlab_transform: bool,
) -> Result<(), ToolFailure> {
    let path = path.as_ref();
    assert_exists(path);
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let docs = split_yaml_documents(&text);
    let tmp = tempfile::tempdir().unwrap();
    let targets: Vec<(String, PathBuf)> = if docs.len() <= 1 {
        vec![(path.display().to_string(), path.to_path_buf())]
    } else {
        docs.iter()
            .enumerate()
            .map(|(i, d)| {
                let p = tmp.path().join(format!("document-{}.yml", i + 1));
                std::fs::write(&p, d).unwrap();
                (
                    format!("{} (document {} of {})", path.display(), i + 1, docs.len()),
                    p,
                )
            })
            .collect()
    };
    for (label, p) in targets {
        let mut cmd = Command::new("check-jsonschema");
        cmd.arg("--builtin-schema").arg(schema);
        if gitlab_transform {
            cmd.args(["--data-transform", "gitlab-ci"]);
        }
        cmd.arg(&p);
        status_ok(&mut cmd).map_err(|mut f| {
            f.command = format!("{}  [validating {label}]", f.command);
            f
        })?;
    }
    Ok(())
}

/// Panicking form of [`try_check_jsonschema`].
pub fn check_jsonschema(schema: &str, path: impl AsRef<Path>, gitlab_transform: bool) {
    or_panic(try_check_jsonschema(schema, path, gitlab_transform))
}

/// `actionlint -no-color PATHS` with shellcheck on PATH (shellcheck findings in `run:` fail too).
pub fn try_actionlint<P: AsRef<Path>>(paths: &[P]) -> Result<(), ToolFailure> {
    assert!(!paths.is_empty(), "actionlint: no paths given");
    let (_, sc) = run_tool(Command::new("shellcheck").arg("--version"));
    assert!(
        sc.status.success(),
        "shellcheck is not usable; actionlint would silently skip its checks"
    );
    let mut cmd = Command::new("actionlint");
    cmd.arg("-no-color");
    if let Ok(sc) = which("shellcheck") {
        cmd.arg("-shellcheck").arg(sc);
    }
    for p in paths {
        assert_exists(p.as_ref());
        cmd.arg(p.as_ref());
    }
    status_ok(&mut cmd).map(|_| ())
}

/// Panicking form of [`try_actionlint`].
pub fn actionlint<P: AsRef<Path>>(paths: &[P]) {
    or_panic(try_actionlint(paths))
}

/// `zizmor --offline --format json PATHS`: ANY finding (any severity, any confidence) is a failure,
/// and so is any non-zero exit. zizmor audits a file as an action only when it is named
/// `action.yml`/`action.yaml`; pass a directory or such a file for actions.
pub fn try_zizmor_offline<P: AsRef<Path>>(paths: &[P]) -> Result<(), ToolFailure> {
    assert!(!paths.is_empty(), "zizmor: no paths given");
    let mut cmd = Command::new("zizmor");
    cmd.args(["--offline", "--no-progress", "--format", "json"]);
    for p in paths {
        assert_exists(p.as_ref());
        cmd.arg(p.as_ref());
    }
    let (desc, out) = run_tool(&mut cmd);
    let mut f = failure(desc, &out);
    if !out.status.success() {
        // Re-run in human format so the panic message is readable.
        let mut human = Command::new("zizmor");
        human.args(["--offline", "--no-progress"]);
        for p in paths {
            human.arg(p.as_ref());
        }
        let (_, h) = run_tool(&mut human);
        f.stdout = format!(
            "{}\n--- human-readable ---\n{}",
            f.stdout,
            String::from_utf8_lossy(&h.stdout)
        );
        return Err(f);
    }
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("zizmor printed non-JSON ({e}):\n{f}"));
    match findings.as_array() {
        Some(a) if a.is_empty() => Ok(()),
        Some(_) => Err(f),
        None => panic!("zizmor JSON is not an array:\n{f}"),
    }
}

/// Panicking form of [`try_zizmor_offline`].
pub fn zizmor_offline<P: AsRef<Path>>(paths: &[P]) {
    or_panic(try_zizmor_offline(paths))
}

/// `yamllint -f parsable -s -c <repo>/.yamllint.yml PATH` (`-s`: warnings fail too).
pub fn try_yamllint(path: impl AsRef<Path>) -> Result<(), ToolFailure> {
    let path = path.as_ref();
    assert_exists(path);
    let config = repo_root().join(".yamllint.yml");
    assert!(config.exists(), "missing {}", config.display());
    status_ok(
        Command::new("yamllint")
            .args(["-f", "parsable", "-s", "-c"])
            .arg(&config)
            .arg(path),
    )
    .map(|_| ())
}

/// Panicking form of [`try_yamllint`].
pub fn yamllint(path: impl AsRef<Path>) {
    or_panic(try_yamllint(path))
}

/// Makes `dir` a git repository with one commit on `branch` and an `origin` remote, which is what
/// gitlab-ci-local and act expect of a checkout (quiet, deterministic identity).
pub fn git_init_commit(dir: &Path, branch: &str) {
    let git = |args: &[&str]| {
        let mut c = Command::new("git");
        c.current_dir(dir)
            .args([
                "-c",
                "user.name=gen-pipeline tests",
                "-c",
                "user.email=tests@gen-pipeline.invalid",
            ])
            .args([
                "-c",
                "commit.gpgsign=false",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args);
        or_panic(status_ok(&mut c));
    };
    git(&["init", "-q", "-b", branch]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "--allow-empty", "-m", "fixture"]);
    git(&[
        "remote",
        "add",
        "origin",
        "https://gitlab.invalid/group/project.git",
    ]);
    git(&[
        "update-ref",
        &format!("refs/remotes/origin/{branch}"),
        "HEAD",
    ]);
    git(&[
        "symbolic-ref",
        "refs/remotes/origin/HEAD",
        &format!("refs/remotes/origin/{branch}"),
    ]);
}

/// Copies the files of `src` (recursively, no `.git`) into `dst`.
pub fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap_or_else(|e| panic!("read_dir {}: {e}", src.display())) {
        let e = e.unwrap();
        let (from, to) = (e.path(), dst.join(e.file_name()));
        if e.file_name() == ".git" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_tree(&from, &to);
        } else {
            std::fs::copy(&from, &to)
                .unwrap_or_else(|err| panic!("copy {}: {err}", from.display()));
        }
    }
}

/// gitlab-ci-local's own validation of `<dir>/.gitlab-ci.yml`: copies `dir` into a temporary git
/// repository and runs `gitlab-ci-local --list` and `--preview` there. Fails on schema errors and
/// on a `needs:` naming a job that does not exist. Returns the `--list` table on success.
pub fn try_gitlab_ci_local_validate(dir: impl AsRef<Path>) -> Result<String, ToolFailure> {
    let dir = dir.as_ref();
    assert_exists(&dir.join(".gitlab-ci.yml"));
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(dir, tmp.path());
    git_init_commit(tmp.path(), "main");
    let list = status_ok(
        Command::new("gitlab-ci-local")
            .current_dir(tmp.path())
            .arg("--list"),
    )?;
    status_ok(
        Command::new("gitlab-ci-local")
            .current_dir(tmp.path())
            .arg("--preview"),
    )?;
    Ok(list)
}

/// Panicking form of [`try_gitlab_ci_local_validate`].
pub fn gitlab_ci_local_validate(dir: impl AsRef<Path>) -> String {
    or_panic(try_gitlab_ci_local_validate(dir))
}

/// Same as [`gitlab_ci_local_validate`] for a single file (copied in as `.gitlab-ci.yml`).
pub fn gitlab_ci_local_validate_file(file: impl AsRef<Path>) -> String {
    let file = file.as_ref();
    assert_exists(file);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(file, tmp.path().join(".gitlab-ci.yml")).unwrap();
    gitlab_ci_local_validate(tmp.path())
}

/// Absolute path of a program on PATH.
pub fn which(program: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{program} not found on PATH"))
}

/// Every checker that applies to a generated file of the given CI system, in one call.
/// `ci` is `github`, `gitlab`, `drone` or `woodpecker`; for the last two this includes the
/// runners' own variable substitution (`crate::envsubst`, an oracle of drone/envsubst).
pub fn check_all(ci: &str, path: impl AsRef<Path>) {
    let path = path.as_ref();
    yamllint(path);
    match ci {
        "github" => {
            check_jsonschema("vendor.github-workflows", path, false);
            actionlint(&[path]);
            zizmor_offline(&[path]);
        }
        "gitlab" => {
            check_jsonschema("vendor.gitlab-ci", path, true);
            gitlab_ci_local_validate_file(path);
        }
        "drone" | "woodpecker" => {
            // Both runners substitute the whole file first (drone/envsubst v1.0.3): the file must
            // survive that, reference no variable, and still be YAML afterwards.
            let text = std::fs::read_to_string(path).unwrap();
            crate::envsubst::runner_view(&path.display().to_string(), &text, &[]);
            check_jsonschema(&format!("vendor.{ci}-ci"), path, false);
        }
        other => panic!("unknown CI system {other:?}"),
    }
}

/// The gen-pipeline binary under test, with the CI variables of whatever CI runs the tests
/// removed: generated files must not depend on it.
pub fn gen_pipeline() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gen-pipeline"));
    for (k, _) in std::env::vars() {
        if k.starts_with("CI_") || k.starts_with("GITHUB_") || k.starts_with("DRONE_") || k == "CI"
        {
            c.env_remove(k);
        }
    }
    c
}

/// Runs git in `dir` with a throwaway identity; panics with its stderr on failure.
pub fn git(dir: &Path, args: &[&str]) {
    let (desc, out) = run_tool(
        Command::new("git")
            .current_dir(dir)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@gen-pipeline.invalid",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args),
    );
    assert!(
        out.status.success(),
        "{desc}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A copy of this repository's git-tracked files, as they are in the working tree, committed on
/// `branch` in a new repository: tests that need a whole checkout leave the real one untouched.
pub fn tracked_copy(prefix: &str, branch: &str) -> tempfile::TempDir {
    let root = repo_root();
    let out = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(out.status.success());
    let tmp = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    for rel in out.stdout.split(|b| *b == 0).filter(|s| !s.is_empty()) {
        let rel = Path::new(std::str::from_utf8(rel).unwrap());
        let from = root.join(rel);
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        let to = tmp.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
    }
    git_init_commit(tmp.path(), branch);
    tmp
}

/// Runs gen-pipeline in `dir` with `args`; panics with its stderr unless it succeeds.
pub fn gen_ok<I, S>(dir: impl AsRef<Path>, args: I) -> std::process::Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = gen_pipeline().current_dir(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
