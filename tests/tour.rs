//! The README's tour is `scripts/tour.sh`, and the README shows what it prints: this runs the
//! script with the real binary on a terminal (a pseudo-terminal, 100 columns as the README
//! says) in an empty folder, and compares its output with the README's block, after putting
//! the same placeholder in both for what differs from run to run or machine to machine: times,
//! the chain's hash, and the user, who is whoever runs it (the README says `dana`). A name
//! longer or shorter than that pads the USER column differently, so the comparison takes any
//! run of spaces between words as one column gap and any rule as one rule: every word, every
//! line and every column is still compared.
//!
//! After changing what the tour prints, rewrite the block with
//! `UPDATE_TOUR=1 cargo test --test integration tour::` and read the diff (the user is
//! written as `dana`; with a login name of another length than 4, mend the padding by hand).

use crate::support::env::clean_command;
use crate::support::run::bin;
use crate::support::transcript::{as_user, login_name, loosely, normalised, plain};
use expectrl::process::unix::WaitStatus;
use expectrl::session::OsSession;
use expectrl::{Eof, Expect, Session};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The comment line above the README's console session.
const REPL_MARKER: &str = "<!-- the REPL on the tour's database (tests/tour.rs checks it) -->\n";

/// The user the README's block shows.
const README_USER: &str = "dana";

/// The comment line above the README's block.
const MARKER: &str = "<!-- scripts/tour.sh prints this (tests/tour.rs checks it) -->\n";

fn readme() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")
}

/// The README's block below `marker`: where it starts and ends in `text`.
fn block_after(text: &str, marker: &str) -> (usize, usize) {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("README.md has the marker line {marker:?}"));
    let start = at + marker.len() + "```text\n".len();
    assert_eq!(
        &text[at + marker.len()..start],
        "```text\n",
        "a ```text block follows the marker"
    );
    // The closing fence is the first line that is one.
    let len = if text[start..].starts_with("```\n") {
        0
    } else {
        text[start..].find("\n```\n").expect("the block ends") + 1
    };
    (start, start + len)
}

/// What the script prints on a terminal, with the exit code it ends with.
fn run_tour(folder: &Path) -> (String, i32) {
    run_tour_with(folder, &bin())
}

fn run_tour_with(folder: &Path, binary: &Path) -> (String, i32) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/tour.sh");
    let mut cmd = clean_command(Path::new("bash"));
    cmd.arg(&script)
        .current_dir(folder)
        .env("BREAKERCTL", binary)
        .env("BREAKERCTL_USER", login_name())
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    let mut session = Session::spawn(cmd).expect("spawn the tour on a pty");
    session.set_expect_timeout(Some(Duration::from_secs(60)));
    let found = session.expect(Eof).expect("the tour ends");
    let out = String::from_utf8_lossy(found.get(0).unwrap_or_default()).replace("\r\n", "\n");
    let code = match session.get_process().wait().expect("wait for the tour") {
        WaitStatus::Exited(_, code) => code,
        other => panic!("the tour ended with {other:?}:\n{out}"),
    };
    (out, code)
}

#[test]
fn readme_tour_is_what_the_script_prints() {
    let folder = tempfile::tempdir().expect("tempdir");
    let (printed, code) = run_tour(folder.path());
    assert_eq!(code, 0, "the tour failed:\n{printed}");
    // It made its own database, where it said.
    assert!(folder.path().join("data/tour.db").is_file());

    let login = login_name();
    let printed = as_user(printed.trim_end(), &login, README_USER);
    let text = std::fs::read_to_string(readme()).expect("README.md");
    let (start, end) = block_after(&text, MARKER);
    if std::env::var_os("UPDATE_TOUR").is_some_and(|v| !v.is_empty()) {
        let updated = format!("{}{}\n{}", &text[..start], printed.trim_end(), &text[end..]);
        std::fs::write(readme(), updated).expect("write README.md");
        return;
    }
    let shown = loosely(&normalised(&text[start..end]));
    let printed = loosely(&normalised(&printed));
    if shown != printed {
        let first = shown
            .lines()
            .zip(printed.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| shown.lines().count().min(printed.lines().count()));
        panic!(
            "README.md's tour differs from what scripts/tour.sh prints (as {login}), from line \
             {} of the block:\n--- README\n{}\n--- printed\n{}\n(rewrite the block with \
             `UPDATE_TOUR=1 cargo test --test integration tour::`)",
            first + 1,
            shown
                .lines()
                .skip(first)
                .take(5)
                .collect::<Vec<_>>()
                .join("\n"),
            printed
                .lines()
                .skip(first)
                .take(5)
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
}

/// A second run starts from nothing again (the tour's database is its own), and the script
/// stops with exit 1 when a command does not exit as the tour expects.
#[test]
fn the_tour_starts_afresh_and_stops_at_a_surprise() {
    let folder = tempfile::tempdir().expect("tempdir");
    let (first, code) = run_tour(folder.path());
    assert_eq!(code, 0, "{first}");
    let (again, code) = run_tour(folder.path());
    assert_eq!(code, 0, "{again}");
    assert_eq!(normalised(&first), normalised(&again));

    // A command that exits otherwise than the tour expects stops it, saying which.
    let fake = folder.path().join("fake-breakerctl");
    std::fs::write(&fake, "#!/bin/sh\necho \"fake $*\"\nexit 7\n").expect("write fake");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (out, code) = run_tour_with(folder.path(), &fake);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.ends_with(
            "$ breakerctl init\nfake init\ntour: `breakerctl init` exited 7, expected 0\n"
        ),
        "{out}"
    );
}

/// Waits for `needle`; returns what came before it, as a terminal shows it.
fn until(s: &mut OsSession, needle: &str) -> String {
    let found = s
        .expect(needle)
        .unwrap_or_else(|e| panic!("waiting for {needle:?}: {e}"));
    plain(found.before())
}

/// Asserts that `printed` shows every line of `expected` (times and ages aside).
#[track_caller]
fn shows(printed: &str, expected: &[&str]) {
    let printed = normalised(printed);
    for line in expected {
        assert!(
            printed.contains(&normalised(line)),
            "README's console session says {line:?}; the console printed:\n{printed}"
        );
    }
}

/// README's console session, typed into the console on a terminal, on the database the
/// tour leaves: every line it shows is printed, and every prompt is the console's.
#[test]
fn readme_console_session_runs_on_the_tours_database() {
    let folder = tempfile::tempdir().expect("tempdir");
    let (printed, code) = run_tour(folder.path());
    assert_eq!(code, 0, "{printed}");
    let text = std::fs::read_to_string(readme()).expect("README.md");
    let (start, end) = block_after(&text, REPL_MARKER);
    let lines: Vec<&str> = text[start..end].lines().collect();
    let args = lines[0]
        .strip_prefix("$ breakerctl ")
        .map(|a| shell_words::split(a).expect("the command line splits"))
        .expect("the session starts with `$ breakerctl ...`");
    let mut cmd = clean_command(&bin());
    cmd.args(&args)
        .current_dir(folder.path())
        .env("HOME", folder.path())
        .env("XDG_STATE_HOME", folder.path().join("state"))
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    let mut s = Session::spawn(cmd).expect("spawn the console on a pty");
    s.set_expect_timeout(Some(Duration::from_secs(20)));
    const CONFIRM: &str = "type the name to confirm: ";
    let mut expected: Vec<&str> = Vec::new();
    let mut prompts = 0;
    for line in &lines[1..] {
        // `tour.db [1 open] [exit 3] > typed`, or `...; type the name to confirm: typed`.
        let asked = line
            .find("] > ")
            .map(|i| i + "] > ".len())
            .or_else(|| line.find(CONFIRM).map(|i| i + CONFIRM.len()));
        let Some(at) = asked else {
            expected.push(line);
            continue;
        };
        let (ask, typed) = line.split_at(at);
        let before = until(&mut s, ask);
        shows(&before, &expected);
        expected.clear();
        prompts += 1;
        s.send(format!("{typed}\r")).expect("type");
    }
    assert!(prompts >= 4, "the session types something");
    let rest = s.expect(Eof).expect("the console ends");
    shows(&plain(rest.get(0).unwrap_or_default()), &expected);
    match s.get_process().wait().expect("wait") {
        WaitStatus::Exited(_, 0) => {}
        other => panic!("the console ended with {other:?}"),
    }
}
