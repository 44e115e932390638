//! Running the real `breakerctl` binary on real database files in temporary folders.

use assert_cmd::Command;
use breakerctl::clock::ManualClock;
use breakerctl::{BreakerConfig, ProductionCircuitBreaker};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[path = "../shared/clean_env.rs"]
mod clean_env;

/// The binary with a clean environment; audit rows are recorded as user `tester`.
pub fn std_breakerctl() -> std::process::Command {
    clean_env::clean_command(Path::new(env!("CARGO_BIN_EXE_breakerctl")), "tester")
}

/// As `std_breakerctl`, with assert_cmd's conveniences.
pub fn breakerctl() -> Command {
    Command::from_std(std_breakerctl())
}

/// What a finished run left behind.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub raw_stdout: Vec<u8>,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.stdout))
    }

    pub fn stderr_json(&self) -> Value {
        serde_json::from_str(self.stderr.trim())
            .unwrap_or_else(|e| panic!("stderr is not one JSON document ({e}):\n{}", self.stderr))
    }

    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Run {
        assert_eq!(
            self.code, expected,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn ok(&self) -> &Run {
        self.code(0)
    }
}

pub fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("run breakerctl");
    Run {
        code: out.status.code().expect("exited, not killed by a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        raw_stdout: out.stdout,
    }
}

/// A temporary folder and the breaker database path inside it.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
}

impl Fixture {
    /// A folder with no database in it yet.
    pub fn empty() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("circuit_breaker.db");
        Fixture { dir, db }
    }

    /// A breaker database with no breakers.
    pub fn new() -> Fixture {
        let f = Fixture::empty();
        drop(f.library());
        f
    }

    /// A breaker database where each of `names` has seen one failure (closed).
    pub fn with(names: &[&str]) -> Fixture {
        let f = Fixture::new();
        let cb = f.library();
        for name in names {
            cb.record_failure(name, "connection reset")
                .expect("record failure");
        }
        drop(cb);
        f
    }

    /// The library on this file (creates it when missing), with the system clock.
    pub fn library(&self) -> ProductionCircuitBreaker {
        ProductionCircuitBreaker::open(&self.db, BreakerConfig::default()).expect("open library")
    }

    /// The library with a clock set to `now_ms`, for rows written in the past.
    pub fn library_at(&self, now_ms: i64) -> ProductionCircuitBreaker {
        ProductionCircuitBreaker::builder()
            .clock(Arc::new(ManualClock::new(now_ms)))
            .open(&self.db)
            .expect("open library")
    }

    /// `breakerctl --db FILE args...`, run.
    pub fn run(&self, args: &[&str]) -> Run {
        run(self.cmd().args(args))
    }

    /// `breakerctl --db FILE`, to add arguments and environment to.
    pub fn cmd(&self) -> Command {
        Command::from_std(self.std_cmd())
    }

    /// `breakerctl --db FILE` as a plain `std::process::Command` (for spawning).
    pub fn std_cmd(&self) -> std::process::Command {
        let mut cmd = std_breakerctl();
        cmd.arg("--db").arg(&self.db);
        cmd
    }

    pub fn conn(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.db).expect("open with rusqlite")
    }

    pub fn audit_rows(&self) -> i64 {
        self.conn()
            .query_row("SELECT count(*) FROM circuit_breaker_audit", [], |r| {
                r.get(0)
            })
            .expect("count audit rows")
    }

    /// `status NAME --json`.
    pub fn status(&self, name: &str) -> Value {
        self.run(&["--json", "status", name]).ok().json()
    }

    /// Every file in the fixture's folder (to see that nothing was created).
    pub fn files(&self) -> Vec<String> {
        list(self.dir.path())
    }
}

pub fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Epoch milliseconds now.
pub fn now_ms() -> i64 {
    breakerctl::clock::now_ms()
}

/// A plausible epoch-millisecond time (after 2020, before 2100).
#[track_caller]
pub fn assert_epoch_ms(v: &Value) {
    let ms = v.as_i64().unwrap_or_else(|| panic!("epoch ms, got {v}"));
    assert!(
        (1_577_836_800_000..4_102_444_800_000).contains(&ms),
        "epoch milliseconds, got {ms}"
    );
}

/// The array of a JSON document, or a panic naming what it was.
pub fn array(v: &Value) -> &Vec<Value> {
    v.as_array()
        .unwrap_or_else(|| panic!("a JSON array, got {v}"))
}

/// The given field of every element.
pub fn field<'a>(rows: &'a Value, key: &str) -> Vec<&'a Value> {
    array(rows).iter().map(|r| &r[key]).collect()
}

/// The `bookmaker` of every element, as strings.
pub fn names(rows: &Value) -> Vec<String> {
    field(rows, "bookmaker")
        .iter()
        .map(|v| v.as_str().expect("bookmaker string").to_owned())
        .collect()
}
