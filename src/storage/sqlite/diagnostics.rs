//! `doctor`'s SQLite checks: integrity, journal mode, schema version, WAL size.

use super::{SCHEMA_VERSION, SqliteStore, files};
use crate::storage::{BackendDiagnostics, Check};

/// A WAL larger than this means checkpoints are not keeping up (a reader that never ends).
pub const WAL_WARN_BYTES: u64 = 64 * 1024 * 1024;

/// At most this much of `quick_check`'s report is shown in the check's line.
const INTEGRITY_DETAIL_CHARS: usize = 200;

pub(super) fn examine(store: &SqliteStore) -> BackendDiagnostics {
    let mut checks = Vec::new();
    let mut check = |name: &'static str, ok: bool, detail: String| {
        checks.push(Check { name, ok, detail });
    };

    let integrity = match quick_check(store) {
        Ok(rows) => rows,
        Err(e) => vec![format!("could not run: {e}")],
    };
    let intact = integrity == ["ok"];
    check(
        "integrity",
        intact,
        if intact {
            "PRAGMA quick_check: ok".to_owned()
        } else {
            format!(
                "PRAGMA quick_check: {}",
                shorten(&integrity.join("; "), INTEGRITY_DETAIL_CHARS)
            )
        },
    );

    let journal_mode = store.journal_mode().ok().map(|m| {
        // A read-only open of a WAL file that nobody has open is `immutable` and reports
        // "delete"; the file header says what the file really is.
        if store.read_only && !m.eq_ignore_ascii_case("wal") && files::header_says_wal(&store.path)
        {
            "wal".to_owned()
        } else {
            m.to_ascii_lowercase()
        }
    });
    match &journal_mode {
        Some(m) if m == "wal" => check("journal mode", true, "wal".to_owned()),
        Some(m) => check(
            "journal mode",
            false,
            format!(
                "{m}: readers and writers block each other; the next write by breakerctl or a service switches it to wal"
            ),
        ),
        None => check("journal mode", false, "could not be read".to_owned()),
    }

    match store.user_version().ok() {
        Some(v) if v == SCHEMA_VERSION => check("schema version", true, v.to_string()),
        Some(v) => check(
            "schema version",
            false,
            format!("{v}; this build writes {SCHEMA_VERSION}"),
        ),
        None => check("schema version", false, "could not be read".to_owned()),
    }

    let wal_bytes = std::fs::metadata(files::sidecar(&store.path, "-wal"))
        .ok()
        .map(|m| m.len());
    match wal_bytes {
        Some(n) if n > WAL_WARN_BYTES => check(
            "wal size",
            false,
            format!(
                "{n} bytes (over {WAL_WARN_BYTES}): checkpoints are not keeping up; look for a reader that never finishes"
            ),
        ),
        Some(n) => check("wal size", true, format!("{n} bytes")),
        None => check(
            "wal size",
            true,
            "no -wal file (nobody has the database open)".to_owned(),
        ),
    }

    BackendDiagnostics {
        intact,
        integrity,
        checks,
        journal_mode,
        wal_bytes,
    }
}

/// `PRAGMA quick_check`: "ok", or what is wrong.
fn quick_check(store: &SqliteStore) -> crate::error::Result<Vec<String>> {
    let mut stmt = store
        .conn
        .prepare("PRAGMA quick_check")
        .map_err(|e| store.err(e))?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(|e| store.err(e))?;
    Ok(rows)
}

/// `s` cut to `max` characters, with an ellipsis when cut.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}
