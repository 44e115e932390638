//! The embedded backend: one SQLite file per host, shared by every process on it.
//!
//! Every `rusqlite` use of the crate is in this folder: the schema and migrations
//! (`schema`), row mapping and reads (`rows`), the write transaction (`tx`), the file's
//! permissions and sidecars (`files`), the lock-free wal-index read behind the change token
//! (`wal_index`, the crate's only `unsafe`), error mapping and `doctor`'s checks.

mod diagnostics;
mod error;
mod files;
mod rows;
mod schema;
mod tx;
mod wal_index;

pub use files::{header_says_wal, sidecar};
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};
pub use tx::SqliteTx;

use crate::error::{BreakerError, Result};
use crate::machine::BreakerRow;
use crate::storage::types::{AuditFilter, AuditHead, AuditRecord, CounterRow, FlushBatch};
use crate::storage::{
    Backend, BackendDiagnostics, ChangeToken, Durability, OpenMode, OwnCommit, WriteTx,
};
use error::sqlite_error;
use rusqlite::{Connection, OpenFlags, params};
use std::path::{Path, PathBuf};
use std::time::Duration;
use wal_index::{WalHeader, WalIndex};

/// How strongly a commit is flushed to disk (SQLite `PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// WAL + NORMAL: a commit survives a crash of the process, not necessarily a power cut.
    Normal,
    /// FULL: every commit is fsynced; used for operator actions.
    Full,
}

impl Synchronous {
    fn pragma_value(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// The longest busy timeout SQLite takes (`i32::MAX` milliseconds, about 24.8 days).
pub const MAX_BUSY_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

/// The SQLite backend's own settings.
#[derive(Debug, Clone, Copy)]
pub struct SqliteOptions {
    /// How long a statement waits for another process's lock before failing (`Busy`).
    pub busy_timeout: Duration,
    /// Durability of the ordinary writes; [`Durability::Strict`] writes are always `FULL`.
    pub synchronous: Synchronous,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            busy_timeout: Duration::from_secs(5),
            synchronous: Synchronous::Normal,
        }
    }
}

impl SqliteOptions {
    /// Longer busy timeouts are cut to `MAX_BUSY_TIMEOUT` (SQLite cannot wait longer).
    fn clamped(self) -> SqliteOptions {
        SqliteOptions {
            busy_timeout: self.busy_timeout.min(MAX_BUSY_TIMEOUT),
            ..self
        }
    }
}

/// One connection to a breaker database file.
pub struct SqliteStore {
    /// Declared before `conn`: the mapping it reads is the connection's, so it goes first.
    wal_index: Option<WalIndex>,
    conn: Connection,
    path: PathBuf,
    options: SqliteOptions,
    read_only: bool,
    /// See `Backend::own_commit`.
    own_commit: Option<OwnCommit>,
}

impl SqliteStore {
    /// Opens `path`, refusing foreign and too-new files, and migrates it to this build's schema.
    pub fn open(path: &Path, mode: OpenMode, options: SqliteOptions) -> Result<SqliteStore> {
        let options = options.clamped();
        if mode != OpenMode::CreateIfMissing {
            files::check_existing_file(path)?;
        } else {
            // A device, folder or socket at the path is never turned into a database (SQLite
            // would fail on it with "disk I/O error" and leave a -journal file beside it).
            files::check_not_special(path)?;
        }
        if mode == OpenMode::MustExist || (mode == OpenMode::CreateIfMissing && path.is_file()) {
            // Refuse before SQLite opens it: SQLite would silently open such a file read-only
            // and a read could leave -wal/-shm files behind that the services cannot use.
            files::check_writable(path)?;
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
            OpenMode::ReadOnly => files::read_only_uri(path),
            _ => path.to_owned(),
        };
        let err = |e| sqlite_error(e, path, options.busy_timeout);
        let conn = Connection::open_with_flags(&target, flags).map_err(err)?;
        conn.busy_timeout(options.busy_timeout).map_err(err)?;
        if mode != OpenMode::CreateIfMissing {
            // An empty SQLite file is not a breaker database: only `init` turns it into one.
            let has_state: bool = conn
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'circuit_breaker_state')",
                    [],
                    |r| r.get(0),
                )
                .map_err(err)?;
            if !has_state {
                return Err(BreakerError::NotABreakerDatabase {
                    path: path.to_owned(),
                    detail: "it has no circuit_breaker_state table".to_owned(),
                });
            }
        }
        SqliteStore::prepare(conn, path.to_owned(), options, mode == OpenMode::ReadOnly)
    }

    /// Uses a connection the caller opened; it is migrated like a file opened by path.
    pub fn from_connection(conn: Connection, options: SqliteOptions) -> Result<SqliteStore> {
        let options = options.clamped();
        let path = conn
            .path()
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(":memory:"));
        let read_only = conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false);
        SqliteStore::prepare(conn, path, options, read_only)
    }

    fn prepare(
        conn: Connection,
        path: PathBuf,
        options: SqliteOptions,
        read_only: bool,
    ) -> Result<SqliteStore> {
        let mut store = SqliteStore {
            wal_index: None,
            conn,
            path,
            options,
            read_only,
            own_commit: None,
        };
        store.conn.set_prepared_statement_cache_capacity(32);
        // Identity first: a file that is not ours is only ever read, never altered.
        schema::check_identity(&store.conn, &store.path, store.options.busy_timeout)?;
        store.configure()?;
        if !store.read_only {
            schema::migrate(&mut store.conn).map_err(|e| store.err(e))?;
        } else {
            let version = store.user_version()?;
            if version < SCHEMA_VERSION {
                return Err(BreakerError::ReadOnly {
                    path: store.path.clone(),
                    detail: format!(
                        "schema version {version} needs an upgrade to {SCHEMA_VERSION}, which needs write access"
                    ),
                });
            }
        }
        if !store.read_only && store.shares_wal_index()? {
            store.wal_index = WalIndex::map(&store.conn);
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

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> BreakerError {
        sqlite_error(e, &self.path, self.options.busy_timeout)
    }

    fn configure(&mut self) -> Result<()> {
        let mode = self.journal_mode()?;
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
        self.set_synchronous(self.options.synchronous)
    }

    fn set_synchronous(&self, sync: Synchronous) -> Result<()> {
        self.conn
            .execute_batch(&format!("PRAGMA synchronous={}", sync.pragma_value()))
            .map_err(|e| self.err(e))
    }

    /// `PRAGMA journal_mode`, as SQLite reports it.
    pub fn journal_mode(&self) -> Result<String> {
        self.conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// `PRAGMA user_version`: the schema version.
    pub fn user_version(&self) -> Result<i64> {
        schema::user_version(&self.conn).map_err(|e| self.err(e))
    }

    /// The wal-index header now, when this connection reads it lock-free (see `wal_index`).
    fn wal_header(&self) -> Option<WalHeader> {
        self.wal_index.as_ref()?.header()
    }

    /// `PRAGMA data_version`: changes whenever another connection commits.
    fn data_version(&self) -> Result<i64> {
        let mut stmt = self
            .conn
            .prepare_cached("PRAGMA data_version")
            .map_err(|e| self.err(e))?;
        stmt.query_row([], |r| r.get(0)).map_err(|e| self.err(e))
    }

    fn read_only_error(&self) -> BreakerError {
        BreakerError::ReadOnly {
            path: self.path.clone(),
            detail: "opened read-only".to_owned(),
        }
    }

    fn write_inner<T>(&mut self, f: impl FnOnce(&mut SqliteTx<'_>) -> Result<T>) -> Result<T> {
        let busy = self.options.busy_timeout;
        let err = |e| sqlite_error(e, &self.path, busy);
        // BEGIN and COMMIT are prepared once and kept, like every statement of the hot path
        // (rusqlite's `Transaction` parses them anew each time).
        self.conn
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]))
            .map_err(err)?;
        self.own_commit = None;
        // Under the write lock no one else can commit: this is the header of our snapshot.
        let before = self.wal_header();
        let mut wtx = SqliteTx {
            tx: &self.conn,
            path: &self.path,
            busy,
            begin_header: before,
            _open: tx::OpenTx(&self.conn),
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
                Some(OwnCommit {
                    before: ChangeToken::from_words(before.0),
                    after: ChangeToken::from_words(after.0),
                })
            }
            _ => None,
        }
    }
}

impl Backend for SqliteStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn schema_version(&mut self) -> Result<i64> {
        self.user_version()
    }

    /// The wal-index header, read lock-free with no system call, when this connection maps
    /// the shared wal-index and the header is not being rewritten this instant; else
    /// `PRAGMA data_version` (a read transaction). Either changes with every commit.
    fn change_token(&mut self) -> Result<ChangeToken> {
        match self.wal_header() {
            Some(header) => Ok(ChangeToken::from_words(header.0)),
            None => self.data_version().map(ChangeToken::from_counter),
        }
    }

    fn own_commit(&self) -> Option<OwnCommit> {
        self.own_commit
    }

    fn load(&mut self, bookmaker: &str) -> Result<Option<BreakerRow>> {
        rows::load_row(&self.conn, bookmaker).map_err(|e| self.err(e))
    }

    fn load_all(&mut self) -> Result<Vec<BreakerRow>> {
        rows::load_all(&self.conn).map_err(|e| self.err(e))
    }

    fn bookmaker_names(&mut self) -> Result<Vec<String>> {
        rows::bookmaker_names(&self.conn).map_err(|e| self.err(e))
    }

    fn bookmaker_keys(&mut self) -> Result<Vec<Vec<u8>>> {
        rows::bookmaker_keys(&self.conn).map_err(|e| self.err(e))
    }

    fn write_dyn(
        &mut self,
        durability: Durability,
        f: &mut dyn FnMut(&mut dyn WriteTx) -> Result<()>,
    ) -> Result<()> {
        if self.read_only {
            return Err(self.read_only_error());
        }
        let strict =
            durability == Durability::Strict && self.options.synchronous != Synchronous::Full;
        if strict {
            self.set_synchronous(Synchronous::Full)?;
        }
        let result = self.write_inner(|tx| f(tx));
        if strict {
            self.set_synchronous(self.options.synchronous)?;
        }
        result
    }

    fn save_failure_if_unchanged(&mut self, old: &BreakerRow, new: &BreakerRow) -> Result<bool> {
        if self.read_only || !rows::only_failure_columns_differ(old, new) {
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

    fn flush(&mut self, batch: &FlushBatch, now: i64, busy: Duration) -> Result<()> {
        if self.read_only {
            return Err(self.read_only_error());
        }
        self.conn.busy_timeout(busy).map_err(|e| self.err(e))?;
        let result = self.write_inner(|tx| tx.apply_batch(batch, now));
        self.conn
            .busy_timeout(self.options.busy_timeout)
            .map_err(|e| self.err(e))?;
        result
    }

    fn audit(&mut self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        rows::audit(&self.conn, filter).map_err(|e| self.err(e))
    }

    fn audit_chain_and_head(&mut self) -> Result<(Vec<AuditRecord>, Option<AuditHead>)> {
        rows::audit_chain_and_head(&self.conn).map_err(|e| self.err(e))
    }

    fn counters(&mut self) -> Result<Vec<CounterRow>> {
        rows::counters(&self.conn).map_err(|e| self.err(e))
    }

    fn diagnostics(&mut self) -> BackendDiagnostics {
        diagnostics::examine(self)
    }
}

#[cfg(test)]
mod tests;
