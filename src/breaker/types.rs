//! The values a caller hands the breaker and gets back: call context, status, reset options
//! and preview.

use crate::machine::{self, BreakerRow, BreakerState, Rules};
use serde::Serialize;

/// What a call is, for load shedding and the counters.
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    /// e.g. `deepProbe`, `microBet`.
    pub operation: &'a str,
    /// Estimated load impact (the seed's 0..1000 scale).
    pub estimated_load: f64,
}

impl<'a> CallContext<'a> {
    pub fn new(operation: &'a str, estimated_load: f64) -> Self {
        CallContext {
            operation,
            estimated_load,
        }
    }
}

/// The seed's `BookmakerStatus` plus the state and the added facts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BookmakerStatus {
    pub bookmaker: String,
    pub tripped: bool,
    pub failures: f64,
    pub failure_threshold: f64,
    pub last_error: Option<String>,
    pub avg_latency: Option<f64>,
    pub last_failure_at: Option<i64>,
    pub trip_count: i64,
    pub last_reset_at: Option<i64>,
    pub last_reset_by: Option<String>,
    pub last_reset_reason: Option<String>,
    pub state: BreakerState,
    pub tripped_at: Option<i64>,
    pub probe_in_flight: bool,
    pub last_success_at: Option<i64>,
    pub updated_at: i64,
}

impl BookmakerStatus {
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
    pub reason: Option<&'a str>,
    pub user: &'a str,
    pub force: bool,
}

/// Whether a reset would go ahead now (`reset --dry-run`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetPreview {
    pub bookmaker: String,
    pub allowed: bool,
    pub state: BreakerState,
    pub elapsed_ms: Option<i64>,
    pub remaining_ms: i64,
    pub cooldown_ms: i64,
    /// Whether the cooldown counts from the trip or from the last failure.
    pub cooldown_from: machine::CooldownFrom,
}
