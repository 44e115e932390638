//! The precise semantics of the breaker, one behaviour per test, against a real SQLite
//! file and a manual clock.

use crate::support::breaker::*;
use crate::support::executor::{YieldOnce, block_on};
use crate::support::fixture::TempDb;
use breakerctl::load::{FixedLoad, SettableLoad};
use breakerctl::metrics::RecordingMetrics;
use breakerctl::{BreakerError, BreakerState, CallError, ProductionCircuitBreaker, ResetOptions};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const BK: &str = "draftkings";

fn fail(cb: &ProductionCircuitBreaker, message: &str) -> Result<(), CallError<String>> {
    cb.call_api(BK, &ctx("probe_api", 10.0), || {
        Err::<(), _>(message.to_owned())
    })
}

fn state(cb: &ProductionCircuitBreaker) -> BreakerState {
    cb.get_status(BK).expect("status").expect("known").state
}

fn reset<'a>(reason: Option<&'a str>, user: &'a str, force: bool) -> ResetOptions<'a> {
    ResetOptions {
        reason,
        user,
        force,
    }
}

#[test]
fn ten_hard_failures_trip_nine_do_not() {
    let (_db, _clock, _m, cb) = setup();
    for i in 0..9 {
        assert!(
            matches!(fail(&cb, "500"), Err(CallError::Upstream(_))),
            "call {i}"
        );
    }
    let s = cb.get_status(BK).unwrap().unwrap();
    assert_eq!((s.failures, s.tripped, s.trip_count), (9.0, false, 0));
    assert!(matches!(fail(&cb, "500"), Err(CallError::Upstream(_))));
    let s = cb.get_status(BK).unwrap().unwrap();
    assert_eq!((s.failures, s.tripped, s.trip_count), (10.0, true, 1));
    assert_eq!(s.state, BreakerState::Open);
    // The next call is rejected without running.
    assert!(matches!(
        fail(&cb, "500"),
        Err(CallError::Tripped {
            state: BreakerState::Open,
            ..
        })
    ));
    assert_eq!(
        failures(&cb, BK),
        10.0,
        "a rejected call records no failure"
    );
}

#[test]
fn nineteen_timeouts_do_not_trip_twenty_do() {
    let (_db, _clock, _m, cb) = setup();
    for _ in 0..19 {
        cb.record_timeout(BK, "upstream timeout").expect("timeout");
    }
    let s = cb.get_status(BK).unwrap().unwrap();
    assert_eq!((s.failures, s.tripped), (9.5, false));
    cb.record_timeout(BK, "upstream timeout").expect("timeout");
    let s = cb.get_status(BK).unwrap().unwrap();
    assert_eq!((s.failures, s.tripped, s.trip_count), (10.0, true, 1));

    // The same through call_api, classified by message.
    let (_db, _clock, _m, cb) = setup();
    for _ in 0..19 {
        let _ = fail(&cb, "Request timeout");
    }
    assert_eq!(failures(&cb, BK), 9.5);
    assert!(!cb.get_status(BK).unwrap().unwrap().tripped);
    let _ = fail(&cb, "Request timeout");
    assert!(cb.get_status(BK).unwrap().unwrap().tripped);
}

#[test]
fn a_failure_after_the_window_starts_afresh() {
    let (_db, clock, _m, cb) = setup();
    let window = cb.config().failure_window;
    assert_eq!(window, Duration::from_secs(60));
    cb.record_failure(BK, "a").unwrap();
    cb.record_failure(BK, "b").unwrap();
    assert_eq!(failures(&cb, BK), 2.0);
    // Exactly one window later still counts.
    clock.advance(window);
    cb.record_timeout(BK, "c timeout").unwrap();
    assert_eq!(failures(&cb, BK), 2.5);
    // More than a window after the previous failure: afresh.
    clock.advance(window + Duration::from_millis(1));
    cb.record_failure(BK, "d").unwrap();
    assert_eq!(failures(&cb, BK), 1.0);
    clock.advance(window + Duration::from_millis(1));
    cb.record_timeout(BK, "e timeout").unwrap();
    assert_eq!(failures(&cb, BK), 0.5);
    // Nine failures spread so that each is within the window of the previous one add up,
    // however long the whole run lasts.
    for _ in 0..9 {
        clock.advance(Duration::from_secs(59));
        cb.record_failure(BK, "slow drip").unwrap();
    }
    let s = cb.get_status(BK).unwrap().unwrap();
    assert_eq!(s.failures, 9.5);
    assert!(!s.tripped);
    clock.advance(Duration::from_secs(59));
    cb.record_failure(BK, "slow drip").unwrap();
    assert!(cb.get_status(BK).unwrap().unwrap().tripped);
}

#[test]
fn success_zeroes_failures_and_first_latency_is_exact() {
    let (_db, clock, _m, cb) = setup();
    for _ in 0..7 {
        cb.record_failure(BK, "500").unwrap();
    }
    cb.record_success(BK, Duration::from_millis(150)).unwrap();
    let s = cb.get_status(BK).unwrap().unwrap();
    assert_eq!(s.failures, 0.0);
    assert_eq!(s.avg_latency, Some(150.0));
    assert_eq!(s.last_success_at, Some(T0));
    // Later samples move the average (exponential, smoothing 0.1).
    clock.advance(Duration::from_millis(5));
    cb.record_success(BK, Duration::from_millis(250)).unwrap();
    let s = cb.get_status(BK).unwrap().unwrap();
    assert!(
        (s.avg_latency.unwrap() - 160.0).abs() < 1e-9,
        "{:?}",
        s.avg_latency
    );
    assert_eq!(s.last_success_at, Some(T0 + 5));
    // A new failure after the success counts from zero.
    cb.record_failure(BK, "500").unwrap();
    assert_eq!(failures(&cb, BK), 1.0);
}

/// An upstream error that is neither `Clone` nor `Copy`: it can only come back by value.
#[derive(Debug)]
struct UpstreamFault {
    status: u16,
    body: String,
    payload: Box<[u8; 64]>,
}

impl fmt::Display for UpstreamFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.body)
    }
}

#[test]
fn the_upstream_error_comes_back_unchanged_by_value() {
    let (_db, _clock, _m, cb) = setup();
    let fault = UpstreamFault {
        status: 503,
        body: "maintenance".to_owned(),
        payload: Box::new([7u8; 64]),
    };
    let address = std::ptr::from_ref::<[u8; 64]>(&fault.payload) as usize;
    let result: Result<(), _> = cb.call_api(BK, &ctx("markets", 10.0), move || Err(fault));
    let back = match result {
        Err(CallError::Upstream(e)) => e,
        other => panic!("expected the upstream error, got {other:?}"),
    };
    assert_eq!(back.status, 503);
    assert_eq!(back.body, "maintenance");
    assert_eq!(*back.payload, [7u8; 64]);
    let back_address = std::ptr::from_ref::<[u8; 64]>(&back.payload) as usize;
    assert_eq!(
        back_address, address,
        "the very same value was moved back, not rebuilt"
    );
    let s = cb.get_status(BK).unwrap().unwrap();
    assert_eq!(s.failures, 1.0);
    assert_eq!(s.last_error.as_deref(), Some("HTTP 503: maintenance"));
}

#[test]
fn timeouts_are_classified_by_message_or_by_the_caller() {
    for (message, weight) in [
        ("Request timeout", 0.5),
        ("TIMEOUT after 5000ms", 0.5),
        ("gateway Timeout", 0.5),
        ("ReadTimeoutError", 0.5),
        ("500 Internal Server Error", 1.0),
        ("connection reset", 1.0),
    ] {
        let (_db, _clock, _m, cb) = setup();
        let _ = fail(&cb, message);
        assert_eq!(failures(&cb, BK), weight, "{message}");
    }

    let (_db, _clock, _m, cb) = setup();
    // The caller's classifier overrides the message in both directions.
    let r: Result<(), _> = cb.call_api_classified(
        BK,
        &ctx("markets", 10.0),
        || {
            Err(UpstreamFault {
                status: 504,
                body: "gateway".to_owned(),
                payload: Box::new([0; 64]),
            })
        },
        |e: &UpstreamFault| e.status == 504,
    );
    assert!(matches!(
        r,
        Err(CallError::Upstream(UpstreamFault { status: 504, .. }))
    ));
    assert_eq!(failures(&cb, BK), 0.5);
    let r: Result<(), _> = cb.call_api_classified(
        BK,
        &ctx("markets", 10.0),
        || Err("timeout in the message, but the caller says no".to_owned()),
        |_| false,
    );
    assert!(matches!(r, Err(CallError::Upstream(_))));
    assert_eq!(failures(&cb, BK), 1.5);
}

#[test]
fn load_shedding_only_for_heavy_operations_above_the_threshold() {
    let db = TempDb::empty();
    let metrics = Arc::new(RecordingMetrics::default());
    let load = Arc::new(SettableLoad::new(0.9));
    let cb = ProductionCircuitBreaker::builder()
        .config(seed_config())
        .metrics(metrics.clone())
        .load_monitor(load.clone())
        .open(&db.path)
        .expect("open");
    let ran = AtomicUsize::new(0);
    let call = |op: &str, estimated: f64| {
        cb.call_api(BK, &ctx(op, estimated), || {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(())
        })
    };
    // (load, estimated load, shed?)
    let cases = [
        (0.9, 200.0, true),
        (0.9, 101.0, true),
        (0.9, 100.0, false), // not heavy: 100 is not above 100
        (0.9, 10.0, false),
        (1.0, 0.0, false),
        (0.85, 200.0, false), // the threshold itself is not above it
        (0.851, 200.0, true),
        (0.5, 1000.0, false),
    ];
    let mut shed = 0;
    for (i, (system_load, estimated, want_shed)) in cases.into_iter().enumerate() {
        load.set(system_load);
        let before = ran.load(Ordering::SeqCst);
        let result = call("deep_probe", estimated);
        if want_shed {
            shed += 1;
            match result {
                Err(CallError::LoadShed {
                    system_load: got, ..
                }) => assert_eq!(got, system_load),
                other => panic!("case {i}: expected a load shed, got {other:?}"),
            }
            assert_eq!(ran.load(Ordering::SeqCst), before, "case {i}: not called");
        } else {
            assert!(result.is_ok(), "case {i}: {result:?}");
            assert_eq!(ran.load(Ordering::SeqCst), before + 1, "case {i}: called");
        }
    }
    assert_eq!(counter(&cb, BK, Some("deep_probe"), "load_shed"), shed);
    assert_eq!(counter(&cb, BK, None, "tripped"), 0);
    assert_eq!(
        metrics.counter_total(
            "load_shed_rejected_total",
            &[("bookmaker", BK), ("operation", "deep_probe")]
        ),
        shed as f64
    );
    assert_eq!(
        metrics.counter_total(
            "circuit_breaker_rejected_total",
            &[("bookmaker", BK), ("reason", "load_shed")]
        ),
        shed as f64
    );
    // A load shed is not a failure of the upstream.
    assert_eq!(failures(&cb, BK), 0.0);
}

#[test]
fn a_tripped_breaker_rejects_before_load_shedding() {
    let db = TempDb::empty();
    let metrics = Arc::new(RecordingMetrics::default());
    let cb = ProductionCircuitBreaker::builder()
        .config(seed_config())
        .metrics(metrics.clone())
        .load_monitor(Arc::new(FixedLoad(0.99)))
        .open(&db.path)
        .expect("open");
    cb.trip(BK, "maintenance", "op").unwrap();
    let r = cb.call_api(BK, &ctx("graph_build", 500.0), || Ok::<_, String>(()));
    assert!(matches!(r, Err(CallError::Tripped { .. })), "{r:?}");
    assert_eq!(counter(&cb, BK, Some("graph_build"), "tripped"), 1);
    assert_eq!(counter(&cb, BK, None, "load_shed"), 0);
    assert_eq!(metrics.counter_total("load_shed_rejected_total", &[]), 0.0);
}

#[test]
fn rejections_are_counted_per_operation_in_the_database_and_the_sink() {
    let (_db, _clock, metrics, cb) = setup();
    cb.trip(BK, "maintenance", "op").unwrap();
    for _ in 0..3 {
        let _ = cb.call_api(BK, &ctx("graph_build", 1.0), || Ok::<_, String>(()));
    }
    let _ = cb.call_api(BK, &ctx("micro_bet", 1.0), || Ok::<_, String>(()));
    assert_eq!(counter(&cb, BK, Some("graph_build"), "tripped"), 3);
    assert_eq!(counter(&cb, BK, Some("micro_bet"), "tripped"), 1);
    assert_eq!(
        metrics.counter_total(
            "circuit_breaker_rejected_total",
            &[
                ("bookmaker", BK),
                ("operation", "graph_build"),
                ("reason", "tripped")
            ]
        ),
        3.0
    );
    assert_eq!(
        metrics.counter_total("circuit_breaker_rejected_total", &[("reason", "tripped")]),
        4.0
    );
}

fn trip_automatically(cb: &ProductionCircuitBreaker) {
    for _ in 0..10 {
        let _ = fail(cb, "500");
    }
    assert_eq!(state(cb), BreakerState::Open);
}

#[test]
fn half_open_lets_exactly_one_probe_through_and_success_closes() {
    let (db, clock, metrics, cb) = setup();
    // A second breaker (as in another process) on the same file and clock.
    let other = open_manual(&db.path, seed_config(), &clock, &metrics);
    trip_automatically(&cb);
    let reset_timeout = cb.config().reset_timeout;

    clock.advance(reset_timeout - Duration::from_millis(1));
    assert_eq!(state(&cb), BreakerState::Open);
    let r = cb.call_api(BK, &ctx("probe_api", 1.0), || Ok::<_, String>(()));
    assert!(
        matches!(
            r,
            Err(CallError::Tripped {
                state: BreakerState::Open,
                ..
            })
        ),
        "{r:?}"
    );

    clock.advance(Duration::from_millis(1));
    assert_eq!(state(&cb), BreakerState::HalfOpen);
    let ran = AtomicUsize::new(0);
    let result = cb.call_api(BK, &ctx("probe_api", 1.0), || {
        ran.fetch_add(1, Ordering::SeqCst);
        // While the probe runs, every other call is rejected, from this breaker and from
        // another one on the same file.
        let same = cb.call_api(BK, &ctx("probe_api", 1.0), || {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(())
        });
        assert!(
            matches!(
                same,
                Err(CallError::Tripped {
                    state: BreakerState::HalfOpen,
                    ..
                })
            ),
            "{same:?}"
        );
        let elsewhere = other.call_api(BK, &ctx("probe_api", 1.0), || {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(())
        });
        assert!(
            matches!(
                elsewhere,
                Err(CallError::Tripped {
                    state: BreakerState::HalfOpen,
                    ..
                })
            ),
            "{elsewhere:?}"
        );
        let status = other.get_status(BK).unwrap().unwrap();
        assert!(status.probe_in_flight);
        assert_eq!(status.state, BreakerState::HalfOpen);
        Ok::<_, String>("fresh markets")
    });
    assert_eq!(result.expect("the probe succeeds"), "fresh markets");
    assert_eq!(ran.load(Ordering::SeqCst), 1, "exactly one call ran");
    let s = other.get_status(BK).unwrap().unwrap();
    assert_eq!(
        (s.state, s.tripped, s.failures, s.trip_count),
        (BreakerState::Closed, false, 0.0, 1)
    );
    assert!(!s.probe_in_flight);
    assert!(
        cb.call_api(BK, &ctx("probe_api", 1.0), || Ok::<_, String>(()))
            .is_ok()
    );
    assert_eq!(actions_of(&cb, BK), ["TRIP", "PROBE_START", "CLOSE"]);
}

#[test]
fn a_failed_probe_reopens_and_restarts_the_reset_timeout() {
    let (_db, clock, _m, cb) = setup();
    trip_automatically(&cb);
    let reset_timeout = cb.config().reset_timeout;
    clock.advance(reset_timeout);
    let ran = AtomicUsize::new(0);
    let r: Result<(), _> = cb.call_api(BK, &ctx("probe_api", 1.0), || {
        ran.fetch_add(1, Ordering::SeqCst);
        Err("503 still down".to_owned())
    });
    assert!(matches!(r, Err(CallError::Upstream(_))));
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    let probe_failed_at = T0 + i64::try_from(reset_timeout.as_millis()).unwrap();
    let s = cb.get_status(BK).unwrap().unwrap();
    assert_eq!(s.state, BreakerState::Open);
    assert!(s.tripped);
    assert_eq!(s.trip_count, 1, "a re-open is not a new trip");
    assert_eq!(s.tripped_at, Some(probe_failed_at));
    assert_eq!(s.last_error.as_deref(), Some("503 still down"));

    // The timeout runs again from the failed probe.
    clock.advance(reset_timeout - Duration::from_millis(1));
    let r = cb.call_api(BK, &ctx("probe_api", 1.0), || {
        ran.fetch_add(1, Ordering::SeqCst);
        Ok::<_, String>(())
    });
    assert!(matches!(
        r,
        Err(CallError::Tripped {
            state: BreakerState::Open,
            ..
        })
    ));
    clock.advance(Duration::from_millis(1));
    assert_eq!(state(&cb), BreakerState::HalfOpen);
    let r = cb.call_api(BK, &ctx("probe_api", 1.0), || {
        ran.fetch_add(1, Ordering::SeqCst);
        Ok::<_, String>(())
    });
    assert!(r.is_ok());
    assert_eq!(ran.load(Ordering::SeqCst), 2);
    assert_eq!(state(&cb), BreakerState::Closed);
    assert_eq!(
        actions_of(&cb, BK),
        ["TRIP", "PROBE_START", "REOPEN", "PROBE_START", "CLOSE"]
    );
}

#[test]
fn an_expired_probe_lease_lets_another_caller_probe() {
    let (db, clock, metrics, cb) = setup();
    let other = open_manual(&db.path, seed_config(), &clock, &metrics);
    trip_automatically(&cb);
    clock.advance(cb.config().reset_timeout);
    let lease = cb.config().probe_lease;
    let r: Result<(), _> = cb.call_api(BK, &ctx("probe_api", 1.0), || {
        // This probe hangs past its lease: another caller may take over the probe.
        clock.advance(lease - Duration::from_millis(1));
        let early = other.call_api(BK, &ctx("probe_api", 1.0), || Ok::<_, String>(()));
        assert!(
            matches!(
                early,
                Err(CallError::Tripped {
                    state: BreakerState::HalfOpen,
                    ..
                })
            ),
            "{early:?}"
        );
        clock.advance(Duration::from_millis(1));
        let takeover = other.call_api(BK, &ctx("probe_api", 1.0), || Ok::<_, String>("up"));
        assert_eq!(takeover.expect("the second probe runs and succeeds"), "up");
        Err("hung probe finally failed".to_owned())
    });
    assert!(matches!(r, Err(CallError::Upstream(_))));
    // The late failure of the first probe no longer owns the breaker: it is an ordinary
    // failure on the closed breaker (more than a window after the trip, so it counts alone).
    let s = cb.get_status(BK).unwrap().unwrap();
    assert_eq!(
        (s.state, s.failures, s.trip_count),
        (BreakerState::Closed, 1.0, 1)
    );
    assert_eq!(
        actions_of(&cb, BK),
        ["TRIP", "PROBE_START", "PROBE_START", "CLOSE"]
    );
}

#[test]
fn a_manually_tripped_breaker_is_never_probed() {
    let (_db, clock, _m, cb) = setup();
    trip_automatically(&cb);
    cb.trip(BK, "maintenance", "alice").unwrap();
    let ran = AtomicUsize::new(0);
    for _ in 0..5 {
        clock.advance(cb.config().reset_timeout * 10);
        assert_eq!(state(&cb), BreakerState::ForcedOpen);
        let r = cb.call_api(BK, &ctx("probe_api", 1.0), || {
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
    let s = cb.get_status(BK).unwrap().unwrap();
    assert_eq!(
        s.trip_count, 1,
        "tripping an open breaker is not another trip"
    );
    assert!(!actions_of(&cb, BK).contains(&"PROBE_START".to_owned()));
}

#[test]
fn reset_cooldown_force_and_audit_rows() {
    let (_db, clock, metrics, cb) = setup();
    cb.trip(BK, "maintenance", "alice").unwrap();
    clock.advance(Duration::from_secs(45));

    let err = cb
        .reset(BK, reset(Some("looks fine"), "bob", false))
        .unwrap_err();
    match err {
        BreakerError::CooldownActive {
            ref bookmaker,
            remaining,
            elapsed,
            cooldown,
            ..
        } => {
            assert_eq!(bookmaker, BK);
            assert_eq!(remaining, Duration::from_secs(15));
            assert_eq!(elapsed, Duration::from_secs(45));
            assert_eq!(cooldown, Duration::from_secs(60));
        }
        other => panic!("expected CooldownActive, got {other:?}"),
    }
    for reason in [None, Some(""), Some("   ")] {
        let err = cb.reset(BK, reset(reason, "bob", true)).unwrap_err();
        assert!(
            matches!(err, BreakerError::ForceNeedsReason),
            "{reason:?}: {err:?}"
        );
    }
    assert_eq!(state(&cb), BreakerState::ForcedOpen);

    let s = cb
        .reset(BK, reset(Some("  incident 42  "), "bob", true))
        .unwrap();
    assert_eq!(s.state, BreakerState::Closed);
    assert_eq!(s.last_reset_by.as_deref(), Some("bob"));
    assert_eq!(s.last_reset_reason.as_deref(), Some("incident 42"));
    assert_eq!(s.last_reset_at, Some(T0 + 45_000));

    let rows = audit_of(&cb, BK);
    let summary: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.action.as_deref().unwrap(),
                r.user.as_deref().unwrap(),
                r.forced,
                r.state_before.as_deref().unwrap(),
                r.state_after.as_deref().unwrap(),
                r.timestamp.unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("TRIP", "alice", false, "closed", "forced_open", T0),
            (
                "RESET_DENIED",
                "bob",
                false,
                "forced_open",
                "forced_open",
                T0 + 45_000
            ),
            ("RESET", "bob", true, "forced_open", "closed", T0 + 45_000),
        ]
    );
    assert_eq!(rows[0].reason.as_deref(), Some("maintenance"));
    assert_eq!(rows[1].reason.as_deref(), Some("looks fine"));
    assert_eq!(rows[2].reason.as_deref(), Some("incident 42"));

    // After the cooldown a plain reset is allowed (and needs no reason).
    cb.trip(BK, "again", "alice").unwrap();
    clock.advance(Duration::from_secs(60));
    let s = cb.reset(BK, reset(None, "carol", false)).unwrap();
    assert!(!s.tripped);
    let last = audit_of(&cb, BK).pop().unwrap();
    assert_eq!(
        (last.action.as_deref(), last.forced),
        (Some("RESET"), false)
    );

    assert_eq!(counter(&cb, BK, None, "reset"), 2);
    assert_eq!(counter(&cb, BK, None, "forced_reset"), 1);
    assert_eq!(
        metrics.counter_total("circuit_breaker_resets_total", &[("bookmaker", BK)]),
        2.0
    );
}

#[test]
fn a_reset_of_an_unknown_bookmaker_suggests_names() {
    let (_db, _clock, _m, cb) = setup();
    for name in ["fanduel", "draftkings", "betmgm"] {
        cb.record_failure(name, "500").unwrap();
    }
    let err = cb
        .reset("fanduell", reset(Some("typo"), "bob", false))
        .unwrap_err();
    match err {
        BreakerError::UnknownBookmaker { name, suggestions } => {
            assert_eq!(name, "fanduell");
            assert_eq!(suggestions.first().map(String::as_str), Some("fanduel"));
            assert!(
                !suggestions.contains(&"betmgm".to_owned()),
                "{suggestions:?}"
            );
        }
        other => panic!("expected UnknownBookmaker, got {other:?}"),
    }
    let err = cb
        .reset("zzzzzzzz", reset(Some("typo"), "bob", true))
        .unwrap_err();
    assert!(
        matches!(&err, BreakerError::UnknownBookmaker { suggestions, .. } if suggestions.is_empty()),
        "{err:?}"
    );
    // Nothing was written for the unknown names.
    assert!(cb.get_status("fanduell").unwrap().is_none());
    assert_eq!(counter(&cb, "fanduell", None, "reset"), 0);
    assert!(audit_of(&cb, "fanduell").is_empty());
}

#[test]
fn automatic_transitions_are_audited_as_system() {
    let (_db, clock, _m, cb) = setup();
    trip_automatically(&cb);
    clock.advance(cb.config().reset_timeout);
    let _ = fail(&cb, "still down");
    clock.advance(cb.config().reset_timeout);
    let _ = cb.call_api(BK, &ctx("probe_api", 1.0), || Ok::<_, String>(()));
    let rows = audit_of(&cb, BK);
    let summary: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.action.as_deref().unwrap(),
                r.user.as_deref().unwrap(),
                r.state_before.as_deref().unwrap(),
                r.state_after.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("TRIP", "system", "closed", "open"),
            ("PROBE_START", "system", "half_open", "half_open"),
            ("REOPEN", "system", "half_open", "open"),
            ("PROBE_START", "system", "half_open", "half_open"),
            ("CLOSE", "system", "half_open", "closed"),
        ]
    );
    assert!(rows.iter().all(|r| !r.forced));
    assert_eq!(rows[0].failure_count, Some(10.0));
    assert_eq!(rows[0].operation.as_deref(), Some("probe_api"));
    // The hash chain links every row.
    for pair in rows.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
}

#[test]
fn call_api_async_needs_no_runtime() {
    let (_db, clock, _m, cb) = setup();
    let value = block_on(cb.call_api_async(BK, &ctx("async_op", 1.0), async {
        let v = YieldOnce::new(41).await;
        Ok::<_, String>(v + 1)
    }));
    assert_eq!(value.unwrap(), 42);
    let err = block_on(cb.call_api_async(BK, &ctx("async_op", 1.0), async {
        YieldOnce::new(()).await;
        Err::<(), _>("async Timeout".to_owned())
    }));
    assert!(matches!(err, Err(CallError::Upstream(ref e)) if e == "async Timeout"));
    assert_eq!(failures(&cb, BK), 0.5);
    let err = block_on(cb.call_api_async(BK, &ctx("async_op", 1.0), async {
        Err::<(), _>("hard".to_owned())
    }));
    assert!(err.is_err());
    assert_eq!(failures(&cb, BK), 1.5);
    cb.trip(BK, "maintenance", "op").unwrap();
    let polled = AtomicUsize::new(0);
    let r = block_on(cb.call_api_async(BK, &ctx("async_op", 1.0), async {
        polled.fetch_add(1, Ordering::SeqCst);
        Ok::<_, String>(())
    }));
    assert!(matches!(r, Err(CallError::Tripped { .. })));
    assert_eq!(
        polled.load(Ordering::SeqCst),
        0,
        "a rejected future is never polled"
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(counter(&cb, BK, Some("async_op"), "tripped"), 1);
}

#[test]
fn invalid_names_are_refused_without_writing() {
    let (_db, _clock, _m, cb) = setup();
    let long = "x".repeat(257);
    for name in ["", "   ", long.as_str()] {
        assert!(matches!(
            cb.record_failure(name, "e"),
            Err(BreakerError::InvalidName { .. })
        ));
        let r = cb.call_api(name, &ctx("op", 1.0), || Ok::<_, String>(()));
        assert!(
            matches!(r, Err(CallError::Breaker(BreakerError::InvalidName { .. }))),
            "{r:?}"
        );
    }
    assert!(cb.status_all().unwrap().is_empty());
}

/// The breaker is shared between threads: `Send + Sync`, checked at compile time, and used
/// from several threads at once through one `Arc` without losing a failure.
#[test]
fn the_breaker_is_send_and_sync_and_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<breakerctl::ProductionCircuitBreaker>();

    let dir = tempfile::tempdir().expect("tempdir");
    let config = breakerctl::BreakerConfig {
        failure_threshold: 1e9,
        failure_window: std::time::Duration::from_secs(3600),
        ..breakerctl::BreakerConfig::default()
    };
    let breaker = std::sync::Arc::new(
        breakerctl::ProductionCircuitBreaker::open(dir.path().join("cb.db"), config).expect("open"),
    );
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let b = std::sync::Arc::clone(&breaker);
            std::thread::spawn(move || {
                let ctx = breakerctl::CallContext::new("test", 1.0);
                for _ in 0..25 {
                    let r = b.call_api("shared", &ctx, || Err::<(), _>("HTTP 500".to_owned()));
                    assert!(matches!(r, Err(breakerctl::CallError::Upstream(_))));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let status = breaker.get_status("shared").expect("status").expect("row");
    assert_eq!(status.failures, 100.0);
}
