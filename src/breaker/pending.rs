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

    /// Puts back `older`, a batch taken out to be written that could not be: its samples
    /// came before the ones gathered since, its counts add to theirs.
    pub(super) fn merge_back(&mut self, older: Pending) {
        for (bookmaker, (batch, last)) in older.latencies {
            match self.latencies.remove(&bookmaker) {
                Some((newer, newer_last)) => {
                    self.latencies
                        .insert(bookmaker, (batch.then(&newer), newer_last.max(last)));
                }
                None => {
                    self.latencies.insert(bookmaker, (batch, last));
                }
            }
        }
        for (bookmaker, ops) in older.counters {
            for (operation, reasons) in ops {
                for (reason, n) in reasons {
                    self.add_count(&bookmaker, &operation, reason, n);
                }
            }
        }
    }

    pub(super) fn count(&mut self, bookmaker: &str, operation: &str, reason: &'static str) {
        self.add_count(bookmaker, operation, reason, 1);
    }

    fn add_count(&mut self, bookmaker: &str, operation: &str, reason: &'static str, n: u64) {
        let by_op = match self.counters.get_mut(bookmaker) {
            Some(m) => m,
            None => self.counters.entry(bookmaker.to_owned()).or_default(),
        };
        let by_reason = match by_op.get_mut(operation) {
            Some(m) => m,
            None => by_op.entry(operation.to_owned()).or_default(),
        };
        match by_reason.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, count)) => *count += n,
            None => by_reason.push((reason, n)),
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
