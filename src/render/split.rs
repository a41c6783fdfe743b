//! Drone and Woodpecker choose the runner per PIPELINE (Drone: the pipeline's `node:` labels,
//! docs.drone.io/pipeline/docker/syntax/routing; Woodpecker: the workflow's `labels:`), not per
//! step. With `runners:` giving one of them labels for a platform other than the build platform,
//! the jobs are split into several pipelines, one per runner, ordered with `depends_on`
//! (Drone: several `kind: pipeline` documents in one file, docs.drone.io/pipeline/configuration
//! "Graph Execution"; Woodpecker: one workflow per file, woodpecker-ci.org/docs/usage/workflows
//! "Flow control").
//!
//! **Which pipeline a job runs in.** Its runner group: a job that builds platform `p` (not the
//! build platform) on a runner whose labels for this CI are not the build runner's belongs to the
//! group of those labels; every other job, and every merge job, to the build runner's group (the
//! first pipeline). Within a group, jobs are layered in *waves*: a job's wave is at least the wave
//! of every job it needs in its own group, and one more than the wave of every job it needs in
//! another group (a pipeline cannot wait for part of another pipeline). Then every job is moved as
//! late as its dependents allow (so a group that waits for the build runner once is one pipeline,
//! not one per job). One pipeline per (group, wave); cross-pipeline edges always go to a later
//! wave, so the `depends_on` graph is acyclic.
//!
//! **Digests across pipelines.** Pipelines share no workspace (different machines: "Pipelines do
//! not share state", docs.drone.io/pipeline/configuration; "The workflows run in parallel on
//! separate agents and share nothing", woodpecker-ci.org/docs/usage/workflows). A step that
//! receives a digest from another pipeline resolves the producer's tag in the registry first
//! (`gp_handoff`, templates/shared/handoff.sh): a per-platform job's `sha-<sha>-<os>-<arch>`, a job
//! built once for every platform its `sha-<sha>` tag (a tag build, which writes no `sha-` tag: the
//! ref's first tag), and writes it to the same digest file a step of the same pipeline would have
//! written; the build then pins that digest.
//!
//! **Triggers.** The first pipeline keeps today's trigger (push, tag, pull request; its
//! pull-request step builds the build platform only). The others run on push and tag only. Drone
//! skips a pipeline whose trigger does not match and re-links its dependents to the skipped
//! pipeline's own dependencies (drone/drone trigger/trigger.go, `dag.Dependencies` "accounting
//! for skipped dependencies"), so on a pull request only the first pipeline runs. Woodpecker drops
//! a workflow whose `when` does not match and then every workflow that depends on a dropped one
//! (server/pipeline/stepbuilder `filterItemsWithMissingDependencies`): the first workflow depends
//! on none, so a pull request runs it alone.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::Ci;
use crate::plan::{platforms::platform_slug, Job, MergeJob, Plan};

/// A digest a step of this pipeline receives from a job of another pipeline: resolved from the
/// registry into `$GP_STATE/digests/<digest_var>` before the step builds or merges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handoff {
    pub digest_var: String,
    /// The producer's repository.
    pub repository: String,
    /// The producer's one platform (its tag is `sha-<sha>-<os>-<arch>`); empty for a job built
    /// once for every platform (its tag is `sha-<sha>`).
    pub platform: String,
    /// The producing job (for the comment).
    pub job: String,
}

/// A job of one pipeline, as its template sees it: the plan's job plus what this pipeline adds.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineJob<'a> {
    #[serde(flatten)]
    pub job: &'a Job,
    /// The jobs it needs that run in this pipeline (its step's `depends_on`).
    pub step_needs: Vec<String>,
    /// The digests it receives from other pipelines.
    pub handoffs: Vec<Handoff>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PipelineMerge<'a> {
    #[serde(flatten)]
    pub merge: &'a MergeJob,
    pub step_needs: Vec<String>,
    pub handoffs: Vec<Handoff>,
}

/// One Drone pipeline / Woodpecker workflow.
#[derive(Debug, Clone, Serialize)]
pub struct Pipeline<'a> {
    /// Drone: the pipeline's `name`; Woodpecker: the workflow's name, the file's stem.
    pub name: String,
    /// The pipeline with the pull-request step, the cleanup job and the notes; the only one when
    /// nothing is split.
    pub first: bool,
    /// Pipelines this one waits for (in file order).
    pub depends_on: Vec<String>,
    /// Drone `node:` / Woodpecker `labels:` (empty: the CI's default runner).
    pub labels: BTreeMap<String, String>,
    /// The platforms whose jobs run here (for the comment; empty on the build platform's runner).
    pub platforms: Vec<String>,
    /// Split only: the runner's platform, `os`/`arch`/`variant` (Drone routes a pipeline to a
    /// runner of its `platform:` too, linux/amd64 when it has none:
    /// docs.drone.io/pipeline/docker/syntax/platform, `DRONE_PLATFORM_ARCH` of the runner). `None`
    /// for a file of one pipeline, which stays as it was.
    pub platform: Option<BTreeMap<&'static str, String>>,
    /// Whether its login step registers emulators (several platforms, buildx): the one pipeline
    /// of an unsplit file, and a pipeline of the build platform's runner that builds another
    /// platform (no labels of its own for that platform); never a per-runner pipeline.
    pub emulates: bool,
    /// The first pipeline of a split: the others, `name (after a, b)`, for its header comment.
    pub others: Vec<String>,
    pub jobs: Vec<PipelineJob<'a>>,
    pub merges: Vec<PipelineMerge<'a>>,
}

impl Pipeline<'_> {
    /// Whether any step of this pipeline resolves a digest from another pipeline.
    pub fn has_handoffs(&self) -> bool {
        self.jobs.iter().any(|j| !j.handoffs.is_empty())
            || self.merges.iter().any(|m| !m.handoffs.is_empty())
    }
}

fn labels_for(ci: Ci, r: &crate::plan::Runner) -> BTreeMap<String, String> {
    match ci {
        Ci::Drone => r.drone.clone(),
        Ci::Woodpecker => r.woodpecker.clone(),
        Ci::Github | Ci::Gitlab => BTreeMap::new(),
    }
}

/// Whether `plan` needs several pipelines on `ci` (Drone/Woodpecker labels for a platform other
/// than the build platform). `false`: one pipeline, exactly as without `runners:` splitting.
pub fn is_split(plan: &Plan, ci: Ci) -> bool {
    let Some(first) = &plan.build_platform else {
        return false;
    };
    let main = plan
        .build_runner
        .as_ref()
        .map(|r| labels_for(ci, r))
        .unwrap_or_default();
    plan.jobs
        .iter()
        .any(|j| group_of(ci, j, first, &main).is_some())
}

/// The runner group of a job other than the build runner's (its labels), else `None`.
fn group_of(
    ci: Ci,
    j: &Job,
    first: &str,
    main: &BTreeMap<String, String>,
) -> Option<BTreeMap<String, String>> {
    let p = j.platform.as_deref()?;
    if p == first {
        return None;
    }
    let l = j.runner.as_ref().map(|r| labels_for(ci, r))?;
    (!l.is_empty() && &l != main).then_some(l)
}

/// The pipelines `plan` runs as on `ci`; `stem` names the first (`images` on Drone; on Woodpecker
/// the first file's name without its extension), the others are `<stem>-<suffix>`. Without a
/// split: one pipeline holding every job and merge.
pub fn pipelines<'a>(plan: &'a Plan, ci: Ci, stem: &str) -> Vec<Pipeline<'a>> {
    let main_labels = plan
        .build_runner
        .as_ref()
        .map(|r| labels_for(ci, r))
        .unwrap_or_default();
    if !is_split(plan, ci) {
        return vec![Pipeline {
            name: stem.to_string(),
            first: true,
            depends_on: Vec::new(),
            labels: main_labels,
            platforms: Vec::new(),
            platform: None,
            emulates: true,
            others: Vec::new(),
            jobs: plan
                .jobs
                .iter()
                .map(|j| PipelineJob {
                    job: j,
                    step_needs: j.needs.clone(),
                    handoffs: Vec::new(),
                })
                .collect(),
            merges: plan
                .merges
                .iter()
                .map(|m| PipelineMerge {
                    merge: m,
                    step_needs: m.needs.clone(),
                    handoffs: Vec::new(),
                })
                .collect(),
        }];
    }
    let first = plan.build_platform.clone().unwrap_or_default();
    // Groups: 0 is the build runner's; the others in the order their platforms are configured.
    let mut group_labels: Vec<BTreeMap<String, String>> = vec![main_labels.clone()];
    let mut group_platforms: Vec<Vec<String>> = vec![Vec::new()];
    let mut job_group: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &plan.platforms {
        for j in plan
            .jobs
            .iter()
            .filter(|j| j.platform.as_deref() == Some(p))
        {
            let g = match group_of(ci, j, &first, &main_labels) {
                None => 0,
                Some(l) => match group_labels.iter().position(|x| *x == l) {
                    Some(g) => g,
                    None => {
                        group_labels.push(l);
                        group_platforms.push(Vec::new());
                        group_labels.len() - 1
                    }
                },
            };
            if g != 0 && !group_platforms[g].contains(p) {
                group_platforms[g].push(p.clone());
            }
            job_group.insert(j.id.as_str(), g);
        }
    }
    for j in &plan.jobs {
        job_group.entry(j.id.as_str()).or_insert(0);
    }
    // Waves, as early as possible (jobs are in topological order: needs come first) ...
    let mut wave: BTreeMap<&str, usize> = BTreeMap::new();
    for j in &plan.jobs {
        let g = job_group[j.id.as_str()];
        let w = j
            .needs
            .iter()
            .filter_map(|n| {
                let ng = *job_group.get(n.as_str())?;
                let nw = *wave.get(n.as_str())?;
                Some(if ng == g { nw } else { nw + 1 })
            })
            .max()
            .unwrap_or(0);
        wave.insert(j.id.as_str(), w);
    }
    // ... the build runner's jobs that no other runner waits for (directly or through other jobs
    // of the build runner) in a pipeline of their own, so the first pipeline holds only what the
    // other runners need and they do not wait for the rest ...
    let mut needed: BTreeSet<&str> = BTreeSet::new();
    for j in plan.jobs.iter().rev() {
        let g = job_group[j.id.as_str()];
        if g != 0 || needed.contains(j.id.as_str()) {
            for n in &j.needs {
                if job_group.get(n.as_str()) == Some(&0) {
                    needed.insert(n.as_str());
                }
            }
        }
    }
    if !needed.is_empty() {
        for j in &plan.jobs {
            let id = j.id.as_str();
            if job_group[id] == 0 && !needed.contains(id) && wave[id] == 0 {
                wave.insert(id, 1);
            }
        }
    }
    // ... the merge jobs after their per-platform jobs, on the build runner ...
    let merge_wave = |m: &MergeJob, wave: &BTreeMap<&str, usize>| {
        m.needs
            .iter()
            .filter_map(|n| {
                let nw = *wave.get(n.as_str())?;
                Some(if job_group[n.as_str()] == 0 {
                    nw
                } else {
                    nw + 1
                })
            })
            .max()
            .unwrap_or(0)
    };
    // ... and every job of another runner as late as its dependents allow (reverse topological
    // order), so each of those runners waits once.
    let mut dependents: BTreeMap<&str, Vec<(usize, usize)>> = BTreeMap::new(); // (group, wave)
    for m in &plan.merges {
        let w = merge_wave(m, &wave);
        for n in &m.needs {
            dependents.entry(n.as_str()).or_default().push((0, w));
        }
    }
    // A job nothing waits for (a check) goes to its runner's last wave.
    let mut last_wave: BTreeMap<usize, usize> = BTreeMap::new();
    for j in &plan.jobs {
        let e = last_wave.entry(job_group[j.id.as_str()]).or_insert(0);
        *e = (*e).max(wave[j.id.as_str()]);
    }
    for j in plan.jobs.iter().rev() {
        let id = j.id.as_str();
        let g = job_group[id];
        if g != 0 {
            let latest = match dependents.get(id) {
                Some(ds) => ds
                    .iter()
                    .map(|&(dg, dw)| if dg == g { dw } else { dw.saturating_sub(1) })
                    .min()
                    .unwrap_or(0),
                None => last_wave[&g],
            };
            if latest > wave[id] {
                wave.insert(id, latest);
            }
        }
        let w = wave[id];
        for n in &j.needs {
            if job_group.contains_key(n.as_str()) {
                dependents.entry(n.as_str()).or_default().push((g, w));
            }
        }
    }
    // Raising a job may leave a job that needs it (and had no dependents to hold it) earlier:
    // a forward pass restores "needs come first".
    for j in &plan.jobs {
        let id = j.id.as_str();
        let g = job_group[id];
        let low = j
            .needs
            .iter()
            .filter_map(|n| {
                let nw = *wave.get(n.as_str())?;
                Some(if job_group[n.as_str()] == g {
                    nw
                } else {
                    nw + 1
                })
            })
            .max()
            .unwrap_or(0);
        if low > wave[id] {
            wave.insert(id, low);
        }
    }
    // The pipelines: (group, wave), the first is (0, 0); then by wave and group.
    let mut keys: BTreeSet<(usize, usize)> = BTreeSet::new();
    keys.insert((0, 0));
    for j in &plan.jobs {
        keys.insert((job_group[j.id.as_str()], wave[j.id.as_str()]));
    }
    let merge_key: Vec<(usize, usize)> = plan
        .merges
        .iter()
        .map(|m| (0, merge_wave(m, &wave)))
        .collect();
    keys.extend(merge_key.iter().copied());
    let mut order: Vec<(usize, usize)> = keys.into_iter().collect();
    order.sort_by_key(|&(g, w)| (w, g));
    // Names: `<stem>` for the first, `<stem>-<platform slugs>` for another group (numbered when
    // a group has several), `<stem>-merge` for a later build-runner pipeline of merges only.
    let mut names: BTreeMap<(usize, usize), String> = BTreeMap::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    for &(g, w) in &order {
        let only_merges = g == 0
            && !plan
                .jobs
                .iter()
                .any(|j| (job_group[j.id.as_str()], wave[j.id.as_str()]) == (0, w));
        let base = if (g, w) == (0, 0) {
            stem.to_string()
        } else if g == 0 && only_merges {
            format!("{stem}-merge")
        } else if g == 0 {
            format!("{stem}-{}", platform_slug(&first))
        } else {
            format!(
                "{stem}-{}",
                group_platforms[g]
                    .iter()
                    .map(|p| platform_slug(p))
                    .collect::<Vec<_>>()
                    .join("-")
            )
        };
        let mut name = base.clone();
        let mut k = 2;
        while !used.insert(name.clone()) {
            name = format!("{base}-{k}");
            k += 1;
        }
        names.insert((g, w), name);
    }
    let key_of_job: BTreeMap<&str, (usize, usize)> = plan
        .jobs
        .iter()
        .map(|j| {
            (
                j.id.as_str(),
                (job_group[j.id.as_str()], wave[j.id.as_str()]),
            )
        })
        .collect();
    let job_by_id: BTreeMap<&str, &Job> = plan.jobs.iter().map(|j| (j.id.as_str(), j)).collect();
    let handoff = |producer: &str, var: &str| {
        let j = job_by_id[producer];
        Handoff {
            digest_var: var.to_string(),
            repository: j.repository.clone(),
            platform: j.platform.clone().unwrap_or_default(),
            job: j.id.clone(),
        }
    };
    let mut out: Vec<Pipeline<'a>> = order
        .iter()
        .map(|&key| {
            let (g, _) = key;
            let mut deps: BTreeSet<(usize, usize)> = BTreeSet::new();
            let jobs: Vec<PipelineJob> = plan
                .jobs
                .iter()
                .filter(|j| key_of_job[j.id.as_str()] == key)
                .map(|j| {
                    let mut step_needs = Vec::new();
                    let mut handoffs = Vec::new();
                    for n in &j.needs {
                        if key_of_job[n.as_str()] == key {
                            step_needs.push(n.clone());
                        } else {
                            deps.insert(key_of_job[n.as_str()]);
                        }
                    }
                    for c in &j.contexts {
                        if key_of_job[c.job.as_str()] != key {
                            handoffs.push(handoff(&c.job, &c.digest_var));
                        }
                    }
                    PipelineJob {
                        job: j,
                        step_needs,
                        handoffs,
                    }
                })
                .collect();
            let merges: Vec<PipelineMerge> = plan
                .merges
                .iter()
                .zip(&merge_key)
                .filter(|(_, k)| **k == key)
                .map(|(m, _)| {
                    let mut step_needs = Vec::new();
                    let mut handoffs = Vec::new();
                    for s in &m.sources {
                        if key_of_job[s.job.as_str()] == key {
                            step_needs.push(s.job.clone());
                        } else {
                            deps.insert(key_of_job[s.job.as_str()]);
                            handoffs.push(handoff(&s.job, &s.digest_var));
                        }
                    }
                    PipelineMerge {
                        merge: m,
                        step_needs,
                        handoffs,
                    }
                })
                .collect();
            deps.remove(&key);
            let runs_on = if g == 0 {
                first.clone()
            } else {
                group_platforms[g][0].clone()
            };
            let emulates = key == (0, 0)
                || (g == 0
                    && jobs
                        .iter()
                        .any(|j| j.job.platform.as_deref().is_some_and(|p| p != first)));
            Pipeline {
                platform: Some(platform_parts(&runs_on)),
                emulates,
                others: Vec::new(),
                name: names[&key].clone(),
                first: key == (0, 0),
                depends_on: order
                    .iter()
                    .filter(|k| deps.contains(k))
                    .map(|k| names[k].clone())
                    .collect(),
                labels: group_labels[g].clone(),
                platforms: group_platforms[g].clone(),
                jobs,
                merges,
            }
        })
        .collect();
    let others: Vec<String> = out
        .iter()
        .skip(1)
        .map(|p| {
            if p.depends_on.is_empty() {
                p.name.clone()
            } else {
                format!("{} (after {})", p.name, p.depends_on.join(", "))
            }
        })
        .collect();
    out[0].others = others;
    out
}

/// `linux/arm/v7` -> `{os: linux, arch: arm, variant: v7}` (Drone's `platform:` keys; `variant`
/// empty when there is none).
fn platform_parts(p: &str) -> BTreeMap<&'static str, String> {
    let mut parts = p.split('/');
    let mut m = BTreeMap::new();
    for k in ["os", "arch", "variant"] {
        m.insert(k, parts.next().unwrap_or_default().to_string());
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::{options, two_apps};
    use crate::plan::{Builder, Runner};

    fn plan_with(builder: Builder) -> Plan {
        let mut o = options();
        o.builder = builder;
        o.platforms = vec!["linux/amd64".into(), "linux/arm64".into()];
        o.runners.insert(
            "linux/arm64".into(),
            Runner {
                drone: BTreeMap::from([("arch".into(), "arm64".into())]),
                ..Default::default()
            },
        );
        crate::plan::plan(&two_apps(), &o).unwrap()
    }

    /// What every split must hold: the first pipeline waits for none; each pipeline waits only
    /// for earlier ones; every job a step needs runs in its pipeline (a `depends_on` of the step)
    /// or in a pipeline it waits for, directly or not (then the step resolves it: a handoff);
    /// every job and merge runs exactly once.
    fn check_invariants(plan: &Plan, pls: &[Pipeline]) {
        assert!(pls[0].first && pls[0].depends_on.is_empty());
        let pos = |n: &str| pls.iter().position(|p| p.name == n).unwrap();
        let mut upstream: Vec<BTreeSet<usize>> = Vec::new();
        for (i, p) in pls.iter().enumerate() {
            let mut up = BTreeSet::new();
            for d in &p.depends_on {
                let k = pos(d);
                assert!(k < i, "{} waits for the later {d}", p.name);
                up.insert(k);
                up.extend(upstream[k].iter().copied());
            }
            upstream.push(up);
        }
        let where_: BTreeMap<&str, usize> = pls
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.jobs.iter().map(move |j| (j.job.id.as_str(), i)))
            .collect();
        assert_eq!(where_.len(), plan.jobs.len());
        let merges: usize = pls.iter().map(|p| p.merges.len()).sum();
        assert_eq!(merges, plan.merges.len());
        for (i, p) in pls.iter().enumerate() {
            for j in &p.jobs {
                for n in &j.job.needs {
                    let k = where_[n.as_str()];
                    if k == i {
                        assert!(j.step_needs.contains(n), "{}: {n}", j.job.id);
                    } else {
                        assert!(
                            upstream[i].contains(&k),
                            "{} needs {n} of a later pipeline",
                            j.job.id
                        );
                        assert!(
                            j.handoffs.iter().any(|h| &h.job == n),
                            "{}: {n} is not handed over",
                            j.job.id
                        );
                    }
                }
            }
            for m in &p.merges {
                for n in &m.merge.needs {
                    let k = where_[n.as_str()];
                    assert!(
                        k == i || upstream[i].contains(&k),
                        "merge {}: {n}",
                        m.merge.id
                    );
                }
            }
        }
    }

    #[test]
    fn split_is_acyclic_and_hands_over_every_cross_pipeline_need() {
        for builder in [Builder::Buildx, Builder::Buildah] {
            let plan = plan_with(builder);
            assert!(is_split(&plan, Ci::Drone));
            assert!(!is_split(&plan, Ci::Woodpecker), "no Woodpecker labels");
            let pls = pipelines(&plan, Ci::Drone, "images");
            check_invariants(&plan, &pls);
            let names: Vec<&str> = pls.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(
                names,
                ["images", "images-linux-arm64", "images-merge"],
                "{builder:?}"
            );
            assert_eq!(pipelines(&plan, Ci::Woodpecker, "images").len(), 1);
        }
    }

    /// A job of the build runner between two jobs of another runner (a stage built on the build
    /// platform for linux/arm64, as buildah plans it, that needs and feeds linux/arm64 jobs): the
    /// other runner's jobs split into two pipelines around it, never a cycle.
    #[test]
    fn a_build_runner_job_between_two_jobs_of_another_runner() {
        let mut plan = plan_with(Builder::Buildah);
        let build_runner = plan.build_runner.clone();
        let app1 = plan
            .jobs
            .iter()
            .position(|j| j.id == "app1-linux-arm64")
            .unwrap();
        plan.jobs[app1].runner = build_runner;
        let ctx = plan.jobs[app1].clone();
        let app2 = plan
            .jobs
            .iter()
            .position(|j| j.id == "app2-linux-arm64")
            .unwrap();
        plan.jobs[app2].needs.push(ctx.id.clone());
        plan.jobs[app2].contexts.push(crate::plan::ContextInput {
            stage: "app1".into(),
            job: ctx.id.clone(),
            repository: ctx.repository.clone(),
            digest_var: ctx.digest_var.clone(),
        });
        let pls = pipelines(&plan, Ci::Drone, "images");
        check_invariants(&plan, &pls);
        let of = |id: &str| {
            pls.iter()
                .find(|p| p.jobs.iter().any(|j| j.job.id == id))
                .unwrap()
                .name
                .clone()
        };
        assert_eq!(of("base-linux-arm64"), "images-linux-arm64");
        assert_eq!(of("app2-linux-arm64"), "images-linux-arm64-2");
        assert!(!of("app1-linux-arm64").contains("arm64"));
    }
}
