//! The per-process cache of breaker rows, validated against the store's change token, and
//! the pending batch it flushes.

use super::pending::Pending;
use super::{BACKGROUND_FLUSH_BUSY, MAX_CACHED};
use crate::error::{BreakerError, Result};
use crate::machine::BreakerRow;
use crate::storage::{Backend, ChangeToken};
use std::collections::HashMap;
use std::time::Duration;

/// The store, the cache it validates, and results not yet written.
pub(super) struct Db {
    pub(super) store: Box<dyn Backend>,
    /// The change token at which the cache is exact: while the store's token stays the same,
    /// nothing at all has been committed since, and the cache needs no query.
    pub(super) token: Option<ChangeToken>,
    /// Rows as last read or written by this process; `None` = no such row.
    pub(super) cache: HashMap<String, Option<BreakerRow>>,
    pub(super) pending: Pending,
}

impl Db {
    pub(super) fn new(store: Box<dyn Backend>) -> Db {
        Db {
            store,
            token: None,
            cache: HashMap::new(),
            pending: Pending::default(),
        }
    }

    /// Drops the cache when anything has been committed since it was filled.
    ///
    /// The store's change token is cheap (SQLite: the wal-index header, read lock-free and
    /// without a system call). When it is what it was when the cache was last known exact, no
    /// connection of any process has committed since, and the cache is valid. When it is not,
    /// the cache is dropped and the token read *before* any row is read again is remembered,
    /// so a commit landing after it changes the token seen next time. Our own commits do not
    /// drop it: each write adopts the token after it when its commit was provably the only one
    /// (`adopt_own_commit`).
    pub(super) fn refresh(&mut self) -> Result<()> {
        let token = self.store.change_token()?;
        if self.token != Some(token) || self.cache.len() > MAX_CACHED {
            self.cache.clear();
            self.token = Some(token);
        }
        Ok(())
    }

    /// After a write of ours whose row went into the cache: when the cache was exact at the
    /// token the write began from, and ours was the only commit since, the cache is exact at
    /// the token after it, and the next call needs no re-read for our own write.
    pub(super) fn adopt_own_commit(&mut self) {
        if let Some(commit) = self.store.own_commit()
            && self.token == Some(commit.before)
        {
            self.token = Some(commit.after);
        }
    }

    /// `f` of the row, from the cache (one hash lookup) or else read and cached.
    pub(super) fn with_row<R>(
        &mut self,
        bookmaker: &str,
        f: impl FnOnce(Option<&BreakerRow>) -> R,
    ) -> Result<R> {
        if let Some(row) = self.cache.get(bookmaker) {
            return Ok(f(row.as_ref()));
        }
        let row = self.store.load(bookmaker)?;
        let out = f(row.as_ref());
        self.cache.insert(bookmaker.to_owned(), row);
        Ok(out)
    }

    /// Writes this process's pending results so a read sees them. When another process holds
    /// the write lock, the read goes ahead without them (they are at most a second old) rather
    /// than failing: looking must not depend on the write lock.
    pub(super) fn flush_before_read(&mut self, now: i64) -> Result<()> {
        match self.flush(now, BACKGROUND_FLUSH_BUSY) {
            Err(BreakerError::Busy { .. }) | Err(BreakerError::ReadOnly { .. }) => Ok(()),
            other => other,
        }
    }

    /// Writes pending results; they stay pending if the write fails.
    pub(super) fn flush(&mut self, now: i64, busy: Duration) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = self.pending.to_batch();
        self.store.flush(&batch, now, busy)?;
        // The batch changed these rows (average latency, last success) behind the cache;
        // the rest of it is still exact.
        for bookmaker in self.pending.latencies.keys() {
            self.cache.remove(bookmaker);
        }
        self.adopt_own_commit();
        self.pending = Pending::default();
        Ok(())
    }
}
