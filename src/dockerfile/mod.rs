//! Dockerfile parser following BuildKit's `frontend/dockerfile/parser` rules.
//!
//! OWNER: parser work (issue 2). The public types below are the contract the graph
//! builder codes against; extend them, don't rename them.
//!
//! The parse mirrors BuildKit's `parser.Parse` line by line: parser directives, escape
//! token and line continuations (comments and empty lines inside a continuation are
//! skipped), `splitCommand`/`extractBuilderFlags`, the per-instruction line parsers
//! (`parseMaybeJSON`, `parseNameVal`, ...), heredocs on RUN/COPY/ADD, and `Node.Dump()`.
//! Like BuildKit, unknown instructions are *not* a parse error (see
//! [`Instruction::is_known`]); the graph builder rejects them with a suggestion.
//!
//! Known, deliberate differences from BuildKit (all on pathological input): ONBUILD may
//! nest at most [`MAX_ONBUILD_DEPTH`] levels, `${...}` nesting in heredoc lines is bounded,
//! and bytes that BuildKit's byte-wise scanners split out of a multi-byte character are
//! replaced by U+FFFD instead of being kept as invalid UTF-8.

mod gocompat;
mod heredoc;
mod json;
pub mod lex;

use crate::diag::{Diagnostic, Span};

pub use gocompat::quote as go_quote;

/// Instructions BuildKit's parser dispatches (lower-case).
pub const KNOWN_INSTRUCTIONS: &[&str] = &[
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// Longest physical line BuildKit's scanner accepts (`bufio.MaxScanTokenSize - 1`).
pub const MAX_LINE_BYTES: usize = 65535;

/// How deep `ONBUILD ONBUILD ...` may nest before we refuse (BuildKit rejects any
/// chaining later, in dockerfile2llb).
pub const MAX_ONBUILD_DEPTH: usize = 8;

/// One parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dockerfile {
    /// Parser directives found at the top (`syntax`, `escape`, `check`), lower-cased keys.
    pub directives: Vec<(String, String)>,
    /// The escape character in effect (`\\` or `` ` ``).
    pub escape: char,
    pub instructions: Vec<Instruction>,
    /// Things BuildKit only warns about (e.g. empty continuation lines).
    pub warnings: Vec<Diagnostic>,
}

/// One instruction, as BuildKit's `Node` with its `Next` chain flattened into `args`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Lower-cased keyword: `from`, `run`, `copy`, ...
    pub keyword: String,
    /// Flags as written, e.g. `["--from=base", "--mount=type=cache,target=/x"]`.
    pub flags: Vec<String>,
    /// Argument nodes exactly as BuildKit's dump prints them (see the conformance results):
    /// exec form: each JSON element; shell form: one string; FROM: `["img", "AS", "name"]`;
    /// ENV/LABEL: key, value, separator triplets; ONBUILD: empty, with `sub` set.
    /// Unknown instructions get BuildKit's single empty argument.
    pub args: Vec<String>,
    /// True when the arguments were in JSON (exec) form.
    pub json: bool,
    /// The whole instruction's text as written (continuations joined).
    pub original: String,
    /// Where the keyword starts.
    pub span: Span,
    /// Last physical line of the instruction (heredoc bodies included).
    pub end_line: usize,
    /// Heredocs attached to RUN/COPY/ADD, in order.
    pub heredocs: Vec<Heredoc>,
    /// ONBUILD's nested instruction.
    pub sub: Option<Box<Instruction>>,
    /// Where each flag (its leading `--`) starts; parallel to `flags`.
    pub flag_spans: Vec<Span>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    /// The body exactly as written (line endings kept, tabs not yet chomped).
    pub content: String,
    pub expand: bool,
    pub chomp: bool,
}

impl Heredoc {
    /// The body as it will be used: leading tabs removed from every line for `<<-`.
    pub fn effective_content(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        let mut out = String::with_capacity(self.content.len());
        for line in self.content.split_inclusive('\n') {
            out.push_str(line.trim_start_matches('\t'));
        }
        out
    }
}

/// A parse error; renders like every other diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{diag}")]
pub struct ParseError {
    pub diag: Diagnostic,
}

impl ParseError {
    fn at(line: usize, col: usize, msg: impl Into<String>) -> Self {
        ParseError {
            diag: Diagnostic::new(Span { line, col }, msg),
        }
    }
}

impl Instruction {
    /// Whether BuildKit knows this instruction.
    pub fn is_known(&self) -> bool {
        KNOWN_INSTRUCTIONS.contains(&self.keyword.as_str())
    }

    /// For an unknown instruction, the closest known keyword (upper-case), if any.
    pub fn suggestion(&self) -> Option<String> {
        if self.is_known() {
            return None;
        }
        crate::diag::suggest(&self.keyword, KNOWN_INSTRUCTIONS.iter().copied())
            .map(|s| s.to_ascii_uppercase())
    }

    /// The value of the first flag `--name` / `--name=value` (`Some("")` for a bare flag).
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags.iter().find_map(|f| {
            let rest = f.strip_prefix("--")?.strip_prefix(name)?;
            if rest.is_empty() {
                Some("")
            } else {
                rest.strip_prefix('=')
            }
        })
    }

    /// BuildKit's `Node.Dump()` of this instruction (without the outer parentheses).
    pub fn dump(&self) -> String {
        let mut s = String::with_capacity(self.keyword.len() + self.original.len() + 8);
        s.push_str(&self.keyword);
        if !self.flags.is_empty() {
            s.push_str(" [");
            for (i, f) in self.flags.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                gocompat::quote_into(&mut s, f);
            }
            s.push(']');
        }
        for a in &self.args {
            s.push(' ');
            gocompat::quote_into(&mut s, a);
        }
        if let Some(sub) = &self.sub {
            s.push_str(" (");
            s.push_str(&sub.dump());
            s.push(')');
        }
        let t = s.trim();
        if t.len() == s.len() {
            s
        } else {
            t.to_owned()
        }
    }
}

impl Dockerfile {
    /// BuildKit's `Node.Dump()` of the whole file, one instruction per line.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for ins in &self.instructions {
            out.push('(');
            out.push_str(&ins.dump());
            out.push_str(")\n");
        }
        out.trim().to_owned()
    }
}

/// Physical lines with their terminators, counting line numbers and enforcing BuildKit's
/// line length limit.
struct Lines<'a> {
    src: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Lines<'a> {
    fn next(&mut self) -> Result<Option<&'a str>, ParseError> {
        if self.pos >= self.src.len() {
            return Ok(None);
        }
        let rest = &self.src[self.pos..];
        let (content, total) = match memchr::memchr(b'\n', rest.as_bytes()) {
            Some(i) => (i, i + 1),
            None => (rest.len(), rest.len()),
        };
        self.line += 1;
        if content > MAX_LINE_BYTES {
            return Err(ParseError::at(
                self.line,
                1,
                format!("dockerfile line greater than max allowed size of {MAX_LINE_BYTES}"),
            ));
        }
        self.pos += total;
        Ok(Some(&rest[..total]))
    }
}

/// A piece of the joined instruction text and where it came from.
struct Chunk {
    off: usize,
    line: usize,
    col: usize,
}

struct Ctx<'a> {
    esc: u8,
    buf: &'a [u8],
    /// `buf` as text (it always is valid UTF-8): sub-slices at character boundaries are
    /// converted without validating them again.
    text: &'a str,
    chunks: &'a [Chunk],
    fallback: Span,
}

impl Ctx<'_> {
    /// A piece of `buf` as an owned string.
    fn string(&self, piece: &[u8]) -> String {
        let off = (piece.as_ptr() as usize).wrapping_sub(self.buf.as_ptr() as usize);
        match self.text.get(off..off.wrapping_add(piece.len())) {
            Some(s) if s.as_ptr() == piece.as_ptr() => s.to_owned(),
            _ => gocompat::lossy(piece),
        }
    }

    /// Source position of byte `off` of the joined instruction text.
    fn locate(&self, off: usize) -> Span {
        let idx = self.chunks.partition_point(|c| c.off <= off);
        if idx == 0 {
            return self.fallback;
        }
        let c = &self.chunks[idx - 1];
        let end = off.min(self.buf.len());
        let chars = self.buf[c.off.min(end)..end]
            .iter()
            .filter(|&&b| (b & 0xc0) != 0x80)
            .count();
        Span {
            line: c.line,
            col: c.col + chars,
        }
    }
}

/// `bytes.TrimRight(s, "\r\n")`.
fn trim_newline(s: &str) -> &str {
    let b = s.as_bytes();
    let mut end = b.len();
    while end > 0 && matches!(b[end - 1], b'\r' | b'\n') {
        end -= 1;
    }
    &s[..end]
}

/// `strings.TrimLeftFunc(s, unicode.IsSpace)`, with a fast path for the usual case.
fn trim_start(s: &str) -> &str {
    match s.as_bytes().first() {
        Some(&b) if b < 0x80 && !b.is_ascii_whitespace() && b != 0x0b => s,
        _ => s.trim_start(),
    }
}

fn is_comment(s: &str) -> bool {
    trim_start(s).starts_with('#')
}

/// BuildKit's `lineContinuationRegex`: returns the line without the continuation token and
/// whether the line continues.
fn trim_continuation(line: &str, esc: char) -> (&str, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    if let Some(before) = t.strip_suffix(esc) {
        if before.is_empty() || !before.ends_with(esc) {
            return (before, true);
        }
    }
    (line, false)
}

/// `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` on the text after `#`.
fn directive_match(s: &str) -> Option<(&str, &str)> {
    let is_re_s = |c: char| matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ');
    let b = s.as_bytes();
    if !b.first()?.is_ascii_alphabetic() {
        return None;
    }
    let klen = b.iter().take_while(|c| c.is_ascii_alphanumeric()).count();
    let key = &s[..klen];
    let r = s[klen..].trim_start_matches(is_re_s).strip_prefix('=')?;
    let v = r.trim_start_matches(is_re_s);
    if !v.is_empty() {
        return Some((key, v.trim_end_matches(is_re_s)));
    }
    // All whitespace: the lazy `.+?` takes the last character.
    let last = r.chars().next_back()?;
    Some((key, &r[r.len() - last.len_utf8()..]))
}

/// Parse a Dockerfile's text.
pub fn parse(source: &str) -> Result<Dockerfile, ParseError> {
    let src = source.strip_prefix('\u{feff}').unwrap_or(source);
    let mut lines = Lines {
        src,
        pos: 0,
        line: 0,
    };
    let mut df = Dockerfile {
        escape: '\\',
        ..Default::default()
    };
    let mut directives_done = false;
    let mut buf = String::new();
    let mut chunks: Vec<Chunk> = Vec::new();

    while let Some(raw) = lines.next()? {
        let line_no = lines.line;
        let t = trim_newline(raw);
        let t_left = trim_start(t);
        let lead_chars = if t_left.len() == t.len() {
            0
        } else {
            t[..t.len() - t_left.len()].chars().count()
        };
        let col = lead_chars + 1;

        if !directives_done {
            match t_left
                .strip_prefix('#')
                .and_then(|c| directive_match(c.trim_start()))
            {
                Some((k, v))
                    if matches!(
                        k.to_ascii_lowercase().as_str(),
                        "syntax" | "escape" | "check"
                    ) =>
                {
                    let k = k.to_ascii_lowercase();
                    if df.directives.iter().any(|(seen, _)| *seen == k) {
                        return Err(ParseError::at(
                            line_no,
                            col,
                            format!("only one {k} parser directive can be used"),
                        ));
                    }
                    if k == "escape" {
                        match v {
                            "`" => df.escape = '`',
                            "\\" => df.escape = '\\',
                            _ => {
                                return Err(ParseError::at(
                                    line_no,
                                    col,
                                    format!("invalid escape token '{v}' does not match ` or \\"),
                                ))
                            }
                        }
                    }
                    df.directives.push((k, v.to_owned()));
                }
                _ => directives_done = true,
            }
        }
        if t_left.starts_with('#') {
            continue;
        }

        let esc = df.escape;
        let (first, mut cont) = trim_continuation(t_left, esc);
        if !cont && first.is_empty() {
            continue;
        }
        let start_line = line_no;
        buf.clear();
        chunks.clear();
        if !first.is_empty() {
            chunks.push(Chunk {
                off: 0,
                line: line_no,
                col,
            });
            buf.push_str(first);
        }
        let mut empty_cont: Option<usize> = None;
        while cont {
            let Some(raw) = lines.next()? else { break };
            if is_comment(raw) {
                continue;
            }
            let t = trim_newline(raw);
            if trim_start(t).is_empty() {
                empty_cont.get_or_insert(lines.line);
                continue;
            }
            let (piece, c) = trim_continuation(t, esc);
            cont = c;
            if !piece.is_empty() {
                chunks.push(Chunk {
                    off: buf.len(),
                    line: lines.line,
                    col: 1,
                });
                buf.push_str(piece);
            }
        }
        if let Some(l) = empty_cont {
            df.warnings.push(
                Diagnostic::new(Span { line: l, col: 1 }, "empty continuation line")
                    .with_help("BuildKit warns that empty continuation lines will become errors in a future release"),
            );
        }

        let ctx = Ctx {
            esc: esc as u8,
            buf: buf.as_bytes(),
            text: &buf,
            chunks: &chunks,
            fallback: Span {
                line: start_line,
                col,
            },
        };
        let mut ins = new_node(&ctx, buf.as_bytes(), 0, 0).map_err(|m| {
            let span = ctx.locate(gocompat::trim_left_len(buf.as_bytes()));
            ParseError {
                diag: Diagnostic::new(span, m),
            }
        })?;

        let target = match (&ins.keyword[..], &ins.sub) {
            ("onbuild", Some(sub)) => sub,
            _ => &ins,
        };
        if matches!(&target.keyword[..], "add" | "copy" | "run")
            && !target.json
            && buf.contains("<<")
        {
            let docs = heredoc::heredocs_from_line(&buf).map_err(|m| ParseError {
                diag: Diagnostic::new(ins.span, m),
            })?;
            for mut doc in docs {
                let mut terminated = false;
                let mut content = String::new();
                while let Some(raw) = lines.next()? {
                    let mut cand = trim_newline(raw);
                    if doc.chomp {
                        cand = cand.trim_start_matches('\t');
                    }
                    if cand == doc.name {
                        terminated = true;
                        break;
                    }
                    content.push_str(raw);
                }
                if !terminated {
                    return Err(ParseError {
                        diag: Diagnostic::new(
                            ins.span,
                            format!("unterminated heredoc `{}`", doc.name),
                        )
                        .with_help(format!(
                            "end the heredoc with a line containing only `{}`",
                            doc.name
                        )),
                    });
                }
                doc.content = content;
                ins.heredocs.push(doc);
            }
        }
        ins.end_line = lines.line;
        // One exact-size copy of the joined text; `buf` keeps its capacity for the next one.
        ins.original = buf.as_str().to_owned();
        if let Some(sub) = ins.sub.as_deref_mut() {
            set_end_line(sub, lines.line);
        }
        df.instructions.push(ins);
    }

    if df.instructions.is_empty() {
        return Err(ParseError::at(1, 1, "file with no instructions"));
    }
    Ok(df)
}

fn set_end_line(ins: &mut Instruction, end: usize) {
    ins.end_line = end;
    if let Some(sub) = ins.sub.as_deref_mut() {
        set_end_line(sub, end);
    }
}

/// BuildKit's `newNodeFromLine`: split off the command and flags and dispatch the rest.
/// `base` is the offset of `line` within the joined instruction text.
fn new_node(ctx: &Ctx<'_>, line: &[u8], base: usize, depth: usize) -> Result<Instruction, String> {
    let (ts, te) = gocompat::trim_space_range(line);
    let t = &line[ts..te];
    let cmd_end = t
        .iter()
        .position(|&b| gocompat::is_re_ws(b))
        .unwrap_or(t.len());
    let cmd = &t[..cmd_end];
    let mut flags = Vec::new();
    let mut flag_spans = Vec::new();
    let mut args_raw: &[u8] = &[];
    let mut args_off = base + te;
    if cmd_end < t.len() {
        let mut rs = cmd_end;
        while rs < t.len() && gocompat::is_re_ws(t[rs]) {
            rs += 1;
        }
        let (rest_off, found) = extract_flags(&t[rs..], ctx.esc);
        flags.reserve_exact(found.len());
        flag_spans.reserve_exact(found.len());
        for (f, off) in found {
            flags.push(f);
            flag_spans.push(ctx.locate(base + ts + rs + off));
        }
        let after = &t[rs + rest_off..];
        let (as_, ae) = gocompat::trim_space_range(after);
        args_raw = &after[as_..ae];
        args_off = base + ts + rs + rest_off + as_;
    }
    let keyword = match std::str::from_utf8(cmd) {
        Ok(c) => gocompat::to_lower(c),
        Err(_) => gocompat::to_lower(&gocompat::lossy(cmd)),
    };
    let mut sub = None;
    let mut json = false;
    let args: Vec<String> = match keyword.as_str() {
        "add" | "copy" | "volume" => match json::parse_string_array(args_raw) {
            json::JsonArray::Strings(v) => {
                json = true;
                v
            }
            json::JsonArray::NotStrings => return Err(NOT_STRING_ARRAY.into()),
            json::JsonArray::Invalid => ws_delimited(ctx, args_raw),
        },
        "cmd" | "entrypoint" | "run" | "shell" => {
            let (v, j) = maybe_json(ctx, args_raw)?;
            json = j;
            v
        }
        "arg" => parse_words(args_raw, ctx.esc as char),
        "env" => name_val(ctx, args_raw, "ENV")?,
        "label" => name_val(ctx, args_raw, "LABEL")?,
        "expose" | "from" => ws_delimited(ctx, args_raw),
        "healthcheck" => {
            let (v, j) = health(ctx, args_raw)?;
            json = j;
            v
        }
        "maintainer" | "stopsignal" | "user" | "workdir" => {
            if args_raw.is_empty() {
                Vec::new()
            } else {
                vec![ctx.string(args_raw)]
            }
        }
        "onbuild" => {
            if !args_raw.is_empty() {
                if depth >= MAX_ONBUILD_DEPTH {
                    return Err(format!(
                        "ONBUILD nested more than {MAX_ONBUILD_DEPTH} levels deep"
                    ));
                }
                sub = Some(Box::new(new_node(ctx, args_raw, args_off, depth + 1)?));
            }
            Vec::new()
        }
        _ => vec![String::new()],
    };
    Ok(Instruction {
        keyword,
        flags,
        args,
        json,
        // The top-level text is filled in by the caller.
        original: if depth == 0 {
            String::new()
        } else {
            gocompat::lossy(line)
        },
        span: ctx.locate(base + ts),
        end_line: 0,
        heredocs: Vec::new(),
        sub,
        flag_spans,
    })
}

const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

/// `parseMaybeJSON`.
fn maybe_json(ctx: &Ctx<'_>, rest: &[u8]) -> Result<(Vec<String>, bool), String> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    match json::parse_string_array(rest) {
        json::JsonArray::Strings(v) => Ok((v, true)),
        json::JsonArray::NotStrings => Err(NOT_STRING_ARRAY.into()),
        json::JsonArray::Invalid => Ok((vec![ctx.string(rest)], false)),
    }
}

/// `parseStringsWhitespaceDelimited`.
fn ws_delimited(ctx: &Ctx<'_>, rest: &[u8]) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    gocompat::split_re_ws(rest, -1)
        .into_iter()
        .map(|p| ctx.string(p))
        .collect()
}

/// `parseHealthConfig` (byte-wise, like BuildKit).
fn health(ctx: &Ctx<'_>, rest: &[u8]) -> Result<(Vec<String>, bool), String> {
    let sep = rest
        .iter()
        .position(|&b| gocompat::is_space_latin1(b))
        .unwrap_or(rest.len());
    if sep == 0 {
        return Ok((Vec::new(), false));
    }
    let next = sep
        + rest[sep..]
            .iter()
            .take_while(|&&b| gocompat::is_space_latin1(b))
            .count();
    let (cmd, json) = maybe_json(ctx, &rest[next..])?;
    let mut out = Vec::with_capacity(cmd.len() + 1);
    out.push(ctx.string(&rest[..sep]));
    out.extend(cmd);
    Ok((out, json))
}

/// `parseNameVal` for ENV and LABEL.
fn name_val(ctx: &Ctx<'_>, rest: &[u8], key: &str) -> Result<Vec<String>, String> {
    let words = word_ranges(rest, ctx.esc as char);
    let Some(&(fs, fe)) = words.first() else {
        return Ok(Vec::new());
    };
    if !rest[fs..fe].contains(&b'=') {
        let parts = gocompat::split_re_ws(rest, 2);
        if parts.len() < 2 {
            return Err(format!("{key} must have two arguments"));
        }
        return Ok(vec![
            ctx.string(parts[0]),
            ctx.string(parts[1]),
            String::new(),
        ]);
    }
    let mut out = Vec::with_capacity(words.len() * 3);
    for (s, e) in words {
        let w = &rest[s..e];
        let Some(eq) = memchr::memchr(b'=', w) else {
            return Err(format!(
                "Syntax error - can't find = in {}. Must be of the form: name=value",
                gocompat::quote(&rune_string(w))
            ));
        };
        out.push(rune_string(&w[..eq]));
        out.push(rune_string(&w[eq + 1..]));
        out.push("=".to_owned());
    }
    Ok(out)
}

/// `parseWords`: whitespace-separated words, quotes and escapes kept.
fn parse_words(rest: &[u8], esc: char) -> Vec<String> {
    word_ranges(rest, esc)
        .into_iter()
        .map(|(s, e)| rune_string(&rest[s..e]))
        .collect()
}

/// `piece` as text, each byte of an invalid sequence replaced by U+FFFD (like decoding it
/// rune by rune).
fn rune_string(piece: &[u8]) -> String {
    match std::str::from_utf8(piece) {
        Ok(s) => s.to_owned(),
        Err(_) => {
            let mut out = String::with_capacity(piece.len() + 2);
            let mut i = 0;
            while i < piece.len() {
                let (c, w) = gocompat::decode_rune(&piece[i..]);
                out.push(c);
                i += w;
            }
            out
        }
    }
}

/// `parseWords` as byte ranges of `rest`: BuildKit keeps every quote and escape of a word,
/// so each word is a contiguous piece of the input (only an escape that ends the input is
/// dropped, and it is the word's last byte).
fn word_ranges(rest: &[u8], esc: char) -> Vec<(usize, usize)> {
    let n = rest.len();
    let mut words = Vec::new();
    let mut pos = 0usize;
    // The next rune and its width; ASCII without decoding.
    let rune = |pos: usize| -> (char, usize) { gocompat::decode_rune(&rest[pos..]) };
    while pos < n {
        // Spaces.
        let (ch, w) = rune(pos);
        if gocompat::is_space(ch) {
            pos += w;
            continue;
        }
        // A word (phase Word / Quote) from `start`.
        let start = pos;
        let mut end = n;
        let mut quote: Option<char> = None;
        while pos < n {
            let (ch, w) = rune(pos);
            match quote {
                None if gocompat::is_space(ch) => {
                    end = pos;
                    pos += w;
                    break;
                }
                None if ch == '\'' || ch == '"' => quote = Some(ch),
                Some(q) if ch == q => quote = None,
                // An escape outside single quotes takes the next rune with it; one that ends
                // the input ends the word without it.
                _ if ch == esc && quote != Some('\'') => {
                    if pos + w == n {
                        end = pos;
                        pos = n;
                        break;
                    }
                    pos += w;
                    let (_, w2) = rune(pos);
                    pos += w2;
                    continue;
                }
                _ => {}
            }
            pos += w;
        }
        if end > start {
            words.push((start, end));
        }
    }
    words
}

/// `extractBuilderFlags`: leading `--flag[=value]` words, scanned byte by byte like
/// BuildKit (non-ASCII bytes become Latin-1 runes). Returns the offset where the
/// arguments start and each flag with its offset.
fn extract_flags(line: &[u8], esc: u8) -> (usize, Vec<(String, usize)>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let n = line.len();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut sb = String::new();
    let mut quote = 0u8;
    let mut blank_ok = false;
    let mut start = 0usize;
    let mut ch = 0u8;
    let mut pos = 0usize;
    while pos <= n {
        if pos != n {
            ch = line[pos];
        }
        if phase == Phase::Spaces {
            if pos == n {
                break;
            }
            if gocompat::is_space_latin1(ch) {
                pos += 1;
                continue;
            }
            if ch != b'-' || pos + 1 == n || line[pos + 1] != b'-' {
                return (pos, words);
            }
            phase = Phase::Word;
            start = pos;
            let word_len = line[pos..]
                .iter()
                .position(|&b| gocompat::is_space_latin1(b))
                .unwrap_or(n - pos);
            sb.reserve(word_len);
        }
        if pos == n {
            if sb != "--" && (blank_ok || !sb.is_empty()) {
                words.push((std::mem::take(&mut sb), start));
            }
            break;
        }
        if phase == Phase::Word {
            if gocompat::is_space_latin1(ch) {
                phase = Phase::Spaces;
                if sb == "--" {
                    return (pos, words);
                }
                if blank_ok || !sb.is_empty() {
                    words.push((std::mem::take(&mut sb), start));
                }
                sb.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == b'\'' || ch == b'"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
        } else if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        // In a word and in quotes alike, an escape takes the next byte; one that ends the line is
        // dropped (and ends an open quote).
        if ch == esc {
            if pos + 1 == n {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            ch = line[pos];
        }
        sb.push(ch as char);
        pos += 1;
    }
    (n, words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_like_buildkit() {
        let w = |s: &str| parse_words(s.as_bytes(), '\\');
        assert_eq!(w("foo"), ["foo"]);
        assert_eq!(w("foo bar"), ["foo", "bar"]);
        assert_eq!(w("foo\\ bar"), ["foo\\ bar"]);
        assert_eq!(w("foo=bar"), ["foo=bar"]);
        assert_eq!(w("foo bar 'abc xyz'"), ["foo", "bar", "'abc xyz'"]);
        assert_eq!(w("foo bar \"abc xyz\""), ["foo", "bar", "\"abc xyz\""]);
        assert_eq!(w("àöû"), ["àöû"]);
        assert_eq!(w("föo bàr \"âbc xÿz\""), ["föo", "bàr", "\"âbc xÿz\""]);
        assert_eq!(w("a\\"), ["a"]);
        assert_eq!(w(" \\"), Vec::<String>::new());
        assert_eq!(w("'a b'c  d"), ["'a b'c", "d"]);
        assert_eq!(w("\"a \\\" b\" c"), ["\"a \\\" b\"", "c"]);
        assert_eq!(w("'a \\' b"), ["'a \\'", "b"]);
        assert_eq!(
            parse_words(b"a\xff\xfeb c", '\\'),
            ["a\u{fffd}\u{fffd}b", "c"]
        );
        assert_eq!(w("x\u{a0}y\u{2003}z"), ["x", "y", "z"]);
        assert_eq!(w("\"open"), ["\"open"]);
    }

    #[test]
    fn flags_like_buildkit() {
        let f = |s: &str| {
            let (off, w) = extract_flags(s.as_bytes(), b'\\');
            (
                s[off..].to_owned(),
                w.into_iter().map(|(f, _)| f).collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            f("--a=1 --b x y"),
            ("x y".into(), vec!["--a=1".to_owned(), "--b".into()])
        );
        assert_eq!(f("--a -- --b"), (" --b".into(), vec!["--a".to_owned()]));
        assert_eq!(f("--a=\"x y\" z"), ("z".into(), vec!["--a=x y".to_owned()]));
        assert_eq!(f("-x"), ("-x".into(), vec![]));
        assert_eq!(f("--"), ("".into(), vec![]));
    }

    #[test]
    fn continuation_regex() {
        assert_eq!(trim_continuation("a \\", '\\'), ("a ", true));
        assert_eq!(trim_continuation("a\\  \t", '\\'), ("a", true));
        assert_eq!(trim_continuation("\\ ", '\\'), ("", true));
        assert_eq!(trim_continuation("a\\\\", '\\'), ("a\\\\", false));
        assert_eq!(trim_continuation("a`", '`'), ("a", true));
        assert_eq!(trim_continuation("a\\", '`'), ("a\\", false));
    }

    #[test]
    fn directive_regex() {
        assert_eq!(directive_match("escape=`"), Some(("escape", "`")));
        assert_eq!(directive_match("escape = ` "), Some(("escape", "`")));
        assert_eq!(directive_match("escape=  "), Some(("escape", " ")));
        assert_eq!(directive_match("escape="), None);
        assert_eq!(
            directive_match("check=skip=all"),
            Some(("check", "skip=all"))
        );
        assert_eq!(directive_match("Comment here"), None);
        assert_eq!(directive_match("1x=2"), None);
    }
}
