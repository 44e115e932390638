//! Health checks over what any backend stores: expired probe leases, clock skew, long trips.
//! `doctor`, `audit verify` and `serve` use them; the backend adds its own
//! ([`super::Backend::diagnostics`]).

use super::types::AuditRecord;
use crate::machine::{self, BreakerRow, Rules};
use serde::Serialize;
use std::time::Duration;

/// Timestamps further ahead of this host's clock than this are reported as clock skew.
pub const SKEW_TOLERANCE: Duration = Duration::from_secs(5);

/// One check's verdict.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// What was checked, in a few words (`integrity`, `journal mode`, ...).
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What it found, in words.
    pub detail: String,
}

/// A half-open probe lease that ran out without its probe reporting.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpiredLease {
    /// The breaker's name.
    pub bookmaker: String,
    /// The breaker instance that claimed the lease (`host:pid:sequence`); always set in what
    /// [`expired_leases`] returns.
    pub owner: Option<String>,
    /// When the lease ran out, in epoch milliseconds.
    pub expired_at: i64,
}

/// A stored time ahead of this host's clock.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FutureTimestamp {
    /// `circuit_breaker_state` or `circuit_breaker_audit`.
    pub table: &'static str,
    /// The bookmaker (state) or the row id (audit).
    pub row: String,
    /// The column holding the time (`last_failure_at`, `timestamp`, ...).
    pub column: &'static str,
    /// The stored time, in epoch milliseconds.
    pub value: i64,
    /// How far ahead of this host's clock it is, in milliseconds.
    pub ahead_ms: i64,
}

/// A breaker tripped for longer than the alert window.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LongTrip {
    /// The breaker's name.
    pub bookmaker: String,
    /// Its state now, as [`BreakerState::as_str`](crate::BreakerState::as_str).
    pub state: String,
    /// When the trip began, in epoch milliseconds (for a trip by the original service, its
    /// `last_failure_at`).
    pub tripped_at: i64,
    /// How long it has been tripped, in milliseconds.
    pub tripped_for_ms: i64,
}

/// Tripped breakers whose probe lease has run out (the prober died or hung).
pub fn expired_leases(rows: &[BreakerRow], now: i64) -> Vec<ExpiredLease> {
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

/// Breakers tripped for longer than `window_ms`.
pub fn long_trips(rows: &[BreakerRow], rules: &Rules, now: i64, window_ms: i64) -> Vec<LongTrip> {
    rows.iter()
        .filter(|r| r.tripped)
        .filter_map(|r| {
            let at = r.trip_started_at()?;
            let tripped_for_ms = now.saturating_sub(at);
            (tripped_for_ms > window_ms).then(|| LongTrip {
                bookmaker: r.bookmaker.clone(),
                state: machine::state_of(r, rules, now).as_str().to_owned(),
                tripped_at: at,
                tripped_for_ms,
            })
        })
        .collect()
}

fn skew_limit(now: i64) -> i64 {
    now.saturating_add(i64::try_from(SKEW_TOLERANCE.as_millis()).unwrap_or(0))
}

/// Times in breaker rows and audit rows that are ahead of `now` by more than
/// [`SKEW_TOLERANCE`] (a clock was wrong, or went back).
pub fn future_timestamps(
    rows: &[BreakerRow],
    audit: &[AuditRecord],
    now: i64,
) -> Vec<FutureTimestamp> {
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
    found.extend(audit.iter().filter_map(|r| {
        let value = r.timestamp.filter(|t| *t > limit)?;
        Some(FutureTimestamp {
            table: "circuit_breaker_audit",
            row: r.id.to_string(),
            column: "timestamp",
            value,
            ahead_ms: value.saturating_sub(now),
        })
    }));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_expire_at_their_end_and_only_on_tripped_rows() {
        let mut row = BreakerRow::new("bk", 0);
        row.tripped = true;
        row.probe_owner = Some("me".to_owned());
        row.probe_lease_until = Some(100);
        assert!(expired_leases(std::slice::from_ref(&row), 99).is_empty());
        assert_eq!(expired_leases(std::slice::from_ref(&row), 100).len(), 1);
        row.tripped = false;
        assert!(expired_leases(&[row], 1000).is_empty());
    }

    #[test]
    fn skew_is_reported_past_the_tolerance_only() {
        let tolerance = i64::try_from(SKEW_TOLERANCE.as_millis()).unwrap_or(0);
        let mut row = BreakerRow::new("bk", 1000 + tolerance);
        row.last_failure_at = Some(1000 + tolerance + 1);
        let found = future_timestamps(&[row], &[], 1000);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].column, "last_failure_at");
        assert_eq!(found[0].ahead_ms, tolerance + 1);
    }
}
