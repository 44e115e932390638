//! The SQLite backend's own tests; the contract every backend keeps runs from here too.

use super::*;
use crate::storage::NewAudit;
use crate::storage::audit::audit_hash;

#[test]
fn sqlite_keeps_the_store_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("contract.db");
    let open = || -> Box<dyn Backend> {
        Box::new(SqliteStore::open(&path, OpenMode::CreateIfMissing, opts()).expect("open"))
    };
    crate::storage::contract::run_all(&open);
}

fn opts() -> SqliteOptions {
    SqliteOptions {
        busy_timeout: Duration::from_secs(1),
        synchronous: Synchronous::Normal,
    }
}

#[test]
fn wal_header_changes_with_every_commit_and_only_then() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cb.db");
    let mut ours = SqliteStore::open(&path, OpenMode::CreateIfMissing, opts()).expect("open");
    let mut other = SqliteStore::open(&path, OpenMode::MustExist, opts()).expect("other");
    let h0 = ours.wal_header().expect("a WAL database has a header");
    // Reads, ours or another connection's, change nothing.
    ours.load("bk").expect("load");
    other.load_all().expect("load all");
    ours.data_version().expect("data_version");
    assert_eq!(ours.wal_header(), Some(h0));
    // Another connection's commit changes it, and so does ours.
    other
        .write_dyn(Durability::Default, &mut |tx| {
            tx.save(&BreakerRow::new("bk", 1))
        })
        .expect("other writes");
    let h1 = ours.wal_header().expect("header");
    assert_ne!(h1, h0);
    assert_eq!(
        other.wal_header(),
        Some(h1),
        "one header for every connection"
    );
    ours.write_dyn(Durability::Default, &mut |tx| {
        tx.save(&BreakerRow::new("bk", 2))
    })
    .expect("we write");
    let h2 = ours.wal_header().expect("header");
    assert_ne!(h2, h1);
    // Ours was the only commit between its BEGIN and the read after it.
    assert_eq!(
        ours.own_commit(),
        Some(OwnCommit {
            before: ChangeToken::from_words(h1.0),
            after: ChangeToken::from_words(h2.0)
        })
    );
    assert_eq!(
        other.own_commit().map(|c| c.after),
        Some(ChangeToken::from_words(h1.0))
    );
    // No shared wal-index, no header: callers fall back to `PRAGMA data_version`.
    let memory = SqliteStore::from_connection(Connection::open_in_memory().expect("mem"), opts())
        .expect("memory store");
    assert_eq!(memory.wal_header(), None);
    let read_only = SqliteStore::open(&path, OpenMode::ReadOnly, opts()).expect("read-only");
    assert_eq!(read_only.wal_header(), None);
}

#[test]
fn creates_migrates_and_reopens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cb.db");
    let store = SqliteStore::open(&path, OpenMode::CreateIfMissing, opts()).expect("open");
    assert_eq!(store.user_version().expect("version"), SCHEMA_VERSION);
    assert_eq!(store.journal_mode().expect("mode"), "wal");
    drop(store);
    let mut store = SqliteStore::open(&path, OpenMode::MustExist, opts()).expect("reopen");
    assert!(store.load_all().expect("rows").is_empty());
}

#[test]
fn must_exist_never_creates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("missing.db");
    let err = SqliteStore::open(&path, OpenMode::MustExist, opts())
        .err()
        .expect("must fail");
    assert!(matches!(err, BreakerError::NotFound { .. }));
    assert!(!path.exists());
}

#[test]
fn audit_chain_links_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = SqliteStore::open(&dir.path().join("cb.db"), OpenMode::CreateIfMissing, opts())
        .expect("open");
    for action in ["TRIP", "RESET"] {
        store
            .write_dyn(Durability::Default, &mut |tx| {
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
                    os_user: None,
                })
                .map(drop)
            })
            .expect("append");
    }
    let (rows, _) = store.audit_chain_and_head().expect("chain");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].prev_hash, rows[0].hash);
    assert_eq!(
        rows[1].hash.as_deref(),
        Some(audit_hash(rows[1].prev_hash.as_deref().unwrap_or(""), &rows[1]).as_str())
    );
}
