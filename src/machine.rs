//! The breaker's state machine as plain functions of (row, event, time): no I/O, no clock.
//!
//! ```text
//!                 weighted failures >= threshold
//!   +--------+  -------------------------------->  +------+
//!   | closed |                                     | open |<-----------------+
//!   +--------+  <--------------------+             +------+                  |
//!     ^   |       probe succeeds     |    reset timeout |                    | probe fails
//!     |   |                          |    elapsed       v                    | (restarts the
//!     |   | operator trip       +-----------+   one process claims   +-----------+ timeout)
//!     |   |                     | half_open | ---------------------> | probe in  |--+
//!     |   v                     +-----------+    the probe lease     |  flight   |
//!   +-------------+                                                  +-----------+
//!   | forced_open |   only an operator reset leaves forced_open (and any state)
//!   +-------------+
//! ```
//!
//! The seed's columns (`tripped`, `failure_count`, `last_failure_at`, ...) are the source of
//! truth: an old writer that rewrites a row with `INSERT OR REPLACE` erases the added columns,
//! and a tripped row whose trip kind is unknown is treated as tripped by an operator, the
//! original system's behaviour (no automatic re-test).

use crate::config::{BreakerConfig, millis};
use serde::Serialize;
use std::fmt;

/// Weighted failure counts are sums of 1.0 and 0.5; this absorbs float rounding at the threshold.
const COUNT_EPSILON: f64 = 1e-9;

/// What operators and dashboards call a breaker's condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Not tripped: calls go through.
    Closed,
    /// Tripped by the failure threshold and not half-open (inside the reset timeout, or
    /// half-open probes disabled): calls are rejected.
    Open,
    /// Tripped by the failure threshold, past the reset timeout with half-open probes
    /// enabled, or with a probe holding the lease: one call in the whole host is the probe,
    /// every other call is rejected.
    HalfOpen,
    /// Tripped by an operator, or by a writer that recorded no trip kind: calls are rejected
    /// and nothing but an operator reset closes it.
    ForcedOpen,
}

impl BreakerState {
    /// Every state, in the order closed, open, half-open, forced open.
    pub const ALL: [BreakerState; 4] = [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
        BreakerState::ForcedOpen,
    ];

    /// The state's name as audit rows, JSON and metrics spell it: `closed`, `open`,
    /// `half_open`, `forced_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
            BreakerState::ForcedOpen => "forced_open",
        }
    }

    /// True for every state but [`BreakerState::Closed`] (half-open included): the breaker is
    /// tripped.
    pub fn is_open(self) -> bool {
        self != BreakerState::Closed
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who tripped a breaker: the threshold (re-tested by a probe) or an operator (reset only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TripKind {
    /// The weighted failures reached the threshold (stored as `auto`).
    Auto,
    /// An operator tripped it (stored as `manual`).
    Manual,
}

impl TripKind {
    /// The text stored in the `trip_kind` column: `auto` or `manual`.
    pub fn as_str(self) -> &'static str {
        match self {
            TripKind::Auto => "auto",
            TripKind::Manual => "manual",
        }
    }

    /// The kind stored as `s` (exactly `auto` or `manual`); `None` for anything else.
    pub fn parse(s: &str) -> Option<TripKind> {
        match s {
            "auto" => Some(TripKind::Auto),
            "manual" => Some(TripKind::Manual),
            _ => None,
        }
    }
}

/// One row of `circuit_breaker_state`: the seed's columns, then the added ones.
#[derive(Debug, Clone, PartialEq)]
///
/// Every time is in epoch milliseconds.
pub struct BreakerRow {
    /// The breaker's name (the row's key).
    pub bookmaker: String,
    /// Weighted failures of the current window: 1.0 per failure, the timeout weight per
    /// timeout. A success or a reset sets it to 0; a failure more than the failure window
    /// after the previous one starts it again at its own weight.
    pub failure_count: f64,
    /// When the latest failure was recorded; `None` if none ever was. An operator trip does
    /// not set it (the original service did, at every trip).
    pub last_failure_at: Option<i64>,
    /// Whether the breaker is tripped (open, half-open or forced open): the source of truth.
    pub tripped: bool,
    /// How many times the breaker went from untripped to tripped, automatically or by an
    /// operator (a failed probe's re-opening is not a new trip).
    pub trip_count: i64,
    /// The message of the latest failure; `None` if none was ever recorded. A reset keeps it.
    pub last_error: Option<String>,
    /// Exponential moving average of successful calls' latency, in milliseconds; `None`
    /// before the first success was written.
    pub avg_latency: Option<f64>,
    /// When an operator last reset the breaker; `None` if never.
    pub last_reset_at: Option<i64>,
    /// Who made the last reset; `None` if never reset.
    pub last_reset_by: Option<String>,
    /// The last reset's reason; `None` if never reset or reset without a reason.
    pub last_reset_reason: Option<String>,
    /// When the row was last written.
    pub updated_at: i64,
    // Added by migration 1.
    /// When the current trip began (a failed probe restarts it); the reset timeout counts
    /// from it. `None` when not tripped, or when an old writer erased it (see
    /// [`BreakerRow::trip_started_at`]).
    pub tripped_at: Option<i64>,
    /// Who tripped the breaker; `None` when not tripped, or when an old writer erased it
    /// (then treated as [`TripKind::Manual`], see [`BreakerRow::effective_trip_kind`]).
    pub trip_kind: Option<TripKind>,
    /// When the half-open probe's lease ends; `None` when no probe has been claimed since the
    /// trip or the last probe result. An expired lease stays until the next claim or result.
    pub probe_lease_until: Option<i64>,
    /// The breaker instance holding (or last holding) the probe lease, as
    /// `host:pid:sequence`; set and cleared together with `probe_lease_until`.
    pub probe_owner: Option<String>,
    /// When the latest recorded success happened; `None` before any. Successes on a clean
    /// breaker reach the row with the batch flush, about a second late.
    pub last_success_at: Option<i64>,
}

impl BreakerRow {
    /// A closed row for `bookmaker` with no history, written at `now`.
    pub fn new(bookmaker: &str, now: i64) -> BreakerRow {
        BreakerRow {
            bookmaker: bookmaker.to_owned(),
            failure_count: 0.0,
            last_failure_at: None,
            tripped: false,
            trip_count: 0,
            last_error: None,
            avg_latency: None,
            last_reset_at: None,
            last_reset_by: None,
            last_reset_reason: None,
            updated_at: now,
            tripped_at: None,
            trip_kind: None,
            probe_lease_until: None,
            probe_owner: None,
            last_success_at: None,
        }
    }

    /// When the current trip began. Rows tripped by an old writer have no `tripped_at`; the
    /// original service set `last_failure_at` at every trip, so that stands in for it.
    pub fn trip_started_at(&self) -> Option<i64> {
        self.tripped_at.or(self.last_failure_at)
    }

    /// A trip whose kind was erased or never written counts as an operator's: never re-tested.
    pub fn effective_trip_kind(&self) -> TripKind {
        self.trip_kind.unwrap_or(TripKind::Manual)
    }

    /// Whether a probe holds an unexpired lease at `now`: the row is tripped and
    /// `probe_lease_until` is later than `now`.
    pub fn probe_in_flight(&self, now: i64) -> bool {
        self.tripped && self.probe_lease_until.is_some_and(|until| until > now)
    }
}

/// The configuration in the units the state machine works in (milliseconds).
#[derive(Debug, Clone, Copy, PartialEq)]
///
/// Each field comes from the [`BreakerConfig`] field of that name, durations converted to
/// milliseconds (saturating).
pub struct Rules {
    /// Weighted failures that trip the breaker.
    pub failure_threshold: f64,
    /// How long an automatic trip stays open before a probe, in milliseconds.
    pub reset_timeout_ms: i64,
    /// Minimum time from the last failure or trip to a non-forced reset, in milliseconds.
    pub cooldown_ms: i64,
    /// A failure more than this many milliseconds after the previous one starts the count
    /// afresh.
    pub failure_window_ms: i64,
    /// What a timeout adds to the failure count (a failure adds 1.0).
    pub timeout_weight: f64,
    /// Whether an automatic trip becomes half-open after the reset timeout; when false it
    /// stays open until an operator reset.
    pub half_open_enabled: bool,
    /// How long a claimed probe lease lasts, in milliseconds.
    pub probe_lease_ms: i64,
    /// Weight of the newest sample in the average latency (0 to 1).
    pub latency_smoothing: f64,
}

impl From<&BreakerConfig> for Rules {
    fn from(c: &BreakerConfig) -> Rules {
        Rules {
            failure_threshold: c.failure_threshold,
            reset_timeout_ms: millis(c.reset_timeout),
            cooldown_ms: millis(c.cooldown),
            failure_window_ms: millis(c.failure_window),
            timeout_weight: c.timeout_weight,
            half_open_enabled: c.half_open_enabled,
            probe_lease_ms: millis(c.probe_lease),
            latency_smoothing: c.latency_smoothing,
        }
    }
}

impl Default for Rules {
    fn default() -> Rules {
        Rules::from(&BreakerConfig::default())
    }
}

/// Whether an automatically tripped breaker has waited out its reset timeout.
fn probe_due(row: &BreakerRow, rules: &Rules, now: i64) -> bool {
    rules.half_open_enabled
        && row.tripped
        && row.effective_trip_kind() == TripKind::Auto
        && row
            .trip_started_at()
            .is_none_or(|at| now.saturating_sub(at) >= rules.reset_timeout_ms)
}

/// The state a row is in at `now`.
pub fn state_of(row: &BreakerRow, rules: &Rules, now: i64) -> BreakerState {
    if !row.tripped {
        BreakerState::Closed
    } else if row.effective_trip_kind() == TripKind::Manual {
        BreakerState::ForcedOpen
    } else if row.probe_in_flight(now) || probe_due(row, rules, now) {
        BreakerState::HalfOpen
    } else {
        BreakerState::Open
    }
}

/// What to do with a call that is about to be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The breaker is closed (or has never seen this bookmaker).
    Allow,
    /// The breaker is half-open and nobody holds the probe lease: try to claim it.
    ProbeCandidate,
    /// Reject without calling the upstream.
    Reject(BreakerState),
}

/// Whether a call at `now` may go ahead: [`Admission::Allow`] for a missing or untripped row,
/// [`Admission::ProbeCandidate`] when half-open with no probe in flight, else
/// [`Admission::Reject`] with the state.
pub fn admit(row: Option<&BreakerRow>, rules: &Rules, now: i64) -> Admission {
    let Some(row) = row else {
        return Admission::Allow;
    };
    if !row.tripped {
        return Admission::Allow;
    }
    let state = state_of(row, rules, now);
    if state == BreakerState::HalfOpen && !row.probe_in_flight(now) {
        Admission::ProbeCandidate
    } else {
        Admission::Reject(state)
    }
}

/// The kinds of audit rows. The seed's runbook knows `TRIP` and `RESET`; the rest are new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// `TRIP`: the breaker tripped, by the threshold (actor `system`) or by an operator.
    Trip,
    /// `RESET`: an operator reset the breaker (forced or not).
    Reset,
    /// `RESET_DENIED`: an operator's reset was refused by the cooldown.
    ResetDenied,
    /// `PROBE_START`: a process claimed the half-open probe lease.
    ProbeStart,
    /// `CLOSE`: the probe succeeded and closed the breaker.
    Close,
    /// `REOPEN`: the probe failed and opened the breaker again.
    Reopen,
}

impl AuditAction {
    /// Every action, in declaration order.
    pub const ALL: [AuditAction; 6] = [
        AuditAction::Trip,
        AuditAction::Reset,
        AuditAction::ResetDenied,
        AuditAction::ProbeStart,
        AuditAction::Close,
        AuditAction::Reopen,
    ];

    /// The text stored in the audit row's `action` column (`TRIP`, `RESET_DENIED`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Trip => "TRIP",
            AuditAction::Reset => "RESET",
            AuditAction::ResetDenied => "RESET_DENIED",
            AuditAction::ProbeStart => "PROBE_START",
            AuditAction::Close => "CLOSE",
            AuditAction::Reopen => "REOPEN",
        }
    }

    /// The action spelt `s`, ignoring ASCII case; `None` for an unknown action.
    pub fn parse(s: &str) -> Option<AuditAction> {
        AuditAction::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }
}

/// A change of state the breaker made by itself; it becomes an audit row with actor `system`.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The audit action: `TRIP`, `PROBE_START`, `CLOSE` or `REOPEN`.
    pub action: AuditAction,
    /// The state before the transition.
    pub before: BreakerState,
    /// The state after it.
    pub after: BreakerState,
    /// Why, in words, as the audit row's reason (`failure threshold reached (10 >= 10)`).
    pub reason: String,
}

/// Records a failure of `weight`. Returns the new row and the automatic trip, if this was it.
pub fn record_failure(
    row: Option<&BreakerRow>,
    bookmaker: &str,
    weight: f64,
    error: &str,
    rules: &Rules,
    now: i64,
) -> (BreakerRow, Option<Transition>) {
    let mut next = row
        .cloned()
        .unwrap_or_else(|| BreakerRow::new(bookmaker, now));
    let before = state_of(&next, rules, now);
    add_failure(&mut next, weight, error, rules, now);
    let mut transition = None;
    if !next.tripped && next.failure_count + COUNT_EPSILON >= rules.failure_threshold {
        next.tripped = true;
        next.trip_kind = Some(TripKind::Auto);
        next.tripped_at = Some(now);
        next.trip_count += 1;
        next.probe_lease_until = None;
        next.probe_owner = None;
        transition = Some(Transition {
            action: AuditAction::Trip,
            before,
            after: state_of(&next, rules, now),
            reason: format!(
                "failure threshold reached ({} >= {})",
                fmt_count(next.failure_count),
                fmt_count(rules.failure_threshold)
            ),
        });
    }
    (next, transition)
}

fn add_failure(row: &mut BreakerRow, weight: f64, error: &str, rules: &Rules, now: i64) {
    let fresh_window = row
        .last_failure_at
        .is_none_or(|last| now.saturating_sub(last) > rules.failure_window_ms);
    row.failure_count = if fresh_window {
        weight
    } else {
        row.failure_count + weight
    };
    row.last_failure_at = Some(now);
    row.last_error = Some(error.to_owned());
    row.updated_at = now;
}

/// Records a success: the failure count starts again from zero. A success never closes a
/// tripped breaker by itself (a call that started before the trip may succeed late); only a
/// probe's success does.
pub fn record_success(
    row: Option<&BreakerRow>,
    bookmaker: &str,
    latency_ms: f64,
    rules: &Rules,
    now: i64,
) -> BreakerRow {
    let mut next = row
        .cloned()
        .unwrap_or_else(|| BreakerRow::new(bookmaker, now));
    next.failure_count = 0.0;
    let mut batch = LatencyBatch::default();
    batch.add(latency_ms, rules.latency_smoothing);
    next.avg_latency = Some(batch.apply(next.avg_latency));
    next.last_success_at = Some(now);
    next.updated_at = now;
    next
}

/// Claims the half-open probe for `owner`, or `None` when the row is not a probe candidate.
pub fn claim_probe(
    row: &BreakerRow,
    owner: &str,
    rules: &Rules,
    now: i64,
) -> Option<(BreakerRow, Transition)> {
    if admit(Some(row), rules, now) != Admission::ProbeCandidate {
        return None;
    }
    let mut next = row.clone();
    next.probe_lease_until = Some(now.saturating_add(rules.probe_lease_ms));
    next.probe_owner = Some(owner.to_owned());
    next.updated_at = now;
    let transition = Transition {
        action: AuditAction::ProbeStart,
        before: state_of(row, rules, now),
        after: BreakerState::HalfOpen,
        reason: "reset timeout elapsed; one probe call let through".to_owned(),
    };
    Some((next, transition))
}

/// A probe that ended without a verdict (its call was cancelled or panicked) gives its lease
/// back, provided it still holds it (`owner` and the lease it was given): the breaker stays
/// half-open and the next call probes.
pub fn release_probe(
    row: &BreakerRow,
    owner: &str,
    lease_until: Option<i64>,
    now: i64,
) -> Option<BreakerRow> {
    if !holds_probe(row, owner) || row.probe_lease_until != lease_until {
        return None;
    }
    let mut next = row.clone();
    next.probe_lease_until = None;
    next.probe_owner = None;
    next.updated_at = now;
    Some(next)
}

/// Whether `owner` still holds the probe of this row (its lease may have expired and been
/// claimed by someone else in the meantime).
pub fn holds_probe(row: &BreakerRow, owner: &str) -> bool {
    row.tripped && row.probe_owner.as_deref() == Some(owner)
}

/// The probe's call succeeded: close the breaker.
pub fn probe_succeeded(
    row: &BreakerRow,
    latency_ms: f64,
    rules: &Rules,
    now: i64,
) -> (BreakerRow, Transition) {
    let before = state_of(row, rules, now);
    let mut next = record_success(Some(row), &row.bookmaker, latency_ms, rules, now);
    next.tripped = false;
    next.trip_kind = None;
    next.tripped_at = None;
    next.probe_lease_until = None;
    next.probe_owner = None;
    let transition = Transition {
        action: AuditAction::Close,
        before,
        after: BreakerState::Closed,
        reason: "half-open probe succeeded".to_owned(),
    };
    (next, transition)
}

/// The probe's call failed: open again and restart the reset timeout.
pub fn probe_failed(
    row: &BreakerRow,
    weight: f64,
    error: &str,
    rules: &Rules,
    now: i64,
) -> (BreakerRow, Transition) {
    let before = state_of(row, rules, now);
    let mut next = row.clone();
    add_failure(&mut next, weight, error, rules, now);
    next.tripped_at = Some(now);
    next.probe_lease_until = None;
    next.probe_owner = None;
    let transition = Transition {
        action: AuditAction::Reopen,
        before,
        after: state_of(&next, rules, now),
        reason: "half-open probe failed; reset timeout restarted".to_owned(),
    };
    (next, transition)
}

/// An operator trips the breaker. `last_failure_at` stays the last real failure (a reader must
/// not conclude the upstream is failing now); the cooldown counts from the trip time, which is
/// stored (`cooldown_since` takes the later of the two).
pub fn manual_trip(row: Option<&BreakerRow>, bookmaker: &str, now: i64) -> BreakerRow {
    let mut next = row
        .cloned()
        .unwrap_or_else(|| BreakerRow::new(bookmaker, now));
    if !next.tripped {
        next.trip_count += 1;
    }
    next.tripped = true;
    next.trip_kind = Some(TripKind::Manual);
    next.tripped_at = Some(now);
    next.probe_lease_until = None;
    next.probe_owner = None;
    next.updated_at = now;
    next
}

/// What the reset cooldown counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CooldownFrom {
    /// The trip (automatic or manual) is the later event.
    Trip,
    /// The last failure is the later event (or the breaker never tripped).
    LastFailure,
}

/// Which event the cooldown counts from: the trip when the breaker is tripped and its trip is
/// at least as late as the last failure, else the last failure.
pub fn cooldown_from(row: &BreakerRow) -> CooldownFrom {
    match (row.tripped, row.trip_started_at(), row.last_failure_at) {
        (true, Some(trip), Some(failure)) if trip >= failure => CooldownFrom::Trip,
        (true, Some(_), None) => CooldownFrom::Trip,
        _ => CooldownFrom::LastFailure,
    }
}

/// Whether a reset may go ahead now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetDecision {
    /// The reset may go ahead: forced, past the cooldown, or nothing to count it from.
    Allowed,
    /// Inside the cooldown: `elapsed_ms` since the later of the last failure and the trip.
    Denied {
        /// Milliseconds since [`cooldown_since`] (0 when that time is in the future).
        elapsed_ms: i64,
        /// Milliseconds until the cooldown ends (at least 1).
        remaining_ms: i64,
    },
}

/// What the cooldown counts from: the later of the last failure and the trip.
pub fn cooldown_since(row: &BreakerRow) -> Option<i64> {
    match (row.last_failure_at, row.tripped_at) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Whether a reset at `now` may go ahead: when `force`, when the row has no failure or trip
/// time, or when at least the cooldown has passed since [`cooldown_since`]. (That a forced
/// reset needs a reason is checked by the breaker, not here.)
pub fn reset_decision(row: &BreakerRow, rules: &Rules, now: i64, force: bool) -> ResetDecision {
    let Some(since) = cooldown_since(row) else {
        return ResetDecision::Allowed;
    };
    // A timestamp in the future (clock skew) counts as "just now", never as long ago.
    let elapsed_ms = now.saturating_sub(since).max(0);
    if force || elapsed_ms >= rules.cooldown_ms {
        ResetDecision::Allowed
    } else {
        ResetDecision::Denied {
            elapsed_ms,
            remaining_ms: rules.cooldown_ms - elapsed_ms,
        }
    }
}

/// Applies an allowed reset.
pub fn apply_reset(row: &BreakerRow, user: &str, reason: Option<&str>, now: i64) -> BreakerRow {
    let mut next = row.clone();
    next.failure_count = 0.0;
    next.tripped = false;
    next.trip_kind = None;
    next.tripped_at = None;
    next.probe_lease_until = None;
    next.probe_owner = None;
    next.last_reset_at = Some(now);
    next.last_reset_by = Some(user.to_owned());
    next.last_reset_reason = reason.map(str::to_owned);
    next.updated_at = now;
    next
}

/// Successful-call latencies gathered in memory, applied to the stored average in one write.
///
/// The average is an exponential moving average with smoothing `a`: each sample `l` turns `avg`
/// into `avg * (1 - a) + l * a`, and the first sample ever sets it exactly. Applying n samples at
/// once is `avg * decay + contribution`, or `if_empty` when there was no average yet.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LatencyBatch {
    /// How many latencies were added.
    pub samples: u64,
    /// What the stored average is multiplied by: `(1 - a)` to the power `samples`.
    pub decay: f64,
    /// What the samples add to the decayed average.
    pub contribution: f64,
    /// The new average when there was none yet (the first sample exactly, the rest smoothed).
    pub if_empty: f64,
}

impl LatencyBatch {
    /// Adds one successful call's latency in milliseconds, with `smoothing` the weight of the
    /// newest sample (0 to 1).
    pub fn add(&mut self, latency_ms: f64, smoothing: f64) {
        let keep = 1.0 - smoothing;
        if self.samples == 0 {
            self.if_empty = latency_ms;
            self.decay = keep;
            self.contribution = smoothing * latency_ms;
        } else {
            self.if_empty = self.if_empty * keep + smoothing * latency_ms;
            self.decay *= keep;
            self.contribution = self.contribution * keep + smoothing * latency_ms;
        }
        self.samples += 1;
    }

    /// This batch followed by `next`, as one batch (`next`'s samples came later).
    pub fn then(&self, next: &LatencyBatch) -> LatencyBatch {
        if self.samples == 0 {
            return *next;
        }
        if next.samples == 0 {
            return *self;
        }
        LatencyBatch {
            samples: self.samples + next.samples,
            decay: self.decay * next.decay,
            contribution: self.contribution * next.decay + next.contribution,
            if_empty: self.if_empty * next.decay + next.contribution,
        }
    }

    /// The average after this batch: `current * decay + contribution`, or `if_empty` when
    /// `current` is `None`. Meaningful only for a batch with samples: an empty one gives 0.0.
    pub fn apply(&self, current: Option<f64>) -> f64 {
        match current {
            None => self.if_empty,
            Some(avg) => avg * self.decay + self.contribution,
        }
    }
}

/// A failure count as people write it: `10`, `9.5`.
pub fn fmt_count(count: f64) -> String {
    if count.fract() == 0.0 && count.abs() < 1e15 {
        format!("{}", count as i64)
    } else {
        format!("{count:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules::default()
    }

    fn fail_n(n: usize, weight: f64) -> (BreakerRow, Vec<Transition>) {
        let mut row = None;
        let mut transitions = Vec::new();
        for i in 0..n {
            let (next, t) = record_failure(row.as_ref(), "bk", weight, "boom", &rules(), i as i64);
            transitions.extend(t);
            row = Some(next);
        }
        (row.expect("at least one failure"), transitions)
    }

    #[test]
    fn ten_hard_failures_trip() {
        let (row, t) = fail_n(9, 1.0);
        assert!(!row.tripped);
        assert!(t.is_empty());
        let (row, t) = fail_n(10, 1.0);
        assert!(row.tripped);
        assert_eq!(row.trip_count, 1);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].action, AuditAction::Trip);
        assert_eq!(state_of(&row, &rules(), 10), BreakerState::Open);
    }

    #[test]
    fn nineteen_timeouts_do_not_trip_twenty_do() {
        assert!(!fail_n(19, 0.5).0.tripped);
        let (row, _) = fail_n(20, 0.5);
        assert!(row.tripped);
        assert_eq!(row.failure_count, 10.0);
    }

    #[test]
    fn a_failure_after_the_window_starts_afresh() {
        let r = rules();
        let (row, _) = record_failure(None, "bk", 1.0, "e", &r, 0);
        let (row, _) = record_failure(Some(&row), "bk", 1.0, "e", &r, r.failure_window_ms);
        assert_eq!(row.failure_count, 2.0);
        let (row, _) = record_failure(Some(&row), "bk", 1.0, "e", &r, 2 * r.failure_window_ms + 1);
        assert_eq!(row.failure_count, 1.0);
    }

    #[test]
    fn half_open_after_reset_timeout_and_single_claim() {
        let r = rules();
        let (row, _) = fail_n(10, 1.0);
        let trip_at = row.tripped_at.expect("tripped");
        assert_eq!(
            admit(Some(&row), &r, trip_at + r.reset_timeout_ms - 1),
            Admission::Reject(BreakerState::Open)
        );
        let now = trip_at + r.reset_timeout_ms;
        assert_eq!(admit(Some(&row), &r, now), Admission::ProbeCandidate);
        let (claimed, t) = claim_probe(&row, "a", &r, now).expect("claim");
        assert_eq!(t.action, AuditAction::ProbeStart);
        assert!(claim_probe(&claimed, "b", &r, now + 1).is_none());
        assert_eq!(
            admit(Some(&claimed), &r, now + 1),
            Admission::Reject(BreakerState::HalfOpen)
        );
        // The lease expires: a crashed prober does not wedge the breaker.
        assert!(claim_probe(&claimed, "b", &r, now + r.probe_lease_ms).is_some());
    }

    #[test]
    fn probe_outcomes() {
        let r = rules();
        let (row, _) = fail_n(10, 1.0);
        let now = row.tripped_at.unwrap_or(0) + r.reset_timeout_ms;
        let (claimed, _) = claim_probe(&row, "a", &r, now).expect("claim");
        let (closed, t) = probe_succeeded(&claimed, 12.0, &r, now + 5);
        assert!(!closed.tripped);
        assert_eq!(closed.failure_count, 0.0);
        assert_eq!(t.after, BreakerState::Closed);
        let (reopened, t) = probe_failed(&claimed, 1.0, "still down", &r, now + 5);
        assert!(reopened.tripped);
        assert_eq!(reopened.tripped_at, Some(now + 5));
        assert_eq!(reopened.trip_count, row.trip_count);
        assert_eq!(t.after, BreakerState::Open);
    }

    #[test]
    fn manual_trip_is_never_probed() {
        let r = rules();
        let row = manual_trip(None, "bk", 0);
        assert_eq!(state_of(&row, &r, 0), BreakerState::ForcedOpen);
        assert_eq!(
            admit(Some(&row), &r, 10 * r.reset_timeout_ms),
            Admission::Reject(BreakerState::ForcedOpen)
        );
    }

    #[test]
    fn manual_trip_keeps_the_last_real_failure_and_counts_the_cooldown_from_the_trip() {
        let r = rules();
        let mut row = BreakerRow::new("bk", 0);
        row.last_failure_at = Some(500);
        let tripped = manual_trip(Some(&row), "bk", 10_000);
        assert_eq!(
            tripped.last_failure_at,
            Some(500),
            "the real last failure stays"
        );
        assert_eq!(cooldown_since(&tripped), Some(10_000));
        assert_eq!(cooldown_from(&tripped), CooldownFrom::Trip);
        assert_eq!(
            reset_decision(&tripped, &r, 10_000 + r.cooldown_ms - 1, false),
            ResetDecision::Denied {
                elapsed_ms: r.cooldown_ms - 1,
                remaining_ms: 1
            }
        );
        // Never tripped, recent failures: the cooldown counts from the last failure.
        assert_eq!(cooldown_from(&row), CooldownFrom::LastFailure);
        // A row of the original service: tripped, no tripped_at, trip time in last_failure_at.
        let mut legacy = BreakerRow::new("bk", 0);
        legacy.tripped = true;
        legacy.last_failure_at = Some(700);
        assert_eq!(cooldown_from(&legacy), CooldownFrom::Trip);
        assert_eq!(cooldown_since(&legacy), Some(700));
    }

    #[test]
    fn latency_batches_chain_as_their_samples_would() {
        let samples = [12.0, 30.0, 7.0, 55.0, 9.0];
        let mut whole = LatencyBatch::default();
        samples.iter().for_each(|l| whole.add(*l, 0.1));
        let (mut a, mut b) = (LatencyBatch::default(), LatencyBatch::default());
        samples[..2].iter().for_each(|l| a.add(*l, 0.1));
        samples[2..].iter().for_each(|l| b.add(*l, 0.1));
        let chained = a.then(&b);
        for current in [None, Some(100.0)] {
            assert!((chained.apply(current) - whole.apply(current)).abs() < 1e-9);
        }
        assert_eq!(chained.samples, 5);
        assert_eq!(LatencyBatch::default().then(&b), b);
        assert_eq!(a.then(&LatencyBatch::default()), a);
    }

    #[test]
    fn legacy_trip_without_kind_is_forced_open() {
        let mut row = BreakerRow::new("bk", 0);
        row.tripped = true;
        row.last_failure_at = Some(0);
        assert_eq!(
            state_of(&row, &rules(), 1_000_000),
            BreakerState::ForcedOpen
        );
    }

    #[test]
    fn cooldown() {
        let r = rules();
        let row = manual_trip(None, "bk", 1000);
        assert_eq!(
            reset_decision(&row, &r, 13_000, false),
            ResetDecision::Denied {
                elapsed_ms: 12_000,
                remaining_ms: 48_000
            }
        );
        assert_eq!(
            reset_decision(&row, &r, 13_000, true),
            ResetDecision::Allowed
        );
        assert_eq!(
            reset_decision(&row, &r, 1000 + r.cooldown_ms, false),
            ResetDecision::Allowed
        );
        let reset = apply_reset(&row, "alice", Some("fixed"), 70_000);
        assert!(!reset.tripped);
        assert_eq!(reset.last_reset_by.as_deref(), Some("alice"));
    }

    #[test]
    fn latency_batch_matches_one_by_one() {
        let samples = [150.0, 90.0, 300.0, 12.5];
        let a = 0.1;
        for start in [None, Some(100.0)] {
            let mut one_by_one = start;
            let mut batch = LatencyBatch::default();
            for s in samples {
                let mut single = LatencyBatch::default();
                single.add(s, a);
                one_by_one = Some(single.apply(one_by_one));
                batch.add(s, a);
            }
            let got = batch.apply(start);
            let want = one_by_one.unwrap_or_default();
            assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        }
        let mut first = LatencyBatch::default();
        first.add(150.0, a);
        assert_eq!(first.apply(None), 150.0);
    }
}
