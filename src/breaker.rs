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

use crate::clock::{Clock, SystemClock};
use crate::config::{BreakerConfig, Synchronous};
use crate::error::{BreakerError, CallError, Result};
use crate::load::{LoadMonitor, SystemLoadMonitor};
use crate::machine::{
    self, Admission, AuditAction, BreakerRow, BreakerState, LatencyBatch, Rules, Transition,
};
use crate::metrics::{MetricsSink, NoopMetrics};
use crate::storage::{
    AuditFilter, AuditRecord, CounterRow, FlushBatch, NewAudit, OpenMode, Store, StoreOptions,
    WalHeader, WriteTx,
};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest bookmaker name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// The actor recorded for transitions the breaker makes by itself.
pub const SYSTEM_ACTOR: &str = "system";
/// Counter reasons kept in `circuit_breaker_counters`.
pub const REASON_TRIPPED: &str = "tripped";
pub const REASON_LOAD_SHED: &str = "load_shed";
pub const REASON_RESET: &str = "reset";
pub const REASON_FORCED_RESET: &str = "forced_reset";
/// How long a background flush waits for the write lock before leaving the batch for later.
const BACKGROUND_FLUSH_BUSY: Duration = Duration::from_millis(50);
/// The cache is dropped wholesale past this many bookmakers, bounding memory.
const MAX_CACHED: usize = 10_000;

/// What a call is, for load shedding and the counters.
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    /// e.g. `deepProbe`, `microBet`.
    pub operation: &'a str,
    /// Estimated load impact (the seed's 0..1000 scale).
    pub estimated_load: f64,
}

impl<'a> CallContext<'a> {
    pub fn new(operation: &'a str, estimated_load: f64) -> Self {
        CallContext {
            operation,
            estimated_load,
        }
    }
}

/// The seed's `BookmakerStatus` plus the state and the added facts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BookmakerStatus {
    pub bookmaker: String,
    pub tripped: bool,
    pub failures: f64,
    pub failure_threshold: f64,
    pub last_error: Option<String>,
    pub avg_latency: Option<f64>,
    pub last_failure_at: Option<i64>,
    pub trip_count: i64,
    pub last_reset_at: Option<i64>,
    pub last_reset_by: Option<String>,
    pub last_reset_reason: Option<String>,
    pub state: BreakerState,
    pub tripped_at: Option<i64>,
    pub probe_in_flight: bool,
    pub last_success_at: Option<i64>,
    pub updated_at: i64,
}

impl BookmakerStatus {
    pub fn from_row(row: &BreakerRow, rules: &Rules, now: i64) -> BookmakerStatus {
        BookmakerStatus {
            bookmaker: row.bookmaker.clone(),
            tripped: row.tripped,
            failures: row.failure_count,
            failure_threshold: rules.failure_threshold,
            last_error: row.last_error.clone(),
            avg_latency: row.avg_latency,
            last_failure_at: row.last_failure_at,
            trip_count: row.trip_count,
            last_reset_at: row.last_reset_at,
            last_reset_by: row.last_reset_by.clone(),
            last_reset_reason: row.last_reset_reason.clone(),
            state: machine::state_of(row, rules, now),
            tripped_at: if row.tripped {
                row.trip_started_at()
            } else {
                None
            },
            probe_in_flight: row.probe_in_flight(now),
            last_success_at: row.last_success_at,
            updated_at: row.updated_at,
        }
    }
}

/// An operator's reset request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResetOptions<'a> {
    pub reason: Option<&'a str>,
    pub user: &'a str,
    pub force: bool,
}

/// Whether a reset would go ahead now (`reset --dry-run`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetPreview {
    pub bookmaker: String,
    pub allowed: bool,
    pub state: BreakerState,
    pub elapsed_ms: Option<i64>,
    pub remaining_ms: i64,
    pub cooldown_ms: i64,
}

/// Builds a breaker: configuration, metrics sink, load monitor and clock, then where to open.
pub struct BreakerBuilder {
    config: BreakerConfig,
    metrics: Arc<dyn MetricsSink>,
    load: Arc<dyn LoadMonitor>,
    clock: Arc<dyn Clock>,
}

impl Default for BreakerBuilder {
    fn default() -> Self {
        BreakerBuilder {
            config: BreakerConfig::default(),
            metrics: Arc::new(NoopMetrics),
            load: Arc::new(SystemLoadMonitor::default()),
            clock: Arc::new(SystemClock),
        }
    }
}

impl BreakerBuilder {
    pub fn config(mut self, config: BreakerConfig) -> Self {
        self.config = config;
        self
    }
    pub fn metrics(mut self, metrics: Arc<dyn MetricsSink>) -> Self {
        self.metrics = metrics;
        self
    }
    pub fn load_monitor(mut self, load: Arc<dyn LoadMonitor>) -> Self {
        self.load = load;
        self
    }
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
    /// Uses a connection the caller opened (migrated like a file).
    pub fn from_connection(self, conn: rusqlite::Connection) -> Result<ProductionCircuitBreaker> {
        let store = Store::from_connection(conn, self.store_options())?;
        Ok(self.build(store))
    }

    fn store_options(&self) -> StoreOptions {
        StoreOptions {
            busy_timeout: self.config.busy_timeout,
            synchronous: self.config.synchronous,
        }
    }

    fn open_mode(self, path: &Path, mode: OpenMode) -> Result<ProductionCircuitBreaker> {
        let store = Store::open(path, mode, self.store_options())?;
        Ok(self.build(store))
    }

    fn build(self, store: Store) -> ProductionCircuitBreaker {
        let rules = Rules::from(&self.config);
        ProductionCircuitBreaker {
            inner: Arc::new(Inner {
                rules,
                config: self.config,
                db: Mutex::new(Db {
                    store,
                    version: None,
                    header: None,
                    cache: HashMap::new(),
                    pending: Pending::default(),
                }),
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

/// The connection, the cache it validates, and results not yet written.
struct Db {
    store: Store,
    /// `PRAGMA data_version` when the cache was last known good (without a shared wal-index).
    version: Option<i64>,
    /// The wal-index header at which the cache is exact: while the header stays the same,
    /// nothing at all has been committed since, and the cache needs no query.
    header: Option<WalHeader>,
    /// Rows as last read or written by this process; `None` = no such row.
    cache: HashMap<String, Option<BreakerRow>>,
    pending: Pending,
}

impl Db {
    /// Drops the cache when another connection has committed since it was filled.
    ///
    /// In WAL mode the wal-index header is read, lock-free and without a system call: when it
    /// is what it was when the cache was last known exact, no connection of any process has
    /// committed since, and the cache is valid. When it is not, the cache is dropped and the
    /// header read *before* any row is read again is remembered, so a commit landing after it
    /// changes the header seen next time. Our own commits do not drop it: each write adopts
    /// the header after it when its commit was provably the only one (`adopt_own_commit`).
    /// Without a shared wal-index, `PRAGMA data_version` decides (it changes only when another
    /// connection commits).
    fn refresh(&mut self) -> Result<()> {
        let header = self.store.wal_header();
        if header.is_some() {
            if header != self.header || self.cache.len() > MAX_CACHED {
                self.cache.clear();
                self.header = header;
            }
            return Ok(());
        }
        let version = self.store.data_version()?;
        if self.version != Some(version) || self.cache.len() > MAX_CACHED {
            self.cache.clear();
            self.version = Some(version);
        }
        self.header = header;
        Ok(())
    }

    /// After a write of ours whose row went into the cache: when the cache was exact at the
    /// header the write began from, and ours was the only commit since, the cache is exact at
    /// the header after it, and the next call needs no `data_version` query for our own write.
    fn adopt_own_commit(&mut self) {
        if let Some(commit) = self.store.own_commit()
            && self.header == Some(commit.before)
        {
            self.header = Some(commit.after);
        }
    }

    /// `f` of the row, from the cache (one hash lookup) or else read and cached.
    fn with_row<R>(
        &mut self,
        bookmaker: &str,
        f: impl FnOnce(Option<&BreakerRow>) -> R,
    ) -> Result<R> {
        if let Some(row) = self.cache.get(bookmaker) {
            return Ok(f(row.as_ref()));
        }
        let row = self.store.load(bookmaker)?;
        let out = f(row.as_ref());
        self.cache.insert(bookmaker.to_owned(), row);
        Ok(out)
    }

    /// Writes this process's pending results so a read sees them. When another process holds
    /// the write lock, the read goes ahead without them (they are at most a second old) rather
    /// than failing: looking must not depend on the write lock.
    fn flush_before_read(&mut self, now: i64) -> Result<()> {
        match self.flush(now, BACKGROUND_FLUSH_BUSY) {
            Err(BreakerError::Busy { .. }) | Err(BreakerError::ReadOnly { .. }) => Ok(()),
            other => other,
        }
    }

    /// Writes pending results; they stay pending if the write fails.
    fn flush(&mut self, now: i64, busy: Duration) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = self.pending.to_batch();
        self.store.flush(&batch, now, busy)?;
        // The batch changed these rows (average latency, last success) behind the cache;
        // the rest of it is still exact.
        for bookmaker in self.pending.latencies.keys() {
            self.cache.remove(bookmaker);
        }
        self.adopt_own_commit();
        self.pending = Pending::default();
        Ok(())
    }
}

/// Counts by reason, for one bookmaker and operation.
type ReasonCounts = Vec<(&'static str, u64)>;

#[derive(Default)]
struct Pending {
    latencies: HashMap<String, (LatencyBatch, i64)>,
    /// bookmaker -> operation -> (reason, count); a call counts under one or two reasons, so
    /// a short list is cheaper than a third hash map.
    counters: HashMap<String, HashMap<String, ReasonCounts>>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.latencies.is_empty() && self.counters.is_empty()
    }

    fn add_latency(&mut self, bookmaker: &str, latency_ms: f64, smoothing: f64, now: i64) {
        if let Some((batch, last)) = self.latencies.get_mut(bookmaker) {
            batch.add(latency_ms, smoothing);
            *last = now;
        } else {
            let mut batch = LatencyBatch::default();
            batch.add(latency_ms, smoothing);
            self.latencies.insert(bookmaker.to_owned(), (batch, now));
        }
    }

    fn count(&mut self, bookmaker: &str, operation: &str, reason: &'static str) {
        let by_op = match self.counters.get_mut(bookmaker) {
            Some(m) => m,
            None => self.counters.entry(bookmaker.to_owned()).or_default(),
        };
        let by_reason = match by_op.get_mut(operation) {
            Some(m) => m,
            None => by_op.entry(operation.to_owned()).or_default(),
        };
        match by_reason.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => by_reason.push((reason, 1)),
        }
    }

    fn to_batch(&self) -> FlushBatch {
        FlushBatch {
            latencies: self
                .latencies
                .iter()
                .map(|(b, (batch, last))| (b.clone(), *batch, *last))
                .collect(),
            counters: self
                .counters
                .iter()
                .flat_map(|(b, ops)| {
                    ops.iter().flat_map(move |(op, reasons)| {
                        reasons
                            .iter()
                            .map(move |(r, n)| (b.clone(), op.clone(), (*r).to_owned(), *n))
                    })
                })
                .collect(),
        }
    }
}

/// A call admitted through the breaker; dropping it ends the in-flight count.
struct Permit<'a> {
    inner: &'a Inner,
    probe: bool,
    started: Instant,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.inner.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

enum Refusal {
    Tripped(BreakerState),
    LoadShed(f64),
    Breaker(BreakerError),
}

impl From<BreakerError> for Refusal {
    fn from(e: BreakerError) -> Self {
        Refusal::Breaker(e)
    }
}

/// The seed's classification: an error whose message mentions a timeout weighs as a timeout.
pub fn message_says_timeout(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("timeout") || lower.contains("timed out")
}

/// Checks a bookmaker name: not empty, not longer than `MAX_NAME_BYTES`.
pub fn validate_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(BreakerError::InvalidName {
            detail: "the name is empty".to_owned(),
        });
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(BreakerError::InvalidName {
            detail: format!(
                "the name is {} bytes long; at most {MAX_NAME_BYTES} are allowed",
                name.len()
            ),
        });
    }
    Ok(())
}

/// Known names closest to `name`, best first (for "did you mean").
pub fn closest_names(name: &str, known: &[String]) -> Vec<String> {
    let lower = name.to_lowercase();
    let mut scored: Vec<(f64, &String)> = known
        .iter()
        .map(|k| (strsim::jaro_winkler(&lower, &k.to_lowercase()), k))
        .filter(|(score, k)| *score >= 0.75 || strsim::levenshtein(&lower, &k.to_lowercase()) <= 2)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.into_iter().take(3).map(|(_, k)| k.clone()).collect()
}

impl ProductionCircuitBreaker {
    pub fn builder() -> BreakerBuilder {
        BreakerBuilder::default()
    }

    /// Opens (creating when missing) with the given configuration and default collaborators.
    pub fn open(path: impl AsRef<Path>, config: BreakerConfig) -> Result<Self> {
        Self::builder().config(config).open(path)
    }

    /// Wraps an existing connection.
    pub fn from_connection(conn: rusqlite::Connection, config: BreakerConfig) -> Result<Self> {
        Self::builder().config(config).from_connection(conn)
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.inner.config
    }

    pub fn rules(&self) -> &Rules {
        &self.inner.rules
    }

    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Calls currently running through this breaker.
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Db> {
        // A panic while holding the lock leaves at worst a stale cache, which the next
        // data_version check discards; the database itself is transactional.
        self.inner.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wraps an upstream call. Errors whose message contains "timeout" count as timeouts.
    pub fn call_api<T, E: Display>(
        &self,
        bookmaker: &str,
        ctx: &CallContext<'_>,
        call: impl FnOnce() -> std::result::Result<T, E>,
    ) -> std::result::Result<T, CallError<E>> {
        self.call_api_classified(bookmaker, ctx, call, |e: &E| {
            message_says_timeout(&e.to_string())
        })
    }

    /// As `call_api`, with the caller saying which of its errors are timeouts.
    pub fn call_api_classified<T, E: Display>(
        &self,
        bookmaker: &str,
        ctx: &CallContext<'_>,
        call: impl FnOnce() -> std::result::Result<T, E>,
        is_timeout: impl FnOnce(&E) -> bool,
    ) -> std::result::Result<T, CallError<E>> {
        let permit = self
            .admit(bookmaker, ctx)
            .map_err(|r| self.refusal(bookmaker, ctx, r))?;
        let result = call();
        self.finish(bookmaker, ctx, permit, result, is_timeout)
    }

    /// Wraps an upstream future; needs no particular async runtime. The breaker's own checks
    /// and writes run synchronously before and after the future.
    pub async fn call_api_async<T, E: Display, F>(
        &self,
        bookmaker: &str,
        ctx: &CallContext<'_>,
        call: F,
    ) -> std::result::Result<T, CallError<E>>
    where
        F: Future<Output = std::result::Result<T, E>>,
    {
        let permit = self
            .admit(bookmaker, ctx)
            .map_err(|r| self.refusal(bookmaker, ctx, r))?;
        let result = call.await;
        self.finish(bookmaker, ctx, permit, result, |e: &E| {
            message_says_timeout(&e.to_string())
        })
    }

    fn admit(
        &self,
        bookmaker: &str,
        ctx: &CallContext<'_>,
    ) -> std::result::Result<Permit<'_>, Refusal> {
        validate_name(bookmaker)?;
        let inner = &*self.inner;
        let now = inner.clock.now_ms();
        let admission = {
            let mut db = self.lock();
            db.refresh()?;
            db.with_row(bookmaker, |row| machine::admit(row, &inner.rules, now))?
        };
        // (1) An open breaker rejects before anything else.
        if let Admission::Reject(state) = admission {
            return Err(Refusal::Tripped(state));
        }
        // (2) Heavy work is shed while the host is overloaded. Light calls never read the load.
        if ctx.estimated_load > inner.config.heavy_operation_threshold {
            let load = inner.load.system_load(
                inner.in_flight.load(Ordering::Relaxed),
                inner.config.in_flight_capacity,
            );
            if load > inner.config.load_shed_threshold {
                return Err(Refusal::LoadShed(load));
            }
        }
        let probe = match admission {
            Admission::ProbeCandidate => {
                if !self.claim_probe(bookmaker, ctx, now)? {
                    return Err(Refusal::Tripped(BreakerState::HalfOpen));
                }
                true
            }
            _ => false,
        };
        inner.in_flight.fetch_add(1, Ordering::Relaxed);
        Ok(Permit {
            inner,
            probe,
            started: Instant::now(),
        })
    }

    /// Counts and logs a refused call and turns it into the caller's error type.
    fn refusal<E>(&self, bookmaker: &str, ctx: &CallContext<'_>, refusal: Refusal) -> CallError<E> {
        let inner = &*self.inner;
        match refusal {
            Refusal::Tripped(state) => {
                self.lock()
                    .pending
                    .count(bookmaker, ctx.operation, REASON_TRIPPED);
                self.ensure_flusher();
                inner.metrics.counter(
                    "circuit_breaker_rejected_total",
                    1.0,
                    &[
                        ("bookmaker", bookmaker),
                        ("operation", ctx.operation),
                        ("reason", REASON_TRIPPED),
                    ],
                );
                tracing::debug!(bookmaker, operation = ctx.operation, reason = REASON_TRIPPED, actor = SYSTEM_ACTOR, state = %state, "call rejected: breaker open");
                CallError::Tripped {
                    bookmaker: bookmaker.to_owned(),
                    operation: ctx.operation.to_owned(),
                    state,
                }
            }
            Refusal::LoadShed(system_load) => {
                self.lock()
                    .pending
                    .count(bookmaker, ctx.operation, REASON_LOAD_SHED);
                self.ensure_flusher();
                let labels = [("bookmaker", bookmaker), ("operation", ctx.operation)];
                inner.metrics.counter(
                    "circuit_breaker_rejected_total",
                    1.0,
                    &[labels[0], labels[1], ("reason", REASON_LOAD_SHED)],
                );
                inner
                    .metrics
                    .counter("load_shed_rejected_total", 1.0, &labels);
                tracing::info!(
                    bookmaker,
                    operation = ctx.operation,
                    reason = REASON_LOAD_SHED,
                    actor = SYSTEM_ACTOR,
                    system_load,
                    estimated_load = ctx.estimated_load,
                    "call shed: host overloaded"
                );
                CallError::LoadShed {
                    bookmaker: bookmaker.to_owned(),
                    operation: ctx.operation.to_owned(),
                    system_load,
                }
            }
            Refusal::Breaker(e) => CallError::Breaker(e),
        }
    }

    fn finish<T, E: Display>(
        &self,
        bookmaker: &str,
        ctx: &CallContext<'_>,
        permit: Permit<'_>,
        result: std::result::Result<T, E>,
        is_timeout: impl FnOnce(&E) -> bool,
    ) -> std::result::Result<T, CallError<E>> {
        let latency_ms = permit.started.elapsed().as_secs_f64() * 1000.0;
        let probe = permit.probe;
        drop(permit);
        match result {
            Ok(value) => {
                if let Err(e) = self.on_success(bookmaker, latency_ms, probe, Some(ctx.operation)) {
                    tracing::error!(bookmaker, operation = ctx.operation, error = %e, "could not record a success");
                }
                Ok(value)
            }
            Err(err) => {
                let weight = if is_timeout(&err) {
                    self.inner.config.timeout_weight
                } else {
                    1.0
                };
                if let Err(e) = self.on_failure(
                    bookmaker,
                    weight,
                    &err.to_string(),
                    probe,
                    Some(ctx.operation),
                ) {
                    tracing::error!(bookmaker, operation = ctx.operation, error = %e, "could not record a failure");
                }
                Err(CallError::Upstream(err))
            }
        }
    }

    /// Runs one write transaction and keeps the cache in step with what it wrote.
    fn write<T>(
        &self,
        db: &mut Db,
        sync: Option<Synchronous>,
        f: impl FnOnce(&mut WriteTx<'_>) -> Result<(T, Option<BreakerRow>)>,
    ) -> Result<T> {
        let (value, row) = db.store.write_with(sync, f)?;
        if let Some(row) = row {
            db.cache.insert(row.bookmaker.clone(), Some(row));
        }
        db.adopt_own_commit();
        Ok(value)
    }

    fn audit_transition(
        tx: &WriteTx<'_>,
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
        })
    }

    fn claim_probe(&self, bookmaker: &str, ctx: &CallContext<'_>, now: i64) -> Result<bool> {
        let inner = &*self.inner;
        let mut db = self.lock();
        let claimed = self.write(&mut db, None, |tx| {
            let Some(row) = tx.load(bookmaker)? else {
                return Ok((false, None));
            };
            match machine::claim_probe(&row, &inner.instance, &inner.rules, now) {
                Some((next, t)) => {
                    tx.save(&next)?;
                    Self::audit_transition(tx, &next, &t, Some(ctx.operation), now)?;
                    Ok((true, Some(next)))
                }
                None => Ok((false, Some(row))),
            }
        })?;
        if claimed {
            tracing::info!(
                bookmaker,
                operation = ctx.operation,
                reason = "half_open_probe",
                actor = SYSTEM_ACTOR,
                "half-open probe started"
            );
        }
        Ok(claimed)
    }

    fn on_success(
        &self,
        bookmaker: &str,
        latency_ms: f64,
        probe: bool,
        operation: Option<&str>,
    ) -> Result<()> {
        let inner = &*self.inner;
        let now = inner.clock.now_ms();
        let mut db = self.lock();
        if !probe {
            db.refresh()?;
            let clean = db.with_row(bookmaker, |row| row.is_none_or(|r| r.failure_count == 0.0))?;
            if clean {
                db.pending
                    .add_latency(bookmaker, latency_ms, inner.rules.latency_smoothing, now);
                drop(db);
                self.ensure_flusher();
                return Ok(());
            }
        }
        // Failures to clear, or a probe's verdict: write now. Latencies still waiting in memory
        // for this bookmaker came first, so they are folded in before this one.
        let waiting = db.pending.latencies.remove(bookmaker);
        let mut batch = waiting.map(|(b, _)| b).unwrap_or_default();
        batch.add(latency_ms, inner.rules.latency_smoothing);
        let written = self.write(&mut db, None, |tx| {
            let row = tx.load(bookmaker)?;
            let mut closed = false;
            let mut next = match row {
                Some(ref r) if probe && machine::holds_probe(r, &inner.instance) => {
                    let (next, t) = machine::probe_succeeded(r, latency_ms, &inner.rules, now);
                    Self::audit_transition(tx, &next, &t, operation, now)?;
                    closed = true;
                    next
                }
                _ => {
                    machine::record_success(row.as_ref(), bookmaker, latency_ms, &inner.rules, now)
                }
            };
            next.avg_latency = Some(batch.apply(row.as_ref().and_then(|r| r.avg_latency)));
            tx.save(&next)?;
            Ok((closed, Some(next)))
        });
        let closed = match written {
            Ok(closed) => closed,
            Err(e) => {
                // Nothing was written: the latencies that were waiting go back to wait.
                if let Some(waiting) = waiting {
                    db.pending.latencies.insert(bookmaker.to_owned(), waiting);
                }
                return Err(e);
            }
        };
        drop(db);
        if closed {
            inner
                .metrics
                .gauge("circuit_breaker_tripped", 0.0, &[("bookmaker", bookmaker)]);
            tracing::info!(
                bookmaker,
                operation,
                reason = "half_open_probe_succeeded",
                actor = SYSTEM_ACTOR,
                "breaker closed by probe"
            );
        }
        Ok(())
    }

    fn on_failure(
        &self,
        bookmaker: &str,
        weight: f64,
        error: &str,
        probe: bool,
        operation: Option<&str>,
    ) -> Result<()> {
        let inner = &*self.inner;
        let now = inner.clock.now_ms();
        let mut db = self.lock();
        // Taken out of the cache: the row written goes back in.
        let cached = db.cache.remove(bookmaker);
        // A failure that trips nothing, on a row we know: one guarded UPDATE, no transaction.
        if !probe && let Some(Some(old)) = &cached {
            let (next, t) =
                machine::record_failure(Some(old), bookmaker, weight, error, &inner.rules, now);
            if t.is_none() && db.store.save_failure_if_unchanged(old, &next)? {
                db.cache.insert(next.bookmaker.clone(), Some(next));
                db.adopt_own_commit();
                return Ok(());
            }
        }
        // The cached row is the stored one if nothing at all has been committed since the
        // header at which the cache was last known exact: then the transaction need not read
        // it again.
        let known = db.header.zip(cached);
        let transition = self.write(&mut db, None, |tx| {
            let row = match known {
                Some((header, row)) if tx.header_at_begin() == Some(header) => row,
                _ => tx.load(bookmaker)?,
            };
            let (next, t) = match row {
                Some(ref r) if probe && machine::holds_probe(r, &inner.instance) => {
                    let (next, t) = machine::probe_failed(r, weight, error, &inner.rules, now);
                    (next, Some(t))
                }
                _ => machine::record_failure(
                    row.as_ref(),
                    bookmaker,
                    weight,
                    error,
                    &inner.rules,
                    now,
                ),
            };
            tx.save_over(row.as_ref(), &next)?;
            if let Some(t) = &t {
                Self::audit_transition(tx, &next, t, operation, now)?;
            }
            Ok((t, Some(next)))
        })?;
        drop(db);
        if let Some(t) = transition {
            let op = operation.unwrap_or("");
            if t.action == AuditAction::Trip {
                inner
                    .metrics
                    .gauge("circuit_breaker_tripped", 1.0, &[("bookmaker", bookmaker)]);
                inner.metrics.counter(
                    "circuit_breaker_trips_total",
                    1.0,
                    &[("bookmaker", bookmaker)],
                );
                tracing::warn!(bookmaker, operation = op, reason = %t.reason, actor = SYSTEM_ACTOR, "breaker tripped");
            } else {
                tracing::warn!(bookmaker, operation = op, reason = %t.reason, actor = SYSTEM_ACTOR, "breaker re-opened by failed probe");
            }
        }
        Ok(())
    }

    /// Records a hard failure (weight 1.0), durably, before returning.
    pub fn record_failure(&self, bookmaker: &str, error: &str) -> Result<()> {
        validate_name(bookmaker)?;
        self.on_failure(bookmaker, 1.0, error, false, None)
    }

    /// Records a timeout (the configured timeout weight, 0.5 by default).
    pub fn record_timeout(&self, bookmaker: &str, error: &str) -> Result<()> {
        validate_name(bookmaker)?;
        self.on_failure(
            bookmaker,
            self.inner.config.timeout_weight,
            error,
            false,
            None,
        )
    }

    /// Records a success: the failure count goes back to zero and the latency joins the average.
    pub fn record_success(&self, bookmaker: &str, latency: Duration) -> Result<()> {
        validate_name(bookmaker)?;
        self.on_success(bookmaker, latency.as_secs_f64() * 1000.0, false, None)
    }

    /// One breaker's status, or `None` when the database has never seen it.
    pub fn get_status(&self, bookmaker: &str) -> Result<Option<BookmakerStatus>> {
        let now = self.now_ms();
        let mut db = self.lock();
        db.flush_before_read(now)?;
        let row = db.store.load(bookmaker)?;
        Ok(row.map(|r| BookmakerStatus::from_row(&r, &self.inner.rules, now)))
    }

    /// Every breaker in the database, by name.
    pub fn status_all(&self) -> Result<Vec<BookmakerStatus>> {
        let now = self.now_ms();
        let mut db = self.lock();
        db.flush_before_read(now)?;
        let rows = db.store.load_all()?;
        Ok(rows
            .iter()
            .map(|r| BookmakerStatus::from_row(r, &self.inner.rules, now))
            .collect())
    }

    /// Names of every breaker in the database.
    pub fn bookmaker_names(&self) -> Result<Vec<String>> {
        self.lock().store.bookmaker_names()
    }

    fn unknown(&self, db: &Db, name: &str) -> BreakerError {
        let known = db.store.bookmaker_names().unwrap_or_default();
        BreakerError::UnknownBookmaker {
            name: name.to_owned(),
            suggestions: closest_names(name, &known),
        }
    }

    /// An operator trips the breaker: it stays open until a reset (never probed). The state
    /// change and its audit row commit together, fsynced.
    pub fn trip(&self, bookmaker: &str, reason: &str, actor: &str) -> Result<BookmakerStatus> {
        validate_name(bookmaker)?;
        if reason.trim().is_empty() {
            return Err(BreakerError::InvalidArgument {
                detail: "a trip needs a reason".to_owned(),
            });
        }
        let actor = non_empty_actor(actor);
        let inner = &*self.inner;
        let now = inner.clock.now_ms();
        let mut db = self.lock();
        let status = self.write(&mut db, Some(Synchronous::Full), |tx| {
            let row = tx.load(bookmaker)?;
            let before = row.as_ref().map_or(BreakerState::Closed, |r| {
                machine::state_of(r, &inner.rules, now)
            });
            let next = machine::manual_trip(row.as_ref(), bookmaker, now);
            tx.save(&next)?;
            tx.append_audit(&NewAudit {
                bookmaker,
                action: AuditAction::Trip.as_str(),
                reason: Some(reason),
                user: actor,
                timestamp: now,
                forced: false,
                state_before: before.as_str(),
                state_after: BreakerState::ForcedOpen.as_str(),
                failure_count: next.failure_count,
                operation: None,
            })?;
            Ok((
                BookmakerStatus::from_row(&next, &inner.rules, now),
                Some(next),
            ))
        })?;
        drop(db);
        inner
            .metrics
            .gauge("circuit_breaker_tripped", 1.0, &[("bookmaker", bookmaker)]);
        tracing::warn!(
            bookmaker,
            operation = "trip",
            reason,
            actor,
            "breaker tripped by operator"
        );
        Ok(status)
    }

    /// Whether a reset would be allowed now; writes nothing.
    pub fn reset_preview(&self, bookmaker: &str, force: bool) -> Result<ResetPreview> {
        let now = self.now_ms();
        let mut db = self.lock();
        db.flush_before_read(now)?;
        let row = db
            .store
            .load(bookmaker)?
            .ok_or_else(|| self.unknown(&db, bookmaker))?;
        Ok(self.preview(&row, now, force))
    }

    fn preview(&self, row: &BreakerRow, now: i64, force: bool) -> ResetPreview {
        let rules = &self.inner.rules;
        let decision = machine::reset_decision(row, rules, now, force);
        let since = machine::cooldown_since(row);
        let (allowed, remaining_ms) = match decision {
            machine::ResetDecision::Allowed => (true, 0),
            machine::ResetDecision::Denied { remaining_ms, .. } => (false, remaining_ms),
        };
        ResetPreview {
            bookmaker: row.bookmaker.clone(),
            allowed,
            state: machine::state_of(row, rules, now),
            elapsed_ms: since.map(|s| now.saturating_sub(s).max(0)),
            remaining_ms,
            cooldown_ms: rules.cooldown_ms,
        }
    }

    /// An operator resets the breaker. Inside the cooldown it is denied (and the denial is
    /// audited) unless forced; a forced reset needs a reason.
    pub fn reset(&self, bookmaker: &str, options: ResetOptions<'_>) -> Result<BookmakerStatus> {
        validate_name(bookmaker)?;
        let reason = options.reason.map(str::trim).filter(|r| !r.is_empty());
        if options.force && reason.is_none() {
            return Err(BreakerError::ForceNeedsReason);
        }
        let actor = non_empty_actor(options.user);
        let inner = &*self.inner;
        let now = inner.clock.now_ms();
        let mut db = self.lock();
        // Successes still in memory may be the only record of this bookmaker so far.
        db.flush_before_read(now)?;
        let outcome = self.write(&mut db, Some(Synchronous::Full), |tx| {
            let Some(row) = tx.load(bookmaker)? else {
                return Ok((Err(None), None));
            };
            let before = machine::state_of(&row, &inner.rules, now);
            let decision = machine::reset_decision(&row, &inner.rules, now, options.force);
            if let machine::ResetDecision::Denied { .. } = decision {
                tx.append_audit(&NewAudit {
                    bookmaker,
                    action: AuditAction::ResetDenied.as_str(),
                    reason,
                    user: actor,
                    timestamp: now,
                    forced: false,
                    state_before: before.as_str(),
                    state_after: before.as_str(),
                    failure_count: row.failure_count,
                    operation: None,
                })?;
                let preview = self.preview(&row, now, false);
                return Ok((Err(Some(preview)), None));
            }
            let next = machine::apply_reset(&row, actor, reason, now);
            tx.save(&next)?;
            tx.append_audit(&NewAudit {
                bookmaker,
                action: AuditAction::Reset.as_str(),
                reason,
                user: actor,
                timestamp: now,
                forced: options.force,
                state_before: before.as_str(),
                state_after: BreakerState::Closed.as_str(),
                failure_count: row.failure_count,
                operation: None,
            })?;
            tx.bump_counter(bookmaker, "", REASON_RESET, 1, now)?;
            if options.force {
                tx.bump_counter(bookmaker, "", REASON_FORCED_RESET, 1, now)?;
            }
            Ok((
                Ok(BookmakerStatus::from_row(&next, &inner.rules, now)),
                Some(next),
            ))
        })?;
        match outcome {
            Ok(status) => {
                drop(db);
                inner.metrics.counter(
                    "circuit_breaker_resets_total",
                    1.0,
                    &[("bookmaker", bookmaker)],
                );
                inner
                    .metrics
                    .gauge("circuit_breaker_tripped", 0.0, &[("bookmaker", bookmaker)]);
                tracing::info!(
                    bookmaker,
                    operation = "reset",
                    reason = reason.unwrap_or(""),
                    actor,
                    forced = options.force,
                    "breaker reset"
                );
                Ok(status)
            }
            Err(None) => Err(self.unknown(&db, bookmaker)),
            Err(Some(p)) => {
                drop(db);
                let elapsed_ms = p.elapsed_ms.unwrap_or(0);
                tracing::warn!(
                    bookmaker,
                    operation = "reset",
                    reason = reason.unwrap_or(""),
                    actor,
                    remaining_ms = p.remaining_ms,
                    "reset denied by cooldown"
                );
                Err(BreakerError::CooldownActive {
                    bookmaker: bookmaker.to_owned(),
                    elapsed: Duration::from_millis(u64::try_from(elapsed_ms).unwrap_or(0)),
                    remaining: Duration::from_millis(u64::try_from(p.remaining_ms).unwrap_or(0)),
                    cooldown: inner.config.cooldown,
                })
            }
        }
    }

    /// Audit rows, newest first.
    pub fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        self.lock().store.audit(filter)
    }

    /// Counter totals of every process (this one's pending counts are written first).
    pub fn counters(&self) -> Result<Vec<CounterRow>> {
        let now = self.now_ms();
        let mut db = self.lock();
        db.flush_before_read(now)?;
        db.store.counters()
    }

    /// Read-only access to the store, for diagnostics (`doctor`, `audit verify`).
    pub fn with_store<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        f(&self.lock().store)
    }

    /// Writes in-memory latencies and counters now.
    pub fn flush(&self) -> Result<()> {
        let now = self.now_ms();
        self.lock().flush(now, self.inner.config.busy_timeout)
    }

    /// Starts the background writer the first time something is pending.
    fn ensure_flusher(&self) {
        if self.inner.flusher_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("breaker-flush".to_owned())
            .spawn(move || flush_loop(&inner));
        match spawned {
            Ok(handle) => {
                if let Ok(mut slot) = self.flusher.lock() {
                    *slot = Some(handle);
                }
            }
            Err(e) => {
                // Without the thread, pending results are written by flush(), reads and drop.
                self.inner.flusher_started.store(false, Ordering::Release);
                tracing::error!(error = %e, "could not start the breaker's flush thread");
            }
        }
    }
}

fn flush_loop(inner: &Inner) {
    let interval = inner.config.flush_interval;
    let mut stopped = inner.stop.lock().unwrap_or_else(|e| e.into_inner());
    while !*stopped {
        let (guard, _) = inner
            .wake
            .wait_timeout(stopped, interval)
            .unwrap_or_else(|e| e.into_inner());
        stopped = guard;
        if *stopped {
            break;
        }
        let now = inner.clock.now_ms();
        let mut db = inner.db.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = db.flush(now, BACKGROUND_FLUSH_BUSY) {
            tracing::debug!(error = %e, "background flush postponed");
        }
    }
}

fn non_empty_actor(actor: &str) -> &str {
    if actor.trim().is_empty() {
        "unknown"
    } else {
        actor
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
            ours.lock().header.is_some(),
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
            let db = ours.lock();
            assert_eq!(
                db.header,
                db.store.wal_header(),
                "header adopted after our write"
            );
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
