//! Dynamic completion of bookmaker names, read from the database named by `--db` (or
//! `CIRCUIT_BREAKER_DB`) on the command line being completed, and the bash adapter that puts
//! back together the `--flag=value` words bash splits at `=`.

use clap_complete::engine::CompletionCandidate;
use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Shells, Zsh};
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The shells `COMPLETE=SHELL` answers: clap's own, with bash's words joined first.
pub const SHELLS: Shells<'static> = Shells(&[&BashWords, &Elvish, &Fish, &Powershell, &Zsh]);

/// The words of the line being completed, as the completer sees them (set by `BashWords`).
static WORDS: OnceLock<Vec<String>> = OnceLock::new();

/// The `--db` of the command line being completed, else the environment, else the default.
fn db_from_args() -> PathBuf {
    let args = WORDS
        .get()
        .cloned()
        .unwrap_or_else(|| std::env::args_os().map(|a| lossy(&a)).collect());
    db_from_words(&args)
        .or_else(|| std::env::var("CIRCUIT_BREAKER_DB").ok().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(super::settings::DEFAULT_DB))
}

fn lossy(s: &OsStr) -> String {
    s.to_string_lossy().into_owned()
}

/// The last `--db PATH` or `--db=PATH` among `words`, as the shell would pass it: the words
/// are as typed, so quotes are removed, and a leading `~` of a word of its own is the home
/// folder (`--db ~/x.db`; in `--db=~/x.db` no shell expands it, so neither does this).
pub fn db_from_words(words: &[String]) -> Option<PathBuf> {
    let mut found = None;
    for (i, a) in words.iter().enumerate() {
        if let Some(v) = a.strip_prefix("--db=") {
            found = Some(as_shell_path(v, false));
        } else if a == "--db" {
            found = words.get(i + 1).map(|w| as_shell_path(w, true));
        }
    }
    found
}

/// A word as typed (`'my dbs/cb.db'`, `~/cb.db`) as the path the shell would pass.
fn as_shell_path(word: &str, expand_tilde: bool) -> PathBuf {
    let unquoted = match shell_words::split(word) {
        Ok(mut parts) if parts.len() == 1 => parts.remove(0),
        _ => word.to_owned(),
    };
    // Only an unquoted tilde is expanded by a shell.
    let tilde = expand_tilde && !word.starts_with(['\'', '"']);
    let home = || std::env::var_os("HOME").filter(|h| !h.is_empty());
    if tilde
        && (unquoted == "~" || unquoted.starts_with("~/"))
        && let Some(home) = home()
    {
        return PathBuf::from(home).join(unquoted.trim_start_matches('~').trim_start_matches('/'));
    }
    PathBuf::from(unquoted)
}

/// Names in the database at `path` (read-only; nothing when it is missing or unusable).
pub fn names_in(path: &std::path::Path) -> Vec<String> {
    crate::ProductionCircuitBreaker::builder()
        .open_read_only(path)
        .and_then(|b| b.bookmaker_names())
        .unwrap_or_default()
}

pub fn bookmaker_names(current: &OsStr) -> Vec<CompletionCandidate> {
    let prefix = current.to_string_lossy();
    names_in(&db_from_args())
        .into_iter()
        .filter(|n| n.starts_with(prefix.as_ref()) && super::text::is_printable(n))
        .map(CompletionCandidate::new)
        .collect()
}

/// Bash splits words at `=` (it is in `COMP_WORDBREAKS`): `--db=x.db status` reaches the
/// binary as `--db`, `=`, `x.db`, `status`, which would read `=` as the path and `x.db` as the
/// command. This adapter joins them back before clap's engine sees them, and, when the word
/// being completed is the value after `=`, offers candidates without the `--flag=` that bash
/// keeps in front of it.
pub struct BashWords;

impl EnvCompleter for BashWords {
    fn name(&self) -> &'static str {
        Bash.name()
    }

    fn is(&self, name: &str) -> bool {
        Bash.is(name)
    }

    fn write_registration(
        &self,
        var: &str,
        name: &str,
        bin: &str,
        completer: &str,
        buf: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        Bash.write_registration(var, name, bin, completer, buf)
    }

    fn write_complete(
        &self,
        cmd: &mut clap::Command,
        args: Vec<OsString>,
        current_dir: Option<&std::path::Path>,
        buf: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        let index: usize = std::env::var("_CLAP_COMPLETE_INDEX")
            .ok()
            .and_then(|i| i.parse().ok())
            .unwrap_or_default();
        let ifs = std::env::var("_CLAP_IFS").unwrap_or_else(|_| "\n".to_owned());
        let joined = join_bash_words(&args, index);
        let _ = WORDS.set(joined.words.iter().map(|w| lossy(w)).collect());
        let candidates =
            clap_complete::engine::complete(cmd, joined.words, joined.index, current_dir)?;
        let mut first = true;
        for candidate in candidates {
            let value = candidate.get_value().to_string_lossy();
            let value = match &joined.typed_prefix {
                Some(prefix) => match value.strip_prefix(prefix.as_str()) {
                    Some(rest) => rest.to_owned(),
                    None => continue,
                },
                None => value.into_owned(),
            };
            if !std::mem::take(&mut first) {
                buf.write_all(ifs.as_bytes())?;
            }
            buf.write_all(value.as_bytes())?;
        }
        Ok(())
    }
}

/// The words with bash's `=` splits joined back.
#[derive(Debug, PartialEq)]
pub struct JoinedWords {
    pub words: Vec<OsString>,
    /// Where the word being completed is now.
    pub index: usize,
    /// What bash keeps before the word being completed when that word was joined to a flag
    /// (`--db=`): candidates lose it, since bash replaces only the part after `=`.
    pub typed_prefix: Option<String>,
}

/// Joins `--flag`, `=`, `value` (and further `=`, `more`) back into `--flag=value`. Only after
/// a long flag: an `=` elsewhere is a word of its own.
pub fn join_bash_words(args: &[OsString], index: usize) -> JoinedWords {
    let mut words: Vec<OsString> = Vec::with_capacity(args.len());
    // For each word of `args`, the word of `words` it ended up in.
    let mut at: Vec<usize> = Vec::with_capacity(args.len());
    let mut i = 0;
    while i < args.len() {
        let after_flag = words
            .last()
            .and_then(|w| w.to_str())
            .is_some_and(|w| w.starts_with("--") && w.len() > 2);
        if args[i] == "=" && after_flag && i + 1 < args.len() {
            let last = words.len() - 1;
            words[last].push("=");
            words[last].push(&args[i + 1]);
            at.push(last);
            at.push(last);
            i += 2;
            continue;
        }
        words.push(args[i].clone());
        at.push(words.len() - 1);
        i += 1;
    }
    let Some(&new_index) = at.get(index) else {
        return JoinedWords {
            index: index + words.len() - args.len(),
            words,
            typed_prefix: None,
        };
    };
    let typed_prefix = (words[new_index] != args[index])
        .then(|| {
            let whole = lossy(&words[new_index]);
            let tail = lossy(&args[index]);
            whole.strip_suffix(tail.as_str()).map(str::to_owned)
        })
        .flatten();
    JoinedWords {
        words,
        index: new_index,
        typed_prefix,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn joins_what_bash_split_at_equals() {
        let j = join_bash_words(&os(&["b", "status", "--db", "=", "x.db", "bk-"]), 5);
        assert_eq!(j.words, os(&["b", "status", "--db=x.db", "bk-"]));
        assert_eq!((j.index, j.typed_prefix), (3, None));

        // The value itself being completed: bash replaces only the part after `=`.
        let j = join_bash_words(&os(&["b", "--db", "=", "x.d"]), 3);
        assert_eq!(j.words, os(&["b", "--db=x.d"]));
        assert_eq!((j.index, j.typed_prefix.as_deref()), (1, Some("--db=")));

        // `a=b` inside a value.
        let j = join_bash_words(&os(&["b", "--reason", "=", "a", "=", "b"]), 5);
        assert_eq!(j.words, os(&["b", "--reason=a=b"]));
        assert_eq!(
            (j.index, j.typed_prefix.as_deref()),
            (1, Some("--reason=a="))
        );

        // An `=` that follows no flag is a word of its own.
        let j = join_bash_words(&os(&["b", "status", "=", "x"]), 3);
        assert_eq!(j.words, os(&["b", "status", "=", "x"]));
        assert_eq!((j.index, j.typed_prefix), (3, None));
    }

    #[test]
    fn db_words_as_a_shell_passes_them() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        assert_eq!(
            db_from_words(&words(&["b", "--db", "'a b.db'", "status"])),
            Some(PathBuf::from("a b.db"))
        );
        assert_eq!(
            db_from_words(&words(&["b", "--db=\"x.db\""])),
            Some(PathBuf::from("x.db"))
        );
        if let Some(home) = home {
            assert_eq!(
                db_from_words(&words(&["b", "--db", "~/cb.db"])),
                Some(home.join("cb.db"))
            );
        }
        assert_eq!(
            db_from_words(&words(&["b", "--db", "'~/cb.db'"])),
            Some(PathBuf::from("~/cb.db"))
        );
        // A shell expands no tilde after `--db=`.
        assert_eq!(
            db_from_words(&words(&["b", "--db=~/cb.db"])),
            Some(PathBuf::from("~/cb.db"))
        );
    }
}
