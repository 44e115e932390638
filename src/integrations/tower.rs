//! A `tower::Layer` whose service protects any inner service with the breaker.
//!
//! ```no_run
//! # async fn demo(breaker: breakerctl::ProductionCircuitBreaker) {
//! use breakerctl::integrations::tower::CircuitBreakerLayer;
//! use tower_layer::Layer;
//! # let inner = tower_service_fn();
//! // Keyed by host:port, 5xx failures, 4xx ignored:
//! let service = CircuitBreakerLayer::http(breaker).operation("quotes", 10.0).layer(inner);
//! # }
//! # fn tower_service_fn() -> Inner { Inner }
//! # #[derive(Clone)] struct Inner;
//! ```

use super::{host_port, status_outcome};
use crate::breaker::{Outcome, default_outcome};
use crate::{CallContext, CallError, ProductionCircuitBreaker};
use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Which breaker a request goes through.
pub trait KeyFor<Req>: Clone + Send + Sync + 'static {
    /// The bookmaker (breaker name) for `req`.
    fn key(&self, req: &Req) -> String;
}

impl<Req, F> KeyFor<Req> for F
where
    F: Fn(&Req) -> String + Clone + Send + Sync + 'static,
{
    fn key(&self, req: &Req) -> String {
        self(req)
    }
}

/// Keys an `http::Request` by its URI's `host:port`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostPort;

impl<B> KeyFor<http::Request<B>> for HostPort {
    fn key(&self, req: &http::Request<B>) -> String {
        let uri = req.uri();
        host_port(uri.scheme_str(), uri.host(), uri.port_u16())
    }
}

/// How a result counts.
pub trait Classify<Resp, E>: Clone + Send + Sync + 'static {
    /// The call's outcome for the breaker.
    fn classify(&self, result: &Result<Resp, E>) -> Outcome;
}

impl<Resp, E, F> Classify<Resp, E> for F
where
    F: Fn(&Result<Resp, E>) -> Outcome + Clone + Send + Sync + 'static,
{
    fn classify(&self, result: &Result<Resp, E>) -> Outcome {
        self(result)
    }
}

/// Classifies `http::Response`s by status (see [`super::status_outcome`]), and errors by the
/// default rule ([`default_outcome`]: I/O timeouts and "timeout" in the message weigh as
/// timeouts).
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpStatus;

impl<B, E: Display + 'static> Classify<http::Response<B>, E> for HttpStatus {
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
        match result {
            Ok(resp) => status_outcome(resp.status().as_u16()),
            Err(_) => default_outcome(result),
        }
    }
}

/// The layer: `layer(inner)` gives a [`CircuitBreakerService`].
#[derive(Clone)]
pub struct CircuitBreakerLayer<K, C> {
    breaker: ProductionCircuitBreaker,
    key: K,
    classify: C,
    operation: Arc<str>,
    estimated_load: f64,
}

impl CircuitBreakerLayer<HostPort, HttpStatus> {
    /// For HTTP services: keyed by `host:port`, classified by status.
    pub fn http(breaker: ProductionCircuitBreaker) -> Self {
        CircuitBreakerLayer::new(breaker, HostPort, HttpStatus)
    }
}

impl<K, C> CircuitBreakerLayer<K, C> {
    /// A layer with the caller's key and classifier.
    pub fn new(breaker: ProductionCircuitBreaker, key: K, classify: C) -> Self {
        CircuitBreakerLayer {
            breaker,
            key,
            classify,
            operation: Arc::from("call"),
            estimated_load: 1.0,
        }
    }

    /// The operation name and estimated load recorded for every call (default `call`, 1.0).
    pub fn operation(mut self, operation: &str, estimated_load: f64) -> Self {
        self.operation = Arc::from(operation);
        self.estimated_load = estimated_load;
        self
    }
}

impl<S, K: Clone, C: Clone> tower_layer::Layer<S> for CircuitBreakerLayer<K, C> {
    type Service = CircuitBreakerService<S, K, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService {
            inner,
            breaker: self.breaker.clone(),
            key: self.key.clone(),
            classify: self.classify.clone(),
            operation: Arc::clone(&self.operation),
            estimated_load: self.estimated_load,
        }
    }
}

/// An inner service behind the breaker: rejected calls never reach it.
#[derive(Clone)]
pub struct CircuitBreakerService<S, K, C> {
    inner: S,
    breaker: ProductionCircuitBreaker,
    key: K,
    classify: C,
    operation: Arc<str>,
    estimated_load: f64,
}

impl<S, Req, K, C> tower_service::Service<Req> for CircuitBreakerService<S, K, C>
where
    S: tower_service::Service<Req> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Display + Send + 'static,
    Req: Send + 'static,
    K: KeyFor<Req>,
    C: Classify<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = CallError<S::Error>;
    type Future =
        Pin<Box<dyn Future<Output = Result<S::Response, CallError<S::Error>>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(CallError::Upstream)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let key = self.key.key(&req);
        // The service that was polled ready is the one that takes the call.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let breaker = self.breaker.clone();
        let classify = self.classify.clone();
        let operation = Arc::clone(&self.operation);
        let load = self.estimated_load;
        Box::pin(async move {
            let ctx = CallContext::new(&operation, load);
            breaker
                .call_api_async_with(
                    &key,
                    &ctx,
                    move || inner.call(req),
                    move |r| classify.classify(r),
                )
                .await
        })
    }
}
