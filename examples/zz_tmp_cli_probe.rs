// Temporary probe (will be deleted): in-process cost of the pieces of `breakerctl status NAME`.
use breakerctl::cli::args::Cli;
use breakerctl::cli::commands::{Invocation, execute, open_for_read};
use breakerctl::storage::AuditFilter;
use clap::Parser;
use std::time::Instant;
fn bench(name: &str, mut f: impl FnMut()) {
    let n = 300;
    let mut best = f64::MAX;
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..n { f(); }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    println!("{name:<20} {best:>8.1} us");
}
fn main() {
    let db = std::env::args().nth(1).unwrap();
    let argv = ["breakerctl", "--db", &db, "status", "fanduel"];
    bench("clap parse", || { let _ = Cli::try_parse_from(argv).unwrap(); });
    let cli = Cli::try_parse_from(argv).unwrap();
    let g = &cli.global;
    bench("open+drop", || { drop(open_for_read(g).unwrap()); });
    bench("+get_status", || { let b = open_for_read(g).unwrap(); let _ = b.get_status("fanduel").unwrap(); });
    bench("+audit", || { let b = open_for_read(g).unwrap(); let _ = b.audit(&AuditFilter { bookmaker: Some("fanduel".into()), limit: Some(5), ..Default::default() }).unwrap(); });
    bench("+both", || { let b = open_for_read(g).unwrap(); let _ = b.get_status("fanduel").unwrap(); let _ = b.audit(&AuditFilter { bookmaker: Some("fanduel".into()), limit: Some(5), ..Default::default() }).unwrap(); });
    bench("execute(status)", || {
        let mut out = Vec::new();
        execute(&cli, &mut Invocation { out: &mut out, prompter: None }).unwrap();
    });
    let jcli = Cli::try_parse_from(["breakerctl", "--db", &db, "--json", "status", "fanduel"]).unwrap();
    bench("execute(status json)", || {
        let mut out = Vec::new();
        execute(&jcli, &mut Invocation { out: &mut out, prompter: None }).unwrap();
    });
    bench("raw rusqlite", || {
        let c = rusqlite::Connection::open(&db).unwrap();
        let mut s = c.prepare("select * from circuit_breaker_state where bookmaker='fanduel'").unwrap();
        let mut rows = s.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() { let _: String = r.get(0).unwrap(); }
    });
    bench("raw open only", || {
        let c = rusqlite::Connection::open(&db).unwrap();
        let _: i64 = c.query_row("pragma user_version", [], |r| r.get(0)).unwrap();
    });
}
