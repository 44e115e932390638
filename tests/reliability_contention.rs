//! Contention: a write lock held longer than `--busy-timeout` makes a CLI write exit 5 with a
//! clear message and write nothing; a lock released within the timeout lets it succeed; and
//! services writing at full speed do not starve an operator's reset beyond the busy timeout.
//!
//! How starvation is bounded: every write (the services' and the operator's) is one short
//! `BEGIN IMMEDIATE` transaction, and a writer that finds the lock taken sleeps in SQLite's
//! busy handler (1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms, then 100 ms steps) and tries
//! again until `--busy-timeout`. The services hold the lock for well under a millisecond per
//! transaction and back off the same way when they collide, so the lock is free often; the
//! operator's retry finds it free within a few tries. The busy timeout is the hard bound: the
//! command either commits within it or exits 5 having written nothing.

use crate::support::child::{child_test, serial};
use crate::support::fixture::{TempDb, populated};
use crate::support::run::{Run, ctl, ctl_command};
use breakerctl::{BreakerConfig, ProductionCircuitBreaker};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const WRITER_DB: &str = "BREAKERCTL_CONTENTION_WRITER_DB";
const WRITER_NAME: &str = "BREAKERCTL_CONTENTION_WRITER_NAME";
/// Service processes writing failures as fast as they can.
const WRITERS: usize = 4;
/// trip + reset pairs the operator runs while they write.
const OPERATOR_ROUNDS: usize = 15;

fn state_of(db: &Path, name: &str) -> (i64, i64) {
    rusqlite::Connection::open(db)
        .expect("open")
        .query_row(
            "SELECT tripped, trip_count FROM circuit_breaker_state WHERE bookmaker = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("state")
}

/// Another process's connection holding the write lock (a write inside BEGIN IMMEDIATE).
fn hold_lock(db: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).expect("open holder");
    conn.execute_batch(
        "BEGIN IMMEDIATE;
         UPDATE circuit_breaker_state SET last_error = 'held' WHERE bookmaker = 'alpha';",
    )
    .expect("take the write lock");
    conn
}

#[test]
fn a_lock_held_past_the_busy_timeout_is_exit_5_and_writes_nothing() {
    let _turn = serial();
    let s = TempDb::empty();
    populated(&s.path);
    let rows_before = s.audit_rows();
    let alpha_before = state_of(&s.path, "alpha");
    let holder = hold_lock(&s.path);
    for args in [
        &["--busy-timeout", "300ms", "trip", "alpha", "--reason", "r"][..],
        &[
            "--busy-timeout",
            "300ms",
            "reset",
            "alpha",
            "--force",
            "--reason",
            "r",
        ],
        &[
            "--busy-timeout",
            "300ms",
            "trip",
            "gamma",
            "--reason",
            "r",
            "--create",
        ],
    ] {
        let started = Instant::now();
        let run = ctl(&s.path, args);
        let waited = started.elapsed();
        run.code(5)
            .says(&["database is busy", "300ms", "--busy-timeout"]);
        assert!(
            waited >= Duration::from_millis(300),
            "{args:?} gave up after {waited:?}"
        );
    }
    holder.execute_batch("ROLLBACK").expect("release");
    drop(holder);
    assert_eq!(s.audit_rows(), rows_before, "an audit row was written");
    assert_eq!(state_of(&s.path, "alpha"), alpha_before, "state changed");
    ctl(&s.path, &["status", "gamma"]).code(4);
    ctl(&s.path, &["audit", "verify"]).code(0);
}

#[test]
fn a_lock_released_within_the_busy_timeout_lets_the_write_succeed() {
    let _turn = serial();
    let s = TempDb::empty();
    populated(&s.path);
    let holder = hold_lock(&s.path);
    let started = Instant::now();
    let child = ctl_command(
        &s.path,
        &[
            "--busy-timeout",
            "10s",
            "trip",
            "beta",
            "--reason",
            "after the wait",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn");
    std::thread::sleep(Duration::from_millis(400));
    holder.execute_batch("COMMIT").expect("release");
    let run = Run::from_output(child.wait_with_output().expect("wait"));
    run.code(0);
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(state_of(&s.path, "beta").0, 1);
    let last = ctl(&s.path, &["--json", "audit", "beta", "--limit", "1"]).json();
    assert_eq!(last[0]["reason"], "after the wait");
}

/// The entry point of a service process: records failures as fast as it can until killed.
#[test]
#[ignore = "entry point of the writer processes that the starvation test spawns"]
fn contention_writer() {
    let Ok(db) = std::env::var(WRITER_DB) else {
        return;
    };
    let name = std::env::var(WRITER_NAME).expect("name");
    let cb = ProductionCircuitBreaker::open(
        &db,
        BreakerConfig {
            failure_threshold: 1e12,
            failure_window: Duration::from_secs(86_400),
            busy_timeout: Duration::from_secs(30),
            ..BreakerConfig::default()
        },
    )
    .expect("open");
    loop {
        cb.record_failure(&name, "boom").expect("record failure");
    }
}

fn spawn_writer(db: &Path, i: usize) -> Child {
    child_test(module_path!(), "contention_writer")
        .env(WRITER_DB, db)
        .env(WRITER_NAME, format!("svc-{i}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn writer")
}

fn total_failures(db: &Path) -> f64 {
    rusqlite::Connection::open(db)
        .expect("open")
        .query_row(
            "SELECT COALESCE(SUM(failure_count), 0) FROM circuit_breaker_state WHERE bookmaker LIKE 'svc-%'",
            [],
            |r| r.get(0),
        )
        .expect("sum")
}

/// Times `OPERATOR_ROUNDS` trip + forced reset pairs through the real binary.
fn operator_rounds(db: &Path, tag: &str) -> Vec<Duration> {
    let mut times = Vec::new();
    for round in 0..OPERATOR_ROUNDS {
        for args in [
            vec![
                "--busy-timeout",
                "5s",
                "trip",
                "ops",
                "--reason",
                "drill",
                "--create",
            ],
            vec![
                "--busy-timeout",
                "5s",
                "reset",
                "ops",
                "--force",
                "--reason",
                "drill over",
            ],
        ] {
            let started = Instant::now();
            let run = ctl(db, &args);
            let took = started.elapsed();
            // Exit 0 is the bound: a wait longer than --busy-timeout would have been exit 5.
            assert_eq!(
                run.code, 0,
                "{tag} round {round}: {args:?} after {took:?}:\n{}",
                run.stderr
            );
            times.push(took);
        }
    }
    times
}

fn summary(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort();
    (times[times.len() / 2], times[times.len() - 1])
}

#[test]
fn full_speed_writers_do_not_starve_an_operator_reset() {
    let _turn = serial();
    let s = TempDb::empty();
    populated(&s.path);
    let mut quiet = operator_rounds(&s.path, "quiet");
    let mut writers: Vec<Child> = (0..WRITERS).map(|i| spawn_writer(&s.path, i)).collect();
    // Wait until every writer is writing.
    let deadline = Instant::now() + Duration::from_secs(10);
    while rusqlite::Connection::open(&s.path)
        .expect("open")
        .query_row(
            "SELECT COUNT(*) FROM circuit_breaker_state WHERE bookmaker LIKE 'svc-%'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .expect("count")
        < WRITERS as i64
    {
        assert!(Instant::now() < deadline, "the writers never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let failures_before = total_failures(&s.path);
    let started = Instant::now();
    let mut busy = operator_rounds(&s.path, "busy");
    let elapsed = started.elapsed();
    let failures_during = total_failures(&s.path) - failures_before;
    for w in &mut writers {
        assert!(
            w.try_wait().expect("try_wait").is_none(),
            "a writer stopped early"
        );
        w.kill().expect("kill writer");
        w.wait().expect("reap writer");
    }
    let (q_median, q_max) = summary(&mut quiet);
    let (b_median, b_max) = summary(&mut busy);
    let rate = failures_during / elapsed.as_secs_f64();
    eprintln!(
        "contention: {WRITERS} writers committed {failures_during} failures in {elapsed:?} \
         ({rate:.0}/s) while the operator ran {} commands",
        busy.len()
    );
    eprintln!("contention: breakerctl trip/reset, quiet: median {q_median:?}, max {q_max:?}");
    eprintln!(
        "contention: breakerctl trip/reset, {WRITERS} writers: median {b_median:?}, max {b_max:?}"
    );
    // The writers really were writing throughout.
    assert!(
        failures_during > (OPERATOR_ROUNDS * 2 * WRITERS) as f64,
        "writers made little progress: {failures_during}"
    );
    assert_eq!(state_of(&s.path, "ops").0, 0);
    ctl(&s.path, &["audit", "verify"]).code(0);
}
