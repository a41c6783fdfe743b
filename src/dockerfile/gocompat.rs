//! Small re-implementations of the Go standard-library behaviours BuildKit's parser
//! relies on (`unicode.IsSpace`, `strings.TrimSpace`, `utf8.DecodeRune`, `strconv.Quote`,
//! `regexp.Split` with `[\t\v\f\r ]+`), so the parse and its dump match byte for byte.

/// `unicode.IsSpace`; identical to Rust's `char::is_whitespace` (both use White_Space).
#[inline]
pub fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// `unicode.IsSpace(rune(b))` for a single byte taken as a Latin-1 rune (what Go code
/// that indexes strings byte by byte ends up doing).
#[inline]
pub fn is_space_latin1(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xa0)
}

/// The `[\t\v\f\r ]` class of BuildKit's `reWhitespace`.
#[inline]
pub fn is_re_ws(b: u8) -> bool {
    matches!(b, b'\t' | 0x0b | 0x0c | b'\r' | b' ')
}

/// `utf8.DecodeRune`: the first rune and its width; `(U+FFFD, 1)` for invalid input.
/// `b` must not be empty.
#[inline(always)]
pub fn decode_rune(b: &[u8]) -> (char, usize) {
    let first = b[0];
    if first < 0x80 {
        return (first as char, 1);
    }
    decode_rune_slow(b)
}

#[inline(never)]
fn decode_rune_slow(b: &[u8]) -> (char, usize) {
    let s = &b[..b.len().min(4)];
    let valid = match std::str::from_utf8(s) {
        Ok(st) => st,
        Err(e) => std::str::from_utf8(&s[..e.valid_up_to()]).unwrap_or_default(),
    };
    match valid.chars().next() {
        Some(c) => (c, c.len_utf8()),
        None => ('\u{fffd}', 1),
    }
}

/// `utf8.DecodeLastRune`. `b` must not be empty.
#[inline]
fn decode_last_rune(b: &[u8]) -> (char, usize) {
    let last = b[b.len() - 1];
    if last < 0x80 {
        return (last as char, 1);
    }
    let lim = b.len().saturating_sub(4);
    let mut start = b.len() - 1;
    while start > lim && (b[start] & 0xc0) == 0x80 {
        start -= 1;
    }
    let (c, w) = decode_rune(&b[start..]);
    if start + w == b.len() {
        (c, w)
    } else {
        ('\u{fffd}', 1)
    }
}

/// `bytes.TrimLeftFunc(b, unicode.IsSpace)`, returning the number of bytes removed.
pub fn trim_left_len(b: &[u8]) -> usize {
    let mut i = 0;
    while i < b.len() {
        let (c, w) = decode_rune(&b[i..]);
        if !is_space(c) {
            break;
        }
        i += w;
    }
    i
}

/// `strings.TrimSpace` on bytes: the `(start, end)` range that remains.
pub fn trim_space_range(b: &[u8]) -> (usize, usize) {
    let start = trim_left_len(b);
    let mut end = b.len();
    while end > start {
        let (c, w) = decode_last_rune(&b[start..end]);
        if !is_space(c) {
            break;
        }
        end -= w;
    }
    (start, end)
}

#[cfg(test)]
pub fn trim_space(b: &[u8]) -> &[u8] {
    let (s, e) = trim_space_range(b);
    &b[s..e]
}

/// `regexp.MustCompile("[\t\v\f\r ]+").Split(s, n)` (n > 0 or n == -1 for all).
pub fn split_re_ws(s: &[u8], n: isize) -> Vec<&[u8]> {
    if n == 0 {
        return Vec::new();
    }
    if s.is_empty() {
        return vec![s];
    }
    let mut out = Vec::new();
    let mut beg = 0usize;
    let mut end = 0usize;
    let mut i = 0usize;
    while i < s.len() {
        if !is_re_ws(s[i]) {
            i += 1;
            continue;
        }
        let ms = i;
        while i < s.len() && is_re_ws(s[i]) {
            i += 1;
        }
        let me = i;
        if n > 0 && out.len() as isize == n - 1 {
            break;
        }
        end = ms;
        if me != 0 {
            out.push(&s[beg..end]);
        }
        beg = me;
    }
    if end != s.len() {
        out.push(&s[beg..]);
    }
    out
}

/// `strings.ToLower` (simple, per-rune case mapping).
pub fn to_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let mut it = c.to_lowercase();
        match (it.next(), it.next()) {
            (Some(l), None) => out.push(l),
            // Only U+0130 has a multi-rune full mapping; Go's simple mapping gives 'i'.
            (Some(l), Some(_)) => out.push(l),
            _ => out.push(c),
        }
    }
    out
}

/// An approximation of Go's `strconv.IsPrint` (exact for Latin-1; for the rest, separators,
/// format characters, private use and non-characters are non-printable, everything else is
/// treated as printable since we carry no table of unassigned code points).
fn is_print(c: char) -> bool {
    let u = c as u32;
    if u < 0x100 {
        return (0x20..0x7f).contains(&u) || (u >= 0xa1 && u != 0xad);
    }
    if c.is_whitespace() || c.is_control() {
        return false;
    }
    !matches!(u,
        0x0600..=0x0605 | 0x061c | 0x06dd | 0x070f | 0x0890..=0x0891 | 0x08e2 | 0x180e
        | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2064 | 0x2066..=0x206f
        | 0xd800..=0xdfff | 0xe000..=0xf8ff | 0xfdd0..=0xfdef | 0xfeff | 0xfff9..=0xfffb
        | 0x110bd | 0x110cd | 0x13430..=0x1343f | 0x1bca0..=0x1bca3 | 0x1d173..=0x1d17a
        | 0xe0001 | 0xe0020..=0xe007f | 0xf0000..=0x10ffff)
        && (u & 0xfffe) != 0xfffe
}

/// `strconv.Quote` appended to `out`.
pub fn quote_into(out: &mut String, s: &str) {
    use std::fmt::Write;
    out.reserve(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_print(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
}

pub fn quote(s: &str) -> String {
    let mut out = String::new();
    quote_into(&mut out, s);
    out
}

/// Bytes to a `String`, replacing invalid UTF-8 (only reachable through BuildKit's
/// byte-wise flag and HEALTHCHECK scanning of non-ASCII text).
pub fn lossy(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_like_go() {
        assert_eq!(quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(
            quote("\t\n\u{1}\u{7f}é\u{a0}\u{1F600}\u{200b}"),
            r#""\t\n\x01\x7fé\u00a0😀\u200b""#
        );
    }

    #[test]
    fn split_like_go() {
        assert_eq!(split_re_ws(b"a  b\tc", -1), vec![&b"a"[..], b"b", b"c"]);
        assert_eq!(split_re_ws(b"a  b\tc", 2), vec![&b"a"[..], b"b\tc"]);
        assert_eq!(split_re_ws(b"abc", 2), vec![&b"abc"[..]]);
        assert_eq!(split_re_ws(b"", 2), vec![&b""[..]]);
        assert_eq!(split_re_ws(b" a ", -1), vec![&b""[..], b"a", b""]);
    }

    #[test]
    fn trim_space_unicode() {
        assert_eq!(trim_space("\u{a0} x \u{3000}".as_bytes()), b"x");
        assert_eq!(trim_space(&[b' ', 0xff, b' ']), &[0xff]);
    }

    #[test]
    fn decode_invalid() {
        assert_eq!(decode_rune(&[0xc3]), ('\u{fffd}', 1));
        assert_eq!(decode_rune("é".as_bytes()), ('é', 2));
        assert_eq!(decode_rune(&[0xa0, b'x']), ('\u{fffd}', 1));
    }
}
