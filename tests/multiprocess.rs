//! Several OS processes share one breaker file. The children are this test binary itself,
//! re-executed with `--ignored --exact multiprocess::<child test>`; an environment variable
//! tells the child entry points what to do (without it they return at once, so
//! `cargo test -- --ignored` is harmless). Each child prints one `CHILD_RESULT <json>` line for
//! the parent to check.

use crate::support::child::{child_test, serial};
use crate::support::fixture::{SEED_SCHEMA, TempDb};
use breakerctl::storage::AuditFilter;
use breakerctl::{BreakerConfig, BreakerState, CallContext, CallError, ProductionCircuitBreaker};
use serde_json::{Value, json};
use std::io::Read;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROLE: &str = "BREAKERCTL_TEST_CHILD_ROLE";
const DB: &str = "BREAKERCTL_TEST_CHILD_DB";
const INDEX: &str = "BREAKERCTL_TEST_CHILD_INDEX";
const START_AT: &str = "BREAKERCTL_TEST_CHILD_START_AT_MS";
const STOP_AT: &str = "BREAKERCTL_TEST_CHILD_STOP_AT_MS";
const MARKER: &str = "CHILD_RESULT ";

const PROCESSES: usize = 4;
const THREADS: usize = 2;
const EVENTS_PER_THREAD: usize = 60;
const BK: &str = "draftkings";

const RESET_TIMEOUT_MS: i64 = 300;
const PROBE_SLEEP_MS: u64 = 200;
const PROBE_RUN_MS: i64 = 1_700;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn env_i64(name: &str) -> i64 {
    env(name).parse().unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn sleep_until(epoch_ms: i64) {
    let wait = epoch_ms - breakerctl::clock::now_ms();
    if wait > 0 {
        std::thread::sleep(Duration::from_millis(wait as u64));
    }
}

fn hammer_config() -> BreakerConfig {
    BreakerConfig {
        failure_threshold: 1e9,
        failure_window: Duration::from_secs(3600),
        ..BreakerConfig::default()
    }
}

fn prober_config() -> BreakerConfig {
    BreakerConfig {
        reset_timeout: Duration::from_millis(RESET_TIMEOUT_MS as u64),
        failure_window: Duration::from_secs(3600),
        ..BreakerConfig::default()
    }
}

/// Whether event `j` of thread `t` in process `p` is a timeout (otherwise a hard failure).
fn is_timeout(p: usize, t: usize, j: usize) -> bool {
    (p + t + j).is_multiple_of(3)
}

/// Starts `PROCESSES` copies of this binary running the child test `name`, waits for them
/// (killing any still running after `limit`), and returns each one's reported JSON.
fn run_children(name: &str, extra_env: &[(&str, String)], limit: Duration) -> Vec<Value> {
    let mut children: Vec<(Child, std::thread::JoinHandle<String>)> = (0..PROCESSES)
        .map(|i| {
            let mut cmd = child_test(module_path!(), name);
            cmd.env(ROLE, name)
                .env(INDEX, i.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit());
            for (k, v) in extra_env {
                cmd.env(k, v);
            }
            let mut child = cmd.spawn().expect("spawn child");
            let mut stdout = child.stdout.take().expect("stdout");
            let reader = std::thread::spawn(move || {
                let mut out = String::new();
                let _ = stdout.read_to_string(&mut out);
                out
            });
            (child, reader)
        })
        .collect();
    let deadline = Instant::now() + limit;
    let mut statuses = vec![None; children.len()];
    while statuses.iter().any(Option::is_none) {
        for (i, (child, _)) in children.iter_mut().enumerate() {
            if statuses[i].is_none() {
                statuses[i] = child.try_wait().expect("try_wait");
            }
        }
        if Instant::now() > deadline {
            for (i, (child, _)) in children.iter_mut().enumerate() {
                if statuses[i].is_none() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
            panic!("child processes did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    children
        .into_iter()
        .zip(statuses)
        .enumerate()
        .map(|(i, ((_, reader), status))| {
            let out = reader.join().expect("reader");
            let status = status.expect("finished");
            assert!(status.success(), "child {i} failed ({status}):\n{out}");
            let line = out
                .lines()
                .find_map(|l| l.find(MARKER).map(|at| &l[at + MARKER.len()..]))
                .unwrap_or_else(|| panic!("child {i} reported nothing:\n{out}"));
            serde_json::from_str(line).expect("child JSON")
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Scenario 1: many processes and threads record failures; none may be lost.

#[test]
#[ignore = "child process entry point for concurrent_failures_from_many_processes_all_count"]
fn child_hammer() {
    if std::env::var(ROLE).as_deref() != Ok("child_hammer") {
        return;
    }
    let p: usize = env(INDEX).parse().expect("index");
    let cb = Arc::new(ProductionCircuitBreaker::open(env(DB), hammer_config()).expect("open"));
    sleep_until(env_i64(START_AT));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let cb = Arc::clone(&cb);
            std::thread::spawn(move || {
                let (mut upstream, mut other, mut weight) = (0u64, Vec::new(), 0.0f64);
                for j in 0..EVENTS_PER_THREAD {
                    let timeout = is_timeout(p, t, j);
                    let message = if timeout {
                        "upstream Timeout"
                    } else {
                        "502 Bad Gateway"
                    };
                    let r = cb.call_api(BK, &CallContext::new("hammer", 1.0), || {
                        Err::<(), _>(message)
                    });
                    match r {
                        Err(CallError::Upstream(m)) if m == message => upstream += 1,
                        other_result => other.push(format!("{other_result:?}")),
                    }
                    weight += if timeout { 0.5 } else { 1.0 };
                }
                (upstream, other, weight)
            })
        })
        .collect();
    let (mut upstream, mut errors, mut weight) = (0u64, Vec::<String>::new(), 0.0f64);
    for t in threads {
        let (u, o, w) = t.join().expect("thread");
        upstream += u;
        errors.extend(o);
        weight += w;
    }
    println!(
        "{MARKER}{}",
        json!({ "upstream": upstream, "errors": errors, "weight": weight, "pid": std::process::id() })
    );
}

#[test]
fn concurrent_failures_from_many_processes_all_count() {
    let _serial = serial();
    let db = TempDb::empty();
    // The parent creates (and migrates) the file first, and keeps a breaker open on it.
    let cb = ProductionCircuitBreaker::open(&db.path, hammer_config()).expect("open");
    let start_at = breakerctl::clock::now_ms() + 400;
    let reports = run_children(
        "child_hammer",
        &[
            (DB, db.path.display().to_string()),
            (START_AT, start_at.to_string()),
        ],
        Duration::from_secs(60),
    );

    let mut expected = 0.0;
    for p in 0..PROCESSES {
        for t in 0..THREADS {
            for j in 0..EVENTS_PER_THREAD {
                expected += if is_timeout(p, t, j) { 0.5 } else { 1.0 };
            }
        }
    }
    let mut pids = std::collections::BTreeSet::new();
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(r["errors"], json!([]), "child {i} saw call errors");
        assert_eq!(
            r["upstream"],
            json!(THREADS * EVENTS_PER_THREAD),
            "child {i}"
        );
        pids.insert(r["pid"].as_u64().expect("pid"));
    }
    assert_eq!(pids.len(), PROCESSES, "distinct OS processes");
    assert!(!pids.contains(&u64::from(std::process::id())));
    let reported: f64 = reports
        .iter()
        .map(|r| r["weight"].as_f64().expect("weight"))
        .sum();
    assert_eq!(reported, expected);

    let s = cb.get_status(BK).expect("status").expect("known");
    assert_eq!(
        s.failures, expected,
        "every weighted failure of every process counted"
    );
    assert!(!s.tripped);
    assert_eq!(s.trip_count, 0);
    assert_eq!(s.state, BreakerState::Closed);
    let audit = cb.audit(&AuditFilter::default()).expect("audit");
    assert!(audit.is_empty(), "nothing tripped: {audit:?}");
}

// ---------------------------------------------------------------------------------------------
// Scenario 2: after an automatic trip, processes race for the half-open probe.

#[test]
#[ignore = "child process entry point for one_probe_per_reset_timeout_across_processes"]
fn child_prober() {
    if std::env::var(ROLE).as_deref() != Ok("child_prober") {
        return;
    }
    let cb = ProductionCircuitBreaker::open(env(DB), prober_config()).expect("open");
    let stop_at = env_i64(STOP_AT);
    sleep_until(env_i64(START_AT));
    let (mut runs, mut rejected, mut errors) =
        (Vec::<(i64, i64)>::new(), 0u64, Vec::<String>::new());
    while breakerctl::clock::now_ms() < stop_at {
        let mut span = None;
        let r = cb.call_api(BK, &CallContext::new("probe_api", 1.0), || {
            let start = breakerctl::clock::now_ms();
            std::thread::sleep(Duration::from_millis(PROBE_SLEEP_MS));
            span = Some((start, breakerctl::clock::now_ms()));
            Err::<(), _>("503 still down")
        });
        match r {
            Err(CallError::Tripped { .. }) if span.is_none() => {
                rejected += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(CallError::Upstream("503 still down")) if span.is_some() => {
                runs.extend(span);
            }
            other => errors.push(format!("{other:?}")),
        }
    }
    println!(
        "{MARKER}{}",
        json!({ "runs": runs, "rejected": rejected, "errors": errors })
    );
}

#[test]
fn one_probe_per_reset_timeout_across_processes() {
    let _serial = serial();
    let db = TempDb::empty();
    let cb = ProductionCircuitBreaker::open(&db.path, prober_config()).expect("open");
    for _ in 0..10 {
        cb.record_failure(BK, "500").expect("failure");
    }
    let s = cb.get_status(BK).expect("status").expect("known");
    assert_eq!((s.state, s.trip_count), (BreakerState::Open, 1));
    let start_at = breakerctl::clock::now_ms() + 400;
    let stop_at = start_at + PROBE_RUN_MS;
    let reports = run_children(
        "child_prober",
        &[
            (DB, db.path.display().to_string()),
            (START_AT, start_at.to_string()),
            (STOP_AT, stop_at.to_string()),
        ],
        Duration::from_secs(60),
    );

    let mut runs: Vec<(i64, i64)> = Vec::new();
    let mut rejected = 0;
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(r["errors"], json!([]), "child {i}");
        rejected += r["rejected"].as_u64().expect("rejected");
        for span in r["runs"].as_array().expect("runs") {
            runs.push((
                span[0].as_i64().expect("start"),
                span[1].as_i64().expect("end"),
            ));
        }
    }
    runs.sort_unstable();
    assert!(rejected > 0, "the other callers were rejected");
    // Children start after the reset timeout has passed, then one probe about every
    // PROBE_SLEEP_MS + RESET_TIMEOUT_MS.
    let most = (PROBE_RUN_MS / (PROBE_SLEEP_MS as i64 + RESET_TIMEOUT_MS)) as usize + 1;
    assert!(
        (2..=most).contains(&runs.len()),
        "{} probes ran: {runs:?}",
        runs.len()
    );

    // Audit: one TRIP, then PROBE_START and REOPEN for every closure that ran, all by "system".
    let mut audit = cb.audit(&AuditFilter::default()).expect("audit");
    audit.reverse();
    let of = |action: &str| -> Vec<i64> {
        audit
            .iter()
            .filter(|r| r.action.as_deref() == Some(action))
            .map(|r| r.timestamp.expect("timestamp"))
            .collect()
    };
    let (trips, probes, reopens) = (of("TRIP"), of("PROBE_START"), of("REOPEN"));
    assert_eq!(trips.len(), 1);
    assert_eq!(probes.len(), runs.len(), "PROBE_START rows == closures run");
    assert_eq!(reopens.len(), runs.len(), "every failed probe re-opened");
    assert_eq!(audit.len(), 1 + 2 * runs.len(), "{audit:?}");
    assert!(audit.iter().all(|r| r.user.as_deref() == Some("system")));
    let pids: std::collections::BTreeSet<_> = audit.iter().skip(1).map(|r| r.pid).collect();
    assert!(
        !pids.contains(&Some(i64::from(std::process::id()))),
        "probes ran in the children"
    );

    // No two probes overlap, and after each one the next waits out the reset timeout.
    for pair in runs.windows(2) {
        let ((_, end), (next_start, _)) = (pair[0], pair[1]);
        assert!(next_start >= end + RESET_TIMEOUT_MS, "{runs:?}");
    }
    // Exactly one probe per reset-timeout period: period k starts at the trip (k = 0) or at the
    // k-th re-open; exactly one closure starts in it, none before its reset timeout is over.
    let boundaries: Vec<i64> = trips.iter().chain(&reopens).copied().collect();
    for (k, from) in boundaries.iter().enumerate() {
        let until = boundaries.get(k + 1).copied().unwrap_or(i64::MAX);
        let started: Vec<_> = runs
            .iter()
            .filter(|(s, _)| (*from..until).contains(s))
            .collect();
        let want = usize::from(k < runs.len());
        assert_eq!(started.len(), want, "period {k} from {from}: {started:?}");
        for (s, _) in started {
            assert!(
                *s >= from + RESET_TIMEOUT_MS,
                "probe before the reset timeout: {s} < {from} + {RESET_TIMEOUT_MS}"
            );
            assert!(probes[k] <= *s && probes[k] >= from + RESET_TIMEOUT_MS);
            assert!(reopens[k] >= runs[k].1);
        }
    }
    let s = cb.get_status(BK).expect("status").expect("known");
    assert!(s.tripped);
    assert_eq!(s.trip_count, 1, "re-opens are not new trips");
    assert_eq!(s.last_error.as_deref(), Some("503 still down"));
    assert!(matches!(
        s.state,
        BreakerState::Open | BreakerState::HalfOpen
    ));
    assert!(!s.probe_in_flight);
}

// ---------------------------------------------------------------------------------------------
// Scenario 3: processes open a database of the original service at the same moment; it is
// migrated once and every process can use it.

#[test]
#[ignore = "child process entry point for simultaneous_first_opens_of_a_seed_database_migrate_once"]
fn child_migrator() {
    if std::env::var(ROLE).as_deref() != Ok("child_migrator") {
        return;
    }
    let p = env(INDEX);
    sleep_until(env_i64(START_AT));
    let result = ProductionCircuitBreaker::builder()
        .config(hammer_config())
        .open_existing(env(DB))
        .and_then(|cb| {
            cb.record_failure(BK, &format!("failure from child {p}"))?;
            Ok(cb.schema_version())
        });
    let report = match result {
        Ok(Ok(version)) => json!({ "user_version": version, "errors": [] }),
        Ok(Err(e)) | Err(e) => json!({ "user_version": null, "errors": [e.to_string()] }),
    };
    println!("{MARKER}{report}");
}

#[test]
fn simultaneous_first_opens_of_a_seed_database_migrate_once() {
    let _serial = serial();
    let db = TempDb::empty();
    {
        let conn = rusqlite::Connection::open(&db.path).expect("sqlite");
        conn.execute_batch(SEED_SCHEMA).expect("seed DDL");
        let now = breakerctl::clock::now_ms();
        conn.execute(
            "INSERT OR REPLACE INTO circuit_breaker_state
             (bookmaker, failure_count, last_failure_at, tripped, trip_count, last_error, updated_at)
             VALUES (?1, COALESCE((SELECT failure_count + 1 FROM circuit_breaker_state WHERE bookmaker = ?1), 1), ?2, 0, 0, 'seed', ?2)",
            rusqlite::params![BK, now],
        )
        .expect("seed row");
        conn.execute(
            "INSERT INTO circuit_breaker_audit (bookmaker, action, reason, user, timestamp)
             VALUES (?1, 'RESET', 'old', 'alice', ?2)",
            rusqlite::params![BK, now],
        )
        .expect("seed audit");
    }
    let start_at = breakerctl::clock::now_ms() + 400;
    let reports = run_children(
        "child_migrator",
        &[
            (DB, db.path.display().to_string()),
            (START_AT, start_at.to_string()),
        ],
        Duration::from_secs(60),
    );
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(r["errors"], json!([]), "child {i}");
        assert_eq!(
            r["user_version"],
            json!(breakerctl::storage::SCHEMA_VERSION),
            "child {i}"
        );
    }
    let conn = rusqlite::Connection::open(&db.path).expect("sqlite");
    let columns = |table: &str| -> Vec<String> {
        conn.prepare(&format!("PRAGMA table_info({table})"))
            .expect("prepare")
            .query_map([], |r| r.get::<_, String>(1))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("columns")
    };
    for table in ["circuit_breaker_state", "circuit_breaker_audit"] {
        let cols = columns(table);
        let unique: std::collections::BTreeSet<_> = cols.iter().collect();
        assert_eq!(unique.len(), cols.len(), "{table}: {cols:?}");
    }
    assert!(columns("circuit_breaker_state").contains(&"trip_kind".to_owned()));
    let cb = ProductionCircuitBreaker::builder()
        .config(hammer_config())
        .open_existing(&db.path)
        .expect("open");
    let s = cb.get_status(BK).expect("status").expect("known");
    assert_eq!(
        s.failures,
        1.0 + PROCESSES as f64,
        "the seed's failure and one per process"
    );
    let audit = cb.audit(&AuditFilter::default()).expect("audit");
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].user.as_deref(), Some("alice"));
    assert_eq!(cb.diagnostics().journal_mode.as_deref(), Some("wal"));
}
