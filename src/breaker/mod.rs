//! `ProductionCircuitBreaker`: the state machine of `machine.rs` on the shared database of
//! `storage.rs`, with the healthy path kept in memory.
//!
//! Where each write happens, and why:
//! - A healthy call reads the breaker from an in-process cache, validated on every call
//!   against the WAL index header in shared memory (which every commit of every process
//!   rewrites; read lock-free, as SQLite itself does, with no system call), or by `PRAGMA
//!   data_version` where there is no shared WAL index; so a trip made by another process is
//!   seen by the very next call. Its latency and any rejection counts go to an in-memory batch
//!   that a background thread writes about once a second (and on `flush` and drop).
//! - A failure, a trip, a probe claim or result, and every operator action is written before
//!   the call returns. A failure that trips nothing, on a row in the cache, is one guarded
//!   UPDATE that applies only if the failure count, last failure time and tripped flag are
//!   still the cached ones (else the general way follows). Everything else is one
//!   `BEGIN IMMEDIATE` transaction that re-reads the row (unless nothing at all was committed
//!   since the cache was exact), so no update made by another process is lost and an audit
//!   row commits with its state change.

mod builder;
mod cache;
mod calls;
mod flusher;
mod names;
mod operator;
mod pending;
mod types;

pub use builder::BreakerBuilder;
pub use names::{closest_names, message_says_timeout, validate_name};
pub use types::{BookmakerStatus, CallContext, ResetOptions, ResetPreview};

use crate::clock::Clock;
use crate::config::BreakerConfig;
use crate::error::Result;
use crate::load::LoadMonitor;
use crate::machine::{BreakerRow, Rules, Transition};
use crate::metrics::MetricsSink;
use crate::storage::{Durability, NewAudit, WriteTx};
use cache::Db;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// Longest bookmaker name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// The actor recorded for transitions the breaker makes by itself.
pub const SYSTEM_ACTOR: &str = "system";
/// Counter reason: a call rejected because the breaker was open.
pub const REASON_TRIPPED: &str = "tripped";
/// Counter reason: a call shed because the host was overloaded.
pub const REASON_LOAD_SHED: &str = "load_shed";
/// Counter reason: an operator reset.
pub const REASON_RESET: &str = "reset";
/// Counter reason: an operator reset inside the cooldown.
pub const REASON_FORCED_RESET: &str = "forced_reset";
/// How long a background flush waits for the write lock before leaving the batch for later.
const BACKGROUND_FLUSH_BUSY: Duration = Duration::from_millis(50);
/// The cache is dropped wholesale past this many bookmakers, bounding memory.
const MAX_CACHED: usize = 10_000;

/// The production circuit breaker. `Send + Sync`: share it between threads with an `Arc`.
pub struct ProductionCircuitBreaker {
    inner: Arc<Inner>,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

struct Inner {
    config: BreakerConfig,
    rules: Rules,
    db: Mutex<Db>,
    metrics: Arc<dyn MetricsSink>,
    load: Arc<dyn LoadMonitor>,
    clock: Arc<dyn Clock>,
    in_flight: AtomicUsize,
    /// Names this instance as a probe lease owner.
    instance: String,
    flusher_started: AtomicBool,
    stop: Mutex<bool>,
    wake: Condvar,
}

impl ProductionCircuitBreaker {
    /// A builder, for a breaker with other collaborators or another store.
    pub fn builder() -> BreakerBuilder {
        BreakerBuilder::default()
    }

    /// Opens (creating when missing) with the given configuration and default collaborators.
    pub fn open(path: impl AsRef<Path>, config: BreakerConfig) -> Result<Self> {
        Self::builder().config(config).open(path)
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &BreakerConfig {
        &self.inner.config
    }

    /// The state machine's rules, derived from the configuration.
    pub fn rules(&self) -> &Rules {
        &self.inner.rules
    }

    /// The breaker's clock, in epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Calls currently running through this breaker.
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Db> {
        // A panic while holding the lock leaves at worst a stale cache, which the next
        // change-token check discards; the store itself is transactional.
        self.inner.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one write transaction and keeps the cache in step with what it wrote.
    fn write<T>(
        &self,
        db: &mut Db,
        durability: Durability,
        f: impl FnOnce(&mut dyn WriteTx) -> Result<(T, Option<BreakerRow>)>,
    ) -> Result<T> {
        let (value, row) = db.store.write(durability, f)?;
        if let Some(row) = row {
            db.cache.insert(row.bookmaker.clone(), Some(row));
        }
        db.adopt_own_commit();
        Ok(value)
    }

    fn audit_transition(
        tx: &mut dyn WriteTx,
        row: &BreakerRow,
        t: &Transition,
        operation: Option<&str>,
        now: i64,
    ) -> Result<i64> {
        tx.append_audit(&NewAudit {
            bookmaker: &row.bookmaker,
            action: t.action.as_str(),
            reason: Some(&t.reason),
            user: SYSTEM_ACTOR,
            timestamp: now,
            forced: false,
            state_before: t.before.as_str(),
            state_after: t.after.as_str(),
            failure_count: row.failure_count,
            operation,
            os_user: None,
        })
    }
}

impl Drop for ProductionCircuitBreaker {
    fn drop(&mut self) {
        if let Ok(mut stop) = self.inner.stop.lock() {
            *stop = true;
        }
        self.inner.wake.notify_all();
        if let Some(handle) = self.flusher.lock().ok().and_then(|mut h| h.take()) {
            let _ = handle.join();
        }
        if let Err(e) = self.flush() {
            tracing::error!(error = %e, "could not write pending breaker results on drop");
        }
    }
}

impl std::fmt::Debug for ProductionCircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProductionCircuitBreaker")
            .field("config", &self.inner.config)
            .field("instance", &self.inner.instance)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CallError;

    fn ok_call(cb: &ProductionCircuitBreaker) -> std::result::Result<(), CallError<String>> {
        cb.call_api("bk", &CallContext::new("op", 1.0), || Ok::<_, String>(()))
    }

    /// The cache of a warm breaker is trusted while the wal-index header stands still; any
    /// commit elsewhere must still be seen by the very next call.
    #[test]
    fn a_warm_cache_sees_every_commit_of_another_connection() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cb.db");
        let ours = ProductionCircuitBreaker::open(&path, BreakerConfig::default()).expect("open");
        let other = ProductionCircuitBreaker::open(&path, BreakerConfig::default()).expect("other");
        for _ in 0..3 {
            ok_call(&ours).expect("closed");
        }
        assert!(
            ours.lock().token.is_some_and(|t| !t.is_counter()),
            "a WAL file takes the lock-free path"
        );
        other.trip("bk", "maintenance", "op").expect("trip");
        let r = ok_call(&ours);
        assert!(matches!(r, Err(CallError::Tripped { .. })), "{r:?}");

        // Our own commit moves the header too; a commit of the other right after it must
        // not be mistaken for ours.
        other
            .reset(
                "bk",
                ResetOptions {
                    reason: Some("done"),
                    user: "op",
                    force: true,
                },
            )
            .expect("reset");
        ok_call(&ours).expect("closed again");
        ours.record_failure("bk", "boom").expect("our failure");
        other.trip("bk", "again", "op").expect("trip again");
        let r = ok_call(&ours);
        assert!(matches!(r, Err(CallError::Tripped { .. })), "{r:?}");

        // A raw write by a program that is not a breaker at all is seen as well.
        let raw = rusqlite::Connection::open(&path).expect("raw");
        raw.execute(
            "UPDATE circuit_breaker_state SET tripped = 0, trip_kind = NULL, failure_count = 0",
            [],
        )
        .expect("raw update");
        ok_call(&ours).expect("closed by the raw write");
    }

    /// A failure write reuses the cached row only while nothing was committed since the cache
    /// was known exact; it must lose neither another process's failures nor our own flushed
    /// latencies.
    #[test]
    fn failure_writes_lose_no_update() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cb.db");
        let config = BreakerConfig {
            failure_threshold: 1000.0,
            ..BreakerConfig::default()
        };
        let ours = ProductionCircuitBreaker::open(&path, config.clone()).expect("open");
        let other = ProductionCircuitBreaker::open(&path, config).expect("other");
        let fail = |cb: &ProductionCircuitBreaker| {
            let r = cb.call_api("bk", &CallContext::new("op", 1.0), || {
                Err::<(), _>("boom".to_owned())
            });
            assert!(matches!(r, Err(CallError::Upstream(_))), "{r:?}");
        };
        let failures = |cb: &ProductionCircuitBreaker| {
            cb.get_status("bk")
                .expect("status")
                .map_or(0.0, |s| s.failures)
        };
        // Successes leave a latency in memory; the flush writes it behind the cache.
        ok_call(&ours).expect("ok");
        ok_call(&ours).expect("ok");
        ours.flush().expect("flush");
        let latency = ours
            .get_status("bk")
            .expect("status")
            .expect("row")
            .avg_latency;
        assert!(latency.is_some());
        fail(&ours);
        fail(&ours);
        assert_eq!(failures(&ours), 2.0);
        assert_eq!(
            ours.get_status("bk")
                .expect("status")
                .expect("row")
                .avg_latency,
            latency,
            "the failure writes kept the flushed average latency"
        );
        // Our own writes keep the cache valid without a data_version query...
        {
            let mut db = ours.lock();
            let now = db.store.change_token().ok();
            assert_eq!(db.token, now, "token adopted after our write");
        }
        // ...but the other's failures in between are read, not overwritten.
        fail(&other);
        fail(&ours);
        fail(&other);
        fail(&other);
        fail(&ours);
        assert_eq!(failures(&ours), 7.0);
        // The other's failure lands while our call runs, after our admission read the row.
        let r = ours.call_api("bk", &CallContext::new("op", 1.0), || {
            fail(&other);
            Err::<(), _>("boom".to_owned())
        });
        assert!(matches!(r, Err(CallError::Upstream(_))), "{r:?}");
        assert_eq!(failures(&ours), 9.0);
        assert_eq!(failures(&other), 9.0);
    }
}
