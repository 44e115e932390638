//! What an on-call engineer found (issue 11): each finding as a test that failed before its
//! fix. Real binary, real database files.

use crate::support::fixture::TempDb;
use crate::support::run::{Run, run};

fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Hole 1: simulate refuses a database holding breakers that are not simulated.
#[test]
fn simulate_refuses_a_database_with_real_breakers() {
    let db = TempDb::with(&["draftkings", "fanduel"]);
    let before = db.run(&["--json", "status-all"]).ok().json();
    let r = db.run(&["simulate", "--scenario", "steady", "--duration", "1s"]);
    r.code(2).says(&[
        "simulate refused",
        "2 breaker(s) that are not simulated",
        "draftkings",
        "--db ./data/simulate-demo.db",
        "--allow-real-breakers",
    ]);
    assert_eq!(
        db.run(&["--json", "status-all"]).ok().json(),
        before,
        "nothing was written"
    );
    // A database of simulated breakers only (a previous demo) is fine, and so is the flag.
    let demo = TempDb::new();
    demo.run(&[
        "simulate",
        "--scenario",
        "steady",
        "--duration",
        "1s",
        "--bookmakers",
        "1",
    ])
    .ok();
    demo.run(&[
        "simulate",
        "--scenario",
        "steady",
        "--duration",
        "1s",
        "--bookmakers",
        "1",
    ])
    .ok();
}

/// Hole 2: every operator audit row records the OS identity beside the claimed user; an empty
/// --user is refused.
#[test]
fn audit_rows_record_the_os_user_beside_the_claimed_one() {
    let db = TempDb::with(&["draftkings"]);
    db.run(&[
        "trip",
        "draftkings",
        "--reason",
        "maint",
        "--user",
        "anyone",
    ])
    .ok();
    let rows = db.run(&["--json", "audit", "draftkings"]).ok().json();
    let trip = &rows[0];
    assert_eq!(trip["user"], "anyone");
    let os = trip["osUser"].as_str().expect("osUser is a string");
    assert!(os.ends_with(&format!("(uid {})", uid())), "{os}");
    // The table shows both.
    let table = db.run(&["audit", "draftkings"]).ok().stdout.clone();
    let os_name = os.split(" (uid ").next().unwrap_or(os);
    assert!(
        table.contains(&format!("anyone (os: {os_name})")),
        "{table}"
    );
    // The chain still verifies with the new field in it.
    db.run(&["audit", "verify"]).ok();
    // An empty --user is a usage error and writes nothing.
    let rows_before = db.audit_rows();
    for empty in ["", "   "] {
        db.run(&["trip", "draftkings", "--reason", "x", "--user", empty])
            .code(2)
            .says(&["user is empty"]);
    }
    assert_eq!(db.audit_rows(), rows_before);
}

/// Hole 3: `init` on a device file says "not a regular file" (exit 6) and creates nothing.
#[test]
fn init_on_a_device_file_is_refused_and_creates_nothing() {
    let r = crate::support::run::ctl(std::path::Path::new("/dev/null"), &["init"]);
    r.code(6).says(&["not a regular file"]);
    assert!(!std::path::Path::new("/dev/null-journal").exists());
    assert!(!std::path::Path::new("/dev/null-wal").exists());
}

/// Wrong answer 4: a reset of a breaker that never tripped names its last failure, not a trip.
#[test]
fn reset_denied_on_a_closed_breaker_names_its_last_failure() {
    let db = TempDb::with(&["draftkings"]);
    let r = db.run(&["reset", "draftkings", "--reason", "x"]);
    r.code(3)
        .says(&["draftkings's last failure was", "cooldown 60s"]);
    assert!(!r.stderr.contains("tripped"), "{}", r.stderr);
}

/// Wrong answer 5: `trip` keeps the real last failure time.
#[test]
fn trip_keeps_the_last_real_failure() {
    let db = TempDb::new();
    let past = crate::support::breaker::now_ms() - 3_600_000;
    db.library_at(past)
        .record_failure("draftkings", "503")
        .expect("failure an hour ago");
    db.run(&["trip", "draftkings", "--reason", "maint"]).ok();
    let status = db.status("draftkings");
    assert_eq!(status["lastFailureAt"], past, "{status}");
    assert_eq!(status["tripped"], true);
    // The cooldown counts from the trip, which is now.
    db.run(&["reset", "draftkings", "--reason", "x"])
        .code(3)
        .says(&["draftkings tripped 0s ago"]);
}

/// Wrong answer 8: `audit UNKNOWN` is exit 4 with "did you mean"; a breaker named `verify` can
/// be audited with --bookmaker.
#[test]
fn audit_of_an_unknown_name_is_exit_4_and_verify_is_reachable() {
    let db = TempDb::with(&["draftkings"]);
    db.run(&["audit", "draftking"])
        .code(4)
        .says(&["unknown breaker", "did you mean draftkings"]);
    db.run(&["trip", "verify", "--reason", "odd name", "--create"])
        .ok();
    let rows = db
        .run(&["--json", "audit", "--bookmaker", "verify"])
        .ok()
        .json();
    assert_eq!(rows[0]["bookmaker"], "verify");
    assert_eq!(rows[0]["action"], "TRIP");
    // A known breaker with no audit rows still answers 0.
    db.run(&["audit", "draftkings"]).ok();
}

/// Wrong answer 9: `--json` on commands without a JSON form is refused.
#[test]
fn json_is_refused_where_there_is_none() {
    let db = TempDb::new();
    for args in [
        &["--json", "metrics"][..],
        &["metrics", "--json"],
        &["--json", "man"],
        &["--json", "completions", "bash"],
    ] {
        let r = db.run(args);
        r.code(2);
        assert!(r.stdout.is_empty(), "{args:?} wrote {}", r.stdout);
        let err = r.stderr_json();
        assert!(
            err["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("--json is not supported here")),
            "{err}"
        );
    }
}

/// Wrong answer 10: one JSON error shape, escaped once, `hint` always present.
#[test]
fn json_errors_have_one_shape() {
    let db = TempDb::with(&["draftkings"]);
    let cases: Vec<Run> = vec![
        db.run(&["ls", "--json", "--bogus"]),
        db.run(&["--json", "status", "nope"]),
        db.run(&["--json", "trip", "draftkings", "--reason", ""]),
    ];
    for r in &cases {
        let err = r.stderr_json();
        let obj = err.as_object().expect("an object");
        let mut keys: Vec<&String> = obj.keys().collect();
        keys.sort();
        assert_eq!(keys, ["error", "exitCode", "hint"], "{err}");
        let error = err["error"].as_str().expect("error is a string");
        assert!(!error.contains('\n') && !error.contains("\\n"), "{error:?}");
        assert!(!error.is_empty());
        assert_eq!(err["exitCode"], r.code);
    }
    assert_eq!(
        cases[0].stderr_json()["error"],
        "unexpected argument '--bogus' found"
    );
    assert!(cases[0].stderr_json()["hint"].is_string());
    assert_eq!(cases[1].stderr_json()["exitCode"], 4);
}

/// Wrong answer 11: a corrupt database points to doctor, backups and the runbook.
#[test]
fn a_corrupt_database_points_to_doctor_and_the_runbook() {
    use std::io::{Seek, SeekFrom, Write};
    let db = TempDb::with(&["draftkings", "fanduel", "betmgm"]);
    // Keep the header, wreck the pages behind it.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&db.path)
        .expect("open db file");
    let len = f.metadata().expect("metadata").len();
    f.seek(SeekFrom::Start(100)).expect("seek");
    f.write_all(&vec![0xA5; usize::try_from(len - 100).unwrap_or(0)])
        .expect("wreck pages");
    drop(f);
    let r = db.run(&["status-all"]);
    r.code(6);
    assert!(
        r.stderr.contains("breakerctl doctor") && r.stderr.contains("backup"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("points at the services'"),
        "{}",
        r.stderr
    );
    let runbook = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/runbook.md"))
        .expect("runbook");
    assert!(runbook.contains("### The database is corrupt"));
}

/// Small things 17: the trip message carries --db; no "0ns" in the busy message; a near-miss
/// name on --create is warned about.
#[test]
fn small_things() {
    let db = TempDb::with(&["sim-fanduel"]);
    let r = db.run(&["trip", "sim-fanduel", "--reason", "maint"]);
    r.ok();
    let path = db.path.display().to_string();
    assert!(
        r.stdout.contains(&format!(
            "`breakerctl --db {} reset sim-fanduel`",
            shell_words::quote(&path)
        )),
        "{}",
        r.stdout
    );
    let r = db.run(&["trip", "sim-fanduell", "--reason", "maint", "--create"]);
    r.ok()
        .says(&["warning: sim-fanduell is one letter from the existing breaker sim-fanduel"]);

    // A held write lock with --busy-timeout 0s.
    let conn = db.conn();
    conn.execute_batch("BEGIN IMMEDIATE")
        .expect("hold the write lock");
    let mut cmd = db.cmd();
    cmd.args([
        "--busy-timeout",
        "0s",
        "trip",
        "sim-fanduel",
        "--reason",
        "x",
    ]);
    let r = run(&mut cmd);
    r.code(5);
    assert!(!r.stderr.contains("0ns"), "{}", r.stderr);
    conn.execute_batch("ROLLBACK").expect("release");
}

/// Schema 3 (the OS user column) comes by migration to a database of schema 2, whose audit
/// rows keep verifying.
#[test]
fn a_schema_2_database_migrates_to_3_and_its_chain_still_verifies() {
    let db = TempDb::with(&["draftkings"]);
    db.run(&["trip", "draftkings", "--reason", "maint"]).ok();
    // Back to what schema 2 was: no os_user column, rows without it.
    let conn = db.conn();
    conn.execute_batch(
        "ALTER TABLE circuit_breaker_audit DROP COLUMN os_user; PRAGMA user_version = 2;",
    )
    .expect("make it schema 2");
    drop(conn);
    // The trip's row hashed its os_user, which schema 2 never had: start the trail afresh.
    let conn = db.conn();
    conn.execute_batch(
        "DELETE FROM circuit_breaker_audit; DELETE FROM circuit_breaker_audit_head;",
    )
    .expect("empty trail");
    drop(conn);
    db.run(&["status-all"]).ok();
    let version: i64 = db
        .conn()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, 3);
    db.run(&[
        "reset",
        "draftkings",
        "--force",
        "--reason",
        "after migration",
    ])
    .ok();
    let rows = db.run(&["--json", "audit", "draftkings"]).ok().json();
    assert!(rows[0]["osUser"].is_string(), "{}", rows[0]);
}

/// Wrong answer 12: a man page per command, every page into a folder, and an exit-code table
/// laid out as roff tagged paragraphs.
#[test]
fn man_pages_per_command_and_a_real_exit_code_table() {
    let db = TempDb::new();
    let reset = db.run(&["man", "reset"]);
    reset.ok();
    assert!(
        reset.stdout.contains("\n.TH breakerctl-reset 1"),
        "{}",
        reset.stdout
    );
    assert!(reset.stdout.contains("\\-\\-force") && reset.stdout.contains("\\-\\-reason"));
    assert!(
        reset.stdout.contains("breakerctl(1)"),
        "points back to the main page"
    );
    let verify = db.run(&["man", "audit", "verify"]);
    assert!(
        verify
            .ok()
            .stdout
            .contains("\n.TH breakerctl-audit-verify 1")
    );
    db.run(&["man", "rest"])
        .code(2)
        .says(&["no man page", "did you mean reset"]);

    let root = db.run(&["man"]);
    root.ok();
    assert!(
        !root.stdout.contains(".SH EXTRA"),
        "the plain-text tables are not reflowed"
    );
    assert!(
        root.stdout
            .contains(".SH \"EXIT STATUS\"\n.TP\n\\fB0\\fR\nok\n.TP\n\\fB1\\fR\nother failure\n"),
        "{}",
        root.stdout
    );
    assert!(
        root.stdout
            .contains("\\fB5\\fR\ndatabase busy for longer than \\-\\-busy\\-timeout\n")
    );
    assert!(
        root.stdout.contains("breakerctl\\-reset(1)")
            || root.stdout.contains("breakerctl-reset(1)")
    );
    assert_eq!(
        root.stdout.matches(".ds Aq \\(aq").count(),
        1,
        "one preamble"
    );

    let out = db.dir.path().join("man1");
    let r = db.run(&["man", "--out-dir", out.to_str().expect("utf-8 path")]);
    r.ok();
    for page in [
        "breakerctl.1",
        "breakerctl-reset.1",
        "breakerctl-status-all.1",
        "breakerctl-audit-verify.1",
    ] {
        let text =
            std::fs::read_to_string(out.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.starts_with(".ie \\n(.g .ds Aq"), "{page}");
        assert!(r.stdout.contains(page), "{page} listed in {}", r.stdout);
    }
}

/// `breakerctl ARGS --help` (no database needed), as printed.
fn help_of(args: &[&str]) -> String {
    let mut cmd = crate::support::run::breakerctl();
    cmd.args(args).arg("--help").env("COLUMNS", "100");
    let r = run(&mut cmd);
    r.ok();
    r.stdout.clone()
}

/// The long flags a help text lists (`--db`, `--cooldown`, ...), in order.
fn flags_in(help: &str) -> Vec<String> {
    help.lines()
        .filter_map(|l| {
            // An option's own line, not a description wrapped onto the next one.
            let indent = l.len() - l.trim_start().len();
            if !(2..=6).contains(&indent) {
                return None;
            }
            let l = l.trim_start();
            // `-h, --help`: the long one.
            let l = match l.as_bytes() {
                [b'-', c, b',', b' ', ..] if *c != b'-' => &l[4..],
                _ => l,
            };
            let rest = l.strip_prefix("--")?;
            Some(format!("--{}", rest.split([' ', '=']).next().unwrap_or("")))
        })
        .collect()
}

const STORE_FLAGS: [&str; 5] = ["--db", "--json", "--output", "--color", "--busy-timeout"];
const SETTINGS: [&str; 3] = ["--cooldown", "--failure-threshold", "--reset-timeout"];

/// Help 17: each command's help lists the global flags that apply to it, and no others: the
/// breaker settings (under "Breaker settings") only where a command reads them, and for man
/// and completions not even the store's flags.
#[test]
fn each_commands_help_lists_only_the_flags_that_apply_to_it() {
    for (args, store, settings) in [
        (&["status-all"][..], true, &SETTINGS[..]),
        (&["status"], true, &SETTINGS),
        (&["reset"], true, &SETTINGS),
        (&["doctor"], true, &SETTINGS),
        (&["metrics"], true, &SETTINGS),
        (&["serve"], true, &SETTINGS),
        (&["repl"], true, &SETTINGS),
        (&["simulate"], true, &["--failure-threshold"]),
        (&["trip"], true, &[]),
        (&["audit"], true, &[]),
        (&["audit", "verify"], true, &[]),
        (&["init"], true, &[]),
        (&["man"], false, &[]),
        (&["completions"], false, &[]),
        (&["help", "man"], false, &[]),
    ] {
        let help = if args[0] == "help" {
            let mut cmd = crate::support::run::breakerctl();
            cmd.args(args).env("COLUMNS", "100");
            let r = run(&mut cmd);
            r.ok();
            r.stdout.clone()
        } else {
            help_of(args)
        };
        let flags = flags_in(&help);
        for flag in STORE_FLAGS {
            assert_eq!(
                flags.contains(&flag.to_owned()),
                store,
                "{args:?} --help and {flag}:\n{help}"
            );
        }
        for flag in SETTINGS {
            assert_eq!(
                flags.contains(&flag.to_owned()),
                settings.contains(&flag),
                "{args:?} --help and {flag}:\n{help}"
            );
        }
        assert_eq!(
            help.contains("\nBreaker settings:\n"),
            !settings.is_empty(),
            "{args:?}:\n{help}"
        );
    }
    // Not even in passing: man's and completions' help never mention the store or settings.
    for args in [&["man"][..], &["completions"]] {
        let help = help_of(args);
        for word in ["--cooldown", "--db", "--busy-timeout", "--json"] {
            assert!(
                !help.contains(word),
                "{args:?} --help mentions {word}:\n{help}"
            );
        }
    }
    // The root's help still lists every global flag.
    let root = help_of(&[]);
    for flag in STORE_FLAGS.iter().chain(&SETTINGS) {
        assert!(flags_in(&root).contains(&(*flag).to_owned()), "{flag}");
    }
}

/// Help 17: every NAME says what it is.
#[test]
fn every_name_argument_is_described() {
    for (command, line) in [
        ("status", "  <NAME>  The breaker, as status-all shows it\n"),
        ("reset", "  <NAME>  The breaker, as status-all shows it\n"),
        (
            "trip",
            "  <NAME>  The breaker, as status-all shows it (one it does not show needs --create)\n",
        ),
        (
            "audit",
            "  [NAME]  Only this breaker, as status-all shows it\n",
        ),
    ] {
        let help = help_of(&[command]);
        assert!(help.contains(line), "{command} --help:\n{help}");
    }
    // And so does the man page's.
    let db = TempDb::new();
    let page = db.run(&["man", "status"]).ok().stdout.clone();
    assert!(
        page.contains("<\\fINAME\\fR>\nThe breaker, as status\\-all shows it\n"),
        "{page}"
    );
}

/// Help 17: a flag left out of a command's help is still accepted there, with its value
/// taken (the REPL puts the session's flags before every line, and scripts pass them
/// everywhere); and the man pages follow the help.
#[test]
fn flags_hidden_from_help_are_still_accepted() {
    let db = TempDb::new();
    let page = db.run(&["man", "--cooldown", "5s"]).ok().stdout.clone();
    assert!(page.contains("\n.TH breakerctl 1"), "{page}");
    let bash = db
        .run(&[
            "completions",
            "bash",
            "--busy-timeout",
            "1s",
            "--reset-timeout",
            "9s",
        ])
        .ok()
        .stdout
        .clone();
    assert!(bash.contains("_breakerctl()"), "{bash}");
    // The value of a hidden flag reaches the command: trip echoes the threshold.
    let tripped = db
        .run(&[
            "trip",
            "pinnacle",
            "--create",
            "--reason",
            "maint",
            "--failure-threshold",
            "3",
            "--cooldown",
            "5s",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(tripped["failureThreshold"], 3.0);
    assert_eq!(tripped["state"], "forced_open");
    // In a nested command, after a value given before it, the later one wins as before.
    let other = db.dir.path().join("missing.db");
    let r = db.run(&[
        "audit",
        "verify",
        "--cooldown",
        "1s",
        "--db",
        other.to_str().expect("utf-8 path"),
    ]);
    r.code(6).says(&["no breaker database at", "missing.db"]);
    db.run(&["audit", "verify", "--reset-timeout", "1s"]).ok();
    // A man page lists what the command's help lists.
    let man = db.run(&["man", "man"]).ok().stdout.clone();
    assert!(
        !man.contains("\\-\\-db") && !man.contains("\\-\\-cooldown"),
        "{man}"
    );
    let reset = db.run(&["man", "reset"]).ok().stdout.clone();
    for flag in ["\\-\\-force", "\\-\\-reason", "\\-\\-cooldown", "\\-\\-db"] {
        assert!(reset.contains(flag), "man reset lacks {flag}");
    }
}
