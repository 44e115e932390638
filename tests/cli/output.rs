//! What reaches the terminal: escaped untrusted text, color only when wanted, JSON errors,
//! the man page, completions, and a quiet exit when the reader goes away.

use crate::support::fixture::TempDb;
use crate::support::run::{breakerctl, run};
use assert_cmd::assert::OutputAssertExt;
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

/// An upstream error that would clear the screen and reverse the text after it.
const HOSTILE_ERROR: &str = "\u{1b}[2J\u{202e}gnp.exe 502";
const HOSTILE_REASON: &str = "ok \u{1b}]0;owned\u{7} \u{200b}done";
const HOSTILE_USER: &str = "mal\u{1b}[31mlory";
const HOSTILE_NAME: &str = "evil\u{1b}[8mbook\u{2066}";

#[track_caller]
fn assert_no_raw_controls(where_: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for c in text.chars() {
        let dangerous = matches!(c,
            '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
            | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        assert!(
            !dangerous,
            "{where_}: raw {:?} reached the output:\n{text}",
            c
        );
    }
}

fn hostile() -> TempDb {
    let f = TempDb::empty();
    let cb = f.library();
    cb.record_failure("bk", HOSTILE_ERROR).unwrap();
    cb.record_failure(HOSTILE_NAME, HOSTILE_ERROR).unwrap();
    drop(cb);
    f.cmd()
        .args([
            "trip",
            "bk",
            "--reason",
            HOSTILE_REASON,
            "--user",
            HOSTILE_USER,
        ])
        .assert()
        .success();
    f
}

#[test]
fn untrusted_text_is_escaped_in_every_table() {
    let f = hostile();

    let status = f.run(&["status", "bk"]);
    status.ok();
    assert_no_raw_controls("status", &status.raw_stdout);
    assert!(
        status
            .stdout
            .contains(r"last error  \x1b[2J\u{202e}gnp.exe 502"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains(r"mal\x1b[31mlory"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains(r"\x1b]0;owned\x07"),
        "{}",
        status.stdout
    );

    let all = f.run(&["status-all"]);
    all.ok();
    assert_no_raw_controls("status-all", &all.raw_stdout);
    assert!(
        all.stdout.contains(r"\x1b[2J\u{202e}gnp.exe 502"),
        "{}",
        all.stdout
    );
    assert!(
        all.stdout.contains(r"evil\x1b[8mbook\u{2066}"),
        "{}",
        all.stdout
    );

    let audit = f.run(&["audit"]);
    audit.ok();
    assert_no_raw_controls("audit", &audit.raw_stdout);
    assert!(
        audit.stdout.contains(r"mal\x1b[31mlory"),
        "{}",
        audit.stdout
    );
    assert!(
        audit.stdout.contains(r"ok \x1b]0;owned\x07 \u{200b}done"),
        "{}",
        audit.stdout
    );

    // Even with color on, the only escape sequences are our own SGR colors.
    let colored = f.run(&["--color", "always", "status", "bk"]);
    assert!(!colored.ok().stdout.contains("\u{1b}[2J"));
    assert!(!colored.stdout.contains('\u{202e}'));
}

#[test]
fn json_keeps_the_exact_text_without_raw_escapes() {
    let f = hostile();
    let r = f.run(&["--json", "status", "bk"]);
    r.ok();
    assert!(!r.raw_stdout.contains(&0x1b), "JSON escapes ESC as \\u001b");
    let doc = r.json();
    assert_eq!(doc["lastError"], HOSTILE_ERROR, "the data is exact");
    assert_eq!(doc["audit"][0]["user"], HOSTILE_USER);
    let all = f.run(&["--json", "status-all"]);
    assert!(!all.ok().raw_stdout.contains(&0x1b));
    let audit = f.run(&["--json", "audit"]);
    assert!(!audit.ok().raw_stdout.contains(&0x1b));
    assert_eq!(audit.json()[0]["reason"], HOSTILE_REASON);
}

#[test]
fn untrusted_names_in_errors_are_escaped() {
    let f = hostile();
    let typo = "evil\u{1b}[8mbok";
    for args in [
        vec!["status", typo],
        vec!["trip", typo, "--reason", "x"],
        vec!["reset", typo],
    ] {
        let r = f.run(&args);
        r.code(4);
        assert_no_raw_controls("stderr", r.stderr.as_bytes());
        assert!(r.stderr.contains(r"\x1b"), "{}", r.stderr);
    }
    let r = f.run(&["--json", "status", typo]);
    r.code(4);
    assert!(!r.stderr.as_bytes().contains(&0x1b), "{}", r.stderr);
    f.run(&["audit", "--since", "\u{1b}[2J"]).code(2);
    let r = f.run(&["audit", "--action", "\u{1b}[2J"]);
    r.code(2);
    assert_no_raw_controls("stderr", r.stderr.as_bytes());
}

#[test]
fn json_errors_go_to_stderr_as_one_document() {
    let f = TempDb::with(&["fanduel"]);
    for (args, code) in [
        (&["--json", "status", "nope"][..], 4),
        (&["--output", "json", "status", "nope"], 4),
        (&["--output=json", "status", "nope"], 4),
        (&["--json", "audit", "--limit", "0"], 2),
        (&["--json", "audit", "--since", "garbage"], 2),
        (&["--json", "trip", "fanduel"], 2),
        (&["--json", "reset", "fanduel", "--force"], 2),
    ] {
        let r = f.run(args);
        r.code(code);
        assert!(r.stdout.is_empty(), "{args:?} printed {}", r.stdout);
        let err = r.stderr_json();
        assert_eq!(err["exitCode"], code, "{args:?}");
        assert!(
            err["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{args:?}: {err}"
        );
    }
    // In table mode an error is prose.
    let r = f.run(&["status", "nope"]);
    r.code(4);
    assert!(
        r.stderr.starts_with("breakerctl: unknown breaker"),
        "{}",
        r.stderr
    );
}

fn tripped() -> TempDb {
    let f = TempDb::with(&["alpha"]);
    let cb = f.library();
    cb.trip("zulu", "maintenance", "ops").unwrap();
    drop(cb);
    f
}

#[test]
fn color_only_when_asked() {
    let f = tripped();
    let sgr = "\u{1b}[";
    let always = f.run(&["--color", "always", "status-all"]);
    assert!(always.ok().stdout.contains(sgr), "{}", always.stdout);
    let forced = f.run(&["--color", "always", "status", "zulu"]);
    assert!(forced.ok().stdout.contains(sgr));

    assert!(
        !f.run(&["--color", "never", "status-all"])
            .ok()
            .stdout
            .contains(sgr)
    );
    // auto: off when not a terminal (as here).
    assert!(!f.run(&["status-all"]).ok().stdout.contains(sgr));
    let no_color = run(f.cmd().env("NO_COLOR", "1").arg("status-all"));
    assert!(!no_color.ok().stdout.contains(sgr));
    let clicolor = run(f.cmd().env("CLICOLOR_FORCE", "1").arg("status-all"));
    assert!(
        clicolor.ok().stdout.contains(sgr),
        "CLICOLOR_FORCE forces color"
    );
    let both = run(f
        .cmd()
        .env("CLICOLOR_FORCE", "1")
        .env("NO_COLOR", "1")
        .arg("status-all"));
    assert!(!both.ok().stdout.contains(sgr), "NO_COLOR wins");
    // JSON is never colored.
    let json = f.run(&["--color", "always", "--json", "status-all"]);
    assert!(!json.ok().stdout.contains('\u{1b}'));
    json.json();
}

#[test]
fn man_page_is_roff_and_help_lists_exit_codes() {
    let r = run(breakerctl().arg("man"));
    r.ok();
    assert!(
        r.stdout.starts_with(".ie \\n(.g .ds Aq"),
        "{}",
        &r.stdout[..80]
    );
    assert!(r.stdout.contains("\n.TH breakerctl 1"), "has a title line");
    assert!(r.stdout.contains("\n.SH NAME"));
    assert!(r.stdout.contains("status\\-all") || r.stdout.contains("status-all"));

    let help = run(breakerctl().arg("--help"));
    assert!(help.ok().stdout.contains("Exit codes:"));
    assert!(help.stdout.contains("5  database busy"));
    let version = run(breakerctl().arg("--version"));
    assert!(version.ok().stdout.starts_with("breakerctl "));
    // No command and no terminal: help on stderr, exit 2, never a hanging REPL.
    let bare = run(&mut breakerctl());
    bare.code(2);
    assert!(bare.stderr.contains("no command given"), "{}", bare.stderr);
}

/// A database with `n` breakers, written directly for speed.
fn many(n: usize) -> TempDb {
    let f = TempDb::new();
    let mut conn = f.conn();
    let tx = conn.transaction().unwrap();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO circuit_breaker_state (bookmaker, failure_count, last_error, \
                 last_failure_at, updated_at) VALUES (?1, 1, 'timeout talking to upstream', ?2, ?2)",
            )
            .unwrap();
        let now = crate::support::breaker::now_ms();
        for i in 0..n {
            insert
                .execute(rusqlite::params![format!("bookmaker-{i:05}"), now])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    f
}

/// Runs `args`, reads one line of output, closes the pipe and waits.
fn read_one_line_then_close(f: &TempDb, args: &[&str]) -> (i32, String, String) {
    let mut child = f
        .cmd()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn breakerctl");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    drop(stdout);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    (
        status.code().expect("not killed by a signal"),
        first,
        stderr,
    )
}

#[test]
fn a_closed_pipe_ends_quietly_with_0() {
    let f = many(3000);
    for args in [
        &["status-all"][..],
        &["status-all", "--json"],
        &["metrics"],
        &["status-all", "--watch", "100ms"],
    ] {
        let (code, first, stderr) = read_one_line_then_close(&f, args);
        assert!(!first.is_empty(), "{args:?} printed something first");
        assert_eq!(code, 0, "{args:?} exit code; stderr: {stderr}");
        assert!(
            !stderr.to_lowercase().contains("broken pipe") && !stderr.contains("panicked"),
            "{args:?} stderr: {stderr}"
        );
        assert!(stderr.is_empty(), "{args:?} stderr: {stderr}");
    }
}

#[test]
fn a_reader_gone_before_anything_is_written_is_also_fine() {
    let f = TempDb::with(&["alpha"]);
    for args in [
        &["completions", "bash"][..],
        &["completions", "zsh"],
        &["man"],
        &["status-all"],
    ] {
        let mut child = f
            .cmd()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn breakerctl");
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
