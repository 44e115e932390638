//! `breakerctl doctor`: is the breaker database healthy? Every check only reads.
//!
//! Exit codes: 0 when every check passes; 1 when a check found a problem (expired probe
//! leases, a large WAL, timestamps in the future, long trips, a broken audit chain, a journal
//! mode other than WAL); 6 when the database is unusable (it cannot be opened, or
//! `PRAGMA quick_check` finds corruption).

use super::args::GlobalArgs;
use super::context::{Invocation, open_for_read};
use super::exit::ExitCode;
use super::output::{self, Style, escape, relative};
use super::table::{Cell, Column, Paint, Table};
use crate::breaker::ProductionCircuitBreaker;
use crate::storage::checks::{
    self, Check, ExpiredLease, FutureTimestamp, LongTrip, SKEW_TOLERANCE,
};
use crate::storage::{ChainReport, SCHEMA_VERSION};
use anyhow::Result;
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

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
    let read_only = breaker.is_read_only();
    let backend = breaker.diagnostics();
    let mut checks: Vec<Check> = backend.checks.clone();
    let mut check = |name: &'static str, ok: bool, detail: String| {
        checks.push(Check { name, ok, detail });
    };
    let quick_check = backend.integrity.clone();
    let journal_mode = backend.journal_mode.clone();
    let schema_version = breaker.schema_version().ok();
    let wal_bytes = backend.wal_bytes;

    let rows = breaker.rows();
    let (expired, long_trips, future) = match &rows {
        Ok(rows) => (
            checks::expired_leases(rows, now),
            checks::long_trips(rows, breaker.rules(), now, window_ms),
            checks::future_timestamps(
                rows,
                &breaker.audit_chain().map(|(a, _)| a).unwrap_or_default(),
                now,
            ),
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
    let audit_chain = match breaker.verify_audit_chain() {
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

/// The report as a table: one line per check.
pub fn render(report: &DoctorReport, style: &Style) -> String {
    let mut table = Table::new(vec![
        Column::whole("CHECK"),
        Column::whole("STATUS"),
        Column::free("DETAIL", 16, None),
    ]);
    for c in &report.checks {
        let (status, paint) = if c.ok {
            ("ok", Paint::Green)
        } else {
            ("PROBLEM", Paint::Red)
        };
        table.push(vec![
            Cell::new(c.name),
            Cell::new(status).paint(paint),
            Cell::new(&c.detail),
        ]);
    }
    table.render(&style.layout())
}
