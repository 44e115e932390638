//! Which files the CLI accepts, and what it does to the ones it refuses (nothing): missing,
//! foreign, corrupt and too-new databases, `init`, and a write lock held by someone else.

use crate::support::fixture::TempDb;
use crate::support::run::{breakerctl, run};

/// Every command that needs an existing database, as arguments after `--db FILE`.
const NEEDS_A_DATABASE: &[&[&str]] = &[
    &["status-all"],
    &["ls", "--tripped"],
    &["status", "fanduel"],
    &["trip", "fanduel", "--reason", "test", "--create"],
    &["reset", "fanduel"],
    &["reset", "fanduel", "--dry-run"],
    &["reset", "fanduel", "--force", "--reason", "test"],
    &["audit"],
    &["audit", "verify"],
    &["metrics"],
];

#[test]
fn a_missing_database_is_exit_6_and_nothing_is_created() {
    let f = TempDb::empty();
    for args in NEEDS_A_DATABASE {
        let r = f.run(args);
        r.code(6);
        assert!(
            r.stderr.contains("no breaker database at"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(r.stderr.contains("breakerctl init"), "hint: {}", r.stderr);
        assert!(f.files().is_empty(), "{args:?} created {:?}", f.files());
    }
    // The same in JSON mode, as a JSON error.
    let err = f.run(&["--json", "status-all"]).code(6).stderr_json();
    assert_eq!(err["exitCode"], 6);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("no breaker database")
    );
    assert!(f.files().is_empty());
}

#[test]
fn a_database_in_a_missing_folder_is_exit_6_and_no_folder_is_created() {
    let f = TempDb::empty();
    let db = f.dir.path().join("nowhere").join("deeper").join("cb.db");
    for args in NEEDS_A_DATABASE {
        run(breakerctl().arg("--db").arg(&db).args(*args)).code(6);
        assert!(f.files().is_empty(), "{args:?} created {:?}", f.files());
    }
    // Through the environment variable too.
    run(breakerctl()
        .env("CIRCUIT_BREAKER_DB", &db)
        .args(["trip", "x", "--reason", "y", "--create"]))
    .code(6);
    assert!(f.files().is_empty());
}

#[test]
fn the_default_path_is_not_created_either() {
    let f = TempDb::empty();
    for args in [
        &["status-all"][..],
        &["trip", "x", "--reason", "y", "--create"],
    ] {
        let r = run(breakerctl().current_dir(f.dir.path()).args(args));
        r.code(6);
        assert!(
            r.stderr.contains("./data/circuit_breaker.db"),
            "names the default path: {}",
            r.stderr
        );
    }
    assert!(f.files().is_empty(), "created {:?}", f.files());
}

#[test]
fn init_creates_folder_and_schema_and_is_idempotent() {
    let f = TempDb::empty();
    let db = f.dir.path().join("data").join("circuit_breaker.db");
    let first = run(breakerctl().arg("--db").arg(&db).arg("init"));
    first.ok();
    assert!(
        first.stdout.starts_with("created breaker database"),
        "{}",
        first.stdout
    );
    let version = format!("schema version {}", breakerctl::storage::SCHEMA_VERSION);
    assert!(first.stdout.contains(&version), "{}", first.stdout);
    assert!(db.is_file());

    let again = run(breakerctl().arg("--db").arg(&db).arg("init"));
    again.ok();
    assert!(
        again.stdout.contains("is already a breaker database")
            && again.stdout.contains("nothing to do"),
        "{}",
        again.stdout
    );
    let doc = run(breakerctl().arg("--db").arg(&db).args(["--json", "init"]))
        .ok()
        .json();
    assert_eq!(doc["created"], false);
    assert_eq!(doc["schemaVersion"], breakerctl::storage::SCHEMA_VERSION);
    assert!(
        doc["path"]
            .as_str()
            .unwrap()
            .ends_with("circuit_breaker.db")
    );

    // A new database works at once, and is empty.
    let ls = run(breakerctl().arg("--db").arg(&db).arg("status-all"));
    assert_eq!(ls.ok().stdout, "no breakers recorded yet\n");
    let json = run(breakerctl()
        .arg("--db")
        .arg(&db)
        .args(["status-all", "--json"]));
    assert_eq!(json.ok().json(), serde_json::json!([]));

    let fresh = TempDb::empty();
    let doc = fresh.run(&["init", "--json"]).ok().json();
    assert_eq!(doc["created"], true);
}

/// Runs every command (and `init`) against `f.path` expecting exit 6 and `needle` in the
/// message, and checks the file is byte-for-byte unchanged and nothing was left beside it.
fn refused_untouched(f: &TempDb, needle: &str) {
    let before = std::fs::read(&f.path).expect("read file");
    let files_before = f.files();
    for args in NEEDS_A_DATABASE.iter().copied().chain([&["init"][..]]) {
        let r = f.run(args);
        r.code(6);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
        assert_eq!(
            std::fs::read(&f.path).expect("read file"),
            before,
            "{args:?} changed the file"
        );
        assert_eq!(f.files(), files_before, "{args:?} left files behind");
    }
}

#[test]
fn a_file_that_is_not_a_database_is_exit_6_and_unchanged() {
    let f = TempDb::empty();
    let text = "these are my notes, not a database\n".repeat(200);
    std::fs::write(&f.path, text).unwrap();
    refused_untouched(&f, "is not a circuit breaker database");

    // An empty file would silently become a database; it is refused too.
    std::fs::write(&f.path, b"").unwrap();
    for args in NEEDS_A_DATABASE {
        f.run(args).code(6);
    }
    assert_eq!(std::fs::read(&f.path).unwrap(), b"");
}

#[test]
fn another_programs_sqlite_database_is_exit_6_and_unchanged() {
    let f = TempDb::empty();
    {
        let conn = rusqlite::Connection::open(&f.path).unwrap();
        conn.execute_batch(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);
             INSERT INTO users (name) VALUES ('ann'), ('bob');",
        )
        .unwrap();
    }
    refused_untouched(&f, "not a circuit breaker database");
}

#[test]
fn a_newer_schema_is_exit_6_and_unchanged() {
    let f = TempDb::with(&["fanduel"]);
    f.conn()
        .execute_batch("PRAGMA user_version = 99")
        .expect("set user_version");
    refused_untouched(&f, "schema version 99");
    let err = f
        .run(&["--json", "status", "fanduel"])
        .code(6)
        .stderr_json();
    assert_eq!(err["exitCode"], 6);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("upgrade breakerctl")
    );
}

#[test]
fn a_corrupt_database_is_exit_6() {
    let f = TempDb::with(&["fanduel", "betmgm"]);
    let mut bytes = std::fs::read(&f.path).unwrap();
    // Scribble over the schema table on page 1, after the 100-byte header.
    for b in &mut bytes[100..1024] {
        *b = 0xA5;
    }
    std::fs::write(&f.path, &bytes).unwrap();
    for args in [
        &["status-all"][..],
        &["status", "fanduel"],
        &["trip", "fanduel", "--reason", "x"],
    ] {
        let r = f.run(args);
        r.code(6);
        assert!(
            r.stderr.contains("corrupt") || r.stderr.contains("not a circuit breaker database"),
            "{args:?}: {}",
            r.stderr
        );
    }
}

#[test]
fn a_held_write_lock_is_exit_5_after_the_busy_timeout_and_nothing_is_written() {
    let f = TempDb::with(&["fanduel"]);
    let audit_before = f.audit_rows();
    let holder = f.conn();
    holder
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");

    let started = std::time::Instant::now();
    let r = f.run(&[
        "--busy-timeout",
        "200ms",
        "trip",
        "fanduel",
        "--reason",
        "maintenance",
    ]);
    r.code(5);
    assert!(r.stderr.contains("busy"), "{}", r.stderr);
    assert!(r.stderr.contains("--busy-timeout"), "hint: {}", r.stderr);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(200),
        "waited the busy timeout"
    );
    let err = f
        .run(&[
            "--busy-timeout",
            "200ms",
            "--json",
            "reset",
            "fanduel",
            "--force",
            "--reason",
            "x",
        ])
        .code(5)
        .stderr_json();
    assert_eq!(err["exitCode"], 5);

    // Reads are not stalled by the writer.
    let started = std::time::Instant::now();
    let ls = f.run(&["--busy-timeout", "10s", "status-all", "--json"]);
    ls.ok();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(ls.json()[0]["state"], "closed");

    holder.execute_batch("ROLLBACK").expect("release the lock");
    drop(holder);
    assert_eq!(f.audit_rows(), audit_before, "no audit row written");
    let status = f.status("fanduel");
    assert_eq!(status["state"], "closed");
    assert_eq!(status["tripped"], false);
}

/// Makes a file immutable (even for root) while alive; `None` where `chattr` is unavailable.
struct Immutable<'a>(&'a std::path::Path);

impl<'a> Immutable<'a> {
    fn set(path: &'a std::path::Path) -> Option<Immutable<'a>> {
        let ok = std::process::Command::new("chattr")
            .arg("+i")
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Immutable(path))
    }
}

impl Drop for Immutable<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(self.0)
            .status();
    }
}

#[test]
fn a_read_only_database_refuses_writes_with_exit_6_and_can_still_be_read() {
    let f = TempDb::with(&["fanduel"]);
    let before = std::fs::read(&f.path).unwrap();
    // Tests often run as root, which file modes do not stop; an immutable file stops everyone.
    let Some(_guard) = Immutable::set(&f.path) else {
        eprintln!("skipped: chattr +i is not available here");
        return;
    };
    for args in [
        &["trip", "fanduel", "--reason", "x"][..],
        &["reset", "fanduel", "--force", "--reason", "x"],
    ] {
        let r = f.run(args);
        r.code(6);
        assert!(r.stderr.contains("read-only"), "{args:?}: {}", r.stderr);
    }
    let ls = f.run(&["status-all", "--json"]);
    assert_eq!(crate::support::json::names(&ls.ok().json()), ["fanduel"]);
    f.run(&["status", "fanduel"]).ok();
    f.run(&["audit"]).ok();
    assert_eq!(std::fs::read(&f.path).unwrap(), before);
}
