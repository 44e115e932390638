//! The breaker's writer thread: the writes of asynchronous and cancelled calls, writes kept
//! because the store was busy (in order, until they are made), and the batch flush.

use super::completion::{Completion, Done};
use super::record::Op;
use super::{BACKGROUND_FLUSH_BUSY, Inner, lock};
use crate::error::BreakerError;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// At most this many writes wait; past it the oldest is given up, loudly.
const MAX_QUEUED: usize = 100_000;
/// The longest pause between two attempts at a write the store refused.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How often a write that keeps failing is reported.
const REPORT_EVERY: Duration = Duration::from_secs(10);

pub(super) struct Job {
    op: Op,
    done: Option<Completion>,
    queued_at: Instant,
}

/// Writes waiting for the writer thread.
#[derive(Default)]
pub(super) struct Queue {
    jobs: VecDeque<Job>,
    /// How many queued jobs each bookmaker has: a later write of the same bookmaker queues
    /// behind them, so writes apply in the order the calls ended.
    per_bookmaker: HashMap<String, usize>,
}

impl Queue {
    fn push(&mut self, job: Job) -> Option<Job> {
        *self
            .per_bookmaker
            .entry(job.op.bookmaker().to_owned())
            .or_default() += 1;
        self.jobs.push_back(job);
        if self.jobs.len() > MAX_QUEUED {
            return self.pop_front();
        }
        None
    }

    fn pop_front(&mut self) -> Option<Job> {
        let job = self.jobs.pop_front()?;
        if let Some(n) = self.per_bookmaker.get_mut(job.op.bookmaker()) {
            *n -= 1;
            if *n == 0 {
                self.per_bookmaker.remove(job.op.bookmaker());
            }
        }
        Some(job)
    }

    pub(super) fn has(&self, bookmaker: &str) -> bool {
        self.per_bookmaker.contains_key(bookmaker)
    }

    pub(super) fn len(&self) -> usize {
        self.jobs.len()
    }
}

impl Inner {
    /// Queues `op` for the writer thread; `done` (when given) learns how it ended.
    pub(super) fn enqueue(&self, op: Op, done: Option<Completion>) {
        let dropped = {
            let mut q = lock(&self.queue);
            let dropped = q.push(Job {
                op,
                done,
                queued_at: Instant::now(),
            });
            self.metrics
                .gauge("circuit_breaker_pending_writes", q.len() as f64, &[]);
            dropped
        };
        self.queue_changed.notify_all();
        if let Some(job) = dropped {
            tracing::error!(
                bookmaker = job.op.bookmaker(),
                failure = job.op.is_failure(),
                queued = MAX_QUEUED,
                "the store has refused writes for too long: the oldest queued write is given up"
            );
            if let Some(done) = job.done {
                done.complete(Done::Pending);
            }
        }
    }

    /// Whether a write of `bookmaker` must queue behind earlier ones.
    pub(super) fn must_queue(&self, bookmaker: &str) -> bool {
        lock(&self.queue).has(bookmaker)
    }

    /// Applies `op` now on this thread, unless earlier writes of the same bookmaker wait (then
    /// it queues behind them and waits for its turn, at most the busy timeout). A write the
    /// store is too busy for is kept for the writer thread: `Pending`.
    pub(super) fn apply_in_order(&self, op: Op) -> crate::error::Result<Done> {
        if self.must_queue(op.bookmaker()) {
            let done = Completion::new();
            self.enqueue(op, Some(done.clone()));
            return Ok(done.wait(self.config.busy_timeout.saturating_mul(2)));
        }
        match self.apply(&op) {
            Err(BreakerError::Busy { .. }) => {
                self.kept(&op);
                self.enqueue(op, None);
                Ok(Done::Pending)
            }
            other => other,
        }
    }

    /// Says that a write is kept for later (a metric and a warning).
    fn kept(&self, op: &Op) {
        if op.is_failure() {
            self.metrics.counter(
                "circuit_breaker_failures_deferred_total",
                1.0,
                &[("bookmaker", op.bookmaker())],
            );
        }
        tracing::warn!(
            bookmaker = op.bookmaker(),
            failure = op.is_failure(),
            "store busy past the busy timeout: write kept and retried in order until it is made"
        );
    }
}

/// Starts the writer thread.
pub(super) fn start(inner: &Arc<Inner>) {
    if inner.writer_started.swap(true, Ordering::AcqRel) {
        return;
    }
    let for_thread = Arc::clone(inner);
    match std::thread::Builder::new()
        .name("breaker-writer".to_owned())
        .spawn(move || run(&for_thread))
    {
        Ok(handle) => *lock(&inner.writer_thread) = Some(handle),
        Err(e) => {
            // Without the thread, queued writes are made by flush() and on drop.
            inner.writer_started.store(false, Ordering::Release);
            tracing::error!(error = %e, "could not start the breaker's writer thread");
        }
    }
}

fn run(inner: &Inner) {
    let interval = inner.config.flush_interval;
    let mut last_flush = Instant::now();
    let mut backoff = Duration::from_millis(10);
    let mut last_report: Option<Instant> = None;
    loop {
        let head = {
            let q = lock(&inner.queue);
            let wait = interval.saturating_sub(last_flush.elapsed());
            let (mut q, _) = inner
                .queue_changed
                .wait_timeout_while(q, wait, |q| {
                    q.jobs.is_empty() && !inner.stop.load(Ordering::Acquire)
                })
                .unwrap_or_else(|e| e.into_inner());
            answer_overdue(&mut q, inner.config.busy_timeout);
            if inner.stop.load(Ordering::Acquire) {
                return;
            }
            q.jobs.front().map(|j| j.op.clone())
        };
        if let Some(op) = head {
            match inner.apply(&op) {
                Ok(done) => {
                    backoff = Duration::from_millis(10);
                    finish_head(inner, done);
                }
                Err(e) => {
                    // The caller has its answer: the write waits, it is not lost.
                    if let Some(job) = lock(&inner.queue).jobs.front_mut()
                        && let Some(waiting) = job.done.take()
                    {
                        inner.kept(&op);
                        waiting.complete(Done::Pending);
                    }
                    if last_report.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
                        last_report = Some(Instant::now());
                        tracing::warn!(
                            bookmaker = op.bookmaker(),
                            error = %e,
                            queued = lock(&inner.queue).len(),
                            "queued breaker write not made yet; retrying"
                        );
                    }
                    pause(inner, backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        if last_flush.elapsed() >= interval {
            last_flush = Instant::now();
            if let Err(e) = inner.flush_pending(BACKGROUND_FLUSH_BUSY) {
                tracing::debug!(error = %e, "background flush postponed");
            }
        }
    }
}

/// Pops the job just applied and tells its caller.
fn finish_head(inner: &Inner, done: Done) {
    let job = {
        let mut q = lock(&inner.queue);
        let job = q.pop_front();
        inner
            .metrics
            .gauge("circuit_breaker_pending_writes", q.len() as f64, &[]);
        job
    };
    inner.queue_changed.notify_all();
    if let Some(waiting) = job.and_then(|j| j.done) {
        waiting.complete(done);
    }
}

/// Waits until the writer thread has made every queued write, for at most `limit`; returns
/// how many are left. Without a writer thread (it could not start), makes them itself.
pub(super) fn wait_drained(inner: &Inner, limit: Duration) -> usize {
    if !inner.writer_started.load(Ordering::Acquire) {
        return drain(inner, limit);
    }
    let q = lock(&inner.queue);
    let (q, _) = inner
        .queue_changed
        .wait_timeout_while(q, limit, |q| !q.jobs.is_empty())
        .unwrap_or_else(|e| e.into_inner());
    q.len()
}

/// Callers that have waited longer than the busy timeout get `Pending` (their writes stay).
fn answer_overdue(q: &mut Queue, busy: Duration) {
    for job in q.jobs.iter_mut() {
        if job.queued_at.elapsed() > busy
            && let Some(waiting) = job.done.take()
        {
            waiting.complete(Done::Pending);
        }
    }
}

/// Sleeps `d`, or less when the breaker stops.
fn pause(inner: &Inner, d: Duration) {
    let q = lock(&inner.queue);
    let _ = inner
        .queue_changed
        .wait_timeout_while(q, d, |_| !inner.stop.load(Ordering::Acquire));
}

/// Makes every queued write that can be made within `limit`, in order; returns how many are
/// left (the store refused them). Only where no writer thread runs.
fn drain(inner: &Inner, limit: Duration) -> usize {
    // A busy timeout of years has no deadline to speak of.
    let deadline = Instant::now().checked_add(limit);
    loop {
        let head = lock(&inner.queue).jobs.front().map(|j| j.op.clone());
        let Some(op) = head else {
            return 0;
        };
        match inner.apply(&op) {
            Ok(done) => finish_head(inner, done),
            // Only a busy store frees up by waiting; any other refusal stays.
            Err(BreakerError::Busy { .. }) if deadline.is_none_or(|d| Instant::now() < d) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(_) => return lock(&inner.queue).len(),
        }
    }
}

/// The last clone is gone: stop the thread, then make what is queued and flush the batch.
pub(super) fn shut_down(inner: &Arc<Inner>) {
    inner.stop.store(true, Ordering::Release);
    inner.queue_changed.notify_all();
    if let Some(handle) = lock(&inner.writer_thread).take() {
        let _ = handle.join();
    }
    let left = drain(inner, inner.config.busy_timeout);
    if left > 0 {
        tracing::error!(
            left,
            "breaker dropped with writes the store refused: they are lost (failures among them)"
        );
    }
    if let Err(e) = inner.flush_pending(inner.config.busy_timeout) {
        tracing::error!(error = %e, "could not write pending breaker results on drop");
    }
}
