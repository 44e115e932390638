//! A tower service behind the breaker: any `tower::Service` (here a tiny HTTP/1.0 GET over
//! tokio) wrapped by `CircuitBreakerLayer::http`, one breaker per `host:port`.
//!
//! Run: `cargo run --example tower_service --features tower -- DB ADDR PATH N`: makes N GET
//! requests to http://ADDR/PATH through the breaker on DB and prints how each ended.

use breakerctl::integrations::tower::CircuitBreakerLayer;
use breakerctl::{BreakerConfig, CallError, ProductionCircuitBreaker};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_layer::Layer;
use tower_service::Service;

/// The inner service: GET the request's URI, answer with its status line's code.
#[derive(Clone)]
struct HttpGet;

impl Service<http::Request<()>> for HttpGet {
    type Response = http::Response<String>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<()>) -> Self::Future {
        Box::pin(async move {
            let uri = req.uri().clone();
            let addr = format!(
                "{}:{}",
                uri.host().unwrap_or("127.0.0.1"),
                uri.port_u16().unwrap_or(80)
            );
            let mut stream = tokio::net::TcpStream::connect(addr).await?;
            let head = format!("GET {} HTTP/1.0\r\nHost: x\r\n\r\n", uri.path());
            stream.write_all(head.as_bytes()).await?;
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await?;
            let status: u16 = answer
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| std::io::Error::other("no status line"))?;
            http::Response::builder()
                .status(status)
                .body(answer)
                .map_err(std::io::Error::other)
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, db, addr, path, n] = args.as_slice() else {
        return Err("usage: tower_service DB ADDR PATH N".into());
    };
    let breaker = ProductionCircuitBreaker::open(db, BreakerConfig::default())?;
    let mut service = CircuitBreakerLayer::http(breaker.clone())
        .operation("quotes", 10.0)
        .layer(HttpGet);
    for i in 1..=n.parse::<u32>()? {
        let req = http::Request::get(format!("http://{addr}/{path}")).body(())?;
        match service.call(req).await {
            Ok(resp) => println!("{i} status {}", resp.status().as_u16()),
            Err(CallError::Upstream(e)) => println!("{i} upstream error {e}"),
            Err(e) if e.is_rejection() => println!("{i} rejected"),
            Err(e) => println!("{i} breaker error {e}"),
        }
    }
    breaker.flush()?;
    Ok(())
}
