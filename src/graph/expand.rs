//! Shell-style word expansion as BuildKit's `shell.Lex.ProcessWord` does it for FROM
//! bases, `--platform` values and ARG defaults: quotes, the escape character, `$V`,
//! `${V}`, `${V:-x}`, `${V-x}`, `${V:+x}`, `${V+x}`, `${V:?msg}`, `${V?msg}`,
//! `${V#pat}`, `${V##pat}`, `${V%pat}`, `${V%%pat}`.

use std::collections::BTreeSet;

/// Longest expanded word: BuildKit's scanner refuses a Dockerfile line longer than this
/// (`bufio.MaxScanTokenSize - 1`), so a value this long could not have been written either.
pub const MAX_WORD_BYTES: usize = crate::dockerfile::MAX_LINE_BYTES;

/// How much expansion work a whole Dockerfile may cost, in characters produced plus steps of
/// `#`/`%` pattern matching: a fixed allowance plus a multiple of the file's length (so the
/// work is linear in the input whatever it contains). See [`Budget::for_source`].
pub const BASE_WORK: u64 = 16 * 1024 * 1024;
/// Work allowed per byte of Dockerfile on top of [`BASE_WORK`].
pub const WORK_PER_SOURCE_BYTE: u64 = 16;

/// Why an expansion stopped.
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
    let mut lx = Lexer {
        chars: word.chars().collect(),
        pos: 0,
        escape,
        env,
        raw_escapes: false,
        out: Expanded::default(),
        budget,
    };
    let value = lx.process_until(None, false)?;
    let mut out = std::mem::take(&mut lx.out);
    out.value = value;
    Ok(out)
}

struct Lexer<'a, 'e, 'b> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    env: &'a dyn Fn(&str) -> Option<&'e str>,
    raw_escapes: bool,
    out: Expanded,
    budget: &'b mut Budget,
}

/// Append `piece` to `result`, keeping the word within [`MAX_WORD_BYTES`] and charging the budget.
fn push_checked(result: &mut String, piece: &str, budget: &mut Budget) -> Result<(), ExpandError> {
    if result.len() + piece.len() > MAX_WORD_BYTES {
        return Err(ExpandError::WordTooLong);
    }
    budget.spend(piece.len())?;
    result.push_str(piece);
    Ok(())
}

impl<'a, 'e, 'b> Lexer<'a, 'e, 'b> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn lookup(&mut self, name: &str) -> Option<&'e str> {
        match (self.env)(name) {
            Some(v) => {
                if !self.out.matched.contains(name) {
                    self.out.matched.insert(name.to_string());
                }
                Some(v)
            }
            None => {
                if !self.out.unmatched.contains(name) {
                    self.out.unmatched.insert(name.to_string());
                }
                None
            }
        }
    }

    fn process_until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<String, ExpandError> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let r = self.process_until_inner(stop);
        self.raw_escapes = saved;
        r
    }

    fn process_until_inner(&mut self, stop: Option<char>) -> Result<String, ExpandError> {
        let mut result = String::new();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                return Ok(result);
            }
            match ch {
                '$' => {
                    let v = self.dollar()?;
                    push_checked(&mut result, &v, self.budget)?;
                }
                '\'' => {
                    let v = self.single_quote()?;
                    push_checked(&mut result, &v, self.budget)?;
                }
                '"' => {
                    let v = self.double_quote()?;
                    push_checked(&mut result, &v, self.budget)?;
                }
                _ => {
                    self.next();
                    if ch == self.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.next() {
                            Some(c) => result.push(c),
                            None => break,
                        }
                    } else {
                        result.push(ch);
                    }
                }
            }
        }
        if let Some(s) = stop {
            return Err(
                format!("unexpected end of statement while looking for matching {s}").into(),
            );
        }
        Ok(result)
    }

    fn single_quote(&mut self) -> Result<String, ExpandError> {
        self.next();
        let mut s = String::new();
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => return Ok(s),
                Some(c) => s.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, ExpandError> {
        self.next();
        let mut s = String::new();
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
                    return Ok(s);
                }
                Some('$') => {
                    let v = self.dollar()?;
                    push_checked(&mut s, &v, self.budget)?;
                }
                Some(_) => {
                    let mut ch = self.next().unwrap_or_default();
                    if ch == self.escape {
                        if self.raw_escapes {
                            s.push(ch);
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
                    s.push(ch);
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(d) = self.peek().filter(|c| c.is_ascii_digit()) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            name.push(ch);
            self.next();
        }
        name
    }

    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.lookup(&name).unwrap_or_default().to_string());
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            _ => {}
        }
        let name = self.name();
        let mut ch = self.next();
        let mut chs: String = ch.map(String::from).unwrap_or_default();
        let mut null_is_unset = false;
        if ch == Some('}') {
            return Ok(self.lookup(&name).unwrap_or_default().to_string());
        }
        if ch == Some(':') {
            null_is_unset = true;
            ch = self.next();
            if let Some(c) = ch {
                chs.push(c);
            }
        }
        match ch {
            Some(m @ ('+' | '-' | '?' | '#' | '%')) => {
                let raw = m == '#' || m == '%';
                if null_is_unset && raw {
                    return Err(format!("unsupported modifier ({chs}) in substitution").into());
                }
                let word = match self.process_until(Some('}'), raw) {
                    Ok(w) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '}'".into());
                        }
                        return Err(e);
                    }
                };
                let value = self.lookup(&name);
                let empty = value.map_or(true, str::is_empty);
                let unset = value.is_none() || (null_is_unset && empty);
                match m {
                    '-' => Ok(if unset {
                        word
                    } else {
                        value.unwrap_or_default().to_string()
                    }),
                    '+' => Ok(if unset { String::new() } else { word }),
                    '?' => {
                        if value.is_none() {
                            let msg = if word.is_empty() {
                                "is not allowed to be unset".to_string()
                            } else {
                                word
                            };
                            Err(format!("{name}: {msg}").into())
                        } else if null_is_unset && empty {
                            let msg = if word.is_empty() {
                                "is not allowed to be empty".to_string()
                            } else {
                                word
                            };
                            Err(format!("{name}: {msg}").into())
                        } else {
                            Ok(value.unwrap_or_default().to_string())
                        }
                    }
                    _ => {
                        let value = value.unwrap_or_default();
                        let (greedy, pat) = match word.strip_prefix(m) {
                            Some(rest) => (true, rest.to_string()),
                            None => (false, word),
                        };
                        if m == '%' {
                            trim_suffix(value, &pat, greedy, self.budget)
                        } else {
                            trim_prefix(value, &pat, greedy, self.budget)
                        }
                    }
                }
            }
            None => Err("syntax error: missing '}'".into()),
            Some(_) => Err(format!("unsupported modifier ({chs}) in substitution").into()),
        }
    }
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
}
