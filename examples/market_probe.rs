//! The market-probe service wired to the breaker, as a service would do it: one breaker per
//! process (shared by every thread), one HTTP client with a per-request timeout, and every
//! bookmaker call made through `MarketProbeService`, which wraps it in `call_api` with the
//! seed's operation and estimated load (`deepProbe` 50, `microBet` 10, `darkPool` 150).
//!
//! The bookmaker here is a simulated one on 127.0.0.1; a real service passes real base URLs.
//!
//! Run: `cargo run --example market_probe -- ./data/example.db`
//! then look with `breakerctl --db ./data/example.db status-all` and `... audit`.

use breakerctl::sim::client::HttpClient;
use breakerctl::sim::service::MarketProbeService;
use breakerctl::sim::upstream::{LatencyDist, Profile, SimBookmaker};
use breakerctl::{BreakerConfig, CallError, ProductionCircuitBreaker};
use std::sync::Arc;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "./data/example.db".to_owned());
    let bookmaker = SimBookmaker::start(
        "sim-example",
        Profile::healthy().with_latency(LatencyDist::jitter_ms(2, 3)),
        1,
    )?;

    // Once per process; the database file is shared with every other process on the host.
    let breaker = Arc::new(ProductionCircuitBreaker::open(
        &path,
        BreakerConfig::default(),
    )?);
    let service =
        MarketProbeService::new(breaker.clone(), HttpClient::new(Duration::from_millis(250)))
            .with_bookmaker("sim-example", &bookmaker.base_url());

    let probe = service.execute_bookmaker_api_probe("sim-example")?;
    println!(
        "deep probe: {} markets, {} depth levels, {} requests",
        probe.markets.len(),
        probe.depth_levels,
        probe.requests
    );
    let bet = service.simulate_micro_bet_attempt("sim-example", "m-1", 0.01)?;
    println!("micro bet accepted: {}", bet.accepted);

    // The bookmaker goes down: ten hard failures trip the breaker, and from then on calls are
    // refused without touching the network.
    bookmaker.set_outage(true);
    for attempt in 1..=12 {
        match service.probe_dark_pool_market("sim-example", "m-1") {
            Ok(quote) => println!("{attempt}: dark pool odds {:?}", quote.odds),
            // The bookmaker's own error, unchanged: a 5xx (weight 1) or a timeout (0.5).
            Err(CallError::Upstream(e)) => println!("{attempt}: bookmaker failed: {e}"),
            // The breaker refused (open, or load shed): degrade gracefully.
            Err(e) if e.is_rejection() => println!("{attempt}: not called: {e}"),
            Err(e) => return Err(e.into()),
        }
    }
    let received = bookmaker.request_count();
    println!("the bookmaker received {received} requests in all");
    breaker.flush()?;
    bookmaker.shutdown();
    Ok(())
}
