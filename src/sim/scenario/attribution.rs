//! From raw observations to the report: requests attributed to open, probe and in-flight
//! windows from the audit trail.

#[allow(unused_imports)]
use super::*;

pub(super) struct Inputs<'a> {
    pub(super) options: &'a SimOptions,
    pub(super) names: &'a [String],
    pub(super) timeline: &'a Timeline,
    pub(super) config: &'a BreakerConfig,
    pub(super) anchor: Instant,
    pub(super) run_start_ms: i64,
    pub(super) elapsed: Duration,
    pub(super) high_load_seen: (Option<Duration>, Option<Duration>),
    pub(super) records: &'a [CallRecord],
    pub(super) audit: &'a [crate::storage::AuditRecord],
    pub(super) logs: &'a [Vec<ReceivedRequest>],
    pub(super) initially_open: &'a [bool],
    pub(super) finals: &'a [Option<BreakerState>],
    pub(super) database: &'a Path,
}

/// A bookmaker's breaker history during the run, in microseconds from the run's start.
#[derive(Debug, Default)]
pub(super) struct History {
    /// [start, end) of each time the breaker was open (incl. half-open).
    pub(super) open: Vec<(u64, u64)>,
    /// [start, end) of each half-open probe.
    pub(super) probes: Vec<(u64, u64)>,
    /// (time, weighted failure count) of each trip.
    pub(super) trips: Vec<(u64, f64)>,
    pub(super) probe_starts: u64,
    pub(super) reopens: u64,
    pub(super) closes: u64,
}

impl History {
    pub(super) fn from_audit(
        rows: &[&crate::storage::AuditRecord],
        run_start_ms: i64,
        open: bool,
    ) -> History {
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
    pub(super) fn report(&self) -> Report {
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

    pub(super) fn rates(&self) -> Vec<RatePhase> {
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

    pub(super) fn bookmaker(&self, b: usize) -> BookmakerReport {
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
