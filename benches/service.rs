//! Two service-side measurements (issue 13), self-timed, ratios against a floor of the same
//! run:
//! - a healthy call for bookmaker B while A's failure waits on a database another connection
//!   holds locked (the write lock held for 2 s): B's per-call p50/p99/max, against B alone;
//! - the tower layer (`--features tower`) over a bare inner service that answers at once.
//!
//! `cargo bench --bench service --features tower`

use breakerctl::{BreakerConfig, CallContext, ProductionCircuitBreaker};
use std::hint::black_box;
use std::time::{Duration, Instant};

const CALLS: usize = 200_000;

fn percentiles(mut ns: Vec<u64>) -> (u64, u64, u64) {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() as f64 * q) as usize).min(ns.len() - 1)];
    (at(0.50), at(0.99), *ns.last().unwrap_or(&0))
}

fn healthy_calls(cb: &ProductionCircuitBreaker, n: usize) -> Vec<u64> {
    let ctx = CallContext::new("bench", 1.0);
    (0..n)
        .map(|_| {
            let t = Instant::now();
            let r = cb.call_api("b", &ctx, || Ok::<u64, String>(black_box(1)));
            let ns = t.elapsed().as_nanos() as u64;
            assert!(r.is_ok());
            ns
        })
        .collect()
}

fn blocked_writer_case() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cb.db");
    let cb = ProductionCircuitBreaker::open(
        &path,
        BreakerConfig {
            busy_timeout: Duration::from_secs(3),
            ..BreakerConfig::default()
        },
    )
    .expect("open");
    let ctx = CallContext::new("bench", 1.0);
    cb.call_api("a", &ctx, || Ok::<_, String>(()))
        .expect("warm a");
    let _ = healthy_calls(&cb, 10_000);
    let alone = percentiles(healthy_calls(&cb, CALLS));

    let holder = rusqlite::Connection::open(&path).expect("holder");
    holder.execute_batch("BEGIN IMMEDIATE").expect("lock");
    let failing = {
        let cb = cb.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            let _ = cb.call_api("a", &CallContext::new("bench", 1.0), || {
                Err::<(), _>("503".to_owned())
            });
            t.elapsed()
        })
    };
    std::thread::sleep(Duration::from_millis(20)); // A is now waiting for the lock
    let t = Instant::now();
    let blocked = healthy_calls(&cb, CALLS);
    let during = t.elapsed();
    std::thread::sleep(Duration::from_secs(2).saturating_sub(during));
    holder.execute_batch("ROLLBACK").expect("unlock");
    let a_waited = failing.join().expect("failing thread");
    let blocked = percentiles(blocked);
    println!("healthy call for B (ns per call, {CALLS} calls)");
    println!(
        "  B alone                          p50 {:>6}  p99 {:>6}  max {:>9}",
        alone.0, alone.1, alone.2
    );
    println!(
        "  B while A's failure waits        p50 {:>6}  p99 {:>6}  max {:>9}   ({during:?} of calls; A waited {a_waited:?})",
        blocked.0, blocked.1, blocked.2
    );
    println!(
        "  p99 ratio (waiting / alone)      {:.2}x; target p99 <= 5 µs: {}",
        blocked.1 as f64 / alone.1.max(1) as f64,
        if blocked.1 <= 5_000 {
            "meets"
        } else {
            "MISSES"
        }
    );
}

#[cfg(feature = "tower")]
fn tower_case() {
    use breakerctl::integrations::tower::CircuitBreakerLayer;
    use std::future::{Ready, ready};
    use std::task::{Context, Poll};
    use tower_layer::Layer;
    use tower_service::Service;

    #[derive(Clone)]
    struct Echo;
    impl Service<u64> for Echo {
        type Response = u64;
        type Error = std::io::Error;
        type Future = Ready<Result<u64, std::io::Error>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, req: u64) -> Self::Future {
            ready(Ok(req))
        }
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let cb = ProductionCircuitBreaker::open(dir.path().join("cb.db"), BreakerConfig::default())
        .expect("open");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut bare = Echo;
    let mut layered = CircuitBreakerLayer::new(
        cb,
        |_: &u64| "bench-host:443".to_owned(),
        breakerctl::breaker::default_outcome::<u64, std::io::Error>,
    )
    .layer(Echo);
    let per_call = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..CALLS {
            f();
        }
        t.elapsed().as_nanos() as f64 / CALLS as f64
    };
    let mut rounds = Vec::new();
    for _ in 0..5 {
        let b = per_call(&mut || {
            let r = rt.block_on(bare.call(black_box(1)));
            assert!(r.is_ok());
        });
        let l = per_call(&mut || {
            let r = rt.block_on(layered.call(black_box(1)));
            assert!(r.is_ok());
        });
        rounds.push((b, l));
    }
    rounds.sort_by(|x, y| (x.1 - x.0).total_cmp(&(y.1 - y.0)));
    let (b, l) = rounds[rounds.len() / 2];
    println!("tower layer (median of 5 rounds of {CALLS} calls, block_on each)");
    println!("  bare inner service   {b:>8.1} ns");
    println!(
        "  behind the layer     {l:>8.1} ns   overhead {:.1} ns (target <= 1 µs: {})",
        l - b,
        if l - b <= 1000.0 { "meets" } else { "MISSES" }
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    blocked_writer_case();
    #[cfg(feature = "tower")]
    tower_case();
    #[cfg(not(feature = "tower"))]
    println!("tower layer: run with --features tower");
}
