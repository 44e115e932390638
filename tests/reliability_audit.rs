//! Tamper evidence and `breakerctl doctor`.
//!
//! Audit rows form a hash chain (each row's hash covers its content and the previous row's
//! hash) and the chain's head (newest id and hash) is kept beside it, updated in the same
//! transaction as every append. Rows are edited, deleted, inserted and reordered with plain SQL
//! on the file, as someone with `sqlite3` would; `breakerctl audit verify` must exit 1 naming
//! the first broken row, and `doctor` must report it. Databases from before the chain get it
//! through the migrations.
//!
//! Not caught, by design of a keyless chain: someone who rewrites every hash from the edited
//! row on *and* the head. `audit verify` prints the newest hash so that it can be recorded
//! elsewhere (a ticket, a log), which exposes such a rewrite later.

use crate::support::breaker::now_ms;
use crate::support::files::{assert_unchanged, snapshot};
use crate::support::fixture::{TempDb, populated};
use crate::support::run::ctl;
use breakerctl::storage::{AuditRecord, audit_hash};
use rusqlite::{Connection, params};
use serde_json::Value;
use std::path::Path;

/// A populated database (audit rows 1..=5) after `sql` ran on it.
fn tampered(sql: &str) -> TempDb {
    let s = TempDb::empty();
    populated(&s.path);
    Connection::open(&s.path)
        .expect("open")
        .execute_batch(sql)
        .expect("tamper");
    s
}

/// Audit row `id` as the library reads it, from the file `conn` is open on.
fn record(conn: &Connection, id: i64) -> AuditRecord {
    let path = conn.path().expect("a file-backed connection");
    breakerctl::ProductionCircuitBreaker::builder()
        .open_read_only(path)
        .expect("open read-only")
        .audit_chain()
        .expect("audit chain")
        .0
        .into_iter()
        .find(|r| r.id == id)
        .expect("audit row")
}

/// Writes `r` as row `r.id` with a correct hash for its content and `r.prev_hash`.
fn forge(conn: &Connection, mut r: AuditRecord) {
    let prev = r.prev_hash.clone().unwrap_or_default();
    r.hash = Some(audit_hash(&prev, &r));
    conn.execute(
        "INSERT OR REPLACE INTO circuit_breaker_audit (id, bookmaker, action, reason, user,
         timestamp, forced, state_before, state_after, failure_count, operation, host, pid,
         prev_hash, hash, os_user) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,
         ?14, ?15, ?16)",
        params![
            r.id,
            r.bookmaker,
            r.action,
            r.reason,
            r.user,
            r.timestamp,
            i64::from(r.forced),
            r.state_before,
            r.state_after,
            r.failure_count,
            r.operation,
            r.host,
            r.pid,
            r.prev_hash,
            r.hash,
            r.os_user
        ],
    )
    .expect("forge");
}

/// `audit verify` exits 1 naming `row` (when given) and saying `needle`; `doctor` agrees.
#[track_caller]
fn caught(db: &Path, row: Option<i64>, needle: &str) {
    let run = ctl(db, &["audit", "verify"]);
    run.code(1).says(&["audit chain broken", needle]);
    if let Some(row) = row {
        run.says(&[&format!("at row {row}:")]);
    }
    let json = ctl(db, &["--json", "audit", "verify"]);
    assert_eq!(json.code, 1);
    let report = json.json();
    assert_eq!(report["ok"], false);
    assert_eq!(
        report["firstBrokenId"],
        row.map_or(Value::Null, Value::from)
    );
    let doctor = ctl(db, &["--json", "doctor", "--alert-window", "1h"]);
    doctor.code(1);
    let d = doctor.json();
    assert_eq!(d["healthy"], false);
    assert_eq!(d["auditChain"]["ok"], false);
    assert_eq!(d["auditChain"]["firstBrokenId"], report["firstBrokenId"]);
    let table = ctl(db, &["doctor", "--alert-window", "1h"]);
    assert!(table.stdout.contains("audit chain"), "{}", table.stdout);
    assert!(table.stdout.contains("PROBLEM"), "{}", table.stdout);
}

#[test]
fn an_untouched_chain_verifies() {
    let s = TempDb::empty();
    populated(&s.path);
    let run = ctl(&s.path, &["audit", "verify"]);
    assert!(
        run.code(0)
            .stdout
            .starts_with("audit chain ok: 5 rows verified; newest hash "),
        "{}",
        run.stdout
    );
    let report = ctl(&s.path, &["--json", "audit", "verify"]).json();
    assert_eq!(report["ok"], true);
    assert_eq!(report["lastHash"].as_str().map(str::len), Some(64));
}

#[test]
fn an_edited_row_is_caught() {
    let s = tampered("UPDATE circuit_breaker_audit SET reason = 'nothing to see' WHERE id = 3");
    caught(&s.path, Some(3), "does not match its hash");
    let s = tampered("UPDATE circuit_breaker_audit SET user = 'mallory' WHERE id = 2");
    caught(&s.path, Some(2), "edited");
    let s =
        tampered("UPDATE circuit_breaker_audit SET timestamp = timestamp - 86400000 WHERE id = 1");
    caught(&s.path, Some(1), "edited");
    let s = tampered("UPDATE circuit_breaker_audit SET forced = 0 WHERE id = 3");
    caught(&s.path, Some(3), "edited");
}

#[test]
fn an_edited_row_with_a_recomputed_hash_is_caught_at_the_next_row() {
    let s = TempDb::empty();
    populated(&s.path);
    let conn = Connection::open(&s.path).expect("open");
    let mut row = record(&conn, 3);
    row.reason = Some("rewritten".to_owned());
    forge(&conn, row);
    drop(conn);
    caught(&s.path, Some(4), "does not follow the row before it");
}

#[test]
fn a_deleted_row_is_caught() {
    let s = tampered("DELETE FROM circuit_breaker_audit WHERE id = 3");
    caught(&s.path, Some(4), "does not follow the row before it");
    let s = tampered("DELETE FROM circuit_breaker_audit WHERE id = 1");
    caught(&s.path, Some(2), "does not follow");
}

#[test]
fn deleting_the_newest_rows_is_caught_by_the_head() {
    let s = tampered("DELETE FROM circuit_breaker_audit WHERE id = 5");
    caught(&s.path, Some(5), "the newest rows were deleted");
    let s = tampered("DELETE FROM circuit_breaker_audit WHERE id >= 4");
    caught(&s.path, Some(4), "the newest rows were deleted");
    let s = tampered("DELETE FROM circuit_breaker_audit");
    caught(&s.path, Some(1), "the newest rows were deleted");
    let s = tampered("DELETE FROM circuit_breaker_audit_head");
    caught(&s.path, None, "chain head");
}

#[test]
fn an_inserted_row_is_caught() {
    // Appended by hand, as the runbook's columns suggest.
    let s = tampered(
        "INSERT INTO circuit_breaker_audit (bookmaker, action, reason, user, timestamp)
         VALUES ('alpha', 'RESET', 'hand-made', 'mallory', 1700000000000)",
    );
    caught(&s.path, Some(6), "no hash");
    // Appended with a correct hash, but not through the breaker (the head was not moved).
    let s = TempDb::empty();
    populated(&s.path);
    let conn = Connection::open(&s.path).expect("open");
    let last = record(&conn, 5);
    let mut extra = last.clone();
    extra.id = 6;
    extra.reason = Some("forged".to_owned());
    extra.prev_hash = last.hash.clone();
    forge(&conn, extra);
    drop(conn);
    caught(&s.path, Some(6), "added behind the breaker's back");
    // Slipped into a gap left by a deletion, with a hash that links to the row before it.
    let s = TempDb::empty();
    populated(&s.path);
    let conn = Connection::open(&s.path).expect("open");
    let mut replacement = record(&conn, 3);
    conn.execute("DELETE FROM circuit_breaker_audit WHERE id = 3", [])
        .expect("delete");
    replacement.reason = Some("a different story".to_owned());
    replacement.user = Some("mallory".to_owned());
    forge(&conn, replacement);
    drop(conn);
    caught(&s.path, Some(4), "does not follow");
}

#[test]
fn a_replaced_newest_row_is_caught_by_the_head() {
    let s = TempDb::empty();
    populated(&s.path);
    let conn = Connection::open(&s.path).expect("open");
    let mut row = record(&conn, 5);
    row.user = Some("mallory".to_owned());
    forge(&conn, row);
    drop(conn);
    caught(&s.path, Some(5), "replaced");
}

#[test]
fn reordered_rows_are_caught() {
    let s = tampered(
        "UPDATE circuit_breaker_audit SET id = 100 WHERE id = 2;
         UPDATE circuit_breaker_audit SET id = 2 WHERE id = 3;
         UPDATE circuit_breaker_audit SET id = 3 WHERE id = 100;",
    );
    caught(&s.path, Some(2), "audit chain broken");
}

/// A database as the original service left it: the seed's tables, audit rows without hashes.
#[test]
fn a_seed_database_gets_the_chain_through_the_migrations() {
    let s = TempDb::empty();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed-schema.sql");
    let ddl = std::fs::read_to_string(fixture).expect("seed DDL");
    let conn = Connection::open(&s.path).expect("open");
    conn.execute_batch(&ddl).expect("seed schema");
    conn.execute_batch(
        "INSERT INTO circuit_breaker_state (bookmaker, failure_count, last_failure_at, tripped,
           trip_count, last_error, updated_at)
           VALUES ('draftkings', 0, 1700000000000, 1, 1, NULL, 1700000000000);
         INSERT INTO circuit_breaker_audit (bookmaker, action, reason, user, timestamp) VALUES
           ('draftkings', 'TRIP', 'manual trip', 'alice', 1700000000000),
           ('draftkings', 'RESET', 'recovered', 'bob', 1700000100000),
           ('draftkings', 'TRIP', 'again', 'alice', 1700000200000);",
    )
    .expect("seed rows");
    drop(conn);
    // Any command that may write migrates; reading commands then verify.
    ctl(&s.path, &["status-all"]).code(0);
    let run = ctl(&s.path, &["audit", "verify"]);
    assert!(
        run.code(0).stdout.contains("3 rows verified"),
        "{}",
        run.stdout
    );
    ctl(
        &s.path,
        &["trip", "draftkings", "--reason", "after the upgrade"],
    )
    .code(0);
    ctl(&s.path, &["audit", "verify"]).code(0);
    Connection::open(&s.path)
        .expect("open")
        .execute_batch("UPDATE circuit_breaker_audit SET user = 'mallory' WHERE id = 2")
        .expect("tamper");
    caught(&s.path, Some(2), "edited");
}

/// A database written by a build with schema version 1 (chain, but no head) gets the head.
#[test]
fn a_version_1_database_gets_the_head_through_migration_2() {
    let s = tampered(
        "DROP TABLE circuit_breaker_audit_head;
         PRAGMA user_version = 1;",
    );
    let run = ctl(&s.path, &["audit", "verify"]);
    assert!(
        run.code(0).stdout.contains("5 rows verified"),
        "{}",
        run.stdout
    );
    let version: i64 = Connection::open(&s.path)
        .expect("open")
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, breakerctl::storage::SCHEMA_VERSION);
    Connection::open(&s.path)
        .expect("open")
        .execute_batch("DELETE FROM circuit_breaker_audit WHERE id = 5")
        .expect("tamper");
    caught(&s.path, Some(5), "newest rows were deleted");
}

// ---------------------------------------------------------------------------------------------
// doctor

fn doctor_json(db: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["--json", "doctor"];
    args.extend(extra);
    let run = ctl(db, &args);
    run.no_panic();
    (run.code, run.json())
}

fn failing_checks(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn doctor_reports_a_healthy_database() {
    let s = TempDb::empty();
    populated(&s.path);
    // alpha has been tripped (forced_open) for a moment only: inside the alert window.
    let (code, r) = doctor_json(&s.path, &[]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["healthy"], true);
    assert_eq!(r["quickCheck"], serde_json::json!(["ok"]));
    assert_eq!(r["journalMode"], "wal");
    assert_eq!(r["schemaVersion"], breakerctl::storage::SCHEMA_VERSION);
    assert!(r["walBytes"].is_u64(), "{r:#}");
    assert_eq!(r["auditChain"]["ok"], true);
    assert!(failing_checks(&r).is_empty());
    let table = ctl(&s.path, &["doctor"]);
    table.code(0);
    for check in [
        "integrity",
        "journal mode",
        "schema version",
        "wal size",
        "probe leases",
        "clock skew",
        "long trips",
        "audit chain",
    ] {
        assert!(table.stdout.contains(check), "{check}:\n{}", table.stdout);
    }
    assert!(table.stdout.contains("healthy"));
}

#[test]
fn doctor_reports_expired_probe_leases() {
    let s = TempDb::empty();
    populated(&s.path);
    Connection::open(&s.path)
        .expect("open")
        .execute(
            "UPDATE circuit_breaker_state SET tripped = 1, trip_kind = 'auto', tripped_at = ?1,
               probe_owner = 'host-a:4242', probe_lease_until = ?2 WHERE bookmaker = 'beta'",
            params![now_ms() - 120_000, now_ms() - 60_000],
        )
        .expect("stale lease");
    let (code, r) = doctor_json(&s.path, &["--alert-window", "1h"]);
    assert_eq!(code, 1);
    assert_eq!(failing_checks(&r), ["probe leases"]);
    assert_eq!(r["expiredProbeLeases"][0]["bookmaker"], "beta");
    assert_eq!(r["expiredProbeLeases"][0]["owner"], "host-a:4242");
}

#[test]
fn doctor_reports_timestamps_in_the_future() {
    let s = TempDb::empty();
    populated(&s.path);
    let conn = Connection::open(&s.path).expect("open");
    conn.execute(
        "UPDATE circuit_breaker_state SET updated_at = ?1 WHERE bookmaker = 'beta'",
        [now_ms() + 3_600_000],
    )
    .expect("skew state");
    drop(conn);
    let (code, r) = doctor_json(&s.path, &["--alert-window", "1h"]);
    assert_eq!(code, 1);
    assert_eq!(failing_checks(&r), ["clock skew"]);
    let found = &r["futureTimestamps"][0];
    assert_eq!(found["table"], "circuit_breaker_state");
    assert_eq!(found["row"], "beta");
    assert_eq!(found["column"], "updated_at");
    assert!(found["aheadMs"].as_i64().is_some_and(|ms| ms > 3_500_000));
    // An audit row stamped by a clock that ran ahead (it must keep its hash: forge it).
    let s = TempDb::empty();
    populated(&s.path);
    let conn = Connection::open(&s.path).expect("open");
    let mut row = record(&conn, 5);
    row.timestamp = Some(now_ms() + 600_000);
    forge(&conn, row);
    conn.execute(
        "UPDATE circuit_breaker_audit_head SET last_hash = (SELECT hash FROM circuit_breaker_audit WHERE id = 5)",
        [],
    )
    .expect("move head");
    drop(conn);
    let (code, r) = doctor_json(&s.path, &["--alert-window", "1h"]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(failing_checks(&r), ["clock skew"]);
    assert_eq!(r["futureTimestamps"][0]["table"], "circuit_breaker_audit");
    assert_eq!(r["futureTimestamps"][0]["row"], "5");
}

#[test]
fn doctor_reports_breakers_tripped_longer_than_the_alert_window() {
    let s = TempDb::empty();
    populated(&s.path);
    Connection::open(&s.path)
        .expect("open")
        .execute(
            "UPDATE circuit_breaker_state SET tripped_at = ?1, last_failure_at = ?1 WHERE bookmaker = 'alpha'",
            [now_ms() - 10 * 60_000],
        )
        .expect("old trip");
    let (code, r) = doctor_json(&s.path, &[]);
    assert_eq!(code, 1);
    assert_eq!(failing_checks(&r), ["long trips"]);
    assert_eq!(r["longTrips"][0]["bookmaker"], "alpha");
    assert_eq!(r["longTrips"][0]["state"], "forced_open");
    assert_eq!(r["alertWindowMs"], 300_000);
    let (code, r) = doctor_json(&s.path, &["--alert-window", "1h"]);
    assert_eq!(code, 0, "{r:#}");
}

#[test]
fn doctor_reports_a_large_wal() {
    let s = TempDb::empty();
    populated(&s.path);
    // A connection that keeps the WAL from being checkpointed, as a stuck reader would.
    let conn = Connection::open(&s.path).expect("open");
    conn.execute_batch(
        "PRAGMA wal_autocheckpoint = 0;
         CREATE TABLE scratch_blob (b BLOB);
         INSERT INTO scratch_blob VALUES (zeroblob(70 * 1024 * 1024));",
    )
    .expect("grow the wal");
    let (code, r) = doctor_json(&s.path, &["--alert-window", "1h"]);
    drop(conn);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(failing_checks(&r), ["wal size"]);
    assert!(r["walBytes"].as_u64().is_some_and(|n| n > 64 * 1024 * 1024));
}

#[test]
fn doctor_reports_a_journal_mode_other_than_wal() {
    let s = TempDb::empty();
    populated(&s.path);
    // Back to a rollback journal, with a reader holding the file so that nobody can switch it.
    let conn = Connection::open(&s.path).expect("open");
    let _: String = conn
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .expect("rollback journal");
    conn.execute_batch("BEGIN; SELECT COUNT(*) FROM circuit_breaker_state;")
        .expect("hold a read lock");
    let (code, r) = doctor_json(&s.path, &["--alert-window", "1h"]);
    conn.execute_batch("COMMIT").expect("release");
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(failing_checks(&r), ["journal mode"]);
    assert_eq!(r["journalMode"], "delete");
}

#[test]
fn doctor_exits_6_on_a_corrupt_or_missing_database() {
    let s = TempDb::empty();
    populated(&s.path);
    let root: i64 = Connection::open(&s.path)
        .expect("open")
        .query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = 'circuit_breaker_state'",
            [],
            |r| r.get(0),
        )
        .expect("rootpage");
    let mut bytes = std::fs::read(&s.path).expect("read");
    let page = 4096 * (root as usize - 1);
    bytes[page..page + 4096].fill(0x55);
    std::fs::write(&s.path, &bytes).expect("write");
    let before = snapshot(s.dir.path());
    let (code, r) = doctor_json(&s.path, &[]);
    assert_eq!(code, 6, "{r:#}");
    assert_ne!(r["quickCheck"], serde_json::json!(["ok"]));
    assert!(failing_checks(&r).contains(&"integrity".to_owned()));
    let table = ctl(&s.path, &["doctor"]);
    table.code(6);
    assert!(table.stdout.contains("corrupt"), "{}", table.stdout);
    assert_unchanged(&before, &snapshot(s.dir.path()), "doctor on a corrupt file");

    let missing = s.dir.path().join("missing.db");
    ctl(&missing, &["doctor"])
        .code(6)
        .says(&["no breaker database"]);
    assert!(!missing.exists());
}

/// A row inserted by hand at the largest id leaves no id for the next one: an operator's
/// trip is refused with a clear error (exit 6) instead of a panic or a wrapped id, and its
/// state change is not written without its audit row.
#[test]
fn an_audit_row_at_the_largest_id_refuses_the_next_append_cleanly() {
    let s = tampered(&format!(
        "INSERT INTO circuit_breaker_audit (id, bookmaker, action) VALUES ({}, 'x', 'TRIP')",
        i64::MAX
    ));
    let r = ctl(&s.path, &["trip", "beta", "--reason", "again"]);
    r.code(6);
    assert!(r.stderr.contains("circuit_breaker_audit"), "{}", r.stderr);
    let tripped: i64 = Connection::open(&s.path)
        .expect("open")
        .query_row(
            "SELECT tripped FROM circuit_breaker_state WHERE bookmaker = 'beta'",
            [],
            |r| r.get(0),
        )
        .expect("beta");
    assert_eq!(tripped, 0, "no state change without its audit row");
}
