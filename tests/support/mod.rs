//! Everything the integration tests share, one file per job:
//!
//! - `env`: the one clean environment for the binary (`INHERITED`, `clean_command`);
//! - `run`: running the binary (`breakerctl`, `ctl`, `run`) and the `Run` it leaves;
//! - `fixture`: the one temporary database (`TempDb`), `populated`, the seed's DDL;
//! - `files`: folder snapshots;
//! - `json`: reading JSON output;
//! - `breaker`: the library with a manual clock, audit and counter look-ups;
//! - `executor`: the tiny executor for `call_api_async`;
//! - `rng`: the seeded random source;
//! - `privileges`: running the binary as `nobody` through `setpriv` when root;
//! - `child`: re-executing this binary for one child test, and turns for the heavy tests;
//! - `transcript`: comparing printed output with a document's example of it.

pub mod breaker;
pub mod child;
pub mod env;
pub mod executor;
pub mod files;
pub mod fixture;
pub mod json;
pub mod privileges;
pub mod rng;
pub mod run;
pub mod transcript;
