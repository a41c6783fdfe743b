//! Diagnostics shared by every layer: a location in a file, rendered as
//! `file:line:col`, the offending line, and a caret under the column.

use std::fmt;

/// A 1-based line and column (column counted in characters) in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
pub struct Span {
    pub line: usize,
    pub col: usize,
}

/// A located message: rendered by [`Diagnostic::render`] like a compiler error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub span: Span,
    pub message: String,
    /// Optional "help: ..." line (e.g. a "did you mean" suggestion).
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            span,
            message: message.into(),
            help: None,
        }
    }
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    /// `file:line:col: <level>: message`, then the source line and a caret. A line longer than
    /// [`MAX_ECHO_CHARS`] is shown as a window around the column (`…` marks the cuts), and a
    /// message or help longer than [`MAX_MESSAGE_CHARS`] is cut, so a 200 KB line is never
    /// echoed whole.
    pub fn render(&self, level: &str, file: &str, source: &str) -> String {
        let mut out = format!(
            "{file}:{}:{}: {level}: {}\n",
            self.span.line,
            self.span.col,
            truncate(&self.message, MAX_MESSAGE_CHARS)
        );
        if let Some(full) = source_line(source, self.span.line) {
            let gutter = self.span.line.to_string();
            let pad = " ".repeat(gutter.len());
            let (text, caret_col) = window(full, self.span.col.max(1) - 1);
            let text = text.as_str();
            out.push_str(&format!("{pad} |\n{gutter} | {text}\n"));
            let prefix: String = text
                .chars()
                .take(caret_col)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            out.push_str(&format!("{pad} | {prefix}^\n"));
        }
        if let Some(help) = &self.help {
            out.push_str(&format!(
                "  = help: {}\n",
                truncate(help, MAX_MESSAGE_CHARS)
            ));
        }
        out
    }
}

/// Longest source line echoed whole under a diagnostic.
pub const MAX_ECHO_CHARS: usize = 160;
/// Longest message or help printed whole.
pub const MAX_MESSAGE_CHARS: usize = 500;

/// `s` cut to `max` characters, with `…` when cut.
pub fn truncate(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(s),
        Some((i, _)) => std::borrow::Cow::Owned(format!("{}…", &s[..i])),
    }
}

/// The part of `line` to echo and the caret's column (0-based, in characters) within it.
fn window(line: &str, col0: usize) -> (String, usize) {
    let n = line.chars().count();
    if n <= MAX_ECHO_CHARS {
        return (line.to_string(), col0);
    }
    let start = col0.min(n).saturating_sub(MAX_ECHO_CHARS / 2);
    let end = (start + MAX_ECHO_CHARS).min(n);
    let mut text = String::new();
    let mut caret = col0 - start.min(col0);
    if start > 0 {
        text.push('…');
        caret += 1;
    }
    text.extend(line.chars().skip(start).take(end - start));
    if end < n {
        text.push('…');
    }
    (text, caret)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.span.line, self.span.col, self.message)?;
        if let Some(h) = &self.help {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

/// The 1-based `line` of `source` without its line ending (BOM stripped on line 1).
pub fn source_line(source: &str, line: usize) -> Option<&str> {
    if line == 0 {
        return None;
    }
    let src = source.strip_prefix('\u{feff}').unwrap_or(source);
    src.split('\n')
        .nth(line - 1)
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
}

/// The candidate closest to `name` by edit distance, if it is close enough to be a likely typo.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = edit_distance(&name, &c.to_ascii_lowercase());
        let limit = (name.chars().count().max(c.chars().count()) / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Optimal-string-alignment distance: edits plus adjacent transpositions (`bsae` → `base` is 1).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rolling rows (i-2, i-1, i) instead of the whole matrix.
    let mut prev2 = vec![0usize; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0usize; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_under_column() {
        let src = "FROM a\nCOPY --from=bse /x /y\n";
        let d = Diagnostic::new(Span { line: 2, col: 6 }, "no such stage")
            .with_help("did you mean `base`?");
        let r = d.render("error", "Dockerfile", src);
        assert_eq!(
            r,
            "Dockerfile:2:6: error: no such stage\n  |\n2 | COPY --from=bse /x /y\n  |      ^\n  = help: did you mean `base`?\n"
        );
    }

    /// Section 4: a 200 KB line is echoed as a window around the caret, not whole.
    #[test]
    fn long_lines_are_echoed_as_a_window() {
        let line = format!("{}X{}", "a".repeat(100_000), "b".repeat(100_000));
        let d = Diagnostic::new(
            Span {
                line: 1,
                col: 100_001,
            },
            "m".repeat(10_000),
        );
        let r = d.render("error", "f", &line);
        assert!(r.len() < 2_000, "{} bytes", r.len());
        let lines: Vec<&str> = r.lines().collect();
        let src = lines[2].strip_prefix("1 | ").unwrap();
        let caret = lines[3].strip_prefix("  | ").unwrap();
        assert!(src.starts_with('…') && src.ends_with('…'), "{src}");
        let at = caret.chars().count() - 1;
        assert_eq!(src.chars().nth(at), Some('X'), "caret under the column");
        assert!(lines[0].ends_with('…'));
    }

    #[test]
    fn suggestion_picks_nearest() {
        assert_eq!(suggest("bsae", ["base", "app1", "builder"]), Some("base"));
        assert_eq!(suggest("zzzzzz", ["base", "app1"]), None);
        assert_eq!(edit_distance("bsae", "base"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("ca", "abc"), 3);
    }
}
