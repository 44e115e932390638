//! Rendering in one place: tables, JSON, escaping of untrusted text, color, relative times.

use super::settings::{ColorChoice, OutputFormat};
use super::text::is_dangerous;
pub use super::text::{escape, is_printable, shorten};
use crate::breaker::BookmakerStatus;
use crate::machine::{BreakerState, fmt_count};
use crate::storage::AuditRecord;
use comfy_table::{Cell, Color, ContentArrangement, Table, presets};
use std::io::{IsTerminal, Write};

/// How output looks, resolved once from the flags and the environment.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub format: OutputFormat,
    pub color: bool,
    pub terminal: bool,
}

impl Style {
    pub fn resolve(format: OutputFormat, json: bool, color: ColorChoice) -> Style {
        let terminal = std::io::stdout().is_terminal();
        let format = if json { OutputFormat::Json } else { format };
        let env_set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                if env_set("NO_COLOR") {
                    false
                } else if std::env::var("CLICOLOR_FORCE").is_ok_and(|v| v != "0" && !v.is_empty()) {
                    true
                } else {
                    terminal
                }
            }
        };
        Style {
            format,
            color,
            terminal,
        }
    }

    pub fn json(&self) -> bool {
        self.format == OutputFormat::Json
    }
}

/// "12s ago", "3m ago", "2h ago", "4d ago"; "in 5s" for a time in the future.
pub fn relative(ms: i64, now: i64) -> String {
    let delta = now.saturating_sub(ms);
    let (future, secs) = if delta < 0 {
        (true, (-delta) / 1000)
    } else {
        (false, delta / 1000)
    };
    let amount = match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    };
    if future {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// An absolute time in UTC, RFC 3339 to the second.
pub fn timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| format!("{ms}ms"))
}

fn state_color(state: BreakerState) -> Color {
    match state {
        BreakerState::Closed => Color::Green,
        BreakerState::Open => Color::Red,
        BreakerState::HalfOpen => Color::Yellow,
        BreakerState::ForcedOpen => Color::Magenta,
    }
}

/// A state word, colored for prose when color is on.
pub fn state_word(state: BreakerState, style: &Style) -> String {
    use owo_colors::OwoColorize;
    if !style.color {
        return state.as_str().to_owned();
    }
    match state {
        BreakerState::Closed => state.as_str().green().to_string(),
        BreakerState::Open => state.as_str().red().bold().to_string(),
        BreakerState::HalfOpen => state.as_str().yellow().to_string(),
        BreakerState::ForcedOpen => state.as_str().magenta().bold().to_string(),
    }
}

/// On a terminal: a rule above, below and under the header; no lines between rows.
const TERMINAL_TABLE: comfy_table::TableStyle = comfy_table::TableStyle::new()
    .top_border(comfy_table::LineStyle::none().fill('─').junction('─'))
    .header_separator(comfy_table::LineStyle::none().fill('─').junction('─'))
    .bottom_border(comfy_table::LineStyle::none().fill('─').junction('─'));

/// A table in the project's one style: ruled on a terminal, plain aligned columns otherwise.
pub fn new_table(style: &Style, header: &[&str]) -> Table {
    let mut table = Table::new();
    if style.terminal {
        table
            .load_style(TERMINAL_TABLE)
            .set_content_arrangement(ContentArrangement::Dynamic);
    } else {
        // Plain aligned columns for grep and awk.
        table.load_style(presets::NOTHING);
    }
    if style.color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table.set_header(header.iter().map(|h| Cell::new(*h)));
    table
}

fn opt_ms_relative(ms: Option<i64>, now: i64) -> String {
    ms.map(|m| relative(m, now))
        .unwrap_or_else(|| "-".to_owned())
}

fn latency(ms: Option<f64>) -> String {
    ms.map(|l| format!("{l:.1}ms"))
        .unwrap_or_else(|| "-".to_owned())
}

/// `status-all` as a table: open breakers first, then by name (the caller sorts).
pub fn status_table(rows: &[BookmakerStatus], now: i64, style: &Style) -> String {
    let mut table = new_table(
        style,
        &[
            "BOOKMAKER",
            "STATE",
            "FAILURES",
            "LAST ERROR",
            "AVG LATENCY",
            "LAST FAILURE",
            "TRIPS",
            "LAST RESET",
        ],
    );
    for s in rows {
        let mut state = Cell::new(s.state.as_str());
        if style.color {
            state = state.fg(state_color(s.state));
        }
        let last_reset = match s.last_reset_at {
            None => "-".to_owned(),
            Some(at) => format!(
                "{} by {}{}",
                relative(at, now),
                shorten(s.last_reset_by.as_deref().unwrap_or("?"), 24),
                s.last_reset_reason
                    .as_deref()
                    .map(|r| format!(": {}", shorten(r, 32)))
                    .unwrap_or_default()
            ),
        };
        table.add_row(vec![
            Cell::new(escape(&s.bookmaker)),
            state,
            Cell::new(format!(
                "{}/{}",
                fmt_count(s.failures),
                fmt_count(s.failure_threshold)
            )),
            Cell::new(
                s.last_error
                    .as_deref()
                    .map(|e| shorten(e, 40))
                    .unwrap_or_else(|| "-".to_owned()),
            ),
            Cell::new(latency(s.avg_latency)),
            Cell::new(opt_ms_relative(s.last_failure_at, now)),
            Cell::new(s.trip_count),
            Cell::new(last_reset),
        ]);
    }
    table.to_string()
}

/// `status NAME`: one breaker, field by field, whole values (escaped).
pub fn status_detail(s: &BookmakerStatus, now: i64, style: &Style) -> String {
    let when = |ms: Option<i64>| {
        ms.map(|m| format!("{} ({})", timestamp(m), relative(m, now)))
            .unwrap_or_else(|| "-".to_owned())
    };
    let text = |v: Option<&str>| {
        v.map(|v| escape(v).into_owned())
            .unwrap_or_else(|| "-".to_owned())
    };
    let mut lines = vec![
        ("bookmaker", escape(&s.bookmaker).into_owned()),
        ("state", state_word(s.state, style)),
        (
            "failures",
            format!(
                "{} / {}",
                fmt_count(s.failures),
                fmt_count(s.failure_threshold)
            ),
        ),
        ("last error", text(s.last_error.as_deref())),
        ("last failure", when(s.last_failure_at)),
        ("avg latency", latency(s.avg_latency)),
        ("trips", s.trip_count.to_string()),
    ];
    if s.tripped {
        lines.push(("tripped", when(s.tripped_at)));
    }
    if s.probe_in_flight {
        lines.push(("probe", "in flight".to_owned()));
    }
    lines.push(("last reset", when(s.last_reset_at)));
    lines.push(("reset by", text(s.last_reset_by.as_deref())));
    lines.push(("reset reason", text(s.last_reset_reason.as_deref())));
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    lines
        .iter()
        .map(|(k, v)| format!("{k:>width$}  {v}\n"))
        .collect()
}

/// Audit rows as a table.
pub fn audit_table(rows: &[AuditRecord], now: i64, style: &Style) -> String {
    let mut table = new_table(
        style,
        &[
            "ID",
            "WHEN",
            "BOOKMAKER",
            "ACTION",
            "USER",
            "FORCED",
            "STATE",
            "REASON",
        ],
    );
    for r in rows {
        let when = r
            .timestamp
            .map(|t| format!("{} ({})", timestamp(t), relative(t, now)))
            .unwrap_or_else(|| "-".to_owned());
        let state = match (&r.state_before, &r.state_after) {
            (Some(b), Some(a)) => format!("{} -> {}", escape(b), escape(a)),
            _ => "-".to_owned(),
        };
        table.add_row(vec![
            Cell::new(r.id),
            Cell::new(when),
            Cell::new(shorten(r.bookmaker.as_deref().unwrap_or("-"), 40)),
            Cell::new(shorten(r.action.as_deref().unwrap_or("-"), 16)),
            Cell::new(shorten(&audit_user(r), 40)),
            Cell::new(if r.forced { "yes" } else { "" }),
            Cell::new(state),
            Cell::new(shorten(r.reason.as_deref().unwrap_or(""), 60)),
        ]);
    }
    table.to_string()
}

/// Who acted, as the audit table shows it: the claimed user, and the OS user who really ran
/// the command when that is someone else ("alice (os: root)").
pub fn audit_user(r: &AuditRecord) -> String {
    let claimed = r.user.as_deref().unwrap_or("-");
    let os_name = r
        .os_user
        .as_deref()
        .map(|os| os.split(" (uid ").next().unwrap_or(os));
    match os_name {
        Some(os) if os != claimed => format!("{claimed} (os: {os})"),
        _ => claimed.to_owned(),
    }
}

/// Writes one JSON document and a newline (see `to_json`).
pub fn write_json(out: &mut dyn Write, value: &impl serde::Serialize) -> std::io::Result<()> {
    let text = to_json(value).map_err(std::io::Error::from)?;
    writeln!(out, "{text}")
}

/// Pretty JSON in which every character `escape` would rewrite (DEL, C1 controls, bidi
/// overrides, zero-width characters) is written as a `\uXXXX` escape. The JSON value is the
/// same; only a terminal showing it can no longer be misled.
pub fn to_json(value: &impl serde::Serialize) -> serde_json::Result<String> {
    let mut buf = Vec::new();
    let formatter = SafeJson(serde_json::ser::PrettyFormatter::new());
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut buf, formatter,
    ))?;
    // serde_json writes UTF-8 only.
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// One JSON document on one line, escaped as `to_json` escapes (for error reports on stderr).
pub fn to_json_line(value: &impl serde::Serialize) -> serde_json::Result<String> {
    let mut buf = Vec::new();
    let formatter = SafeJson(serde_json::ser::CompactFormatter);
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut buf, formatter,
    ))?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// A serde_json formatter that also escapes what `is_dangerous` names (DEL, C1, bidi, ...).
struct SafeJson<F>(F);

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for SafeJson<F> {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_dangerous(c) {
                w.write_all(&fragment.as_bytes()[start..i])?;
                // Every dangerous character is in the Basic Multilingual Plane.
                write!(w, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// Writes a line of prose; untrusted parts must already be escaped.
pub fn line(out: &mut dyn Write, text: &str) -> std::io::Result<()> {
    writeln!(out, "{text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_characters() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape("a\x1b[31mred"), "a\\x1b[31mred");
        assert_eq!(escape("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(escape("line\nbreak\t"), "line\\nbreak\\t");
        assert_eq!(
            escape("\u{7f}\u{85}\u{200b}\u{feff}"),
            "\\x7f\\u{85}\\u{200b}\\u{feff}"
        );
        assert_eq!(escape("naïve café ✓"), "naïve café ✓");
    }

    #[test]
    fn relative_times() {
        assert_eq!(relative(0, 12_000), "12s ago");
        assert_eq!(relative(0, 180_000), "3m ago");
        assert_eq!(relative(0, 7_200_000), "2h ago");
        assert_eq!(relative(0, 4 * 86_400_000), "4d ago");
        assert_eq!(relative(5_000, 0), "in 5s");
    }

    #[test]
    fn shortens_after_escaping() {
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("\x1b\x1b", 40), "\\x1b\\x1b");
    }
}
