//! The committed completion scripts in `completions/` match what the binary prints, and the
//! dynamic completion (`COMPLETE=SHELL breakerctl -- ...`) offers bookmaker names from the
//! database named by `--db`.
//!
//! After changing the command line, regenerate the scripts with
//! `UPDATE_COMPLETIONS=1 cargo test --test integration completions::`.

use crate::support::fixture::TempDb;
use crate::support::run::breakerctl;
use std::path::{Path, PathBuf};

/// (shell argument, file under `completions/`)
const SCRIPTS: &[(&str, &str)] = &[
    ("bash", "breakerctl.bash"),
    ("zsh", "_breakerctl"),
    ("fish", "breakerctl.fish"),
    ("elvish", "breakerctl.elv"),
    ("powershell", "_breakerctl.ps1"),
];

fn completions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("completions")
}

#[test]
fn committed_scripts_match_the_binary() {
    let update = std::env::var_os("UPDATE_COMPLETIONS").is_some_and(|v| !v.is_empty());
    let mut stale = Vec::new();
    for (shell, file) in SCRIPTS {
        let out = breakerctl()
            .args(["completions", shell])
            .output()
            .expect("run breakerctl completions");
        assert!(
            out.status.success(),
            "`breakerctl completions {shell}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty(), "empty {shell} completion script");
        let path = completions_dir().join(file);
        if update {
            std::fs::create_dir_all(completions_dir()).expect("create completions/");
            std::fs::write(&path, &out.stdout).expect("write completion script");
            continue;
        }
        let committed = std::fs::read(&path).unwrap_or_default();
        if committed != out.stdout {
            stale.push(format!(
                "completions/{file} (breakerctl completions {shell})"
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "these completion scripts differ from what the binary prints:\n  {}\n\
         regenerate them with `UPDATE_COMPLETIONS=1 cargo test --test integration completions::` \
         (or `cargo run -q -- completions SHELL > completions/FILE`) and commit the result",
        stale.join("\n  ")
    );
}

/// A breaker database in a temporary folder holding `names`.
fn db_with(names: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let TempDb { dir, path } = TempDb::with(names);
    (dir, path)
}

/// What the shell would be offered for the last word of `words` (`words[0]` is the program).
fn dynamic(shell: &str, words: &[&str], env_db: Option<&Path>) -> Vec<String> {
    let mut cmd = breakerctl();
    cmd.env("COMPLETE", shell)
        .env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string())
        .env("_CLAP_IFS", "\n")
        .arg("--")
        .args(words);
    if let Some(db) = env_db {
        cmd.env("CIRCUIT_BREAKER_DB", db);
    }
    let out = cmd.output().expect("run dynamic completion");
    assert!(
        out.status.success(),
        "dynamic completion failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 candidates")
        .lines()
        .map(|l| l.split('\t').next().unwrap_or("").to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn dynamic_completion_offers_names_from_the_db_given_by_flag() {
    let (_dir, db) = db_with(&["draftkings", "fanduel", "betmgm"]);
    let db = db.to_str().expect("utf-8 temp path");
    let offered = dynamic("bash", &["breakerctl", "--db", db, "status", "dr"], None);
    assert_eq!(offered, ["draftkings"]);

    // `--db=PATH`, another command, an empty word: every name.
    let flag = format!("--db={db}");
    let offered = dynamic("bash", &["breakerctl", &flag, "reset", ""], None);
    for name in ["betmgm", "draftkings", "fanduel"] {
        assert!(offered.iter().any(|o| o == name), "{name} in {offered:?}");
    }
    // The flag after the command works too, and other shells use the same engine.
    let offered = dynamic("zsh", &["breakerctl", "trip", "--db", db, "fa"], None);
    assert_eq!(offered, ["fanduel"]);
    let offered = dynamic("fish", &["breakerctl", "--db", db, "audit", "bet"], None);
    assert_eq!(offered, ["betmgm"]);
}

#[test]
fn dynamic_completion_prefers_the_flag_over_the_environment() {
    let (_a, flag_db) = db_with(&["draftkings"]);
    let (_b, env_db) = db_with(&["drakeodds"]);
    let flag = flag_db.to_str().expect("utf-8 temp path");

    let offered = dynamic(
        "bash",
        &["breakerctl", "--db", flag, "status", "dr"],
        Some(&env_db),
    );
    assert_eq!(offered, ["draftkings"], "--db wins over CIRCUIT_BREAKER_DB");

    let offered = dynamic("bash", &["breakerctl", "status", "dr"], Some(&env_db));
    assert_eq!(
        offered,
        ["drakeodds"],
        "CIRCUIT_BREAKER_DB when there is no --db"
    );
}

#[test]
fn dynamic_completion_of_a_missing_db_offers_no_names_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nowhere").join("circuit_breaker.db");
    let missing_str = missing.to_str().expect("utf-8 temp path");
    let offered = dynamic(
        "bash",
        &["breakerctl", "--db", missing_str, "status", "dr"],
        None,
    );
    assert!(offered.is_empty(), "nothing to offer: {offered:?}");
    assert!(!dir.path().join("nowhere").exists(), "no folder created");
}

#[test]
fn dynamic_registration_scripts_name_the_binary() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = breakerctl()
            .env("COMPLETE", shell)
            .output()
            .expect("run registration");
        assert!(out.status.success(), "COMPLETE={shell} breakerctl failed");
        let script = String::from_utf8(out.stdout).expect("utf-8 script");
        assert!(
            script.contains("breakerctl"),
            "{shell} registration mentions breakerctl:\n{script}"
        );
    }
}

/// Names read from the database are offered raw to the shell, so one that would display as
/// something else (bidi override, zero-width or control characters) is never offered.
#[test]
fn dynamic_completion_offers_no_name_that_would_print_deceptively() {
    let (_dir, db) = db_with(&[
        "draftkings",
        "dr\u{202e}sgnikt",
        "dr\u{200b}aft",
        "dr\x1b[2Jx",
    ]);
    let db = db.to_str().expect("utf-8 temp path");
    let offered = dynamic("bash", &["breakerctl", "--db", db, "status", "dr"], None);
    assert_eq!(offered, ["draftkings"]);
}
