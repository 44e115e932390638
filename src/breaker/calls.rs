//! The call path: admission, refusal, the call, and recording its outcome; synchronous and
//! asynchronous, cancel- and panic-safe.

use super::completion::{Completion, Done, WriteOutcome};
use super::names::validate_name;
use super::outcome::{CancelPolicy, Outcome, default_outcome};
use super::record::Op;
use super::types::CallContext;
use super::{
    Inner, ProductionCircuitBreaker, REASON_LOAD_SHED, REASON_TRIPPED, SYSTEM_ACTOR, lock,
};
use crate::error::{BreakerError, CallError, Result};
use crate::machine::{self, Admission, BreakerState};
use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What a cancelled or panicking call records.
const CANCELLED: &str = "call cancelled or panicked before it finished";

/// A call admitted through the breaker. Dropped before `finish` (a cancelled future, a panic
/// in the call), it releases its probe lease at once and records the call by the
/// [`CancelPolicy`].
struct Permit<'a> {
    inner: &'a Inner,
    bookmaker: &'a str,
    operation: &'a str,
    /// `Some(lease_until)` when this call is the half-open probe.
    probe: Option<Option<i64>>,
    started: Instant,
    finished: bool,
}

impl Permit<'_> {
    fn is_probe(&self) -> bool {
        self.probe.is_some()
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.inner.in_flight.fetch_sub(1, Ordering::Relaxed);
        if self.finished {
            return;
        }
        let inner = self.inner;
        let at = inner.clock.now_ms();
        let op = match (self.probe, inner.cancel_policy) {
            (Some(lease_until), _) => {
                // Say nothing about the upstream; let the next call probe at once. The cached
                // row forgets the lease now, so this process's next call is a candidate.
                if let Some(Some(row)) = inner.read_side().rows.get_mut(self.bookmaker)
                    && row.probe_owner.as_deref() == Some(inner.instance.as_str())
                {
                    row.probe_owner = None;
                    row.probe_lease_until = None;
                }
                Some(Op::ReleaseProbe {
                    bookmaker: self.bookmaker.to_owned(),
                    lease_until,
                    at,
                })
            }
            (None, CancelPolicy::CountAsTimeout) => Some(Op::Failure {
                bookmaker: self.bookmaker.to_owned(),
                weight: inner.config.timeout_weight,
                error: CANCELLED.to_owned(),
                probe: false,
                operation: Some(self.operation.to_owned()),
                at,
            }),
            (None, CancelPolicy::Ignore) => None,
        };
        tracing::debug!(
            bookmaker = self.bookmaker,
            operation = self.operation,
            probe = self.is_probe(),
            panicking = std::thread::panicking(),
            "call ended before it finished"
        );
        if let Some(op) = op {
            // Never block here: the drop may run on an async executor's thread.
            inner.enqueue(op, None);
        }
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

/// What admission decided, before any write.
enum Admitted {
    Allow,
    ProbeCandidate,
}

impl ProductionCircuitBreaker {
    /// Wraps an upstream call, by the default rule ([`default_outcome`]): an `Ok` is a success,
    /// an error is a timeout when it is an I/O timeout or its message says "timeout", else a
    /// failure. The outcome is written before this returns (when the store is busy past the
    /// busy timeout, it is kept and written later: see [`Self::pending_writes`]).
    pub fn call_api<T, E: Display + 'static>(
        &self,
        bookmaker: &str,
        ctx: &CallContext<'_>,
        call: impl FnOnce() -> std::result::Result<T, E>,
    ) -> std::result::Result<T, CallError<E>> {
        self.call_api_with(bookmaker, ctx, call, default_outcome)
    }

    /// As `call_api`, with the caller saying which of its errors are timeouts (any other error
    /// is a failure).
    pub fn call_api_classified<T, E: Display>(
        &self,
        bookmaker: &str,
        ctx: &CallContext<'_>,
        call: impl FnOnce() -> std::result::Result<T, E>,
        is_timeout: impl FnOnce(&E) -> bool,
    ) -> std::result::Result<T, CallError<E>> {
        self.call_api_with(
            bookmaker,
            ctx,
            call,
            |r: &std::result::Result<T, E>| match r {
                Ok(_) => Outcome::Success,
                Err(e) if is_timeout(e) => Outcome::Timeout,
                Err(_) => Outcome::Failure,
            },
        )
    }

    /// As `call_api`, with the caller's classifier deciding how the result counts: success,
    /// failure, timeout, or ignored (not the upstream's fault; counted neither way). The
    /// result is returned as it is, whatever it counted as.
    pub fn call_api_with<T, E: Display>(
        &self,
        bookmaker: &str,
        ctx: &CallContext<'_>,
        call: impl FnOnce() -> std::result::Result<T, E>,
        classify: impl FnOnce(&std::result::Result<T, E>) -> Outcome,
    ) -> std::result::Result<T, CallError<E>> {
        let mut permit = match self.admission(bookmaker, ctx) {
            Ok(Admitted::Allow) => self.permit(bookmaker, ctx.operation, None),
            Ok(Admitted::ProbeCandidate) => {
                let claim = self.op_now(Op::ClaimProbe {
                    bookmaker: bookmaker.to_owned(),
                    operation: ctx.operation.to_owned(),
                    at: self.now_ms(),
                });
                self.after_claim(bookmaker, ctx, claim)?
            }
            Err(r) => return Err(self.refusal(bookmaker, ctx, r)),
        };
        let result = call();
        let outcome = classify(&result);
        if let Some(op) = self.finish(&mut permit, outcome, &result) {
            self.op_now(op).map(drop).ok();
        }
        result.map_err(CallError::Upstream)
    }

    /// Wraps an upstream future, by the default rule (see [`Self::call_api`]). Needs no
    /// particular async runtime, and never blocks the thread polling it on the store: writes
    /// go to the breaker's writer thread and the future awaits them. Dropped before it
    /// finishes (`tokio::time::timeout`, a `select!`), the call releases its probe lease at
    /// once and is recorded by the [`CancelPolicy`] (a timeout, by default).
    pub async fn call_api_async<T, E: Display + 'static, F>(
        &self,
        bookmaker: &str,
        ctx: &CallContext<'_>,
        call: F,
    ) -> std::result::Result<T, CallError<E>>
    where
        F: Future<Output = std::result::Result<T, E>>,
    {
        self.call_api_async_with(bookmaker, ctx, || call, default_outcome)
            .await
    }

    /// As `call_api_async`, with a closure that makes the future (so nothing is built for a
    /// rejected call) and the caller's classifier (see [`Self::call_api_with`]).
    pub async fn call_api_async_with<T, E: Display, F, Fut, C>(
        &self,
        bookmaker: &str,
        ctx: &CallContext<'_>,
        make_call: F,
        classify: C,
    ) -> std::result::Result<T, CallError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
        C: FnOnce(&std::result::Result<T, E>) -> Outcome,
    {
        let mut permit = match self.admission(bookmaker, ctx) {
            Ok(Admitted::Allow) => self.permit(bookmaker, ctx.operation, None),
            Ok(Admitted::ProbeCandidate) => {
                let claim = self
                    .op_queued(Op::ClaimProbe {
                        bookmaker: bookmaker.to_owned(),
                        operation: ctx.operation.to_owned(),
                        at: self.now_ms(),
                    })
                    .await;
                self.after_claim(bookmaker, ctx, Ok(claim))?
            }
            Err(r) => return Err(self.refusal(bookmaker, ctx, r)),
        };
        let result = make_call().await;
        let outcome = classify(&result);
        if let Some(op) = self.finish(&mut permit, outcome, &result) {
            drop(permit);
            self.op_queued(op).await;
        }
        result.map_err(CallError::Upstream)
    }

    /// Applies `op` on this thread (durable before return), in order behind queued writes of
    /// the same bookmaker; a store busy past the busy timeout leaves it queued (`Pending`).
    fn op_now(&self, op: Op) -> Result<Done> {
        let bookmaker = op.bookmaker().to_owned();
        let failure = op.is_failure();
        self.inner.apply_in_order(op).inspect_err(|e| {
            tracing::error!(bookmaker, failure, error = %e, "could not record a call's outcome");
        })
    }

    /// Queues `op` for the writer thread and waits for it without blocking this thread.
    async fn op_queued(&self, op: Op) -> Done {
        let done = Completion::new();
        self.inner.enqueue(op, Some(done.clone()));
        done.await
    }

    fn after_claim<'a, E>(
        &'a self,
        bookmaker: &'a str,
        ctx: &CallContext<'a>,
        claim: Result<Done>,
    ) -> std::result::Result<Permit<'a>, CallError<E>> {
        match claim {
            Ok(Done::Claim(Some(lease_until))) => {
                Ok(self.permit(bookmaker, ctx.operation, Some(lease_until)))
            }
            Ok(_) => Err(self.refusal(bookmaker, ctx, Refusal::Tripped(BreakerState::HalfOpen))),
            Err(e) => Err(self.refusal(bookmaker, ctx, Refusal::Breaker(e))),
        }
    }

    fn permit<'a>(
        &'a self,
        bookmaker: &'a str,
        operation: &'a str,
        probe: Option<Option<i64>>,
    ) -> Permit<'a> {
        self.inner.in_flight.fetch_add(1, Ordering::Relaxed);
        Permit {
            inner: &self.inner,
            bookmaker,
            operation,
            probe,
            started: Instant::now(),
            finished: false,
        }
    }

    /// Decides, from the cache, whether the call may go: no write here.
    fn admission(
        &self,
        bookmaker: &str,
        ctx: &CallContext<'_>,
    ) -> std::result::Result<Admitted, Refusal> {
        validate_name(bookmaker)?;
        let inner = &*self.inner;
        let now = inner.clock.now_ms();
        let admission = {
            let mut read = inner.read_side();
            read.refresh()?;
            read.with_row(bookmaker, |row| machine::admit(row, &inner.rules, now))?
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
        Ok(match admission {
            Admission::ProbeCandidate => Admitted::ProbeCandidate,
            _ => Admitted::Allow,
        })
    }

    /// Counts and logs a refused call and turns it into the caller's error type.
    fn refusal<E>(&self, bookmaker: &str, ctx: &CallContext<'_>, refusal: Refusal) -> CallError<E> {
        let inner = &*self.inner;
        match refusal {
            Refusal::Tripped(state) => {
                lock(&inner.pending).count(bookmaker, ctx.operation, REASON_TRIPPED);
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
                lock(&inner.pending).count(bookmaker, ctx.operation, REASON_LOAD_SHED);
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

    /// The call returned: what must be written, if anything (a clean success only joins the
    /// in-memory batch).
    fn finish<T, E: Display>(
        &self,
        permit: &mut Permit<'_>,
        outcome: Outcome,
        result: &std::result::Result<T, E>,
    ) -> Option<Op> {
        permit.finished = true;
        let inner = &*self.inner;
        let latency_ms = permit.started.elapsed().as_secs_f64() * 1000.0;
        let probe = permit.is_probe();
        let bookmaker = permit.bookmaker;
        let operation = Some(permit.operation.to_owned());
        let at = inner.clock.now_ms();
        let error = || match result {
            Err(e) => e.to_string(),
            Ok(_) => "the call's result was classified as a failure".to_owned(),
        };
        match outcome {
            Outcome::Success => {
                if !probe && self.is_clean(bookmaker) {
                    lock(&inner.pending).add_latency(
                        bookmaker,
                        latency_ms,
                        inner.rules.latency_smoothing,
                        at,
                    );
                    return None;
                }
                Some(Op::Success {
                    bookmaker: bookmaker.to_owned(),
                    latency_ms,
                    probe,
                    operation,
                    at,
                })
            }
            Outcome::Failure | Outcome::Timeout => Some(Op::Failure {
                bookmaker: bookmaker.to_owned(),
                weight: if outcome == Outcome::Timeout {
                    inner.config.timeout_weight
                } else {
                    1.0
                },
                error: error(),
                probe,
                operation,
                at,
            }),
            Outcome::Ignored => permit.probe.map(|lease_until| Op::ReleaseProbe {
                bookmaker: bookmaker.to_owned(),
                lease_until,
                at,
            }),
        }
    }

    /// No failures to clear: a success needs no write.
    fn is_clean(&self, bookmaker: &str) -> bool {
        if self.inner.must_queue(bookmaker) {
            return false;
        }
        let mut read = self.inner.read_side();
        read.refresh().is_ok()
            && read
                .with_row(bookmaker, |row| row.is_none_or(|r| r.failure_count == 0.0))
                .unwrap_or(false)
    }

    /// Records a hard failure (weight 1.0), durably, before returning (or, when the store is
    /// busy past the busy timeout, kept and written later: `Pending`).
    pub fn record_failure(&self, bookmaker: &str, error: &str) -> Result<WriteOutcome> {
        self.record(bookmaker, 1.0, error)
    }

    /// Records a timeout (the configured timeout weight, 0.5 by default).
    pub fn record_timeout(&self, bookmaker: &str, error: &str) -> Result<WriteOutcome> {
        self.record(bookmaker, self.inner.config.timeout_weight, error)
    }

    fn record(&self, bookmaker: &str, weight: f64, error: &str) -> Result<WriteOutcome> {
        validate_name(bookmaker)?;
        self.inner
            .apply_in_order(Op::Failure {
                bookmaker: bookmaker.to_owned(),
                weight,
                error: error.to_owned(),
                probe: false,
                operation: None,
                at: self.now_ms(),
            })
            .map(Done::outcome)
    }

    /// Records a success: the failure count goes back to zero and the latency joins the average.
    pub fn record_success(&self, bookmaker: &str, latency: Duration) -> Result<WriteOutcome> {
        validate_name(bookmaker)?;
        let latency_ms = latency.as_secs_f64() * 1000.0;
        let at = self.now_ms();
        if self.is_clean(bookmaker) {
            lock(&self.inner.pending).add_latency(
                bookmaker,
                latency_ms,
                self.inner.rules.latency_smoothing,
                at,
            );
            return Ok(WriteOutcome::Written);
        }
        self.inner
            .apply_in_order(Op::Success {
                bookmaker: bookmaker.to_owned(),
                latency_ms,
                probe: false,
                operation: None,
                at,
            })
            .map(Done::outcome)
    }

    /// Writes that wait because the store was busy (failures among them), or queued for the
    /// writer thread and not made yet. Zero in a healthy process.
    pub fn pending_writes(&self) -> usize {
        lock(&self.inner.queue).len()
    }

    /// Makes every queued write and writes the in-memory latencies and counters now, waiting at
    /// most the busy timeout. Call it before `std::process::exit` (see the crate docs on what
    /// a hard exit loses).
    pub fn flush(&self) -> Result<()> {
        let left = super::writer::wait_drained(&self.inner, self.inner.config.busy_timeout);
        self.inner.flush_pending(self.inner.config.busy_timeout)?;
        if left > 0 {
            return Err(BreakerError::Busy {
                waited: self.inner.config.busy_timeout,
            });
        }
        Ok(())
    }
}

/// Writes what a breaker holds in memory when dropped: keep one in `main` for a breaker that
/// lives in a `static` (whose own drop never runs) or before `std::process::exit`.
///
/// ```
/// use breakerctl::{BreakerConfig, ProductionCircuitBreaker};
/// use std::sync::OnceLock;
///
/// static BREAKER: OnceLock<ProductionCircuitBreaker> = OnceLock::new();
///
/// # fn main() -> Result<(), breakerctl::BreakerError> {
/// # let dir = std::env::temp_dir().join(format!("breakerctl-doc-{}", std::process::id()));
/// let breaker = ProductionCircuitBreaker::open(dir.join("cb.db"), BreakerConfig::default())?;
/// let breaker = BREAKER.get_or_init(|| breaker);
/// let _flush = breaker.flush_on_drop(); // runs at the end of main, exit or not
/// breaker.record_success("draftkings", std::time::Duration::from_millis(12))?;
/// # drop(_flush);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok(())
/// # }
/// ```
#[must_use = "the guard flushes when it is dropped"]
pub struct FlushGuard {
    breaker: ProductionCircuitBreaker,
}

impl ProductionCircuitBreaker {
    /// A guard that flushes this breaker (queued writes, then latencies and counters) when
    /// dropped; see [`FlushGuard`].
    pub fn flush_on_drop(&self) -> FlushGuard {
        FlushGuard {
            breaker: self.clone(),
        }
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        if let Err(e) = self.breaker.flush() {
            tracing::error!(
                error = %e,
                pending = self.breaker.pending_writes(),
                "could not write the breaker's pending results before exit"
            );
        }
    }
}
