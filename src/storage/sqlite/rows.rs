//! Reading rows: the SQL text of the state, audit and counter queries and the mapping of
//! what another program may have left in a column.

use crate::machine::{BreakerRow, TripKind};
use crate::storage::types::{AuditFilter, AuditHead, AuditRecord, CounterRow};
use rusqlite::{Connection, OptionalExtension, Row};

pub(super) const STATE_SELECT: &str =
    "SELECT bookmaker, failure_count, last_failure_at, tripped, trip_count,
  last_error, avg_latency, last_reset_at, last_reset_by, last_reset_reason, updated_at,
  tripped_at, trip_kind, probe_lease_until, probe_owner, last_success_at
  FROM circuit_breaker_state";

pub(super) const STATE_UPSERT: &str = "INSERT INTO circuit_breaker_state (bookmaker, failure_count,
  last_failure_at, tripped, trip_count, last_error, avg_latency, last_reset_at, last_reset_by,
  last_reset_reason, updated_at, tripped_at, trip_kind, probe_lease_until, probe_owner,
  last_success_at)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
  ON CONFLICT (bookmaker) DO UPDATE SET failure_count = ?2, last_failure_at = ?3, tripped = ?4,
  trip_count = ?5, last_error = ?6, avg_latency = ?7, last_reset_at = ?8, last_reset_by = ?9,
  last_reset_reason = ?10, updated_at = ?11, tripped_at = ?12, trip_kind = ?13,
  probe_lease_until = ?14, probe_owner = ?15, last_success_at = ?16";

pub(super) const AUDIT_SELECT: &str =
    "SELECT id, bookmaker, action, reason, user, timestamp, forced,
  state_before, state_after, failure_count, operation, host, pid, prev_hash, hash, os_user
  FROM circuit_breaker_audit";

/// The audit columns as migration 1 leaves them (it runs before migration 3 adds `os_user`).
pub(super) const AUDIT_SELECT_V1: &str =
    "SELECT id, bookmaker, action, reason, user, timestamp, forced,
  state_before, state_after, failure_count, operation, host, pid, prev_hash, hash
  FROM circuit_breaker_audit";

pub(super) fn load_row(conn: &Connection, bookmaker: &str) -> rusqlite::Result<Option<BreakerRow>> {
    static STATE_SELECT_ONE: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("{STATE_SELECT} WHERE bookmaker = ?1"));
    let mut stmt = conn.prepare_cached(&STATE_SELECT_ONE)?;
    stmt.query_row([bookmaker], row_from_sql).optional()
}

/// A text column as another program may have left it: NULL stays `None`; numbers, blobs and
/// invalid UTF-8 become text, so one odd row cannot hide every breaker from `status-all`.
fn text(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<String>> {
    use rusqlite::types::ValueRef;
    Ok(match r.get_ref(i)? {
        ValueRef::Null => None,
        ValueRef::Text(b) | ValueRef::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
        ValueRef::Integer(n) => Some(n.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
    })
}

pub(super) fn row_from_sql(r: &Row<'_>) -> rusqlite::Result<BreakerRow> {
    Ok(BreakerRow {
        bookmaker: text(r, 0)?.unwrap_or_default(),
        failure_count: r.get::<_, Option<f64>>(1)?.unwrap_or(0.0),
        last_failure_at: r.get(2)?,
        tripped: r.get::<_, Option<i64>>(3)?.unwrap_or(0) != 0,
        trip_count: r.get::<_, Option<i64>>(4)?.unwrap_or(0),
        last_error: text(r, 5)?,
        avg_latency: r.get(6)?,
        last_reset_at: r.get(7)?,
        last_reset_by: text(r, 8)?,
        last_reset_reason: text(r, 9)?,
        updated_at: r.get::<_, Option<i64>>(10)?.unwrap_or(0),
        tripped_at: r.get(11)?,
        trip_kind: text(r, 12)?.as_deref().and_then(TripKind::parse),
        probe_lease_until: r.get(13)?,
        probe_owner: text(r, 14)?,
        last_success_at: r.get(15)?,
    })
}

pub(super) fn audit_from_sql(r: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        id: r.get(0)?,
        bookmaker: text(r, 1)?,
        action: text(r, 2)?,
        reason: text(r, 3)?,
        user: text(r, 4)?,
        timestamp: r.get(5)?,
        forced: r.get::<_, Option<i64>>(6)?.unwrap_or(0) != 0,
        state_before: text(r, 7)?,
        state_after: text(r, 8)?,
        failure_count: r.get(9)?,
        operation: text(r, 10)?,
        host: text(r, 11)?,
        pid: r.get(12)?,
        prev_hash: r.get(13)?,
        hash: r.get(14)?,
        os_user: if r.as_ref().column_count() > 15 {
            text(r, 15)?
        } else {
            None
        },
    })
}

/// Whether `new` differs from `old` in the columns a failure writes (failure_count,
/// last_failure_at, last_error, updated_at) and nowhere else. Exhaustive on purpose: a column
/// added to `BreakerRow` must be placed in one list or the other.
pub(super) fn only_failure_columns_differ(old: &BreakerRow, new: &BreakerRow) -> bool {
    let BreakerRow {
        bookmaker,
        failure_count: _,
        last_failure_at: _,
        tripped,
        trip_count,
        last_error: _,
        avg_latency,
        last_reset_at,
        last_reset_by,
        last_reset_reason,
        updated_at: _,
        tripped_at,
        trip_kind,
        probe_lease_until,
        probe_owner,
        last_success_at,
    } = old;
    *bookmaker == new.bookmaker
        && *tripped == new.tripped
        && *trip_count == new.trip_count
        && *avg_latency == new.avg_latency
        && *last_reset_at == new.last_reset_at
        && *last_reset_by == new.last_reset_by
        && *last_reset_reason == new.last_reset_reason
        && *tripped_at == new.tripped_at
        && *trip_kind == new.trip_kind
        && *probe_lease_until == new.probe_lease_until
        && *probe_owner == new.probe_owner
        && *last_success_at == new.last_success_at
}

pub(super) fn load_all(conn: &Connection) -> rusqlite::Result<Vec<BreakerRow>> {
    let mut stmt = conn.prepare_cached(&format!("{STATE_SELECT} ORDER BY bookmaker"))?;
    stmt.query_map([], row_from_sql)?.collect()
}

/// The names a caller can address (`load` binds UTF-8 text): a name another program stored
/// as invalid UTF-8 or as a blob is left out instead of failing the whole list, and so every
/// command that reads it (see `bookmaker_keys` for every stored name).
pub(super) fn bookmaker_names(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    Ok(bookmaker_keys(conn)?
        .into_iter()
        .filter_map(|k| String::from_utf8(k).ok())
        .collect())
}

/// Every stored text name, as its bytes (valid UTF-8 or not).
pub(super) fn bookmaker_keys(conn: &Connection) -> rusqlite::Result<Vec<Vec<u8>>> {
    use rusqlite::types::ValueRef;
    let mut stmt =
        conn.prepare_cached("SELECT bookmaker FROM circuit_breaker_state ORDER BY bookmaker")?;
    let mut rows = stmt.query([])?;
    let mut keys = Vec::new();
    while let Some(r) = rows.next()? {
        if let ValueRef::Text(b) = r.get_ref(0)? {
            keys.push(b.to_vec());
        }
    }
    Ok(keys)
}

pub(super) fn audit(conn: &Connection, filter: &AuditFilter) -> rusqlite::Result<Vec<AuditRecord>> {
    let mut sql = format!("{AUDIT_SELECT} WHERE 1=1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(b) = &filter.bookmaker {
        sql.push_str(" AND bookmaker = ?");
        args.push(b.clone().into());
    }
    if let Some(since) = filter.since {
        sql.push_str(" AND timestamp >= ?");
        args.push(since.into());
    }
    if let Some(action) = &filter.action {
        sql.push_str(" AND action = ? COLLATE NOCASE");
        args.push(action.clone().into());
    }
    if let Some(user) = &filter.user {
        sql.push_str(" AND user = ?");
        args.push(user.clone().into());
    }
    sql.push_str(" ORDER BY id DESC");
    if let Some(limit) = filter.limit {
        sql.push_str(" LIMIT ?");
        args.push(i64::try_from(limit).unwrap_or(i64::MAX).into());
    }
    let mut stmt = conn.prepare(&sql)?;
    stmt.query_map(rusqlite::params_from_iter(args), audit_from_sql)?
        .collect()
}

/// Every audit row, oldest first (for verifying the hash chain).
pub(super) fn audit_chain(conn: &Connection) -> rusqlite::Result<Vec<AuditRecord>> {
    let mut stmt = conn.prepare(&format!("{AUDIT_SELECT} ORDER BY id"))?;
    stmt.query_map([], audit_from_sql)?.collect()
}

/// Every audit row, oldest first, and the recorded chain head, read in one snapshot.
pub(super) fn audit_chain_and_head(
    conn: &Connection,
) -> rusqlite::Result<(Vec<AuditRecord>, Option<AuditHead>)> {
    let tx = conn.unchecked_transaction()?;
    let rows = audit_chain(&tx)?;
    let head = tx
        .query_row(
            "SELECT last_id, last_hash FROM circuit_breaker_audit_head WHERE id = 1",
            [],
            |r| {
                Ok(AuditHead {
                    last_id: r.get(0)?,
                    last_hash: r.get(1)?,
                })
            },
        )
        .optional()?;
    drop(tx);
    Ok((rows, head))
}

pub(super) fn counters(conn: &Connection) -> rusqlite::Result<Vec<CounterRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT bookmaker, operation, reason, count FROM circuit_breaker_counters
         ORDER BY bookmaker, operation, reason",
    )?;
    stmt.query_map([], |r| {
        Ok(CounterRow {
            bookmaker: r.get(0)?,
            operation: r.get(1)?,
            reason: r.get(2)?,
            count: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
        })
    })?
    .collect()
}
