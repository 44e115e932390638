//! What operators and dashboards do: read status, trip, reset, audit, counters, checks.

use super::names::{closest_names, validate_name};
use super::types::{BookmakerStatus, ResetOptions, ResetPreview};
use super::{ProductionCircuitBreaker, REASON_FORCED_RESET, REASON_RESET};
use crate::error::{BreakerError, Result};
use crate::machine::{self, AuditAction, BreakerRow, BreakerState};
use crate::storage::{
    AuditFilter, AuditHead, AuditRecord, BackendDiagnostics, ChainReport, CounterRow, Durability,
    NewAudit, verify_chain,
};
use std::time::Duration;

impl ProductionCircuitBreaker {
    /// One breaker's status, or `None` when the database has never seen it.
    pub fn get_status(&self, bookmaker: &str) -> Result<Option<BookmakerStatus>> {
        let now = self.now_ms();
        self.inner.flush_before_read()?;
        let row = self.inner.read_side().store.load(bookmaker)?;
        Ok(row.map(|r| BookmakerStatus::from_row(&r, &self.inner.rules, now)))
    }

    /// Every breaker in the database, by name.
    pub fn status_all(&self) -> Result<Vec<BookmakerStatus>> {
        let now = self.now_ms();
        self.inner.flush_before_read()?;
        let rows = self.inner.read_side().store.load_all()?;
        Ok(rows
            .iter()
            .map(|r| BookmakerStatus::from_row(r, &self.inner.rules, now))
            .collect())
    }

    /// Names of every breaker in the database that can be addressed (stored as UTF-8).
    pub fn bookmaker_names(&self) -> Result<Vec<String>> {
        self.inner.read_side().store.bookmaker_names()
    }

    /// Every stored name as its bytes, also one another program stored as invalid UTF-8.
    pub fn bookmaker_keys(&self) -> Result<Vec<Vec<u8>>> {
        self.inner.read_side().store.bookmaker_keys()
    }

    fn unknown(&self, name: &str) -> BreakerError {
        let known = self.bookmaker_names().unwrap_or_default();
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
        let status = inner.write(Durability::Strict, |tx| {
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
                os_user: Some(crate::process::os_user()),
            })?;
            Ok((
                BookmakerStatus::from_row(&next, &inner.rules, now),
                Some(next),
            ))
        })?;
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
        self.inner.flush_before_read()?;
        // The read side's lock ends with this statement: `unknown` takes it again.
        let row = self.inner.read_side().store.load(bookmaker)?;
        let row = row.ok_or_else(|| self.unknown(bookmaker))?;
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
            cooldown_from: machine::cooldown_from(row),
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
        // Successes still in memory may be the only record of this bookmaker so far.
        inner.flush_before_read()?;
        let outcome = inner.write(Durability::Strict, |tx| {
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
                    os_user: Some(crate::process::os_user()),
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
                os_user: Some(crate::process::os_user()),
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
            Err(None) => Err(self.unknown(bookmaker)),
            Err(Some(p)) => {
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
                    from: p.cooldown_from,
                })
            }
        }
    }

    /// Audit rows, newest first.
    pub fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        self.inner.read_side().store.audit(filter)
    }

    /// Counter totals of every process (this one's pending counts are written first).
    pub fn counters(&self) -> Result<Vec<CounterRow>> {
        self.inner.flush_before_read()?;
        self.inner.read_side().store.counters()
    }

    /// Every breaker row as stored (for health checks; [`Self::status_all`] for display).
    pub fn rows(&self) -> Result<Vec<BreakerRow>> {
        self.inner.read_side().store.load_all()
    }

    /// Every audit row, oldest first, and the recorded chain head, read in one snapshot.
    pub fn audit_chain(&self) -> Result<(Vec<AuditRecord>, Option<AuditHead>)> {
        self.inner.read_side().store.audit_chain_and_head()
    }

    /// Verifies the audit trail's hash chain against its recorded head.
    pub fn verify_audit_chain(&self) -> Result<ChainReport> {
        let (rows, head) = self.audit_chain()?;
        Ok(verify_chain(&rows, head.as_ref()))
    }

    /// The store's own health checks (integrity, journal, schema, ...).
    pub fn diagnostics(&self) -> BackendDiagnostics {
        self.inner.read_side().store.diagnostics()
    }

    /// The schema version the store is at.
    pub fn schema_version(&self) -> Result<i64> {
        self.inner.read_side().store.schema_version()
    }

    /// Whether the store was opened for reading only.
    pub fn is_read_only(&self) -> bool {
        match &self.inner.write {
            Some(w) => super::lock(w).is_read_only(),
            None => self.inner.read_side().store.is_read_only(),
        }
    }

    /// Where the store is (a path, or a URL without its password), for messages.
    pub fn location(&self) -> String {
        self.inner.read_side().store.location()
    }
}

fn non_empty_actor(actor: &str) -> &str {
    if actor.trim().is_empty() {
        "unknown"
    } else {
        actor
    }
}
