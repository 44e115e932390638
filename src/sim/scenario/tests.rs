//! Unit tests of the scenario engine and report.

use super::*;

#[test]
fn latency_percentiles_use_nearest_rank() {
    let l = Latency::of((1..=100).map(|x| x * 1000).collect());
    assert_eq!(l.count, 100);
    assert_eq!(l.p50_ms, Some(50.0));
    assert_eq!(l.p99_ms, Some(99.0));
    assert_eq!(l.max_ms, Some(100.0));
    assert_eq!(Latency::of(Vec::new()).p99_ms, None);
}

#[test]
fn timelines_follow_the_scenario() {
    let mut o = SimOptions {
        scenario: Scenario::Spike,
        ..SimOptions::default()
    };
    let t = o.timeline();
    assert_eq!(t.degraded, Some(1));
    assert_eq!(t.rate_multiplier(Duration::from_secs(5)), SPIKE_MULTIPLIER);
    assert_eq!(t.rate_multiplier(Duration::from_secs(1)), 1.0);
    assert_eq!(t.load_at(Duration::from_secs(5)), HIGH_LOAD);
    assert_eq!(t.load_at(Duration::from_secs(8)), BASE_LOAD);
    assert_eq!(
        t.next_load_change(Duration::ZERO),
        Some(Duration::from_secs(3))
    );
    o.scenario = Scenario::Steady;
    assert!(o.timeline().degradation.is_none());
    o.bookmakers = 1;
    o.scenario = Scenario::Outage;
    assert_eq!(o.timeline().degraded, Some(0));
    assert!(
        o.bookmaker_names()
            .iter()
            .all(|n| n.starts_with(NAME_PREFIX))
    );
}

#[test]
fn options_are_bounded() {
    let ok = SimOptions::default();
    assert!(ok.validate().is_ok());
    for bad in [
        SimOptions {
            duration: Duration::from_secs(3600),
            ..ok.clone()
        },
        SimOptions {
            bookmakers: 0,
            ..ok.clone()
        },
        SimOptions {
            callers: 10_000,
            ..ok.clone()
        },
        SimOptions {
            base_rate: f64::NAN,
            ..ok.clone()
        },
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
    }
}

#[test]
fn history_reads_open_and_probe_windows() {
    let row = |id, action: &str, ts| crate::storage::AuditRecord {
        id,
        bookmaker: Some("sim-x".into()),
        action: Some(action.into()),
        reason: None,
        user: Some("system".into()),
        timestamp: Some(ts),
        forced: false,
        state_before: None,
        state_after: None,
        failure_count: Some(10.0),
        operation: None,
        host: None,
        pid: None,
        prev_hash: None,
        hash: None,
        os_user: None,
    };
    let rows = [
        row(1, "TRIP", 1_100),
        row(2, "PROBE_START", 3_100),
        row(3, "REOPEN", 3_350),
        row(4, "PROBE_START", 5_400),
        row(5, "CLOSE", 5_410),
    ];
    let refs: Vec<_> = rows.iter().collect();
    let h = History::from_audit(&refs, 1_000, false);
    assert_eq!(h.open, vec![(100_000, 4_411_000)]);
    assert_eq!(
        h.probes,
        vec![(2_100_000, 2_351_000), (4_400_000, 4_411_000)]
    );
    assert_eq!(h.trips, vec![(100_000, 10.0)]);
    assert_eq!((h.probe_starts, h.reopens, h.closes), (2, 1, 1));
}
