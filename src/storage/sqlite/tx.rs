//! One SQLite write transaction (`BEGIN IMMEDIATE`): what the breaker writes through it.

use super::error::sqlite_error;
use super::rows::{STATE_UPSERT, load_row, only_failure_columns_differ};
use super::schema::HEAD_UPSERT;
use super::wal_index::WalHeader;
use crate::error::{BreakerError, Result};
use crate::machine::{BreakerRow, TripKind};
use crate::storage::audit::audit_hash;
use crate::storage::types::{AuditRecord, FlushBatch, NewAudit};
use crate::storage::{ChangeToken, WriteTx};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::time::Duration;

/// One open `BEGIN IMMEDIATE` transaction: everything written through it commits together.
pub struct SqliteTx<'a> {
    pub(super) tx: &'a Connection,
    pub(super) path: &'a Path,
    pub(super) busy: Duration,
    pub(super) begin_header: Option<WalHeader>,
    pub(super) _open: OpenTx<'a>,
}

/// Rolls back, when dropped, a transaction that was neither committed nor ended by SQLite
/// (an error or a panic in the middle of a write).
pub(super) struct OpenTx<'a>(pub(super) &'a Connection);

impl Drop for OpenTx<'_> {
    fn drop(&mut self) {
        if !self.0.is_autocommit() {
            let _ = self.0.execute_batch("ROLLBACK");
        }
    }
}

impl SqliteTx<'_> {
    fn err(&self, e: rusqlite::Error) -> BreakerError {
        sqlite_error(e, self.path, self.busy)
    }

    pub(super) fn apply_batch(&mut self, batch: &FlushBatch, now: i64) -> Result<()> {
        for (bookmaker, latency, last_success_at) in &batch.latencies {
            let mut insert = self
                .tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO circuit_breaker_state (bookmaker, updated_at) VALUES (?1, ?2)",
                )
                .map_err(|e| self.err(e))?;
            insert
                .execute(params![bookmaker, now])
                .map_err(|e| self.err(e))?;
            // The failure count is left alone: these successes happened while it was zero, and
            // a failure recorded since then must stand.
            let mut update = self
                .tx
                .prepare_cached(
                    "UPDATE circuit_breaker_state SET
                       avg_latency = CASE WHEN avg_latency IS NULL THEN ?2 ELSE avg_latency * ?3 + ?4 END,
                       last_success_at = MAX(COALESCE(last_success_at, 0), ?5),
                       updated_at = ?6
                     WHERE bookmaker = ?1",
                )
                .map_err(|e| self.err(e))?;
            update
                .execute(params![
                    bookmaker,
                    latency.if_empty,
                    latency.decay,
                    latency.contribution,
                    last_success_at,
                    now
                ])
                .map_err(|e| self.err(e))?;
        }
        for (bookmaker, operation, reason, delta) in &batch.counters {
            WriteTx::bump_counter(self, bookmaker, operation, reason, *delta, now)?;
        }
        Ok(())
    }
}

impl WriteTx for SqliteTx<'_> {
    fn load(&mut self, bookmaker: &str) -> Result<Option<BreakerRow>> {
        load_row(self.tx, bookmaker).map_err(|e| self.err(e))
    }

    /// The wal-index header of this transaction's snapshot (taken under the write lock, so
    /// nothing committed after it): equal to a header seen earlier, nothing was committed
    /// since then, and rows known as of then are the rows stored now.
    fn token_at_begin(&self) -> Option<ChangeToken> {
        self.begin_header.map(|h| ChangeToken::from_words(h.0))
    }

    fn save(&mut self, row: &BreakerRow) -> Result<()> {
        let mut stmt = self
            .tx
            .prepare_cached(STATE_UPSERT)
            .map_err(|e| self.err(e))?;
        stmt.execute(params![
            row.bookmaker,
            row.failure_count,
            row.last_failure_at,
            i64::from(row.tripped),
            row.trip_count,
            row.last_error,
            row.avg_latency,
            row.last_reset_at,
            row.last_reset_by,
            row.last_reset_reason,
            row.updated_at,
            row.tripped_at,
            row.trip_kind.map(TripKind::as_str),
            row.probe_lease_until,
            row.probe_owner,
            row.last_success_at,
        ])
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Writes `row` over `stored`, the row as the table holds it in this transaction. A
    /// failure that trips nothing changes four columns only, and a four-column UPDATE costs
    /// about half the full upsert; anything else is written whole.
    fn save_over(&mut self, stored: Option<&BreakerRow>, row: &BreakerRow) -> Result<()> {
        if !stored.is_some_and(|old| only_failure_columns_differ(old, row)) {
            return self.save(row);
        }
        let mut stmt = self
            .tx
            .prepare_cached(
                "UPDATE circuit_breaker_state SET failure_count = ?2, last_failure_at = ?3,
                 last_error = ?4, updated_at = ?5 WHERE bookmaker = ?1",
            )
            .map_err(|e| self.err(e))?;
        let changed = stmt
            .execute(params![
                row.bookmaker,
                row.failure_count,
                row.last_failure_at,
                row.last_error,
                row.updated_at,
            ])
            .map_err(|e| self.err(e))?;
        if changed == 1 { Ok(()) } else { self.save(row) }
    }

    /// Appends an audit row, chained to the previous one by its hash.
    fn append_audit(&mut self, entry: &NewAudit<'_>) -> Result<i64> {
        let (last_id, prev_hash): (i64, String) = self
            .tx
            .prepare_cached(
                "SELECT id, COALESCE(hash, '') FROM circuit_breaker_audit ORDER BY id DESC LIMIT 1",
            )
            .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .map_err(|e| self.err(e))?
            .unwrap_or((0, String::new()));
        // Ids come from the file: a row at the largest id (written by hand or by another
        // program) leaves no id after it for the chain.
        let id = last_id
            .checked_add(1)
            .ok_or_else(|| BreakerError::Corrupt {
                detail: format!(
                    "circuit_breaker_audit has a row with id {last_id}, so no row can follow it"
                ),
            })?;
        let mut record = AuditRecord {
            id,
            bookmaker: Some(entry.bookmaker.to_owned()),
            action: Some(entry.action.to_owned()),
            reason: entry.reason.map(str::to_owned),
            user: Some(entry.user.to_owned()),
            timestamp: Some(entry.timestamp),
            forced: entry.forced,
            state_before: Some(entry.state_before.to_owned()),
            state_after: Some(entry.state_after.to_owned()),
            failure_count: Some(entry.failure_count),
            operation: entry.operation.map(str::to_owned),
            host: Some(crate::process::host().to_owned()),
            pid: Some(i64::from(std::process::id())),
            prev_hash: Some(prev_hash.clone()),
            hash: None,
            os_user: entry.os_user.map(str::to_owned),
        };
        record.hash = Some(audit_hash(&prev_hash, &record));
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT INTO circuit_breaker_audit (id, bookmaker, action, reason, user, timestamp,
                 forced, state_before, state_after, failure_count, operation, host, pid,
                 prev_hash, hash, os_user) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,
                 ?12, ?13, ?14, ?15, ?16)",
            )
            .map_err(|e| self.err(e))?;
        stmt.execute(params![
            record.id,
            record.bookmaker,
            record.action,
            record.reason,
            record.user,
            record.timestamp,
            i64::from(record.forced),
            record.state_before,
            record.state_after,
            record.failure_count,
            record.operation,
            record.host,
            record.pid,
            record.prev_hash,
            record.hash,
            record.os_user,
        ])
        .map_err(|e| self.err(e))?;
        self.tx
            .prepare_cached(HEAD_UPSERT)
            .and_then(|mut s| s.execute(params![record.id, record.hash]))
            .map_err(|e| self.err(e))?;
        Ok(record.id)
    }

    fn bump_counter(
        &mut self,
        bookmaker: &str,
        operation: &str,
        reason: &str,
        delta: u64,
        now: i64,
    ) -> Result<()> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT INTO circuit_breaker_counters (bookmaker, operation, reason, count, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (bookmaker, operation, reason)
                 DO UPDATE SET count = count + excluded.count, updated_at = excluded.updated_at",
            )
            .map_err(|e| self.err(e))?;
        stmt.execute(params![
            bookmaker,
            operation,
            reason,
            i64::try_from(delta).unwrap_or(i64::MAX),
            now
        ])
        .map_err(|e| self.err(e))?;
        Ok(())
    }
}
