//! Names another program stored in a way the library cannot read back: invalid UTF-8
//! (`badbyte` and the byte 0xff) and control characters. `status-all` shows them escaped
//! (`badbyte\xff`), and that escaped form is how `status`, `audit`, `trip` and `reset` name
//! them; a breaker stored under invalid UTF-8 can be looked at but not written to.

use crate::support::fixture::TempDb;
use crate::support::json::{array, names};
use serde_json::Value;

/// `sim-alpha` and `sim-bravo`, and `badbyte` tripped (an audit row) then renamed to
/// `badbyte` + 0xff in its state and audit rows.
fn with_bad_name() -> TempDb {
    let db = TempDb::with(&["sim-alpha", "sim-bravo"]);
    db.run(&["trip", "badbyte", "--create", "--reason", "feed broken"])
        .ok();
    db.rename_to_bytes("badbyte", b"badbyte\xff");
    db
}

fn stored_state(db: &TempDb) -> Vec<(Vec<u8>, i64, i64)> {
    let conn = db.conn();
    let mut stmt = conn
        .prepare("SELECT cast(bookmaker AS BLOB), tripped, trip_count FROM circuit_breaker_state ORDER BY 1")
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[test]
fn status_all_shows_an_undecodable_name_as_it_can_be_typed() {
    let db = with_bad_name();
    let table = db.run(&["status-all"]);
    table.ok();
    assert!(table.stdout.contains(r"badbyte\xff"), "{}", table.stdout);
    assert!(!table.stdout.contains('\u{fffd}'), "{}", table.stdout);

    let json = db.run(&["status-all", "--json"]);
    let mut listed = names(&json.ok().json());
    listed.sort();
    assert_eq!(listed, [r"badbyte\xff", "sim-alpha", "sim-bravo"]);
}

#[test]
fn status_and_audit_address_an_undecodable_name_by_its_escaped_form() {
    let db = with_bad_name();
    let status = db.run(&["status", r"badbyte\xff", "--json"]);
    let doc = status.ok().json();
    assert_eq!(doc["bookmaker"], r"badbyte\xff");
    assert_eq!(doc["state"], "forced_open");
    let audit = array(&doc["audit"]);
    assert_eq!(audit.len(), 1, "{doc}");
    assert_eq!(audit[0]["action"], "TRIP");
    assert_eq!(audit[0]["reason"], "feed broken");
    assert_eq!(audit[0]["bookmaker"], r"badbyte\xff");

    let table = db.run(&["status", r"badbyte\xff"]);
    assert!(
        table.ok().stdout.contains(r"bookmaker  badbyte\xff"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("feed broken"), "{}", table.stdout);

    let rows = db.run(&["audit", r"badbyte\xff", "--json"]).ok().json();
    let rows = array(&rows);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["reason"], "feed broken");
    // Every row of the whole trail shows it the same way.
    let all = db.run(&["audit", "--json"]).ok().json();
    let shown: Vec<&Value> = array(&all).iter().map(|r| &r["bookmaker"]).collect();
    assert_eq!(shown, [r"badbyte\xff"]);

    // The lossy reading names nothing, and a near miss suggests the escaped form.
    db.run(&["status", "badbyte\u{fffd}"]).code(4);
    db.run(&["status", "badbyte"])
        .code(4)
        .says(&[r"did you mean badbyte\xff?"]);
}

#[test]
fn trip_and_reset_of_an_undecodable_name_are_refused_and_write_nothing() {
    let db = with_bad_name();
    let before = (stored_state(&db), db.audit_rows());
    for args in [
        &["trip", r"badbyte\xff", "--reason", "again"][..],
        &["reset", r"badbyte\xff", "--reason", "ok"],
        &["reset", r"badbyte\xff", "--force", "--reason", "ok"],
        &["reset", r"badbyte\xff", "--dry-run"],
    ] {
        db.run(args)
            .code(1)
            .says(&[r"badbyte\xff", "not valid UTF-8", "nothing written"]);
    }
    assert_eq!((stored_state(&db), db.audit_rows()), before);
    // Nor does a lossy name create a second breaker that looks like it.
    db.run(&["trip", "badbyte\u{fffd}", "--reason", "x"])
        .code(4);
    assert_eq!((stored_state(&db), db.audit_rows()), before);
}

/// Reading the names used to fail on the bad one: every `trip`, and "did you mean", failed.
#[test]
fn an_undecodable_name_does_not_break_the_other_breakers() {
    let db = with_bad_name();
    db.run(&["trip", "sim-alpha", "--reason", "upstream down"])
        .ok();
    db.run(&["status", "sim-alpa"])
        .code(4)
        .says(&["did you mean sim-alpha"]);
    let state = db.run(&["status", "sim-alpha", "--json"]).ok().json();
    assert_eq!(state["state"], "forced_open");
}

/// A name with a control character is printed escaped (`pi\x1b[2J`); typed that way, it names
/// the stored breaker, which can then be tripped like any other.
#[test]
fn a_control_character_name_is_addressed_by_its_escaped_form() {
    let db = TempDb::with(&["pi\x1b[2J"]);
    let before = db.audit_rows();
    db.run(&["trip", r"pi\x1b[2J", "--reason", "checked"]).ok();
    let doc = db.run(&["status", r"pi\x1b[2J", "--json"]).ok().json();
    assert_eq!(doc["bookmaker"], "pi\x1b[2J");
    assert_eq!(doc["state"], "forced_open");
    assert_eq!(db.audit_rows(), before + 1);
    // No second breaker under the literal text.
    assert_eq!(
        names(&db.run(&["status-all", "--json"]).ok().json()),
        ["pi\x1b[2J"]
    );
}
