//! Running the real `breakerctl` binary: the one command builder (with the clean environment)
//! and the one `Run` type for a finished run.

use super::env::clean_command;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_breakerctl"))
}

/// The binary with a clean environment; audit rows are recorded as user `tester`.
pub fn breakerctl() -> Command {
    clean_command(&bin())
}

/// The binary, `--db db`, then `args`.
pub fn ctl_command(db: &Path, args: &[&str]) -> Command {
    let mut cmd = breakerctl();
    cmd.arg("--db").arg(db).args(args);
    cmd
}

/// Runs the binary on `db` with `args`.
pub fn ctl(db: &Path, args: &[&str]) -> Run {
    run(&mut ctl_command(db, args))
}

pub fn run(cmd: &mut Command) -> Run {
    Run::from_output(cmd.output().expect("run breakerctl"))
}

/// What a finished run left behind.
#[derive(Debug)]
pub struct Run {
    /// The exit code, or -1 when a signal ended the process.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub raw_stdout: Vec<u8>,
}

impl Run {
    pub fn from_output(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            raw_stdout: out.stdout,
        }
    }

    /// Asserts the exit code (showing the output when it differs) and that nothing panicked.
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
    pub fn ok(&self) -> &Run {
        self.code(0)
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

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.stdout))
    }

    pub fn stderr_json(&self) -> Value {
        serde_json::from_str(self.stderr.trim())
            .unwrap_or_else(|e| panic!("stderr is not one JSON document ({e}):\n{}", self.stderr))
    }
}
