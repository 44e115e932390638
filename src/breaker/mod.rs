//! `ProductionCircuitBreaker`: the state machine of `machine.rs` on a shared store
//! (`storage`), with the healthy path kept in memory.
//!
//! Where each write happens, and why:
//! - A healthy call reads the breaker from an in-process cache, validated on every call
//!   against the store's change token (SQLite: the WAL index header in shared memory, which
//!   every commit of every process rewrites, read lock-free with no system call); so a trip
//!   made by another process is seen by the very next call. Its latency and any rejection
//!   counts go to an in-memory batch that the breaker's writer thread writes about once a
//!   second (and on `flush` and drop).
//! - A failure, a trip, a probe claim or result, and every operator action is written before
//!   the synchronous call returns. The asynchronous call hands its write to the writer thread
//!   and awaits it, so no executor thread ever blocks on the store. A failure that trips
//!   nothing, on a row in the cache, is one guarded UPDATE; everything else is one write
//!   transaction that re-reads the row (unless nothing was committed since the cache was
//!   exact), so no update made by another process is lost and an audit row commits with its
//!   state change.
//! - Reads (the change token, row loads) use their own connection when the store can be
//!   opened twice, so a write waiting on another process's lock stalls no other call.
//! - A write that cannot be made within the busy timeout is kept, in order, and retried by the
//!   writer thread until it is made; [`ProductionCircuitBreaker::pending_writes`] says how
//!   many wait.

mod builder;
mod cache;
mod calls;
mod completion;
mod names;
mod operator;
mod outcome;
mod pending;
mod record;
mod types;
mod writer;

pub use builder::BreakerBuilder;
pub use calls::FlushGuard;
pub use completion::WriteOutcome;
pub use names::{closest_names, message_says_timeout, validate_name};
pub use outcome::{CancelPolicy, Outcome, chain_has_timeout, default_outcome, error_is_timeout};
pub use types::{BookmakerStatus, CallContext, ResetOptions, ResetPreview};

use crate::clock::Clock;
use crate::config::BreakerConfig;
use crate::error::Result;
use crate::load::LoadMonitor;
use crate::machine::{BreakerRow, Rules, Transition};
use crate::metrics::MetricsSink;
use crate::storage::{Backend, Durability, NewAudit, OwnCommit, WriteTx};
use cache::ReadSide;
use pending::Pending;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;
use writer::Queue;

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

/// The production circuit breaker. `Send + Sync` and `Clone` (clones share one breaker: one
/// cache, one connection pair, one writer thread); the last clone dropped writes what is
/// pending.
#[derive(Clone)]
pub struct ProductionCircuitBreaker {
    inner: Arc<Inner>,
    _life: Arc<Lifetime>,
}

struct Inner {
    config: BreakerConfig,
    rules: Rules,
    /// The change token, row loads and the row cache: held for microseconds.
    read: Mutex<ReadSide>,
    /// The connection writes go through; `None` when the store could not be opened twice, and
    /// the read side's connection writes as well.
    write: Option<Mutex<Box<dyn Backend>>>,
    /// Success latencies and counters waiting for the next flush.
    pending: Mutex<Pending>,
    /// Writes waiting for the writer thread, in order.
    queue: Mutex<Queue>,
    queue_changed: Condvar,
    metrics: Arc<dyn MetricsSink>,
    load: Arc<dyn LoadMonitor>,
    clock: Arc<dyn Clock>,
    in_flight: AtomicUsize,
    /// Names this instance as a probe lease owner.
    instance: String,
    cancel_policy: CancelPolicy,
    writer_started: AtomicBool,
    stop: AtomicBool,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
}

/// Dropped with the last clone of the breaker: stops the writer thread, then writes what is
/// still pending.
struct Lifetime {
    inner: Arc<Inner>,
}

impl Drop for Lifetime {
    fn drop(&mut self) {
        writer::shut_down(&self.inner);
    }
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock leaves at worst a stale cache, which the next change-token
    // check discards; the store itself is transactional.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    fn read_side(&self) -> MutexGuard<'_, ReadSide> {
        lock(&self.read)
    }

    /// Runs `f` on the connection writes go through (the read side's when there is no other).
    fn with_writer<T>(&self, f: impl FnOnce(&mut dyn Backend) -> T) -> T {
        match &self.write {
            Some(w) => f(&mut **lock(w)),
            None => f(&mut *self.read_side().store),
        }
    }

    /// Runs one write transaction and keeps the cache in step with what it wrote.
    fn write<T>(
        &self,
        durability: Durability,
        f: impl FnOnce(&mut dyn WriteTx) -> Result<(T, Option<BreakerRow>)>,
    ) -> Result<T> {
        let (value, row, commit) = self.with_writer(|store| {
            let (value, row) = store.write(durability, f)?;
            Ok::<_, crate::error::BreakerError>((value, row, store.own_commit()))
        })?;
        if let Some(row) = row {
            let name = row.bookmaker.clone();
            self.after_write(&name, Some(row), commit);
        }
        Ok(value)
    }

    /// After a committed write of `bookmaker`'s row: the cache takes the row when the write
    /// provably was the only commit since the cache was exact (or the cache was refreshed to
    /// exactly that commit); otherwise it forgets the row, and the next call reads it.
    fn after_write(&self, bookmaker: &str, row: Option<BreakerRow>, commit: Option<OwnCommit>) {
        let mut read = self.read_side();
        match (commit, row) {
            (Some(c), Some(row)) if read.token == Some(c.before) => {
                read.rows.insert(bookmaker.to_owned(), Some(row));
                read.token = Some(c.after);
            }
            (Some(c), Some(row)) if read.token == Some(c.after) => {
                read.rows.insert(bookmaker.to_owned(), Some(row));
            }
            // Without a second connection the read side's connection wrote: its own
            // `data_version` does not move, so the row is the cache's to keep.
            (None, Some(row))
                if self.write.is_none() && read.token.is_some_and(|t| t.is_counter()) =>
            {
                read.rows.insert(bookmaker.to_owned(), Some(row));
            }
            _ => {
                read.rows.remove(bookmaker);
            }
        }
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
            ours.inner
                .read_side()
                .token
                .is_some_and(|t| !t.is_counter()),
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
            let mut read = ours.inner.read_side();
            let now = read.store.change_token().ok();
            assert_eq!(read.token, now, "token adopted after our write");
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
