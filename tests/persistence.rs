//! State on disk: it survives dropping a breaker, databases made by the original (seed) service
//! open and migrate without losing anything, an old writer's rows still read correctly, and
//! files that are not ours (or too new) are refused and left exactly as they were.

use crate::support::breaker::*;
use crate::support::files::snapshot_digests;
use crate::support::fixture::{SEED_SCHEMA, TempDb};
use breakerctl::clock::ManualClock;
use breakerctl::load::FixedLoad;
use breakerctl::metrics::RecordingMetrics;
use breakerctl::storage::SCHEMA_VERSION;
use breakerctl::{
    BreakerConfig, BreakerError, BreakerState, CallContext, CallError, ProductionCircuitBreaker,
    ResetOptions,
};
use rusqlite::types::Value;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The seed's failure statement (section 12.2.2), verbatim.
const SEED_RECORD_FAILURE: &str = "INSERT OR REPLACE INTO circuit_breaker_state
(bookmaker, failure_count, last_failure_at, tripped, trip_count, last_error, updated_at)
VALUES (?, COALESCE((SELECT failure_count + 1 FROM circuit_breaker_state WHERE bookmaker = ?), 1), ?, ?, ?, ?, ?)";

/// The seed's timeout statement (section 12.2.3), verbatim.
const SEED_RECORD_TIMEOUT: &str = "UPDATE circuit_breaker_state
SET failure_count = failure_count + 0.5, last_failure_at = ?, updated_at = ?
WHERE bookmaker = ?";

const SEED_STATE_COLUMNS: &str = "bookmaker, failure_count, last_failure_at, tripped, trip_count,
  last_error, avg_latency, last_reset_at, last_reset_by, last_reset_reason, updated_at";

fn ctx(operation: &str) -> CallContext<'_> {
    CallContext::new(operation, 1.0)
}

/// An old writer's failure, as the original service wrote it.
fn old_writer_failure(
    conn: &rusqlite::Connection,
    bookmaker: &str,
    at: i64,
    tripped: bool,
    trip_count: i64,
    error: &str,
) {
    conn.execute(
        SEED_RECORD_FAILURE,
        rusqlite::params![
            bookmaker,
            bookmaker,
            at,
            i64::from(tripped),
            trip_count,
            error,
            at
        ],
    )
    .expect("seed INSERT OR REPLACE");
}

fn old_writer_timeout(conn: &rusqlite::Connection, bookmaker: &str, at: i64) {
    let n = conn
        .execute(SEED_RECORD_TIMEOUT, rusqlite::params![at, at, bookmaker])
        .expect("seed timeout UPDATE");
    assert_eq!(n, 1);
}

fn query_all(conn: &rusqlite::Connection, sql: &str) -> Vec<Vec<Value>> {
    let mut stmt = conn.prepare(sql).expect("prepare");
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn seed_state_rows(path: &Path) -> Vec<Vec<Value>> {
    let conn = rusqlite::Connection::open(path).expect("sqlite");
    query_all(
        &conn,
        &format!("SELECT {SEED_STATE_COLUMNS} FROM circuit_breaker_state ORDER BY bookmaker"),
    )
}

fn seed_audit_rows(path: &Path) -> Vec<Vec<Value>> {
    let conn = rusqlite::Connection::open(path).expect("sqlite");
    query_all(
        &conn,
        "SELECT id, bookmaker, action, reason, user, timestamp FROM circuit_breaker_audit ORDER BY id",
    )
}

/// Builds a database exactly as the original service would have left it (no PRAGMA set,
/// rollback journal, user_version 0), with rows written by its statements.
fn make_seed_database(path: &Path) {
    let conn = rusqlite::Connection::open(path).expect("sqlite");
    conn.execute_batch(SEED_SCHEMA).expect("seed DDL");
    // draftkings: three failures and a timeout, a latency recorded by a success earlier.
    for (i, at) in [T0 - 3_000, T0 - 2_000, T0 - 1_500].into_iter().enumerate() {
        old_writer_failure(&conn, "draftkings", at, false, 0, &format!("Error {i}"));
    }
    old_writer_timeout(&conn, "draftkings", T0 - 1_000);
    conn.execute(
        "UPDATE circuit_breaker_state SET avg_latency = 123.25 WHERE bookmaker = 'draftkings'",
        [],
    )
    .expect("latency");
    // fanduel: tripped by the original long ago (its trip kind is unknown), reset once before.
    old_writer_failure(
        &conn,
        "fanduel",
        T0 - 7_200_000,
        true,
        2,
        "threshold exceeded",
    );
    conn.execute(
        "UPDATE circuit_breaker_state SET last_reset_at = ?1, last_reset_by = 'bob',
         last_reset_reason = 'recovered', avg_latency = 88.5 WHERE bookmaker = 'fanduel'",
        [T0 - 9_000_000],
    )
    .expect("reset columns");
    // betmgm: a row whose updated_at comes from the column default.
    conn.execute(
        "INSERT INTO circuit_breaker_state (bookmaker, avg_latency) VALUES ('betmgm', 42.0)",
        [],
    )
    .expect("default row");
    for (id, action, reason, user, ts) in [
        (1, "TRIP", "Manual trip", "alice", T0 - 9_500_000),
        (2, "RESET", "recovered", "bob", T0 - 9_000_000),
        (3, "TRIP", "threshold exceeded", "system", T0 - 7_200_000),
    ] {
        conn.execute(
            "INSERT INTO circuit_breaker_audit (id, bookmaker, action, reason, user, timestamp)
             VALUES (?1, 'fanduel', ?2, ?3, ?4, ?5)",
            rusqlite::params![id, action, reason, user, ts],
        )
        .expect("audit row");
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal mode");
    assert_eq!(mode, "delete", "a seed file is in rollback-journal mode");
}

fn user_version(path: &Path) -> i64 {
    rusqlite::Connection::open(path)
        .expect("sqlite")
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version")
}

fn manual(path: &Path, clock: &ManualClock) -> ProductionCircuitBreaker {
    open_manual(
        path,
        seed_config(),
        clock,
        &Arc::new(RecordingMetrics::default()),
    )
}

#[test]
fn state_survives_dropping_the_breaker() {
    let db = TempDb::empty();
    let clock = ManualClock::new(T0);
    let cb = manual(&db.path, &clock);
    // Automatic trip, a manual trip, failures, batched latencies and rejection counters.
    for _ in 0..10 {
        cb.record_failure("draftkings", "500").unwrap();
    }
    cb.trip("fanduel", "maintenance", "alice").unwrap();
    cb.record_failure("caesars", "502").unwrap();
    cb.record_timeout("caesars", "read timeout").unwrap();
    cb.record_success("betmgm", Duration::from_millis(150))
        .unwrap();
    cb.record_success("betmgm", Duration::from_millis(250))
        .unwrap();
    for _ in 0..3 {
        let r = cb.call_api("fanduel", &ctx("graph_build"), || Ok::<_, String>(()));
        assert!(matches!(r, Err(CallError::Tripped { .. })));
    }
    let r = cb.call_api("draftkings", &ctx("micro_bet"), || Ok::<_, String>(()));
    assert!(matches!(r, Err(CallError::Tripped { .. })));

    // The successes and rejections are still in memory: another reader sees none of them.
    {
        let conn = rusqlite::Connection::open(&db.path).unwrap();
        let betmgm: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM circuit_breaker_state WHERE bookmaker = 'betmgm'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(betmgm, 0, "latencies are batched");
        let counters: i64 = conn
            .query_row("SELECT COUNT(*) FROM circuit_breaker_counters", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(counters, 0, "rejection counts are batched");
    }
    clock.advance(Duration::from_millis(5));
    drop(cb);

    let cb = ProductionCircuitBreaker::builder()
        .config(seed_config())
        .clock(Arc::new(clock.clone()))
        .open_existing(&db.path)
        .expect("reopen");
    let dk = cb.get_status("draftkings").unwrap().unwrap();
    assert_eq!(
        (dk.state, dk.failures, dk.trip_count),
        (BreakerState::Open, 10.0, 1)
    );
    let fd = cb.get_status("fanduel").unwrap().unwrap();
    assert_eq!((fd.state, fd.trip_count), (BreakerState::ForcedOpen, 1));
    let cz = cb.get_status("caesars").unwrap().unwrap();
    assert_eq!((cz.state, cz.failures), (BreakerState::Closed, 1.5));
    assert_eq!(cz.last_error.as_deref(), Some("read timeout"));
    let bm = cb.get_status("betmgm").unwrap().unwrap();
    assert!(
        (bm.avg_latency.unwrap() - 160.0).abs() < 1e-9,
        "{:?}",
        bm.avg_latency
    );
    assert_eq!(bm.last_success_at, Some(T0));
    assert_eq!(bm.failures, 0.0);
    assert_eq!(counter(&cb, "fanduel", Some("graph_build"), "tripped"), 3);
    assert_eq!(counter(&cb, "draftkings", Some("micro_bet"), "tripped"), 1);
    assert_eq!(actions_of(&cb, "draftkings"), ["TRIP"]);
    assert_eq!(actions_of(&cb, "fanduel"), ["TRIP"]);

    // The automatic trip kept its kind: it is probed after the reset timeout.
    clock.advance(cb.config().reset_timeout);
    assert_eq!(
        cb.get_status("draftkings").unwrap().unwrap().state,
        BreakerState::HalfOpen
    );
    assert!(
        cb.call_api("draftkings", &ctx("probe_api"), || Ok::<_, String>(()))
            .is_ok()
    );
    assert_eq!(
        cb.get_status("draftkings").unwrap().unwrap().state,
        BreakerState::Closed
    );
    // ... and the operator's is not.
    assert_eq!(
        cb.get_status("fanduel").unwrap().unwrap().state,
        BreakerState::ForcedOpen
    );
}

#[test]
fn a_seed_database_opens_migrates_and_keeps_every_value() {
    let db = TempDb::empty();
    make_seed_database(&db.path);
    assert_eq!(user_version(&db.path), 0);
    let state_before = seed_state_rows(&db.path);
    let audit_before = seed_audit_rows(&db.path);
    assert_eq!(state_before.len(), 3);

    let clock = ManualClock::new(T0);
    let cb = ProductionCircuitBreaker::builder()
        .config(seed_config())
        .clock(Arc::new(clock.clone()))
        .open_existing(&db.path)
        .expect("a seed database opens");
    assert_eq!(user_version(&db.path), SCHEMA_VERSION);
    assert_eq!(
        seed_state_rows(&db.path),
        state_before,
        "state rows unchanged by migration"
    );
    assert_eq!(
        seed_audit_rows(&db.path),
        audit_before,
        "audit rows unchanged by migration"
    );

    let dk = cb.get_status("draftkings").unwrap().unwrap();
    assert_eq!(dk.failures, 3.5);
    assert_eq!(dk.last_failure_at, Some(T0 - 1_000));
    assert_eq!(dk.last_error.as_deref(), Some("Error 2"));
    assert_eq!(dk.avg_latency, Some(123.25));
    assert_eq!(
        (dk.tripped, dk.state, dk.trip_count),
        (false, BreakerState::Closed, 0)
    );

    let fd = cb.get_status("fanduel").unwrap().unwrap();
    assert_eq!(
        (fd.tripped, fd.state, fd.trip_count),
        (true, BreakerState::ForcedOpen, 2)
    );
    assert_eq!(fd.failures, 1.0);
    assert_eq!(fd.last_error.as_deref(), Some("threshold exceeded"));
    assert_eq!(fd.avg_latency, Some(88.5));
    assert_eq!(fd.last_reset_at, Some(T0 - 9_000_000));
    assert_eq!(fd.last_reset_by.as_deref(), Some("bob"));
    assert_eq!(fd.last_reset_reason.as_deref(), Some("recovered"));
    assert_eq!(
        fd.tripped_at,
        Some(T0 - 7_200_000),
        "the last failure stands in for the trip time"
    );

    let bm = cb.get_status("betmgm").unwrap().unwrap();
    assert_eq!(
        (bm.failures, bm.tripped, bm.avg_latency),
        (0.0, false, Some(42.0))
    );
    assert!(bm.updated_at > 0);

    let audit = cb.audit(&Default::default()).unwrap();
    let ids: Vec<i64> = audit.iter().map(|r| r.id).rev().collect();
    assert_eq!(ids, [1, 2, 3]);
    assert_eq!(audit[2].user.as_deref(), Some("alice"));
    assert_eq!(audit[2].action.as_deref(), Some("TRIP"));

    // The legacy trip is treated as an operator's: never probed, however long it waits.
    let ran = AtomicUsize::new(0);
    for _ in 0..3 {
        clock.advance(cb.config().reset_timeout * 5);
        let r = cb.call_api("fanduel", &ctx("probe_api"), || {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(())
        });
        assert!(
            matches!(
                r,
                Err(CallError::Tripped {
                    state: BreakerState::ForcedOpen,
                    ..
                })
            ),
            "{r:?}"
        );
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0);

    // The database is used in place: new writes go on from the old values.
    clock.set(T0);
    cb.record_failure("draftkings", "Error 3").unwrap();
    assert_eq!(cb.get_status("draftkings").unwrap().unwrap().failures, 4.5);
    clock.advance(Duration::from_secs(1));
    let s = cb
        .reset(
            "fanduel",
            ResetOptions {
                reason: Some("back"),
                user: "carol",
                force: false,
            },
        )
        .expect("its last failure is long past the cooldown");
    assert_eq!((s.state, s.trip_count), (BreakerState::Closed, 2));
    let audit = audit_of(&cb, "fanduel");
    assert_eq!(audit.len(), 4);
    assert_eq!(audit[3].id, 4);
    assert_eq!(audit[3].action.as_deref(), Some("RESET"));
    assert_eq!(audit[3].state_before.as_deref(), Some("forced_open"));
    drop(cb);

    // Reopening a migrated file changes nothing further.
    let before = seed_state_rows(&db.path);
    let cb = ProductionCircuitBreaker::builder()
        .open_existing(&db.path)
        .expect("reopen");
    assert_eq!(cb.schema_version().unwrap(), SCHEMA_VERSION);
    drop(cb);
    assert_eq!(seed_state_rows(&db.path), before);
}

#[test]
fn rows_rewritten_by_an_old_writer_after_migration_read_correctly() {
    let db = TempDb::empty();
    make_seed_database(&db.path);
    let clock = ManualClock::new(T0);
    let cb = manual(&db.path, &clock);
    // The breaker trips draftkings automatically (3.5 + 7 >= 10).
    for _ in 0..7 {
        cb.record_failure("draftkings", "500").unwrap();
    }
    let dk = cb.get_status("draftkings").unwrap().unwrap();
    assert_eq!(
        (dk.state, dk.trip_count, dk.failures),
        (BreakerState::Open, 1, 10.5)
    );
    // It trips betmgm too.
    for _ in 0..10 {
        cb.record_failure("betmgm", "503").unwrap();
    }
    assert_eq!(
        cb.get_status("betmgm").unwrap().unwrap().state,
        BreakerState::Open
    );
    // Warm this breaker's cache of every row.
    for name in ["draftkings", "betmgm", "caesars"] {
        let _ = cb.call_api(name, &ctx("warm"), || Ok::<_, String>(()));
    }

    let old = rusqlite::Connection::open(&db.path).expect("old writer");
    old.busy_timeout(Duration::from_secs(5)).unwrap();
    // 1. A tripped row rewritten with the seed's columns only: the trip kind is erased, so it is
    //    the original's kind of trip (forced open, never probed).
    old_writer_failure(&old, "draftkings", T0 + 10, true, 1, "old writer 500");
    // 2. The old writer says betmgm is not tripped: the seed's columns are the truth.
    old_writer_failure(&old, "betmgm", T0 + 10, false, 1, "old writer 502");
    // 3. A row only the old writer knows about, then its timeout statement.
    old_writer_failure(&old, "caesars", T0 + 10, false, 0, "old writer 504");
    old_writer_timeout(&old, "caesars", T0 + 20);

    let dk = cb.get_status("draftkings").unwrap().unwrap();
    assert_eq!(dk.failures, 11.5, "COALESCE(failure_count + 1)");
    assert_eq!(
        (dk.tripped, dk.state, dk.trip_count),
        (true, BreakerState::ForcedOpen, 1)
    );
    assert_eq!(dk.last_error.as_deref(), Some("old writer 500"));
    assert_eq!(
        dk.avg_latency, None,
        "INSERT OR REPLACE drops the columns it does not name"
    );
    assert_eq!(dk.tripped_at, Some(T0 + 10));

    let bm = cb.get_status("betmgm").unwrap().unwrap();
    assert_eq!((bm.tripped, bm.state), (false, BreakerState::Closed));
    let cz = cb.get_status("caesars").unwrap().unwrap();
    assert_eq!(
        (cz.failures, cz.state, cz.last_failure_at),
        (1.5, BreakerState::Closed, Some(T0 + 20))
    );

    // Calls follow the rewritten rows at once (the cache is invalidated by the other commit).
    let ran = AtomicUsize::new(0);
    let call = |name: &str| {
        cb.call_api(name, &ctx("after_rewrite"), || {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(())
        })
    };
    assert!(call("betmgm").is_ok());
    assert!(call("caesars").is_ok());
    clock.advance(cb.config().reset_timeout * 3);
    let r = call("draftkings");
    assert!(
        matches!(
            r,
            Err(CallError::Tripped {
                state: BreakerState::ForcedOpen,
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(ran.load(Ordering::SeqCst), 2);
    assert_eq!(cb.get_status("caesars").unwrap().unwrap().failures, 0.0);

    // The breaker's own failure on a row the old writer made counts on from its value.
    clock.set(T0 + 30);
    old_writer_failure(&old, "pointsbet", T0 + 25, false, 0, "old");
    cb.record_failure("pointsbet", "new").unwrap();
    assert_eq!(cb.get_status("pointsbet").unwrap().unwrap().failures, 2.0);

    // An audit row in the original's columns only is read back too.
    old.execute(
        "INSERT INTO circuit_breaker_audit (bookmaker, action, reason, user, timestamp)
         VALUES ('draftkings', 'RESET', 'old console', 'dave', ?1)",
        [T0 + 40],
    )
    .unwrap();
    let last = audit_of(&cb, "draftkings").pop().unwrap();
    assert_eq!(
        (
            last.action.as_deref(),
            last.user.as_deref(),
            last.reason.as_deref(),
            last.forced
        ),
        (Some("RESET"), Some("dave"), Some("old console"), false)
    );
}

#[test]
fn a_newer_schema_is_refused_and_left_unchanged() {
    let db = TempDb::empty();
    let cb = ProductionCircuitBreaker::open(&db.path, seed_config()).unwrap();
    cb.trip("draftkings", "maintenance", "alice").unwrap();
    drop(cb);
    {
        let conn = rusqlite::Connection::open(&db.path).unwrap();
        conn.execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
            .unwrap();
    }
    let before = snapshot_digests(db.dir.path());
    assert_eq!(
        before.len(),
        1,
        "only the database file: {:?}",
        before.keys()
    );
    for mode in ["open", "open_existing", "open_read_only"] {
        let b = ProductionCircuitBreaker::builder();
        let result = match mode {
            "open" => b.open(&db.path),
            "open_existing" => b.open_existing(&db.path),
            _ => b.open_read_only(&db.path),
        };
        match result {
            Err(BreakerError::SchemaTooNew {
                found, supported, ..
            }) => {
                assert_eq!(
                    (found, supported),
                    (SCHEMA_VERSION + 1, SCHEMA_VERSION),
                    "{mode}"
                );
            }
            other => panic!("{mode}: expected SchemaTooNew, got {other:?}"),
        }
        let after = snapshot_digests(db.dir.path());
        if mode == "open_read_only" {
            // The database file is untouched; a read-only SQLite connection to a WAL file
            // cannot remove the empty -wal and the -shm index it needed to read the header.
            assert_eq!(
                after.get("circuit_breaker.db"),
                before.get("circuit_breaker.db")
            );
            for (name, (len, _)) in &after {
                match name.as_str() {
                    "circuit_breaker.db" | "circuit_breaker.db-shm" => {}
                    "circuit_breaker.db-wal" => assert_eq!(*len, 0, "an empty WAL"),
                    other => panic!("unexpected file {other}"),
                }
            }
        } else {
            assert_eq!(after, before, "{mode} left the file unchanged");
        }
    }
}

#[test]
fn another_programs_database_is_refused_and_left_unchanged() {
    let db = TempDb::empty();
    {
        let conn = rusqlite::Connection::open(&db.path).unwrap();
        conn.execute_batch(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);
             INSERT INTO users (name) VALUES ('alice'), ('bob');",
        )
        .unwrap();
    }
    let other_app = db.dir.path().join("other-app.db");
    {
        let conn = rusqlite::Connection::open(&other_app).unwrap();
        conn.execute_batch("PRAGMA application_id = 305419896; PRAGMA user_version = 7;")
            .unwrap();
    }
    let before = snapshot_digests(db.dir.path());
    for path in [&db.path, &other_app] {
        for mode in ["open", "open_existing", "open_read_only"] {
            let b = ProductionCircuitBreaker::builder();
            let result = match mode {
                "open" => b.open(path),
                "open_existing" => b.open_existing(path),
                _ => b.open_read_only(path),
            };
            assert!(
                matches!(result, Err(BreakerError::NotABreakerDatabase { .. })),
                "{} {mode}: {result:?}",
                path.display()
            );
            assert_eq!(
                snapshot_digests(db.dir.path()),
                before,
                "{mode} left the files unchanged"
            );
        }
    }
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    let names: Vec<String> = conn
        .prepare("SELECT name FROM users ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(names, ["alice", "bob"]);
}

#[test]
fn empty_and_garbage_files_are_refused_and_left_unchanged() {
    let db = TempDb::empty();
    let empty = db.dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let garbage = db.dir.path().join("garbage.db");
    // Deterministic pseudo-random bytes (xorshift), 8 KiB.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..8192)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    assert!(!bytes.starts_with(b"SQLite format 3"));
    std::fs::write(&garbage, &bytes).unwrap();
    let before = snapshot_digests(db.dir.path());

    for path in [&empty, &garbage] {
        for read_only in [false, true] {
            let b = ProductionCircuitBreaker::builder();
            let result = if read_only {
                b.open_read_only(path)
            } else {
                b.open_existing(path)
            };
            assert!(
                matches!(result, Err(BreakerError::NotABreakerDatabase { .. })),
                "{}: {result:?}",
                path.display()
            );
            assert_eq!(snapshot_digests(db.dir.path()), before);
        }
    }
    // Even the creating open refuses to write over garbage.
    let result = ProductionCircuitBreaker::builder().open(&garbage);
    assert!(
        matches!(result, Err(BreakerError::NotABreakerDatabase { .. })),
        "{result:?}"
    );
    assert_eq!(snapshot_digests(db.dir.path()), before);
}

#[test]
fn open_existing_on_a_missing_path_creates_nothing() {
    let db = TempDb::empty();
    let nested = db.dir.path().join("sub").join("circuit_breaker.db");
    for path in [&db.path, &nested] {
        let result = ProductionCircuitBreaker::builder().open_existing(path);
        match result {
            Err(BreakerError::NotFound { path: reported }) => assert_eq!(&reported, path),
            other => panic!("expected NotFound, got {other:?}"),
        }
        let result = ProductionCircuitBreaker::builder().open_read_only(path);
        assert!(
            matches!(result, Err(BreakerError::NotFound { .. })),
            "{result:?}"
        );
    }
    assert!(
        snapshot_digests(db.dir.path()).is_empty(),
        "nothing was created"
    );
}

#[test]
fn a_breaker_made_with_a_custom_config_reads_the_same_file() {
    // Two services with different thresholds share one file: each applies its own rules to the
    // same rows.
    let db = TempDb::empty();
    let clock = ManualClock::new(T0);
    let strict = ProductionCircuitBreaker::builder()
        .config(BreakerConfig {
            failure_threshold: 3.0,
            ..seed_config()
        })
        .clock(Arc::new(clock.clone()))
        .load_monitor(Arc::new(FixedLoad(0.0)))
        .open(&db.path)
        .unwrap();
    let lenient = manual(&db.path, &clock);
    lenient.record_failure("draftkings", "500").unwrap();
    lenient.record_failure("draftkings", "500").unwrap();
    strict.record_failure("draftkings", "500").unwrap();
    let s = lenient.get_status("draftkings").unwrap().unwrap();
    assert_eq!(
        (s.failures, s.tripped, s.state),
        (3.0, true, BreakerState::Open)
    );
    assert_eq!(s.failure_threshold, 10.0);
    assert_eq!(
        strict
            .get_status("draftkings")
            .unwrap()
            .unwrap()
            .failure_threshold,
        3.0
    );
}

/// Rows another program wrote with odd types (a NULL name, invalid UTF-8 and numbers in text
/// columns) are shown as best they can be; they never hide the other breakers.
#[test]
fn odd_rows_from_another_writer_do_not_hide_the_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cb.db");
    let cb = ProductionCircuitBreaker::open(&path, BreakerConfig::default()).expect("open");
    cb.record_failure("draftkings", "boom").expect("failure");
    let raw = rusqlite::Connection::open(&path).expect("raw");
    raw.execute_batch(
        "INSERT INTO circuit_breaker_state (bookmaker, failure_count, tripped, last_error, updated_at)
           VALUES (NULL, 1, 0, x'fffe41', 0);
         INSERT INTO circuit_breaker_state (bookmaker, failure_count, tripped, last_error, trip_kind, updated_at)
           VALUES ('fanduel', 2, 1, 42, 7, 0);",
    )
    .expect("odd rows");
    drop(raw);
    let all = cb
        .status_all()
        .expect("status_all must not fail on odd rows");
    let names: Vec<&str> = all.iter().map(|s| s.bookmaker.as_str()).collect();
    assert!(names.contains(&"draftkings"), "{names:?}");
    assert!(names.contains(&"fanduel"), "{names:?}");
    assert_eq!(all.len(), 3);
    let fanduel = all
        .iter()
        .find(|s| s.bookmaker == "fanduel")
        .expect("fanduel");
    assert_eq!(fanduel.last_error.as_deref(), Some("42"));
    assert_eq!(fanduel.state, breakerctl::BreakerState::ForcedOpen);
    let odd = all
        .iter()
        .find(|s| s.bookmaker.is_empty())
        .expect("the NULL-named row");
    assert_eq!(odd.last_error.as_deref(), Some("\u{fffd}\u{fffd}A"));
}
