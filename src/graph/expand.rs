//! Shell-style word expansion as BuildKit's `shell.Lex.ProcessWord` does it for FROM
//! bases, `--platform` values and ARG defaults: quotes, the escape character, `$V`,
//! `${V}`, `${V:-x}`, `${V-x}`, `${V:+x}`, `${V+x}`, `${V:?msg}`, `${V?msg}`,
//! `${V#pat}`, `${V##pat}`, `${V%pat}`, `${V%%pat}`.

use std::collections::BTreeSet;

/// The result of expanding one word.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expanded {
    pub value: String,
    /// Variables referenced that had a value.
    pub matched: BTreeSet<String>,
    /// Variables referenced that had none.
    pub unmatched: BTreeSet<String>,
}

/// Expand `word` with variables from `env` (`None` = unset).
pub fn expand<'e>(
    word: &str,
    escape: char,
    env: &dyn Fn(&str) -> Option<&'e str>,
) -> Result<Expanded, String> {
    let mut lx = Lexer {
        chars: word.chars().collect(),
        pos: 0,
        escape,
        env,
        raw_escapes: false,
        out: Expanded::default(),
    };
    let value = lx.process_until(None, false)?;
    let mut out = std::mem::take(&mut lx.out);
    out.value = value;
    Ok(out)
}

struct Lexer<'a, 'e> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    env: &'a dyn Fn(&str) -> Option<&'e str>,
    raw_escapes: bool,
    out: Expanded,
}

impl<'a, 'e> Lexer<'a, 'e> {
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

    fn lookup(&mut self, name: &str) -> Option<String> {
        match (self.env)(name) {
            Some(v) => {
                self.out.matched.insert(name.to_string());
                Some(v.to_string())
            }
            None => {
                self.out.unmatched.insert(name.to_string());
                None
            }
        }
    }

    fn process_until(&mut self, stop: Option<char>, raw_escapes: bool) -> Result<String, String> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let r = self.process_until_inner(stop);
        self.raw_escapes = saved;
        r
    }

    fn process_until_inner(&mut self, stop: Option<char>) -> Result<String, String> {
        let mut result = String::new();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                return Ok(result);
            }
            match ch {
                '$' => result.push_str(&self.dollar()?),
                '\'' => result.push_str(&self.single_quote()?),
                '"' => result.push_str(&self.double_quote()?),
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
            return Err(format!(
                "unexpected end of statement while looking for matching {s}"
            ));
        }
        Ok(result)
    }

    fn single_quote(&mut self) -> Result<String, String> {
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

    fn double_quote(&mut self) -> Result<String, String> {
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
                Some('$') => s.push_str(&self.dollar()?),
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

    fn dollar(&mut self) -> Result<String, String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.lookup(&name).unwrap_or_default());
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
            return Ok(self.lookup(&name).unwrap_or_default());
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
                    return Err(format!("unsupported modifier ({chs}) in substitution"));
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
                let empty = value.as_deref().map_or(true, str::is_empty);
                let unset = value.is_none() || (null_is_unset && empty);
                match m {
                    '-' => Ok(if unset {
                        word
                    } else {
                        value.unwrap_or_default()
                    }),
                    '+' => Ok(if unset { String::new() } else { word }),
                    '?' => {
                        if value.is_none() {
                            let msg = if word.is_empty() {
                                "is not allowed to be unset".to_string()
                            } else {
                                word
                            };
                            Err(format!("{name}: {msg}"))
                        } else if null_is_unset && empty {
                            let msg = if word.is_empty() {
                                "is not allowed to be empty".to_string()
                            } else {
                                word
                            };
                            Err(format!("{name}: {msg}"))
                        } else {
                            Ok(value.unwrap_or_default())
                        }
                    }
                    _ => {
                        let value = value.unwrap_or_default();
                        let (greedy, pat) = match word.strip_prefix(m) {
                            Some(rest) => (true, rest.to_string()),
                            None => (false, word),
                        };
                        Ok(if m == '%' {
                            trim_suffix(&value, &pat, greedy)
                        } else {
                            trim_prefix(&value, &pat, greedy)
                        })
                    }
                }
            }
            None => Err("syntax error: missing '}'".into()),
            Some(_) => Err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }
}

/// Shell glob match of the whole `s` against `pat` (`*`, `?`, `\x` literal).
fn glob(pat: &[char], s: &[char]) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while i < s.len() {
        if p < pat.len() && pat[p] == '*' {
            star = Some(p);
            mark = i;
            p += 1;
            continue;
        }
        if p < pat.len() {
            let (lit, adv) = if pat[p] == '\\' && p + 1 < pat.len() {
                (Some(pat[p + 1]), 2)
            } else {
                (None, 1)
            };
            let ok = match lit {
                Some(c) => c == s[i],
                None => pat[p] == '?' || pat[p] == s[i],
            };
            if ok {
                p += adv;
                i += 1;
                continue;
            }
        }
        match star {
            Some(sp) => {
                p = sp + 1;
                mark += 1;
                i = mark;
            }
            None => return false,
        }
    }
    while p < pat.len() && pat[p] == '*' {
        p += 1;
    }
    p == pat.len()
}

fn trim_prefix(value: &str, pat: &str, greedy: bool) -> String {
    let v: Vec<char> = value.chars().collect();
    let p: Vec<char> = pat.chars().collect();
    let mut lens: Vec<usize> = (0..=v.len()).collect();
    if greedy {
        lens.reverse();
    }
    for n in lens {
        if glob(&p, &v[..n]) {
            return v[n..].iter().collect();
        }
    }
    value.to_string()
}

fn trim_suffix(value: &str, pat: &str, greedy: bool) -> String {
    let v: Vec<char> = value.chars().collect();
    let p: Vec<char> = pat.chars().collect();
    let mut starts: Vec<usize> = (0..=v.len()).rev().collect();
    if greedy {
        starts.reverse();
    }
    for s in starts {
        if glob(&p, &v[s..]) {
            return v[..s].iter().collect();
        }
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(word: &str, vars: &[(&str, &str)]) -> Result<String, String> {
        let env = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        expand(word, '\\', &env).map(|e| e.value)
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

    #[test]
    fn records_matched_and_unmatched() {
        let env = |k: &str| if k == "A" { Some("1") } else { None };
        let e = expand("$A-$B", '\\', &env).unwrap();
        assert_eq!(e.value, "1-");
        assert!(e.matched.contains("A") && e.unmatched.contains("B"));
    }
}
