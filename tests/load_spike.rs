//! The load test (DoD 6, 8 and 11): `breakerctl simulate --scenario spike`, 50 times the base
//! traffic while one bookmaker slows into timeouts and the host load passes the shedding
//! threshold. Everything is checked from the run's JSON report (and the database it leaves),
//! never from how long the test took.
//!
//! Ignored by default (about 12 s, and meant for an optimised build); `.ci/run` runs it with
//! `cargo test --release --test load_spike -- --ignored`.

use serde_json::Value;
use std::process::Command;

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
#[ignore = "load test: ~12 s; run by .ci/run with --release -- --ignored"]
fn spike_trips_and_sheds_before_timeouts_pile_up() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("spike.db");
    let out = Command::new(env!("CARGO_BIN_EXE_breakerctl"))
        .arg("--db")
        .arg(&db)
        .args([
            "--json",
            "simulate",
            "--scenario",
            "spike",
            "--duration",
            "10s",
        ])
        .args(["--bookmakers", "4", "--seed", "42"])
        .env_remove("CIRCUIT_BREAKER_DB")
        .env_remove("BREAKERCTL_FAILURE_THRESHOLD")
        .env_remove("BREAKERCTL_RESET_TIMEOUT")
        .output()
        .expect("run breakerctl simulate");
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    // Shown with --nocapture: the figures docs/performance.md records.
    println!("{}", serde_json::to_string_pretty(&report).unwrap());

    let threshold = f(&report["settings"]["failureThreshold"]);
    let bookmakers = report["bookmakers"].as_array().unwrap();
    assert_eq!(bookmakers.len(), 4);
    let degraded: Vec<&Value> = bookmakers
        .iter()
        .filter(|b| b["degraded"] == true)
        .collect();
    assert_eq!(degraded.len(), 1, "exactly one bookmaker degrades");
    let degraded = degraded[0];
    let healthy: Vec<&Value> = bookmakers
        .iter()
        .filter(|b| b["degraded"] != true)
        .collect();
    assert_eq!(report["timeline"]["degradation"], "slowdown");
    assert!(
        u(&report["timeline"]["slowdownLatencyMs"]) > u(&report["settings"]["clientTimeoutMs"]),
        "the slow bookmaker answers after the client's timeout"
    );

    // There was a spike: well above the base rate (the report says how far from 50x the
    // machine got; the callers are bounded by their number).
    let rates = report["rates"].as_array().unwrap();
    let base = rates.iter().find(|r| r["phase"] == "base").unwrap();
    let spike = rates.iter().find(|r| r["phase"] == "spike").unwrap();
    assert_eq!(f(&spike["targetPerSec"]), 50.0 * f(&base["targetPerSec"]));
    assert!(
        f(&spike["attemptedPerSec"]) >= 5.0 * f(&base["attemptedPerSec"]),
        "rates: {}",
        report["rates"]
    );

    // 1. The degraded bookmaker's breaker trips after at most the threshold's worth of
    //    weighted failures (its timeouts weigh 0.5 each).
    assert!(u(&degraded["trips"]) >= 1, "{degraded}");
    let at_trip = f(&degraded["failureCountAtTrip"]);
    assert!(
        at_trip >= threshold && at_trip < threshold + 1.0,
        "tripped at {at_trip} weighted failures, threshold {threshold}"
    );
    assert!(degraded["timeToTripMs"].is_u64(), "{degraded}");
    assert!(
        u(&degraded["timeouts"]) > 0,
        "it degraded into timeouts: {degraded}"
    );

    // 2. While open it receives no request but the single half-open probes.
    for b in bookmakers {
        assert_eq!(u(&b["requestsWhileOpen"]), 0, "leak to {}", b["bookmaker"]);
    }
    let probes = u(&degraded["probes"]);
    assert!(probes >= 1, "a probe within the run: {degraded}");
    // A probe is one call: at most the 4 requests of a deep probe.
    assert!(u(&degraded["probeRequests"]) <= 4 * probes, "{degraded}");
    assert!(u(&degraded["rejectedOpen"]) > 0, "{degraded}");
    // Calls rejected while open never reached the bookmaker: what it received is at most what
    // went through the breaker, times the deep probe's 4 requests.
    let sent = u(&degraded["successes"]) + u(&degraded["failures"]) + u(&degraded["timeouts"]);
    assert!(u(&degraded["requestsReceived"]) <= 4 * sent, "{degraded}");

    // 3. Callers of an open breaker get their rejection in under a millisecond at p99.
    let open = &degraded["latencyOpen"];
    assert!(u(&open["count"]) > 100, "{open}");
    assert!(f(&open["p99Ms"]) < 1.0, "rejection latency {open}");

    // 4. Heavy operations are shed while the load is above the threshold; light ones are not.
    assert!(report["timeline"]["highLoadStartMs"].is_u64());
    for op in report["operations"].as_array().unwrap() {
        if op["heavy"] == true {
            assert_eq!(op["operation"], "darkPool");
            assert!(u(&op["shedWhileHighLoad"]) > 0, "{op}");
            assert_eq!(u(&op["upstreamWhileHighLoad"]), 0, "{op}");
            assert_eq!(u(&op["shedWhileLowLoad"]), 0, "{op}");
        } else {
            assert_eq!(u(&op["shed"]), 0, "{op}");
            assert!(u(&op["upstreamWhileHighLoad"]) > 0, "{op}");
        }
    }

    // 5. Healthy bookmakers never trip.
    for b in &healthy {
        assert_eq!(u(&b["trips"]), 0, "{b}");
        assert_eq!(u(&b["rejectedOpen"]), 0, "{b}");
    }
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["ok"] == true),
        "{}",
        report["checks"]
    );

    // The database agrees.
    let status = Command::new(env!("CARGO_BIN_EXE_breakerctl"))
        .arg("--db")
        .arg(&db)
        .args(["status-all", "--json"])
        .output()
        .unwrap();
    assert!(status.status.success());
    let rows: Value = serde_json::from_slice(&status.stdout).unwrap();
    for row in rows.as_array().unwrap() {
        let trips = u(&row["tripCount"]);
        if row["bookmaker"] == degraded["bookmaker"] {
            assert!(trips >= 1, "{row}");
        } else {
            assert_eq!(trips, 0, "{row}");
        }
    }
}
