//! All SQL lives here, behind a narrow interface: open and migrate, read rows, run one write
//! transaction, flush a batch, query the audit trail and the counters.

use crate::config::Synchronous;
use crate::error::{BreakerError, Result};
use crate::machine::{BreakerRow, LatencyBatch, TripKind};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The schema version this build writes and understands (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;
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

const STATE_SELECT: &str = "SELECT bookmaker, failure_count, last_failure_at, tripped, trip_count,
  last_error, avg_latency, last_reset_at, last_reset_by, last_reset_reason, updated_at,
  tripped_at, trip_kind, probe_lease_until, probe_owner, last_success_at
  FROM circuit_breaker_state";

const STATE_UPSERT: &str = "INSERT INTO circuit_breaker_state (bookmaker, failure_count,
  last_failure_at, tripped, trip_count, last_error, avg_latency, last_reset_at, last_reset_by,
  last_reset_reason, updated_at, tripped_at, trip_kind, probe_lease_until, probe_owner,
  last_success_at)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
  ON CONFLICT (bookmaker) DO UPDATE SET failure_count = ?2, last_failure_at = ?3, tripped = ?4,
  trip_count = ?5, last_error = ?6, avg_latency = ?7, last_reset_at = ?8, last_reset_by = ?9,
  last_reset_reason = ?10, updated_at = ?11, tripped_at = ?12, trip_kind = ?13,
  probe_lease_until = ?14, probe_owner = ?15, last_success_at = ?16";

const AUDIT_SELECT: &str = "SELECT id, bookmaker, action, reason, user, timestamp, forced,
  state_before, state_after, failure_count, operation, host, pid, prev_hash, hash
  FROM circuit_breaker_audit";

/// How to open a database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the file and schema when missing (services, `init`, `simulate`).
    CreateIfMissing,
    /// The file must already be a breaker database (every operator command but `init`).
    MustExist,
    /// As `MustExist`, but never write (a read-only file or folder can still be looked at).
    ReadOnly,
}

#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    pub busy_timeout: Duration,
    pub synchronous: Synchronous,
}

/// An audit row to append.
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub bookmaker: &'a str,
    pub action: &'a str,
    pub reason: Option<&'a str>,
    pub user: &'a str,
    pub timestamp: i64,
    pub forced: bool,
    pub state_before: &'a str,
    pub state_after: &'a str,
    pub failure_count: f64,
    pub operation: Option<&'a str>,
}

/// An audit row as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    pub id: i64,
    pub bookmaker: Option<String>,
    pub action: Option<String>,
    pub reason: Option<String>,
    pub user: Option<String>,
    pub timestamp: Option<i64>,
    pub forced: bool,
    pub state_before: Option<String>,
    pub state_after: Option<String>,
    pub failure_count: Option<f64>,
    pub operation: Option<String>,
    pub host: Option<String>,
    pub pid: Option<i64>,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

/// Which audit rows to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub bookmaker: Option<String>,
    pub since: Option<i64>,
    pub action: Option<String>,
    pub user: Option<String>,
    pub limit: Option<usize>,
}

/// One counter total kept in the database for every process on the host.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CounterRow {
    pub bookmaker: String,
    pub operation: String,
    pub reason: String,
    pub count: u64,
}

/// In-memory results waiting to be written in one transaction.
#[derive(Debug, Default)]
pub struct FlushBatch {
    /// Latencies of successful calls, and when the latest succeeded.
    pub latencies: Vec<(String, LatencyBatch, i64)>,
    /// Counter increments: (bookmaker, operation, reason, delta).
    pub counters: Vec<(String, String, String, u64)>,
}

impl FlushBatch {
    pub fn is_empty(&self) -> bool {
        self.latencies.is_empty() && self.counters.is_empty()
    }
}

/// One connection to a breaker database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    options: StoreOptions,
    read_only: bool,
}

impl Store {
    /// Opens `path`, refusing foreign and too-new files, and migrates it to this build's schema.
    pub fn open(path: &Path, mode: OpenMode, options: StoreOptions) -> Result<Store> {
        if mode != OpenMode::CreateIfMissing {
            check_existing_file(path)?;
        }
        let flags = match mode {
            OpenMode::CreateIfMissing => {
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
            }
            OpenMode::MustExist => OpenFlags::SQLITE_OPEN_READ_WRITE,
            OpenMode::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY,
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        if mode == OpenMode::CreateIfMissing
            && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|source| BreakerError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| BreakerError::from_sqlite(e, path, options.busy_timeout))?;
        Store::prepare(conn, path.to_owned(), options, mode == OpenMode::ReadOnly)
    }

    /// Uses a connection the caller opened; it is migrated like a file opened by path.
    pub fn from_connection(conn: Connection, options: StoreOptions) -> Result<Store> {
        let path = conn
            .path()
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(":memory:"));
        let read_only = conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false);
        Store::prepare(conn, path, options, read_only)
    }

    fn prepare(
        conn: Connection,
        path: PathBuf,
        options: StoreOptions,
        read_only: bool,
    ) -> Result<Store> {
        let mut store = Store {
            conn,
            path,
            options,
            read_only,
        };
        store.conn.set_prepared_statement_cache_capacity(32);
        store
            .conn
            .busy_timeout(store.options.busy_timeout)
            .map_err(|e| store.err(e))?;
        // Identity first: a file that is not ours is only ever read, never altered.
        store.check_identity()?;
        store.configure()?;
        if !store.read_only {
            store.migrate()?;
        } else if store.user_version()? < SCHEMA_VERSION {
            return Err(BreakerError::ReadOnly {
                path: store.path.clone(),
                detail: format!(
                    "schema version {} needs an upgrade to {SCHEMA_VERSION}, which needs write access",
                    store.user_version()?
                ),
            });
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn err(&self, e: rusqlite::Error) -> BreakerError {
        BreakerError::from_sqlite(e, &self.path, self.options.busy_timeout)
    }

    fn configure(&mut self) -> Result<()> {
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if !self.read_only
            && !mode.eq_ignore_ascii_case("wal")
            && self.path != Path::new(":memory:")
        {
            // WAL lets readers (operators, scrapes) run beside the services' writers. The
            // switch needs a moment of exclusive access; if others hold the file it is retried
            // on the next open rather than failing this one.
            let _ = self
                .conn
                .query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0));
        }
        self.set_synchronous(self.options.synchronous)?;
        Ok(())
    }

    pub fn set_synchronous(&self, sync: Synchronous) -> Result<()> {
        self.conn
            .execute_batch(&format!("PRAGMA synchronous={}", sync.pragma_value()))
            .map_err(|e| self.err(e))
    }

    pub fn journal_mode(&self) -> Result<String> {
        self.conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    pub fn user_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    fn table_names(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .map_err(|e| self.err(e))?;
        let names = stmt
            .query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
            .map_err(|e| self.err(e))?;
        Ok(names)
    }

    /// Refuses a file that belongs to another program or to a newer build.
    fn check_identity(&self) -> Result<()> {
        let version = self.user_version()?;
        let app_id: i64 = self
            .conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let foreign = |detail: String| BreakerError::NotABreakerDatabase {
            path: self.path.clone(),
            detail,
        };
        if app_id != 0 && app_id != APPLICATION_ID {
            return Err(foreign(format!(
                "it belongs to another program (application_id {app_id:#x})"
            )));
        }
        let tables = self.table_names()?;
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
                path: self.path.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if has_state {
            let columns = self.columns("circuit_breaker_state")?;
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

    fn columns(&self, table: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare(&format!("PRAGMA table_info({table})"))
            .map_err(|e| self.err(e))?;
        let cols = stmt
            .query_map([], |r| r.get::<_, String>(1))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(cols)
    }

    /// Brings the schema to `SCHEMA_VERSION`, each step in one IMMEDIATE transaction.
    fn migrate(&mut self) -> Result<()> {
        if self.user_version()? >= SCHEMA_VERSION {
            return Ok(());
        }
        let path = self.path.clone();
        let busy = self.options.busy_timeout;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| BreakerError::from_sqlite(e, &path, busy))?;
        let map = |e| BreakerError::from_sqlite(e, &path, busy);
        // Another process may have migrated while we waited for the lock.
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(map)?;
        if version < 1 {
            migration_1(&tx).map_err(map)?;
        }
        tx.execute_batch(&format!(
            "PRAGMA user_version = {SCHEMA_VERSION}; PRAGMA application_id = {APPLICATION_ID};"
        ))
        .map_err(map)?;
        tx.commit().map_err(map)?;
        Ok(())
    }

    /// Changes whenever another connection commits; cheap enough for every call.
    pub fn data_version(&self) -> Result<i64> {
        let mut stmt = self
            .conn
            .prepare_cached("PRAGMA data_version")
            .map_err(|e| self.err(e))?;
        stmt.query_row([], |r| r.get(0)).map_err(|e| self.err(e))
    }

    pub fn load(&self, bookmaker: &str) -> Result<Option<BreakerRow>> {
        load_row(&self.conn, bookmaker).map_err(|e| self.err(e))
    }

    pub fn load_all(&self) -> Result<Vec<BreakerRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{STATE_SELECT} ORDER BY bookmaker"))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], row_from_sql)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    pub fn bookmaker_names(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT bookmaker FROM circuit_breaker_state ORDER BY bookmaker")
            .map_err(|e| self.err(e))?;
        let names = stmt
            .query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
            .map_err(|e| self.err(e))?;
        Ok(names)
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction: it commits when `f` returns `Ok`, and
    /// rolls back (writing nothing) otherwise.
    pub fn write<T>(&mut self, f: impl FnOnce(&mut WriteTx<'_>) -> Result<T>) -> Result<T> {
        self.write_with(None, f)
    }

    /// As `write`, with a different durability for this one transaction.
    pub fn write_with<T>(
        &mut self,
        sync: Option<Synchronous>,
        f: impl FnOnce(&mut WriteTx<'_>) -> Result<T>,
    ) -> Result<T> {
        if self.read_only {
            return Err(BreakerError::ReadOnly {
                path: self.path.clone(),
                detail: "opened read-only".to_owned(),
            });
        }
        if let Some(sync) = sync {
            self.set_synchronous(sync)?;
        }
        let result = self.write_inner(f);
        if sync.is_some() {
            self.set_synchronous(self.options.synchronous)?;
        }
        result
    }

    fn write_inner<T>(&mut self, f: impl FnOnce(&mut WriteTx<'_>) -> Result<T>) -> Result<T> {
        let path = self.path.clone();
        let busy = self.options.busy_timeout;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| BreakerError::from_sqlite(e, &path, busy))?;
        let mut wtx = WriteTx {
            tx,
            path: &path,
            busy,
        };
        let value = f(&mut wtx)?;
        wtx.tx
            .commit()
            .map_err(|e| BreakerError::from_sqlite(e, &path, busy))?;
        Ok(value)
    }

    /// Writes a batch of in-memory results. `busy` bounds the wait for the lock, so a
    /// background flush never stalls callers for long; on `Busy` the caller keeps the batch.
    pub fn flush(&mut self, batch: &FlushBatch, now: i64, busy: Duration) -> Result<()> {
        self.conn.busy_timeout(busy).map_err(|e| self.err(e))?;
        let result = self.write_inner(|tx| tx.apply_batch(batch, now));
        self.conn
            .busy_timeout(self.options.busy_timeout)
            .map_err(|e| self.err(e))?;
        result
    }

    pub fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        let mut sql = format!("{AUDIT_SELECT} WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(b) = &filter.bookmaker {
            sql.push_str(" AND bookmaker = ?");
            args.push(b.clone().into());
        }
        if let Some(since) = filter.since {
            sql.push_str(" AND timestamp >= ?");
            args.push(since.into());
        }
        if let Some(action) = &filter.action {
            sql.push_str(" AND action = ? COLLATE NOCASE");
            args.push(action.clone().into());
        }
        if let Some(user) = &filter.user {
            sql.push_str(" AND user = ?");
            args.push(user.clone().into());
        }
        sql.push_str(" ORDER BY id DESC");
        if let Some(limit) = filter.limit {
            sql.push_str(" LIMIT ?");
            args.push(i64::try_from(limit).unwrap_or(i64::MAX).into());
        }
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), audit_from_sql)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// Every audit row, oldest first (for verifying the hash chain).
    pub fn audit_chain(&self) -> Result<Vec<AuditRecord>> {
        let mut stmt = self
            .conn
            .prepare(&format!("{AUDIT_SELECT} ORDER BY id"))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], audit_from_sql)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    pub fn counters(&self) -> Result<Vec<CounterRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT bookmaker, operation, reason, count FROM circuit_breaker_counters
                 ORDER BY bookmaker, operation, reason",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(CounterRow {
                    bookmaker: r.get(0)?,
                    operation: r.get(1)?,
                    reason: r.get(2)?,
                    count: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// `PRAGMA quick_check`: "ok", or what is wrong.
    pub fn quick_check(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("PRAGMA quick_check")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }
}

/// A file that must already hold a breaker database: it exists, is a regular file, and is not
/// empty (SQLite would silently turn an empty file into a new database).
fn check_existing_file(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BreakerError::NotFound {
            path: path.to_owned(),
        }),
        Err(source) => Err(BreakerError::Io {
            path: path.to_owned(),
            source,
        }),
        Ok(meta) if !meta.is_file() => Err(BreakerError::NotABreakerDatabase {
            path: path.to_owned(),
            detail: "it is not a regular file".to_owned(),
        }),
        Ok(meta) if meta.len() == 0 => Err(BreakerError::NotABreakerDatabase {
            path: path.to_owned(),
            detail: "the file is empty".to_owned(),
        }),
        Ok(_) => Ok(()),
    }
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
        let mut stmt = tx.prepare(&format!("{AUDIT_SELECT} ORDER BY id"))?;
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

/// The hash of an audit row: SHA-256 over the previous row's hash and every field, each
/// length-prefixed so that no two different rows serialise alike.
pub fn audit_hash(prev_hash: &str, r: &AuditRecord) -> String {
    fn field(h: &mut Sha256, v: Option<&str>) {
        match v {
            None => h.update(b"-;"),
            Some(s) => {
                h.update(s.len().to_string().as_bytes());
                h.update(b":");
                h.update(s.as_bytes());
                h.update(b";");
            }
        }
    }
    let mut h = Sha256::new();
    field(&mut h, Some(prev_hash));
    field(&mut h, Some(&r.id.to_string()));
    field(&mut h, r.bookmaker.as_deref());
    field(&mut h, r.action.as_deref());
    field(&mut h, r.reason.as_deref());
    field(&mut h, r.user.as_deref());
    field(&mut h, r.timestamp.map(|t| t.to_string()).as_deref());
    field(&mut h, Some(if r.forced { "1" } else { "0" }));
    field(&mut h, r.state_before.as_deref());
    field(&mut h, r.state_after.as_deref());
    field(&mut h, r.failure_count.map(|c| format!("{c:?}")).as_deref());
    field(&mut h, r.operation.as_deref());
    field(&mut h, r.host.as_deref());
    field(&mut h, r.pid.map(|p| p.to_string()).as_deref());
    hex::encode(h.finalize())
}

fn load_row(conn: &Connection, bookmaker: &str) -> rusqlite::Result<Option<BreakerRow>> {
    let mut stmt = conn.prepare_cached(&format!("{STATE_SELECT} WHERE bookmaker = ?1"))?;
    stmt.query_row([bookmaker], row_from_sql).optional()
}

fn row_from_sql(r: &Row<'_>) -> rusqlite::Result<BreakerRow> {
    Ok(BreakerRow {
        bookmaker: r.get(0)?,
        failure_count: r.get::<_, Option<f64>>(1)?.unwrap_or(0.0),
        last_failure_at: r.get(2)?,
        tripped: r.get::<_, Option<i64>>(3)?.unwrap_or(0) != 0,
        trip_count: r.get::<_, Option<i64>>(4)?.unwrap_or(0),
        last_error: r.get(5)?,
        avg_latency: r.get(6)?,
        last_reset_at: r.get(7)?,
        last_reset_by: r.get(8)?,
        last_reset_reason: r.get(9)?,
        updated_at: r.get::<_, Option<i64>>(10)?.unwrap_or(0),
        tripped_at: r.get(11)?,
        trip_kind: r
            .get::<_, Option<String>>(12)?
            .as_deref()
            .and_then(TripKind::parse),
        probe_lease_until: r.get(13)?,
        probe_owner: r.get(14)?,
        last_success_at: r.get(15)?,
    })
}

fn audit_from_sql(r: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        id: r.get(0)?,
        bookmaker: r.get(1)?,
        action: r.get(2)?,
        reason: r.get(3)?,
        user: r.get(4)?,
        timestamp: r.get(5)?,
        forced: r.get::<_, Option<i64>>(6)?.unwrap_or(0) != 0,
        state_before: r.get(7)?,
        state_after: r.get(8)?,
        failure_count: r.get(9)?,
        operation: r.get(10)?,
        host: r.get(11)?,
        pid: r.get(12)?,
        prev_hash: r.get(13)?,
        hash: r.get(14)?,
    })
}

/// One open `BEGIN IMMEDIATE` transaction: everything written through it commits together.
pub struct WriteTx<'a> {
    tx: rusqlite::Transaction<'a>,
    path: &'a Path,
    busy: Duration,
}

impl WriteTx<'_> {
    fn err(&self, e: rusqlite::Error) -> BreakerError {
        BreakerError::from_sqlite(e, self.path, self.busy)
    }

    pub fn load(&self, bookmaker: &str) -> Result<Option<BreakerRow>> {
        load_row(&self.tx, bookmaker).map_err(|e| self.err(e))
    }

    pub fn save(&self, row: &BreakerRow) -> Result<()> {
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

    /// Appends an audit row, chained to the previous one by its hash.
    pub fn append_audit(&self, entry: &NewAudit<'_>) -> Result<i64> {
        let (last_id, prev_hash): (i64, String) = self
            .tx
            .prepare_cached(
                "SELECT id, COALESCE(hash, '') FROM circuit_breaker_audit ORDER BY id DESC LIMIT 1",
            )
            .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .map_err(|e| self.err(e))?
            .unwrap_or((0, String::new()));
        let mut record = AuditRecord {
            id: last_id + 1,
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
        };
        record.hash = Some(audit_hash(&prev_hash, &record));
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT INTO circuit_breaker_audit (id, bookmaker, action, reason, user, timestamp,
                 forced, state_before, state_after, failure_count, operation, host, pid,
                 prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,
                 ?14, ?15)",
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
        ])
        .map_err(|e| self.err(e))?;
        Ok(record.id)
    }

    pub fn bump_counter(
        &self,
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

    fn apply_batch(&self, batch: &FlushBatch, now: i64) -> Result<()> {
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
            self.bump_counter(bookmaker, operation, reason, *delta, now)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> StoreOptions {
        StoreOptions {
            busy_timeout: Duration::from_secs(1),
            synchronous: Synchronous::Normal,
        }
    }

    #[test]
    fn creates_migrates_and_reopens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cb.db");
        let store = Store::open(&path, OpenMode::CreateIfMissing, opts()).expect("open");
        assert_eq!(store.user_version().expect("version"), SCHEMA_VERSION);
        assert_eq!(store.journal_mode().expect("mode"), "wal");
        drop(store);
        let store = Store::open(&path, OpenMode::MustExist, opts()).expect("reopen");
        assert!(store.load_all().expect("rows").is_empty());
    }

    #[test]
    fn must_exist_never_creates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("missing.db");
        let err = Store::open(&path, OpenMode::MustExist, opts())
            .err()
            .expect("must fail");
        assert!(matches!(err, BreakerError::NotFound { .. }));
        assert!(!path.exists());
    }

    #[test]
    fn audit_chain_links_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("cb.db"), OpenMode::CreateIfMissing, opts())
            .expect("open");
        for action in ["TRIP", "RESET"] {
            store
                .write(|tx| {
                    tx.append_audit(&NewAudit {
                        bookmaker: "bk",
                        action,
                        reason: Some("r"),
                        user: "u",
                        timestamp: 1,
                        forced: false,
                        state_before: "closed",
                        state_after: "forced_open",
                        failure_count: 0.0,
                        operation: None,
                    })
                })
                .expect("append");
        }
        let rows = store.audit_chain().expect("chain");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].prev_hash, rows[0].hash);
        assert_eq!(
            rows[1].hash.as_deref(),
            Some(audit_hash(rows[1].prev_hash.as_deref().unwrap_or(""), &rows[1]).as_str())
        );
    }
}
