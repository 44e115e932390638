//! Run one parsed command line and report its result: the one path shared by the command line
//! and the REPL, from `execute` to the exit code, with errors printed in one place.

use super::args::{Cli, OutputFormat};
use super::commands;
use super::context::{Invocation, Prompter};
use super::exit::{ExitCode, diagnose};
use super::output;
use std::io::Write;

/// Runs `cli`, writing its output to `out`; prints any error on stderr (as JSON with `--json`)
/// and returns the exit code.
pub fn run_and_report<'a>(
    cli: &Cli,
    out: &'a mut dyn Write,
    prompter: Option<&'a mut dyn Prompter>,
) -> i32 {
    let json = cli.global.json || cli.global.output == OutputFormat::Json;
    let mut inv = Invocation { out, prompter };
    let result = commands::execute(cli, &mut inv).and_then(|code| {
        inv.out.flush()?;
        Ok(code)
    });
    match result {
        Ok(code) => code.code(),
        Err(e) => report_error(&e, json),
    }
}

/// Whether an error is a closed pipe on our output (`breakerctl status-all | head -1`).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Prints an error as one or two lines (or JSON) on stderr and returns its exit code.
pub fn report_error(e: &anyhow::Error, json: bool) -> i32 {
    if is_broken_pipe(e) {
        // The reader has what it wanted; that is a success.
        return ExitCode::Ok.code();
    }
    let d = diagnose(e);
    if json {
        print_json_error(&d.message, d.hint.as_deref(), d.code);
    } else {
        let message = output::escape(&d.message).into_owned();
        eprintln!("breakerctl: {message}");
        if let Some(hint) = d.hint {
            eprintln!("  {}", output::escape(&hint));
        }
    }
    d.code.code()
}

pub fn report_parse_error(e: &clap::Error, json: bool) -> i32 {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::Ok.code();
    }
    if json {
        let (message, hint) = parse_error_parts(&e.to_string());
        print_json_error(&message, Some(&hint), ExitCode::Usage);
    } else {
        let _ = e.print();
    }
    ExitCode::Usage.code()
}

/// clap's multi-line error as one line and a hint: "unexpected argument '--bogus' found" and
/// its tip (else where to find the usage).
fn parse_error_parts(text: &str) -> (String, String) {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid command line");
    let message = first.strip_prefix("error: ").unwrap_or(first).to_owned();
    let usage = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))
        .map(str::to_owned);
    let hint = lines
        .find_map(|l| l.strip_prefix("tip: ").map(str::to_owned))
        .or_else(|| usage.map(|u| format!("usage: {u}; see --help")))
        .unwrap_or_else(|| "see `breakerctl --help`".to_owned());
    (message, hint)
}

/// Every JSON error has one shape: `error` (one line), `hint` (a string or null, always
/// present) and `exitCode`; strings are escaped once, by the JSON encoder.
fn print_json_error(message: &str, hint: Option<&str>, code: ExitCode) {
    let one_line = |s: &str| {
        s.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let doc = serde_json::json!({
        "error": one_line(message),
        "hint": hint.map(one_line),
        "exitCode": code.code(),
    });
    match output::to_json_line(&doc) {
        Ok(line) => eprintln!("{line}"),
        Err(_) => eprintln!("{doc}"),
    }
}

pub fn wants_json(argv: &[std::ffi::OsString]) -> bool {
    argv.windows(2)
        .any(|w| w[0] == "--output" && w[1] == "json")
        || argv.iter().any(|a| a == "--json" || a == "--output=json")
}
