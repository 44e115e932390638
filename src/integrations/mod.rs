//! Wrapping other libraries' calls: a `tower` layer (feature `tower`) and a
//! `reqwest-middleware` middleware (feature `reqwest-middleware`). Both key the breaker by a
//! function of the request (`host:port` by default) and classify HTTP answers the same way:
//! 5xx and transport errors are failures, timeouts weigh as timeouts, 4xx is not the
//! upstream's fault (ignored), anything else is a success.

#[cfg(feature = "reqwest-middleware")]
pub mod reqwest;
#[cfg(feature = "tower")]
pub mod tower;

use crate::breaker::Outcome;

/// How an HTTP status counts: 5xx a failure, 4xx ignored (the request's fault, not the
/// upstream's), anything else a success.
pub fn status_outcome(status: u16) -> Outcome {
    match status {
        500..=599 => Outcome::Failure,
        400..=499 => Outcome::Ignored,
        _ => Outcome::Success,
    }
}

/// `host:port` of a URL's authority, the port from the scheme when it is not written.
pub fn host_port(scheme: Option<&str>, host: Option<&str>, port: Option<u16>) -> String {
    let port = port.or(match scheme {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    });
    match (host, port) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => "unknown-host".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_keys() {
        assert_eq!(status_outcome(503), Outcome::Failure);
        assert_eq!(status_outcome(404), Outcome::Ignored);
        assert_eq!(status_outcome(200), Outcome::Success);
        assert_eq!(status_outcome(302), Outcome::Success);
        assert_eq!(
            host_port(Some("https"), Some("api.example"), None),
            "api.example:443"
        );
        assert_eq!(
            host_port(Some("http"), Some("127.0.0.1"), Some(8080)),
            "127.0.0.1:8080"
        );
        assert_eq!(host_port(None, None, None), "unknown-host");
    }
}
