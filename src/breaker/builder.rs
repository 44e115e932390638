//! `BreakerBuilder`: configuration, collaborators, then which store to open.

use super::cache::Db;
use super::{Inner, ProductionCircuitBreaker};
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
pub struct BreakerBuilder {
    config: BreakerConfig,
    synchronous: Synchronous,
    metrics: Arc<dyn MetricsSink>,
    load: Arc<dyn LoadMonitor>,
    clock: Arc<dyn Clock>,
}

impl Default for BreakerBuilder {
    fn default() -> Self {
        BreakerBuilder {
            config: BreakerConfig::default(),
            synchronous: Synchronous::Normal,
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
        self.build(store)
    }

    /// The SQLite settings for a file opened by path: the busy timeout is the config's.
    pub fn sqlite_options(&self) -> SqliteOptions {
        SqliteOptions {
            busy_timeout: self.config.busy_timeout,
            synchronous: self.synchronous,
        }
    }

    fn open_mode(self, path: &Path, mode: OpenMode) -> Result<ProductionCircuitBreaker> {
        let store = SqliteStore::open(path, mode, self.sqlite_options())?;
        Ok(self.build(Box::new(store)))
    }

    fn build(self, store: Box<dyn Backend>) -> ProductionCircuitBreaker {
        let rules = Rules::from(&self.config);
        ProductionCircuitBreaker {
            inner: Arc::new(Inner {
                rules,
                config: self.config,
                db: Mutex::new(Db::new(store)),
                metrics: self.metrics,
                load: self.load,
                clock: self.clock,
                in_flight: AtomicUsize::new(0),
                instance: crate::process::instance_id(),
                flusher_started: AtomicBool::new(false),
                stop: Mutex::new(false),
                wake: Condvar::new(),
            }),
            flusher: Mutex::new(None),
        }
    }
}
