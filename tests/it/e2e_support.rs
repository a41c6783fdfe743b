//! End-to-end support: a real registry, locally made base images, and isolated buildah builders.
//! Thin Rust wrappers over the scripts in `tests/e2e/` (which the benchmark can use directly).
//! Everything here needs root (mount namespaces, `/etc/containers/certs.d`), like `.ci/run`.
#![allow(dead_code)]

use crate::tools::{repo_root, run_tool};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn script(name: &str) -> PathBuf {
    repo_root().join("tests/e2e").join(name)
}

#[track_caller]
fn ok(desc_out: (String, Output)) -> String {
    let (desc, out) = desc_out;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        panic!(
            "`{desc}` failed ({})\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    stdout
}

fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("export ").or(Some(l.trim())))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

/// Bytes moved through the registry, from its access log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Sum of the bodies of successful `GET .../blobs/...` responses.
    pub pulled_bytes: u64,
    /// Sum of the uploaded sizes of completed blob uploads (`PUT .../blobs/uploads/...`; the size
    /// is the `Offset` in the upload's `_state`). Cross-repository mounts move no bytes.
    pub pushed_bytes: u64,
    pub blob_pulls: u64,
    pub blob_pushes: u64,
    pub manifest_pushes: u64,
}

/// A running Debian `docker-registry` with TLS (self-signed, trusted via certs.d) and htpasswd auth.
/// Stopped (by PID) and untrusted again on drop; its storage lives in a temp dir.
pub struct Registry {
    state: tempfile::TempDir,
    host: String,
    user: String,
    password: String,
    ca: PathBuf,
    log: PathBuf,
}

impl Registry {
    /// Starts a registry on a free 127.0.0.1 port and waits until it answers authenticated requests.
    pub fn start() -> Registry {
        // A free port is picked by binding :0 and closing it, so another process may grab it
        // before the registry binds: retry a few times.
        let mut attempt = 0;
        let (state, out) = loop {
            attempt += 1;
            let state = tempfile::Builder::new()
                .prefix("gp-registry-")
                .tempdir()
                .unwrap();
            let (desc, o) = run_tool(
                Command::new(script("registry.sh"))
                    .arg("start")
                    .arg(state.path()),
            );
            if o.status.success() || attempt == 3 {
                break (state, ok((desc, o)));
            }
        };
        let env = parse_env(&out);
        let get = |k: &str| {
            env.get(k)
                .unwrap_or_else(|| panic!("registry.sh did not print {k}:\n{out}"))
                .clone()
        };
        Registry {
            host: get("REGISTRY"),
            user: get("REGISTRY_USER"),
            password: get("REGISTRY_PASSWORD"),
            ca: PathBuf::from(get("REGISTRY_CA")),
            log: PathBuf::from(get("REGISTRY_LOG")),
            state,
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> &str {
        &self.host
    }
    pub fn user(&self) -> &str {
        &self.user
    }
    pub fn password(&self) -> &str {
        &self.password
    }
    /// The CA certificate (also installed in `/etc/containers/certs.d/<host>/ca.crt`).
    pub fn ca_cert(&self) -> &Path {
        &self.ca
    }
    /// The registry's combined log (access-log lines start with `127.0.0.1 - `).
    pub fn log_path(&self) -> &Path {
        &self.log
    }
    pub fn storage_dir(&self) -> PathBuf {
        self.state.path().join("storage")
    }
    /// `<host>/<repo>`.
    pub fn image(&self, repo: &str) -> String {
        format!("{}/{}", self.host, repo)
    }

    /// GET (or HEAD) `https://<host><path>` with basic auth; returns (status, headers lower-cased, body).
    pub fn api(
        &self,
        method: &str,
        path: &str,
        accept: &[&str],
    ) -> (u16, BTreeMap<String, String>, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-D", "-", "-X", method])
            .arg("--cacert")
            .arg(&self.ca)
            .arg("-u")
            .arg(format!("{}:{}", self.user, self.password));
        if method == "HEAD" {
            cmd.arg("-I");
        }
        for a in accept {
            cmd.arg("-H").arg(format!("Accept: {a}"));
        }
        cmd.arg(format!("https://{}{}", self.host, path));
        let text = ok(run_tool(&mut cmd));
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status from {path}:\n{text}"));
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        (status, headers, body.to_string())
    }

    fn get_json(&self, path: &str, accept: &[&str]) -> serde_json::Value {
        let (status, _, body) = self.api("GET", path, accept);
        assert_eq!(status, 200, "GET {path} -> {status}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: bad JSON ({e}): {body}"))
    }

    /// Repositories, from `/v2/_catalog` (sorted).
    pub fn catalog(&self) -> Vec<String> {
        let v = self.get_json("/v2/_catalog?n=1000", &[]);
        let mut r: Vec<String> = v["repositories"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(String::from))
            .collect();
        r.sort();
        r
    }

    /// Tags of `repo` (sorted); empty when the repository does not exist.
    pub fn tags(&self, repo: &str) -> Vec<String> {
        let (status, _, body) = self.api("GET", &format!("/v2/{repo}/tags/list"), &[]);
        if status == 404 {
            return Vec::new();
        }
        assert_eq!(status, 200, "tags of {repo}: {status} {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let mut r: Vec<String> = v["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(String::from))
            .collect();
        r.sort();
        r
    }

    /// The manifest of `repo:reference` (tag or digest) as stored, with its digest.
    pub fn manifest(&self, repo: &str, reference: &str) -> (String, serde_json::Value) {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let (status, headers, body) = self.api("GET", &path, MANIFEST_TYPES);
        assert_eq!(status, 200, "GET {path} -> {status}: {body}");
        let digest = headers
            .get("docker-content-digest")
            .cloned()
            .unwrap_or_else(|| panic!("no Docker-Content-Digest for {path}"));
        (digest, serde_json::from_str(&body).unwrap())
    }

    /// The digest that `repo:tag` points to (what `--digestfile` wrote when it was pushed).
    pub fn manifest_digest(&self, repo: &str, tag: &str) -> String {
        self.manifest(repo, tag).0
    }

    /// The single-platform image manifest behind `repo:reference` (an index resolves to its
    /// linux/amd64 entry, or its first entry).
    pub fn image_manifest(&self, repo: &str, reference: &str) -> serde_json::Value {
        let (_, m) = self.manifest(repo, reference);
        match m.get("manifests").and_then(|x| x.as_array()) {
            Some(list) => {
                let pick = list
                    .iter()
                    .find(|e| {
                        e["platform"]["architecture"] == "amd64" && e["platform"]["os"] == "linux"
                    })
                    .or_else(|| list.first())
                    .unwrap_or_else(|| panic!("empty index for {repo}@{reference}"));
                self.manifest(repo, pick["digest"].as_str().unwrap()).1
            }
            None => m,
        }
    }

    /// Layer digests of `repo:reference`, bottom first.
    pub fn layers(&self, repo: &str, reference: &str) -> Vec<String> {
        let m = self.image_manifest(repo, reference);
        m["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| l["digest"].as_str().unwrap().to_string())
            .collect()
    }

    /// Every path in the layers of `repo:reference` (as `tar -t` lists them, `./` stripped).
    pub fn files(&self, repo: &str, reference: &str) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        for (i, digest) in self.layers(repo, reference).iter().enumerate() {
            let blob = dir.path().join(format!("layer{i}"));
            ok(run_tool(
                Command::new("curl")
                    .args(["-fsSL", "-o"])
                    .arg(&blob)
                    .arg("--cacert")
                    .arg(&self.ca)
                    .arg("-u")
                    .arg(format!("{}:{}", self.user, self.password))
                    .arg(format!("https://{}/v2/{repo}/blobs/{digest}", self.host)),
            ));
            let list = ok(run_tool(Command::new("tar").arg("-tf").arg(&blob)));
            out.extend(
                list.lines()
                    .map(|l| l.trim_start_matches("./").to_string())
                    .filter(|l| !l.is_empty()),
            );
        }
        out
    }

    /// The image config blob of `repo:reference` (`config.Env`, `rootfs.diff_ids`, `history`, ...).
    pub fn config(&self, repo: &str, reference: &str) -> serde_json::Value {
        let m = self.image_manifest(repo, reference);
        let digest = m["config"]["digest"].as_str().unwrap().to_string();
        self.get_json(&format!("/v2/{repo}/blobs/{digest}"), &[])
    }

    /// True when the image `repo:reference` was built on top of `base_repo@base_digest`: the base's
    /// layers are a strict-or-equal prefix of the image's layers.
    pub fn built_on(
        &self,
        repo: &str,
        reference: &str,
        base_repo: &str,
        base_digest: &str,
    ) -> bool {
        let base = self.layers(base_repo, base_digest);
        let img = self.layers(repo, reference);
        !base.is_empty() && img.len() >= base.len() && img[..base.len()] == base[..]
    }

    /// Raw access-log lines so far.
    pub fn access_log(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("127.0.0.1 - "))
            .map(String::from)
            .collect()
    }

    /// Bytes pulled/pushed since the registry started (diff two snapshots for one run).
    pub fn traffic(&self) -> Traffic {
        traffic_from_log(&self.access_log())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = Command::new(script("registry.sh"))
            .arg("stop")
            .arg(self.state.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// Parses access-log lines (`"METHOD URI PROTO" STATUS BYTES ...`).
pub fn traffic_from_log(lines: &[String]) -> Traffic {
    let mut t = Traffic::default();
    for l in lines {
        let Some((_, rest)) = l.split_once('"') else {
            continue;
        };
        let Some((req, rest)) = rest.split_once('"') else {
            continue;
        };
        let mut req = req.split_whitespace();
        let (method, uri) = (req.next().unwrap_or(""), req.next().unwrap_or(""));
        let mut nums = rest.split_whitespace();
        let status: u16 = nums.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let bytes: u64 = nums.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        if method == "GET" && status == 200 && uri.contains("/blobs/sha256:") {
            t.pulled_bytes += bytes;
            t.blob_pulls += 1;
        } else if method == "PUT" && status == 201 && uri.contains("/blobs/uploads/") {
            t.blob_pushes += 1;
            t.pushed_bytes += upload_offset(uri).unwrap_or(0);
        } else if method == "PUT" && status == 201 && uri.contains("/manifests/") {
            t.manifest_pushes += 1;
        }
    }
    t
}

/// distribution's `_state` query parameter is URL-escaped base64url(HMAC || JSON) with `"Offset":N`.
fn upload_offset(uri: &str) -> Option<u64> {
    let state = uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("_state="))?;
    let state = state.replace("%3D", "=").replace("%3d", "=");
    // base64url is base64 with `-_` for `+/`: the library's decoder reads it once mapped back.
    let raw = gen_pipeline::registry::base64_decode(&state.replace('-', "+").replace('_', "/"))?;
    let text = String::from_utf8_lossy(&raw);
    let at = text.find("\"Offset\":")? + "\"Offset\":".len();
    text[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect::<String>()
        .parse()
        .ok()
}

#[test]
fn upload_offset_reads_distributions_base64url_state() {
    // HMAC bytes that encode to `-` and `_` (base64url's own digits), then distribution's JSON.
    let mut raw = vec![0xfb, 0xef, 0xff, 0xfe];
    raw.extend_from_slice(
        br#"{"Name":"a/b","UUID":"u","Offset":1234,"StartedAt":"2024-01-01T00:00:00Z" }"#,
    );
    let state = gen_pipeline::registry::base64_encode(&raw)
        .replace('+', "-")
        .replace('/', "_")
        .replace('=', "%3D");
    assert!(
        state.starts_with("--__") && state.ends_with("%3D"),
        "{state}"
    );
    let uri = format!("/v2/a/b/blobs/uploads/u?_state={state}&digest=sha256:0");
    assert_eq!(upload_offset(&uri), Some(1234));
}

/// An isolated buildah environment, like an ephemeral runner (see `tests/e2e/fresh-builder.sh`):
/// `bin_dir()/buildah` runs buildah with its own `--root/--runroot`, auth file and a private
/// blob-info cache bind-mounted over `/var/lib/containers/cache` in its own mount namespace.
pub struct Builder {
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
}

impl Builder {
    /// One fresh builder for a whole pipeline run: every job shares its storage.
    pub fn fresh() -> Builder {
        Self::make(false)
    }

    /// A fresh builder per job, like hosted runners (a new VM per job): the wrapper keys storage,
    /// auth and blob-info cache on `GITHUB_JOB` / `CI_JOB_NAME` / `DRONE_STEP_NAME` / `CI_STEP_NAME`
    /// (`GP_BUILDER_PER_JOB=1`), so a job can only reuse another job's work through the registry.
    /// Direct calls outside a CI job use `jobs/default`.
    pub fn fresh_per_job() -> Builder {
        Self::make(true)
    }

    fn make(per_job: bool) -> Builder {
        let dir = tempfile::Builder::new()
            .prefix("gp-builder-")
            .tempdir()
            .unwrap();
        ok(run_tool(
            Command::new(script("fresh-builder.sh")).arg(dir.path()),
        ));
        let path = format!(
            "{}:{}",
            dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into())
        );
        let env = BTreeMap::from([
            ("PATH".to_string(), path),
            ("BUILDAH_ISOLATION".to_string(), "chroot".to_string()),
            (
                "REGISTRY_AUTH_FILE".to_string(),
                dir.path().join("auth.json").display().to_string(),
            ),
            (
                "GP_BUILDER_PER_JOB".to_string(),
                if per_job { "1" } else { "0" }.to_string(),
            ),
        ]);
        Builder { dir, env }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    /// Put first on PATH: holds the `buildah` wrapper.
    pub fn bin_dir(&self) -> PathBuf {
        self.dir.path().join("bin")
    }
    /// Environment for anything that should use this builder (PATH, BUILDAH_ISOLATION, REGISTRY_AUTH_FILE).
    pub fn env(&self) -> &BTreeMap<String, String> {
        &self.env
    }
    /// A `Command` for `program` with this builder's environment applied.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.envs(&self.env);
        c
    }
    /// Runs `buildah ARGS` through the wrapper; panics with the full output on failure. Returns
    /// stdout+stderr (buildah prints "Using cache"/"Cache pulled from remote" on stdout/stderr).
    #[track_caller]
    pub fn buildah<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> String {
        let (desc, out) = run_tool(self.command(self.bin_dir().join("buildah")).args(args));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "`{desc}` failed ({}):\n{text}",
            out.status
        );
        text
    }
    /// Every buildah call made through the wrapper so far: `(job, arguments)`.
    pub fn calls(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.dir.path().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let (job, args) = l.split_once(' ').unwrap_or((l, ""));
                (job.to_string(), args.to_string())
            })
            .collect()
    }
    /// The jobs that ran a build (`buildah bud` / `buildah build`) so far, one entry per build.
    pub fn builds(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|(_, a)| {
                let sub = a.split_whitespace().next().unwrap_or("");
                sub == "bud" || sub == "build" || sub == "build-using-dockerfile"
            })
            .map(|(j, _)| j)
            .collect()
    }
    /// Forget the calls logged so far.
    pub fn clear_calls(&self) {
        let _ = std::fs::remove_file(self.dir.path().join("calls.log"));
    }
    /// `buildah login -u U --password-stdin HOST` into this builder's auth file.
    pub fn login(&self, reg: &Registry) {
        use std::io::Write;
        let mut child = self
            .command(self.bin_dir().join("buildah"))
            .args(["login", "-u", reg.user(), "--password-stdin", reg.host()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(reg.password().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        ok(("buildah login".into(), out));
    }
}

/// A base image pushed to a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImage {
    /// `<host>/library/busybox:1`
    pub reference: String,
    /// `<host>/library/busybox`
    pub repository: String,
    /// `sha256:...` of the pushed manifest
    pub digest: String,
}

impl BaseImage {
    /// `<repository>@<digest>`
    pub fn pinned(&self) -> String {
        format!("{}@{}", self.repository, self.digest)
    }
}

/// Makes the busybox base image locally (`tests/e2e/base-image.sh`) and pushes it as
/// `<host>/library/busybox:1`, using a throw-away builder. Returns its reference and digest.
pub fn push_base_image(reg: &Registry) -> BaseImage {
    push_base_image_as(reg, "library/busybox", "1")
}

/// The busybox base image of [`push_base_image`], pushed as `<host>/<repo>:<tag>` instead: a
/// stand-in for an external base (`node:22-alpine`, ...) that cannot be pulled here.
pub fn push_base_image_as(reg: &Registry, repo: &str, tag: &str) -> BaseImage {
    let b = Builder::fresh();
    b.login(reg);
    let reference = format!("{}/{repo}:{tag}", reg.host());
    let out = ok(run_tool(b.command(script("base-image.sh")).arg(&reference)));
    let pinned = out.trim().lines().last().unwrap_or("").to_string();
    let (repository, digest) = pinned
        .split_once('@')
        .unwrap_or_else(|| panic!("base-image.sh printed no digest:\n{out}"));
    assert_eq!(
        reg.manifest_digest(repo, tag),
        digest,
        "registry disagrees with --digestfile"
    );
    BaseImage {
        reference,
        repository: repository.to_string(),
        digest: digest.to_string(),
    }
}

/// Counts of buildah build-output lines, to tell which steps ran and which came from cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepStats {
    /// `STEP n/m: RUN ...` lines that were executed (not followed by "Using cache").
    pub run_executed: usize,
    /// `RUN` steps answered from the local or registry cache.
    pub run_cached: usize,
    /// "Cache pulled from remote" lines (cache layers taken from `--cache-from`).
    pub remote_cache_pulls: usize,
    /// "Pushing cache" lines.
    pub cache_pushes: usize,
}

/// Parses `buildah bud --layers` output. A step is cached when a "--> Using cache" line follows its
/// `STEP` line before the next `STEP` line.
pub fn step_stats(output: &str) -> StepStats {
    let mut s = StepStats::default();
    let mut pending_run: Option<bool> = None; // Some(cached?) for the current RUN step
    let flush = |s: &mut StepStats, p: Option<bool>| match p {
        Some(true) => s.run_cached += 1,
        Some(false) => s.run_executed += 1,
        None => {}
    };
    for line in output.lines() {
        if let Some(idx) = line.find("STEP ") {
            if line[idx..].contains(": ") {
                flush(&mut s, pending_run.take());
                let instr = line[idx..].split_once(": ").map(|x| x.1).unwrap_or("");
                if instr.starts_with("RUN ") {
                    pending_run = Some(false);
                }
                continue;
            }
        }
        if line.starts_with("--> Using cache") {
            if let Some(p) = pending_run.as_mut() {
                *p = true;
            }
        }
        if line.starts_with("--> Cache pulled from remote") {
            s.remote_cache_pulls += 1;
        }
        if line.starts_with("--> Pushing cache") {
            s.cache_pushes += 1;
        }
    }
    flush(&mut s, pending_run);
    s
}

// ---------------------------------------------------------------------------------------------
// Pipeline runners: act (GitHub Actions) and gitlab-ci-local (GitLab CI), on the host.

/// The actions that have a local stand-in under `tests/fixtures/actions/`.
pub const STAND_IN_ACTIONS: &[&str] = &[
    "docker/setup-buildx-action",
    "docker/login-action",
    "docker/build-push-action",
];

/// `--local-repository owner/repo@REF=DIR` for every stand-in action the workflow text uses. act
/// matches `owner/repo@REF` literally, so REF is taken from the workflow (a full SHA when pinned).
pub fn act_local_repository_args(workflow: &str) -> Vec<String> {
    let dir = repo_root().join("tests/fixtures/actions");
    let mut out = std::collections::BTreeSet::new();
    for line in workflow.lines() {
        let l = line.trim_start().trim_start_matches("- ").trim_start();
        let Some(rest) = l.strip_prefix("uses:") else {
            continue;
        };
        let spec = rest.trim().trim_matches(|c| c == '"' || c == '\'');
        let spec = spec.split_whitespace().next().unwrap_or("");
        let Some((action, r#ref)) = spec.split_once('@') else {
            continue;
        };
        if STAND_IN_ACTIONS.contains(&action) {
            let name = action.rsplit('/').next().unwrap();
            out.insert(format!("{action}@{ref}={}", dir.join(name).display()));
        }
    }
    out.into_iter()
        .flat_map(|a| ["--local-repository".to_string(), a])
        .collect()
}

/// Outputs set by steps, per job, parsed from act's log (`[<workflow>/<job>] ... ::set-output:: k=v`).
/// The last value wins (composite actions re-emit their outputs).
pub fn act_outputs(log: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut jobs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for line in log.lines() {
        let Some(rest) = line.strip_prefix('[') else {
            continue;
        };
        let Some((label, rest)) = rest.split_once(']') else {
            continue;
        };
        let Some((_, kv)) = rest.split_once("::set-output:: ") else {
            continue;
        };
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        // `<workflow>/<job name>`: the job name may hold a `/` itself (`build app linux/386`).
        let label = label.trim();
        let job = label
            .split_once('/')
            .map_or(label, |(_, name)| name)
            .trim()
            .to_string();
        jobs.entry(job)
            .or_default()
            .insert(k.to_string(), v.to_string());
    }
    jobs
}

/// A finished pipeline run: the full log and the checkout it ran in (kept until dropped).
pub struct PipelineRun {
    pub log: String,
    pub checkout: tempfile::TempDir,
}

impl PipelineRun {
    /// `(deps, app)`-style digests from `E2E-RESULT k=v ...` lines printed by fixtures.
    pub fn result_fields(&self) -> BTreeMap<String, String> {
        self.log
            .lines()
            .filter_map(|l| l.split_once("E2E-RESULT ").map(|x| x.1))
            .flat_map(|r| r.split_whitespace())
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// Copies `project` into a fresh git checkout on `branch` (one commit, `origin` remote).
pub fn checkout_of(project: &Path, branch: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("gp-checkout-")
        .tempdir()
        .unwrap();
    crate::tools::copy_tree(project, dir.path());
    crate::tools::git_init_commit(dir.path(), branch);
    dir
}

fn run_logged(mut cmd: Command, what: &str) -> String {
    let (desc, out) = run_tool(&mut cmd);
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{what} failed ({}): `{desc}`\n{log}",
        out.status
    );
    log
}

/// act on the host (`-P ubuntu-latest=-self-hosted`, `--no-cache-server`) with the stand-in actions,
/// the registry as `vars.REGISTRY` and its credentials as `secrets.REGISTRY_USER` / `REGISTRY_PASSWORD`.
pub struct Act {
    pub event: String,
    pub branch: String,
    pub vars: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    pub extra_args: Vec<String>,
}

impl Act {
    pub fn for_registry(reg: &Registry, branch: &str) -> Act {
        Act {
            event: "push".into(),
            branch: branch.into(),
            vars: BTreeMap::from([("REGISTRY".to_string(), reg.host().to_string())]),
            secrets: BTreeMap::from([
                ("REGISTRY_USER".to_string(), reg.user().to_string()),
                ("REGISTRY_PASSWORD".to_string(), reg.password().to_string()),
            ]),
            extra_args: Vec::new(),
        }
    }

    /// The full `act` command for a checkout (workflows read from `.github/workflows/`).
    pub fn command(&self, checkout: &Path, builder: &Builder) -> Command {
        let mut workflows = String::new();
        let wf_dir = checkout.join(".github/workflows");
        for e in std::fs::read_dir(&wf_dir).unwrap_or_else(|e| panic!("{}: {e}", wf_dir.display()))
        {
            workflows.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap_or_default());
            workflows.push('\n');
        }
        let mut cmd = builder.command("act");
        // The stand-in `docker` (buildx imagetools only) the workflow's first job calls.
        let standin = crate::tools::repo_root().join("tests/fixtures/actions/docker-cli");
        let path = builder.env().get("PATH").cloned().unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", standin.display()));
        cmd.current_dir(checkout)
            .arg(&self.event)
            .args([
                "-P",
                "ubuntu-latest=-self-hosted",
                "--no-cache-server",
                "--defaultbranch",
                "main",
            ])
            .args(act_local_repository_args(&workflows));
        for (k, v) in &self.vars {
            cmd.arg("--var").arg(format!("{k}={v}"));
        }
        for (k, v) in &self.secrets {
            cmd.arg("-s").arg(format!("{k}={v}"));
        }
        cmd.args(&self.extra_args);
        cmd
    }

    /// Runs the workflow(s) of `project` on a fresh checkout; panics with act's full log on failure.
    pub fn run(&self, project: &Path, builder: &Builder) -> PipelineRun {
        let checkout = checkout_of(project, &self.branch);
        let log = run_logged(self.command(checkout.path(), builder), "act");
        PipelineRun { log, checkout }
    }
}

/// gitlab-ci-local with the shell executor and the `CI_*` variables of a branch pipeline against the
/// registry (`CI_REGISTRY*`, `CI_COMMIT_REF_NAME`/`_SLUG`, `CI_DEFAULT_BRANCH` are set explicitly:
/// gitlab-ci-local does not derive the slug and invents `CI_REGISTRY_IMAGE`).
pub struct GitlabCiLocal {
    pub branch: String,
    pub variables: BTreeMap<String, String>,
    pub extra_args: Vec<String>,
}

/// GitLab's `CI_COMMIT_REF_SLUG`: lower-cased, non-`[a-z0-9]` -> `-`, at most 63 chars, no `-` at the ends.
pub fn ref_slug(name: &str) -> String {
    let s: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(63)
        .collect();
    s.trim_matches('-').to_string()
}

impl GitlabCiLocal {
    pub fn for_registry(reg: &Registry, branch: &str) -> GitlabCiLocal {
        let variables = BTreeMap::from(
            [
                ("CI_REGISTRY", reg.host().to_string()),
                ("CI_REGISTRY_IMAGE", format!("{}/group/project", reg.host())),
                ("CI_REGISTRY_USER", reg.user().to_string()),
                ("CI_REGISTRY_PASSWORD", reg.password().to_string()),
                ("CI_COMMIT_REF_NAME", branch.to_string()),
                ("CI_COMMIT_BRANCH", branch.to_string()),
                ("CI_COMMIT_REF_SLUG", ref_slug(branch)),
                ("CI_DEFAULT_BRANCH", "main".to_string()),
                ("CI_PIPELINE_SOURCE", "push".to_string()),
            ]
            .map(|(k, v)| (k.to_string(), v)),
        );
        GitlabCiLocal {
            branch: branch.into(),
            variables,
            extra_args: Vec::new(),
        }
    }

    pub fn command(&self, checkout: &Path, builder: &Builder) -> Command {
        let mut cmd = builder.command("gitlab-ci-local");
        cmd.current_dir(checkout).arg("--force-shell-executor");
        let names: Vec<&str> = self.variables.keys().map(String::as_str).collect();
        cmd.arg("--ignore-predefined-vars").arg(names.join(","));
        for (k, v) in &self.variables {
            cmd.arg("--variable").arg(format!("{k}={v}"));
        }
        cmd.args(&self.extra_args);
        cmd
    }

    /// Runs `<project>/.gitlab-ci.yml` on a fresh checkout; panics with the full log on failure.
    pub fn run(&self, project: &Path, builder: &Builder) -> PipelineRun {
        let checkout = checkout_of(project, &self.branch);
        let log = run_logged(self.command(checkout.path(), builder), "gitlab-ci-local");
        PipelineRun { log, checkout }
    }
}

/// The repository the e2e project's pipelines push a stage to (issue 10's naming): the shared
/// `deps` stage, handed on only by digest, under `stages/`; the final stage `app2` as the image
/// itself; the other target `app1` under its name.
pub fn stage_repo(stage: &str) -> String {
    match stage {
        "deps" => "group/project/stages/deps".to_string(),
        "app2" => "group/project".to_string(),
        other => format!("group/project/{other}"),
    }
}
