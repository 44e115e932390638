//! The command grammar, shared by the command line and the REPL (clap derive).

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use clap_complete::engine::ArgValueCompleter;
use std::path::PathBuf;
use std::time::Duration;

pub use super::settings::{ColorChoice, DEFAULT_DB, OutputFormat};

const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  ok
  1  other failure
  2  usage error (bad flag or value)
  3  reset denied by the cooldown (also `reset --dry-run` when it would be denied)
  4  unknown breaker (the message suggests close names)
  5  database busy for longer than --busy-timeout
  6  database unusable: missing, not a breaker database, corrupt, schema newer than this
     build, or read-only for a write

Environment:
  CIRCUIT_BREAKER_DB   database path (default ./data/circuit_breaker.db)
  BREAKERCTL_USER      user recorded in audit rows (else SUDO_USER, USER, the login name)
  NO_COLOR             turns color off; CLICOLOR_FORCE=1 turns it on";

/// The exit codes, as the man page's EXIT STATUS section lists them (the `--help` text above
/// says the same; a test keeps the two in step).
pub const EXIT_CODES: &[(i32, &str)] = &[
    (0, "ok"),
    (1, "other failure"),
    (2, "usage error (bad flag or value)"),
    (
        3,
        "reset denied by the cooldown (also `reset --dry-run` when it would be denied)",
    ),
    (4, "unknown breaker (the message suggests close names)"),
    (5, "database busy for longer than --busy-timeout"),
    (
        6,
        "database unusable: missing, not a breaker database, corrupt, schema newer than this build, or read-only for a write",
    ),
];

/// The environment variables, as the man page's ENVIRONMENT section lists them.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "CIRCUIT_BREAKER_DB",
        "database path (default ./data/circuit_breaker.db)",
    ),
    (
        "BREAKERCTL_USER",
        "user recorded in audit rows (else SUDO_USER, USER, the login name)",
    ),
    ("NO_COLOR", "turns color off; CLICOLOR_FORCE=1 turns it on"),
];

#[derive(Debug, Parser, Clone)]
#[command(
    name = "breakerctl",
    version,
    about = "Look at and control the circuit breakers in a shared circuit_breaker.db",
    after_help = EXIT_CODES_HELP,
    propagate_version = true,
    // The REPL prepends the session's global flags to each line; the line's own flags win.
    args_override_self = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The global flags that do nothing for a command: the store's flags for the commands that
/// never open it, the breaker settings for those that read none of them.
const STORE_FLAGS: &[&str] = &["db", "json", "output", "color", "busy_timeout"];
const BREAKER_SETTINGS: &[&str] = &["cooldown", "failure_threshold", "reset_timeout"];

/// The global flags (by id) a subcommand's help leaves out. They are still accepted there:
/// the REPL puts the session's global flags before every line, and scripts pass them
/// everywhere.
///
/// - `man` and `completions` open no database and print no table, JSON or color: none.
/// - `trip`, `audit` and `init` read no breaker setting (a trip forces the state whatever the
///   threshold; `trip --json` only echoes `failureThreshold` back).
/// - `simulate` runs with its own `--probe-after` instead of `--reset-timeout`, and its
///   callers never reset, so of the settings only `--failure-threshold` applies.
pub fn hidden_globals(subcommand: &str) -> Vec<&'static str> {
    match subcommand {
        "man" | "completions" => [STORE_FLAGS, BREAKER_SETTINGS].concat(),
        "trip" | "audit" | "init" => BREAKER_SETTINGS.to_vec(),
        "simulate" => vec!["cooldown", "reset_timeout"],
        _ => Vec::new(),
    }
}

/// The grammar as the binary parses it and shows it in help, man pages and completions:
/// [`Cli`]'s, with each subcommand's help showing only the global flags that apply to it
/// ([`hidden_globals`]).
///
/// clap copies every global flag into each subcommand when the command is built, unless the
/// subcommand already has an argument of that id; so each hidden one is given to its
/// subcommands beforehand as the same flag, hidden. It parses exactly as the copy clap would
/// have made (its value still reaches [`GlobalArgs`]), and reaches nested subcommands
/// (`audit verify`) the same way.
pub fn command() -> clap::Command {
    let root = Cli::command();
    let globals: Vec<clap::Arg> = root
        .get_arguments()
        .filter(|a| a.is_global_set())
        .cloned()
        .collect();
    root.mut_subcommands(|sub| {
        let hidden = hidden_globals(sub.get_name());
        globals
            .iter()
            .filter(|a| hidden.contains(&a.get_id().as_str()))
            .fold(sub, |sub, a| sub.arg(a.clone().hide(true)))
    })
}

/// Parses a command line (the program name first) with [`command`]'s grammar.
pub fn parse_from<I, T>(argv: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut matches = command().try_get_matches_from(argv)?;
    Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut command()))
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// The breaker database
    #[arg(long, global = true, env = "CIRCUIT_BREAKER_DB", default_value = DEFAULT_DB, value_name = "PATH")]
    pub db: PathBuf,

    /// Same as --output json
    #[arg(long, global = true)]
    pub json: bool,

    /// Output format
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table, value_name = "FORMAT")]
    pub output: OutputFormat,

    /// When to color output (auto: only on a terminal, and not when NO_COLOR is set)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// How long to wait for another process's write lock
    #[arg(long, global = true, default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub busy_timeout: Duration,

    /// Reset cooldown the services use
    #[arg(long, global = true, env = "BREAKERCTL_COOLDOWN", default_value = "60s", value_parser = parse_duration, value_name = "DURATION", help_heading = "Breaker settings")]
    pub cooldown: Duration,

    /// Weighted failures that trip a breaker
    #[arg(
        long,
        global = true,
        env = "BREAKERCTL_FAILURE_THRESHOLD",
        default_value_t = 10.0,
        value_parser = parse_threshold,
        value_name = "N",
        help_heading = "Breaker settings"
    )]
    pub failure_threshold: f64,

    /// How long an automatic trip lasts before a half-open probe
    #[arg(long, global = true, env = "BREAKERCTL_RESET_TIMEOUT", default_value = "60s", value_parser = parse_duration, value_name = "DURATION", help_heading = "Breaker settings")]
    pub reset_timeout: Duration,
}

#[derive(Debug, Subcommand, Clone)]
pub enum Command {
    /// Every breaker: state, failures, last error, latency, trips, last reset
    #[command(visible_alias = "ls")]
    StatusAll {
        /// Only tripped breakers
        #[arg(long)]
        tripped: bool,
        /// Redraw every INTERVAL until Ctrl-C
        #[arg(long, value_name = "INTERVAL", num_args = 0..=1, default_missing_value = "2s", value_parser = parse_duration)]
        watch: Option<Duration>,
    },
    /// One breaker in detail, with its latest audit rows
    Status {
        /// The breaker, as status-all shows it
        #[arg(value_name = "NAME", add = ArgValueCompleter::new(super::complete::bookmaker_names))]
        name: String,
    },
    /// Force a breaker open until someone resets it
    Trip {
        /// The breaker, as status-all shows it (one it does not show needs --create)
        #[arg(value_name = "NAME", add = ArgValueCompleter::new(super::complete::bookmaker_names))]
        name: String,
        /// Why (recorded in the audit trail)
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Who (default: BREAKERCTL_USER, SUDO_USER, USER, login name); the OS user is
        /// recorded beside it
        #[arg(long, value_name = "USER", value_parser = parse_user)]
        user: Option<String>,
        /// Allow a name the database has never seen (a typo guard)
        #[arg(long)]
        create: bool,
    },
    /// Close a breaker; refused inside the cooldown unless --force
    Reset {
        /// The breaker, as status-all shows it
        #[arg(value_name = "NAME", add = ArgValueCompleter::new(super::complete::bookmaker_names))]
        name: String,
        /// Why (required with --force)
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// Who (default: BREAKERCTL_USER, SUDO_USER, USER, login name); the OS user is
        /// recorded beside it
        #[arg(long, value_name = "USER", value_parser = parse_user)]
        user: Option<String>,
        /// Override the cooldown (needs --reason)
        #[arg(long, requires = "reason")]
        force: bool,
        /// Only say whether the reset would be allowed; write nothing
        #[arg(long)]
        dry_run: bool,
        /// In the REPL, skip typing the name to confirm a forced reset
        #[arg(long)]
        yes: bool,
    },
    /// The audit trail, newest first
    #[command(args_conflicts_with_subcommands = true)]
    Audit {
        #[command(subcommand)]
        action: Option<AuditCommand>,
        #[command(flatten)]
        query: AuditQuery,
    },
    /// Check the database: integrity, journal mode, schema, probe leases, WAL size, clock
    /// skew, long trips and the audit chain (exit 0 healthy, 1 problems, 6 unusable)
    Doctor {
        /// Report breakers tripped for longer than this (the CircuitBreakerTripped alert's `for`)
        #[arg(long, default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
        alert_window: Duration,
    },
    /// Create the database and schema at --db (idempotent)
    Init,
    /// Prometheus text exposition of every breaker, to stdout
    Metrics,
    /// Serve /metrics and /healthz over HTTP (GET and HEAD)
    Serve {
        /// Address to listen on, HOST:PORT; loopback unless told otherwise
        #[arg(long, default_value = "127.0.0.1:9464", value_name = "ADDR", long_help = LISTEN_HELP)]
        listen: crate::serve::ListenAddr,
    },
    /// Run the market-probe service against simulated bookmakers on 127.0.0.1 and report
    /// what the breakers did; writes real breakers (named sim-*) to --db, creating it if missing
    #[command(after_help = SIMULATE_HELP)]
    Simulate {
        /// steady: all healthy; outage: one bookmaker fails hard mid-run; spike: 50x traffic
        /// while one bookmaker slows into timeouts and the host load passes the shedding
        /// threshold
        #[arg(long, value_enum, default_value_t = SimScenario::Spike)]
        scenario: SimScenario,
        /// How long the callers run (1s to 300s)
        #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
        duration: Duration,
        /// Number of simulated bookmakers (1 to 16)
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=16), value_name = "N")]
        bookmakers: u16,
        /// Seed of every random choice (callers' picks, bookmakers' latencies and errors)
        #[arg(long, default_value_t = 42, value_name = "N")]
        seed: u64,
        /// Concurrent caller threads (1 to 128)
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=128), value_name = "N")]
        callers: u16,
        /// Base call rate of all callers together, per second (the spike is 50 times this)
        #[arg(long, default_value_t = 100.0, value_name = "PER_SEC")]
        rate: f64,
        /// Per-request timeout of the service's HTTP client
        #[arg(long, default_value = "250ms", value_parser = parse_duration, value_name = "DURATION")]
        client_timeout: Duration,
        /// How long a tripped breaker stays open before its half-open probe, in this run
        /// (short so that probes happen within it; the services' --reset-timeout is 60s)
        #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DURATION")]
        probe_after: Duration,
        /// Run even though the database holds breakers that are not simulated (`sim-*`): the
        /// simulated ones then sit, and page, beside the real ones
        #[arg(long)]
        allow_real_breakers: bool,
    },
    /// Interactive console (the same commands, with completion and history)
    ///
    /// On a terminal: a prompt showing how many breakers are open, Tab completion of
    /// commands, flags and breaker names, history, and forced resets confirmed by typing the
    /// breaker's name. A line whose quote is still open continues on a `... ` prompt; Ctrl-C
    /// drops it.
    ///
    /// When stdin is not a terminal (`breakerctl repl < checks.txt`), the input is a script:
    /// each line runs as it would on the command line (a quoted value may span lines, `#`
    /// starts a comment), with no prompt, no history and no confirmation. The first line that
    /// fails stops the script, and its exit code is the script's; 0 when every line succeeds.
    Repl,
    /// Shell completion script, to stdout
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Man pages (roff): breakerctl(1), or one command's page, to stdout; or every page to a
    /// folder for packaging
    Man {
        /// The command whose page to print (`reset`, `audit verify`, ...)
        #[arg(value_name = "COMMAND", num_args = 0..)]
        command: Vec<String>,
        /// Write every page (breakerctl.1, breakerctl-reset.1, ...) into this folder
        #[arg(long, value_name = "DIR", conflicts_with = "command")]
        out_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args, Clone, Default)]
pub struct AuditQuery {
    /// Only this breaker, as status-all shows it
    #[arg(value_name = "NAME", add = ArgValueCompleter::new(super::complete::bookmaker_names))]
    pub name: Option<String>,
    /// Only this breaker, by option (for a breaker named like a subcommand: `--bookmaker verify`)
    #[arg(long, value_name = "NAME", conflicts_with = "name", add = ArgValueCompleter::new(super::complete::bookmaker_names))]
    pub bookmaker: Option<String>,
    /// Only rows since a duration ago (1h, 30m) or an RFC 3339 time
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only this action (TRIP, RESET, RESET_DENIED, PROBE_START, CLOSE, REOPEN)
    #[arg(long, value_name = "ACTION")]
    pub action: Option<String>,
    /// Only this user
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// At most N rows
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    pub limit: u32,
}

/// `simulate --scenario`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SimScenario {
    Steady,
    Outage,
    Spike,
}

/// `serve --listen --help`; paragraphs on one line each, for clap to wrap.
const LISTEN_HELP: &str = concat!(
    "Address to listen on, HOST:PORT; loopback unless told otherwise\n\n",
    "HOST is an IP address ([::1] for IPv6) or a name such as localhost (its IPv4 address ",
    "when it has one); an empty host (:9464) means loopback, 127.0.0.1. To be scraped from ",
    "other machines, say so: 0.0.0.0:9464 or [::]:9464. The first line printed names the ",
    "address bound (port 0 picks a free one)."
);

const SIMULATE_HELP: &str = "\
Every request goes to 127.0.0.1; the run stops by itself after --duration. The host load the
breaker sheds on is simulated (raised past 0.85 during the spike), not the machine's own.
Afterwards `breakerctl --db PATH status-all` and `breakerctl --db PATH audit` show what happened.

Example:
  breakerctl --db ./data/demo.db simulate --scenario spike --duration 10s";

#[derive(Debug, Subcommand, Clone)]
pub enum AuditCommand {
    /// Check the audit trail's hash chain; names the first broken row
    Verify,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

/// A failure threshold: a finite number above zero (NaN or infinity would never trip, or
/// would make every status read `0/NaN`).
/// A `--user` value: not empty (an empty name would hide who acted).
pub fn parse_user(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err(
            "the user is empty; name who is acting, or leave --user out to record $USER".to_owned(),
        );
    }
    Ok(s.trim().to_owned())
}

pub fn parse_threshold(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n),
        Ok(_) => Err("must be a finite number above 0 (e.g. 10)".to_owned()),
        Err(e) => Err(format!("{e} (e.g. 10)")),
    }
}

/// Durations as people type them: `5s`, `250ms`, `1m30s`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 5s, 250ms, 2m)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flag `hidden_globals` names is a global flag, of a command that exists: a typo
    /// there would show the flag again without a word.
    #[test]
    fn hidden_globals_name_real_flags_and_commands() {
        let root = Cli::command();
        let globals: Vec<&str> = root
            .get_arguments()
            .filter(|a| a.is_global_set())
            .map(|a| a.get_id().as_str())
            .collect();
        let subcommands: Vec<&str> = root.get_subcommands().map(|s| s.get_name()).collect();
        for name in ["man", "completions", "trip", "audit", "init", "simulate"] {
            assert!(subcommands.contains(&name), "{name}");
            let hidden = hidden_globals(name);
            assert!(!hidden.is_empty(), "{name}");
            for id in hidden {
                assert!(globals.contains(&id), "{name}: {id}");
            }
        }
        let mut built = command();
        built.build();
        let man = built.find_subcommand("man").expect("man");
        for id in &globals {
            let arg = man
                .get_arguments()
                .find(|a| a.get_id() == *id)
                .unwrap_or_else(|| panic!("man lacks {id}"));
            assert!(arg.is_hide_set(), "{id} shown in man");
        }
    }
}
