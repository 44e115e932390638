//! The metrics exporter answered over real HTTP on 127.0.0.1, port 0.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use breakerctl::serve::{
    MAX_BODY, MAX_HEAD, METRICS_CONTENT_TYPE, ServeOptions, serve, serve_until,
};

const EXPOSITION: &str = "# HELP circuit_breaker_tripped Tripped.\n\
                          # TYPE circuit_breaker_tripped gauge\n\
                          circuit_breaker_tripped{bookmaker=\"draftkings\"} 1\n";

fn opts() -> ServeOptions {
    ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
    }
}

struct Running {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<std::io::Result<()>>,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sets the stop flag and checks that the server returns Ok promptly.
    fn shutdown(self) {
        let start = Instant::now();
        self.stop.store(true, Ordering::SeqCst);
        let result = self.handle.join().expect("server thread panicked");
        assert!(result.is_ok(), "serve_until failed: {result:?}");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "stop took {:?}",
            start.elapsed()
        );
    }
}

fn start(
    scrape: impl Fn() -> Result<String, String> + Send + Sync + 'static,
    health: impl Fn() -> Result<(), String> + Send + Sync + 'static,
) -> Running {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let flag = Arc::clone(&stop);
    let handle = std::thread::spawn(move || {
        serve_until(&opts(), flag, scrape, health, move |addr| {
            tx.send(addr).unwrap()
        })
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("ready was not called");
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_ne!(addr.port(), 0, "ready must get the bound port");
    Running { addr, stop, handle }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// (status, content type, body) of a GET.
fn get(url: &str) -> (u16, String, String) {
    let mut resp = agent().get(url).call().expect("request failed");
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = resp.body_mut().read_to_string().unwrap();
    (status, ct, body)
}

#[test]
fn metrics_and_health_ok() {
    let srv = start(|| Ok(EXPOSITION.to_owned()), || Ok(()));

    let (status, ct, body) = get(&srv.url("/metrics"));
    assert_eq!(status, 200);
    assert_eq!(ct, METRICS_CONTENT_TYPE);
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    assert_eq!(body, EXPOSITION);
    assert!(body.contains("circuit_breaker_tripped{bookmaker=\"draftkings\"} 1"));

    // A query string does not change the route.
    let (status, _, _) = get(&srv.url("/metrics?x=1"));
    assert_eq!(status, 200);

    let (status, _, body) = get(&srv.url("/healthz"));
    assert_eq!(status, 200);
    assert_eq!(body.trim(), "ok");

    srv.shutdown();
}

#[test]
fn unknown_path_is_404_and_other_methods_405() {
    let srv = start(|| Ok(EXPOSITION.to_owned()), || Ok(()));

    for path in ["/", "/metricsx", "/api/metrics", "/healthz/extra"] {
        let (status, _, _) = get(&srv.url(path));
        assert_eq!(status, 404, "{path}");
    }

    let resp = agent().post(srv.url("/metrics")).send("x").unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(
        resp.headers().get("allow").map(|v| v.to_str().unwrap()),
        Some("GET, HEAD")
    );
    let resp = agent().delete(srv.url("/healthz")).call().unwrap();
    assert_eq!(resp.status().as_u16(), 405);

    srv.shutdown();
}

/// What a raw exchange left: the status, the headers (names lowercased), the body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `request` over a plain TCP connection (from a thread of its own, as fast as the
/// server takes it) and reads the answer until the server closes the connection: a reset
/// instead of a close fails the test.
fn exchange(addr: SocketAddr, request: Vec<u8>) -> Answer {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        // The server may stop reading once it has answered; that is its right.
        let _ = writer.write_all(&request);
    });
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .expect("the server answers, then closes the connection");
    sender.join().unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8(raw[..split].to_vec()).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line {status_line:?}"));
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').expect("header");
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    Answer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

#[test]
fn an_oversized_header_gets_431_and_the_connection_is_closed() {
    let srv = start(|| Ok(EXPOSITION.to_owned()), || Ok(()));
    // One header line of 1 MB (the server's limit for the whole head is MAX_HEAD).
    let mut request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Padding: ".to_vec();
    request.resize(request.len() + (1 << 20), b'a');
    request.extend_from_slice(b"\r\n\r\n");
    let answer = exchange(srv.addr, request);
    assert_eq!(answer.status, 431);
    assert_eq!(answer.header("connection"), Some("close"));
    let body = String::from_utf8_lossy(&answer.body);
    assert!(body.contains(&MAX_HEAD.to_string()), "{body}");

    // A head just within the limit is answered as usual.
    let mut request = b"GET /metrics HTTP/1.1\r\nX-Padding: ".to_vec();
    request.resize(MAX_HEAD - 4, b'a');
    request.extend_from_slice(b"\r\n\r\n");
    let answer = exchange(srv.addr, request);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, EXPOSITION.as_bytes());

    // The server is still there for the next scrape.
    assert_eq!(get(&srv.url("/metrics")).0, 200);
    srv.shutdown();
}

#[test]
fn an_oversized_body_gets_413_and_the_connection_is_closed() {
    let srv = start(|| Ok(EXPOSITION.to_owned()), || Ok(()));
    let size = 1usize << 20;
    for method in ["POST", "GET"] {
        let mut request =
            format!("{method} /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n")
                .into_bytes();
        request.resize(request.len() + size, b'b');
        let answer = exchange(srv.addr, request);
        assert_eq!(answer.status, 413, "{method}");
        assert_eq!(answer.header("connection"), Some("close"));
        let body = String::from_utf8_lossy(&answer.body);
        assert!(body.contains(&MAX_BODY.to_string()), "{body}");
    }
    // A small body is no reason to refuse: the route decides.
    let answer = exchange(
        srv.addr,
        b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi".to_vec(),
    );
    assert_eq!(answer.status, 405);
    assert_eq!(get(&srv.url("/healthz")).0, 200);
    srv.shutdown();
}

#[test]
fn head_is_get_without_the_body() {
    let srv = start(|| Ok(EXPOSITION.to_owned()), || Ok(()));
    let answer = exchange(
        srv.addr,
        b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
    );
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some(METRICS_CONTENT_TYPE));
    assert_eq!(
        answer.header("content-length"),
        Some(EXPOSITION.len().to_string().as_str()),
        "the length GET would send"
    );
    assert!(answer.body.is_empty(), "{:?}", answer.body);
    let get = exchange(
        srv.addr,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
    );
    assert_eq!(get.header("content-type"), answer.header("content-type"));
    assert_eq!(get.body, EXPOSITION.as_bytes());

    let health = exchange(srv.addr, b"HEAD /healthz HTTP/1.0\r\n\r\n".to_vec());
    assert_eq!(health.status, 200);
    assert!(health.body.is_empty());
    // A client library's HEAD agrees.
    let resp = agent().head(srv.url("/metrics")).call().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    srv.shutdown();
}

#[test]
fn malformed_requests_get_400_and_unknown_versions_505() {
    let srv = start(|| Ok(EXPOSITION.to_owned()), || Ok(()));
    for (request, status) in [
        (&b"GARBAGE\r\n\r\n"[..], 400),
        (b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (b"GET /metrics HTTP/3.0\r\n\r\n", 505),
        (
            b"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            413,
        ),
    ] {
        let answer = exchange(srv.addr, request.to_vec());
        assert_eq!(
            answer.status,
            status,
            "{}",
            String::from_utf8_lossy(request)
        );
    }
    srv.shutdown();
}

#[test]
fn unusable_database_gives_503_with_reason() {
    let srv = start(
        || Err("database is locked".to_owned()),
        || Err("cannot open circuit_breaker.db: unable to open database file".to_owned()),
    );

    let (status, ct, body) = get(&srv.url("/metrics"));
    assert_eq!(status, 503);
    assert!(ct.starts_with("text/plain"), "{ct}");
    assert!(
        !ct.contains("version=0.0.4"),
        "an error is not an exposition: {ct}"
    );
    assert_eq!(body.trim(), "database is locked");

    let (status, _, body) = get(&srv.url("/healthz"));
    assert_eq!(status, 503);
    assert!(body.contains("unable to open database file"), "{body}");

    srv.shutdown();
}

#[test]
fn panicking_scrape_answers_and_server_survives() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let srv = start(
        move || {
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("boom (expected by the test)");
            }
            Ok(EXPOSITION.to_owned())
        },
        || Ok(()),
    );
    let (status, _, _) = get(&srv.url("/metrics"));
    assert_eq!(status, 503);
    let (status, _, body) = get(&srv.url("/metrics"));
    assert_eq!(status, 200);
    assert_eq!(body, EXPOSITION);
    srv.shutdown();
}

#[test]
fn concurrent_scrapes_are_served_in_parallel() {
    // Each scrape waits until 3 scrapes are inside the handler at once, so
    // this only passes if requests are handled by several threads.
    const N: usize = 3;
    let barrier = Arc::new(Barrier::new(N));
    let inside = Arc::new(AtomicUsize::new(0));
    let max_inside = Arc::new(AtomicUsize::new(0));
    let (b, i, m) = (
        Arc::clone(&barrier),
        Arc::clone(&inside),
        Arc::clone(&max_inside),
    );
    let srv = start(
        move || {
            let now = i.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(now, Ordering::SeqCst);
            b.wait();
            i.fetch_sub(1, Ordering::SeqCst);
            Ok(EXPOSITION.to_owned())
        },
        || Ok(()),
    );

    let url = srv.url("/metrics");
    let clients: Vec<_> = (0..N)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || get(&url))
        })
        .collect();
    for c in clients {
        let (status, _, body) = c.join().unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, EXPOSITION);
    }
    assert_eq!(max_inside.load(Ordering::SeqCst), N);
    srv.shutdown();
}

#[test]
fn many_concurrent_scrapes_all_succeed() {
    let srv = start(|| Ok(EXPOSITION.to_owned()), || Ok(()));
    let url = srv.url("/metrics");
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || (0..5).map(|_| get(&url).0).collect::<Vec<_>>())
        })
        .collect();
    for c in clients {
        assert!(c.join().unwrap().iter().all(|&s| s == 200));
    }
    srv.shutdown();
}

#[test]
fn port_in_use_is_an_error() {
    let srv = start(|| Ok(String::new()), || Ok(()));
    let taken = ServeOptions { listen: srv.addr };
    let err = serve_until(
        &taken,
        Arc::new(AtomicBool::new(false)),
        || Ok(String::new()),
        || Ok(()),
        |_| panic!("ready must not be called when binding fails"),
    )
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
    srv.shutdown();
}

/// The only test in this binary that touches signals: `serve` must return
/// Ok(()) promptly after SIGTERM. The signal is raised in this process, which
/// is safe because `serve` has registered its handler before `ready` runs.
#[test]
fn sigterm_stops_serve() {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        serve(
            &opts(),
            || Ok(EXPOSITION.to_owned()),
            || Ok(()),
            move |addr| tx.send(addr).unwrap(),
        )
    });
    let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let (status, _, _) = get(&format!("http://{addr}/metrics"));
    assert_eq!(status, 200);

    let start = Instant::now();
    signal_hook::low_level::raise(signal_hook::consts::SIGTERM).unwrap();
    let result = handle.join().unwrap();
    assert!(result.is_ok(), "{result:?}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}
