//! The shipped alerting, end to end with the real servers (issue 14): `breakerctl serve` on a
//! real database, a real Prometheus scraping it every second and evaluating the shipped rules
//! (their `for:` shortened, nothing else changed), a real Alertmanager with the shipped
//! routes and inhibit rules (its receivers replaced by webhooks, its group timings
//! shortened), and a webhook receiver inside the test (a `std` TcpListener). Everything
//! listens on 127.0.0.1, on free ports, with its own temporary storage.
//!
//! The story: a breaker created tripped pages (with the host in the labels) and a simulated
//! one does not; a forced reset resolves the page and sends the ForcedReset warning to the
//! team's receiver; tripped again, it pages again; its database corrupted under `serve`, the
//! store-unreadable alert pages (and resolves once the file is repaired) without resolving the
//! tripped breaker's page; then `serve` is killed: the exporter-down alert pages and the
//! tripped breaker's page is not resolved (its alert stays firing in Prometheus and is
//! inhibited in Alertmanager).
//!
//! Every wait is bounded; the whole test takes about half a minute. Skipped with a note when
//! Prometheus or Alertmanager is not installed, failing instead with `CI=true`.

use crate::support::run::ctl_command;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

fn alerts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/alerts")
}

/// The first of `names` found on PATH, run with `--version`.
fn find_tool(names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| {
        Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()
            .map(|_| (*name).to_owned())
    })
}

/// A port that was free a moment ago on 127.0.0.1 (for the servers that take no port 0).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A child process killed when dropped, its output in a log file.
struct Server {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Server {
    fn spawn(name: &'static str, cmd: &mut Command, dir: &Path) -> Server {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = cmd
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Server { name, child, log }
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(30);
        format!(
            "--- {} (last lines)\n{}",
            self.name,
            lines[from..].join("\n")
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request the webhook received.
#[derive(Debug, Clone)]
struct Notification {
    /// `/pagerduty` or `/team-warnings`: which receiver of the shipped routes sent it.
    path: String,
    body: Value,
    at: Instant,
}

impl Notification {
    fn status(&self) -> &str {
        self.body["status"].as_str().unwrap_or("")
    }

    fn alerts(&self) -> Vec<&Value> {
        self.body["alerts"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default()
    }

    /// Whether it carries `alertname` for `bookmaker` (any bookmaker when `None`) with
    /// `status` (`firing`/`resolved`).
    fn has(&self, alertname: &str, bookmaker: Option<&str>, status: &str) -> bool {
        self.alerts().iter().any(|a| {
            a["labels"]["alertname"] == alertname
                && bookmaker.is_none_or(|b| a["labels"]["bookmaker"] == b)
                && a["status"] == status
        })
    }
}

/// The webhook receiver: answers every POST with 200 and keeps what it got. Stops when
/// dropped, or by itself after `LIFETIME`.
struct Webhook {
    port: u16,
    got: Arc<Mutex<Vec<Notification>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

const LIFETIME: Duration = Duration::from_secs(180);

impl Webhook {
    fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the webhook");
        let port = listener.local_addr().expect("address").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s) = (Arc::clone(&got), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let until = Instant::now() + LIFETIME;
            while !s.load(Ordering::SeqCst) && Instant::now() < until {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Some(n) = receive(stream) {
                            g.lock().unwrap().push(n);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Webhook {
            port,
            got,
            stop,
            thread: Some(thread),
        }
    }

    fn all(&self) -> Vec<Notification> {
        self.got.lock().unwrap().clone()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one HTTP request (head and `Content-Length` body) and answers 200.
fn receive(mut stream: TcpStream) -> Option<Notification> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let path = request_line.split(' ').nth(1)?.to_owned();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; length.min(1 << 20)];
    reader.read_exact(&mut body).ok()?;
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    Some(Notification {
        path,
        body: serde_json::from_slice(&body).ok()?,
        at: Instant::now(),
    })
}

/// The shipped rules with every `for: D` shortened to D/100 (at least 1 s), nothing else.
fn shortened_rules(rules: &str) -> String {
    rules
        .lines()
        .map(|line| {
            let Some(d) = line.trim_start().strip_prefix("for: ") else {
                return line.to_owned();
            };
            let secs = parse_seconds(d).unwrap_or_else(|| panic!("a duration: {d}"));
            let indent = &line[..line.len() - line.trim_start().len()];
            format!("{indent}for: {}s", secs.div_ceil(100).max(1))
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn parse_seconds(d: &str) -> Option<u64> {
    let (mut total, mut n) = (0u64, String::new());
    for c in d.trim().chars() {
        if c.is_ascii_digit() {
            n.push(c);
            continue;
        }
        let v: u64 = n.parse().ok()?;
        n.clear();
        total += v * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return None,
        };
    }
    n.is_empty().then_some(total)
}

/// The shipped Alertmanager file with 1 s group timings and webhook receivers of the same
/// names (everything from `receivers:` on is replaced).
fn test_alertmanager_config(shipped: &str, webhook_port: u16) -> String {
    let routes_end = shipped
        .find("\nreceivers:")
        .expect("receivers: is the last section of alertmanager.yml");
    let mut text = shipped[..routes_end].to_owned();
    for (key, value) in [("group_wait", "1s"), ("group_interval", "1s")] {
        let from = format!("  {key}: ");
        let at = text
            .find(&from)
            .unwrap_or_else(|| panic!("alertmanager.yml sets {key}"));
        let end = at + text[at..].find('\n').expect("a line");
        text.replace_range(at..end, &format!("{from}{value}"));
    }
    text.push_str("\nreceivers:\n");
    for name in ["pagerduty", "team-warnings"] {
        text.push_str(&format!(
            "  - name: {name}\n    webhook_configs:\n      - url: \"http://127.0.0.1:{webhook_port}/{name}\"\n        send_resolved: true\n"
        ));
    }
    text
}

/// GET `url`, its body when the answer is 200.
fn http_get(url: &str) -> Option<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .into();
    let mut resp = agent.get(url).call().ok()?;
    if resp.status().as_u16() != 200 {
        return None;
    }
    resp.body_mut().read_to_string().ok()
}

struct Stack {
    webhook: Webhook,
    servers: Vec<Server>,
    started: Instant,
    prometheus: String,
    alertmanager: String,
}

impl Stack {
    fn logs(&self) -> String {
        self.servers
            .iter()
            .map(Server::tail)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits (at most `limit`) for a notification on `path` carrying the alert; panics with
    /// every log otherwise.
    fn wait_for(
        &self,
        path: &str,
        alertname: &str,
        bookmaker: Option<&str>,
        status: &str,
        after: Instant,
        limit: Duration,
    ) -> Notification {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(n) = self.webhook.all().into_iter().find(|n| {
                n.at >= after && n.path == format!("/{path}") && n.has(alertname, bookmaker, status)
            }) {
                eprintln!(
                    "alerts_e2e: {status} {alertname} at /{path} after {:.1}s",
                    self.started.elapsed().as_secs_f64()
                );
                return n;
            }
            if Instant::now() >= deadline {
                panic!(
                    "no {status} {alertname} {bookmaker:?} at /{path} within {limit:?}; got:\n{:#?}\n{}",
                    self.webhook
                        .all()
                        .iter()
                        .map(|n| (n.path.clone(), n.body.clone()))
                        .collect::<Vec<_>>(),
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The alerts Prometheus has in state `firing` for `alertname`, as label objects.
    fn prometheus_firing(&self, alertname: &str) -> Vec<Value> {
        let body = http_get(&format!("http://{}/api/v1/alerts", self.prometheus))
            .expect("Prometheus answers /api/v1/alerts");
        let doc: Value = serde_json::from_str(&body).expect("JSON");
        doc["data"]["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .filter(|a| a["labels"]["alertname"] == alertname && a["state"] == "firing")
            .map(|a| a["labels"].clone())
            .collect()
    }

    /// Alertmanager's view of one alert: its `status` object.
    fn alertmanager_status(&self, alertname: &str, bookmaker: &str) -> Option<Value> {
        let body = http_get(&format!("http://{}/api/v2/alerts", self.alertmanager))?;
        let doc: Value = serde_json::from_str(&body).ok()?;
        doc.as_array()?
            .iter()
            .find(|a| {
                a["labels"]["alertname"] == alertname && a["labels"]["bookmaker"] == bookmaker
            })
            .map(|a| a["status"].clone())
    }
}

fn wait_ready(url: &str, what: &str, stack_logs: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_get(url).is_none() {
        assert!(
            Instant::now() < deadline,
            "{what} not ready at {url}\n{}",
            stack_logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ctl_ok(db: &Path, args: &[&str]) {
    let out = ctl_command(db, args).output().expect("run breakerctl");
    assert!(
        out.status.success(),
        "breakerctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn shipped_alerting_pages_resolves_and_survives_a_dead_exporter() {
    let prometheus = find_tool(&["prometheus"]);
    let alertmanager = find_tool(&["prometheus-alertmanager", "alertmanager"]);
    let (Some(prometheus_bin), Some(alertmanager_bin)) = (prometheus, alertmanager) else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "prometheus and alertmanager are required when CI=true; install the \
                 `prometheus` and `prometheus-alertmanager` packages (see .ci/run)"
            );
        }
        eprintln!(
            "note: prometheus or alertmanager not installed; skipping the end-to-end alerting test"
        );
        return;
    };
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("cb.db");
    ctl_ok(&db, &["init"]);
    // Created tripped: its trips counter starts at 1.
    ctl_ok(
        &db,
        &["trip", "betmgm", "--create", "--reason", "e2e: maintenance"],
    );
    ctl_ok(
        &db,
        &[
            "trip",
            "sim-draftkings",
            "--create",
            "--reason",
            "e2e: simulated",
        ],
    );

    // breakerctl serve, on a port it picks.
    let mut serve_cmd = ctl_command(&db, &["serve", "--listen", "127.0.0.1:0"]);
    let serve_log = dir.path().join("serve.log");
    let mut serve = serve_cmd
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&serve_log).expect("log"))
        .spawn()
        .expect("start serve");
    let mut line = String::new();
    BufReader::new(serve.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("serve's first line");
    let serve_addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    let serve = Server {
        name: "serve",
        child: serve,
        log: serve_log,
    };

    let webhook = Webhook::start();
    let am_port = free_port();
    let prom_port = free_port();
    let rules = std::fs::read_to_string(alerts_dir().join("circuit-breaker.yml")).unwrap();
    std::fs::write(dir.path().join("rules.yml"), shortened_rules(&rules)).unwrap();
    let am_shipped = std::fs::read_to_string(alerts_dir().join("alertmanager.yml")).unwrap();
    std::fs::write(
        dir.path().join("alertmanager.yml"),
        test_alertmanager_config(&am_shipped, webhook.port),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - rules.yml\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"127.0.0.1:{am_port}\"]\n\
             scrape_configs:\n  - job_name: breakerctl\n    static_configs:\n      - targets: [\"{serve_addr}\"]\n"
        ),
    )
    .unwrap();

    let am = Server::spawn(
        "alertmanager",
        Command::new(&alertmanager_bin)
            .arg(format!(
                "--config.file={}",
                dir.path().join("alertmanager.yml").display()
            ))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("am").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address="),
        dir.path(),
    );
    let prom = Server::spawn(
        "prometheus",
        Command::new(&prometheus_bin)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("prom").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}")),
        dir.path(),
    );
    let mut stack = Stack {
        webhook,
        servers: vec![serve, am, prom],
        started,
        prometheus: format!("127.0.0.1:{prom_port}"),
        alertmanager: format!("127.0.0.1:{am_port}"),
    };
    wait_ready(
        &format!("http://127.0.0.1:{am_port}/-/ready"),
        "alertmanager",
        || stack.logs(),
    );
    wait_ready(
        &format!("http://127.0.0.1:{prom_port}/-/ready"),
        "prometheus",
        || stack.logs(),
    );
    eprintln!(
        "alerts_e2e: servers ready after {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let limit = Duration::from_secs(30);

    // 1. The breaker created tripped pages, with the host in its labels and the runbook link.
    let page = stack.wait_for(
        "pagerduty",
        "CircuitBreakerTripped",
        Some("betmgm"),
        "firing",
        started,
        limit,
    );
    assert_eq!(page.status(), "firing");
    let alert = page
        .alerts()
        .into_iter()
        .find(|a| a["labels"]["alertname"] == "CircuitBreakerTripped")
        .expect("the alert")
        .clone();
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["labels"]["job"], "breakerctl");
    assert_eq!(alert["labels"]["instance"], serve_addr.as_str());
    assert_eq!(
        alert["annotations"]["runbook_url"],
        "https://runbooks.example.com/breakerctl/runbook.md#circuitbreakertripped"
    );
    assert_eq!(
        page.body["groupLabels"]["instance"],
        serve_addr.as_str(),
        "group_by has the host"
    );
    assert_eq!(page.alerts().len(), 1, "one page per breaker and host");

    // 2. A forced reset resolves the page and warns the team.
    let reset_at = Instant::now();
    ctl_ok(
        &db,
        &["reset", "betmgm", "--force", "--reason", "e2e: recovered"],
    );
    stack.wait_for(
        "pagerduty",
        "CircuitBreakerTripped",
        Some("betmgm"),
        "resolved",
        reset_at,
        limit,
    );
    let warning = stack.wait_for(
        "team-warnings",
        "CircuitBreakerForcedReset",
        Some("betmgm"),
        "firing",
        reset_at,
        limit,
    );
    assert_eq!(warning.alerts()[0]["labels"]["severity"], "warning");
    assert_eq!(
        warning.alerts()[0]["labels"]["instance"],
        serve_addr.as_str()
    );

    // 3. Tripped again, it pages again.
    let trip_at = Instant::now();
    ctl_ok(&db, &["trip", "betmgm", "--reason", "e2e: failing again"]);
    stack.wait_for(
        "pagerduty",
        "CircuitBreakerTripped",
        Some("betmgm"),
        "firing",
        trip_at,
        limit,
    );

    // 4. The database is corrupted under a running serve: the store-unreadable alert pages,
    //    the tripped page is not resolved; repaired, the store alert resolves.
    {
        let conn = rusqlite::Connection::open(&db).expect("open");
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .expect("checkpoint");
    }
    let good = std::fs::read(&db).expect("read db");
    let mut wrecked = good.clone();
    // The header stays (its user_version still reads); every page behind it is garbage.
    wrecked[100..].fill(0xA5);
    let corrupt_at = Instant::now();
    std::fs::write(&db, &wrecked).expect("corrupt db");
    stack.wait_for(
        "pagerduty",
        "CircuitBreakerStoreUnreadable",
        None,
        "firing",
        corrupt_at,
        limit,
    );
    std::fs::write(&db, &good).expect("repair db");
    stack.wait_for(
        "pagerduty",
        "CircuitBreakerStoreUnreadable",
        None,
        "resolved",
        corrupt_at,
        limit,
    );
    let resolved: Vec<Notification> = stack
        .webhook
        .all()
        .into_iter()
        .filter(|n| {
            n.at >= corrupt_at && n.has("CircuitBreakerTripped", Some("betmgm"), "resolved")
        })
        .collect();
    assert!(
        resolved.is_empty(),
        "the unreadable database resolved the page: {resolved:#?}"
    );

    // 5. serve dies: the exporter-down alert pages; the tripped page is not resolved.
    let killed_at = Instant::now();
    {
        let serve = &mut stack.servers[0];
        serve.child.kill().expect("kill serve");
        serve.child.wait().expect("wait serve");
    }
    stack.wait_for(
        "pagerduty",
        "CircuitBreakerExporterDown",
        None,
        "firing",
        killed_at,
        limit,
    );
    // Well past the shortened `for:` and a few group intervals.
    let watch_until = Instant::now() + Duration::from_secs(6);
    let mut inhibited = false;
    while Instant::now() < watch_until {
        if let Some(status) = stack.alertmanager_status("CircuitBreakerTripped", "betmgm") {
            inhibited |= status["state"] == "suppressed"
                && status["inhibitedBy"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let resolved: Vec<Notification> = stack
        .webhook
        .all()
        .into_iter()
        .filter(|n| n.at >= killed_at && n.has("CircuitBreakerTripped", Some("betmgm"), "resolved"))
        .collect();
    assert!(
        resolved.is_empty(),
        "the dead exporter resolved the page: {resolved:#?}"
    );
    let firing = stack.prometheus_firing("CircuitBreakerTripped");
    assert!(
        firing
            .iter()
            .any(|l| l["bookmaker"] == "betmgm" && l["instance"] == serve_addr.as_str()),
        "Prometheus no longer fires CircuitBreakerTripped for betmgm: {firing:?}"
    );
    assert!(
        inhibited,
        "Alertmanager did not inhibit the tripped alert of the dead exporter's host"
    );

    // Simulated bookmakers never reached a receiver.
    let all = stack.webhook.all();
    assert!(
        all.iter().all(|n| n
            .alerts()
            .iter()
            .all(|a| a["labels"]["bookmaker"] != "sim-draftkings")),
        "a simulated bookmaker alerted: {:#?}",
        all.iter().map(|n| n.body.clone()).collect::<Vec<_>>()
    );
    eprintln!(
        "alerts_e2e: done after {:.1}s",
        started.elapsed().as_secs_f64()
    );
    stack.servers.clear();
}

#[test]
fn test_configs_are_derived_from_the_shipped_files() {
    let rules = std::fs::read_to_string(alerts_dir().join("circuit-breaker.yml")).unwrap();
    let short = shortened_rules(&rules);
    assert!(short.contains("        for: 3s\n"), "5m -> 3s");
    assert!(short.contains("        for: 6s\n"), "10m -> 6s");
    assert!(short.contains("        for: 2s\n"), "2m -> 2s");
    // Nothing but the `for:` lines changed.
    let changed: Vec<(&str, &str)> = rules
        .lines()
        .zip(short.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert!(
        changed
            .iter()
            .all(|(a, _)| a.trim_start().starts_with("for: ")),
        "{changed:?}"
    );
    assert_eq!(rules.lines().count(), short.lines().count());

    let am = std::fs::read_to_string(alerts_dir().join("alertmanager.yml")).unwrap();
    let test = test_alertmanager_config(&am, 4242);
    assert!(test.contains("  group_wait: 1s\n"), "{test}");
    assert!(test.contains("  group_interval: 1s\n"), "{test}");
    assert!(
        test.contains("url: \"http://127.0.0.1:4242/pagerduty\""),
        "{test}"
    );
    assert!(
        !test.contains("routing_key:") && !test.contains("api_url:"),
        "{test}"
    );
    // The routes and inhibit rules are the shipped ones.
    let shipped_routes = &am[am.find("inhibit_rules:").unwrap()..am.find("\nreceivers:").unwrap()];
    assert!(test.contains(shipped_routes));
}
