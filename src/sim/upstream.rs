//! Simulated bookmakers: real HTTP servers on `127.0.0.1` with an ephemeral
//! port, one per bookmaker, whose behaviour follows a [`Profile`].
//!
//! Endpoints (all answer small JSON on success):
//!
//! * `GET /markets`
//! * `GET /markets/{id}/depth`
//! * `POST /bets/micro`
//! * `GET /darkpool/{id}`
//!
//! Anything else is answered with `404`.
//!
//! Every request gets a sequence number; all of its randomness (latency sample,
//! error roll, timeout roll) comes from a generator seeded with the bookmaker's
//! seed and that number, so the fate of request *n* is deterministic for a given
//! seed and profile, whichever worker thread serves it. Time-based behaviour
//! (outage and slowdown windows, measured from server start) and run-time
//! overrides naturally depend on when a request arrives.
//!
//! Every sleep is bounded ([`MAX_SLEEP`]) and is taken in small steps that stop
//! as soon as the server is shut down.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;

/// Default number of worker threads per simulated bookmaker.
pub const DEFAULT_WORKERS: usize = 24;
/// Upper bound of any single simulated delay (latency, slowdown or hang).
pub const MAX_SLEEP: Duration = Duration::from_secs(10);
/// Default time a "timeout" response hangs before answering `504`.
pub const DEFAULT_HANG: Duration = Duration::from_secs(2);
/// At most this many requests are kept in the log ([`SimBookmaker::requests`]);
/// [`SimBookmaker::request_count`] keeps counting past it.
pub const MAX_LOGGED_REQUESTS: usize = 200_000;

/// Granularity of interruptible sleeps and of the workers' shutdown polling.
const STEP: Duration = Duration::from_millis(10);
/// Largest request body read (bytes); the rest is ignored.
const MAX_BODY: u64 = 64 * 1024;

/// Latency distribution of successful (and error) responses.
#[derive(Debug, Clone, PartialEq)]
pub enum LatencyDist {
    /// Always exactly this long.
    Fixed(Duration),
    /// `base` plus a uniform draw from `[0, jitter)`.
    Jitter { base: Duration, jitter: Duration },
    /// Normal distribution, clamped at zero.
    Normal { mean: Duration, std_dev: Duration },
    /// Log-normal distribution: `median * exp(sigma * z)` with `z` standard normal.
    LogNormal { median: Duration, sigma: f64 },
}

impl LatencyDist {
    /// `Fixed` in milliseconds.
    pub fn fixed_ms(ms: u64) -> Self {
        LatencyDist::Fixed(Duration::from_millis(ms))
    }

    /// `Jitter` in milliseconds.
    pub fn jitter_ms(base_ms: u64, jitter_ms: u64) -> Self {
        LatencyDist::Jitter {
            base: Duration::from_millis(base_ms),
            jitter: Duration::from_millis(jitter_ms),
        }
    }

    /// Draws one latency, clamped to `[0, MAX_SLEEP]`.
    fn sample(&self, rng: &mut SplitMix64) -> Duration {
        let secs = match self {
            LatencyDist::Fixed(d) => d.as_secs_f64(),
            LatencyDist::Jitter { base, jitter } => {
                base.as_secs_f64() + rng.next_f64() * jitter.as_secs_f64()
            }
            LatencyDist::Normal { mean, std_dev } => {
                mean.as_secs_f64() + rng.standard_normal() * std_dev.as_secs_f64()
            }
            LatencyDist::LogNormal { median, sigma } => {
                median.as_secs_f64() * (sigma * rng.standard_normal()).exp()
            }
        };
        clamp_secs(secs)
    }
}

impl Default for LatencyDist {
    fn default() -> Self {
        LatencyDist::Fixed(Duration::ZERO)
    }
}

/// A time window, measured from server start: `start <= t < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: Duration,
    pub end: Duration,
}

impl Window {
    pub fn new(start: Duration, end: Duration) -> Self {
        Window { start, end }
    }

    /// Window in milliseconds from server start.
    pub fn from_ms(start_ms: u64, end_ms: u64) -> Self {
        Window::new(
            Duration::from_millis(start_ms),
            Duration::from_millis(end_ms),
        )
    }

    pub fn contains(&self, t: Duration) -> bool {
        self.start <= t && t < self.end
    }
}

/// Behaviour of one simulated bookmaker.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Latency of normal responses.
    pub latency: LatencyDist,
    /// Chance (0..=1) that a request is answered with HTTP 503 or 500
    /// (after the usual latency).
    pub error_rate: f64,
    /// Chance (0..=1) that a request hangs for [`Profile::hang`] (far past any
    /// sensible client timeout) and is then answered with 504.
    pub timeout_rate: f64,
    /// How long a "timeout" request hangs (capped at [`MAX_SLEEP`], cut short
    /// on shutdown). Defaults to [`DEFAULT_HANG`].
    pub hang: Duration,
    /// Windows (from server start) during which every request fails hard
    /// with an immediate HTTP 500.
    pub outages: Vec<Window>,
    /// Windows during which latency is raised to (at least) the given value.
    pub slowdowns: Vec<(Window, Duration)>,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            latency: LatencyDist::default(),
            error_rate: 0.0,
            timeout_rate: 0.0,
            hang: DEFAULT_HANG,
            outages: Vec::new(),
            slowdowns: Vec::new(),
        }
    }
}

impl Profile {
    /// No latency, no errors, no timeouts, no windows.
    pub fn healthy() -> Self {
        Profile::default()
    }

    pub fn with_latency(mut self, latency: LatencyDist) -> Self {
        self.latency = latency;
        self
    }

    pub fn with_error_rate(mut self, rate: f64) -> Self {
        self.error_rate = rate;
        self
    }

    pub fn with_timeout_rate(mut self, rate: f64) -> Self {
        self.timeout_rate = rate;
        self
    }

    pub fn with_hang(mut self, hang: Duration) -> Self {
        self.hang = hang;
        self
    }

    pub fn with_outage(mut self, window: Window) -> Self {
        self.outages.push(window);
        self
    }

    pub fn with_slowdown(mut self, window: Window, latency: Duration) -> Self {
        self.slowdowns.push((window, latency));
        self
    }
}

/// What the server did (or planned to do) with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 200 with a JSON body after the sampled latency.
    Ok,
    /// A random error (503 or 500) after the sampled latency.
    Error(u16),
    /// Hard failure during an outage: immediate 500.
    Outage,
    /// Hung for `Profile::hang`, then 504 (or 503 if shut down meanwhile).
    Hang,
    /// Unknown path or method: 404.
    NotFound,
}

/// One entry of the received-request log.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedRequest {
    /// Sequence number (0-based, in order of reception).
    pub seq: u64,
    pub method: String,
    /// Path without the query string.
    pub path: String,
    pub received_at: Instant,
    /// Time since server start.
    pub since_start: Duration,
    /// Planned outcome.
    pub outcome: Outcome,
    /// Planned delay before answering (latency, or hang time).
    pub delay: Duration,
}

/// Run-time state shared between the handle and the worker threads.
struct Shared {
    name: String,
    seed: u64,
    started: Instant,
    profile: Mutex<Profile>,
    forced_outage: AtomicBool,
    extra_latency_us: AtomicU64,
    shutdown: AtomicBool,
    seq: AtomicU64,
    log: Mutex<Vec<ReceivedRequest>>,
}

impl Shared {
    fn extra_latency(&self) -> Duration {
        Duration::from_micros(self.extra_latency_us.load(Ordering::Relaxed))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A cloneable handle that changes a running bookmaker's behaviour, usable
/// from any thread (also after the [`SimBookmaker`] itself moved elsewhere).
#[derive(Clone)]
pub struct SimControl {
    shared: Arc<Shared>,
}

impl SimControl {
    /// Forces (or ends) an outage: while on, every request fails with 500.
    pub fn set_outage(&self, on: bool) {
        self.shared.forced_outage.store(on, Ordering::SeqCst);
    }

    pub fn is_outage(&self) -> bool {
        self.shared.forced_outage.load(Ordering::SeqCst)
    }

    /// Adds this much latency to every non-outage response
    /// (`Duration::ZERO` ends the slowdown).
    pub fn set_extra_latency(&self, extra: Duration) {
        let us = extra.min(MAX_SLEEP).as_micros() as u64;
        self.shared.extra_latency_us.store(us, Ordering::SeqCst);
    }

    pub fn extra_latency(&self) -> Duration {
        self.shared.extra_latency()
    }

    pub fn set_error_rate(&self, rate: f64) {
        lock(&self.shared.profile).error_rate = rate;
    }

    pub fn set_timeout_rate(&self, rate: f64) {
        lock(&self.shared.profile).timeout_rate = rate;
    }

    /// Replaces the whole profile (windows stay relative to server start).
    pub fn set_profile(&self, profile: Profile) {
        *lock(&self.shared.profile) = profile;
    }

    pub fn profile(&self) -> Profile {
        lock(&self.shared.profile).clone()
    }
}

/// A simulated bookmaker: an HTTP server on `127.0.0.1:<ephemeral>`.
///
/// Dropping it shuts it down as well; [`SimBookmaker::shutdown`] does so
/// explicitly.
pub struct SimBookmaker {
    control: SimControl,
    addr: SocketAddr,
    workers: Vec<JoinHandle<()>>,
}

impl SimBookmaker {
    /// Starts a bookmaker with [`DEFAULT_WORKERS`] worker threads.
    pub fn start(name: &str, profile: Profile, seed: u64) -> std::io::Result<Self> {
        Self::start_with_workers(name, profile, seed, DEFAULT_WORKERS)
    }

    /// Starts a bookmaker with `workers` (at least 1) worker threads.
    pub fn start_with_workers(
        name: &str,
        profile: Profile,
        seed: u64,
        workers: usize,
    ) -> std::io::Result<Self> {
        let server = tiny_http::Server::http("127.0.0.1:0").map_err(std::io::Error::other)?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| std::io::Error::other("simulated bookmaker did not bind to an IP"))?;
        let server = Arc::new(server);
        let shared = Arc::new(Shared {
            name: name.to_string(),
            seed,
            started: Instant::now(),
            profile: Mutex::new(profile),
            forced_outage: AtomicBool::new(false),
            extra_latency_us: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
            seq: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
        });
        let mut me = SimBookmaker {
            control: SimControl {
                shared: Arc::clone(&shared),
            },
            addr,
            workers: Vec::new(),
        };
        for i in 0..workers.max(1) {
            let server = Arc::clone(&server);
            let shared = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name(format!("sim-{name}-{i}"))
                .spawn(move || worker_loop(&server, &shared));
            match spawned {
                Ok(handle) => me.workers.push(handle),
                Err(e) => {
                    me.stop();
                    return Err(e);
                }
            }
        }
        Ok(me)
    }

    pub fn name(&self) -> &str {
        &self.control.shared.name
    }

    pub fn seed(&self) -> u64 {
        self.control.shared.seed
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Time since the server started (the clock of outage/slowdown windows).
    pub fn elapsed(&self) -> Duration {
        self.control.shared.started.elapsed()
    }

    /// A cloneable run-time control handle.
    pub fn control(&self) -> SimControl {
        self.control.clone()
    }

    /// Snapshot of the received-request log (in order of reception, at most
    /// [`MAX_LOGGED_REQUESTS`] entries).
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        let mut log = lock(&self.control.shared.log).clone();
        log.sort_by_key(|r| r.seq);
        log
    }

    /// Number of requests received so far (all paths, including 404s).
    pub fn request_count(&self) -> u64 {
        self.control.shared.seq.load(Ordering::SeqCst)
    }

    pub fn set_outage(&self, on: bool) {
        self.control.set_outage(on)
    }

    pub fn is_outage(&self) -> bool {
        self.control.is_outage()
    }

    pub fn set_extra_latency(&self, extra: Duration) {
        self.control.set_extra_latency(extra)
    }

    pub fn set_error_rate(&self, rate: f64) {
        self.control.set_error_rate(rate)
    }

    pub fn set_timeout_rate(&self, rate: f64) {
        self.control.set_timeout_rate(rate)
    }

    pub fn set_profile(&self, profile: Profile) {
        self.control.set_profile(profile)
    }

    pub fn profile(&self) -> Profile {
        self.control.profile()
    }

    /// Stops the workers (in-flight slow responses are cut short) and closes
    /// the listening socket.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.control.shared.shutdown.store(true, Ordering::SeqCst);
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
        // The last `Arc<Server>` was held by the workers; it is dropped now,
        // which closes the listener.
    }
}

impl Drop for SimBookmaker {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for SimBookmaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimBookmaker")
            .field("name", &self.name())
            .field("addr", &self.addr)
            .field("requests", &self.request_count())
            .finish()
    }
}

fn worker_loop(server: &tiny_http::Server, shared: &Shared) {
    while !shared.shutdown.load(Ordering::SeqCst) {
        match server.recv_timeout(STEP * 5) {
            Ok(Some(request)) => handle(request, shared),
            Ok(None) => {}
            Err(_) => std::thread::sleep(STEP),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    Markets,
    Depth(String),
    MicroBet,
    DarkPool(String),
}

fn route(method: &tiny_http::Method, path: &str) -> Option<Endpoint> {
    use tiny_http::Method;
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (Method::Get, ["markets"]) => Some(Endpoint::Markets),
        (Method::Get, ["markets", id, "depth"]) if !id.is_empty() => {
            Some(Endpoint::Depth(id.to_string()))
        }
        (Method::Post, ["bets", "micro"]) => Some(Endpoint::MicroBet),
        (Method::Get, ["darkpool", id]) if !id.is_empty() => {
            Some(Endpoint::DarkPool(id.to_string()))
        }
        _ => None,
    }
}

/// The decision for one request, derived only from its inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Plan {
    outcome: Outcome,
    delay: Duration,
    /// Extra per-request randomness for the response body.
    salt: u64,
}

fn decide(
    profile: &Profile,
    seed: u64,
    seq: u64,
    since_start: Duration,
    forced_outage: bool,
    extra_latency: Duration,
) -> Plan {
    let mut rng = SplitMix64::for_request(seed, seq);
    // Always draw in the same order so request `seq` sees the same numbers
    // whatever the profile says.
    let error_roll = rng.next_f64();
    let timeout_roll = rng.next_f64();
    let code_roll = rng.next_u64();
    let salt = rng.next_u64();
    let sampled = profile.latency.sample(&mut rng);

    if forced_outage || profile.outages.iter().any(|w| w.contains(since_start)) {
        return Plan {
            outcome: Outcome::Outage,
            delay: Duration::ZERO,
            salt,
        };
    }
    if timeout_roll < profile.timeout_rate.clamp(0.0, 1.0) {
        return Plan {
            outcome: Outcome::Hang,
            delay: profile.hang.min(MAX_SLEEP),
            salt,
        };
    }
    let mut delay = sampled.saturating_add(extra_latency);
    for (window, slow) in &profile.slowdowns {
        if window.contains(since_start) {
            delay = delay.max(*slow);
        }
    }
    let delay = delay.min(MAX_SLEEP);
    let outcome = if error_roll < profile.error_rate.clamp(0.0, 1.0) {
        let code = if code_roll.is_multiple_of(4) {
            500
        } else {
            503
        };
        Outcome::Error(code)
    } else {
        Outcome::Ok
    };
    Plan {
        outcome,
        delay,
        salt,
    }
}

/// Sleeps up to `total` in small steps; returns `false` if cut short by shutdown.
fn sleep_interruptible(total: Duration, shared: &Shared) -> bool {
    let deadline = Instant::now() + total.min(MAX_SLEEP);
    loop {
        if shared.shutdown.load(Ordering::SeqCst) {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        std::thread::sleep((deadline - now).min(STEP));
    }
}

fn handle(mut request: tiny_http::Request, shared: &Shared) {
    let received_at = Instant::now();
    let since_start = received_at.saturating_duration_since(shared.started);
    let seq = shared.seq.fetch_add(1, Ordering::SeqCst);
    let method = request.method().clone();
    let path = request
        .url()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let endpoint = route(&method, &path);

    let plan = match endpoint {
        None => Plan {
            outcome: Outcome::NotFound,
            delay: Duration::ZERO,
            salt: 0,
        },
        Some(_) => {
            let profile = lock(&shared.profile);
            decide(
                &profile,
                shared.seed,
                seq,
                since_start,
                shared.forced_outage.load(Ordering::SeqCst),
                shared.extra_latency(),
            )
        }
    };

    {
        let mut log = lock(&shared.log);
        if log.len() < MAX_LOGGED_REQUESTS {
            log.push(ReceivedRequest {
                seq,
                method: method.as_str().to_string(),
                path: path.clone(),
                received_at,
                since_start,
                outcome: plan.outcome,
                delay: plan.delay,
            });
        }
    }

    let mut body = String::new();
    if method == tiny_http::Method::Post {
        let _ = request.as_reader().take(MAX_BODY).read_to_string(&mut body);
    }

    let name = shared.name.as_str();
    let (status, payload) = match (plan.outcome, endpoint) {
        (Outcome::NotFound, _) | (_, None) => (
            404,
            json!({"error": "not found", "bookmaker": name, "path": path}),
        ),
        (Outcome::Outage, _) => (500, json!({"error": "outage", "bookmaker": name})),
        (Outcome::Hang, _) => {
            if sleep_interruptible(plan.delay, shared) {
                (504, json!({"error": "upstream hung", "bookmaker": name}))
            } else {
                (503, json!({"error": "shutting down", "bookmaker": name}))
            }
        }
        (Outcome::Error(code), _) => {
            if sleep_interruptible(plan.delay, shared) {
                (
                    code,
                    json!({"error": "simulated failure", "bookmaker": name}),
                )
            } else {
                (503, json!({"error": "shutting down", "bookmaker": name}))
            }
        }
        (Outcome::Ok, Some(endpoint)) => {
            if sleep_interruptible(plan.delay, shared) {
                (200, success_body(name, &endpoint, seq, plan.salt, &body))
            } else {
                (503, json!({"error": "shutting down", "bookmaker": name}))
            }
        }
    };

    let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..])
        .expect("static header is valid");
    let response = tiny_http::Response::from_string(payload.to_string())
        .with_status_code(status)
        .with_header(header);
    // The client may have given up already; that is not our problem.
    let _ = request.respond(response);
}

fn success_body(
    name: &str,
    endpoint: &Endpoint,
    seq: u64,
    salt: u64,
    body: &str,
) -> serde_json::Value {
    // Odds between 1.50 and 3.49, derived from the request's salt.
    let odds = |k: u64| 1.5 + ((salt.rotate_left((k * 13) as u32) % 200) as f64) / 100.0;
    match endpoint {
        Endpoint::Markets => json!({
            "bookmaker": name,
            "markets": [
                {"id": "m-1", "name": "Match winner", "odds": odds(1)},
                {"id": "m-2", "name": "Total goals over 2.5", "odds": odds(2)},
                {"id": "m-3", "name": "Both teams to score", "odds": odds(3)},
            ],
        }),
        Endpoint::Depth(id) => json!({
            "bookmaker": name,
            "market": id,
            "bids": [[odds(4), 100 + salt % 900], [odds(5), 50 + salt % 450]],
            "asks": [[odds(6), 100 + (salt >> 8) % 900]],
        }),
        Endpoint::MicroBet => {
            let request: serde_json::Value =
                serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
            json!({
                "bookmaker": name,
                "accepted": true,
                "bet_id": format!("{name}-{seq}"),
                "market": request.get("market").cloned().unwrap_or(serde_json::Value::Null),
                "stake": request.get("stake").cloned().unwrap_or(json!(0.01)),
                "odds": odds(7),
            })
        }
        Endpoint::DarkPool(id) => json!({
            "bookmaker": name,
            "market": id,
            "hidden_liquidity": salt % 10_000,
            "odds": odds(8),
        }),
    }
}

fn clamp_secs(secs: f64) -> Duration {
    if secs.is_finite() && secs > 0.0 {
        Duration::from_secs_f64(secs.min(MAX_SLEEP.as_secs_f64()))
    } else {
        Duration::ZERO
    }
}

/// SplitMix64: tiny, seedable, good enough for simulation.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    fn for_request(seed: u64, seq: u64) -> Self {
        let mut rng = SplitMix64(seed ^ seq.wrapping_mul(0xD1B5_4A32_D192_ED03));
        // Decorrelate neighbouring seeds/sequence numbers.
        let s = rng.next_u64();
        SplitMix64(s)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal via Box-Muller.
    fn standard_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decide_is_deterministic_per_seed_and_seq() {
        let profile = Profile::healthy()
            .with_latency(LatencyDist::LogNormal {
                median: Duration::from_millis(20),
                sigma: 0.5,
            })
            .with_error_rate(0.3)
            .with_timeout_rate(0.1);
        let run = |seed| {
            (0..200)
                .map(|seq| decide(&profile, seed, seq, Duration::ZERO, false, Duration::ZERO))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn rates_are_roughly_respected() {
        let profile = Profile::healthy()
            .with_error_rate(0.3)
            .with_timeout_rate(0.1);
        let n = 20_000u64;
        let (mut errors, mut hangs) = (0u64, 0u64);
        for seq in 0..n {
            match decide(&profile, 42, seq, Duration::ZERO, false, Duration::ZERO).outcome {
                Outcome::Error(code) => {
                    assert!(code == 500 || code == 503);
                    errors += 1;
                }
                Outcome::Hang => hangs += 1,
                Outcome::Ok => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        let hang_rate = hangs as f64 / n as f64;
        // Errors are rolled only for requests that did not hang.
        let error_rate = errors as f64 / (n - hangs) as f64;
        assert!((hang_rate - 0.1).abs() < 0.02, "hang rate {hang_rate}");
        assert!((error_rate - 0.3).abs() < 0.02, "error rate {error_rate}");
    }

    #[test]
    fn windows_and_overrides_shape_the_plan() {
        let profile = Profile::healthy()
            .with_latency(LatencyDist::fixed_ms(5))
            .with_outage(Window::from_ms(100, 200))
            .with_slowdown(Window::from_ms(300, 400), Duration::from_millis(700));
        let at = |ms, forced, extra_ms| {
            decide(
                &profile,
                1,
                0,
                Duration::from_millis(ms),
                forced,
                Duration::from_millis(extra_ms),
            )
        };
        assert_eq!(at(50, false, 0).outcome, Outcome::Ok);
        assert_eq!(at(50, false, 0).delay, Duration::from_millis(5));
        assert_eq!(at(150, false, 0).outcome, Outcome::Outage);
        assert_eq!(at(200, false, 0).outcome, Outcome::Ok);
        assert_eq!(at(350, false, 0).delay, Duration::from_millis(700));
        assert_eq!(at(50, true, 0).outcome, Outcome::Outage);
        assert_eq!(at(50, false, 20).delay, Duration::from_millis(25));
    }

    #[test]
    fn latency_samples_are_bounded() {
        let mut rng = SplitMix64::for_request(3, 0);
        let dists = [
            LatencyDist::jitter_ms(10, 5),
            LatencyDist::Normal {
                mean: Duration::from_millis(5),
                std_dev: Duration::from_millis(50),
            },
            LatencyDist::LogNormal {
                median: Duration::from_secs(5),
                sigma: 3.0,
            },
        ];
        for dist in &dists {
            for _ in 0..1000 {
                let d = dist.sample(&mut rng);
                assert!(d <= MAX_SLEEP);
            }
        }
        for _ in 0..1000 {
            let d = dists[0].sample(&mut rng);
            assert!(d >= Duration::from_millis(10) && d < Duration::from_millis(15));
        }
    }

    #[test]
    fn routes() {
        use tiny_http::Method;
        assert_eq!(route(&Method::Get, "/markets"), Some(Endpoint::Markets));
        assert_eq!(
            route(&Method::Get, "/markets/abc/depth"),
            Some(Endpoint::Depth("abc".into()))
        );
        assert_eq!(
            route(&Method::Post, "/bets/micro"),
            Some(Endpoint::MicroBet)
        );
        assert_eq!(
            route(&Method::Get, "/darkpool/x1"),
            Some(Endpoint::DarkPool("x1".into()))
        );
        assert_eq!(route(&Method::Post, "/markets"), None);
        assert_eq!(route(&Method::Get, "/bets/micro"), None);
        assert_eq!(route(&Method::Get, "/markets//depth"), None);
        assert_eq!(route(&Method::Get, "/"), None);
        assert_eq!(route(&Method::Get, "/darkpool/x/y"), None);
    }
}
