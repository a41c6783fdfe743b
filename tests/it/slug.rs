//! Ref slugs, image tags and cache refs: known GitLab cases, the run-time POSIX-sh snippet
//! (`templates/shared/ref.sh`) against the Rust functions under dash and busybox sh, and
//! property tests for validity.

use std::fmt::Write as _;
use std::process::Command;

use gen_pipeline::refs::{
    self, cache_refs, cache_stage_part, cache_tag, image_tags, is_valid_tag, own_slug, ref_slug,
    slug, CachePolicy, RefInfo, RefKind,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Known values, worked out by hand from GitLab's
// `str.downcase.gsub(/[^a-z0-9]/, '-')[0..62].gsub(/(\A-+|-+\z)/, '')`.

#[test]
fn slug_follows_gitlab_rules() {
    let a = |n: usize| "a".repeat(n);
    let cases: Vec<(String, String)> = vec![
        ("main".into(), "main".into()),
        ("TEST".into(), "test".into()),
        ("fix/1-foo".into(), "fix-1-foo".into()),
        (
            "feature/JIRA-12_do.the+thing".into(),
            "feature-jira-12-do-the-thing".into(),
        ),
        ("a//b".into(), "a--b".into()), // one for one, no collapsing
        ("test_trailing_".into(), "test-trailing".into()),
        (a(63), a(63)),
        (a(64), a(63)),
        (a(70), a(63)),
        (format!("-{}-", a(61)), a(61)),
        (format!("-{}-", a(62)), a(62)),
        (format!("-{}-", a(63)), a(62)), // cut to 63 *before* stripping
        (format!("{} ", a(62)), a(62)),
        (format!("{}-b", a(62)), a(62)), // the cut leaves a trailing '-' that is then stripped
        ("///".into(), "".into()),
        ("".into(), "".into()),
        ("äöü".into(), "".into()),
        // Unicode: one '-' per *character*, not per byte.
        ("aäb".into(), "a-b".into()),
        ("a日本b".into(), "a--b".into()),
        ("a😀b".into(), "a-b".into()),
        // 10 two-byte characters then 60 'a': per character the cut keeps 53 'a'
        // (per byte it would keep only 43).
        (format!("{}{}", "é".repeat(10), a(60)), a(53)),
        // Ruby's full Unicode downcase: KELVIN SIGN → 'k'; 'İ' → 'i' + U+0307.
        ("\u{212A}elvin".into(), "kelvin".into()),
        ("İstanbul".into(), "i-stanbul".into()),
        ("ÅNGSTRÖM".into(), "ngstr-m".into()),
    ];
    for (name, want) in cases {
        assert_eq!(slug(&name), want, "slug({name:?})");
    }
}

#[test]
fn ref_slug_falls_back_on_short_sha() {
    assert_eq!(ref_slug("Feature/X", "0123456789abcdef"), "feature-x");
    assert_eq!(ref_slug("///", "ABCDEF0123456789"), "sha-abcdef0");
    assert_eq!(ref_slug("äöü", "abc"), "sha-abc");
    assert_eq!(ref_slug("///", ""), "ref");
    assert_eq!(ref_slug("///", "not-a-sha"), "ref");
}

fn info(kind: RefKind, name: &str, sha: &str, default: &str, pr: Option<u64>) -> RefInfo {
    RefInfo::new(kind, name, sha, default, pr)
}

const SHA: &str = "8f14e45fceea167a5a36dedd4bea2543ac5b1c2d";
/// The commit tag: the FULL sha (see `sha_tag_is_the_full_commit_sha`).
const SHA_TAG: &str = "sha-8f14e45fceea167a5a36dedd4bea2543ac5b1c2d";

#[test]
fn tags_per_ref_kind() {
    let t = |i: RefInfo| image_tags(&i);
    assert_eq!(
        t(info(RefKind::Branch, "main", SHA, "main", None)),
        ["main", SHA_TAG, "latest"]
    );
    assert_eq!(
        t(info(RefKind::Branch, "Feature/Login", SHA, "main", None)),
        ["feature-login", SHA_TAG]
    );
    // A branch whose name reduces to nothing: the slug falls back on the sha, escaped (a branch
    // never sets a `sha-<hex>` tag under its name).
    assert_eq!(
        t(info(RefKind::Branch, "äöü", SHA, "main", None)),
        ["br-sha-8f14e45", SHA_TAG]
    );
    assert_eq!(
        t(info(RefKind::Tag, "v1.2.3", SHA, "main", None)),
        ["1.2.3", "1.2", "1"]
    );
    assert_eq!(
        t(info(RefKind::Tag, "10.0.1", SHA, "main", None)),
        ["10.0.1", "10.0", "10"]
    );
    assert_eq!(
        t(info(RefKind::Tag, "v1.2.3-rc.1", SHA, "main", None)),
        ["1.2.3-rc.1"]
    );
    assert_eq!(
        t(info(RefKind::Tag, "v1.2.3+build.7", SHA, "main", None)),
        ["1.2.3-build.7", "1.2", "1"]
    );
    // Not semver: leading zeros, two parts, four parts → the sanitized name, case kept (it has
    // a `.` or a capital, which no branch slug has); `tag-` only for a name a branch could have.
    assert_eq!(
        t(info(RefKind::Tag, "v01.2.3", SHA, "main", None)),
        ["v01.2.3"]
    );
    assert_eq!(t(info(RefKind::Tag, "v1.2", SHA, "main", None)), ["v1.2"]);
    assert_eq!(
        t(info(RefKind::Tag, "Release/2024 Q1", SHA, "main", None)),
        ["Release-2024-Q1"]
    );
    assert_eq!(
        t(info(RefKind::Tag, "release-7", SHA, "main", None)),
        ["tag-release-7"]
    );
    assert_eq!(t(info(RefKind::Tag, "-.x", SHA, "main", None)), ["tag-x"]);
    assert_eq!(
        t(info(RefKind::Tag, "...", SHA, "main", None)),
        ["tag-sha-8f14e45"]
    );
    assert_eq!(
        t(info(RefKind::Pr, "feature/x", SHA, "main", Some(42))),
        ["pr-42"]
    );
    assert_eq!(
        t(info(RefKind::Detached, "8f14e45", SHA, "main", None)),
        [SHA_TAG]
    );
    assert_eq!(t(info(RefKind::Detached, "", "", "main", None)), ["ref"]);
    // Only the default branch moves `latest`.
    assert_eq!(
        t(info(RefKind::Branch, "Latest", SHA, "main", None)),
        ["br-latest", SHA_TAG]
    );
    // A branch other than the default one never gets the default branch's slug, nor a name in
    // the reserved namespaces (`sha-`, `pr-`, `tag-`, `br-`, all digits, `ref`).
    for (name, want) in [
        ("Main", "br-main"),
        ("MAIN", "br-main"),
        ("main_", "br-main"),
        ("main-", "br-main"),
        ("/main/", "br-main"),
        ("sha-0123456", "br-sha-0123456"),
        ("SHA-abcdef0", "br-sha-abcdef0"),
        ("pr-5", "br-pr-5"),
        ("br-main", "br-br-main"),
        ("br", "br"),
        ("sha-xyz", "br-sha-xyz"),
        ("pr-5a", "br-pr-5a"),
        ("tag-x", "br-tag-x"),
        ("1", "br-1"),
        ("2024", "br-2024"),
        ("ref", "br-ref"),
        ("v1", "v1"),
        ("1a", "1a"),
        ("sha", "sha"),
        ("mainline", "mainline"),
    ] {
        let i = info(RefKind::Branch, name, SHA, "main", None);
        assert_eq!(i.slug, want, "{name}");
        assert_eq!(t(i), [want, SHA_TAG], "{name}");
    }
    // The escape stays within 63 characters, and never gives back the default branch's slug.
    let long = "a".repeat(70);
    let i = info(RefKind::Branch, &long.to_uppercase(), SHA, &long, None);
    assert_eq!(i.slug, format!("br-{}", "a".repeat(60)));
    let periodic = "br-".repeat(21); // slug: 62 characters, `br-br-…-br`
    let i = info(
        RefKind::Branch,
        &periodic.to_uppercase(),
        SHA,
        &periodic,
        None,
    );
    assert_eq!(i.slug, "br-sha-8f14e45");
    // A default branch with a reserved-looking name is escaped too (see
    // `reserved_default_branch_slug_never_meets_a_pr_or_tag`).
    assert_eq!(
        t(info(RefKind::Branch, "pr-5", SHA, "pr-5", None)),
        ["br-pr-5", SHA_TAG, "latest"]
    );
    // Git tags that are not semver all get `tag-`, so none reads like a branch's or PR's tag.
    for (name, want) in [
        ("main", "tag-main"),
        ("sha-0123456", "tag-sha-0123456"),
        ("pr-12", "tag-pr-12"),
        ("Main", "Main"),
        ("stable", "tag-stable"),
    ] {
        assert_eq!(
            t(info(RefKind::Tag, name, SHA, "main", None)),
            [want],
            "{name}"
        );
    }
    assert_eq!(
        t(info(RefKind::Tag, "latest", SHA, "main", None)),
        ["tag-latest"]
    );
    assert_eq!(
        t(info(RefKind::Branch, "latest", SHA, "latest", None)),
        ["br-latest", SHA_TAG, "latest"]
    );
    let long = format!("v1.2.3-{}", "x".repeat(200));
    let tags = t(info(RefKind::Tag, &long, SHA, "main", None));
    assert_eq!(tags.len(), 1);
    assert_eq!(tags[0].len(), 128);
    assert!(tags[0].starts_with("1.2.3-xxx"));
}

#[test]
fn cache_refs_per_ref_kind() {
    let repo = "ghcr.io/acme/app/cache";
    let pol = CachePolicy::default();
    let c = |i: &RefInfo, p: &CachePolicy| {
        let r = cache_refs(repo, "build", i, p);
        (r.from, r.to)
    };
    let s = |v: &[&str]| v.iter().map(|x| format!("{repo}:{x}")).collect::<Vec<_>>();
    let feat = info(RefKind::Branch, "feature/x", SHA, "main", None);
    assert_eq!(
        c(&feat, &pol),
        (
            s(&["build.feature-x", "build.main"]),
            Some(format!("{repo}:build.feature-x"))
        )
    );
    let main = info(RefKind::Branch, "main", SHA, "main", None);
    assert_eq!(
        c(&main, &pol),
        (s(&["build.main"]), Some(format!("{repo}:build.main")))
    );
    let tag = info(RefKind::Tag, "v1.0.0", SHA, "main", None);
    assert_eq!(c(&tag, &pol), (s(&["build.main"]), None));
    let wt = CachePolicy {
        write_on_tag: true,
        ..pol
    };
    assert_eq!(
        c(&tag, &wt),
        (
            s(&["build.tag-v1-0-0", "build.main"]),
            Some(format!("{repo}:build.tag-v1-0-0"))
        )
    );
    let pr = info(RefKind::Pr, "feature/x", SHA, "main", Some(7));
    assert_eq!(c(&pr, &pol), (s(&["build.feature-x", "build.main"]), None));
    let wp = CachePolicy {
        write_on_pr: true,
        ..pol
    };
    assert_eq!(
        c(&pr, &wp),
        (
            s(&["build.pr-7", "build.feature-x", "build.main"]),
            Some(format!("{repo}:build.pr-7"))
        )
    );
    // A fork PR whose head branch is called like the default branch never writes the default's cache.
    let fork = info(RefKind::Pr, "main", SHA, "main", Some(8));
    assert_eq!(
        c(&fork, &wp),
        (
            s(&["build.pr-8", "build.main"]),
            Some(format!("{repo}:build.pr-8"))
        )
    );
    let det = info(RefKind::Detached, "8f14e45", SHA, "main", None);
    assert_eq!(c(&det, &pol), (s(&["build.main"]), None));
    // Different stages never share a ref; long stage names stay distinct and within 128.
    let a = cache_refs(repo, &format!("{}a", "s".repeat(100)), &feat, &pol);
    let b = cache_refs(repo, &format!("{}b", "s".repeat(100)), &feat, &pol);
    assert_ne!(a.to, b.to);
    for r in a.from.iter().chain(b.from.iter()) {
        let tag = r.rsplit_once(':').unwrap().1;
        assert!(is_valid_tag(tag), "{tag}");
    }
    assert_eq!(cache_stage_part("Build_Stage.1"), "build-stage-1");
    assert_eq!(cache_stage_part("..x"), "x");
    assert_eq!(cache_stage_part("x-_"), "x");
    assert_eq!(cache_stage_part("--"), "stage");
    // The separator `.` appears in neither part: stage `web` on `app-main` and stage `web-app`
    // on `main` no longer share a ref.
    let app_main = info(RefKind::Branch, "app-main", SHA, "main", None);
    let web = cache_refs(repo, "web", &app_main, &pol);
    let web_app = cache_refs(repo, "web-app", &main, &pol);
    assert_eq!(
        web.to.as_deref(),
        Some("ghcr.io/acme/app/cache:web.app-main")
    );
    assert_eq!(
        web_app.to.as_deref(),
        Some("ghcr.io/acme/app/cache:web-app.main")
    );
    // A branch named like the default one writes its own, escaped cache ref.
    let squat = info(RefKind::Branch, "Main", SHA, "main", None);
    assert_eq!(
        c(&squat, &pol),
        (
            s(&["build.br-main", "build.main"]),
            Some(format!("{repo}:build.br-main"))
        )
    );
    // A tag named like the default branch, written with write-on-tag, does not write main's.
    let tag_main = info(RefKind::Tag, "main", SHA, "main", None);
    assert_eq!(
        c(&tag_main, &wt),
        (
            s(&["build.tag-main", "build.main"]),
            Some(format!("{repo}:build.tag-main"))
        )
    );
}

/// Issue 9, section 5: a branch and a git tag never write the same image tag.
#[test]
fn branch_and_tag_namespaces_are_disjoint() {
    let tags = |k: RefKind, name: &str| image_tags(&info(k, name, SHA, "main", None));
    // Branch `1` and tag `v1.2.3` (which also pushes the major version `1`).
    assert_eq!(tags(RefKind::Branch, "1"), ["br-1", SHA_TAG]);
    assert!(tags(RefKind::Tag, "v1.2.3").contains(&"1".to_string()));
    // Branch `stable` and tag `stable`.
    assert_eq!(tags(RefKind::Branch, "stable"), ["stable", SHA_TAG]);
    assert_eq!(tags(RefKind::Tag, "stable"), ["tag-stable"]);
    // Git tag `br-main` and branch `Main` (escaped to `br-main`).
    assert_eq!(tags(RefKind::Branch, "Main"), ["br-main", SHA_TAG]);
    assert_eq!(tags(RefKind::Tag, "br-main"), ["tag-br-main"]);
    // A branch cannot reach into the tag namespace either.
    assert_eq!(
        tags(RefKind::Branch, "tag-stable"),
        ["br-tag-stable", SHA_TAG]
    );
    // And caches: a tag written with write-on-tag never writes a branch's cache ref.
    let wt = CachePolicy {
        write_on_tag: true,
        write_on_pr: false,
    };
    let to = |k: RefKind, name: &str| {
        cache_refs("r/c", "app", &info(k, name, SHA, "main", None), &wt).to
    };
    assert_ne!(to(RefKind::Tag, "stable"), to(RefKind::Branch, "stable"));
    assert_eq!(to(RefKind::Tag, "stable").unwrap(), "r/c:app.tag-stable");
}

/// Issue 9, section 5: `sha-<7 hex>` is forgeable (a commit whose sha starts with another's 7
/// digits is a minute of CPU away), so commits are tagged with their full sha only.
#[test]
fn sha_tag_is_the_full_commit_sha() {
    let forged = "8f14e45000000000000000000000000000000000";
    for kind in [RefKind::Branch, RefKind::Detached] {
        let real = image_tags(&info(kind, "main", SHA, "main", None));
        let fake = image_tags(&info(kind, "evil", forged, "main", None));
        assert!(real.contains(&SHA_TAG.to_string()), "{real:?}");
        assert!(
            real.iter().all(|t| !fake.contains(t)),
            "{kind:?}: {real:?} / {fake:?}"
        );
        assert!(
            real.iter().all(|t| t != "sha-8f14e45"),
            "no short-sha tag: {real:?}"
        );
    }
    // SHA-256 object names too; an upper-case sha is the same commit.
    let sha256 = "ab".repeat(32);
    assert_eq!(
        image_tags(&info(
            RefKind::Detached,
            "x",
            &sha256.to_uppercase(),
            "main",
            None
        )),
        [format!("sha-{sha256}")]
    );
}

/// Issue 9, section 5: a default branch whose slug looks reserved (`pr-7`, `latest`, `sha-…`,
/// `1`, `tag-x`) is keyed `br-<slug>`, so PR 7, a commit, a semver tag or a git tag never write
/// its tags or its cache.
#[test]
fn reserved_default_branch_slug_never_meets_a_pr_or_tag() {
    let both = CachePolicy {
        write_on_tag: true,
        write_on_pr: true,
    };
    let to = |i: &RefInfo| cache_refs("r/c", "app", i, &both).to;
    for (default, want) in [
        ("pr-7", "br-pr-7"),
        ("latest", "br-latest"),
        ("sha-0123456", "br-sha-0123456"),
        ("1", "br-1"),
        ("tag-x", "br-tag-x"),
        ("br-x", "br-br-x"),
        ("ref", "br-ref"),
        ("main", "main"),
    ] {
        let def = info(RefKind::Branch, default, SHA, default, None);
        assert_eq!(def.slug, want, "{default}");
        assert_eq!(to(&def).unwrap(), format!("r/c:app.{want}"));
        let pr = info(RefKind::Pr, "feature", SHA, default, Some(7));
        assert_eq!(to(&pr).unwrap(), "r/c:app.pr-7");
        assert_ne!(to(&pr), to(&def), "{default}");
        // Every other ref reads the default branch's cache under its escaped slug.
        assert_eq!(
            cache_refs("r/c", "app", &pr, &both).from.last().unwrap(),
            &format!("r/c:app.{want}")
        );
        for other in [
            info(RefKind::Tag, default, SHA, default, None),
            info(RefKind::Tag, "v1.0.0", SHA, default, None),
            info(RefKind::Detached, "x", "0123456abcdef", default, None),
            pr.clone(),
        ] {
            assert_ne!(to(&other), to(&def), "{other:?}");
            let dt = image_tags(&def);
            assert!(
                image_tags(&other).iter().all(|t| !dt.contains(t)),
                "{other:?} vs {dt:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The POSIX-sh snippet against the Rust functions.

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const POOL: &[char] = &[
    'a', 'b', 'z', 'm', 'A', 'Q', 'Z', '0', '5', '9', '/', '.', '_', '-', '+', '@', '#', ' ', '~',
    '^', ':', '\'', '"', '\\', '$', '`', '*', '?', '[', ']', '!', '%', '&', '(', '=', '{', '}',
    ';', '|', '<', '\t', '\n', 'é', 'ß', 'Ä', 'İ', '\u{212A}', '\u{212B}', 'Σ', 'ς', '日', '本',
    '😀', '\u{307}', 'ǅ', 'Ω', 'ﬁ', '\u{7f}', '\u{1}',
];

fn gen_name(rng: &mut Rng) -> String {
    let mut s = String::new();
    match rng.below(10) {
        // ref-like: words joined by / - _ .
        0..=3 => {
            for i in 0..=rng.below(4) {
                if i > 0 {
                    s.push(*rng.pick(&['/', '-', '_', '.']));
                }
                for _ in 0..1 + rng.below(10) {
                    s.push(*rng.pick(&['a', 'e', 'x', 'F', 'Q', '1', '7', 'é', 'İ']));
                }
            }
        }
        // around the 63-character cut, with leading/trailing punctuation
        4 => {
            let n = 55 + rng.below(16);
            s.push_str(&"-".repeat(rng.below(3)));
            for _ in 0..n {
                s.push(*rng.pick(&['a', 'B', '3', '-', '/', 'é']));
            }
            s.push_str(&"_".repeat(rng.below(3)));
        }
        // long
        5 => {
            for _ in 0..300 {
                s.push(*rng.pick(POOL));
            }
        }
        // reduces to nothing
        6 => {
            for _ in 0..rng.below(12) {
                s.push(*rng.pick(&['/', '-', '.', '_', ' ', 'é', '日', '😀', 'Ä', '\u{307}']));
            }
        }
        // anything from the pool
        _ => {
            for _ in 0..rng.below(40) {
                s.push(*rng.pick(POOL));
            }
        }
    }
    s
}

fn gen_sha(rng: &mut Rng) -> String {
    const HEX: &[u8] = b"0123456789abcdefABCDEF";
    match rng.below(8) {
        0 => String::new(),
        1 => "zz-not-hex".into(),
        2 => (0..1 + rng.below(8))
            .map(|_| HEX[rng.below(HEX.len())] as char)
            .collect(),
        3 => format!("abc{}", gen_name(rng)),
        // SHA-256 object names (64 digits), and one digit too many for any sha.
        4 => (0..64 + rng.below(2))
            .map(|_| HEX[rng.below(HEX.len())] as char)
            .collect(),
        _ => (0..40).map(|_| HEX[rng.below(16)] as char).collect(),
    }
}

fn gen_tag_name(rng: &mut Rng) -> String {
    let num = |rng: &mut Rng| match rng.below(6) {
        0 => "0".to_string(),
        1 => format!("0{}", rng.below(10)),
        _ => rng.below(300).to_string(),
    };
    match rng.below(3) {
        0 => gen_name(rng),
        _ => {
            let mut s = String::new();
            if rng.below(2) == 0 {
                s.push('v');
            }
            let parts = if rng.below(6) == 0 {
                2 + rng.below(3)
            } else {
                3
            };
            let p: Vec<String> = (0..parts).map(|_| num(rng)).collect();
            s.push_str(&p.join("."));
            let ident = |rng: &mut Rng| -> String {
                (0..rng.below(6))
                    .map(|_| *rng.pick(&['a', 'R', 'c', '1', '-', 'é', '+', '_']))
                    .collect()
            };
            if rng.below(2) == 0 {
                s.push('-');
                s.push_str(
                    &(0..1 + rng.below(3))
                        .map(|_| ident(rng))
                        .collect::<Vec<_>>()
                        .join("."),
                );
            }
            if rng.below(3) == 0 {
                s.push('+');
                s.push_str(
                    &(0..1 + rng.below(3))
                        .map(|_| ident(rng))
                        .collect::<Vec<_>>()
                        .join("."),
                );
            }
            if rng.below(12) == 0 {
                s.push_str(&"9".repeat(150));
            }
            s
        }
    }
}

/// Shell code setting `var` to `s`, whatever its bytes (except NUL), trailing newlines included:
/// a single-quoted literal, so setting it forks no process.
fn sh_set(var: &str, s: &str) -> String {
    format!("{var}='{}'; ", s.replace('\'', "'\\''"))
}

/// Shell code calling `func` with `args` (each passed through a variable, see [`sh_set`]).
fn sh_call(func: &str, args: &[&str]) -> String {
    let mut code = String::new();
    let mut call = func.to_string();
    for (i, a) in args.iter().enumerate() {
        code.push_str(&sh_set(&format!("a{i}"), a));
        write!(call, " \"$a{i}\"").unwrap();
    }
    code + &call
}

/// Runs `body` (after the snippet) with `argv` in a shell; returns stdout.
fn run_sh(argv: &[&str], body: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sh");
    std::fs::write(&path, format!("{}\n{body}", refs::REF_SH)).unwrap();
    // A UTF-8 locale as on CI runners: the snippet must not depend on it.
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .arg(&path)
        .env_remove("LC_ALL")
        .env("LANG", "C.UTF-8")
        .output()
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    assert!(
        out.status.success(),
        "{argv:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{argv:?} stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// dash is Debian's /bin/sh, busybox sh is Alpine's; bash is what GitHub `run:` steps use.
const SHELLS: &[&[&str]] = &[&["dash"], &["busybox", "sh"], &["bash", "--posix"]];

/// Builds a script that prints `#<i>` then the output of `call(i)` for every case, runs it in
/// each shell, and compares case by case with `want`.
fn compare(
    cases: usize,
    call: impl Fn(usize) -> String,
    want: impl Fn(usize) -> String,
    what: impl Fn(usize) -> String,
) {
    let mut body = String::new();
    for i in 0..cases {
        writeln!(body, "printf '#{i}\\n'; {}", call(i)).unwrap();
    }
    let outs: Vec<String> = std::thread::scope(|s| {
        SHELLS
            .iter()
            .map(|sh| s.spawn(|| run_sh(sh, &body)))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect()
    });
    for (sh, out) in SHELLS.iter().zip(outs) {
        let mut got: Vec<String> = Vec::new();
        for line in out.split_inclusive('\n') {
            if let Some(n) = line.strip_prefix('#') {
                assert_eq!(
                    n.trim_end().parse::<usize>().unwrap(),
                    got.len(),
                    "{sh:?}: out of step"
                );
                got.push(String::new());
            } else {
                got.last_mut()
                    .expect("output before first marker")
                    .push_str(line);
            }
        }
        assert_eq!(got.len(), cases, "{sh:?}: wrong number of records");
        let mut bad = 0;
        for (i, g) in got.iter().enumerate() {
            let w = want(i);
            if *g != w {
                bad += 1;
                eprintln!("{sh:?} case {i} {}: sh {g:?} != rust {w:?}", what(i));
            }
        }
        assert_eq!(bad, 0, "{sh:?}: {bad} of {cases} differ");
    }
}

#[test]
fn sh_slug_matches_rust_for_generated_names() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let names: Vec<String> = (0..1200).map(|_| gen_name(&mut rng)).collect();
    // The generator really covers the interesting shapes.
    assert!(names.iter().filter(|n| slug(n).is_empty()).count() >= 50);
    assert!(names.iter().filter(|n| n.chars().count() >= 300).count() >= 50);
    assert!(names.iter().filter(|n| !n.is_ascii()).count() >= 300);
    assert!(
        names
            .iter()
            .filter(|n| n.starts_with(['-', '/', '.', '_']))
            .count()
            >= 20
    );
    compare(
        names.len(),
        |i| sh_call("_gp_slug", &[&names[i]]) + "; printf '%s\\n' \"$_gp_s\"",
        |i| format!("{}\n", slug(&names[i])),
        |i| format!("{:?}", names[i]),
    );
}

#[test]
fn sh_slug_fallback_matches_rust() {
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let cases: Vec<(String, String)> = (0..300)
        .map(|_| (gen_name(&mut rng), gen_sha(&mut rng)))
        .collect();
    assert!(cases.iter().filter(|(n, _)| slug(n).is_empty()).count() >= 20);
    compare(
        cases.len(),
        |i| sh_call("_gp_slug", &[&cases[i].0, &cases[i].1]) + "; printf '%s\\n' \"$_gp_s\"",
        |i| format!("{}\n", ref_slug(&cases[i].0, &cases[i].1)),
        |i| format!("{:?}", cases[i]),
    );
}

fn kind_word(k: RefKind) -> &'static str {
    match k {
        RefKind::Branch => "branch",
        RefKind::Tag => "tag",
        RefKind::Pr => "pr",
        RefKind::Detached => "detached",
    }
}

/// Names that read like another ref's tags or cache refs: the default branch's name in other
/// cases or with punctuation, `sha-<hex>`, `pr-<digits>`, the `br-` escape, near misses.
fn gen_squatter(rng: &mut Rng) -> String {
    let hex = |rng: &mut Rng, n: usize| -> String {
        (0..n)
            .map(|_| *rng.pick(&['0', '7', 'a', 'f', 'A', 'F', 'g']))
            .collect()
    };
    match rng.below(12) {
        0 => rng
            .pick(&["Main", "MAIN", "main_", "main-", "/main", "main.", "-Main-"])
            .to_string(),
        1 => {
            let n = 1 + rng.below(9);
            format!("sha-{}", hex(rng, n))
        }
        2 => format!("SHA-{}", hex(rng, 7)),
        3 => format!("pr-{}", rng.below(1000)),
        4 => rng
            .pick(&[
                "pr-", "sha-", "pr-1a", "pr_5", "PR-5", "br", "br-", "ref", "1", "2024", "tag-x",
                "Tag-v1", "v1.2.3", "stable",
            ])
            .to_string(),
        5 => format!(
            "br-{}",
            rng.pick(&["main", "latest", "sha-0123456", "x", "br-main"])
        ),
        6 => format!(
            "{}{}",
            "A".repeat(60 + rng.below(8)),
            rng.pick(&["", "-", "_x"])
        ),
        7 => "br-".repeat(20 + rng.below(3)).to_uppercase(),
        8 => format!("Br-{}", "br-".repeat(19 + rng.below(3))),
        9 => "main".to_string(),
        10 => "latest_".to_string(),
        _ => gen_name(rng),
    }
}

fn gen_ref(rng: &mut Rng) -> RefInfo {
    let kind = *rng.pick(&[
        RefKind::Branch,
        RefKind::Branch,
        RefKind::Tag,
        RefKind::Tag,
        RefKind::Pr,
        RefKind::Detached,
    ]);
    let name = match rng.below(40) {
        0 => "latest".to_string(),
        1 => "Latest".to_string(),
        2..=9 => gen_squatter(rng),
        _ if kind == RefKind::Tag => gen_tag_name(rng),
        _ => gen_name(rng),
    };
    let sha = gen_sha(rng);
    let default = match rng.below(6) {
        0 => name.clone(),
        1 => gen_name(rng),
        2 => "br-".repeat(20 + rng.below(3)),
        3 => gen_squatter(rng),
        _ => "main".to_string(),
    };
    let pr = (kind == RefKind::Pr).then(|| rng.below(100_000) as u64);
    RefInfo::new(kind, &name, &sha, &default, pr)
}

/// Shell code computing `r`'s ref-wide values (`gp_ref`, from the GP_* inputs the templates set),
/// in a fresh state: every case of a script computes its own.
fn sh_ref(r: &RefInfo) -> String {
    let pr = r.pr.map(|n| n.to_string()).unwrap_or_default();
    format!(
        "{}{}{}{}{}GP_REF_SLUG=; GP_EXTRA_TAGS=; GP_PUSH=true; gp_ref; ",
        sh_set("GP_REF_KIND", kind_word(r.kind)),
        sh_set("GP_REF_NAME", &r.name),
        sh_set("GP_SHA", &r.sha),
        sh_set("GP_DEFAULT_BRANCH", &r.default_branch),
        sh_set("GP_PR", &pr),
    )
}

/// The shell's ref policy (`gp_ref`, then `gp_init` for one job) against the Rust one, for
/// generated refs, each with a random cache policy: the ref's own slug, its image tags and its
/// cache refs (read, in order, and written). One `gp_ref` per ref computes all three, as a
/// pipeline run does.
#[test]
fn sh_ref_policy_matches_rust_for_generated_refs() {
    let mut rng = Rng(0xDEAD_BEEF_CAFE_F00D);
    let stages = ["build", "Deps", "test.unit", &"s".repeat(90), "x_y-z"];
    let cases: Vec<(RefInfo, &str, CachePolicy)> = (0..1300)
        .map(|_| {
            let r = gen_ref(&mut rng);
            let st = *rng.pick(&stages);
            let p = CachePolicy {
                write_on_tag: rng.below(2) == 0,
                write_on_pr: rng.below(2) == 0,
            };
            (r, st, p)
        })
        .collect();
    // The generator really produces refs that need the escape, semver tags, and both policies.
    let escaped = cases
        .iter()
        .filter(|(r, _, _)| r.slug != ref_slug(&r.name, &r.sha))
        .count();
    assert!(escaped >= 100, "only {escaped} escaped slugs");
    let semver = cases
        .iter()
        .filter(|(r, _, _)| r.kind == RefKind::Tag && refs::parse_semver_tag(&r.name).is_some())
        .count();
    assert!(semver >= 40, "only {semver} semver tags generated");
    let repo = "registry.example/acme/app/cache";
    compare(
        cases.len(),
        |i| {
            let (r, st, p) = &cases[i];
            format!(
                "{}{}{}GP_CACHE_ON_TAG={}; GP_CACHE_ON_PR={}; {}gp_init; \
                 printf 'own %s\\n' \"$gp_own\"; for t in $gp_tagl; do printf 'tag %s\\n' \"$t\"; done; \
                 for c in $gp_reads; do printf 'from %s\\n' \"$c\"; done; \
                 if [ -n \"$gp_to\" ]; then printf 'to %s\\n' \"$gp_to\"; fi",
                sh_set("GP_CACHE_REPO", repo),
                sh_set("GP_CACHE_KEY", &cache_stage_part(st)),
                sh_set("GP_REPOSITORY", "registry.example/acme/app"),
                p.write_on_tag,
                p.write_on_pr,
                sh_ref(r)
            )
        },
        |i| {
            let (r, st, p) = &cases[i];
            let mut s = format!("own {}\n", own_slug(r));
            for t in image_tags(r) {
                s.push_str(&format!("tag {t}\n"));
            }
            let c = cache_refs(repo, st, r, p);
            for f in &c.from {
                s.push_str(&format!("from {f}\n"));
            }
            if let Some(t) = c.to {
                s.push_str(&format!("to {t}\n"));
            }
            s
        },
        |i| format!("{:?}", cases[i]),
    );
}

// ---------------------------------------------------------------------------------------------
// Properties.

fn any_kind() -> impl Strategy<Value = RefKind> {
    prop_oneof![
        Just(RefKind::Branch),
        Just(RefKind::Tag),
        Just(RefKind::Pr),
        Just(RefKind::Detached)
    ]
}

proptest! {
    #[test]
    fn slug_is_always_a_valid_slug(name in "\\PC{0,300}|[a-zA-Z0-9/._-]{0,100}") {
        let s = slug(&name);
        prop_assert!(s.len() <= 63);
        prop_assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        prop_assert!(!s.starts_with('-') && !s.ends_with('-'));
        // Idempotent, and a prefix of the one-for-one mapping.
        prop_assert_eq!(slug(&s), s.clone());
        prop_assert!(is_valid_tag(&s) || s.is_empty());
    }

    #[test]
    fn ref_slug_is_never_empty(name in "\\PC{0,80}", sha in "[0-9a-fA-F]{0,40}|\\PC{0,10}") {
        let s = ref_slug(&name, &sha);
        prop_assert!(!s.is_empty() && s.len() <= 63 && is_valid_tag(&s));
    }

    #[test]
    fn image_tags_are_valid_and_unique(
        kind in any_kind(),
        name in "\\PC{0,200}|v?[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(-[0-9A-Za-z.-]{1,150})?(\\+[0-9A-Za-z.-]{1,20})?",
        sha in "[0-9a-f]{40}|\\PC{0,8}",
        default in "main|\\PC{0,20}",
        pr in proptest::option::of(any::<u64>()),
    ) {
        let pr = if kind == RefKind::Pr { pr } else { None };
        let info = RefInfo::new(kind, &name, &sha, &default, pr);
        let tags = image_tags(&info);
        prop_assert!(!tags.is_empty());
        for t in &tags {
            prop_assert!(is_valid_tag(t), "invalid tag {:?}", t);
        }
        let mut d = tags.clone();
        d.sort();
        d.dedup();
        prop_assert_eq!(d.len(), tags.len());
        // `latest` exactly on the default branch, whatever the ref is called.
        prop_assert_eq!(tags.iter().any(|t| t == "latest"), kind == RefKind::Branch && name == default);
    }

    #[test]
    fn cache_stage_part_is_bounded_valid_and_idempotent(stage in "\\PC{0,200}") {
        let part = cache_stage_part(&stage);
        prop_assert!(part.len() <= refs::CACHE_STAGE_MAX && is_valid_tag(&part), "{:?}", part);
        // Never the separator, and a valid repository path component on its own.
        prop_assert!(part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'), "{:?}", part);
        prop_assert!(is_path_component(&part), "{:?}", part);
        // Callers may pass an already-computed part: applying it again changes nothing.
        prop_assert_eq!(cache_stage_part(&part), part.clone());
    }

    #[test]
    fn cache_refs_are_valid_and_per_stage(
        kind in any_kind(),
        name in "\\PC{0,200}",
        sha in "[0-9a-f]{40}",
        stage_a in "[a-zA-Z][a-zA-Z0-9_.-]{0,150}",
        stage_b in "[a-zA-Z][a-zA-Z0-9_.-]{0,150}",
        wt in any::<bool>(), wp in any::<bool>(),
    ) {
        let info = RefInfo::new(kind, &name, &sha, "main", (kind == RefKind::Pr).then_some(3));
        let pol = CachePolicy { write_on_tag: wt, write_on_pr: wp };
        let a = cache_refs("r/c", &stage_a, &info, &pol);
        let b = cache_refs("r/c", &stage_b, &info, &pol);
        for r in a.from.iter().chain(a.to.iter()) {
            let tag = r.strip_prefix("r/c:").unwrap();
            prop_assert!(is_valid_tag(tag), "invalid cache tag {:?}", tag);
        }
        prop_assert!(!a.from.is_empty());
        prop_assert_eq!(a.from.last().unwrap(), &format!("r/c:{}.main", cache_stage_part(&stage_a)));
        if let Some(to) = &a.to { prop_assert_eq!(&a.from[0], to); }
        let writes = match kind { RefKind::Branch => true, RefKind::Tag => wt, RefKind::Pr => wp, RefKind::Detached => false };
        prop_assert_eq!(a.to.is_some(), writes);
        if cache_stage_part(&stage_a) != cache_stage_part(&stage_b) {
            prop_assert_ne!(a.from, b.from);
        }
    }

    /// The cache refs written for (stage, ref) pairs that differ in stage or in the ref's slug
    /// never coincide; a branch other than the default one never writes a tag or a cache ref of
    /// the default branch, for any stage.
    #[test]
    fn cache_refs_never_collide_and_never_squat_the_default(
        comp_a in STAGE_COMPONENT, comp_b in STAGE_COMPONENT,
        name_a in REF_NAME, name_b in REF_NAME,
        default in "main|master|[a-zA-Z0-9/._-]{1,70}",
        sha_a in "[0-9a-f]{40}", sha_b in "[0-9a-f]{40}",
        kind_b in any_kind(),
        wt in any::<bool>(), wp in any::<bool>(),
    ) {
        let pol = CachePolicy { write_on_tag: wt, write_on_pr: wp };
        // Stage parts as the planner makes them (plan::repo_component, then cache_stage_part).
        let (part_a, part_b) = (cache_stage_part(&comp_a), cache_stage_part(&comp_b));
        let a = RefInfo::new(RefKind::Branch, &name_a, &sha_a, &default, None);
        let b = RefInfo::new(kind_b, &name_b, &sha_b, &default, (kind_b == RefKind::Pr).then_some(4));
        let wa = cache_refs("r/c", &part_a, &a, &pol).to.unwrap();
        if let Some(wb) = cache_refs("r/c", &part_b, &b, &pol).to {
            let key_b = wb.strip_prefix(&format!("r/c:{part_b}.")).unwrap().to_string();
            if (part_a.as_str(), a.slug.as_str()) != (part_b.as_str(), key_b.as_str()) {
                prop_assert_ne!(&wa, &wb);
            } else {
                prop_assert_eq!(&wa, &wb);
            }
        }
        {
            let w = &wa;
            let tag = w.strip_prefix("r/c:").unwrap();
            prop_assert!(is_valid_tag(tag) && is_path_component(tag), "{:?}", tag);
        }
        // The default branch, at another commit, against a branch that is not it.
        let def = RefInfo::new(RefKind::Branch, &default, &sha_b, &default, None);
        if a.name != default {
            let def_tags = image_tags(&def);
            let def_writes: Vec<String> = [&part_a, &part_b]
                .iter()
                .map(|p| cache_refs("r/c", p, &def, &pol).to.unwrap())
                .collect();
            prop_assert!(!def_writes.contains(&wa), "{:?} writes {:?}", a.name, wa);
            for t in image_tags(&a) {
                prop_assert!(!def_tags.contains(&t) || sha_a == sha_b, "{:?} tags {:?}", a.name, t);
                prop_assert!(t != "latest");
                prop_assert!(!t.starts_with("pr-"));
                let own_sha = format!("sha-{sha_a}");
                prop_assert!(!t.starts_with("sha-") || t == own_sha, "{:?}", t);
            }
            prop_assert_ne!(&a.slug, &refs::default_branch_slug(&a));
        }
        prop_assert!(a.slug.len() <= 63 && is_path_component(&a.slug), "{:?}", a.slug);
        prop_assert_eq!(cache_tag(&part_a, &a.slug), wa.strip_prefix("r/c:").unwrap());
    }
}

/// The namespace a ref writes in: the default branch, another branch, a git tag, a PR, a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    Default,
    Branch,
    Tag,
    Pr,
    Detached,
}

fn ns(i: &RefInfo) -> Ns {
    match i.kind {
        RefKind::Branch if refs::is_default_branch(i) => Ns::Default,
        RefKind::Branch => Ns::Branch,
        RefKind::Tag => Ns::Tag,
        RefKind::Pr => Ns::Pr,
        RefKind::Detached => Ns::Detached,
    }
}

/// Ref names for the namespace property: the issue's collisions (`1` / `v1.2.3`, `stable`,
/// `br-main` / `Main`) and every reserved shape, plus arbitrary names.
const NS_NAME: &str = "1|0|2024|[0-9]{1,3}|v1\\.2\\.3|1\\.2\\.3|v?[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}(-rc\\.1)?|stable|Stable|main|Main|br-main|br-[a-z0-9-]{0,8}|latest|Latest|ref|pr-[0-9]{1,2}|PR-7|sha-[0-9a-f]{1,9}|sha-[a-z]{1,4}|tag-[a-zA-Z0-9.]{0,8}|Tag-[a-z]{1,3}|[a-zA-Z0-9/._-]{1,70}|\\PC{0,20}";

proptest! {
    /// Issue 9, section 5: over pairs of (kind, name), refs in different namespaces never write
    /// the same image tag or cache ref; the only tag two such refs may share is `sha-<full sha>`,
    /// and only when both are at that very commit. `latest` belongs to the default branch alone.
    #[test]
    fn tag_namespaces_are_disjoint_for_every_pair_of_refs(
        kind_a in any_kind(), name_a in NS_NAME, a_is_default in proptest::bool::weighted(0.2),
        kind_b in any_kind(), name_b in NS_NAME,
        default in NS_NAME,
        sha_a in "[0-9a-f]{40}", sha_tail in "[0-9a-f]{33}", sha_mode in 0..3u8,
        pr_a in 0..12u64, pr_b in 0..12u64,
        stage in "app|build",
    ) {
        let (kind_a, name_a) = if a_is_default { (RefKind::Branch, default.clone()) } else { (kind_a, name_a) };
        // The same commit, a forged short-sha twin, or another commit.
        let sha_b = match sha_mode {
            0 => sha_a.clone(),
            1 => format!("{}{}", &sha_a[..7], sha_tail),
            _ => format!("{}{}", &sha_tail[..7], &sha_a[7..]),
        };
        let pr = |k: RefKind, n: u64| (k == RefKind::Pr).then_some(n);
        let a = RefInfo::new(kind_a, &name_a, &sha_a, &default, pr(kind_a, pr_a));
        let b = RefInfo::new(kind_b, &name_b, &sha_b, &default, pr(kind_b, pr_b));
        let both = CachePolicy { write_on_tag: true, write_on_pr: true };
        for i in [&a, &b] {
            prop_assert_eq!(image_tags(i).contains(&"latest".to_string()), ns(i) == Ns::Default, "{:?}", i);
        }
        if ns(&a) != ns(&b) {
            let tb = image_tags(&b);
            for t in image_tags(&a).iter().filter(|t| tb.contains(t)) {
                prop_assert!(
                    *t == format!("sha-{sha_a}") && sha_a == sha_b,
                    "{:?} and {:?} both write tag {:?}", a, b, t
                );
            }
            let (ca, cb) = (cache_refs("r/c", &stage, &a, &both).to, cache_refs("r/c", &stage, &b, &both).to);
            if let (Some(ca), Some(cb)) = (&ca, &cb) {
                prop_assert_ne!(ca, cb, "{:?} and {:?} write one cache ref", a, b);
            }
        }
    }
}

/// Stage parts as `plan::repo_component` makes them: `[a-z0-9-]`, no leading/trailing `-`.
const STAGE_COMPONENT: &str = "[a-z0-9]([a-z0-9-]{0,80}[a-z0-9])?|stage|web|web-app|app|app-main";
/// Branch names, with many that read like the default branch or a reserved tag.
const REF_NAME: &str = "main|Main|MAIN|main_|main-|-main|master|latest|Latest|sha-[0-9a-f]{1,9}|pr-[0-9]{1,4}|br-[a-z-]{0,10}|app-main|main-app|[a-zA-Z0-9/._-]{1,70}|\\PC{0,40}";

/// The distribution spec's path component: `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*` (buildah's
/// cache repository is `<cache repo>/<cache tag>`).
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}
