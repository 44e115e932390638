//! Simulated bookmaker upstreams and a small blocking HTTP client, used by the
//! `simulate` command. Nothing in here knows about the breaker or the CLI.
//!
//! * [`upstream`]: real HTTP servers on `127.0.0.1` (ephemeral ports), one per
//!   simulated bookmaker, with seeded latency, error, timeout, outage and
//!   slowdown behaviour that can also be changed while running.
//! * [`client`]: a blocking loopback HTTP client with a per-request timeout that
//!   maps failures onto [`client::UpstreamError`].

pub mod client;
pub mod upstream;
