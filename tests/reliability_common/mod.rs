//! Helpers for the reliability suite (`tests/reliability_*.rs`): the real binary with a clean
//! environment, database fixtures, folder snapshots, a seeded random source, and running the
//! binary as an unprivileged user when the tests run as root.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "../shared/clean_env.rs"]
mod clean_env;

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_breakerctl"))
}

/// `program` with a clean environment; audit rows are recorded as user `reliability`.
pub fn clean(program: &Path) -> Command {
    clean_env::clean_command(program, "reliability")
}

/// The binary, `--db db`, then `args`.
pub fn breakerctl(db: &Path, args: &[&str]) -> Command {
    let mut cmd = clean(&bin());
    cmd.arg("--db").arg(db).args(args);
    cmd
}

/// A finished run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts the exit code and that nothing panicked.
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Run {
        assert_eq!(
            self.code, expected,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self.no_panic()
    }

    #[track_caller]
    pub fn no_panic(&self) -> &Run {
        assert!(
            self.code != 101 && !self.stderr.contains("panicked"),
            "panic:\n{}",
            self.stderr
        );
        self
    }

    /// Asserts that stderr mentions every one of `needles` (case-insensitive).
    #[track_caller]
    pub fn says(&self, needles: &[&str]) -> &Run {
        let text = self.stderr.to_lowercase();
        for n in needles {
            assert!(
                text.contains(&n.to_lowercase()),
                "stderr lacks {n:?}:\n{}",
                self.stderr
            );
        }
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

pub fn run(cmd: &mut Command) -> Run {
    Run::from_output(cmd.output().expect("run breakerctl"))
}

/// Runs the binary on `db` with `args`.
pub fn ctl(db: &Path, args: &[&str]) -> Run {
    run(&mut breakerctl(db, args))
}

/// A temporary folder and a database path inside it (not created).
pub struct Scratch {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
}

pub fn scratch() -> Scratch {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("circuit_breaker.db");
    Scratch { dir, db }
}

/// A breaker database with a few breakers and audit rows, closed (no -wal/-shm left).
pub fn populated(db: &Path) {
    ctl(db, &["init"]).code(0);
    ctl(
        db,
        &["trip", "alpha", "--reason", "maintenance", "--create"],
    )
    .code(0);
    ctl(db, &["trip", "beta", "--reason", "flaky", "--create"]).code(0);
    ctl(
        db,
        &[
            "reset", "alpha", "--force", "--reason", "fixed", "--user", "ann",
        ],
    )
    .code(0);
    ctl(db, &["trip", "alpha", "--reason", "again"]).code(0);
    ctl(
        db,
        &[
            "reset", "beta", "--force", "--reason", "ok now", "--user", "bob",
        ],
    )
    .code(0);
}

/// Every file in `dir` (not recursive) and its bytes: compare two to prove nothing changed,
/// and that no -wal, -shm or -journal file was left behind.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("dir entry"))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read file"),
            )
        })
        .collect()
}

#[track_caller]
pub fn assert_unchanged(
    before: &BTreeMap<String, Vec<u8>>,
    after: &BTreeMap<String, Vec<u8>>,
    what: &str,
) {
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(before),
        names(after),
        "{what}: files appeared or vanished"
    );
    for (name, bytes) in before {
        assert!(
            after.get(name) == Some(bytes),
            "{what}: {name} changed ({} -> {} bytes)",
            bytes.len(),
            after.get(name).map_or(0, Vec::len)
        );
    }
}

/// A small seeded xorshift generator; the seed is printed so a failing run can be repeated
/// with `BREAKERCTL_TEST_SEED`.
pub struct Rng(u64);

impl Rng {
    pub fn from_env_or_time(what: &str) -> Rng {
        let seed = std::env::var("BREAKERCTL_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("{what}: BREAKERCTL_TEST_SEED={seed}");
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

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
            Unprivileged::Direct => clean(&bin()),
            Unprivileged::Setpriv { program, .. } => {
                let mut cmd = clean(Path::new("setpriv"));
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
