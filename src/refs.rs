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

/// Length of the short sha used in the slug fallback (`sha-<short>` for a name with no letter or
/// digit; the same 7 characters as `git rev-parse --short` on small repositories). Image tags carry
/// the full sha ([`full_sha`]).
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

/// The short sha used in the slug fallback: the first [`SHORT_SHA_LEN`] characters of `sha`,
/// lower-cased, or `""` unless the WHOLE of `sha` is hexadecimal digits (no sha known, or
/// garbage).
pub fn short_sha(sha: &str) -> String {
    let full = full_sha(sha);
    full.chars().take(SHORT_SHA_LEN).collect()
}

/// The commit sha as image tags carry it (`sha-<full sha>`): `sha` lower-cased, or `""` unless it
/// is 1 to 64 hexadecimal digits (SHA-1 has 40, SHA-256 64).
///
/// Tags carry the full sha, never a prefix: a commit whose sha starts with another commit's
/// 7-digit prefix takes about a minute of CPU to make (`git` brute-forcing a colliding short
/// sha), so a `sha-<short>` tag could be overwritten by any branch; a full-sha collision cannot
/// be forged.
pub fn full_sha(sha: &str) -> String {
    if sha.is_empty() || sha.len() > 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return String::new();
    }
    sha.to_ascii_lowercase()
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

/// Prefixes no branch slug keeps as is: `br-` (the escape itself, so escaped slugs never meet
/// unescaped ones), `tag-` (git tags that are not semver), `pr-` (pull requests), `sha-` (commits).
pub const RESERVED_PREFIXES: [&str; 4] = ["br-", "tag-", "pr-", "sha-"];

/// Whether a branch slug lies in a namespace that other refs own, so a branch (the default one
/// included) must not use it as is: one of [`RESERVED_PREFIXES`], `latest` (the default branch's
/// moving tag, which is not its slug), `ref` (the last fallback), or all digits (a semver git tag
/// `v1.2.3` also pushes the major version `1`).
///
/// The image tag namespaces are then disjoint by construction:
///
/// | ref | tags | cache ref slug |
/// |---|---|---|
/// | default branch | its slug, `latest`, `sha-<full sha>` | its slug |
/// | other branch | its slug, `sha-<full sha>` | its slug |
/// | git tag | `1.2.3`, `1.2`, `1` (semver), `tag-<name>`, or a name with `.`, `_` or a capital | `tag-<slug>` (with `write-on-tag`) |
/// | pull request | `pr-<n>` | `pr-<n>` (with `write-on-pr`) |
/// | detached | `sha-<full sha>` | none |
///
/// A branch slug is neither reserved nor all digits (else it is `br-<slug>`) and has only
/// `[a-z0-9-]`, so it meets no semver, `tag-`, other git tag, `pr-` or `sha-` tag; only commits share `sha-<full sha>`, and only
/// with refs at the same commit.
pub fn is_reserved_slug(s: &str) -> bool {
    s == "latest"
        || s == "ref"
        || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        || RESERVED_PREFIXES.iter().any(|p| s.starts_with(p))
}

/// `prefix` + `s`, cut to [`SLUG_MAX`] with trailing `-` dropped.
fn prefixed(prefix: &str, s: &str) -> String {
    let mut e = format!("{prefix}{s}");
    e.truncate(SLUG_MAX);
    e.trim_end_matches('-').to_string()
}

/// The slug of a default branch named `name`: [`slug`] (`main` when empty), escaped to
/// `br-<slug>` when reserved ([`is_reserved_slug`]): a default branch called `pr-7`, `latest`,
/// `1` or `sha-0123456` must not share its tags and caches with pull request 7, the `latest`
/// tag, git tag `v1.0.0`'s `1` or a commit.
pub fn default_slug(name: &str) -> String {
    let s = slug(name);
    if s.is_empty() {
        "main".to_string()
    } else if is_reserved_slug(&s) {
        prefixed("br-", &s)
    } else {
        s
    }
}

/// The slug a branch other than the default one is keyed by: `s` itself unless it is reserved
/// ([`is_reserved_slug`]) or the default branch's slug, else `br-<s>` cut to [`SLUG_MAX`] with
/// trailing `-` dropped; in the rare cases where that cut gives back the default branch's slug,
/// the first of `br-sha-<short>`, `br-ref`, `br-br-ref` that differs from it.
/// So a branch `Main`, `main_`, `latest`, `1`, `tag-x`, `sha-0123456` or `pr-5` never writes the
/// default branch's tags or caches, nor the `latest`, semver, `tag-*`, `sha-*` or `pr-*` tags.
pub fn escape_slug(s: &str, default_slug: &str, sha: &str) -> String {
    if !is_reserved_slug(s) && s != default_slug {
        return s.to_string();
    }
    let e = prefixed("br-", s);
    if e != default_slug {
        return e;
    }
    let short = short_sha(sha);
    let sha_form = (!short.is_empty()).then(|| format!("br-sha-{short}"));
    sha_form
        .into_iter()
        .chain(["br-ref".to_string(), "br-br-ref".to_string()])
        .find(|c| c != default_slug)
        .expect("two distinct candidates")
}

/// The slug this ref's tags and cache refs are keyed by, in its own namespace (see
/// [`is_reserved_slug`]):
/// - default branch: [`default_slug`];
/// - other branch: [`escape_slug`] of [`ref_slug`];
/// - git tag: `tag-<ref_slug>`;
/// - pull request: `pr-<n>` (`pr-<ref_slug of the sha>` without a number);
/// - detached: `sha-<short sha>` (or `ref`).
pub fn own_slug(info: &RefInfo) -> String {
    match info.kind {
        RefKind::Branch if is_default_branch(info) => default_branch_slug(info),
        RefKind::Branch => escape_slug(
            &ref_slug(&info.name, &info.sha),
            &default_branch_slug(info),
            &info.sha,
        ),
        RefKind::Tag => prefixed("tag-", &ref_slug(&info.name, &info.sha)),
        RefKind::Pr => match info.pr {
            Some(n) => format!("pr-{n}"),
            None => prefixed("pr-", &ref_slug("", &info.sha)),
        },
        RefKind::Detached => ref_slug("", &info.sha),
    }
}

/// The slug of the default branch (its caches are every ref's fallback): [`default_slug`].
pub fn default_branch_slug(info: &RefInfo) -> String {
    default_slug(&info.default_branch)
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
/// valid Docker tag, and refs of different kinds never share one (see [`is_reserved_slug`]):
///
/// - branch: its [`own_slug`], `sha-<full sha>`, and `latest` on the default branch;
/// - tag: `1.2.3`, `1.2`, `1` for a semver tag (`v` optional; only `1.2.3-rc.1` for a
///   pre-release), else the name made valid ([`sanitize_tag`]), prefixed `tag-` when it could
///   be read as a branch slug (only `[a-z0-9-]`: `stable`, `1`, `pr-5`, `latest`), kept as is
///   otherwise (`2024.01`, `Release-Q1`: a `.`, `_` or capital never occurs in a branch slug);
/// - PR: `pr-<n>`;
/// - detached: `sha-<full sha>`.
///
/// Whatever would be empty falls back on [`own_slug`].
pub fn image_tags(info: &RefInfo) -> Vec<String> {
    let full = full_sha(&info.sha);
    let sha_tag = if full.is_empty() {
        String::new()
    } else {
        format!("sha-{full}")
    };
    let own = own_slug(info);
    let mut tags = Vec::new();
    match info.kind {
        RefKind::Branch => {
            push_unique(&mut tags, own.clone());
            push_unique(&mut tags, sha_tag);
            if is_default_branch(info) {
                push_unique(&mut tags, "latest".to_string());
            }
        }
        RefKind::Tag => match parse_semver_tag(&info.name) {
            Some(v) => semver_tags(&v)
                .into_iter()
                .for_each(|t| push_unique(&mut tags, t)),
            None => {
                let name = sanitize_tag(&info.name);
                let slug_like = name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if slug_like && !name.is_empty() {
                    let mut t = format!("tag-{name}");
                    t.truncate(TAG_MAX);
                    push_unique(&mut tags, t);
                } else {
                    push_unique(&mut tags, name);
                }
            }
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
/// "Own" is [`own_slug`], in the ref's own namespace: a ref other than the default branch never
/// uses the default branch's slug, and a PR's `pr-<n>` or a tag's `tag-<slug>` is never a
/// branch's (the default branch's included: one called `pr-7` is keyed `br-pr-7`).
///
/// - branch: read own slug, then the default branch's (once, on the default branch); write own.
/// - tag: read the default branch's; write none (with `write_on_tag`: read and write own first).
/// - PR: read the head branch's (its [`own_slug`] as a branch), then the default branch's;
///   write none (with `write_on_pr`: read and write `pr-<n>` first; never the head branch's
///   slug, which a fork could name like the default branch).
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
                add(&mut from, r(&own));
                to = Some(r(&own));
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
