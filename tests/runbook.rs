//! runbook.md's examples are what the binary prints: the breakers its tables show are made
//! with the library (fanduel tripped by ten 503s, betmgm closed after a timeout and a
//! success, draftkings healthy), then each example's command runs, in the order that leaves
//! the state the next one shows, on a file standing in for the runbook's database. Its output
//! is compared with the runbook's after the same placeholders in both (times, ages), with the
//! runbook's user (`alice`) for whoever runs the test and the runbook's path for the file's.

use crate::support::fixture::TempDb;
use crate::support::run::{Run, breakerctl, run};
use crate::support::transcript::{as_user, login_name, loosely, normalised};
use std::time::Duration;

fn runbook() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/runbook.md")).expect("runbook")
}

/// Every `$ COMMAND` line of the runbook's ```text blocks, with the lines it shows after it.
fn examples(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    // The example being read: none at the start of a block, until its first `$ ` line.
    let mut current: Option<(String, String)> = None;
    let mut in_block = false;
    for line in text.lines() {
        if line.starts_with("```") {
            out.extend(current.take());
            in_block = line == "```text";
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            out.extend(current.replace((command.to_owned(), String::new())));
        } else if let Some((_, shown)) = &mut current {
            shown.push_str(line);
            shown.push('\n');
        }
    }
    for (_, shown) in &mut out {
        *shown = shown.trim_end().to_owned() + "\n";
    }
    out
}

/// The runbook's `export CIRCUIT_BREAKER_DB=PATH`.
fn runbook_db(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("export CIRCUIT_BREAKER_DB="))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the runbook exports CIRCUIT_BREAKER_DB")
        .to_owned()
}

#[test]
fn runbook_examples_are_what_the_binary_prints() {
    let text = runbook();
    let shown = examples(&text);
    let doc_db = runbook_db(&text);
    let login = login_name();

    let db = TempDb::new();
    let cb = db.library();
    cb.record_success("draftkings", Duration::from_micros(2100))
        .unwrap();
    cb.record_timeout("betmgm", "request timeout after 2000ms")
        .unwrap();
    cb.record_success("betmgm", Duration::from_micros(2100))
        .unwrap();
    for _ in 0..10 {
        cb.record_failure("fanduel", "503 Service Unavailable from upstream")
            .unwrap();
    }
    cb.flush().unwrap();
    drop(cb);

    // (command as the runbook writes it, settings of that run)
    let steps: &[(&str, &[(&str, &str)])] = &[
        (
            r#"breakerctl trip draftkings --reason "scheduled maintenance 02:00-03:00 UTC (TICKET-123)""#,
            &[],
        ),
        ("breakerctl status-all", &[]),
        ("breakerctl status fanduel", &[]),
        (
            r#"breakerctl reset fanduel --reason "upstream recovered""#,
            &[],
        ),
        ("echo $?", &[]),
        ("breakerctl reset fanduel --dry-run", &[]),
        ("breakerctl audit --limit 5", &[]),
        // After the bookmaker recovered: the cooldown is over by then.
        (
            r#"breakerctl reset fanduel --reason "fanduel confirmed recovery, INC-4711""#,
            &[("BREAKERCTL_COOLDOWN", "0s")],
        ),
    ];
    let mut last: Option<Run> = None;
    let mut checked = 0;
    for (step, (command, env)) in steps.iter().enumerate() {
        let printed = if *command == "echo $?" {
            format!("{}\n", last.as_ref().expect("a command before").code)
        } else {
            let words = shell_words::split(command).expect("the command splits");
            let mut cmd = breakerctl();
            cmd.args(&words[1..])
                .env("CIRCUIT_BREAKER_DB", &db.path)
                .env("BREAKERCTL_USER", &login);
            for (k, v) in *env {
                cmd.env(k, v);
            }
            let r = run(&mut cmd);
            r.no_panic();
            let printed = format!("{}{}", r.stdout, r.stderr);
            last = Some(r);
            printed
        };
        // The runbook's example of this command, the one after the previous step's.
        let Some((_, expected)) = shown.iter().find(|(c, _)| c == command) else {
            panic!("runbook.md has no example `$ {command}` any more (step {step})");
        };
        let printed =
            as_user(&printed, &login, "alice").replace(&db.path.display().to_string(), &doc_db);
        assert_eq!(
            loosely(&normalised(&printed)),
            loosely(&normalised(expected)),
            "runbook.md's `$ {command}` shows:\n{expected}\nthe binary prints:\n{printed}"
        );
        checked += 1;
    }
    assert_eq!(checked, steps.len());
}
