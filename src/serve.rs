//! A small HTTP exporter for the breaker metrics, on `std::net` alone.
//!
//! Routes:
//! * `GET /metrics`: 200 with the Prometheus text exposition, or 503 with the
//!   error message when the scrape fails; each failure is logged on stderr as one line,
//!   at most one a minute (the next line counts the ones left out). `breakerctl serve`'s
//!   scrape itself never fails: an unreadable store is `circuit_breaker_store_up 0` in a
//!   200 (see [`crate::exposition::Exporter`]), and the exporter logs it.
//! * `GET /healthz`: 200 `ok`, or 503 with the reason.
//! * `HEAD` on either: the same status and headers as `GET`, without the body.
//! * Any other path: 404. Any other method on a known path: 405 with
//!   `Allow: GET, HEAD`.
//!
//! Limits, so that no client can make the exporter hold more than a few
//! kilobytes for it: a request head (request line and headers) longer than
//! [`MAX_HEAD`] gets 431, a body longer than [`MAX_BODY`] (or of unknown
//! length, `Transfer-Encoding`) gets 413, a head not complete within 10 s gets
//! 408. No route reads a body. Every response closes the connection (one
//! request per connection: a scraper reconnects for the next scrape, and an
//! idle connection never holds a worker).
//!
//! [`serve`] stops on SIGINT or SIGTERM and then returns `Ok(())`; a second
//! signal while it is shutting down gets the signal's default action
//! (terminate). [`serve_until`] is the same server stopped by a flag instead,
//! for embedding and tests.

use std::fmt;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `Content-Type` of a successful `/metrics` response.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Number of threads answering requests, so concurrent scrapes do not queue
/// behind each other.
pub const WORKERS: usize = 4;

/// The longest request head (request line, headers and the blank line) answered;
/// a longer one gets 431. A scraper's is a few hundred bytes.
pub const MAX_HEAD: usize = 8 * 1024;

/// The longest request body accepted (and never read: no route takes one); a
/// longer one gets 413.
pub const MAX_BODY: u64 = 8 * 1024;

/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long writing a response may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// After answering, how long (and how much) of what the client still sends is
/// read and dropped before closing, so that the answer reaches it instead of
/// a reset.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 16 * 1024 * 1024;

/// How often the idle acceptor and workers look at the stop flag.
const POLL: Duration = Duration::from_millis(25);

/// Where the exporter listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// The address and port to bind.
    pub listen: SocketAddr,
}

/// A listen address as people write it: `127.0.0.1:9464`, `[::1]:9464`,
/// `localhost:9464`, `0.0.0.0:9464`, or `:9464`, an empty host, which means
/// loopback (`127.0.0.1`). Parsing checks the form only; [`ListenAddr::resolve`]
/// looks the host name up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    /// `None` for an empty host; an IPv6 address without its brackets.
    host: Option<String>,
    port: u16,
}

impl FromStr for ListenAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<ListenAddr, String> {
        let s = s.trim();
        let example = "use HOST:PORT, e.g. 127.0.0.1:9464, localhost:9464, [::1]:9464 or :9464";
        let Some((host, port)) = s.rsplit_once(':') else {
            if s.parse::<u16>().is_ok() {
                return Err(format!(
                    "{s:?} has no host; use HOST:PORT, e.g. :{s} for port {s} on loopback \
                     or 0.0.0.0:{s} for every interface"
                ));
            }
            return Err(format!("no port in {s:?}; {example}"));
        };
        let port: u16 = port
            .parse()
            .map_err(|_| format!("invalid port {port:?}; {example}"))?;
        let host = if let Some(inner) = host.strip_prefix('[') {
            let Some(v6) = inner.strip_suffix(']') else {
                return Err(format!("unclosed '[' in {s:?}; {example}"));
            };
            if v6.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(format!("{v6:?} is not an IPv6 address; {example}"));
            }
            Some(v6.to_owned())
        } else if host.contains(':') {
            return Err(format!(
                "an IPv6 address needs brackets, e.g. [{host}]:{port}"
            ));
        } else if host.is_empty() {
            None
        } else if host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        {
            Some(host.to_owned())
        } else {
            return Err(format!("{host:?} is not a host name or address; {example}"));
        };
        Ok(ListenAddr { host, port })
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            None => write!(f, ":{}", self.port),
            Some(h) if h.contains(':') => write!(f, "[{h}]:{}", self.port),
            Some(h) => write!(f, "{h}:{}", self.port),
        }
    }
}

impl ListenAddr {
    /// The socket address to bind: the host's first IPv4 address when it has
    /// one (so `localhost` is `127.0.0.1`, as in the default), else its first
    /// address; loopback for an empty host.
    pub fn resolve(&self) -> std::io::Result<SocketAddr> {
        let Some(host) = &self.host else {
            return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.port));
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        let addrs: Vec<SocketAddr> = (host.as_str(), self.port).to_socket_addrs()?.collect();
        addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or(addrs.first())
            .copied()
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{host} has no address"),
                )
            })
    }
}

/// Serves `/metrics` and `/healthz` until SIGINT or SIGTERM arrives.
///
/// `scrape` produces the exposition text (or an error message when the
/// database is unusable); `health` says whether the database is usable.
/// `ready` is called once with the address actually bound (useful with port 0).
pub fn serve(
    opts: &ServeOptions,
    scrape: impl Fn() -> Result<String, String> + Send + Sync + 'static,
    health: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::flag;

    let stop = Arc::new(AtomicBool::new(false));
    let mut ids = Vec::new();
    for sig in [SIGINT, SIGTERM] {
        // Order matters: the conditional default must be registered first so
        // that only a second signal (flag already set) terminates the process.
        ids.push(flag::register_conditional_default(sig, Arc::clone(&stop))?);
        ids.push(flag::register(sig, Arc::clone(&stop))?);
    }
    let result = serve_until(opts, Arc::clone(&stop), scrape, health, ready);
    for id in ids {
        signal_hook::low_level::unregister(id);
    }
    result
}

/// Like [`serve`], but runs until `stop` becomes true instead of watching
/// for signals. Returns `Ok(())` within about 100 ms of the flag being set
/// (once requests being answered are done).
pub fn serve_until(
    opts: &ServeOptions,
    stop: Arc<AtomicBool>,
    scrape: impl Fn() -> Result<String, String> + Send + Sync + 'static,
    health: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let listener = TcpListener::bind(opts.listen)?;
    let bound = listener.local_addr()?;
    // Accepting without blocking lets the acceptor see the stop flag.
    listener.set_nonblocking(true)?;
    ready(bound);

    let handlers = Handlers {
        scrape: &scrape,
        health: &health,
        failures: Mutex::new(crate::exposition::FailureLog::new(
            crate::exposition::FAILURE_LOG_INTERVAL,
        )),
    };
    let (tx, rx) = sync_channel::<TcpStream>(WORKERS);
    let rx = Mutex::new(rx);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|i| {
                let (rx, handlers) = (&rx, &handlers);
                std::thread::Builder::new()
                    .name(format!("metrics-http-{i}"))
                    .spawn_scoped(scope, move || {
                        loop {
                            // One worker waits on the queue at a time; the others wait
                            // for the lock.
                            let next = match rx.lock() {
                                Ok(rx) => rx.recv_timeout(POLL),
                                Err(_) => return,
                            };
                            match next {
                                Ok(stream) => answer(stream, handlers),
                                Err(RecvTimeoutError::Timeout) => {}
                                // The acceptor stopped and the queue is empty.
                                Err(RecvTimeoutError::Disconnected) => return,
                            }
                        }
                    })
            })
            .collect::<std::io::Result<_>>()?;
        accept(&listener, &stop, tx);
        let mut panicked = false;
        for w in workers {
            panicked |= w.join().is_err();
        }
        if panicked {
            return Err(std::io::Error::other("an exporter worker panicked"));
        }
        Ok(())
    })
}

/// Accepts connections and queues them for the workers until `stop` is set.
/// Errors of one accept (a client gone, no file descriptors left for a moment)
/// never stop the exporter.
fn accept(listener: &TcpListener, stop: &AtomicBool, tx: std::sync::mpsc::SyncSender<TcpStream>) {
    while !stop.load(Ordering::SeqCst) {
        let mut stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => {
                // WouldBlock (nobody waiting) or a passing error.
                std::thread::sleep(POLL);
                continue;
            }
        };
        if stream.set_nonblocking(false).is_err() {
            continue;
        }
        // When every worker is busy the connection waits here, and later ones in the
        // kernel's backlog.
        loop {
            match tx.try_send(stream) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) => {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    stream = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
    }
}

struct Handlers<'a, S, H> {
    scrape: &'a S,
    health: &'a H,
    /// Rate limit of the stderr lines about failed scrapes.
    failures: Mutex<crate::exposition::FailureLog>,
}

impl<S, H> Handlers<'_, S, H> {
    /// One line on stderr for a scrape that failed (503), at most one a minute; the next line
    /// counts the ones left out, and the first good scrape after failures says so.
    fn scrape_failed(&self, msg: &str) {
        let mut log = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let line = log.failure(Instant::now(), &format!("GET /metrics answered 503: {msg}"));
        drop(log);
        if let Some(line) = line {
            eprintln!("breakerctl serve: {line}");
        }
    }

    fn scrape_succeeded(&self) {
        let mut log = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let failed = log.success();
        drop(log);
        if let Some(n) = failed {
            eprintln!("breakerctl serve: GET /metrics answers 200 again after {n} failed");
        }
    }
}

/// One answer: status, content type, body, whether to send `Allow`.
struct Answer {
    status: u16,
    content_type: &'static str,
    body: String,
    allow: bool,
}

impl Answer {
    fn text(status: u16, body: impl Into<String>) -> Answer {
        Answer {
            status,
            content_type: TEXT,
            body: body.into(),
            allow: false,
        }
    }
}

/// Reads one request from `stream`, answers it and closes the connection.
fn answer<S, H>(mut stream: TcpStream, h: &Handlers<'_, S, H>)
where
    S: Fn() -> Result<String, String>,
    H: Fn() -> Result<(), String>,
{
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let (answer, head_only) = match read_head(&mut stream) {
        Ok(head) => match parse(&head) {
            Ok(request) => (route(&request, h), request.method == "HEAD"),
            Err(answer) => (answer, false),
        },
        Err(HeadError::TooLarge) => (
            Answer::text(
                431,
                format!("request header fields too large: at most {MAX_HEAD} bytes\n"),
            ),
            false,
        ),
        Err(HeadError::TimedOut) => (Answer::text(408, "request timeout\n"), false),
        // The client went away or sent nothing: nobody to answer.
        Err(HeadError::Closed) => return,
    };
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        answer.status,
        reason(answer.status),
        answer.content_type,
        answer.body.len()
    );
    if answer.allow {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str("\r\n");
    if !head_only {
        out.push_str(&answer.body);
    }
    // The client may have gone away; nothing useful to do about it.
    if stream.write_all(out.as_bytes()).is_ok() {
        linger(stream);
    }
}

/// Closes our side, then reads and drops what the client still sends (for a
/// short while, up to a bound) so that closing does not reset the connection
/// before the client has read the answer.
fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + LINGER;
    let mut buf = [0u8; 8192];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

enum HeadError {
    TooLarge,
    TimedOut,
    Closed,
}

/// The request head up to and including its blank line, read in small pieces
/// and never more than [`MAX_HEAD`] bytes of it.
fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, HeadError> {
    let deadline = Instant::now() + HEAD_TIMEOUT;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HeadError::TimedOut);
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|_| HeadError::Closed)?;
        let n = match stream.read(&mut buf) {
            Ok(0) => return Err(HeadError::Closed),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(HeadError::TimedOut);
            }
            Err(_) => return Err(HeadError::Closed),
        };
        let searched = head.len().saturating_sub(3);
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head_end(&head, searched) {
            if end > MAX_HEAD {
                return Err(HeadError::TooLarge);
            }
            head.truncate(end);
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
    }
}

/// Where the head ends (after its blank line: `\r\n\r\n`, or `\n\n`), searching
/// from `from`.
fn head_end(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len()).find_map(|i| {
        if bytes[i] != b'\n' {
            return None;
        }
        match bytes.get(i + 1..) {
            Some([b'\n', ..]) => Some(i + 2),
            Some([b'\r', b'\n', ..]) => Some(i + 3),
            _ => None,
        }
    })
}

struct Parsed<'a> {
    method: &'a str,
    path: &'a str,
}

/// The request line and headers, or the error answer for a malformed request.
fn parse(head: &[u8]) -> Result<Parsed<'_>, Answer> {
    let bad = |what: &str| Answer::text(400, format!("bad request: {what}\n"));
    let text = std::str::from_utf8(head).map_err(|_| bad("the head is not UTF-8"))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(bad("malformed method"));
    }
    match version {
        "HTTP/1.1" | "HTTP/1.0" => {}
        v if v.starts_with("HTTP/") => {
            return Err(Answer::text(505, "only HTTP/1.0 and HTTP/1.1 are served\n"));
        }
        _ => return Err(bad("malformed request line")),
    }
    let mut length: Option<u64> = None;
    for line in lines.take_while(|l| !l.is_empty()) {
        if line.starts_with([' ', '\t']) {
            return Err(bad("folded header line"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad("header line without a colon"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value.parse().map_err(|_| bad("invalid Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(bad("conflicting Content-Length"));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Answer::text(
                413,
                format!(
                    "content too large: a body of unknown length; at most {MAX_BODY} bytes with Content-Length\n"
                ),
            ));
        }
    }
    if length.is_some_and(|n| n > MAX_BODY) {
        return Err(Answer::text(
            413,
            format!("content too large: at most {MAX_BODY} bytes\n"),
        ));
    }
    let path = target.split('?').next().unwrap_or("");
    Ok(Parsed { method, path })
}

fn route<S, H>(request: &Parsed<'_>, h: &Handlers<'_, S, H>) -> Answer
where
    S: Fn() -> Result<String, String>,
    H: Fn() -> Result<(), String>,
{
    let readable = matches!(request.method, "GET" | "HEAD");
    match (request.path, readable) {
        ("/metrics", true) => match guarded(h.scrape) {
            Ok(text) => {
                h.scrape_succeeded();
                Answer {
                    status: 200,
                    content_type: METRICS_CONTENT_TYPE,
                    body: text,
                    allow: false,
                }
            }
            Err(msg) => {
                h.scrape_failed(&msg);
                Answer::text(503, line(&msg))
            }
        },
        ("/healthz", true) => match guarded(h.health) {
            Ok(()) => Answer::text(200, "ok\n"),
            Err(msg) => Answer::text(503, line(&msg)),
        },
        ("/metrics" | "/healthz", false) => Answer {
            allow: true,
            ..Answer::text(405, "method not allowed\n")
        },
        _ => Answer::text(404, "not found; try /metrics or /healthz\n"),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

const TEXT: &str = "text/plain; charset=utf-8";

fn line(msg: &str) -> String {
    format!("{}\n", msg.trim_end())
}

/// Runs a handler, turning a panic into an error message so that one bad
/// scrape neither kills a worker nor leaves the client without an answer.
fn guarded<T>(f: &impl Fn() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err("internal error: the handler panicked".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_as_people_write_them() {
        let resolve = |s: &str| s.parse::<ListenAddr>().unwrap().resolve().unwrap();
        assert_eq!(resolve("127.0.0.1:9464"), "127.0.0.1:9464".parse().unwrap());
        assert_eq!(resolve(":9464"), "127.0.0.1:9464".parse().unwrap());
        assert_eq!(resolve("0.0.0.0:0"), "0.0.0.0:0".parse().unwrap());
        assert_eq!(resolve("[::1]:9464"), "[::1]:9464".parse().unwrap());
        assert!(resolve("localhost:9464").ip().is_loopback());
        assert_eq!(resolve("localhost:9464").port(), 9464);
        for bad in [
            "9464",
            "localhost",
            "::1:9464",
            "[::1:9464",
            "[nope]:1",
            "host:99999",
            "host:",
            "a b:1",
        ] {
            assert!(bad.parse::<ListenAddr>().is_err(), "{bad}");
        }
        let shown: Vec<String> = [":9464", "[::1]:80", "localhost:1"]
            .iter()
            .map(|s| s.parse::<ListenAddr>().unwrap().to_string())
            .collect();
        assert_eq!(shown, [":9464", "[::1]:80", "localhost:1"]);
    }

    #[test]
    fn heads_end_at_the_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nbody", 0), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n", 0), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n", 0), None);
    }

    #[test]
    fn malformed_requests_are_400_and_bodies_capped() {
        let status = |head: &str| parse(head.as_bytes()).err().map(|a| a.status);
        assert_eq!(status("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), None);
        assert_eq!(status("GET /metrics\r\n\r\n"), Some(400));
        assert_eq!(status("GET /metrics HTTP/2.0\r\n\r\n"), Some(505));
        assert_eq!(status("GET / HTTP/1.1\r\nNoColon\r\n\r\n"), Some(400));
        assert_eq!(status("GET / HTTP/1.1\r\n folded\r\n\r\n"), Some(400));
        assert_eq!(
            status("POST / HTTP/1.1\r\nContent-Length: 8192\r\n\r\n"),
            None
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nContent-Length: 8193\r\n\r\n"),
            Some(413)
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Some(413)
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Some(400)
        );
    }
}
