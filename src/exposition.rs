//! Prometheus text exposition (format version 0.0.4) of the breaker state.
//!
//! [`render`] takes plain data read from the shared database and turns it
//! into the body of a `/metrics` response. Names, `# HELP`/`# TYPE` lines,
//! the `_total` suffix of counters, label-value escaping and number
//! formatting are all done by the `prometheus-client` crate; this module only
//! decides which series exist and what their values are.
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
//! `ConstCounter`), just in a stable order: families in the order listed
//! here, series sorted by their label values.

use std::collections::{BTreeMap, BTreeSet};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// `Content-Type` of the text produced by [`render`].
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The four states a breaker can be in, in the order their series are emitted.
pub const STATES: [&str; 4] = ["closed", "open", "half_open", "forced_open"];

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
    /// `"tripped"` | `"load_shed"` | `"reset"` | `"forced_reset"`; other
    /// reasons are ignored.
    pub reason: String,
    /// How often it happened (from the store: the total of every process sharing it).
    pub count: u64,
}

/// Renders the Prometheus text exposition (version 0.0.4) for the given samples.
///
/// * Breaker gauges and `circuit_breaker_trips_total` get one series per
///   [`BreakerSample`]; `circuit_breaker_state` gets one series per state.
/// * `circuit_breaker_latency_seconds` is omitted for a bookmaker whose
///   latency is unknown (or not a finite number).
/// * Counter rows with the same labels are summed.
/// * `circuit_breaker_resets_total` is the sum of the `"reset"` rows of a
///   bookmaker over all operations. The data layer counts a forced reset both
///   as `"reset"` and as `"forced_reset"`, so forced resets are not added again.
/// * Every bookmaker that appears anywhere gets a `circuit_breaker_resets_total`
///   and a `circuit_breaker_forced_resets_total` series, 0 when it has no rows,
///   so that `increase()` in alert rules sees the counter before its first step.
pub fn render(breakers: &[BreakerSample], counters: &[CounterSample]) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot::build(breakers, counters)));
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
        .expect("writing to a String cannot fail");
    out
}

/// Value of one series; the variant must match the family's metric type.
#[derive(Debug, Clone, Copy)]
enum Value {
    Gauge(i64),
    FloatGauge(f64),
    Counter(u64),
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

impl Snapshot {
    fn build(breakers: &[BreakerSample], counters: &[CounterSample]) -> Self {
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
                _ => continue,
            }
            bookmakers.insert(key.0);
        }

        for ((b, op, reason), n) in rejected_rows {
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
        for b in bookmakers {
            let n = reset_rows.get(b).copied().unwrap_or(0);
            resets.push(bk(b), Value::Counter(n));
            let n = forced_rows.get(b).copied().unwrap_or(0);
            forced_resets.push(bk(b), Value::Counter(n));
        }

        Snapshot {
            families: vec![
                tripped,
                state,
                failures,
                trips,
                latency,
                rejected,
                load_shed,
                resets,
                forced_resets,
                probe,
            ],
        }
    }
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
                let e = metric_encoder.encode_family(&labels)?;
                match series.value {
                    Value::Gauge(v) => ConstGauge::new(v).encode(e)?,
                    Value::FloatGauge(v) => ConstGauge::new(v).encode(e)?,
                    Value::Counter(v) => ConstCounter::new(v).encode(e)?,
                }
            }
        }
        Ok(())
    }
}

/// The exposition of everything a breaker database holds: every breaker and every counter
/// total, as written by all the processes that share the file.
pub fn render_database(breaker: &crate::ProductionCircuitBreaker) -> crate::error::Result<String> {
    let statuses = breaker.status_all()?;
    let counters = breaker.counters()?;
    let samples: Vec<BreakerSample> = statuses
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
    let counter_samples: Vec<CounterSample> = counters
        .into_iter()
        .map(|c| CounterSample {
            bookmaker: c.bookmaker,
            operation: c.operation,
            reason: c.reason,
            count: c.count,
        })
        .collect();
    Ok(render(&samples, &counter_samples))
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
        assert!(
            !text.contains(r#"load_shed_rejected_total{bookmaker="draftkings",operation="simulateMicroBetAttempt"}"#),
            "tripped rows must not count as load shedding:\n{text}"
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
