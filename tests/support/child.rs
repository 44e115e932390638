//! Tests that start other processes: this test binary re-executed to run one child entry
//! point, and the turn that the heaviest of them take.

use std::process::Command;
use std::sync::{Mutex, MutexGuard};

/// This test binary, re-executed to run nothing but the ignored test `name` of the module
/// `module` (the caller's `module_path!()`). The harness names a test by its path without the
/// crate, so `integration::multiprocess` and `child_hammer` run `multiprocess::child_hammer`.
/// The entry point does its work only when the caller sets its environment variable.
pub fn child_test(module: &str, name: &str) -> Command {
    let test = match module.split_once("::") {
        Some((_crate, path)) => format!("{path}::{name}"),
        None => name.to_owned(),
    };
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.args([
        "--ignored",
        "--exact",
        &test,
        "--nocapture",
        "--test-threads=1",
        "-q",
    ]);
    cmd
}

/// The tests that run several processes at full speed for seconds, with timings to meet
/// (multiprocess, contention, the crash storm), take turns: they used to run in binaries of
/// their own, and a small machine cannot give two of them the cores at once.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
