//! The integration tests, in one binary (`cargo test --test integration`): every file next to
//! this one is a module, and `support/` holds what they share. Each test names its module, so
//! `cargo test --test integration reliability_input::` runs one file's tests.
//!
//! Two files are binaries of their own (see Cargo.toml): `serve_http.rs`, which raises SIGTERM
//! in its own process, and the ignored load test `load_spike.rs`.

mod support;

mod alert_mutations;
mod alerts;
mod alerts_e2e;
mod cli;
mod completions;
mod multiprocess;
mod oncall;
mod persistence;
mod reliability_audit;
mod reliability_contention;
mod reliability_crash;
mod reliability_files;
mod reliability_input;
mod repl_pty;
mod runbook;
mod seed_examples;
mod semantics;
mod serve_cli;
mod serve_store;
mod service_calls;
mod sim_upstream;
mod simulate;
mod state_model;
mod terminal;
mod tour;
