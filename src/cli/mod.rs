//! The operator CLI: `args` (the grammar) -> `commands` (the work) -> `output` (rendering);
//! `exit` maps every error to its exit code in one place. The REPL reuses all of it.

pub mod args;
pub mod commands;
pub mod complete;
pub mod doctor;
pub mod exit;
pub mod output;
pub mod repl;
pub mod simulate;

use args::Cli;
use clap::{CommandFactory, Parser};
use commands::Invocation;
use exit::{ExitCode, diagnose};
use std::io::{IsTerminal, Write};

/// The binary's whole life: parse, run, report. Returns the process exit code.
pub fn main_exit_code() -> i32 {
    // Answers the shell's dynamic-completion requests (COMPLETE=bash etc.) and exits.
    clap_complete::CompleteEnv::with_factory(Cli::command).complete();

    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => return report_parse_error(&e, wants_json(&argv)),
    };
    if cli.command.is_none() {
        if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
            return repl::run(&cli.global);
        }
        // Scripts must never hang waiting for a console that nobody sees.
        let _ = Cli::command().write_help(&mut std::io::stderr());
        eprintln!("\nbreakerctl: no command given (and not on a terminal, so no REPL)");
        return ExitCode::Usage.code();
    }
    if matches!(cli.command, Some(args::Command::Repl)) {
        return repl::run(&cli.global);
    }
    let json = cli.global.json || cli.global.output == args::OutputFormat::Json;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = commands::execute(
        &cli,
        &mut Invocation {
            out: &mut out,
            prompter: None,
        },
    )
    .and_then(|code| {
        out.flush()?;
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

fn report_parse_error(e: &clap::Error, json: bool) -> i32 {
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

fn wants_json(argv: &[std::ffi::OsString]) -> bool {
    argv.windows(2)
        .any(|w| w[0] == "--output" && w[1] == "json")
        || argv.iter().any(|a| a == "--json" || a == "--output=json")
}
