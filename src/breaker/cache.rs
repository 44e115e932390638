//! The read side: the connection reads go through, the change token the cache is exact at, and
//! the cached rows.

use super::MAX_CACHED;
use crate::error::Result;
use crate::machine::BreakerRow;
use crate::storage::{Backend, ChangeToken};
use std::collections::HashMap;

/// The store for reads, the cache it validates, and the token it is exact at.
pub(super) struct ReadSide {
    pub(super) store: Box<dyn Backend>,
    /// The change token at which the cache is exact: while the store's token stays the same,
    /// nothing at all has been committed since, and the cache needs no query.
    pub(super) token: Option<ChangeToken>,
    /// Rows as last read or written by this process; `None` = no such row.
    pub(super) rows: HashMap<String, Option<BreakerRow>>,
}

impl ReadSide {
    pub(super) fn new(store: Box<dyn Backend>) -> ReadSide {
        ReadSide {
            store,
            token: None,
            rows: HashMap::new(),
        }
    }

    /// Drops the cache when anything has been committed since it was filled.
    ///
    /// The store's change token is cheap (SQLite: the wal-index header, read lock-free and
    /// without a system call). When it is what it was when the cache was last known exact, no
    /// connection of any process has committed since, and the cache is valid. When it is not,
    /// the cache is dropped and the token read *before* any row is read again is remembered,
    /// so a commit landing after it changes the token seen next time. Our own commits keep it
    /// when they provably were the only one (`Inner::after_write`).
    pub(super) fn refresh(&mut self) -> Result<()> {
        let token = self.store.change_token()?;
        if self.token != Some(token) || self.rows.len() > MAX_CACHED {
            self.rows.clear();
            self.token = Some(token);
        }
        Ok(())
    }

    /// `f` of the row, from the cache (one hash lookup) or else read and cached.
    pub(super) fn with_row<R>(
        &mut self,
        bookmaker: &str,
        f: impl FnOnce(Option<&BreakerRow>) -> R,
    ) -> Result<R> {
        if let Some(row) = self.rows.get(bookmaker) {
            return Ok(f(row.as_ref()));
        }
        let row = self.store.load(bookmaker)?;
        let out = f(row.as_ref());
        self.rows.insert(bookmaker.to_owned(), row);
        Ok(out)
    }
}
