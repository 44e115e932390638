//! The only `unsafe` code of the crate: reading SQLite's wal-index header from the shared
//! memory (-shm) it maps, without a lock or a system call.
//!
//! Every commit, by any connection of any process, rewrites this header (its change counter,
//! frame count and checksums), so the same header twice means no commit at all in between.
//! It is the test SQLite itself makes, lock-free, at the start of each read transaction
//! (`walIndexTryHdr`): the header is kept twice, a writer writes the second copy, a barrier,
//! then the first, and a reader reads the first, a barrier, then the second, so two equal
//! copies are not a torn read. `PRAGMA data_version` makes the same test, but inside a read
//! transaction whose shm read lock costs `fcntl` calls every time.

use rusqlite::{Connection, ffi};

/// A copy of the 48-byte wal-index header: equal copies taken at two moments mean that
/// nothing was committed in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalHeader(pub [u32; 12]);

impl WalHeader {
    /// `iChange`, which every commit increments by one.
    pub fn change_counter(&self) -> u32 {
        self.0[2]
    }
}

/// The first region of the wal-index (the -shm file) as SQLite mapped it for one connection.
/// SQLite's VFS contract keeps a region returned by `xShmMap` mapped, at the same address,
/// until `xShmUnmap`, which the connection calls only when it closes or leaves WAL mode; the
/// `SqliteStore` that holds this does neither while it lives (its journal mode is set once,
/// when it opens, and no other process can leave WAL mode while it holds its SHARED lock on
/// the file), and it drops this before its connection. SQLite itself reads the header
/// through this very mapping on every read transaction.
pub struct WalIndex(std::ptr::NonNull<u32>);

// SAFETY: the pointer is to memory mapped for the whole process, only ever read, with atomic
// loads; which thread reads it does not matter.
unsafe impl Send for WalIndex {}

impl WalIndex {
    /// The first wal-index region of `conn`, as `xShmMap` returns it to SQLite; `None` if it is
    /// not there (it is once a read has run in WAL mode). Call it only for a connection in WAL
    /// mode whose wal-index is the shared -shm file (normal locking mode), and keep the result
    /// no longer than the connection.
    pub fn map(conn: &Connection) -> Option<WalIndex> {
        /// The size of a wal-index region (SQLite's `WALINDEX_PGSZ`).
        const REGION: std::ffi::c_int = 32 * 1024;
        // SAFETY: the handle is this open connection's, used under `&Connection` (a
        // `Connection` is not `Sync`, so nothing else uses it meanwhile).
        // `SQLITE_FCNTL_FILE_POINTER` gives the pager's main database file, which lives as long
        // as the connection. `xShmMap` with bExtend=0 and SQLite's own region size returns the
        // region already mapped (or maps an existing one), exactly as the WAL code calls it.
        unsafe {
            let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
            let rc = ffi::sqlite3_file_control(
                conn.handle(),
                c"main".as_ptr(),
                ffi::SQLITE_FCNTL_FILE_POINTER,
                (&raw mut file).cast(),
            );
            if rc != ffi::SQLITE_OK || file.is_null() || (*file).pMethods.is_null() {
                return None;
            }
            let methods = &*(*file).pMethods;
            if methods.iVersion < 2 {
                return None;
            }
            let shm_map = methods.xShmMap?;
            let mut region: *mut std::ffi::c_void = std::ptr::null_mut();
            if shm_map(file, 0, REGION, 0, &mut region) != ffi::SQLITE_OK {
                return None;
            }
            std::ptr::NonNull::new(region.cast::<u32>()).map(WalIndex)
        }
    }

    /// The header as it stands in the shared memory now; `None` while a writer is rewriting
    /// it at this very moment, or before any connection has built the index.
    pub fn header(&self) -> Option<WalHeader> {
        use std::sync::atomic::{AtomicU32, Ordering, fence};
        let words = self.0.as_ptr();
        // SAFETY: `words` is the start of a live, page-aligned mapping of at least 32 KiB (see
        // `WalIndex`), so the 24 aligned u32 of its first 96 bytes are in bounds. Other
        // processes write there, hence atomic loads.
        let read =
            |at: usize| unsafe { AtomicU32::from_ptr(words.add(at)) }.load(Ordering::Acquire);
        let first: [u32; 12] = std::array::from_fn(read);
        fence(Ordering::SeqCst);
        let second: [u32; 12] = std::array::from_fn(|i| read(12 + i));
        // Byte 12 of the header is `isInit`: zero until a connection has built the index.
        let initialised = first[3].to_ne_bytes()[0] != 0;
        (first == second && initialised).then_some(WalHeader(first))
    }
}
