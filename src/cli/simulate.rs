//! `breakerctl simulate`: the market-probe service against simulated bookmakers, with a live
//! progress display (stderr) and a per-bookmaker report (table or JSON, stdout).

use super::args::{Command, GlobalArgs, SimScenario};
use super::context::Invocation;
use super::exit::{CliError, ExitCode};
use super::output::{Style, escape};
use super::table::{Cell, Column, Paint, Table};
use crate::breaker::ProductionCircuitBreaker;
use crate::sim::scenario::{
    self, BookmakerReport, Latency, Progress, Report, Scenario, SimOptions,
};
use anyhow::Result;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// A database for the demo, named in the refusal below.
pub const DEMO_DB: &str = "./data/simulate-demo.db";

/// Refuses a database that holds breakers other than simulated ones (`CIRCUIT_BREAKER_DB`
/// may point at the services' real file): `sim-*` breakers beside real ones page like them.
fn refuse_real_breakers(g: &GlobalArgs) -> Result<()> {
    let names = ProductionCircuitBreaker::builder()
        .open_read_only(&g.db)
        .and_then(|b| b.bookmaker_names())?;
    let real: Vec<&String> = names
        .iter()
        .filter(|n| !n.starts_with(scenario::NAME_PREFIX))
        .collect();
    if real.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = real
        .iter()
        .take(3)
        .map(|n| escape(n).into_owned())
        .collect();
    let more = if real.len() > 3 {
        format!(", and {} more", real.len() - 3)
    } else {
        String::new()
    };
    Err(CliError::usage(format!(
        "simulate refused: {} holds {} breaker(s) that are not simulated ({}{more}); its sim-* breakers would page beside them",
        escape(&g.db.display().to_string()),
        real.len(),
        shown.join(", "),
    ))
    .hint(format!(
        "run the demo on its own database: breakerctl --db {DEMO_DB} simulate ... (it is created), or pass --allow-real-breakers"
    ))
    .into())
}

/// How often the plain-text progress line is printed when not on a terminal.
const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Runs `simulate`. `command` must be [`Command::Simulate`].
pub fn run(
    g: &GlobalArgs,
    style: &Style,
    command: &Command,
    inv: &mut Invocation<'_>,
) -> Result<ExitCode> {
    let Command::Simulate {
        scenario,
        duration,
        bookmakers,
        seed,
        callers,
        rate,
        client_timeout,
        probe_after,
        allow_real_breakers,
    } = command
    else {
        return Err(CliError::usage("not a simulate command").into());
    };
    let options = SimOptions {
        scenario: match scenario {
            SimScenario::Steady => Scenario::Steady,
            SimScenario::Outage => Scenario::Outage,
            SimScenario::Spike => Scenario::Spike,
        },
        duration: *duration,
        bookmakers: usize::from(*bookmakers),
        seed: *seed,
        callers: usize::from(*callers),
        base_rate: *rate,
        client_timeout: *client_timeout,
        reset_timeout: *probe_after,
        failure_threshold: g.failure_threshold,
        busy_timeout: g.busy_timeout,
    };
    options.validate().map_err(CliError::usage)?;

    // The one command besides `init` that creates the database; it says so, before the run.
    let existed = std::fs::metadata(&g.db).is_ok_and(|m| m.len() > 0);
    if existed && !allow_real_breakers {
        refuse_real_breakers(g)?;
    }
    drop(
        ProductionCircuitBreaker::builder()
            .config(options.breaker_config())
            .open(&g.db)?,
    );
    let path = escape(&g.db.display().to_string()).into_owned();
    if !existed {
        if style.json() {
            eprintln!("created breaker database {path}");
        } else {
            writeln!(inv.out, "created breaker database {path}")?;
            inv.out.flush()?;
        }
    }

    let live = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    let mut display = ProgressDisplay::new(live, style.color, &options);
    let mut report = scenario::run(&options, &g.db, &mut |p| display.update(p))?;
    display.finish();
    report.database_created = !existed;

    if style.json() {
        super::output::write_json(inv.out, &report)?;
    } else {
        inv.out
            .write_all(render(&report, style, &g.db).as_bytes())?;
    }
    Ok(ExitCode::Ok)
}

/// The live counts: an indicatif bar on a terminal, a plain line a second otherwise (stderr).
struct ProgressDisplay {
    bar: Option<indicatif::ProgressBar>,
    last_plain: Option<Instant>,
    scenario: &'static str,
}

impl ProgressDisplay {
    fn new(live: bool, color: bool, options: &SimOptions) -> ProgressDisplay {
        let bar = live.then(|| {
            let total = u64::try_from(options.duration.as_millis()).unwrap_or(u64::MAX);
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(total),
                indicatif::ProgressDrawTarget::stderr_with_hz(10),
            );
            let template = if color {
                "{spinner:.green} {prefix} [{bar:24.cyan/blue}] {msg}"
            } else {
                "{spinner} {prefix} [{bar:24}] {msg}"
            };
            if let Ok(s) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(s.progress_chars("=> "));
            }
            bar
        });
        ProgressDisplay {
            bar,
            last_plain: None,
            scenario: options.scenario.as_str(),
        }
    }

    fn update(&mut self, p: &Progress) {
        let counts = format!(
            "calls {}  ok {}  failed {}  timed out {}  rejected {}  shed {}  load {:.2}{}",
            p.calls,
            p.successes,
            p.failures,
            p.timeouts,
            p.rejected,
            p.shed,
            p.load,
            if p.open.is_empty() {
                String::new()
            } else {
                format!("  open: {}", p.open.join(", "))
            }
        );
        let clock = format!(
            "{:>4.1}s/{}s {:<5}",
            p.elapsed.as_secs_f64(),
            p.duration.as_secs_f64(),
            p.phase
        );
        if let Some(bar) = &self.bar {
            bar.set_position(u64::try_from(p.elapsed.as_millis()).unwrap_or(u64::MAX));
            bar.set_prefix(clock);
            bar.set_message(counts);
            return;
        }
        let due = self
            .last_plain
            .is_none_or(|t| t.elapsed() >= PLAIN_PROGRESS_EVERY);
        if due || p.phase == "done" {
            self.last_plain = Some(Instant::now());
            eprintln!("simulate {}: {clock} {counts}", self.scenario);
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

fn secs(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

fn window(start: Option<u64>, end: Option<u64>) -> String {
    match (start, end) {
        (Some(s), Some(e)) => format!("{}-{}", secs(s), secs(e)),
        (Some(s), None) => format!("from {}", secs(s)),
        _ => "-".to_owned(),
    }
}

fn latency_pair(l: &Latency) -> String {
    match (l.p50_ms, l.p99_ms) {
        (Some(p50), Some(p99)) => format!("{} / {}", short_ms(p50), short_ms(p99)),
        _ => "-".to_owned(),
    }
}

/// Milliseconds with the precision that matters: 0.031 ms, 4.2 ms, 251 ms.
fn short_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.3}ms")
    } else if ms < 100.0 {
        format!("{ms:.1}ms")
    } else {
        format!("{ms:.0}ms")
    }
}

/// The bookmaker's name, then numbers aligned right; `hide` ranks the columns that give way
/// when the table is wider than the screen (0: never hidden).
fn new_table(header: &[(&'static str, u8)]) -> Table {
    Table::new(
        header
            .iter()
            .enumerate()
            .map(|(i, &(h, hide))| {
                let c = if i == 0 {
                    Column::whole(h)
                } else {
                    Column::whole(h).right()
                };
                if hide > 0 { c.hide(hide) } else { c }
            })
            .collect(),
    )
}

fn colored(text: String, color: Paint) -> Cell {
    Cell::new(text).paint(color)
}

fn name_cell(b: &BookmakerReport) -> Cell {
    let name = escape(&b.bookmaker).into_owned();
    if b.degraded {
        colored(format!("{name} (degraded)"), Paint::Yellow)
    } else {
        Cell::new(name)
    }
}

/// The report for people: what happened, one table for the callers' view, one for the
/// breakers, then the checks and where to look next.
pub fn render(report: &Report, style: &Style, db: &std::path::Path) -> String {
    let mut out = String::new();
    let s = &report.settings;
    let t = &report.timeline;
    out.push_str(&format!(
        "{} scenario: {}, {} bookmakers, {} callers, seed {}, breaker database {}\n",
        report.scenario.as_str(),
        secs(report.duration_ms),
        report.bookmakers.len(),
        s.callers,
        report.seed,
        escape(&report.database)
    ));
    let rates: Vec<String> = report
        .rates
        .iter()
        .map(|r| {
            if r.phase == "spike" {
                format!(
                    "spike {}: {:.0}x = {:.0}/s target, {:.0}/s attempted",
                    window(Some(r.start_ms), Some(r.end_ms)),
                    s.spike_multiplier,
                    r.target_per_sec,
                    r.attempted_per_sec
                )
            } else {
                format!(
                    "base {:.0}/s target, {:.0}/s attempted",
                    r.target_per_sec, r.attempted_per_sec
                )
            }
        })
        .collect();
    out.push_str(&format!("traffic: {}\n", rates.join("; ")));
    if let Some(name) = &t.degraded_bookmaker {
        let what = match (t.degradation, t.slowdown_latency_ms) {
            (Some("slowdown"), Some(l)) => {
                format!("slowed to {l}ms (client timeout {}ms)", s.client_timeout_ms)
            }
            _ => "failed hard (HTTP 500)".to_owned(),
        };
        out.push_str(&format!(
            "degraded: {} {what} {}\n",
            escape(name),
            window(t.degradation_start_ms, t.degradation_end_ms)
        ));
    }
    if t.high_load_start_ms.is_some() {
        out.push_str(&format!(
            "host load: {:.2} (simulated; heavy work is shed above {:.2}) {}\n",
            s.high_load,
            s.load_shed_threshold,
            window(t.high_load_start_ms, t.high_load_end_ms)
        ));
    }
    out.push_str(&format!(
        "breakers: trip at {} weighted failures (timeout {}), half-open probe after {}\n\n",
        crate::machine::fmt_count(s.failure_threshold),
        s.timeout_weight,
        secs(s.reset_timeout_ms)
    ));

    // The callers' view.
    // SHED is also in the load shedding line below.
    let mut calls = new_table(&[
        ("BOOKMAKER", 0),
        ("CALLS", 0),
        ("OK", 0),
        ("FAILED", 0),
        ("TIMED OUT", 0),
        ("REJECTED (OPEN)", 0),
        ("SHED", 1),
    ]);
    for b in &report.bookmakers {
        let c = &b.counts;
        calls.push(vec![
            name_cell(b),
            Cell::new(c.calls.to_string()),
            Cell::new(c.successes.to_string()),
            Cell::new(c.failures.to_string()),
            Cell::new(c.timeouts.to_string()),
            Cell::new(c.rejected_open.to_string()),
            Cell::new(c.shed.to_string()),
        ]);
    }
    let c = &report.totals;
    calls.push(vec![
        Cell::new("total"),
        Cell::new(c.calls.to_string()),
        Cell::new(c.successes.to_string()),
        Cell::new(c.failures.to_string()),
        Cell::new(c.timeouts.to_string()),
        Cell::new(c.rejected_open.to_string()),
        Cell::new(c.shed.to_string()),
    ]);
    out.push_str(&calls.render(&style.layout()));
    out.push_str("\n\n");

    // The breakers' view.
    let mut breakers = new_table(&[
        ("BOOKMAKER", 0),
        ("TRIPS", 0),
        ("DEGRADED->TRIP", 4),
        ("REQS WHILE OPEN", 0),
        ("PROBES", 2),
        ("p50/p99 CLOSED", 3),
        ("p50/p99 OPEN", 1),
        ("STATE NOW", 0),
    ]);
    for b in &report.bookmakers {
        let leaks = if b.requests_while_open == 0 {
            Cell::new("0")
        } else {
            colored(b.requests_while_open.to_string(), Paint::Red)
        };
        let trips = if b.trips > 0 && !b.degraded {
            colored(b.trips.to_string(), Paint::Red)
        } else {
            Cell::new(b.trips.to_string())
        };
        breakers.push(vec![
            name_cell(b),
            trips,
            Cell::new(
                b.time_to_trip_ms
                    .map(|ms| format!("{ms}ms"))
                    .unwrap_or_else(|| "-".to_owned()),
            ),
            leaks,
            Cell::new(if b.probes == 0 {
                "-".to_owned()
            } else {
                format!("{} ({} reqs)", b.probes, b.probe_requests)
            }),
            Cell::new(latency_pair(&b.latency_closed)),
            Cell::new(latency_pair(&b.latency_open)),
            Cell::new(b.final_state.map(|s| s.as_str()).unwrap_or("-")),
        ]);
    }
    out.push_str(&breakers.render(&style.layout()));
    out.push('\n');
    let in_flight: u64 = report
        .bookmakers
        .iter()
        .map(|b| b.in_flight_at_trip_requests)
        .sum();
    out.push_str(&format!(
        "REQS WHILE OPEN: requests a bookmaker received while its breaker was open, other than \
         half-open probes{}\n\n",
        if in_flight > 0 {
            format!(" and {in_flight} from calls already in flight at the trip")
        } else {
            String::new()
        }
    ));

    // Load shedding.
    let shed: Vec<String> = report
        .operations
        .iter()
        .map(|o| {
            if o.heavy {
                format!(
                    "{} (load {}, heavy): of {} calls while the load was high {} shed, {} sent, \
                     {} met an open breaker; {} shed while low",
                    o.operation,
                    o.estimated_load,
                    o.calls_while_high_load,
                    o.shed_while_high_load,
                    o.upstream_while_high_load,
                    o.calls_while_high_load
                        .saturating_sub(o.shed_while_high_load + o.upstream_while_high_load),
                    o.shed_while_low_load
                )
            } else {
                format!(
                    "{} (load {}) {} shed",
                    o.operation, o.estimated_load, o.counts.shed
                )
            }
        })
        .collect();
    if t.high_load_start_ms.is_some() {
        out.push_str(&format!("load shedding: {}\n", shed.join("; ")));
    } else {
        out.push_str(&format!(
            "load shedding: none (the simulated load stayed at {:.2}, below {:.2})\n",
            s.base_load, s.load_shed_threshold
        ));
    }

    if !report.checks.is_empty() {
        out.push_str("\nchecks:\n");
        for c in &report.checks {
            let mark = match (c.ok, style.color) {
                (true, true) => format!("{}", owo_colors::OwoColorize::green(&"ok  ")),
                (true, false) => "ok  ".to_owned(),
                (false, true) => format!("{}", owo_colors::OwoColorize::red(&"FAIL")),
                (false, false) => "FAIL".to_owned(),
            };
            out.push_str(&format!("  {mark}  {}: {}\n", c.name, escape(&c.detail)));
        }
    }
    let quoted = shell_words::quote(&db.display().to_string()).into_owned();
    out.push_str(&format!(
        "\nnext: breakerctl --db {q} status-all\n      breakerctl --db {q} audit\n",
        q = escape(&quoted)
    ));
    out
}
