//! The library's errors. Each variant says what happened; the CLI maps them to exit codes.

use crate::machine::{BreakerState, CooldownFrom};
use std::path::PathBuf;
use std::time::Duration;

/// The library's result: `BreakerError` unless another error type is given.
pub type Result<T, E = BreakerError> = std::result::Result<T, E>;

/// What the breaker and its store fail with, whatever the backend.
#[derive(Debug, thiserror::Error)]
pub enum BreakerError {
    /// The database must already exist and there is no file at `path`.
    #[error("no breaker database at {}", path.display())]
    NotFound {
        /// The path that was opened.
        path: PathBuf,
    },

    /// The file is not a breaker database, and was left untouched.
    #[error("{} is not a circuit breaker database: {detail}", path.display())]
    NotABreakerDatabase {
        /// The file.
        path: PathBuf,
        /// Why: not a regular file, empty, not SQLite, another program's, or missing the
        /// breaker's tables or the seed's columns.
        detail: String,
    },

    /// The file was migrated by a newer breakerctl; it was left untouched.
    #[error(
        "{} has schema version {found}, newer than this build understands ({supported}); upgrade breakerctl",
        path.display()
    )]
    SchemaTooNew {
        /// The file.
        path: PathBuf,
        /// The file's schema version (SQLite: `PRAGMA user_version`).
        found: i64,
        /// The newest version this build knows ([`crate::storage::SCHEMA_VERSION`]).
        supported: i64,
    },

    /// The store cannot be written: the file or its folder is not writable by this user, it
    /// was opened read-only, or it needs a migration that a read-only open cannot make.
    #[error("{} is read-only: {detail}", path.display())]
    ReadOnly {
        /// The file.
        path: PathBuf,
        /// Which of those, in words.
        detail: String,
    },

    /// The store stayed locked by another writer for longer than the busy timeout (from
    /// `flush`: writes were still queued when it gave up).
    #[error("database is busy: another process held the write lock{}", busy_wait(*waited))]
    Busy {
        /// How long it waited: the busy timeout (zero waits for nothing).
        waited: Duration,
    },

    /// The store is damaged.
    #[error("database is corrupt: {detail}")]
    Corrupt {
        /// The backend's message, or what is inconsistent.
        detail: String,
    },

    /// A reset inside the cooldown, not forced: refused, and the denial audited.
    #[error(
        "reset denied: {}; cooldown {}s, {}s left",
        cooldown_subject(bookmaker, *from, *elapsed), cooldown.as_secs(), remaining.as_secs().max(1)
    )]
    CooldownActive {
        /// The breaker's name.
        bookmaker: String,
        /// Time since the later of the last failure and the trip (whole milliseconds).
        elapsed: Duration,
        /// Time until the cooldown ends (whole milliseconds).
        remaining: Duration,
        /// The configured cooldown.
        cooldown: Duration,
        /// Whether the cooldown counts from the trip or from the last failure.
        from: CooldownFrom,
    },

    /// A forced reset without a reason (or with a blank one).
    #[error("a forced reset needs a non-empty reason")]
    ForceNeedsReason,

    /// The store has no breaker by this name (a reset or its preview, for example).
    #[error("unknown breaker {name:?}")]
    UnknownBookmaker {
        /// The name asked for.
        name: String,
        /// Up to three known names closest to it, best first; empty when none is close.
        suggestions: Vec<String>,
    },

    /// A bookmaker name that is blank or longer than
    /// [`MAX_NAME_BYTES`](crate::breaker::MAX_NAME_BYTES).
    #[error("invalid bookmaker name: {detail}")]
    InvalidName {
        /// What is wrong with it.
        detail: String,
    },

    /// An argument the breaker refuses, such as an operator trip without a reason.
    #[error("invalid argument: {detail}")]
    InvalidArgument {
        /// What is wrong with it.
        detail: String,
    },

    /// Any other error of the store, with the backend's own error as its source.
    #[error("database error: {source}")]
    Backend {
        /// Which backend (`sqlite`, ...).
        backend: &'static str,
        /// The backend's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A file or folder could not be used (creating the database's folder, or the backend
    /// unable to open the file).
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
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
