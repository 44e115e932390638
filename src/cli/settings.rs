//! Plain settings values shared by the grammar, rendering and completion (no dependency on
//! any other CLI module, so none of them depends on another through it).

use clap::ValueEnum;

/// The database used when neither `--db` nor `CIRCUIT_BREAKER_DB` names one.
pub const DEFAULT_DB: &str = "./data/circuit_breaker.db";

/// How command output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

/// When to color output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}
