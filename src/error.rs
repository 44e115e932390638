//! The library's errors. Each variant says what happened; the CLI maps them to exit codes.

use crate::machine::{BreakerState, CooldownFrom};
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

    #[error("database is busy: another process held the write lock{}", busy_wait(*waited))]
    Busy { waited: Duration },

    #[error("database is corrupt: {detail}")]
    Corrupt { detail: String },

    #[error(
        "reset denied: {}; cooldown {}s, {}s left",
        cooldown_subject(bookmaker, *from, *elapsed), cooldown.as_secs(), remaining.as_secs().max(1)
    )]
    CooldownActive {
        bookmaker: String,
        elapsed: Duration,
        remaining: Duration,
        cooldown: Duration,
        /// Whether the cooldown counts from the trip or from the last failure.
        from: CooldownFrom,
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

/// " for more than 5s", or nothing with no wait at all (`--busy-timeout 0s`).
fn busy_wait(waited: Duration) -> String {
    if waited.is_zero() {
        " (--busy-timeout 0 waits for nothing)".to_owned()
    } else {
        format!(" for more than {waited:?}")
    }
}

/// "NAME tripped 3s ago" or "NAME's last failure was 3s ago": what the cooldown counts from.
fn cooldown_subject(bookmaker: &str, from: CooldownFrom, elapsed: Duration) -> String {
    match from {
        CooldownFrom::Trip => format!("{bookmaker} tripped {}s ago", elapsed.as_secs()),
        CooldownFrom::LastFailure => {
            format!("{bookmaker}'s last failure was {}s ago", elapsed.as_secs())
        }
    }
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
///
/// It is a `std::error::Error` whenever the upstream's error is one, with that error (or the
/// breaker's) as its `source()`, so anyhow and tracing show the whole chain.
#[derive(Debug)]
pub enum CallError<E> {
    /// The breaker is open: the upstream was not called.
    Tripped {
        /// The breaker's bookmaker.
        bookmaker: String,
        /// The operation of the refused call.
        operation: String,
        /// The state that refused it (`open`, `half_open` with a probe running, `forced_open`).
        state: BreakerState,
    },
    /// The host is overloaded and the operation is heavy: the upstream was not called.
    LoadShed {
        /// The breaker's bookmaker.
        bookmaker: String,
        /// The operation of the shed call.
        operation: String,
        /// The host's load (0 to 1) when it was shed.
        system_load: f64,
    },
    /// The upstream's own error, unchanged.
    Upstream(E),
    /// The breaker could not read or write its state.
    Breaker(BreakerError),
}

impl<E: std::fmt::Display> std::fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Tripped {
                bookmaker, state, ..
            } => write!(
                f,
                "circuit breaker for {bookmaker} is {state}; call rejected"
            ),
            CallError::LoadShed {
                bookmaker,
                operation,
                system_load,
            } => write!(
                f,
                "load shed: system load {system_load:.2} above threshold, {operation} on {bookmaker} rejected"
            ),
            CallError::Upstream(e) => write!(f, "{e}"),
            CallError::Breaker(e) => write!(f, "circuit breaker storage: {e}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Upstream(e) => Some(e),
            CallError::Breaker(e) => Some(e),
            CallError::Tripped { .. } | CallError::LoadShed { .. } => None,
        }
    }
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
