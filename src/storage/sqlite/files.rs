//! The database file on disk: whether it may be opened, written and by whom, its sidecar
//! files, and the URI that reads it without creating anything.

use crate::error::{BreakerError, Result};
use std::path::{Path, PathBuf};

/// A file that must already hold a breaker database: it exists, is a regular file, and is not
/// empty (SQLite would silently turn an empty file into a new database).
pub(super) fn check_existing_file(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BreakerError::NotFound {
            path: path.to_owned(),
        }),
        Err(source) => Err(BreakerError::Io {
            path: path.to_owned(),
            source,
        }),
        Ok(meta) if !meta.is_file() => Err(BreakerError::NotABreakerDatabase {
            path: path.to_owned(),
            detail: "it is not a regular file".to_owned(),
        }),
        Ok(meta) if meta.len() == 0 => Err(BreakerError::NotABreakerDatabase {
            path: path.to_owned(),
            detail: "the file is empty".to_owned(),
        }),
        Ok(_) => Ok(()),
    }
}

/// Refuses a path that exists and is not a regular file; a missing path is fine (it will be
/// created).
pub(super) fn check_not_special(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => Err(BreakerError::NotABreakerDatabase {
            path: path.to_owned(),
            detail: "it is not a regular file".to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Whether this process may write `path` (`W_OK`, with the effective ids).
fn may_write(path: &Path) -> bool {
    rustix::fs::accessat(
        rustix::fs::CWD,
        path,
        rustix::fs::Access::WRITE_OK,
        rustix::fs::AtFlags::EACCESS,
    )
    .is_ok()
}

/// `path` with `suffix` appended to its file name (`cb.db` -> `cb.db-wal`).
pub fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A write needs the file, and (to create the -wal, -shm or -journal file) its folder.
pub(super) fn check_writable(path: &Path) -> Result<()> {
    let read_only = |detail: &str| BreakerError::ReadOnly {
        path: path.to_owned(),
        detail: detail.to_owned(),
    };
    if !may_write(path) {
        return Err(read_only("this user may not write the file"));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let wal_ready = sidecar(path, "-wal").exists() && sidecar(path, "-shm").exists();
    if !wal_ready && !may_write(dir) {
        return Err(read_only(
            "this user may not create files in its folder, and SQLite must create the -wal and -shm files there",
        ));
    }
    Ok(())
}

/// The URI that opens `path` for reading only. A WAL database that nobody has open (no -wal
/// or -shm file) is opened `immutable`, so that a reader creates no files: in a read-only
/// folder it could not, and elsewhere they would be left behind owned by the reader.
pub(super) fn read_only_uri(path: &Path) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file:");
    let bytes = path.as_os_str().as_bytes();
    if bytes.starts_with(b"/") {
        uri.push_str("//");
    }
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?mode=ro");
    if header_says_wal(path) && !sidecar(path, "-wal").exists() && !sidecar(path, "-shm").exists() {
        uri.push_str("&immutable=1");
    }
    PathBuf::from(uri)
}

/// Whether the file's SQLite header marks it as a WAL database (read and write versions 2),
/// whatever journal mode an `immutable` read-only open reports.
pub fn header_says_wal(path: &Path) -> bool {
    use std::io::Read;
    let mut header = [0u8; 20];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok_and(|()| header[18] == 2 && header[19] == 2)
}
