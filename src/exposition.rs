//! Prometheus text exposition (format version 0.0.4) of the breaker state.
//!
//! [`render`] takes plain data read from the shared database and turns it
//! into the body of a `/metrics` response. Names, `# HELP`/`# TYPE` lines,
//! the `_total` suffix of counters, label-value escaping and number
//! formatting are all done by the `prometheus-client` crate; this module only
//! decides which series exist and what their values are.
//!
//! [`Exporter`] is what `breakerctl serve` answers with: one read of the store for
//! `/metrics` and `/healthz` alike, the exporter's own series beside the breakers'
//! (`circuit_breaker_build_info`, `circuit_breaker_store_up`, the time of the last good
//! read, failed reads), and a rate-limited line on stderr for each failed read.
//!
//! The seed document's metric names were renamed to follow the Prometheus
//! naming rules (counters end in `_total`, durations are in seconds, no gauge
//! ends in `_count`); `docs/metrics.md` has the full mapping.
//!
//! Why a [`Collector`] and not [`Family`](prometheus_client::metrics::family::Family):
//! a `Family` keeps its series in a `HashMap`, so the series order would
//! change from scrape to scrape and the lines of one bookmaker would be
//! scattered. The collector below emits every family through the crate's own
//! encoder (`encode_descriptor` / `encode_family` / `ConstGauge` /
//! `ConstCounter` / `encode_histogram`), just in a stable order: families in the
//! order listed here, series sorted by their label values.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// `Content-Type` of the text produced by [`render`].
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The four states a breaker can be in, in the order their series are emitted.
pub const STATES: [&str; 4] = ["closed", "open", "half_open", "forced_open"];

/// The reasons of rejected calls; every known bookmaker/operation pair gets a
/// `circuit_breaker_rejected_total` series for each, 0 before its first rejection.
pub const REJECTION_REASONS: [&str; 2] = ["tripped", "load_shed"];

/// Upper bounds, in seconds, of the buckets of `circuit_breaker_call_duration_seconds`
/// (`+Inf` follows): 5 ms to 10 s, for calls to upstream HTTP APIs; 2 s is the usual client
/// timeout.
pub const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0,
];

/// Counter rows whose reason is this prefix and a bucket's upper bound in seconds
/// (`latency_bucket:0.25`, `latency_bucket:+Inf`) count successful calls whose duration fell
/// in that bucket (above the bound before it): what the library must write for
/// `circuit_breaker_call_duration_seconds` (see docs/metrics.md). A bound that is not one of
/// [`LATENCY_BUCKETS`] counts in the next larger one, which is still true of its calls.
pub const LATENCY_BUCKET_REASON_PREFIX: &str = "latency_bucket:";

/// The counter row (reason) with the summed duration of those calls, in microseconds.
pub const LATENCY_SUM_REASON: &str = "latency_sum_us";

/// Point-in-time view of one bookmaker's breaker.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerSample {
    /// The breaker's name.
    pub bookmaker: String,
    /// One of [`STATES`]: `"closed"`, `"open"`, `"half_open"` or `"forced_open"`.
    pub state: &'static str,
    /// Whether the breaker is tripped (any state but closed).
    pub tripped: bool,
    /// Weighted failure count of the current window (a timeout weighs the timeout weight,
    /// 0.5 by default).
    pub failures: f64,
    /// Lifetime number of trips.
    pub trip_count: i64,
    /// Average latency of successful calls in milliseconds; `None` when unknown.
    pub avg_latency_ms: Option<f64>,
    /// Whether a half-open probe holds an unexpired lease.
    pub probe_in_flight: bool,
}

/// One event counter row: how often `reason` happened for a bookmaker/operation.
#[derive(Debug, Clone, PartialEq)]
pub struct CounterSample {
    /// The breaker's name.
    pub bookmaker: String,
    /// The call's operation (empty in the store's reset counters).
    pub operation: String,
    /// `"tripped"` | `"load_shed"` | `"reset"` | `"forced_reset"`, or a latency row
    /// ([`LATENCY_BUCKET_REASON_PREFIX`], [`LATENCY_SUM_REASON`]); other reasons are ignored.
    pub reason: String,
    /// How often it happened (from the store: the total of every process sharing it).
    pub count: u64,
}

/// Everything one read of the store gives the exposition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreRead {
    /// One sample per breaker row.
    pub breakers: Vec<BreakerSample>,
    /// The counter totals of every process sharing the store.
    pub counters: Vec<CounterSample>,
}

/// The exporter's own view of the store, exported beside the breaker series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoreHealth {
    /// Whether this scrape read the store (`circuit_breaker_store_up`).
    pub up: bool,
    /// When the store was last read successfully, in Unix seconds; `None` when this process
    /// never has.
    pub last_success_unix: Option<f64>,
    /// Reads of the store that failed since the exporter started.
    pub read_failures: u64,
}

/// Renders the breaker series (version 0.0.4) for the given samples, without the
/// exporter's own series ([`render_scrape`] adds those).
///
/// * Breaker gauges and `circuit_breaker_trips_total` get one series per
///   [`BreakerSample`]; `circuit_breaker_state` gets one series per state.
/// * `circuit_breaker_latency_seconds` is omitted for a bookmaker whose
///   latency is unknown (or not a finite number).
/// * Counter rows with the same labels are summed.
/// * Every bookmaker/operation pair that has any row gets a
///   `circuit_breaker_rejected_total` series for each of [`REJECTION_REASONS`] and a
///   `load_shed_rejected_total` series, 0 when it has no such rows, so that `rate()` and
///   `increase()` in alert rules see the first rejection of a reason.
/// * `circuit_breaker_resets_total` is the sum of the `"reset"` rows of a
///   bookmaker over all operations. The data layer counts a forced reset both
///   as `"reset"` and as `"forced_reset"`, so forced resets are not added again.
/// * Every bookmaker that appears anywhere gets a `circuit_breaker_resets_total`
///   and a `circuit_breaker_forced_resets_total` series, 0 when it has no rows.
/// * `circuit_breaker_call_duration_seconds` (a histogram) is there for the pairs that have
///   latency rows, with every bucket of [`LATENCY_BUCKETS`].
pub fn render(breakers: &[BreakerSample], counters: &[CounterSample]) -> String {
    encode(Snapshot {
        families: breaker_families(breakers, counters),
    })
}

/// The body of one `/metrics` answer: the exporter's own series (build, store health), then
/// the breakers' when `read` is there. Without a read (the store could not be read) the
/// breaker families are empty: their series go stale instead of showing made-up values.
pub fn render_scrape(read: Option<&StoreRead>, health: &StoreHealth) -> String {
    let mut families = exporter_families(health);
    let (breakers, counters) = match read {
        Some(r) => (r.breakers.as_slice(), r.counters.as_slice()),
        None => (&[][..], &[][..]),
    };
    families.extend(breaker_families(breakers, counters));
    encode(Snapshot { families })
}

fn encode(snapshot: Snapshot) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snapshot));
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
        .expect("writing to a String cannot fail");
    out
}

/// Value of one series; the variant must match the family's metric type.
#[derive(Debug, Clone)]
enum Value {
    Gauge(i64),
    FloatGauge(f64),
    Counter(u64),
    /// Sum, count, and the count of each bucket alone (the encoder adds them up).
    Histogram {
        sum: f64,
        count: u64,
        buckets: Vec<(f64, u64)>,
    },
}

#[derive(Debug)]
struct Series {
    labels: Vec<(&'static str, String)>,
    value: Value,
}

#[derive(Debug)]
struct ConstFamily {
    /// Base name; the encoder appends `_total` to counters.
    name: &'static str,
    help: &'static str,
    metric_type: MetricType,
    series: Vec<Series>,
}

impl ConstFamily {
    fn new(name: &'static str, help: &'static str, metric_type: MetricType) -> Self {
        Self {
            name,
            help,
            metric_type,
            series: Vec::new(),
        }
    }

    fn push(&mut self, labels: Vec<(&'static str, String)>, value: Value) {
        self.series.push(Series { labels, value });
    }
}

/// All families of one scrape, already filled with values.
#[derive(Debug)]
struct Snapshot {
    families: Vec<ConstFamily>,
}

fn bool_gauge(b: bool) -> Value {
    Value::Gauge(i64::from(b))
}

fn bk(bookmaker: &str) -> Vec<(&'static str, String)> {
    vec![("bookmaker", bookmaker.to_owned())]
}

/// `circuit_breaker_build_info` and the store's health, for every scrape.
fn exporter_families(health: &StoreHealth) -> Vec<ConstFamily> {
    let mut build = ConstFamily::new(
        "circuit_breaker_build_info",
        "Always 1; the labels name the exporter's version and the schema version it reads.",
        MetricType::Gauge,
    );
    build.push(
        vec![
            ("version", env!("CARGO_PKG_VERSION").to_owned()),
            ("schema_version", crate::storage::SCHEMA_VERSION.to_string()),
        ],
        Value::Gauge(1),
    );
    let mut up = ConstFamily::new(
        "circuit_breaker_store_up",
        "Whether this scrape read the breaker database (1) or could not (0); without a read no breaker series are exported.",
        MetricType::Gauge,
    );
    up.push(Vec::new(), bool_gauge(health.up));
    let mut last = ConstFamily::new(
        "circuit_breaker_store_last_success_timestamp_seconds",
        "When this exporter last read the breaker database successfully (Unix time); absent before its first good read.",
        MetricType::Gauge,
    );
    if let Some(t) = health.last_success_unix.filter(|t| t.is_finite()) {
        last.push(Vec::new(), Value::FloatGauge(t));
    }
    let mut failures = ConstFamily::new(
        "circuit_breaker_store_read_failures",
        "Reads of the breaker database by this exporter that failed, since it started.",
        MetricType::Counter,
    );
    failures.push(Vec::new(), Value::Counter(health.read_failures));
    vec![build, up, last, failures]
}

/// Per-bucket counts (the last one `+Inf`) and the summed microseconds of one
/// bookmaker/operation pair.
#[derive(Debug, Default)]
struct LatencyRows {
    buckets: [u64; LATENCY_BUCKETS.len() + 1],
    sum_us: u64,
}

/// The bucket a `latency_bucket:<bound>` row counts in: the first of [`LATENCY_BUCKETS`] at
/// or above the bound, else `+Inf`; `None` for a bound that is not a number.
fn latency_bucket(bound: &str) -> Option<usize> {
    if bound == "+Inf" {
        return Some(LATENCY_BUCKETS.len());
    }
    let b: f64 = bound
        .parse()
        .ok()
        .filter(|b: &f64| !b.is_nan() && *b >= 0.0)?;
    Some(
        LATENCY_BUCKETS
            .iter()
            .position(|le| *le >= b)
            .unwrap_or(LATENCY_BUCKETS.len()),
    )
}

fn breaker_families(breakers: &[BreakerSample], counters: &[CounterSample]) -> Vec<ConstFamily> {
    let mut tripped = ConstFamily::new(
        "circuit_breaker_tripped",
        "Whether the circuit breaker of the bookmaker is tripped (1) or not (0).",
        MetricType::Gauge,
    );
    let mut state = ConstFamily::new(
        "circuit_breaker_state",
        "Current breaker state: 1 for the state the breaker is in, 0 for the others.",
        MetricType::Gauge,
    );
    let mut failures = ConstFamily::new(
        "circuit_breaker_failures_1m",
        "Weighted failure count in the current one-minute window (timeouts count 0.5).",
        MetricType::Gauge,
    );
    let mut trips = ConstFamily::new(
        "circuit_breaker_trips",
        "Number of times the breaker tripped since the bookmaker was first tracked.",
        MetricType::Counter,
    );
    let mut latency = ConstFamily::new(
        "circuit_breaker_latency_seconds",
        "Average latency of successful calls in seconds.",
        MetricType::Gauge,
    );
    let mut duration = ConstFamily::new(
        "circuit_breaker_call_duration_seconds",
        "Duration of successful calls to the bookmaker, in seconds.",
        MetricType::Histogram,
    );
    let mut rejected = ConstFamily::new(
        "circuit_breaker_rejected",
        "Calls rejected without reaching the bookmaker, by reason (tripped or load_shed).",
        MetricType::Counter,
    );
    let mut load_shed = ConstFamily::new(
        "load_shed_rejected",
        "Calls rejected by load shedding.",
        MetricType::Counter,
    );
    let mut resets = ConstFamily::new(
        "circuit_breaker_resets",
        "Manual resets of the breaker, forced ones included.",
        MetricType::Counter,
    );
    let mut forced_resets = ConstFamily::new(
        "circuit_breaker_forced_resets",
        "Manual resets that bypassed the cooldown (--force).",
        MetricType::Counter,
    );
    let mut probe = ConstFamily::new(
        "circuit_breaker_half_open_probe_in_flight",
        "Whether a half-open probe call is in flight (1) or not (0).",
        MetricType::Gauge,
    );

    let mut sorted: Vec<&BreakerSample> = breakers.iter().collect();
    sorted.sort_by(|a, b| a.bookmaker.cmp(&b.bookmaker));

    for b in &sorted {
        tripped.push(bk(&b.bookmaker), bool_gauge(b.tripped));
        for s in STATES {
            state.push(
                vec![("bookmaker", b.bookmaker.clone()), ("state", s.to_owned())],
                bool_gauge(b.state == s),
            );
        }
        if !STATES.contains(&b.state) {
            // Not expected; shown rather than silently dropped.
            state.push(
                vec![
                    ("bookmaker", b.bookmaker.clone()),
                    ("state", b.state.to_owned()),
                ],
                bool_gauge(true),
            );
        }
        failures.push(bk(&b.bookmaker), Value::FloatGauge(b.failures));
        trips.push(
            bk(&b.bookmaker),
            Value::Counter(u64::try_from(b.trip_count).unwrap_or(0)),
        );
        if let Some(ms) = b.avg_latency_ms.filter(|ms| ms.is_finite()) {
            latency.push(bk(&b.bookmaker), Value::FloatGauge(ms / 1000.0));
        }
        probe.push(bk(&b.bookmaker), bool_gauge(b.probe_in_flight));
    }

    // Counter rows, summed per label set; BTreeMaps give the sort order.
    let mut rejected_rows: BTreeMap<(&str, &str, &str), u64> = BTreeMap::new();
    let mut shed_rows: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut reset_rows: BTreeMap<&str, u64> = BTreeMap::new();
    let mut forced_rows: BTreeMap<&str, u64> = BTreeMap::new();
    let mut latency_rows: BTreeMap<(&str, &str), LatencyRows> = BTreeMap::new();
    // Every pair the services have called with, as far as the rows tell.
    let mut operations: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut bookmakers: BTreeSet<&str> = sorted.iter().map(|b| b.bookmaker.as_str()).collect();
    for c in counters {
        let key = (c.bookmaker.as_str(), c.operation.as_str());
        match c.reason.as_str() {
            "tripped" => add(&mut rejected_rows, (key.0, key.1, "tripped"), c.count),
            "load_shed" => {
                add(&mut rejected_rows, (key.0, key.1, "load_shed"), c.count);
                add(&mut shed_rows, key, c.count);
            }
            "reset" => add(&mut reset_rows, key.0, c.count),
            "forced_reset" => add(&mut forced_rows, key.0, c.count),
            LATENCY_SUM_REASON => {
                let rows = latency_rows.entry(key).or_default();
                rows.sum_us = rows.sum_us.saturating_add(c.count);
            }
            reason => {
                let Some(i) = reason
                    .strip_prefix(LATENCY_BUCKET_REASON_PREFIX)
                    .and_then(latency_bucket)
                else {
                    continue;
                };
                let rows = latency_rows.entry(key).or_default();
                rows.buckets[i] = rows.buckets[i].saturating_add(c.count);
            }
        }
        bookmakers.insert(key.0);
        if !key.1.is_empty() {
            operations.insert(key);
        }
    }

    for (b, op) in &operations {
        for reason in REJECTION_REASONS {
            rejected_rows.entry((b, op, reason)).or_insert(0);
        }
        shed_rows.entry((b, op)).or_insert(0);
    }
    // Sorted by bookmaker, operation, then the reasons in their listed order.
    let mut rejected_sorted: Vec<((&str, &str, &str), u64)> = rejected_rows.into_iter().collect();
    rejected_sorted.sort_by_key(|((b, op, reason), _)| {
        let rank = REJECTION_REASONS
            .iter()
            .position(|r| r == reason)
            .unwrap_or(REJECTION_REASONS.len());
        (*b, *op, rank)
    });
    for ((b, op, reason), n) in rejected_sorted {
        rejected.push(
            vec![
                ("bookmaker", b.to_owned()),
                ("operation", op.to_owned()),
                ("reason", reason.to_owned()),
            ],
            Value::Counter(n),
        );
    }
    for ((b, op), n) in shed_rows {
        load_shed.push(
            vec![("bookmaker", b.to_owned()), ("operation", op.to_owned())],
            Value::Counter(n),
        );
    }
    for ((b, op), rows) in latency_rows {
        let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(rows.buckets)
            .collect();
        let count = rows.buckets.iter().fold(0u64, |a, n| a.saturating_add(*n));
        duration.push(
            vec![("bookmaker", b.to_owned()), ("operation", op.to_owned())],
            Value::Histogram {
                sum: rows.sum_us as f64 / 1e6,
                count,
                buckets,
            },
        );
    }
    for b in bookmakers {
        let n = reset_rows.get(b).copied().unwrap_or(0);
        resets.push(bk(b), Value::Counter(n));
        let n = forced_rows.get(b).copied().unwrap_or(0);
        forced_resets.push(bk(b), Value::Counter(n));
    }

    vec![
        tripped,
        state,
        failures,
        trips,
        latency,
        duration,
        rejected,
        load_shed,
        resets,
        forced_resets,
        probe,
    ]
}

fn add<K: Ord>(map: &mut BTreeMap<K, u64>, key: K, n: u64) {
    let slot = map.entry(key).or_insert(0);
    *slot = slot.saturating_add(n);
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in &self.families {
            let mut metric_encoder =
                encoder.encode_descriptor(family.name, family.help, None, family.metric_type)?;
            for series in &family.series {
                let labels: Vec<(&str, &str)> = series
                    .labels
                    .iter()
                    .map(|(k, v)| (*k, v.as_str()))
                    .collect();
                let mut e = metric_encoder.encode_family(&labels)?;
                match &series.value {
                    Value::Gauge(v) => ConstGauge::new(*v).encode(e)?,
                    Value::FloatGauge(v) => ConstGauge::new(*v).encode(e)?,
                    Value::Counter(v) => ConstCounter::new(*v).encode(e)?,
                    Value::Histogram {
                        sum,
                        count,
                        buckets,
                    } => e.encode_histogram::<NoLabelSet>(*sum, *count, buckets, None)?,
                }
            }
        }
        Ok(())
    }
}

/// Reads everything the exposition shows from a breaker database: every breaker and every
/// counter total, as written by all the processes that share the file.
pub fn read_database(breaker: &crate::ProductionCircuitBreaker) -> crate::error::Result<StoreRead> {
    let statuses = breaker.status_all()?;
    let counters = breaker.counters()?;
    let breakers = statuses
        .iter()
        .map(|s| BreakerSample {
            bookmaker: s.bookmaker.clone(),
            state: s.state.as_str(),
            tripped: s.tripped,
            failures: s.failures,
            trip_count: s.trip_count,
            avg_latency_ms: s.avg_latency,
            probe_in_flight: s.probe_in_flight,
        })
        .collect();
    let counters = counters
        .into_iter()
        .map(|c| CounterSample {
            bookmaker: c.bookmaker,
            operation: c.operation,
            reason: c.reason,
            count: c.count,
        })
        .collect();
    Ok(StoreRead { breakers, counters })
}

/// The exposition of everything a breaker database holds (what `breakerctl metrics`
/// prints): the exporter's series with `circuit_breaker_store_up 1`, then the breakers'.
pub fn render_database(breaker: &crate::ProductionCircuitBreaker) -> crate::error::Result<String> {
    let read = read_database(breaker)?;
    let health = StoreHealth {
        up: true,
        last_success_unix: Some(unix_now()),
        read_failures: 0,
    };
    Ok(render_scrape(Some(&read), &health))
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// How often a failed read of the store is written to the log at most; the reads that fail
/// in between are counted and the count is given in the next line.
pub const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Rate limit for the lines about failures: the first is logged at once, later ones at most
/// once per interval (saying how many were not logged), and the first success after
/// failures is told how many there were.
#[derive(Debug)]
pub struct FailureLog {
    interval: Duration,
    last_logged: Option<Instant>,
    suppressed: u64,
    failing: u64,
}

impl FailureLog {
    /// A log that writes at most one line per `interval`, counting the ones left out.
    pub fn new(interval: Duration) -> FailureLog {
        FailureLog {
            interval,
            last_logged: None,
            suppressed: 0,
            failing: 0,
        }
    }

    /// A failed read at `now`: the line to log, or `None` while rate-limited.
    pub fn failure(&mut self, now: Instant, message: &str) -> Option<String> {
        self.failing = self.failing.saturating_add(1);
        let due = self
            .last_logged
            .is_none_or(|t| now.saturating_duration_since(t) >= self.interval);
        if !due {
            self.suppressed = self.suppressed.saturating_add(1);
            return None;
        }
        let one_line = message.trim().replace(['\r', '\n'], " ");
        let line = if self.suppressed > 0 {
            format!("{one_line} ({} more since the last line)", self.suppressed)
        } else {
            one_line
        };
        self.last_logged = Some(now);
        self.suppressed = 0;
        Some(line)
    }

    /// A success: how many failures came before it, when there were any (to say so).
    pub fn success(&mut self) -> Option<u64> {
        if self.failing == 0 {
            return None;
        }
        let failed = self.failing;
        *self = FailureLog::new(self.interval);
        Some(failed)
    }
}

/// "N failed read(s)".
fn failed_reads(n: u64) -> String {
    format!("{n} failed read{}", if n == 1 { "" } else { "s" })
}

#[derive(Debug)]
struct ExporterState {
    last_success_unix: Option<f64>,
    read_failures: u64,
    log: FailureLog,
}

type LogSink = Box<dyn Fn(&str) + Send + Sync>;

/// What `breakerctl serve` answers `/metrics` and `/healthz` with: both do the same read of
/// the store, so `/healthz` fails exactly when a scrape cannot read it, with the same message.
///
/// A scrape always gets an exposition: when the store cannot be read it has
/// `circuit_breaker_store_up 0` and no breaker series, so Prometheus tells a dead exporter
/// (`up == 0`) from a blind one, and the breaker series go stale instead of showing guesses.
/// Each failed read is logged as one line (rate-limited by [`FailureLog`]).
pub struct Exporter<R> {
    read: R,
    state: Mutex<ExporterState>,
    log: LogSink,
}

impl<R> Exporter<R>
where
    R: Fn() -> Result<StoreRead, String>,
{
    /// An exporter logging to stderr, at most one line per [`FAILURE_LOG_INTERVAL`].
    pub fn new(read: R) -> Exporter<R> {
        Exporter::with_log(
            read,
            FAILURE_LOG_INTERVAL,
            Box::new(|line: &str| eprintln!("breakerctl serve: {line}")),
        )
    }

    /// An exporter writing its log lines to `log`, at most one per `interval`.
    pub fn with_log(read: R, interval: Duration, log: LogSink) -> Exporter<R> {
        Exporter {
            read,
            state: Mutex::new(ExporterState {
                last_success_unix: None,
                read_failures: 0,
                log: FailureLog::new(interval),
            }),
            log,
        }
    }

    /// Reads the store once, updating the health and logging a failure.
    fn read_once(&self, route: &str) -> (Result<StoreRead, String>, StoreHealth) {
        let result = (self.read)();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let line = match &result {
            Ok(_) => {
                state.last_success_unix = Some(unix_now());
                state
                    .log
                    .success()
                    .map(|n| format!("the store is readable again after {}", failed_reads(n)))
            }
            Err(e) => {
                state.read_failures = state.read_failures.saturating_add(1);
                let message = format!(
                    "{route}: cannot read the store: {e}; /metrics exports circuit_breaker_store_up 0 and /healthz answers 503"
                );
                state.log.failure(Instant::now(), &message)
            }
        };
        let health = StoreHealth {
            up: result.is_ok(),
            last_success_unix: state.last_success_unix,
            read_failures: state.read_failures,
        };
        drop(state);
        if let Some(line) = line {
            (self.log)(&line);
        }
        (result, health)
    }

    /// The body of a `/metrics` answer (always 200).
    pub fn scrape(&self) -> String {
        let (read, health) = self.read_once("GET /metrics");
        render_scrape(read.as_ref().ok(), &health)
    }

    /// `/healthz`: the same read as a scrape; the error is the reason for the 503.
    pub fn health(&self) -> Result<(), String> {
        self.check("GET /healthz")
    }

    /// The same read, for `what` (named in the log line when it fails).
    pub fn check(&self, what: &str) -> Result<(), String> {
        self.read_once(what).0.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(bookmaker: &str, state: &'static str) -> BreakerSample {
        BreakerSample {
            bookmaker: bookmaker.to_owned(),
            state,
            tripped: matches!(state, "open" | "forced_open"),
            failures: 0.0,
            trip_count: 0,
            avg_latency_ms: None,
            probe_in_flight: false,
        }
    }

    fn counter(bookmaker: &str, operation: &str, reason: &str, count: u64) -> CounterSample {
        CounterSample {
            bookmaker: bookmaker.to_owned(),
            operation: operation.to_owned(),
            reason: reason.to_owned(),
            count,
        }
    }

    /// A realistic scrape: one healthy, one tripped, one half-open bookmaker.
    fn realistic() -> (Vec<BreakerSample>, Vec<CounterSample>) {
        let breakers = vec![
            BreakerSample {
                failures: 1.5,
                trip_count: 2,
                avg_latency_ms: Some(182.5),
                ..breaker("fanduel", "closed")
            },
            BreakerSample {
                failures: 7.0,
                trip_count: 4,
                avg_latency_ms: Some(1250.0),
                ..breaker("draftkings", "open")
            },
            BreakerSample {
                failures: 0.5,
                trip_count: 1,
                probe_in_flight: true,
                ..breaker("betmgm", "half_open")
            },
        ];
        let counters = vec![
            counter("draftkings", "executeBookmakerApiProbe", "tripped", 41),
            counter("draftkings", "simulateMicroBetAttempt", "tripped", 3),
            counter("draftkings", "executeBookmakerApiProbe", "load_shed", 12),
            counter("fanduel", "probeDarkPoolMarket", "load_shed", 5),
            counter("fanduel", "", "reset", 2),
            counter("betmgm", "", "reset", 1),
            counter("betmgm", "", "forced_reset", 1),
        ];
        (breakers, counters)
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    #[test]
    fn seed_example_tripped_line() {
        let mut b = breaker("draftkings", "open");
        b.tripped = true;
        let text = render(&[b], &[]);
        assert!(
            lines(&text).contains(&r#"circuit_breaker_tripped{bookmaker="draftkings"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn every_family_has_help_and_type() {
        let (b, c) = realistic();
        let text = render(&b, &c);
        for (name, ty) in [
            ("circuit_breaker_tripped", "gauge"),
            ("circuit_breaker_state", "gauge"),
            ("circuit_breaker_failures_1m", "gauge"),
            ("circuit_breaker_trips_total", "counter"),
            ("circuit_breaker_latency_seconds", "gauge"),
            ("circuit_breaker_call_duration_seconds", "histogram"),
            ("circuit_breaker_rejected_total", "counter"),
            ("load_shed_rejected_total", "counter"),
            ("circuit_breaker_resets_total", "counter"),
            ("circuit_breaker_forced_resets_total", "counter"),
            ("circuit_breaker_half_open_probe_in_flight", "gauge"),
        ] {
            let l = lines(&text);
            assert!(
                l.iter().any(|l| l.starts_with(&format!("# HELP {name} "))),
                "no HELP for {name}:\n{text}"
            );
            assert!(
                l.contains(&format!("# TYPE {name} {ty}").as_str()),
                "no TYPE {ty} for {name}:\n{text}"
            );
        }
        // The seed's names must not leak through.
        for old in [
            "circuit_breaker_trip_count",
            "circuit_breaker_latency_ms",
            "circuit_breaker_rejected{",
        ] {
            assert!(!text.contains(old), "{old} present:\n{text}");
        }
    }

    #[test]
    fn state_has_one_series_per_state() {
        let text = render(&[breaker("betmgm", "half_open")], &[]);
        let l = lines(&text);
        for (s, v) in [
            ("closed", 0),
            ("open", 0),
            ("half_open", 1),
            ("forced_open", 0),
        ] {
            let want = format!(r#"circuit_breaker_state{{bookmaker="betmgm",state="{s}"}} {v}"#);
            assert!(l.contains(&want.as_str()), "missing {want}:\n{text}");
        }
        assert_eq!(
            l.iter()
                .filter(|l| l.starts_with("circuit_breaker_state{"))
                .count(),
            4
        );
    }

    #[test]
    fn gauge_values() {
        let (b, c) = realistic();
        let text = render(&b, &c);
        let l = lines(&text);
        for want in [
            r#"circuit_breaker_tripped{bookmaker="draftkings"} 1"#,
            r#"circuit_breaker_tripped{bookmaker="fanduel"} 0"#,
            r#"circuit_breaker_failures_1m{bookmaker="fanduel"} 1.5"#,
            r#"circuit_breaker_failures_1m{bookmaker="draftkings"} 7.0"#,
            r#"circuit_breaker_trips_total{bookmaker="draftkings"} 4"#,
            r#"circuit_breaker_latency_seconds{bookmaker="fanduel"} 0.1825"#,
            r#"circuit_breaker_latency_seconds{bookmaker="draftkings"} 1.25"#,
            r#"circuit_breaker_half_open_probe_in_flight{bookmaker="betmgm"} 1"#,
            r#"circuit_breaker_half_open_probe_in_flight{bookmaker="fanduel"} 0"#,
        ] {
            assert!(l.contains(&want), "missing {want}:\n{text}");
        }
        // Unknown latency: no series at all for betmgm.
        assert!(
            !text.contains(r#"circuit_breaker_latency_seconds{bookmaker="betmgm"}"#),
            "{text}"
        );
    }

    #[test]
    fn counters_split_and_summed() {
        let (b, mut c) = realistic();
        // A duplicate row for the same labels is added up.
        c.push(counter(
            "draftkings",
            "simulateMicroBetAttempt",
            "tripped",
            2,
        ));
        // Unknown reasons are ignored.
        c.push(counter("draftkings", "x", "bogus", 99));
        let text = render(&b, &c);
        let l = lines(&text);
        for want in [
            r#"circuit_breaker_rejected_total{bookmaker="draftkings",operation="executeBookmakerApiProbe",reason="tripped"} 41"#,
            r#"circuit_breaker_rejected_total{bookmaker="draftkings",operation="simulateMicroBetAttempt",reason="tripped"} 5"#,
            r#"circuit_breaker_rejected_total{bookmaker="draftkings",operation="executeBookmakerApiProbe",reason="load_shed"} 12"#,
            r#"load_shed_rejected_total{bookmaker="draftkings",operation="executeBookmakerApiProbe"} 12"#,
            r#"load_shed_rejected_total{bookmaker="fanduel",operation="probeDarkPoolMarket"} 5"#,
            r#"circuit_breaker_resets_total{bookmaker="fanduel"} 2"#,
            r#"circuit_breaker_resets_total{bookmaker="betmgm"} 1"#,
            r#"circuit_breaker_forced_resets_total{bookmaker="betmgm"} 1"#,
        ] {
            assert!(l.contains(&want), "missing {want}:\n{text}");
        }
        assert!(!text.contains("bogus"), "{text}");
        // Tripped rows do not count as load shedding: the pair is known, so its series is 0.
        assert!(
            l.contains(&r#"load_shed_rejected_total{bookmaker="draftkings",operation="simulateMicroBetAttempt"} 0"#),
            "{text}"
        );
    }

    #[test]
    fn resets_and_trips_are_zero_without_rows() {
        let text = render(&[breaker("pinnacle", "closed")], &[]);
        let l = lines(&text);
        for want in [
            r#"circuit_breaker_trips_total{bookmaker="pinnacle"} 0"#,
            r#"circuit_breaker_resets_total{bookmaker="pinnacle"} 0"#,
            r#"circuit_breaker_forced_resets_total{bookmaker="pinnacle"} 0"#,
        ] {
            assert!(l.contains(&want), "missing {want}:\n{text}");
        }
    }

    #[test]
    fn counter_only_bookmaker_still_gets_reset_series() {
        let text = render(&[], &[counter("ghost", "op", "load_shed", 1)]);
        let l = lines(&text);
        assert!(l.contains(&r#"circuit_breaker_resets_total{bookmaker="ghost"} 0"#));
        assert!(l.contains(&r#"circuit_breaker_forced_resets_total{bookmaker="ghost"} 0"#));
    }

    #[test]
    fn known_operations_get_every_reason_at_zero() {
        // fanduel's probe was only ever rejected as tripped; its load-shed series still
        // exists, at 0, so that the first shed call is an increase rate() can see.
        let text = render(
            &[breaker("fanduel", "open")],
            &[
                counter("fanduel", "probe", "tripped", 4),
                counter("fanduel", "", "reset", 1),
                counter("betmgm", "bet", "latency_bucket:0.1", 2),
            ],
        );
        let l = lines(&text);
        for want in [
            r#"circuit_breaker_rejected_total{bookmaker="fanduel",operation="probe",reason="tripped"} 4"#,
            r#"circuit_breaker_rejected_total{bookmaker="fanduel",operation="probe",reason="load_shed"} 0"#,
            r#"load_shed_rejected_total{bookmaker="fanduel",operation="probe"} 0"#,
            r#"circuit_breaker_rejected_total{bookmaker="betmgm",operation="bet",reason="tripped"} 0"#,
            r#"circuit_breaker_rejected_total{bookmaker="betmgm",operation="bet",reason="load_shed"} 0"#,
            r#"load_shed_rejected_total{bookmaker="betmgm",operation="bet"} 0"#,
        ] {
            assert!(l.contains(&want), "missing {want}:\n{text}");
        }
        // Resets have no operation: no rejection series with an empty one.
        assert!(!text.contains(r#"operation="""#), "{text}");
        // Tripped comes before load_shed within a pair.
        let order: Vec<&str> = l
            .iter()
            .filter(|l| l.starts_with("circuit_breaker_rejected_total{bookmaker=\"fanduel\""))
            .copied()
            .collect();
        assert!(
            order[0].contains("tripped") && order[1].contains("load_shed"),
            "{order:?}"
        );
    }

    #[test]
    fn latency_rows_make_a_histogram_with_every_bucket() {
        let text = render(
            &[],
            &[
                counter("dk", "bet", "latency_bucket:0.1", 3),
                // Not one of the buckets: counted in the next larger one (0.25).
                counter("dk", "bet", "latency_bucket:0.2", 1),
                counter("dk", "bet", "latency_bucket:+Inf", 1),
                counter("dk", "bet", "latency_bucket:fast", 7),
                counter("dk", "bet", LATENCY_SUM_REASON, 15_500_000),
            ],
        );
        let l = lines(&text);
        let series = |le: &str| {
            format!(
                r#"circuit_breaker_call_duration_seconds_bucket{{bookmaker="dk",operation="bet",le="{le}"}}"#
            )
        };
        for (le, n) in [
            ("0.005", 0),
            ("0.05", 0),
            ("0.1", 3),
            ("0.25", 4),
            ("1", 4),
            ("10", 4),
            ("+Inf", 5),
        ] {
            let want = format!("{} {n}", series(le));
            assert!(l.contains(&want.as_str()), "missing {want}:\n{text}");
        }
        assert_eq!(
            l.iter()
                .filter(|l| l.starts_with("circuit_breaker_call_duration_seconds_bucket"))
                .count(),
            LATENCY_BUCKETS.len() + 1
        );
        assert!(
            l.contains(
                &r#"circuit_breaker_call_duration_seconds_count{bookmaker="dk",operation="bet"} 5"#
            ),
            "{text}"
        );
        assert!(
            l.contains(
                &r#"circuit_breaker_call_duration_seconds_sum{bookmaker="dk",operation="bet"} 15.5"#
            ),
            "{text}"
        );
        assert!(
            l.contains(&"# TYPE circuit_breaker_call_duration_seconds histogram"),
            "{text}"
        );
        if let Some((ok, report)) = promtool_check_metrics(&text) {
            assert!(ok && report.trim().is_empty(), "{report}\n{text}");
        }
    }

    #[test]
    fn a_scrape_without_a_read_has_store_up_0_and_no_breaker_series() {
        let health = StoreHealth {
            up: false,
            last_success_unix: Some(1_700_000_000.5),
            read_failures: 3,
        };
        let text = render_scrape(None, &health);
        let l = lines(&text);
        for want in [
            "circuit_breaker_store_up 0",
            "circuit_breaker_store_last_success_timestamp_seconds 1700000000.5",
            "circuit_breaker_store_read_failures_total 3",
        ] {
            assert!(l.contains(&want), "missing {want}:\n{text}");
        }
        let build = format!(
            r#"circuit_breaker_build_info{{version="{}",schema_version="{}"}} 1"#,
            env!("CARGO_PKG_VERSION"),
            crate::storage::SCHEMA_VERSION
        );
        assert!(l.contains(&build.as_str()), "{text}");
        assert!(
            l.iter().all(|l| l.starts_with('#')
                || l.starts_with("circuit_breaker_store_")
                || l.starts_with("circuit_breaker_build_info")),
            "{text}"
        );
        let (b, c) = realistic();
        let read = StoreRead {
            breakers: b,
            counters: c,
        };
        let text = render_scrape(
            Some(&read),
            &StoreHealth {
                up: true,
                last_success_unix: None,
                read_failures: 0,
            },
        );
        assert!(
            lines(&text).contains(&"circuit_breaker_store_up 1"),
            "{text}"
        );
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("circuit_breaker_store_last_success_timestamp_seconds ")),
            "{text}"
        );
        assert!(lines(&text).contains(&r#"circuit_breaker_tripped{bookmaker="draftkings"} 1"#));
        if let Some((ok, report)) = promtool_check_metrics(&text) {
            assert!(ok && report.trim().is_empty(), "{report}\n{text}");
        }
        if let Some((ok, report)) = promtool_check_metrics(&render_scrape(None, &health)) {
            assert!(ok && report.trim().is_empty(), "{report}");
        }
    }

    #[test]
    fn failure_log_writes_one_line_per_interval() {
        let mut log = FailureLog::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(log.success(), None, "nothing failed yet");
        assert_eq!(log.failure(t0, "a\nb").as_deref(), Some("a b"), "one line");
        assert_eq!(log.failure(t0 + Duration::from_secs(1), "x"), None);
        assert_eq!(log.failure(t0 + Duration::from_secs(59), "x"), None);
        assert_eq!(
            log.failure(t0 + Duration::from_secs(60), "c").as_deref(),
            Some("c (2 more since the last line)")
        );
        assert_eq!(log.success(), Some(4));
        assert_eq!(log.success(), None);
        // After a recovery the next failure is news again.
        assert_eq!(
            log.failure(t0 + Duration::from_secs(61), "d").as_deref(),
            Some("d")
        );
    }

    #[test]
    fn the_exporter_reads_once_for_metrics_and_healthz_alike() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let broken = Arc::new(AtomicBool::new(false));
        let logged = Arc::new(Mutex::new(Vec::<String>::new()));
        let (b, sink) = (Arc::clone(&broken), Arc::clone(&logged));
        let exporter = Exporter::with_log(
            move || {
                if b.load(Ordering::SeqCst) {
                    Err("database is corrupt: database disk image is malformed".to_owned())
                } else {
                    Ok(StoreRead {
                        breakers: vec![breaker("betmgm", "forced_open")],
                        counters: Vec::new(),
                    })
                }
            },
            Duration::from_secs(3600),
            Box::new(move |line: &str| sink.lock().unwrap().push(line.to_owned())),
        );
        assert_eq!(exporter.health(), Ok(()));
        let text = exporter.scrape();
        assert!(
            lines(&text).contains(&"circuit_breaker_store_up 1"),
            "{text}"
        );
        assert!(lines(&text).contains(&r#"circuit_breaker_tripped{bookmaker="betmgm"} 1"#));

        broken.store(true, Ordering::SeqCst);
        for _ in 0..3 {
            let text = exporter.scrape();
            assert!(
                lines(&text).contains(&"circuit_breaker_store_up 0"),
                "{text}"
            );
            assert!(!text.contains("circuit_breaker_tripped{"), "{text}");
        }
        assert_eq!(
            exporter.health(),
            Err("database is corrupt: database disk image is malformed".to_owned())
        );
        let text = exporter.scrape();
        assert!(
            lines(&text).contains(&"circuit_breaker_store_read_failures_total 5"),
            "{text}"
        );
        assert!(
            text.contains("circuit_breaker_store_last_success_timestamp_seconds 1"),
            "the last good read is kept: {text}"
        );
        assert_eq!(
            *logged.lock().unwrap(),
            [
                "GET /metrics: cannot read the store: database is corrupt: database disk image is malformed; /metrics exports circuit_breaker_store_up 0 and /healthz answers 503"
            ],
            "five failures within the interval are one line"
        );
        broken.store(false, Ordering::SeqCst);
        assert_eq!(exporter.health(), Ok(()));
        assert_eq!(
            logged.lock().unwrap().last().map(String::as_str),
            Some("the store is readable again after 5 failed reads")
        );
    }

    #[test]
    fn output_is_sorted_and_stable() {
        let (b, c) = realistic();
        let first = render(&b, &c);
        let mut rb = b.clone();
        rb.reverse();
        let mut rc = c.clone();
        rc.reverse();
        assert_eq!(first, render(&rb, &rc));
        let order: Vec<&str> = first
            .lines()
            .filter(|l| l.starts_with("circuit_breaker_tripped{"))
            .collect();
        assert_eq!(
            order,
            [
                r#"circuit_breaker_tripped{bookmaker="betmgm"} 0"#,
                r#"circuit_breaker_tripped{bookmaker="draftkings"} 1"#,
                r#"circuit_breaker_tripped{bookmaker="fanduel"} 0"#,
            ]
        );
    }

    #[test]
    fn hostile_label_values_are_escaped() {
        let evil = "evil\"} 1\nfake_metric{x=\"y\\";
        let mut b = breaker(evil, "open");
        b.avg_latency_ms = Some(5.0);
        let text = render(&[b], &[counter(evil, "op\"\n\\", "tripped", 1)]);
        let escaped = r#"evil\"} 1\nfake_metric{x=\"y\\"#;
        let l = lines(&text);
        assert!(
            l.contains(&format!(r#"circuit_breaker_tripped{{bookmaker="{escaped}"}} 1"#).as_str()),
            "{text}"
        );
        assert!(
            l.contains(
                &format!(
                    r#"circuit_breaker_rejected_total{{bookmaker="{escaped}",operation="op\"\n\\",reason="tripped"}} 1"#
                )
                .as_str()
            ),
            "{text}"
        );
        // The injected newline never starts a line of its own.
        assert!(!l.iter().any(|l| l.starts_with("fake_metric")), "{text}");
        // Every line is a comment or starts with one of our metric names.
        for line in l {
            assert!(
                line.starts_with('#')
                    || line.starts_with("circuit_breaker_")
                    || line.starts_with("load_shed_rejected_total"),
                "unexpected line {line:?}"
            );
        }
    }

    #[test]
    fn non_finite_latency_and_negative_trips() {
        let mut b = breaker("x", "closed");
        b.avg_latency_ms = Some(f64::NAN);
        b.trip_count = -3;
        let text = render(&[b], &[]);
        assert!(!text.contains("circuit_breaker_latency_seconds{"), "{text}");
        assert!(
            lines(&text).contains(&r#"circuit_breaker_trips_total{bookmaker="x"} 0"#),
            "{text}"
        );
    }

    #[test]
    fn empty_input_is_valid() {
        let text = render(&[], &[]);
        assert!(text.lines().all(|l| l.starts_with('#')), "{text}");
    }

    /// Runs `promtool check metrics` on `text`. `Ok(None)` means promtool
    /// is not installed (and CI is not set), so the caller skips.
    fn promtool_check_metrics(text: &str) -> Option<(bool, String)> {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!(
                        "promtool is required when CI=true but could not be run ({e}); \
                         install the `prometheus` package (see .ci/run)"
                    );
                }
                eprintln!("note: promtool not found ({e}); skipping `promtool check metrics`");
                return None;
            }
            Err(e) => panic!("could not run promtool: {e}"),
        };
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Some((out.status.success(), report))
    }

    #[test]
    fn promtool_accepts_realistic_exposition() {
        let (b, c) = realistic();
        let text = render(&b, &c);
        if let Some((ok, report)) = promtool_check_metrics(&text) {
            assert!(ok, "promtool check metrics failed:\n{report}\n---\n{text}");
            assert!(
                report.trim().is_empty(),
                "promtool complained:\n{report}\n---\n{text}"
            );
        }
    }

    #[test]
    fn promtool_accepts_empty_exposition() {
        let text = render(&[], &[]);
        if let Some((ok, report)) = promtool_check_metrics(&text) {
            assert!(ok, "promtool check metrics failed:\n{report}\n---\n{text}");
            assert!(
                report.trim().is_empty(),
                "promtool complained:\n{report}\n---\n{text}"
            );
        }
    }

    #[test]
    fn promtool_accepts_hostile_labels() {
        let evil = "a\"b\\c\nd";
        let text = render(
            &[breaker(evil, "forced_open")],
            &[counter(evil, "o\"p", "load_shed", 3)],
        );
        if let Some((ok, report)) = promtool_check_metrics(&text) {
            assert!(ok, "promtool check metrics failed:\n{report}\n---\n{text}");
            assert!(
                report.trim().is_empty(),
                "promtool complained:\n{report}\n---\n{text}"
            );
        }
    }
}
