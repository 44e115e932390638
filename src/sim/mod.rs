//! Simulated bookmaker upstreams and a small blocking HTTP client, used by the
//! `simulate` command. `client` and `upstream` know nothing about the breaker; `service` and
//! `scenario` use it. Nothing in here knows about the CLI.
//!
//! * [`upstream`]: real HTTP servers on `127.0.0.1` (ephemeral ports), one per
//!   simulated bookmaker, with seeded latency, error, timeout, outage and
//!   slowdown behaviour that can also be changed while running.
//! * [`client`]: a blocking loopback HTTP client with a per-request timeout that
//!   maps failures onto [`client::UpstreamError`].
//! * [`service`]: the market-probe service, every bookmaker call wrapped in `call_api`.
//! * [`scenario`]: the `simulate` scenarios (steady, outage, spike), callers and report.

pub mod client;
pub mod scenario;
pub mod service;
pub mod upstream;
