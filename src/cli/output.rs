//! Rendering in one place: tables, JSON, escaping of untrusted text, color, relative times.

use super::settings::{ColorChoice, OutputFormat};
use super::table::{Cell, Column, Layout, Paint, Table};
use super::text::is_dangerous;
pub use super::text::{escape, is_printable, shorten};
use crate::breaker::BookmakerStatus;
use crate::machine::{BreakerState, fmt_count};
use crate::storage::AuditRecord;
use std::io::{IsTerminal, Write};

/// How output looks, resolved once from the flags and the environment.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub format: OutputFormat,
    pub color: bool,
    pub terminal: bool,
    /// The screen's width that tables fit (see `screen_size`); `None`: not fitted.
    pub width: Option<usize>,
}

/// Width and height used when stdout is a terminal that does not say its size.
pub const DEFAULT_SCREEN: (usize, usize) = (80, 24);

/// The screen output goes to, as (columns, lines): `COLUMNS` and `LINES` when set to a
/// number (as `ls` and curses do, so that a pipe can ask for a width too), else the
/// terminal's own size when stdout is one (80 x 24 when it does not say), else unknown.
pub fn screen_size(terminal: bool) -> (Option<usize>, Option<usize>) {
    let from_env = |k: &str| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
    };
    let tty = terminal
        .then(|| terminal_size::terminal_size_of(std::io::stdout()))
        .map(|size| {
            size.map_or(DEFAULT_SCREEN, |(w, h)| {
                (usize::from(w.0), usize::from(h.0))
            })
        });
    (
        from_env("COLUMNS").or(tty.map(|t| t.0)),
        from_env("LINES").or(tty.map(|t| t.1)),
    )
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
            width: screen_size(terminal).0,
        }
    }

    pub fn json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// How tables are drawn: fitted to the width, ruled on a terminal, colored when wanted.
    pub fn layout(&self) -> Layout {
        Layout {
            width: self.width,
            ruled: self.terminal,
            color: self.color,
        }
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

fn state_paint(state: BreakerState) -> Paint {
    match state {
        BreakerState::Closed => Paint::Green,
        BreakerState::Open => Paint::Red,
        BreakerState::HalfOpen => Paint::Yellow,
        BreakerState::ForcedOpen => Paint::Magenta,
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

fn opt_ms_relative(ms: Option<i64>, now: i64) -> String {
    ms.map(|m| relative(m, now))
        .unwrap_or_else(|| "-".to_owned())
}

fn latency(ms: Option<f64>) -> String {
    ms.map(|l| format!("{l:.1}ms"))
        .unwrap_or_else(|| "-".to_owned())
}

/// `status-all` as a table: open breakers first, then by name (the caller sorts).
pub fn status_table(rows: &[BookmakerStatus], now: i64) -> Table {
    // LAST ERROR keeps a third of the screen before columns are hidden: LAST RESET, AVG
    // LATENCY, TRIPS, LAST FAILURE, FAILURES, in that order. At 80 columns that leaves
    // BOOKMAKER, STATE, FAILURES, LAST ERROR and LAST FAILURE for names of ordinary length.
    let mut table = Table::new(vec![
        Column::whole("BOOKMAKER"),
        Column::whole("STATE"),
        Column::whole("FAILURES").hide(5),
        Column::free("LAST ERROR", 20, Some(40)).share(3),
        Column::whole("AVG LATENCY").hide(2),
        Column::whole("LAST FAILURE").hide(4),
        Column::whole("TRIPS").hide(3),
        Column::free("LAST RESET", 10, Some(64)).hide(1),
    ]);
    for s in rows {
        let last_reset = match s.last_reset_at {
            None => Cell::new("-"),
            // The time and who are never cut; the reason is.
            Some(at) => Cell::keeping(
                &format!(
                    "{} by {}",
                    relative(at, now),
                    shorten(s.last_reset_by.as_deref().unwrap_or("?"), 24)
                ),
                &s.last_reset_reason
                    .as_deref()
                    .map(|r| format!(": {}", escape(r)))
                    .unwrap_or_default(),
            ),
        };
        table.push(vec![
            Cell::new(&s.bookmaker),
            Cell::new(s.state.as_str()).paint(state_paint(s.state)),
            Cell::new(format!(
                "{}/{}",
                fmt_count(s.failures),
                fmt_count(s.failure_threshold)
            )),
            Cell::new(s.last_error.as_deref().unwrap_or("-")),
            Cell::new(latency(s.avg_latency)),
            Cell::new(opt_ms_relative(s.last_failure_at, now)),
            Cell::new(s.trip_count.to_string()),
            last_reset,
        ]);
    }
    table
}

/// What one frame of `status-all --watch` shows.
pub struct WatchInfo<'a> {
    /// Sorted for display: open breakers first.
    pub rows: &'a [BookmakerStatus],
    pub now: i64,
    /// The local time of this refresh, `14:03:07`.
    pub refreshed: String,
    pub tripped_only: bool,
    /// What to say when there are no rows.
    pub empty: &'a str,
}

/// "12 breakers, 2 open, 1 half_open": the rows and how many are in each state but closed.
pub fn state_counts(rows: &[BookmakerStatus], tripped_only: bool) -> String {
    let n = rows.len();
    let mut parts = vec![match (tripped_only, n) {
        (true, _) => format!("{n} tripped"),
        (false, 1) => "1 breaker".to_owned(),
        (false, _) => format!("{n} breakers"),
    }];
    for state in [
        BreakerState::Open,
        BreakerState::ForcedOpen,
        BreakerState::HalfOpen,
    ] {
        let count = rows.iter().filter(|r| r.state == state).count();
        if count > 0 {
            parts.push(format!("{count} {}", state.as_str()));
        }
    }
    if n > 0 && rows.iter().all(|r| r.state == BreakerState::Closed) {
        parts.push("all closed".to_owned());
    }
    parts.join(", ")
}

/// "... 7 more closed", or "... 9 more: 2 open, 7 closed" when not only closed ones are left.
fn more_note(hidden: &[BookmakerStatus]) -> String {
    let n = hidden.len();
    if hidden.iter().all(|r| r.state == BreakerState::Closed) {
        return format!("... {n} more closed");
    }
    let counts: Vec<String> = [
        BreakerState::Open,
        BreakerState::ForcedOpen,
        BreakerState::HalfOpen,
        BreakerState::Closed,
    ]
    .iter()
    .filter_map(|&state| {
        let c = hidden.iter().filter(|r| r.state == state).count();
        (c > 0).then(|| format!("{c} {}", state.as_str()))
    })
    .collect();
    format!("... {n} more: {}", counts.join(", "))
}

/// One frame of `status-all --watch` for a screen of `width` x `height`: a line with the
/// counts and the time of the refresh, then the table with as many breakers as fit (in the
/// order given: open ones first) and "... N more closed" for the rest. At most `height`
/// lines, each narrower than `width`, so that redrawing in place never scrolls or wraps.
pub fn watch_frame(
    info: &WatchInfo<'_>,
    style: &Style,
    width: usize,
    height: usize,
) -> Vec<String> {
    use super::table::fit_line;
    // Never the last column: a character there leaves the cursor waiting to wrap.
    let width = width.saturating_sub(1).max(1);
    let height = height.max(1);
    let summary = format!(
        "{}, refreshed {}; Ctrl-C to stop",
        state_counts(info.rows, info.tripped_only),
        info.refreshed
    );
    let mut lines = vec![fit_line(&summary, width)];
    if info.rows.is_empty() {
        lines.push(info.empty.to_owned());
    } else {
        let layout = Layout {
            width: Some(width),
            ..style.layout()
        };
        let chrome = if layout.ruled { 4 } else { 1 };
        // Lines left for breakers once the summary and the table's header and rules are in.
        let room = height.saturating_sub(1 + chrome);
        let rows = info.rows;
        if room < 2 && rows.len() > room {
            // Not even one breaker and the note: the summary line says the counts.
            lines.push("(too few lines for the table)".to_owned());
        } else {
            let shown = if rows.len() <= room {
                rows.len()
            } else {
                room - 1
            };
            let mut table = status_table(&rows[..shown], info.now).lines(&layout);
            if shown < rows.len() {
                let note = format!(" {}", more_note(&rows[shown..]));
                let at = if layout.ruled {
                    table.len() - 1
                } else {
                    table.len()
                };
                table.insert(at, note);
            }
            lines.extend(table);
        }
    }
    lines.truncate(height);
    lines.iter().map(|l| fit_line(l, width)).collect()
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
pub fn audit_table(rows: &[AuditRecord], now: i64) -> Table {
    // REASON keeps a fifth of the screen before the others give way, in this order: ID,
    // STATE, the "(os: ...)" of USER, the "(1s ago)" of WHEN, FORCED, USER (FORCED first
    // when no row is forced).
    let mut table = Table::new(vec![
        Column::whole("ID").hide(1),
        Column::whole("WHEN").compact(4),
        Column::whole("BOOKMAKER"),
        Column::whole("ACTION"),
        Column::whole("USER").compact(3).hide(6),
        Column::whole("FORCED").hide(5),
        Column::whole("STATE").hide(2),
        Column::free("REASON", 12, Some(60)).share(5),
    ]);
    for r in rows {
        let when = r.timestamp.map_or_else(
            || Cell::new("-"),
            |t| {
                Cell::with_short(
                    format!("{} ({})", timestamp(t), relative(t, now)),
                    timestamp(t),
                )
            },
        );
        let state = match (&r.state_before, &r.state_after) {
            (Some(b), Some(a)) => format!("{} -> {}", escape(b), escape(a)),
            _ => "-".to_owned(),
        };
        table.push(vec![
            Cell::new(r.id.to_string()),
            when,
            Cell::new(shorten(r.bookmaker.as_deref().unwrap_or("-"), 40)),
            Cell::new(shorten(r.action.as_deref().unwrap_or("-"), 16)),
            Cell::with_short(
                shorten(&audit_user(r), 40),
                shorten(r.user.as_deref().unwrap_or("-"), 40),
            ),
            Cell::new(if r.forced { "yes" } else { "" }),
            Cell::new(state),
            Cell::new(r.reason.as_deref().unwrap_or("")),
        ]);
    }
    table
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

    fn breaker(name: &str, state: BreakerState) -> BookmakerStatus {
        BookmakerStatus {
            bookmaker: name.to_owned(),
            tripped: matches!(state, BreakerState::Open | BreakerState::ForcedOpen),
            failures: 10.0,
            failure_threshold: 10.0,
            last_error: Some("503 Service Unavailable from upstream after 3 retries".to_owned()),
            avg_latency: Some(2.1),
            last_failure_at: Some(1_000),
            trip_count: 1,
            last_reset_at: None,
            last_reset_by: None,
            last_reset_reason: None,
            state,
            tripped_at: None,
            probe_in_flight: false,
            last_success_at: None,
            updated_at: 1_000,
        }
    }

    fn terminal() -> Style {
        Style {
            format: OutputFormat::Table,
            color: false,
            terminal: true,
            width: None,
        }
    }

    /// Twelve breakers sorted for display: two open, one half-open, nine closed.
    fn twelve() -> Vec<BookmakerStatus> {
        let mut rows = vec![
            breaker("sim-betmgm", BreakerState::Open),
            breaker("sim-draftkings-eu-west", BreakerState::Open),
            breaker("sim-fanduel", BreakerState::HalfOpen),
        ];
        rows.extend((0..9).map(|i| breaker(&format!("closed-{i}"), BreakerState::Closed)));
        rows
    }

    fn frame(rows: &[BookmakerStatus], width: usize, height: usize) -> Vec<String> {
        let info = WatchInfo {
            rows,
            now: 61_000,
            refreshed: "14:03:07".to_owned(),
            tripped_only: false,
            empty: "no breakers recorded yet",
        };
        watch_frame(&info, &terminal(), width, height)
    }

    #[test]
    fn a_watch_frame_fits_the_screen_with_open_breakers_first() {
        let rows = twelve();
        let lines = frame(&rows, 80, 10);
        assert_eq!(lines.len(), 10, "{lines:#?}");
        assert_eq!(
            lines[0],
            "12 breakers, 2 open, 1 half_open, refreshed 14:03:07; Ctrl-C to stop"
        );
        for line in &lines {
            assert!(
                super::super::table::fit(line, 79) == *line,
                "{line:?} wider than 79"
            );
        }
        // Summary, rule, header, rule: then 4 breakers, the note and the bottom rule.
        assert!(lines[2].starts_with(" BOOKMAKER"), "{lines:#?}");
        let names: Vec<&str> = lines[4..8]
            .iter()
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "sim-betmgm",
                "sim-draftkings-eu-west",
                "sim-fanduel",
                "closed-0"
            ]
        );
        assert_eq!(lines[8], " ... 8 more closed");
        assert!(lines[9].starts_with('─'));

        // Everything fits on a tall screen: no note.
        let tall = frame(&rows, 120, 40);
        assert_eq!(tall.len(), 1 + 4 + 12);
        assert!(!tall.iter().any(|l| l.contains("more")));
        assert!(tall.iter().all(|l| !l.ends_with(' ')));
    }

    #[test]
    fn a_watch_frame_says_what_is_hidden_when_open_ones_do_not_fit() {
        let mut rows: Vec<BookmakerStatus> = (0..6)
            .map(|i| breaker(&format!("open-{i}"), BreakerState::Open))
            .collect();
        rows.push(breaker("calm", BreakerState::Closed));
        let lines = frame(&rows, 80, 8);
        assert_eq!(lines.len(), 8, "{lines:#?}");
        assert_eq!(lines[6], " ... 5 more: 4 open, 1 closed");
        // Too few lines for any table: the summary still counts them.
        let tiny = frame(&rows, 80, 3);
        assert_eq!(tiny[0].split(',').next(), Some("7 breakers"));
        assert!(tiny.len() <= 3);
        // A narrow screen cuts the summary line, never past the width.
        let narrow = frame(&rows, 30, 8);
        assert_eq!(narrow[0], "7 breakers, 6 open, refreshe…");
        assert!(
            narrow
                .iter()
                .all(|l| unicode_width::UnicodeWidthStr::width(l.as_str()) <= 29)
        );
    }

    #[test]
    fn shortens_after_escaping() {
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("\x1b\x1b", 40), "\\x1b\\x1b");
    }
}
