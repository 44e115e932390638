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

/// Another program stored one name as invalid UTF-8 (`badbyte` and the byte 0xff): the other
/// names are still offered, by the binary's protocol and by the console. Reading that one
/// name used to fail the whole list, so nothing was offered at all.
#[test]
fn a_badly_encoded_name_does_not_hide_the_others() {
    let names = [
        "sim-alpha",
        "sim-bravo",
        "sim-charlie",
        "sim-delta",
        "badbyte",
    ];
    let db = TempDb::with(&names);
    let path = db.path.to_str().expect("utf-8 temp path").to_owned();
    let words = ["breakerctl", "--db", &path, "status", "sim-"];
    let before = dynamic("bash", &words, None);
    assert_eq!(before, names[..4]);

    db.rename_to_bytes("badbyte", b"badbyte\xff");
    for shell in ["bash", "zsh", "fish"] {
        assert_eq!(dynamic(shell, &words, None), before, "{shell}");
    }
    // Its lossy reading (`badbyte\u{fffd}`) would address nothing, so it is never offered.
    let offered = dynamic(
        "bash",
        &["breakerctl", "--db", &path, "status", "bad"],
        None,
    );
    assert!(offered.is_empty(), "{offered:?}");
}

/// Real bash, on a pseudo-terminal, with the registration line from docs/completions.md:
/// what Tab leaves on the line, printed by `printf` once Enter runs it.
struct Bash {
    session: expectrl::session::OsSession,
}

impl Bash {
    const PROMPT: &'static str = "READY> ";

    /// An interactive bash in `cwd` with `home` as HOME and breakerctl on PATH.
    fn start(home: &Path, cwd: &Path) -> Bash {
        use expectrl::Expect;
        let bin = crate::support::run::bin();
        // breakerctl first, then whatever finds bash's own tools here.
        let path = format!(
            "{}:{}",
            bin.parent().expect("bin dir").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = crate::support::env::clean_command(Path::new("bash"));
        cmd.args(["--norc", "--noprofile", "-i"])
            .current_dir(cwd)
            .env("PATH", path)
            .env("HOME", home)
            .env("INPUTRC", "/dev/null")
            .env("TERM", "dumb")
            .env_remove("BASH_ENV")
            .env_remove("PROMPT_COMMAND");
        let mut session = expectrl::Session::spawn(cmd).expect("spawn bash on a pty");
        session.set_expect_timeout(Some(std::time::Duration::from_secs(20)));
        session
            .send("PS1='READY''> '; source <(COMPLETE=bash breakerctl)\r")
            .expect("send");
        // The prompt it sets (the line's own echo reads `READY''> `).
        session.expect("READY> ").expect("bash prompt");
        let mut bash = Bash { session };
        assert_eq!(bash.words_of_line("echo"), ["echo"], "bash is ready");
        bash
    }

    /// Types `line` then Tab, then runs what is on the line as the arguments of `printf`
    /// (Ctrl-A goes to its start): the words bash would pass, after completion.
    fn complete(&mut self, line: &str) -> Vec<String> {
        self.words_of_line(&format!("{line}\t"))
    }

    fn words_of_line(&mut self, typed: &str) -> Vec<String> {
        use expectrl::Expect;
        self.session.send(typed).expect("send line");
        self.session
            .send("\x01printf 'W<%s>\\n' \r")
            .expect("send printf");
        let found = self
            .session
            .expect(Self::PROMPT)
            .expect("prompt after line");
        String::from_utf8_lossy(found.before())
            .lines()
            .filter_map(|l| l.trim_end_matches('\r').strip_prefix("W<"))
            .filter_map(|l| l.strip_suffix('>'))
            .map(str::to_owned)
            .collect()
    }
}

/// The databases of the bash tests: `bk-alpha` at a path given on the line, `bk-home` in
/// `~/x.db`.
struct BashDbs {
    home: tempfile::TempDir,
    cwd: tempfile::TempDir,
    named: TempDb,
}

impl BashDbs {
    fn new() -> BashDbs {
        let home = tempfile::tempdir().expect("home");
        let lib = breakerctl::ProductionCircuitBreaker::open(
            home.path().join("x.db"),
            Default::default(),
        )
        .expect("db");
        lib.record_failure("bk-home", "boom").expect("failure");
        drop(lib);
        BashDbs {
            home,
            cwd: tempfile::tempdir().expect("cwd"),
            named: TempDb::with(&["bk-alpha", "other"]),
        }
    }

    fn bash(&self) -> Bash {
        Bash::start(self.home.path(), self.cwd.path())
    }
}

/// Bash splits `--db=PATH` at `=` (it is in COMP_WORDBREAKS): the binary saw `--db`, `=`,
/// `PATH`, read `=` as the path and `PATH` as the command, and completed no name.
#[test]
fn bash_completes_names_from_db_equals_path() {
    let dbs = BashDbs::new();
    let db = dbs.named.path.to_str().expect("utf-8 temp path");
    let mut bash = dbs.bash();
    assert_eq!(
        bash.complete(&format!("breakerctl status --db={db} bk-")),
        ["breakerctl", "status", &format!("--db={db}"), "bk-alpha"]
    );
    assert_eq!(
        bash.complete(&format!("breakerctl --db={db} reset bk-")),
        ["breakerctl", &format!("--db={db}"), "reset", "bk-alpha"]
    );
    // The value after `=` is completed in place.
    assert_eq!(
        bash.complete(&format!("breakerctl --db={db} status-all --output=js")),
        [
            "breakerctl",
            &format!("--db={db}"),
            "status-all",
            "--output=json"
        ]
    );
}

/// `--db ~/x.db` is the home folder's file, as bash passes it; `--db=~/x.db` is not (bash does
/// not expand that tilde, so the command would not open it either).
#[test]
fn bash_completes_names_from_a_tilde_db_path() {
    let dbs = BashDbs::new();
    let home_db = dbs.home.path().join("x.db");
    let home_db = home_db.to_str().expect("utf-8 temp path");
    let mut bash = dbs.bash();
    assert_eq!(
        bash.complete("breakerctl --db ~/x.db status bk-"),
        ["breakerctl", "--db", home_db, "status", "bk-home"]
    );
    assert_eq!(
        bash.complete("breakerctl status --db=~/x.db bk-"),
        ["breakerctl", "status", "--db=~/x.db", "bk-"]
    );
}
