//! Stage input keys (issue 11): for every job, a digest over everything that determines its
//! image, so a job whose key already has an image in the registry retags that image instead of
//! building.
//!
//! The key has a static part, decided here when generating and written into the pipeline as data,
//! and a run-time part that only the CI job can know:
//!
//! - **static** ([`JobKey::static_digest`]): the key-format version; the builder and provenance
//!   setting; the platforms; the `# syntax` directive and `buildkit-syntax`; for every stage the
//!   job builds (its own and the ones built inside it) the expanded FROM base and platform and every
//!   instruction as parsed (keyword, flags, arguments, heredoc bodies); the values of the build
//!   arguments and meta ARGs that those stages declare with `ARG` (the text plus the values in scope
//!   determine the instructions after ARG expansion, so hashing both is at least as fine as hashing
//!   the expanded text); external images pinned by digest; and the static digests of the upstream
//!   jobs whose images it receives.
//! - **run time** (`templates/shared/key.sh`, [`runtime_key`] is its reference): the content of
//!   every build-context path in [`JobKey::paths`] and the digest of every external image in
//!   [`JobKey::images`] (resolved once per image), of this job and of every upstream job.
//!
//! Paths are coarser than BuildKit's: a glob, a variable or `.` covers the whole directory it sits
//! in, so an unrelated file there only costs a rebuild, never a wrong skip. What the key cannot see
//! (`ADD <url>` without `--checksum`, `ADD <git repository>`) makes the job, and every job that
//! consumes it, always build, with a reason in [`JobKey::reasons`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::dockerfile::{Dockerfile, Instruction};
use crate::graph::{EdgeTarget, StageGraph};

/// Bumped whenever what goes into a key changes, so old key tags are never taken for new ones.
pub const KEY_VERSION: u32 = 1;

/// The inputs of one job's key, as `plan --format json` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct JobKey {
    /// Key-format version ([`KEY_VERSION`]).
    pub version: u32,
    /// SHA-256 (hex) over the static inputs (see the module documentation).
    pub static_digest: String,
    /// Build-context paths (relative to the context, `.` = all of it) whose content is hashed at
    /// run time: this job's and its upstream jobs', sorted, none inside another.
    pub paths: Vec<String>,
    /// External images resolved to a digest at run time (this job's and its upstream jobs').
    pub images: Vec<String>,
    /// External images pinned by digest (part of the static digest).
    pub pinned_images: Vec<String>,
    /// Build arguments and meta ARG values that reach the job's stages.
    pub args: BTreeMap<String, String>,
    /// Upstream jobs whose key inputs feed into this one.
    pub upstream: Vec<String>,
    /// The key cannot see everything the image depends on: the job always builds.
    pub always_build: bool,
    /// Why `always_build` is set.
    pub reasons: Vec<String>,
}

/// What one stage contributes to a key.
#[derive(Debug, Clone, Default)]
struct StageInputs {
    lines: Vec<String>,
    paths: Vec<String>,
    images: Vec<String>,
    pinned: Vec<String>,
    declared_args: BTreeSet<String>,
    reasons: Vec<String>,
}

/// Settings that change every image of the plan.
#[derive(Debug, Clone)]
pub struct KeySettings<'a> {
    pub builder: &'a str,
    pub provenance: bool,
    pub platforms: &'a [String],
    pub buildkit_syntax: Option<&'a str>,
    pub build_args: &'a BTreeMap<String, String>,
}

/// One job as the key computation sees it.
#[derive(Debug, Clone)]
pub struct KeyJob<'a> {
    pub id: &'a str,
    pub label: &'a str,
    /// Stage indices the job builds: its own and those built inside it.
    pub stages: Vec<usize>,
    /// Indices (into the job list) of the upstream jobs it receives images from.
    pub upstream: Vec<usize>,
}

/// The keys of `jobs` (in plan order: upstream jobs first). Without the parsed Dockerfile the
/// instructions are unknown, and every job always builds.
pub fn job_keys(
    df: Option<&Dockerfile>,
    graph: &StageGraph,
    settings: &KeySettings,
    jobs: &[KeyJob],
) -> Vec<JobKey> {
    let Some(df) = df else {
        return jobs
            .iter()
            .map(|_| JobKey {
                version: KEY_VERSION,
                always_build: true,
                reasons: vec!["the planner was not given the Dockerfile's instructions".into()],
                ..Default::default()
            })
            .collect();
    };
    let stages = stage_inputs(df, graph);
    let syntax = df
        .directives
        .iter()
        .find(|(k, _)| k == "syntax")
        .map(|(_, v)| v.as_str());
    let mut keys: Vec<JobKey> = Vec::with_capacity(jobs.len());
    for job in jobs {
        let mut text = String::new();
        let mut line = |s: String| {
            text.push_str(&s);
            text.push('\n');
        };
        line(format!("gen-pipeline stage key v{KEY_VERSION}"));
        line(format!("builder {}", settings.builder));
        line(format!("provenance {}", settings.provenance));
        line(format!("platforms {}", settings.platforms.join(",")));
        line(format!("syntax {}", syntax.unwrap_or("-")));
        line(format!(
            "buildkit-syntax {}",
            settings.buildkit_syntax.unwrap_or("-")
        ));
        line(format!("target {}", job.label));
        let mut paths = BTreeSet::new();
        let mut images = BTreeSet::new();
        let mut pinned = BTreeSet::new();
        let mut declared = BTreeSet::new();
        let mut reasons = Vec::new();
        let mut own: Vec<usize> = job.stages.clone();
        own.sort_unstable();
        own.dedup();
        for &s in &own {
            let st = &stages[s];
            for l in &st.lines {
                line(l.clone());
            }
            paths.extend(st.paths.iter().cloned());
            images.extend(st.images.iter().cloned());
            pinned.extend(st.pinned.iter().cloned());
            declared.extend(st.declared_args.iter().cloned());
            reasons.extend(st.reasons.iter().cloned());
        }
        // The values in scope of every ARG these stages declare: a build argument wins, else a
        // meta ARG of the same name (an `ARG NAME` without default inherits it).
        let mut args = BTreeMap::new();
        for name in &declared {
            if let Some(v) = settings.build_args.get(name) {
                args.insert(name.clone(), v.clone());
            } else if let Some(Some(v)) = graph.meta_args.get(name) {
                args.insert(name.clone(), v.clone());
            }
        }
        if let Some(v) = settings.build_args.get("BUILDKIT_SYNTAX") {
            args.insert("BUILDKIT_SYNTAX".into(), v.clone());
        }
        for (k, v) in &args {
            line(format!("arg {}", json(&(k, v))));
        }
        for p in &pinned {
            line(format!("pinned {p}"));
        }
        let mut upstream = Vec::new();
        for &u in &job.upstream {
            let uk = &keys[u];
            line(format!("upstream {} {}", jobs[u].id, uk.static_digest));
            paths.extend(uk.paths.iter().cloned());
            images.extend(uk.images.iter().cloned());
            if uk.always_build {
                reasons.push(format!("upstream job `{}` always builds", jobs[u].id));
            }
            upstream.push(jobs[u].id.to_string());
        }
        keys.push(JobKey {
            version: KEY_VERSION,
            static_digest: sha256_hex(text.as_bytes()),
            paths: minimal_paths(paths),
            images: images.into_iter().collect(),
            pinned_images: pinned.into_iter().collect(),
            args,
            upstream,
            always_build: !reasons.is_empty(),
            reasons,
        });
    }
    keys
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data serializes")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Split the instructions into stages (the graph's stages are the FROMs in file order) and
/// collect what each contributes.
fn stage_inputs(df: &Dockerfile, graph: &StageGraph) -> Vec<StageInputs> {
    let mut out: Vec<StageInputs> = Vec::with_capacity(graph.stages.len());
    for ins in &df.instructions {
        if ins.keyword == "from" {
            let i = out.len();
            let Some(st) = graph.stages.get(i) else {
                break;
            };
            let mut si = StageInputs::default();
            si.lines.push(format!(
                "stage {i} {} base {} platform {}",
                json(&st.name),
                json(&st.base),
                json(&st.platform)
            ));
            for e in &st.edges {
                if let EdgeTarget::Image(img) = &e.target {
                    if img.contains("@sha256:") {
                        si.pinned.push(img.clone());
                    } else {
                        si.images.push(img.clone());
                    }
                }
            }
            // Stages this one reads are part of the key through their own lines (built inside
            // the job) or the upstream job's digest; name them so a rewiring changes the text.
            si.lines.push(format!("depends {}", json(&st.depends_on)));
            out.push(si);
            continue;
        }
        let Some(si) = out.last_mut() else {
            continue; // meta ARGs: their values enter through the ARGs that use them
        };
        si.lines.push(format!("ins {}", instruction_text(ins)));
        collect(ins, si);
    }
    out.resize_with(graph.stages.len(), StageInputs::default);
    out
}

/// One instruction, canonically: keyword, flags, arguments, form and heredoc bodies.
fn instruction_text(ins: &Instruction) -> String {
    let heredocs: Vec<(&str, String, bool)> = ins
        .heredocs
        .iter()
        .map(|h| (h.name.as_str(), h.effective_content(), h.expand))
        .collect();
    let sub = ins.sub.as_deref().map(instruction_text);
    json(&(&ins.keyword, &ins.flags, &ins.args, ins.json, heredocs, sub))
}

fn flag<'a>(ins: &'a Instruction, name: &str) -> Option<&'a str> {
    ins.flags.iter().find_map(|f| {
        f.strip_prefix("--")
            .and_then(|r| r.strip_prefix(name))
            .and_then(|r| r.strip_prefix('='))
    })
}

/// Build-context paths, ARG declarations and what the key cannot see.
fn collect(ins: &Instruction, si: &mut StageInputs) {
    match ins.keyword.as_str() {
        "arg" => {
            for a in &ins.args {
                let name = a.split_once('=').map_or(a.as_str(), |(k, _)| k);
                si.declared_args.insert(name.to_string());
            }
        }
        "copy" | "add" => {
            if flag(ins, "from").is_some() {
                return; // another stage or an image: a graph edge
            }
            let n = ins.args.len();
            for src in ins.args.iter().take(n.saturating_sub(1)) {
                let src = if ins.json { src.as_str() } else { unquote(src) };
                if src.starts_with("<<") && !ins.heredocs.is_empty() {
                    continue; // a heredoc: its body is in the instruction text
                }
                if ins.keyword == "add" && is_remote(src) {
                    let checked = flag(ins, "checksum").is_some()
                        && (src.starts_with("http://") || src.starts_with("https://"));
                    if !checked {
                        si.reasons.push(format!(
                            "line {}: ADD {src} fetches remote content the key cannot see",
                            ins.span.line
                        ));
                    }
                    continue;
                }
                si.paths.push(widen(src));
            }
        }
        "run" => {
            for f in &ins.flags {
                let Some(spec) = f.strip_prefix("--mount=") else {
                    continue;
                };
                let mut ty = "bind".to_string();
                let mut from = false;
                let mut source = None;
                for field in spec.split(',') {
                    let (k, v) = field.split_once('=').unwrap_or((field, ""));
                    match k.to_ascii_lowercase().as_str() {
                        "type" => ty = v.to_ascii_lowercase(),
                        "from" => from = true,
                        "source" | "src" => source = Some(v.to_string()),
                        _ => {}
                    }
                }
                if ty == "bind" && !from {
                    si.paths.push(widen(source.as_deref().unwrap_or(".")));
                }
            }
        }
        _ => {}
    }
}

fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return &s[1..s.len() - 1];
        }
    }
    s
}

/// A URL or a git repository, as BuildKit's ADD recognises them.
fn is_remote(src: &str) -> bool {
    src.contains("://") || src.starts_with("git@")
}

/// The context path a COPY/ADD source or a bind mount reads, relative to the context: leading
/// `/` and `./` dropped, `..` resolved; a component with a glob, a variable, an escape or a quote
/// widens to the directory above it; `.` is the whole context.
pub fn widen(src: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in src.split('/') {
        if c.is_empty() || c == "." {
            continue;
        }
        if c.chars().any(|ch| {
            matches!(ch, '*' | '?' | '[' | '\\' | '$' | '`' | '"' | '\'') || ch.is_control()
        }) {
            break;
        }
        if c == ".." {
            if out.pop().is_none() {
                return ".".into();
            }
            continue;
        }
        out.push(c);
    }
    if out.is_empty() {
        ".".into()
    } else {
        out.join("/")
    }
}

/// Sorted paths without any that another one contains (`.` contains everything).
pub fn minimal_paths(paths: BTreeSet<String>) -> Vec<String> {
    if paths.contains(".") {
        return vec![".".into()];
    }
    let mut out: Vec<String> = Vec::new();
    for p in paths {
        if !out
            .iter()
            .any(|q| p == *q || p.starts_with(&format!("{q}/")))
        {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The lines `templates/shared/key.sh`'s `gp_key_files` prints for `paths` under `context`:
/// `d PATH` per directory, `HEX  PATH` per regular file (sha256sum's format), `x PATH` per file
/// its owner may execute, `l PATH -> TARGET` per symbolic link, `missing PATH` for a path that
/// does not exist; byte-sorted, unique. Symbolic links are never followed; `.git` is skipped.
pub fn content_lines(context: &Path, paths: &[String]) -> std::io::Result<Vec<String>> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut lines = BTreeSet::new();
    let mut stack: Vec<String> = Vec::new();
    for p in paths {
        if std::fs::symlink_metadata(context.join(p)).is_err() {
            lines.insert(format!("missing {p}"));
            continue;
        }
        stack.push(p.clone());
        while let Some(name) = stack.pop() {
            if name.rsplit('/').next() == Some(".git") {
                continue; // differs between clones; never part of a key
            }
            let full = context.join(&name);
            let md = std::fs::symlink_metadata(&full)?;
            let ft = md.file_type();
            if ft.is_symlink() {
                let t = std::fs::read_link(&full)?;
                lines.insert(format!("l {name} -> {}", t.display()));
            } else if ft.is_dir() {
                lines.insert(format!("d {name}"));
                for e in std::fs::read_dir(&full)? {
                    let e = e?;
                    stack.push(format!("{name}/{}", e.file_name().to_string_lossy()));
                }
            } else if ft.is_file() {
                let bytes = std::fs::read(&full)?;
                lines.insert(format!("{}  {name}", sha256_hex(&bytes)));
                if md.permissions().mode() & 0o100 != 0 {
                    lines.insert(format!("x {name}"));
                }
            }
        }
    }
    Ok(lines.into_iter().collect())
}

/// The run-time key `gp_key` computes: SHA-256 (hex) of `gen-pipeline key <static digest>`, the
/// content lines, then `image <ref> <digest>` per external image in the order given.
pub fn runtime_key(
    static_digest: &str,
    context: &Path,
    paths: &[String],
    images: &[(String, String)],
) -> std::io::Result<String> {
    let mut text = format!("gen-pipeline key {static_digest}\n");
    for l in content_lines(context, paths)? {
        text.push_str(&l);
        text.push('\n');
    }
    for (r, d) in images {
        text.push_str(&format!("image {r} {d}\n"));
    }
    Ok(sha256_hex(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{self, GraphOptions};

    fn keys_of(src: &str, targets: &[(&str, &[&str], &[usize])]) -> Vec<JobKey> {
        keys_with(src, targets, &BTreeMap::new())
    }

    /// Jobs given as (stage name, stages built, upstream job indices).
    fn keys_with(
        src: &str,
        jobs: &[(&str, &[&str], &[usize])],
        build_args: &BTreeMap<String, String>,
    ) -> Vec<JobKey> {
        let df = crate::dockerfile::parse(src).unwrap();
        let g = graph::build(
            &df,
            &GraphOptions {
                build_args: build_args.clone(),
                ..Default::default()
            },
        )
        .unwrap();
        let idx = |n: &str| {
            g.stages
                .iter()
                .rev()
                .find(|s| s.name.as_deref() == Some(n))
                .unwrap()
                .index
        };
        let kj: Vec<KeyJob> = jobs
            .iter()
            .map(|(id, stages, up)| KeyJob {
                id,
                label: id,
                stages: stages.iter().map(|s| idx(s)).collect(),
                upstream: up.to_vec(),
            })
            .collect();
        let settings = KeySettings {
            builder: "buildx",
            provenance: false,
            platforms: &[],
            buildkit_syntax: None,
            build_args,
        };
        job_keys(Some(&df), &g, &settings, &kj)
    }

    const TWO_APPS: &str = "# syntax=docker/dockerfile:1\nARG V=3.12\nFROM python:${V}-slim AS base\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\nFROM base AS app1\nCOPY app1/ ./app1/\nFROM base AS app2\nARG V\nCOPY app2/*.py ./app2/\n";

    fn two_apps(src: &str) -> Vec<JobKey> {
        keys_of(
            src,
            &[
                ("base", &["base"], &[]),
                ("app1", &["app1"], &[0]),
                ("app2", &["app2"], &[0]),
            ],
        )
    }

    #[test]
    fn key_inputs_of_the_two_apps() {
        let k = two_apps(TWO_APPS);
        assert_eq!(k[0].paths, ["requirements.txt"]);
        assert_eq!(k[0].images, ["python:3.12-slim"]);
        assert_eq!(k[1].paths, ["app1", "requirements.txt"]);
        assert_eq!(k[1].images, ["python:3.12-slim"]);
        assert_eq!(k[1].upstream, ["base"]);
        // A glob widens to its directory; `ARG V` inherits the meta ARG's value.
        assert_eq!(k[2].paths, ["app2", "requirements.txt"]);
        assert_eq!(k[2].args, BTreeMap::from([("V".into(), "3.12".into())]));
        assert!(k
            .iter()
            .all(|k| !k.always_build && k.version == KEY_VERSION));
        assert_eq!(k[0].static_digest.len(), 64);
        assert_ne!(k[1].static_digest, k[2].static_digest);
    }

    #[test]
    fn unrelated_stage_changes_leave_a_key_alone() {
        let a = two_apps(TWO_APPS);
        let b = two_apps(&TWO_APPS.replace("COPY app2/*.py", "COPY app2/*.txt"));
        assert_eq!(a[0].static_digest, b[0].static_digest);
        assert_eq!(a[1].static_digest, b[1].static_digest);
        assert_ne!(a[2].static_digest, b[2].static_digest);
        // A change in the shared base changes every dependent.
        let c = two_apps(&TWO_APPS.replace("pip install", "pip install -q"));
        for i in 0..3 {
            assert_ne!(a[i].static_digest, c[i].static_digest, "job {i}");
        }
    }

    #[test]
    fn build_args_reach_only_the_stages_that_declare_them() {
        let none = two_apps(TWO_APPS);
        let df = "FROM alpine AS a\nARG X\nRUN echo $X\nFROM alpine AS b\nRUN true\n";
        let jobs: &[(&str, &[&str], &[usize])] = &[("a", &["a"], &[]), ("b", &["b"], &[])];
        let x1 = keys_with(df, jobs, &BTreeMap::from([("X".into(), "1".into())]));
        let x2 = keys_with(df, jobs, &BTreeMap::from([("X".into(), "2".into())]));
        assert_ne!(x1[0].static_digest, x2[0].static_digest);
        assert_eq!(x1[1].static_digest, x2[1].static_digest);
        assert_eq!(x1[0].args, BTreeMap::from([("X".into(), "1".into())]));
        assert!(none[0].args.is_empty());
    }

    #[test]
    fn remote_add_always_builds_and_so_do_its_consumers() {
        let src = "FROM alpine AS base\nADD https://example.com/x.tgz /x\nFROM base AS app\nRUN true\nFROM alpine AS other\nADD --checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000 https://example.com/y /y\n";
        let k = keys_of(
            src,
            &[
                ("base", &["base"], &[]),
                ("app", &["app"], &[0]),
                ("other", &["other"], &[]),
            ],
        );
        assert!(k[0].always_build);
        assert!(
            k[0].reasons[0].contains("ADD https://example.com/x.tgz"),
            "{:?}",
            k[0].reasons
        );
        assert!(k[1].always_build);
        assert_eq!(k[1].reasons, ["upstream job `base` always builds"]);
        assert!(!k[2].always_build, "a checksum pins the remote content");
        let git = keys_of(
            "FROM alpine AS a\nADD git@github.com:o/r.git /src\n",
            &[("a", &["a"], &[])],
        );
        assert!(git[0].always_build);
    }

    #[test]
    fn pinned_images_are_static_and_mount_sources_are_paths() {
        let src = "FROM alpine@sha256:1111111111111111111111111111111111111111111111111111111111111111 AS a\nCOPY --from=busybox:1 /bin/busybox /bin/\nRUN --mount=type=bind,source=scripts/build.sh,target=/b sh /b\nRUN --mount=type=cache,target=/c --mount=type=bind,target=/all true\nCOPY <<EOF /etc/x\nhello\nEOF\nCOPY [\"a b/c\", \"/d\"]\n";
        let k = keys_of(src, &[("a", &["a"], &[])]);
        assert_eq!(
            k[0].pinned_images,
            ["alpine@sha256:1111111111111111111111111111111111111111111111111111111111111111"]
        );
        assert_eq!(k[0].images, ["busybox:1"]);
        // The bind mount without source reads the whole context.
        assert_eq!(k[0].paths, ["."]);
        let k2 = keys_of(
            &src.replace("--mount=type=bind,target=/all ", ""),
            &[("a", &["a"], &[])],
        );
        assert_eq!(k2[0].paths, ["a b/c", "scripts/build.sh"]);
        // The heredoc body is static.
        let k3 = keys_of(&src.replace("hello", "bye"), &[("a", &["a"], &[])]);
        assert_ne!(k[0].static_digest, k3[0].static_digest);
    }

    #[test]
    fn widening() {
        assert_eq!(widen("app1/"), "app1");
        assert_eq!(widen("./src/*.go"), "src");
        assert_eq!(widen("/etc/../x/y"), "x/y");
        assert_eq!(widen("../x"), ".");
        assert_eq!(widen("$APP/main"), ".");
        assert_eq!(widen("a/b[12]/c"), "a");
        assert_eq!(widen("."), ".");
        assert_eq!(
            minimal_paths(["a".into(), "a/b".into(), "ab".into(), "c/d".into()].into()),
            ["a", "ab", "c/d"]
        );
        assert_eq!(minimal_paths([".".into(), "a".into()].into()), ["."]);
    }

    #[test]
    fn runtime_key_follows_content_mode_and_links() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("app/sub")).unwrap();
        std::fs::write(d.path().join("app/a.txt"), "a").unwrap();
        std::fs::write(d.path().join("app/sub/b.sh"), "b").unwrap();
        let paths = vec!["app".to_string(), "gone".to_string()];
        let k = |imgs: &[(String, String)]| runtime_key("s", d.path(), &paths, imgs).unwrap();
        let k0 = k(&[]);
        let lines = content_lines(d.path(), &paths).unwrap();
        assert!(lines.contains(&"missing gone".to_string()), "{lines:?}");
        assert!(lines.contains(&"d app/sub".to_string()), "{lines:?}");
        std::fs::set_permissions(
            d.path().join("app/sub/b.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let k1 = k(&[]);
        assert_ne!(k0, k1, "the executable bit is part of the key");
        std::fs::write(d.path().join("app/a.txt"), "A").unwrap();
        let k2 = k(&[]);
        assert_ne!(k1, k2);
        std::os::unix::fs::symlink("a.txt", d.path().join("app/l")).unwrap();
        let k3 = k(&[]);
        assert_ne!(k2, k3);
        let k4 = k(&[("alpine:3".into(), "sha256:aa".into())]);
        assert_ne!(k3, k4);
        assert_eq!(k4, k(&[("alpine:3".into(), "sha256:aa".into())]));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn df(base_run: &str, a_copy: &str, b_run: &str) -> String {
            format!("FROM alpine AS base\nRUN {base_run}\nFROM base AS a\nCOPY {a_copy} /x\nFROM base AS b\nRUN {b_run}\n")
        }
        fn keys(src: &str) -> Vec<JobKey> {
            keys_of(
                src,
                &[
                    ("base", &["base"], &[]),
                    ("a", &["a"], &[0]),
                    ("b", &["b"], &[0]),
                ],
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            /// Changing one stage's instruction changes its job's key and its dependents', and
            /// no other job's.
            #[test]
            fn an_instruction_change_moves_exactly_its_dependents(
                r1 in "[a-z]{1,8}", r2 in "[a-z]{1,8}", p1 in "[a-z]{1,8}", p2 in "[a-z]{1,8}",
            ) {
                let k0 = keys(&df(&r1, &p1, &r1));
                let kb = keys(&df(&r1, &p1, &r2));
                prop_assert_eq!(&k0[0].static_digest, &kb[0].static_digest);
                prop_assert_eq!(&k0[1].static_digest, &kb[1].static_digest);
                prop_assert_eq!(r1 == r2, k0[2].static_digest == kb[2].static_digest);
                let ka = keys(&df(&r1, &p2, &r1));
                prop_assert_eq!(p1 == p2, k0[1].static_digest == ka[1].static_digest);
                prop_assert_eq!(&k0[2].static_digest, &ka[2].static_digest);
                prop_assert_eq!(&ka[1].paths, &vec![p2.clone()]);
                let kbase = keys(&df(&r2, &p1, &r1));
                for i in 0..3 {
                    prop_assert_eq!(r1 == r2, k0[i].static_digest == kbase[i].static_digest);
                }
            }

            /// Any build-argument value that reaches a stage changes its key.
            #[test]
            fn a_build_arg_change_moves_the_key(v1 in "[ -~]{0,12}", v2 in "[ -~]{0,12}") {
                let src = "FROM alpine AS a\nARG X=d\nRUN echo $X\n";
                let j: &[(&str, &[&str], &[usize])] = &[("a", &["a"], &[])];
                let a = keys_with(src, j, &BTreeMap::from([("X".into(), v1.clone())]));
                let b = keys_with(src, j, &BTreeMap::from([("X".into(), v2.clone())]));
                prop_assert_eq!(v1 == v2, a[0].static_digest == b[0].static_digest);
            }
        }
    }
}
