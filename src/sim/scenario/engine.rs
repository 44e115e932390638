//! The run: simulated bookmakers, concurrent callers through the breaker, raw records.

#[allow(unused_imports)]
use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Success,
    Failure,
    Timeout,
    RejectedOpen,
    Shed,
    BreakerError,
}

impl Outcome {
    pub(super) fn of<T>(result: &Result<T, CallError<UpstreamError>>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(CallError::Upstream(e)) if e.is_timeout() => Outcome::Timeout,
            Err(CallError::Upstream(_)) => Outcome::Failure,
            Err(CallError::Tripped { .. }) => Outcome::RejectedOpen,
            Err(CallError::LoadShed { .. }) => Outcome::Shed,
            Err(CallError::Breaker(_)) => Outcome::BreakerError,
        }
    }

    pub(super) fn reached_upstream(self) -> bool {
        matches!(self, Outcome::Success | Outcome::Failure | Outcome::Timeout)
    }
}

/// The load as seen around a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LoadPhase {
    Low,
    High,
    /// Changed during the call: counted in neither.
    Changing,
}

/// One call as a caller saw it.
#[derive(Debug, Clone, Copy)]
pub(super) struct CallRecord {
    pub(super) bookmaker: u8,
    pub(super) operation: u8,
    pub(super) outcome: Outcome,
    pub(super) load: LoadPhase,
    /// Microseconds from the start of the run.
    pub(super) start_us: u64,
    pub(super) duration_us: u64,
}

impl CallRecord {
    pub(super) fn end_us(&self) -> u64 {
        self.start_us + self.duration_us
    }
}

/// The breaker's clock for a run: wall-clock milliseconds anchored once, then advanced by the
/// monotonic clock, so audit timestamps and request logs share one time line.
pub(super) struct RunClock {
    pub(super) anchor: Instant,
    pub(super) epoch_ms: i64,
}

impl Clock for RunClock {
    fn now_ms(&self) -> i64 {
        self.epoch_ms
            .saturating_add(i64::try_from(self.anchor.elapsed().as_millis()).unwrap_or(i64::MAX))
    }
}

/// Counters the progress display reads while the run goes on.
#[derive(Default)]
pub(super) struct Live {
    pub(super) calls: AtomicU64,
    pub(super) successes: AtomicU64,
    pub(super) failures: AtomicU64,
    pub(super) timeouts: AtomicU64,
    pub(super) rejected: AtomicU64,
    pub(super) shed: AtomicU64,
    pub(super) open: Vec<AtomicBool>,
}

impl Live {
    pub(super) fn record(&self, bookmaker: usize, outcome: Outcome) {
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
pub(super) struct Rng(SplitMix64);

impl Rng {
    pub(super) fn new(seed: u64, stream: u64) -> Rng {
        let mut r = SplitMix64(seed ^ stream.wrapping_mul(0xA24B_AED4_963E_E407));
        r.next_u64();
        Rng(r)
    }

    pub(super) fn next_f64(&mut self) -> f64 {
        self.0.next_f64()
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n.max(1) as u64) as usize
    }
}

/// A healthy bookmaker's profile, varied a little by seed and index.
pub(super) fn healthy_profile(seed: u64, index: usize, client_timeout: Duration) -> Profile {
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

pub(super) fn snapshot(
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
pub(super) struct Caller {
    pub(super) index: usize,
    pub(super) service: MarketProbeService,
    pub(super) names: Vec<String>,
    pub(super) load: Arc<SettableLoad>,
    pub(super) threshold: f64,
    pub(super) live: Arc<Live>,
    pub(super) timeline: Timeline,
    pub(super) options: SimOptions,
    pub(super) anchor: Instant,
    pub(super) start: Instant,
    pub(super) end: Instant,
}

impl Caller {
    pub(super) fn run(self) -> Vec<CallRecord> {
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

    pub(super) fn call(&self, rng: &mut Rng) -> CallRecord {
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

pub(super) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
