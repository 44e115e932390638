//! A one-shot completion: the writer thread fills it, a synchronous caller waits on it, an
//! asynchronous caller awaits it. Needs no particular async runtime (a `Waker` is all).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Whether an outcome reached the store before the call returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Committed (or nothing needed writing).
    Written,
    /// Not written within the busy timeout: kept, in order, and written when the store is
    /// free again (see `ProductionCircuitBreaker::pending_writes`).
    Pending,
}

/// How a queued job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Done {
    Written,
    Pending,
    /// A probe claim: the lease it got (`Some(until)`), or `None` when another got it first.
    Claim(Option<Option<i64>>),
}

impl Done {
    pub(super) fn outcome(self) -> WriteOutcome {
        match self {
            Done::Pending => WriteOutcome::Pending,
            Done::Written | Done::Claim(_) => WriteOutcome::Written,
        }
    }
}

struct Slot {
    value: Option<Done>,
    waker: Option<Waker>,
}

/// The writer's end and the caller's end share this.
#[derive(Clone)]
pub(super) struct Completion(Arc<(Mutex<Slot>, Condvar)>);

fn lock(m: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Completion {
    pub(super) fn new() -> Completion {
        Completion(Arc::new((
            Mutex::new(Slot {
                value: None,
                waker: None,
            }),
            Condvar::new(),
        )))
    }

    /// Fills it (the first value wins) and wakes whoever waits.
    pub(super) fn complete(&self, outcome: Done) {
        let (slot, ready) = &*self.0;
        let waker = {
            let mut s = lock(slot);
            if s.value.is_some() {
                return;
            }
            s.value = Some(outcome);
            s.waker.take()
        };
        ready.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Blocks until filled, or for at most `limit` (then `Pending`).
    pub(super) fn wait(&self, limit: Duration) -> Done {
        let (slot, ready) = &*self.0;
        let guard = lock(slot);
        let (guard, _) = ready
            .wait_timeout_while(guard, limit, |s| s.value.is_none())
            .unwrap_or_else(|e| e.into_inner());
        guard.value.unwrap_or(Done::Pending)
    }
}

impl Future for Completion {
    type Output = Done;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Done> {
        let mut s = lock(&self.0.0);
        match s.value {
            Some(v) => Poll::Ready(v),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
