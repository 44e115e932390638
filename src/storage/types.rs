//! The values that cross the storage seam: audit rows, filters, counters, flush batches.

use crate::machine::LatencyBatch;
use serde::Serialize;

/// An audit row to append.
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub bookmaker: &'a str,
    pub action: &'a str,
    pub reason: Option<&'a str>,
    pub user: &'a str,
    pub timestamp: i64,
    pub forced: bool,
    pub state_before: &'a str,
    pub state_after: &'a str,
    pub failure_count: f64,
    pub operation: Option<&'a str>,
    /// Who really ran an operator action: the process's login name and uid, beside the
    /// claimed `user`. `None` for the breaker's own transitions.
    pub os_user: Option<&'a str>,
}

/// An audit row as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    pub id: i64,
    pub bookmaker: Option<String>,
    pub action: Option<String>,
    pub reason: Option<String>,
    pub user: Option<String>,
    pub timestamp: Option<i64>,
    pub forced: bool,
    pub state_before: Option<String>,
    pub state_after: Option<String>,
    pub failure_count: Option<f64>,
    pub operation: Option<String>,
    pub host: Option<String>,
    pub pid: Option<i64>,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
    /// The operating-system identity that ran an operator action ("alice (uid 1000)").
    pub os_user: Option<String>,
}

/// The newest audit row's id and hash, as recorded beside the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditHead {
    pub last_id: i64,
    pub last_hash: String,
}

/// Which audit rows to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub bookmaker: Option<String>,
    pub since: Option<i64>,
    pub action: Option<String>,
    pub user: Option<String>,
    pub limit: Option<usize>,
}

/// One counter total kept in the store for every process that shares it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CounterRow {
    pub bookmaker: String,
    pub operation: String,
    pub reason: String,
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
    pub fn is_empty(&self) -> bool {
        self.latencies.is_empty() && self.counters.is_empty()
    }
}
