//! What every command needs around its work: where output goes, who may be asked to confirm,
//! the store opened as the global flags say, and who the operator is.

use super::args::GlobalArgs;
use crate::breaker::{BreakerBuilder, ProductionCircuitBreaker};
use crate::config::BreakerConfig;
use crate::error::BreakerError;
use crate::storage::Synchronous;
use anyhow::Result;
use std::io::Write;

/// Asks the person at the console to confirm a dangerous action (REPL only).
pub trait Prompter {
    /// Returns what the person typed, or `None` when they cancelled (Ctrl-C, Ctrl-D).
    fn ask(&mut self, prompt: &str) -> Result<Option<String>>;
}

/// Where one command's output goes, and whether someone can be asked to confirm.
pub struct Invocation<'a> {
    pub out: &'a mut dyn Write,
    pub prompter: Option<&'a mut dyn Prompter>,
}

/// The breaker settings operator commands use, from the global flags.
pub fn breaker_config(g: &GlobalArgs) -> BreakerConfig {
    BreakerConfig {
        busy_timeout: g.busy_timeout,
        cooldown: g.cooldown,
        failure_threshold: g.failure_threshold,
        reset_timeout: g.reset_timeout,
        ..BreakerConfig::default()
    }
}

/// A breaker builder for operator commands: the global flags' settings, and every write
/// fsynced (operator writes survive a power cut).
pub fn operator_builder(g: &GlobalArgs) -> BreakerBuilder {
    ProductionCircuitBreaker::builder()
        .config(breaker_config(g))
        .synchronous(Synchronous::Full)
        // One command, one connection: nothing here waits behind a write of its own.
        .separate_reader(false)
}

/// Opens an existing database for looking. A file the user may not write (or in a folder they
/// may not write) is still opened, read-only.
pub fn open_for_read(g: &GlobalArgs) -> Result<ProductionCircuitBreaker, BreakerError> {
    let builder = || operator_builder(g);
    match builder().open_existing(&g.db) {
        Err(BreakerError::ReadOnly { .. }) | Err(BreakerError::Io { .. }) => {
            builder().open_read_only(&g.db)
        }
        other => other,
    }
}

/// Opens an existing database for an operator's write; never creates one.
pub fn open_for_write(g: &GlobalArgs) -> Result<ProductionCircuitBreaker, BreakerError> {
    operator_builder(g).open_existing(&g.db)
}

/// The user recorded in audit rows: --user, else BREAKERCTL_USER, SUDO_USER, USER, the login
/// name; never empty.
pub fn resolve_user(explicit: Option<&str>) -> String {
    // A variable set to nothing (`BREAKERCTL_USER= breakerctl ...`) counts as unset.
    let from_env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    explicit
        .map(str::to_owned)
        .or_else(|| from_env("BREAKERCTL_USER"))
        .or_else(|| from_env("SUDO_USER"))
        .or_else(|| from_env("USER"))
        .or_else(login_name)
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| format!("uid:{}", current_uid()))
}

/// The name of this process's real user in the password database.
fn login_name() -> Option<String> {
    uzers::get_current_username().map(|n| n.to_string_lossy().into_owned())
}

fn current_uid() -> u32 {
    rustix::process::getuid().as_raw()
}
