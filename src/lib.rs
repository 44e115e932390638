//! breakerctl: a circuit breaker for calls to flaky upstream APIs ("bookmakers"), whose state
//! lives in one SQLite file shared by every process on the host, and the operator console over
//! that same file.
//!
//! Services wrap each upstream call in [`ProductionCircuitBreaker::call_api`]; operators use the
//! `breakerctl` binary. See docs/architecture.md for the layout.

pub mod breaker;
pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
pub mod exposition;
pub mod load;
pub mod machine;
pub mod metrics;
pub mod process;
pub mod serve;
pub mod sim;
pub mod storage;

pub use breaker::{
    BookmakerStatus, BreakerBuilder, CallContext, ProductionCircuitBreaker, ResetOptions,
    ResetPreview,
};
pub use config::{BreakerConfig, Synchronous};
pub use error::{BreakerError, CallError};
pub use machine::BreakerState;
