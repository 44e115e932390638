//! The tower layer and the reqwest middleware (features `tower`, `reqwest-middleware`), as
//! their examples use them, against a real HTTP server on 127.0.0.1.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A server that answers `/down` with 503, `/missing` with 404, anything else with 200, and
/// counts the requests it saw. Stops with the test process.
fn server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(10_000) {
            let Ok(mut stream) = stream else { continue };
            count.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]);
            let status = if head.contains(" /down ") {
                "503 Service Unavailable"
            } else if head.contains(" /missing ") {
                "404 Not Found"
            } else {
                "200 OK"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
            );
        }
    });
    (addr, seen)
}

fn example(name: &str) -> PathBuf {
    // target/debug/deps/http_integrations-… -> target/debug/examples/NAME
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples")
        .join(name)
}

fn run(name: &str, args: &[&str]) -> Vec<String> {
    let out = Command::new(example(name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run example {name} (build it first: cargo build --examples --features tower,reqwest-middleware): {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn temp_db() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cb.db").display().to_string();
    (dir, path)
}

#[test]
fn the_tower_layer_trips_on_5xx_and_stops_calling() {
    let (addr, seen) = server();
    let (_dir, db) = temp_db();
    let lines = run("tower_service", &[&db, &addr, "down", "15"]);
    assert_eq!(lines.len(), 15, "{lines:?}");
    assert!(
        lines[..10].iter().all(|l| l.ends_with("status 503")),
        "{lines:?}"
    );
    assert!(
        lines[10..].iter().all(|l| l.ends_with("rejected")),
        "{lines:?}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 10, "no request while open");
    // 4xx is the caller's fault: twenty of them trip nothing.
    let (_dir2, db2) = temp_db();
    let lines = run("tower_service", &[&db2, &addr, "missing", "20"]);
    assert!(lines.iter().all(|l| l.ends_with("status 404")), "{lines:?}");
}

#[test]
fn the_reqwest_middleware_trips_per_host_and_ignores_4xx() {
    let (addr, seen) = server();
    let (_dir, db) = temp_db();
    let down = format!("http://{addr}/down");
    let lines = run("reqwest_client", &[&db, &down, "12"]);
    assert!(
        lines[..10].iter().all(|l| l.ends_with("status 503")),
        "{lines:?}"
    );
    assert!(
        lines[10..].iter().all(|l| l.ends_with("rejected")),
        "{lines:?}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 10);
    let (_dir2, db2) = temp_db();
    let missing = format!("http://{addr}/missing");
    let lines = run("reqwest_client", &[&db2, &missing, "15"]);
    assert!(lines.iter().all(|l| l.ends_with("status 404")), "{lines:?}");
}
