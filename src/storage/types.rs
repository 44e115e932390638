//! The values that cross the storage seam: audit rows, filters, counters, flush batches.

use crate::machine::LatencyBatch;
use serde::Serialize;

/// An audit row to append. The backend adds the id, host, pid and hash chain.
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    /// The breaker's name.
    pub bookmaker: &'a str,
    /// What happened: [`AuditAction::as_str`](crate::machine::AuditAction::as_str) (`TRIP`,
    /// `RESET`, ...).
    pub action: &'a str,
    /// Why: the operator's reason, or the transition's (`failure threshold reached ...`);
    /// `None` when an operator gave none.
    pub reason: Option<&'a str>,
    /// Who acted: the name an operator gave, or `system` for the breaker's own transitions.
    pub user: &'a str,
    /// When, in epoch milliseconds.
    pub timestamp: i64,
    /// Whether this was a forced reset (false for every other action).
    pub forced: bool,
    /// The state before, as [`BreakerState::as_str`](crate::BreakerState::as_str).
    pub state_before: &'a str,
    /// The state after, likewise (the same as before for a denied reset).
    pub state_after: &'a str,
    /// The row's weighted failure count: after the change for trips and transitions, before
    /// it for resets.
    pub failure_count: f64,
    /// The call's operation for the breaker's own transitions (when known); `None` for
    /// operator actions.
    pub operation: Option<&'a str>,
    /// Who really ran an operator action: the process's login name and uid, beside the
    /// claimed `user`. `None` for the breaker's own transitions.
    pub os_user: Option<&'a str>,
}

/// An audit row as stored.
///
/// The fields are those of [`NewAudit`]; each is `None` where the column is NULL, as in rows
/// written by the original service (which had only `id`, `bookmaker`, `action`, `reason`,
/// `user` and `timestamp`) or by hand.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// The row's id: rows are appended in increasing id order.
    pub id: i64,
    /// The breaker's name.
    pub bookmaker: Option<String>,
    /// What happened (`TRIP`, `RESET`, `RESET_DENIED`, `PROBE_START`, `CLOSE`, `REOPEN`).
    pub action: Option<String>,
    /// Why; `None` also when an operator gave no reason.
    pub reason: Option<String>,
    /// Who acted, as claimed (`system` for the breaker's own transitions).
    pub user: Option<String>,
    /// When, in epoch milliseconds.
    pub timestamp: Option<i64>,
    /// Whether this was a forced reset (false also when NULL).
    pub forced: bool,
    /// The state before (`closed`, `open`, `half_open`, `forced_open`).
    pub state_before: Option<String>,
    /// The state after.
    pub state_after: Option<String>,
    /// The row's weighted failure count (see [`NewAudit::failure_count`]).
    pub failure_count: Option<f64>,
    /// The call's operation, for the breaker's own transitions.
    pub operation: Option<String>,
    /// The name of the host whose process wrote the row.
    pub host: Option<String>,
    /// The id of the process that wrote the row.
    pub pid: Option<i64>,
    /// The previous row's `hash` (empty for the first row of the chain).
    pub prev_hash: Option<String>,
    /// This row's hash, hex SHA-256 ([`audit_hash`](super::audit_hash)).
    pub hash: Option<String>,
    /// The operating-system identity that ran an operator action ("alice (uid 1000)").
    pub os_user: Option<String>,
}

/// The newest audit row's id and hash, as recorded beside the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditHead {
    /// The id of the newest row appended through the chain.
    pub last_id: i64,
    /// That row's hash.
    pub last_hash: String,
}

/// Which audit rows to read, newest first.
#[derive(Debug, Clone, Default)]
///
/// Each `None` selects every row; the conditions that are set must all hold.
pub struct AuditFilter {
    /// Only this breaker's rows (exact name).
    pub bookmaker: Option<String>,
    /// Only rows at or after this time, in epoch milliseconds.
    pub since: Option<i64>,
    /// Only this action (`TRIP`, ...; ASCII case ignored).
    pub action: Option<String>,
    /// Only rows by this user (exact).
    pub user: Option<String>,
    /// At most this many rows, the newest.
    pub limit: Option<usize>,
}

/// One counter total kept in the store for every process that shares it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CounterRow {
    /// The breaker's name.
    pub bookmaker: String,
    /// The call's operation; empty for operator resets.
    pub operation: String,
    /// What is counted: `tripped` (a call rejected by a tripped breaker), `load_shed`, `reset` or
    /// `forced_reset` (a forced reset also counts as `reset`).
    pub reason: String,
    /// The total over every process since the counter was created.
    pub count: u64,
}

/// In-memory results waiting to be written in one transaction.
#[derive(Debug, Default)]
pub struct FlushBatch {
    /// Latencies of successful calls, and when the latest succeeded.
    pub latencies: Vec<(String, LatencyBatch, i64)>,
    /// Counter increments: (bookmaker, operation, reason, delta).
    pub counters: Vec<(String, String, String, u64)>,
}

impl FlushBatch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.latencies.is_empty() && self.counters.is_empty()
    }
}
