//! Running the binary as an unprivileged user when the tests run as root (through `setpriv`),
//! so that file permissions apply to it.

use super::env::clean_command;
use super::run::{bin, breakerctl};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The uid and gid of `nobody`, used to run the binary without root's bypass of permissions.
pub const NOBODY: u32 = 65534;

/// How to run the binary so that file permissions apply to it.
pub enum Unprivileged {
    /// Not root: run it directly.
    Direct,
    /// Root: run it through `setpriv` as `nobody`; `program` is a copy of the binary (in
    /// `_copy`, removed on drop) when `nobody` cannot reach the original.
    Setpriv {
        program: PathBuf,
        _copy: Option<tempfile::TempDir>,
    },
    /// Root, and there is no way to drop privileges here.
    Unavailable(String),
}

impl Unprivileged {
    pub fn find() -> Unprivileged {
        if !is_root() {
            return Unprivileged::Direct;
        }
        let works = |program: &Path| {
            Command::new("setpriv")
                .args(setpriv_args())
                .arg(program)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if works(&bin()) {
            return Unprivileged::Setpriv {
                program: bin(),
                _copy: None,
            };
        }
        if let Ok(dir) = tempfile::Builder::new().prefix("breakerctl-bin").tempdir() {
            chmod(dir.path(), 0o755);
            let copy = dir.path().join("breakerctl");
            if std::fs::copy(bin(), &copy).is_ok() {
                chmod(&copy, 0o755);
                if works(&copy) {
                    return Unprivileged::Setpriv {
                        program: copy,
                        _copy: Some(dir),
                    };
                }
            }
        }
        Unprivileged::Unavailable(
            "running as root and `setpriv --reuid 65534` does not work here".to_owned(),
        )
    }

    /// The binary with a clean environment, run without privileges.
    pub fn command(&self, args: &[&OsStr]) -> Option<Command> {
        let mut cmd = match self {
            Unprivileged::Direct => breakerctl(),
            Unprivileged::Setpriv { program, .. } => {
                let mut cmd = clean_command(Path::new("setpriv"));
                cmd.args(setpriv_args()).arg(program);
                cmd
            }
            Unprivileged::Unavailable(_) => return None,
        };
        cmd.args(args);
        Some(cmd)
    }
}

fn setpriv_args() -> Vec<String> {
    vec![
        format!("--reuid={NOBODY}"),
        format!("--regid={NOBODY}"),
        "--clear-groups".to_owned(),
    ]
}

pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
