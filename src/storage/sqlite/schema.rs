//! The SQLite schema: the seed's tables (version 0), the numbered migrations that add to them,
//! and the identity check that refuses a file that is not ours before anything is written.

use crate::error::{BreakerError, Result};
use crate::storage::audit::audit_hash;
use crate::storage::types::AuditRecord;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;

use super::error::sqlite_error;
use super::rows::{AUDIT_SELECT_V1, audit_from_sql};

/// The schema version this build writes and understands (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 3;
/// `PRAGMA application_id` of a breaker database: "BRKR".
pub const APPLICATION_ID: i64 = 0x4252_4B52;

/// The seed's tables, exactly as the original service created them (schema version 0).
const SEED_DDL: &str = "
CREATE TABLE IF NOT EXISTS circuit_breaker_state (
  bookmaker TEXT PRIMARY KEY,
  failure_count REAL NOT NULL DEFAULT 0,
  last_failure_at INTEGER,
  tripped INTEGER NOT NULL DEFAULT 0,
  trip_count INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  avg_latency REAL,
  last_reset_at INTEGER,
  last_reset_by TEXT,
  last_reset_reason TEXT,
  updated_at INTEGER NOT NULL DEFAULT (strftime('%s', 'now') * 1000)
);
CREATE TABLE IF NOT EXISTS circuit_breaker_audit (
  id INTEGER PRIMARY KEY,
  bookmaker TEXT,
  action TEXT,
  reason TEXT,
  user TEXT,
  timestamp INTEGER
);";

/// Columns added by migration 1, beside the seed's.
const STATE_COLUMNS_V1: &[(&str, &str)] = &[
    ("tripped_at", "INTEGER"),
    ("trip_kind", "TEXT"),
    ("probe_lease_until", "INTEGER"),
    ("probe_owner", "TEXT"),
    ("last_success_at", "INTEGER"),
];
const AUDIT_COLUMNS_V1: &[(&str, &str)] = &[
    ("forced", "INTEGER NOT NULL DEFAULT 0"),
    ("state_before", "TEXT"),
    ("state_after", "TEXT"),
    ("failure_count", "REAL"),
    ("operation", "TEXT"),
    ("host", "TEXT"),
    ("pid", "INTEGER"),
    ("prev_hash", "TEXT"),
    ("hash", "TEXT"),
];

const MIGRATION_1_TABLES: &str = "
CREATE TABLE IF NOT EXISTS circuit_breaker_counters (
  bookmaker TEXT NOT NULL,
  operation TEXT NOT NULL,
  reason TEXT NOT NULL,
  count INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (bookmaker, operation, reason)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS circuit_breaker_audit_by_bookmaker
  ON circuit_breaker_audit (bookmaker, timestamp);
CREATE INDEX IF NOT EXISTS circuit_breaker_audit_by_time
  ON circuit_breaker_audit (timestamp);";

/// Migration 2: the head of the audit hash chain (the last row's id and hash), updated in the
/// transaction of every append, so that deleting the newest rows is caught too.
const MIGRATION_2_TABLES: &str = "
CREATE TABLE IF NOT EXISTS circuit_breaker_audit_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  last_id INTEGER NOT NULL,
  last_hash TEXT NOT NULL
);";

pub(super) const HEAD_UPSERT: &str =
    "INSERT INTO circuit_breaker_audit_head (id, last_id, last_hash)
  VALUES (1, ?1, ?2)
  ON CONFLICT (id) DO UPDATE SET last_id = excluded.last_id, last_hash = excluded.last_hash";

/// Refuses a file that belongs to another program or to a newer build.
pub(super) fn check_identity(
    conn: &Connection,
    path: &Path,
    busy: std::time::Duration,
) -> Result<()> {
    let err = |e| sqlite_error(e, path, busy);
    let version = user_version(conn).map_err(err)?;
    let app_id: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(err)?;
    let foreign = |detail: String| BreakerError::NotABreakerDatabase {
        path: path.to_owned(),
        detail,
    };
    if app_id != 0 && app_id != APPLICATION_ID {
        return Err(foreign(format!(
            "it belongs to another program (application_id {app_id:#x})"
        )));
    }
    let tables = table_names(conn).map_err(err)?;
    let has_state = tables.iter().any(|t| t == "circuit_breaker_state");
    if !has_state && !tables.is_empty() {
        return Err(foreign(format!(
            "it has tables of another program ({})",
            tables.join(", ")
        )));
    }
    if !has_state && (version != 0 || app_id == APPLICATION_ID) {
        return Err(foreign("its breaker tables are missing".to_owned()));
    }
    if version > SCHEMA_VERSION {
        return Err(BreakerError::SchemaTooNew {
            path: path.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if has_state {
        let columns = columns(conn, "circuit_breaker_state").map_err(err)?;
        for seed_column in ["bookmaker", "failure_count", "tripped", "trip_count"] {
            if !columns.iter().any(|c| c == seed_column) {
                return Err(foreign(format!(
                    "circuit_breaker_state has no column {seed_column}"
                )));
            }
        }
    }
    Ok(())
}

pub(super) fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

fn table_names(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )?;
    stmt.query_map([], |r| r.get(0))?.collect()
}

fn columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    stmt.query_map([], |r| r.get::<_, String>(1))?.collect()
}

/// Brings the schema to `SCHEMA_VERSION`, in one IMMEDIATE transaction.
pub(super) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    if user_version(conn)? >= SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Another process may have migrated while we waited for the lock.
    let version = user_version(&tx)?;
    if version < 1 {
        migration_1(&tx)?;
    }
    if version < 2 {
        migration_2(&tx)?;
    }
    if version < 3 {
        migration_3(&tx)?;
    }
    tx.execute_batch(&format!(
        "PRAGMA user_version = {SCHEMA_VERSION}; PRAGMA application_id = {APPLICATION_ID};"
    ))?;
    tx.commit()
}

/// The chain head starts at the newest row already there (or at nothing).
fn migration_2(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(MIGRATION_2_TABLES)?;
    let (last_id, last_hash): (i64, String) = tx
        .query_row(
            "SELECT id, COALESCE(hash, '') FROM circuit_breaker_audit ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((0, String::new()));
    tx.execute(HEAD_UPSERT, params![last_id, last_hash])?;
    Ok(())
}

fn migration_1(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(SEED_DDL)?;
    for (table, columns) in [
        ("circuit_breaker_state", STATE_COLUMNS_V1),
        ("circuit_breaker_audit", AUDIT_COLUMNS_V1),
    ] {
        let existing: Vec<String> = {
            let mut stmt = tx.prepare(&format!("PRAGMA table_info({table})"))?;
            stmt.query_map([], |r| r.get::<_, String>(1))?
                .collect::<rusqlite::Result<_>>()?
        };
        for (name, decl) in columns {
            if !existing.iter().any(|c| c == name) {
                tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {name} {decl}"))?;
            }
        }
    }
    tx.execute_batch(MIGRATION_1_TABLES)?;
    // Rows the original service wrote join the hash chain, in id order.
    let rows: Vec<AuditRecord> = {
        let mut stmt = tx.prepare(&format!("{AUDIT_SELECT_V1} ORDER BY id"))?;
        stmt.query_map([], audit_from_sql)?
            .collect::<rusqlite::Result<_>>()?
    };
    let mut prev = String::new();
    for mut row in rows {
        row.prev_hash = Some(prev.clone());
        let hash = audit_hash(&prev, &row);
        tx.execute(
            "UPDATE circuit_breaker_audit SET prev_hash = ?1, hash = ?2 WHERE id = ?3",
            params![prev, hash, row.id],
        )?;
        prev = hash;
    }
    Ok(())
}

/// Migration 3: the operating-system identity of whoever ran an operator action, beside the
/// user they claimed (`--user`). Older rows keep NULL, which their hashes never covered.
fn migration_3(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    let existing = columns(tx, "circuit_breaker_audit")?;
    if !existing.iter().any(|c| c == "os_user") {
        tx.execute_batch("ALTER TABLE circuit_breaker_audit ADD COLUMN os_user TEXT")?;
    }
    Ok(())
}
