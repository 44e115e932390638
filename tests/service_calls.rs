//! The library as a tokio service uses it (issue 13): cancelled and panicking calls, a busy
//! store that neither blocks the executor nor stalls other bookmakers, no failure dropped,
//! and the outcome classifier.

use crate::support::breaker::now_ms;
use crate::support::fixture::TempDb;
use breakerctl::breaker::{CancelPolicy, Outcome, WriteOutcome};
use breakerctl::{BreakerConfig, BreakerState, CallContext, CallError, ProductionCircuitBreaker};
use std::time::{Duration, Instant};

fn ctx() -> CallContext<'static> {
    CallContext::new("deepProbe", 1.0)
}

fn config() -> BreakerConfig {
    BreakerConfig {
        reset_timeout: Duration::from_millis(300),
        busy_timeout: Duration::from_millis(300),
        ..BreakerConfig::default()
    }
}

fn breaker(db: &TempDb, config: BreakerConfig) -> ProductionCircuitBreaker {
    ProductionCircuitBreaker::builder()
        .config(config)
        .open(&db.path)
        .expect("open breaker")
}

fn failures(cb: &ProductionCircuitBreaker, name: &str) -> f64 {
    cb.get_status(name)
        .expect("status")
        .map_or(0.0, |s| s.failures)
}

fn trip_by_failures(cb: &ProductionCircuitBreaker, name: &str) {
    for _ in 0..10 {
        let _ = cb.call_api(name, &ctx(), || Err::<(), _>("503".to_owned()));
    }
    assert!(cb.get_status(name).expect("status").expect("row").tripped);
}

/// Waits (bounded) until the breaker's writer thread has made its queued writes.
fn settle(cb: &ProductionCircuitBreaker) {
    cb.flush().expect("flush");
    assert_eq!(cb.pending_writes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_probe_releases_its_lease_at_once() {
    let db = TempDb::new();
    let cb = breaker(&db, config());
    trip_by_failures(&cb, "bk");
    tokio::time::sleep(Duration::from_millis(350)).await;
    // The probe is admitted, then its caller stops waiting.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(100),
        cb.call_api_async("bk", &ctx(), async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok::<_, std::io::Error>(())
        }),
    )
    .await;
    assert!(cancelled.is_err(), "the timeout fired");
    assert_eq!(cb.in_flight(), 0);
    settle(&cb);
    let row = db
        .library()
        .rows()
        .expect("rows")
        .into_iter()
        .find(|r| r.bookmaker == "bk")
        .expect("row");
    assert_eq!(row.probe_owner, None, "lease released");
    assert_eq!(row.probe_lease_until, None);
    assert!(
        row.tripped,
        "still tripped: a cancelled probe is no verdict"
    );
    // The very next call is the probe (it was 30 s before).
    let next = cb
        .call_api_async("bk", &ctx(), async { Ok::<_, std::io::Error>("up") })
        .await;
    assert_eq!(next.expect("the next call probes and closes"), "up");
    let status = cb.get_status("bk").expect("status").expect("row");
    assert_eq!(status.state, BreakerState::Closed);
    let actions: Vec<String> = cb
        .audit(&Default::default())
        .expect("audit")
        .into_iter()
        .rev()
        .filter_map(|r| r.action)
        .collect();
    assert_eq!(actions, ["TRIP", "PROBE_START", "PROBE_START", "CLOSE"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_calls_count_as_timeouts_and_trip_the_breaker() {
    let db = TempDb::new();
    let cb = breaker(&db, config());
    for _ in 0..20 {
        let r = tokio::time::timeout(
            Duration::from_millis(20),
            cb.call_api_async("slow", &ctx(), async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                Ok::<_, std::io::Error>(())
            }),
        )
        .await;
        assert!(r.is_err());
    }
    settle(&cb);
    assert_eq!(cb.in_flight(), 0);
    let status = cb.get_status("slow").expect("status").expect("a row");
    assert!(
        status.tripped,
        "twenty cancelled calls weigh 10: {status:?}"
    );
    assert_eq!(status.failures, 10.0);
    // With CancelPolicy::Ignore they count for nothing.
    let quiet = ProductionCircuitBreaker::builder()
        .config(config())
        .cancel_policy(CancelPolicy::Ignore)
        .open(&db.path)
        .expect("open");
    for _ in 0..5 {
        let _ = tokio::time::timeout(
            Duration::from_millis(10),
            quiet.call_api_async("ignored", &ctx(), async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok::<_, std::io::Error>(())
            }),
        )
        .await;
    }
    settle(&quiet);
    assert_eq!(failures(&quiet, "ignored"), 0.0);
}

#[test]
fn a_panicking_probe_releases_its_lease() {
    let db = TempDb::new();
    let cb = breaker(&db, config());
    trip_by_failures(&cb, "bk");
    std::thread::sleep(Duration::from_millis(350));
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = cb.call_api("bk", &ctx(), || -> Result<(), String> {
            panic!("bug in the caller")
        });
    }));
    assert!(panicked.is_err());
    assert_eq!(cb.in_flight(), 0);
    settle(&cb);
    // The next call probes at once.
    let r = cb.call_api("bk", &ctx(), || Ok::<_, String>(1));
    assert_eq!(r.expect("probe admitted and closes"), 1);
}

/// Another process holds the write lock: a failure waits on it on the writer thread, and
/// neither the executor nor a call to another bookmaker waits with it.
#[test]
fn a_busy_store_blocks_neither_the_executor_nor_other_bookmakers() {
    let db = TempDb::new();
    let cb = breaker(
        &db,
        BreakerConfig {
            busy_timeout: Duration::from_secs(2),
            ..config()
        },
    );
    // Warm the cache for both.
    cb.call_api("a", &ctx(), || Ok::<_, String>(())).expect("a");
    cb.call_api("b", &ctx(), || Ok::<_, String>(())).expect("b");
    let holder = db.conn();
    holder
        .execute_batch("BEGIN IMMEDIATE")
        .expect("hold the write lock");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let (slept, healthy_b, failing_a) = runtime.block_on(async {
        let started = Instant::now();
        let c = ctx();
        let a = cb.call_api_async("a", &c, async {
            Err::<(), _>(std::io::Error::other("503"))
        });
        let tick = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let slept = started.elapsed();
            let b0 = Instant::now();
            let b = cb.call_api("b", &ctx(), || Ok::<_, String>(()));
            (slept, b0.elapsed(), b)
        };
        let (a, (slept, b_took, b)) = tokio::join!(a, tick);
        assert!(b.is_ok());
        assert!(matches!(a, Err(CallError::Upstream(_))));
        (slept, b_took, started.elapsed())
    });
    // One thread ran all of it: the 10 ms sleep woke while A's write waited for the lock.
    assert!(
        slept < Duration::from_millis(1000),
        "executor blocked: {slept:?}"
    );
    assert!(
        healthy_b < Duration::from_millis(500),
        "b stalled: {healthy_b:?}"
    );
    assert!(failing_a >= Duration::from_millis(10));
    holder.execute_batch("ROLLBACK").expect("release");
    settle(&cb);
    assert_eq!(
        failures(&cb, "a"),
        1.0,
        "A's failure was written once the lock went"
    );
}

/// A failure the store cannot take within the busy timeout is kept, said, and written later.
#[test]
fn a_failure_past_the_busy_timeout_is_kept_and_written_later() {
    let db = TempDb::new();
    let cb = breaker(&db, config());
    cb.call_api("bk", &ctx(), || Ok::<_, String>(()))
        .expect("warm");
    let holder = db.conn();
    holder
        .execute_batch("BEGIN IMMEDIATE")
        .expect("hold the write lock");
    let r = cb.call_api("bk", &ctx(), || Err::<(), _>("boom".to_owned()));
    assert!(matches!(r, Err(CallError::Upstream(_))));
    assert_eq!(
        cb.pending_writes(),
        1,
        "the failure waits, it is not dropped"
    );
    assert_eq!(
        cb.record_failure("bk", "second").expect("kept"),
        WriteOutcome::Pending
    );
    assert_eq!(cb.pending_writes(), 2);
    holder.execute_batch("ROLLBACK").expect("release");
    settle(&cb);
    assert_eq!(failures(&cb, "bk"), 2.0, "both, in order");
}

#[test]
fn the_classifier_decides_what_counts() {
    let db = TempDb::new();
    let cb = breaker(&db, config());
    // Ten 404s are not the upstream's fault.
    for _ in 0..10 {
        let r = cb.call_api_with(
            "bk",
            &ctx(),
            || Err::<(), _>(404u16),
            |r| match r {
                Err(404) => Outcome::Ignored,
                _ => Outcome::Failure,
            },
        );
        assert!(matches!(r, Err(CallError::Upstream(404))));
    }
    assert_eq!(failures(&cb, "bk"), 0.0);
    // An I/O timeout weighs 0.5 by the default rule, whatever its message says.
    let _ = cb.call_api("bk", &ctx(), || {
        Err::<(), _>(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no answer",
        ))
    });
    assert_eq!(failures(&cb, "bk"), 0.5);
    // An Ok classified as a failure (a 503 the client returned as a response) counts, and
    // the caller still gets its value.
    let r = cb.call_api_with(
        "bk",
        &ctx(),
        || Ok::<_, String>(503),
        |r| match r {
            Ok(503) => Outcome::Failure,
            _ => Outcome::Success,
        },
    );
    assert_eq!(r.expect("value returned"), 503);
    assert_eq!(failures(&cb, "bk"), 1.5);
    // An ignored error does not reset the count as a success would.
    let _ = cb.call_api_with("bk", &ctx(), || Err::<(), _>(409u16), |_| Outcome::Ignored);
    assert_eq!(failures(&cb, "bk"), 1.5);
    let _ = now_ms();
}

#[tokio::test]
async fn a_rejected_async_call_builds_no_future() {
    let db = TempDb::new();
    let cb = breaker(&db, config());
    cb.trip("bk", "maintenance", "ops").expect("trip");
    let mut built = false;
    let r = cb
        .call_api_async_with(
            "bk",
            &ctx(),
            || {
                built = true;
                async { Ok::<_, std::io::Error>(()) }
            },
            breakerctl::breaker::default_outcome,
        )
        .await;
    assert!(matches!(r, Err(CallError::Tripped { .. })));
    assert!(!built, "nothing was built for a rejected call");
}

#[test]
fn clones_share_one_breaker() {
    let db = TempDb::new();
    let cb = breaker(&db, config());
    let clone = cb.clone();
    let _ = clone.call_api("bk", &ctx(), || Err::<(), _>("503".to_owned()));
    assert_eq!(failures(&cb, "bk"), 1.0);
    drop(cb);
    // The clone still works after the original is gone.
    clone
        .call_api("bk", &ctx(), || Ok::<_, String>(()))
        .expect("ok");
    assert_eq!(failures(&clone, "bk"), 0.0);
}
