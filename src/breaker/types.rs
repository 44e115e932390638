//! The values a caller hands the breaker and gets back: call context, status, reset options
//! and preview.

use crate::machine::{self, BreakerRow, BreakerState, Rules};
use serde::Serialize;

/// What a call is, for load shedding and the counters.
///
/// An operation whose `estimated_load` is above
/// [`BreakerConfig::heavy_operation_threshold`](crate::BreakerConfig::heavy_operation_threshold)
/// (100 by default) is heavy: it is shed while the host's load is above the load-shed
/// threshold. Lighter calls never read the load.
///
/// ```
/// use breakerctl::load::FixedLoad;
/// use breakerctl::{CallContext, CallError, ProductionCircuitBreaker};
/// use std::sync::Arc;
///
/// # fn main() -> Result<(), breakerctl::BreakerError> {
/// # let dir = std::env::temp_dir().join(format!("breakerctl-doc-ctx-{}", std::process::id()));
/// let breaker = ProductionCircuitBreaker::builder()
///     .load_monitor(Arc::new(FixedLoad(0.95))) // the host is overloaded
///     .open(dir.join("cb.db"))?;
///
/// let heavy = CallContext::new("deepProbe", 500.0);
/// let shed = breaker.call_api("draftkings", &heavy, || Ok::<_, String>("markets"));
/// assert!(matches!(shed, Err(CallError::LoadShed { .. }))); // not sent, not a failure
///
/// let light = CallContext::new("microBet", 5.0);
/// assert_eq!(breaker.call_api("draftkings", &light, || Ok::<_, String>("bet")).ok(), Some("bet"));
/// # drop(breaker);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    /// e.g. `deepProbe`, `microBet`.
    pub operation: &'a str,
    /// Estimated load impact (the seed's 0..1000 scale).
    pub estimated_load: f64,
}

impl<'a> CallContext<'a> {
    /// A call of `operation` with `estimated_load` on the seed's 0..1000 scale.
    pub fn new(operation: &'a str, estimated_load: f64) -> Self {
        CallContext {
            operation,
            estimated_load,
        }
    }
}

/// The seed's `BookmakerStatus` plus the state and the added facts.
///
/// Every time is in epoch milliseconds. Serialised with camelCase names (`failureThreshold`,
/// `trippedAt`, ...).
///
/// ```
/// use breakerctl::{BreakerConfig, BreakerState, ProductionCircuitBreaker};
///
/// # fn main() -> Result<(), breakerctl::BreakerError> {
/// # let dir = std::env::temp_dir().join(format!("breakerctl-doc-status-{}", std::process::id()));
/// let breaker = ProductionCircuitBreaker::open(dir.join("cb.db"), BreakerConfig::default())?;
/// assert!(breaker.get_status("pinnacle")?.is_none()); // never seen
///
/// breaker.record_timeout("pinnacle", "read timed out")?;
/// breaker.record_failure("pinnacle", "502 Bad Gateway")?;
/// let status = breaker.get_status("pinnacle")?.expect("recorded");
/// assert_eq!((status.state, status.failures, status.failure_threshold), (BreakerState::Closed, 1.5, 10.0));
/// assert_eq!(status.last_error.as_deref(), Some("502 Bad Gateway"));
/// assert!(status.last_failure_at.is_some() && status.tripped_at.is_none());
///
/// let status = breaker.trip("pinnacle", "maintenance window", "alice")?;
/// assert!(status.tripped && status.state == BreakerState::ForcedOpen);
/// assert_eq!(status.tripped_at, Some(status.updated_at));
/// # drop(breaker);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BookmakerStatus {
    /// The breaker's name.
    pub bookmaker: String,
    /// Whether the breaker is tripped (any state but closed).
    pub tripped: bool,
    /// Weighted failures of the current window: 1.0 per failure, the timeout weight per
    /// timeout; 0 after a success or a reset.
    pub failures: f64,
    /// The weighted failures that trip the breaker, from this process's configuration.
    pub failure_threshold: f64,
    /// The latest failure's message; `None` if no failure was ever recorded.
    pub last_error: Option<String>,
    /// Moving average of successful calls' latency in milliseconds; `None` before the first
    /// success was written.
    pub avg_latency: Option<f64>,
    /// When the latest failure was recorded; `None` if none ever was.
    pub last_failure_at: Option<i64>,
    /// How many times the breaker went from untripped to tripped (a failed probe's
    /// re-opening is not counted).
    pub trip_count: i64,
    /// When an operator last reset the breaker; `None` if never.
    pub last_reset_at: Option<i64>,
    /// Who made the last reset; `None` if never reset.
    pub last_reset_by: Option<String>,
    /// The last reset's reason; `None` if never reset or reset without one.
    pub last_reset_reason: Option<String>,
    /// The state at the time of the read.
    pub state: BreakerState,
    /// When the current trip began (the reset timeout counts from it; a failed probe restarts
    /// it); `None` when not tripped. For a trip written by the original service, its
    /// `last_failure_at`.
    pub tripped_at: Option<i64>,
    /// Whether a half-open probe holds an unexpired lease.
    pub probe_in_flight: bool,
    /// When the latest recorded success happened; `None` before any. Other processes' clean
    /// successes arrive with their batch flush, about a second late.
    pub last_success_at: Option<i64>,
    /// When the row was last written.
    pub updated_at: i64,
}

impl BookmakerStatus {
    /// The status of `row` at `now` (epoch milliseconds) under `rules`.
    pub fn from_row(row: &BreakerRow, rules: &Rules, now: i64) -> BookmakerStatus {
        BookmakerStatus {
            bookmaker: row.bookmaker.clone(),
            tripped: row.tripped,
            failures: row.failure_count,
            failure_threshold: rules.failure_threshold,
            last_error: row.last_error.clone(),
            avg_latency: row.avg_latency,
            last_failure_at: row.last_failure_at,
            trip_count: row.trip_count,
            last_reset_at: row.last_reset_at,
            last_reset_by: row.last_reset_by.clone(),
            last_reset_reason: row.last_reset_reason.clone(),
            state: machine::state_of(row, rules, now),
            tripped_at: if row.tripped {
                row.trip_started_at()
            } else {
                None
            },
            probe_in_flight: row.probe_in_flight(now),
            last_success_at: row.last_success_at,
            updated_at: row.updated_at,
        }
    }
}

/// An operator's reset request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResetOptions<'a> {
    /// Why, for the audit row and `last_reset_reason`; trimmed, and blank counts as none.
    /// Required when `force`.
    pub reason: Option<&'a str>,
    /// Who resets, for the audit row and `last_reset_by` (blank is recorded as `unknown`).
    pub user: &'a str,
    /// Reset even inside the cooldown (needs a reason; also counted as a forced reset).
    pub force: bool,
}

/// Whether a reset would go ahead now (`reset --dry-run`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetPreview {
    /// The breaker's name.
    pub bookmaker: String,
    /// Whether the reset would go ahead now (with the `force` asked about).
    pub allowed: bool,
    /// The breaker's state now.
    pub state: BreakerState,
    /// Milliseconds since the later of the last failure and the trip (0 when that time is
    /// in the future); `None` when the row has neither.
    pub elapsed_ms: Option<i64>,
    /// Milliseconds until the cooldown ends; 0 when allowed.
    pub remaining_ms: i64,
    /// The configured cooldown, in milliseconds.
    pub cooldown_ms: i64,
    /// Whether the cooldown counts from the trip or from the last failure.
    pub cooldown_from: machine::CooldownFrom,
}
