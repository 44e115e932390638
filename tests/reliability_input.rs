//! Bad input: control characters, bidi overrides and zero-width characters in names, 10 KB
//! names and reasons, SQL metacharacters, invalid UTF-8 in arguments and the environment,
//! garbage `--since`, `--limit` and other values. Each gets a clear error (exit 2, or 4 for a
//! name that does not exist) or is stored exactly and shown escaped; nothing panics.
//!
//! Then property tests (proptest, a bounded number of cases; `PROPTEST_CASES` raises it) over
//! argument parsing, the REPL's line parsing and the commands themselves.

use crate::support::fixture::{TempDb, populated};
use crate::support::run::{Run, breakerctl, ctl, run};
use breakerctl::cli::args::{Cli, Command, parse_from};
use breakerctl::cli::commands::{Invocation, execute, parse_since};
use breakerctl::cli::exit::{ExitCode, diagnose};
use breakerctl::cli::output::escape;
use breakerctl::{BreakerConfig, ProductionCircuitBreaker};
use proptest::prelude::*;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Whether a character must never reach a terminal raw (the same set `escape` rewrites).
fn dangerous(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{061c}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
}

/// Stdout and stderr carry no raw escape, bidi or zero-width character (newlines and the
/// table's own spacing aside).
#[track_caller]
fn printable(run: &Run) {
    for (what, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        let bad: Vec<char> = text
            .chars()
            .filter(|c| dangerous(*c) && *c != '\n')
            .collect();
        assert!(bad.is_empty(), "{what} has raw {bad:?}:\n{text}");
    }
}

fn ctl_os(db: &Path, args: &[&OsStr]) -> Run {
    let mut cmd = breakerctl();
    cmd.arg("--db").arg(db).args(args);
    run(&mut cmd)
}

const EVIL: &[&str] = &[
    "esc\x1b[31mred",
    "bell\x07",
    "new\nline",
    "tab\there",
    "nul-free\u{85}c1",
    "rtl\u{202e}lanigiro",
    "isolate\u{2066}x\u{2069}",
    "zero\u{200b}width",
    "bom\u{feff}",
    " padded ",
];

#[test]
fn names_with_control_bidi_or_zero_width_characters_cannot_be_created() {
    let s = TempDb::empty();
    populated(&s.path);
    for name in EVIL {
        let run = ctl(&s.path, &["trip", name, "--reason", "r", "--create"]);
        run.code(2).says(&["refusing to create breaker"]);
        printable(&run);
        ctl(&s.path, &["status", name]).code(4);
    }
    let names = ctl(&s.path, &["--json", "status-all"]).json();
    assert_eq!(names.as_array().map(Vec::len), Some(2));
}

/// Services may record any name up to 256 bytes; the CLI shows such names escaped, in tables,
/// details, audit rows, errors and JSON, and still finds them when given exactly.
#[test]
fn hostile_names_written_by_services_are_shown_escaped() {
    let s = TempDb::empty();
    let cb = ProductionCircuitBreaker::open(&s.path, BreakerConfig::default()).expect("open");
    for name in EVIL {
        cb.record_failure(name, &format!("error from {name}"))
            .expect("service failure");
        cb.trip(name, &format!("reason {name}"), &format!("user {name}"))
            .expect("trip");
    }
    drop(cb);
    for args in [
        &["status-all"][..],
        &["audit"],
        &["--json", "status-all"],
        &["--json", "audit"],
        &["doctor", "--alert-window", "1h"],
    ] {
        let run = ctl(&s.path, args);
        run.code(0);
        printable(&run);
    }
    // Off a terminal `metrics` is for scrapers: exact values, Prometheus-escaped newlines.
    let metrics = ctl(&s.path, &["metrics"]);
    assert!(
        metrics
            .code(0)
            .stdout
            .contains("bookmaker=\"esc\x1b[31mred\""),
        "{}",
        metrics.stdout
    );
    assert!(metrics.stdout.contains("bookmaker=\"new\\nline\""));
    let table = ctl(&s.path, &["status-all"]);
    assert!(table.stdout.contains("esc\\x1b[31mred"), "{}", table.stdout);
    assert!(
        table.stdout.contains("rtl\\u{202e}lanigiro"),
        "{}",
        table.stdout
    );
    for name in EVIL {
        let run = ctl(&s.path, &["status", name]);
        run.code(0);
        printable(&run);
        assert!(run.stdout.contains(escape(name).as_ref()), "{}", run.stdout);
        // JSON keeps the exact value.
        let doc = ctl(&s.path, &["--json", "status", name]).json();
        assert_eq!(doc["bookmaker"], *name);
        assert_eq!(doc["audit"][0]["reason"], format!("reason {name}"));
        // The reset works on the exact name and its message is escaped.
        let reset = ctl(&s.path, &["reset", name, "--force", "--reason", name]);
        reset.code(0);
        printable(&reset);
    }
    // A near miss is "unknown", and the suggestion is escaped too.
    let miss = ctl(&s.path, &["status", "esc\x1b[31mrex"]);
    miss.code(4);
    printable(&miss);
    ctl(&s.path, &["audit", "verify"]).code(0);
}

/// On a terminal (a pseudo-terminal here) every command escapes hostile names, `metrics`
/// included, whose exact Prometheus text is for scrapers only.
#[test]
fn hostile_names_are_escaped_on_a_terminal() {
    use expectrl::{Eof, Expect, Session};
    let s = TempDb::empty();
    let cb = ProductionCircuitBreaker::open(&s.path, BreakerConfig::default()).expect("open");
    cb.trip("esc\x1b]0;pwned\x07rtl\u{202e}x", "r\x1b[2J", "u")
        .expect("trip");
    drop(cb);
    for args in [
        &["metrics"][..],
        &["status-all"],
        &["audit"],
        &["--json", "audit"],
    ] {
        let mut cmd = breakerctl();
        cmd.arg("--db").arg(&s.path).args(args).env("NO_COLOR", "1");
        let mut session = Session::spawn(cmd).expect("spawn on a pty");
        session.set_expect_timeout(Some(std::time::Duration::from_secs(10)));
        let seen = session.expect(Eof).expect("output");
        let text = String::from_utf8_lossy(seen.as_bytes()).into_owned();
        let raw: Vec<char> = text
            .chars()
            .filter(|c| dangerous(*c) && !matches!(c, '\n' | '\r'))
            .collect();
        assert!(
            raw.is_empty(),
            "{args:?}: raw {raw:?} on the terminal:\n{text}"
        );
        assert!(
            text.contains("esc\\x1b]0;pwned\\x07rtl") || text.contains("esc\\u001b]0;pwned"),
            "{args:?}:\n{text}"
        );
    }
}

#[test]
fn ten_kilobyte_names_are_refused_and_reasons_stored_whole() {
    let s = TempDb::empty();
    populated(&s.path);
    let name = "n".repeat(10 * 1024);
    ctl(&s.path, &["trip", &name, "--reason", "r", "--create"])
        .code(2)
        .says(&["10240 bytes long", "at most 256"]);
    ctl(&s.path, &["status", &name]).code(4);
    ctl(&s.path, &["reset", &name, "--force", "--reason", "r"])
        .code(2)
        .says(&["at most 256"]);
    // A name that appears nowhere is unknown to `audit` too (exit 4), as to `status`.
    ctl(&s.path, &["audit", &name]).code(4);

    let reason = format!("{}\x1b[2J{}", "r".repeat(5 * 1024), "\u{202e}".repeat(1024));
    let user = "u".repeat(10 * 1024);
    let trip = ctl(
        &s.path,
        &["trip", "beta", "--reason", &reason, "--user", &user],
    );
    trip.code(0);
    let rows = ctl(&s.path, &["--json", "audit", "beta", "--limit", "1"]).json();
    assert_eq!(rows[0]["reason"], reason.as_str());
    assert_eq!(rows[0]["user"], user.as_str());
    for args in [&["audit"][..], &["status", "beta"], &["status-all"]] {
        let run = ctl(&s.path, args);
        run.code(0);
        printable(&run);
        // Tables shorten long values; no line carries the whole 10 KB.
        if args[0] != "status" {
            assert!(run.stdout.lines().all(|l| l.len() < 2048), "{args:?}");
        }
    }
    ctl(&s.path, &["audit", "verify"]).code(0);
}

#[test]
fn sql_metacharacters_are_plain_text() {
    let s = TempDb::empty();
    populated(&s.path);
    let names = [
        "x'); DROP TABLE circuit_breaker_state; --",
        "\"; DELETE FROM circuit_breaker_audit; --",
        "100%_match",
        "a' OR '1'='1",
        "semi;colon`tick`$(echo pwned)",
    ];
    for name in names {
        ctl(
            &s.path,
            &["trip", name, "--reason", "'; DROP TABLE x; --", "--create"],
        )
        .code(0);
        let doc = ctl(&s.path, &["--json", "status", name]).json();
        assert_eq!(doc["bookmaker"], name);
        assert_eq!(doc["audit"][0]["reason"], "'; DROP TABLE x; --");
    }
    // LIKE wildcards and quotes in filters match nothing but themselves.
    let none = ctl(&s.path, &["audit", "--user", "' OR '1'='1"]);
    assert!(none.code(0).stdout.contains("no audit rows match"));
    ctl(&s.path, &["status", "100%"]).code(4);
    ctl(&s.path, &["audit", "--action", "TRIP' OR '1'='1"])
        .code(2)
        .says(&["invalid --action"]);
    let all = ctl(&s.path, &["--json", "status-all"]).json();
    assert_eq!(all.as_array().map(Vec::len), Some(2 + names.len()));
    ctl(&s.path, &["audit", "verify"]).code(0);
    ctl(&s.path, &["doctor", "--alert-window", "1h"]).code(0);
}

#[test]
fn invalid_utf8_arguments_are_usage_errors() {
    let s = TempDb::empty();
    populated(&s.path);
    let bad = OsStr::from_bytes(b"bad\xff\xfename");
    let o = OsStr::new;
    for args in [
        vec![o("trip"), bad, o("--reason"), o("r"), o("--create")],
        vec![o("trip"), o("alpha"), o("--reason"), bad],
        vec![o("reset"), o("alpha"), o("--force"), o("--reason"), bad],
        vec![o("reset"), o("alpha"), o("--user"), bad],
        vec![o("status"), bad],
        vec![o("audit"), o("--since"), bad],
        vec![o("audit"), o("--action"), bad],
        vec![o("audit"), o("--limit"), bad],
        vec![o("--busy-timeout"), bad, o("status-all")],
        vec![bad],
    ] {
        let run = ctl_os(&s.path, &args);
        run.code(2);
        printable(&run);
    }
    // A path need not be UTF-8; one that does not exist is exit 6, shown without raw bytes.
    let missing = s.dir.path().join(OsStr::from_bytes(b"db\xff\x1b.db"));
    let gone = ctl(&missing, &["status-all"]);
    gone.code(6).says(&["no breaker database"]);
    printable(&gone);
    // Invalid UTF-8 in the environment: the user falls back, the path is used as given.
    let mut cmd = breakerctl();
    cmd.arg("--db")
        .arg(&s.path)
        .args(["trip", "alpha", "--reason", "env"])
        .env("BREAKERCTL_USER", OsStr::from_bytes(b"\xffuser"))
        .env("USER", "fallback");
    run(&mut cmd).code(0);
    let last = ctl(&s.path, &["--json", "audit", "alpha", "--limit", "1"]).json();
    assert_eq!(last[0]["user"], "fallback");
    let mut cmd = breakerctl();
    cmd.env(
        "CIRCUIT_BREAKER_DB",
        OsStr::from_bytes(b"/nonexistent/\xff.db"),
    )
    .arg("status-all");
    run(&mut cmd).code(6);
}

#[test]
fn garbage_since_limit_and_other_values_are_usage_errors() {
    let s = TempDb::empty();
    populated(&s.path);
    for since in [
        "garbage",
        "",
        " ",
        "-1h",
        "1h; DROP TABLE circuit_breaker_audit",
        "99999999999999999999h",
        "2026-13-45T00:00:00Z",
        "10000-01-01T00:00:00Z",
        "1h\x1b[2J",
        "\u{202e}h1",
    ] {
        let run = ctl(&s.path, &["audit", &format!("--since={since}")]);
        run.code(2).says(&["invalid --since"]);
        printable(&run);
    }
    for limit in ["0", "-1", "abc", "1e3", "99999999999", "", "1.5", "０"] {
        ctl(&s.path, &["audit", "--limit", limit]).code(2);
    }
    for args in [
        &["--busy-timeout", "soon", "status-all"][..],
        &["--busy-timeout", "-5s", "status-all"],
        &["--failure-threshold", "NaN", "status-all"],
        &["--failure-threshold", "inf", "status-all"],
        &["--failure-threshold", "0", "status-all"],
        &["--failure-threshold=-3", "status-all"],
        &["--cooldown", "forever", "status-all"],
        &["--output", "xml", "status-all"],
        &["status-all", "--watch", "often"],
        &["doctor", "--alert-window", "1 fortnight"],
        &["audit", "--action", "DROP"],
        &["trip", "alpha", "--reason", ""],
        &["trip", "alpha", "--reason", "   "],
        &["reset", "alpha", "--force"],
        &["reset", "alpha", "--force", "--reason", " "],
        &["trip", "", "--reason", "r", "--create"],
        &["trip", "   ", "--reason", "r", "--create"],
        &["no-such-command"],
    ] {
        let run = ctl(&s.path, args);
        run.code(2);
        printable(&run);
    }
    // Absurd but well-formed values are accepted without a panic.
    ctl(
        &s.path,
        &["--busy-timeout", "18446744073709551615", "status-all"],
    )
    .code(0);
    ctl(
        &s.path,
        &[
            "--busy-timeout",
            "3000000s",
            "trip",
            "alpha",
            "--reason",
            "r",
        ],
    )
    .code(0);
    ctl(
        &s.path,
        &["--cooldown", "18446744073709551615", "reset", "alpha"],
    )
    .code(3);
    ctl(
        &s.path,
        &["--reset-timeout", "18446744073709551615", "status-all"],
    )
    .code(0);
    ctl(
        &s.path,
        &["doctor", "--alert-window", "18446744073709551615"],
    )
    .code(0);
    ctl(&s.path, &["audit", "--since", "18446744073709551615"]).code(0);
    ctl(
        &s.path,
        &[
            "audit",
            "--since",
            "0001-01-01T00:00:00Z",
            "--limit",
            "4294967295",
        ],
    )
    .code(0);
    // With --json, errors are one JSON document on stderr.
    let run = ctl(&s.path, &["--json", "audit", "--since", "garbage\x1b"]);
    run.code(2);
    let doc: serde_json::Value = serde_json::from_str(run.stderr.trim()).expect("JSON error");
    assert_eq!(doc["exitCode"], 2);
}

// ---------------------------------------------------------------------------------------------
// Property tests: bounded, deterministic per run; `PROPTEST_CASES=N` for a longer run.

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        // A hang is a failure too.
        timeout: 10_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Words a command line is made of: the real grammar, values near its edges, and anything.
fn word() -> impl Strategy<Value = String> {
    let known = prop::sample::select(vec![
        "status-all",
        "ls",
        "status",
        "trip",
        "reset",
        "audit",
        "verify",
        "init",
        "metrics",
        "doctor",
        "completions",
        "bash",
        "man",
        "repl",
        "serve",
        "help",
        "--help",
        "-h",
        "--version",
        "--db",
        "--json",
        "--output",
        "json",
        "table",
        "--color",
        "always",
        "never",
        "--busy-timeout",
        "--cooldown",
        "--failure-threshold",
        "--reset-timeout",
        "--reason",
        "--user",
        "--force",
        "--dry-run",
        "--yes",
        "--create",
        "--since",
        "--limit",
        "--action",
        "--tripped",
        "--watch",
        "--alert-window",
        "--listen",
        "alpha",
        "beta",
        "0",
        "1",
        "-1",
        "5s",
        "1h",
        "NaN",
        "--",
        "-",
        "=",
        "--reason=",
        "--limit=0",
        "TRIP",
        "RESET",
        "2026-11-28T10:00:00Z",
    ])
    .prop_map(str::to_owned);
    prop_oneof![
        6 => known,
        3 => any::<String>(),
        1 => "[\\x00-\\x1f\\u{7f}-\\u{9f}\\u{202a}-\\u{202e}'\";%_ ]{0,12}",
        1 => (1usize..12_000).prop_map(|n| "x".repeat(n)),
    ]
}

/// A value for a name, reason, user or option: known-good, hostile, huge or anything.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(vec![
            "alpha", "beta", "1h", "30m", "5s", "0", "10", "TRIP", "RESET_DENIED",
            "2026-11-28T10:00:00Z", "x'); DROP TABLE circuit_breaker_state; --", "100%_",
        ])
        .prop_map(str::to_owned),
        2 => any::<String>(),
        1 => "[a-z\\x00-\\x1f\\u{7f}-\\u{9f}\\u{200b}\\u{202e}\\u{2066}'\";%_ -]{0,16}",
        1 => (200usize..12_000).prop_map(|n| "é".repeat(n / 2)),
    ]
}

/// A command line that mostly gets past the grammar, so that the commands themselves run.
fn command_line() -> impl Strategy<Value = Vec<String>> {
    let v = value;
    let command = prop_oneof![
        Just(vec!["status-all".to_owned()]),
        Just(vec!["status-all".to_owned(), "--tripped".to_owned()]),
        v().prop_map(|n| vec!["status".to_owned(), n]),
        (v(), v(), any::<bool>(), prop::option::of(v())).prop_map(|(n, r, create, user)| {
            let mut a = vec!["trip".to_owned(), n, "--reason".to_owned(), r];
            if create {
                a.push("--create".to_owned());
            }
            if let Some(u) = user {
                a.extend(["--user".to_owned(), u]);
            }
            a
        }),
        (v(), prop::option::of(v()), any::<bool>(), any::<bool>()).prop_map(
            |(n, r, force, dry)| {
                let mut a = vec!["reset".to_owned(), n];
                if let Some(r) = r {
                    a.extend(["--reason".to_owned(), r]);
                }
                if force {
                    a.push("--force".to_owned());
                }
                if dry {
                    a.push("--dry-run".to_owned());
                }
                a
            }
        ),
        (
            prop::option::of(v()),
            prop::option::of(v()),
            prop::option::of(v()),
            prop::option::of(v()),
            prop::option::of(v()),
        )
            .prop_map(|(name, since, action, user, limit)| {
                let mut a = vec!["audit".to_owned()];
                a.extend(name);
                for (flag, value) in [
                    ("--since", since),
                    ("--action", action),
                    ("--user", user),
                    ("--limit", limit),
                ] {
                    if let Some(value) = value {
                        a.push(format!("{flag}={value}"));
                    }
                }
                a
            }),
        Just(vec!["audit".to_owned(), "verify".to_owned()]),
        v().prop_map(|w| vec!["doctor".to_owned(), format!("--alert-window={w}")]),
        Just(vec!["doctor".to_owned()]),
        Just(vec!["metrics".to_owned()]),
        Just(vec!["init".to_owned()]),
    ];
    let globals = prop::collection::vec(
        prop_oneof![
            Just(vec!["--json".to_owned()]),
            Just(vec!["--output".to_owned(), "json".to_owned()]),
            v().prop_map(|d| vec![format!("--busy-timeout={d}")]),
            v().prop_map(|d| vec![format!("--cooldown={d}")]),
            v().prop_map(|d| vec![format!("--failure-threshold={d}")]),
            v().prop_map(|d| vec![format!("--reset-timeout={d}")]),
        ],
        0..3,
    );
    (globals, command).prop_map(|(g, c)| g.into_iter().flatten().chain(c).collect())
}

/// Runs a parsed command in-process on `db` the way `main` does, unless it would block
/// (serve, repl, status-all --watch). Returns the exit code and what it printed.
fn execute_on(mut cli: Cli, db: &Path) -> Option<(i32, Vec<u8>)> {
    match &cli.command {
        None | Some(Command::Serve { .. } | Command::Repl) => return None,
        Some(Command::StatusAll { watch: Some(_), .. }) => return None,
        _ => {}
    }
    cli.global.db = db.to_owned();
    let mut out = Vec::new();
    let result = execute(
        &cli,
        &mut Invocation {
            out: &mut out,
            prompter: None,
        },
    );
    let code = match result {
        Ok(code) => code.code(),
        Err(e) => diagnose(&e).code.code(),
    };
    Some((code, out))
}

/// The property every parse must have: no panic, and an error is a usage error (exit 2),
/// help or version; a command that parses runs without panicking, to a documented exit code,
/// printing nothing raw that a terminal would interpret.
fn check_argv(argv: &[OsString], db: &Path) -> Result<(), TestCaseError> {
    match parse_from(argv) {
        Err(e) => {
            use clap::error::ErrorKind;
            if !matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let code = diagnose(&anyhow::Error::from(e)).code;
                prop_assert_eq!(code, ExitCode::Usage);
            }
        }
        Ok(cli) => {
            let colored = argv.iter().any(|a| a == "always");
            if let Some((code, out)) = execute_on(cli, db) {
                prop_assert!((0..=6).contains(&code), "exit {}", code);
                let text = String::from_utf8_lossy(&out);
                if !colored {
                    let raw: Vec<char> = text
                        .chars()
                        .filter(|c| dangerous(*c) && !matches!(c, '\n' | '\t'))
                        .collect();
                    prop_assert!(raw.is_empty(), "raw {:?} in output", raw);
                }
            }
        }
    }
    Ok(())
}

/// One database per property (made once, then changed by whatever the cases run).
fn fuzz_db(which: &'static str) -> std::path::PathBuf {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static DBS: OnceLock<Mutex<HashMap<&'static str, TempDb>>> = OnceLock::new();
    let mut dbs = DBS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    dbs.entry(which)
        .or_insert_with(|| {
            let s = TempDb::empty();
            populated(&s.path);
            s
        })
        .path
        .clone()
}

proptest! {
    #![proptest_config(cases(256))]

    /// Arbitrary argument vectors through the real grammar and, when they parse, the commands.
    #[test]
    fn fuzz_command_line(words in prop_oneof![
        3 => command_line(),
        1 => prop::collection::vec(word(), 0..7),
    ]) {
        let db = fuzz_db("command_line");
        let mut argv: Vec<OsString> = vec!["breakerctl".into()];
        argv.extend(words.iter().map(OsString::from));
        check_argv(&argv, &db)?;
    }

    /// Arbitrary REPL lines: shell-word splitting, then the same grammar after the session's
    /// global flags (as the REPL does), then the command.
    #[test]
    fn fuzz_repl_line(line in prop_oneof![
        3 => command_line().prop_map(shell_words::join),
        2 => prop::collection::vec(word(), 0..6).prop_map(|w| w.join(" ")),
        1 => any::<String>(),
        1 => "[a-z\\-\"' \\\\#\\x00-\\x1f\\u{202e}]{0,40}",
    ]) {
        let db = fuzz_db("repl_line");
        let Ok(words) = shell_words::split(&line) else {
            // The REPL answers "unbalanced quotes" (exit 2).
            return Ok(());
        };
        if matches!(words.first().map(String::as_str), Some("exit" | "quit") | None) {
            return Ok(());
        }
        let mut argv: Vec<OsString> = ["breakerctl", "--db"].map(OsString::from).to_vec();
        argv.push(db.clone().into());
        argv.extend(
            ["--output", "table", "--color", "never", "--busy-timeout", "5000ms"]
                .map(OsString::from),
        );
        argv.extend(words.iter().map(OsString::from));
        check_argv(&argv, &db)?;
    }

    /// Value parsers and escaping over arbitrary text.
    #[test]
    fn fuzz_values_and_escaping(s in any::<String>(), now in any::<i64>()) {
        let _ = breakerctl::cli::args::parse_duration(&s);
        let _ = breakerctl::cli::args::parse_threshold(&s);
        if let Err(e) = parse_since(&s, now) {
            prop_assert_eq!(diagnose(&e).code, ExitCode::Usage);
        }
        let escaped = escape(&s);
        prop_assert!(!escaped.chars().any(dangerous));
        if !s.chars().any(dangerous) {
            prop_assert_eq!(escaped.as_ref(), s.as_str());
        }
        let json = breakerctl::cli::output::to_json(&s).expect("json");
        prop_assert!(!json.chars().any(dangerous));
        let back: String = serde_json::from_str(&json).expect("round trip");
        prop_assert_eq!(back, s);
    }
}
