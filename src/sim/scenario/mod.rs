//! Scenarios for `breakerctl simulate`: the market-probe service ([`super::service`]) called by
//! many concurrent callers against simulated bookmakers ([`super::upstream`]), all on this
//! machine, with one shared breaker database. The run ends with a [`Report`].
//!
//! * `steady`: every bookmaker healthy (small error and timeout rates), base traffic.
//! * `outage`: one bookmaker fails hard (immediate HTTP 500) from 30% to 60% of the run.
//! * `spike`: from 30% to 70% of the run traffic jumps to 50 times the base rate and the
//!   host load is raised past the shedding threshold; from 30% to 60% one bookmaker slows
//!   past the client's timeout.
//!
//! The host load is *driven*, not produced: the breaker's load monitor is a
//! [`SettableLoad`] that the scenario sets to [`BASE_LOAD`] or [`HIGH_LOAD`] on its timeline,
//! so that shedding is tested deterministically whatever the machine. (The real CPU does get
//! busy during a spike; it just is not what the breaker reads.)
//!
//! Every request goes to `127.0.0.1`. Every loop is bounded by the run's end (at most
//! [`MAX_DURATION`]) and by a count; a run stops by itself.
//!
//! "Requests a bookmaker received while its breaker was open" compares the bookmaker's own
//! request log with the open intervals in the audit trail (`TRIP`/`REOPEN` -> `CLOSE`/`RESET`):
//! requests inside a half-open probe's window (`PROBE_START` -> `CLOSE`/`REOPEN`) are the
//! probe's; requests of calls admitted before the trip was committed (started at most
//! [`ATTRIBUTION_GRACE`] after it, still running) are counted apart as in flight at the trip;
//! anything else is a leak and is reported as `requestsWhileOpen`.

mod attribution;
mod checks;
mod engine;
mod report;
#[cfg(test)]
mod tests;
mod timeline;

#[allow(unused_imports)]
use attribution::*;
pub use checks::checks;
pub use engine::run;
#[allow(unused_imports)]
use engine::*;
pub use report::*;
pub use timeline::*;

use crate::breaker::ProductionCircuitBreaker;
use crate::clock::Clock;
use crate::config::BreakerConfig;
use crate::error::CallError;
use crate::load::SettableLoad;
use crate::machine::{BreakerState, fmt_count};
use crate::sim::client::{HttpClient, UpstreamError};
use crate::sim::service::{DARK_POOL, DEEP_PROBE, MICRO_BET, MarketProbeService};
use crate::sim::upstream::{
    LatencyDist, Profile, ReceivedRequest, SimBookmaker, SplitMix64, Window,
};
use crate::storage::AuditFilter;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Traffic during the spike window, as a multiple of the base rate.
pub const SPIKE_MULTIPLIER: f64 = 50.0;
/// The simulated host load outside the high-load window.
pub const BASE_LOAD: f64 = 0.35;
/// The simulated host load during the spike (above the seed's 0.85 threshold).
pub const HIGH_LOAD: f64 = 0.92;
/// Longest run accepted.
pub const MAX_DURATION: Duration = Duration::from_secs(300);
/// Shortest run accepted.
pub const MIN_DURATION: Duration = Duration::from_secs(1);
pub const MAX_BOOKMAKERS: usize = 16;
pub const MAX_CALLERS: usize = 128;
/// Highest base rate accepted (calls per second, all callers together).
pub const MAX_BASE_RATE: f64 = 10_000.0;
/// Simulated bookmakers are named `sim-...`, so a simulation pointed at a real database can
/// never touch a real bookmaker's breaker.
pub const NAME_PREFIX: &str = "sim-";
/// See the module documentation: how long after a trip's timestamp a call may still have been
/// admitted as closed, and how late after its caller gave up a request may be picked up by a
/// bookmaker's worker.
pub const ATTRIBUTION_GRACE: Duration = Duration::from_millis(50);
/// At most this many calls are recorded per caller thread (the run's end comes first).
const MAX_RECORDS_PER_CALLER: usize = 1_000_000;
/// A caller that falls further behind its schedule than this drops the missed calls.
const MAX_LAG: Duration = Duration::from_millis(100);
/// How often the driver updates the load and reports progress.
const TICK: Duration = Duration::from_millis(20);
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

const NAMES: [&str; MAX_BOOKMAKERS] = [
    "draftkings",
    "fanduel",
    "betmgm",
    "caesars",
    "pointsbet",
    "bet365",
    "williamhill",
    "unibet",
    "betway",
    "pinnacle",
    "betfair",
    "ladbrokes",
    "coral",
    "betrivers",
    "bovada",
    "betonline",
];

/// Operations the callers mix, with their share of calls.
const OPERATIONS: [((&str, f64), f64); 3] =
    [(DEEP_PROBE, 0.35), (MICRO_BET, 0.45), (DARK_POOL, 0.20)];
const MARKETS: [&str; 3] = ["m-1", "m-2", "m-3"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    Steady,
    Outage,
    Spike,
}

impl Scenario {
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Steady => "steady",
            Scenario::Outage => "outage",
            Scenario::Spike => "spike",
        }
    }
}

/// Everything a run needs besides the database path.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub scenario: Scenario,
    pub duration: Duration,
    pub bookmakers: usize,
    pub seed: u64,
    /// Concurrent caller threads.
    pub callers: usize,
    /// Base call rate per second, all callers together.
    pub base_rate: f64,
    /// The service's per-request HTTP timeout.
    pub client_timeout: Duration,
    /// How long a tripped breaker stays open before its half-open probe (short, so that
    /// probes happen within a run).
    pub reset_timeout: Duration,
    /// Weighted failures that trip a breaker.
    pub failure_threshold: f64,
    /// How long a write waits for another process's lock.
    pub busy_timeout: Duration,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            scenario: Scenario::Spike,
            duration: Duration::from_secs(10),
            bookmakers: 4,
            seed: 42,
            callers: 32,
            base_rate: 100.0,
            client_timeout: Duration::from_millis(250),
            reset_timeout: Duration::from_secs(2),
            failure_threshold: 10.0,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

impl SimOptions {
    /// Checks the bounds; the message names the offending setting.
    pub fn validate(&self) -> Result<(), String> {
        if !(MIN_DURATION..=MAX_DURATION).contains(&self.duration) {
            return Err(format!(
                "--duration must be between {}s and {}s",
                MIN_DURATION.as_secs(),
                MAX_DURATION.as_secs()
            ));
        }
        if !(1..=MAX_BOOKMAKERS).contains(&self.bookmakers) {
            return Err(format!(
                "--bookmakers must be between 1 and {MAX_BOOKMAKERS}"
            ));
        }
        if !(1..=MAX_CALLERS).contains(&self.callers) {
            return Err(format!("--callers must be between 1 and {MAX_CALLERS}"));
        }
        if !(self.base_rate.is_finite() && self.base_rate > 0.0 && self.base_rate <= MAX_BASE_RATE)
        {
            return Err(format!(
                "--rate must be above 0 and at most {MAX_BASE_RATE} calls per second"
            ));
        }
        if self.client_timeout < Duration::from_millis(10)
            || self.client_timeout > Duration::from_secs(5)
        {
            return Err("--client-timeout must be between 10ms and 5s".to_owned());
        }
        if self.reset_timeout < Duration::from_millis(100) || self.reset_timeout > MAX_DURATION {
            return Err("--probe-after must be between 100ms and 300s".to_owned());
        }
        if !(self.failure_threshold.is_finite() && self.failure_threshold > 0.0) {
            return Err("--failure-threshold must be above 0".to_owned());
        }
        Ok(())
    }

    /// The simulated bookmakers' names.
    pub fn bookmaker_names(&self) -> Vec<String> {
        NAMES
            .iter()
            .take(self.bookmakers)
            .map(|n| format!("{NAME_PREFIX}{n}"))
            .collect()
    }

    /// The breaker settings of the run: the seed's, with the short reset timeout.
    pub fn breaker_config(&self) -> BreakerConfig {
        BreakerConfig {
            failure_threshold: self.failure_threshold,
            reset_timeout: self.reset_timeout,
            busy_timeout: self.busy_timeout,
            ..BreakerConfig::default()
        }
    }

    /// The run's timeline, from its scenario and duration.
    pub fn timeline(&self) -> Timeline {
        let at = |fraction: f64| self.duration.mul_f64(fraction);
        let degraded = match self.scenario {
            Scenario::Steady => None,
            _ => Some(usize::from(self.bookmakers > 1)),
        };
        match self.scenario {
            Scenario::Steady => Timeline {
                degraded,
                degradation: None,
                spike: None,
                high_load: None,
            },
            Scenario::Outage => Timeline {
                degraded,
                degradation: Some((Degradation::Outage, at(0.3), at(0.6))),
                spike: None,
                high_load: None,
            },
            Scenario::Spike => Timeline {
                degraded,
                degradation: Some((
                    Degradation::Slowdown(self.client_timeout + Duration::from_millis(150)),
                    at(0.3),
                    at(0.6),
                )),
                spike: Some((at(0.3), at(0.7))),
                high_load: Some((at(0.3), at(0.7))),
            },
        }
    }
}
