//! The exec-form decision: what Go's `json.Unmarshal(rest, &[]any)` followed by BuildKit's
//! "every element must be a string" check decides, without recursion.

use super::gocompat::decode_rune;

/// Go's `encoding/json` nesting limit.
const MAX_DEPTH: usize = 10_000;

#[derive(Debug, PartialEq, Eq)]
pub enum JsonArray {
    /// A valid JSON array of strings (exec form).
    Strings(Vec<String>),
    /// Valid JSON, but an element is not a string: a hard error in BuildKit.
    NotStrings,
    /// Not valid JSON (or not an array): BuildKit falls back to the shell form.
    Invalid,
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
    overflow: bool,
}

impl<'a> Scan<'a> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\r' | b'\n') {
            self.i += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let h = self.b.get(at..at + 4)?;
        let mut v = 0u32;
        for &c in h {
            v = v * 16 + (c as char).to_digit(16)?;
        }
        Some(v)
    }

    /// A string starting at `"`; decoded into `out` when given.
    fn string(&mut self, mut out: Option<&mut String>) -> Result<(), ()> {
        self.i += 1;
        if let Some(o) = out.as_deref_mut() {
            o.reserve(
                self.b[self.i..]
                    .iter()
                    .position(|&c| c == b'"')
                    .unwrap_or(0),
            );
        }
        loop {
            let c = *self.b.get(self.i).ok_or(())?;
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(());
                }
                b'\\' => {
                    let e = *self.b.get(self.i + 1).ok_or(())?;
                    let simple = match e {
                        b'"' => Some('"'),
                        b'\\' => Some('\\'),
                        b'/' => Some('/'),
                        b'b' => Some('\u{8}'),
                        b'f' => Some('\u{c}'),
                        b'n' => Some('\n'),
                        b'r' => Some('\r'),
                        b't' => Some('\t'),
                        b'u' => None,
                        _ => return Err(()),
                    };
                    if let Some(ch) = simple {
                        if let Some(o) = out.as_deref_mut() {
                            o.push(ch);
                        }
                        self.i += 2;
                        continue;
                    }
                    let r = self.hex4(self.i + 2).ok_or(())?;
                    self.i += 6;
                    let ch = if (0xd800..0xe000).contains(&r) {
                        // Surrogate: combine with a following \uXXXX low surrogate, else U+FFFD.
                        let low = if self.b.get(self.i) == Some(&b'\\')
                            && self.b.get(self.i + 1) == Some(&b'u')
                        {
                            self.hex4(self.i + 2)
                        } else {
                            None
                        };
                        match low {
                            Some(lo)
                                if (0xd800..0xdc00).contains(&r)
                                    && (0xdc00..0xe000).contains(&lo) =>
                            {
                                self.i += 6;
                                char::from_u32(0x10000 + ((r - 0xd800) << 10) + (lo - 0xdc00))
                                    .unwrap_or('\u{fffd}')
                            }
                            _ => '\u{fffd}',
                        }
                    } else {
                        char::from_u32(r).unwrap_or('\u{fffd}')
                    };
                    if let Some(o) = out.as_deref_mut() {
                        o.push(ch);
                    }
                }
                c if c < 0x20 => return Err(()),
                c if c < 0x80 => {
                    // A run of plain ASCII: copied at once.
                    let run = self.b[self.i..]
                        .iter()
                        .position(|&c| !(0x20..0x80).contains(&c) || c == b'"' || c == b'\\')
                        .unwrap_or(self.b.len() - self.i);
                    if let Some(o) = out.as_deref_mut() {
                        let piece = &self.b[self.i..self.i + run];
                        o.push_str(std::str::from_utf8(piece).map_err(|_| ())?);
                    }
                    let _ = c;
                    self.i += run;
                }
                _ => {
                    let (ch, w) = decode_rune(&self.b[self.i..]);
                    if let Some(o) = out.as_deref_mut() {
                        o.push(ch);
                    }
                    self.i += w;
                }
            }
        }
    }

    fn digits(&mut self) -> usize {
        let s = self.i;
        while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
        self.i - s
    }

    fn number(&mut self) -> Result<(), ()> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(()),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(());
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(());
            }
        }
        // Go stores numbers in float64 and reports (after the syntax check) an error on overflow.
        let text = std::str::from_utf8(&self.b[start..self.i]).map_err(|_| ())?;
        if text.parse::<f64>().map_or(true, |v| v.is_infinite()) {
            self.overflow = true;
        }
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), ()> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(())
        }
    }
}

/// Decide like BuildKit's `parseJSON` (leading whitespace already allowed).
pub fn parse_string_array(input: &[u8]) -> JsonArray {
    let lead = super::gocompat::trim_left_len(input);
    let b = &input[lead..];
    if b.first() != Some(&b'[') {
        return JsonArray::Invalid;
    }
    let mut s = Scan {
        b,
        i: 0,
        overflow: false,
    };
    match run(&mut s) {
        Ok((strings, all_strings)) => {
            if s.overflow {
                JsonArray::Invalid
            } else if !all_strings {
                JsonArray::NotStrings
            } else {
                JsonArray::Strings(strings)
            }
        }
        Err(()) => JsonArray::Invalid,
    }
}

fn run(s: &mut Scan<'_>) -> Result<(Vec<String>, bool), ()> {
    // Containers opened inside the outermost array: true = array, false = object.
    // Empty (no allocation) while only the outermost array is open.
    let mut stack: Vec<bool> = Vec::new();
    let mut strings = Vec::new();
    let mut all_strings = true;
    s.i += 1; // the outermost '['
    let mut just_opened = true;
    loop {
        s.ws();
        let in_array = stack.last().copied().unwrap_or(true);
        if just_opened {
            let close = if in_array { b']' } else { b'}' };
            if s.peek() == Some(close) {
                s.i += 1;
                if stack.pop().is_none() {
                    break;
                }
                if !after_value(s, &mut stack)? {
                    break;
                }
                just_opened = false;
                continue;
            }
        }
        if !in_array {
            if s.peek() != Some(b'"') {
                return Err(());
            }
            s.string(None)?;
            s.ws();
            if s.peek() != Some(b':') {
                return Err(());
            }
            s.i += 1;
            s.ws();
        }
        let top_level = stack.is_empty();
        match s.peek().ok_or(())? {
            b'[' | b'{' => {
                let arr = s.peek() == Some(b'[');
                s.i += 1;
                if top_level {
                    all_strings = false;
                }
                stack.push(arr);
                if stack.len() + 1 > MAX_DEPTH {
                    return Err(());
                }
                just_opened = true;
                continue;
            }
            b'"' => {
                if top_level {
                    let mut out = String::new();
                    s.string(Some(&mut out))?;
                    strings.push(out);
                } else {
                    s.string(None)?;
                }
            }
            c => {
                match c {
                    b't' => s.literal(b"true")?,
                    b'f' => s.literal(b"false")?,
                    b'n' => s.literal(b"null")?,
                    b'-' | b'0'..=b'9' => s.number()?,
                    _ => return Err(()),
                }
                if top_level {
                    all_strings = false;
                }
            }
        }
        if !after_value(s, &mut stack)? {
            break;
        }
        just_opened = false;
    }
    s.ws();
    if s.i != s.b.len() {
        return Err(());
    }
    Ok((strings, all_strings))
}

/// After a value: consume `,` (returns true: another element follows) or closing
/// brackets (returns false when the outermost array closed).
fn after_value(s: &mut Scan<'_>, stack: &mut Vec<bool>) -> Result<bool, ()> {
    loop {
        s.ws();
        let in_array = stack.last().copied().unwrap_or(true);
        match s.peek() {
            Some(b',') => {
                s.i += 1;
                return Ok(true);
            }
            Some(b']') if in_array => {
                s.i += 1;
                if stack.pop().is_none() {
                    return Ok(false);
                }
            }
            Some(b'}') if !in_array => {
                s.i += 1;
                stack.pop();
            }
            _ => return Err(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> JsonArray {
        JsonArray::Strings(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn decisions() {
        assert_eq!(parse_string_array(br#"["a", "b"]"#), strs(&["a", "b"]));
        assert_eq!(parse_string_array(br#"  [ ]"#), strs(&[]));
        assert_eq!(
            parse_string_array(br#"["a\u00e9\ud83d\ude00\ud800x"]"#),
            strs(&["aé😀\u{fffd}x"])
        );
        assert_eq!(
            parse_string_array(br#"["a", ["b"]]"#),
            JsonArray::NotStrings
        );
        assert_eq!(parse_string_array(br#"["a", 1]"#), JsonArray::NotStrings);
        assert_eq!(
            parse_string_array(br#"["a", {"k": [1, 2]}, null]"#),
            JsonArray::NotStrings
        );
        assert_eq!(parse_string_array(br#"["a", 1e999]"#), JsonArray::Invalid);
        assert_eq!(parse_string_array(br#"['a']"#), JsonArray::Invalid);
        assert_eq!(parse_string_array(br#"["a""#), JsonArray::Invalid);
        assert_eq!(parse_string_array(br#"["a"] x"#), JsonArray::Invalid);
        assert_eq!(parse_string_array(br#"["a",]"#), JsonArray::Invalid);
        assert_eq!(parse_string_array(br#"[01]"#), JsonArray::Invalid);
        assert_eq!(parse_string_array(b"[\"a\tb\"]"), JsonArray::Invalid);
        assert_eq!(parse_string_array(br#"{"a": 1}"#), JsonArray::Invalid);
        let deep = "[".repeat(20_000);
        assert_eq!(parse_string_array(deep.as_bytes()), JsonArray::Invalid);
        let ok_deep = format!("[{}{}]", "[".repeat(100), "]".repeat(100));
        assert_eq!(
            parse_string_array(ok_deep.as_bytes()),
            JsonArray::NotStrings
        );
    }
}
