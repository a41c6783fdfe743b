//! `gen-pipeline gc` from resolved settings to output: the edge module that joins the pure core
//! ([`crate::gc`]), git (`ls-remote`) and the registry client ([`crate::registry`]). The binary
//! parses the command line into a [`Request`], resolves the settings and calls [`run`]; every
//! failure is a typed [`GcCmdError`] (exit 2).

use std::io::Write;
use std::path::PathBuf;

use crate::app::{self, AppError, Loaded};
use crate::gc;
use crate::git::{self, LsRemoteError};
use crate::registry::{self, RegistryError};
use crate::settings::Settings;

/// How `gc` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// What would be deleted and what is kept, one tag a line.
    Table,
    /// The same as one JSON document (plus the manifests to delete).
    Json,
    /// A GitLab cleanup policy (name_regex_delete / name_regex_keep) that approximates gc.
    GitlabPolicy,
}

/// `gen-pipeline gc`'s own flags (the planning flags go through [`crate::settings`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub apply: bool,
    pub live_refs: Vec<String>,
    /// `-` reads standard input.
    pub live_refs_file: Option<PathBuf>,
    pub remote: String,
    /// `--older-than`; `None`: the config's `gc: older-than`, else [`gc::DEFAULT_OLDER_THAN`].
    pub older_than: Option<String>,
    pub ignore_age: bool,
    pub ca_file: Option<PathBuf>,
    pub format: Format,
}

#[derive(Debug, thiserror::Error)]
pub enum GcCmdError {
    #[error("--older-than {0:?}: expected a number and a unit s, m, h, d or w (`14d`, `0s`)")]
    BadAge(String),
    #[error("reading {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the live refs do not include the default branch `{0}`: refusing to guess (a wrong remote or list would make every branch look gone; add --live-ref {0} or check --remote)")]
    NoDefaultBranch(String),
    #[error(transparent)]
    LsRemote(#[from] LsRemoteError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    App(#[from] AppError),
    #[error("writing the report: {0}")]
    Output(#[source] std::io::Error),
}

impl Request {
    /// The `--older-than` flag, checked (run this before anything else: a bad flag is the only
    /// message). `None` when the flag is not given.
    pub fn flag_age(&self) -> Result<Option<u64>, GcCmdError> {
        match &self.older_than {
            Some(a) => gc::parse_age(a)
                .map(Some)
                .ok_or_else(|| GcCmdError::BadAge(a.clone())),
            None => Ok(None),
        }
    }
}

/// Plan, find the live refs, list the registry, print the report to `out` (notes and deletions
/// to `log`), and with `apply` delete.
pub fn run(
    req: &Request,
    s: &Settings,
    loaded: &Loaded,
    out: &mut dyn Write,
    log: &mut dyn Write,
) -> Result<(), GcCmdError> {
    // The flag, else the config's `gc: older-than` (validated by the config), else the default.
    let older = req
        .older_than
        .clone()
        .or_else(|| s.plan.gc.as_ref().map(|g| g.older_than.clone()))
        .unwrap_or_else(|| gc::DEFAULT_OLDER_THAN.to_string());
    let older_than = gc::parse_age(&older).ok_or_else(|| GcCmdError::BadAge(older.clone()))?;
    let plan = app::plan_with(loaded, s)?;
    let scope = gc::Scope::from_plan(&plan);
    let emit = |w: &mut dyn Write, text: &str| {
        w.write_all(text.as_bytes())
            .and_then(|()| w.flush())
            .map_err(GcCmdError::Output)
    };
    if req.format == Format::GitlabPolicy {
        let (delete, keep) = gc::gitlab_policy(&scope);
        return emit(
            out,
            &format!(
                "# GitLab cleanup policy approximating `gen-pipeline gc` (it cannot see which branches exist):\n\
                 # Settings > Packages and registries > Container registry cleanup policy, or\n\
                 # PUT /projects/:id with container_expiration_policy_attributes.\n\
                 name_regex_delete: '{delete}'\nname_regex_keep: '{keep}'\nolder_than: {older}\nkeep_n: 1\n"
            ),
        );
    }
    let live_text = if !req.live_refs.is_empty() || req.live_refs_file.is_some() {
        let mut text = req.live_refs.join("\n");
        if let Some(f) = &req.live_refs_file {
            let read = if f.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())
            } else {
                std::fs::read_to_string(f)
            };
            text.push('\n');
            text.push_str(&read.map_err(|source| GcCmdError::Read {
                path: f.clone(),
                source,
            })?);
        }
        text
    } else {
        git::ls_remote(&s.root, &req.remote)?
    };
    let live = gc::LiveRefs::parse(&live_text);
    if !live.branches.contains_key(&scope.default_branch) {
        return Err(GcCmdError::NoDefaultBranch(scope.default_branch.clone()));
    }
    let ssl_cert_file = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    let mut client = registry::Client::new(
        req.ca_file.as_deref(),
        ssl_cert_file.as_deref(),
        registry::default_auth_files(&git::process_env),
    )?;
    let collected = registry::collect(&mut client, &scope, &live)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let policy = gc::Policy {
        now,
        older_than,
        ignore_age: req.ignore_age,
    };
    let report = gc::select(&scope, &live, &collected.listings, &policy);
    for n in &collected.notes {
        emit(log, &format!("note: {n}\n"))?;
    }
    let manifests = report.manifests();
    match req.format {
        Format::Json => {
            #[derive(serde::Serialize)]
            struct Doc<'a> {
                apply: bool,
                #[serde(flatten)]
                report: &'a gc::Report,
                manifests: Vec<Manifest<'a>>,
                notes: &'a [String],
            }
            #[derive(serde::Serialize)]
            struct Manifest<'a> {
                repository: &'a str,
                digest: &'a str,
            }
            let doc = Doc {
                apply: req.apply,
                report: &report,
                manifests: manifests
                    .iter()
                    .map(|(r, d)| Manifest {
                        repository: r,
                        digest: d,
                    })
                    .collect(),
                notes: &collected.notes,
            };
            let mut text = serde_json::to_string_pretty(&doc).expect("the report serializes");
            text.push('\n');
            emit(out, &text)?;
        }
        _ => emit(out, &gc::table(&report, req.apply))?,
    }
    if req.apply {
        for (repo, digest) in &manifests {
            client.delete(repo, digest)?;
            emit(log, &format!("deleted {repo}@{digest}\n"))?;
        }
        emit(
            log,
            &format!(
                "deleted {} manifests ({} tags)\n",
                manifests.len(),
                report.delete.len()
            ),
        )?;
    }
    Ok(())
}
