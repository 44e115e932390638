//! The console, driven through a real pseudo-terminal: completion, commands, the cooldown and
//! the forced-reset confirmation, Ctrl-C, Ctrl-D, the database afterwards and the history file
//! (also with two consoles writing it at once). And plain `breakerctl` off a terminal must
//! never wait for input.

use crate::support::fixture::TempDb;
use crate::support::run::breakerctl;
use expectrl::process::unix::WaitStatus;
use expectrl::session::OsSession;
use expectrl::{ControlCode, Eof, Expect, Session};
use serde_json::Value;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A temporary database with `pinnacle` and `betfair` tripped, and a private state folder.
struct Fixture {
    dir: tempfile::TempDir,
    db: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        // The console's prompt shows the file's name.
        let TempDb { dir, path: db } = TempDb::named("cb.db");
        let f = Fixture { dir, db };
        f.cli(&["init"]);
        for name in ["pinnacle", "betfair"] {
            f.cli(&["trip", name, "--create", "--reason", "seed"]);
        }
        f
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn history(&self) -> Vec<String> {
        let path = self.state().join("breakerctl").join("history");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The console's own settings, on top of the clean environment of `breakerctl()`.
    fn env(&self, cmd: &mut Command) {
        cmd.env("HOME", self.dir.path())
            .env("XDG_STATE_HOME", self.state())
            .env("NO_COLOR", "1")
            .env("TERM", "xterm");
    }

    /// Runs the CLI (no terminal) and returns its stdout; it must succeed.
    fn cli(&self, args: &[&str]) -> String {
        let mut cmd = breakerctl();
        cmd.args(args)
            .arg("--db")
            .arg(&self.db)
            .stdin(Stdio::null());
        self.env(&mut cmd);
        let out = cmd.output().expect("run breakerctl");
        assert!(
            out.status.success(),
            "breakerctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&self.cli(&all)).expect("json")
    }

    /// The console on a pseudo-terminal, started with `args` before `--db`.
    fn console(&self, args: &[&str]) -> OsSession {
        let mut cmd = breakerctl();
        cmd.args(args).arg("--db").arg(&self.db);
        self.env(&mut cmd);
        let mut session = Session::spawn(cmd).expect("spawn on a pty");
        session.set_expect_timeout(Some(Duration::from_secs(10)));
        session
    }
}

/// Waits for `needle` and returns everything printed before it.
fn until(s: &mut OsSession, needle: &str) -> String {
    let found = s
        .expect(needle)
        .unwrap_or_else(|e| panic!("waiting for {needle:?}: {e}"));
    String::from_utf8_lossy(found.before()).into_owned()
}

fn exits_with(s: &mut OsSession, code: i32) {
    s.expect(Eof).expect("end of output");
    match s.get_process().wait().expect("wait") {
        WaitStatus::Exited(_, c) => assert_eq!(c, code),
        other => panic!("console ended with {other:?}"),
    }
}

fn state_of(rows: &Value, name: &str) -> String {
    rows.as_array()
        .expect("array")
        .iter()
        .find(|r| r["bookmaker"] == name)
        .unwrap_or_else(|| panic!("no row for {name}"))["state"]
        .as_str()
        .expect("state")
        .to_owned()
}

#[test]
fn console_session_end_to_end() {
    let f = Fixture::new();
    // Plain `breakerctl` on a terminal is the console.
    let mut s = f.console(&[]);
    until(&mut s, "cb.db [2 open] > ");

    // Tab completes a bookmaker name read from the database; Enter runs it.
    s.send("status pin").unwrap();
    s.send(ControlCode::HorizontalTabulation).unwrap();
    s.send("\r").unwrap();
    let out = until(&mut s, "latest audit rows");
    assert!(out.contains("bookmaker  pinnacle"), "{out}");
    assert!(out.contains("state  forced_open"), "{out}");
    until(&mut s, "cb.db [2 open] > ");

    s.send("status-all\r").unwrap();
    until(&mut s, "BOOKMAKER");
    let table = until(&mut s, "cb.db [2 open] > ");
    assert!(
        table.contains("betfair") && table.contains("pinnacle"),
        "{table}"
    );

    // An open quote continues on the next line, on a prompt of its own.
    s.send("trip bet365 --create --reason 'maintenance\r")
        .unwrap();
    until(&mut s, "the ' quote is open");
    s.send("window'\r").unwrap();
    until(&mut s, "tripped bet365: now forced_open");
    until(&mut s, "cb.db [3 open] > ");

    // The cooldown denies a plain reset; the session goes on and shows the code.
    s.send("reset bet365 --reason done\r").unwrap();
    until(&mut s, "reset denied");
    until(&mut s, "cb.db [3 open] [exit 3] > ");

    // A forced reset asks for the name: a wrong answer writes nothing...
    s.send("reset bet365 --force --reason 'fixed upstream'\r")
        .unwrap();
    until(&mut s, "type the name to confirm: ");
    s.send("bet36\r").unwrap();
    until(
        &mut s,
        "forced reset cancelled: you typed 'bet36', expected 'bet365'; nothing written",
    );
    until(&mut s, "cb.db [3 open] [exit 1] > ");
    // ...the right one resets.
    s.send("reset bet365 --force --reason 'fixed upstream'\r")
        .unwrap();
    until(&mut s, "type the name to confirm: ");
    s.send("bet365\r").unwrap();
    until(&mut s, "reset bet365 (forced): now closed");
    until(&mut s, "cb.db [2 open] > ");

    // A line starting with a space runs but is not recorded.
    s.send(" audit --limit 1\r").unwrap();
    until(&mut s, "ACTION");
    until(&mut s, "cb.db [2 open] > ");

    // Ctrl-C drops a half-typed line; the next line starts empty.
    s.send("trip pinna").unwrap();
    s.send(ControlCode::EndOfText).unwrap();
    until(&mut s, "trip pinna^C");
    until(&mut s, "cb.db [2 open] > ");
    s.send("status-all --tripped\r").unwrap();
    until(&mut s, "BOOKMAKER");
    let out = until(&mut s, "cb.db [2 open] > ");
    assert!(out.contains("pinnacle") && !out.contains("bet365"), "{out}");

    // Ctrl-D leaves with status 0.
    s.send(ControlCode::EndOfTransmission).unwrap();
    exits_with(&mut s, 0);

    let rows = f.json(&["status-all"]);
    assert_eq!(state_of(&rows, "bet365"), "closed");
    assert_eq!(state_of(&rows, "pinnacle"), "forced_open");
    assert_eq!(state_of(&rows, "betfair"), "forced_open");
    // Newest first: the forced reset, the denial, the trip; the cancelled one wrote nothing.
    let audit = f.json(&["audit", "bet365"]);
    let audit = audit.as_array().expect("array");
    let actions: Vec<&str> = audit
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["RESET", "RESET_DENIED", "TRIP"]);
    assert_eq!(audit[0]["forced"], true);
    assert_eq!(audit[0]["user"], "tester");
    assert_eq!(audit[0]["reason"], "fixed upstream");
    assert_eq!(audit[2]["reason"], "maintenance\nwindow");

    assert_eq!(
        f.history(),
        [
            "#V2",
            "status pinnacle",
            "status-all",
            r"trip bet365 --create --reason 'maintenance\nwindow'",
            "reset bet365 --reason done",
            "reset bet365 --force --reason 'fixed upstream'",
            "status-all --tripped",
        ]
    );
}

/// A quote left open (an apostrophe in a reason) used to swallow the next commands silently:
/// the continuation line had no prompt. Now it has one, says why, and Ctrl-C drops it all.
#[test]
fn an_open_quote_shows_a_continuation_prompt_and_ctrl_c_cancels_it() {
    let f = Fixture::new();
    let mut s = f.console(&[]);
    until(&mut s, "cb.db [2 open] > ");
    s.send("trip bet365 --create --reason 'it's down'\r")
        .unwrap();
    let shown = until(&mut s, "Ctrl-C cancels");
    assert!(shown.contains("... "), "continuation prompt: {shown:?}");
    assert!(shown.contains("the ' quote is open"), "{shown:?}");
    // What is typed now belongs to the open command...
    s.send("status-all\r").unwrap();
    until(&mut s, "Ctrl-C cancels");
    // ...until Ctrl-C drops it: nothing ran.
    s.send(ControlCode::EndOfText).unwrap();
    until(&mut s, "cb.db [2 open] > ");
    s.send("status bet365\r").unwrap();
    until(&mut s, "unknown breaker");
    until(&mut s, "cb.db [2 open] [exit 4] > ");
    s.send(ControlCode::EndOfTransmission).unwrap();
    exits_with(&mut s, 0);
    // No breaker and no audit row: `audit bet365` would be exit 4 (unknown); none is listed.
    let all = f.json(&["status-all"]);
    assert!(
        all.as_array()
            .expect("rows")
            .iter()
            .all(|r| r["bookmaker"] != "bet365"),
        "{all}"
    );
    assert!(!f.cli(&["audit", "--json"]).contains("bet365"));
}

/// `help` wraps at word boundaries to the terminal's width (it used to leave that to the
/// terminal, which breaks words); an unknown command gets the console's own words.
#[test]
fn help_wraps_to_the_terminal_and_unknown_commands_say_so() {
    let f = Fixture::new();
    let mut s = f.console(&[]);
    s.get_process_mut()
        .set_window_size(60, 40)
        .expect("window size");
    until(&mut s, "cb.db [2 open] > ");
    s.send("help\r").unwrap();
    until(&mut s, "Commands (the same as on the command line):");
    let help = until(&mut s, "cb.db [2 open] > ");
    for line in help.lines() {
        let line = line.trim_end_matches('\r');
        assert!(
            line.chars().count() <= 60,
            "wider than 60: {line:?}\n{help}"
        );
    }
    let joined = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for about in [
        "Check the database: integrity, journal mode, schema, probe leases, WAL size, clock skew, long trips and the audit chain (exit 0 healthy, 1 problems, 6 unusable)",
        "Close a breaker; refused inside the cooldown unless --force",
    ] {
        assert!(joined.contains(about), "{about:?} in\n{help}");
    }

    s.send("stauts pinnacle\r").unwrap();
    let out = until(&mut s, "cb.db [2 open] [exit 2] > ");
    assert!(
        out.contains("unknown command 'stauts'; type help to list the commands"),
        "{out}"
    );
    assert!(out.contains("did you mean 'status'"), "{out}");
    assert!(!out.contains("Usage:"), "{out}");
    s.send("exit\r").unwrap();
    exits_with(&mut s, 0);
}

/// One name stored as invalid UTF-8 used to leave the console with no names to complete.
#[test]
fn console_completes_the_good_names_beside_a_badly_encoded_one() {
    let f = Fixture::new();
    for name in [
        "sim-alpha",
        "sim-bravo",
        "sim-charlie",
        "sim-delta",
        "badbyte",
    ] {
        f.cli(&["trip", name, "--create", "--reason", "seed"]);
    }
    crate::support::fixture::rename_to_bytes(&f.db, "badbyte", b"badbyte\xff");
    let mut s = f.console(&[]);
    until(&mut s, "cb.db [7 open] > ");
    s.send("status sim-").unwrap();
    s.send(ControlCode::HorizontalTabulation).unwrap();
    s.send(ControlCode::HorizontalTabulation).unwrap();
    let listed = until(&mut s, "sim-delta");
    for name in ["sim-alpha", "sim-bravo", "sim-charlie"] {
        assert!(listed.contains(name), "{name} in {listed:?}");
    }
    s.send("al").unwrap();
    s.send(ControlCode::HorizontalTabulation).unwrap();
    s.send("\r").unwrap();
    let out = until(&mut s, "latest audit rows");
    assert!(out.contains("bookmaker  sim-alpha"), "{out}");
    until(&mut s, "cb.db [7 open] > ");
    // The bad one by its escaped form, as status-all shows it.
    s.send("status 'badbyte\\xff'\r").unwrap();
    let out = until(&mut s, "latest audit rows");
    assert!(out.contains(r"bookmaker  badbyte\xff"), "{out}");
    until(&mut s, "cb.db [7 open] > ");
    s.send(ControlCode::EndOfTransmission).unwrap();
    exits_with(&mut s, 0);
}

/// Piped input is a script: no prompt, no history, the first failing line stops it and its
/// exit code is the script's. It used to run every line, exit 0 and record them all.
#[test]
fn piped_input_runs_as_a_script_that_stops_at_the_first_failure() {
    let f = Fixture::new();
    let script = |input: &str| {
        let mut cmd = breakerctl();
        cmd.arg("--db").arg(&f.db).arg("repl");
        f.env(&mut cmd);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write script");
        crate::support::run::Run::from_output(child.wait_with_output().expect("output"))
    };

    let failed = script("status-all --tripped\nstatus nope\ntrip betfair --reason never\n");
    failed.code(4).says(&[
        "unknown breaker \"nope\"",
        "script stopped at line 2 (exit 4)",
    ]);
    assert!(failed.stdout.contains("pinnacle"), "{}", failed.stdout);
    assert!(
        !failed.stdout.contains("cb.db ["),
        "no prompt: {}",
        failed.stdout
    );
    assert!(
        !failed.stdout.contains("console on"),
        "no banner: {}",
        failed.stdout
    );

    // A quoted value may span lines; every line succeeding is exit 0.
    let passed = script("# checks\ntrip bet365 --create --reason 'two\nlines'\n\nstatus bet365\n");
    passed.ok();
    assert!(
        passed.stdout.contains("tripped bet365"),
        "{}",
        passed.stdout
    );
    let audit = f.json(&["audit", "bet365"]);
    assert_eq!(audit[0]["reason"], "two\nlines");

    let open = script("trip pinnacle --reason 'never closed\n");
    open.code(2).says(&["line 1", "quote is never closed"]);

    assert!(!f.state().exists(), "no history from a script");
    // Nothing after the failing line ran.
    let betfair = f.json(&["audit", "betfair"]);
    assert_eq!(betfair.as_array().expect("rows").len(), 1, "{betfair}");

    let help = f.cli(&["repl", "--help"]);
    assert!(help.contains("stdin is not a terminal"), "{help}");
}

#[test]
fn two_consoles_share_the_history_and_ctrl_c_ends_a_watch() {
    let f = Fixture::new();
    let mut a = f.console(&["repl"]);
    let mut b = f.console(&["repl"]);
    until(&mut a, "cb.db [2 open] > ");
    until(&mut b, "cb.db [2 open] > ");

    a.send("status-all\r").unwrap();
    until(&mut a, "BOOKMAKER");
    until(&mut a, "cb.db [2 open] > ");
    b.send("audit --limit 5\r").unwrap();
    until(&mut b, "ACTION");
    until(&mut b, "cb.db [2 open] > ");
    a.send("status betfair\r").unwrap();
    until(&mut a, "latest audit rows");
    until(&mut a, "cb.db [2 open] > ");

    // Ctrl-C ends the watch, not the console.
    b.send("status-all --watch 1s\r").unwrap();
    until(&mut b, "Ctrl-C to stop");
    b.send(ControlCode::EndOfText).unwrap();
    until(&mut b, "cb.db [2 open] > ");
    b.send("exit\r").unwrap();
    exits_with(&mut b, 0);
    a.send("quit\r").unwrap();
    exits_with(&mut a, 0);

    let history = f.history();
    for line in [
        "status-all",
        "audit --limit 5",
        "status betfair",
        "status-all --watch 1s",
        "exit",
        "quit",
    ] {
        let n = history.iter().filter(|h| *h == line).count();
        assert_eq!(n, 1, "{line:?} in {history:?}");
    }
}

#[test]
fn plain_breakerctl_off_a_terminal_does_not_wait() {
    let f = Fixture::new();
    let mut cmd = breakerctl();
    cmd.arg("--db")
        .arg(&f.db)
        // A pipe that stays open: a program reading it would block for ever.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    f.env(&mut cmd);
    let mut child = cmd.spawn().expect("spawn");
    let _stdin = child.stdin.take();
    let started = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if started.elapsed() > Duration::from_secs(10) {
            child.kill().ok();
            panic!("plain breakerctl waited for input");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not on a terminal"), "{stderr}");
    assert!(!f.state().exists(), "no history without a console");
}
