//! Bad files: missing, zero bytes, random bytes, another program's SQLite database (rollback
//! and WAL), a breaker database with a newer schema, a corrupt one, a folder, a read-only file
//! and a read-only folder. Every command either reads successfully (where that is safe) or
//! exits 6 with a clear message, and the folder is byte-for-byte unchanged afterwards: same
//! files, same bytes, no -wal, -shm or -journal left behind.

use crate::support::files::{assert_unchanged, snapshot};
use crate::support::fixture::{TempDb, populated};
use crate::support::privileges::{NOBODY, Unprivileged, chmod, is_root};
use crate::support::rng::Rng;
use crate::support::run::{Run, ctl, run};
use std::ffi::OsStr;
use std::path::Path;

/// Commands that only look.
const READS: &[&[&str]] = &[
    &["status-all"],
    &["status", "alpha"],
    &["audit"],
    &["audit", "verify"],
    &["doctor"],
    &["metrics"],
    &["--cooldown", "0s", "reset", "alpha", "--dry-run"],
];

/// Commands that write.
const WRITES: &[&[&str]] = &[
    &["trip", "alpha", "--reason", "r", "--create"],
    &["reset", "alpha", "--force", "--reason", "r"],
];

/// Runs every command in `commands` on `db`; each must exit `code` saying `needles`, and the
/// folder must be unchanged.
#[track_caller]
fn refused(dir: &Path, db: &Path, commands: &[&[&str]], needles: &[&str]) {
    for args in commands {
        let before = snapshot(dir);
        let run = ctl(db, args);
        run.code(6).says(needles);
        assert_unchanged(&before, &snapshot(dir), &format!("{args:?}"));
    }
}

fn all_commands() -> Vec<&'static [&'static str]> {
    READS.iter().chain(WRITES).copied().collect()
}

fn with_init() -> Vec<&'static [&'static str]> {
    let mut all = all_commands();
    all.push(&["init"]);
    all
}

#[test]
fn missing_file_is_exit_6_and_not_created() {
    let s = TempDb::empty();
    refused(
        s.dir.path(),
        &s.path,
        &all_commands(),
        &["no breaker database", "breakerctl init"],
    );
    assert!(!s.path.exists());
}

#[test]
fn zero_byte_file_is_exit_6_and_stays_empty() {
    let s = TempDb::empty();
    std::fs::write(&s.path, b"").expect("write");
    refused(
        s.dir.path(),
        &s.path,
        &all_commands(),
        &["not a circuit breaker database", "empty"],
    );
    assert_eq!(std::fs::metadata(&s.path).expect("meta").len(), 0);
}

/// By design: `init` is the one command that turns an empty file into a database (SQLite
/// treats an empty file as an empty database; there is nothing in it to lose).
#[test]
fn init_turns_a_zero_byte_file_into_a_database() {
    let s = TempDb::empty();
    std::fs::write(&s.path, b"").expect("write");
    ctl(&s.path, &["init"]).code(0);
    ctl(&s.path, &["status-all"]).code(0);
}

#[test]
fn random_bytes_are_exit_6_and_unchanged() {
    let s = TempDb::empty();
    let mut rng = Rng::from_env_or_time("random_bytes");
    let bytes: Vec<u8> = (0..8192).map(|_| rng.next() as u8).collect();
    std::fs::write(&s.path, &bytes).expect("write");
    refused(
        s.dir.path(),
        &s.path,
        &with_init(),
        &["not a circuit breaker database", "not a SQLite database"],
    );
    // Also a file that starts like SQLite but is garbage after the magic string.
    let mut fake = b"SQLite format 3\0".to_vec();
    fake.extend(&bytes[16..]);
    std::fs::write(&s.path, &fake).expect("write");
    for args in with_init() {
        let before = snapshot(s.dir.path());
        ctl(&s.path, args)
            .code(6)
            .says(&["not a circuit breaker database", "not a SQLite database"]);
        assert_unchanged(&before, &snapshot(s.dir.path()), &format!("{args:?}"));
    }
}

fn foreign_db(path: &Path, wal: bool) {
    let conn = rusqlite::Connection::open(path).expect("open");
    if wal {
        let _: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .expect("wal");
    }
    conn.execute_batch(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT, balance REAL);
         INSERT INTO accounts (owner, balance) VALUES ('carol', 12.5), ('dave', 99);",
    )
    .expect("foreign schema");
}

#[test]
fn another_programs_database_is_exit_6_and_unchanged() {
    for wal in [false, true] {
        let s = TempDb::empty();
        foreign_db(&s.path, wal);
        refused(
            s.dir.path(),
            &s.path,
            &with_init(),
            &["not a circuit breaker database"],
        );
        let conn = rusqlite::Connection::open(&s.path).expect("reopen");
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0))
            .expect("still theirs");
        assert_eq!(n, 2);
    }
    // An empty SQLite database that belongs to another program (its application_id says so).
    let s = TempDb::empty();
    rusqlite::Connection::open(&s.path)
        .expect("open")
        .execute_batch("PRAGMA application_id = 1234; VACUUM;")
        .expect("app id");
    refused(
        s.dir.path(),
        &s.path,
        &with_init(),
        &["not a circuit breaker database"],
    );
}

#[test]
fn newer_schema_is_exit_6_and_unchanged() {
    let s = TempDb::empty();
    populated(&s.path);
    rusqlite::Connection::open(&s.path)
        .expect("open")
        .execute_batch("PRAGMA user_version = 99;")
        .expect("bump");
    refused(
        s.dir.path(),
        &s.path,
        &with_init(),
        &[
            "schema version 99",
            "newer than this build",
            "upgrade breakerctl",
        ],
    );
}

#[test]
fn corrupt_database_is_exit_6_or_read_and_unchanged() {
    let s = TempDb::empty();
    populated(&s.path);
    // Overwrite the page holding circuit_breaker_state's rows.
    let conn = rusqlite::Connection::open(&s.path).expect("open");
    let root: i64 = conn
        .query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = 'circuit_breaker_state'",
            [],
            |r| r.get(0),
        )
        .expect("rootpage");
    drop(conn);
    let mut bytes = std::fs::read(&s.path).expect("read");
    let page = 4096 * (root as usize - 1);
    bytes[page..page + 4096].fill(0x55);
    std::fs::write(&s.path, &bytes).expect("write");
    for args in with_init() {
        let before = snapshot(s.dir.path());
        let run = ctl(&s.path, args);
        run.no_panic();
        // Commands that need the broken table report corruption; others may still read.
        match run.code {
            6 => {
                let says = run.stderr.to_lowercase();
                assert!(
                    says.contains("corrupt") || run.stdout.contains("corrupt"),
                    "{args:?}: {}{}",
                    run.stdout,
                    run.stderr
                );
            }
            0 => assert!(
                ["audit", "init"].contains(&args[0]),
                "{args:?} succeeded on a corrupt table:\n{}",
                run.stdout
            ),
            other => panic!("{args:?}: exit {other}\n{}", run.stderr),
        }
        assert_unchanged(&before, &snapshot(s.dir.path()), &format!("{args:?}"));
    }
}

#[test]
fn a_folder_is_exit_6() {
    let s = TempDb::empty();
    std::fs::create_dir(&s.path).expect("mkdir");
    refused(
        s.dir.path(),
        &s.path,
        &all_commands(),
        &["not a circuit breaker database", "not a regular file"],
    );
    // `init` too refuses what is not a regular file, creating nothing beside it.
    refused(s.dir.path(), &s.path, &[&["init"]], &["not a regular file"]);
}

/// A populated database in a folder `nobody` can enter, or `None` (with a note) when the
/// binary cannot be run without root's bypass of permissions here.
fn unprivileged_fixture(test: &str) -> Option<(TempDb, Unprivileged)> {
    let s = TempDb::empty();
    chmod(s.dir.path(), 0o755);
    populated(&s.path);
    let who = Unprivileged::find();
    if let Unprivileged::Unavailable(why) = &who {
        eprintln!("NOTE {test}: permission checks skipped: {why}");
        return None;
    }
    Some((s, who))
}

fn run_as(who: &Unprivileged, db: &Path, args: &[&str]) -> Run {
    let mut argv: Vec<&OsStr> = vec![OsStr::new("--db"), db.as_os_str()];
    argv.extend(args.iter().map(OsStr::new));
    let mut cmd = who.command(&argv).expect("unprivileged command");
    run(&mut cmd)
}

/// Reads succeed, writes (and `init`) exit 6 saying why, and nothing in the folder changes.
fn reads_work_writes_refused(s: &TempDb, who: &Unprivileged, needle: &str) {
    for args in READS {
        let before = snapshot(s.dir.path());
        let run = run_as(who, &s.path, args);
        run.code(0);
        assert_unchanged(&before, &snapshot(s.dir.path()), &format!("{args:?}"));
    }
    let audit = run_as(who, &s.path, &["--json", "audit"]);
    assert_eq!(audit.code(0).json().as_array().map(Vec::len), Some(5));
    for args in WRITES.iter().chain([&["init"][..]].iter()) {
        let before = snapshot(s.dir.path());
        run_as(who, &s.path, args).code(6).says(&[
            "read-only",
            needle,
            "run as a user who can write",
        ]);
        assert_unchanged(&before, &snapshot(s.dir.path()), &format!("{args:?}"));
    }
}

#[test]
fn read_only_file_reads_and_refuses_writes() {
    let Some((s, who)) = unprivileged_fixture("read_only_file") else {
        return;
    };
    chmod(&s.path, 0o444);
    // The folder is writable by the reader, so nothing but care stops it leaving files.
    if is_root() {
        std::os::unix::fs::chown(s.dir.path(), Some(NOBODY), Some(NOBODY)).expect("chown");
    }
    reads_work_writes_refused(&s, &who, "may not write the file");
}

#[test]
fn read_only_folder_reads_and_refuses_writes() {
    let Some((s, who)) = unprivileged_fixture("read_only_folder") else {
        return;
    };
    // The file itself is writable by the user; its folder is not.
    if is_root() {
        std::os::unix::fs::chown(&s.path, Some(NOBODY), Some(NOBODY)).expect("chown");
    }
    chmod(&s.path, 0o644);
    chmod(s.dir.path(), 0o555);
    reads_work_writes_refused(&s, &who, "may not create files in its folder");
    chmod(s.dir.path(), 0o755);
}

/// While a service has the database open (its -wal and -shm exist, owned by the service), a
/// user who may not write them still reads the live data, including what is only in the WAL.
#[test]
fn read_only_reader_sees_a_live_wal() {
    let Some((s, who)) = unprivileged_fixture("read_only_live_wal") else {
        return;
    };
    chmod(&s.path, 0o644);
    let service = rusqlite::Connection::open(&s.path).expect("service connection");
    service
        .execute_batch("PRAGMA wal_autocheckpoint = 0;")
        .expect("no checkpoint");
    service
        .execute(
            "INSERT INTO circuit_breaker_state (bookmaker, updated_at) VALUES ('only-in-wal', 1)",
            [],
        )
        .expect("write to the wal");
    assert!(Path::new(&format!("{}-wal", s.path.display())).exists());
    // The reader may not write the file (when the tests run as the file's owner, that takes
    // a chmod; the service keeps its open connection either way).
    chmod(&s.path, 0o444);
    let before = snapshot(s.dir.path());
    let run = run_as(&who, &s.path, &["--json", "status-all"]);
    assert!(run.code(0).stdout.contains("only-in-wal"), "{}", run.stdout);
    run_as(&who, &s.path, &["trip", "alpha", "--reason", "r"])
        .code(6)
        .says(&["read-only"]);
    // The -shm file is shared memory, not data: a reader allowed to write it marks its reads
    // there (SQLite does so for every reader). The database and its WAL stay as they were.
    let without_shm = |mut m: std::collections::BTreeMap<String, Vec<u8>>| {
        m.retain(|name, _| !name.ends_with("-shm"));
        m
    };
    let after = snapshot(s.dir.path());
    assert!(after.keys().any(|name| name.ends_with("-shm")));
    assert_unchanged(&without_shm(before), &without_shm(after), "live wal");
    drop(service);
}
