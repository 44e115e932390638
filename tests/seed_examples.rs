//! Every `@example` of the seed's sections 12.1 to 12.4, as a test against a real SQLite file.
//! Each test names the example's number; the seed's TypeScript is paraphrased in a comment.

use crate::support::breaker::*;
use crate::support::fixture::TempDb;
use breakerctl::clock::ManualClock;
use breakerctl::load::FixedLoad;
use breakerctl::metrics::RecordingMetrics;
use breakerctl::storage::{AuditFilter, SCHEMA_VERSION};
use breakerctl::{
    BreakerConfig, BreakerError, BreakerState, CallError, ProductionCircuitBreaker, ResetOptions,
};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The seed's `TimeoutError(5000, 'Request timeout')`.
#[derive(Debug, PartialEq)]
struct TimeoutError {
    after_ms: u64,
    message: String,
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

// seed 12.1.1.1.1.0.0: `new ProductionCircuitBreaker(db, metrics)` on a new file creates the
// tables circuit_breaker_state and circuit_breaker_audit.
#[test]
fn seed_12_1_1_1_1_database_initialization() {
    let db = TempDb::empty();
    let nested = db.dir.path().join("data").join("circuit_breaker.db");
    assert!(!nested.exists());
    let cb = ProductionCircuitBreaker::open(&nested, BreakerConfig::default()).expect("open");
    assert!(nested.is_file(), "the file and its folder are created");
    drop(cb);

    let conn = rusqlite::Connection::open(&nested).expect("sqlite");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(
        tables.contains(&"circuit_breaker_state".to_owned()),
        "{tables:?}"
    );
    assert!(
        tables.contains(&"circuit_breaker_audit".to_owned()),
        "{tables:?}"
    );
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version");
    assert_eq!(version, SCHEMA_VERSION);
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM circuit_breaker_state", [], |r| {
            r.get(0)
        })
        .expect("count");
    assert_eq!(rows, 0, "a new database tracks no bookmaker");
}

// seed 12.1.1.1.1.1.0: a metrics client with `counter` and `gauge` is accepted and receives
// the breaker's events.
#[test]
fn seed_12_1_1_1_1_1_metrics_integration() {
    let (_db, _clock, metrics, cb) = setup();
    assert!(metrics.samples().is_empty(), "opening records nothing");
    cb.trip("draftkings", "metrics check", "tester")
        .expect("trip");
    let samples = metrics.samples();
    let tripped_gauge = samples
        .iter()
        .find(|s| s.kind == "gauge" && s.name == "circuit_breaker_tripped")
        .expect("tripped gauge recorded");
    assert_eq!(tripped_gauge.value, 1.0);
    assert_eq!(
        tripped_gauge.labels,
        vec![("bookmaker".to_owned(), "draftkings".to_owned())]
    );
}

// seed 12.1.1.1.2.1.0: `new ProductionCircuitBreaker(db, metrics, 5, 30000, 30000)` trips at 5
// failures, re-tests after 30 s and allows a reset 30 s after the trip.
#[test]
fn seed_12_1_1_1_2_1_custom_thresholds() {
    let db = TempDb::empty();
    let clock = ManualClock::new(T0);
    let metrics = Arc::new(RecordingMetrics::default());
    let config = BreakerConfig {
        failure_threshold: 5.0,
        reset_timeout: Duration::from_millis(30_000),
        cooldown: Duration::from_millis(30_000),
        ..seed_config()
    };
    let cb = open_manual(&db.path, config, &clock, &metrics);
    assert_eq!(cb.config().failure_threshold, 5.0);
    assert_eq!(cb.rules().reset_timeout_ms, 30_000);
    assert_eq!(cb.rules().cooldown_ms, 30_000);

    for i in 0..4 {
        cb.record_failure("draftkings", &format!("Error {i}"))
            .expect("failure");
    }
    let s = cb.get_status("draftkings").expect("status").expect("known");
    assert!(!s.tripped, "4 failures stay under a threshold of 5");
    assert_eq!(s.failure_threshold, 5.0);
    cb.record_failure("draftkings", "Error 4").expect("failure");
    let s = cb.get_status("draftkings").expect("status").expect("known");
    assert!(s.tripped);
    assert_eq!(s.state, BreakerState::Open);

    clock.advance(Duration::from_millis(29_999));
    assert_eq!(
        cb.get_status("draftkings").unwrap().unwrap().state,
        BreakerState::Open
    );
    match cb.reset(
        "draftkings",
        ResetOptions {
            reason: Some("r"),
            user: "op",
            force: false,
        },
    ) {
        Err(BreakerError::CooldownActive {
            remaining,
            cooldown,
            ..
        }) => {
            assert_eq!(remaining, Duration::from_millis(1));
            assert_eq!(cooldown, Duration::from_secs(30));
        }
        other => panic!("expected a cooldown denial, got {other:?}"),
    }
    clock.advance(Duration::from_millis(1));
    assert_eq!(
        cb.get_status("draftkings").unwrap().unwrap().state,
        BreakerState::HalfOpen
    );
    let s = cb
        .reset(
            "draftkings",
            ResetOptions {
                reason: Some("r"),
                user: "op",
                force: false,
            },
        )
        .expect("reset allowed after 30 s");
    assert!(!s.tripped);
}

// seed 12.1.2.1.1.0: after `trip('draftkings')`, callApi throws CircuitBreakerTrippedError
// without calling fn, and circuit_breaker_rejected is incremented.
#[test]
fn seed_12_1_2_1_1_immediate_rejection_when_tripped() {
    let (_db, _clock, metrics, cb) = setup();
    cb.trip("draftkings", "Manual trip for testing", "tester")
        .expect("trip");
    let ran = AtomicUsize::new(0);
    let result = cb.call_api("draftkings", &ctx("test", 10.0), || {
        ran.fetch_add(1, Ordering::SeqCst);
        Ok::<_, String>("markets")
    });
    match result {
        Err(CallError::Tripped {
            bookmaker,
            operation,
            state,
        }) => {
            assert_eq!(bookmaker, "draftkings");
            assert_eq!(operation, "test");
            assert_eq!(state, BreakerState::ForcedOpen);
        }
        other => panic!("expected CallError::Tripped, got {other:?}"),
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the upstream is not called");
    assert_eq!(
        metrics.counter_total(
            "circuit_breaker_rejected_total",
            &[
                ("bookmaker", "draftkings"),
                ("operation", "test"),
                ("reason", "tripped")
            ]
        ),
        1.0
    );
    assert_eq!(counter(&cb, "draftkings", Some("test"), "tripped"), 1);
}

// seed 12.1.2.2.1.0: with getSystemLoad() = 0.9, an operation of estimatedLoad 200 throws
// LoadShedError, and circuit_breaker_rejected{reason="load_shed"} is incremented.
#[test]
fn seed_12_1_2_2_1_load_shedding() {
    let db = TempDb::empty();
    let metrics = Arc::new(RecordingMetrics::default());
    let cb = ProductionCircuitBreaker::builder()
        .config(seed_config())
        .metrics(metrics.clone())
        .load_monitor(Arc::new(FixedLoad(0.9)))
        .open(&db.path)
        .expect("open");
    let ran = AtomicUsize::new(0);
    let result = cb.call_api("draftkings", &ctx("high_load_op", 200.0), || {
        ran.fetch_add(1, Ordering::SeqCst);
        Ok::<_, String>(())
    });
    match result {
        Err(CallError::LoadShed {
            bookmaker,
            operation,
            system_load,
        }) => {
            assert_eq!(bookmaker, "draftkings");
            assert_eq!(operation, "high_load_op");
            assert_eq!(system_load, 0.9);
        }
        other => panic!("expected CallError::LoadShed, got {other:?}"),
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(
        metrics.counter_total(
            "circuit_breaker_rejected_total",
            &[
                ("bookmaker", "draftkings"),
                ("operation", "high_load_op"),
                ("reason", "load_shed")
            ]
        ),
        1.0
    );
    assert_eq!(
        counter(&cb, "draftkings", Some("high_load_op"), "load_shed"),
        1
    );
}

// seed 12.1.2.3.1.0: a successful callApi returns fn's value, resets failure_count to 0 and
// updates avg_latency in the database.
#[test]
fn seed_12_1_2_3_1_success_recording() {
    let (db, _clock, _metrics, cb) = setup();
    cb.record_failure("draftkings", "earlier failure")
        .expect("failure");
    cb.record_timeout("draftkings", "earlier timeout")
        .expect("timeout");
    assert_eq!(failures(&cb, "draftkings"), 1.5);

    #[derive(Debug, PartialEq)]
    struct Data {
        data: &'static str,
    }
    let result = cb.call_api("draftkings", &ctx("test", 10.0), || {
        std::thread::sleep(Duration::from_millis(5));
        Ok::<_, String>(Data { data: "success" })
    });
    assert_eq!(result.expect("success"), Data { data: "success" });
    let s = cb.get_status("draftkings").expect("status").expect("known");
    assert_eq!(s.failures, 0.0);
    let latency = s.avg_latency.expect("latency recorded");
    assert!((5.0..5_000.0).contains(&latency), "{latency}");

    // And in the file itself, as another reader sees it.
    let conn = rusqlite::Connection::open(&db.path).expect("sqlite");
    let (count, stored): (f64, Option<f64>) = conn
        .query_row(
            "SELECT failure_count, avg_latency FROM circuit_breaker_state WHERE bookmaker = 'draftkings'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row");
    assert_eq!(count, 0.0);
    assert_eq!(stored, Some(latency));
}

// seed 12.1.2.4.1.0: a TimeoutError from fn is re-thrown and counts 0.5, not 1.0.
#[test]
fn seed_12_1_2_4_1_timeout_handling() {
    let (_db, _clock, _metrics, cb) = setup();
    let result: Result<(), _> = cb.call_api("draftkings", &ctx("test", 10.0), || {
        Err(TimeoutError {
            after_ms: 5000,
            message: "Request timeout".to_owned(),
        })
    });
    let err = result
        .expect_err("the timeout comes back")
        .into_upstream()
        .expect("upstream");
    assert_eq!(
        err,
        TimeoutError {
            after_ms: 5000,
            message: "Request timeout".to_owned()
        }
    );
    let s = cb.get_status("draftkings").expect("status").expect("known");
    assert_eq!(s.failures, 0.5);
    assert_eq!(s.last_error.as_deref(), Some("Request timeout"));
}

// seed 12.1.2.4.2.0: any other error from fn is re-thrown and counts 1.0.
#[test]
fn seed_12_1_2_4_2_hard_failure_handling() {
    let (_db, _clock, _metrics, cb) = setup();
    let result: Result<(), _> = cb.call_api("draftkings", &ctx("test", 10.0), || {
        Err("500 Internal Server Error".to_owned())
    });
    match result {
        Err(CallError::Upstream(e)) => assert_eq!(e, "500 Internal Server Error"),
        other => panic!("expected the upstream error, got {other:?}"),
    }
    let s = cb.get_status("draftkings").expect("status").expect("known");
    assert_eq!(s.failures, 1.0);
    assert_eq!(s.last_error.as_deref(), Some("500 Internal Server Error"));
    assert_eq!(s.last_failure_at, Some(T0));
}

// seed 12.2.1.1.0: a trip made by one breaker is seen by a new breaker on the same database
// (process restart).
#[test]
fn seed_12_2_1_1_state_persistence() {
    let db = TempDb::empty();
    let breaker1 = ProductionCircuitBreaker::open(&db.path, seed_config()).expect("open 1");
    breaker1
        .trip("draftkings", "Test trip", "tester")
        .expect("trip");
    drop(breaker1);
    let breaker2 = ProductionCircuitBreaker::builder()
        .open_existing(&db.path)
        .expect("open 2");
    let status = breaker2
        .get_status("draftkings")
        .expect("status")
        .expect("known");
    assert!(status.tripped);
    assert_eq!(status.state, BreakerState::ForcedOpen);
    assert_eq!(status.trip_count, 1);
}

// seed 12.2.2.1.0: ten recordFailure calls give failures 10, tripped, tripCount 1.
#[test]
fn seed_12_2_2_1_failure_recording() {
    let (_db, _clock, _metrics, cb) = setup();
    for i in 0..10 {
        cb.record_failure("draftkings", &format!("Error {i}"))
            .expect("failure");
    }
    let status = cb.get_status("draftkings").expect("status").expect("known");
    assert_eq!(status.failures, 10.0);
    assert!(status.tripped);
    assert_eq!(status.trip_count, 1);
    assert_eq!(status.state, BreakerState::Open);
    assert_eq!(status.last_error.as_deref(), Some("Error 9"));
}

// seed 12.2.3.1.0: a timeout through callApi is re-thrown and leaves failures at 0.5.
#[test]
fn seed_12_2_3_1_timeout_recording() {
    let (_db, _clock, _metrics, cb) = setup();
    let result: Result<(), _> = cb.call_api("draftkings", &ctx("test", 10.0), || {
        Err(TimeoutError {
            after_ms: 5000,
            message: "Request timeout".to_owned(),
        })
    });
    assert!(matches!(
        result,
        Err(CallError::Upstream(TimeoutError { after_ms: 5000, .. }))
    ));
    let status = cb.get_status("draftkings").expect("status").expect("known");
    assert_eq!(status.failures, 0.5);
    assert!(!status.tripped);
}

// seed 12.2.4.1.0: after a trip, recordSuccess('draftkings', 150) leaves failures 0 and the
// first success sets avgLatency to exactly 150.
#[test]
fn seed_12_2_4_1_success_recording() {
    let (_db, _clock, _metrics, cb) = setup();
    cb.record_failure("draftkings", "before the trip")
        .expect("failure");
    cb.trip("draftkings", "Test trip", "tester").expect("trip");
    cb.record_success("draftkings", Duration::from_millis(150))
        .expect("success");
    let status = cb.get_status("draftkings").expect("status").expect("known");
    assert_eq!(status.failures, 0.0);
    assert_eq!(status.avg_latency, Some(150.0));
    // A success outside a probe does not close a tripped breaker.
    assert!(status.tripped);
}

// seed 12.2.5.1.0: getStatus returns every field, or nothing for an untracked bookmaker.
#[test]
fn seed_12_2_5_1_status_retrieval() {
    let (_db, clock, _metrics, cb) = setup();
    assert_eq!(cb.get_status("draftkings").expect("status"), None);
    cb.record_failure("draftkings", "503 Service Unavailable")
        .expect("failure");
    clock.advance(Duration::from_millis(10));
    cb.record_success("draftkings", Duration::from_millis(80))
        .expect("success");
    clock.advance(Duration::from_millis(10));
    cb.record_failure("draftkings", "502 Bad Gateway")
        .expect("failure");
    let s = cb.get_status("draftkings").expect("status").expect("known");
    assert_eq!(s.bookmaker, "draftkings");
    assert!(!s.tripped);
    assert_eq!(s.failures, 1.0);
    assert_eq!(s.failure_threshold, 10.0);
    assert_eq!(s.last_error.as_deref(), Some("502 Bad Gateway"));
    assert_eq!(s.avg_latency, Some(80.0));
    assert_eq!(s.last_failure_at, Some(T0 + 20));
    assert_eq!(s.trip_count, 0);
    assert_eq!(s.last_reset_at, None);
    assert_eq!(s.last_reset_by, None);
    assert_eq!(s.last_reset_reason, None);
    assert_eq!(s.state, BreakerState::Closed);
    assert_eq!(s.last_success_at, Some(T0 + 10));
}

// seed 12.3.1.1.0: after a trip the metrics text contains
// `circuit_breaker_tripped{bookmaker="draftkings"} 1`. The HTTP route is covered by
// tests/serve_http.rs; here the text is rendered from the database, as `metrics` does.
#[test]
fn seed_12_3_1_1_metrics_exposure() {
    let (_db, _clock, _metrics, cb) = setup();
    cb.record_failure("fanduel", "still healthy")
        .expect("failure");
    cb.trip("draftkings", "Test trip", "tester").expect("trip");
    let _ = cb.call_api("draftkings", &ctx("test", 1.0), || Ok::<_, String>(()));
    let text = breakerctl::exposition::render_database(&cb).expect("render");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.contains(&r#"circuit_breaker_tripped{bookmaker="draftkings"} 1"#),
        "{text}"
    );
    assert!(
        lines.contains(&r#"circuit_breaker_tripped{bookmaker="fanduel"} 0"#),
        "{text}"
    );
}

// seed 12.3.2.1.0 (`promtool check rules alerts/circuit-breaker.yml`) is covered by
// tests/alerts.rs, which runs promtool against docs/alerts/.

// seed 12.4.1.1.0: a reset within the cooldown is denied ("Reset denied: fanduel tripped <60s
// ago"); a forced reset with a reason succeeds and is audited.
#[test]
fn seed_12_4_1_1_cooldown_enforcement() {
    let (_db, clock, _metrics, cb) = setup();
    cb.trip("fanduel", "Test trip", "tester").expect("trip");
    clock.advance(Duration::from_secs(30));
    let err = cb
        .reset(
            "fanduel",
            ResetOptions {
                reason: Some("Test reset"),
                user: "alice",
                force: false,
            },
        )
        .expect_err("inside the cooldown");
    let message = err.to_string();
    assert!(
        message
            .to_lowercase()
            .starts_with("reset denied: fanduel tripped 30s ago"),
        "{message}"
    );
    match err {
        BreakerError::CooldownActive {
            bookmaker,
            elapsed,
            remaining,
            cooldown,
            from,
        } => {
            assert_eq!(from, breakerctl::machine::CooldownFrom::Trip);
            assert_eq!(bookmaker, "fanduel");
            assert_eq!(elapsed, Duration::from_secs(30));
            assert_eq!(remaining, Duration::from_secs(30));
            assert_eq!(cooldown, Duration::from_secs(60));
        }
        other => panic!("expected CooldownActive, got {other:?}"),
    }
    assert!(
        cb.get_status("fanduel").unwrap().unwrap().tripped,
        "still tripped"
    );

    let s = cb
        .reset(
            "fanduel",
            ResetOptions {
                reason: Some("Emergency override"),
                user: "alice",
                force: true,
            },
        )
        .expect("forced reset");
    assert!(!s.tripped);
    assert_eq!(s.state, BreakerState::Closed);
    assert_eq!(s.last_reset_by.as_deref(), Some("alice"));
    assert_eq!(s.last_reset_reason.as_deref(), Some("Emergency override"));
    let audit = audit_of(&cb, "fanduel");
    let last = audit.last().expect("audit rows");
    assert_eq!(last.action.as_deref(), Some("RESET"));
    assert_eq!(last.reason.as_deref(), Some("Emergency override"));
    assert_eq!(last.user.as_deref(), Some("alice"));
    assert!(last.forced);
}

// seed 12.4.2.1.0: a manual trip leaves the breaker tripped and writes an audit row.
#[test]
fn seed_12_4_2_1_manual_trip() {
    let (_db, _clock, _metrics, cb) = setup();
    let s = cb
        .trip("draftkings", "Scheduled maintenance window", "ops-bot")
        .expect("trip");
    assert!(s.tripped);
    let status = cb.get_status("draftkings").expect("status").expect("known");
    assert!(status.tripped);
    assert_eq!(status.state, BreakerState::ForcedOpen);
    let rows = cb
        .audit(&AuditFilter {
            bookmaker: Some("draftkings".to_owned()),
            action: Some("TRIP".to_owned()),
            ..AuditFilter::default()
        })
        .expect("audit");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].reason.as_deref(),
        Some("Scheduled maintenance window")
    );
    assert_eq!(rows[0].user.as_deref(), Some("ops-bot"));
    assert_eq!(rows[0].timestamp, Some(T0));
}

// seed 12.4.3.1.0: statusAll lists every tracked bookmaker, draftkings and fanduel tripped.
#[test]
fn seed_12_4_3_1_status_all() {
    let (_db, _clock, _metrics, cb) = setup();
    cb.record_failure("betmgm", "one failure").expect("failure");
    cb.trip("draftkings", "Test", "tester").expect("trip");
    cb.trip("fanduel", "Test", "tester").expect("trip");
    let all = cb.status_all().expect("status_all");
    let names: Vec<&str> = all.iter().map(|s| s.bookmaker.as_str()).collect();
    assert_eq!(names, ["betmgm", "draftkings", "fanduel"]);
    let tripped: Vec<(&str, bool)> = all
        .iter()
        .map(|s| (s.bookmaker.as_str(), s.tripped))
        .collect();
    assert_eq!(
        tripped,
        [("betmgm", false), ("draftkings", true), ("fanduel", true)]
    );
}
