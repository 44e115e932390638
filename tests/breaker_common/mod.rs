//! Helpers shared by the integration tests: a breaker on a temporary SQLite file, a manual
//! clock, audit and counter look-ups, and a minimal executor for `call_api_async`.
#![allow(dead_code)]

use breakerctl::clock::ManualClock;
use breakerctl::metrics::RecordingMetrics;
use breakerctl::storage::{AuditFilter, AuditRecord};
use breakerctl::{BreakerConfig, ProductionCircuitBreaker};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// A fixed, realistic epoch-millisecond start for manual clocks (2023-11-14).
pub const T0: i64 = 1_700_000_000_000;

/// A temporary directory and the breaker file inside it (not created yet).
pub struct TempDb {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn temp_db() -> TempDb {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("circuit_breaker.db");
    TempDb { dir, path }
}

/// A breaker on `path` with `config`, a manual clock and a recording metrics sink.
pub fn open_manual(
    path: &std::path::Path,
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

/// The smallest executor that can drive a future to completion: park the thread until woken.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park_timeout(Duration::from_millis(50)),
        }
    }
}

/// A future that is pending once (waking itself from another thread), then ready with `value`,
/// so `block_on` really has to wait for a wake-up.
pub struct YieldOnce<T> {
    value: Option<T>,
    yielded: bool,
}

impl<T> YieldOnce<T> {
    pub fn new(value: T) -> Self {
        YieldOnce {
            value: Some(value),
            yielded: false,
        }
    }
}

impl<T: Unpin> Future for YieldOnce<T> {
    type Output = T;
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if self.yielded {
            Poll::Ready(self.value.take().expect("polled after completion"))
        } else {
            self.yielded = true;
            let waker = cx.waker().clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                waker.wake();
            });
            Poll::Pending
        }
    }
}

/// A config with the seed's thresholds and a flush interval long enough that only explicit
/// flushes, reads and drop write batched results.
pub fn seed_config() -> BreakerConfig {
    BreakerConfig {
        flush_interval: Duration::from_secs(3600),
        ..BreakerConfig::default()
    }
}
