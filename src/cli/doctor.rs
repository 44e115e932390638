//! `breakerctl doctor`: is the breaker database healthy? Every check only reads.
//!
//! Exit codes: 0 when every check passes; 1 when a check found a problem (expired probe
//! leases, a large WAL, timestamps in the future, long trips, a broken audit chain, a journal
//! mode other than WAL); 6 when the database is unusable (it cannot be opened, or
//! `PRAGMA quick_check` finds corruption).

use super::args::GlobalArgs;
use super::commands::{ChainReport, Invocation, open_for_read, verify_chain};
use super::exit::ExitCode;
use super::output::{self, Style, escape, relative, shorten};
use crate::breaker::ProductionCircuitBreaker;
use crate::machine::{self, BreakerRow};
use crate::storage::{SCHEMA_VERSION, header_says_wal, sidecar};
use anyhow::Result;
use comfy_table::{Cell, Color};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// A WAL larger than this means checkpoints are not keeping up (a reader that never ends).
pub const WAL_WARN_BYTES: u64 = 64 * 1024 * 1024;
/// Timestamps further ahead of this host's clock than this are reported as clock skew.
pub const SKEW_TOLERANCE: Duration = Duration::from_secs(5);

/// One check's verdict.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpiredLease {
    pub bookmaker: String,
    pub owner: Option<String>,
    pub expired_at: i64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FutureTimestamp {
    /// `circuit_breaker_state` or `circuit_breaker_audit`.
    pub table: &'static str,
    /// The bookmaker (state) or the row id (audit).
    pub row: String,
    pub column: &'static str,
    pub value: i64,
    pub ahead_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LongTrip {
    pub bookmaker: String,
    pub state: String,
    pub tripped_at: i64,
    pub tripped_for_ms: i64,
}

/// Everything `doctor` found, as printed with `--json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoctorReport {
    pub path: String,
    pub healthy: bool,
    pub read_only: bool,
    pub now: i64,
    pub checks: Vec<Check>,
    pub quick_check: Vec<String>,
    pub journal_mode: Option<String>,
    pub schema_version: Option<i64>,
    pub supported_schema_version: i64,
    pub wal_bytes: Option<u64>,
    pub expired_probe_leases: Vec<ExpiredLease>,
    pub future_timestamps: Vec<FutureTimestamp>,
    pub alert_window_ms: i64,
    pub long_trips: Vec<LongTrip>,
    pub audit_chain: Option<ChainReport>,
}

impl DoctorReport {
    /// 0 healthy, 6 corrupt, 1 any other problem.
    pub fn exit_code(&self) -> ExitCode {
        if self.quick_check != ["ok"] {
            ExitCode::DatabaseUnusable
        } else if self.healthy {
            ExitCode::Ok
        } else {
            ExitCode::Failure
        }
    }
}

pub fn run(
    g: &GlobalArgs,
    style: &Style,
    alert_window: Duration,
    inv: &mut Invocation<'_>,
) -> Result<ExitCode> {
    // A file that cannot be opened is reported like any command's (exit 6, nothing written).
    let breaker = open_for_read(g)?;
    let report = examine(&breaker, &g.db, alert_window);
    if style.json() {
        output::write_json(inv.out, &report)?;
    } else {
        writeln!(inv.out, "{}", render(&report, style))?;
        let verdict = match report.exit_code() {
            ExitCode::Ok => "healthy".to_owned(),
            ExitCode::DatabaseUnusable => {
                "database is corrupt: restore it from a backup".to_owned()
            }
            _ => format!(
                "{} problem(s) found",
                report.checks.iter().filter(|c| !c.ok).count()
            ),
        };
        writeln!(inv.out, "{}: {verdict}", escape(&report.path))?;
    }
    Ok(report.exit_code())
}

/// Runs every check. A check that cannot run (an error reading) is itself a problem.
pub fn examine(
    breaker: &ProductionCircuitBreaker,
    path: &Path,
    alert_window: Duration,
) -> DoctorReport {
    let now = breaker.now_ms();
    let window_ms = i64::try_from(alert_window.as_millis()).unwrap_or(i64::MAX);
    let mut checks = Vec::new();
    let mut check = |name: &'static str, ok: bool, detail: String| {
        checks.push(Check { name, ok, detail });
    };

    let read_only = breaker.with_store(|s| s.is_read_only());
    let quick_check = match breaker.with_store(|s| s.quick_check()) {
        Ok(rows) => rows,
        Err(e) => vec![format!("could not run: {e}")],
    };
    let intact = quick_check == ["ok"];
    check(
        "integrity",
        intact,
        if intact {
            "PRAGMA quick_check: ok".to_owned()
        } else {
            format!(
                "PRAGMA quick_check: {}",
                shorten(&quick_check.join("; "), 200)
            )
        },
    );

    let journal_mode = breaker.with_store(|s| s.journal_mode()).ok().map(|m| {
        // A read-only open of a WAL file that nobody has open is `immutable` and reports
        // "delete"; the file header says what the file really is.
        if read_only && !m.eq_ignore_ascii_case("wal") && header_says_wal(path) {
            "wal".to_owned()
        } else {
            m.to_ascii_lowercase()
        }
    });
    match &journal_mode {
        Some(m) if m == "wal" => check("journal mode", true, "wal".to_owned()),
        Some(m) => check(
            "journal mode",
            false,
            format!(
                "{m}: readers and writers block each other; the next write by breakerctl or a service switches it to wal"
            ),
        ),
        None => check("journal mode", false, "could not be read".to_owned()),
    }

    let schema_version = breaker.with_store(|s| s.user_version()).ok();
    match schema_version {
        Some(v) if v == SCHEMA_VERSION => check("schema version", true, v.to_string()),
        Some(v) => check(
            "schema version",
            false,
            format!("{v}; this build writes {SCHEMA_VERSION}"),
        ),
        None => check("schema version", false, "could not be read".to_owned()),
    }

    let wal_bytes = wal_size(path);
    match wal_bytes {
        Some(n) if n > WAL_WARN_BYTES => check(
            "wal size",
            false,
            format!(
                "{n} bytes (over {WAL_WARN_BYTES}): checkpoints are not keeping up; look for a reader that never finishes"
            ),
        ),
        Some(n) => check("wal size", true, format!("{n} bytes")),
        None => check(
            "wal size",
            true,
            "no -wal file (nobody has the database open)".to_owned(),
        ),
    }

    let rows = breaker.with_store(|s| s.load_all());
    let (expired, long_trips, mut future) = match &rows {
        Ok(rows) => (
            expired_leases(rows, now),
            long_trips(breaker, rows, now, window_ms),
            future_in_state(rows, now),
        ),
        Err(_) => (Vec::new(), Vec::new(), Vec::new()),
    };
    // When the breakers cannot be read, the checks that need them fail rather than pass.
    let unread = rows
        .as_ref()
        .err()
        .map(|e| format!("not checked: the breakers could not be read ({e})"));
    check(
        "probe leases",
        expired.is_empty() && unread.is_none(),
        if let Some(why) = &unread {
            why.clone()
        } else if expired.is_empty() {
            "no expired half-open probe leases".to_owned()
        } else {
            format!(
                "{} expired: {} (the process probing died or hung; the next call probes again)",
                expired.len(),
                list(expired.iter().map(|l| format!(
                    "{} (owner {}, expired {})",
                    escape(&l.bookmaker),
                    escape(l.owner.as_deref().unwrap_or("?")),
                    relative(l.expired_at, now)
                )))
            )
        },
    );

    future.extend(future_in_audit(breaker, now));
    check(
        "clock skew",
        future.is_empty() && unread.is_none(),
        if let Some(why) = &unread {
            why.clone()
        } else if future.is_empty() {
            format!(
                "no timestamps ahead of this host's clock (tolerance {}s)",
                SKEW_TOLERANCE.as_secs()
            )
        } else {
            format!(
                "{} timestamp(s) in the future: {} (a clock was wrong, or went back; cooldowns count them as now)",
                future.len(),
                list(future.iter().map(|f| format!(
                    "{}.{} of {} is {}s ahead",
                    f.table,
                    f.column,
                    escape(&f.row),
                    f.ahead_ms / 1000
                )))
            )
        },
    );
    check(
        "long trips",
        long_trips.is_empty() && unread.is_none(),
        if let Some(why) = &unread {
            why.clone()
        } else if long_trips.is_empty() {
            format!(
                "no breaker tripped for longer than {}",
                humantime::format_duration(alert_window)
            )
        } else {
            format!(
                "tripped for longer than {}: {}",
                humantime::format_duration(alert_window),
                list(long_trips.iter().map(|t| format!(
                    "{} ({}, since {})",
                    escape(&t.bookmaker),
                    t.state,
                    relative(t.tripped_at, now)
                )))
            )
        },
    );
    let audit_chain = match verify_chain(breaker) {
        Ok(report) => {
            check(
                "audit chain",
                report.ok,
                if report.ok {
                    format!("{} row(s) verified", report.rows)
                } else {
                    format!(
                        "broken{}: {}",
                        report
                            .first_broken_id
                            .map(|id| format!(" at row {id}"))
                            .unwrap_or_default(),
                        report.problem.as_deref().unwrap_or("unknown problem")
                    )
                },
            );
            Some(report)
        }
        Err(e) => {
            check("audit chain", false, format!("could not be read: {e:#}"));
            None
        }
    };

    DoctorReport {
        path: path.display().to_string(),
        healthy: checks.iter().all(|c| c.ok),
        read_only,
        now,
        checks,
        quick_check,
        journal_mode,
        schema_version,
        supported_schema_version: SCHEMA_VERSION,
        wal_bytes,
        expired_probe_leases: expired,
        future_timestamps: future,
        alert_window_ms: window_ms,
        long_trips,
        audit_chain,
    }
}

/// At most five items, then how many more.
fn list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    let mut shown = items.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > 5 {
        shown.push_str(&format!(" and {} more", items.len() - 5));
    }
    shown
}

fn wal_size(path: &Path) -> Option<u64> {
    std::fs::metadata(sidecar(path, "-wal"))
        .ok()
        .map(|m| m.len())
}

fn expired_leases(rows: &[BreakerRow], now: i64) -> Vec<ExpiredLease> {
    rows.iter()
        .filter(|r| r.tripped && r.probe_owner.is_some())
        .filter_map(|r| {
            r.probe_lease_until
                .filter(|until| *until <= now)
                .map(|until| ExpiredLease {
                    bookmaker: r.bookmaker.clone(),
                    owner: r.probe_owner.clone(),
                    expired_at: until,
                })
        })
        .collect()
}

fn long_trips(
    breaker: &ProductionCircuitBreaker,
    rows: &[BreakerRow],
    now: i64,
    window_ms: i64,
) -> Vec<LongTrip> {
    rows.iter()
        .filter(|r| r.tripped)
        .filter_map(|r| {
            let at = r.trip_started_at()?;
            let tripped_for_ms = now.saturating_sub(at);
            (tripped_for_ms > window_ms).then(|| LongTrip {
                bookmaker: r.bookmaker.clone(),
                state: machine::state_of(r, breaker.rules(), now)
                    .as_str()
                    .to_owned(),
                tripped_at: at,
                tripped_for_ms,
            })
        })
        .collect()
}

fn skew_limit(now: i64) -> i64 {
    now.saturating_add(i64::try_from(SKEW_TOLERANCE.as_millis()).unwrap_or(0))
}

fn future_in_state(rows: &[BreakerRow], now: i64) -> Vec<FutureTimestamp> {
    let limit = skew_limit(now);
    let mut found = Vec::new();
    for r in rows {
        // probe_lease_until is in the future by design.
        let columns = [
            ("last_failure_at", r.last_failure_at),
            ("tripped_at", r.tripped_at),
            ("last_reset_at", r.last_reset_at),
            ("last_success_at", r.last_success_at),
            ("updated_at", Some(r.updated_at)),
        ];
        for (column, value) in columns {
            if let Some(value) = value.filter(|v| *v > limit) {
                found.push(FutureTimestamp {
                    table: "circuit_breaker_state",
                    row: r.bookmaker.clone(),
                    column,
                    value,
                    ahead_ms: value.saturating_sub(now),
                });
            }
        }
    }
    found
}

fn future_in_audit(breaker: &ProductionCircuitBreaker, now: i64) -> Vec<FutureTimestamp> {
    let limit = skew_limit(now);
    breaker
        .with_store(|s| s.audit_chain())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| {
            let value = r.timestamp.filter(|t| *t > limit)?;
            Some(FutureTimestamp {
                table: "circuit_breaker_audit",
                row: r.id.to_string(),
                column: "timestamp",
                value,
                ahead_ms: value.saturating_sub(now),
            })
        })
        .collect()
}

/// The report as a table: one line per check.
pub fn render(report: &DoctorReport, style: &Style) -> String {
    let mut table = super::output::new_table(style, &["CHECK", "STATUS", "DETAIL"]);
    for c in &report.checks {
        let mut status = Cell::new(if c.ok { "ok" } else { "PROBLEM" });
        if style.color {
            status = status.fg(if c.ok { Color::Green } else { Color::Red });
        }
        table.add_row(vec![Cell::new(c.name), status, Cell::new(&c.detail)]);
    }
    table.to_string()
}
