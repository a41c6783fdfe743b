//! Heredocs in instruction lines, as BuildKit's parser finds them (`heredocsFromLine`,
//! `ParseHeredoc` in `frontend/dockerfile/parser/parser.go`): the line is split into words by the
//! shell lexer ([`super::lex::process_words`]: quotes, escapes, `$…` kept as written, `<<` kept
//! with the blanks after it), and every word that starts with `<<` names a heredoc.

use super::lex::process_words;
use super::Heredoc;

/// BuildKit's `ParseHeredoc`: `^(\d*)<<(-?)\s*([^<]*)$` and the quote analysis.
pub fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, String> {
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    let Some(after) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, after) = match after.strip_prefix('-') {
        Some(a) => (true, a),
        None => (false, after),
    };
    let rest = after.trim_start_matches(['\t', '\n', '\u{c}', '\r', ' ']);
    if rest.contains('<') || rest.is_empty() {
        return Ok(None);
    }
    if is_plain(rest) {
        // Nothing the lexer would treat specially: one word, as written, expanded.
        let mut it = rest.split_whitespace();
        return Ok(match (it.next(), it.next()) {
            (Some(name), None) => Some(Heredoc {
                name: name.to_owned(),
                content: String::new(),
                expand: true,
                chomp,
            }),
            _ => None,
        });
    }
    let words = process_words(rest, false, false)?;
    if words.len() != 1 {
        return Ok(None);
    }
    let raw = process_words(rest, true, false)?;
    if raw.len() != words.len() {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    }
    let count = |s: &str| s.bytes().filter(|b| matches!(b, b'\'' | b'"')).count();
    let expand = count(&words[0]) == count(&raw[0]);
    Ok(Some(Heredoc {
        name: words.into_iter().next().unwrap_or_default(),
        content: String::new(),
        expand,
        chomp,
    }))
}

/// No quote, `$` or escape, and no BOM the lexer would skip: every character is literal.
fn is_plain(s: &str) -> bool {
    !s.starts_with('\u{feff}') && !s.bytes().any(|b| matches!(b, b'\'' | b'"' | b'$' | b'\\'))
}

/// The words `process_words(line, true, true)` yields for a [`is_plain`] line: each is a
/// contiguous piece of the line (whitespace splits, except right after `<<`).
fn plain_words(line: &str) -> Vec<&str> {
    let b = line.as_bytes();
    let mut words = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'<' {
            start.get_or_insert(i);
            if b.get(i + 1) == Some(&b'<') {
                i += 2;
                while matches!(b.get(i), Some(b'\t' | b'\r' | b' ')) {
                    i += 1;
                }
            } else {
                i += 1;
            }
            continue;
        }
        let c = line[i..].chars().next().unwrap_or(' ');
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                words.push(&line[s..i]);
            }
        } else {
            start.get_or_insert(i);
        }
        i += c.len_utf8();
    }
    if let Some(s) = start {
        words.push(&line[s..]);
    }
    words
}

/// BuildKit's `heredocsFromLine`: every heredoc word of an instruction line, in order.
pub fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, String> {
    let mut docs = Vec::new();
    if is_plain(line) {
        for w in plain_words(line) {
            if w.contains("<<") {
                if let Some(h) = parse_heredoc(w)? {
                    docs.push(h);
                }
            }
        }
        return Ok(docs);
    }
    let words = process_words(line, true, true).unwrap_or_default();
    for w in &words {
        if let Some(h) = parse_heredoc(w)? {
            docs.push(h);
        }
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(line: &str) -> Vec<String> {
        heredocs_from_line(line)
            .unwrap()
            .into_iter()
            .map(|h| h.name)
            .collect()
    }

    #[test]
    fn buildkit_heredocs_from_line() {
        assert_eq!(names("RUN <<EOF"), ["EOF"]);
        assert_eq!(names("RUN <<-EOF"), ["EOF"]);
        // The lexer only groups whitespace directly after `<<`, so `<<- EOF` splits into
        // `<<-` and `EOF` and is no heredoc (BuildKit's own test loops over an empty result).
        assert!(names("RUN <<- EOF").is_empty());
        assert_eq!(names("RUN << -EOF"), ["-EOF"]);
        assert_eq!(names("RUN <<'EOF'"), ["EOF"]);
        assert_eq!(names("RUN 4<<EOF"), ["EOF"]);
        assert_eq!(names("RUN <<EOF <<EOF2"), ["EOF", "EOF2"]);
        assert!(names("RUN '<<EOF'").is_empty());
        assert!(names("RUN \"<<EOF\"").is_empty());
        assert_eq!(names("RUN <<  EOF  > foo"), ["EOF"]);
        assert_eq!(names("RUN <<$EOF"), ["$EOF"]);
    }

    #[test]
    fn buildkit_parse_heredoc_helpers() {
        for src in [
            "<<EOF",
            "<<'EOF'",
            "<<\"EOF\"",
            "<<-EOF",
            "<<-'EOF'",
            "<<-\"EOF\"",
            "<<EO\"F\"",
            "<< EOF",
            "<<- EOF",
        ] {
            assert_eq!(parse_heredoc(src).unwrap().unwrap().name, "EOF", "{src}");
        }
        for src in ["<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""] {
            assert!(parse_heredoc(src).is_err(), "{src}");
        }
        for src in ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"] {
            assert_eq!(parse_heredoc(src).unwrap(), None, "{src}");
        }
    }

    #[test]
    fn expansion_flag() {
        let h = |s: &str| parse_heredoc(s).unwrap().unwrap();
        assert!(h("<<EOF").expand);
        assert!(!h("<<'EOF'").expand);
        assert!(!h("<<eo'f'").expand);
        assert_eq!(h("<<eo'f'").name, "eof");
        assert!(h("<<eo\\'f").expand);
        assert_eq!(h("<<eo\\'f").name, "eo'f");
        assert!(!h("<<'e'o\\'f").expand);
        assert_eq!(h("<<'one two'").name, "one two");
    }

    proptest::proptest! {
        #[test]
        fn plain_fast_path_matches_the_lexer(s in "[a-c0-9<\\- \t\r\u{a0}é]{0,24}") {
            if is_plain(&s) {
                let slow = process_words(&s, true, true).unwrap();
                let fast: Vec<String> = plain_words(&s).into_iter().map(str::to_owned).collect();
                proptest::prop_assert_eq!(&fast, &slow);
            }
        }

        #[test]
        fn plain_heredoc_words_match_the_lexer(s in "[0-9]{0,2}<<-?[ \t]{0,2}[a-cE<\t \u{a0}]{0,6}") {
            let fast = parse_heredoc(&s);
            // Force the lexer path by comparing against the quote analysis done by hand.
            // The generator always yields `digits << [-] ...`: strip exactly that prefix.
            let after = s.trim_start_matches(|c: char| c.is_ascii_digit()).strip_prefix("<<").unwrap_or_default();
            let rest = after.strip_prefix('-').unwrap_or(after).trim_start_matches(['\t', ' ']);
            if !rest.is_empty() && !rest.contains('<') {
                let words = process_words(rest, false, false).unwrap();
                let expected = if words.len() == 1 { Some(words[0].clone()) } else { None };
                proptest::prop_assert_eq!(fast.unwrap().map(|h| h.name), expected);
            } else {
                proptest::prop_assert_eq!(fast.unwrap(), None);
            }
        }
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let s = format!("RUN <<EOF {}", "${a:-".repeat(100_000));
        assert!(heredocs_from_line(&s).unwrap().is_empty());
    }
}
