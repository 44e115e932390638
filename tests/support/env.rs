//! The one clean environment for every run of the binary.

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
    "_CLAP_COMPLETE_INDEX",
    "_CLAP_COMPLETE_COMP_TYPE",
    "_CLAP_COMPLETE_SPACE",
    "_CLAP_IFS",
    "COLUMNS",
    "LINES",
];

/// `program` without the inherited settings, recording audit rows as user `tester`.
pub fn clean_command(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    for var in INHERITED {
        cmd.env_remove(var);
    }
    cmd.env("BREAKERCTL_USER", "tester");
    cmd
}
