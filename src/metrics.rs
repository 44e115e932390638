//! The metrics sink of the seed's shape: `counter` and `gauge` with labels. No-op by default.
//!
//! Counter totals that operators need across processes (rejections, load sheds, resets) are
//! also kept in the database; this sink is for a service's own in-process telemetry.

/// Where the breaker sends its in-process telemetry. It is called on the call path (every
/// rejection, every trip), so it should be cheap.
///
/// Counters: `circuit_breaker_rejected_total` (labels `bookmaker`, `operation`, `reason`:
/// `tripped` or `load_shed`), `load_shed_rejected_total` (`bookmaker`, `operation`),
/// `circuit_breaker_trips_total`, `circuit_breaker_resets_total` and
/// `circuit_breaker_failures_deferred_total` (`bookmaker`). Gauges: `circuit_breaker_tripped`
/// (`bookmaker`; 1 or 0) and `circuit_breaker_pending_writes` (no labels).
pub trait MetricsSink: Send + Sync {
    /// Adds `value` to the counter `name` with these labels.
    fn counter(&self, name: &str, value: f64, labels: &[(&str, &str)]);
    /// Sets the gauge `name` with these labels to `value`.
    fn gauge(&self, name: &str, value: f64, labels: &[(&str, &str)]);
}

/// Discards everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopMetrics;

impl MetricsSink for NoopMetrics {
    fn counter(&self, _: &str, _: f64, _: &[(&str, &str)]) {}
    fn gauge(&self, _: &str, _: f64, _: &[(&str, &str)]) {}
}

/// Keeps every sample in memory; for tests and examples.
#[derive(Debug, Default)]
pub struct RecordingMetrics {
    samples: std::sync::Mutex<Vec<Sample>>,
}

/// One call to the sink, as [`RecordingMetrics`] keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// `counter` or `gauge`.
    pub kind: &'static str,
    /// The metric's name.
    pub name: String,
    /// The increment (counter) or the value set (gauge).
    pub value: f64,
    /// The labels, in the order given.
    pub labels: Vec<(String, String)>,
}

impl RecordingMetrics {
    /// A copy of every sample so far, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Sum of a counter's increments whose labels include every pair in `labels`.
    pub fn counter_total(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples()
            .iter()
            .filter(|s| s.kind == "counter" && s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
            })
            .map(|s| s.value)
            .sum()
    }

    fn push(&self, kind: &'static str, name: &str, value: f64, labels: &[(&str, &str)]) {
        if let Ok(mut s) = self.samples.lock() {
            s.push(Sample {
                kind,
                name: name.to_owned(),
                value,
                labels: labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            });
        }
    }
}

impl MetricsSink for RecordingMetrics {
    fn counter(&self, name: &str, value: f64, labels: &[(&str, &str)]) {
        self.push("counter", name, value, labels);
    }
    fn gauge(&self, name: &str, value: f64, labels: &[(&str, &str)]) {
        self.push("gauge", name, value, labels);
    }
}
