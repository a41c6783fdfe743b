//! What the planner reads from a Dockerfile besides one stage graph: the per-platform graphs, the
//! stages a `FROM` selects through an ARG (and their unselected siblings), stages that only copy
//! an image, bare `FROM <stage>` aliases, and checks (test / lint / validate / `*-update` /
//! output-only stages).
//!
//! These are the facts behind the default job plan (see `plan::plan_input` and the README's
//! "How a pipeline is planned"); each is explained in `plan --format text`.

use std::borrow::Cow;
use std::collections::BTreeSet;

use crate::dockerfile::Dockerfile;
use crate::graph::{self, StageGraph};

/// One stage as written, beyond its graph node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageFacts {
    /// The FROM argument before ARG expansion (`binaries-${TARGETOS}`).
    pub from_written: String,
    /// Lower-cased keywords of the instructions after FROM, `ARG` left out (an ARG changes no
    /// image). Empty: the stage is its base image, unchanged.
    pub body: Vec<String>,
}

/// The facts of every stage of a parsed Dockerfile, in stage order.
pub fn stage_facts(df: &Dockerfile) -> Vec<StageFacts> {
    let mut out: Vec<StageFacts> = Vec::new();
    for ins in &df.instructions {
        if ins.keyword == "from" {
            out.push(StageFacts {
                from_written: ins.args.first().cloned().unwrap_or_default(),
                body: Vec::new(),
            });
        } else if let Some(st) = out.last_mut() {
            if ins.keyword != "arg" {
                st.body.push(ins.keyword.clone());
            }
        }
    }
    out
}

/// The planner's view of a Dockerfile: one graph per configured platform (same stages, edges
/// that may differ where a FROM is chosen by a platform ARG) and, when known, the stage facts.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    /// `(platform, graph)`; never empty. The first is the primary graph.
    pub graphs: Vec<(String, &'a StageGraph)>,
    /// Per stage; empty when unknown (a graph built by hand).
    pub facts: &'a [StageFacts],
    /// The parsed Dockerfile (for the stage input keys); `None` for a graph built by hand (every
    /// job's key is then unknown and every job always builds).
    pub dockerfile: Option<&'a Dockerfile>,
}

/// The graph the jobs are planned on: the primary graph with every stage depending on the union
/// of its dependencies over the platforms (one multi-platform job builds every platform).
pub fn merged<'a>(graphs: &[(String, &'a StageGraph)]) -> Cow<'a, StageGraph> {
    let first = graphs[0].1;
    if graphs[1..].iter().all(|(_, g)| {
        g.stages
            .iter()
            .zip(&first.stages)
            .all(|(a, b)| a.depends_on == b.depends_on)
    }) {
        return Cow::Borrowed(first);
    }
    let mut g = first.clone();
    for (i, st) in g.stages.iter_mut().enumerate() {
        let mut deps: BTreeSet<usize> = BTreeSet::new();
        for (_, other) in graphs {
            deps.extend(other.stages[i].depends_on.iter().copied());
        }
        st.depends_on = deps.into_iter().collect();
    }
    Cow::Owned(g)
}

/// A stage a FROM can select through an ARG (`FROM binaries-${TARGETOS}` and `binaries-linux`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alternative {
    /// The stage whose FROM selects among the alternatives.
    pub selector: usize,
    /// Whether the effective ARG values select this stage on at least one platform.
    pub selected: bool,
    /// `FROM` as written and its line, for the explanation.
    pub written: String,
    pub line: usize,
    /// The effective values of the ARGs in the FROM, e.g. `TARGETOS=linux` (one per distinct
    /// value over the platforms).
    pub values: Vec<String>,
}

/// Per stage, the FROM that chooses it through an ARG, if any. A FROM qualifies when it
/// references an ARG and also has literal text: `FROM ${BASE}` alone selects among images, not
/// among a family of stages. Every earlier named stage matching the FROM's shape (each ARG
/// reference as a wildcard) is an alternative; it is selected when some platform's graph
/// resolves the FROM to it.
pub fn alternatives(
    input: &PlanInput,
    build_args: &std::collections::BTreeMap<String, String>,
) -> Vec<Option<Alternative>> {
    let g = input.graphs[0].1;
    let n = g.stages.len();
    let mut out: Vec<Option<Alternative>> = vec![None; n];
    if input.facts.len() != n {
        return out;
    }
    // Who needs each stage, on any platform.
    let mut needed_by: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    for (_, pg) in &input.graphs {
        for t in &pg.stages {
            for &d in &t.depends_on {
                needed_by[d].insert(t.index);
            }
        }
    }
    for sel in 0..n {
        let written = &input.facts[sel].from_written;
        let Some((segs, vars)) = pattern(written) else {
            continue;
        };
        let chosen: BTreeSet<usize> = input
            .graphs
            .iter()
            .filter_map(|(_, g)| g.stages[sel].base_stage)
            .collect();
        let mut values: Vec<String> = Vec::new();
        for (platform, pg) in &input.graphs {
            for v in &vars {
                let val = effective_arg(v, platform, pg, build_args);
                let s = format!("{v}={val}");
                if !values.contains(&s) {
                    values.push(s);
                }
            }
        }
        for (cand, slot) in out.iter_mut().enumerate().take(sel) {
            let Some(name) = g.stages[cand].name.as_deref() else {
                continue;
            };
            if !glob(&segs, name) {
                continue;
            }
            // Named directly by another stage (a literal FROM or --from), it is no alternative.
            let named_elsewhere = needed_by[cand].iter().any(|&t| t != sel);
            let selected = chosen.contains(&cand) || named_elsewhere;
            // A stage several FROMs can choose is selected when any of them chooses it.
            match slot {
                Some(a) if a.selected => {}
                slot => {
                    *slot = Some(Alternative {
                        selector: sel,
                        selected,
                        written: written.clone(),
                        line: g.stages[sel].line,
                        values: values.clone(),
                    })
                }
            }
        }
    }
    out
}

/// The value an ARG has in FROM lines on `platform`: `--build-arg`, else the meta ARG's value,
/// else BuildKit's automatic platform ARG.
fn effective_arg(
    name: &str,
    platform: &str,
    g: &StageGraph,
    build_args: &std::collections::BTreeMap<String, String>,
) -> String {
    if let Some(v) = build_args.get(name) {
        return v.clone();
    }
    if let Some(Some(v)) = g.meta_args.get(name) {
        return v.clone();
    }
    let platform = if platform.is_empty() {
        "linux/amd64"
    } else {
        platform
    };
    graph::platform_args(platform, "linux/amd64")
        .into_iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(String),
    Wild,
}

/// A FROM argument as a glob: ARG references become wildcards. `None` without a reference or
/// without literal text.
fn pattern(written: &str) -> Option<(Vec<Seg>, Vec<String>)> {
    let mut segs: Vec<Seg> = Vec::new();
    let mut vars: Vec<String> = Vec::new();
    let mut lit = String::new();
    let chars: Vec<char> = written.chars().collect();
    let mut i = 0;
    let flush = |lit: &mut String, segs: &mut Vec<Seg>| {
        if !lit.is_empty() {
            segs.push(Seg::Lit(std::mem::take(lit).to_lowercase()));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            lit.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if c != '$' {
            lit.push(c);
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&'{') {
            let mut depth = 0;
            let mut j = i + 1;
            while j < chars.len() {
                match chars[j] {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            let inner: String = chars[i + 2..j.min(chars.len())].iter().collect();
            let name: String = inner
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            flush(&mut lit, &mut segs);
            segs.push(Seg::Wild);
            if !name.is_empty() && !vars.contains(&name) {
                vars.push(name);
            }
            i = j + 1;
        } else if chars
            .get(i + 1)
            .is_some_and(|c| c.is_ascii_alphabetic() || *c == '_')
        {
            let mut j = i + 1;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            let name: String = chars[i + 1..j].iter().collect();
            flush(&mut lit, &mut segs);
            segs.push(Seg::Wild);
            if !vars.contains(&name) {
                vars.push(name);
            }
            i = j;
        } else {
            lit.push(c);
            i += 1;
        }
    }
    flush(&mut lit, &mut segs);
    let has_wild = segs.contains(&Seg::Wild);
    let has_lit = segs.iter().any(|s| matches!(s, Seg::Lit(_)));
    (has_wild && has_lit).then_some((segs, vars))
}

/// Whether `name` matches the segments (wildcards match any text, the empty text included).
fn glob(segs: &[Seg], name: &str) -> bool {
    match segs.split_first() {
        None => name.is_empty(),
        Some((Seg::Lit(l), rest)) => name.strip_prefix(l.as_str()).is_some_and(|r| glob(rest, r)),
        Some((Seg::Wild, rest)) => name
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(name.len()))
            .any(|i| glob(rest, &name[i..])),
    }
}

/// The stage's base when it is nothing but `FROM <image>` (it re-tags an image).
pub fn copies_image(input: &PlanInput, s: usize) -> Option<String> {
    let f = input.facts.get(s)?;
    let g = input.graphs[0].1;
    (f.body.is_empty()
        && input
            .graphs
            .iter()
            .all(|(_, g)| g.stages[s].base_stage.is_none()))
    .then(|| g.stages[s].base.clone())
}

/// The stage a bare `FROM <stage>` is the same image as, when it is that stage on every platform.
pub fn alias_of(input: &PlanInput, s: usize) -> Option<usize> {
    let f = input.facts.get(s)?;
    if !f.body.is_empty() {
        return None;
    }
    let b = input.graphs[0].1.stages[s].base_stage?;
    input
        .graphs
        .iter()
        .all(|(_, g)| g.stages[s].base_stage == Some(b))
        .then_some(b)
}

/// Words of a stage name that mark a check (a stage built for its RUN steps' verdict or its
/// files, not for an image to run).
const CHECK_WORDS: &[&str] = &[
    "test",
    "tests",
    "lint",
    "linter",
    "validate",
    "validation",
    "check",
    "checks",
    "vet",
    "update",
];

/// Why a stage is a check by default, if it is: its name has a word from [`CHECK_WORDS`]
/// (`unit-test`, `golangci-lint`, `validate-vendor`, `vendor-update`), or it is an output-only
/// stage (`FROM scratch` with nothing but COPY/ADD: files for `--output`, not a runnable image)
/// other than the final one.
pub fn check_reason(input: &PlanInput, s: usize, is_final: bool) -> Option<String> {
    let g = input.graphs[0].1;
    if let Some(name) = &g.stages[s].name {
        if let Some(w) = name
            .split(['-', '_', '.'])
            .find(|w| CHECK_WORDS.contains(w))
        {
            return Some(format!("its name has the word `{w}`"));
        }
    }
    let f = input.facts.get(s)?;
    if !is_final
        && g.stages[s].base == "scratch"
        && !f.body.is_empty()
        && f.body.iter().all(|k| k == "copy" || k == "add")
    {
        return Some("output-only (FROM scratch with only COPY/ADD: files for `--output`)".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_globs() {
        let (s, v) = pattern("binaries-${TARGETOS}").unwrap();
        assert_eq!(v, ["TARGETOS"]);
        assert!(glob(&s, "binaries-linux"));
        assert!(!glob(&s, "binary-linux"));
        let (s, v) = pattern("${APP_ENV}_image").unwrap();
        assert_eq!(v, ["APP_ENV"]);
        assert!(glob(&s, "prod_image") && !glob(&s, "prod_images"));
        let (s, _) = pattern("build-$BUILDOS-${BUILDARCH:-amd64}").unwrap();
        assert!(glob(&s, "build-linux-arm64"));
        assert!(pattern("${BASE}").is_none());
        assert!(pattern("alpine:3.20").is_none());
    }
}
