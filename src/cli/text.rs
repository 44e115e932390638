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
