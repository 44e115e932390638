//! A small blocking HTTP client (plain HTTP, meant for loopback) with a
//! per-request timeout, built on `ureq` 3.
//!
//! Failures are mapped onto [`UpstreamError`]:
//!
//! * the client-side timeout expiring -> [`UpstreamError::Timeout`] (its
//!   `Display` starts with "timeout", which is how the breaker classifies
//!   timeouts by default);
//! * any non-2xx answer (5xx, but also 404 etc.) -> [`UpstreamError::Status`];
//! * anything else (connection refused, reset, bad URL, ...) ->
//!   [`UpstreamError::Transport`].

use std::time::Duration;

/// Why a call to a (simulated) upstream failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("timeout after {0:?} calling {1}")]
    Timeout(Duration, String),
    #[error("upstream returned HTTP {0} for {1}")]
    Status(u16, String),
    #[error("transport error calling {1}: {0}")]
    Transport(String, String),
}

impl UpstreamError {
    pub fn is_timeout(&self) -> bool {
        matches!(self, UpstreamError::Timeout(..))
    }

    /// The HTTP status, for [`UpstreamError::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            UpstreamError::Status(code, _) => Some(*code),
            _ => None,
        }
    }

    /// The URL that was called.
    pub fn url(&self) -> &str {
        match self {
            UpstreamError::Timeout(_, url)
            | UpstreamError::Status(_, url)
            | UpstreamError::Transport(_, url) => url,
        }
    }
}

/// Blocking HTTP client with a fixed per-request timeout (end to end: connect,
/// send, headers and body). Cheap to clone; clones share the connection pool.
#[derive(Debug, Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
    timeout: Duration,
}

impl HttpClient {
    pub fn new(timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            // Non-2xx answers come back as responses; we map them ourselves.
            .http_status_as_error(false)
            // Never route loopback calls through an environment proxy.
            .proxy(None)
            .build()
            .new_agent();
        HttpClient { agent, timeout }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `GET url`; the response body on 2xx.
    pub fn get(&self, url: &str) -> Result<String, UpstreamError> {
        let result = self.agent.get(url).call();
        self.finish(url, result)
    }

    /// `POST url` with a JSON `body`; the response body on 2xx.
    pub fn post(&self, url: &str, body: &str) -> Result<String, UpstreamError> {
        let result = self
            .agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(body);
        self.finish(url, result)
    }

    fn finish(
        &self,
        url: &str,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<String, UpstreamError> {
        let mut response = result.map_err(|e| self.map_error(url, e))?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string();
        if !(200..300).contains(&status) {
            // The body (read above so the connection can be reused) is ignored.
            return Err(UpstreamError::Status(status, url.to_string()));
        }
        body.map_err(|e| self.map_error(url, e))
    }

    fn map_error(&self, url: &str, error: ureq::Error) -> UpstreamError {
        use std::io::ErrorKind;
        match error {
            ureq::Error::Timeout(_) => UpstreamError::Timeout(self.timeout, url.to_string()),
            ureq::Error::Io(ref io)
                if matches!(io.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) =>
            {
                UpstreamError::Timeout(self.timeout, url.to_string())
            }
            ureq::Error::StatusCode(code) => UpstreamError::Status(code, url.to_string()),
            other => UpstreamError::Transport(other.to_string(), url.to_string()),
        }
    }
}
