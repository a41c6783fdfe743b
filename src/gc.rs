//! `gen-pipeline gc`: which tags and cache refs the pipelines wrote for refs that are gone.
//! Pure: the plan's repositories, the live git refs and what the registry holds go in; the delete
//! set (repository, tag, digest, reason) and what is kept (with the reason) come out. The registry
//! and git are read at the edge ([`crate::registry`], the binary).
//!
//! # What gc may delete
//!
//! Only in the repositories the plan names ([`Scope`]), and only tags of the shapes the
//! pipelines write for a branch or a pull request ([`crate::refs`]):
//!
//! | repository | tag | owner |
//! |---|---|---|
//! | image (`<image>/<stage>`) | a branch slug (`[a-z0-9-]`, not reserved, or `br-…`) | that branch |
//! | image | `pr-<n>` | pull request `n` |
//! | image | `sha-<hex>`, `key-<64 hex>` | whatever tag shares its digest |
//! | cache (`<image>/cache`, buildx) | `<stage part>.<slug>` for a stage of the plan | the slug's ref |
//! | buildah cache (`<image>/cache/<stage part>.<slug>`) | every tag (one per step, `latest`) | the slug's ref |
//!
//! # Safety rules
//!
//! - Never: the default branch's slug, `latest`, release tags (semver `1.2.3`/`1.2`/`1`,
//!   `tag-*`, any tag with `.`, `_` or a capital), the extra tags of the config, a slug of a live
//!   branch or an open pull request, or any tag of another shape ([`Class::Protected`]).
//! - A registry deletes a manifest by digest, which removes EVERY tag on that digest: a digest is
//!   deleted only when every tag on it is stale. `sha-*` and `key-*` tags follow their digest: a
//!   key tag that shares its digest with a live tag is kept ("still referenced").
//! - A digest that no branch, PR or release tag carries (an old commit's `sha-*`/`key-*` only) is
//!   kept: its owner cannot be told from the registry.
//! - Age: a stale digest is deleted only when older than [`Policy::older_than`] (the image
//!   config's `created`; a cache ref with no readable age takes the newest age of the same slug's
//!   images). With an unknown age it is kept unless [`Policy::ignore_age`].

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::refs;

/// The repositories and tag shapes the plan's pipelines write.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope {
    /// Image repositories (`<image>/<stage>`) of the jobs that push.
    pub images: Vec<String>,
    /// The cache repository (`<image>/cache`).
    pub cache_repo: String,
    /// The stage parts of the cache tags ([`refs::cache_stage_part`]) of every job.
    pub cache_parts: Vec<String>,
    /// The default branch's name.
    pub default_branch: String,
    /// Extra tags every image gets (`tags:` in the config): never deleted.
    pub keep_tags: Vec<String>,
}

impl Scope {
    /// The scope of a plan: every job's repository, the cache repository `<image>/cache` and
    /// every job's cache stage part, the default branch and the extra tags.
    pub fn from_plan(plan: &crate::plan::Plan) -> Scope {
        let mut images: Vec<String> = plan.jobs.iter().map(|j| j.repository.clone()).collect();
        images.sort();
        images.dedup();
        let mut cache_parts: Vec<String> = plan.jobs.iter().map(|j| j.cache_key.clone()).collect();
        cache_parts.sort();
        cache_parts.dedup();
        Scope {
            images,
            cache_repo: format!("{}/cache", plan.image),
            cache_parts,
            default_branch: plan.git_ref.default_branch.clone(),
            keep_tags: plan.extra_tags.clone(),
        }
    }
}

/// The refs that exist in git.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveRefs {
    /// Branch name → tip sha (may be empty when unknown).
    pub branches: BTreeMap<String, String>,
    /// Git tag names.
    pub tags: BTreeSet<String>,
    /// Pull/merge request numbers with a `refs/pull/<n>/…` or `refs/merge-requests/<n>/…` ref.
    pub prs: BTreeSet<u64>,
}

impl LiveRefs {
    /// Adds one ref: `refs/heads/<b>`, `refs/tags/<t>` (a peeled `^{}` suffix is dropped),
    /// `refs/pull/<n>/…`, `refs/merge-requests/<n>/…`; a name without `refs/` is a branch.
    /// Other refs (`HEAD`, `refs/notes/…`) are ignored.
    pub fn add(&mut self, name: &str, sha: &str) {
        if let Some(b) = name.strip_prefix("refs/heads/") {
            self.branches.insert(b.to_string(), sha.to_string());
        } else if let Some(t) = name.strip_prefix("refs/tags/") {
            self.tags
                .insert(t.strip_suffix("^{}").unwrap_or(t).to_string());
        } else if let Some(rest) = name
            .strip_prefix("refs/pull/")
            .or_else(|| name.strip_prefix("refs/merge-requests/"))
        {
            if let Some(n) = rest.split('/').next().and_then(|n| n.parse().ok()) {
                self.prs.insert(n);
            }
        } else if !name.starts_with("refs/") && name != "HEAD" && !name.is_empty() {
            self.branches.insert(name.to_string(), sha.to_string());
        }
    }

    /// Reads `git ls-remote` output (`<sha>\t<ref>` lines) or one ref (or branch name) a line;
    /// blank lines and `#` comments are skipped.
    pub fn parse(text: &str) -> LiveRefs {
        let mut live = LiveRefs::default();
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once('\t') {
                Some((sha, name)) => live.add(name, sha.trim()),
                None => live.add(line.trim(), ""),
            }
        }
        live
    }

    /// The slugs the live branches write with (the default branch's included).
    pub fn branch_slugs(&self, default_branch: &str) -> BTreeMap<String, String> {
        let default = refs::default_slug(default_branch);
        let mut out = BTreeMap::new();
        out.insert(default.clone(), default_branch.to_string());
        for (name, sha) in &self.branches {
            let s = if name == default_branch {
                default.clone()
            } else {
                refs::escape_slug(&refs::ref_slug(name, sha), &default, sha)
            };
            out.entry(s).or_insert_with(|| name.clone());
        }
        out
    }
}

/// One tag as the registry shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagState {
    pub tag: String,
    /// The manifest digest (`None`: it could not be read).
    pub digest: Option<String>,
    /// Seconds since the Unix epoch from the image config's `created` (`None`: unknown).
    pub created: Option<i64>,
}

/// The tags of one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub repository: String,
    pub tags: Vec<TagState>,
}

/// When a stale digest may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// Now, seconds since the Unix epoch.
    pub now: i64,
    /// Minimum age in seconds (0: any age, and the age need not be known).
    pub older_than: u64,
    /// Delete a stale digest whose age cannot be read.
    pub ignore_age: bool,
}

/// One tag in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, PartialOrd, Ord)]
pub struct Entry {
    pub repository: String,
    pub tag: String,
    pub digest: Option<String>,
    pub reason: String,
}

/// What gc would delete and what it keeps (tags of the scope's shapes only; every list sorted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Report {
    pub delete: Vec<Entry>,
    pub keep: Vec<Entry>,
}

impl Report {
    /// The manifests to delete: (repository, digest), each once, sorted.
    pub fn manifests(&self) -> Vec<(String, String)> {
        let set: BTreeSet<(String, String)> = self
            .delete
            .iter()
            .filter_map(|e| e.digest.clone().map(|d| (e.repository.clone(), d)))
            .collect();
        set.into_iter().collect()
    }
}

/// How one tag is owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// Never deleted, and protects every tag on its digest.
    Protected(String),
    /// Written for a ref that is gone; `slug` is that ref's slug.
    Stale { slug: String, reason: String },
    /// `sha-*` / `key-*`: goes with its digest.
    Floating,
}

/// Whether `s` has the shape of a branch slug as the pipelines write it ([`refs::own_slug`] of
/// a branch that is not the default one): 1 to 63 of `[a-z0-9-]`, no `-` at either end, and
/// either not reserved ([`refs::is_reserved_slug`]) or escaped (`br-…`).
pub fn is_branch_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= refs::SLUG_MAX
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
        && (s.starts_with("br-") || !refs::is_reserved_slug(s))
}

/// `pr-<n>` with `n` a decimal number as the pipelines write it (no sign, no leading zero).
pub fn pr_number(s: &str) -> Option<u64> {
    let n = s.strip_prefix("pr-")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || (n.len() > 1 && n.starts_with('0'))
    {
        return None;
    }
    n.parse().ok()
}

fn is_hex(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `sha-<1..64 lower-case hex>` (a commit's tag) or `key-<64 lower-case hex>` (a stage input key).
pub fn is_floating(tag: &str) -> bool {
    tag.strip_prefix("sha-").is_some_and(|h| is_hex(h, 1, 64))
        || tag.strip_prefix("key-").is_some_and(|h| is_hex(h, 64, 64))
}

/// The classifier for one scope and one set of live refs.
#[derive(Debug, Clone)]
pub struct Classifier {
    default_branch: String,
    default_slug: String,
    live_slugs: BTreeMap<String, String>,
    live_shas: BTreeSet<String>,
    prs: BTreeSet<u64>,
    keep_tags: BTreeSet<String>,
    cache_parts: BTreeSet<String>,
    cache_repo: String,
}

impl Classifier {
    pub fn new(scope: &Scope, live: &LiveRefs) -> Classifier {
        Classifier {
            default_branch: scope.default_branch.clone(),
            default_slug: refs::default_slug(&scope.default_branch),
            live_slugs: live.branch_slugs(&scope.default_branch),
            live_shas: live
                .branches
                .values()
                .map(|s| refs::full_sha(s))
                .filter(|s| !s.is_empty())
                .collect(),
            prs: live.prs.clone(),
            keep_tags: scope.keep_tags.iter().cloned().collect(),
            cache_parts: scope.cache_parts.iter().cloned().collect(),
            cache_repo: scope.cache_repo.clone(),
        }
    }

    /// The owner of a ref slug (an image tag or the slug part of a cache ref).
    pub fn slug(&self, slug: &str) -> Class {
        if slug == self.default_slug {
            return Class::Protected(format!("the default branch `{}`", self.default_branch));
        }
        if slug.starts_with("tag-") {
            return Class::Protected("a git tag's (release)".into());
        }
        if let Some(n) = pr_number(slug) {
            return if self.prs.contains(&n) {
                Class::Protected(format!("pull request {n} has a ref"))
            } else {
                Class::Stale {
                    slug: slug.to_string(),
                    reason: format!("pull request {n} has no ref"),
                }
            };
        }
        if !is_branch_slug(slug) {
            return Class::Protected("not a tag gen-pipeline writes for a branch".into());
        }
        match self.live_slugs.get(slug) {
            Some(b) => Class::Protected(format!("branch `{b}` exists")),
            None => Class::Stale {
                slug: slug.to_string(),
                reason: format!("no branch has the slug `{slug}`"),
            },
        }
    }

    /// The owner of a tag in an image repository.
    pub fn image_tag(&self, tag: &str) -> Class {
        if self.keep_tags.contains(tag) {
            return Class::Protected("an extra tag of the config".into());
        }
        if tag == "latest" {
            return Class::Protected(format!(
                "the default branch `{}`'s `latest`",
                self.default_branch
            ));
        }
        if let Some(sha) = tag.strip_prefix("sha-") {
            if is_hex(sha, 1, 64) && self.live_shas.contains(sha) {
                return Class::Protected("the tip of a live branch".into());
            }
        }
        if is_floating(tag) {
            return Class::Floating;
        }
        self.slug(tag)
    }

    /// The owner of a tag in the buildx cache repository: `<stage part>.<slug>`.
    pub fn cache_tag(&self, tag: &str) -> Class {
        match tag.split_once('.') {
            Some((part, slug)) if self.cache_parts.contains(part) && !slug.contains('.') => {
                self.slug(slug)
            }
            _ => Class::Protected("not a cache ref of this plan's stages".into()),
        }
    }

    /// Whether `repository` is a buildah cache repository of the plan
    /// (`<cache repo>/<stage part>.<slug>`), and its slug.
    pub fn buildah_cache_slug<'a>(&self, repository: &'a str) -> Option<&'a str> {
        let rest = repository
            .strip_prefix(self.cache_repo.as_str())?
            .strip_prefix('/')?;
        let (part, slug) = rest.split_once('.')?;
        (self.cache_parts.contains(part) && !slug.contains(['.', '/'])).then_some(slug)
    }
}

/// Which kind of repository a listing is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RepoKind {
    Image,
    Cache,
    BuildahCache,
}

fn human_age(secs: i64) -> String {
    match secs {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3_600 => format!("{}h", s / 3_600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{}s", s.max(0)),
    }
}

/// The delete set: see the module documentation for the rules. Listings of repositories outside
/// the scope are ignored entirely; so are tags of no shape gen-pipeline writes, which are
/// reported as kept only when they protect a digest that a stale tag shares.
pub fn select(scope: &Scope, live: &LiveRefs, listings: &[Listing], policy: &Policy) -> Report {
    let c = Classifier::new(scope, live);
    let images: BTreeSet<&str> = scope.images.iter().map(String::as_str).collect();
    let kind = |repo: &str| {
        if repo == scope.cache_repo {
            Some(RepoKind::Cache)
        } else if images.contains(repo) {
            Some(RepoKind::Image)
        } else if c.buildah_cache_slug(repo).is_some() {
            Some(RepoKind::BuildahCache)
        } else {
            None
        }
    };
    // The newest age of each stale slug's images: the age of cache refs with none of their own.
    let mut slug_age: BTreeMap<String, i64> = BTreeMap::new();
    for l in listings {
        if kind(&l.repository) != Some(RepoKind::Image) {
            continue;
        }
        for t in &l.tags {
            if let (Class::Stale { slug, .. }, Some(created)) = (c.image_tag(&t.tag), t.created) {
                let e = slug_age.entry(slug).or_insert(created);
                *e = (*e).max(created);
            }
        }
    }
    let mut report = Report::default();
    for l in listings {
        let Some(k) = kind(&l.repository) else {
            continue;
        };
        let classify = |tag: &str| match k {
            RepoKind::Image => c.image_tag(tag),
            RepoKind::Cache => c.cache_tag(tag),
            RepoKind::BuildahCache => c.slug(
                c.buildah_cache_slug(&l.repository)
                    .expect("checked by kind"),
            ),
        };
        // Tags grouped by digest; a tag whose digest is unknown is its own group.
        let mut groups: BTreeMap<Option<&str>, Vec<&TagState>> = BTreeMap::new();
        for t in &l.tags {
            match t.digest.as_deref() {
                Some(d) => groups.entry(Some(d)).or_default().push(t),
                None => {
                    let class = classify(&t.tag);
                    if !matches!(class, Class::Protected(_)) {
                        report.keep.push(Entry {
                            repository: l.repository.clone(),
                            tag: t.tag.clone(),
                            digest: None,
                            reason: "its digest could not be read".into(),
                        });
                    }
                }
            }
        }
        for (digest, tags) in groups {
            let classes: Vec<(&TagState, Class)> =
                tags.iter().map(|t| (*t, classify(&t.tag))).collect();
            let entry = |t: &TagState, reason: String| Entry {
                repository: l.repository.clone(),
                tag: t.tag.clone(),
                digest: digest.map(str::to_string),
                reason,
            };
            let protector = classes.iter().find_map(|(t, cl)| match cl {
                Class::Protected(r) => Some((t.tag.clone(), r.clone())),
                _ => None,
            });
            let stale: Vec<(String, String)> = classes
                .iter()
                .filter_map(|(_, cl)| match cl {
                    Class::Stale { slug, reason } => Some((slug.clone(), reason.clone())),
                    _ => None,
                })
                .collect();
            if let Some((ptag, preason)) = protector {
                // Report the tags gc would otherwise consider; the protected ones need no line
                // unless they hold back a stale tag.
                let holds_back = classes
                    .iter()
                    .any(|(_, cl)| !matches!(cl, Class::Protected(_)));
                for (t, cl) in &classes {
                    match cl {
                        Class::Protected(r) if holds_back => report.keep.push(entry(t, r.clone())),
                        Class::Protected(_) => {}
                        _ => report.keep.push(entry(
                            t,
                            format!("shares its digest with `{ptag}` ({preason})"),
                        )),
                    }
                }
                continue;
            }
            let Some((slug, reason)) = stale.first().cloned() else {
                for (t, _) in &classes {
                    report.keep.push(entry(
                        t,
                        "no branch, pull request or release tag carries its digest (owner unknown)"
                            .into(),
                    ));
                }
                continue;
            };
            let own_age = tags.iter().filter_map(|t| t.created).max();
            let age = own_age.or_else(|| {
                (k != RepoKind::Image)
                    .then(|| slug_age.get(&slug).copied())
                    .flatten()
            });
            let verdict: Result<String, String> = if policy.older_than == 0 {
                Ok(reason)
            } else {
                match age {
                    Some(created) => {
                        let a = policy.now - created;
                        if a >= 0 && a as u64 >= policy.older_than {
                            Ok(format!("{reason}; {} old", human_age(a)))
                        } else {
                            Err(format!(
                                "{reason}, but only {} old (younger than {})",
                                human_age(a),
                                human_age(policy.older_than as i64)
                            ))
                        }
                    }
                    None if policy.ignore_age => {
                        Ok(format!("{reason}; age unknown (--ignore-age)"))
                    }
                    None => Err(format!(
                        "{reason}, but its age cannot be read (--ignore-age deletes it)"
                    )),
                }
            };
            for (t, _) in &classes {
                match &verdict {
                    Ok(r) => report.delete.push(entry(t, r.clone())),
                    Err(r) => report.keep.push(entry(t, r.clone())),
                }
            }
        }
    }
    report.delete.sort();
    report.keep.sort();
    report
}

/// The age threshold when neither `--older-than` nor the config's `gc: older-than` gives one.
pub const DEFAULT_OLDER_THAN: &str = "14d";

/// The report as text: what is (or would be) deleted, then what is kept and why.
pub fn table(report: &Report, applied: bool) -> String {
    let mut out = String::new();
    let short = |d: &Option<String>| {
        d.as_deref()
            .map(|d| d.chars().take(19).collect::<String>())
            .unwrap_or_else(|| "-".into())
    };
    let rows = |out: &mut String, entries: &[Entry]| {
        let w = entries
            .iter()
            .map(|e| e.repository.len() + 1 + e.tag.len())
            .max()
            .unwrap_or(0);
        for e in entries {
            let name = format!("{}:{}", e.repository, e.tag);
            out.push_str(&format!(
                "  {name:<w$}  {:<19}  {}\n",
                short(&e.digest),
                e.reason
            ));
        }
    };
    let verb = if applied { "deleting" } else { "would delete" };
    out.push_str(&format!(
        "{verb} {} tags ({} manifests){}\n",
        report.delete.len(),
        report.manifests().len(),
        if report.delete.is_empty() { "" } else { ":" }
    ));
    rows(&mut out, &report.delete);
    if !report.keep.is_empty() {
        out.push_str(&format!("kept {} tags:\n", report.keep.len()));
        rows(&mut out, &report.keep);
    }
    if !applied && !report.delete.is_empty() {
        out.push_str("(dry run: --apply deletes)\n");
    }
    out
}

/// Parses an age: a number with a unit `s`, `m`, `h`, `d` or `w` (`14d`, `36h`, `0s`); a bare
/// `0` is zero.
pub fn parse_age(s: &str) -> Option<u64> {
    if s == "0" {
        return Some(0);
    }
    let unit = s.chars().last()?;
    let n: u64 = s[..s.len() - unit.len_utf8()].parse().ok()?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Seconds since the Unix epoch of an RFC 3339 time (`2024-01-02T03:04:05.123Z`,
/// `…+02:00`), as image configs write `created`.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())
            .flatten()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let o = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + se - offset)
}

/// A GitLab cleanup-policy `name_regex_delete` for the tags gc may delete in image repositories
/// (branch slugs, `pr-<n>`, `sha-*`, `key-*`) and the `name_regex_keep` for what it never deletes
/// (the default branch, `latest`, releases, the extra tags): GitLab's policy cannot see which
/// branches still exist, so it can only approximate gc by age (see the README).
pub fn gitlab_policy(scope: &Scope) -> (String, String) {
    let default = refs::default_slug(&scope.default_branch);
    let delete = "^(?:[a-z0-9][a-z0-9-]{0,62}|pr-[1-9][0-9]*|sha-[0-9a-f]{1,64}|key-[0-9a-f]{64}|[a-z0-9-]+\\.[a-z0-9-]+)$".to_string();
    let mut keep = vec![
        regex_escape(&default),
        "latest".to_string(),
        "tag-.*".to_string(),
        "v?[0-9]+(?:\\.[0-9]+)*(?:-[0-9A-Za-z.-]+)?".to_string(),
        format!("[a-z0-9-]+\\.{}", regex_escape(&default)),
    ];
    keep.extend(scope.keep_tags.iter().map(|t| regex_escape(t)));
    (delete, format!("^(?:{})$", keep.join("|")))
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        if !ch.is_ascii_alphanumeric() && ch != '-' && ch != '_' {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            images: vec!["r/app/web".into(), "r/app/stages/base".into()],
            cache_repo: "r/app/cache".into(),
            cache_parts: vec!["web".into(), "base".into()],
            default_branch: "main".into(),
            keep_tags: vec!["stable".into()],
        }
    }

    fn t(tag: &str, digest: &str, created: Option<i64>) -> TagState {
        TagState {
            tag: tag.into(),
            digest: Some(digest.into()),
            created,
        }
    }

    fn live(branches: &[&str]) -> LiveRefs {
        let mut l = LiveRefs::default();
        for b in branches {
            l.add(&format!("refs/heads/{b}"), "");
        }
        l
    }

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn tags(r: &[Entry]) -> Vec<String> {
        r.iter()
            .map(|e| format!("{}:{}", e.repository, e.tag))
            .collect()
    }

    #[test]
    fn gc_selects_a_gone_branch_and_its_sha_and_key_tags() {
        let key = format!("key-{}", "a".repeat(64));
        let l = Listing {
            repository: "r/app/web".into(),
            tags: vec![
                t("main", "sha256:m", Some(0)),
                t("latest", "sha256:m", Some(0)),
                t("feature-x", "sha256:f", Some(0)),
                t(&format!("sha-{SHA}"), "sha256:f", Some(0)),
                t(&key, "sha256:f", Some(0)),
                t("1.2.3", "sha256:r", Some(0)),
                t("tag-nightly", "sha256:n", Some(0)),
                t("stable", "sha256:s", Some(0)),
                t("Weird_Tag", "sha256:w", Some(0)),
            ],
        };
        let r = select(&scope(), &live(&["main"]), &[l], &Policy::default());
        assert_eq!(
            tags(&r.delete),
            vec![
                "r/app/web:feature-x".to_string(),
                format!("r/app/web:{key}"),
                format!("r/app/web:sha-{SHA}")
            ]
        );
        assert_eq!(r.manifests(), vec![("r/app/web".into(), "sha256:f".into())]);
        assert!(r.keep.is_empty(), "{:?}", r.keep);
    }

    #[test]
    fn gc_keeps_a_digest_that_a_live_tag_shares() {
        // The key tag (and the gone branch's tag) point at main's digest: deleting the manifest
        // would remove `main` and `latest`.
        let key = format!("key-{}", "b".repeat(64));
        let l = Listing {
            repository: "r/app/web".into(),
            tags: vec![
                t("main", "sha256:m", Some(0)),
                t("gone", "sha256:m", Some(0)),
                t(&key, "sha256:m", Some(0)),
            ],
        };
        let r = select(&scope(), &live(&["main"]), &[l], &Policy::default());
        assert!(r.delete.is_empty());
        assert_eq!(
            tags(&r.keep),
            vec![
                "r/app/web:gone".to_string(),
                format!("r/app/web:{key}"),
                "r/app/web:main".into()
            ]
        );
        assert!(r.keep[0].reason.contains("shares its digest with `main`"));
    }

    #[test]
    fn gc_keeps_live_branches_open_prs_and_orphans() {
        let mut lv = live(&["main", "feature/Keep_Me"]);
        lv.add("refs/pull/7/head", "");
        let l = Listing {
            repository: "r/app/web".into(),
            tags: vec![
                t("feature-keep-me", "sha256:k", Some(0)),
                t("pr-7", "sha256:p7", Some(0)),
                t("pr-8", "sha256:p8", Some(0)),
                t(&format!("sha-{SHA}"), "sha256:o", Some(0)),
            ],
        };
        let r = select(&scope(), &lv, &[l], &Policy::default());
        assert_eq!(tags(&r.delete), vec!["r/app/web:pr-8"]);
        assert_eq!(tags(&r.keep), vec![format!("r/app/web:sha-{SHA}")]);
        assert!(r.keep[0].reason.contains("owner unknown"));
    }

    #[test]
    fn gc_cache_refs_buildx_and_buildah() {
        let lv = live(&["main", "live"]);
        let cache = Listing {
            repository: "r/app/cache".into(),
            tags: vec![
                t("web.main", "sha256:1", None),
                t("web.live", "sha256:2", None),
                t("web.gone", "sha256:3", None),
                t("base.gone", "sha256:4", None),
                t("other.gone", "sha256:5", None),
                t("web.tag-v1", "sha256:6", None),
            ],
        };
        let buildah_gone = Listing {
            repository: "r/app/cache/web.gone".into(),
            tags: vec![
                t("latest", "sha256:a", Some(100)),
                t("abc", "sha256:b", None),
            ],
        };
        let buildah_main = Listing {
            repository: "r/app/cache/web.main".into(),
            tags: vec![t("latest", "sha256:c", Some(0))],
        };
        let unrelated = Listing {
            repository: "r/app/cache/nope.gone".into(),
            tags: vec![t("latest", "sha256:d", Some(0))],
        };
        let r = select(
            &scope(),
            &lv,
            &[cache, buildah_gone, buildah_main, unrelated],
            &Policy::default(),
        );
        assert_eq!(
            tags(&r.delete),
            vec![
                "r/app/cache:base.gone",
                "r/app/cache:web.gone",
                "r/app/cache/web.gone:abc",
                "r/app/cache/web.gone:latest",
            ]
        );
    }

    #[test]
    fn gc_age_threshold_and_unknown_age() {
        let day = 86_400;
        let img = Listing {
            repository: "r/app/web".into(),
            tags: vec![
                t("old", "sha256:o", Some(0)),
                t("young", "sha256:y", Some(20 * day)),
                t("unknown", "sha256:u", None),
            ],
        };
        let cache = Listing {
            repository: "r/app/cache".into(),
            tags: vec![
                t("web.old", "sha256:c1", None),
                t("web.young", "sha256:c2", None),
            ],
        };
        let p = Policy {
            now: 21 * day,
            older_than: 14 * day as u64,
            ignore_age: false,
        };
        let r = select(
            &scope(),
            &live(&["main"]),
            &[img.clone(), cache.clone()],
            &p,
        );
        assert_eq!(
            tags(&r.delete),
            vec!["r/app/cache:web.old", "r/app/web:old"]
        );
        assert!(r
            .keep
            .iter()
            .any(|e| e.tag == "unknown" && e.reason.contains("--ignore-age")));
        let r = select(
            &scope(),
            &live(&["main"]),
            &[img, cache],
            &Policy {
                ignore_age: true,
                ..p
            },
        );
        assert_eq!(
            tags(&r.delete),
            vec!["r/app/cache:web.old", "r/app/web:old", "r/app/web:unknown"]
        );
    }

    #[test]
    fn gc_escaped_and_default_slugs() {
        // A live branch called `latest` writes `br-latest`; a default branch `1` writes `br-1`.
        let s = Scope {
            default_branch: "1".into(),
            ..scope()
        };
        let lv = live(&["1", "latest"]);
        let l = Listing {
            repository: "r/app/web".into(),
            tags: vec![
                t("br-1", "sha256:a", None),
                t("br-latest", "sha256:b", None),
                t("br-gone", "sha256:c", None),
                t("1", "sha256:d", None),
            ],
        };
        let r = select(&s, &lv, &[l], &Policy::default());
        assert_eq!(tags(&r.delete), vec!["r/app/web:br-gone"]);
    }

    #[test]
    fn gc_live_refs_parse_ls_remote() {
        let text = format!(
            "{SHA}\tHEAD\n{SHA}\trefs/heads/main\n{SHA}\trefs/heads/feat/x\n{SHA}\trefs/tags/v1.0.0\n{SHA}\trefs/tags/v1.0.0^{{}}\n{SHA}\trefs/pull/12/head\n{SHA}\trefs/merge-requests/3/head\n# c\nbare\n"
        );
        let l = LiveRefs::parse(&text);
        assert_eq!(
            l.branches.keys().collect::<Vec<_>>(),
            vec!["bare", "feat/x", "main"]
        );
        assert_eq!(l.tags.iter().collect::<Vec<_>>(), vec!["v1.0.0"]);
        assert_eq!(l.prs.iter().copied().collect::<Vec<_>>(), vec![3, 12]);
    }

    #[test]
    fn gc_parse_age_and_time() {
        assert_eq!(parse_age("14d"), Some(14 * 86_400));
        assert_eq!(parse_age("0"), Some(0));
        assert_eq!(parse_age("2w"), Some(1_209_600));
        assert_eq!(parse_age("14"), None);
        assert_eq!(parse_age("d"), None);
        assert_eq!(parse_age("-1d"), None);
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:00.123456789Z"),
            Some(1_709_208_000)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T14:00:00+02:00"),
            Some(1_709_208_000)
        );
        assert_eq!(parse_rfc3339("2024-02-29"), None);
        assert_eq!(parse_rfc3339("2024-13-01T00:00:00Z"), None);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn name() -> impl Strategy<Value = String> {
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..40)
                    .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
                any::<String>(),
                proptest::sample::select(vec![
                    "main",
                    "Main",
                    "main_",
                    "latest",
                    "1",
                    "1.2.3",
                    "v1.2.3",
                    "tag-x",
                    "pr-7",
                    "sha-0123456",
                    "br-main",
                    "stable",
                    "ref",
                    "///",
                    "web.main",
                    "-",
                    "key-aa",
                ])
                .prop_map(str::to_string),
            ]
        }

        proptest! {
            /// Whatever the branch names (any bytes, live or gone), gc deletes only tags of its
            /// patterns, never a protected tag or a live branch's slug, and only whole digests.
            #[test]
            fn gc_hostile_ref_names_select_only_their_patterns(
                live_names in proptest::collection::vec(name(), 0..5),
                gone_names in proptest::collection::vec(name(), 0..5),
                shares in proptest::collection::vec(any::<bool>(), 5),
                prs in proptest::collection::vec(0u64..20, 0..3),
            ) {
                let sc = scope();
                let sha = "0123456789abcdef0123456789abcdef01234567";
                let mut lv = LiveRefs::default();
                lv.add("refs/heads/main", sha);
                for n in &live_names {
                    lv.add(&format!("refs/heads/{n}"), sha);
                }
                for p in &prs {
                    lv.add(&format!("refs/pull/{p}/head"), sha);
                }
                let mut image = vec![
                    t("main", "sha256:main", Some(0)),
                    t("latest", "sha256:main", Some(0)),
                    t("1.2.3", "sha256:rel", Some(0)),
                    t("1.2", "sha256:rel", Some(0)),
                    t("1", "sha256:rel", Some(0)),
                    t("tag-nightly", "sha256:nightly", Some(0)),
                    t("stable", "sha256:stable", Some(0)),
                    t("Foreign_Tag", "sha256:foreign", Some(0)),
                ];
                let mut cache = vec![t("web.main", "sha256:cmain", None)];
                let mut buildah = Vec::new();
                let refs: Vec<(String, bool)> = live_names
                    .iter()
                    .map(|n| (n.clone(), true))
                    .chain(gone_names.iter().map(|n| (n.clone(), false)))
                    .collect();
                for (i, (n, _)) in refs.iter().enumerate() {
                    let info = refs::RefInfo::new(refs::RefKind::Branch, n, sha, "main", None);
                    // Some pushes reuse main's digest (an unchanged key retags main's image).
                    let d = if shares[i % shares.len()] {
                        "sha256:main".to_string()
                    } else {
                        format!("sha256:b{i}")
                    };
                    for tag in refs::image_tags(&info) {
                        image.push(t(&tag, &d, Some(0)));
                    }
                    image.push(t(&format!("key-{}", "c".repeat(64)), &d, Some(0)));
                    for part in &sc.cache_parts {
                        let ct = refs::cache_tag(part, &info.slug);
                        cache.push(t(&ct, &format!("sha256:c{i}{part}"), None));
                        buildah.push(Listing {
                            repository: format!("{}/{ct}", sc.cache_repo),
                            tags: vec![t("latest", &format!("sha256:l{i}{part}"), Some(0))],
                        });
                    }
                }
                // A tag can have one digest only: the last push wins, as in a registry.
                let mut seen = BTreeMap::new();
                for st in image.into_iter().rev() {
                    seen.entry(st.tag.clone()).or_insert(st);
                }
                let image: Vec<TagState> = seen.into_values().collect();
                let mut seen = BTreeMap::new();
                for st in cache.into_iter().rev() {
                    seen.entry(st.tag.clone()).or_insert(st);
                }
                let cache: Vec<TagState> = seen.into_values().collect();
                let mut listings = vec![
                    Listing { repository: "r/app/web".into(), tags: image.clone() },
                    Listing { repository: sc.cache_repo.clone(), tags: cache.clone() },
                    Listing { repository: "elsewhere/app".into(), tags: image.clone() },
                ];
                listings.extend(buildah);
                let report = select(&sc, &lv, &listings, &Policy::default());
                let live_slugs = lv.branch_slugs("main");
                let protected = ["main", "latest", "1.2.3", "1.2", "1", "tag-nightly", "stable", "Foreign_Tag", "web.main"];
                let c = Classifier::new(&sc, &lv);
                for e in &report.delete {
                    // (A buildah cache repository's step tags and `latest` are all its slug's.)
                    let buildah_repo = c.buildah_cache_slug(&e.repository).is_some();
                    prop_assert!(buildah_repo || !protected.contains(&e.tag.as_str()), "{e:?}");
                    if e.repository == "r/app/web" {
                        prop_assert!(
                            (is_branch_slug(&e.tag) && !live_slugs.contains_key(&e.tag))
                                || pr_number(&e.tag).is_some()
                                || is_floating(&e.tag),
                            "{e:?}"
                        );
                    } else if e.repository == sc.cache_repo {
                        let (part, slug) = e.tag.split_once('.').unwrap();
                        prop_assert!(sc.cache_parts.iter().any(|p| p == part), "{e:?}");
                        prop_assert!(is_branch_slug(slug) && !live_slugs.contains_key(slug), "{e:?}");
                    } else {
                        let slug = c.buildah_cache_slug(&e.repository);
                        prop_assert!(slug.is_some(), "{e:?}");
                        let slug = slug.unwrap();
                        prop_assert!(is_branch_slug(slug) && !live_slugs.contains_key(slug), "{e:?}");
                    }
                    // The whole digest goes: every tag on it is in the delete set.
                    let l = listings.iter().find(|l| l.repository == e.repository).unwrap();
                    for other in l.tags.iter().filter(|o| o.digest == e.digest) {
                        prop_assert!(
                            report.delete.iter().any(|d| d.repository == e.repository && d.tag == other.tag),
                            "{e:?} deletes {other:?} too"
                        );
                    }
                }
                // Every live branch's tags survive.
                for n in &live_names {
                    let info = refs::RefInfo::new(refs::RefKind::Branch, n, sha, "main", None);
                    prop_assert!(!report.delete.iter().any(|e| e.tag == info.slug), "{n:?}");
                }
            }
        }
    }
}
