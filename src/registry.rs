//! A small blocking client for the OCI distribution API, for `gen-pipeline gc` (the edge: HTTP
//! and credential files; [`crate::gc`] decides).
//!
//! - Tag and repository listing with `Link` pagination (`GET /v2/<name>/tags/list`,
//!   `GET /v2/_catalog`), manifests by tag with the manifest media types in `Accept` (the digest
//!   is `Docker-Content-Digest`, else the SHA-256 of the body), the image config's `created`
//!   (an index: its first manifest's), and `DELETE /v2/<name>/manifests/<digest>`.
//! - Auth: the `WWW-Authenticate` challenge of a 401 decides: `Basic` sends the credentials,
//!   `Bearer realm=…,service=…` fetches a token for the request's scope (with the credentials
//!   as Basic auth when there are some) — see the distribution token spec
//!   (distribution/distribution `docs/spec/auth/token.md`).
//! - Credentials: `auths` of the first of `$REGISTRY_AUTH_FILE`,
//!   `$XDG_RUNTIME_DIR/containers/auth.json`, `$DOCKER_CONFIG/config.json` (else
//!   `~/.docker/config.json`) that has an entry for the host (`auth` base64 `user:password`, or
//!   `username`/`password`). Credential helpers (`credsStore`, `credHelpers`) are not run.
//! - TLS: Mozilla's roots (webpki-roots); `--ca-file FILE` trusts FILE's certificates plus the
//!   system bundle (`/etc/ssl/certs/ca-certificates.crt` when present); without it,
//!   `SSL_CERT_FILE` replaces the roots.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

/// Why a registry call failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{method} {url}: HTTP {status}{}", if .body.is_empty() { String::new() } else { format!(": {}", .body) })]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        body: String,
    },
    #[error("{method} {url}: {message}")]
    Transport {
        method: &'static str,
        url: String,
        message: String,
    },
    #[error("{url}: authentication failed: {message}")]
    Auth { url: String, message: String },
    #[error("{url}: unexpected response: {message}")]
    BadResponse { url: String, message: String },
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("`{0}` is not a repository `host/path`")]
    BadRepository(String),
    #[error("{registry} does not support deleting manifests (HTTP 405: for the Distribution registry, set `storage: delete: enabled: true`)")]
    DeleteDisabled { registry: String },
}

/// Accept header for manifests: OCI and Docker, single-platform and lists.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// `user:password` for one registry host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// A registry client (one per gc run).
pub struct Client {
    agent: ureq::Agent,
    auth_files: Vec<PathBuf>,
    creds: HashMap<String, Option<Credentials>>,
    /// `(host, scope)` → `Authorization` header value.
    tokens: HashMap<(String, String), String>,
}

/// `host` and `path` of `host/path`.
pub fn split_repository(repo: &str) -> Result<(&str, &str), RegistryError> {
    match repo.split_once('/') {
        Some((h, p)) if !h.is_empty() && !p.is_empty() => Ok((h, p)),
        _ => Err(RegistryError::BadRepository(repo.to_string())),
    }
}

fn api_host(host: &str) -> &str {
    if host == "docker.io" || host == "index.docker.io" {
        "registry-1.docker.io"
    } else {
        host
    }
}

fn read_certs(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, RegistryError> {
    let bytes = std::fs::read(path).map_err(|e| RegistryError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&bytes) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(RegistryError::File {
                    path: path.display().to_string(),
                    message: format!("not a PEM certificate file: {e}"),
                })
            }
        }
    }
    if certs.is_empty() {
        return Err(RegistryError::File {
            path: path.display().to_string(),
            message: "no PEM certificate in it".into(),
        });
    }
    Ok(certs)
}

/// The credential files, in the order they are read (see the module documentation).
pub fn default_auth_files(env: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(f) = env("REGISTRY_AUTH_FILE").filter(|v| !v.is_empty()) {
        files.push(PathBuf::from(f));
    }
    if let Some(d) = env("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        files.push(Path::new(&d).join("containers/auth.json"));
    }
    match env("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(d) => files.push(Path::new(&d).join("config.json")),
        None => {
            if let Some(h) = env("HOME").filter(|v| !v.is_empty()) {
                files.push(Path::new(&h).join(".docker/config.json"));
            }
        }
    }
    files
}

/// The credentials for `host` in one docker/containers auth file's text (`None`: no entry).
pub fn credentials_in(text: &str, host: &str) -> Result<Option<Credentials>, String> {
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let Some(auths) = doc.get("auths").and_then(|a| a.as_object()) else {
        return Ok(None);
    };
    let wanted = [
        host.to_string(),
        format!("https://{host}"),
        format!("http://{host}"),
        format!("https://{host}/v1/"),
        format!("https://{host}/v2/"),
    ];
    let docker_hub = ["https://index.docker.io/v1/".to_string()];
    let keys = if matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    ) {
        &docker_hub[..]
    } else {
        &wanted[..]
    };
    for k in keys {
        let Some(entry) = auths.get(k) else { continue };
        if let Some(auth) = entry
            .get("auth")
            .and_then(|a| a.as_str())
            .filter(|a| !a.is_empty())
        {
            let raw = base64_decode(auth).ok_or_else(|| format!("auths.{k}.auth is not base64"))?;
            let s = String::from_utf8(raw).map_err(|_| format!("auths.{k}.auth is not UTF-8"))?;
            let (u, p) = s
                .split_once(':')
                .ok_or_else(|| format!("auths.{k}.auth is not `user:password`"))?;
            return Ok(Some(Credentials {
                username: u.to_string(),
                password: p.to_string(),
            }));
        }
        if let (Some(u), Some(p)) = (
            entry.get("username").and_then(|v| v.as_str()),
            entry.get("password").and_then(|v| v.as_str()),
        ) {
            return Ok(Some(Credentials {
                username: u.to_string(),
                password: p.to_string(),
            }));
        }
    }
    Ok(None)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The parameters of a `WWW-Authenticate` challenge: the scheme and `key="value"` pairs.
pub fn parse_challenge(h: &str) -> (String, HashMap<String, String>) {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((k, after)) = rest.split_once('=') else {
            break;
        };
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        params.insert(k, v.to_string());
        rest = next.trim_start_matches([',', ' ']);
    }
    (scheme.to_ascii_lowercase(), params)
}

/// The next page of a `Link: <url>; rel="next"` header, resolved against `base` (`https://host`).
pub fn next_link(link: &str, base: &str) -> Option<String> {
    for part in link.split(',') {
        let part = part.trim();
        if !part.contains("rel=\"next\"") && !part.contains("rel=next") {
            continue;
        }
        let url = part.strip_prefix('<')?.split('>').next()?;
        return Some(if url.starts_with('/') {
            format!("{base}{url}")
        } else {
            url.to_string()
        });
    }
    None
}

struct Reply {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

impl Client {
    /// A client trusting `ca_file` (plus the system bundle) or `SSL_CERT_FILE`, reading
    /// credentials from `auth_files`.
    pub fn new(
        ca_file: Option<&Path>,
        ssl_cert_file: Option<&Path>,
        auth_files: Vec<PathBuf>,
    ) -> Result<Client, RegistryError> {
        let roots = match (ca_file, ssl_cert_file) {
            (Some(ca), _) => {
                let mut certs = read_certs(ca)?;
                let system = Path::new("/etc/ssl/certs/ca-certificates.crt");
                if system.is_file() {
                    certs.extend(read_certs(system).unwrap_or_default());
                }
                ureq::tls::RootCerts::new_with_certs(&certs)
            }
            (None, Some(f)) => ureq::tls::RootCerts::new_with_certs(&read_certs(f)?),
            (None, None) => ureq::tls::RootCerts::WebPki,
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .user_agent(concat!("gen-pipeline/", env!("CARGO_PKG_VERSION")))
            .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
            .build();
        Ok(Client {
            agent: config.into(),
            auth_files,
            creds: HashMap::new(),
            tokens: HashMap::new(),
        })
    }

    fn credentials(&mut self, host: &str) -> Result<Option<Credentials>, RegistryError> {
        if let Some(c) = self.creds.get(host) {
            return Ok(c.clone());
        }
        let mut found = None;
        for f in &self.auth_files {
            let Ok(text) = std::fs::read_to_string(f) else {
                continue;
            };
            let c = credentials_in(&text, host).map_err(|message| RegistryError::File {
                path: f.display().to_string(),
                message,
            })?;
            if c.is_some() {
                found = c;
                break;
            }
        }
        self.creds.insert(host.to_string(), found.clone());
        Ok(found)
    }

    fn raw(
        &self,
        method: &'static str,
        url: &str,
        accept: Option<&str>,
        auth: Option<&str>,
    ) -> Result<Reply, RegistryError> {
        let mut req = ureq::http::Request::builder().method(method).uri(url);
        if let Some(a) = accept {
            req = req.header("Accept", a);
        }
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let req = req.body(()).map_err(|e| RegistryError::Transport {
            method,
            url: url.to_string(),
            message: e.to_string(),
        })?;
        let resp = self.agent.run(req).map_err(|e| RegistryError::Transport {
            method,
            url: url.to_string(),
            message: e.to_string(),
        })?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        if method != "HEAD" {
            resp.into_body()
                .into_reader()
                .take(64 * 1024 * 1024)
                .read_to_end(&mut body)
                .map_err(|e| RegistryError::Transport {
                    method,
                    url: url.to_string(),
                    message: e.to_string(),
                })?;
        }
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// One request with auth: a cached token first; on a 401, answer the challenge once.
    fn request(
        &mut self,
        method: &'static str,
        host: &str,
        url: &str,
        scope: &str,
        accept: Option<&str>,
    ) -> Result<Reply, RegistryError> {
        let key = (host.to_string(), scope.to_string());
        // A Basic login is good for the whole host; a Bearer token for its scope only.
        let basic_key = (host.to_string(), String::new());
        let cached = self
            .tokens
            .get(&key)
            .or_else(|| self.tokens.get(&basic_key))
            .cloned();
        let reply = self.raw(method, url, accept, cached.as_deref())?;
        if reply.status != 401 {
            return Ok(reply);
        }
        let challenge = reply.header("www-authenticate").unwrap_or_default();
        let (scheme, params) = parse_challenge(&challenge);
        let creds = self.credentials(host)?;
        let basic = creds.as_ref().map(|c| {
            format!(
                "Basic {}",
                base64_encode(format!("{}:{}", c.username, c.password).as_bytes())
            )
        });
        let header = match scheme.as_str() {
            "basic" => basic.ok_or_else(|| RegistryError::Auth {
                url: url.to_string(),
                message: format!("the registry asks for a login and no credential file has one for {host} (log in with `docker login` / `buildah login`)"),
            })?,
            "bearer" => {
                let realm = params.get("realm").ok_or_else(|| RegistryError::Auth {
                    url: url.to_string(),
                    message: format!("Bearer challenge without a realm: {challenge}"),
                })?;
                let mut token_url = format!("{realm}?scope={}", query_escape(scope));
                if let Some(s) = params.get("service") {
                    token_url.push_str(&format!("&service={}", query_escape(s)));
                }
                let r = self.raw("GET", &token_url, None, basic.as_deref())?;
                if r.status != 200 {
                    return Err(RegistryError::Auth {
                        url: token_url,
                        message: format!("token request answered HTTP {}", r.status),
                    });
                }
                let doc: serde_json::Value =
                    serde_json::from_slice(&r.body).map_err(|e| RegistryError::Auth {
                        url: token_url.clone(),
                        message: format!("token response is not JSON: {e}"),
                    })?;
                let token = doc
                    .get("token")
                    .or_else(|| doc.get("access_token"))
                    .and_then(|t| t.as_str())
                    .ok_or_else(|| RegistryError::Auth {
                        url: token_url.clone(),
                        message: "no token in the response".into(),
                    })?;
                format!("Bearer {token}")
            }
            _ => {
                return Err(RegistryError::Auth {
                    url: url.to_string(),
                    message: format!("unsupported challenge `{challenge}`"),
                })
            }
        };
        let reply = self.raw(method, url, accept, Some(&header))?;
        if reply.status == 401 {
            return Err(RegistryError::Auth {
                url: url.to_string(),
                message: format!("the credentials for {host} were refused"),
            });
        }
        let key = if scheme == "basic" { basic_key } else { key };
        self.tokens.insert(key, header);
        Ok(reply)
    }

    fn status_error(method: &'static str, url: &str, r: &Reply) -> RegistryError {
        let mut body = String::from_utf8_lossy(&r.body).trim().to_string();
        body.truncate(300);
        RegistryError::Status {
            method,
            url: url.to_string(),
            status: r.status,
            body,
        }
    }

    fn paged(
        &mut self,
        host: &str,
        first: String,
        scope: &str,
        field: &str,
    ) -> Result<Option<Vec<String>>, RegistryError> {
        let base = format!("https://{}", api_host(host));
        let mut url = first;
        let mut out = Vec::new();
        loop {
            let r = self.request("GET", host, &url, scope, None)?;
            if r.status == 404 {
                return Ok(None);
            }
            if r.status != 200 {
                return Err(Self::status_error("GET", &url, &r));
            }
            let doc: serde_json::Value =
                serde_json::from_slice(&r.body).map_err(|e| RegistryError::BadResponse {
                    url: url.clone(),
                    message: e.to_string(),
                })?;
            if let Some(items) = doc.get(field).and_then(|t| t.as_array()) {
                out.extend(items.iter().filter_map(|t| t.as_str().map(str::to_string)));
            }
            match r.header("link").and_then(|l| next_link(&l, &base)) {
                Some(next) if next != url => url = next,
                _ => break,
            }
        }
        Ok(Some(out))
    }

    /// Every tag of `repo` (`host/path`); an unknown repository has none.
    pub fn tags(&mut self, repo: &str) -> Result<Vec<String>, RegistryError> {
        let (host, path) = split_repository(repo)?;
        let url = format!("https://{}/v2/{path}/tags/list?n=1000", api_host(host));
        let scope = format!("repository:{path}:pull");
        Ok(self.paged(host, url, &scope, "tags")?.unwrap_or_default())
    }

    /// Every repository of `host` under `prefix/` (`/v2/_catalog`), or `None` when the registry
    /// has no catalog.
    pub fn catalog(
        &mut self,
        host: &str,
        prefix: &str,
    ) -> Result<Option<Vec<String>>, RegistryError> {
        let url = format!("https://{}/v2/_catalog?n=1000", api_host(host));
        match self.paged(host, url, "registry:catalog:*", "repositories") {
            Ok(Some(repos)) => Ok(Some(
                repos
                    .into_iter()
                    .filter(|r| r.starts_with(&format!("{prefix}/")))
                    .map(|r| format!("{host}/{r}"))
                    .collect(),
            )),
            Ok(None) => Ok(None),
            // Registries that hide the catalog answer 401/403 even with a login.
            Err(RegistryError::Auth { .. }) => Ok(None),
            Err(RegistryError::Status {
                status: 401 | 403 | 405,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn get_manifest(
        &mut self,
        host: &str,
        path: &str,
        reference: &str,
    ) -> Result<Option<(String, serde_json::Value)>, RegistryError> {
        let url = format!("https://{}/v2/{path}/manifests/{reference}", api_host(host));
        let scope = format!("repository:{path}:pull");
        let r = self.request("GET", host, &url, &scope, Some(MANIFEST_ACCEPT))?;
        if r.status == 404 {
            return Ok(None);
        }
        if r.status != 200 {
            return Err(Self::status_error("GET", &url, &r));
        }
        let digest = r
            .header("docker-content-digest")
            .unwrap_or_else(|| format!("sha256:{:x}", Sha256::digest(&r.body)));
        let doc = serde_json::from_slice(&r.body).map_err(|e| RegistryError::BadResponse {
            url,
            message: e.to_string(),
        })?;
        Ok(Some((digest, doc)))
    }

    /// The digest of `repo:tag` and the image's `created` time (seconds; `None` when the
    /// manifest has no image config with one, e.g. a BuildKit cache manifest, or without
    /// `with_age`). `None` when the tag is gone.
    pub fn inspect(
        &mut self,
        repo: &str,
        tag: &str,
        with_age: bool,
    ) -> Result<Option<(String, Option<i64>)>, RegistryError> {
        let (host, path) = split_repository(repo)?;
        let Some((digest, mut doc)) = self.get_manifest(host, path, tag)? else {
            return Ok(None);
        };
        if !with_age {
            return Ok(Some((digest, None)));
        }
        // An index: its first platform manifest carries the config.
        if let Some(first) = doc
            .get("manifests")
            .and_then(|m| m.as_array())
            .and_then(|m| {
                m.iter()
                    .find(|d| d.pointer("/platform/os").and_then(|o| o.as_str()) != Some("unknown"))
            })
            .and_then(|d| d.get("digest"))
            .and_then(|d| d.as_str())
            .map(str::to_string)
        {
            match self.get_manifest(host, path, &first)? {
                Some((_, d)) => doc = d,
                None => return Ok(Some((digest, None))),
            }
        }
        let config_type = doc
            .pointer("/config/mediaType")
            .and_then(|m| m.as_str())
            .unwrap_or_default();
        let created = match doc.pointer("/config/digest").and_then(|d| d.as_str()) {
            Some(cd)
                if config_type.contains("image.config")
                    || config_type.contains("container.image") =>
            {
                let url = format!("https://{}/v2/{path}/blobs/{cd}", api_host(host));
                let scope = format!("repository:{path}:pull");
                let r = self.request("GET", host, &url, &scope, None)?;
                if r.status != 200 {
                    return Err(Self::status_error("GET", &url, &r));
                }
                serde_json::from_slice::<serde_json::Value>(&r.body)
                    .ok()
                    .and_then(|c| {
                        c.get("created")
                            .and_then(|c| c.as_str())
                            .map(str::to_string)
                    })
                    .and_then(|c| crate::gc::parse_rfc3339(&c))
            }
            _ => None,
        };
        Ok(Some((digest, created)))
    }

    /// Deletes the manifest `digest` of `repo` (every tag on it goes). An already missing
    /// manifest is not an error.
    pub fn delete(&mut self, repo: &str, digest: &str) -> Result<(), RegistryError> {
        let (host, path) = split_repository(repo)?;
        let url = format!("https://{}/v2/{path}/manifests/{digest}", api_host(host));
        let scope = format!("repository:{path}:delete");
        let r = self.request("DELETE", host, &url, &scope, None)?;
        match r.status {
            200..=299 | 404 => Ok(()),
            405 => Err(RegistryError::DeleteDisabled {
                registry: host.to_string(),
            }),
            _ => Err(Self::status_error("DELETE", &url, &r)),
        }
    }
}

/// What the registry holds in a gc scope: the listings [`crate::gc::select`] reads, and notes on
/// how they were found.
pub struct Collected {
    pub listings: Vec<crate::gc::Listing>,
    pub notes: Vec<String>,
}

/// Lists every repository of `scope`: the image repositories and the buildx cache repository
/// (every tag, with its digest; the age only where gc could delete), and the buildah cache
/// repositories `<cache repo>/<stage part>.<slug>` of slugs that are not protected, found in the
/// registry's catalog, or, when it has none, from the stale slugs of the image tags.
pub fn collect(
    client: &mut Client,
    scope: &crate::gc::Scope,
    live: &crate::gc::LiveRefs,
) -> Result<Collected, RegistryError> {
    use crate::gc::{Class, Classifier, Listing, TagState};
    let c = Classifier::new(scope, live);
    let mut listings = Vec::new();
    let mut notes = Vec::new();
    let list = |client: &mut Client,
                repo: &str,
                classify: &dyn Fn(&str) -> Class|
     -> Result<Listing, RegistryError> {
        let mut tags = Vec::new();
        for tag in client.tags(repo)? {
            let want_age = !matches!(classify(&tag), Class::Protected(_));
            let state = match client.inspect(repo, &tag, want_age)? {
                Some((digest, created)) => TagState {
                    tag,
                    digest: Some(digest),
                    created,
                },
                // Deleted since the listing.
                None => continue,
            };
            tags.push(state);
        }
        Ok(Listing {
            repository: repo.to_string(),
            tags,
        })
    };
    for repo in &scope.images {
        listings.push(list(client, repo, &|t| c.image_tag(t))?);
    }
    listings.push(list(client, &scope.cache_repo, &|t| c.cache_tag(t))?);
    let (host, path) = split_repository(&scope.cache_repo)?;
    let candidates = match client.catalog(host, path)? {
        Some(repos) => repos,
        None => {
            notes.push(format!(
                "{host} has no catalog: buildah cache repositories were looked up by the slugs of the image tags"
            ));
            let mut slugs = std::collections::BTreeSet::new();
            for l in &listings {
                for t in &l.tags {
                    if let Class::Stale { slug, .. } = c.image_tag(&t.tag) {
                        slugs.insert(slug);
                    }
                }
            }
            scope
                .cache_parts
                .iter()
                .flat_map(|p| {
                    slugs
                        .iter()
                        .map(move |s| format!("{}/{p}.{s}", scope.cache_repo))
                })
                .collect()
        }
    };
    for repo in candidates {
        let Some(slug) = c.buildah_cache_slug(&repo) else {
            continue;
        };
        if matches!(c.slug(slug), Class::Protected(_)) {
            continue;
        }
        let slug = slug.to_string();
        let l = list(client, &repo, &|_| c.slug(&slug))?;
        if !l.tags.is_empty() {
            listings.push(l);
        }
    }
    Ok(Collected { listings, notes })
}

fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_base64_round_trip() {
        for s in ["", "a", "ab", "abc", "user:pa:ss", "ünï"] {
            assert_eq!(
                base64_decode(&base64_encode(s.as_bytes())).unwrap(),
                s.as_bytes()
            );
        }
        assert_eq!(base64_encode(b"user:pass"), "dXNlcjpwYXNz");
    }

    #[test]
    fn registry_challenge_and_link() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull""#,
        );
        assert_eq!(s, "bearer");
        assert_eq!(p["realm"], "https://auth.example.com/token");
        assert_eq!(p["service"], "registry.example.com");
        assert_eq!(p["scope"], "repository:a/b:pull");
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(
            (s.as_str(), p["realm"].as_str()),
            ("basic", "Registry Realm")
        );
        assert_eq!(
            next_link(
                r#"</v2/a/tags/list?last=x&n=2>; rel="next""#,
                "https://h:5000"
            )
            .as_deref(),
            Some("https://h:5000/v2/a/tags/list?last=x&n=2")
        );
        assert_eq!(next_link(r#"<https://h/x>; rel="prev""#, "https://h"), None);
    }

    #[test]
    fn registry_credentials_from_files() {
        let docker = r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"},"127.0.0.1:5000":{"auth":"dXNlcjpwOmFzcw=="}}}"#;
        assert_eq!(
            credentials_in(docker, "127.0.0.1:5000").unwrap(),
            Some(Credentials {
                username: "user".into(),
                password: "p:ass".into()
            })
        );
        assert_eq!(
            credentials_in(docker, "docker.io")
                .unwrap()
                .unwrap()
                .username,
            "u"
        );
        assert_eq!(credentials_in(docker, "ghcr.io").unwrap(), None);
        let podman = r#"{"auths":{"ghcr.io":{"username":"a","password":"b"}}}"#;
        assert_eq!(
            credentials_in(podman, "ghcr.io").unwrap().unwrap().password,
            "b"
        );
        assert!(credentials_in("{", "x").is_err());
        let env = |k: &str| match k {
            "REGISTRY_AUTH_FILE" => Some("/a.json".to_string()),
            "HOME" => Some("/home/u".to_string()),
            _ => None,
        };
        assert_eq!(
            default_auth_files(&env),
            vec![
                PathBuf::from("/a.json"),
                PathBuf::from("/home/u/.docker/config.json")
            ]
        );
    }
}
