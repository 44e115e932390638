//! Each command's behaviour and JSON shape: status-all (ls), status, trip, reset, audit, the
//! typo guard, the cooldown, forced resets and who gets recorded in the audit trail.

use crate::support::breaker::now_ms;
use crate::support::fixture::TempDb;
use crate::support::json::{array, assert_epoch_ms, field, names};
use serde_json::Value;

/// The seed's `BookmakerStatus` keys (camelCase) plus `state`.
const STATUS_KEYS: &[&str] = &[
    "bookmaker",
    "tripped",
    "failures",
    "failureThreshold",
    "lastError",
    "avgLatency",
    "lastFailureAt",
    "tripCount",
    "lastResetAt",
    "lastResetBy",
    "lastResetReason",
    "state",
];

#[track_caller]
fn assert_status_shape(v: &Value) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("an object, got {v}"));
    for key in STATUS_KEYS {
        assert!(obj.contains_key(*key), "missing {key} in {v}");
    }
    for key in obj.keys() {
        assert!(
            !key.contains('_') && key.chars().next().unwrap().is_lowercase(),
            "{key} is not camelCase"
        );
    }
    assert!(v["bookmaker"].is_string());
    assert!(v["tripped"].is_boolean());
    assert!(v["failures"].is_number() && v["failureThreshold"].is_number());
    assert!(v["tripCount"].is_i64());
    for time in ["lastFailureAt", "lastResetAt"] {
        if !v[time].is_null() {
            assert_epoch_ms(&v[time]);
        }
    }
}

/// alpha and charlie closed (one failure each), bravo tripped by ten failures, zulu tripped by
/// an operator.
fn mixed() -> TempDb {
    let f = TempDb::with(&["alpha", "charlie"]);
    let cb = f.library();
    for _ in 0..10 {
        cb.record_failure("bravo", "503 Service Unavailable")
            .unwrap();
    }
    cb.trip("zulu", "maintenance", "ops").unwrap();
    drop(cb);
    f
}

#[test]
fn status_all_json_has_the_seed_keys_sorted_open_first() {
    let f = mixed();
    let doc = f.run(&["status-all", "--json"]).ok().json();
    assert_eq!(names(&doc), ["bravo", "zulu", "alpha", "charlie"]);
    for row in array(&doc) {
        assert_status_shape(row);
    }
    let states: Vec<&str> = field(&doc, "state")
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(states, ["open", "forced_open", "closed", "closed"]);
    let bravo = &doc[0];
    assert_eq!(bravo["tripped"], true);
    assert_eq!(bravo["failures"], 10.0);
    assert_eq!(bravo["failureThreshold"], 10.0);
    assert_eq!(bravo["lastError"], "503 Service Unavailable");
    assert_eq!(bravo["tripCount"], 1);
    assert_epoch_ms(&bravo["lastFailureAt"]);
    assert_eq!(doc[2]["failures"], 1.0);
    assert_eq!(doc[2]["lastError"], "connection reset");

    // `--output json` is the same as `--json`; `ls` is the same as `status-all`.
    let same = f.run(&["--output", "json", "ls"]).ok().json();
    assert_eq!(same, doc);
}

#[test]
fn status_all_table_is_sorted_open_first_and_tripped_filters() {
    let f = mixed();
    let table = f.run(&["status-all"]).ok().stdout.clone();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].contains("BOOKMAKER") && lines[0].contains("STATE"));
    let first_words: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(first_words, ["bravo", "zulu", "alpha", "charlie"]);
    assert!(lines[1].contains("open") && lines[1].contains("503 Service Unavailable"));
    assert!(lines[2].contains("forced_open"));
    assert_eq!(f.run(&["ls"]).ok().stdout, table, "ls is status-all");

    let tripped = f.run(&["status-all", "--tripped", "--json"]).ok().json();
    assert_eq!(names(&tripped), ["bravo", "zulu"]);
    let tripped_table = f.run(&["ls", "--tripped"]).ok().stdout.clone();
    assert_eq!(tripped_table.lines().count(), 3, "{tripped_table}");
    assert!(!tripped_table.contains("alpha"));

    let calm = TempDb::with(&["alpha"]);
    assert_eq!(
        calm.run(&["status-all", "--tripped"]).ok().stdout,
        "no tripped breakers\n"
    );
    assert_eq!(
        calm.run(&["status-all", "--tripped", "--json"]).ok().json(),
        serde_json::json!([])
    );
}

#[test]
fn status_shows_one_breaker_with_its_latest_audit_rows() {
    let f = mixed();
    let r = f.run(&["status", "zulu"]);
    r.ok();
    assert!(r.stdout.contains("bookmaker  zulu"), "{}", r.stdout);
    assert!(r.stdout.contains("state  forced_open"), "{}", r.stdout);
    assert!(r.stdout.contains("latest audit rows:"), "{}", r.stdout);
    assert!(r.stdout.contains("TRIP") && r.stdout.contains("maintenance"));

    let doc = f.status("zulu");
    assert_status_shape(&doc);
    assert_eq!(doc["state"], "forced_open");
    assert_eq!(doc["tripped"], true);
    let audit = array(&doc["audit"]);
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["action"], "TRIP");
    assert_eq!(audit[0]["user"], "ops");

    let quiet = f.run(&["status", "alpha"]);
    assert!(
        quiet.ok().stdout.contains("no audit rows"),
        "{}",
        quiet.stdout
    );
}

#[test]
fn unknown_names_are_exit_4_with_did_you_mean() {
    let f = TempDb::with(&["draftkings", "fanduel"]);
    let audit_before = f.audit_rows();
    for args in [
        &["status", "draftkngs"][..],
        &["reset", "draftkngs"],
        &["reset", "draftkngs", "--dry-run"],
        &["reset", "draftkngs", "--force", "--reason", "x"],
    ] {
        let r = f.run(args);
        r.code(4);
        assert!(
            r.stderr.contains("unknown breaker \"draftkngs\""),
            "{args:?}: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains("did you mean draftkings?"),
            "{args:?}: {}",
            r.stderr
        );
    }
    let far = f.run(&["status", "zzz"]);
    far.code(4);
    assert!(far.stderr.contains("status-all"), "{}", far.stderr);
    assert_eq!(f.audit_rows(), audit_before);
}

#[test]
fn trip_guards_against_typos_and_creates_only_when_asked() {
    let f = TempDb::with(&["draftkings"]);
    let r = f.run(&["trip", "drafkings", "--reason", "bad odds"]);
    r.code(4);
    assert!(
        r.stderr.contains("did you mean draftkings?"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--create"), "{}", r.stderr);
    assert_eq!(f.audit_rows(), 0, "nothing written");
    assert!(
        f.run(&["status", "drafkings"])
            .code(4)
            .stderr
            .contains("unknown"),
        "no row created"
    );
    let err = f
        .run(&["--json", "trip", "drafkings", "--reason", "x"])
        .code(4)
        .stderr_json();
    assert_eq!(err["exitCode"], 4);
    assert!(
        err["hint"]
            .as_str()
            .unwrap()
            .contains("did you mean draftkings?")
    );

    // A name the database has never seen, on purpose.
    let created = f
        .run(&[
            "trip", "pinnacle", "--reason", "new feed", "--create", "--json",
        ])
        .ok()
        .json();
    assert_status_shape(&created);
    assert_eq!(created["bookmaker"], "pinnacle");
    assert_eq!(created["state"], "forced_open");
    assert_eq!(created["tripped"], true);
    assert_eq!(created["tripCount"], 1);

    // A known name, in prose.
    let r = f.run(&["trip", "draftkings", "--reason", "bad odds"]);
    r.ok();
    assert!(
        r.stdout.starts_with("tripped draftkings: now forced_open"),
        "{}",
        r.stdout
    );
    // The suggested command carries the --db it ran with, so it works when pasted.
    assert!(
        r.stdout.contains("breakerctl --db ") && r.stdout.contains(" reset draftkings`"),
        "{}",
        r.stdout
    );
    let audit = f.run(&["audit", "draftkings", "--json"]).ok().json();
    let rows = array(&audit);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["action"], "TRIP");
    assert_eq!(rows[0]["reason"], "bad odds");
    assert_eq!(rows[0]["user"], "tester");
    assert_eq!(rows[0]["stateBefore"], "closed");
    assert_eq!(rows[0]["stateAfter"], "forced_open");
    assert_eq!(rows[0]["forced"], false);
    assert_epoch_ms(&rows[0]["timestamp"]);
}

#[test]
fn trip_refuses_bad_input_with_exit_2() {
    let f = TempDb::with(&["draftkings"]);
    f.run(&["trip", "draftkings"]).code(2); // --reason is required
    f.run(&["trip", "draftkings", "--reason", "  "]).code(2);
    f.run(&["trip", "new\u{1b}[2Jname", "--reason", "x", "--create"])
        .code(2);
    f.run(&["trip", " padded ", "--reason", "x", "--create"])
        .code(2);
    f.run(&["trip", "", "--reason", "x", "--create"]).code(2);
    f.run(&["trip", "draftkings", "--reason", "x", "--bogus"])
        .code(2);
    f.run(&[
        "--busy-timeout",
        "soon",
        "trip",
        "draftkings",
        "--reason",
        "x",
    ])
    .code(2);
    f.run(&["frobnicate"]).code(2);
    assert_eq!(f.audit_rows(), 0);
}

/// Parses `reset denied: NAME tripped Es ago; cooldown Cs, Ls left; use --force ...`.
fn cooldown_numbers(stderr: &str, name: &str) -> (u64, u64, u64) {
    let line = stderr.lines().next().unwrap_or_default();
    let prefix = format!("breakerctl: reset denied: {name} tripped ");
    let rest = line
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("cooldown message, got {stderr}"));
    let rest = rest
        .strip_suffix("s left; use --force --reason TEXT to override")
        .unwrap_or_else(|| panic!("cooldown message ending, got {stderr}"));
    let (elapsed, rest) = rest.split_once("s ago; cooldown ").expect("elapsed");
    let (cooldown, left) = rest.split_once("s, ").expect("cooldown");
    (
        elapsed.parse().unwrap(),
        cooldown.parse().unwrap(),
        left.parse().unwrap(),
    )
}

#[test]
fn reset_inside_the_cooldown_is_denied_then_forced_with_audit_rows() {
    let f = TempDb::with(&["fanduel"]);
    f.run(&["trip", "fanduel", "--reason", "errors"]).ok();

    let denied = f.run(&["reset", "fanduel", "--reason", "looks fine"]);
    denied.code(3);
    let (elapsed, cooldown, left) = cooldown_numbers(&denied.stderr, "fanduel");
    assert_eq!(cooldown, 60);
    assert!(
        elapsed <= 5 && (55..=60).contains(&left),
        "{}",
        denied.stderr
    );
    assert_eq!(f.status("fanduel")["state"], "forced_open");

    let err = f.run(&["--json", "reset", "fanduel"]).code(3).stderr_json();
    assert_eq!(err["exitCode"], 3);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .starts_with("reset denied: fanduel tripped")
    );

    // --force needs a reason: a usage error, and nothing written.
    let rows_before = f.audit_rows();
    f.run(&["reset", "fanduel", "--force"]).code(2);
    f.run(&["reset", "fanduel", "--force", "--reason", " "])
        .code(2);
    assert_eq!(f.audit_rows(), rows_before);

    let forced = f.run(&[
        "reset",
        "fanduel",
        "--force",
        "--reason",
        "upstream confirmed healthy",
        "--user",
        "alice",
    ]);
    forced.ok();
    assert_eq!(forced.stdout, "reset fanduel (forced): now closed\n");

    let audit = f.run(&["audit", "fanduel", "--json"]).ok().json();
    let actions: Vec<&str> = field(&audit, "action")
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(actions, ["RESET", "RESET_DENIED", "RESET_DENIED", "TRIP"]);
    let reset = &audit[0];
    assert_eq!(reset["forced"], true);
    assert_eq!(reset["user"], "alice");
    assert_eq!(reset["reason"], "upstream confirmed healthy");
    assert_eq!(reset["stateBefore"], "forced_open");
    assert_eq!(reset["stateAfter"], "closed");
    let denial = &audit[2];
    assert_eq!(denial["forced"], false);
    assert_eq!(denial["user"], "tester");
    assert_eq!(denial["reason"], "looks fine");
    assert_eq!(denial["stateAfter"], "forced_open");

    let status = f.status("fanduel");
    assert_eq!(status["state"], "closed");
    assert_eq!(status["lastResetBy"], "alice");
    assert_eq!(status["lastResetReason"], "upstream confirmed healthy");
    assert_epoch_ms(&status["lastResetAt"]);
}

#[test]
fn reset_after_the_cooldown_is_allowed() {
    let f = TempDb::empty();
    let cb = f.library_at(now_ms() - 10 * 60 * 1000);
    cb.trip("betmgm", "maintenance", "ops").unwrap();
    drop(cb);

    f.run(&["reset", "betmgm", "--dry-run"]).ok();
    let doc = f
        .run(&["reset", "betmgm", "--reason", "done", "--json"])
        .ok()
        .json();
    assert_status_shape(&doc);
    assert_eq!(doc["state"], "closed");
    assert_eq!(doc["lastResetBy"], "tester");
    let audit = f
        .run(&["audit", "betmgm", "--json", "--limit", "1"])
        .ok()
        .json();
    assert_eq!(audit[0]["action"], "RESET");
    assert_eq!(audit[0]["forced"], false);
}

#[test]
fn reset_dry_run_writes_nothing() {
    let f = TempDb::with(&["fanduel"]);
    f.run(&["trip", "fanduel", "--reason", "errors"]).ok();
    let rows = f.audit_rows();
    let bytes = std::fs::read(&f.path).unwrap();

    let r = f.run(&["reset", "fanduel", "--dry-run"]);
    r.code(3);
    assert!(r.stdout.contains("would be denied"), "{}", r.stdout);
    let preview = f
        .run(&["reset", "fanduel", "--dry-run", "--json"])
        .code(3)
        .json();
    assert_eq!(preview["bookmaker"], "fanduel");
    assert_eq!(preview["allowed"], false);
    assert_eq!(preview["state"], "forced_open");
    assert_eq!(preview["cooldownMs"], 60_000);
    assert!(preview["remainingMs"].as_i64().unwrap() > 50_000);

    let forced = f
        .run(&[
            "reset",
            "fanduel",
            "--dry-run",
            "--force",
            "--reason",
            "x",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(forced["allowed"], true);
    let prose = f.run(&["reset", "fanduel", "--dry-run", "--force", "--reason", "x"]);
    assert!(
        prose.ok().stdout.contains("would be allowed"),
        "{}",
        prose.stdout
    );

    assert_eq!(f.audit_rows(), rows, "no audit rows");
    assert_eq!(f.status("fanduel")["state"], "forced_open");
    assert_eq!(std::fs::read(&f.path).unwrap(), bytes, "file unchanged");
}

/// Two old rows (2023, user `ancient`) and three new ones (now, users tester and alice).
fn audit_history() -> TempDb {
    let f = TempDb::empty();
    let cb = f.library_at(1_700_000_000_000); // 2023-11-14T22:13:20Z
    cb.trip("oldbook", "long ago", "ancient").unwrap();
    drop(cb);
    let cb = f.library_at(1_700_000_600_000);
    cb.reset(
        "oldbook",
        breakerctl::ResetOptions {
            reason: Some("fixed"),
            user: "ancient",
            force: false,
        },
    )
    .unwrap();
    drop(cb);
    f.run(&["trip", "oldbook", "--reason", "again"]).ok();
    f.run(&["trip", "newbook", "--reason", "fresh", "--create"])
        .ok();
    f.run(&["reset", "newbook", "--user", "alice"]).code(3);
    f
}

fn ids(doc: &Value) -> Vec<i64> {
    field(doc, "id")
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect()
}

#[test]
fn audit_is_newest_first_and_filters() {
    let f = audit_history();
    let all = f.run(&["audit", "--json"]).ok().json();
    assert_eq!(ids(&all), [5, 4, 3, 2, 1], "newest first");
    let first = &array(&all)[0];
    for key in [
        "id",
        "bookmaker",
        "action",
        "reason",
        "user",
        "timestamp",
        "forced",
    ] {
        assert!(first.get(key).is_some(), "audit row has {key}: {first}");
    }
    assert_epoch_ms(&first["timestamp"]);

    let recent = f.run(&["audit", "--since", "1h", "--json"]).ok().json();
    assert_eq!(ids(&recent), [5, 4, 3]);
    let rfc = f
        .run(&["audit", "--since", "2023-11-14T22:00:00Z", "--json"])
        .ok()
        .json();
    assert_eq!(ids(&rfc), [5, 4, 3, 2, 1]);
    let between = f
        .run(&["audit", "--since", "2023-11-14T22:20:00+00:00", "--json"])
        .ok()
        .json();
    assert_eq!(ids(&between), [5, 4, 3, 2]);

    let trips = f.run(&["audit", "--action", "trip", "--json"]).ok().json();
    assert_eq!(ids(&trips), [4, 3, 1]);
    let denied = f
        .run(&["audit", "--action", "RESET_DENIED", "--json"])
        .ok()
        .json();
    assert_eq!(ids(&denied), [5]);
    let alice = f.run(&["audit", "--user", "alice", "--json"]).ok().json();
    assert_eq!(ids(&alice), [5]);
    let ancient = f.run(&["audit", "--user", "ancient", "--json"]).ok().json();
    assert_eq!(ids(&ancient), [2, 1]);
    let one_book = f.run(&["audit", "oldbook", "--json"]).ok().json();
    assert_eq!(ids(&one_book), [3, 2, 1]);
    let limited = f.run(&["audit", "--limit", "2", "--json"]).ok().json();
    assert_eq!(ids(&limited), [5, 4]);
    let combined = f
        .run(&[
            "audit", "oldbook", "--action", "TRIP", "--since", "1h", "--json",
        ])
        .ok()
        .json();
    assert_eq!(ids(&combined), [3]);

    let none = f.run(&["audit", "--user", "nobody"]);
    assert_eq!(none.ok().stdout, "no audit rows match\n");
    let table = f.run(&["audit"]).ok().stdout.clone();
    assert!(table.lines().next().unwrap().contains("ACTION"));
    assert_eq!(table.lines().count(), 6, "{table}");
}

#[test]
fn audit_rejects_bad_filters_with_exit_2() {
    let f = audit_history();
    for args in [
        &["audit", "--since", "garbage"][..],
        &["audit", "--since", "2023-13-45T99:00:00Z"],
        &["audit", "--action", "garbage"],
        &["audit", "--limit", "0"],
        &["audit", "--limit", "-3"],
        &["audit", "--limit", "many"],
    ] {
        let r = f.run(args);
        r.code(2);
        assert!(!r.stderr.is_empty(), "{args:?} explains itself");
    }
    let r = f.run(&["audit", "--action", "garbage"]);
    assert!(
        r.stderr.contains("RESET_DENIED"),
        "lists the actions: {}",
        r.stderr
    );
    let r = f.run(&["audit", "--since", "garbage"]);
    assert!(r.stderr.contains("RFC 3339"), "{}", r.stderr);
}

#[test]
fn audit_default_limit_is_50() {
    let f = TempDb::with(&["fanduel"]);
    let cb = f.library_at(now_ms() - 3_600_000);
    for i in 0..30 {
        cb.trip("fanduel", &format!("trip {i}"), "ops").unwrap();
        cb.reset(
            "fanduel",
            breakerctl::ResetOptions {
                reason: Some("again"),
                user: "ops",
                force: true,
            },
        )
        .unwrap();
    }
    drop(cb);
    let rows = f.run(&["audit", "--json"]).ok().json();
    assert_eq!(array(&rows).len(), 50);
    assert_eq!(rows[0]["id"], 60);
    assert_eq!(rows[49]["id"], 11);
    let more = f.run(&["audit", "--limit", "100", "--json"]).ok().json();
    assert_eq!(array(&more).len(), 60);
}

#[test]
fn audit_verify_passes_then_catches_an_edit_with_exit_1() {
    let f = audit_history();
    let r = f.run(&["audit", "verify"]);
    assert!(
        r.ok().stdout.starts_with("audit chain ok: 5 rows verified"),
        "{}",
        r.stdout
    );
    let doc = f.run(&["audit", "verify", "--json"]).ok().json();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["rows"], 5);

    f.conn()
        .execute(
            "UPDATE circuit_breaker_audit SET user = 'mallory' WHERE id = 3",
            [],
        )
        .unwrap();
    let r = f.run(&["audit", "verify"]);
    r.code(1);
    assert!(
        r.stderr.contains("audit chain broken at row 3"),
        "{}",
        r.stderr
    );
    let err = f.run(&["--json", "audit", "verify"]).code(1).stderr_json();
    assert_eq!(err["exitCode"], 1);
}

/// The user recorded for a trip made with `env` set and extra arguments.
fn recorded_user(env: &[(&str, &str)], extra: &[&str]) -> String {
    let f = TempDb::with(&["fanduel"]);
    let mut cmd = f.cmd();
    cmd.env_remove("BREAKERCTL_USER");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(["trip", "fanduel", "--reason", "who am i"])
        .args(extra);
    crate::support::run::run(&mut cmd).ok();
    let audit = f.run(&["audit", "--json"]).ok().json();
    audit[0]["user"].as_str().unwrap().to_owned()
}

#[test]
fn the_recorded_user_follows_flag_then_environment_order() {
    let all = [
        ("BREAKERCTL_USER", "from-breakerctl"),
        ("SUDO_USER", "from-sudo"),
        ("USER", "from-user"),
    ];
    assert_eq!(recorded_user(&all, &["--user", "from-flag"]), "from-flag");
    assert_eq!(recorded_user(&all, &[]), "from-breakerctl");
    assert_eq!(recorded_user(&all[1..], &[]), "from-sudo");
    assert_eq!(recorded_user(&all[2..], &[]), "from-user");
    // Set but empty counts as unset.
    assert_eq!(
        recorded_user(&[("BREAKERCTL_USER", ""), ("USER", "from-user")], &[]),
        "from-user"
    );
    // With nothing at all, still someone (the login name, or the uid).
    let nobody = recorded_user(&[], &[]);
    assert!(!nobody.trim().is_empty());
}

#[test]
fn metrics_prints_the_exposition() {
    let f = mixed();
    let r = f.run(&["metrics"]);
    r.ok();
    assert!(r.stdout.contains("bravo"), "{}", r.stdout);
    assert!(r.stdout.contains("# TYPE"), "{}", r.stdout);
}

/// A huge --cooldown (saturated to i64::MAX ms) on a breaker tripped "just now" (here by a
/// clock ahead of ours, which counts as now) must not overflow the rounding of the dry run.
#[test]
fn reset_dry_run_with_a_huge_cooldown_does_not_overflow() {
    let f = TempDb::new();
    f.library_at(now_ms() + 3_600_000)
        .trip("fanduel", "maintenance", "tester")
        .expect("trip");
    let r = f.run(&[
        "--cooldown",
        "300000000years",
        "reset",
        "fanduel",
        "--dry-run",
    ]);
    r.code(3);
    assert!(r.stdout.contains("would be denied"), "{}", r.stdout);
}
