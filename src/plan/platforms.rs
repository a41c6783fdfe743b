//! Multi-platform images on native runners (config `runners:`), planned per stage.
//!
//! Without `runners:` nothing here runs and the plan is the one-job-per-stage plan whose jobs build
//! every platform at once (QEMU/binfmt for the platforms the runner cannot run natively). With it:
//!
//! - **The build platform is the first configured platform** (`platforms:` order). Its runner is
//!   its `runners:` entry, else the CI's default runner, which is assumed to be that platform.
//! - **A stage built on the build platform** — its `FROM` carries `--platform=$BUILDPLATFORM`
//!   (or it is a bare `FROM <stage>` of such a stage), for every stage its job builds, and every
//!   job it receives is such a job too — is built **once**, on the build platform's runner, for
//!   all platforms (buildx: one `--platform a,b` build; its RUN steps run natively on the build
//!   platform and cross-compile with `TARGETARCH`). It is pushed like any job (an index under the
//!   ref's tags) and every per-platform job receives that index, from which BuildKit takes the
//!   platform it builds. buildah pushes one image per build, so with buildah such a stage gets one
//!   job per platform, all on the build platform's runner (still without emulation).
//! - **Every other job fans out**: one job per platform, on that platform's runner (or the
//!   default runner with QEMU for a platform other than the first that has none), which builds
//!   `--platform <p>` only and receives the same platform's upstream digest. It writes its own
//!   cache ref (`<image>/cache:<stage>-<os>-<arch>.<slug>`: two platforms never share one) and
//!   has its own input key (the job's static key with the platform appended).
//! - **Push by per-platform tag**: a per-platform job pushes its image to
//!   `<repository>:sha-<full sha>-<os>-<arch>[-<variant>]` (and its key tag), not to the ref's tags.
//!   A tag rather than BuildKit's `push-by-digest=true`: an untagged manifest may be deleted by a
//!   registry's garbage collection before the merge job references it, and buildah cannot push
//!   without a tag. The tag lies in the `sha-` namespace, which only commit builds write.
//! - **One merge job per published image** (a target that is not a check) creates the index from
//!   the per-platform digests (`docker buildx imagetools create`, buildah `manifest create/add/
//!   push --all`), pushes it under the ref's tags and hands on the index digest. A stage only
//!   handed on between jobs gets no index: its per-platform tags keep each digest referenced.
//!
//! - **Index keys**: the index is reused when every platform is. A merge job's index key
//!   ([`index_key`], run time: `gp_index_key` in templates/shared/index.sh) is a SHA-256 over a
//!   format version and the per-platform digests it merges, in platform order. An index is a
//!   function of its manifests, so when every per-platform job reused its key image (the same
//!   digests as the run that pushed the index) the key names an index of exactly these images,
//!   pushed under `<repository>:key-<index key>` by the merge that created it: the merge tags that
//!   index (its digest unchanged) and creates none. A platform that rebuilt hands on a new digest,
//!   so a new key and a new index. Keyed by digests rather than by the per-platform input keys, so
//!   no new value travels between jobs and a key can never name an index of other images (a key
//!   image deleted by a retention policy and rebuilt may get a new digest). No index key with
//!   `skip: false`, nor with buildah without skopeo on the runner (buildah 1.28 cannot read an
//!   index's own digest).
//!
//! What is left: the merge job always runs (it reads and writes manifests only, no layers).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{env_name, key, unique, unique_with, Builder, Job, Plan, PlanOptions};
use crate::refs;

/// One platform's native runner, per CI (config `runners:`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Serialize)]
pub struct Runner {
    /// GitHub `runs-on` labels.
    pub github: Vec<String>,
    /// GitLab runner tags.
    pub gitlab: Vec<String>,
    /// Drone node labels (the pipeline's `node:`).
    pub drone: BTreeMap<String, String>,
    /// Woodpecker agent labels (the workflow's `labels:`).
    pub woodpecker: BTreeMap<String, String>,
}

impl Runner {
    /// `(ci, labels)` for every CI, Drone and Woodpecker labels as `key=value`.
    pub fn labels(&self) -> [(&'static str, Vec<String>); 4] {
        let kv = |m: &BTreeMap<String, String>| m.iter().map(|(k, v)| format!("{k}={v}")).collect();
        [
            ("github", self.github.clone()),
            ("gitlab", self.gitlab.clone()),
            ("drone", kv(&self.drone)),
            ("woodpecker", kv(&self.woodpecker)),
        ]
    }
}

/// A job that merges the per-platform images of one published stage into one index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergeJob {
    /// The stage's job id (the per-platform jobs are `<id>-<os>-<arch>`).
    pub id: String,
    pub stage: Option<String>,
    pub label: String,
    pub repository: String,
    /// Carries the index digest.
    pub digest_var: String,
    /// The per-platform jobs, in platform order.
    pub needs: Vec<String>,
    pub sources: Vec<MergeSource>,
    /// The ref's tags (on the ref the plan was made for), applied to the index.
    pub tags: Vec<String>,
    /// The runner of the build platform.
    pub runner: Option<Runner>,
    /// What its index key covers (see [`index_key`]).
    pub key: IndexKeyInputs,
}

/// The inputs of a merge job's index key, as the plan shows them (`plan --format json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexKeyInputs {
    /// The key format's version ([`INDEX_KEY_VERSION`]).
    pub version: u32,
    /// The per-platform jobs whose digests (at run time, in this order) the key covers.
    pub manifests: Vec<String>,
    /// Whether the merge looks its index key up: false with `skip: false` (a new index every
    /// run). At run time also none with buildah when the runner has no skopeo.
    pub reuse: bool,
}

/// The version of the index key's format (its first line).
pub const INDEX_KEY_VERSION: u32 = 1;

/// The index key of the per-platform images `digests` (`sha256:…`, in platform order): the
/// SHA-256 (hex) of `gen-pipeline index key <version>` and one `manifest <digest>` line per
/// image. Mirrors `gp_index_key` in templates/shared/index.sh; the index is pushed under, and
/// looked up as, `<repository>:key-<index key>`.
pub fn index_key(digests: &[&str]) -> String {
    let mut text = format!("gen-pipeline index key {INDEX_KEY_VERSION}\n");
    for d in digests {
        text.push_str(&format!("manifest {d}\n"));
    }
    key::sha256_hex(text.as_bytes())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergeSource {
    pub platform: String,
    pub job: String,
    pub digest_var: String,
}

/// `linux/arm/v7` -> `linux-arm-v7` (job ids, cache keys, per-platform tags).
pub fn platform_slug(p: &str) -> String {
    p.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// The tag a per-platform job pushes on commit `sha` (mirrors `gp_platform_tags` in
/// templates/shared/merge.sh).
pub fn platform_tag(sha: &str, platform: &str) -> String {
    let full = refs::full_sha(sha);
    if full.is_empty() {
        format!("sha-unknown-{}", platform_slug(platform))
    } else {
        format!("sha-{full}-{}", platform_slug(platform))
    }
}

/// Whether each stage runs its instructions on the build platform: its FROM says
/// `--platform=$BUILDPLATFORM` (`build_flag[s]`), or it is `FROM <stage>` of such a stage.
pub fn on_build_platform(build_flag: &[bool], base_stage: &[Option<usize>]) -> Vec<bool> {
    let mut out = vec![false; build_flag.len()];
    for s in 0..build_flag.len() {
        out[s] = build_flag[s] || base_stage[s].is_some_and(|b| b < s && out[b]);
    }
    out
}

/// Is `flag` (an instruction flag as written) `--platform=$BUILDPLATFORM`?
pub fn is_build_platform_flag(flag: &str) -> bool {
    flag.strip_prefix("--platform=")
        .map(|v| v.trim_matches(['"', '\'']))
        .is_some_and(|v| v == "$BUILDPLATFORM" || v == "${BUILDPLATFORM}")
}

/// Rewrite `plan` for `opts.runners` (nothing when there are none). `job_stages[i]` are the stage
/// indices job `i` builds (its own and its inline ones); `on_build[s]` from [`on_build_platform`].
pub fn fan_out(plan: &mut Plan, opts: &PlanOptions, job_stages: &[Vec<usize>], on_build: &[bool]) {
    if opts.runners.is_empty() || opts.platforms.is_empty() {
        return;
    }
    let first = opts.platforms[0].clone();
    let runner_of = |p: &str| opts.runners.get(p).cloned();
    plan.build_platform = Some(first.clone());
    plan.build_runner = runner_of(&first);
    if opts.platforms.len() == 1 {
        for j in &mut plan.jobs {
            j.runner = runner_of(&first);
        }
        plan.notes.push(format!(
            "one platform ({first}): every job runs on its runner from `runners:`"
        ));
        return;
    }
    let mut used_ids: BTreeSet<String> = plan.jobs.iter().map(|j| j.id.clone()).collect();
    used_ids.insert(plan.setup_job.clone());
    used_ids.insert(plan.fork_job.id.clone());
    let mut used_vars: BTreeSet<String> = plan.jobs.iter().map(|j| j.digest_var.clone()).collect();

    // Jobs built once on the build platform (buildx only: buildah pushes one image per build).
    let mut once: BTreeSet<String> = BTreeSet::new();
    for (i, j) in plan.jobs.iter().enumerate() {
        let stages_on_build = job_stages[i].iter().all(|&s| on_build[s]);
        if opts.builder == Builder::Buildx
            && stages_on_build
            && j.needs.iter().all(|n| once.contains(n))
        {
            once.insert(j.id.clone());
        }
    }
    // (old job id, platform) -> (new job id, digest var)
    let mut per: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    let mut jobs: Vec<Job> = Vec::new();
    let mut merges: Vec<MergeJob> = Vec::new();
    let mut fanned: Vec<String> = Vec::new();
    let mut fanned_keys: BTreeSet<String> = BTreeSet::new();
    let old_jobs = std::mem::take(&mut plan.jobs);
    for (i, j) in old_jobs.into_iter().enumerate() {
        if once.contains(&j.id) {
            let mut j = j;
            j.runner = runner_of(&first);
            jobs.push(j);
            continue;
        }
        let stages_on_build = job_stages[i].iter().all(|&s| on_build[s]);
        let mut sources = Vec::new();
        for p in &opts.platforms {
            let ps = platform_slug(p);
            let mut nj = j.clone();
            nj.id = unique(format!("{}-{ps}", j.id), &mut used_ids);
            nj.digest_var = unique_with(
                format!("{}_{}", j.digest_var, env_name(&ps)),
                &mut used_vars,
                '_',
            );
            nj.platform = Some(p.clone());
            // buildah's build-platform stages: every platform's job on the build platform's runner.
            let on = if stages_on_build { &first } else { p };
            nj.runner = runner_of(on);
            nj.emulated = nj.runner.is_none() && on != &first;
            nj.cache_key = format!("{}-{ps}", j.cache_key);
            nj.cache = refs::cache_refs(
                &format!("{}/cache", plan.image),
                &nj.cache_key,
                &opts.git_ref,
                &opts.cache_policy,
            );
            nj.tags = if j.check {
                Vec::new()
            } else {
                vec![platform_tag(&opts.git_ref.sha, p)]
            };
            for c in &mut nj.contexts {
                if let Some((id, var)) = per.get(&(c.job.clone(), p.clone())) {
                    c.job = id.clone();
                    c.digest_var = var.clone();
                }
            }
            nj.needs = nj.contexts.iter().map(|c| c.job.clone()).collect();
            nj.key.static_digest = key::sha256_hex(
                format!(
                    "gen-pipeline platform key\n{}\nplatform {p}\n",
                    j.key.static_digest
                )
                .as_bytes(),
            );
            nj.key.upstream = nj.needs.clone();
            per.insert(
                (j.id.clone(), p.clone()),
                (nj.id.clone(), nj.digest_var.clone()),
            );
            sources.push(MergeSource {
                platform: p.clone(),
                job: nj.id.clone(),
                digest_var: nj.digest_var.clone(),
            });
            jobs.push(nj);
        }
        fanned.push(j.id.clone());
        fanned_keys.insert(j.cache_key.clone());
        if j.is_target && !j.check {
            let manifests = sources.iter().map(|s| s.job.clone()).collect();
            merges.push(MergeJob {
                id: j.id.clone(),
                stage: j.stage.clone(),
                label: j.label.clone(),
                repository: j.repository.clone(),
                digest_var: j.digest_var.clone(),
                needs: sources.iter().map(|s| s.job.clone()).collect(),
                sources,
                tags: j.tags.clone(),
                runner: runner_of(&first),
                key: IndexKeyInputs {
                    version: INDEX_KEY_VERSION,
                    manifests,
                    reuse: opts.skip,
                },
            });
        }
    }
    plan.jobs = jobs;
    plan.merges = merges;
    // The fork pull-request job builds every target in one job, for the build platform only: it
    // reads the caches of the build platform's jobs.
    let first_of = |id: &str| {
        per.get(&(id.to_string(), first.clone()))
            .map(|(i, _)| i.clone())
    };
    let key_of: BTreeMap<&str, &str> = plan
        .jobs
        .iter()
        .map(|j| (j.id.as_str(), j.cache_key.as_str()))
        .collect();
    for t in &mut plan.fork_job.targets {
        if let Some(id) = first_of(&t.job) {
            t.cache_key = key_of[id.as_str()].to_string();
            t.job = id;
        }
        for k in &mut t.cache_keys {
            if fanned_keys.contains(k.as_str()) {
                *k = format!("{k}-{}", platform_slug(&first));
            }
        }
    }

    // Say it in the plan: runners, what fans out, what is built once, what merges.
    let runner_text = |p: &String| match opts.runners.get(p) {
        Some(r) => format!("{p}: {}", describe(r)),
        None if *p == first => format!("{p}: the default runner (the build platform)"),
        None => format!("{p}: the default runner with QEMU emulation (no `runners:` entry)"),
    };
    plan.notes.push(format!(
        "native runners (build platform {first}, the first of `platforms:`): {}",
        opts.platforms
            .iter()
            .map(runner_text)
            .collect::<Vec<_>>()
            .join("; ")
    ));
    if !once.is_empty() {
        plan.notes.push(format!(
            "built once on the build platform's runner for every platform (FROM --platform=$BUILDPLATFORM): {}",
            once.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if !fanned.is_empty() {
        plan.notes.push(format!(
            "one job per platform, pushed to a per-platform tag (sha-<sha>-<os>-<arch>) and receiving the same platform's upstream digests: {}",
            fanned.join(", ")
        ));
    }
    let handed: Vec<&str> = plan
        .jobs
        .iter()
        .filter(|j| j.platform.is_some() && !j.is_target && !j.check)
        .filter_map(|j| j.stage.as_deref())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !handed.is_empty() {
        plan.notes.push(format!(
            "handed on per platform, never merged: only their per-platform tags keep each digest referenced: {}",
            handed.join(", ")
        ));
    }
    if !plan.merges.is_empty() {
        plan.notes.push(format!(
            "merge jobs create each published image's index from its per-platform digests and tag it per ref{}: {}",
            if opts.skip {
                "; an index of the same digests (index key: the digests in platform order) is tagged again, not created"
            } else {
                " (skip: false: a new index every run)"
            },
            plan.merges
                .iter()
                .map(|m| m.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for d in &mut plan.stages {
        let Some(j) = plan.jobs.iter().find(|j| j.stage_index == d.index) else {
            continue;
        };
        if once.contains(&j.id) {
            d.reason.push_str(&format!(
                "; built once on the build platform's runner ({first}) for every platform"
            ));
        } else if let Some(m) = plan.merges.iter().find(|m| m.label == d.label) {
            d.reason.push_str(&format!(
                "; one job per platform, merged into one index by job {}",
                m.id
            ));
        } else {
            d.reason.push_str("; one job per platform");
        }
    }
}

/// `github: a, gitlab: b, …` for the notes.
fn describe(r: &Runner) -> String {
    let mut parts = Vec::new();
    for (ci, v) in r.labels() {
        if !v.is_empty() {
            parts.push(format!("{ci} {}", v.join(",")));
        }
    }
    if parts.is_empty() {
        "the default runner of every CI".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_slug_and_tag() {
        assert_eq!(platform_slug("linux/arm/v7"), "linux-arm-v7");
        let sha = "A".repeat(40);
        assert_eq!(
            platform_tag(&sha, "linux/386"),
            format!("sha-{}-linux-386", "a".repeat(40))
        );
        assert_eq!(platform_tag("", "linux/386"), "sha-unknown-linux-386");
    }

    #[test]
    fn index_key_composition_covers_version_and_digests_in_order() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        // The documented composition, byte for byte.
        let text = format!("gen-pipeline index key 1\nmanifest {a}\nmanifest {b}\n");
        assert_eq!(index_key(&[&a, &b]), key::sha256_hex(text.as_bytes()));
        assert_eq!(index_key(&[&a, &b]).len(), 64);
        // Platform order matters (an index lists its manifests in order); so does every digest.
        assert_ne!(index_key(&[&a, &b]), index_key(&[&b, &a]));
        assert_ne!(index_key(&[&a, &b]), index_key(&[&a, &a]));
        assert_ne!(index_key(&[&a]), index_key(&[&a, &b]));
        // Never a stage input key's preimage: those start `gen-pipeline key `.
        assert!(!text.starts_with("gen-pipeline key "));
    }

    #[test]
    fn build_platform_flag_and_inheritance() {
        assert!(is_build_platform_flag("--platform=$BUILDPLATFORM"));
        assert!(is_build_platform_flag("--platform=${BUILDPLATFORM}"));
        assert!(!is_build_platform_flag("--platform=$TARGETPLATFORM"));
        assert!(!is_build_platform_flag("--platform=linux/amd64"));
        let on = on_build_platform(&[true, false, false], &[None, Some(0), None]);
        assert_eq!(on, [true, true, false]);
    }
}
