//! Facts about this process that audit rows and probe leases record.

use std::sync::OnceLock;

/// This host's name, read once.
pub fn host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let name = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        if name.is_empty() {
            "unknown-host".to_owned()
        } else {
            name
        }
    })
}

/// A name for one breaker instance that no other live instance shares: host, pid and a
/// per-process sequence number.
pub fn instance_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{}:{}:{}", host(), std::process::id(), n)
}
