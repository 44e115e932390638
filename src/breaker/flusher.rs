//! The background thread that writes pending results about once a flush interval.

use super::{BACKGROUND_FLUSH_BUSY, Inner, ProductionCircuitBreaker};
use crate::error::Result;
use std::sync::Arc;
use std::sync::atomic::Ordering;

impl ProductionCircuitBreaker {
    /// Writes in-memory latencies and counters now.
    pub fn flush(&self) -> Result<()> {
        let now = self.now_ms();
        self.lock().flush(now, self.inner.config.busy_timeout)
    }

    /// Starts the background writer the first time something is pending.
    pub(super) fn ensure_flusher(&self) {
        if self.inner.flusher_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("breaker-flush".to_owned())
            .spawn(move || flush_loop(&inner));
        match spawned {
            Ok(handle) => {
                if let Ok(mut slot) = self.flusher.lock() {
                    *slot = Some(handle);
                }
            }
            Err(e) => {
                // Without the thread, pending results are written by flush(), reads and drop.
                self.inner.flusher_started.store(false, Ordering::Release);
                tracing::error!(error = %e, "could not start the breaker's flush thread");
            }
        }
    }
}

fn flush_loop(inner: &Inner) {
    let interval = inner.config.flush_interval;
    let mut stopped = inner.stop.lock().unwrap_or_else(|e| e.into_inner());
    while !*stopped {
        let (guard, _) = inner
            .wake
            .wait_timeout(stopped, interval)
            .unwrap_or_else(|e| e.into_inner());
        stopped = guard;
        if *stopped {
            break;
        }
        let now = inner.clock.now_ms();
        let mut db = inner.db.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = db.flush(now, BACKGROUND_FLUSH_BUSY) {
            tracing::debug!(error = %e, "background flush postponed");
        }
    }
}
