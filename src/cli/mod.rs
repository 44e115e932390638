//! The operator CLI: `args` (the grammar) -> `commands` (the work) -> `output` (rendering);
//! `exit` maps every error to its exit code in one place. The REPL reuses all of it.

pub mod args;
pub mod commands;
pub mod complete;
pub mod context;
pub mod doctor;
pub mod exit;
pub mod man;
pub mod output;
pub mod repl;
pub mod run;
pub mod settings;
pub mod simulate;
pub mod table;
pub mod target;
pub mod text;

use exit::ExitCode;
pub use run::{is_broken_pipe, report_error};
use run::{report_parse_error, wants_json};
use std::io::IsTerminal;

/// The binary's whole life: parse, run, report. Returns the process exit code.
pub fn main_exit_code() -> i32 {
    // Answers the shell's dynamic-completion requests (COMPLETE=bash etc.) and exits.
    clap_complete::CompleteEnv::with_factory(args::command)
        .shells(complete::SHELLS)
        .complete();

    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match args::parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => return report_parse_error(&e, wants_json(&argv)),
    };
    if cli.command.is_none() {
        if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
            return repl::run(&cli.global);
        }
        // Scripts must never hang waiting for a console that nobody sees.
        let _ = args::command().write_help(&mut std::io::stderr());
        eprintln!("\nbreakerctl: no command given (and not on a terminal, so no REPL)");
        return ExitCode::Usage.code();
    }
    if matches!(cli.command, Some(args::Command::Repl)) {
        return repl::run(&cli.global);
    }
    let stdout = std::io::stdout();
    run::run_and_report(&cli, &mut stdout.lock(), None)
}
