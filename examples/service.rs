//! How a service wires the breaker in: one breaker per process, shared by every thread, every
//! upstream call wrapped in `call_api` with its operation and estimated load.
//!
//! Run: `cargo run --example service -- ./data/circuit_breaker.db`
//! then look with `breakerctl --db ./data/circuit_breaker.db status-all`.

use breakerctl::{BreakerConfig, CallContext, CallError, ProductionCircuitBreaker};
use std::sync::Arc;
use std::time::Duration;

/// Stands in for an HTTP client: `fanduel` is down, `betmgm` times out now and then.
fn fetch_markets(bookmaker: &str, attempt: u32) -> Result<String, String> {
    std::thread::sleep(Duration::from_millis(2));
    match bookmaker {
        "fanduel" => Err("503 Service Unavailable from upstream".to_owned()),
        "betmgm" if attempt.is_multiple_of(4) => Err("request timeout after 2000ms".to_owned()),
        _ => Ok(format!("{{\"bookmaker\":\"{bookmaker}\",\"markets\":[]}}")),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "./data/circuit_breaker.db".to_owned());
    // Open once per process; the file is shared with every other process on the host.
    let breaker = Arc::new(ProductionCircuitBreaker::open(
        &path,
        BreakerConfig::default(),
    )?);

    let workers: Vec<_> = ["draftkings", "fanduel", "betmgm"]
        .into_iter()
        .map(|bookmaker| {
            let breaker = Arc::clone(&breaker);
            std::thread::spawn(move || {
                let ctx = CallContext::new("deepProbe", 50.0);
                let (mut ok, mut failed, mut rejected) = (0, 0, 0);
                for attempt in 0..40 {
                    match breaker.call_api(bookmaker, &ctx, || fetch_markets(bookmaker, attempt)) {
                        Ok(_) => ok += 1,
                        // The upstream's own error, unchanged: retry, fall back, report...
                        Err(CallError::Upstream(_)) => failed += 1,
                        // The breaker refused: no request was sent. Degrade gracefully.
                        Err(e) if e.is_rejection() => rejected += 1,
                        Err(e) => eprintln!("breaker storage problem: {e}"),
                    }
                }
                println!(
                    "{bookmaker}: {ok} ok, {failed} failed, {rejected} rejected by the breaker"
                );
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    // Dropping the breaker writes the batched latencies; flush() does it explicitly.
    breaker.flush()?;
    Ok(())
}
