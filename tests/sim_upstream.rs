//! Simulated upstreams and the loopback HTTP client, against real servers on
//! 127.0.0.1 (ephemeral ports).

use std::time::{Duration, Instant};

use breakerctl::sim::client::{HttpClient, UpstreamError};
use breakerctl::sim::upstream::{LatencyDist, Outcome, Profile, SimBookmaker, Window};

fn client() -> HttpClient {
    HttpClient::new(Duration::from_millis(1000))
}

#[test]
fn healthy_endpoints_return_json() {
    let bm = SimBookmaker::start("alpha", Profile::healthy(), 1).unwrap();
    let base = bm.base_url();
    assert!(base.starts_with("http://127.0.0.1:"));
    assert_ne!(bm.port(), 0);
    let c = client();

    let markets: serde_json::Value =
        serde_json::from_str(&c.get(&format!("{base}/markets")).unwrap()).unwrap();
    assert_eq!(markets["bookmaker"], "alpha");
    assert!(markets["markets"].as_array().is_some_and(|m| !m.is_empty()));

    let depth: serde_json::Value = serde_json::from_str(
        &c.get(&format!("{base}/markets/m-1/depth?levels=2"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(depth["market"], "m-1");

    let bet: serde_json::Value = serde_json::from_str(
        &c.post(
            &format!("{base}/bets/micro"),
            r#"{"market":"m-2","stake":0.05}"#,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(bet["accepted"], true);
    assert_eq!(bet["market"], "m-2");
    assert_eq!(bet["stake"], 0.05);

    let dark: serde_json::Value =
        serde_json::from_str(&c.get(&format!("{base}/darkpool/m-3")).unwrap()).unwrap();
    assert_eq!(dark["market"], "m-3");

    bm.shutdown();
}

#[test]
fn unknown_paths_are_404() {
    let bm = SimBookmaker::start("beta", Profile::healthy(), 2).unwrap();
    let c = client();
    for path in ["/", "/nope", "/markets/x/odds"] {
        let err = c.get(&format!("{}{path}", bm.base_url())).unwrap_err();
        assert!(
            matches!(err, UpstreamError::Status(404, _)),
            "{path}: {err}"
        );
    }
    // Wrong method on a known path.
    let err = c.get(&format!("{}/bets/micro", bm.base_url())).unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert!(bm.requests().iter().all(|r| r.outcome == Outcome::NotFound));
}

#[test]
fn error_rate_one_gives_5xx_status() {
    let profile = Profile::healthy()
        .with_latency(LatencyDist::jitter_ms(1, 2))
        .with_error_rate(1.0);
    let bm = SimBookmaker::start("gamma", profile, 3).unwrap();
    let c = client();
    for _ in 0..10 {
        let err = c.get(&format!("{}/markets", bm.base_url())).unwrap_err();
        match err {
            UpstreamError::Status(code, ref url) => {
                assert!((500..600).contains(&code), "{err}");
                assert!(url.ends_with("/markets"));
                assert!(!err.is_timeout());
                assert!(!err.to_string().contains("timeout"));
            }
            other => panic!("expected Status, got {other:?}"),
        }
    }
}

#[test]
fn hanging_upstream_gives_client_timeout() {
    let bm = SimBookmaker::start("delta", Profile::healthy().with_timeout_rate(1.0), 4).unwrap();
    let c = HttpClient::new(Duration::from_millis(100));
    let t0 = Instant::now();
    let err = c.get(&format!("{}/markets", bm.base_url())).unwrap_err();
    let took = t0.elapsed();
    assert!(err.is_timeout(), "expected timeout, got {err:?}");
    assert!(matches!(err, UpstreamError::Timeout(d, _) if d == Duration::from_millis(100)));
    assert!(err.to_string().contains("timeout"), "{err}");
    assert!(took < Duration::from_millis(1000), "took {took:?}");
    assert_eq!(bm.requests()[0].outcome, Outcome::Hang);
    // Shutdown cuts the 2 s hang short.
    let t1 = Instant::now();
    bm.shutdown();
    assert!(
        t1.elapsed() < Duration::from_millis(500),
        "{:?}",
        t1.elapsed()
    );
}

#[test]
fn slowdowns_cause_timeouts() {
    // Slowdown window from the start; latency raised to 1.5 s > 100 ms timeout.
    let profile =
        Profile::healthy().with_slowdown(Window::from_ms(0, 60_000), Duration::from_millis(1500));
    let bm = SimBookmaker::start("epsilon", profile, 5).unwrap();
    let c = HttpClient::new(Duration::from_millis(100));
    let url = format!("{}/darkpool/m-1", bm.base_url());
    assert!(c.get(&url).unwrap_err().is_timeout());

    // Run-time extra latency on a healthy profile.
    bm.set_profile(Profile::healthy());
    c.get(&url).unwrap();
    bm.set_extra_latency(Duration::from_millis(1500));
    assert!(c.get(&url).unwrap_err().is_timeout());
    bm.set_extra_latency(Duration::ZERO);
    c.get(&url).unwrap();
}

#[test]
fn outage_toggled_at_run_time() {
    let bm = SimBookmaker::start("zeta", Profile::healthy(), 6).unwrap();
    let ctl = bm.control();
    let c = client();
    let url = format!("{}/markets", bm.base_url());
    c.get(&url).unwrap();

    let flipper = std::thread::spawn(move || ctl.set_outage(true));
    flipper.join().unwrap();
    assert!(bm.is_outage());
    for _ in 0..3 {
        let err = c.get(&url).unwrap_err();
        assert_eq!(err.status(), Some(500), "{err}");
    }
    bm.set_outage(false);
    c.get(&url).unwrap();

    let outcomes: Vec<Outcome> = bm.requests().iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Ok,
            Outcome::Outage,
            Outcome::Outage,
            Outcome::Outage,
            Outcome::Ok
        ]
    );
}

#[test]
fn outage_window_from_start() {
    let profile = Profile::healthy().with_outage(Window::from_ms(0, 300));
    let bm = SimBookmaker::start("eta", profile, 7).unwrap();
    let c = client();
    let url = format!("{}/markets", bm.base_url());
    assert_eq!(c.get(&url).unwrap_err().status(), Some(500));
    let wait = Duration::from_millis(320).saturating_sub(bm.elapsed());
    std::thread::sleep(wait);
    c.get(&url).unwrap();
}

#[test]
fn requests_are_counted_and_logged() {
    let bm = SimBookmaker::start("theta", Profile::healthy(), 8).unwrap();
    let c = client();
    let base = bm.base_url();
    c.get(&format!("{base}/markets")).unwrap();
    c.get(&format!("{base}/markets/m-9/depth")).unwrap();
    c.post(&format!("{base}/bets/micro"), "{}").unwrap();
    let _ = c.get(&format!("{base}/missing"));
    assert_eq!(bm.request_count(), 4);
    let log = bm.requests();
    let paths: Vec<&str> = log.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/markets", "/markets/m-9/depth", "/bets/micro", "/missing"]
    );
    assert_eq!(log[2].method, "POST");
    assert!(log.windows(2).all(|w| w[0].since_start <= w[1].since_start));
    assert!(log.iter().enumerate().all(|(i, r)| r.seq == i as u64));
}

#[test]
fn concurrent_slow_requests_do_not_block_others() {
    let bm = SimBookmaker::start(
        "iota",
        Profile::healthy().with_latency(LatencyDist::fixed_ms(300)),
        9,
    )
    .unwrap();
    let url = format!("{}/markets", bm.base_url());
    let t0 = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|_| {
                let url = url.clone();
                s.spawn(move || client().get(&url))
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
    });
    // 12 x 300 ms serially would be 3.6 s.
    assert!(
        t0.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(bm.request_count(), 12);
}

#[test]
fn shutdown_is_prompt_and_closes_the_port() {
    let bm = SimBookmaker::start("kappa", Profile::healthy().with_timeout_rate(1.0), 10).unwrap();
    let url = format!("{}/markets", bm.base_url());
    // A caller stuck on a hanging request while we shut down.
    let caller = {
        let url = url.clone();
        std::thread::spawn(move || HttpClient::new(Duration::from_secs(3)).get(&url))
    };
    while bm.request_count() == 0 {
        std::thread::sleep(Duration::from_millis(5));
        assert!(
            bm.elapsed() < Duration::from_secs(2),
            "request never arrived"
        );
    }
    let t0 = Instant::now();
    bm.shutdown();
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
    // The stuck caller is released well before its own 3 s timeout.
    let result = caller.join().unwrap();
    assert!(t0.elapsed() < Duration::from_millis(1500));
    assert!(result.is_err());

    let err = client().get(&url).unwrap_err();
    assert!(matches!(err, UpstreamError::Transport(..)), "{err:?}");
    assert!(!err.is_timeout());
}

#[test]
fn same_seed_same_fates() {
    let profile = Profile::healthy().with_error_rate(0.5);
    let fates = |seed| {
        let bm = SimBookmaker::start("lambda", profile.clone(), seed).unwrap();
        let c = client();
        let url = format!("{}/markets", bm.base_url());
        (0..16).map(|_| c.get(&url).is_ok()).collect::<Vec<_>>()
    };
    let a = fates(11);
    assert_eq!(a, fates(11));
    assert!(a.contains(&true) && a.contains(&false), "{a:?}");
}
