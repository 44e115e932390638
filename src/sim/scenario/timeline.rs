//! The scenario's timeline: when traffic, load and degradation change.

#[allow(unused_imports)]
use super::*;

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

pub(super) fn within(window: Option<(Duration, Duration)>, t: Duration) -> bool {
    window.is_some_and(|(s, e)| s <= t && t < e)
}

impl Timeline {
    pub(super) fn rate_multiplier(&self, t: Duration) -> f64 {
        if within(self.spike, t) {
            SPIKE_MULTIPLIER
        } else {
            1.0
        }
    }

    pub(super) fn load_at(&self, t: Duration) -> f64 {
        if within(self.high_load, t) {
            HIGH_LOAD
        } else {
            BASE_LOAD
        }
    }

    /// The next moment after `t` at which the load changes.
    pub(super) fn next_load_change(&self, t: Duration) -> Option<Duration> {
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
