//! The storage seam: what the breaker needs from a shared store, and nothing more.
//!
//! A backend implements [`Backend`] (reads, one write transaction, the batch flush, a change
//! token, diagnostics) and [`WriteTx`] (what one transaction can do). The breaker holds a
//! `Box<dyn Backend>`: the hot path makes one dynamic call per admission (`change_token`),
//! which costs a few nanoseconds against the 200-odd of the whole check (measured in
//! docs/performance.md), and it keeps [`crate::ProductionCircuitBreaker`] a single type
//! whichever backend is behind it.
//!
//! The contract every backend keeps (docs/architecture.md has the reasoning):
//! 1. **Atomic read-modify-write per breaker**: a row loaded in a [`WriteTx`] cannot be
//!    changed by anyone else before the transaction ends.
//! 2. **Exclusive probe lease with expiry**: claimed through a `WriteTx`, so two claimants
//!    cannot both see it free; an expired lease can be claimed again.
//! 3. **One commit**: a state change, its audit row and its counter bumps commit together,
//!    or (when the closure fails) nothing is written.
//! 4. **A linear audit chain**: appends from any number of writers form one chain, each row
//!    naming the previous row's hash, and the head records the newest.
//! 5. **Change token**: [`Backend::change_token`] never returns the same token before and
//!    after a commit by anyone (it may change without a commit: that only costs a re-read).
//!
//! [`sqlite`] is the embedded backend (one file per host).

pub mod audit;
pub mod checks;
#[cfg(test)]
pub(crate) mod contract;
pub mod sqlite;
mod types;

pub use audit::{ChainReport, audit_hash, verify_chain};
pub use checks::Check;
pub use sqlite::{MAX_BUSY_TIMEOUT, SCHEMA_VERSION, SqliteOptions, SqliteStore, Synchronous};
pub use types::{AuditFilter, AuditHead, AuditRecord, CounterRow, FlushBatch, NewAudit};

use crate::error::{BreakerError, Result};
use crate::machine::BreakerRow;
use std::time::Duration;

/// How to open a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the store and schema when missing (services, `init`, `simulate`).
    CreateIfMissing,
    /// The store must already be a breaker database (every operator command but `init`).
    MustExist,
    /// As `MustExist`, but never write (a read-only file or folder can still be looked at).
    ReadOnly,
}

/// How durable one write transaction must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The backend's configured durability (the services' own writes).
    Default,
    /// Survives a power cut (operator actions). SQLite: `synchronous=FULL` for that commit.
    Strict,
}

/// An opaque, cheap value that changes whenever anything is committed to the store. Equal
/// tokens read at two moments mean nothing was committed in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChangeToken([u32; 12]);

impl ChangeToken {
    /// A token from a backend's own words (SQLite: its wal-index header).
    pub fn from_words(words: [u32; 12]) -> ChangeToken {
        ChangeToken(words)
    }

    /// A token from a counter (SQLite without a shared wal-index: `PRAGMA data_version`). The
    /// last word marks it, so it never equals a token made of words.
    pub fn from_counter(n: i64) -> ChangeToken {
        let bits = n.to_le_bytes();
        let lo = u32::from_le_bytes([bits[0], bits[1], bits[2], bits[3]]);
        let hi = u32::from_le_bytes([bits[4], bits[5], bits[6], bits[7]]);
        ChangeToken([lo, hi, 0, 0, 0, 0, 0, 0, 0, 0, 0, u32::MAX])
    }

    /// Whether this token was made by [`ChangeToken::from_counter`].
    pub fn is_counter(&self) -> bool {
        self.0[11] == u32::MAX && self.0[2..11].iter().all(|w| *w == 0)
    }
}

/// The change tokens right before and after this store's last write, when that write was
/// provably the only commit in between: the store at `after` is the store at `before` plus
/// exactly what the write wrote, so a cache exact at `before` plus that write is exact at
/// `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnCommit {
    /// The token right before the write.
    pub before: ChangeToken,
    /// The token right after its commit.
    pub after: ChangeToken,
}

/// What one write transaction can do. Everything written through it commits together.
pub trait WriteTx {
    /// The row as stored, under the transaction's lock.
    fn load(&mut self, bookmaker: &str) -> Result<Option<BreakerRow>>;
    /// The change token of this transaction's snapshot, taken under the write lock: equal to
    /// a token seen earlier, nothing was committed since then. `None` when unknown.
    fn token_at_begin(&self) -> Option<ChangeToken>;
    /// Writes the whole row.
    fn save(&mut self, row: &BreakerRow) -> Result<()>;
    /// Writes `row` over `stored` (the row as this transaction read it); a backend may write
    /// only the columns that differ.
    fn save_over(&mut self, stored: Option<&BreakerRow>, row: &BreakerRow) -> Result<()> {
        let _ = stored;
        self.save(row)
    }
    /// Appends an audit row chained to the newest one; returns its id.
    fn append_audit(&mut self, entry: &NewAudit<'_>) -> Result<i64>;
    /// Adds `delta` to a counter.
    fn bump_counter(
        &mut self,
        bookmaker: &str,
        operation: &str,
        reason: &str,
        delta: u64,
        now: i64,
    ) -> Result<()>;
}

/// A shared breaker store. `Send`, so a breaker can move between threads.
pub trait Backend: Send {
    /// Where the store is, for messages (a path, or a URL without its password).
    fn location(&self) -> String;
    /// Which backend this is (`sqlite`, ...), for messages and diagnostics.
    fn kind(&self) -> &'static str;
    /// Whether this store was opened for reading only.
    fn is_read_only(&self) -> bool;
    /// The schema version the store is at.
    fn schema_version(&mut self) -> Result<i64>;

    /// See [`ChangeToken`]. Called on every admission: must be cheap.
    fn change_token(&mut self) -> Result<ChangeToken>;
    /// See [`OwnCommit`]: set by the last successful write of this store, cleared by any
    /// other attempt.
    fn own_commit(&self) -> Option<OwnCommit>;

    /// One breaker's row; `None` when the store has no row by that name.
    fn load(&mut self, bookmaker: &str) -> Result<Option<BreakerRow>>;
    /// Every row, by name.
    fn load_all(&mut self) -> Result<Vec<BreakerRow>>;
    /// The names [`Backend::load`] can find (a name stored in another encoding is left out).
    fn bookmaker_names(&mut self) -> Result<Vec<String>>;
    /// Every stored name as its bytes, also one another program stored as invalid UTF-8 (for
    /// showing and recognising it; the breaker addresses names as UTF-8).
    fn bookmaker_keys(&mut self) -> Result<Vec<Vec<u8>>> {
        Ok(self
            .bookmaker_names()?
            .into_iter()
            .map(String::into_bytes)
            .collect())
    }

    /// Runs `f` in one write transaction: it commits when `f` returns `Ok`, and writes
    /// nothing otherwise. Use [`dyn Backend::write`] for a closure that returns a value.
    fn write_dyn(
        &mut self,
        durability: Durability,
        f: &mut dyn FnMut(&mut dyn WriteTx) -> Result<()>,
    ) -> Result<()>;

    /// Records a failure that trips nothing as one conditional statement, provided the stored
    /// row still has the failure count, last failure time and tripped flag of `old` (the row
    /// `new` was computed from). Returns false, writing nothing, when it does not: the caller
    /// then goes the transactional way. A backend without such a statement returns false.
    fn save_failure_if_unchanged(&mut self, old: &BreakerRow, new: &BreakerRow) -> Result<bool>;

    /// Writes a batch of in-memory results in one transaction, waiting at most `busy` for the
    /// store; on `Busy` the caller keeps the batch.
    fn flush(&mut self, batch: &FlushBatch, now: i64, busy: Duration) -> Result<()>;

    /// Audit rows, newest first.
    fn audit(&mut self, filter: &AuditFilter) -> Result<Vec<AuditRecord>>;
    /// Every audit row, oldest first, and the recorded chain head, read in one snapshot.
    fn audit_chain_and_head(&mut self) -> Result<(Vec<AuditRecord>, Option<AuditHead>)>;
    /// Counter totals.
    fn counters(&mut self) -> Result<Vec<CounterRow>>;

    /// The backend's own health checks for `doctor` (integrity, journal, schema, ...).
    /// Returns whether the store itself is intact, and the checks.
    fn diagnostics(&mut self) -> BackendDiagnostics;
}

/// What a backend reports about itself.
#[derive(Debug, Clone, Default)]
pub struct BackendDiagnostics {
    /// False when the store is corrupt or cannot be checked (doctor exit 6).
    pub intact: bool,
    /// What the integrity check said (SQLite: `PRAGMA quick_check` lines).
    pub integrity: Vec<String>,
    /// Every check, in the order to show them.
    pub checks: Vec<Check>,
    /// The journal mode (SQLite), lower case.
    pub journal_mode: Option<String>,
    /// The size of the write-ahead log in bytes (SQLite), when there is one.
    pub wal_bytes: Option<u64>,
}

impl dyn Backend + '_ {
    /// Runs `f` in one write transaction and returns its value (see [`Backend::write_dyn`]).
    pub fn write<T>(
        &mut self,
        durability: Durability,
        f: impl FnOnce(&mut dyn WriteTx) -> Result<T>,
    ) -> Result<T> {
        let mut f = Some(f);
        let mut value = None;
        self.write_dyn(durability, &mut |tx| {
            let f = f.take().ok_or_else(|| BreakerError::InvalidArgument {
                detail: "a write transaction ran its closure twice".to_owned(),
            })?;
            value = Some(f(tx)?);
            Ok(())
        })?;
        value.ok_or_else(|| BreakerError::InvalidArgument {
            detail: "a write transaction committed without running its closure".to_owned(),
        })
    }
}
