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

/// How the degraded bookmaker degrades.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Degradation {
    /// Every request fails at once with HTTP 500.
    Outage,
    /// Every answer takes at least this long (past the client's timeout).
    Slowdown(Duration),
}

/// When things happen, relative to the start of the run.
#[derive(Debug, Clone, Copy)]
pub struct Timeline {
    /// Index of the degraded bookmaker.
    pub degraded: Option<usize>,
    pub degradation: Option<(Degradation, Duration, Duration)>,
    pub spike: Option<(Duration, Duration)>,
    pub high_load: Option<(Duration, Duration)>,
}

fn within(window: Option<(Duration, Duration)>, t: Duration) -> bool {
    window.is_some_and(|(s, e)| s <= t && t < e)
}

impl Timeline {
    fn rate_multiplier(&self, t: Duration) -> f64 {
        if within(self.spike, t) {
            SPIKE_MULTIPLIER
        } else {
            1.0
        }
    }

    fn load_at(&self, t: Duration) -> f64 {
        if within(self.high_load, t) {
            HIGH_LOAD
        } else {
            BASE_LOAD
        }
    }

    /// The next moment after `t` at which the load changes.
    fn next_load_change(&self, t: Duration) -> Option<Duration> {
        let (s, e) = self.high_load?;
        [s, e].into_iter().find(|&x| x > t)
    }
}

/// What the progress display shows, about every 100 ms.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub elapsed: Duration,
    pub duration: Duration,
    pub calls: u64,
    pub successes: u64,
    pub failures: u64,
    pub timeouts: u64,
    pub rejected: u64,
    pub shed: u64,
    /// Bookmakers whose latest call was rejected by an open breaker.
    pub open: Vec<String>,
    /// "base", "spike" ...
    pub phase: &'static str,
    pub load: f64,
}

// ---------------------------------------------------------------------------------------------
// The report.

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
    fn add(&mut self, outcome: Outcome) {
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
    fn of(mut micros: Vec<u64>) -> Latency {
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

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

// ---------------------------------------------------------------------------------------------
// The run.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    Failure,
    Timeout,
    RejectedOpen,
    Shed,
    BreakerError,
}

impl Outcome {
    fn of<T>(result: &Result<T, CallError<UpstreamError>>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(CallError::Upstream(e)) if e.is_timeout() => Outcome::Timeout,
            Err(CallError::Upstream(_)) => Outcome::Failure,
            Err(CallError::Tripped { .. }) => Outcome::RejectedOpen,
            Err(CallError::LoadShed { .. }) => Outcome::Shed,
            Err(CallError::Breaker(_)) => Outcome::BreakerError,
        }
    }

    fn reached_upstream(self) -> bool {
        matches!(self, Outcome::Success | Outcome::Failure | Outcome::Timeout)
    }
}

/// The load as seen around a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoadPhase {
    Low,
    High,
    /// Changed during the call: counted in neither.
    Changing,
}

/// One call as a caller saw it.
#[derive(Debug, Clone, Copy)]
struct CallRecord {
    bookmaker: u8,
    operation: u8,
    outcome: Outcome,
    load: LoadPhase,
    /// Microseconds from the start of the run.
    start_us: u64,
    duration_us: u64,
}

impl CallRecord {
    fn end_us(&self) -> u64 {
        self.start_us + self.duration_us
    }
}

/// The breaker's clock for a run: wall-clock milliseconds anchored once, then advanced by the
/// monotonic clock, so audit timestamps and request logs share one time line.
struct RunClock {
    anchor: Instant,
    epoch_ms: i64,
}

impl Clock for RunClock {
    fn now_ms(&self) -> i64 {
        self.epoch_ms
            .saturating_add(i64::try_from(self.anchor.elapsed().as_millis()).unwrap_or(i64::MAX))
    }
}

/// Counters the progress display reads while the run goes on.
#[derive(Default)]
struct Live {
    calls: AtomicU64,
    successes: AtomicU64,
    failures: AtomicU64,
    timeouts: AtomicU64,
    rejected: AtomicU64,
    shed: AtomicU64,
    open: Vec<AtomicBool>,
}

impl Live {
    fn record(&self, bookmaker: usize, outcome: Outcome) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let counter = match outcome {
            Outcome::Success => &self.successes,
            Outcome::Failure => &self.failures,
            Outcome::Timeout => &self.timeouts,
            Outcome::RejectedOpen => &self.rejected,
            Outcome::Shed => &self.shed,
            Outcome::BreakerError => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(flag) = self.open.get(bookmaker) {
            match outcome {
                Outcome::RejectedOpen => flag.store(true, Ordering::Relaxed),
                o if o.reached_upstream() => flag.store(false, Ordering::Relaxed),
                _ => {}
            }
        }
    }
}

/// The callers' seeded choices: the same generator as the simulated bookmakers', on its own
/// stream.
struct Rng(SplitMix64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        let mut r = SplitMix64(seed ^ stream.wrapping_mul(0xA24B_AED4_963E_E407));
        r.next_u64();
        Rng(r)
    }

    fn next_f64(&mut self) -> f64 {
        self.0.next_f64()
    }

    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n.max(1) as u64) as usize
    }
}

/// A healthy bookmaker's profile, varied a little by seed and index.
fn healthy_profile(seed: u64, index: usize, client_timeout: Duration) -> Profile {
    let mut rng = Rng::new(seed, 1_000 + index as u64);
    let median_ms = 2.0 + 3.0 * rng.next_f64();
    Profile::healthy()
        .with_latency(LatencyDist::LogNormal {
            median: Duration::from_secs_f64(median_ms / 1000.0),
            sigma: 0.5,
        })
        .with_error_rate(0.005 + 0.01 * rng.next_f64())
        .with_timeout_rate(0.001)
        .with_hang(client_timeout * 2 + Duration::from_millis(100))
}

/// Runs one simulation against the breaker database at `db` (created when missing) and
/// returns its report. `progress` is called about every 100 ms from the calling thread.
pub fn run(
    options: &SimOptions,
    db: &Path,
    progress: &mut dyn FnMut(&Progress),
) -> anyhow::Result<Report> {
    options
        .validate()
        .map_err(|detail| crate::error::BreakerError::InvalidArgument { detail })?;
    let names = options.bookmaker_names();
    let timeline = options.timeline();
    let config = options.breaker_config();

    // The bookmakers. Workers are plentiful, so that a request is picked up as soon as it
    // arrives even while a slow bookmaker holds answers past the callers' timeout.
    let mut servers = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let workers = if Some(i) == timeline.degraded {
            options.callers * 2 + 8
        } else {
            options.callers + 8
        };
        let profile = healthy_profile(options.seed, i, options.client_timeout);
        let seed = options.seed.wrapping_add(i as u64 + 1);
        servers.push(SimBookmaker::start_with_workers(
            name, profile, seed, workers,
        )?);
    }

    let load = Arc::new(SettableLoad::new(BASE_LOAD));
    let anchor = Instant::now();
    let clock = Arc::new(RunClock {
        anchor,
        epoch_ms: crate::clock::now_ms(),
    });
    let run_start_ms = clock.now_ms();
    let breaker = Arc::new(
        ProductionCircuitBreaker::builder()
            .config(config.clone())
            .load_monitor(load.clone())
            .clock(clock.clone())
            .open(db)?,
    );
    let initially_open: Vec<bool> = names
        .iter()
        .map(|n| breaker.get_status(n).map(|s| s.is_some_and(|s| s.tripped)))
        .collect::<Result<_, _>>()?;

    // Windows in the bookmakers' profiles are measured from each server's own start.
    if let (Some(d), Some((kind, start, end))) = (timeline.degraded, timeline.degradation) {
        let server = &servers[d];
        let offset = server.elapsed().saturating_sub(anchor.elapsed());
        let window = Window::new(offset + start, offset + end);
        let mut profile = server.profile();
        match kind {
            Degradation::Outage => profile.outages.push(window),
            Degradation::Slowdown(latency) => profile.slowdowns.push((window, latency)),
        }
        server.set_profile(profile);
    }

    let live = Arc::new(Live {
        open: names.iter().map(|_| AtomicBool::new(false)).collect(),
        ..Live::default()
    });
    // One time line for everything: the callers' schedule, the bookmakers' windows, the load,
    // the audit timestamps and the request logs.
    let start = anchor;
    let end = start + options.duration;
    let endpoints: Vec<(String, String)> = names
        .iter()
        .zip(&servers)
        .map(|(n, s)| (n.clone(), s.base_url()))
        .collect();

    let mut handles = Vec::with_capacity(options.callers);
    for k in 0..options.callers {
        // One HTTP client (connection pool) per caller, as separate service instances would.
        let mut service = MarketProbeService::new(
            Arc::clone(&breaker),
            HttpClient::new(options.client_timeout),
        );
        for (name, url) in &endpoints {
            service = service.with_bookmaker(name, url);
        }
        let caller = Caller {
            index: k,
            service,
            names: names.clone(),
            load: Arc::clone(&load),
            threshold: config.load_shed_threshold,
            live: Arc::clone(&live),
            timeline,
            options: options.clone(),
            anchor,
            start,
            end,
        };
        let spawned = std::thread::Builder::new()
            .name(format!("sim-caller-{k}"))
            .spawn(move || caller.run());
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                // The callers already started stop by themselves at `end`.
                for h in handles {
                    let _ = h.join();
                }
                return Err(e.into());
            }
        }
    }

    // Drive the load along the timeline and report progress until the end.
    let mut high_load_seen: (Option<Duration>, Option<Duration>) = (None, None);
    let mut next_progress = start;
    loop {
        let now = Instant::now();
        let t = now.saturating_duration_since(anchor);
        let value = if now >= end {
            BASE_LOAD
        } else {
            timeline.load_at(t)
        };
        if value != load.get() {
            load.set(value);
            if value > config.load_shed_threshold {
                high_load_seen.0.get_or_insert(t);
            } else if high_load_seen.0.is_some() {
                high_load_seen.1.get_or_insert(t);
            }
        }
        if now >= end {
            break;
        }
        if now >= next_progress {
            progress(&snapshot(
                &live,
                &names,
                &timeline,
                t,
                options.duration,
                value,
            ));
            next_progress += PROGRESS_EVERY;
        }
        let mut wake = (now + TICK).min(end).min(next_progress.max(now));
        if let Some(change) = timeline.next_load_change(t) {
            wake = wake.min(anchor + change);
        }
        std::thread::sleep(wake.saturating_duration_since(Instant::now()));
    }
    let mut records = Vec::new();
    for h in handles {
        match h.join() {
            Ok(mut r) => records.append(&mut r),
            Err(_) => anyhow::bail!("a simulated caller panicked"),
        }
    }
    let elapsed = anchor.elapsed();
    progress(&snapshot(
        &live,
        &names,
        &timeline,
        elapsed,
        options.duration,
        load.get(),
    ));

    breaker.flush()?;
    let mut audit = breaker.audit(&AuditFilter {
        since: Some(run_start_ms),
        ..AuditFilter::default()
    })?;
    audit.reverse();
    let finals: Vec<Option<BreakerState>> = names
        .iter()
        .map(|n| breaker.get_status(n).map(|s| s.map(|s| s.state)))
        .collect::<Result<_, _>>()?;
    let logs: Vec<Vec<ReceivedRequest>> = servers.iter().map(SimBookmaker::requests).collect();
    for s in servers {
        s.shutdown();
    }

    let inputs = Inputs {
        options,
        names: &names,
        timeline: &timeline,
        config: &config,
        anchor,
        run_start_ms,
        elapsed,
        high_load_seen,
        records: &records,
        audit: &audit,
        logs: &logs,
        initially_open: &initially_open,
        finals: &finals,
        database: db,
    };
    Ok(inputs.report())
}

fn snapshot(
    live: &Live,
    names: &[String],
    timeline: &Timeline,
    t: Duration,
    duration: Duration,
    load: f64,
) -> Progress {
    Progress {
        elapsed: t.min(duration),
        duration,
        calls: live.calls.load(Ordering::Relaxed),
        successes: live.successes.load(Ordering::Relaxed),
        failures: live.failures.load(Ordering::Relaxed),
        timeouts: live.timeouts.load(Ordering::Relaxed),
        rejected: live.rejected.load(Ordering::Relaxed),
        shed: live.shed.load(Ordering::Relaxed),
        open: names
            .iter()
            .zip(&live.open)
            .filter(|(_, f)| f.load(Ordering::Relaxed))
            .map(|(n, _)| n.clone())
            .collect(),
        phase: if within(timeline.spike, t) {
            "spike"
        } else if t >= duration {
            "done"
        } else {
            "base"
        },
        load,
    }
}

/// One caller thread: calls at its share of the target rate until the end of the run.
struct Caller {
    index: usize,
    service: MarketProbeService,
    names: Vec<String>,
    load: Arc<SettableLoad>,
    threshold: f64,
    live: Arc<Live>,
    timeline: Timeline,
    options: SimOptions,
    anchor: Instant,
    start: Instant,
    end: Instant,
}

impl Caller {
    fn run(self) -> Vec<CallRecord> {
        let mut rng = Rng::new(self.options.seed, self.index as u64);
        let callers = self.options.callers as f64;
        let mut records = Vec::new();
        // Callers are spread evenly over one base interval.
        let base_interval = Duration::from_secs_f64(callers / self.options.base_rate);
        let mut next = self.start + base_interval.mul_f64(self.index as f64 / callers);
        while records.len() < MAX_RECORDS_PER_CALLER {
            let now = Instant::now();
            if now >= self.end {
                break;
            }
            if next > now {
                std::thread::sleep((next - now).min(self.end - now));
                continue;
            }
            let phase = |at: Instant| {
                self.timeline
                    .rate_multiplier(at.saturating_duration_since(self.start))
            };
            if now - next > MAX_LAG || phase(next) != phase(now) {
                // Fell behind (the machine cannot keep up), or the backlog belongs to another
                // phase: drop it rather than burst, so each phase's rate is its own.
                next = now;
            }
            let t = next.saturating_duration_since(self.start);
            let rate = self.options.base_rate * self.timeline.rate_multiplier(t);
            next += Duration::from_secs_f64(callers / rate);
            records.push(self.call(&mut rng));
        }
        records
    }

    fn call(&self, rng: &mut Rng) -> CallRecord {
        let bookmaker = rng.below(self.names.len());
        let name = &self.names[bookmaker];
        let roll = rng.next_f64();
        let mut operation = OPERATIONS.len() - 1;
        let mut acc = 0.0;
        for (i, (_, share)) in OPERATIONS.iter().enumerate() {
            acc += share;
            if roll < acc {
                operation = i;
                break;
            }
        }
        let market = MARKETS[rng.below(MARKETS.len())];
        let load_before = self.load.get();
        let started = Instant::now();
        let outcome = match operation {
            0 => Outcome::of(&self.service.execute_bookmaker_api_probe(name)),
            1 => Outcome::of(&self.service.simulate_micro_bet_attempt(name, market, 0.01)),
            _ => Outcome::of(&self.service.probe_dark_pool_market(name, market)),
        };
        let took = started.elapsed();
        let load_after = self.load.get();
        self.live.record(bookmaker, outcome);
        let high = |l: f64| l > self.threshold;
        CallRecord {
            bookmaker: bookmaker as u8,
            operation: operation as u8,
            outcome,
            load: match (high(load_before), high(load_after)) {
                (true, true) => LoadPhase::High,
                (false, false) => LoadPhase::Low,
                _ => LoadPhase::Changing,
            },
            start_us: micros(started.saturating_duration_since(self.anchor)),
            duration_us: micros(took),
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

// ---------------------------------------------------------------------------------------------
// From raw observations to the report.

struct Inputs<'a> {
    options: &'a SimOptions,
    names: &'a [String],
    timeline: &'a Timeline,
    config: &'a BreakerConfig,
    anchor: Instant,
    run_start_ms: i64,
    elapsed: Duration,
    high_load_seen: (Option<Duration>, Option<Duration>),
    records: &'a [CallRecord],
    audit: &'a [crate::storage::AuditRecord],
    logs: &'a [Vec<ReceivedRequest>],
    initially_open: &'a [bool],
    finals: &'a [Option<BreakerState>],
    database: &'a Path,
}

/// A bookmaker's breaker history during the run, in microseconds from the run's start.
#[derive(Debug, Default)]
struct History {
    /// [start, end) of each time the breaker was open (incl. half-open).
    open: Vec<(u64, u64)>,
    /// [start, end) of each half-open probe.
    probes: Vec<(u64, u64)>,
    /// (time, weighted failure count) of each trip.
    trips: Vec<(u64, f64)>,
    probe_starts: u64,
    reopens: u64,
    closes: u64,
}

impl History {
    fn from_audit(rows: &[&crate::storage::AuditRecord], run_start_ms: i64, open: bool) -> History {
        let mut h = History::default();
        // An audit timestamp is a whole millisecond: the event happened within it.
        let at = |ts: i64| u64::try_from(ts.saturating_sub(run_start_ms)).unwrap_or(0) * 1000;
        let mut open_since = open.then_some(0);
        let mut probe_since = None;
        for r in rows {
            let Some(ts) = r.timestamp else { continue };
            let t = at(ts);
            match r.action.as_deref().unwrap_or("") {
                "TRIP" => {
                    h.trips.push((t, r.failure_count.unwrap_or(0.0)));
                    open_since.get_or_insert(t);
                }
                "PROBE_START" => {
                    h.probe_starts += 1;
                    probe_since = Some(t);
                }
                "REOPEN" => {
                    h.reopens += 1;
                    if let Some(s) = probe_since.take() {
                        h.probes.push((s, t + 1000));
                    }
                    open_since.get_or_insert(t);
                }
                "CLOSE" | "RESET" => {
                    if r.action.as_deref() == Some("CLOSE") {
                        h.closes += 1;
                    }
                    if let Some(s) = probe_since.take() {
                        h.probes.push((s, t + 1000));
                    }
                    if let Some(s) = open_since.take() {
                        h.open.push((s, t + 1000));
                    }
                }
                _ => {}
            }
        }
        if let Some(s) = probe_since {
            h.probes.push((s, u64::MAX));
        }
        if let Some(s) = open_since {
            h.open.push((s, u64::MAX));
        }
        h
    }
}

impl Inputs<'_> {
    fn report(&self) -> Report {
        let threshold = self.config.load_shed_threshold;
        let ms_opt = |d: Option<Duration>| d.map(ms);
        let degraded_name = self.timeline.degraded.map(|d| self.names[d].clone());
        let (degradation, slowdown, deg_start, deg_end) = match self.timeline.degradation {
            Some((Degradation::Outage, s, e)) => (Some("outage"), None, Some(s), Some(e)),
            Some((Degradation::Slowdown(l), s, e)) => {
                (Some("slowdown"), Some(ms(l)), Some(s), Some(e))
            }
            None => (None, None, None, None),
        };
        let timeline = TimelineReport {
            degraded_bookmaker: degraded_name,
            degradation,
            slowdown_latency_ms: slowdown,
            degradation_start_ms: ms_opt(deg_start),
            degradation_end_ms: ms_opt(deg_end),
            spike_start_ms: ms_opt(self.timeline.spike.map(|w| w.0)),
            spike_end_ms: ms_opt(self.timeline.spike.map(|w| w.1)),
            high_load_start_ms: ms_opt(self.high_load_seen.0),
            high_load_end_ms: ms_opt(self.high_load_seen.1),
        };

        let mut totals = Counts::default();
        for r in self.records {
            totals.add(r.outcome);
        }

        let operations = OPERATIONS
            .iter()
            .enumerate()
            .map(|(i, ((name, load), _))| {
                let mut op = OperationReport {
                    operation: name,
                    estimated_load: *load,
                    heavy: *load > self.config.heavy_operation_threshold,
                    counts: Counts::default(),
                    calls_while_high_load: 0,
                    shed_while_high_load: 0,
                    upstream_while_high_load: 0,
                    shed_while_low_load: 0,
                };
                for r in self
                    .records
                    .iter()
                    .filter(|r| usize::from(r.operation) == i)
                {
                    op.counts.add(r.outcome);
                    match r.load {
                        LoadPhase::High => {
                            op.calls_while_high_load += 1;
                            if r.outcome == Outcome::Shed {
                                op.shed_while_high_load += 1;
                            }
                            if r.outcome.reached_upstream() {
                                op.upstream_while_high_load += 1;
                            }
                        }
                        LoadPhase::Low if r.outcome == Outcome::Shed => {
                            op.shed_while_low_load += 1;
                        }
                        _ => {}
                    }
                }
                op
            })
            .collect();

        let bookmakers = (0..self.names.len()).map(|b| self.bookmaker(b)).collect();
        let mut report = Report {
            scenario: self.options.scenario,
            seed: self.options.seed,
            database: self.database.display().to_string(),
            database_created: false,
            duration_ms: ms(self.options.duration),
            elapsed_ms: ms(self.elapsed),
            settings: Settings {
                callers: self.options.callers,
                base_rate_per_sec: self.options.base_rate,
                spike_multiplier: SPIKE_MULTIPLIER,
                client_timeout_ms: ms(self.options.client_timeout),
                reset_timeout_ms: ms(self.options.reset_timeout),
                failure_threshold: self.config.failure_threshold,
                timeout_weight: self.config.timeout_weight,
                load_shed_threshold: threshold,
                heavy_operation_threshold: self.config.heavy_operation_threshold,
                base_load: BASE_LOAD,
                high_load: HIGH_LOAD,
                load_source: "simulated: the scenario sets the breaker's load monitor",
                attribution_grace_ms: ms(ATTRIBUTION_GRACE),
            },
            timeline,
            rates: self.rates(),
            totals,
            operations,
            bookmakers,
            checks: Vec::new(),
        };
        report.checks = checks(&report);
        report
    }

    fn rates(&self) -> Vec<RatePhase> {
        let duration = self.options.duration;
        let base = self.options.base_rate;
        let count = |s: Duration, e: Duration| {
            let (s, e) = (micros(s), micros(e));
            self.records
                .iter()
                .filter(|r| r.start_us >= s && r.start_us < e)
                .count() as u64
        };
        let phase = |name, s: Duration, e: Duration, target: f64, calls: u64| {
            let secs = e.saturating_sub(s).as_secs_f64().max(1e-9);
            RatePhase {
                phase: name,
                start_ms: ms(s),
                end_ms: ms(e),
                target_per_sec: target,
                attempted_per_sec: (calls as f64 / secs).round(),
                calls,
            }
        };
        match self.timeline.spike {
            None => vec![phase(
                "base",
                Duration::ZERO,
                duration,
                base,
                count(Duration::ZERO, duration),
            )],
            Some((s, e)) => {
                let outside = count(Duration::ZERO, s) + count(e, duration);
                let secs_outside = s + duration.saturating_sub(e);
                let mut base_phase = phase("base", Duration::ZERO, duration, base, 0);
                base_phase.calls = outside;
                base_phase.attempted_per_sec =
                    (outside as f64 / secs_outside.as_secs_f64().max(1e-9)).round();
                vec![
                    base_phase,
                    phase("spike", s, e, base * SPIKE_MULTIPLIER, count(s, e)),
                ]
            }
        }
    }

    fn bookmaker(&self, b: usize) -> BookmakerReport {
        let name = &self.names[b];
        let rows: Vec<&crate::storage::AuditRecord> = self
            .audit
            .iter()
            .filter(|r| r.bookmaker.as_deref() == Some(name.as_str()))
            .collect();
        let history = History::from_audit(&rows, self.run_start_ms, self.initially_open[b]);
        let calls: Vec<&CallRecord> = self
            .records
            .iter()
            .filter(|r| usize::from(r.bookmaker) == b)
            .collect();
        let mut counts = Counts::default();
        let (mut closed, mut open, mut shed) = (Vec::new(), Vec::new(), Vec::new());
        for r in &calls {
            counts.add(r.outcome);
            match r.outcome {
                o if o.reached_upstream() => closed.push(r.duration_us),
                Outcome::RejectedOpen => open.push(r.duration_us),
                Outcome::Shed => shed.push(r.duration_us),
                _ => {}
            }
        }

        // The bookmaker's side: every request it received, against the open intervals.
        let grace = micros(ATTRIBUTION_GRACE);
        let (mut leaks, mut probe_requests, mut in_flight) = (0, 0, 0);
        let log = &self.logs[b];
        for req in log {
            let t = micros(req.received_at.saturating_duration_since(self.anchor));
            let Some(&(open_start, _)) = history.open.iter().find(|(s, e)| *s <= t && t < *e)
            else {
                continue;
            };
            if history
                .probes
                .iter()
                .any(|(s, e)| *s <= t && t < e.saturating_add(grace))
            {
                probe_requests += 1;
                continue;
            }
            // A call admitted before the trip committed, still running (or just given up).
            let admitted_before = calls.iter().any(|c| {
                c.outcome.reached_upstream()
                    && c.start_us <= open_start + grace
                    && c.end_us() + grace >= t
            });
            if admitted_before {
                in_flight += 1;
            } else {
                leaks += 1;
            }
        }

        let run_end = micros(self.elapsed);
        let open_us: u64 = history
            .open
            .iter()
            .map(|(s, e)| (*e).min(run_end).saturating_sub(*s))
            .sum();
        let degraded = self.timeline.degraded == Some(b);
        let deg_start = self
            .timeline
            .degradation
            .filter(|_| degraded)
            .map(|(_, s, _)| micros(s));
        let first_trip = history
            .trips
            .iter()
            .find(|(t, _)| deg_start.is_none_or(|s| *t + 1000 > s))
            .copied();
        BookmakerReport {
            bookmaker: name.clone(),
            degraded,
            counts,
            trips: history.trips.len() as u64,
            probes: history.probe_starts,
            reopens: history.reopens,
            closes: history.closes,
            time_to_trip_ms: deg_start
                .zip(first_trip)
                .map(|(s, (t, _))| t.saturating_sub(s) / 1000),
            failure_count_at_trip: first_trip.map(|(_, c)| c),
            open_ms: open_us / 1000,
            requests_received: log.len() as u64,
            requests_while_open: leaks,
            probe_requests,
            in_flight_at_trip_requests: in_flight,
            latency_closed: Latency::of(closed),
            latency_open: Latency::of(open),
            latency_shed: Latency::of(shed),
            final_state: self.finals[b],
        }
    }
}

/// The load test's expectations, evaluated on a report.
pub fn checks(report: &Report) -> Vec<Check> {
    let mut out = Vec::new();
    let mut check = |name: &str, ok: bool, detail: String| {
        out.push(Check {
            name: name.to_owned(),
            ok,
            detail,
        })
    };
    let threshold = report.settings.failure_threshold;
    let degraded = report.bookmakers.iter().find(|b| b.degraded);
    let healthy: Vec<&BookmakerReport> = report.bookmakers.iter().filter(|b| !b.degraded).collect();

    if let Some(d) = degraded {
        let at = d.failure_count_at_trip;
        check(
            "degraded bookmaker trips within the threshold",
            at.is_some_and(|c| c >= threshold && c < threshold + 1.0),
            match (at, d.time_to_trip_ms) {
                (Some(c), Some(t)) => format!(
                    "{} tripped at {}/{} weighted failures, {t} ms after it degraded",
                    d.bookmaker,
                    fmt_count(c),
                    fmt_count(threshold)
                ),
                _ => format!("{} never tripped", d.bookmaker),
            },
        );
        check(
            "open breaker rejects in under 1 ms at p99",
            d.latency_open.p99_ms.is_some_and(|p| p < 1.0),
            match d.latency_open.p99_ms {
                Some(p) => format!(
                    "{}: p99 {p:.3} ms over {} rejections",
                    d.bookmaker, d.latency_open.count
                ),
                None => format!("{}: no call was rejected", d.bookmaker),
            },
        );
    }
    if report.scenario != Scenario::Steady {
        let leaks: u64 = report
            .bookmakers
            .iter()
            .map(|b| b.requests_while_open)
            .sum();
        let probes: u64 = report.bookmakers.iter().map(|b| b.probe_requests).sum();
        check(
            "only half-open probes reach a bookmaker whose breaker is open",
            leaks == 0,
            format!("{leaks} other requests while open; {probes} probe requests"),
        );
    }
    if report.scenario == Scenario::Spike {
        let heavy: Vec<&OperationReport> = report.operations.iter().filter(|o| o.heavy).collect();
        let light: Vec<&OperationReport> = report.operations.iter().filter(|o| !o.heavy).collect();
        let heavy_shed: u64 = heavy.iter().map(|o| o.shed_while_high_load).sum();
        let heavy_through: u64 = heavy.iter().map(|o| o.upstream_while_high_load).sum();
        let heavy_low: u64 = heavy.iter().map(|o| o.shed_while_low_load).sum();
        let light_shed: u64 = light.iter().map(|o| o.counts.shed).sum();
        check(
            "heavy operations shed while the load is high, light ones never",
            heavy_shed > 0 && heavy_through == 0 && heavy_low == 0 && light_shed == 0,
            format!(
                "heavy: {heavy_shed} shed and {heavy_through} sent while high, {heavy_low} shed while low; light: {light_shed} shed"
            ),
        );
    }
    let tripped: Vec<&str> = healthy
        .iter()
        .filter(|b| b.trips > 0)
        .map(|b| b.bookmaker.as_str())
        .collect();
    check(
        "healthy bookmakers never trip",
        tripped.is_empty(),
        if tripped.is_empty() {
            format!("{} healthy bookmakers, 0 trips", healthy.len())
        } else {
            format!("tripped: {}", tripped.join(", "))
        },
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles_use_nearest_rank() {
        let l = Latency::of((1..=100).map(|x| x * 1000).collect());
        assert_eq!(l.count, 100);
        assert_eq!(l.p50_ms, Some(50.0));
        assert_eq!(l.p99_ms, Some(99.0));
        assert_eq!(l.max_ms, Some(100.0));
        assert_eq!(Latency::of(Vec::new()).p99_ms, None);
    }

    #[test]
    fn timelines_follow_the_scenario() {
        let mut o = SimOptions {
            scenario: Scenario::Spike,
            ..SimOptions::default()
        };
        let t = o.timeline();
        assert_eq!(t.degraded, Some(1));
        assert_eq!(t.rate_multiplier(Duration::from_secs(5)), SPIKE_MULTIPLIER);
        assert_eq!(t.rate_multiplier(Duration::from_secs(1)), 1.0);
        assert_eq!(t.load_at(Duration::from_secs(5)), HIGH_LOAD);
        assert_eq!(t.load_at(Duration::from_secs(8)), BASE_LOAD);
        assert_eq!(
            t.next_load_change(Duration::ZERO),
            Some(Duration::from_secs(3))
        );
        o.scenario = Scenario::Steady;
        assert!(o.timeline().degradation.is_none());
        o.bookmakers = 1;
        o.scenario = Scenario::Outage;
        assert_eq!(o.timeline().degraded, Some(0));
        assert!(
            o.bookmaker_names()
                .iter()
                .all(|n| n.starts_with(NAME_PREFIX))
        );
    }

    #[test]
    fn options_are_bounded() {
        let ok = SimOptions::default();
        assert!(ok.validate().is_ok());
        for bad in [
            SimOptions {
                duration: Duration::from_secs(3600),
                ..ok.clone()
            },
            SimOptions {
                bookmakers: 0,
                ..ok.clone()
            },
            SimOptions {
                callers: 10_000,
                ..ok.clone()
            },
            SimOptions {
                base_rate: f64::NAN,
                ..ok.clone()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn history_reads_open_and_probe_windows() {
        let row = |id, action: &str, ts| crate::storage::AuditRecord {
            id,
            bookmaker: Some("sim-x".into()),
            action: Some(action.into()),
            reason: None,
            user: Some("system".into()),
            timestamp: Some(ts),
            forced: false,
            state_before: None,
            state_after: None,
            failure_count: Some(10.0),
            operation: None,
            host: None,
            pid: None,
            prev_hash: None,
            hash: None,
        };
        let rows = [
            row(1, "TRIP", 1_100),
            row(2, "PROBE_START", 3_100),
            row(3, "REOPEN", 3_350),
            row(4, "PROBE_START", 5_400),
            row(5, "CLOSE", 5_410),
        ];
        let refs: Vec<_> = rows.iter().collect();
        let h = History::from_audit(&refs, 1_000, false);
        assert_eq!(h.open, vec![(100_000, 4_411_000)]);
        assert_eq!(
            h.probes,
            vec![(2_100_000, 2_351_000), (4_400_000, 4_411_000)]
        );
        assert_eq!(h.trips, vec![(100_000, 10.0)]);
        assert_eq!((h.probe_starts, h.reopens, h.closes), (2, 1, 1));
    }
}
