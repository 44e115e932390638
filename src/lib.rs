//! breakerctl: a circuit breaker for calls to flaky upstream APIs ("bookmakers"), whose state
//! every process on a host shares through one SQLite file, and the operator console over that
//! same store.
//!
//! A service depends on the library alone (no console crates):
//!
//! ```toml
//! breakerctl = { version = "0.1", default-features = false }
//! ```
//!
//! # Open, wrap a call
//!
//! ```
//! use breakerctl::{BreakerConfig, CallContext, CallError, ProductionCircuitBreaker};
//!
//! # fn main() -> Result<(), breakerctl::BreakerError> {
//! # let dir = std::env::temp_dir().join(format!("breakerctl-guide-{}", std::process::id()));
//! // Once per process; every process on the host opens the same file (created when missing).
//! let breaker = ProductionCircuitBreaker::open(dir.join("cb.db"), BreakerConfig::default())?;
//! let ctx = CallContext::new("deepProbe", 50.0); // operation, estimated load (0..1000)
//! match breaker.call_api("draftkings", &ctx, || Err::<String, _>("503 from upstream".to_owned())) {
//!     Ok(markets) => println!("{markets}"),
//!     Err(CallError::Upstream(e)) => eprintln!("upstream failed: {e}"), // counted: weight 1.0
//!     Err(e) if e.is_rejection() => eprintln!("not sent: {e}"),          // tripped or shed
//!     Err(e) => eprintln!("breaker store: {e}"),
//! }
//! assert_eq!(breaker.get_status("draftkings")?.map(|s| s.failures), Some(1.0));
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok(())
//! # }
//! ```
//!
//! Ten weighted failures (a timeout weighs 0.5) trip the breaker; after the reset timeout one
//! call in the whole host is the half-open probe. [`ProductionCircuitBreaker::call_api_with`]
//! and [`ProductionCircuitBreaker::call_api_async_with`] take a classifier
//! ([`breaker::Outcome`]: success, failure, timeout, or ignored — a 404 is not the upstream's
//! fault). Async calls need no particular runtime and never block the thread polling them on
//! the store.
//!
//! # Trip and reset
//!
//! ```
//! # use breakerctl::{BreakerConfig, ProductionCircuitBreaker, ResetOptions, BreakerError};
//! # fn main() -> Result<(), BreakerError> {
//! # let dir = std::env::temp_dir().join(format!("breakerctl-guide2-{}", std::process::id()));
//! # let breaker = ProductionCircuitBreaker::open(dir.join("cb.db"), BreakerConfig::default())?;
//! breaker.trip("fanduel", "scheduled maintenance", "alice")?; // forced open until a reset
//! let denied = breaker.reset("fanduel", ResetOptions { reason: Some("done"), user: "alice", force: false });
//! assert!(matches!(denied, Err(BreakerError::CooldownActive { .. }))); // inside the cooldown
//! breaker.reset("fanduel", ResetOptions { reason: Some("done early"), user: "alice", force: true })?;
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok(())
//! # }
//! ```
//!
//! Every operator action commits with its audit row (hash-chained; `verify_audit_chain`).
//!
//! # Sharing across processes
//!
//! Each process keeps the rows it read in memory and checks, on every call, the store's
//! change token (SQLite: the WAL index header in shared memory, read with no system call): a
//! trip committed by any process is seen by every other process's next call, while a healthy
//! call reads nothing from disk. The breaker is `Clone` and `Send + Sync`; clones share one
//! cache and one writer thread.
//!
//! # What is written when, and what a hard exit loses
//!
//! | what | when it is durable |
//! |---|---|
//! | failure, timeout, trip, probe claim and result, success after failures | before a synchronous call returns; an async call awaits the writer thread |
//! | operator trip, reset, denied reset (with the audit row) | before the method returns, fsynced |
//! | a write the store refused for longer than the busy timeout | kept in memory, in order, and retried until written ([`ProductionCircuitBreaker::pending_writes`]) |
//! | success latencies (the average) and rejection/shed counters | batched, written about once a second, on `flush()` and when the last clone is dropped |
//!
//! `std::process::exit`, `abort`, a crash, or a breaker kept in a `static` (never dropped)
//! lose at most the last second of latency averages and counters, and any write still kept
//! because the store was busy (a `tracing` error says so on drop). Call
//! [`ProductionCircuitBreaker::flush`] before exiting, or hold a
//! [`breaker::FlushGuard`] (`breaker.flush_on_drop()`) in `main`.
//!
//! # Integrations
//!
//! Feature `tower`: `integrations::tower::CircuitBreakerLayer` protects any
//! `tower::Service` (keyed by `host:port` for HTTP). Feature `reqwest-middleware`:
//! `integrations::reqwest::BreakerMiddleware` protects a reqwest client, one breaker per
//! host. Both count 5xx and transport errors, weigh timeouts as timeouts and ignore 4xx.
//!
//! # Layers
//!
//! [`machine`] (the state machine as pure functions of state, event and time), [`storage`]
//! (the seam every backend implements, and the SQLite backend), [`breaker`] (the machine on a
//! shared store, with the healthy path in memory). The features `exporter` (Prometheus
//! exposition and `serve`), `sim` (simulated bookmakers) and `cli` (the binary) add the rest.
//! See docs/architecture.md.

#![warn(missing_docs)]

pub mod breaker;
pub mod clock;
pub mod config;
pub mod error;
pub mod load;
pub mod machine;
pub mod metrics;
pub mod process;
pub mod storage;

#[cfg(feature = "exporter")]
pub mod exposition;
#[cfg(any(feature = "tower", feature = "reqwest-middleware"))]
pub mod integrations;
#[cfg(feature = "exporter")]
pub mod serve;
// The simulator serves the console's `simulate` and its tests; it is not library API.
#[cfg(feature = "sim")]
#[allow(missing_docs)]
pub mod sim;

/// The operator console: the binary's grammar, commands, rendering and REPL. Not part of the
/// library's API: it exists for the `breakerctl` binary and its tests.
#[cfg(feature = "cli")]
#[doc(hidden)]
#[allow(missing_docs)]
pub mod cli;

pub use breaker::{
    BookmakerStatus, BreakerBuilder, CallContext, ProductionCircuitBreaker, ResetOptions,
    ResetPreview,
};
pub use config::BreakerConfig;
pub use error::{BreakerError, CallError};
pub use machine::BreakerState;
pub use storage::{SqliteStore, Synchronous};
