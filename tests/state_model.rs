//! Property test: random sequences of calls, clock steps, trips and resets are applied both to
//! the real `ProductionCircuitBreaker` (temp SQLite file, manual clock) and to a small reference
//! model of the breaker written here from the rules, independently of src/machine.rs.
//! After every step the two must agree on each bookmaker's state, tripped flag, failure count
//! and trip count, and on the outcome of every call and reset.

use crate::support::breaker::*;
use crate::support::fixture::TempDb;
use breakerctl::clock::ManualClock;
use breakerctl::metrics::RecordingMetrics;
use breakerctl::{
    BreakerConfig, BreakerError, BreakerState, CallContext, CallError, ProductionCircuitBreaker,
    ResetOptions,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const THRESHOLD: f64 = 3.0;
const WINDOW_MS: i64 = 1_000;
const RESET_TIMEOUT_MS: i64 = 2_000;
const COOLDOWN_MS: i64 = 1_500;
const TIMEOUT_WEIGHT: f64 = 0.5;
/// Bookmakers the events go to; resets may also name `ghost`, which nothing else touches.
const NAMES: [&str; 3] = ["alpha", "beta", "ghost"];

fn config() -> BreakerConfig {
    BreakerConfig {
        failure_threshold: THRESHOLD,
        failure_window: Duration::from_millis(WINDOW_MS as u64),
        reset_timeout: Duration::from_millis(RESET_TIMEOUT_MS as u64),
        cooldown: Duration::from_millis(COOLDOWN_MS as u64),
        timeout_weight: TIMEOUT_WEIGHT,
        half_open_enabled: true,
        ..seed_config()
    }
}

#[derive(Debug, Clone)]
enum Op {
    Success(usize),
    HardFailure(usize),
    Timeout(usize),
    Advance(i64),
    Trip(usize),
    Reset { bk: usize, force: bool },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let bk = 0..2usize;
    let step = prop_oneof![
        Just(1i64),
        Just(WINDOW_MS - 1),
        Just(WINDOW_MS),
        Just(WINDOW_MS + 1),
        Just(COOLDOWN_MS - 1),
        Just(COOLDOWN_MS),
        Just(RESET_TIMEOUT_MS - 1),
        Just(RESET_TIMEOUT_MS),
        Just(RESET_TIMEOUT_MS + 1),
        0..6_000i64,
    ];
    prop_oneof![
        3 => bk.clone().prop_map(Op::Success),
        4 => bk.clone().prop_map(Op::HardFailure),
        3 => bk.clone().prop_map(Op::Timeout),
        4 => step.prop_map(Op::Advance),
        1 => bk.clone().prop_map(Op::Trip),
        2 => (0..3usize, any::<bool>()).prop_map(|(bk, force)| Op::Reset { bk, force }),
    ]
}

// ---------------------------------------------------------------------------------------------
// The reference model.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Opener {
    /// The failure threshold: re-tested by one probe after the reset timeout.
    Threshold,
    /// An operator: open until a reset.
    Operator,
}

#[derive(Debug, Clone, Default)]
struct Entry {
    failures: f64,
    last_failure_at: Option<i64>,
    /// Who opened the breaker and when its current open period began.
    open: Option<(Opener, i64)>,
    trip_count: i64,
}

#[derive(Debug, PartialEq)]
enum CallOutcome {
    Ran,
    Rejected(&'static str),
}

#[derive(Debug, PartialEq)]
enum ResetOutcome {
    Ok,
    Cooldown { remaining_ms: i64 },
    Unknown,
}

#[derive(Debug, Default)]
struct Model {
    now: i64,
    entries: BTreeMap<&'static str, Entry>,
}

impl Model {
    fn state(&self, e: &Entry) -> &'static str {
        match e.open {
            None => "closed",
            Some((Opener::Operator, _)) => "forced_open",
            Some((Opener::Threshold, since)) if self.now - since >= RESET_TIMEOUT_MS => "half_open",
            Some((Opener::Threshold, _)) => "open",
        }
    }

    fn count_failure(e: &mut Entry, weight: f64, now: i64) {
        let starts_afresh = match e.last_failure_at {
            None => true,
            Some(previous) => now - previous > WINDOW_MS,
        };
        e.failures = if starts_afresh {
            weight
        } else {
            e.failures + weight
        };
        e.last_failure_at = Some(now);
    }

    /// A call whose upstream succeeds (`weight` None) or fails with `weight`.
    fn call(&mut self, name: &'static str, weight: Option<f64>) -> CallOutcome {
        let now = self.now;
        let state = self.entries.get(name).map_or("closed", |e| self.state(e));
        let e = self.entries.entry(name).or_default();
        match state {
            "open" | "forced_open" => CallOutcome::Rejected(state),
            "half_open" => {
                // The single probe: its result decides.
                match weight {
                    None => {
                        e.failures = 0.0;
                        e.open = None;
                    }
                    Some(w) => {
                        Self::count_failure(e, w, now);
                        e.open = Some((Opener::Threshold, now));
                    }
                }
                CallOutcome::Ran
            }
            _ => {
                match weight {
                    None => e.failures = 0.0,
                    Some(w) => {
                        Self::count_failure(e, w, now);
                        if e.failures >= THRESHOLD - 1e-9 {
                            e.open = Some((Opener::Threshold, now));
                            e.trip_count += 1;
                        }
                    }
                }
                CallOutcome::Ran
            }
        }
    }

    fn trip(&mut self, name: &'static str) {
        let now = self.now;
        let e = self.entries.entry(name).or_default();
        if e.open.is_none() {
            e.trip_count += 1;
        }
        // The last failure stays the last real one; the cooldown counts from the trip.
        e.open = Some((Opener::Operator, now));
    }

    fn reset(&mut self, name: &'static str, force: bool) -> ResetOutcome {
        let now = self.now;
        let Some(e) = self.entries.get_mut(name) else {
            return ResetOutcome::Unknown;
        };
        // The cooldown runs from the later of the last failure and the start of the trip.
        let since = [e.last_failure_at, e.open.map(|(_, at)| at)]
            .into_iter()
            .flatten()
            .max();
        if !force
            && let Some(since) = since
            && now - since < COOLDOWN_MS
        {
            return ResetOutcome::Cooldown {
                remaining_ms: COOLDOWN_MS - (now - since),
            };
        }
        e.failures = 0.0;
        e.open = None;
        ResetOutcome::Ok
    }
}

// ---------------------------------------------------------------------------------------------
// Driving the real breaker.

fn real_call(
    cb: &ProductionCircuitBreaker,
    name: &str,
    weight: Option<f64>,
) -> Result<CallOutcome, TestCaseError> {
    let mut ran = false;
    let result = cb.call_api(name, &CallContext::new("prop", 1.0), || {
        ran = true;
        match weight {
            None => Ok(()),
            Some(w) if w == TIMEOUT_WEIGHT => Err("upstream timeout".to_owned()),
            Some(_) => Err("500 Internal Server Error".to_owned()),
        }
    });
    match result {
        Ok(()) if weight.is_none() && ran => Ok(CallOutcome::Ran),
        Err(CallError::Upstream(_)) if weight.is_some() && ran => Ok(CallOutcome::Ran),
        Err(CallError::Tripped { state, .. }) if !ran => Ok(CallOutcome::Rejected(state.as_str())),
        other => Err(TestCaseError::fail(format!(
            "unexpected call result {other:?} (ran: {ran})"
        ))),
    }
}

fn real_reset(
    cb: &ProductionCircuitBreaker,
    name: &str,
    force: bool,
) -> Result<ResetOutcome, TestCaseError> {
    let options = ResetOptions {
        reason: Some("property test"),
        user: "prop",
        force,
    };
    match cb.reset(name, options) {
        Ok(status) => {
            prop_assert_eq!(status.state, BreakerState::Closed);
            Ok(ResetOutcome::Ok)
        }
        Err(BreakerError::CooldownActive { remaining, .. }) => Ok(ResetOutcome::Cooldown {
            remaining_ms: i64::try_from(remaining.as_millis()).unwrap_or(i64::MAX),
        }),
        Err(BreakerError::UnknownBookmaker { .. }) => Ok(ResetOutcome::Unknown),
        Err(other) => Err(TestCaseError::fail(format!(
            "unexpected reset error {other:?}"
        ))),
    }
}

fn compare(
    cb: &ProductionCircuitBreaker,
    model: &Model,
    step: usize,
    op: &Op,
) -> Result<(), TestCaseError> {
    for name in NAMES {
        let real = cb
            .get_status(name)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        match (model.entries.get(name), real) {
            (None, None) => {}
            (Some(e), Some(s)) => {
                let want_state = model.state(e);
                prop_assert_eq!(
                    s.state.as_str(),
                    want_state,
                    "step {} {:?}: state of {}",
                    step,
                    op,
                    name
                );
                prop_assert_eq!(
                    s.tripped,
                    e.open.is_some(),
                    "step {} {:?}: tripped of {}",
                    step,
                    op,
                    name
                );
                prop_assert!(
                    (s.failures - e.failures).abs() < 1e-9,
                    "step {} {:?}: failures of {}: real {} model {}",
                    step,
                    op,
                    name,
                    s.failures,
                    e.failures
                );
                prop_assert_eq!(
                    s.trip_count,
                    e.trip_count,
                    "step {} {:?}: trip count of {}",
                    step,
                    op,
                    name
                );
                prop_assert!(!s.probe_in_flight, "no probe outlives its call");
            }
            (model_entry, real) => {
                return Err(TestCaseError::fail(format!(
                    "step {step} {op:?}: {name} known to the model: {}, to the breaker: {}",
                    model_entry.is_some(),
                    real.is_some()
                )));
            }
        }
    }
    Ok(())
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let db = TempDb::empty();
    let clock = ManualClock::new(T0);
    let cb = open_manual(
        &db.path,
        config(),
        &clock,
        &Arc::new(RecordingMetrics::default()),
    );
    let mut model = Model {
        now: T0,
        ..Model::default()
    };
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Success(i) | Op::HardFailure(i) | Op::Timeout(i) => {
                let weight = match op {
                    Op::Success(_) => None,
                    Op::HardFailure(_) => Some(1.0),
                    _ => Some(TIMEOUT_WEIGHT),
                };
                let want = model.call(NAMES[i], weight);
                let got = real_call(&cb, NAMES[i], weight)?;
                prop_assert_eq!(got, want, "step {} {:?}: call outcome", step, op);
            }
            Op::Advance(ms) => {
                clock.advance(Duration::from_millis(ms as u64));
                model.now += ms;
            }
            Op::Trip(i) => {
                model.trip(NAMES[i]);
                let s = cb
                    .trip(NAMES[i], "property test", "prop")
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(s.state, BreakerState::ForcedOpen);
            }
            Op::Reset { bk, force } => {
                let want = model.reset(NAMES[bk], force);
                let got = real_reset(&cb, NAMES[bk], force)?;
                prop_assert_eq!(got, want, "step {} {:?}: reset outcome", step, op);
            }
        }
        prop_assert_eq!(cb.now_ms(), model.now);
        compare(&cb, &model, step, op)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn breaker_matches_the_reference_model(ops in prop::collection::vec(op_strategy(), 1..40)) {
        run(&ops)?;
    }
}

/// A hand-written sequence through every state, so the model itself is checked against known
/// answers (and the property test cannot pass by both sides being wrong the same way).
#[test]
fn the_model_on_a_known_sequence() {
    let mut m = Model {
        now: T0,
        ..Model::default()
    };
    assert_eq!(m.reset("alpha", false), ResetOutcome::Unknown);
    for _ in 0..3 {
        assert_eq!(m.call("alpha", Some(1.0)), CallOutcome::Ran);
    }
    let e = &m.entries["alpha"];
    assert_eq!((m.state(e), e.trip_count, e.failures), ("open", 1, 3.0));
    assert_eq!(m.call("alpha", None), CallOutcome::Rejected("open"));
    m.now += RESET_TIMEOUT_MS;
    assert_eq!(m.state(&m.entries["alpha"]), "half_open");
    assert_eq!(m.call("alpha", Some(0.5)), CallOutcome::Ran);
    let e = &m.entries["alpha"];
    assert_eq!(
        (m.state(e), e.failures),
        ("open", 0.5),
        "a probe failure after the window"
    );
    m.now += RESET_TIMEOUT_MS;
    assert_eq!(m.call("alpha", None), CallOutcome::Ran);
    assert_eq!(m.state(&m.entries["alpha"]), "closed");
    m.trip("alpha");
    assert_eq!(m.entries["alpha"].trip_count, 2);
    m.now += 10 * RESET_TIMEOUT_MS;
    assert_eq!(m.call("alpha", None), CallOutcome::Rejected("forced_open"));
    m.trip("alpha");
    assert_eq!(
        m.reset("alpha", false),
        ResetOutcome::Cooldown {
            remaining_ms: COOLDOWN_MS
        }
    );
    assert_eq!(m.reset("alpha", true), ResetOutcome::Ok);

    // And the same sequence through the real breaker.
    let ops = [
        Op::Reset {
            bk: 0,
            force: false,
        },
        Op::HardFailure(0),
        Op::HardFailure(0),
        Op::HardFailure(0),
        Op::Success(0),
        Op::Advance(RESET_TIMEOUT_MS),
        Op::Timeout(0),
        Op::Advance(RESET_TIMEOUT_MS),
        Op::Success(0),
        Op::Trip(0),
        Op::Advance(10 * RESET_TIMEOUT_MS),
        Op::Success(0),
        Op::Trip(0),
        Op::Reset {
            bk: 0,
            force: false,
        },
        Op::Reset { bk: 0, force: true },
    ];
    run(&ops).expect("the breaker follows the known sequence");
}
