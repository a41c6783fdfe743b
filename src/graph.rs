//! The stage graph: stages, their bases and edges, after meta-ARG expansion.
//!
//! OWNER: graph work (issue 2). `StageGraph` and `Stage` are the contract the planner
//! codes against; extend them, don't rename them.

use std::collections::{BTreeMap, HashMap};

use crate::diag::{Diagnostic, Span};
use crate::dockerfile::{Dockerfile, Instruction};

use crate::dockerfile::lex;

/// Inputs that change how the graph resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphOptions {
    /// `--build-arg K=V` overrides of meta ARGs.
    pub build_args: BTreeMap<String, String>,
    /// Target platform, e.g. `linux/amd64` (drives TARGETOS/TARGETARCH/...).
    pub platform: String,
    /// Build platform (drives BUILDOS/BUILDARCH/...).
    pub build_platform: String,
}

impl Default for GraphOptions {
    fn default() -> Self {
        GraphOptions {
            build_args: BTreeMap::new(),
            platform: "linux/amd64".into(),
            build_platform: "linux/amd64".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StageGraph {
    /// Stages in file order; `stages[i].index == i`.
    pub stages: Vec<Stage>,
    /// External images referenced (FROM bases and `--from` images), sorted, unique.
    pub images: Vec<String>,
    /// Meta ARGs (declared before the first FROM) with their resolved values.
    #[serde(skip)]
    pub meta_args: BTreeMap<String, Option<String>>,
    /// Warnings BuildKit would print (duplicate stage names, ...). Never change the graph.
    #[serde(skip)]
    pub warnings: Vec<Diagnostic>,
    /// Every name an `ARG` declares, before the first FROM or in a stage (for unused
    /// `--build-arg` warnings).
    #[serde(skip)]
    pub declared_args: std::collections::BTreeSet<String>,
    /// Every `RUN --mount=type=secret` with the secret id BuildKit asks for.
    #[serde(skip)]
    pub secret_mounts: Vec<SecretMount>,
}

/// A `RUN --mount=type=secret,...`: the id BuildKit requests (`source`, else `id`, else the
/// target's base name, as `dockerfile2llb`'s `dispatchSecret`) and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMount {
    pub id: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stage {
    pub index: usize,
    /// Lower-cased `AS` name.
    pub name: Option<String>,
    /// The FROM argument after expansion.
    pub base: String,
    /// `Some(i)` when `base` names an earlier stage.
    #[serde(skip)]
    pub base_stage: Option<usize>,
    /// Sorted, unique indices of the stages this one needs (FROM, COPY/ADD --from, RUN --mount from=).
    pub depends_on: Vec<usize>,
    /// 1-based line of the FROM.
    pub line: usize,
    /// Expanded `--platform` of the FROM, if any.
    #[serde(skip)]
    pub platform: Option<String>,
    /// Every edge with its location (for errors and the plan's reasoning).
    #[serde(skip)]
    pub edges: Vec<Edge>,
    /// Set when the stage is a Windows container (its base image or its `--platform`): the
    /// planner refuses it where a job would build it, and only notes it otherwise.
    #[serde(skip)]
    pub windows: Option<WindowsStage>,
}

/// Why a stage is a Windows container, and where the FROM says so (issue 9). The generated jobs
/// run on Linux builders, so a job cannot build it; but a stage no job builds (an alternative the
/// ARG values do not select, a stage no target needs) is harmless, as it is to BuildKit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowsStage {
    /// The base image or the platform, expanded.
    pub what: String,
    /// `a Windows base image`, `a Windows platform`, ...
    pub why: &'static str,
    /// The FROM's base, or its `--platform` value.
    pub span: Span,
}

impl WindowsStage {
    /// The error at the FROM, for a stage a job would build.
    pub fn refusal(&self) -> Diagnostic {
        windows_refusal(self.span, &self.what, self.why).diag
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub kind: EdgeKind,
    pub target: EdgeTarget,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    From,
    Copy,
    Mount,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeTarget {
    Stage(usize),
    Image(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{diag}")]
pub struct GraphError {
    pub diag: Diagnostic,
}

impl Stage {
    /// The name a `--build-context`/`--target` can address: the stage name, if any.
    pub fn label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("stage-{}", self.index))
    }
}

/// Build the stage graph of a parsed Dockerfile.
///
/// Without the source text, error columns inside continued instructions are located from
/// `Instruction::original`; use [`build_with_source`] for exact columns.
pub fn build(df: &Dockerfile, opts: &GraphOptions) -> Result<StageGraph, GraphError> {
    Builder::new(df, None, opts).run()
}

/// [`build`], locating every error and warning in `source` (the text `df` was parsed from).
pub fn build_with_source(
    df: &Dockerfile,
    source: &str,
    opts: &GraphOptions,
) -> Result<StageGraph, GraphError> {
    Builder::new(df, Some(source), opts).run()
}

/// BuildKit's automatic platform ARGs, from `os/arch[/variant]` strings.
pub fn platform_args(target: &str, build: &str) -> Vec<(&'static str, String)> {
    fn split(p: &str) -> (String, String, String) {
        let mut it = p.split('/');
        let os = it.next().unwrap_or("").to_string();
        let arch = it.next().unwrap_or("").to_string();
        let variant = it.next().unwrap_or("").to_string();
        (os, arch, variant)
    }
    fn fmt((os, arch, variant): &(String, String, String)) -> String {
        let mut s = format!("{os}/{arch}");
        if !variant.is_empty() {
            s.push('/');
            s.push_str(variant);
        }
        s
    }
    let b = split(build);
    let t = split(target);
    vec![
        ("BUILDPLATFORM", fmt(&b)),
        ("BUILDOS", b.0.clone()),
        ("BUILDOSVERSION", String::new()),
        ("BUILDARCH", b.1.clone()),
        ("BUILDVARIANT", b.2.clone()),
        ("TARGETPLATFORM", fmt(&t)),
        ("TARGETOS", t.0.clone()),
        ("TARGETOSVERSION", String::new()),
        ("TARGETARCH", t.1.clone()),
        ("TARGETVARIANT", t.2.clone()),
    ]
}

fn err(span: Span, msg: impl Into<String>) -> GraphError {
    GraphError {
        diag: Diagnostic::new(span, msg),
    }
}

/// A FROM before resolution.
struct RawStage<'a> {
    from: &'a Instruction,
    /// The stage's COPY/ADD/RUN instructions that have flags (the only ones that add edges).
    body: Vec<&'a Instruction>,
    name: Option<String>,
}

struct Builder<'a> {
    df: &'a Dockerfile,
    source: Option<&'a str>,
    opts: &'a GraphOptions,
    /// Byte offsets of line starts in `source`, computed on first use.
    line_starts: Option<Vec<usize>>,
    warnings: Vec<Diagnostic>,
    /// Expansion work left for this file (see [`lex::Budget`]).
    budget: lex::Budget,
    /// "Did you mean" lookups for names that are not stages (memoized and bounded).
    typo: Suggester,
    secret_mounts: Vec<SecretMount>,
}

impl<'a> Builder<'a> {
    fn new(df: &'a Dockerfile, source: Option<&'a str>, opts: &'a GraphOptions) -> Self {
        let source = source.map(|s| s.strip_prefix('\u{feff}').unwrap_or(s));
        let len = match source {
            Some(s) => s.len(),
            None => df.instructions.iter().map(|i| i.original.len() + 1).sum(),
        };
        Builder {
            df,
            source,
            opts,
            line_starts: None,
            warnings: Vec::new(),
            budget: lex::Budget::for_source(len),
            typo: Suggester::default(),
            secret_mounts: Vec::new(),
        }
    }

    /// Where the whole word `needle` first occurs in `ins` (after the keyword), plus `skip` characters.
    fn locate(&mut self, ins: &Instruction, needle: &str, skip: usize) -> Span {
        let after = Span {
            line: ins.span.line,
            col: ins.span.col + ins.keyword.chars().count(),
        };
        self.locate_after(ins, needle, after, skip)
    }

    /// Like [`Self::locate`], searching at or after `after`.
    fn locate_after(&mut self, ins: &Instruction, needle: &str, after: Span, skip: usize) -> Span {
        if needle.is_empty() {
            return ins.span;
        }
        // A one-line instruction: `original` is that line, so no need to scan the source.
        if ins.end_line <= ins.span.line || self.source.is_none() {
            if let Some(span) = locate_in_original(ins, needle, after, skip) {
                return span;
            }
        }
        if let Some(src) = self.source {
            let starts = self.line_starts.get_or_insert_with(|| {
                let mut v = vec![0];
                v.extend(src.match_indices('\n').map(|(i, _)| i + 1));
                v
            });
            let last = ins.end_line.max(ins.span.line);
            for line in after.line.max(1)..=last {
                let Some(&start) = starts.get(line - 1) else {
                    break;
                };
                let end = starts.get(line).map_or(src.len(), |&e| e);
                let text = src[start..end].trim_end_matches(['\n', '\r']);
                let from = if line == after.line {
                    text.char_indices()
                        .nth(after.col.saturating_sub(1))
                        .map_or(text.len(), |(i, _)| i)
                } else {
                    0
                };
                if let Some(pos) = find_word(&text[from..], needle) {
                    let col = text[..from + pos].chars().count() + 1 + skip;
                    return Span { line, col };
                }
            }
        }
        locate_in_original(ins, needle, after, skip).unwrap_or(ins.span)
    }

    /// Where flag `idx` of `ins` starts, plus `skip` characters (the parser's flag span when known).
    fn flag_at(&mut self, ins: &Instruction, idx: usize, skip: usize) -> Span {
        match ins.flag_spans.get(idx) {
            Some(s) if s.line > 0 => Span {
                line: s.line,
                col: s.col + skip,
            },
            _ => {
                let f = ins.flags.get(idx).map(String::as_str).unwrap_or("");
                self.locate(ins, f, skip)
            }
        }
    }

    fn warn(&mut self, d: Diagnostic) {
        self.warnings.push(d);
    }

    fn run(mut self) -> Result<StageGraph, GraphError> {
        let df = self.df;
        // 1. Split into meta ARGs and stages; reject unknown instructions and non-ARG before FROM.
        let mut meta: Vec<&Instruction> = Vec::new();
        let mut raw: Vec<RawStage> = Vec::new();
        let mut declared_args = std::collections::BTreeSet::new();
        for ins in &df.instructions {
            check_known(ins)?;
            if !ins.flags.is_empty() {
                self.check_flags(ins)?;
            }
            if ins.keyword == "arg" {
                for a in &ins.args {
                    let key = a.split_once('=').map_or(a.as_str(), |(k, _)| k);
                    if !key.is_empty() && !declared_args.contains(key) {
                        declared_args.insert(key.to_string());
                    }
                }
            }
            if ins.keyword == "from" {
                let name = self.stage_name(ins)?;
                raw.push(RawStage {
                    from: ins,
                    body: Vec::new(),
                    name,
                });
            } else if let Some(st) = raw.last_mut() {
                // Only flagged COPY/ADD/RUN can add edges.
                if !ins.flags.is_empty() && matches!(ins.keyword.as_str(), "copy" | "add" | "run") {
                    st.body.push(ins);
                }
            } else if ins.keyword == "arg" {
                meta.push(ins);
            } else {
                let kw = keyword_as_written(ins);
                return Err(err(
                    ins.span,
                    format!("`{kw}` before the first FROM: no build stage in current context"),
                )
                .with_help("only ARG instructions may come before the first FROM"));
            }
        }
        if raw.is_empty() {
            let span = df
                .instructions
                .first()
                .map_or(Span { line: 1, col: 1 }, |i| i.span);
            return Err(err(span, "dockerfile contains no stages to build")
                .with_help("add a `FROM <image>` line"));
        }

        // 2. Meta ARGs over the automatic platform ARGs.
        let mut env: HashMap<String, String> = HashMap::new();
        for (k, v) in platform_args(&self.opts.platform, &self.opts.build_platform) {
            let v = self.opts.build_args.get(k).cloned().unwrap_or(v);
            env.insert(k.to_string(), v);
        }
        let target_stage = raw
            .last()
            .and_then(|s| s.name.clone())
            .unwrap_or_else(|| "default".into());
        env.insert(
            "TARGETSTAGE".into(),
            self.opts
                .build_args
                .get("TARGETSTAGE")
                .cloned()
                .unwrap_or(target_stage),
        );
        let mut meta_args: BTreeMap<String, Option<String>> = BTreeMap::new();
        for ins in &meta {
            for a in &ins.args {
                let (key, default) = match a.split_once('=') {
                    Some((k, v)) => (k, Some(v)),
                    None => (a.as_str(), None),
                };
                if key.is_empty() {
                    return Err(err(ins.span, "ARG names can not be blank"));
                }
                let value = if let Some(v) = self.opts.build_args.get(key) {
                    Some(v.clone())
                } else if let Some(d) = default {
                    let lookup = |k: &str| env.get(k).map(String::as_str);
                    match lex::expand_with_budget(d, df.escape_char(), &lookup, &mut self.budget) {
                        Ok(e) => Some(e.value),
                        Err(e) => {
                            let span = self.locate(ins, a, key.chars().count() + 1);
                            return Err(expand_err(span, &format!("ARG {key}"), e));
                        }
                    }
                } else {
                    None
                };
                if let Some(v) = &value {
                    env.insert(key.to_string(), v.clone());
                }
                meta_args.insert(key.to_string(), value);
            }
        }

        // 3. Stages: expand FROM, resolve earlier stage names (BuildKit's addState).
        let mut defined_at: HashMap<&str, Vec<usize>> = HashMap::with_capacity(raw.len());
        for (i, rs) in raw.iter().enumerate() {
            if let Some(n) = &rs.name {
                defined_at.entry(n.as_str()).or_default().push(i);
            }
        }
        self.typo
            .set_names(defined_at.keys().map(|k| k.to_string()).collect());
        let mut stages: Vec<Stage> = Vec::with_capacity(raw.len());
        let mut by_name: HashMap<String, usize> = HashMap::with_capacity(raw.len());
        let mut images: Vec<String> = Vec::with_capacity(raw.len());
        for (i, rs) in raw.iter().enumerate() {
            let ins = rs.from;
            let written = ins.args.first().map(String::as_str).unwrap_or("");
            let lookup = |k: &str| env.get(k).map(String::as_str);
            let base =
                match lex::expand_with_budget(written, df.escape_char(), &lookup, &mut self.budget)
                {
                    Ok(e) => e.value,
                    Err(lex::ExpandError::Syntax(e)) => {
                        let span = self.locate(ins, written, 0);
                        return Err(err(span, format!("{e} in FROM `{written}`")));
                    }
                    Err(e) => {
                        let span = self.locate(ins, written, 0);
                        return Err(expand_err(span, "FROM", e));
                    }
                };
            if base.is_empty() {
                let span = self.locate(ins, written, 0);
                let mut e = err(span, format!("base name ({written}) should not be blank"));
                let unset: Vec<&str> = meta_args
                    .iter()
                    .filter(|(_, v)| v.is_none())
                    .map(|(k, _)| k.as_str())
                    .collect();
                if !unset.is_empty() {
                    e = e.with_help(format!(
                        "pass a value with --build-arg (unset meta ARGs: {})",
                        unset.join(", ")
                    ));
                }
                return Err(e);
            }
            let mut platform = None;
            for (fi, f) in ins.flags.iter().enumerate() {
                if let Some(p) = f.strip_prefix("--platform=") {
                    match lex::expand_with_budget(p, df.escape_char(), &lookup, &mut self.budget) {
                        Ok(e) if e.value.is_empty() => {
                            let span = self.flag_at(ins, fi, "--platform=".len());
                            return Err(err(
                                span,
                                format!("empty platform value from expression {p}"),
                            ));
                        }
                        Ok(e) => platform = Some(e.value),
                        Err(e) => {
                            let span = self.flag_at(ins, fi, "--platform=".len());
                            return Err(err(
                                span,
                                format!("failed to process arguments for platform {p}: {e}"),
                            ));
                        }
                    }
                }
            }
            let base_stage = by_name.get(&base).copied();
            let base_span = self.locate(ins, written, 0);
            let mut windows = base_stage
                .is_none()
                .then(|| windows_image(&base))
                .flatten()
                .map(|why| WindowsStage {
                    what: base.clone(),
                    why,
                    span: base_span,
                });
            if let Some(p) = platform.as_deref() {
                if windows.is_none() && p.to_ascii_lowercase().starts_with("windows") {
                    let fi = ins
                        .flags
                        .iter()
                        .position(|f| f.starts_with("--platform="))
                        .unwrap_or(0);
                    windows = Some(WindowsStage {
                        what: p.to_string(),
                        why: "a Windows platform",
                        span: self.flag_at(ins, fi, "--platform=".len()),
                    });
                }
            }
            let mut edges = Vec::new();
            match base_stage {
                Some(j) => edges.push(Edge {
                    kind: EdgeKind::From,
                    target: EdgeTarget::Stage(j),
                    span: base_span,
                }),
                None if base == "scratch" => {}
                None => {
                    images.push(base.clone());
                    edges.push(Edge {
                        kind: EdgeKind::From,
                        target: EdgeTarget::Image(base.clone()),
                        span: base_span,
                    });
                    self.warn_image_typo(&base, base_span, &by_name, &defined_at, &raw, i, "FROM");
                }
            }
            if let Some(n) = &rs.name {
                if let Some(&prev) = by_name.get(n) {
                    let base_at = self.locate(ins, written, 0);
                    let as_kw = ins.args.get(1).map(String::as_str).unwrap_or("");
                    let as_at = self.locate_after(
                        ins,
                        as_kw,
                        Span {
                            line: base_at.line,
                            col: base_at.col + written.chars().count(),
                        },
                        0,
                    );
                    let name_w = ins.args.get(2).map(String::as_str).unwrap_or("");
                    let span = self.locate_after(
                        ins,
                        name_w,
                        Span {
                            line: as_at.line,
                            col: as_at.col + as_kw.chars().count(),
                        },
                        0,
                    );
                    self.warn(
                        Diagnostic::new(span, format!("duplicate stage name `{n}`, stage names should be unique"))
                            .with_help(format!(
                                "stage {prev} (line {}) has the same name; FROM lines below refer to this one",
                                stages[prev].line
                            )),
                    );
                }
                by_name.insert(n.clone(), i);
            }
            stages.push(Stage {
                index: i,
                name: rs.name.clone(),
                base,
                base_stage,
                depends_on: Vec::new(),
                line: ins.span.line,
                platform,
                edges,
                windows,
            });
        }

        // 4. --from and mount edges, resolved against every stage name (BuildKit's toCommand).
        let names_sorted: Vec<String> = {
            let mut v: Vec<String> = by_name.keys().cloned().collect();
            v.sort();
            v
        };

        let n = stages.len();
        for (i, rs) in raw.iter().enumerate() {
            for ins in &rs.body {
                let mut new_edges = Vec::new();
                match ins.keyword.as_str() {
                    "copy" | "add" => {
                        for (fi, f) in ins.flags.iter().enumerate() {
                            let Some(rest) = f.strip_prefix("--from") else {
                                continue;
                            };
                            if ins.keyword == "add" {
                                let span = self.flag_at(ins, fi, 0);
                                return Err(err(span, "unknown flag: from")
                                    .with_help("ADD has no --from; use COPY --from"));
                            }
                            let Some(value) = rest.strip_prefix('=') else {
                                let span = self.flag_at(ins, fi, 0);
                                return Err(err(span, "missing a value on flag: from"));
                            };
                            let span = self.flag_at(ins, fi, "--from=".len());
                            let target =
                                self.resolve_from(value, span, &by_name, &names_sorted, n, true)?;
                            new_edges.push(Edge {
                                kind: EdgeKind::Copy,
                                target,
                                span,
                            });
                        }
                    }
                    "run" => {
                        for (fi, f) in ins.flags.iter().enumerate() {
                            let Some(spec) = f.strip_prefix("--mount=") else {
                                continue;
                            };
                            let fields = csv_fields(spec);
                            if mount_type(&fields) == "secret" {
                                if let Some(id) = secret_id(&fields) {
                                    let span = self.flag_at(ins, fi, 0);
                                    self.secret_mounts.push(SecretMount { id, span });
                                }
                            }
                            for (off, field) in &fields {
                                let off = *off;
                                let Some((key, value)) = field.split_once('=') else {
                                    continue;
                                };
                                if !key.eq_ignore_ascii_case("from") {
                                    continue;
                                }
                                let span = self.flag_at(
                                    ins,
                                    fi,
                                    "--mount=".len() + off + key.chars().count() + 1,
                                );
                                if let Some(pos) = value.find('$') {
                                    if pos != value.len() - 1 {
                                        return Err(err(span, "'from' doesn't support variable expansion, define alias stage instead"));
                                    }
                                }
                                let ty = mount_type(&fields);
                                if ty != "bind" && ty != "cache" {
                                    if ty == "secret" || ty == "ssh" {
                                        return Err(err(
                                            span,
                                            format!("{ty} mount should not have a from"),
                                        ));
                                    }
                                    continue;
                                }
                                // BuildKit looks mount sources up by name only: `from=0` is an image.
                                let target = self.resolve_from(
                                    value,
                                    span,
                                    &by_name,
                                    &names_sorted,
                                    n,
                                    false,
                                )?;
                                new_edges.push(Edge {
                                    kind: EdgeKind::Mount,
                                    target,
                                    span,
                                });
                            }
                        }
                    }
                    _ => {}
                }
                for e in &new_edges {
                    if let EdgeTarget::Image(img) = &e.target {
                        images.push(img.clone());
                    }
                }
                stages[i].edges.extend(new_edges);
            }
        }

        // 5. Cycles first (BuildKit's validateCircularDependency), then references forward.
        if let Some((root, edge, cycle)) = find_cycle(&stages) {
            let label = stages[root].label();
            let e = &stages[root].edges[edge];
            let path: Vec<String> = cycle
                .iter()
                .map(|&i| format!("`{}`", stages[i].label()))
                .collect();
            return Err(err(
                e.span,
                format!("circular dependency detected on stage: {label}"),
            )
            .with_help(format!("the stages form a cycle: {}", path.join(" -> "))));
        }
        for st in &stages {
            for e in &st.edges {
                let EdgeTarget::Stage(j) = e.target else {
                    continue;
                };
                if j > st.index && e.kind != EdgeKind::From {
                    let (tl, sl) = (stages[j].label(), st.label());
                    let msg = match e.kind {
                        EdgeKind::Mount => format!("cannot mount from stage \"{tl}\", stage needs to be defined before current command"),
                        _ => format!("cannot copy from stage \"{tl}\", it needs to be defined before current stage \"{sl}\""),
                    };
                    return Err(err(e.span, msg).with_help(format!(
                        "stage `{tl}` is defined on line {}; move it above line {}",
                        stages[j].line, st.line
                    )));
                }
            }
        }

        for st in &mut stages {
            let mut deps: Vec<usize> = st
                .edges
                .iter()
                .filter_map(|e| {
                    if let EdgeTarget::Stage(j) = e.target {
                        Some(j)
                    } else {
                        None
                    }
                })
                .collect();
            deps.sort_unstable();
            deps.dedup();
            st.depends_on = deps;
        }
        images.sort();
        images.dedup();
        Ok(StageGraph {
            stages,
            images,
            meta_args,
            warnings: self.warnings,
            declared_args,
            secret_mounts: self.secret_mounts,
        })
    }

    /// The lower-cased `AS` name of a FROM, validated like BuildKit's `parseBuildStageName`.
    fn stage_name(&mut self, ins: &Instruction) -> Result<Option<String>, GraphError> {
        let args = &ins.args;
        match args.len() {
            1 => Ok(None),
            3 if args[1].eq_ignore_ascii_case("as") => {
                let written = &args[2];
                let name = written.to_lowercase();
                let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                    && name.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
                    });
                let kw = keyword_as_written(ins);
                let as_kw = &args[1];
                let kw_lower = kw == kw.to_lowercase();
                let kw_upper = kw == kw.to_uppercase();
                let mismatch = (kw_lower && *as_kw != as_kw.to_lowercase())
                    || (!kw_lower && kw_upper && *as_kw != as_kw.to_uppercase());
                let reserved = name == "scratch" || name == "context";
                if valid && *written == name && !mismatch && !reserved {
                    return Ok(Some(name));
                }
                // Something to report: locate the tokens.
                let base_at = self.locate(ins, &args[0], 0);
                let as_at = self.locate_after(
                    ins,
                    &args[1],
                    Span {
                        line: base_at.line,
                        col: base_at.col + args[0].chars().count(),
                    },
                    0,
                );
                let span = self.locate_after(
                    ins,
                    written,
                    Span {
                        line: as_at.line,
                        col: as_at.col + args[1].chars().count(),
                    },
                    0,
                );
                if !valid {
                    return Err(err(
                        span,
                        format!("invalid name for build stage: \"{written}\", name can't start with a number or contain symbols"),
                    ));
                }
                if *written != name {
                    self.warn(Diagnostic::new(
                        span,
                        format!("stage name '{written}' should be lowercase"),
                    ));
                }
                if reserved {
                    self.warn(Diagnostic::new(
                        span,
                        format!("'{name}' is reserved and should not be used as a stage name"),
                    ));
                }
                if mismatch {
                    let s = as_at;
                    self.warn(Diagnostic::new(
                        s,
                        format!("'{as_kw}' and '{kw}' keywords' casing do not match"),
                    ));
                }
                Ok(Some(name))
            }
            0 => Err(err(ins.span, "FROM requires either one or three arguments")
                .with_help("write `FROM <image> [AS <name>]`")),
            _ => {
                let span = self.locate(ins, args.get(1).map(String::as_str).unwrap_or(""), 0);
                Err(err(span, "FROM requires either one or three arguments")
                    .with_help("write `FROM <image> [AS <name>]`"))
            }
        }
    }

    /// Resolve a `--from` value: a stage index (COPY only), a stage name, or an external image.
    fn resolve_from(
        &mut self,
        value: &str,
        span: Span,
        by_name: &HashMap<String, usize>,
        names: &[String],
        n: usize,
        allow_index: bool,
    ) -> Result<EdgeTarget, GraphError> {
        if value.contains('$')
            || value.contains(self.df.escape_char())
            || value.contains(['"', '\''])
        {
            let none = |_: &str| None;
            let same = matches!(lex::expand(value, self.df.escape_char(), &none), Ok(e) if e.value == value);
            if !same {
                return Err(err(
                    span,
                    "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround",
                )
                .with_help(format!("e.g. `ARG SRC=...` before the first FROM, `FROM ${{SRC}} AS src`, then `--from=src` instead of `--from={value}`")));
            }
        }
        if allow_index {
            if let Some(idx) = go_atoi(value) {
                if idx < 0 || idx as u128 >= n as u128 {
                    let help = if n == 1 {
                        "the only stage is 0".to_string()
                    } else {
                        format!("stage indices run from 0 to {}", n - 1)
                    };
                    return Err(err(span, format!("invalid stage index {idx}")).with_help(help));
                }
                return Ok(EdgeTarget::Stage(idx as usize));
            }
        }
        let found = match by_name.get(value) {
            Some(&j) => Some(j),
            None if value.bytes().any(|b| b.is_ascii_uppercase()) || !value.is_ascii() => {
                by_name.get(&value.to_lowercase()).copied()
            }
            None => None,
        };
        if let Some(j) = found {
            return Ok(EdgeTarget::Stage(j));
        }
        let _ = names;
        if let Some(s) = self.typo.suggest(value) {
            self.warn(
                Diagnostic::new(
                    span,
                    format!("`{value}` is not a stage name; BuildKit will use the image `{value}`"),
                )
                .with_help(format!("did you mean `{s}`?")),
            );
        }
        Ok(EdgeTarget::Image(value.to_string()))
    }

    /// A FROM base that is not an earlier stage: warn if it looks like a stage name.
    #[allow(clippy::too_many_arguments)]
    fn warn_image_typo(
        &mut self,
        base: &str,
        span: Span,
        by_name: &HashMap<String, usize>,
        defined_at: &HashMap<&str, Vec<usize>>,
        raw: &[RawStage],
        i: usize,
        what: &str,
    ) {
        let lower = base.to_lowercase();
        let later = defined_at
            .get(lower.as_str())
            .and_then(|v| v.iter().copied().find(|&j| j >= i));
        if let Some(j) = later {
            let msg = if j == i {
                format!("{what} `{base}` names the stage being defined; BuildKit will use the image `{base}`")
            } else {
                format!("{what} `{base}` names a stage defined later (line {}); BuildKit will use the image `{base}`", raw[j].from.span.line)
            };
            self.warn(
                Diagnostic::new(span, msg)
                    .with_help("a FROM can only build on stages defined above it"),
            );
            return;
        }
        if let Some(&j) = by_name.get(&lower) {
            let _ = j;
            self.warn(
                Diagnostic::new(span, format!("{what} `{base}` is not a stage: stage names in FROM must be written in lower case"))
                    .with_help(format!("did you mean `{lower}`?")),
            );
            return;
        }
        if base.contains(['/', ':', '@', '.']) {
            return;
        }
        // Stage names defined so far (a FROM only sees stages above it), memoized and bounded.
        let _ = by_name;
        let Some(s) = self.typo.suggest(base) else {
            return;
        };
        if defined_at
            .get(s.as_str())
            .is_some_and(|v| v.iter().any(|&j| j < i))
        {
            self.warn(
                Diagnostic::new(
                    span,
                    format!(
                        "{what} `{base}` is not a stage name; BuildKit will use the image `{base}`"
                    ),
                )
                .with_help(format!("did you mean `{s}`?")),
            );
        }
    }
}

/// How many edit-distance cells all "did you mean" lookups of one graph may compute together;
/// past it, further names get no suggestion (a warning only, never a different graph).
pub const SUGGEST_WORK: u64 = 2_000_000;

/// Nearest-stage-name suggestions, as [`crate::diag::suggest`] picks them, for every name
/// that is not a stage: names are bucketed by length (a candidate whose length differs by more
/// than the distance limit cannot be close enough), results are memoized per name, and the
/// total work is capped by [`SUGGEST_WORK`]. With 100,000 `FROM alpine` lines this costs one
/// lookup instead of 10^10 comparisons.
#[derive(Debug, Default)]
struct Suggester {
    /// Sorted, unique.
    names: Vec<String>,
    by_len: HashMap<usize, Vec<usize>>,
    memo: HashMap<String, Option<usize>>,
    work: u64,
}

impl Suggester {
    fn set_names(&mut self, mut names: Vec<String>) {
        names.sort_unstable();
        names.dedup();
        self.by_len.clear();
        for (i, n) in names.iter().enumerate() {
            self.by_len.entry(n.chars().count()).or_default().push(i);
        }
        self.names = names;
        self.memo.clear();
    }

    fn suggest(&mut self, name: &str) -> Option<String> {
        if let Some(r) = self.memo.get(name) {
            return r.map(|i| self.names[i].clone());
        }
        let r = self.compute(name);
        self.memo.insert(name.to_string(), r);
        r.map(|i| self.names[i].clone())
    }

    fn compute(&mut self, name: &str) -> Option<usize> {
        if self.work >= SUGGEST_WORK {
            return None;
        }
        let lower = name.to_ascii_lowercase();
        let la = lower.chars().count();
        let mut best: Option<(usize, usize)> = None;
        // The distance limit grows with the longer word: max(len/3, 1).
        let max_len = la.saturating_mul(3) / 2 + 3;
        let lo = la.saturating_sub(la / 2 + 1);
        let mut cands: Vec<usize> = Vec::new();
        for lb in lo..=max_len {
            if let Some(v) = self.by_len.get(&lb) {
                let limit = (la.max(lb) / 3).max(1);
                if la.abs_diff(lb) <= limit {
                    cands.extend_from_slice(v);
                }
            }
        }
        // Gathering candidates is work too.
        self.work = self.work.saturating_add(cands.len() as u64);
        cands.sort_unstable();
        for i in cands {
            let c = &self.names[i];
            let lb = c.chars().count();
            let cost = (la as u64 + 1) * (lb as u64 + 1);
            if self.work.saturating_add(cost) > SUGGEST_WORK {
                self.work = SUGGEST_WORK;
                break;
            }
            self.work += cost;
            let limit = (la.max(lb) / 3).max(1);
            let d = crate::diag::edit_distance(&lower, c);
            if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, i));
            }
        }
        best.map(|(_, i)| i)
    }
}

fn expand_err(span: Span, what: &str, e: lex::ExpandError) -> GraphError {
    match e {
        lex::ExpandError::Syntax(m) => err(span, m),
        lex::ExpandError::WordTooLong => err(
            span,
            format!("{what}: the expanded value is longer than {} bytes", lex::MAX_WORD_BYTES),
        )
        .with_help("BuildKit cannot take a line this long; expansion is capped at its line limit (64 KiB)"),
        e @ lex::ExpandError::Budget(_) => err(span, format!("{what}: {e}"))
            .with_help("the work allowed is 16 Mi steps plus 16 per byte of the Dockerfile; simplify the ARG chain"),
    }
}

/// Why an image is a Windows container image, if it is one: `mcr.microsoft.com/windows…`, or a
/// name or tag with a `nanoserver`/`servercore` part (e.g. `dotnet/sdk:8.0-nanoserver-ltsc2022`).
pub fn windows_image(image: &str) -> Option<&'static str> {
    let lower = image.to_ascii_lowercase();
    let repo = lower.strip_prefix("docker.io/").unwrap_or(&lower);
    if repo.starts_with("mcr.microsoft.com/windows") {
        return Some("a Windows base image");
    }
    let words = lower.split(|c: char| !c.is_ascii_alphanumeric());
    for w in words {
        if w == "nanoserver" || w == "servercore" || w == "windowsservercore" {
            return Some("a Windows (nanoserver/servercore) image");
        }
    }
    None
}

fn windows_refusal(span: Span, what: &str, why: &str) -> GraphError {
    err(
        span,
        format!("`{what}` is {why}: Windows containers cannot be built by the generated jobs"),
    )
    .with_help("gen-pipeline's jobs run on Linux builders (docker buildx / buildah on Linux); use a Linux base image, or build Windows images in a separate, hand-written Windows job")
}

/// Flags BuildKit's `instructions` package declares per instruction (`frontend/dockerfile/
/// instructions/parse.go`, `commands_runmount.go`, `commands_runnetwork.go`,
/// `commands_runsecurity.go`, `commands_rundevice.go`). `None`: the instruction never parses
/// its flags (ARG, STOPSIGNAL), so BuildKit ignores them.
fn allowed_flags(keyword: &str) -> Option<&'static [(&'static str, FlagKind)]> {
    use FlagKind::*;
    Some(match keyword {
        "from" => &[("platform", Str)],
        "copy" => &[
            ("chown", Str),
            ("from", Str),
            ("chmod", Str),
            ("link", Bool),
            ("exclude", Strs),
            ("parents", Bool),
        ],
        "add" => &[
            ("exclude", Strs),
            ("chown", Str),
            ("chmod", Str),
            ("link", Bool),
            ("keep-git-dir", Bool),
            ("checksum", Str),
            ("unpack", Bool),
        ],
        "run" => &[
            ("mount", Strs),
            ("network", Str),
            ("security", Str),
            ("device", Strs),
        ],
        "healthcheck" => &[
            ("interval", Str),
            ("timeout", Str),
            ("start-period", Str),
            ("start-interval", Str),
            ("retries", Str),
        ],
        "arg" | "stopsignal" => return None,
        _ => &[],
    })
}

/// BuildKit's `BFlags` flag types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlagKind {
    Bool,
    Str,
    /// A string flag that may be repeated.
    Strs,
}

/// Mount types and `--mount` keys BuildKit's `parseMount` accepts.
const MOUNT_TYPES: &[&str] = &["bind", "cache", "tmpfs", "secret", "ssh"];
const MOUNT_KEYS: &[&str] = &[
    "type",
    "from",
    "source",
    "src",
    "target",
    "dst",
    "destination",
    "readonly",
    "ro",
    "readwrite",
    "rw",
    "required",
    "size",
    "id",
    "sharing",
    "mode",
    "uid",
    "gid",
    "env",
];
const SHARING_MODES: &[&str] = &["shared", "private", "locked"];

/// The secret id a `type=secret` mount asks for: `source`, else `id`, else the target's base name.
fn secret_id(fields: &[(usize, std::borrow::Cow<'_, str>)]) -> Option<String> {
    let get = |names: &[&str]| {
        fields.iter().find_map(|(_, f)| {
            let (k, v) = f.split_once('=')?;
            names
                .iter()
                .any(|n| k.eq_ignore_ascii_case(n))
                .then(|| v.to_string())
        })
    };
    if let Some(s) = get(&["source", "src"]).filter(|s| !s.is_empty()) {
        return Some(s);
    }
    if let Some(s) = get(&["id"]).filter(|s| !s.is_empty()) {
        return Some(s);
    }
    let target = get(&["target", "dst", "destination"])?;
    let base = target
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("");
    (!base.is_empty()).then(|| base.to_string())
}

impl<'a> Builder<'a> {
    /// Reject flags BuildKit rejects when it parses the instruction (`BFlags.Parse`), and
    /// `RUN --mount` values its `parseMount` rejects, with a "did you mean" for typos.
    fn check_flags(&mut self, ins: &Instruction) -> Result<(), GraphError> {
        let Some(allowed) = allowed_flags(&ins.keyword) else {
            return Ok(());
        };
        // `HEALTHCHECK NONE` returns before parsing its flags.
        if ins.keyword == "healthcheck"
            && ins
                .args
                .first()
                .is_some_and(|a| a.eq_ignore_ascii_case("none"))
        {
            return Ok(());
        }
        let kw = ins.keyword.to_ascii_uppercase();
        let mut used: Vec<&str> = Vec::new();
        for (fi, f) in ins.flags.iter().enumerate() {
            let body = f.strip_prefix("--").unwrap_or(f);
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(_, kind)) = allowed.iter().find(|(n, _)| *n == name) else {
                let span = self.flag_at(ins, fi, 0);
                let mut e = err(span, format!("unknown flag: {name}"));
                let names = allowed.iter().map(|(n, _)| *n);
                if ins.keyword == "add" && name == "from" {
                    e = e.with_help("ADD has no --from; use COPY --from");
                } else if let Some(s) = crate::diag::suggest(name, names) {
                    e = e.with_help(format!("did you mean `--{s}`?"));
                } else if allowed.is_empty() {
                    e = e.with_help(format!("{kw} takes no flags"));
                } else {
                    let list: Vec<String> = allowed.iter().map(|(n, _)| format!("--{n}")).collect();
                    e = e.with_help(format!("{kw} accepts {}", list.join(", ")));
                }
                return Err(e);
            };
            if kind != FlagKind::Strs && used.contains(&name) {
                let span = self.flag_at(ins, fi, 0);
                return Err(err(span, format!("duplicate flag specified: {name}")));
            }
            used.push(name);
            match (kind, value) {
                (FlagKind::Bool, Some("")) | (FlagKind::Str | FlagKind::Strs, None) => {
                    let span = self.flag_at(ins, fi, 0);
                    return Err(err(span, format!("missing a value on flag: {name}"))
                        .with_help(format!("write `--{name}=<value>`")));
                }
                (FlagKind::Bool, Some(v))
                    if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") =>
                {
                    let span = self.flag_at(ins, fi, name.len() + 3);
                    return Err(err(
                        span,
                        format!("expecting boolean value for flag {name}, not: {v}"),
                    ));
                }
                _ => {}
            }
            if name == "mount" {
                if let Some(spec) = value {
                    self.check_mount(ins, fi, spec)?;
                }
            }
        }
        Ok(())
    }

    /// `RUN --mount=…`: field syntax, keys, mount type and sharing mode, as BuildKit's
    /// `parseMount` checks them once the values are expanded (values with `$` are left alone).
    fn check_mount(&mut self, ins: &Instruction, fi: usize, spec: &str) -> Result<(), GraphError> {
        let fields = csv_fields(spec);
        let ty = mount_type(&fields);
        let at = |off: usize, extra: usize| "--mount=".len() + off + extra;
        for (off, field) in &fields {
            let Some((key, value)) = field.split_once('=') else {
                let key = field.to_ascii_lowercase();
                match key.as_str() {
                    "readonly" | "ro" | "readwrite" | "rw" => continue,
                    "required" if ty == "secret" || ty == "ssh" => continue,
                    "required" => {
                        let span = self.flag_at(ins, fi, at(*off, 0));
                        return Err(err(
                            span,
                            format!("unexpected key 'required' for mount type '{ty}'"),
                        ));
                    }
                    _ => {
                        let span = self.flag_at(ins, fi, at(*off, 0));
                        let mut e = err(
                            span,
                            format!("invalid field '{field}' must be a key=value pair"),
                        );
                        if let Some(s) = crate::diag::suggest(&key, MOUNT_KEYS.iter().copied()) {
                            e = e.with_help(format!("did you mean `{s}=…`?"));
                        }
                        return Err(e);
                    }
                }
            };
            let key_l = key.to_ascii_lowercase();
            let vspan_skip = at(*off, key.chars().count() + 1);
            if !MOUNT_KEYS.contains(&key_l.as_str()) {
                let span = self.flag_at(ins, fi, at(*off, 0));
                let mut e = err(span, format!("unexpected key '{key_l}' in '{field}'"));
                if let Some(s) = crate::diag::suggest(&key_l, MOUNT_KEYS.iter().copied()) {
                    e = e.with_help(format!("did you mean `{s}`?"));
                }
                return Err(e);
            }
            if value.contains('$') {
                continue;
            }
            let value_l = value.to_ascii_lowercase();
            match key_l.as_str() {
                "type" if !MOUNT_TYPES.contains(&value_l.as_str()) => {
                    let span = self.flag_at(ins, fi, vspan_skip);
                    let mut e = err(span, format!("unsupported mount type \"{value}\""));
                    e = match crate::diag::suggest(&value_l, MOUNT_TYPES.iter().copied()) {
                        Some(s) => e.with_help(format!("did you mean `type={s}`?")),
                        None => e.with_help(format!("mount types: {}", MOUNT_TYPES.join(", "))),
                    };
                    return Err(e);
                }
                "sharing" if !SHARING_MODES.contains(&value_l.as_str()) => {
                    let span = self.flag_at(ins, fi, vspan_skip);
                    let mut e = err(span, format!("unsupported sharing value \"{value}\""));
                    if let Some(s) = crate::diag::suggest(&value_l, SHARING_MODES.iter().copied()) {
                        e = e.with_help(format!("did you mean `sharing={s}`?"));
                    }
                    return Err(e);
                }
                "sharing" if ty != "cache" => {
                    let span = self.flag_at(ins, fi, at(*off, 0));
                    return Err(err(
                        span,
                        format!("invalid cache sharing set for {ty} mount"),
                    ));
                }
                "size" if ty != "tmpfs" => {
                    let span = self.flag_at(ins, fi, at(*off, 0));
                    return Err(err(
                        span,
                        format!("unexpected key 'size' for mount type '{ty}'"),
                    ));
                }
                "required" if ty != "secret" && ty != "ssh" => {
                    let span = self.flag_at(ins, fi, at(*off, 0));
                    return Err(err(
                        span,
                        format!("unexpected key 'required' for mount type '{ty}'"),
                    ));
                }
                "mode" | "uid" | "gid" if ty == "bind" || ty == "tmpfs" => {
                    let span = self.flag_at(ins, fi, at(*off, 0));
                    return Err(err(
                        span,
                        format!("{key_l} not allowed for \"{ty}\" type mounts"),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl GraphError {
    fn with_help(mut self, help: impl Into<String>) -> Self {
        self.diag.help = Some(help.into());
        self
    }
}

trait EscapeChar {
    fn escape_char(&self) -> char;
}

impl EscapeChar for Dockerfile {
    fn escape_char(&self) -> char {
        if self.escape == '`' {
            '`'
        } else {
            '\\'
        }
    }
}

fn keyword_as_written(ins: &Instruction) -> String {
    let first = ins.original.split_whitespace().next().unwrap_or("");
    if first.eq_ignore_ascii_case(&ins.keyword) {
        first.to_string()
    } else {
        ins.keyword.to_uppercase()
    }
}

fn check_known(ins: &Instruction) -> Result<(), GraphError> {
    if ins.is_known() {
        return Ok(());
    }
    let kw = keyword_as_written(ins);
    let mut e = err(ins.span, format!("unknown instruction: {kw}"));
    if let Some(s) = ins.suggestion() {
        e = e.with_help(format!("did you mean `{s}`?"));
    }
    Err(e)
}

/// Find the word `needle` in `ins.original`, which starts (after any whitespace) at the keyword.
fn locate_in_original(ins: &Instruction, needle: &str, after: Span, skip: usize) -> Option<Span> {
    let orig = ins.original.as_str();
    let kw = orig.len() - orig.trim_start().len();
    let skip_chars = if after.line == ins.span.line {
        after.col.saturating_sub(ins.span.col)
    } else {
        0
    };
    let from = orig[kw..]
        .char_indices()
        .nth(skip_chars)
        .map_or(orig.len(), |(i, _)| kw + i);
    let pos = find_word(&orig[from..], needle)? + from;
    let before = &orig[kw..pos];
    match before.rfind('\n') {
        None => Some(Span {
            line: ins.span.line,
            col: ins.span.col + before.chars().count() + skip,
        }),
        Some(nl) => {
            let lines = before.matches('\n').count();
            Some(Span {
                line: ins.span.line + lines,
                col: before[nl + 1..].chars().count() + 1 + skip,
            })
        }
    }
}

/// Byte offset of the first occurrence of `needle` in `hay` delimited by whitespace or the ends.
fn find_word(hay: &str, needle: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(p) = hay[from..].find(needle) {
        let at = from + p;
        let end = at + needle.len();
        let before_ok = hay[..at]
            .chars()
            .next_back()
            .is_none_or(char::is_whitespace);
        let after_ok = hay[end..].chars().next().is_none_or(|c| c.is_whitespace());
        if before_ok && after_ok {
            return Some(at);
        }
        from = at + hay[at..].chars().next().map_or(1, char::len_utf8);
    }
    None
}

/// `a` and `b` differ by one swap of adjacent characters (`form` / `from`).
/// Go's `strconv.Atoi`: optional sign then ASCII digits only.
fn go_atoi(s: &str) -> Option<i128> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 30 {
        return None;
    }
    s.parse::<i128>().ok()
}

/// Split a `--mount` value on commas (CSV: double quotes group), with each field's char offset.
fn csv_fields(spec: &str) -> Vec<(usize, std::borrow::Cow<'_, str>)> {
    use std::borrow::Cow;
    if !spec.contains('"') {
        let mut out = Vec::new();
        let mut off = 0;
        for f in spec.split(',') {
            out.push((off, Cow::Borrowed(f)));
            off += f.chars().count() + 1;
        }
        return out;
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0usize;
    let mut quoted = false;
    for (ci, c) in spec.chars().enumerate() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push((start, Cow::Owned(std::mem::take(&mut cur))));
                start = ci + 1;
            }
            _ => cur.push(c),
        }
    }
    out.push((start, Cow::Owned(cur)));
    out
}

fn mount_type(fields: &[(usize, std::borrow::Cow<'_, str>)]) -> String {
    fields
        .iter()
        .find_map(|(_, f)| {
            f.split_once('=')
                .filter(|(k, _)| k.eq_ignore_ascii_case("type"))
                .map(|(_, v)| v.to_lowercase())
        })
        .unwrap_or_else(|| "bind".to_string())
}

/// BuildKit's DFS over stages in file order. Returns the DFS root (the stage BuildKit names),
/// the root's edge that leads into the cycle, and the cycle itself (first stage repeated at the end).
fn find_cycle(stages: &[Stage]) -> Option<(usize, usize, Vec<usize>)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; stages.len()];
    for root in 0..stages.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // Iterative DFS: (stage, next edge index).
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::OnPath;
        while let Some(&mut (s, ref mut ei)) = stack.last_mut() {
            if *ei < stages[s].edges.len() {
                let e = *ei;
                *ei += 1;
                if let EdgeTarget::Stage(t) = stages[s].edges[e].target {
                    match mark[t] {
                        Mark::OnPath => {
                            let first = stack.iter().position(|&(st, _)| st == t).unwrap_or(0);
                            let mut cycle: Vec<usize> =
                                stack[first..].iter().map(|&(st, _)| st).collect();
                            cycle.push(t);
                            let root_edge = stack[0].1.saturating_sub(1);
                            return Some((root, root_edge, cycle));
                        }
                        Mark::New => {
                            mark[t] = Mark::OnPath;
                            stack.push((t, 0));
                        }
                        Mark::Done => {}
                    }
                }
            } else {
                mark[s] = Mark::Done;
                stack.pop();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::Instruction;

    /// A minimal one-line-per-instruction reader for these tests (the real parser lives in
    /// `dockerfile`): leading `--flags`, FROM/ARG args split on whitespace, others one string.
    fn df(src: &str) -> Dockerfile {
        let mut instructions = Vec::new();
        for (i, line) in src.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let col = line.len() - trimmed.len() + 1;
            let mut words = trimmed.split_whitespace();
            let keyword = words.next().unwrap_or("").to_lowercase();
            let mut flags = Vec::new();
            let mut flag_spans = Vec::new();
            let mut rest: Vec<&str> = Vec::new();
            for w in words {
                if rest.is_empty() && w.starts_with("--") {
                    let off = w.as_ptr() as usize - line.as_ptr() as usize;
                    flag_spans.push(Span {
                        line: i + 1,
                        col: line[..off].chars().count() + 1,
                    });
                    flags.push(w.to_string());
                } else {
                    rest.push(w);
                }
            }
            let args = if keyword == "from" || keyword == "arg" {
                rest.iter().map(|s| s.to_string()).collect()
            } else {
                vec![rest.join(" ")]
            };
            let sub = if keyword == "onbuild" {
                let inner = df(&format!("{}{}", "\n".repeat(i), rest.join(" ")))
                    .instructions
                    .pop()
                    .map(Box::new);
                inner
            } else {
                None
            };
            instructions.push(Instruction {
                keyword,
                flags,
                args: if sub.is_some() { vec![] } else { args },
                json: false,
                original: trimmed.to_string(),
                span: Span { line: i + 1, col },
                end_line: i + 1,
                heredocs: vec![],
                sub,
                flag_spans,
            });
        }
        Dockerfile {
            directives: vec![],
            escape: '\\',
            instructions,
            warnings: vec![],
        }
    }

    fn graph(src: &str) -> StageGraph {
        build_with_source(&df(src), src, &GraphOptions::default())
            .unwrap_or_else(|e| panic!("{}", e.diag.render("error", "Dockerfile", src)))
    }

    fn graph_opts(src: &str, opts: &GraphOptions) -> StageGraph {
        build_with_source(&df(src), src, opts)
            .unwrap_or_else(|e| panic!("{}", e.diag.render("error", "Dockerfile", src)))
    }

    fn error(src: &str) -> Diagnostic {
        match build_with_source(&df(src), src, &GraphOptions::default()) {
            Ok(g) => panic!("expected an error, got {g:?}"),
            Err(e) => e.diag,
        }
    }

    fn deps(g: &StageGraph) -> Vec<(Option<&str>, &str, Vec<usize>)> {
        g.stages
            .iter()
            .map(|s| (s.name.as_deref(), s.base.as_str(), s.depends_on.clone()))
            .collect()
    }

    #[test]
    fn from_copy_and_mount_edges() {
        let g = graph(
            "FROM python:3.12-slim AS base\n\
             RUN pip install x\n\
             FROM base AS build-base\n\
             RUN --mount=type=cache,target=/root/.cache make\n\
             FROM base AS app1\n\
             COPY --from=build-base /w /w\n\
             FROM base AS app2\n\
             RUN --mount=type=bind,from=build-base,source=/w,target=/w true\n\
             FROM scratch\n\
             COPY --from=0 /a /a\n\
             COPY --from=alpine:3.20 /b /b\n",
        );
        assert_eq!(
            deps(&g),
            vec![
                (Some("base"), "python:3.12-slim", vec![]),
                (Some("build-base"), "base", vec![0]),
                (Some("app1"), "base", vec![0, 1]),
                (Some("app2"), "base", vec![0, 1]),
                (None, "scratch", vec![0]),
            ]
        );
        assert_eq!(g.images, vec!["alpine:3.20", "python:3.12-slim"]);
        assert_eq!(
            g.stages[3].edges[1],
            Edge {
                kind: EdgeKind::Mount,
                target: EdgeTarget::Stage(1),
                span: Span { line: 8, col: 28 }
            }
        );
        assert_eq!(g.stages[2].line, 5);
        assert!(g.warnings.is_empty(), "{:?}", g.warnings);
    }

    #[test]
    fn meta_args_defaults_overrides_and_platform_args() {
        let src = "ARG DOCKER_VERSION=27.1 APP_ENV=dev\n\
                   ARG CLI_VERSION=${DOCKER_VERSION}\n\
                   ARG UNSET\n\
                   FROM docker:${CLI_VERSION}-cli AS cli\n\
                   FROM alpine AS dev_image\n\
                   FROM alpine AS prod_image\n\
                   FROM ${APP_ENV}_image AS final\n\
                   FROM --platform=$BUILDPLATFORM golang:${GO:-1.23} AS binaries-linux\n\
                   FROM binaries-$TARGETOS AS out\n\
                   FROM img${UNSET:+-set}:${TARGETARCH}\n";
        let g = graph(src);
        assert_eq!(g.stages[0].base, "docker:27.1-cli");
        assert_eq!(g.stages[3].base, "dev_image");
        assert_eq!(g.stages[3].depends_on, vec![1]);
        assert_eq!(g.stages[4].base, "golang:1.23");
        assert_eq!(g.stages[4].platform.as_deref(), Some("linux/amd64"));
        assert_eq!(g.stages[5].depends_on, vec![4]);
        assert_eq!(g.stages[6].base, "img:amd64");
        assert_eq!(g.meta_args.get("UNSET"), Some(&None));
        assert_eq!(
            g.meta_args.get("CLI_VERSION"),
            Some(&Some("27.1".to_string()))
        );

        let mut opts = GraphOptions::default();
        opts.build_args.insert("APP_ENV".into(), "prod".into());
        opts.build_args
            .insert("DOCKER_VERSION".into(), "28.0".into());
        opts.build_args.insert("UNSET".into(), "x".into());
        opts.build_args.insert("NOT_DECLARED".into(), "y".into());
        opts.platform = "linux/arm64/v8".into();
        let g = graph_opts(src, &opts);
        assert_eq!(
            g.stages[0].base, "docker:28.0-cli",
            "a default built from an overridden ARG follows it"
        );
        assert_eq!(g.stages[3].base, "prod_image");
        assert_eq!(g.stages[3].depends_on, vec![2]);
        assert_eq!(g.stages[6].base, "img-set:arm64");
    }

    #[test]
    fn build_args_override_platform_args_only_when_declared_or_automatic() {
        let src = "FROM img:$TARGETVARIANT-$NOT_DECLARED-$TARGETPLATFORM\n";
        let mut opts = GraphOptions {
            platform: "linux/arm/v7".into(),
            ..GraphOptions::default()
        };
        opts.build_args.insert("NOT_DECLARED".into(), "y".into());
        assert_eq!(
            graph_opts(src, &opts).stages[0].base,
            "img:v7--linux/arm/v7"
        );
    }

    #[test]
    fn stage_names_are_case_insensitive_for_from_flags() {
        let g = graph("FROM alpine AS Builder\nFROM alpine\nCOPY --from=BUILDER /a /a\n");
        assert_eq!(g.stages[0].name.as_deref(), Some("builder"));
        assert_eq!(g.stages[1].depends_on, vec![0]);
        assert_eq!(
            g.warnings[0].message,
            "stage name 'Builder' should be lowercase"
        );
    }

    #[test]
    fn from_of_a_later_stage_is_an_image_with_a_warning() {
        let g = graph("FROM later AS first\nFROM alpine AS later\n");
        assert_eq!(g.stages[0].depends_on, Vec::<usize>::new());
        assert_eq!(g.images, vec!["alpine", "later"]);
        assert_eq!(g.warnings.len(), 1);
        assert_eq!(g.warnings[0].span, Span { line: 1, col: 6 });
        assert!(
            g.warnings[0].message.contains("defined later (line 2)"),
            "{}",
            g.warnings[0].message
        );
    }

    #[test]
    fn mistyped_stage_is_an_image_with_a_did_you_mean_warning() {
        let src = "FROM alpine AS base\nFROM alpine\nCOPY --from=bse /x /y\n";
        let g = graph(src);
        assert_eq!(g.stages[1].depends_on, Vec::<usize>::new());
        assert_eq!(g.images, vec!["alpine", "bse"]);
        let w = &g.warnings[0];
        assert_eq!(w.span, Span { line: 3, col: 13 });
        assert_eq!(w.help.as_deref(), Some("did you mean `base`?"));
        // FROM too.
        let g = graph("FROM alpine AS builder\nFROM buidler\n");
        assert_eq!(
            g.warnings[0].help.as_deref(),
            Some("did you mean `builder`?")
        );
        assert_eq!(g.warnings[0].span, Span { line: 2, col: 6 });
        // Registry references are never flagged.
        assert!(graph("FROM alpine AS base\nFROM docker.io/base:1\n")
            .warnings
            .is_empty());
    }

    #[test]
    fn duplicate_stage_name_warns_and_later_definition_wins_for_later_from() {
        let g = graph("FROM alpine AS a\nFROM debian AS a\nFROM a\n");
        assert_eq!(g.stages[2].depends_on, vec![1]);
        assert_eq!(g.warnings.len(), 1);
        assert_eq!(g.warnings[0].span, Span { line: 2, col: 16 });
        assert!(g.warnings[0].message.contains("duplicate stage name `a`"));
    }

    #[test]
    fn from_as_casing_warning() {
        let g = graph("FROM alpine as a\nfrom alpine AS b\nFROM alpine AS c\n");
        let msgs: Vec<_> = g
            .warnings
            .iter()
            .map(|w| (w.span, w.message.as_str()))
            .collect();
        assert_eq!(
            msgs,
            vec![
                (
                    Span { line: 1, col: 13 },
                    "'as' and 'FROM' keywords' casing do not match"
                ),
                (
                    Span { line: 2, col: 13 },
                    "'AS' and 'from' keywords' casing do not match"
                ),
            ]
        );
    }

    #[test]
    fn onbuild_contents_are_not_edges() {
        let g = graph("FROM alpine AS a\nFROM alpine\nONBUILD COPY --from=a /x /y\n");
        assert!(g.stages[1].depends_on.is_empty());
    }

    #[test]
    fn mount_from_is_looked_up_by_name_only() {
        // BuildKit's detectRunMount uses findStateByName: `from=0` is an image named "0".
        let g = graph("FROM alpine AS a\nFROM alpine\nRUN --mount=from=0,target=/x true\n");
        assert!(g.stages[1].depends_on.is_empty());
        assert_eq!(g.images, vec!["0", "alpine"]);
        // Cache mounts from a stage are edges; a tmpfs has no source.
        let g = graph("FROM alpine AS a\nFROM alpine\nRUN --mount=type=cache,from=A,target=/c --mount=type=tmpfs,target=/t true\n");
        assert_eq!(g.stages[1].depends_on, vec![0]);
    }

    #[test]
    fn errors_point_at_the_offending_token() {
        let cases: &[(&str, (usize, usize), &str)] = &[
            ("FROM alpine AS a\nCOPY --from=$X /a /b\n", (2, 13), "variable expansion is not supported for --from"),
            ("FROM alpine AS a\nCOPY --from=${X:-a} /a /b\n", (2, 13), "variable expansion is not supported for --from"),
            ("FROM alpine AS a\nCOPY --from=b /a /b\nFROM alpine AS b\n", (2, 13), "cannot copy from stage \"b\", it needs to be defined before current stage \"a\""),
            ("FROM alpine AS a\nCOPY --from=1 /a /b\nFROM alpine\n", (2, 13), "cannot copy from stage \"stage-1\", it needs to be defined before current stage \"a\""),
            ("FROM alpine AS a\nCOPY --from=a /a /b\n", (2, 13), "circular dependency detected on stage: a"),
            ("FROM alpine\n  COPY   --from=0 /a /b\n", (2, 17), "circular dependency detected on stage: stage-0"),
            ("FROM alpine AS a\nCOPY --from=c /x /x\nFROM alpine AS b\nCOPY --from=a /x /x\nFROM alpine AS c\nCOPY --from=b /x /x\n", (2, 13), "circular dependency detected on stage: a"),
            ("FROM alpine\nCOPY --from=2 /a /b\n", (2, 13), "invalid stage index 2"),
            ("FROM alpine\nCOPY --from=-1 /a /b\n", (2, 13), "invalid stage index -1"),
            ("FROM alpine AS a\nRUN --mount=type=bind,from=b,target=/x true\nFROM alpine AS b\n", (2, 28), "cannot mount from stage \"b\", stage needs to be defined before current command"),
            ("FROM alpine AS a\nRUN --mount=from=$S,target=/x true\n", (2, 18), "'from' doesn't support variable expansion, define alias stage instead"),
            ("FROM alpine AS a\nRUN --mount=type=secret,id=x,from=a true\n", (2, 35), "secret mount should not have a from"),
            ("ARG V=1\n# c\nRUN echo\nFROM alpine\n", (3, 1), "`RUN` before the first FROM: no build stage in current context"),
            ("ARG V=1\n", (1, 1), "dockerfile contains no stages to build"),
            ("", (1, 1), "dockerfile contains no stages to build"),
            ("FROM alpine\nFORM x\n", (2, 1), "unknown instruction: FORM"),
            ("FROM alpine\n  cpoy a b\n", (2, 3), "unknown instruction: cpoy"),
            ("ARG X\nFROM $X\n", (2, 6), "base name ($X) should not be blank"),
            ("FROM alpine AS 1st\n", (1, 16), "invalid name for build stage: \"1st\", name can't start with a number or contain symbols"),
            ("FROM alpine AS\n", (1, 13), "FROM requires either one or three arguments"),
            ("FROM alpine AS a b\n", (1, 13), "FROM requires either one or three arguments"),
            ("FROM ${X\n", (1, 6), "syntax error: missing '}' in FROM `${X`"),
            ("FROM --platform=$NOPE alpine\n", (1, 17), "empty platform value from expression $NOPE"),
            ("FROM alpine AS a\nADD --from=a /x /y\n", (2, 5), "unknown flag: from"),
        ];
        for (src, (line, col), msg) in cases {
            let d = error(src);
            assert_eq!(
                (d.span.line, d.span.col),
                (*line, *col),
                "span for {src:?}: {d}"
            );
            assert!(
                d.message.starts_with(msg),
                "message for {src:?}: {} (expected {msg})",
                d.message
            );
        }
    }

    #[test]
    fn unknown_instruction_suggests_keyword() {
        assert_eq!(
            error("FROM alpine\nFORM x\n").help.as_deref(),
            Some("did you mean `FROM`?")
        );
        assert_eq!(
            error("FROM alpine\nCOYP a b\n").help.as_deref(),
            Some("did you mean `COPY`?")
        );
    }

    #[test]
    fn rendered_error_has_caret_under_the_from_value() {
        let src = "FROM alpine AS base\nFROM alpine\nCOPY --from=${B} /x /y\n";
        let r = error(src).render("error", "Dockerfile", src);
        assert!(
            r.starts_with("Dockerfile:3:13: error: variable expansion is not supported for --from"),
            "{r}"
        );
        assert!(
            r.contains("3 | COPY --from=${B} /x /y\n  |             ^\n"),
            "{r}"
        );
    }

    #[test]
    fn without_source_columns_come_from_original() {
        let src = "FROM alpine AS a\nCOPY --from=$X /a /b\n";
        let e = build(&df(src), &GraphOptions::default()).unwrap_err();
        assert_eq!(e.diag.span, Span { line: 2, col: 13 });
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        const WORDS: &[&str] = &[
            "from",
            "FROM",
            "copy",
            "run",
            "arg",
            "add",
            "onbuild",
            "env",
            "bogus",
            "alpine",
            "a",
            "b",
            "0",
            "1",
            "-1",
            "AS",
            "as",
            "$X",
            "${X:-a}",
            "${",
            "scratch",
            "--from=a",
            "--from=0",
            "--from=b",
            "--from=$X",
            "--from",
            "--mount=from=a",
            "--mount=type=secret,from=a",
            "--mount=,,,=",
            "--platform=$TARGETPLATFORM",
            "--platform=",
            "X=1",
            "=",
            "\"",
            "'",
            "é",
            "\u{feff}",
        ];

        fn line() -> impl Strategy<Value = String> {
            prop::collection::vec(prop::sample::select(WORDS), 0..6).prop_map(|w| w.join(" "))
        }

        proptest! {
            #[test]
            fn build_never_panics(lines in prop::collection::vec(line(), 0..12), escape in prop::bool::ANY) {
                let src = lines.join("\n");
                let mut d = df(&src);
                if escape { d.escape = '`'; }
                let _ = build_with_source(&d, &src, &GraphOptions::default());
                let _ = build(&d, &GraphOptions::default());
                // Spans from another text must not panic either.
                let _ = build_with_source(&d, "FROM x", &GraphOptions::default());
            }

            #[test]
            fn expand_never_panics(word in "\\PC{0,24}") {
                let env = |k: &str| if k == "X" { Some("v") } else { None };
                let _ = lex::expand(&word, '\\', &env);
                let _ = lex::expand(&word, '`', &env);
            }
        }
    }
}
