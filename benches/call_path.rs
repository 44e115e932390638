//! The call path of `ProductionCircuitBreaker`, side by side with its floors.
//!
//! Floors, measured in the same run (the machine is shared and noisy, so only ratios against a
//! floor of the same run mean anything):
//! - a bare closure (what a call costs without any breaker);
//! - the `failsafe` crate's in-memory breaker (the in-memory floor);
//! - a bare single-row SQLite `UPDATE` (the durability floor): rusqlite on a temp file with the
//!   breaker's schema and the same pragmas (WAL, same `synchronous`), autocommit.
//!
//! Ours: a healthy call through a closed breaker, a rejected call on an open breaker, and a
//! failing call (a very high failure threshold and a long failure window, so it never trips),
//! under synchronous=NORMAL (the library's default) and FULL.
//!
//! `cargo bench --bench call_path` runs criterion's groups, then a self-timed summary: for each
//! case, the median over several repetitions of the mean time of a batch of calls, the
//! repetitions interleaving every case so that noise hits ours and the floors alike.
//! `cargo bench --bench call_path -- --summary-only` skips criterion.

use breakerctl::{BreakerConfig, CallContext, ProductionCircuitBreaker, Synchronous};
use criterion::{Criterion, SamplingMode};
use failsafe::{CircuitBreaker as _, StateMachine, backoff, failure_policy};
use rusqlite::Connection;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

const HEALTHY: &str = "healthy-bk";
const OPEN: &str = "open-bk";
const FAILING: &str = "failing-bk";
const FLOOR_ROW: &str = "floor-bk";

fn ctx() -> CallContext<'static> {
    CallContext::new("bench", 1.0)
}

fn config() -> BreakerConfig {
    BreakerConfig {
        // The failing benchmark must never trip: every call then pays exactly one failure write.
        failure_threshold: 1e15,
        failure_window: Duration::from_secs(365 * 24 * 3600),
        ..BreakerConfig::default()
    }
}

fn open(path: &Path, config: BreakerConfig, sync: Synchronous) -> ProductionCircuitBreaker {
    ProductionCircuitBreaker::builder()
        .config(config)
        .synchronous(sync)
        .open(path)
        .expect("open breaker")
}

/// Our breaker on `path`, with one closed and one operator-tripped (forced open) breaker.
fn ours(path: &Path, sync: Synchronous) -> ProductionCircuitBreaker {
    let cb = open(path, config(), sync);
    cb.record_success(HEALTHY, Duration::from_millis(1))
        .expect("seed healthy");
    cb.record_failure(FAILING, "seed").expect("seed failing");
    cb.trip(OPEN, "benchmark", "bench").expect("trip");
    cb.flush().expect("flush");
    cb
}

#[inline(never)]
fn healthy_call(cb: &ProductionCircuitBreaker) {
    let r = cb.call_api(HEALTHY, &ctx(), || Ok::<u64, &str>(black_box(1)));
    assert!(black_box(r).is_ok());
}

#[inline(never)]
fn rejected_call(cb: &ProductionCircuitBreaker) {
    let r = cb.call_api(OPEN, &ctx(), || Ok::<u64, &str>(black_box(1)));
    assert!(black_box(r).is_err());
}

#[inline(never)]
fn failing_call(cb: &ProductionCircuitBreaker) {
    let r = cb.call_api(FAILING, &ctx(), || {
        Err::<u64, &str>(black_box("upstream error 503"))
    });
    assert!(black_box(r).is_err());
}

fn bare_closure() {
    let f = black_box(|| Ok::<u64, &str>(black_box(1)));
    assert!(black_box(f()).is_ok());
}

/// A failing call, made in turn by two breakers on one file (two processes failing on the
/// same bookmaker): each finds the other's commit, so it pays the `data_version` query and
/// reads the row again before its own write.
#[inline(never)]
fn two_writers(a: &ProductionCircuitBreaker, b: &ProductionCircuitBreaker, turn: &mut bool) {
    failing_call(if *turn { b } else { a });
    *turn = !*turn;
}

/// The floor of `two_writers`: a bare UPDATE made in turn by two connections on one file.
fn bare_two_writers((a, b): &mut (BareUpdate, BareUpdate), turn: &mut bool) {
    if *turn {
        b.update()
    } else {
        a.update()
    }
    *turn = !*turn;
}

type Failsafe = StateMachine<failure_policy::ConsecutiveFailures<backoff::Constant>, ()>;

fn failsafe_breaker() -> Failsafe {
    let policy =
        failure_policy::consecutive_failures(1, backoff::constant(Duration::from_secs(3600)));
    failsafe::Config::new().failure_policy(policy).build()
}

fn failsafe_ok(cb: &Failsafe) {
    let r = cb.call(|| Ok::<u64, &str>(black_box(1)));
    assert!(black_box(r).is_ok());
}

fn failsafe_rejected(cb: &Failsafe) {
    let r = cb.call(|| Ok::<u64, &str>(black_box(1)));
    assert!(matches!(black_box(r), Err(failsafe::Error::Rejected)));
}

/// The durability floor: a connection with the breaker's pragmas on a file with its schema.
struct BareUpdate {
    conn: Connection,
    n: i64,
}

impl BareUpdate {
    fn new(path: &Path, sync: Synchronous) -> BareUpdate {
        // Lay the breaker's schema (and a row) with the library, then write with rusqlite alone.
        drop(ours(path, sync));
        BareUpdate::connect(path, sync)
    }

    /// Another connection on a file `new` laid out.
    fn connect(path: &Path, sync: Synchronous) -> BareUpdate {
        let conn = Connection::open(path).expect("open floor");
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .expect("wal");
        assert_eq!(mode, "wal");
        let value = match sync {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        };
        conn.execute_batch(&format!("PRAGMA synchronous={value}"))
            .expect("synchronous");
        conn.execute(
            "INSERT OR IGNORE INTO circuit_breaker_state (bookmaker, updated_at) VALUES (?1, 0)",
            [FLOOR_ROW],
        )
        .expect("floor row");
        BareUpdate { conn, n: 0 }
    }

    fn update(&mut self) {
        self.n += 1;
        let mut stmt = self
            .conn
            .prepare_cached(
                "UPDATE circuit_breaker_state SET failure_count = failure_count + 1,
                 last_failure_at = ?2, updated_at = ?2 WHERE bookmaker = ?1",
            )
            .expect("prepare");
        let changed = stmt.execute((FLOOR_ROW, self.n)).expect("update");
        assert_eq!(changed, 1);
    }
}

/// Every case of the run, with its state.
struct Fixture {
    _dir: tempfile::TempDir,
    failsafe_closed: Failsafe,
    failsafe_open: Failsafe,
    ours_normal: ProductionCircuitBreaker,
    /// A second breaker on `ours_normal`'s file, as another process would have.
    ours_peer: ProductionCircuitBreaker,
    /// Whose turn it is in `two_writers`.
    peer_turn: bool,
    ours_full: ProductionCircuitBreaker,
    floor_normal: BareUpdate,
    /// Two connections on one more file, for the floor of two writers.
    floor_pair: (BareUpdate, BareUpdate),
    floor_turn: bool,
    floor_full: BareUpdate,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let failsafe_open = failsafe_breaker();
        let _ = failsafe_open.call(|| Err::<(), ()>(()));
        assert!(!failsafe_open.is_call_permitted());
        let shared = dir.path().join("ours-normal.db");
        let floor_path = dir.path().join("floor-normal.db");
        let pair_path = dir.path().join("floor-pair.db");
        Fixture {
            failsafe_closed: failsafe_breaker(),
            failsafe_open,
            ours_normal: ours(&shared, Synchronous::Normal),
            ours_peer: open(&shared, config(), Synchronous::Normal),
            peer_turn: false,
            ours_full: ours(&dir.path().join("ours-full.db"), Synchronous::Full),
            floor_normal: BareUpdate::new(&floor_path, Synchronous::Normal),
            floor_pair: (
                BareUpdate::new(&pair_path, Synchronous::Normal),
                BareUpdate::connect(&pair_path, Synchronous::Normal),
            ),
            floor_turn: false,
            floor_full: BareUpdate::new(&dir.path().join("floor-full.db"), Synchronous::Full),
            _dir: dir,
        }
    }
}

fn criterion_groups(c: &mut Criterion, f: &mut Fixture) {
    let mut g = c.benchmark_group("in_memory");
    g.bench_function("bare_closure", |b| b.iter(bare_closure));
    g.bench_function("failsafe_closed", |b| {
        b.iter(|| failsafe_ok(&f.failsafe_closed))
    });
    g.bench_function("failsafe_rejected", |b| {
        b.iter(|| failsafe_rejected(&f.failsafe_open))
    });
    g.bench_function("ours_healthy", |b| b.iter(|| healthy_call(&f.ours_normal)));
    g.bench_function("ours_rejected", |b| {
        b.iter(|| rejected_call(&f.ours_normal))
    });
    g.finish();

    let mut g = c.benchmark_group("durable_failure");
    g.sampling_mode(SamplingMode::Flat);
    g.bench_function("bare_update_normal", |b| b.iter(|| f.floor_normal.update()));
    g.bench_function("ours_failure_normal", |b| {
        b.iter(|| failing_call(&f.ours_normal))
    });
    g.bench_function("bare_update_normal_two_writers", |b| {
        b.iter(|| bare_two_writers(&mut f.floor_pair, &mut f.floor_turn))
    });
    g.bench_function("ours_failure_normal_two_writers", |b| {
        b.iter(|| two_writers(&f.ours_normal, &f.ours_peer, &mut f.peer_turn))
    });
    g.bench_function("bare_update_full", |b| b.iter(|| f.floor_full.update()));
    g.bench_function("ours_failure_full", |b| {
        b.iter(|| failing_call(&f.ours_full))
    });
    g.finish();
}

/// One case of the summary: the calls in one timed batch, and the batch means.
struct Case<'a> {
    batch: u32,
    run: Box<dyn FnMut() + 'a>,
    means: Vec<f64>,
}

impl<'a> Case<'a> {
    fn new(batch: u32, run: impl FnMut() + 'a) -> Case<'a> {
        Case {
            batch,
            run: Box::new(run),
            means: Vec::new(),
        }
    }

    /// Times one batch; the mean in nanoseconds per call.
    fn time(&mut self) {
        let start = Instant::now();
        for _ in 0..self.batch {
            (self.run)();
        }
        self.means
            .push(start.elapsed().as_nanos() as f64 / f64::from(self.batch));
    }

    fn median(&self) -> f64 {
        let mut v = self.means.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// Whether another connection sees a commit made while `calls` calls run.
fn commits_during(path: &Path, calls: u32, mut call: impl FnMut()) -> bool {
    let watcher = Connection::open(path).expect("watcher");
    let version = |c: &Connection| -> i64 {
        c.query_row("PRAGMA data_version", [], |r| r.get(0))
            .expect("data_version")
    };
    let before = version(&watcher);
    for _ in 0..calls {
        call();
    }
    version(&watcher) != before
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn summary(f: &mut Fixture, reps: usize) {
    // A breaker whose background batch writer does not run during the check, so any commit
    // seen by the watcher would have come from a call itself.
    let dir = tempfile::tempdir().expect("tempdir");
    let quiet_path = dir.path().join("quiet.db");
    let quiet = {
        let cb = ours(&quiet_path, Synchronous::Normal);
        drop(cb);
        open(
            &quiet_path,
            BreakerConfig {
                flush_interval: Duration::from_secs(3600),
                ..config()
            },
            Synchronous::Normal,
        )
    };
    healthy_call(&quiet);
    rejected_call(&quiet);
    let checked = 100_000;
    let healthy_commits = commits_during(&quiet_path, checked, || healthy_call(&quiet));
    let rejected_commits = commits_during(&quiet_path, checked, || rejected_call(&quiet));
    let failing_commits = commits_during(&quiet_path, 1, || failing_call(&quiet));

    let Fixture {
        failsafe_closed,
        failsafe_open,
        ours_normal,
        ours_peer,
        peer_turn,
        ours_full,
        floor_normal,
        floor_pair,
        floor_turn,
        floor_full,
        ..
    } = f;
    let (ours_normal, ours_peer, ours_full) = (&*ours_normal, &*ours_peer, &*ours_full);
    let mut cases = vec![
        Case::new(200_000, bare_closure),
        Case::new(200_000, || failsafe_ok(failsafe_closed)),
        Case::new(200_000, || failsafe_rejected(failsafe_open)),
        Case::new(100_000, || healthy_call(ours_normal)),
        Case::new(100_000, || rejected_call(ours_normal)),
        Case::new(2_000, || floor_normal.update()),
        Case::new(2_000, || failing_call(ours_normal)),
        Case::new(60, || floor_full.update()),
        Case::new(60, || failing_call(ours_full)),
        Case::new(2_000, || bare_two_writers(floor_pair, floor_turn)),
        Case::new(2_000, || two_writers(ours_normal, ours_peer, peer_turn)),
    ];
    for case in &mut cases {
        case.time(); // warm-up, not kept
        case.means.clear();
    }
    // Every other repetition runs the cases backwards, so that no case always follows the
    // same one (a FULL commit's fsync also pays for the writeback the NORMAL cases left).
    for rep in 0..reps {
        if rep % 2 == 0 {
            cases.iter_mut().for_each(Case::time);
        } else {
            cases.iter_mut().rev().for_each(Case::time);
        }
    }
    let m: Vec<f64> = cases.iter().map(Case::median).collect();
    let (bare, fs_ok, fs_rej, healthy, rejected) = (m[0], m[1], m[2], m[3], m[4]);
    let (upd_n, fail_n, upd_f, fail_f, upd_2w, fail_2w) = (m[5], m[6], m[7], m[8], m[9], m[10]);

    println!();
    println!("Call path summary: median of {reps} interleaved batches (mean per call in a batch)");
    println!("{:-<96}", "");
    println!(
        "{:<24} {:>12}  {:<58}",
        "case", "per call", "against its floor"
    );
    println!("{:-<96}", "");
    let row = |name: &str, ns: f64, note: String| println!("{name:<24} {:>12}  {note}", fmt_ns(ns));
    row("bare closure", bare, "floor".to_owned());
    row(
        "failsafe, closed",
        fs_ok,
        format!("in-memory floor; overhead {}", fmt_ns(fs_ok - bare)),
    );
    row(
        "failsafe, rejected",
        fs_rej,
        format!("in-memory floor; overhead {}", fmt_ns(fs_rej - bare)),
    );
    let verdict = |ok: bool| if ok { "meets" } else { "MISSES" };
    row(
        "ours, healthy",
        healthy,
        format!(
            "overhead {} (target ≤ 2 µs: {}); {:.1}x failsafe",
            fmt_ns(healthy - bare),
            verdict(healthy - bare <= 2_000.0),
            healthy / fs_ok
        ),
    );
    row(
        "ours, rejected",
        rejected,
        format!(
            "{} (target ≤ 2 µs: {}); {:.1}x failsafe",
            fmt_ns(rejected),
            verdict(rejected <= 2_000.0),
            rejected / fs_rej
        ),
    );
    row(
        "bare UPDATE, NORMAL",
        upd_n,
        "durability floor (WAL, NORMAL)".to_owned(),
    );
    row(
        "ours, failure, NORMAL",
        fail_n,
        format!(
            "{:.2}x bare UPDATE (target ≤ 1.3x: {})",
            fail_n / upd_n,
            verdict(fail_n / upd_n <= 1.3)
        ),
    );
    row(
        "bare UPDATE, 2 writers",
        upd_2w,
        "floor: two connections in turn (NORMAL)".to_owned(),
    );
    row(
        "ours, failure, 2 writers",
        fail_2w,
        format!(
            "{:.2}x its floor (two breakers in turn; each call follows the other's commit)",
            fail_2w / upd_2w
        ),
    );
    row(
        "bare UPDATE, FULL",
        upd_f,
        "durability floor (WAL, FULL)".to_owned(),
    );
    row(
        "ours, failure, FULL",
        fail_f,
        format!(
            "{:.2}x bare UPDATE (target ≤ 1.3x: {})",
            fail_f / upd_f,
            verdict(fail_f / upd_f <= 1.3)
        ),
    );
    println!("{:-<96}", "");
    println!(
        "database changed, as another connection sees it (background batch writer idle): \
         {checked} healthy calls: {}; {checked} rejected calls: {}; 1 failing call: {}",
        yes_no(healthy_commits),
        yes_no(rejected_commits),
        yes_no(failing_commits)
    );
}

/// `--spin CASE` runs one of our cases in a loop for a few seconds, for a profiler
/// (`perf record`, `valgrind --tool=callgrind`) to look at.
fn spin(f: &mut Fixture, case: &str, seconds: u64) {
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut calls = 0u64;
    while Instant::now() < until {
        for _ in 0..100 {
            match case {
                "healthy" => healthy_call(&f.ours_normal),
                "rejected" => rejected_call(&f.ours_normal),
                "failure" => failing_call(&f.ours_normal),
                "update" => f.floor_normal.update(),
                other => {
                    panic!("--spin takes healthy, rejected, failure or update, not {other}")
                }
            }
        }
        calls += 100;
    }
    println!("{case}: {calls} calls in {seconds} s");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let summary_only = args.iter().any(|a| a == "--summary-only");
    let mut fixture = Fixture::new();
    if let Some(i) = args.iter().position(|a| a == "--spin") {
        let case = args.get(i + 1).map_or("healthy", String::as_str);
        let seconds = std::env::var("SPIN_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5);
        spin(&mut fixture, case, seconds);
        return;
    }
    if !summary_only {
        let mut c = Criterion::default()
            .sample_size(30)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .configure_from_args();
        criterion_groups(&mut c, &mut fixture);
        c.final_summary();
    }
    summary(&mut fixture, 15);
}
