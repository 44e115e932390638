//! The metrics sink of the seed's shape: `counter` and `gauge` with labels. No-op by default.
//!
//! Counter totals that operators need across processes (rejections, load sheds, resets) are
//! also kept in the database; this sink is for a service's own in-process telemetry.

pub trait MetricsSink: Send + Sync {
    fn counter(&self, name: &str, value: f64, labels: &[(&str, &str)]);
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

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub kind: &'static str,
    pub name: String,
    pub value: f64,
    pub labels: Vec<(String, String)>,
}

impl RecordingMetrics {
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
