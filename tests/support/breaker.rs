//! The library on a temporary file with a manual clock: opening it, and looking up its audit
//! rows, counters and failure counts.

use super::fixture::TempDb;
use breakerctl::clock::ManualClock;
use breakerctl::metrics::RecordingMetrics;
use breakerctl::storage::{AuditFilter, AuditRecord};
use breakerctl::{BreakerConfig, CallContext, ProductionCircuitBreaker};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A fixed, realistic epoch-millisecond start for manual clocks (2023-11-14).
pub const T0: i64 = 1_700_000_000_000;

/// Epoch milliseconds now (the system clock).
pub fn now_ms() -> i64 {
    breakerctl::clock::now_ms()
}

/// A config with the seed's thresholds and a flush interval long enough that only explicit
/// flushes, reads and drop write batched results.
pub fn seed_config() -> BreakerConfig {
    BreakerConfig {
        flush_interval: Duration::from_secs(3600),
        ..BreakerConfig::default()
    }
}

/// A breaker on `path` with `config`, a manual clock and a recording metrics sink.
pub fn open_manual(
    path: &Path,
    config: BreakerConfig,
    clock: &ManualClock,
    metrics: &Arc<RecordingMetrics>,
) -> ProductionCircuitBreaker {
    ProductionCircuitBreaker::builder()
        .config(config)
        .clock(Arc::new(clock.clone()))
        .metrics(metrics.clone())
        .load_monitor(Arc::new(breakerctl::load::FixedLoad(0.0)))
        .open(path)
        .expect("open breaker")
}

/// A breaker with `config` on a new temporary file, its manual clock (at `T0`) and its
/// recording metrics sink.
pub fn setup_with(
    config: BreakerConfig,
) -> (
    TempDb,
    ManualClock,
    Arc<RecordingMetrics>,
    ProductionCircuitBreaker,
) {
    let db = TempDb::empty();
    let clock = ManualClock::new(T0);
    let metrics = Arc::new(RecordingMetrics::default());
    let cb = open_manual(&db.path, config, &clock, &metrics);
    (db, clock, metrics, cb)
}

/// As `setup_with`, with `seed_config()`.
pub fn setup() -> (
    TempDb,
    ManualClock,
    Arc<RecordingMetrics>,
    ProductionCircuitBreaker,
) {
    setup_with(seed_config())
}

pub fn ctx(operation: &str, estimated_load: f64) -> CallContext<'_> {
    CallContext::new(operation, estimated_load)
}

/// Every audit row of `bookmaker`, oldest first.
pub fn audit_of(cb: &ProductionCircuitBreaker, bookmaker: &str) -> Vec<AuditRecord> {
    let mut rows = cb
        .audit(&AuditFilter {
            bookmaker: Some(bookmaker.to_owned()),
            ..AuditFilter::default()
        })
        .expect("audit");
    rows.reverse();
    rows
}

/// The actions of `bookmaker`'s audit rows, oldest first.
pub fn actions_of(cb: &ProductionCircuitBreaker, bookmaker: &str) -> Vec<String> {
    audit_of(cb, bookmaker)
        .into_iter()
        .map(|r| r.action.unwrap_or_default())
        .collect()
}

/// The database total of one counter (summed over operations when `operation` is `None`).
pub fn counter(
    cb: &ProductionCircuitBreaker,
    bookmaker: &str,
    operation: Option<&str>,
    reason: &str,
) -> u64 {
    cb.counters()
        .expect("counters")
        .iter()
        .filter(|c| c.bookmaker == bookmaker && c.reason == reason)
        .filter(|c| operation.is_none_or(|op| c.operation == op))
        .map(|c| c.count)
        .sum()
}

/// Failure count of a bookmaker (panics when it is unknown).
pub fn failures(cb: &ProductionCircuitBreaker, bookmaker: &str) -> f64 {
    cb.get_status(bookmaker)
        .expect("status")
        .expect("known bookmaker")
        .failures
}
