//! Untrusted text on its way to a terminal: every string from the store or the user passes
//! through `escape` before it is printed.

use std::borrow::Cow;

/// Whether a character must not reach a terminal raw: C0, DEL, C1, bidi controls, zero-width.
pub fn is_dangerous(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{061c}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
}

/// Whether `s` can reach a terminal as it is: nothing in it that `escape` would rewrite.
/// Names offered for completion must pass this (a candidate is printed, and typed back, raw).
pub fn is_printable(s: &str) -> bool {
    !s.chars().any(is_dangerous)
}

/// Untrusted text made safe to print: control characters become visible escapes (`\x1b`,
/// `\n`, `\u{202e}`); everything else is unchanged.
pub fn escape(s: &str) -> Cow<'_, str> {
    if is_printable(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_dangerous(c) && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if is_dangerous(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Escapes, then shortens to `max` characters with an ellipsis.
pub fn shorten(s: &str, max: usize) -> String {
    let escaped = escape(s);
    if escaped.chars().count() <= max {
        return escaped.into_owned();
    }
    let mut out: String = escaped.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A stored name as it is shown and typed: valid UTF-8 is escaped as `escape` does, and each
/// byte that is not valid UTF-8 becomes `\xNN` (so `badbyte\xff`, where a lossy reading would
/// show `badbyte\u{fffd}`, which addresses nothing).
pub fn escape_bytes(raw: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(raw) {
        return escape(s);
    }
    let mut out = String::with_capacity(raw.len() + 8);
    for chunk in raw.utf8_chunks() {
        out.push_str(&escape(chunk.valid()));
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    Cow::Owned(out)
}

/// The bytes an escaped name stands for: the inverse of `escape` and `escape_bytes` (`\xNN`,
/// `\u{H..}`, `\n`, `\r`, `\t`). `None` when `s` holds no escape: it stands for itself. Any
/// other backslash is kept as it is.
pub fn unescape(s: &str) -> Option<Vec<u8>> {
    if !s.contains('\\') {
        return None;
    }
    let mut out = Vec::with_capacity(s.len());
    let mut escaped = false;
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.extend_from_slice(&rest.as_bytes()[..i]);
        let after = &rest[i + 1..];
        let (bytes, used): (Vec<u8>, usize) = match after.as_bytes().first() {
            Some(b'n') => (vec![b'\n'], 1),
            Some(b'r') => (vec![b'\r'], 1),
            Some(b't') => (vec![b'\t'], 1),
            Some(b'x') => match after.get(1..3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(b) if after[1..3].bytes().all(|c| c.is_ascii_hexdigit()) => (vec![b], 3),
                _ => (Vec::new(), 0),
            },
            Some(b'u') if after[1..].starts_with('{') => {
                let code = after[2..].split_once('}').and_then(|(hex, _)| {
                    (!hex.is_empty()
                        && hex.len() <= 6
                        && hex.bytes().all(|c| c.is_ascii_hexdigit()))
                    .then(|| u32::from_str_radix(hex, 16).ok().and_then(char::from_u32))
                    .flatten()
                    .map(|c| (c, hex.len()))
                });
                match code {
                    Some((c, len)) => (c.to_string().into_bytes(), len + 3),
                    None => (Vec::new(), 0),
                }
            }
            _ => (Vec::new(), 0),
        };
        if used == 0 {
            out.push(b'\\');
            rest = after;
        } else {
            escaped = true;
            out.extend_from_slice(&bytes);
            rest = &after[used..];
        }
    }
    out.extend_from_slice(rest.as_bytes());
    escaped.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_names_round_trip_to_their_bytes() {
        let cases: [&[u8]; 6] = [
            b"badbyte\xff",
            b"\xfe\xffx\xc3",
            b"pi\x1b[2J",
            "pi\u{202e}nnacle".as_bytes(),
            b"tab\there\nnl",
            b"caf\xc3\xa9\xff",
        ];
        for raw in cases {
            let shown = escape_bytes(raw);
            assert!(is_printable(&shown), "{shown}");
            assert_eq!(unescape(&shown).as_deref(), Some(raw), "{shown}");
        }
        assert_eq!(escape_bytes(b"badbyte\xff"), "badbyte\\xff");
        assert_eq!(escape_bytes(b"plain"), "plain");
    }

    #[test]
    fn unescape_leaves_other_backslashes_alone() {
        assert_eq!(unescape("plain"), None);
        assert_eq!(unescape(r"a\b"), None);
        assert_eq!(unescape(r"a\xZZ"), None);
        assert_eq!(unescape(r"a\u{110000}"), None);
        assert_eq!(unescape(r"a\\xff").as_deref(), Some(&b"a\\\xff"[..]));
        assert_eq!(unescape(r"\x41\u{42}").as_deref(), Some(&b"AB"[..]));
    }
}
