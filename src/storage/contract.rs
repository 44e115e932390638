//! The contract every backend keeps (see the module docs of [`crate::storage`]), as tests any
//! backend runs: `run_all(&|| open a fresh connection to one shared store)`. Each check uses
//! its own bookmaker names, so they may share one store.

use super::{Backend, ChangeToken, Durability, NewAudit, verify_chain};
use crate::config::BreakerConfig;
use crate::error::BreakerError;
use crate::machine::{self, BreakerRow, Rules};

/// Opens another connection to the same store.
pub type Opener<'a> = dyn Fn() -> Box<dyn Backend> + Sync + 'a;

/// Every contract check, in turn.
pub fn run_all(open: &Opener<'_>) {
    read_modify_write_loses_no_update(open);
    probe_lease_is_exclusive_and_expires(open);
    state_audit_and_counters_commit_together_or_not_at_all(open);
    audit_chain_stays_linear_with_concurrent_writers(open);
    change_token_never_says_unchanged_after_a_commit(open);
    guarded_failure_write_applies_only_to_the_row_it_was_computed_from(open);
    flush_adds_latencies_and_counters(open);
}

fn audit_entry(bookmaker: &str) -> NewAudit<'_> {
    NewAudit {
        bookmaker,
        action: "TRIP",
        reason: Some("contract"),
        user: "contract",
        timestamp: 1,
        forced: false,
        state_before: "closed",
        state_after: "forced_open",
        failure_count: 0.0,
        operation: None,
        os_user: Some("contract (uid 0)"),
    }
}

/// Contract 1: Writers on several connections add to one row through load-then-save; none is lost.
fn read_modify_write_loses_no_update(open: &Opener<'_>) {
    const WRITERS: usize = 4;
    const EACH: usize = 25;
    std::thread::scope(|s| {
        for _ in 0..WRITERS {
            s.spawn(|| {
                let mut store = open();
                for _ in 0..EACH {
                    retry_busy(|| {
                        store.write(Durability::Default, |tx| {
                            let mut row = tx
                                .load("contract-rmw")?
                                .unwrap_or_else(|| BreakerRow::new("contract-rmw", 1));
                            row.failure_count += 1.0;
                            tx.save(&row)
                        })
                    });
                }
            });
        }
    });
    let row = open().load("contract-rmw").expect("load").expect("row");
    assert_eq!(
        row.failure_count,
        (WRITERS * EACH) as f64,
        "an update was lost"
    );
}

/// Contract 2: Of two claimants of a due probe, exactly one gets the lease; once it expires the other
/// can claim it.
fn probe_lease_is_exclusive_and_expires(open: &Opener<'_>) {
    let rules = Rules::from(&BreakerConfig::default());
    let name = "contract-probe";
    let mut setup = open();
    let mut tripped = BreakerRow::new(name, 0);
    for _ in 0..10 {
        tripped = machine::record_failure(Some(&tripped), name, 1.0, "boom", &rules, 0).0;
    }
    assert!(tripped.tripped, "ten failures trip");
    setup
        .write(Durability::Default, |tx| tx.save(&tripped))
        .expect("save tripped row");
    let due = rules.reset_timeout_ms + 1;
    let claim = |store: &mut Box<dyn Backend>, owner: &str, now: i64| -> bool {
        retry_busy(|| {
            store.write(Durability::Default, |tx| {
                let row = tx.load(name)?.expect("row");
                match machine::claim_probe(&row, owner, &rules, now) {
                    Some((next, _)) => {
                        tx.save(&next)?;
                        Ok(true)
                    }
                    None => Ok(false),
                }
            })
        })
    };
    let wins: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|owner| {
                s.spawn(move || {
                    let mut store = open();
                    claim(&mut store, owner, due)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("claimant"))
            .collect()
    });
    assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{wins:?}");
    let mut late = open();
    assert!(!claim(&mut late, "late", due + 1), "the lease is held");
    assert!(
        claim(&mut late, "late", due + rules.probe_lease_ms + 1),
        "an expired lease can be claimed again"
    );
}

/// Contract 3: A transaction whose closure fails writes nothing: not the row, not the audit row, not
/// the counter; one that succeeds writes all three.
fn state_audit_and_counters_commit_together_or_not_at_all(open: &Opener<'_>) {
    let mut store = open();
    let name = "contract-atomic";
    let audit_rows = |store: &mut Box<dyn Backend>| {
        let (rows, _) = store.audit_chain_and_head().expect("chain");
        rows.iter()
            .filter(|r| r.bookmaker.as_deref() == Some(name))
            .count()
    };
    let counter = |store: &mut Box<dyn Backend>| {
        store
            .counters()
            .expect("counters")
            .iter()
            .filter(|c| c.bookmaker == name)
            .map(|c| c.count)
            .sum::<u64>()
    };
    let failed: Result<(), BreakerError> = store.write(Durability::Strict, |tx| {
        tx.save(&BreakerRow::new(name, 1))?;
        tx.append_audit(&audit_entry(name))?;
        tx.bump_counter(name, "", "reset", 1, 1)?;
        Err(BreakerError::InvalidArgument {
            detail: "the closure fails".to_owned(),
        })
    });
    assert!(failed.is_err());
    assert_eq!(store.load(name).expect("load"), None, "row rolled back");
    assert_eq!(audit_rows(&mut store), 0, "audit row rolled back");
    assert_eq!(counter(&mut store), 0, "counter rolled back");
    store
        .write(Durability::Strict, |tx| {
            tx.save(&BreakerRow::new(name, 1))?;
            tx.append_audit(&audit_entry(name))?;
            tx.bump_counter(name, "", "reset", 1, 1)
        })
        .expect("commit");
    assert!(store.load(name).expect("load").is_some());
    assert_eq!(audit_rows(&mut store), 1);
    assert_eq!(counter(&mut store), 1);
}

/// Contract 4: Appends from several connections at once form one chain that verifies, with the head
/// at the newest row.
fn audit_chain_stays_linear_with_concurrent_writers(open: &Opener<'_>) {
    const WRITERS: usize = 4;
    const EACH: usize = 10;
    let before = open().audit_chain_and_head().expect("chain").0.len();
    std::thread::scope(|s| {
        for _ in 0..WRITERS {
            s.spawn(|| {
                let mut store = open();
                for _ in 0..EACH {
                    retry_busy(|| {
                        store.write(Durability::Default, |tx| {
                            tx.append_audit(&audit_entry("contract-chain")).map(drop)
                        })
                    });
                }
            });
        }
    });
    let (rows, head) = open().audit_chain_and_head().expect("chain");
    assert_eq!(rows.len(), before + WRITERS * EACH);
    let report = verify_chain(&rows, head.as_ref());
    assert!(report.ok, "{report:?}");
    assert_eq!(head.map(|h| h.last_id), rows.last().map(|r| r.id));
}

/// Contract 5: A commit by another connection always changes the token this one reads; a commit of
/// its own, when the backend reports it as the only one ([`Backend::own_commit`]), names two
/// different tokens, the later being the token read right after it.
fn change_token_never_says_unchanged_after_a_commit(open: &Opener<'_>) {
    let mut ours = open();
    let mut other = open();
    let name = "contract-token";
    for round in 0..20 {
        let before: ChangeToken = ours.change_token().expect("token");
        other
            .write(Durability::Default, |tx| {
                tx.save(&BreakerRow::new(name, round))
            })
            .expect("other writes");
        let after = ours.change_token().expect("token");
        assert_ne!(
            before, after,
            "round {round}: another's commit left the token unchanged"
        );

        ours.write(Durability::Default, |tx| {
            tx.save(&BreakerRow::new(name, round))
        })
        .expect("we write");
        if let Some(commit) = ours.own_commit() {
            assert_eq!(
                commit.before, after,
                "round {round}: our write began from `after`"
            );
            assert_ne!(commit.before, commit.after);
            assert_eq!(ours.change_token().expect("token"), commit.after);
        }
    }
}

/// The guarded failure write applies to an unchanged row and refuses a changed one.
fn guarded_failure_write_applies_only_to_the_row_it_was_computed_from(open: &Opener<'_>) {
    let rules = Rules::from(&BreakerConfig::default());
    let name = "contract-guarded";
    let mut ours = open();
    let mut other = open();
    let row = BreakerRow::new(name, 1);
    ours.write(Durability::Default, |tx| tx.save(&row))
        .expect("save");
    let (next, t) = machine::record_failure(Some(&row), name, 1.0, "boom", &rules, 2);
    assert!(t.is_none());
    if !ours
        .save_failure_if_unchanged(&row, &next)
        .expect("guarded")
    {
        // A backend without the statement: nothing was written.
        assert_eq!(ours.load(name).expect("load"), Some(row));
        return;
    }
    assert_eq!(
        ours.load(name).expect("load").map(|r| r.failure_count),
        Some(1.0)
    );
    // Another writer moves the row on: the same guarded write no longer applies.
    other
        .write(Durability::Default, |tx| {
            let mut r = tx.load(name)?.expect("row");
            r.failure_count = 5.0;
            tx.save(&r)
        })
        .expect("other");
    assert!(
        !ours
            .save_failure_if_unchanged(&row, &next)
            .expect("guarded")
    );
    assert_eq!(
        ours.load(name).expect("load").map(|r| r.failure_count),
        Some(5.0)
    );
}

/// The batch flush creates missing rows, averages latencies and adds counters.
fn flush_adds_latencies_and_counters(open: &Opener<'_>) {
    let mut store = open();
    let name = "contract-flush";
    let mut latency = machine::LatencyBatch::default();
    latency.add(10.0, 0.1);
    let batch = super::FlushBatch {
        latencies: vec![(name.to_owned(), latency, 7)],
        counters: vec![(name.to_owned(), "op".to_owned(), "tripped".to_owned(), 3)],
    };
    store
        .flush(&batch, 7, std::time::Duration::from_secs(5))
        .expect("flush");
    store
        .flush(&batch, 8, std::time::Duration::from_secs(5))
        .expect("flush");
    let row = store
        .load(name)
        .expect("load")
        .expect("row created by the flush");
    assert_eq!(row.failure_count, 0.0);
    assert_eq!(row.last_success_at, Some(7));
    assert!(
        row.avg_latency.is_some_and(|l| (l - 10.0).abs() < 1e-9),
        "{row:?}"
    );
    let count: u64 = store
        .counters()
        .expect("counters")
        .iter()
        .filter(|c| c.bookmaker == name && c.reason == "tripped")
        .map(|c| c.count)
        .sum();
    assert_eq!(count, 6);
}

/// Runs a write until it is not refused as busy (contention between the test's own threads).
fn retry_busy<T>(mut f: impl FnMut() -> crate::error::Result<T>) -> T {
    loop {
        match f() {
            Ok(v) => return v,
            Err(BreakerError::Busy { .. }) => std::thread::yield_now(),
            Err(e) => panic!("write failed: {e}"),
        }
    }
}
