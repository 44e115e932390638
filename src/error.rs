//! The library's errors. Each variant says what happened; the CLI maps them to exit codes.

use crate::machine::BreakerState;
use std::path::PathBuf;
use std::time::Duration;

pub type Result<T, E = BreakerError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum BreakerError {
    #[error("no breaker database at {}", path.display())]
    NotFound { path: PathBuf },

    #[error("{} is not a circuit breaker database: {detail}", path.display())]
    NotABreakerDatabase { path: PathBuf, detail: String },

    #[error(
        "{} has schema version {found}, newer than this build understands ({supported}); upgrade breakerctl",
        path.display()
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error("{} is read-only: {detail}", path.display())]
    ReadOnly { path: PathBuf, detail: String },

    #[error("database is busy: another process held the write lock for more than {waited:?}")]
    Busy { waited: Duration },

    #[error("database is corrupt: {detail}")]
    Corrupt { detail: String },

    #[error(
        "reset denied: {bookmaker} tripped {}s ago; cooldown {}s, {}s left",
        elapsed.as_secs(), cooldown.as_secs(), remaining.as_secs().max(1)
    )]
    CooldownActive {
        bookmaker: String,
        elapsed: Duration,
        remaining: Duration,
        cooldown: Duration,
    },

    #[error("a forced reset needs a non-empty reason")]
    ForceNeedsReason,

    #[error("unknown breaker {name:?}")]
    UnknownBookmaker {
        name: String,
        suggestions: Vec<String>,
    },

    #[error("invalid bookmaker name: {detail}")]
    InvalidName { detail: String },

    #[error("invalid argument: {detail}")]
    InvalidArgument { detail: String },

    /// Any other error of the store, with the backend's own error as its source.
    #[error("database error: {source}")]
    Backend {
        /// Which backend (`sqlite`, ...).
        backend: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("I/O error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl BreakerError {
    /// Wraps a backend's own error.
    pub fn backend(
        backend: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> BreakerError {
        BreakerError::Backend {
            backend,
            source: Box::new(source),
        }
    }
}

/// What `call_api` returns instead of the call's value.
#[derive(Debug, thiserror::Error)]
pub enum CallError<E> {
    /// The breaker is open: the upstream was not called.
    #[error("circuit breaker for {bookmaker} is {state}; call rejected")]
    Tripped {
        bookmaker: String,
        operation: String,
        state: BreakerState,
    },
    /// The host is overloaded and the operation is heavy: the upstream was not called.
    #[error(
        "load shed: system load {system_load:.2} above threshold, {operation} on {bookmaker} rejected"
    )]
    LoadShed {
        bookmaker: String,
        operation: String,
        system_load: f64,
    },
    /// The upstream's own error, unchanged.
    #[error("{0}")]
    Upstream(E),
    /// The breaker could not read or write its state.
    #[error("circuit breaker storage: {0}")]
    Breaker(BreakerError),
}

impl<E> CallError<E> {
    /// The upstream's error, if that is what this is.
    pub fn into_upstream(self) -> Option<E> {
        match self {
            CallError::Upstream(e) => Some(e),
            _ => None,
        }
    }

    /// True when the breaker refused the call (tripped or load shed).
    pub fn is_rejection(&self) -> bool {
        matches!(self, CallError::Tripped { .. } | CallError::LoadShed { .. })
    }
}
