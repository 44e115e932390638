//! Tables at a given width (`COLUMNS`): every line fits, no name, state, action or time is
//! broken, free text is the column that shrinks and ends with `…` when cut; and no table line
//! ends in spaces, in a pipe or fitted.

use crate::support::fixture::TempDb;
use crate::support::run::{Run, run};
use serde_json::Value;

const LONG_NAME: &str = "draftkings-eu-west-1-primary";
const LONG_ERROR: &str = "503 Service Unavailable from upstream: the load balancer had no \
     healthy backends for pool odds-feed-primary after 3 retries";
const LONG_REASON: &str = "scheduled maintenance 02:00-03:00 UTC, the bookmaker moves its \
     odds feed to a new data centre (TICKET-123)";

/// Breakers in every state with long names, errors and reasons, and the audit rows of a
/// trip, a forced reset and a denied one.
fn incident() -> TempDb {
    let f = TempDb::new();
    let cb = f.library();
    for _ in 0..10 {
        cb.record_failure("fanduel", LONG_ERROR).unwrap();
    }
    cb.record_failure("sim-betmgm", LONG_ERROR).unwrap();
    cb.record_failure(LONG_NAME, "request timeout after 2000ms")
        .unwrap();
    cb.record_failure("caesars", LONG_ERROR).unwrap();
    drop(cb);
    f.run(&["trip", "sim-betmgm", "--reason", LONG_REASON]).ok();
    f.run(&["trip", LONG_NAME, "--reason", LONG_REASON]).ok();
    f.run(&["reset", LONG_NAME, "--force", "--reason", LONG_REASON])
        .ok();
    // Inside the cooldown: a RESET_DENIED row.
    f.run(&["reset", "fanduel", "--reason", "upstream recovered"])
        .code(3);
    f
}

fn at(f: &TempDb, columns: usize, args: &[&str]) -> Run {
    run(f.cmd().env("COLUMNS", columns.to_string()).args(args))
}

fn width(line: &str) -> usize {
    // Every character in these tables is one column wide (ASCII, `─`, `…`).
    line.chars().count()
}

#[track_caller]
fn assert_fits(what: &str, text: &str, columns: usize) {
    for line in text.lines() {
        assert!(
            width(line) <= columns,
            "{what}: a line of {} columns at COLUMNS={columns}:\n{text}",
            width(line)
        );
        assert!(!line.ends_with(' '), "{what}: trailing space in {line:?}");
    }
}

/// The data line whose words include `word`.
#[track_caller]
fn line_with<'a>(text: &'a str, word: &str) -> &'a str {
    text.lines()
        .skip(1)
        .find(|l| l.split_whitespace().any(|w| w == word))
        .unwrap_or_else(|| panic!("no line has the whole word {word:?}:\n{text}"))
}

/// How much of `full` the line shows, from where it starts; asserts that a cut one ends with
/// `…`.
#[track_caller]
fn shown_part(line: &str, full: &str) -> usize {
    let start = line
        .find(&full[..12])
        .unwrap_or_else(|| panic!("{full:?} missing from {line:?}"));
    let rest = &line[start..];
    if rest.starts_with(full) {
        return full.len();
    }
    let cut = rest.split('…').next().unwrap();
    assert!(
        rest[cut.len()..].starts_with('…'),
        "free text cut without an ellipsis: {line:?}"
    );
    assert!(
        full.starts_with(cut),
        "{cut:?} is not the start of {full:?}"
    );
    cut.len()
}

#[test]
fn status_all_fits_80_and_120_columns_without_breaking_a_word() {
    let f = incident();
    let rows = f.run(&["--json", "status-all"]).ok().json();
    let mut shown = Vec::new();
    for columns in [80, 120] {
        let r = at(&f, columns, &["status-all"]);
        let text = &r.ok().stdout;
        assert_fits("status-all", text, columns);
        assert_eq!(
            text.lines().count(),
            1 + rows.as_array().unwrap().len(),
            "one line per breaker:\n{text}"
        );
        let header = text.lines().next().unwrap();
        for h in ["BOOKMAKER", "STATE", "LAST ERROR"] {
            assert!(header.contains(h), "{h} at {columns}: {header}");
        }
        for row in rows.as_array().unwrap() {
            let name = row["bookmaker"].as_str().unwrap();
            let line = line_with(text, name);
            let state = row["state"].as_str().unwrap();
            assert!(
                line.split_whitespace().any(|w| w == state),
                "state {state} whole on {name}'s line: {line:?}"
            );
        }
        shown.push(shown_part(line_with(text, "fanduel"), LONG_ERROR));
    }
    // The error keeps a third of the screen, whatever else gives way: at 120 columns no
    // longer cut at 40 characters, at 80 more than a word or two.
    assert!(shown[0] >= 25, "{shown:?}");
    assert!(shown[1] >= 40, "{shown:?}");
}

#[test]
fn audit_fits_80_and_120_columns_without_breaking_a_word() {
    let f = incident();
    let rows = f.run(&["--json", "audit"]).ok().json();
    let rows: &Vec<Value> = rows.as_array().unwrap();
    assert!(rows.len() >= 4);
    for columns in [80, 120] {
        let r = at(&f, columns, &["audit"]);
        let text = &r.ok().stdout;
        assert_fits("audit", text, columns);
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(lines.len(), rows.len(), "one line per row:\n{text}");
        for (row, line) in rows.iter().zip(&lines) {
            let words: Vec<&str> = line.split_whitespace().collect();
            for key in ["action", "bookmaker"] {
                let value = row[key].as_str().unwrap();
                assert!(words.contains(&value), "{key} {value} whole in {line:?}");
            }
            // The time, whole: 2026-11-28T20:34:39Z, and "(1s ago)" when there is room.
            let time = words
                .iter()
                .position(|w| w.len() == 20 && w.ends_with('Z') && w.as_bytes()[10] == b'T')
                .unwrap_or_else(|| panic!("no whole timestamp in {line:?}"));
            if columns == 120 {
                assert!(words[time + 1].starts_with('(') && words[time + 2] == "ago)");
            }
        }
        let trip = lines
            .iter()
            .find(|l| l.contains(" TRIP ") && l.contains("sim-betmgm"))
            .unwrap();
        shown_part(trip, LONG_REASON);
        let denied = lines.iter().find(|l| l.contains("RESET_DENIED")).unwrap();
        shown_part(denied, "upstream recovered");
    }
}

#[test]
fn other_tables_fit_too_and_a_pipe_without_columns_is_not_cut() {
    let f = incident();
    for args in [
        &["doctor"][..],
        &["status", "fanduel"],
        &["ls", "--tripped"],
    ] {
        for columns in [80, 120] {
            let r = at(&f, columns, args);
            r.no_panic();
            // `status NAME` shows whole values field by field; its audit table fits.
            let table = match r.stdout.split_once("latest audit rows:\n") {
                Some((_, table)) => table,
                None => &r.stdout,
            };
            assert_fits(&format!("{args:?}"), table, columns);
        }
    }
    // No width known (a pipe, no COLUMNS): every column, the old fixed cuts of free text.
    let plain = f.run(&["status-all"]);
    let header = plain.ok().stdout.lines().next().unwrap().to_owned();
    for h in ["AVG LATENCY", "LAST FAILURE", "TRIPS", "LAST RESET"] {
        assert!(header.contains(h), "{header}");
    }
    assert_eq!(
        shown_part(line_with(&plain.stdout, "fanduel"), LONG_ERROR),
        39
    );
    let audit = f.run(&["audit"]);
    assert!(
        audit.ok().stdout.starts_with(" ID  WHEN"),
        "{}",
        audit.stdout
    );
}

#[test]
fn no_table_line_ends_in_spaces() {
    let f = incident();
    for args in [
        &["status-all"][..],
        &["ls", "--tripped"],
        &["audit"],
        &["audit", "--action", "TRIP"],
        &["status", "fanduel"],
        &["status", LONG_NAME],
        &["doctor"],
    ] {
        let r = f.run(args);
        r.no_panic();
        for line in r.stdout.lines() {
            assert!(
                !line.ends_with(' ') && !line.ends_with('\t'),
                "{args:?}: trailing whitespace in {line:?}"
            );
        }
    }
}
