//! A `reqwest_middleware::Middleware` that protects every request of a client with the
//! breaker, keyed by the request's `host:port` (one breaker per upstream host).
//!
//! ```no_run
//! # fn demo(breaker: breakerctl::ProductionCircuitBreaker) {
//! use breakerctl::integrations::reqwest::BreakerMiddleware;
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(BreakerMiddleware::new(breaker).operation("quotes", 10.0))
//!     .build();
//! # }
//! ```
//!
//! A refused call fails with `reqwest_middleware::Error::Middleware` holding a
//! `CallError<std::convert::Infallible>` (`Tripped` or `LoadShed`), which
//! `anyhow::Error::downcast_ref` finds; the upstream's own errors come back unchanged.

use super::{host_port, status_outcome};
use crate::breaker::Outcome;
use crate::{CallContext, CallError, ProductionCircuitBreaker};
use std::convert::Infallible;
use std::sync::Arc;

/// The middleware.
#[derive(Clone)]
pub struct BreakerMiddleware {
    breaker: ProductionCircuitBreaker,
    operation: Arc<str>,
    estimated_load: f64,
}

impl BreakerMiddleware {
    /// Keyed by `host:port`; 5xx and transport errors fail, timeouts weigh as timeouts, 4xx is
    /// ignored.
    pub fn new(breaker: ProductionCircuitBreaker) -> Self {
        BreakerMiddleware {
            breaker,
            operation: Arc::from("request"),
            estimated_load: 1.0,
        }
    }

    /// The operation name and estimated load recorded for every request.
    pub fn operation(mut self, operation: &str, estimated_load: f64) -> Self {
        self.operation = Arc::from(operation);
        self.estimated_load = estimated_load;
        self
    }
}

/// How a reqwest result counts: by status, and `is_timeout()` for reqwest's own errors.
pub fn classify(result: &reqwest_middleware::Result<reqwest::Response>) -> Outcome {
    match result {
        Ok(resp) => status_outcome(resp.status().as_u16()),
        Err(reqwest_middleware::Error::Reqwest(e)) if e.is_timeout() => Outcome::Timeout,
        Err(_) => Outcome::Failure,
    }
}

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for BreakerMiddleware {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let url = req.url();
        let key = host_port(Some(url.scheme()), url.host_str(), url.port());
        let ctx = CallContext::new(&self.operation, self.estimated_load);
        match self
            .breaker
            .call_api_async_with(&key, &ctx, || next.run(req, extensions), classify)
            .await
        {
            Ok(resp) => Ok(resp),
            Err(CallError::Upstream(e)) => Err(e),
            Err(refused) => Err(reqwest_middleware::Error::middleware(without_upstream(
                refused,
            ))),
        }
    }
}

/// A refusal, as an error type that needs no upstream error.
fn without_upstream<E>(e: CallError<E>) -> CallError<Infallible> {
    match e {
        CallError::Tripped {
            bookmaker,
            operation,
            state,
        } => CallError::Tripped {
            bookmaker,
            operation,
            state,
        },
        CallError::LoadShed {
            bookmaker,
            operation,
            system_load,
        } => CallError::LoadShed {
            bookmaker,
            operation,
            system_load,
        },
        CallError::Breaker(b) => CallError::Breaker(b),
        CallError::Upstream(_) => CallError::Breaker(crate::BreakerError::InvalidArgument {
            detail: "an upstream error was taken for a refusal".to_owned(),
        }),
    }
}
