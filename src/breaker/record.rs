//! Writing what calls did: each outcome that must reach the store is an [`Op`], applied by the
//! calling thread (synchronous calls) or by the writer thread (asynchronous calls, cancelled
//! calls, and writes kept for later because the store was busy).

use super::completion::Done;
use super::{BACKGROUND_FLUSH_BUSY, Inner, SYSTEM_ACTOR};
use crate::error::{BreakerError, Result};
use crate::machine::{self, AuditAction};
use crate::storage::Durability;
use std::time::Duration;

/// A write an outcome needs, with everything to make it later (the time it happened).
#[derive(Debug, Clone)]
pub(super) enum Op {
    Failure {
        bookmaker: String,
        weight: f64,
        error: String,
        /// The probe lease the call held, when it was the half-open probe.
        probe: bool,
        operation: Option<String>,
        at: i64,
    },
    Success {
        bookmaker: String,
        latency_ms: f64,
        probe: bool,
        operation: Option<String>,
        at: i64,
    },
    ClaimProbe {
        bookmaker: String,
        operation: String,
        at: i64,
    },
    /// A probe that ended without a verdict gives its lease back.
    ReleaseProbe {
        bookmaker: String,
        lease_until: Option<i64>,
        at: i64,
    },
}

impl Op {
    pub(super) fn bookmaker(&self) -> &str {
        match self {
            Op::Failure { bookmaker, .. }
            | Op::Success { bookmaker, .. }
            | Op::ClaimProbe { bookmaker, .. }
            | Op::ReleaseProbe { bookmaker, .. } => bookmaker,
        }
    }

    pub(super) fn is_failure(&self) -> bool {
        matches!(self, Op::Failure { .. })
    }
}

impl Inner {
    /// Applies `op` to the store, blocking for at most the busy timeout.
    pub(super) fn apply(&self, op: &Op) -> Result<Done> {
        match op {
            Op::Failure {
                bookmaker,
                weight,
                error,
                probe,
                operation,
                at,
            } => self
                .write_failure(bookmaker, *weight, error, *probe, operation.as_deref(), *at)
                .map(|()| Done::Written),
            Op::Success {
                bookmaker,
                latency_ms,
                probe,
                operation,
                at,
            } => self
                .write_success(bookmaker, *latency_ms, *probe, operation.as_deref(), *at)
                .map(|()| Done::Written),
            Op::ClaimProbe {
                bookmaker,
                operation,
                at,
            } => self.write_claim(bookmaker, operation, *at).map(Done::Claim),
            Op::ReleaseProbe {
                bookmaker,
                lease_until,
                at,
            } => self
                .write_release(bookmaker, *lease_until, *at)
                .map(|()| Done::Written),
        }
    }

    fn write_claim(
        &self,
        bookmaker: &str,
        operation: &str,
        now: i64,
    ) -> Result<Option<Option<i64>>> {
        let claimed = self.write(Durability::Default, |tx| {
            let Some(row) = tx.load(bookmaker)? else {
                return Ok((None, None));
            };
            match machine::claim_probe(&row, &self.instance, &self.rules, now) {
                Some((next, t)) => {
                    tx.save(&next)?;
                    Inner::audit_transition(tx, &next, &t, Some(operation), now)?;
                    Ok((Some(next.probe_lease_until), Some(next)))
                }
                None => Ok((None, Some(row))),
            }
        })?;
        if claimed.is_some() {
            tracing::info!(
                bookmaker,
                operation,
                reason = "half_open_probe",
                actor = SYSTEM_ACTOR,
                "half-open probe started"
            );
        }
        Ok(claimed)
    }

    fn write_release(&self, bookmaker: &str, lease_until: Option<i64>, now: i64) -> Result<()> {
        let released = self.write(Durability::Default, |tx| {
            let Some(row) = tx.load(bookmaker)? else {
                return Ok((false, None));
            };
            match machine::release_probe(&row, &self.instance, lease_until, now) {
                Some(next) => {
                    tx.save(&next)?;
                    Ok((true, Some(next)))
                }
                None => Ok((false, Some(row))),
            }
        })?;
        if released {
            tracing::info!(
                bookmaker,
                reason = "half_open_probe_cancelled",
                actor = SYSTEM_ACTOR,
                "half-open probe ended without a verdict; lease released for the next call"
            );
        }
        Ok(())
    }

    fn write_success(
        &self,
        bookmaker: &str,
        latency_ms: f64,
        probe: bool,
        operation: Option<&str>,
        now: i64,
    ) -> Result<()> {
        // Latencies still waiting in memory for this bookmaker came first, so they are folded
        // in before this one.
        let waiting = super::lock(&self.pending).latencies.remove(bookmaker);
        let mut batch = waiting.map(|(b, _)| b).unwrap_or_default();
        batch.add(latency_ms, self.rules.latency_smoothing);
        let written = self.write(Durability::Default, |tx| {
            let row = tx.load(bookmaker)?;
            let mut closed = false;
            let mut next = match row {
                Some(ref r) if probe && machine::holds_probe(r, &self.instance) => {
                    let (next, t) = machine::probe_succeeded(r, latency_ms, &self.rules, now);
                    Inner::audit_transition(tx, &next, &t, operation, now)?;
                    closed = true;
                    next
                }
                _ => machine::record_success(row.as_ref(), bookmaker, latency_ms, &self.rules, now),
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
                    let mut pending = super::lock(&self.pending);
                    let mut older = super::pending::Pending::default();
                    older.latencies.insert(bookmaker.to_owned(), waiting);
                    pending.merge_back(older);
                }
                return Err(e);
            }
        };
        if closed {
            self.metrics
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

    fn write_failure(
        &self,
        bookmaker: &str,
        weight: f64,
        error: &str,
        probe: bool,
        operation: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let (token, cached) = {
            let mut read = self.read_side();
            read.refresh()?;
            (read.token, read.rows.get(bookmaker).cloned())
        };
        // A failure that trips nothing, on a row we know: one guarded UPDATE, no transaction.
        if !probe && let Some(Some(old)) = &cached {
            let (next, t) =
                machine::record_failure(Some(old), bookmaker, weight, error, &self.rules, now);
            if t.is_none() {
                let (saved, commit) = self.with_writer(|store| {
                    let saved = store.save_failure_if_unchanged(old, &next)?;
                    Ok::<_, BreakerError>((saved, store.own_commit()))
                })?;
                if saved {
                    self.after_write(bookmaker, Some(next), commit);
                    return Ok(());
                }
            }
        }
        // The cached row is the stored one if nothing at all has been committed since the
        // token at which the cache was last known exact: then the transaction need not read
        // it again.
        let known = token.zip(cached);
        let transition = self.write(Durability::Default, |tx| {
            let row = match known {
                Some((token, row)) if tx.token_at_begin() == Some(token) => row,
                _ => tx.load(bookmaker)?,
            };
            let (next, t) = match row {
                Some(ref r) if probe && machine::holds_probe(r, &self.instance) => {
                    let (next, t) = machine::probe_failed(r, weight, error, &self.rules, now);
                    (next, Some(t))
                }
                _ => machine::record_failure(
                    row.as_ref(),
                    bookmaker,
                    weight,
                    error,
                    &self.rules,
                    now,
                ),
            };
            tx.save_over(row.as_ref(), &next)?;
            if let Some(t) = &t {
                Inner::audit_transition(tx, &next, t, operation, now)?;
            }
            Ok((t, Some(next)))
        })?;
        if let Some(t) = transition {
            let op = operation.unwrap_or("");
            if t.action == AuditAction::Trip {
                self.metrics
                    .gauge("circuit_breaker_tripped", 1.0, &[("bookmaker", bookmaker)]);
                self.metrics.counter(
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

    /// Writes the pending latencies and counters, waiting at most `busy` for the store; they
    /// stay pending when the write fails.
    pub(super) fn flush_pending(&self, busy: Duration) -> Result<()> {
        let batch = std::mem::take(&mut *super::lock(&self.pending));
        if batch.is_empty() {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let flushed = self.with_writer(|store| {
            store.flush(&batch.to_batch(), now, busy)?;
            Ok::<_, BreakerError>(store.own_commit())
        });
        match flushed {
            Ok(commit) => {
                // The batch changed these rows (average latency, last success) behind the
                // cache; the rest of it is still exact.
                let mut read = self.read_side();
                for bookmaker in batch.latencies.keys() {
                    read.rows.remove(bookmaker);
                }
                if let Some(c) = commit
                    && read.token == Some(c.before)
                {
                    read.token = Some(c.after);
                }
                Ok(())
            }
            Err(e) => {
                super::lock(&self.pending).merge_back(batch);
                Err(e)
            }
        }
    }

    /// Writes pending results so a read sees them. When another process holds the write lock,
    /// the read goes ahead without them (they are at most a second old) rather than failing:
    /// looking must not depend on the write lock.
    pub(super) fn flush_before_read(&self) -> Result<()> {
        match self.flush_pending(BACKGROUND_FLUSH_BUSY) {
            Err(BreakerError::Busy { .. }) | Err(BreakerError::ReadOnly { .. }) => Ok(()),
            other => other,
        }
    }
}
