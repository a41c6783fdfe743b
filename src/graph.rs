//! The stage graph: stages, their bases and edges, after meta-ARG expansion.
//!
//! OWNER: graph work (issue 2). `StageGraph` and `Stage` are the contract the planner
//! codes against; extend them, don't rename them.

use std::collections::{BTreeMap, HashMap};

use crate::diag::{Diagnostic, Span};
use crate::dockerfile::{Dockerfile, Instruction};

pub mod expand;

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
        GraphOptions { build_args: BTreeMap::new(), platform: "linux/amd64".into(), build_platform: "linux/amd64".into() }
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
        self.name.clone().unwrap_or_else(|| format!("stage-{}", self.index))
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
pub fn build_with_source(df: &Dockerfile, source: &str, opts: &GraphOptions) -> Result<StageGraph, GraphError> {
    Builder::new(df, Some(source), opts).run()
}

/// Instructions BuildKit knows (`instructions.ParseInstruction`).
pub const KNOWN_INSTRUCTIONS: &[&str] = &[
    "add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck", "label", "maintainer", "onbuild",
    "run", "shell", "stopsignal", "user", "volume", "workdir",
];

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
    GraphError { diag: Diagnostic::new(span, msg) }
}

/// A FROM before resolution.
struct RawStage<'a> {
    from: &'a Instruction,
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
}

impl<'a> Builder<'a> {
    fn new(df: &'a Dockerfile, source: Option<&'a str>, opts: &'a GraphOptions) -> Self {
        let source = source.map(|s| s.strip_prefix('\u{feff}').unwrap_or(s));
        Builder { df, source, opts, line_starts: None, warnings: Vec::new() }
    }

    /// Where `needle` (searched from the keyword on) starts in `ins`, plus `skip` characters.
    fn locate(&mut self, ins: &Instruction, needle: &str, skip: usize) -> Span {
        if needle.is_empty() {
            return ins.span;
        }
        if let Some(src) = self.source {
            let starts = self.line_starts.get_or_insert_with(|| {
                let mut v = vec![0];
                v.extend(src.match_indices('\n').map(|(i, _)| i + 1));
                v
            });
            let last = ins.end_line.max(ins.span.line);
            for line in ins.span.line..=last {
                let Some(&start) = starts.get(line.wrapping_sub(1)) else { break };
                let end = starts.get(line).map_or(src.len(), |&e| e);
                let text = &src[start..end];
                let from = if line == ins.span.line {
                    text.char_indices().nth(ins.span.col.saturating_sub(1)).map_or(text.len(), |(i, _)| i)
                } else {
                    0
                };
                if let Some(pos) = text[from..].find(needle) {
                    let col = text[..from + pos].chars().count() + 1 + skip;
                    return Span { line, col };
                }
            }
        }
        match ins.original.find(needle) {
            Some(pos) if !ins.original[..pos].contains('\n') => {
                Span { line: ins.span.line, col: ins.span.col + ins.original[..pos].chars().count() + skip }
            }
            Some(pos) => {
                let before = &ins.original[..pos];
                let nl = before.matches('\n').count();
                let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1 + skip;
                Span { line: ins.span.line + nl, col }
            }
            None => ins.span,
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
        for ins in &df.instructions {
            check_known(ins)?;
            if ins.keyword == "from" {
                let name = self.stage_name(ins)?;
                raw.push(RawStage { from: ins, body: Vec::new(), name });
            } else if let Some(st) = raw.last_mut() {
                st.body.push(ins);
            } else if ins.keyword == "arg" {
                meta.push(ins);
            } else {
                let kw = keyword_as_written(ins);
                return Err(err(ins.span, format!("`{kw}` before the first FROM: no build stage in current context"))
                    .with_help("only ARG instructions may come before the first FROM"));
            }
        }
        if raw.is_empty() {
            let span = df.instructions.first().map_or(Span { line: 1, col: 1 }, |i| i.span);
            return Err(err(span, "dockerfile contains no stages to build").with_help("add a `FROM <image>` line"));
        }

        // 2. Meta ARGs over the automatic platform ARGs.
        let mut env: HashMap<String, String> = HashMap::new();
        for (k, v) in platform_args(&self.opts.platform, &self.opts.build_platform) {
            let v = self.opts.build_args.get(k).cloned().unwrap_or(v);
            env.insert(k.to_string(), v);
        }
        let target_stage = raw.last().and_then(|s| s.name.clone()).unwrap_or_else(|| "default".into());
        env.insert("TARGETSTAGE".into(), self.opts.build_args.get("TARGETSTAGE").cloned().unwrap_or(target_stage));
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
                    match expand::expand(d, df.escape_char(), &lookup) {
                        Ok(e) => Some(e.value),
                        Err(e) => {
                            let span = self.locate(ins, a, key.chars().count() + 1);
                            return Err(err(span, e));
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
        let mut stages: Vec<Stage> = Vec::with_capacity(raw.len());
        let mut by_name: HashMap<String, usize> = HashMap::new();
        let mut images: Vec<String> = Vec::new();
        for (i, rs) in raw.iter().enumerate() {
            let ins = rs.from;
            let written = ins.args.first().map(String::as_str).unwrap_or("");
            let lookup = |k: &str| env.get(k).map(String::as_str);
            let base = match expand::expand(written, df.escape_char(), &lookup) {
                Ok(e) => e.value,
                Err(e) => {
                    let span = self.locate(ins, written, 0);
                    return Err(err(span, format!("{e} in FROM `{written}`")));
                }
            };
            if base.is_empty() {
                let span = self.locate(ins, written, 0);
                let mut e = err(span, format!("base name ({written}) should not be blank"));
                let unset: Vec<&str> = meta_args.iter().filter(|(_, v)| v.is_none()).map(|(k, _)| k.as_str()).collect();
                if !unset.is_empty() {
                    e = e.with_help(format!("pass a value with --build-arg (unset meta ARGs: {})", unset.join(", ")));
                }
                return Err(e);
            }
            let mut platform = None;
            for f in &ins.flags {
                if let Some(p) = f.strip_prefix("--platform=") {
                    match expand::expand(p, df.escape_char(), &lookup) {
                        Ok(e) if e.value.is_empty() => {
                            let span = self.locate(ins, f, "--platform=".len());
                            return Err(err(span, format!("empty platform value from expression {p}")));
                        }
                        Ok(e) => platform = Some(e.value),
                        Err(e) => {
                            let span = self.locate(ins, f, "--platform=".len());
                            return Err(err(span, format!("failed to process arguments for platform {p}: {e}")));
                        }
                    }
                }
            }
            let base_stage = by_name.get(&base).copied();
            let base_span = self.locate(ins, written, 0);
            let mut edges = Vec::new();
            match base_stage {
                Some(j) => edges.push(Edge { kind: EdgeKind::From, target: EdgeTarget::Stage(j), span: base_span }),
                None if base == "scratch" => {}
                None => {
                    images.push(base.clone());
                    edges.push(Edge { kind: EdgeKind::From, target: EdgeTarget::Image(base.clone()), span: base_span });
                    self.warn_image_typo(&base, base_span, &by_name, &raw, i, "FROM");
                }
            }
            if let Some(n) = &rs.name {
                if let Some(&prev) = by_name.get(n) {
                    let span = self.locate(ins, ins.args.get(2).map(String::as_str).unwrap_or(""), 0);
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
                        for f in &ins.flags {
                            let Some(rest) = f.strip_prefix("--from") else { continue };
                            if ins.keyword == "add" {
                                let span = self.locate(ins, f, 0);
                                return Err(err(span, "unknown flag: from").with_help("ADD has no --from; use COPY --from"));
                            }
                            let Some(value) = rest.strip_prefix('=') else {
                                let span = self.locate(ins, f, 0);
                                return Err(err(span, "missing a value on flag: from"));
                            };
                            let span = self.locate(ins, f, "--from=".len());
                            let target = self.resolve_from(value, span, &by_name, &names_sorted, n, true)?;
                            new_edges.push(Edge { kind: EdgeKind::Copy, target, span });
                        }
                    }
                    "run" => {
                        for f in &ins.flags {
                            let Some(spec) = f.strip_prefix("--mount=") else { continue };
                            for (off, field) in csv_fields(spec) {
                                let Some((key, value)) = field.split_once('=') else { continue };
                                if !key.eq_ignore_ascii_case("from") {
                                    continue;
                                }
                                let span = self.locate(ins, f, "--mount=".len() + off + key.chars().count() + 1);
                                if let Some(pos) = value.find('$') {
                                    if pos != value.len() - 1 {
                                        return Err(err(span, "'from' doesn't support variable expansion, define alias stage instead"));
                                    }
                                }
                                let ty = mount_type(spec);
                                if ty != "bind" && ty != "cache" {
                                    if ty == "secret" || ty == "ssh" {
                                        return Err(err(span, format!("{ty} mount should not have a from")));
                                    }
                                    continue;
                                }
                                // BuildKit looks mount sources up by name only: `from=0` is an image.
                                let target = self.resolve_from(value, span, &by_name, &names_sorted, n, false)?;
                                new_edges.push(Edge { kind: EdgeKind::Mount, target, span });
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
        if let Some((stage, edge)) = find_cycle(&stages) {
            let label = stages[stage].label();
            let e = &stages[stage].edges[edge];
            return Err(err(e.span, format!("circular dependency detected on stage: {label}"))
                .with_help("a stage cannot copy or mount from itself or from a stage that depends on it"));
        }
        for st in &stages {
            for e in &st.edges {
                let EdgeTarget::Stage(j) = e.target else { continue };
                if j > st.index && e.kind != EdgeKind::From {
                    let (tl, sl) = (stages[j].label(), st.label());
                    let msg = match e.kind {
                        EdgeKind::Mount => format!("cannot mount from stage \"{tl}\", stage needs to be defined before current command"),
                        _ => format!("cannot copy from stage \"{tl}\", it needs to be defined before current stage \"{sl}\""),
                    };
                    return Err(err(e.span, msg)
                        .with_help(format!("stage `{tl}` is defined on line {}; move it above line {}", stages[j].line, st.line)));
                }
            }
        }

        for st in &mut stages {
            let mut deps: Vec<usize> =
                st.edges.iter().filter_map(|e| if let EdgeTarget::Stage(j) = e.target { Some(j) } else { None }).collect();
            deps.sort_unstable();
            deps.dedup();
            st.depends_on = deps;
        }
        images.sort();
        images.dedup();
        Ok(StageGraph { stages, images, meta_args, warnings: self.warnings })
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
                    && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
                let span = self.locate(ins, written, 0);
                if !valid {
                    return Err(err(
                        span,
                        format!("invalid name for build stage: \"{written}\", name can't start with a number or contain symbols"),
                    ));
                }
                if *written != name {
                    self.warn(Diagnostic::new(span, format!("stage name '{written}' should be lowercase")));
                }
                if name == "scratch" || name == "context" {
                    self.warn(Diagnostic::new(span, format!("'{name}' is reserved and should not be used as a stage name")));
                }
                let kw = keyword_as_written(ins);
                let as_kw = &args[1];
                let kw_lower = kw == kw.to_lowercase();
                let kw_upper = kw == kw.to_uppercase();
                let mismatch = (kw_lower && *as_kw != as_kw.to_lowercase()) || (!kw_lower && kw_upper && *as_kw != as_kw.to_uppercase());
                if mismatch {
                    let s = self.locate(ins, &format!(" {as_kw} "), 1);
                    self.warn(Diagnostic::new(s, format!("'{as_kw}' and '{kw}' keywords' casing do not match")));
                }
                Ok(Some(name))
            }
            0 => Err(err(ins.span, "FROM requires either one or three arguments").with_help("write `FROM <image> [AS <name>]`")),
            _ => {
                let span = self.locate(ins, args.get(1).map(String::as_str).unwrap_or(""), 0);
                Err(err(span, "FROM requires either one or three arguments").with_help("write `FROM <image> [AS <name>]`"))
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
        if value.contains('$') || value.contains(self.df.escape_char()) || value.contains(['"', '\'']) {
            let none = |_: &str| None;
            let same = matches!(expand::expand(value, self.df.escape_char(), &none), Ok(e) if e.value == value);
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
                    let help = if n == 1 { "the only stage is 0".to_string() } else { format!("stage indices run from 0 to {}", n - 1) };
                    return Err(err(span, format!("invalid stage index {idx}")).with_help(help));
                }
                return Ok(EdgeTarget::Stage(idx as usize));
            }
        }
        if let Some(&j) = by_name.get(&value.to_lowercase()) {
            return Ok(EdgeTarget::Stage(j));
        }
        if let Some(s) = crate::diag::suggest(value, names.iter().map(String::as_str)) {
            self.warn(
                Diagnostic::new(span, format!("`{value}` is not a stage name; BuildKit will use the image `{value}`"))
                    .with_help(format!("did you mean `{s}`?")),
            );
        }
        Ok(EdgeTarget::Image(value.to_string()))
    }

    /// A FROM base that is not an earlier stage: warn if it looks like a stage name.
    fn warn_image_typo(&mut self, base: &str, span: Span, by_name: &HashMap<String, usize>, raw: &[RawStage], i: usize, what: &str) {
        let lower = base.to_lowercase();
        if let Some(j) = raw.iter().skip(i).position(|r| r.name.as_deref() == Some(lower.as_str())) {
            let j = i + j;
            let msg = if j == i {
                format!("{what} `{base}` names the stage being defined; BuildKit will use the image `{base}`")
            } else {
                format!("{what} `{base}` names a stage defined later (line {}); BuildKit will use the image `{base}`", raw[j].from.span.line)
            };
            self.warn(Diagnostic::new(span, msg).with_help("a FROM can only build on stages defined above it"));
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
        let mut names: Vec<&str> = by_name.keys().map(String::as_str).collect();
        names.sort_unstable();
        if let Some(s) = crate::diag::suggest(base, names) {
            self.warn(
                Diagnostic::new(span, format!("{what} `{base}` is not a stage name; BuildKit will use the image `{base}`"))
                    .with_help(format!("did you mean `{s}`?")),
            );
        }
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
        if self.escape == '`' { '`' } else { '\\' }
    }
}

fn keyword_as_written(ins: &Instruction) -> String {
    let first = ins.original.split_whitespace().next().unwrap_or("");
    if first.eq_ignore_ascii_case(&ins.keyword) { first.to_string() } else { ins.keyword.to_uppercase() }
}

fn check_known(ins: &Instruction) -> Result<(), GraphError> {
    if KNOWN_INSTRUCTIONS.contains(&ins.keyword.as_str()) {
        return Ok(());
    }
    let kw = keyword_as_written(ins);
    let mut e = err(ins.span, format!("unknown instruction: {kw}"));
    if let Some(s) = crate::diag::suggest(&ins.keyword, KNOWN_INSTRUCTIONS.iter().copied()) {
        e = e.with_help(format!("did you mean `{}`?", s.to_uppercase()));
    }
    Err(e)
}

/// Go's `strconv.Atoi`: optional sign then ASCII digits only.
fn go_atoi(s: &str) -> Option<i128> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 30 {
        return None;
    }
    s.parse::<i128>().ok()
}

/// Split a `--mount` value on commas (CSV: double quotes group), with each field's char offset.
fn csv_fields(spec: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0usize;
    let mut quoted = false;
    for (ci, c) in spec.chars().enumerate() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push((start, std::mem::take(&mut cur)));
                start = ci + 1;
            }
            _ => cur.push(c),
        }
    }
    out.push((start, cur));
    out
}

fn mount_type(spec: &str) -> String {
    csv_fields(spec)
        .into_iter()
        .find_map(|(_, f)| f.split_once('=').filter(|(k, _)| k.eq_ignore_ascii_case("type")).map(|(_, v)| v.to_lowercase()))
        .unwrap_or_else(|| "bind".to_string())
}

/// BuildKit's DFS over stages in file order; returns the stage and the edge that closes a cycle.
fn find_cycle(stages: &[Stage]) -> Option<(usize, usize)> {
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
                        Mark::OnPath => return Some((s, e)),
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
