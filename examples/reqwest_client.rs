//! A reqwest client behind the breaker: every request goes through `BreakerMiddleware`, one
//! breaker per `host:port`; 5xx and transport errors count, timeouts weigh 0.5, 4xx is ignored.
//!
//! Run: `cargo run --example reqwest_client --features reqwest-middleware -- DB URL N`.

use breakerctl::integrations::reqwest::BreakerMiddleware;
use breakerctl::{BreakerConfig, CallError, ProductionCircuitBreaker};
use std::convert::Infallible;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, db, url, n] = args.as_slice() else {
        return Err("usage: reqwest_client DB URL N".into());
    };
    let breaker = ProductionCircuitBreaker::open(db, BreakerConfig::default())?;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(BreakerMiddleware::new(breaker.clone()).operation("quotes", 10.0))
        .build();
    for i in 1..=n.parse::<u32>()? {
        match client.get(url).send().await {
            Ok(resp) => println!("{i} status {}", resp.status().as_u16()),
            Err(reqwest_middleware::Error::Middleware(e))
                if e.downcast_ref::<CallError<Infallible>>()
                    .is_some_and(|c| c.is_rejection()) =>
            {
                println!("{i} rejected")
            }
            Err(e) => println!("{i} error {e}"),
        }
    }
    breaker.flush()?;
    Ok(())
}
