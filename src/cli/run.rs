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
    let message = output::escape(&d.message).into_owned();
    if json {
        let doc = serde_json::json!({
            "error": message,
            "hint": d.hint,
            "exitCode": d.code.code(),
        });
        eprintln!("{doc}");
    } else {
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
        let doc = serde_json::json!({
            "error": output::escape(e.to_string().trim_end()),
            "exitCode": ExitCode::Usage.code(),
        });
        eprintln!("{doc}");
    } else {
        let _ = e.print();
    }
    ExitCode::Usage.code()
}

pub fn wants_json(argv: &[std::ffi::OsString]) -> bool {
    argv.windows(2)
        .any(|w| w[0] == "--output" && w[1] == "json")
        || argv.iter().any(|a| a == "--json" || a == "--output=json")
}
