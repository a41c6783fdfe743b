//! The one shell-word lexer, after BuildKit's `frontend/dockerfile/shell/lex.go` (`Lex`,
//! `shellWord.processStopOn`, `processDollar`, `processName`, `trimPrefix`/`trimSuffix`).
//! Two callers, as in BuildKit:
//!
//! - the parser's heredoc scan ([`process_words`]): `Lex.ProcessWords` with an empty environment
//!   and `SkipUnsetEnv`, so every `$V`/`${V…}` is kept as written; the text is split into words
//!   (quotes and escapes honoured, `RawQuotes`/`RawEscapes` as asked) and `<<` is kept together
//!   with the blanks after it. The escape character is always `\`, like BuildKit's heredoc scan.
//! - the graph's ARG/ENV expansion ([`expand_with_budget`]): `Lex.ProcessWordWithMatches` for FROM
//!   bases, `--platform` values and ARG defaults, with the Dockerfile's escape character, the
//!   modifiers `${V:-x}` `${V-x}` `${V:+x}` `${V+x}` `${V:?msg}` `${V?msg}` `${V#pat}` `${V##pat}`
//!   `${V%pat}` `${V%%pat}`, a 64 KiB cap per word and a work budget per file (issue 9, section 4).
//!
//! Where the two callers still differ, it is on purpose and kept from before they shared this
//! code: the expansion refuses `${V/pat/repl}` (not evaluated here) and reports `${V` at the end of
//! the text as a missing `}` and `${V:x}` as an unsupported modifier before reading its word; the
//! heredoc scan keeps those as written, as BuildKit does with `SkipUnsetEnv`.
//!
//! Unlike BuildKit, `${a:-${a:-…}}` may nest at most [`MAX_NESTING`] levels: the lexer recurses
//! once per level, and a line of 64 KiB holds thousands of levels (a stack overflow otherwise).

use std::collections::BTreeSet;

/// Longest expanded word: BuildKit's scanner refuses a Dockerfile line longer than this
/// (`bufio.MaxScanTokenSize - 1`), so a value this long could not have been written either.
pub const MAX_WORD_BYTES: usize = super::MAX_LINE_BYTES;

/// How much expansion work a whole Dockerfile may cost, in characters produced plus steps of
/// `#`/`%` pattern matching: a fixed allowance plus a multiple of the file's length (so the
/// work is linear in the input whatever it contains). See [`Budget::for_source`].
pub const BASE_WORK: u64 = 16 * 1024 * 1024;
/// Work allowed per byte of Dockerfile on top of [`BASE_WORK`].
pub const WORK_PER_SOURCE_BYTE: u64 = 16;

/// Deepest nesting of `${…}` inside a modifier's word.
pub const MAX_NESTING: usize = 200;

/// Why lexing or expansion stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// A syntax error or a `${V?msg}` failure, with BuildKit's message.
    #[error("{0}")]
    Syntax(String),
    /// One expanded word grew past [`MAX_WORD_BYTES`].
    #[error("the expanded value is longer than {MAX_WORD_BYTES} bytes (BuildKit's line limit)")]
    WordTooLong,
    /// The file's whole expansion work budget is spent.
    #[error("variable expansion in this Dockerfile exceeds its work budget ({0} steps)")]
    Budget(u64),
}

impl From<String> for ExpandError {
    fn from(s: String) -> Self {
        ExpandError::Syntax(s)
    }
}

impl From<&str> for ExpandError {
    fn from(s: &str) -> Self {
        ExpandError::Syntax(s.to_string())
    }
}

/// The expansion work left for one Dockerfile (shared by every word expanded in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub limit: u64,
    pub used: u64,
}

impl Budget {
    /// `BASE_WORK + WORK_PER_SOURCE_BYTE × source_len`.
    pub fn for_source(source_len: usize) -> Self {
        Budget {
            limit: BASE_WORK.saturating_add(WORK_PER_SOURCE_BYTE.saturating_mul(source_len as u64)),
            used: 0,
        }
    }
    fn spend(&mut self, n: usize) -> Result<(), ExpandError> {
        self.used = self.used.saturating_add(n as u64);
        if self.used > self.limit {
            return Err(ExpandError::Budget(self.limit));
        }
        Ok(())
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::for_source(0)
    }
}

/// The result of expanding one word.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expanded {
    pub value: String,
    /// Variables referenced that had a value.
    pub matched: BTreeSet<String>,
    /// Variables referenced that had none.
    pub unmatched: BTreeSet<String>,
}

/// Expand `word` with variables from `env` (`None` = unset), with a fresh [`Budget`].
pub fn expand<'e>(
    word: &str,
    escape: char,
    env: &dyn Fn(&str) -> Option<&'e str>,
) -> Result<Expanded, ExpandError> {
    expand_with_budget(word, escape, env, &mut Budget::default())
}

/// Expand `word`, charging the work to `budget`. Every intermediate and final value is at most
/// [`MAX_WORD_BYTES`] long, and the work (characters produced, pattern-matching steps) is
/// charged to `budget`, so `ARG A1=${A0}${A0}` doubling chains and `${A#*b}` on long values stop
/// with an error instead of exhausting time or memory.
pub fn expand_with_budget<'e>(
    word: &str,
    escape: char,
    env: &dyn Fn(&str) -> Option<&'e str>,
    budget: &mut Budget,
) -> Result<Expanded, ExpandError> {
    budget.spend(word.len())?;
    let mut lx = Lexer::new(
        word,
        escape,
        Vars::Expand {
            env,
            budget,
            out: Expanded::default(),
        },
    );
    let (value, _) = lx.process_stop_on(None, false, 0)?;
    let Vars::Expand { out, .. } = lx.vars else {
        unreachable!("the lexer keeps its mode")
    };
    Ok(Expanded { value, ..out })
}

/// `Lex.ProcessWords` with an empty environment and `SkipUnsetEnv` (the parser's heredoc scan):
/// the words of `s`, every variable reference kept as written.
pub fn process_words(s: &str, raw_quotes: bool, raw_escapes: bool) -> Result<Vec<String>, String> {
    // text/scanner ignores a BOM at the very start.
    let text = s.strip_prefix('\u{feff}').unwrap_or(s);
    let mut lx = Lexer::new(text, '\\', Vars::Keep);
    lx.raw_quotes = raw_quotes;
    lx.split_words = true;
    lx.process_stop_on(None, raw_escapes, 0)
        .map(|(_, w)| w)
        .map_err(|e| format!("failed to process {}: {e}", super::gocompat::quote(s)))
}

/// What `$…` means to one run of the lexer.
enum Vars<'a, 'e, 'b> {
    /// No environment, every reference kept as written (`SkipUnsetEnv` with an empty environment).
    Keep,
    /// References replaced by their values from `env`; the work is charged to `budget`.
    Expand {
        env: &'a dyn Fn(&str) -> Option<&'e str>,
        budget: &'b mut Budget,
        out: Expanded,
    },
}

/// The words of a lexed text (`wordsStruct`): only collected when the caller asks for them.
#[derive(Default)]
struct Words {
    on: bool,
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn new(on: bool) -> Self {
        Words {
            on,
            ..Words::default()
        }
    }
    fn add_char(&mut self, ch: char) {
        if !self.on {
            return;
        }
        if ch.is_whitespace() {
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }
    fn add_raw_char(&mut self, ch: char) {
        if self.on {
            self.buf.push(ch);
            self.in_word = true;
        }
    }
    fn add_string(&mut self, s: &str) {
        if self.on {
            s.chars().for_each(|c| self.add_char(c));
        }
    }
    fn add_raw_string(&mut self, s: &str) {
        if self.on {
            self.buf.push_str(s);
            self.in_word = true;
        }
    }
    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(std::mem::take(&mut self.buf));
        }
        self.words
    }
}

struct Lexer<'s, 'a, 'e, 'b> {
    s: &'s str,
    /// Byte offset of the next character.
    pos: usize,
    escape: char,
    raw_quotes: bool,
    raw_escapes: bool,
    /// Collect words, with `<<` and the blanks after it kept together (the heredoc scan).
    split_words: bool,
    vars: Vars<'a, 'e, 'b>,
}

fn unsupported(chs: &str) -> ExpandError {
    format!("unsupported modifier ({chs}) in substitution").into()
}

impl<'s, 'a, 'e, 'b> Lexer<'s, 'a, 'e, 'b> {
    fn new(s: &'s str, escape: char, vars: Vars<'a, 'e, 'b>) -> Self {
        Lexer {
            s,
            pos: 0,
            escape,
            raw_quotes: false,
            raw_escapes: false,
            split_words: false,
            vars,
        }
    }

    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn expanding(&self) -> bool {
        matches!(self.vars, Vars::Expand { .. })
    }

    /// `getEnv`: the value of `name`, recorded as matched or unmatched; never set when keeping.
    fn get_env(&mut self, name: &str) -> Option<&'e str> {
        let Vars::Expand { env, out, .. } = &mut self.vars else {
            return None;
        };
        let value = env(name);
        let seen = if value.is_some() {
            &mut out.matched
        } else {
            &mut out.unmatched
        };
        if !seen.contains(name) {
            seen.insert(name.to_string());
        }
        value
    }

    /// Append a piece produced by a substitution or a quote to `result`; when expanding, the
    /// word stays within [`MAX_WORD_BYTES`] and the piece is charged to the budget.
    fn push_piece(&mut self, result: &mut String, piece: &str) -> Result<(), ExpandError> {
        if let Vars::Expand { budget, .. } = &mut self.vars {
            if result.len() + piece.len() > MAX_WORD_BYTES {
                return Err(ExpandError::WordTooLong);
            }
            budget.spend(piece.len())?;
        }
        result.push_str(piece);
        Ok(())
    }

    /// `processStopOn`: up to `stop` (consumed) or the end of the text; the text and its words.
    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
        depth: usize,
    ) -> Result<(String, Vec<String>), ExpandError> {
        if depth > MAX_NESTING {
            return Err("substitutions nested too deeply".into());
        }
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let r = self.stop_on_inner(stop, depth);
        self.raw_escapes = saved;
        r
    }

    fn stop_on_inner(
        &mut self,
        stop: Option<char>,
        depth: usize,
    ) -> Result<(String, Vec<String>), ExpandError> {
        let mut result = String::new();
        let mut words = Words::new(self.split_words);
        while let Some(ch) = self.peek() {
            if stop == Some(ch) {
                self.next();
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let tmp = self.process_dollar(depth)?;
                    self.push_piece(&mut result, &tmp)?;
                    words.add_string(&tmp);
                }
                '<' if self.split_words => {
                    let tmp = self.process_possible_heredoc();
                    result.push_str(&tmp);
                    words.add_raw_string(&tmp);
                }
                '\'' => {
                    let tmp = self.process_single_quote()?;
                    self.push_piece(&mut result, &tmp)?;
                    words.add_raw_string(&tmp);
                }
                '"' => {
                    let tmp = self.process_double_quote(depth)?;
                    self.push_piece(&mut result, &tmp)?;
                    words.add_raw_string(&tmp);
                }
                _ => {
                    self.next();
                    if ch == self.escape {
                        if self.raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        // The escape escapes the next character, except at the end.
                        match self.next() {
                            None => break,
                            Some(c) => {
                                words.add_raw_char(c);
                                result.push(c);
                            }
                        }
                    } else {
                        words.add_char(ch);
                        result.push(ch);
                    }
                }
            }
        }
        if let Some(stop) = stop {
            return Err(
                format!("unexpected end of statement while looking for matching {stop}").into(),
            );
        }
        Ok((result, words.finish()))
    }

    /// `processSingleQuote`: everything up to the next `'`, as is.
    fn process_single_quote(&mut self) -> Result<String, ExpandError> {
        let mut result = String::new();
        let q = self.next();
        if self.raw_quotes {
            result.extend(q);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => {
                    if self.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    /// `processDoubleQuote`: up to the next `"`, with `$…` substituted and the escape character
    /// escaping only `"`, `$` and itself.
    fn process_double_quote(&mut self, depth: usize) -> Result<String, ExpandError> {
        let mut result = String::new();
        let q = self.next();
        if self.raw_quotes {
            result.extend(q);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.next();
                    if self.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.process_dollar(depth)?;
                    self.push_piece(&mut result, &v)?;
                }
                Some(_) => {
                    let mut ch = self.next().unwrap_or(self.escape);
                    if ch == self.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.escape => {
                                ch = c;
                                self.next();
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    /// `processDollar`, at a `$`.
    fn process_dollar(&mut self, depth: usize) -> Result<String, ExpandError> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get_env(&name) {
                Some(v) => v.to_string(),
                None if !self.expanding() => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            _ => {}
        }
        let name = self.process_name();
        let mut ch = self.next();
        // text/scanner's EOF is -1, which Go's string(rune) turns into U+FFFD.
        let mut chs: String = ch.unwrap_or('\u{fffd}').to_string();
        match ch {
            Some('}') => Ok(match self.get_env(&name) {
                Some(v) => v.to_string(),
                None if !self.expanding() => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(':' | '+' | '-' | '?' | '#' | '%') => {
                let null_is_unset = ch == Some(':');
                if null_is_unset {
                    ch = self.next();
                    chs.push(ch.unwrap_or('\u{fffd}'));
                    if self.expanding() && ch.is_some_and(|c| !"+-?#%".contains(c)) {
                        return Err(unsupported(&chs));
                    }
                }
                let raw = matches!(ch, Some('#' | '%'));
                if null_is_unset && raw {
                    return Err(unsupported(&chs));
                }
                let word = match self.process_stop_on(Some('}'), raw, depth + 1) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '}'".into());
                        }
                        return Err(e);
                    }
                };
                let value = self.get_env(&name);
                if value.is_none() && !self.expanding() {
                    return Ok(format!("${{{name}{chs}{word}}}"));
                }
                self.modify(&name, &chs, ch, value, null_is_unset, word)
            }
            Some('/') if !self.expanding() => {
                if self.peek() == Some('/') {
                    self.next();
                }
                let pattern = match self.process_stop_on(Some('/'), true, depth + 1) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '/' in ${}".into());
                        }
                        return Err(e);
                    }
                };
                let replacement = match self.process_stop_on(Some('}'), true, depth + 1) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '}'".into());
                        }
                        return Err(e);
                    }
                };
                Ok(format!("${{{name}/{pattern}/{replacement}}}"))
            }
            None if self.expanding() => Err("syntax error: missing '}'".into()),
            _ => Err(unsupported(&chs)),
        }
    }

    /// The value of `${name<m>word}` (`m` after an optional `:`), `name` being set or expanding.
    fn modify(
        &mut self,
        name: &str,
        chs: &str,
        m: Option<char>,
        value: Option<&str>,
        null_is_unset: bool,
        word: String,
    ) -> Result<String, ExpandError> {
        let empty = value.is_none_or(str::is_empty);
        let unset = value.is_none() || (null_is_unset && empty);
        match m {
            Some('-') => Ok(if unset {
                word
            } else {
                value.unwrap_or_default().to_string()
            }),
            Some('+') => Ok(if unset { String::new() } else { word }),
            Some('?') => {
                let msg = |default: &str| {
                    if word.is_empty() {
                        default.to_string()
                    } else {
                        word
                    }
                };
                if value.is_none() {
                    Err(format!("{name}: {}", msg("is not allowed to be unset")).into())
                } else if null_is_unset && empty {
                    Err(format!("{name}: {}", msg("is not allowed to be empty")).into())
                } else {
                    Ok(value.unwrap_or_default().to_string())
                }
            }
            Some(m @ ('#' | '%')) => {
                let value = value.unwrap_or_default();
                let (greedy, pat) = match word.strip_prefix(m) {
                    Some(rest) => (true, rest.to_string()),
                    None => (false, word),
                };
                let Vars::Expand { budget, .. } = &mut self.vars else {
                    unreachable!("a value is only found when expanding")
                };
                if m == '%' {
                    trim_suffix(value, &pat, greedy, budget)
                } else {
                    trim_prefix(value, &pat, greedy, budget)
                }
            }
            _ => Err(unsupported(chs)),
        }
    }

    /// `processName`: a name (letters, digits, `_`), a run of digits, or one special parameter.
    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && is_digit(ch) {
                while let Some(c) = self.peek().filter(|&c| is_digit(c)) {
                    self.next();
                    name.push(c);
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphabetic() && !is_digit(ch) && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }

    /// At a `<`: `<`, or `<<` with the tabs, CRs and spaces right after it (one word with
    /// whatever follows, so `<< EOF` names its heredoc).
    fn process_possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.next();
        let mut out = String::from("<<");
        while let Some(c @ ('\t' | '\r' | ' ')) = self.peek() {
            out.push(c);
            self.next();
        }
        out
    }
}

/// Go's `unicode.IsDigit`, approximated: ASCII digits and every other numeric character.
fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric())
}

/// One element of a `#`/`%` pattern: `*`, `?` or a literal (`\\x` is a literal `x`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Star,
    Any,
    Lit(char),
}

/// The pattern as tokens, runs of `*` collapsed into one (they match the same strings).
fn tokens(pat: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut it = pat.chars().peekable();
    while let Some(c) = it.next() {
        let t = match c {
            '*' => Tok::Star,
            '?' => Tok::Any,
            '\\' => match it.next() {
                Some(n) => Tok::Lit(n),
                None => Tok::Lit('\\'),
            },
            c => Tok::Lit(c),
        };
        if t == Tok::Star && out.last() == Some(&Tok::Star) {
            continue;
        }
        out.push(t);
    }
    out
}

/// For every prefix length `n` of `s` (0..=len), whether the whole of `s[..n]` matches `toks`:
/// one pass of a set-of-positions automaton over `s` (Thompson's construction), so the cost is
/// `len(s) × active positions` instead of one backtracking match per prefix. The work is
/// charged to `budget`.
fn prefix_matches(toks: &[Tok], s: &[char], budget: &mut Budget) -> Result<Vec<bool>, ExpandError> {
    let m = toks.len();
    // `seen[j] == gen` marks position j as in the current set.
    let mut seen = vec![usize::MAX; m + 1];
    let mut cur: Vec<usize> = Vec::new();
    let mut next: Vec<usize> = Vec::new();
    let add = |set: &mut Vec<usize>, seen: &mut [usize], gen: usize, mut j: usize| loop {
        if seen[j] == gen {
            return;
        }
        seen[j] = gen;
        set.push(j);
        // A star may match nothing: the position after it is reachable too.
        if j < m && toks[j] == Tok::Star {
            j += 1;
        } else {
            return;
        }
    };
    let mut out = Vec::with_capacity(s.len() + 1);
    add(&mut cur, &mut seen, 0, 0);
    out.push(seen[m] == 0);
    for (i, &c) in s.iter().enumerate() {
        let gen = i + 1;
        budget.spend(cur.len() + 1)?;
        next.clear();
        for &j in &cur {
            if j == m {
                continue;
            }
            match toks[j] {
                Tok::Star => add(&mut next, &mut seen, gen, j),
                Tok::Any => add(&mut next, &mut seen, gen, j + 1),
                Tok::Lit(l) if l == c => add(&mut next, &mut seen, gen, j + 1),
                Tok::Lit(_) => {}
            }
        }
        std::mem::swap(&mut cur, &mut next);
        out.push(seen[m] == gen);
        if cur.is_empty() {
            // Nothing can match any longer prefix.
            out.resize(s.len() + 1, false);
            break;
        }
    }
    Ok(out)
}

/// `${V#pat}` / `${V##pat}`: remove the shortest / longest matching prefix.
fn trim_prefix(
    value: &str,
    pat: &str,
    greedy: bool,
    budget: &mut Budget,
) -> Result<String, ExpandError> {
    let v: Vec<char> = value.chars().collect();
    let ok = prefix_matches(&tokens(pat), &v, budget)?;
    let n = if greedy {
        (0..=v.len()).rev().find(|&n| ok[n])
    } else {
        (0..=v.len()).find(|&n| ok[n])
    };
    Ok(match n {
        Some(n) => v[n..].iter().collect(),
        None => value.to_string(),
    })
}

/// `${V%pat}` / `${V%%pat}`: remove the shortest / longest matching suffix (the prefix
/// automaton run over the reversed value and pattern).
fn trim_suffix(
    value: &str,
    pat: &str,
    greedy: bool,
    budget: &mut Budget,
) -> Result<String, ExpandError> {
    let v: Vec<char> = value.chars().rev().collect();
    let mut toks = tokens(pat);
    toks.reverse();
    let ok = prefix_matches(&toks, &v, budget)?;
    // A suffix of length k is a prefix of the reversed value of length k.
    let k = if greedy {
        (0..=v.len()).rev().find(|&k| ok[k])
    } else {
        (0..=v.len()).find(|&k| ok[k])
    };
    Ok(match k {
        Some(k) => value.chars().take(v.len() - k).collect(),
        None => value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(word: &str, vars: &[(&str, &str)]) -> Result<String, String> {
        let env = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        expand(word, '\\', &env)
            .map(|e| e.value)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn plain_and_braced() {
        let v = [("V", "1.2"), ("E", "")];
        assert_eq!(ex("img:$V", &v).unwrap(), "img:1.2");
        assert_eq!(ex("img:${V}-x", &v).unwrap(), "img:1.2-x");
        assert_eq!(ex("img:$NOPE", &v).unwrap(), "img:");
        assert_eq!(ex("$", &v).unwrap(), "$");
    }

    #[test]
    fn modifiers() {
        let v = [("V", "1.2"), ("E", "")];
        assert_eq!(ex("${NOPE:-3.0}", &v).unwrap(), "3.0");
        assert_eq!(ex("${E:-d}", &v).unwrap(), "d");
        assert_eq!(ex("${E-d}", &v).unwrap(), "");
        assert_eq!(ex("${NOPE-d}", &v).unwrap(), "d");
        assert_eq!(ex("${V:+alt}", &v).unwrap(), "alt");
        assert_eq!(ex("${E:+alt}", &v).unwrap(), "");
        assert_eq!(ex("${E+alt}", &v).unwrap(), "alt");
        assert_eq!(ex("${NOPE:-${V}}", &v).unwrap(), "1.2");
        assert_eq!(
            ex("${NOPE:?must be set}", &v).unwrap_err(),
            "NOPE: must be set"
        );
        assert_eq!(ex("${V%.*}", &[("V", "1.2.3")]).unwrap(), "1.2");
        assert_eq!(ex("${V%%.*}", &[("V", "1.2.3")]).unwrap(), "1");
        assert_eq!(ex("${V#*.}", &[("V", "1.2.3")]).unwrap(), "2.3");
        assert_eq!(ex("${V##*.}", &[("V", "1.2.3")]).unwrap(), "3");
    }

    #[test]
    fn quotes_and_escapes() {
        let v = [("V", "x")];
        assert_eq!(ex("'$V'", &v).unwrap(), "$V");
        assert_eq!(ex("\"a $V\"", &v).unwrap(), "a x");
        assert_eq!(ex("\\$V", &v).unwrap(), "$V");
        assert_eq!(ex("\"\\$V\"", &v).unwrap(), "$V");
    }

    #[test]
    fn syntax_errors_are_errors_not_panics() {
        assert_eq!(ex("${", &[]).unwrap_err(), "syntax error: missing '}'");
        assert_eq!(
            ex("${}", &[]).unwrap_err(),
            "syntax error: bad substitution"
        );
        assert_eq!(ex("${V", &[]).unwrap_err(), "syntax error: missing '}'");
        assert!(ex("${V:-x", &[]).is_err());
        assert!(ex("'abc", &[]).is_err());
        assert!(ex("\"abc", &[]).is_err());
        assert!(ex("${V/a/b}", &[]).is_err());
        assert!(ex("${V:#x}", &[]).is_err());
    }

    /// Section 4: an expanded word is capped at BuildKit's line limit, and the work is charged
    /// to the budget (the doubling bomb and `${A#*b}` on long values are refused or linear).
    #[test]
    fn word_limit_and_work_budget() {
        let big = "x".repeat(40_000);
        let v = [("A", big.as_str())];
        assert_eq!(ex("$A", &v).unwrap().len(), 40_000);
        assert_eq!(
            ex("$A$A", &v).unwrap_err(),
            ExpandError::WordTooLong.to_string()
        );
        assert_eq!(
            ex("\"$A$A\"", &v).unwrap_err(),
            ExpandError::WordTooLong.to_string()
        );
        let env = |k: &str| if k == "A" { Some(big.as_str()) } else { None };
        let mut budget = Budget {
            limit: 100_000,
            used: 0,
        };
        assert!(expand_with_budget("$A", '\\', &env, &mut budget).is_ok());
        assert!(matches!(
            expand_with_budget(
                "$A$A",
                '\\',
                &env,
                &mut Budget {
                    limit: 100_000,
                    used: 70_000
                }
            ),
            Err(ExpandError::Budget(100_000))
        ));
        assert!(expand_with_budget("$A", '\\', &env, &mut budget).is_ok());
        assert_eq!(budget.used, 2 * 40_002);
        assert!(matches!(
            expand_with_budget("$A", '\\', &env, &mut budget),
            Err(ExpandError::Budget(_))
        ));
        // Trimming patterns keep their meaning.
        let v = [("V", "a.b.c"), ("P", "x*y")];
        assert_eq!(ex("${V#*.}", &v).unwrap(), "b.c");
        assert_eq!(ex("${V##*.}", &v).unwrap(), "c");
        assert_eq!(ex("${V%.*}", &v).unwrap(), "a.b");
        assert_eq!(ex("${V%%.*}", &v).unwrap(), "a");
        assert_eq!(ex("${V#?.?}", &v).unwrap(), ".c");
        assert_eq!(ex("${V#zz}", &v).unwrap(), "a.b.c");
        assert_eq!(ex("${V#}", &v).unwrap(), "a.b.c");
        assert_eq!(ex("${V##**}", &v).unwrap(), "");
        assert_eq!(ex("${P#x\\*}", &v).unwrap(), "y");
        assert_eq!(ex("${P%\\*y}", &v).unwrap(), "x");
    }

    #[test]
    fn records_matched_and_unmatched() {
        let env = |k: &str| if k == "A" { Some("1") } else { None };
        let e = expand("$A-$B", '\\', &env).unwrap();
        assert_eq!(e.value, "1-");
        assert!(e.matched.contains("A") && e.unmatched.contains("B"));
    }

    /// One lexer for both callers: the nesting bound the heredoc scan always had now holds for
    /// expansion too. Before the merge, `ARG X=${a:-${a:-…}}` 5,000 levels deep (25 KB, within
    /// the line limit) overflowed the stack and aborted the process.
    #[test]
    fn expansion_nesting_is_bounded_like_the_heredoc_scan() {
        let nested = |n: usize| format!("{}v{}", "${a:-".repeat(n), "}".repeat(n));
        assert_eq!(ex(&nested(MAX_NESTING), &[]).unwrap(), "v");
        for n in [MAX_NESTING + 1, 5_000] {
            assert_eq!(
                ex(&nested(n), &[]).unwrap_err(),
                "substitutions nested too deeply"
            );
            assert!(process_words(&nested(n), true, true)
                .unwrap_err()
                .ends_with("substitutions nested too deeply"));
        }
        assert_eq!(
            process_words(&nested(MAX_NESTING), false, false).unwrap(),
            [nested(MAX_NESTING)]
        );
    }

    /// The callers' differences that stay on purpose (see the module doc): the heredoc scan
    /// keeps what the expansion refuses or reports otherwise.
    #[test]
    fn keeping_and_expanding_differ_only_where_documented() {
        let kept = |s: &str| process_words(s, true, true);
        assert_eq!(kept("${V/a/b}").unwrap(), ["${V/a/b}"]);
        assert_eq!(
            ex("${V/a/b}", &[]).unwrap_err(),
            "unsupported modifier (/) in substitution"
        );
        assert_eq!(kept("${V:x}").unwrap(), ["${V:x}"]);
        assert_eq!(
            ex("${V:x", &[]).unwrap_err(),
            "unsupported modifier (:x) in substitution"
        );
        assert!(kept("${V")
            .unwrap_err()
            .ends_with("unsupported modifier (\u{fffd}) in substitution"));
        assert_eq!(ex("${V", &[]).unwrap_err(), "syntax error: missing '}'");
        // Everything else is one behaviour: the same words, references kept or expanded.
        assert_eq!(
            kept("a \"$V b\" '${V:-c}'").unwrap(),
            ["a", "\"$V b\"", "'${V:-c}'"]
        );
        assert_eq!(
            ex("a \"$V b\" '${V:-c}'", &[("V", "1")]).unwrap(),
            "a 1 b ${V:-c}"
        );
    }

    /// `processName`: a name that starts with a digit is a positional parameter, the run of
    /// digits only (Go's `unicode.IsDigit`, which takes other scripts' digits too). The heredoc
    /// scan always read it so; the expansion took `$٣x` as one name `٣x` before the merge.
    #[test]
    fn a_name_starting_with_a_digit_is_the_digits_only() {
        assert_eq!(ex("$1x", &[("1x", "no")]).unwrap(), "x");
        assert_eq!(ex("$\u{663}x", &[("\u{663}x", "no")]).unwrap(), "x");
        assert_eq!(
            ex("${\u{663}x}", &[("\u{663}x", "no")]).unwrap_err(),
            "unsupported modifier (x) in substitution"
        );
        assert_eq!(ex("$x\u{663}", &[("x\u{663}", "yes")]).unwrap(), "yes");
    }
}
