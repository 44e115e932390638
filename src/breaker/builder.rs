//! `BreakerBuilder`: configuration, collaborators, then which store to open.

use super::cache::ReadSide;
use super::outcome::CancelPolicy;
use super::pending::Pending;
use super::writer::{self, Queue};
use super::{Inner, Lifetime, ProductionCircuitBreaker};
use crate::clock::{Clock, SystemClock};
use crate::config::BreakerConfig;
use crate::error::Result;
use crate::load::{LoadMonitor, SystemLoadMonitor};
use crate::machine::Rules;
use crate::metrics::{MetricsSink, NoopMetrics};
use crate::storage::{Backend, OpenMode, SqliteOptions, SqliteStore, Synchronous};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Condvar, Mutex};

/// Builds a breaker: configuration, metrics sink, load monitor and clock, then where to open.
///
/// Made by [`ProductionCircuitBreaker::builder`]. A test drives the time with a
/// [`ManualClock`](crate::clock::ManualClock):
///
/// ```
/// use breakerctl::clock::ManualClock;
/// use breakerctl::metrics::RecordingMetrics;
/// use breakerctl::{BreakerConfig, BreakerState, CallContext, ProductionCircuitBreaker};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// # fn main() -> Result<(), breakerctl::BreakerError> {
/// # let dir = std::env::temp_dir().join(format!("breakerctl-doc-builder-{}", std::process::id()));
/// let clock = ManualClock::new(1_700_000_000_000); // epoch milliseconds
/// let metrics = Arc::new(RecordingMetrics::default());
/// let breaker = ProductionCircuitBreaker::builder()
///     .config(BreakerConfig { failure_threshold: 2.0, ..BreakerConfig::default() })
///     .clock(Arc::new(clock.clone()))
///     .metrics(metrics.clone())
///     .open(dir.join("cb.db"))?;
///
/// let ctx = CallContext::new("microBet", 1.0);
/// for _ in 0..2 {
///     let _ = breaker.call_api("bet365", &ctx, || Err::<(), _>("502 Bad Gateway"));
/// }
/// let state = |b: &ProductionCircuitBreaker| b.get_status("bet365").map(|s| s.map(|s| s.state));
/// assert_eq!(state(&breaker)?, Some(BreakerState::Open));
/// assert_eq!(metrics.counter_total("circuit_breaker_trips_total", &[("bookmaker", "bet365")]), 1.0);
///
/// clock.advance(Duration::from_secs(60)); // the reset timeout
/// assert_eq!(state(&breaker)?, Some(BreakerState::HalfOpen));
/// breaker.call_api("bet365", &ctx, || Ok::<_, &str>(())).expect("the probe is let through");
/// assert_eq!(state(&breaker)?, Some(BreakerState::Closed)); // the probe's success closed it
/// # drop(breaker);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok(())
/// # }
/// ```
pub struct BreakerBuilder {
    config: BreakerConfig,
    synchronous: Synchronous,
    separate_reader: bool,
    cancel_policy: CancelPolicy,
    metrics: Arc<dyn MetricsSink>,
    load: Arc<dyn LoadMonitor>,
    clock: Arc<dyn Clock>,
}

impl Default for BreakerBuilder {
    fn default() -> Self {
        BreakerBuilder {
            config: BreakerConfig::default(),
            synchronous: Synchronous::Normal,
            separate_reader: true,
            cancel_policy: CancelPolicy::default(),
            metrics: Arc::new(NoopMetrics),
            load: Arc::new(SystemLoadMonitor::default()),
            clock: Arc::new(SystemClock),
        }
    }
}

impl BreakerBuilder {
    /// The breaker's thresholds and timeouts.
    pub fn config(mut self, config: BreakerConfig) -> Self {
        self.config = config;
        self
    }
    /// SQLite only: how durable the breaker's ordinary writes are (operator actions are always
    /// `FULL`). Default `Normal`.
    pub fn synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }
    /// Where counters and gauges go (no-op by default).
    pub fn metrics(mut self, metrics: Arc<dyn MetricsSink>) -> Self {
        self.metrics = metrics;
        self
    }
    /// How the host's load is measured for load shedding (`/proc` by default).
    pub fn load_monitor(mut self, load: Arc<dyn LoadMonitor>) -> Self {
        self.load = load;
        self
    }
    /// The clock (the system clock by default; tests drive a manual one).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Opens `path`, creating the file and schema when missing (as the seed does).
    pub fn open(self, path: impl AsRef<Path>) -> Result<ProductionCircuitBreaker> {
        self.open_mode(path.as_ref(), OpenMode::CreateIfMissing)
    }
    /// Opens an existing breaker database; never creates one.
    pub fn open_existing(self, path: impl AsRef<Path>) -> Result<ProductionCircuitBreaker> {
        self.open_mode(path.as_ref(), OpenMode::MustExist)
    }
    /// Opens an existing breaker database for reading only.
    pub fn open_read_only(self, path: impl AsRef<Path>) -> Result<ProductionCircuitBreaker> {
        self.open_mode(path.as_ref(), OpenMode::ReadOnly)
    }
    /// Uses a store the caller opened, of any backend (for SQLite, for example,
    /// [`SqliteStore::from_connection`] on a connection of the caller's).
    pub fn store(self, store: Box<dyn Backend>) -> ProductionCircuitBreaker {
        self.build(store, None)
    }

    /// Whether a store opened by path gets a second connection for reads (default: yes), so a
    /// write waiting on a busy store never stalls a call to another bookmaker. One-shot tools
    /// (the CLI) save the second open.
    pub fn separate_reader(mut self, separate: bool) -> Self {
        self.separate_reader = separate;
        self
    }

    /// What a call that is cancelled or panics after admission records (default: a timeout).
    pub fn cancel_policy(mut self, policy: CancelPolicy) -> Self {
        self.cancel_policy = policy;
        self
    }

    /// The SQLite settings for a file opened by path: the busy timeout is the config's.
    pub fn sqlite_options(&self) -> SqliteOptions {
        SqliteOptions {
            busy_timeout: self.config.busy_timeout,
            synchronous: self.synchronous,
        }
    }

    fn open_mode(self, path: &Path, mode: OpenMode) -> Result<ProductionCircuitBreaker> {
        let options = self.sqlite_options();
        let store = SqliteStore::open(path, mode, options)?;
        // A second connection for reads, so that a write waiting on another process's lock
        // stalls no admission (WAL readers never wait for writers).
        let reader = if self.separate_reader && mode != OpenMode::ReadOnly {
            Some(SqliteStore::open(path, OpenMode::MustExist, options)?)
        } else {
            None
        };
        Ok(match reader {
            Some(reader) => self.build(Box::new(reader), Some(Box::new(store))),
            None => self.build(Box::new(store), None),
        })
    }

    fn build(
        self,
        read: Box<dyn Backend>,
        write: Option<Box<dyn Backend>>,
    ) -> ProductionCircuitBreaker {
        let rules = Rules::from(&self.config);
        let inner = Arc::new(Inner {
            rules,
            config: self.config,
            read: Mutex::new(ReadSide::new(read)),
            write: write.map(Mutex::new),
            pending: Mutex::new(Pending::default()),
            queue: Mutex::new(Queue::default()),
            queue_changed: Condvar::new(),
            metrics: self.metrics,
            load: self.load,
            clock: self.clock,
            in_flight: AtomicUsize::new(0),
            instance: crate::process::instance_id(),
            cancel_policy: self.cancel_policy,
            writer_started: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            writer_thread: Mutex::new(None),
        });
        writer::start(&inner);
        ProductionCircuitBreaker {
            _life: Arc::new(Lifetime {
                inner: Arc::clone(&inner),
            }),
            inner,
        }
    }
}
