//! How a call's result counts: the outcome classifier and the default rule.

use std::any::Any;
use std::fmt::Display;

/// How one call counts for its breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The upstream answered: the failure count goes back to zero.
    Success,
    /// A hard failure: weight 1.0.
    Failure,
    /// A timeout: the configured timeout weight (0.5 by default).
    Timeout,
    /// Not the upstream's fault (a 404, a validation error of ours): not counted either way.
    /// The count is not reset as a success would reset it.
    Ignored,
}

/// What happens to a call whose future is dropped, or whose closure panics, after the breaker
/// admitted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CancelPolicy {
    /// The caller stopped waiting: count it as a timeout (the default). A cancelled half-open
    /// probe is the exception: it releases its lease at once and counts as nothing, since it
    /// says nothing about the upstream, and the next call probes again.
    #[default]
    CountAsTimeout,
    /// Count nothing (the lease of a cancelled probe is still released at once).
    Ignore,
}

/// The default rule: an `Ok` is a success; an error is a timeout when it is a
/// `std::io::Error` of kind `TimedOut` (itself or, for `Box<dyn Error>` and
/// `std::io::Error`, anywhere in its `source()` chain), or when its message mentions "timeout"
/// or "timed out" (the seed's rule); any other error is a failure.
pub fn default_outcome<T, E: Display + 'static>(result: &Result<T, E>) -> Outcome {
    match result {
        Ok(_) => Outcome::Success,
        Err(e) if error_is_timeout(e) => Outcome::Timeout,
        Err(_) => Outcome::Failure,
    }
}

/// Whether an error says it is a timeout (see [`default_outcome`]).
pub fn error_is_timeout<E: Display + 'static>(e: &E) -> bool {
    if let Some(io) = (e as &dyn Any).downcast_ref::<std::io::Error>()
        && chain_has_timeout(io)
    {
        return true;
    }
    if let Some(boxed) =
        (e as &dyn Any).downcast_ref::<Box<dyn std::error::Error + Send + Sync + 'static>>()
        && chain_has_timeout(boxed.as_ref())
    {
        return true;
    }
    super::names::message_says_timeout(&e.to_string())
}

/// Whether `e` or any error in its `source()` chain is an I/O timeout.
pub fn chain_has_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
            // An io::Error wrapping another error hides it from `source()`.
            if let Some(inner) = io.get_ref()
                && chain_has_timeout(inner)
            {
                return true;
            }
        }
        next = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rule() {
        assert_eq!(default_outcome(&Ok::<(), String>(())), Outcome::Success);
        assert_eq!(
            default_outcome(&Err::<(), _>("request timeout after 2s".to_owned())),
            Outcome::Timeout
        );
        assert_eq!(
            default_outcome(&Err::<(), _>("503 unavailable".to_owned())),
            Outcome::Failure
        );
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer");
        assert_eq!(default_outcome(&Err::<(), _>(io)), Outcome::Timeout);
        // A timeout wrapped in another error, found by its kind and not its words.
        let wrapped = std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "deadline",
        ));
        assert_eq!(default_outcome(&Err::<(), _>(wrapped)), Outcome::Timeout);
        let boxed: Box<dyn std::error::Error + Send + Sync> =
            Box::new(std::io::Error::new(std::io::ErrorKind::TimedOut, "x"));
        assert_eq!(default_outcome(&Err::<(), _>(boxed)), Outcome::Timeout);
    }
}
