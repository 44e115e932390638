//! The call path: admission, refusal, the call, and recording its outcome.

use super::names::{message_says_timeout, validate_name};
use super::types::CallContext;
use super::{Inner, ProductionCircuitBreaker, REASON_LOAD_SHED, REASON_TRIPPED, SYSTEM_ACTOR};
use crate::error::{BreakerError, CallError, Result};
use crate::machine::{self, Admission, AuditAction, BreakerState};
use crate::storage::Durability;
use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

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

impl ProductionCircuitBreaker {
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

    fn claim_probe(&self, bookmaker: &str, ctx: &CallContext<'_>, now: i64) -> Result<bool> {
        let inner = &*self.inner;
        let mut db = self.lock();
        let claimed = self.write(&mut db, Durability::Default, |tx| {
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
        let written = self.write(&mut db, Durability::Default, |tx| {
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
        let known = db.token.zip(cached);
        let transition = self.write(&mut db, Durability::Default, |tx| {
            let row = match known {
                Some((token, row)) if tx.token_at_begin() == Some(token) => row,
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
}
