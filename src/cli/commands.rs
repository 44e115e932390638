//! The work of each command, given parsed arguments. Output goes to a writer so that the CLI
//! and the REPL share every line of it.

use super::args::{AuditCommand, AuditQuery, Cli, Command, GlobalArgs, Shell};
pub use super::context::{
    Invocation, Prompter, breaker_config, open_for_read, open_for_write, operator_builder,
    resolve_user,
};
use super::exit::{CliError, ExitCode};
use super::output::{self, Style, escape};
use super::target::{self, StoredNames, Target};
use crate::breaker::{BookmakerStatus, ProductionCircuitBreaker, ResetOptions};
use crate::error::BreakerError;
use crate::machine::{AuditAction, BreakerState};
use crate::storage::AuditFilter;
use anyhow::{Context as _, Result};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Runs one parsed command line. `Ok` carries the exit code of a command that completed its
/// job (0, or 3 for a dry run that would be denied).
pub fn execute(cli: &Cli, inv: &mut Invocation<'_>) -> Result<ExitCode> {
    let g = &cli.global;
    let style = Style::resolve(g.output, g.json, g.color);
    let Some(command) = &cli.command else {
        return Err(CliError::usage("no command given")
            .hint("see `breakerctl --help`")
            .into());
    };
    if style.json()
        && let Some(what) = match command {
            Command::Metrics => Some("metrics prints the Prometheus text format"),
            Command::Man { .. } => Some("man prints a roff man page"),
            Command::Completions { .. } => Some("completions prints a shell script"),
            _ => None,
        }
    {
        // A consumer piping to `jq` must hear at once that no JSON is coming.
        return Err(
            CliError::usage(format!("--json is not supported here: {what}"))
                .hint("status-all, status, audit and doctor have JSON forms")
                .into(),
        );
    }
    match command {
        Command::StatusAll { tripped, watch } => status_all(g, &style, *tripped, *watch, inv),
        Command::Status { name } => status(g, &style, name, inv),
        Command::Trip {
            name,
            reason,
            user,
            create,
        } => trip(g, &style, name, reason, user.as_deref(), *create, inv),
        Command::Reset {
            name,
            reason,
            user,
            force,
            dry_run,
            yes,
        } => reset(
            g,
            &style,
            ResetArgs {
                name,
                reason: reason.as_deref(),
                user: user.as_deref(),
                force: *force,
                dry_run: *dry_run,
                yes: *yes,
            },
            inv,
        ),
        Command::Audit { action, query } => match action {
            Some(AuditCommand::Verify) => audit_verify(g, &style, inv),
            None => audit(g, &style, query, inv),
        },
        Command::Doctor { alert_window } => super::doctor::run(g, &style, *alert_window, inv),
        Command::Init => init(g, &style, inv),
        Command::Metrics => {
            let breaker = open_for_read(g)?;
            let text = crate::exposition::render_database(&breaker)?;
            if style.terminal {
                // Label values are exact for scrapers; a person's terminal gets them escaped.
                for line in text.lines() {
                    writeln!(inv.out, "{}", escape(line))?;
                }
            } else {
                inv.out.write_all(text.as_bytes())?;
            }
            Ok(ExitCode::Ok)
        }
        Command::Serve { listen } => serve(g, listen, inv),
        simulate @ Command::Simulate { .. } => super::simulate::run(g, &style, simulate, inv),
        Command::Repl => Err(CliError::usage("the REPL is already running").into()),
        Command::Completions { shell } => {
            completions(*shell, inv.out)?;
            Ok(ExitCode::Ok)
        }
        Command::Man { command, out_dir } => super::man::run(command, out_dir.as_deref(), inv),
    }
}

pub fn completions(shell: Shell, out: &mut dyn Write) -> Result<()> {
    use clap_complete::Shell as S;
    let shell = match shell {
        Shell::Bash => S::Bash,
        Shell::Zsh => S::Zsh,
        Shell::Fish => S::Fish,
        Shell::Elvish => S::Elvish,
        Shell::Powershell => S::PowerShell,
    };
    // clap_complete panics when its writer fails (`completions bash | head -1`), so render
    // into memory and let a closed pipe surface as an ordinary error.
    let mut script = Vec::new();
    clap_complete::generate(
        shell,
        &mut super::args::command(),
        "breakerctl",
        &mut script,
    );
    out.write_all(&script)?;
    Ok(())
}

/// Open breakers first, then by name.
fn sort_for_display(rows: &mut [BookmakerStatus]) {
    rows.sort_by(|a, b| {
        b.state
            .is_open()
            .cmp(&a.state.is_open())
            .then_with(|| a.bookmaker.cmp(&b.bookmaker))
    });
}

fn status_all(
    g: &GlobalArgs,
    style: &Style,
    tripped_only: bool,
    watch: Option<Duration>,
    inv: &mut Invocation<'_>,
) -> Result<ExitCode> {
    let breaker = open_for_read(g)?;
    let load = |breaker: &ProductionCircuitBreaker| -> Result<Vec<BookmakerStatus>> {
        let mut rows = breaker.status_all()?;
        if tripped_only {
            rows.retain(|r| r.tripped);
        }
        // A name stored as invalid UTF-8 is shown as it can be typed (`badbyte\xff`).
        let names = StoredNames::load(breaker)?;
        for r in &mut rows {
            r.bookmaker = names.shown(&r.bookmaker).to_owned();
        }
        sort_for_display(&mut rows);
        Ok(rows)
    };
    let empty = if tripped_only {
        "no tripped breakers"
    } else {
        "no breakers recorded yet"
    };
    let render = |breaker: &ProductionCircuitBreaker| -> Result<String> {
        let rows = load(breaker)?;
        if style.json() {
            return Ok(output::to_json(&rows)? + "\n");
        }
        if rows.is_empty() {
            return Ok(format!("{empty}\n"));
        }
        Ok(output::status_table(&rows, breaker.now_ms()).render(&style.layout()) + "\n")
    };
    // A zero interval would reread the database in a tight loop.
    let watch = watch.map(|w| w.max(Duration::from_millis(100)));
    let Some(interval) = watch else {
        inv.out.write_all(render(&breaker)?.as_bytes())?;
        return Ok(ExitCode::Ok);
    };
    // On a terminal the frame is redrawn in place and fits the screen; elsewhere (a pipe, a
    // log file, JSON) each refresh is written whole after the one before.
    let in_place = style.terminal && !style.json();
    // Ctrl-C ends the watch (and, in the REPL, returns to the prompt) instead of the process.
    let interrupted = Arc::new(AtomicBool::new(false));
    let sig = signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&interrupted))
        .context("could not watch for Ctrl-C")?;
    // A resized terminal gets its new frame at once, not at the next refresh.
    let resized = Arc::new(AtomicBool::new(false));
    let winch = if in_place {
        signal_hook::flag::register(signal_hook::consts::SIGWINCH, Arc::clone(&resized)).ok()
    } else {
        None
    };
    let mut first = true;
    let result = (|| -> Result<()> {
        while !interrupted.load(Ordering::Relaxed) {
            if in_place {
                let rows = load(&breaker)?;
                // Read every time: the terminal may have been resized.
                let (width, height) = output::screen_size(true);
                let frame = output::watch_frame(
                    &output::WatchInfo {
                        rows: &rows,
                        now: breaker.now_ms(),
                        refreshed: chrono::Local::now().format("%H:%M:%S").to_string(),
                        tripped_only,
                        empty,
                    },
                    style,
                    width.unwrap_or(output::DEFAULT_SCREEN.0),
                    height.unwrap_or(output::DEFAULT_SCREEN.1),
                );
                // Home (and, the first time, clear the screen), then every line over the
                // one before, then clear what a longer frame left below. No newline after
                // the last line, so the screen never scrolls.
                let home = if first { "\x1b[H\x1b[2J" } else { "\x1b[H" };
                write!(inv.out, "{home}{}\x1b[K\x1b[J", frame.join("\x1b[K\n"))?;
                first = false;
            } else {
                inv.out.write_all(render(&breaker)?.as_bytes())?;
            }
            inv.out.flush()?;
            let step = Duration::from_millis(50);
            let mut waited = Duration::ZERO;
            while waited < interval
                && !interrupted.load(Ordering::Relaxed)
                && !resized.swap(false, Ordering::Relaxed)
            {
                std::thread::sleep(step);
                waited += step;
            }
        }
        Ok(())
    })();
    signal_hook::low_level::unregister(sig);
    if let Some(winch) = winch {
        signal_hook::low_level::unregister(winch);
    }
    if in_place && !first {
        // The prompt goes below the last frame.
        let _ = writeln!(inv.out);
    }
    result?;
    Ok(ExitCode::Ok)
}

fn unknown(breaker: &ProductionCircuitBreaker, name: &str) -> BreakerError {
    // Every stored name as it can be typed, a badly encoded one too (`badbyte\xff`).
    let known = StoredNames::load(breaker)
        .map(|n| n.typable())
        .unwrap_or_default();
    BreakerError::UnknownBookmaker {
        name: name.to_owned(),
        suggestions: crate::breaker::closest_names(name, &known),
    }
}

fn status(g: &GlobalArgs, style: &Style, arg: &str, inv: &mut Invocation<'_>) -> Result<ExitCode> {
    let breaker = open_for_read(g)?;
    let names = StoredNames::load(&breaker)?;
    let (status, audit) = match names.resolve(arg) {
        Target::Name(name) => {
            let Some(status) = breaker.get_status(&name)? else {
                return Err(unknown(&breaker, &name).into());
            };
            let audit = breaker.audit(&AuditFilter {
                bookmaker: Some(name),
                limit: Some(5),
                ..AuditFilter::default()
            })?;
            (status, audit)
        }
        // The library reads such a row with U+FFFD in its name: pick it out of every row.
        Target::Undecodable(u) => {
            names.check_distinct(&u)?;
            let Some(mut status) = breaker
                .status_all()?
                .into_iter()
                .find(|r| r.bookmaker == u.lossy)
            else {
                return Err(unknown(&breaker, arg).into());
            };
            status.bookmaker = u.shown.clone();
            let audit = undecodable_audit(&breaker, &u, AuditFilter::default(), 5)?;
            (status, audit)
        }
    };
    if style.json() {
        let mut doc = serde_json::to_value(&status)?;
        if let Some(obj) = doc.as_object_mut() {
            obj.insert("audit".to_owned(), serde_json::to_value(&audit)?);
        }
        output::write_json(inv.out, &doc)?;
        return Ok(ExitCode::Ok);
    }
    let now = breaker.now_ms();
    inv.out
        .write_all(output::status_detail(&status, now, style).as_bytes())?;
    if audit.is_empty() {
        writeln!(inv.out, "\nno audit rows")?;
    } else {
        writeln!(inv.out, "\nlatest audit rows:")?;
        writeln!(
            inv.out,
            "{}",
            output::audit_table(&audit, now).render(&style.layout())
        )?;
    }
    Ok(ExitCode::Ok)
}

/// Names an operator may create: printable, so that they can be typed again.
fn check_new_name(name: &str) -> Result<()> {
    crate::breaker::validate_name(name)?;
    // Anything `escape` would rewrite (C0/C1 controls, bidi overrides, zero-width characters)
    // could not be typed back, or would make the name display as another.
    if !output::is_printable(name) || name != name.trim() {
        return Err(CliError::usage(format!(
            "refusing to create breaker \"{}\": control, bidi or zero-width characters, or surrounding spaces",
            escape(name)
        ))
        .into());
    }
    Ok(())
}

fn trip(
    g: &GlobalArgs,
    style: &Style,
    name: &str,
    reason: &str,
    user: Option<&str>,
    create: bool,
    inv: &mut Invocation<'_>,
) -> Result<ExitCode> {
    if reason.trim().is_empty() {
        return Err(CliError::usage("--reason must not be empty").into());
    }
    let breaker = open_for_write(g)?;
    let names = StoredNames::load(&breaker)?;
    let name = match names.resolve(name) {
        Target::Name(name) => name,
        Target::Undecodable(u) => return Err(target::refuse_write("trip", &u)),
    };
    let name = name.as_str();
    if !names.contains(name) {
        if !create {
            let err = unknown(&breaker, name);
            let hint = match &err {
                BreakerError::UnknownBookmaker { suggestions, .. } if !suggestions.is_empty() => {
                    format!(
                        "did you mean {}? (or add --create for a new breaker)",
                        suggestions.join(", ")
                    )
                }
                _ => "add --create to trip a breaker the services have not used yet".to_owned(),
            };
            return Err(CliError::new(ExitCode::UnknownBreaker, err.to_string())
                .hint(hint)
                .into());
        }
        check_new_name(name)?;
    }
    let created = !names.contains(name);
    let known = if created {
        breaker.bookmaker_names()?
    } else {
        Vec::new()
    };
    let user = resolve_user(user);
    let status = breaker.trip(name, reason, &user)?;
    if create && created {
        // --create answers the typo guard; a near miss still deserves a word.
        let close: Vec<String> = crate::breaker::closest_names(name, &known)
            .into_iter()
            .filter(|k| strsim::levenshtein(k, name) <= 2)
            .collect();
        if let Some(near) = close.first() {
            eprintln!(
                "breakerctl: warning: {} is {} from the existing breaker {}; if that was a typo, trip {} instead",
                escape(name),
                match strsim::levenshtein(near, name) {
                    1 => "one letter".to_owned(),
                    n => format!("{n} letters"),
                },
                escape(near),
                escape(near),
            );
        }
    }
    if style.json() {
        output::write_json(inv.out, &status)?;
    } else {
        writeln!(
            inv.out,
            "tripped {}: now {}; it stays open until `breakerctl{} reset {}`",
            escape(name),
            output::state_word(status.state, style),
            db_flag(g),
            shell_quote(name)
        )?;
    }
    Ok(ExitCode::Ok)
}

/// ` --db PATH` when the command ran on a database other than the default, so that a
/// suggested command works when pasted as it is.
fn db_flag(g: &GlobalArgs) -> String {
    if g.db == Path::new(super::settings::DEFAULT_DB) {
        String::new()
    } else {
        format!(" --db {}", shell_quote(&g.db.display().to_string()))
    }
}

fn shell_quote(s: &str) -> String {
    shell_words::quote(&escape(s)).into_owned()
}

/// The name a reset addresses; a breaker stored under invalid UTF-8 cannot be reset.
fn reset_target(breaker: &ProductionCircuitBreaker, arg: &str) -> Result<String> {
    match StoredNames::load(breaker)?.resolve(arg) {
        Target::Name(name) => Ok(name),
        Target::Undecodable(u) => Err(target::refuse_write("reset", &u)),
    }
}

/// The audit rows of a breaker stored under invalid UTF-8, newest first: the library reads
/// their names lossily, so they are picked out of every row that `filter` matches.
fn undecodable_audit(
    breaker: &ProductionCircuitBreaker,
    u: &target::Undecodable,
    filter: AuditFilter,
    limit: usize,
) -> Result<Vec<crate::storage::AuditRecord>> {
    let mut rows = breaker.audit(&AuditFilter {
        bookmaker: None,
        limit: None,
        ..filter
    })?;
    rows.retain(|r| r.bookmaker.as_deref() == Some(u.lossy.as_str()));
    rows.truncate(limit);
    for r in &mut rows {
        r.bookmaker = Some(u.shown.clone());
    }
    Ok(rows)
}

#[derive(Clone, Copy)]
struct ResetArgs<'a> {
    name: &'a str,
    reason: Option<&'a str>,
    user: Option<&'a str>,
    force: bool,
    dry_run: bool,
    yes: bool,
}

fn reset(
    g: &GlobalArgs,
    style: &Style,
    a: ResetArgs<'_>,
    inv: &mut Invocation<'_>,
) -> Result<ExitCode> {
    if a.force && a.reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(CliError::usage("--force needs --reason TEXT").into());
    }
    if a.dry_run {
        let breaker = open_for_read(g)?;
        let name = reset_target(&breaker, a.name)?;
        let a = ResetArgs { name: &name, ..a };
        let preview = breaker.reset_preview(a.name, a.force)?;
        if style.json() {
            output::write_json(inv.out, &preview)?;
        } else if preview.allowed {
            writeln!(
                inv.out,
                "reset of {} would be allowed ({} now)",
                escape(a.name),
                output::state_word(preview.state, style)
            )?;
        } else {
            writeln!(
                inv.out,
                "reset of {} would be denied: cooldown {}s, {}s left; --force --reason TEXT would override",
                escape(a.name),
                preview.cooldown_ms / 1000,
                // Rounded up; a huge --cooldown saturates at i64::MAX milliseconds.
                preview.remaining_ms.saturating_add(999) / 1000
            )?;
        }
        return Ok(if preview.allowed {
            ExitCode::Ok
        } else {
            ExitCode::CooldownDenied
        });
    }
    let breaker = open_for_write(g)?;
    let name = reset_target(&breaker, a.name)?;
    let a = ResetArgs { name: &name, ..a };
    if a.force
        && !a.yes
        && let Some(prompter) = inv.prompter.as_deref_mut()
    {
        // Make sure the name exists before asking anyone to type it.
        if breaker.get_status(a.name)?.is_none() {
            return Err(unknown(&breaker, a.name).into());
        }
        let shown = escape(a.name);
        let typed = prompter.ask(&format!(
            "forced reset of {shown} overrides the cooldown; type the name to confirm: "
        ))?;
        // The name as shown is accepted too: one with a control character cannot be typed.
        let typed = typed.as_deref().map(str::trim);
        if typed != Some(a.name) && typed != Some(shown.as_ref()) {
            let said = match typed {
                Some(t) => format!("you typed '{}'", escape(t)),
                None => "no name typed".to_owned(),
            };
            return Err(CliError::new(
                ExitCode::Failure,
                format!("forced reset cancelled: {said}, expected '{shown}'; nothing written"),
            )
            .into());
        }
    }
    let user = resolve_user(a.user);
    let status = breaker.reset(
        a.name,
        ResetOptions {
            reason: a.reason,
            user: &user,
            force: a.force,
        },
    )?;
    if style.json() {
        output::write_json(inv.out, &status)?;
    } else {
        writeln!(
            inv.out,
            "reset {}{}: now {}",
            escape(a.name),
            if a.force { " (forced)" } else { "" },
            output::state_word(status.state, style)
        )?;
    }
    Ok(ExitCode::Ok)
}

/// `--since`: a duration ago (`1h`, `30m`) or an RFC 3339 time.
pub fn parse_since(s: &str, now: i64) -> Result<i64> {
    if let Ok(d) = super::args::parse_duration(s) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        return Ok(now.saturating_sub(ms));
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s.trim()) {
        return Ok(t.timestamp_millis());
    }
    Err(CliError::usage(format!(
        "invalid --since {:?}: use a duration such as 1h or 30m, or an RFC 3339 time such as 2026-11-28T10:00:00Z",
        escape(s)
    ))
    .into())
}

fn audit(
    g: &GlobalArgs,
    style: &Style,
    q: &AuditQuery,
    inv: &mut Invocation<'_>,
) -> Result<ExitCode> {
    let action = match &q.action {
        None => None,
        Some(a) => match AuditAction::parse(a) {
            Some(action) => Some(action.as_str().to_owned()),
            None => {
                let valid: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
                return Err(CliError::usage(format!(
                    "invalid --action {:?}: use one of {}",
                    escape(a),
                    valid.join(", ")
                ))
                .into());
            }
        },
    };
    let breaker = open_for_read(g)?;
    let now = breaker.now_ms();
    let since = q
        .since
        .as_deref()
        .map(|s| parse_since(s, now))
        .transpose()?;
    let names = StoredNames::load(&breaker)?;
    let filter = AuditFilter {
        bookmaker: None,
        since,
        action,
        user: q.user.clone(),
        limit: Some(q.limit as usize),
    };
    let name = q.name.as_deref().or(q.bookmaker.as_deref());
    let rows = match name.map(|n| names.resolve(n)) {
        None => {
            let mut rows = breaker.audit(&filter)?;
            for r in &mut rows {
                if let Some(b) = &mut r.bookmaker {
                    *b = names.shown(b).to_owned();
                }
            }
            rows
        }
        Some(Target::Name(name)) => {
            // A forgotten breaker has no state row but keeps its audit rows: only a name
            // that appears nowhere is unknown.
            let known = breaker.get_status(&name)?.is_some()
                || !breaker
                    .audit(&AuditFilter {
                        bookmaker: Some(name.clone()),
                        limit: Some(1),
                        ..AuditFilter::default()
                    })?
                    .is_empty();
            if !known {
                return Err(unknown(&breaker, &name).into());
            }
            breaker.audit(&AuditFilter {
                bookmaker: Some(name),
                ..filter
            })?
        }
        Some(Target::Undecodable(u)) => undecodable_audit(&breaker, &u, filter, q.limit as usize)?,
    };
    if style.json() {
        output::write_json(inv.out, &rows)?;
    } else if rows.is_empty() {
        writeln!(inv.out, "no audit rows match")?;
    } else {
        writeln!(
            inv.out,
            "{}",
            output::audit_table(&rows, now).render(&style.layout())
        )?;
    }
    Ok(ExitCode::Ok)
}

fn audit_verify(g: &GlobalArgs, style: &Style, inv: &mut Invocation<'_>) -> Result<ExitCode> {
    let breaker = open_for_read(g)?;
    let report = breaker.verify_audit_chain()?;
    if style.json() {
        output::write_json(inv.out, &report)?;
    } else if report.ok {
        writeln!(
            inv.out,
            "audit chain ok: {} rows verified; newest hash {}",
            report.rows,
            report.last_hash.as_deref().unwrap_or("")
        )?;
    }
    if report.ok {
        return Ok(ExitCode::Ok);
    }
    let at = report
        .first_broken_id
        .map(|id| format!(" at row {id}"))
        .unwrap_or_default();
    Err(CliError::new(
        ExitCode::Failure,
        format!(
            "audit chain broken{at}: {}",
            report.problem.as_deref().unwrap_or("unknown problem")
        ),
    )
    .hint("compare with a backup: rows from the broken one on cannot be trusted")
    .into())
}

fn init(g: &GlobalArgs, style: &Style, inv: &mut Invocation<'_>) -> Result<ExitCode> {
    let existed = file_has_content(&g.db);
    let breaker = operator_builder(g).open(&g.db)?;
    let version = breaker.schema_version()?;
    if style.json() {
        output::write_json(
            inv.out,
            &serde_json::json!({
                "path": g.db.display().to_string(),
                "created": !existed,
                "schemaVersion": version,
            }),
        )?;
    } else if existed {
        writeln!(
            inv.out,
            "{} is already a breaker database (schema version {version}); nothing to do",
            escape(&g.db.display().to_string())
        )?;
    } else {
        writeln!(
            inv.out,
            "created breaker database {} (schema version {version})",
            escape(&g.db.display().to_string())
        )?;
    }
    Ok(ExitCode::Ok)
}

fn file_has_content(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() > 0)
}

fn serve(
    g: &GlobalArgs,
    listen: &crate::serve::ListenAddr,
    inv: &mut Invocation<'_>,
) -> Result<ExitCode> {
    // Refuse to start on a database that is not there: a typo in --db must not serve "all clear".
    // One that is there but cannot be read now (corrupt, locked) is what the exporter is for:
    // it starts and exports circuit_breaker_store_up 0, so the alert says what is wrong.
    match open_for_read(g) {
        Ok(breaker) => drop(breaker),
        Err(BreakerError::Corrupt { .. } | BreakerError::Busy { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let listen = listen.resolve().map_err(|e| {
        CliError::usage(format!(
            "cannot resolve --listen {}: {e}",
            escape(&listen.to_string())
        ))
        .hint("give an IP address, e.g. 127.0.0.1:9464")
    })?;
    // /metrics and /healthz do the same read, so they fail together and say the same thing.
    let read_args = g.clone();
    let exporter = Arc::new(crate::exposition::Exporter::new(move || {
        let breaker = open_for_read(&read_args).map_err(|e| e.to_string())?;
        crate::exposition::read_database(&breaker).map_err(|e| e.to_string())
    }));
    // A store that cannot be read is said on stderr at once, not at the first scrape.
    let _ = exporter.check("start");
    let health = Arc::clone(&exporter);
    let out = &mut *inv.out;
    crate::serve::serve(
        &crate::serve::ServeOptions { listen },
        move || Ok(exporter.scrape()),
        move || health.health(),
        |addr| {
            // Tests and scripts read the bound address (port 0 picks one) from this line.
            let _ = writeln!(
                out,
                "serving http://{addr}/metrics and /healthz; Ctrl-C to stop"
            );
            let _ = out.flush();
        },
    )
    .map_err(|e| CliError::new(ExitCode::Failure, format!("cannot serve on {listen}: {e}")))?;
    Ok(ExitCode::Ok)
}

/// The state words, for completion and help.
pub fn state_names() -> Vec<&'static str> {
    BreakerState::ALL.iter().map(|s| s.as_str()).collect()
}
