//! Comparing what the binary printed with what a document shows: the same placeholders in
//! both for what differs from run to run (times, ages, hashes), the user who ran it, and a
//! loose view of column padding.

/// The name this machine's binary records as the OS user (`root` of `root (uid 0)`): the
/// examples run as that user too, so that no `(os: ...)` follows the name in audit tables.
pub fn login_name() -> String {
    let db = super::fixture::TempDb::new();
    db.run(&["trip", "x", "--create", "--reason", "who am I"])
        .ok();
    let rows = db.run(&["--json", "audit"]).ok().json();
    let os = rows[0]["osUser"].as_str().expect("osUser").to_owned();
    os.split(" (uid ").next().unwrap_or(&os).to_owned()
}

/// `text` with what differs between runs replaced by placeholders of the same width, so that
/// the tables' alignment is still compared: times (`2026-11-28T20:34:39Z`), ages (`0s ago`,
/// `59s left`), the audit chain's hash and the WAL's size.
pub fn normalised(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let shape = |at: usize, pattern: &str| {
        pattern.len() <= b.len() - at
            && pattern.bytes().zip(&b[at..]).all(|(p, c)| match p {
                b'9' => c.is_ascii_digit(),
                p => p == *c,
            })
    };
    while i < b.len() {
        if shape(i, "9999-99-99T99:99:99Z") {
            out.push_str("YYYY-MM-DDThh:mm:ssZ");
            i += 20;
            continue;
        }
        if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            let rest = &text[i + digits..];
            if ["s ago", "s left", " bytes"]
                .iter()
                .any(|unit| rest.starts_with(unit))
                && !text[..i].ends_with("cooldown ")
            {
                out.push_str(&"N".repeat(digits));
                i += digits;
                continue;
            }
        }
        if b[i].is_ascii_hexdigit() {
            let hex = b[i..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
            if hex == 64 {
                out.push_str("<sha-256>");
                i += hex;
                continue;
            }
        }
        let c = text[i..].chars().next().expect("a character");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// `text` printed for the user `login`, as if for `shown`: the name as a table cell (between
/// column gaps, or last on its line), so that the same word elsewhere stays.
pub fn as_user(text: &str, login: &str, shown: &str) -> String {
    text.lines()
        .map(|line| {
            let mut line = format!("{line}\n");
            for end in ["  ", "\n"] {
                line = line.replace(&format!("  {login}{end}"), &format!("  {shown}{end}"));
            }
            line
        })
        .collect()
}

/// Column gaps as one gap, rules as one rule, no blanks at line ends (a user's name of
/// another length pads a column differently; every word and line is still compared).
pub fn loosely(text: &str) -> String {
    text.lines()
        .map(|line| {
            let mut out = String::new();
            let mut spaces = 0;
            for c in line.trim_end().chars() {
                match c {
                    ' ' => spaces += 1,
                    '─' if out.ends_with('─') => {}
                    c => {
                        out.push_str(match spaces {
                            0 => "",
                            1 => " ",
                            _ => "  ",
                        });
                        spaces = 0;
                        out.push(c);
                    }
                }
            }
            out + "\n"
        })
        .collect()
}

/// What a terminal shows of `bytes`: no escape sequences (cursor moves, line clearing), no
/// carriage returns.
pub fn plain(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    // Parameters, then one final byte.
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_keeps_widths_and_what_does_not_vary() {
        let line = " 2026-12-01T21:47:20Z (12s ago)  draftkings  cooldown 60s, 59s left; 3 rows";
        assert_eq!(
            normalised(line),
            " YYYY-MM-DDThh:mm:ssZ (NNs ago)  draftkings  cooldown 60s, NNs left; 3 rows"
        );
        assert_eq!(
            normalised("wal size  ok  4152 bytes"),
            "wal size  ok  NNNN bytes"
        );
        assert_eq!(
            normalised(&format!("newest hash {}", "ab12".repeat(16))),
            "newest hash <sha-256>"
        );
        assert_eq!(normalised("schema version 3"), "schema version 3");
        assert_eq!(
            loosely(" ────\n a   b    c \n"),
            loosely(" ──────────\n a  b  c\n")
        );
        assert_ne!(
            loosely("a b"),
            loosely("a  b"),
            "a space in a cell is not a gap"
        );
        assert_eq!(
            as_user(
                " TRIP  root  why\n reset by  root\n ./data/root.db\n",
                "root",
                "dana"
            ),
            " TRIP  dana  why\n reset by  dana\n ./data/root.db\n"
        );
    }
}
