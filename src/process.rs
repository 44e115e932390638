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

/// Who this process really is, for operator audit rows: the login name of its real user in
/// the password database and the uid, as "alice (uid 1000)" (just "uid 1000" without a name).
/// Unlike `--user` or `$USER`, the caller cannot choose it.
pub fn os_user() -> &'static str {
    static OS_USER: OnceLock<String> = OnceLock::new();
    OS_USER.get_or_init(|| {
        let uid = rustix::process::getuid().as_raw();
        match uzers::get_user_by_uid(uid) {
            Some(user) => format!("{} (uid {uid})", user.name().to_string_lossy()),
            None => format!("uid {uid}"),
        }
    })
}
