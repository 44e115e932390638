//! `status-all` on a real pseudo-terminal: the table fits the terminal's own width, with
//! rules; and `--watch` with more breakers than rows redraws in place within the screen (a
//! line with the counts and the time, open breakers first, "... N more closed"), follows a
//! resize, and never scrolls.

use crate::support::fixture::TempDb;
use crate::support::run::breakerctl;
use expectrl::process::unix::WaitStatus;
use expectrl::session::OsSession;
use expectrl::{ControlCode, Eof, Expect, Session};
use std::time::Duration;

const LONG_ERROR: &str = "503 Service Unavailable from upstream: the load balancer had no \
     healthy backends for pool odds-feed-primary after 3 retries";
const CALM: usize = 27;

/// 30 breakers: fanduel and sim-betmgm open, draftkings forced open, 27 closed.
fn crowded() -> TempDb {
    let f = TempDb::new();
    let cb = f.library();
    for i in 0..CALM {
        cb.record_failure(&format!("calm-bookmaker-{i:02}"), LONG_ERROR)
            .unwrap();
    }
    for _ in 0..10 {
        cb.record_failure("fanduel", LONG_ERROR).unwrap();
        cb.record_failure("sim-betmgm", "request timeout after 2000ms")
            .unwrap();
    }
    cb.trip("draftkings", "maintenance", "ops").unwrap();
    drop(cb);
    f
}

/// `breakerctl --db FILE args...` on a pseudo-terminal of 80 x 24 (ptyprocess's size).
fn on_pty(f: &TempDb, args: &[&str]) -> OsSession {
    let mut cmd = breakerctl();
    cmd.arg("--db")
        .arg(&f.path)
        .args(args)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    let mut session = Session::spawn(cmd).expect("spawn on a pty");
    session.set_expect_timeout(Some(Duration::from_secs(10)));
    session
}

/// Everything printed up to and including `needle`.
fn through(s: &mut OsSession, needle: &str) -> String {
    let found = s
        .expect(needle)
        .unwrap_or_else(|e| panic!("waiting for {needle:?}: {e}"));
    format!("{}{needle}", String::from_utf8_lossy(found.before()))
}

/// Everything printed until the end, once the process exited with `code`.
fn exits_with(s: &mut OsSession, code: i32) -> String {
    let found = s.expect(Eof).expect("end of output");
    let rest = String::from_utf8_lossy(found.get(0).unwrap_or_default()).into_owned();
    match s.get_process().wait().expect("wait") {
        WaitStatus::Exited(_, c) => assert_eq!(c, code),
        other => panic!("ended with {other:?}"),
    }
    rest
}

fn width(line: &str) -> usize {
    line.chars().count()
}

#[test]
fn status_all_fits_the_terminal_it_is_on() {
    let f = crowded();
    let mut s = on_pty(&f, &["status-all"]);
    let out = exits_with(&mut s, 0);
    let lines: Vec<&str> = out.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(lines[0].starts_with('─'), "ruled on a terminal:\n{out}");
    assert_eq!(lines.len(), 4 + 30, "one line per breaker:\n{out}");
    for line in &lines {
        assert!(width(line) <= 80, "{} columns: {line:?}", width(line));
    }
    for name in ["fanduel", "sim-betmgm", "draftkings", "calm-bookmaker-26"] {
        assert!(
            lines
                .iter()
                .any(|l| l.split_whitespace().next() == Some(name)),
            "{name} whole:\n{out}"
        );
    }
    assert!(out.contains('…'), "the long errors are cut:\n{out}");
}

/// One frame as the lines it draws, without the escape sequences that draw it.
fn frame_lines(frame: &str) -> Vec<String> {
    frame
        .replace("\x1b[2J", "")
        .replace("\x1b[K", "")
        .replace("\x1b[J", "")
        .replace("^C", "")
        .trim_end_matches(['\r', '\n'])
        .split("\r\n")
        .map(str::to_owned)
        .collect()
}

#[track_caller]
fn assert_frame(lines: &[String], columns: usize, rows: usize) {
    let text = lines.join("\n");
    assert!(
        lines.len() <= rows,
        "{} lines on {rows} rows:\n{text}",
        lines.len()
    );
    for line in lines {
        assert!(width(line) < columns, "{} columns: {line:?}", width(line));
    }
    // 30 breakers, 2 open, 1 forced_open, refreshed 14:03:07; Ctrl-C to stop
    let summary = &lines[0];
    let prefix = "30 breakers, 2 open, 1 forced_open, refreshed ";
    assert!(summary.starts_with(prefix), "{summary:?}");
    let time = &summary[prefix.len()..prefix.len() + 8];
    assert!(
        time.chars().enumerate().all(|(i, c)| if i == 2 || i == 5 {
            c == ':'
        } else {
            c.is_ascii_digit()
        }),
        "{summary:?}"
    );
    assert!(summary.ends_with("Ctrl-C to stop"), "{summary:?}");
    assert!(lines[1].starts_with('─') && lines[2].starts_with(" BOOKMAKER"));
    // The open breakers first, then closed ones, then what did not fit.
    let data: Vec<&String> = lines[4..lines.len() - 1].iter().collect();
    let firsts: Vec<&str> = data[..3]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(firsts, ["draftkings", "fanduel", "sim-betmgm"], "{text}");
    let note = data.last().unwrap();
    let hidden: usize = note
        .trim()
        .strip_prefix("... ")
        .and_then(|r| r.strip_suffix(" more closed"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no \"... N more closed\" line:\n{text}"));
    assert_eq!(data.len() - 1 + hidden, 30, "{text}");
    assert!(lines.last().unwrap().starts_with('─'), "{text}");
}

#[test]
fn watch_redraws_in_place_within_the_screen_and_follows_a_resize() {
    let f = crowded();
    let mut s = on_pty(&f, &["status-all", "--watch", "200ms"]);
    let mut out = String::new();
    for _ in 0..3 {
        out.push_str(&through(&mut s, "Ctrl-C to stop"));
    }
    s.get_process_mut()
        .set_window_size(100, 12)
        .expect("resize the pty");
    let before_resize = out.len();
    for _ in 0..4 {
        out.push_str(&through(&mut s, "Ctrl-C to stop"));
    }
    s.send(ControlCode::EndOfText).unwrap();
    out.push_str(&exits_with(&mut s, 0));

    // The screen is cleared once; every frame after starts at home and overwrites.
    assert_eq!(out.matches("\x1b[2J").count(), 1, "{out:?}");
    let frames: Vec<&str> = out.split("\x1b[H").skip(1).collect();
    assert!(frames.len() >= 6, "{} frames", frames.len());
    for frame in &frames[..frames.len() - 1] {
        assert!(
            !frame.ends_with('\n'),
            "a frame ending in a newline scrolls: {frame:?}"
        );
    }
    let first = frame_lines(frames[0]);
    assert_frame(&first, 80, 24);
    assert_eq!(
        first.len(),
        24,
        "the whole screen is used:\n{}",
        first.join("\n")
    );
    // After the resize: the new size.
    let last = frame_lines(frames.last().unwrap());
    assert_frame(&last, 100, 12);
    assert_eq!(last.len(), 12, "{}", last.join("\n"));
    assert!(
        out[before_resize..].contains("... 24 more closed"),
        "{out:?}"
    );
}

#[test]
fn a_resize_redraws_at_once() {
    let f = crowded();
    // An interval far longer than the test: only the resize can bring the second frame.
    let mut s = on_pty(&f, &["status-all", "--watch", "60s"]);
    let mut out = through(&mut s, "Ctrl-C to stop");
    s.get_process_mut()
        .set_window_size(100, 12)
        .expect("resize the pty");
    s.set_expect_timeout(Some(Duration::from_secs(5)));
    out.push_str(&through(&mut s, "Ctrl-C to stop"));
    s.send(ControlCode::EndOfText).unwrap();
    out.push_str(&exits_with(&mut s, 0));
    let frames: Vec<&str> = out.split("\x1b[H").skip(1).collect();
    assert_eq!(frames.len(), 2, "{out:?}");
    assert_frame(&frame_lines(frames[1]), 100, 12);
    assert_eq!(frame_lines(frames[1]).len(), 12);
}
