//! `breakerctl serve` end to end: the real binary on a real database, scraped over real HTTP on
//! 127.0.0.1, and counters written by two separate library processes adding up in one scrape.

use crate::support::child::child_test;
use crate::support::run::ctl_command;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn cli(db: &Path, args: &[&str]) -> std::process::Output {
    ctl_command(db, args).output().expect("run breakerctl")
}

/// A running `breakerctl serve` on an ephemeral loopback port; stopped with SIGTERM on drop.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(db: &Path) -> Server {
        Server::start_on(db, "127.0.0.1:0")
    }

    /// `breakerctl serve --listen LISTEN`, once its first line names the address bound.
    fn start_on(db: &Path, listen: &str) -> Server {
        let mut child = ctl_command(db, &["serve", "--listen", listen])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the ready line");
        // "serving http://127.0.0.1:PORT/metrics and /healthz; Ctrl-C to stop"
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        assert!(addr.starts_with("127.0.0.1:"), "{addr}");
        Server { child, addr }
    }

    fn get(&self, path: &str) -> (u16, String) {
        let url = format!("http://{}{path}", self.addr);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let mut resp = agent.get(&url).call().expect("HTTP request");
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().expect("body");
        (status, body)
    }

    fn stop(mut self) -> std::process::ExitStatus {
        let pid = i32::try_from(self.child.id()).expect("pid");
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Runs `promtool check metrics` on a scrape when promtool is there (required with CI=true).
fn promtool_check(text: &str) {
    let spawned = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(_) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("note: promtool not installed; `promtool check metrics` skipped");
            return;
        }
        Err(e) => panic!("promtool is required with CI=true: {e}"),
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    let complaints = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool: {complaints}");
    assert!(
        complaints.trim().is_empty(),
        "promtool complained: {complaints}"
    );
}

#[test]
fn serve_shows_a_cli_trip_and_reset_on_real_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("cb.db");
    assert!(cli(&db, &["init"]).status.success());
    let trip = cli(
        &db,
        &["trip", "draftkings", "--reason", "maintenance", "--create"],
    );
    assert!(trip.status.success(), "{trip:?}");

    let server = Server::start(&db);
    let (status, body) = server.get("/metrics");
    assert_eq!(status, 200);
    assert_eq!(
        sample(&body, r#"circuit_breaker_tripped{bookmaker="draftkings"}"#),
        Some(1.0),
        "{body}"
    );
    promtool_check(&body);
    assert_eq!(server.get("/healthz").0, 200);
    assert_eq!(server.get("/nope").0, 404);

    let reset = cli(
        &db,
        &[
            "reset",
            "draftkings",
            "--force",
            "--reason",
            "maintenance over",
        ],
    );
    assert!(reset.status.success(), "{reset:?}");
    // Every scrape reads the database afresh.
    let (_, body) = server.get("/metrics");
    assert_eq!(
        sample(&body, r#"circuit_breaker_tripped{bookmaker="draftkings"}"#),
        Some(0.0),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            r#"circuit_breaker_forced_resets_total{bookmaker="draftkings"}"#
        ),
        Some(1.0),
        "{body}"
    );
    let status = server.stop();
    assert!(
        status.success(),
        "serve should stop cleanly on SIGTERM: {status:?}"
    );
}

#[test]
fn serve_refuses_a_missing_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("typo.db");
    let out = cli(&db, &["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(6));
    assert!(!db.exists());
}

#[test]
fn listen_takes_host_names_and_an_empty_host_means_loopback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("cb.db");
    assert!(cli(&db, &["init"]).status.success());
    // `start_on` checks that the first line names 127.0.0.1 and a port.
    for listen in ["localhost:0", ":0"] {
        let server = Server::start_on(&db, listen);
        assert_eq!(server.get("/healthz"), (200, "ok\n".to_owned()), "{listen}");
        assert!(server.stop().success(), "{listen}");
    }
    // Forms that are not HOST:PORT are usage errors that say what to write.
    for listen in ["9464", "localhost", "::1:9464", "[::1:9464"] {
        let out = cli(&db, &["serve", "--listen", listen]);
        assert_eq!(out.status.code(), Some(2), "{listen}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("HOST:PORT") || stderr.contains("brackets"),
            "{listen}: {stderr}"
        );
    }
    // A name that does not resolve is a usage error too, before anything is bound.
    let out = cli(&db, &["serve", "--listen", "no-such-host.invalid:0"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot resolve --listen"));
    // And --help says it.
    let help = cli(&db, &["serve", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("an empty host (:9464) means loopback"),
        "{help}"
    );
    assert!(help.contains("0.0.0.0:9464"), "{help}");
}

const CHILD_DB: &str = "BREAKERCTL_TEST_SERVE_CHILD_DB";
const CHILD_CALLS: usize = 25;

/// Child entry point: one library process making rejected calls on a tripped breaker.
#[test]
#[ignore = "run as a child process by counters_of_two_processes_add_up_in_one_scrape"]
fn child_rejects_calls() {
    let Ok(db) = std::env::var(CHILD_DB) else {
        return;
    };
    let breaker = breakerctl::ProductionCircuitBreaker::builder()
        .open_existing(&db)
        .expect("open");
    let ctx = breakerctl::CallContext::new("deepProbe", 50.0);
    for _ in 0..CHILD_CALLS {
        let result = breaker.call_api("fanduel", &ctx, || Ok::<_, String>(()));
        assert!(matches!(result, Err(breakerctl::CallError::Tripped { .. })));
    }
    // Dropping the breaker writes its batched counters.
}

#[test]
fn counters_of_two_processes_add_up_in_one_scrape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("cb.db");
    assert!(cli(&db, &["init"]).status.success());
    assert!(
        cli(&db, &["trip", "fanduel", "--reason", "outage", "--create"])
            .status
            .success()
    );
    let children: Vec<Child> = (0..2)
        .map(|_| {
            child_test(module_path!(), "child_rejects_calls")
                .env(CHILD_DB, &db)
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn child")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().expect("child").success());
    }
    let server = Server::start(&db);
    let (_, body) = server.get("/metrics");
    let series = r#"circuit_breaker_rejected_total{bookmaker="fanduel",operation="deepProbe",reason="tripped"}"#;
    assert_eq!(
        sample(&body, series),
        Some((2 * CHILD_CALLS) as f64),
        "{body}"
    );
    promtool_check(&body);
}
