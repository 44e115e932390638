//! Crash safety: writer processes are killed with SIGKILL at random moments (at least 50
//! times) while they record failures, trip automatically, and are tripped and reset by
//! operators, both through the library and through the real `breakerctl` binary. Afterwards
//! the file passes `PRAGMA integrity_check`, the audit chain verifies, every operator state
//! change has its audit row and every audit row its state change, and the stored counts match
//! what the processes acknowledged (each killed process may have committed one operation it
//! did not live to acknowledge).
//!
//! Library writers are this test binary re-executed (`--ignored --exact
//! reliability_crash::crash_child`); an environment variable tells the entry point what to do,
//! so a plain `cargo test -- --ignored` run of it does nothing. Each committed operation is
//! acknowledged with one flushed line `ACK <kind> <name> <reason>` on stdout.

use crate::support::child::{child_test, serial};
use crate::support::fixture::TempDb;
use crate::support::rng::Rng;
use crate::support::run::{breakerctl, ctl};
use breakerctl::{BreakerConfig, ProductionCircuitBreaker, ResetOptions};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const CHILD_DB: &str = "BREAKERCTL_CRASH_CHILD_DB";
const CHILD_SLOT: &str = "BREAKERCTL_CRASH_CHILD_SLOT";
/// Library writer processes running at once.
const SLOTS: usize = 3;
/// Kills the test insists on (library writers and CLI processes together), and of each kind.
const MIN_KILLS: usize = 50;
const MIN_KILLS_EACH: usize = 20;
/// Kills the storm aims for.
const TARGET_KILLS: usize = 100;
/// The storm stops after this long even if fewer kills happened (then the test fails).
const MAX_STORM: Duration = Duration::from_secs(20);
/// The bookmaker every operator (library and CLI) trips and resets.
const SHARED: &str = "op-shared";
const OPERATOR: &str = "crash-operator";

fn count_name(slot: usize) -> String {
    format!("count-{slot}")
}

fn auto_name(slot: usize) -> String {
    format!("auto-{slot}")
}

/// The writer process: loops forever over failures, automatic trips, operator trips and
/// forced resets, acknowledging each after it returns.
#[test]
#[ignore = "entry point of the writer processes that crash_storm spawns and kills"]
fn crash_child() {
    let Ok(db) = std::env::var(CHILD_DB) else {
        return;
    };
    let slot: usize = std::env::var(CHILD_SLOT)
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("slot");
    let base = BreakerConfig {
        failure_window: Duration::from_secs(86_400),
        reset_timeout: Duration::from_secs(86_400),
        busy_timeout: Duration::from_secs(30),
        ..BreakerConfig::default()
    };
    // Never trips: its failure_count is the number of failures recorded.
    let counting = ProductionCircuitBreaker::builder()
        .config(BreakerConfig {
            failure_threshold: 1e12,
            ..base.clone()
        })
        .open(&db)
        .expect("open counting breaker");
    // Trips every third failure.
    let auto = ProductionCircuitBreaker::builder()
        .config(BreakerConfig {
            failure_threshold: 3.0,
            ..base
        })
        .open(&db)
        .expect("open auto breaker");
    let (count_bk, auto_bk) = (count_name(slot), auto_name(slot));
    let pid = std::process::id();
    let mut out = std::io::stdout().lock();
    let mut ack = |line: String| {
        out.write_all(line.as_bytes()).expect("ack");
        out.flush().expect("flush ack");
    };
    for i in 0u64.. {
        match i % 8 {
            0 => {
                let reason = format!("lib-trip-{pid}-{i}");
                counting.trip(SHARED, &reason, OPERATOR).expect("trip");
                ack(format!("ACK TRIP {SHARED} {reason}\n"));
            }
            4 => {
                let reason = format!("lib-reset-{pid}-{i}");
                let options = ResetOptions {
                    reason: Some(&reason),
                    user: OPERATOR,
                    force: true,
                };
                counting.reset(SHARED, options).expect("reset");
                ack(format!("ACK RESET {SHARED} {reason}\n"));
            }
            2 | 6 => {
                auto.record_failure(&auto_bk, "boom").expect("auto failure");
                ack(format!("ACK AUTOFAIL {auto_bk} -\n"));
                let tripped = auto
                    .get_status(&auto_bk)
                    .expect("status")
                    .is_some_and(|s| s.tripped);
                if tripped && i % 16 == 6 {
                    let reason = format!("lib-reset-{pid}-{i}");
                    let options = ResetOptions {
                        reason: Some(&reason),
                        user: OPERATOR,
                        force: true,
                    };
                    auto.reset(&auto_bk, options).expect("reset auto");
                    ack(format!("ACK RESET {auto_bk} {reason}\n"));
                }
            }
            _ => {
                counting.record_failure(&count_bk, "boom").expect("failure");
                ack(format!("ACK FAIL {count_bk} -\n"));
            }
        }
    }
}

/// A running process and the thread collecting its complete stdout lines.
struct Running {
    child: Child,
    lines: JoinHandle<Vec<String>>,
    kill_at: Instant,
    /// For CLI processes: the operation and its unique reason.
    cli: Option<(String, String)>,
}

fn collect_lines(child: &mut Child) -> JoinHandle<Vec<String>> {
    let stdout = child.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut lines = Vec::new();
        let mut buf = Vec::new();
        while reader.read_until(b'\n', &mut buf).unwrap_or(0) > 0 {
            // A line cut short by the kill is not an acknowledgement.
            if buf.ends_with(b"\n") {
                lines.push(String::from_utf8_lossy(&buf).trim_end().to_owned());
            }
            buf.clear();
        }
        lines
    })
}

fn spawn_writer(db: &Path, slot: usize, kill_at: Instant) -> Running {
    let mut child = child_test(module_path!(), "crash_child")
        .env(CHILD_DB, db)
        .env(CHILD_SLOT, slot.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn writer");
    let lines = collect_lines(&mut child);
    Running {
        child,
        lines,
        kill_at,
        cli: None,
    }
}

fn spawn_cli(db: &Path, op: &str, reason: &str, kill_at: Instant) -> Running {
    let mut cmd = breakerctl();
    cmd.arg("--db").arg(db).args(["--busy-timeout", "30s"]);
    match op {
        "TRIP" => cmd.args(["trip", SHARED, "--create"]),
        _ => cmd.args(["reset", SHARED, "--force"]),
    };
    let mut child = cmd
        .args(["--reason", reason, "--user", OPERATOR])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn breakerctl");
    let lines = collect_lines(&mut child);
    Running {
        child,
        lines,
        kill_at,
        cli: Some((op.to_owned(), reason.to_owned())),
    }
}

/// What the storm left: acknowledged operations and who was killed.
#[derive(Default)]
struct Tally {
    kills: usize,
    writer_kills: usize,
    /// Writers killed after acknowledging at least one write (so, in the middle of writing).
    busy_writer_kills: usize,
    cli_kills: usize,
    /// Killed library writers (their pids appear in their reasons).
    killed_pids: BTreeSet<u32>,
    /// Reasons of operations killed before they could be acknowledged.
    killed_cli_reasons: BTreeSet<String>,
    /// kind -> name -> acknowledged count.
    acked: BTreeMap<(String, String), u64>,
    /// Acknowledged reasons of TRIP and RESET.
    acked_reasons: BTreeSet<String>,
    cli_done: usize,
}

impl Tally {
    fn absorb(&mut self, lines: Vec<String>) {
        for line in lines {
            let mut parts = line.splitn(4, ' ');
            if parts.next() != Some("ACK") {
                continue;
            }
            let kind = parts.next().unwrap_or_default().to_owned();
            let name = parts.next().unwrap_or_default().to_owned();
            let reason = parts.next().unwrap_or_default().to_owned();
            if kind == "TRIP" || kind == "RESET" {
                assert!(self.acked_reasons.insert(reason), "reason acked twice");
            }
            *self.acked.entry((kind, name)).or_default() += 1;
        }
    }

    fn acked(&self, kind: &str, name: &str) -> u64 {
        self.acked
            .get(&(kind.to_owned(), name.to_owned()))
            .copied()
            .unwrap_or(0)
    }
}

/// Kills `r` if it is still running (counting the kill), reaps it, and records what it said.
fn finish(mut r: Running, tally: &mut Tally, force_kill: bool) {
    let running = r.child.try_wait().expect("try_wait").is_none();
    let killed = running && (force_kill || Instant::now() >= r.kill_at);
    if killed {
        r.child.kill().expect("SIGKILL");
    }
    let status = r.child.wait().expect("wait");
    let mut stderr = String::new();
    if let Some(mut e) = r.child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    let lines = r.lines.join().expect("reader thread");
    match (&r.cli, killed) {
        (None, true) => {
            tally.kills += 1;
            tally.writer_kills += 1;
            tally.killed_pids.insert(r.child.id());
            if lines.iter().any(|l| l.starts_with("ACK ")) {
                tally.busy_writer_kills += 1;
            }
            tally.absorb(lines);
        }
        (None, false) => panic!("a writer exited by itself ({status}):\n{stderr}"),
        (Some((_, reason)), true) => {
            tally.kills += 1;
            tally.cli_kills += 1;
            tally.killed_cli_reasons.insert(reason.clone());
        }
        (Some((op, reason)), false) => {
            assert!(
                status.success(),
                "breakerctl {op} failed ({status}):\n{stderr}"
            );
            tally.cli_done += 1;
            let kind = op.clone();
            tally.absorb(vec![format!("ACK {kind} {SHARED} {reason}")]);
        }
    }
}

struct AuditRow {
    id: i64,
    bookmaker: String,
    action: String,
    reason: Option<String>,
    user: String,
    timestamp: i64,
    forced: bool,
    state_before: String,
}

struct StateRow {
    failure_count: f64,
    tripped: bool,
    trip_count: i64,
    last_reset_at: Option<i64>,
    last_reset_by: Option<String>,
    last_reset_reason: Option<String>,
}

/// What the file holds after the storm: audit rows, state rows, counter totals.
struct ReadBack {
    audit: Vec<AuditRow>,
    state: HashMap<String, StateRow>,
    counters: HashMap<(String, String), i64>,
}

fn read_back(db: &Path) -> ReadBack {
    let conn = rusqlite::Connection::open(db).expect("open for checking");
    let integrity: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut s| {
            s.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        })
        .expect("integrity_check");
    assert_eq!(integrity, ["ok"], "integrity_check after the storm");
    let audit = conn
        .prepare(
            "SELECT id, bookmaker, action, reason, user, timestamp, forced, state_before
             FROM circuit_breaker_audit ORDER BY id",
        )
        .and_then(|mut s| {
            s.query_map([], |r| {
                Ok(AuditRow {
                    id: r.get(0)?,
                    bookmaker: r.get(1)?,
                    action: r.get(2)?,
                    reason: r.get(3)?,
                    user: r.get(4)?,
                    timestamp: r.get(5)?,
                    forced: r.get::<_, i64>(6)? != 0,
                    state_before: r.get(7)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .expect("audit rows");
    let state = conn
        .prepare(
            "SELECT bookmaker, failure_count, tripped, trip_count, last_reset_at, last_reset_by,
                    last_reset_reason FROM circuit_breaker_state",
        )
        .and_then(|mut s| {
            s.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    StateRow {
                        failure_count: r.get(1)?,
                        tripped: r.get::<_, i64>(2)? != 0,
                        trip_count: r.get(3)?,
                        last_reset_at: r.get(4)?,
                        last_reset_by: r.get(5)?,
                        last_reset_reason: r.get(6)?,
                    },
                ))
            })?
            .collect::<rusqlite::Result<HashMap<_, _>>>()
        })
        .expect("state rows");
    let counters = conn
        .prepare("SELECT bookmaker, reason, SUM(count) FROM circuit_breaker_counters GROUP BY 1, 2")
        .and_then(|mut s| {
            s.query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))?
                .collect::<rusqlite::Result<HashMap<_, _>>>()
        })
        .expect("counters");
    ReadBack {
        audit,
        state,
        counters,
    }
}

#[test]
fn crash_storm_keeps_the_database_consistent() {
    let _turn = serial();
    let s = TempDb::empty();
    let db: PathBuf = s.path.clone();
    // The shared breaker exists before any `breakerctl reset` can run.
    ProductionCircuitBreaker::open(&db, BreakerConfig::default())
        .expect("create database")
        .trip(SHARED, "setup", "setup")
        .expect("setup trip");
    let mut rng = Rng::from_env_or_time("crash_storm");
    let mut tally = Tally::default();
    let started = Instant::now();
    let mut writers: Vec<Option<Running>> = (0..SLOTS).map(|_| None).collect();
    let mut cli: Option<Running> = None;
    let mut cli_seq = 0u64;
    while tally.kills < TARGET_KILLS && started.elapsed() < MAX_STORM {
        for (slot, w) in writers.iter_mut().enumerate() {
            let due = w.as_ref().is_none_or(|r| Instant::now() >= r.kill_at);
            if due {
                if let Some(r) = w.take() {
                    finish(r, &mut tally, true);
                }
                let life = Duration::from_millis(rng.range(40, 400));
                *w = Some(spawn_writer(&db, slot, Instant::now() + life));
            }
        }
        let cli_due = cli.as_mut().is_none_or(|r| {
            Instant::now() >= r.kill_at || r.child.try_wait().ok().flatten().is_some()
        });
        if cli_due {
            if let Some(r) = cli.take() {
                finish(r, &mut tally, false);
            }
            cli_seq += 1;
            let op = if cli_seq % 2 == 1 { "TRIP" } else { "RESET" };
            let reason = format!("cli-{}-{cli_seq}", op.to_lowercase());
            // Some are left to finish, most are killed somewhere between exec and exit.
            let life = Duration::from_millis(rng.range(0, 60));
            cli = Some(spawn_cli(&db, op, &reason, Instant::now() + life));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    for w in writers.into_iter().flatten() {
        finish(w, &mut tally, true);
    }
    if let Some(r) = cli.take() {
        finish(r, &mut tally, true);
    }
    eprintln!(
        "crash_storm: {} kills ({} writers, {} of them busy writing; {} breakerctl), {} breakerctl runs completed, {:?}",
        tally.kills,
        tally.writer_kills,
        tally.busy_writer_kills,
        tally.cli_kills,
        tally.cli_done,
        started.elapsed()
    );
    assert!(
        tally.kills >= MIN_KILLS
            && tally.writer_kills >= MIN_KILLS_EACH
            && tally.cli_kills >= MIN_KILLS_EACH,
        "too few kills in {MAX_STORM:?}"
    );
    assert!(
        tally.busy_writer_kills >= MIN_KILLS_EACH,
        "only {} writers were killed after they had started writing",
        tally.busy_writer_kills
    );

    let ReadBack {
        audit,
        state,
        counters,
    } = read_back(&db);
    let mut slack_used = 0u64;

    // Failures: every acknowledged one is stored; at most one unacknowledged per killed writer.
    for slot in 0..SLOTS {
        let name = count_name(slot);
        let acked = tally.acked("FAIL", &name);
        let stored = state.get(&name).map_or(0.0, |r| r.failure_count) as u64;
        assert!(
            stored >= acked,
            "{name}: {stored} stored < {acked} acknowledged"
        );
        slack_used += stored - acked;
    }

    // Operator actions: each acknowledged reason has exactly one audit row, and every
    // operator row belongs to an operation that was acknowledged or killed.
    let mut seen = BTreeSet::new();
    for row in audit.iter().filter(|r| r.user == OPERATOR) {
        let reason = row.reason.clone().unwrap_or_default();
        assert!(
            seen.insert(reason.clone()),
            "row {}: reason {reason} twice",
            row.id
        );
        if tally.acked_reasons.contains(&reason) {
            continue;
        }
        let killed = if let Some(pid) = reason
            .strip_prefix("lib-")
            .and_then(|r| r.split('-').nth(1))
            .and_then(|p| p.parse::<u32>().ok())
        {
            slack_used += 1;
            tally.killed_pids.contains(&pid)
        } else {
            tally.killed_cli_reasons.contains(&reason)
        };
        assert!(
            killed,
            "row {} ({reason}) belongs to no killed operation",
            row.id
        );
    }
    for reason in &tally.acked_reasons {
        assert!(
            seen.contains(reason),
            "acknowledged {reason} has no audit row"
        );
    }
    assert!(
        slack_used <= tally.writer_kills as u64,
        "{slack_used} unacknowledged writes from {} killed writers",
        tally.writer_kills
    );

    // State and audit agree, breaker by breaker.
    let mut names: Vec<String> = (0..SLOTS).map(auto_name).collect();
    names.push(SHARED.to_owned());
    for name in &names {
        let rows: Vec<&AuditRow> = audit.iter().filter(|r| &r.bookmaker == name).collect();
        let Some(st) = state.get(name) else {
            assert!(rows.is_empty(), "{name}: audit rows but no state");
            continue;
        };
        let trips_from_closed = rows
            .iter()
            .filter(|r| r.action == "TRIP" && r.state_before == "closed")
            .count() as i64;
        assert_eq!(
            st.trip_count, trips_from_closed,
            "{name}: trip_count vs TRIP rows"
        );
        let last = rows
            .iter()
            .rev()
            .find(|r| r.action == "TRIP" || r.action == "RESET");
        assert_eq!(
            st.tripped,
            last.is_some_and(|r| r.action == "TRIP"),
            "{name}: tripped vs the last TRIP/RESET row"
        );
        let resets: Vec<&&AuditRow> = rows.iter().filter(|r| r.action == "RESET").collect();
        match resets.last() {
            Some(r) => {
                assert_eq!(st.last_reset_at, Some(r.timestamp), "{name}: last_reset_at");
                assert_eq!(st.last_reset_by.as_deref(), Some(r.user.as_str()));
                assert_eq!(st.last_reset_reason, r.reason, "{name}: last_reset_reason");
            }
            None => assert_eq!(st.last_reset_at, None, "{name}: reset without a row"),
        }
        let counter = |reason: &str| {
            counters
                .get(&(name.clone(), reason.to_owned()))
                .copied()
                .unwrap_or(0)
        };
        assert_eq!(
            counter("reset"),
            resets.len() as i64,
            "{name}: reset counter"
        );
        assert_eq!(
            counter("forced_reset"),
            resets.iter().filter(|r| r.forced).count() as i64,
            "{name}: forced_reset counter"
        );
    }
    let auto_trips: usize = (0..SLOTS)
        .map(|s| {
            audit
                .iter()
                .filter(|r| r.bookmaker == auto_name(s) && r.action == "TRIP")
                .count()
        })
        .sum();
    eprintln!(
        "crash_storm: {} audit rows, {auto_trips} automatic trips, {} operator actions acknowledged",
        audit.len(),
        tally.acked_reasons.len()
    );
    assert!(auto_trips > 0, "no automatic trip happened");

    // The chain survived every kill, and so did the tools.
    ctl(&db, &["audit", "verify"]).code(0);
    ctl(&db, &["doctor", "--alert-window", "1h"]).code(0);
}
