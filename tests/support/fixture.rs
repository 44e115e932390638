//! The one temporary-database fixture: a temporary folder and a breaker database path in it,
//! with ways to fill it, open it with the library and run the binary on it.

use super::files::list;
use super::run::{Run, ctl, ctl_command};
use breakerctl::clock::ManualClock;
use breakerctl::{BreakerConfig, ProductionCircuitBreaker};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// The original (seed) service's DDL (a copy of shared/fixtures/seed-schema.sql).
pub const SEED_SCHEMA: &str = include_str!("../fixtures/seed-schema.sql");

/// A temporary folder and the breaker database path inside it.
pub struct TempDb {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TempDb {
    /// A folder with no database in it yet; the path is `circuit_breaker.db` in it.
    pub fn empty() -> TempDb {
        TempDb::named("circuit_breaker.db")
    }

    /// A folder with no database in it yet; the path is `file` in it.
    pub fn named(file: &str) -> TempDb {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(file);
        TempDb { dir, path }
    }

    /// A breaker database with no breakers.
    pub fn new() -> TempDb {
        let db = TempDb::empty();
        drop(db.library());
        db
    }

    /// A breaker database where each of `names` has seen one failure (closed).
    pub fn with(names: &[&str]) -> TempDb {
        let db = TempDb::new();
        let cb = db.library();
        for name in names {
            cb.record_failure(name, "connection reset")
                .expect("record failure");
        }
        drop(cb);
        db
    }

    /// The library on this file (creates it when missing), with the system clock.
    pub fn library(&self) -> ProductionCircuitBreaker {
        ProductionCircuitBreaker::open(&self.path, BreakerConfig::default()).expect("open library")
    }

    /// The library with a clock set to `now_ms`, for rows written in the past.
    pub fn library_at(&self, now_ms: i64) -> ProductionCircuitBreaker {
        ProductionCircuitBreaker::builder()
            .clock(Arc::new(ManualClock::new(now_ms)))
            .open(&self.path)
            .expect("open library")
    }

    /// `breakerctl --db FILE args...`, run.
    pub fn run(&self, args: &[&str]) -> Run {
        ctl(&self.path, args)
    }

    /// `breakerctl --db FILE`, to add arguments and environment to (or to spawn).
    pub fn cmd(&self) -> Command {
        ctl_command(&self.path, &[])
    }

    pub fn conn(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.path).expect("open with rusqlite")
    }

    /// See [`rename_to_bytes`].
    pub fn rename_to_bytes(&self, name: &str, raw: &[u8]) {
        rename_to_bytes(&self.path, name, raw);
    }

    pub fn audit_rows(&self) -> i64 {
        self.conn()
            .query_row("SELECT count(*) FROM circuit_breaker_audit", [], |r| {
                r.get(0)
            })
            .expect("count audit rows")
    }

    /// `status NAME --json`.
    pub fn status(&self, name: &str) -> Value {
        self.run(&["--json", "status", name]).ok().json()
    }

    /// Every file in the fixture's folder (to see that nothing was created).
    pub fn files(&self) -> Vec<String> {
        list(self.dir.path())
    }
}

/// Renames breaker `name` (its state row and audit rows) in the database at `db` to the bytes
/// `raw`, stored as text the way a program that never checks its encoding leaves them
/// (`cast(x'..' AS TEXT)`: invalid UTF-8 included).
pub fn rename_to_bytes(db: &Path, name: &str, raw: &[u8]) {
    let conn = rusqlite::Connection::open(db).expect("open with rusqlite");
    for table in ["circuit_breaker_state", "circuit_breaker_audit"] {
        let changed = conn
            .execute(
                &format!("UPDATE {table} SET bookmaker = cast(?1 AS TEXT) WHERE bookmaker = ?2"),
                rusqlite::params![raw, name],
            )
            .expect("rename to bytes");
        assert!(
            table != "circuit_breaker_state" || changed == 1,
            "no breaker {name}"
        );
    }
}

/// A breaker database with a few breakers and audit rows, closed (no -wal/-shm left).
pub fn populated(db: &Path) {
    ctl(db, &["init"]).code(0);
    ctl(
        db,
        &["trip", "alpha", "--reason", "maintenance", "--create"],
    )
    .code(0);
    ctl(db, &["trip", "beta", "--reason", "flaky", "--create"]).code(0);
    ctl(
        db,
        &[
            "reset", "alpha", "--force", "--reason", "fixed", "--user", "ann",
        ],
    )
    .code(0);
    ctl(db, &["trip", "alpha", "--reason", "again"]).code(0);
    ctl(
        db,
        &[
            "reset", "beta", "--force", "--reason", "ok now", "--user", "bob",
        ],
    )
    .code(0);
}
