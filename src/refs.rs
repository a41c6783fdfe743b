//! Ref slugs, image tags and cache refs: the per-ref policy that keeps a feature branch's
//! images and caches from leaking into the default branch. Pure functions only.
//!
//! OWNER: ref policy work (issue 3). The types and signatures below are the contract the
//! planner codes against; extend them, don't rename them.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RefKind {
    Branch,
    Tag,
    Pr,
    Detached,
}

/// The ref a pipeline runs for (or is generated on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefInfo {
    /// Branch or tag name (for a PR: its head branch); for detached HEAD the short sha.
    pub name: String,
    pub kind: RefKind,
    /// [`own_slug`]: the slug its tags and cache refs use.
    pub slug: String,
    pub sha: String,
    #[serde(skip)]
    pub short_sha: String,
    pub default_branch: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr: Option<u64>,
}

/// Where caches are read from and written to, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CachePolicy {
    /// Tag builds write a cache too (default: no, they only read the default branch's).
    pub write_on_tag: bool,
    /// PR builds write a cache too (default: no).
    pub write_on_pr: bool,
}

/// The cache refs of one stage for one ref: read in order, write at most one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheRefs {
    pub from: Vec<String>,
    pub to: Option<String>,
}

/// Length of the short sha used in `sha-<short>` tags and in the slug fallback
/// (the same 7 characters as `git rev-parse --short` on small repositories).
pub const SHORT_SHA_LEN: usize = 7;

/// Maximum length of a slug (GitLab: "Maximum length is 63 bytes").
pub const SLUG_MAX: usize = 63;

/// Maximum length of a Docker tag.
pub const TAG_MAX: usize = 128;

/// Maximum length of the stage part of a cache tag (`<stage part>.<slug>`): with a slug of at
/// most [`SLUG_MAX`] characters the whole tag stays within [`TAG_MAX`].
pub const CACHE_STAGE_MAX: usize = TAG_MAX - 1 - SLUG_MAX;

/// GitLab's `CI_COMMIT_REF_SLUG`, exactly.
///
/// GitLab computes it with `Gitlab::Utils.slugify` (gitlab-org/gitlab, `lib/gitlab/utils.rb`,
/// called from `Ci::HasRef#ref_slug` in `app/models/concerns/ci/has_ref.rb`):
///
/// ```ruby
/// str.downcase.gsub(/[^a-z0-9]/, '-')[0..62].gsub(/(\A-+|-+\z)/, '')
/// ```
///
/// Ruby semantics, reproduced here: `String#downcase` is the full Unicode lower-case mapping
/// (so `İ` U+0130 becomes `i` + U+0307 and `K` KELVIN SIGN U+212A becomes `k`); the regexp
/// works on *characters* of the UTF-8 string, so every non-ASCII character becomes exactly
/// one `-`, never one per byte; `[0..62]` keeps 63 characters, all ASCII by then (so also 63
/// bytes); leading and trailing `-` are then stripped. No collapsing of `--`.
///
/// The result may be empty (`"///"`, `"äöü"`); see [`ref_slug`] for the fallback.
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len().min(SLUG_MAX));
    'outer: for c in name.chars() {
        for l in c.to_lowercase() {
            if out.len() == SLUG_MAX {
                break 'outer;
            }
            out.push(if l.is_ascii_lowercase() || l.is_ascii_digit() {
                l
            } else {
                '-'
            });
        }
    }
    out.trim_matches('-').to_string()
}

/// The short sha used in tags: the first [`SHORT_SHA_LEN`] characters of `sha`, lower-cased,
/// or `""` when those are not all hexadecimal digits (no sha known, or garbage).
pub fn short_sha(sha: &str) -> String {
    let s: String = sha
        .chars()
        .take(SHORT_SHA_LEN)
        .collect::<String>()
        .to_ascii_lowercase();
    if s.bytes().all(|b| b.is_ascii_hexdigit()) {
        s
    } else {
        String::new()
    }
}

/// The slug a ref is known by in tags and cache refs: [`slug`] of its name; when that is empty
/// (the name has no ASCII letter or digit), `sha-<short sha>`; with no usable sha either, `ref`.
pub fn ref_slug(name: &str, sha: &str) -> String {
    let s = slug(name);
    if !s.is_empty() {
        return s;
    }
    let short = short_sha(sha);
    if short.is_empty() {
        "ref".to_string()
    } else {
        format!("sha-{short}")
    }
}

/// Whether `info` is the default branch itself (the only ref that may write its tags and caches).
pub fn is_default_branch(info: &RefInfo) -> bool {
    info.kind == RefKind::Branch && info.name == info.default_branch
}

/// Whether a slug lies in a namespace a ref other than the default branch must not use as is:
/// the default branch's slug, `latest`, `sha-<hex>`, `pr-<digits>`, or the escape prefix `br-`
/// itself (so escaped slugs never meet unescaped ones).
pub fn is_reserved_slug(s: &str, default_slug: &str) -> bool {
    is_owned_name(s, default_slug) || s.starts_with("br-")
}

/// Whether `s` reads like a tag only the default branch or a given commit/PR may set: the
/// default branch's slug, `latest`, `sha-<hex>` or `pr-<digits>`.
fn is_owned_name(s: &str, default_slug: &str) -> bool {
    fn tail(s: &str, prefix: &str, ok: fn(&u8) -> bool) -> bool {
        s.strip_prefix(prefix)
            .is_some_and(|t| !t.is_empty() && t.as_bytes().iter().all(ok))
    }
    s == default_slug
        || s == "latest"
        || tail(s, "sha-", u8::is_ascii_hexdigit)
        || tail(s, "pr-", u8::is_ascii_digit)
}

/// The slug a ref other than the default branch is keyed by: `s` itself unless it is reserved
/// ([`is_reserved_slug`]), else `br-<s>` cut to [`SLUG_MAX`] with trailing `-` dropped (and, in
/// the one case where that cut gives back the default branch's slug, `br-sha-<short>`/`br-ref`).
/// So a branch `Main`, `main_`, `latest`, `sha-0123456` or `pr-5` never writes the default
/// branch's tags or caches, nor the `latest`, `sha-*` or `pr-*` tags.
pub fn escape_slug(s: &str, default_slug: &str, sha: &str) -> String {
    if !is_reserved_slug(s, default_slug) {
        return s.to_string();
    }
    let mut e = format!("br-{s}");
    e.truncate(SLUG_MAX);
    let e = e.trim_end_matches('-').to_string();
    if e != default_slug {
        return e;
    }
    let short = short_sha(sha);
    if short.is_empty() {
        "br-ref".to_string()
    } else {
        format!("br-sha-{short}")
    }
}

/// The slug this ref's tags and cache refs are keyed by: [`ref_slug`] for the default branch,
/// [`escape_slug`] of it for every other ref.
pub fn own_slug(info: &RefInfo) -> String {
    let s = ref_slug(&info.name, &info.sha);
    if is_default_branch(info) {
        s
    } else {
        escape_slug(&s, &default_branch_slug(info), &info.sha)
    }
}

/// The slug of the default branch (its caches are every ref's fallback).
pub fn default_branch_slug(info: &RefInfo) -> String {
    let s = slug(&info.default_branch);
    if s.is_empty() {
        "main".to_string()
    } else {
        s
    }
}

/// Whether `tag` is a valid Docker tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= TAG_MAX
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A git tag name made into a Docker tag: every character outside `[A-Za-z0-9_.-]` becomes one
/// `-` (case is kept), leading `.`/`-` are dropped, the rest is cut to 128 characters.
/// May be empty.
pub fn sanitize_tag(name: &str) -> String {
    let mapped: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    mapped
        .trim_start_matches(['.', '-'])
        .chars()
        .take(TAG_MAX)
        .collect()
}

/// A semantic-version git tag, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemverTag {
    pub major: String,
    pub minor: String,
    pub patch: String,
    /// Without the leading `-`.
    pub pre: Option<String>,
    /// Without the leading `+`.
    pub build: Option<String>,
}

/// Parses `v?MAJOR.MINOR.PATCH[-PRE][+BUILD]`: numbers without leading zeros, PRE and BUILD
/// dot-separated non-empty identifiers of `[0-9A-Za-z-]`. (The same grammar as the `sed -E`
/// expression in `templates/shared/ref.sh`.)
pub fn parse_semver_tag(name: &str) -> Option<SemverTag> {
    fn num(s: &str) -> Option<&str> {
        let ok = !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_digit())
            && (s == "0" || !s.starts_with('0'));
        ok.then_some(s)
    }
    fn idents(s: &str) -> Option<String> {
        let ok = s
            .split('.')
            .all(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        ok.then(|| s.to_string())
    }
    let s = name.strip_prefix('v').unwrap_or(name);
    let (rest, build) = match s.split_once('+') {
        Some((r, b)) => (r, Some(idents(b)?)),
        None => (s, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(idents(p)?)),
        None => (rest, None),
    };
    let mut parts = core.split('.');
    let major = num(parts.next()?)?.to_string();
    let minor = num(parts.next()?)?.to_string();
    let patch = num(parts.next()?)?.to_string();
    if parts.next().is_some() {
        return None;
    }
    Some(SemverTag {
        major,
        minor,
        patch,
        pre,
        build,
    })
}

/// The Docker tags of a semver git tag: `1.2.3`, `1.2`, `1` (only the full version for a
/// pre-release). Build metadata is kept with `+` turned into `-` (`+` is not valid in a tag).
pub fn semver_tags(v: &SemverTag) -> Vec<String> {
    let mut full = format!("{}.{}.{}", v.major, v.minor, v.patch);
    if let Some(p) = &v.pre {
        full.push('-');
        full.push_str(p);
    }
    if let Some(b) = &v.build {
        full.push('-');
        full.push_str(b);
    }
    full.truncate(TAG_MAX);
    let mut tags = vec![full];
    if v.pre.is_none() {
        tags.push(format!("{}.{}", v.major, v.minor));
        tags.push(v.major.clone());
    }
    tags
}

fn push_unique(tags: &mut Vec<String>, t: String) {
    if !t.is_empty() && !tags.contains(&t) {
        tags.push(t);
    }
}

/// The tags every built image of this ref gets, in order, without duplicates; every one is a
/// valid Docker tag.
///
/// - branch: `<slug>`, `sha-<short sha>`, and `latest` on the default branch;
/// - tag: `1.2.3`, `1.2`, `1` for a semver tag (`v` optional; only `1.2.3-rc.1` for a
///   pre-release), else the tag name made valid ([`sanitize_tag`]);
/// - PR: `pr-<n>`;
/// - detached: `sha-<short sha>`.
///
/// Whatever would be empty falls back on [`own_slug`]. A branch is tagged with its
/// [`own_slug`], so a branch other than the default one never gets the default branch's slug,
/// `latest`, `sha-<hex>` or `pr-<digits>` as its name tag (it gets `br-<slug>`); a git tag whose
/// name would read like one of those (`latest`, `main`, `sha-0123456`, `pr-5`) becomes
/// `ref-<name>`, so only the default branch ever moves `latest` or its own slug.
pub fn image_tags(info: &RefInfo) -> Vec<String> {
    let short = short_sha(&info.sha);
    let sha_tag = if short.is_empty() {
        String::new()
    } else {
        format!("sha-{short}")
    };
    let is_default = is_default_branch(info);
    let default_slug = default_branch_slug(info);
    let own = own_slug(info);
    let named = |t: String| {
        if is_owned_name(&t, &default_slug) {
            let mut r = format!("ref-{t}");
            r.truncate(TAG_MAX);
            r
        } else {
            t
        }
    };
    let mut tags = Vec::new();
    match info.kind {
        RefKind::Branch => {
            push_unique(&mut tags, own.clone());
            push_unique(&mut tags, sha_tag);
            if is_default {
                push_unique(&mut tags, "latest".to_string());
            }
        }
        RefKind::Tag => match parse_semver_tag(&info.name) {
            Some(v) => semver_tags(&v)
                .into_iter()
                .for_each(|t| push_unique(&mut tags, t)),
            None => push_unique(&mut tags, named(sanitize_tag(&info.name))),
        },
        RefKind::Pr => {
            if let Some(n) = info.pr {
                push_unique(&mut tags, format!("pr-{n}"));
            }
        }
        RefKind::Detached => push_unique(&mut tags, sha_tag),
    }
    if tags.is_empty() {
        tags.push(own);
    }
    tags
}

/// The stage part of a cache tag: the stage name lower-cased with every character outside
/// `[a-z0-9]` (`_` and `.` included) turned into `-`, leading and trailing `-` dropped (empty →
/// `stage`); when longer than [`CACHE_STAGE_MAX`] it is cut and suffixed with `-` and 8 hex
/// digits of a hash (FNV-1a) of the stage name, so distinct long names keep distinct cache refs.
/// Depends only on the stage, so templates can append `.<slug>` computed at run time. It never
/// contains `.`, the separator of [`cache_tag`].
pub fn cache_stage_part(stage: &str) -> String {
    let mapped: String = stage
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches('-');
    let part = if trimmed.is_empty() {
        "stage".to_string()
    } else {
        trimmed.to_string()
    };
    if part.len() <= CACHE_STAGE_MAX {
        return part;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in stage.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!(
        "{}-{:08x}",
        &part[..CACHE_STAGE_MAX - 9],
        (h >> 32) as u32 ^ h as u32
    )
}

/// The cache tag of a stage for a slug: `<stage part>.<slug>`. Neither part can contain `.`
/// (both are `[a-z0-9-]`), so the tag names its stage and its ref unambiguously (with `-`,
/// stage `web` on `app-main` and stage `web-app` on `main` would share `web-app-main`). Always
/// ≤ 128 characters and a valid tag for a slug from [`slug`]/[`ref_slug`]/[`own_slug`]; as the
/// buildah cache repository `<cache repo>/<tag>` it is also a valid path component
/// (`[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`).
pub fn cache_tag(stage: &str, slug: &str) -> String {
    format!("{}.{}", cache_stage_part(stage), slug)
}

/// The cache refs of `stage` for this ref, in `cache_repo` (e.g. `ghcr.io/o/n/cache`).
///
/// "Own" is [`own_slug`]: a ref other than the default branch never uses the default branch's
/// slug (nor `latest`, `sha-<hex>`, `pr-<digits>`), so it never writes the default's cache.
///
/// - branch: read own slug, then the default branch's (once, on the default branch); write own.
/// - tag: read the default branch's; write none (with `write_on_tag`: read and write own first).
/// - PR: read the head branch's (its [`own_slug`] as a branch), then the default branch's;
///   write none (with
///   `write_on_pr`: read and write `pr-<n>` first; never the head branch's slug, which a fork
///   could name like the default branch).
/// - detached: read the default branch's; write none.
///
/// Every stage has its own refs: one cache export replaces the ref's whole index, so two
/// targets must never share one.
pub fn cache_refs(
    cache_repo: &str,
    stage: &str,
    info: &RefInfo,
    policy: &CachePolicy,
) -> CacheRefs {
    let own = own_slug(info);
    // A PR reads the cache its head branch writes as a branch (the default branch's own slug
    // when the head is called like it, which the default fallback then covers).
    let head = own_slug(&RefInfo {
        kind: RefKind::Branch,
        ..info.clone()
    });
    let default = default_branch_slug(info);
    let r = |s: &str| format!("{cache_repo}:{}", cache_tag(stage, s));
    let mut from: Vec<String> = Vec::new();
    let mut to = None;
    let add = |from: &mut Vec<String>, s: String| {
        if !from.contains(&s) {
            from.push(s);
        }
    };
    match info.kind {
        RefKind::Branch => {
            add(&mut from, r(&own));
            to = Some(r(&own));
        }
        RefKind::Tag => {
            if policy.write_on_tag {
                add(&mut from, r(&own));
                to = Some(r(&own));
            }
        }
        RefKind::Pr => {
            if policy.write_on_pr {
                let pr = match info.pr {
                    Some(n) => format!("pr-{n}"),
                    None => own.clone(),
                };
                add(&mut from, r(&pr));
                to = Some(r(&pr));
            }
            add(&mut from, r(&head));
        }
        RefKind::Detached => {}
    }
    add(&mut from, r(&default));
    CacheRefs { from, to }
}

impl RefInfo {
    /// Builds a consistent `RefInfo` (slug and short sha derived here; the slug is
    /// [`own_slug`], the one its tags and cache refs use).
    pub fn new(
        kind: RefKind,
        name: &str,
        sha: &str,
        default_branch: &str,
        pr: Option<u64>,
    ) -> RefInfo {
        let mut info = RefInfo {
            name: name.to_string(),
            kind,
            slug: String::new(),
            sha: sha.to_string(),
            short_sha: short_sha(sha),
            default_branch: default_branch.to_string(),
            pr,
        };
        info.slug = own_slug(&info);
        info
    }
}

/// `templates/shared/ref.sh`: the POSIX-sh functions the GitHub, Drone and Woodpecker templates
/// embed to compute the same slug and tags at run time (`gp_slug`, `gp_tags`, `gp_cache`).
pub const REF_SH: &str = include_str!("../templates/shared/ref.sh");
