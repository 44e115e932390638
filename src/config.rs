//! Breaker configuration: the seed's thresholds plus the knobs this implementation adds.

use std::time::Duration;

/// Every threshold of the breaker. `Default` gives the seed's values.
///
/// Each process applies its own configuration to the rows it shares with the others, so give
/// every process on a host the same one.
///
/// ```
/// use breakerctl::{BreakerConfig, BreakerState, ProductionCircuitBreaker};
/// use std::time::Duration;
///
/// # fn main() -> Result<(), breakerctl::BreakerError> {
/// # let dir = std::env::temp_dir().join(format!("breakerctl-doc-config-{}", std::process::id()));
/// let config = BreakerConfig {
///     failure_threshold: 3.0,
///     timeout_weight: 1.0, // a timeout counts as much as a failure
///     reset_timeout: Duration::from_secs(30),
///     ..BreakerConfig::default()
/// };
/// let breaker = ProductionCircuitBreaker::open(dir.join("cb.db"), config)?;
/// breaker.record_failure("betfair", "503 Service Unavailable")?;
/// breaker.record_timeout("betfair", "read timed out")?;
/// assert_eq!(breaker.get_status("betfair")?.map(|s| s.state), Some(BreakerState::Closed));
/// breaker.record_failure("betfair", "503 Service Unavailable")?; // 3.0: trips
/// assert_eq!(breaker.get_status("betfair")?.map(|s| s.state), Some(BreakerState::Open));
/// # drop(breaker);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct BreakerConfig {
    /// Weighted failures that trip the breaker (seed: 10).
    pub failure_threshold: f64,
    /// How long an automatically tripped breaker stays open before one half-open probe (seed: 60 s).
    pub reset_timeout: Duration,
    /// Minimum time between the last failure or trip and a non-forced reset (seed: 60 s).
    pub cooldown: Duration,
    /// A failure more than this after the previous one starts the count afresh (60 s).
    pub failure_window: Duration,
    /// System load (0..1) above which heavy operations are shed (seed: 0.85).
    pub load_shed_threshold: f64,
    /// Estimated load above which an operation counts as heavy (seed: 100).
    pub heavy_operation_threshold: f64,
    /// Weight of a timeout; a hard failure weighs 1.0 (seed: 0.5).
    pub timeout_weight: f64,
    /// Whether an automatically tripped breaker is re-tested by a single half-open probe.
    pub half_open_enabled: bool,
    /// How long a half-open probe owns the breaker before another process may probe again.
    pub probe_lease: Duration,
    /// How late in-memory success latencies and counters may reach the database.
    pub flush_interval: Duration,
    /// How long a write waits for the store (another process's lock) before failing.
    pub busy_timeout: Duration,
    /// Calls in flight that count as 100% of the in-flight part of the system load.
    pub in_flight_capacity: usize,
    /// Weight of the newest sample in the average latency (exponential moving average).
    pub latency_smoothing: f64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 10.0,
            reset_timeout: Duration::from_secs(60),
            cooldown: Duration::from_secs(60),
            failure_window: Duration::from_secs(60),
            load_shed_threshold: 0.85,
            heavy_operation_threshold: 100.0,
            timeout_weight: 0.5,
            half_open_enabled: true,
            probe_lease: Duration::from_secs(30),
            flush_interval: Duration::from_secs(1),
            busy_timeout: Duration::from_secs(5),
            in_flight_capacity: 256,
            latency_smoothing: 0.1,
        }
    }
}

/// Milliseconds of a duration, saturating, as stored in the database.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
