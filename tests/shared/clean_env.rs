//! The real binary with a clean environment, shared by the test suites that run it.

use std::path::Path;
use std::process::Command;

/// Settings from the environment that would change what the binary does or prints.
pub const INHERITED: &[&str] = &[
    "CIRCUIT_BREAKER_DB",
    "BREAKERCTL_USER",
    "SUDO_USER",
    "USER",
    "LOGNAME",
    "NO_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "BREAKERCTL_COOLDOWN",
    "BREAKERCTL_FAILURE_THRESHOLD",
    "BREAKERCTL_RESET_TIMEOUT",
    "COMPLETE",
    "COLUMNS",
];

/// `program` without the inherited settings, recording audit rows as `user`.
pub fn clean_command(program: &Path, user: &str) -> Command {
    let mut cmd = Command::new(program);
    for var in INHERITED {
        cmd.env_remove(var);
    }
    cmd.env("BREAKERCTL_USER", user);
    cmd
}
