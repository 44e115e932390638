//! The audit trail's hash chain: how a row's hash is made, and how a whole trail is verified
//! against its recorded head. Backend-neutral: every backend stores the same fields.

use super::types::{AuditHead, AuditRecord};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The hash of an audit row: SHA-256 over the previous row's hash and every field, each
/// length-prefixed so that no two different rows serialise alike.
pub fn audit_hash(prev_hash: &str, r: &AuditRecord) -> String {
    fn field(h: &mut Sha256, v: Option<&str>) {
        match v {
            None => h.update(b"-;"),
            Some(s) => {
                h.update(s.len().to_string().as_bytes());
                h.update(b":");
                h.update(s.as_bytes());
                h.update(b";");
            }
        }
    }
    let mut h = Sha256::new();
    field(&mut h, Some(prev_hash));
    field(&mut h, Some(&r.id.to_string()));
    field(&mut h, r.bookmaker.as_deref());
    field(&mut h, r.action.as_deref());
    field(&mut h, r.reason.as_deref());
    field(&mut h, r.user.as_deref());
    field(&mut h, r.timestamp.map(|t| t.to_string()).as_deref());
    field(&mut h, Some(if r.forced { "1" } else { "0" }));
    field(&mut h, r.state_before.as_deref());
    field(&mut h, r.state_after.as_deref());
    field(&mut h, r.failure_count.map(|c| format!("{c:?}")).as_deref());
    field(&mut h, r.operation.as_deref());
    field(&mut h, r.host.as_deref());
    field(&mut h, r.pid.map(|p| p.to_string()).as_deref());
    // Added by schema 3: only rows that have it hash it, so older rows keep their hashes.
    if let Some(os_user) = r.os_user.as_deref() {
        field(&mut h, Some("os_user"));
        field(&mut h, Some(os_user));
    }
    hex::encode(h.finalize())
}

/// What verifying the audit chain found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainReport {
    /// How many audit rows were checked.
    pub rows: usize,
    /// Whether every row follows its predecessor and matches its hash, and the chain ends at
    /// the recorded head.
    pub ok: bool,
    /// The id of the first row found wrong (for deleted newest rows, the id after the last
    /// one left); `None` when `ok`, or when the head itself is missing.
    pub first_broken_id: Option<i64>,
    /// What is wrong, in words; `None` when `ok`.
    pub problem: Option<String>,
    /// The hash of the newest row when the chain verifies: record it elsewhere (a ticket, a
    /// log) to notice later a rewrite of the whole chain.
    pub last_hash: Option<String>,
}

/// Walks the chain oldest first, then compares its end with the recorded head, so that an
/// edited, deleted, inserted or reordered row, and deleted newest rows, are all caught.
pub fn verify_chain(rows: &[AuditRecord], head: Option<&AuditHead>) -> ChainReport {
    let broken = |id: Option<i64>, problem: String| ChainReport {
        rows: rows.len(),
        ok: false,
        first_broken_id: id,
        problem: Some(problem),
        last_hash: None,
    };
    let mut prev = String::new();
    for row in rows {
        let problem = if row.hash.is_none() && row.prev_hash.is_none() {
            Some("it has no hash (it was inserted by hand, or by a writer older than the chain)")
        } else if row.prev_hash.as_deref() != Some(prev.as_str()) {
            Some("it does not follow the row before it (a row was deleted, inserted or reordered)")
        } else if row.hash.as_deref() != Some(audit_hash(&prev, row).as_str()) {
            Some("its content does not match its hash (the row was edited)")
        } else {
            None
        };
        if let Some(problem) = problem {
            return broken(Some(row.id), problem.to_owned());
        }
        prev = row.hash.clone().unwrap_or_default();
    }
    let last_id = rows.last().map_or(0, |r| r.id);
    let Some(head) = head else {
        return broken(
            None,
            "the chain head (table circuit_breaker_audit_head) is missing: it was deleted"
                .to_owned(),
        );
    };
    if head.last_id > last_id {
        return broken(
            Some(last_id.saturating_add(1)),
            format!(
                "the newest rows were deleted: the chain ends at row {last_id} but its head records row {}",
                head.last_id
            ),
        );
    }
    if head.last_id < last_id {
        return broken(
            Some(head.last_id.saturating_add(1)),
            format!(
                "rows after {} were added behind the breaker's back: the chain head records row {}",
                head.last_id, head.last_id
            ),
        );
    }
    if head.last_hash != prev {
        return broken(
            Some(last_id),
            "the newest row is not the one recorded in the chain head (it was replaced)".to_owned(),
        );
    }
    ChainReport {
        rows: rows.len(),
        ok: true,
        first_broken_id: None,
        problem: None,
        last_hash: Some(prev),
    }
}
