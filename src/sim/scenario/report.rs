//! The report of a run: what each bookmaker and operation saw, and the self-checks.

#[allow(unused_imports)]
use super::*;

/// The whole result of a run. JSON keys are camelCase.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub scenario: Scenario,
    pub seed: u64,
    pub database: String,
    /// Set by the caller: whether the run created the database.
    pub database_created: bool,
    pub duration_ms: u64,
    /// From the start of the callers to the end of the last call.
    pub elapsed_ms: u64,
    pub settings: Settings,
    pub timeline: TimelineReport,
    pub rates: Vec<RatePhase>,
    pub totals: Counts,
    pub operations: Vec<OperationReport>,
    pub bookmakers: Vec<BookmakerReport>,
    /// The load test's expectations, evaluated on this run (empty for none).
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub callers: usize,
    pub base_rate_per_sec: f64,
    pub spike_multiplier: f64,
    pub client_timeout_ms: u64,
    pub reset_timeout_ms: u64,
    pub failure_threshold: f64,
    pub timeout_weight: f64,
    pub load_shed_threshold: f64,
    pub heavy_operation_threshold: f64,
    pub base_load: f64,
    pub high_load: f64,
    /// Where the breaker's system load came from.
    pub load_source: &'static str,
    pub attribution_grace_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineReport {
    pub degraded_bookmaker: Option<String>,
    /// "outage" or "slowdown".
    pub degradation: Option<&'static str>,
    /// Latency of the degraded bookmaker's answers during a slowdown.
    pub slowdown_latency_ms: Option<u64>,
    pub degradation_start_ms: Option<u64>,
    pub degradation_end_ms: Option<u64>,
    pub spike_start_ms: Option<u64>,
    pub spike_end_ms: Option<u64>,
    /// When the load was actually raised and lowered.
    pub high_load_start_ms: Option<u64>,
    pub high_load_end_ms: Option<u64>,
}

/// Traffic in one phase: what was asked for and what the callers managed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RatePhase {
    pub phase: &'static str,
    pub start_ms: u64,
    pub end_ms: u64,
    pub target_per_sec: f64,
    pub attempted_per_sec: f64,
    pub calls: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub calls: u64,
    pub successes: u64,
    pub failures: u64,
    pub timeouts: u64,
    pub rejected_open: u64,
    pub shed: u64,
    /// The breaker could not read or write its database.
    pub breaker_errors: u64,
}

impl Counts {
    pub(super) fn add(&mut self, outcome: Outcome) {
        self.calls += 1;
        match outcome {
            Outcome::Success => self.successes += 1,
            Outcome::Failure => self.failures += 1,
            Outcome::Timeout => self.timeouts += 1,
            Outcome::RejectedOpen => self.rejected_open += 1,
            Outcome::Shed => self.shed += 1,
            Outcome::BreakerError => self.breaker_errors += 1,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationReport {
    pub operation: &'static str,
    pub estimated_load: f64,
    pub heavy: bool,
    #[serde(flatten)]
    pub counts: Counts,
    /// Calls made while the load was above the threshold (read before and after the call).
    pub calls_while_high_load: u64,
    pub shed_while_high_load: u64,
    /// Calls that reached the bookmaker while the load was above the threshold.
    pub upstream_while_high_load: u64,
    pub shed_while_low_load: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    pub count: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

impl Latency {
    pub(super) fn of(mut micros: Vec<u64>) -> Latency {
        micros.sort_unstable();
        let pick = |q: f64| -> Option<f64> {
            if micros.is_empty() {
                return None;
            }
            let rank = ((q * micros.len() as f64).ceil() as usize).clamp(1, micros.len());
            Some(round3(micros[rank - 1] as f64 / 1000.0))
        };
        Latency {
            count: micros.len() as u64,
            p50_ms: pick(0.50),
            p99_ms: pick(0.99),
            max_ms: micros.last().map(|m| round3(*m as f64 / 1000.0)),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BookmakerReport {
    pub bookmaker: String,
    pub degraded: bool,
    #[serde(flatten)]
    pub counts: Counts,
    /// Automatic trips during the run (audit `TRIP` rows).
    pub trips: u64,
    pub probes: u64,
    pub reopens: u64,
    pub closes: u64,
    /// From the start of the degradation to the first trip after it.
    pub time_to_trip_ms: Option<u64>,
    /// The weighted failure count recorded with the first trip.
    pub failure_count_at_trip: Option<f64>,
    /// Time the breaker spent open (incl. half-open) during the run.
    pub open_ms: u64,
    pub requests_received: u64,
    /// Requests the bookmaker received while its breaker was open that were neither a
    /// half-open probe's nor in flight at the trip: leaks. Should be 0.
    pub requests_while_open: u64,
    /// Requests made by half-open probes.
    pub probe_requests: u64,
    /// Requests received after the trip from calls admitted before it.
    pub in_flight_at_trip_requests: u64,
    /// Caller latency of calls that reached the bookmaker (breaker closed, or a probe).
    pub latency_closed: Latency,
    /// Caller latency of calls rejected by the open breaker.
    pub latency_open: Latency,
    /// Caller latency of calls shed for load.
    pub latency_shed: Latency,
    pub final_state: Option<BreakerState>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

pub(super) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub(super) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
