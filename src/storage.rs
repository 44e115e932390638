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
pub const SCHEMA_VERSION: i64 = 2;
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

const HEAD_UPSERT: &str = "INSERT INTO circuit_breaker_audit_head (id, last_id, last_hash)
  VALUES (1, ?1, ?2)
  ON CONFLICT (id) DO UPDATE SET last_id = excluded.last_id, last_hash = excluded.last_hash";

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

/// The longest busy timeout SQLite takes (`i32::MAX` milliseconds, about 24.8 days).
pub const MAX_BUSY_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

impl StoreOptions {
    /// Longer busy timeouts are cut to `MAX_BUSY_TIMEOUT` (SQLite cannot wait longer).
    fn clamped(self) -> StoreOptions {
        StoreOptions {
            busy_timeout: self.busy_timeout.min(MAX_BUSY_TIMEOUT),
            ..self
        }
    }
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

/// The newest audit row's id and hash, as recorded beside the chain (`circuit_breaker_audit_head`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditHead {
    pub last_id: i64,
    pub last_hash: String,
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

/// A copy of the 48-byte wal-index header (see `Store::wal_header`): equal copies taken at
/// two moments mean that nothing was committed in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalHeader([u32; 12]);

impl WalHeader {
    /// `iChange`, which every commit increments by one.
    fn change_counter(&self) -> u32 {
        self.0[2]
    }
}

/// One connection to a breaker database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    options: StoreOptions,
    read_only: bool,
    /// The shared wal-index of a writable connection in WAL mode, for `wal_header`.
    wal_index: Option<WalIndex>,
    /// See `own_commit`.
    own_commit: Option<OwnCommit>,
}

/// The wal-index header when a write transaction of this connection began and right after it
/// committed, with no other commit in between: the database at `after` is the database at
/// `before` plus exactly what that transaction wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnCommit {
    pub before: WalHeader,
    pub after: WalHeader,
}

/// The first region of the wal-index (the -shm file) as SQLite mapped it for this connection.
/// SQLite's VFS contract keeps a region returned by `xShmMap` mapped, at the same address,
/// until `xShmUnmap`, which the connection calls only when it closes or leaves WAL mode; this
/// connection does neither while the `Store` lives (its journal mode is set once, in
/// `configure`, and no other process can leave WAL mode while it holds its SHARED lock on the
/// file). SQLite itself reads the header through this very mapping on every read transaction.
struct WalIndex(std::ptr::NonNull<u32>);

// SAFETY: the pointer is to memory mapped for the whole process, only ever read, with atomic
// loads; which thread reads it does not matter.
unsafe impl Send for WalIndex {}

impl Store {
    /// Opens `path`, refusing foreign and too-new files, and migrates it to this build's schema.
    pub fn open(path: &Path, mode: OpenMode, options: StoreOptions) -> Result<Store> {
        let options = options.clamped();
        if mode != OpenMode::CreateIfMissing {
            check_existing_file(path)?;
        }
        if mode == OpenMode::MustExist || (mode == OpenMode::CreateIfMissing && path.is_file()) {
            // Refuse before SQLite opens it: SQLite would silently open such a file read-only
            // and a read could leave -wal/-shm files behind that the services cannot use.
            check_writable(path)?;
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
        let target = match mode {
            OpenMode::ReadOnly => read_only_uri(path),
            _ => path.to_owned(),
        };
        let conn = Connection::open_with_flags(&target, flags)
            .map_err(|e| BreakerError::from_sqlite(e, path, options.busy_timeout))?;
        conn.busy_timeout(options.busy_timeout)
            .map_err(|e| BreakerError::from_sqlite(e, path, options.busy_timeout))?;
        if mode != OpenMode::CreateIfMissing {
            // An empty SQLite file is not a breaker database: only `init` turns it into one.
            let has_state: bool = conn
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'circuit_breaker_state')",
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| BreakerError::from_sqlite(e, path, options.busy_timeout))?;
            if !has_state {
                return Err(BreakerError::NotABreakerDatabase {
                    path: path.to_owned(),
                    detail: "it has no circuit_breaker_state table".to_owned(),
                });
            }
        }
        let store = Store::prepare(conn, path.to_owned(), options, mode == OpenMode::ReadOnly)?;
        Ok(store)
    }

    /// Uses a connection the caller opened; it is migrated like a file opened by path.
    pub fn from_connection(conn: Connection, options: StoreOptions) -> Result<Store> {
        let options = options.clamped();
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
            wal_index: None,
            own_commit: None,
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
        if !store.read_only && store.shares_wal_index()? {
            store.wal_index = store.map_wal_index();
        }
        Ok(store)
    }

    /// WAL mode with the normal locking mode: the wal-index lives in the -shm file that every
    /// connection maps (not in this connection's heap), and stays so while this one is open
    /// (leaving WAL needs an exclusive lock, which our SHARED lock on the file prevents).
    fn shares_wal_index(&self) -> Result<bool> {
        let locking: String = self
            .conn
            .query_row("PRAGMA locking_mode", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        Ok(self.journal_mode()?.eq_ignore_ascii_case("wal")
            && locking.eq_ignore_ascii_case("normal"))
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
        if version < 2 {
            migration_2(&tx).map_err(map)?;
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

    /// The wal-index header as it stands in the shared memory (-shm) now, read without a lock
    /// or a system call; `None` when it cannot be read so (not WAL, not mapped) or a writer is
    /// rewriting it at this very moment.
    ///
    /// Every commit, by any connection of any process, rewrites this header (its change
    /// counter, frame count and checksums), so the same header twice means no commit at all in
    /// between. It is the test SQLite itself makes, lock-free, at the start of each read
    /// transaction (`walIndexTryHdr`): the header is kept twice, a writer writes the second copy,
    /// a barrier, then the first, and a reader reads the first, a barrier, then the second, so
    /// two equal copies are not a torn read. `PRAGMA data_version` makes the same test, but
    /// inside a read transaction whose shm read lock costs `fcntl` calls every time.
    pub fn wal_header(&self) -> Option<WalHeader> {
        use std::sync::atomic::{AtomicU32, Ordering, fence};
        let words = self.wal_index.as_ref()?.0.as_ptr();
        // SAFETY: `words` is the start of a live, page-aligned mapping of at least 32 KiB (see
        // `WalIndex`), so the 24 aligned u32 of its first 96 bytes are in bounds. Other
        // processes write there, hence atomic loads.
        let read =
            |at: usize| unsafe { AtomicU32::from_ptr(words.add(at)) }.load(Ordering::Acquire);
        let first: [u32; 12] = std::array::from_fn(read);
        fence(Ordering::SeqCst);
        let second: [u32; 12] = std::array::from_fn(|i| read(12 + i));
        // Byte 12 of the header is `isInit`: zero until a connection has built the index.
        let initialised = first[3].to_ne_bytes()[0] != 0;
        (first == second && initialised).then_some(WalHeader(first))
    }

    /// The first wal-index region, as `xShmMap` returns it to SQLite; `None` if it is not
    /// there (it is once a read has run in WAL mode, as `prepare` has done by now).
    fn map_wal_index(&self) -> Option<WalIndex> {
        use rusqlite::ffi;
        /// The size of a wal-index region (SQLite's `WALINDEX_PGSZ`).
        const REGION: std::ffi::c_int = 32 * 1024;
        // SAFETY: the handle is this open connection's, used under `&self` (a `Connection` is
        // not `Sync`, so nothing else uses it meanwhile). `SQLITE_FCNTL_FILE_POINTER` gives the
        // pager's main database file, which lives as long as the connection. `xShmMap` with
        // bExtend=0 and SQLite's own region size returns the region already mapped (or maps
        // an existing one), exactly as the WAL code calls it; `wal_index` is only set for a
        // WAL connection whose wal-index is the shared -shm file (`shares_wal_index`).
        unsafe {
            let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
            let rc = ffi::sqlite3_file_control(
                self.conn.handle(),
                c"main".as_ptr(),
                ffi::SQLITE_FCNTL_FILE_POINTER,
                (&raw mut file).cast(),
            );
            if rc != ffi::SQLITE_OK || file.is_null() || (*file).pMethods.is_null() {
                return None;
            }
            let methods = &*(*file).pMethods;
            if methods.iVersion < 2 {
                return None;
            }
            let shm_map = methods.xShmMap?;
            let mut region: *mut std::ffi::c_void = std::ptr::null_mut();
            if shm_map(file, 0, REGION, 0, &mut region) != ffi::SQLITE_OK {
                return None;
            }
            std::ptr::NonNull::new(region.cast::<u32>()).map(WalIndex)
        }
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
        let busy = self.options.busy_timeout;
        let err = |e| BreakerError::from_sqlite(e, &self.path, busy);
        // BEGIN and COMMIT are prepared once and kept, like every statement of the hot path
        // (rusqlite's `Transaction` parses them anew each time).
        self.conn
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]))
            .map_err(err)?;
        self.own_commit = None;
        // Under the write lock no one else can commit: this is the header of our snapshot.
        let before = self.wal_header();
        let mut wtx = WriteTx {
            tx: &self.conn,
            path: &self.path,
            busy,
            begin_header: before,
            _open: OpenTx(&self.conn),
        };
        let value = f(&mut wtx)?;
        self.conn
            .prepare_cached("COMMIT")
            .and_then(|mut s| s.execute([]))
            .map_err(err)?;
        drop(wtx);
        self.own_commit = self.own_commit_since(before);
        Ok(value)
    }

    /// Our commit, when it was the only one since the header `before`: every commit adds
    /// exactly one to the header's change counter (`iChange`).
    fn own_commit_since(&self, before: Option<WalHeader>) -> Option<OwnCommit> {
        match (before, self.wal_header()) {
            (Some(before), Some(after))
                if after.change_counter() == before.change_counter().wrapping_add(1) =>
            {
                Some(OwnCommit { before, after })
            }
            _ => None,
        }
    }

    /// Records a failure that trips nothing in one autocommit UPDATE, a statement as small as
    /// a bare update, provided the stored row still has the failure count, last failure time
    /// and tripped flag of `old`, the row `new` was computed from (those three decide the new
    /// count and whether it trips; `new` differs from `old` only in the four failure columns).
    /// Returns false, writing nothing, when they no longer match: the caller then goes the
    /// transactional way, reading the row again.
    pub fn save_failure_if_unchanged(
        &mut self,
        old: &BreakerRow,
        new: &BreakerRow,
    ) -> Result<bool> {
        if self.read_only || !only_failure_columns_differ(old, new) {
            return Ok(false);
        }
        self.own_commit = None;
        let before = self.wal_header();
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE circuit_breaker_state SET failure_count = ?2, last_failure_at = ?3,
                 last_error = ?4, updated_at = ?5 WHERE bookmaker = ?1
                 AND failure_count IS ?6 AND last_failure_at IS ?7 AND tripped IS ?8",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    new.bookmaker,
                    new.failure_count,
                    new.last_failure_at,
                    new.last_error,
                    new.updated_at,
                    old.failure_count,
                    old.last_failure_at,
                    i64::from(old.tripped),
                ])
            })
            .map_err(|e| self.err(e))?;
        if changed != 1 {
            return Ok(false);
        }
        self.own_commit = self.own_commit_since(before);
        Ok(true)
    }

    /// The wal-index headers around this connection's last write transaction, when it
    /// committed and no other commit came between its BEGIN and the header read after it.
    pub fn own_commit(&self) -> Option<OwnCommit> {
        self.own_commit
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

    /// Every audit row, oldest first, and the recorded chain head, read in one snapshot.
    pub fn audit_chain_and_head(&self) -> Result<(Vec<AuditRecord>, Option<AuditHead>)> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let rows = self.audit_chain()?;
        let head = tx
            .query_row(
                "SELECT last_id, last_hash FROM circuit_breaker_audit_head WHERE id = 1",
                [],
                |r| {
                    Ok(AuditHead {
                        last_id: r.get(0)?,
                        last_hash: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        drop(tx);
        Ok((rows, head))
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

/// Whether this process may write `path` (`W_OK`, with the effective ids).
fn may_write(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::W_OK, libc::AT_EACCESS) == 0 }
}

/// `path` with `suffix` appended to its file name (`cb.db` -> `cb.db-wal`).
pub fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A write needs the file, and (to create the -wal, -shm or -journal file) its folder.
fn check_writable(path: &Path) -> Result<()> {
    let read_only = |detail: &str| BreakerError::ReadOnly {
        path: path.to_owned(),
        detail: detail.to_owned(),
    };
    if !may_write(path) {
        return Err(read_only("this user may not write the file"));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let wal_ready = sidecar(path, "-wal").exists() && sidecar(path, "-shm").exists();
    if !wal_ready && !may_write(dir) {
        return Err(read_only(
            "this user may not create files in its folder, and SQLite must create the -wal and -shm files there",
        ));
    }
    Ok(())
}

/// The URI that opens `path` for reading only. A WAL database that nobody has open (no -wal
/// or -shm file) is opened `immutable`, so that a reader creates no files: in a read-only
/// folder it could not, and elsewhere they would be left behind owned by the reader.
fn read_only_uri(path: &Path) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file:");
    let bytes = path.as_os_str().as_bytes();
    if bytes.starts_with(b"/") {
        uri.push_str("//");
    }
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?mode=ro");
    if header_says_wal(path) && !sidecar(path, "-wal").exists() && !sidecar(path, "-shm").exists() {
        uri.push_str("&immutable=1");
    }
    PathBuf::from(uri)
}

/// Whether the file's SQLite header marks it as a WAL database (read and write versions 2),
/// whatever journal mode an `immutable` read-only open reports.
pub fn header_says_wal(path: &Path) -> bool {
    use std::io::Read;
    let mut header = [0u8; 20];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok_and(|()| header[18] == 2 && header[19] == 2)
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

/// Whether `new` differs from `old` in the columns a failure writes (failure_count,
/// last_failure_at, last_error, updated_at) and nowhere else. Exhaustive on purpose: a column
/// added to `BreakerRow` must be placed in one list or the other.
fn only_failure_columns_differ(old: &BreakerRow, new: &BreakerRow) -> bool {
    let BreakerRow {
        bookmaker,
        failure_count: _,
        last_failure_at: _,
        tripped,
        trip_count,
        last_error: _,
        avg_latency,
        last_reset_at,
        last_reset_by,
        last_reset_reason,
        updated_at: _,
        tripped_at,
        trip_kind,
        probe_lease_until,
        probe_owner,
        last_success_at,
    } = old;
    *bookmaker == new.bookmaker
        && *tripped == new.tripped
        && *trip_count == new.trip_count
        && *avg_latency == new.avg_latency
        && *last_reset_at == new.last_reset_at
        && *last_reset_by == new.last_reset_by
        && *last_reset_reason == new.last_reset_reason
        && *tripped_at == new.tripped_at
        && *trip_kind == new.trip_kind
        && *probe_lease_until == new.probe_lease_until
        && *probe_owner == new.probe_owner
        && *last_success_at == new.last_success_at
}

fn load_row(conn: &Connection, bookmaker: &str) -> rusqlite::Result<Option<BreakerRow>> {
    static STATE_SELECT_ONE: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("{STATE_SELECT} WHERE bookmaker = ?1"));
    let mut stmt = conn.prepare_cached(&STATE_SELECT_ONE)?;
    stmt.query_row([bookmaker], row_from_sql).optional()
}

/// A text column as another program may have left it: NULL stays `None`; numbers, blobs and
/// invalid UTF-8 become text, so one odd row cannot hide every breaker from `status-all`.
fn text(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<String>> {
    use rusqlite::types::ValueRef;
    Ok(match r.get_ref(i)? {
        ValueRef::Null => None,
        ValueRef::Text(b) | ValueRef::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
        ValueRef::Integer(n) => Some(n.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
    })
}

fn row_from_sql(r: &Row<'_>) -> rusqlite::Result<BreakerRow> {
    Ok(BreakerRow {
        bookmaker: text(r, 0)?.unwrap_or_default(),
        failure_count: r.get::<_, Option<f64>>(1)?.unwrap_or(0.0),
        last_failure_at: r.get(2)?,
        tripped: r.get::<_, Option<i64>>(3)?.unwrap_or(0) != 0,
        trip_count: r.get::<_, Option<i64>>(4)?.unwrap_or(0),
        last_error: text(r, 5)?,
        avg_latency: r.get(6)?,
        last_reset_at: r.get(7)?,
        last_reset_by: text(r, 8)?,
        last_reset_reason: text(r, 9)?,
        updated_at: r.get::<_, Option<i64>>(10)?.unwrap_or(0),
        tripped_at: r.get(11)?,
        trip_kind: text(r, 12)?.as_deref().and_then(TripKind::parse),
        probe_lease_until: r.get(13)?,
        probe_owner: text(r, 14)?,
        last_success_at: r.get(15)?,
    })
}

fn audit_from_sql(r: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        id: r.get(0)?,
        bookmaker: text(r, 1)?,
        action: text(r, 2)?,
        reason: text(r, 3)?,
        user: text(r, 4)?,
        timestamp: r.get(5)?,
        forced: r.get::<_, Option<i64>>(6)?.unwrap_or(0) != 0,
        state_before: text(r, 7)?,
        state_after: text(r, 8)?,
        failure_count: r.get(9)?,
        operation: text(r, 10)?,
        host: text(r, 11)?,
        pid: r.get(12)?,
        prev_hash: r.get(13)?,
        hash: r.get(14)?,
    })
}

/// One open `BEGIN IMMEDIATE` transaction: everything written through it commits together.
pub struct WriteTx<'a> {
    tx: &'a Connection,
    path: &'a Path,
    busy: Duration,
    begin_header: Option<WalHeader>,
    _open: OpenTx<'a>,
}

/// Rolls back, when dropped, a transaction that was neither committed nor ended by SQLite
/// (an error or a panic in the middle of a write).
struct OpenTx<'a>(&'a Connection);

impl Drop for OpenTx<'_> {
    fn drop(&mut self) {
        if !self.0.is_autocommit() {
            let _ = self.0.execute_batch("ROLLBACK");
        }
    }
}

impl WriteTx<'_> {
    fn err(&self, e: rusqlite::Error) -> BreakerError {
        BreakerError::from_sqlite(e, self.path, self.busy)
    }

    pub fn load(&self, bookmaker: &str) -> Result<Option<BreakerRow>> {
        load_row(self.tx, bookmaker).map_err(|e| self.err(e))
    }

    /// The wal-index header of this transaction's snapshot (taken under the write lock, so
    /// nothing committed after it): equal to a header seen earlier, nothing was committed
    /// since then, and rows known as of then are the rows stored now.
    pub fn header_at_begin(&self) -> Option<WalHeader> {
        self.begin_header
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

    /// Writes `row` over `stored`, the row as the table holds it in this transaction. A
    /// failure that trips nothing changes four columns only, and a four-column UPDATE costs
    /// about half the full upsert; anything else is written whole.
    pub fn save_over(&self, stored: Option<&BreakerRow>, row: &BreakerRow) -> Result<()> {
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
    pub fn append_audit(&self, entry: &NewAudit<'_>) -> Result<i64> {
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
        self.tx
            .prepare_cached(HEAD_UPSERT)
            .and_then(|mut s| s.execute(params![record.id, record.hash]))
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
    fn wal_header_changes_with_every_commit_and_only_then() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cb.db");
        let mut ours = Store::open(&path, OpenMode::CreateIfMissing, opts()).expect("open");
        let mut other = Store::open(&path, OpenMode::MustExist, opts()).expect("other");
        let h0 = ours.wal_header().expect("a WAL database has a header");
        // Reads, ours or another connection's, change nothing.
        ours.load("bk").expect("load");
        other.load_all().expect("load all");
        ours.data_version().expect("data_version");
        assert_eq!(ours.wal_header(), Some(h0));
        // Another connection's commit changes it, and so does ours.
        other
            .write(|tx| tx.save(&BreakerRow::new("bk", 1)))
            .expect("other writes");
        let h1 = ours.wal_header().expect("header");
        assert_ne!(h1, h0);
        assert_eq!(
            other.wal_header(),
            Some(h1),
            "one header for every connection"
        );
        ours.write(|tx| tx.save(&BreakerRow::new("bk", 2)))
            .expect("we write");
        let h2 = ours.wal_header().expect("header");
        assert_ne!(h2, h1);
        // Ours was the only commit between its BEGIN and the read after it.
        assert_eq!(
            ours.own_commit(),
            Some(OwnCommit {
                before: h1,
                after: h2
            })
        );
        assert_eq!(other.own_commit().map(|c| c.after), Some(h1));
        // No shared wal-index, no header: callers fall back to `PRAGMA data_version`.
        let memory = Store::from_connection(Connection::open_in_memory().expect("mem"), opts())
            .expect("memory store");
        assert_eq!(memory.wal_header(), None);
        let read_only = Store::open(&path, OpenMode::ReadOnly, opts()).expect("read-only");
        assert_eq!(read_only.wal_header(), None);
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
