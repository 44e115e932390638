//! A small HTTP exporter for the breaker metrics, built on `tiny_http`.
//!
//! Routes:
//! * `GET /metrics`: 200 with the Prometheus text exposition, or 503 with the
//!   error message when the scrape fails (database unusable).
//! * `GET /healthz`: 200 `ok`, or 503 with the reason.
//! * Any other path: 404. Any other method on a known path: 405.
//!
//! [`serve`] stops on SIGINT or SIGTERM and then returns `Ok(())`; a second
//! signal while it is shutting down gets the signal's default action
//! (terminate). [`serve_until`] is the same server stopped by a flag instead,
//! for embedding and tests.

use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tiny_http::{Header, Method, Request, Response, Server, StatusCode};

/// `Content-Type` of a successful `/metrics` response.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Number of threads answering requests, so concurrent scrapes do not queue
/// behind each other.
pub const WORKERS: usize = 4;

/// How often idle workers look at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// Where the exporter listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    pub listen: SocketAddr,
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
/// for signals. Returns `Ok(())` within about 100 ms of the flag being set.
pub fn serve_until(
    opts: &ServeOptions,
    stop: Arc<AtomicBool>,
    scrape: impl Fn() -> Result<String, String> + Send + Sync + 'static,
    health: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let server = Server::http(opts.listen).map_err(into_io_error)?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| std::io::Error::other("the server is not listening on an IP address"))?;
    ready(bound);

    let handlers = Handlers {
        scrape: &scrape,
        health: &health,
    };
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|i| {
                let (server, stop, handlers) = (&server, &stop, &handlers);
                std::thread::Builder::new()
                    .name(format!("metrics-http-{i}"))
                    .spawn_scoped(scope, move || worker(server, stop, handlers))
            })
            .collect::<std::io::Result<_>>()?;
        let mut first_error = None;
        for w in workers {
            if let Err(e) = w
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("worker panicked")))
            {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    })
}

struct Handlers<'a, S, H> {
    scrape: &'a S,
    health: &'a H,
}

fn worker<S, H>(server: &Server, stop: &AtomicBool, h: &Handlers<'_, S, H>) -> std::io::Result<()>
where
    S: Fn() -> Result<String, String> + Sync,
    H: Fn() -> Result<(), String> + Sync,
{
    while !stop.load(Ordering::SeqCst) {
        match server.recv_timeout(POLL) {
            Ok(Some(request)) => respond(request, h),
            Ok(None) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                // Make the other workers stop too, then report the error.
                stop.store(true, Ordering::SeqCst);
                return Err(e);
            }
        }
    }
    Ok(())
}

fn respond<S, H>(request: Request, h: &Handlers<'_, S, H>)
where
    S: Fn() -> Result<String, String>,
    H: Fn() -> Result<(), String>,
{
    let path = request.url().split('?').next().unwrap_or("");
    let is_get = *request.method() == Method::Get;
    let (status, content_type, body, allow) = match (path, is_get) {
        ("/metrics", true) => match guarded(h.scrape) {
            Ok(text) => (200, METRICS_CONTENT_TYPE, text, false),
            Err(msg) => (503, TEXT, line(&msg), false),
        },
        ("/healthz", true) => match guarded(h.health) {
            Ok(()) => (200, TEXT, "ok\n".to_owned(), false),
            Err(msg) => (503, TEXT, line(&msg), false),
        },
        ("/metrics" | "/healthz", false) => (405, TEXT, "method not allowed\n".to_owned(), true),
        _ => (
            404,
            TEXT,
            "not found; try /metrics or /healthz\n".to_owned(),
            false,
        ),
    };
    let mut response = Response::from_string(body)
        .with_status_code(StatusCode(status))
        .with_header(header("Content-Type", content_type));
    if allow {
        response.add_header(header("Allow", "GET"));
    }
    // The client may have gone away; nothing useful to do about it.
    let _ = request.respond(response);
}

const TEXT: &str = "text/plain; charset=utf-8";

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header is valid")
}

fn line(msg: &str) -> String {
    format!("{}\n", msg.trim_end())
}

/// Runs a handler, turning a panic into an error message so that one bad
/// scrape neither kills a worker nor leaves the client without an answer.
fn guarded<T>(f: &impl Fn() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err("internal error: the handler panicked".to_owned()))
}

fn into_io_error(e: Box<dyn std::error::Error + Send + Sync>) -> std::io::Error {
    match e.downcast::<std::io::Error>() {
        Ok(io) => *io,
        Err(other) => std::io::Error::other(other),
    }
}
