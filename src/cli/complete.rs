//! Dynamic completion of bookmaker names, read from the database named by `--db` (or
//! `CIRCUIT_BREAKER_DB`) on the command line being completed.

use clap_complete::engine::CompletionCandidate;
use std::ffi::OsStr;
use std::path::PathBuf;

/// The `--db` of the command line being completed, else the environment, else the default.
fn db_from_args() -> PathBuf {
    let args: Vec<String> = std::env::args().collect();
    let mut found = None;
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = a.strip_prefix("--db=") {
            found = Some(v.to_owned());
        } else if a == "--db" {
            found = args.get(i + 1).cloned();
        }
    }
    found
        .or_else(|| std::env::var("CIRCUIT_BREAKER_DB").ok())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(super::settings::DEFAULT_DB))
}

/// Names in the database at `path` (read-only; nothing when it is missing or unusable).
pub fn names_in(path: &std::path::Path) -> Vec<String> {
    crate::ProductionCircuitBreaker::builder()
        .open_read_only(path)
        .and_then(|b| b.bookmaker_names())
        .unwrap_or_default()
}

pub fn bookmaker_names(current: &OsStr) -> Vec<CompletionCandidate> {
    let prefix = current.to_string_lossy();
    names_in(&db_from_args())
        .into_iter()
        .filter(|n| n.starts_with(prefix.as_ref()) && super::text::is_printable(n))
        .map(CompletionCandidate::new)
        .collect()
}
