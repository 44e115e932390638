//! breakerctl: a circuit breaker for calls to flaky upstream APIs ("bookmakers"), whose state
//! every process on a host shares through one SQLite file, and the operator console over that
//! same store.
//!
//! Services wrap each upstream call in [`ProductionCircuitBreaker::call_api`]; operators use the
//! `breakerctl` binary. A service depends on the library alone:
//!
//! ```toml
//! breakerctl = { version = "0.1", default-features = false }
//! ```
//!
//! Layers, from the bottom: [`machine`] (the state machine as pure functions of state, event
//! and time), [`storage`] (the seam every backend implements, and the SQLite backend), and
//! [`breaker`] (the machine on a shared store, with the healthy path in memory). The features
//! `exporter` (Prometheus exposition and `serve`), `sim` (simulated bookmakers) and `cli` (the
//! binary) add the rest. See docs/architecture.md.

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
#[cfg(feature = "sim")]
pub mod sim;

/// The operator console: the binary's grammar, commands, rendering and REPL. Not part of the
/// library's API: it exists for the `breakerctl` binary and its tests.
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;

pub use breaker::{
    BookmakerStatus, BreakerBuilder, CallContext, ProductionCircuitBreaker, ResetOptions,
    ResetPreview,
};
pub use config::BreakerConfig;
pub use error::{BreakerError, CallError};
pub use machine::BreakerState;
pub use storage::{SqliteStore, Synchronous};
