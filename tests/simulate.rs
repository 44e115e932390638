//! `breakerctl simulate` through the real binary: short steady and outage runs, their JSON
//! report, and the ordinary breaker database they leave behind (`status-all`, `audit`).

use crate::support::run::ctl_command;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn breakerctl(db: &Path, args: &[&str]) -> Output {
    ctl_command(db, args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run breakerctl")
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Every call has exactly one outcome, per bookmaker and in total.
fn assert_counts_add_up(report: &Value) {
    let outcomes = [
        "successes",
        "failures",
        "timeouts",
        "rejectedOpen",
        "shed",
        "breakerErrors",
    ];
    let mut total = 0;
    for b in report["bookmakers"].as_array().unwrap() {
        let sum: u64 = outcomes.iter().map(|k| u(&b[*k])).sum();
        assert_eq!(u(&b["calls"]), sum, "{b}");
        total += u(&b["calls"]);
    }
    assert_eq!(u(&report["totals"]["calls"]), total);
    assert_eq!(
        u(&report["totals"]["breakerErrors"]),
        0,
        "{}",
        report["totals"]
    );
    assert!(total > 0);
}

#[test]
fn outage_run_trips_the_failing_bookmaker_and_leaves_an_ordinary_database() {
    let dir = tempfile::tempdir().unwrap();
    // A folder that does not exist yet: simulate creates it with the database.
    let db = dir.path().join("data").join("demo.db");

    // A short steady run creates the database and says so (on stderr with --json).
    let steady = breakerctl(
        &db,
        &[
            "--json",
            "simulate",
            "--scenario",
            "steady",
            "--duration",
            "1s",
            "--bookmakers",
            "3",
            "--callers",
            "4",
            "--rate",
            "60",
        ],
    );
    let report = json_of(&steady);
    let stderr = String::from_utf8_lossy(&steady.stderr);
    assert!(
        stderr.contains("created breaker database"),
        "stderr: {stderr}"
    );
    // Not a terminal: plain progress lines, not a bar.
    assert!(stderr.contains("simulate steady:"), "stderr: {stderr}");
    assert_eq!(report["scenario"], "steady");
    assert_eq!(report["databaseCreated"], true);
    assert_counts_add_up(&report);
    assert!(db.exists());

    // The outage run: sim-fanduel fails hard from 1.2s to 2.4s.
    let outage = breakerctl(
        &db,
        &[
            "--json",
            "simulate",
            "--scenario",
            "outage",
            "--duration",
            "4s",
            "--bookmakers",
            "3",
            "--callers",
            "8",
            "--rate",
            "120",
            "--probe-after",
            "1s",
            "--seed",
            "7",
        ],
    );
    let report = json_of(&outage);
    assert!(!String::from_utf8_lossy(&outage.stderr).contains("created breaker database"));
    assert_eq!(report["scenario"], "outage");
    assert_eq!(report["databaseCreated"], false);
    assert_eq!(report["seed"], 7);
    assert_eq!(report["settings"]["resetTimeoutMs"], 1000);
    assert_counts_add_up(&report);

    let bookmakers = report["bookmakers"].as_array().unwrap();
    let names: Vec<&str> = bookmakers
        .iter()
        .map(|b| b["bookmaker"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sim-draftkings", "sim-fanduel", "sim-betmgm"]);
    assert_eq!(report["timeline"]["degradedBookmaker"], "sim-fanduel");
    assert_eq!(report["timeline"]["degradation"], "outage");

    let degraded = &bookmakers[1];
    assert_eq!(degraded["degraded"], true);
    assert!(u(&degraded["trips"]) >= 1, "{degraded}");
    let at_trip = degraded["failureCountAtTrip"].as_f64().unwrap();
    assert!((10.0..11.0).contains(&at_trip), "{degraded}");
    assert!(degraded["timeToTripMs"].is_u64(), "{degraded}");
    assert!(u(&degraded["rejectedOpen"]) > 0, "{degraded}");
    assert!(u(&degraded["latencyOpen"]["count"]) > 0);
    // Only half-open probes reached it while its breaker was open.
    for b in bookmakers {
        assert_eq!(u(&b["requestsWhileOpen"]), 0, "{b}");
        assert!(u(&b["requestsReceived"]) > 0, "{b}");
    }
    for healthy in [&bookmakers[0], &bookmakers[2]] {
        assert_eq!(u(&healthy["trips"]), 0, "{healthy}");
        assert_eq!(u(&healthy["rejectedOpen"]), 0, "{healthy}");
    }
    // No load window in an outage: nothing is shed.
    assert_eq!(u(&report["totals"]["shed"]), 0);
    // The report evaluates the load test's expectations too (latency ones are left to the
    // release-mode load test).
    let checks = report["checks"].as_array().unwrap();
    let leak_check = checks
        .iter()
        .find(|c| {
            c["name"]
                .as_str()
                .unwrap()
                .starts_with("only half-open probes")
        })
        .expect("leak check");
    assert_eq!(leak_check["ok"], true, "{leak_check}");

    // What it left is an ordinary breaker database.
    let status = json_of(&breakerctl(&db, &["status-all", "--json"]));
    let rows = status.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{status}");
    let fanduel = rows
        .iter()
        .find(|r| r["bookmaker"] == "sim-fanduel")
        .unwrap();
    assert!(u(&fanduel["tripCount"]) >= 1, "{fanduel}");
    for r in rows.iter().filter(|r| r["bookmaker"] != "sim-fanduel") {
        assert_eq!(u(&r["tripCount"]), 0, "{r}");
    }

    let audit = json_of(&breakerctl(&db, &["audit", "sim-fanduel", "--json"]));
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"TRIP"), "{actions:?}");
    assert!(actions.contains(&"PROBE_START"), "{actions:?}");
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["user"] == "system"),
        "{audit}"
    );
    assert!(breakerctl(&db, &["audit", "verify"]).status.success());
}

#[test]
fn table_report_names_every_bookmaker_and_what_to_run_next() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("table.db");
    // At 80 columns: the report's tables fit.
    let out = ctl_command(
        &db,
        &[
            "simulate",
            "--scenario",
            "steady",
            "--duration",
            "1s",
            "--bookmakers",
            "2",
            "--callers",
            "2",
            "--rate",
            "40",
        ],
    )
    .env("NO_COLOR", "1")
    .env("COLUMNS", "80")
    .output()
    .expect("run breakerctl");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("created breaker database "), "{stdout}");
    for needle in [
        "steady scenario",
        "BOOKMAKER",
        "REJECTED (OPEN)",
        "REQS WHILE OPEN",
        "sim-draftkings",
        "sim-fanduel",
        "next: breakerctl --db",
    ] {
        assert!(stdout.contains(needle), "{needle} missing:\n{stdout}");
    }
    for line in stdout.lines() {
        assert!(!line.ends_with(' '), "trailing space in {line:?}");
        if [" BOOKMAKER", " sim-", " total"]
            .iter()
            .any(|p| line.starts_with(p))
        {
            assert!(line.chars().count() <= 80, "{line:?}");
        }
    }

    // At 80 columns the tables fit, names whole.
    let narrow = ctl_command(&db, &["status-all"])
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    let narrow = String::from_utf8_lossy(&narrow.stdout);
    for line in narrow.lines() {
        assert!(line.chars().count() <= 80, "{line:?}");
    }
    for name in ["sim-draftkings", "sim-fanduel"] {
        assert!(
            narrow
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name)),
            "{name}:\n{narrow}"
        );
    }
}

#[test]
fn out_of_range_settings_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never.db");
    for args in [
        &["simulate", "--duration", "0s"][..],
        &["simulate", "--duration", "1h"],
        &["simulate", "--bookmakers", "0"],
        &["simulate", "--callers", "1000"],
        &["simulate", "--rate", "0"],
        &["simulate", "--scenario", "meteor"],
    ] {
        let out = breakerctl(&db, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
    assert!(!db.exists(), "a refused run must not create the database");
}
