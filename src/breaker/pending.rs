//! Results kept in memory until the next flush: success latencies and counter increments.

use crate::machine::LatencyBatch;
use crate::storage::FlushBatch;
use std::collections::HashMap;

/// Counts by reason, for one bookmaker and operation.
type ReasonCounts = Vec<(&'static str, u64)>;

#[derive(Default)]
pub(super) struct Pending {
    pub(super) latencies: HashMap<String, (LatencyBatch, i64)>,
    /// bookmaker -> operation -> (reason, count); a call counts under one or two reasons, so
    /// a short list is cheaper than a third hash map.
    pub(super) counters: HashMap<String, HashMap<String, ReasonCounts>>,
}

impl Pending {
    pub(super) fn is_empty(&self) -> bool {
        self.latencies.is_empty() && self.counters.is_empty()
    }

    pub(super) fn add_latency(
        &mut self,
        bookmaker: &str,
        latency_ms: f64,
        smoothing: f64,
        now: i64,
    ) {
        if let Some((batch, last)) = self.latencies.get_mut(bookmaker) {
            batch.add(latency_ms, smoothing);
            *last = now;
        } else {
            let mut batch = LatencyBatch::default();
            batch.add(latency_ms, smoothing);
            self.latencies.insert(bookmaker.to_owned(), (batch, now));
        }
    }

    pub(super) fn count(&mut self, bookmaker: &str, operation: &str, reason: &'static str) {
        let by_op = match self.counters.get_mut(bookmaker) {
            Some(m) => m,
            None => self.counters.entry(bookmaker.to_owned()).or_default(),
        };
        let by_reason = match by_op.get_mut(operation) {
            Some(m) => m,
            None => by_op.entry(operation.to_owned()).or_default(),
        };
        match by_reason.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => by_reason.push((reason, 1)),
        }
    }

    pub(super) fn to_batch(&self) -> FlushBatch {
        FlushBatch {
            latencies: self
                .latencies
                .iter()
                .map(|(b, (batch, last))| (b.clone(), *batch, *last))
                .collect(),
            counters: self
                .counters
                .iter()
                .flat_map(|(b, ops)| {
                    ops.iter().flat_map(move |(op, reasons)| {
                        reasons
                            .iter()
                            .map(move |(r, n)| (b.clone(), op.clone(), (*r).to_owned(), *n))
                    })
                })
                .collect(),
        }
    }
}
