//! SQLite's errors as the breaker's: the kinds an operator can act on get their own variants.

use crate::error::BreakerError;
use std::time::Duration;

/// Wraps a SQLite error, turning the kinds an operator can act on into their own variants.
pub(crate) fn sqlite_error(
    err: rusqlite::Error,
    path: &std::path::Path,
    busy: Duration,
) -> BreakerError {
    use rusqlite::ErrorCode;
    if let rusqlite::Error::SqliteFailure(ffi, ref msg) = err {
        let detail = msg.clone().unwrap_or_else(|| ffi.to_string());
        match ffi.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return BreakerError::Busy { waited: busy };
            }
            ErrorCode::NotADatabase => {
                return BreakerError::NotABreakerDatabase {
                    path: path.to_owned(),
                    detail: "the file is not a SQLite database".to_owned(),
                };
            }
            ErrorCode::DatabaseCorrupt => return BreakerError::Corrupt { detail },
            ErrorCode::ReadOnly => {
                return BreakerError::ReadOnly {
                    path: path.to_owned(),
                    detail,
                };
            }
            ErrorCode::CannotOpen => {
                return BreakerError::Io {
                    path: path.to_owned(),
                    source: std::io::Error::other(detail),
                };
            }
            _ => {}
        }
    }
    BreakerError::backend("sqlite", err)
}
