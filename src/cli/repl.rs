//! The interactive console: every line goes through the same clap grammar and the same
//! `commands::execute` as the command line, on a rustyline editor with completion, hints,
//! a live prompt and a history file shared safely between consoles. Input that is not a
//! terminal is a script instead: no prompt, no history, and the first failing line stops it.

mod helper;

use super::args::{Command, GlobalArgs};
use super::context::Prompter;
use super::exit::ExitCode;
use super::output::{Style, escape};
use anyhow::{Context as _, Result};
use clap::ValueEnum;
use helper::{Continuation, REPL_WORDS, ReplHelper};
use owo_colors::OwoColorize;
use rustyline::error::ReadlineError;
use rustyline::history::{FileHistory, MemHistory};
use rustyline::{
    Cmd, ColorMode, CompletionType, ConditionalEventHandler, Config, Editor, Event, EventContext,
    EventHandler, KeyEvent, RepeatCount,
};
use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// Runs the console until Ctrl-D, `exit` or `quit`; returns the process exit code. With
/// stdin not a terminal (`breakerctl repl < checks.txt`), runs it as a script instead.
pub fn run(global: &GlobalArgs) -> i32 {
    if !std::io::stdin().is_terminal() {
        return script(global, std::io::stdin().lock());
    }
    match session(global) {
        Ok(code) => code,
        Err(e) => super::report_error(&e, false),
    }
}

/// The line as it was when Ctrl-C dropped it.
struct Dropped {
    line: String,
    hint_len: usize,
}

/// Remembers the line (and whether a hint was showing) before Ctrl-C interrupts it.
struct CtrlC(Arc<Mutex<Option<Dropped>>>);

impl ConditionalEventHandler for CtrlC {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext<'_>) -> Option<Cmd> {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(Dropped {
                line: ctx.line().to_owned(),
                hint_len: ctx.hint_text().map_or(0, |h| h.chars().count()),
            });
        }
        Some(Cmd::Interrupt)
    }
}

/// Redraws a dropped one-row line without its hint and with `^C`, as shells do, so that a
/// hinted name left on the screen never looks like a command that ran.
fn mark_interrupted(prompt: &(String, String), dropped: &Dropped, columns: usize, color: bool) {
    let plain = |s: &str| s.chars().all(|c| c == ' ' || c.is_ascii_graphic());
    let width = prompt.0.chars().count() + dropped.line.len() + dropped.hint_len.max(2);
    if columns == 0 || width >= columns || !plain(&dropped.line) || !plain(&prompt.0) {
        return;
    }
    let shown = if color { &prompt.1 } else { &prompt.0 };
    print!("\x1b[1A\r\x1b[K{shown}{}^C\n", dropped.line);
    let _ = std::io::stdout().flush();
}

/// What one line asks of the session.
enum Flow {
    Continue(i32),
    Leave,
}

/// Who is on the other end of the lines.
enum Mode {
    /// A person at a terminal `columns` wide: forced resets are confirmed.
    Console { columns: usize },
    /// Piped input: lines run as on the command line, nobody is asked anything.
    Script,
}

/// Runs piped input as a script: each line (a quoted value may span lines) runs as it would
/// on the command line, with no prompt, no history and no confirmation, and the first line
/// that fails stops the script with its exit code. Returns the exit code.
pub fn script(global: &GlobalArgs, input: impl BufRead) -> i32 {
    let json = global.json || global.output == super::args::OutputFormat::Json;
    let fail = |message: String| {
        let e = super::exit::CliError::usage(message);
        super::report_error(&e.into(), json)
    };
    let mut pending = String::new();
    let mut first_line = 0;
    for (i, line) in input.split(b'\n').enumerate() {
        let n = i + 1;
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                return super::report_error(
                    &anyhow::Error::new(e).context("cannot read the input"),
                    json,
                );
            }
        };
        let Ok(line) = String::from_utf8(line) else {
            return fail(format!(
                "line {n} of the input is not valid UTF-8; nothing more run"
            ));
        };
        let line = line.strip_suffix('\r').unwrap_or(&line);
        if pending.is_empty() {
            first_line = n;
        } else {
            pending.push('\n');
        }
        pending.push_str(line);
        if Continuation::of(&pending).is_some() {
            continue;
        }
        let text = std::mem::take(&mut pending);
        // Every line before this one succeeded, so the code "before" it is 0.
        match run_line(global, &text, 0, &Mode::Script) {
            Flow::Continue(0) => {}
            Flow::Continue(code) => {
                if !json {
                    eprintln!("breakerctl: script stopped at line {first_line} (exit {code})");
                }
                return code;
            }
            Flow::Leave => return ExitCode::Ok.code(),
        }
    }
    if let Some(c) = Continuation::of(&pending) {
        let quote = c.quote.map_or_else(String::new, |q| format!(" {q}"));
        return fail(format!(
            "line {first_line}: the{quote} quote is never closed; that command did not run"
        ));
    }
    ExitCode::Ok.code()
}

fn session(global: &GlobalArgs) -> Result<i32> {
    let style = Style::resolve(global.output, global.json, global.color);
    let config = Config::builder()
        .max_history_size(10_000)?
        .history_ignore_dups(true)?
        .history_ignore_space(true)
        .auto_add_history(false)
        .completion_type(CompletionType::List)
        .color_mode(if style.color {
            ColorMode::Enabled
        } else {
            ColorMode::Disabled
        })
        .build();
    let mut editor: Editor<ReplHelper, FileHistory> =
        Editor::with_config(config).context("cannot start the line editor")?;
    editor.set_helper(Some(ReplHelper::new(global.db.clone(), style.color)));
    let interrupted = Arc::new(Mutex::new(None));
    editor.bind_sequence(
        KeyEvent::ctrl('C'),
        EventHandler::Conditional(Box::new(CtrlC(Arc::clone(&interrupted)))),
    );
    let history = history_file().and_then(|path| match prepare_history(&path) {
        Ok(()) => {
            // A history written by a newer or broken editor is not worth refusing to start.
            let _ = editor.load_history(&path);
            Some(path)
        }
        Err(e) => {
            eprintln!(
                "breakerctl: history off: {}: {e}",
                escape(&path.display().to_string())
            );
            None
        }
    });
    // Ctrl-C while a command runs must not end the session (the watch and `serve` register
    // their own handlers and stop on it).
    let _sigint = signal_hook::flag::register(
        signal_hook::consts::SIGINT,
        Arc::new(AtomicBool::new(false)),
    )
    .context("could not take over Ctrl-C")?;

    println!(
        "breakerctl {} console on {}; Tab completes, `help` lists commands, Ctrl-D leaves",
        env!("CARGO_PKG_VERSION"),
        escape(&global.db.display().to_string())
    );
    let mut last = 0;
    let mut history_warned = false;
    // A command whose quote is still open, and what keeps it open.
    let mut pending: Option<(String, Continuation)> = None;
    loop {
        let prompt = match &pending {
            None => prompt(&global.db, last, style.color),
            Some(_) => continuation_prompt(style.color),
        };
        if let Some(helper) = editor.helper_mut() {
            helper.continuing = pending.as_ref().map(|p| p.1);
        }
        match editor.readline(&prompt) {
            Ok(line) => {
                let line = match pending.take() {
                    Some((mut text, _)) => {
                        text.push('\n');
                        text.push_str(&line);
                        text
                    }
                    None => line,
                };
                // An open quote continues the command on a `... ` line, as in a shell.
                if let Some(c) = Continuation::of(&line) {
                    pending = Some((line, c));
                    continue;
                }
                if line.trim().is_empty() {
                    continue;
                }
                // Recorded at once (appended under a lock), so that two consoles keep both
                // their lines; lines starting with a space and repeats are not recorded.
                if editor
                    .add_history_entry(history_entry(&line))
                    .unwrap_or(false)
                    && let Some(path) = &history
                    && let Err(e) = editor.append_history(path)
                    && !std::mem::replace(&mut history_warned, true)
                {
                    eprintln!("breakerctl: could not write the history: {e}");
                }
                let columns = editor.dimensions().map_or(0, |(c, _)| usize::from(c));
                match run_line(global, &line, last, &Mode::Console { columns }) {
                    Flow::Continue(code) => last = code,
                    Flow::Leave => break,
                }
            }
            // Ctrl-C: the line (and a command still open on it) is dropped, the session goes on.
            Err(ReadlineError::Interrupted) => {
                pending = None;
                let dropped = interrupted.lock().ok().and_then(|mut d| d.take());
                let columns = editor.dimensions().map_or(0, |(c, _)| usize::from(c));
                if let Some(dropped) = dropped {
                    mark_interrupted(&prompt, &dropped, columns, style.color);
                }
            }
            Err(ReadlineError::Eof) => {
                // Inside an open quote, Ctrl-D drops that command (as a shell does), no more.
                if pending.take().is_none() {
                    break;
                }
                eprintln!("breakerctl: the quote was never closed; that command did not run");
                last = ExitCode::Usage.code();
            }
            Err(e) => return Err(e).context("cannot read from the terminal"),
        }
    }
    Ok(ExitCode::Ok.code())
}

/// The line as recorded: without trailing blanks (a completed word leaves one) unless they
/// mean something (`a\ `).
fn history_entry(line: &str) -> &str {
    let trimmed = line.trim_end();
    if shell_words::split(trimmed).ok() == shell_words::split(line).ok() {
        trimmed
    } else {
        line
    }
}

/// Runs one line: a console word, or a command line in the CLI's exact grammar.
fn run_line(global: &GlobalArgs, line: &str, last: i32, mode: &Mode) -> Flow {
    let Ok(words) = shell_words::split(line) else {
        eprintln!("breakerctl: unbalanced quotes");
        return Flow::Continue(ExitCode::Usage.code());
    };
    match words.first().map(String::as_str) {
        None => return Flow::Continue(last), // only a comment
        Some("exit" | "quit") => return Flow::Leave,
        Some("help") if words.len() == 1 => {
            let columns = match mode {
                Mode::Console { columns } if *columns > 0 => *columns,
                _ => 80,
            };
            print_help(columns);
            return Flow::Continue(ExitCode::Ok.code());
        }
        _ => {}
    }
    let mut argv: Vec<OsString> = vec!["breakerctl".into()];
    argv.extend(session_args(global));
    argv.extend(words.iter().map(OsString::from));
    let mut grammar = super::args::command();
    grammar.build();
    // The console's own words for a command it does not know, rather than clap's usage line.
    if let Some(word) = helper::command_word(&grammar, words.iter().map(String::as_str))
        && !REPL_WORDS.contains(&word)
        && grammar.find_subcommand(word).is_none()
    {
        let e = unknown_command(&grammar, word);
        return Flow::Continue(super::report_error(&e, super::wants_json(&argv)));
    }
    let cli = match super::args::parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => return Flow::Continue(super::report_parse_error(&e, super::wants_json(&argv))),
    };
    let json = cli.global.json || cli.global.output == super::args::OutputFormat::Json;
    if cli.command.is_none() {
        let e =
            super::exit::CliError::usage("no command given").hint("type help to list the commands");
        return Flow::Continue(super::report_error(&e.into(), json));
    }
    if matches!(cli.command, Some(Command::Repl)) {
        let e = super::exit::CliError::usage("already in the console")
            .hint("type `exit` or press Ctrl-D to leave it");
        return Flow::Continue(super::report_error(&e.into(), json));
    }
    let mut prompter = ConsolePrompter;
    let prompter: Option<&mut dyn Prompter> = match mode {
        Mode::Console { .. } => Some(&mut prompter),
        Mode::Script => None,
    };
    Flow::Continue(super::run::run_and_report(
        &cli,
        &mut std::io::stdout(),
        prompter,
    ))
}

/// `unknown command 'stauts'; type help ...`, with the commands it may have meant.
fn unknown_command(grammar: &clap::Command, word: &str) -> anyhow::Error {
    let known: Vec<String> = grammar
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .flat_map(|s| std::iter::once(s.get_name()).chain(s.get_visible_aliases()))
        .chain(REPL_WORDS)
        .map(str::to_owned)
        .collect();
    let close = crate::breaker::closest_names(word, &known);
    let mut e = super::exit::CliError::usage(format!(
        "unknown command '{}'; type help to list the commands",
        escape(word)
    ));
    if !close.is_empty() {
        let quoted: Vec<String> = close.iter().map(|c| format!("'{c}'")).collect();
        e = e.hint(format!("did you mean {}?", quoted.join(" or ")));
    }
    e.into()
}

/// The session's global flags as arguments, put before each line's words; the line's own
/// flags win (`args_override_self`).
fn session_args(g: &GlobalArgs) -> Vec<OsString> {
    fn value_of(v: impl ValueEnum) -> OsString {
        v.to_possible_value()
            .map(|p| p.get_name().into())
            .unwrap_or_default()
    }
    fn duration(d: std::time::Duration) -> OsString {
        format!("{}ms", d.as_millis()).into()
    }
    let mut args: Vec<OsString> = vec![
        "--db".into(),
        g.db.clone().into(),
        "--output".into(),
        value_of(g.output),
        "--color".into(),
        value_of(g.color),
        "--busy-timeout".into(),
        duration(g.busy_timeout),
        "--cooldown".into(),
        duration(g.cooldown),
        "--failure-threshold".into(),
        g.failure_threshold.to_string().into(),
        "--reset-timeout".into(),
        duration(g.reset_timeout),
    ];
    if g.json {
        args.push("--json".into());
    }
    args
}

/// The console's `help`, wrapped at word boundaries to `columns`.
fn print_help(columns: usize) {
    println!("{}", help_text(columns));
}

fn help_text(columns: usize) -> String {
    const NAME_WIDTH: usize = 18;
    let mut lines = vec!["Commands (the same as on the command line):".to_owned()];
    let grammar = super::args::command();
    for sub in grammar.get_subcommands().filter(|s| !s.is_hide_set()) {
        let aliases: Vec<&str> = sub.get_visible_aliases().collect();
        let name = if aliases.is_empty() {
            sub.get_name().to_owned()
        } else {
            format!("{} ({})", sub.get_name(), aliases.join(", "))
        };
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        lines.extend(wrap(
            &format!("  {name:<NAME_WIDTH$} "),
            &about,
            NAME_WIDTH + 3,
            columns,
        ));
    }
    lines.push(String::new());
    for paragraph in [
        "Console words: help [COMMAND], exit, quit. `COMMAND --help` shows a command's flags.",
        "Global flags (--db, --json, --cooldown, ...) given when the console started apply to \
         every line; a line's own flags win for that line.",
        "Keys: Tab completes commands, flags and breaker names; → accepts a hint; Ctrl-C clears \
         the line (or ends a --watch); Ctrl-D leaves. Enter inside an open quote continues the \
         command on a `... ` line.",
        "`reset --force` asks you to type the breaker's name (--yes skips that).",
    ] {
        lines.extend(wrap("", paragraph, 0, columns));
    }
    lines.join("\n")
}

/// `text` in lines of at most `columns` characters, broken between words: the first line
/// after `first`, the others after `indent` spaces. A word longer than a line keeps a line
/// to itself.
fn wrap(first: &str, text: &str, indent: usize, columns: usize) -> Vec<String> {
    // Below this a hanging column is narrower than most words.
    let columns = columns.max(indent + 20);
    let mut lines = Vec::new();
    let mut line = first.to_owned();
    let mut empty = true;
    for word in text.split_whitespace() {
        let width = line.chars().count();
        if !empty && width + 1 + word.chars().count() > columns {
            lines.push(std::mem::replace(&mut line, " ".repeat(indent)));
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    lines.push(line.trim_end().to_owned());
    lines
}

/// The prompt of a line that continues a command whose quote is still open.
fn continuation_prompt(color: bool) -> (String, String) {
    let plain = "... ".to_owned();
    let colored = if color {
        plain.yellow().to_string()
    } else {
        plain.clone()
    };
    (plain, colored)
}

/// `circuit_breaker.db [2 open] [exit 3] > `, plain and colored (same width).
fn prompt(db: &Path, last: i32, color: bool) -> (String, String) {
    let file = db
        .file_name()
        .map(|f| escape(&f.to_string_lossy()).into_owned())
        .unwrap_or_else(|| escape(&db.display().to_string()).into_owned());
    let open = crate::ProductionCircuitBreaker::builder()
        .open_read_only(db)
        .and_then(|b| b.status_all())
        .map(|rows| rows.iter().filter(|r| r.state.is_open()).count());
    let (state, state_colored) = match open {
        Ok(n) => {
            let text = format!("[{n} open]");
            let colored = if n > 0 {
                text.red().bold().to_string()
            } else {
                text.green().to_string()
            };
            (text, colored)
        }
        Err(_) => {
            let text = "[no database]".to_owned();
            let colored = text.yellow().to_string();
            (text, colored)
        }
    };
    let (exit, exit_colored) = if last != 0 {
        let text = format!(" [exit {last}]");
        (text.clone(), text.yellow().to_string())
    } else {
        (String::new(), String::new())
    };
    let plain = format!("{file} {state}{exit} > ");
    if !color {
        return (plain.clone(), plain);
    }
    let colored = format!("{} {state_colored}{exit_colored} > ", file.cyan());
    (plain, colored)
}

/// `$XDG_STATE_HOME/breakerctl/history`, else `~/.local/state/breakerctl/history`.
fn history_file() -> Option<PathBuf> {
    let from = |k: &str| {
        std::env::var_os(k)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let base = from("XDG_STATE_HOME").or_else(|| from("HOME").map(|h| h.join(".local/state")))?;
    Some(base.join("breakerctl").join("history"))
}

/// Creates the folder (private) and the file, so that consoles always append to one file.
fn prepare_history(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map(drop)
}

/// Asks on the terminal, with a plain line editor (no completion, nothing recorded).
struct ConsolePrompter;

impl Prompter for ConsolePrompter {
    fn ask(&mut self, prompt: &str) -> Result<Option<String>> {
        std::io::stdout().flush()?;
        let config = Config::builder().auto_add_history(false).build();
        let mut editor: Editor<(), MemHistory> = Editor::with_history(config, MemHistory::new())?;
        match editor.readline(prompt) {
            Ok(answer) => Ok(Some(answer)),
            Err(ReadlineError::Interrupted | ReadlineError::Eof) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_flags_round_trip_and_lines_win() {
        let base = super::super::args::parse_from([
            "breakerctl",
            "--db",
            "x.db",
            "--cooldown",
            "90s",
            "--failure-threshold",
            "2.5",
            "repl",
        ])
        .unwrap();
        let mut argv: Vec<OsString> = vec!["breakerctl".into()];
        argv.extend(session_args(&base.global));
        argv.extend(["status-all", "--db", "y.db"].map(OsString::from));
        let cli = super::super::args::parse_from(&argv).unwrap();
        assert_eq!(cli.global.db, PathBuf::from("y.db"));
        assert_eq!(cli.global.cooldown, std::time::Duration::from_secs(90));
        assert_eq!(cli.global.failure_threshold, 2.5);
        assert_eq!(cli.global.busy_timeout, base.global.busy_timeout);
    }

    #[test]
    fn history_drops_meaningless_trailing_blanks() {
        assert_eq!(history_entry("status pinnacle "), "status pinnacle");
        assert_eq!(history_entry(" audit "), " audit");
        assert_eq!(history_entry("status a\\ "), "status a\\ ");
    }

    #[test]
    fn help_wraps_between_words() {
        for columns in [50, 80, 120] {
            let text = help_text(columns);
            for line in text.lines() {
                assert!(line.chars().count() <= columns, "{columns}: {line:?}");
            }
            // Every description reads whole once the lines are joined again.
            let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
            for sub in super::super::args::command().get_subcommands() {
                let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
                let about = about.split_whitespace().collect::<Vec<_>>().join(" ");
                assert!(joined.contains(&about), "{columns}: {about}");
            }
        }
    }

    #[test]
    fn prompt_shows_missing_database_and_last_code() {
        let (plain, styled) = prompt(Path::new("/nonexistent/cb.db"), 3, false);
        assert_eq!(plain, "cb.db [no database] [exit 3] > ");
        assert_eq!(plain, styled);
    }
}
