//! Which breaker a NAME argument means, and how stored names are shown.
//!
//! A name is taken as it is first. When no breaker has that name, its escapes (`\xNN`,
//! `\u{..}`, `\n`, `\r`, `\t`: what breakerctl prints for a control character or a byte that
//! is not UTF-8) are read back into bytes, and a breaker stored under exactly those bytes is
//! the one meant. So `status 'badbyte\xff'` finds the row another program stored as
//! `badbyte` and the byte 0xff, which `status-all` shows as `badbyte\xff`.

use super::exit::{CliError, ExitCode};
use super::text::{escape_bytes, unescape};
use crate::breaker::ProductionCircuitBreaker;
use crate::error::BreakerError;
use std::collections::HashMap;

/// The breaker a NAME argument means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A name the library addresses (stored as UTF-8), or one no breaker has yet.
    Name(String),
    /// A breaker stored under bytes that are not valid UTF-8.
    Undecodable(Undecodable),
}

/// A breaker another program stored under a name that is not valid UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecodable {
    /// The stored bytes.
    pub key: Vec<u8>,
    /// The name as the library reads it (U+FFFD for each bad sequence).
    pub lossy: String,
    /// The name as breakerctl shows it, and as it can be typed (`badbyte\xff`).
    pub shown: String,
}

impl Undecodable {
    fn new(key: Vec<u8>) -> Undecodable {
        Undecodable {
            lossy: String::from_utf8_lossy(&key).into_owned(),
            shown: escape_bytes(&key).into_owned(),
            key,
        }
    }
}

/// Resolves `arg` against the stored names `keys` (see the module's comment).
pub fn resolve_in(keys: &[Vec<u8>], arg: &str) -> Target {
    if keys.iter().any(|k| k == arg.as_bytes()) {
        return Target::Name(arg.to_owned());
    }
    if let Some(bytes) = unescape(arg)
        && keys.contains(&bytes)
    {
        return match String::from_utf8(bytes) {
            Ok(name) => Target::Name(name),
            Err(e) => Target::Undecodable(Undecodable::new(e.into_bytes())),
        };
    }
    Target::Name(arg.to_owned())
}

/// Every stored name, and what to show for the names the library reads lossily.
pub struct StoredNames {
    keys: Vec<Vec<u8>>,
    /// Lossy reading -> shown form, for names stored as invalid UTF-8 whose lossy reading no
    /// other stored name shares.
    shown: HashMap<String, String>,
    /// Lossy readings that two or more stored names share: their rows cannot be told apart.
    ambiguous: Vec<String>,
}

impl StoredNames {
    pub fn load(breaker: &ProductionCircuitBreaker) -> Result<StoredNames, BreakerError> {
        Ok(StoredNames::new(breaker.bookmaker_keys()?))
    }

    pub fn new(keys: Vec<Vec<u8>>) -> StoredNames {
        let mut readings: HashMap<String, Vec<&[u8]>> = HashMap::new();
        for k in &keys {
            readings
                .entry(String::from_utf8_lossy(k).into_owned())
                .or_default()
                .push(k);
        }
        let mut shown = HashMap::new();
        let mut ambiguous = Vec::new();
        for (lossy, ks) in readings {
            match ks.as_slice() {
                [one] if std::str::from_utf8(one).is_err() => {
                    shown.insert(lossy, escape_bytes(one).into_owned());
                }
                [_] => {}
                _ => ambiguous.push(lossy),
            }
        }
        StoredNames {
            keys,
            shown,
            ambiguous,
        }
    }

    pub fn resolve(&self, arg: &str) -> Target {
        resolve_in(&self.keys, arg)
    }

    /// Whether a breaker is stored under exactly `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.keys.iter().any(|k| k == name.as_bytes())
    }

    /// What to show for a name as the library read it: the escaped stored bytes when it was
    /// read lossily, else the name itself.
    pub fn shown<'a>(&'a self, read: &'a str) -> &'a str {
        self.shown.get(read).map_or(read, String::as_str)
    }

    /// Every name as it can be typed back (for "did you mean").
    pub fn typable(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| match std::str::from_utf8(k) {
                Ok(s) => s.to_owned(),
                Err(_) => escape_bytes(k).into_owned(),
            })
            .collect()
    }

    /// The breaker stored under `u`, found among rows the library read lossily; an error when
    /// another stored name reads the same.
    pub fn check_distinct(&self, u: &Undecodable) -> anyhow::Result<()> {
        if self.ambiguous.contains(&u.lossy) {
            return Err(CliError::new(
                ExitCode::Failure,
                format!(
                    "cannot show '{}': another breaker's stored name reads the same once its invalid UTF-8 is replaced",
                    u.shown
                ),
            )
            .hint("look at the rows with sqlite3 (SELECT hex(bookmaker) FROM circuit_breaker_state)")
            .into());
        }
        Ok(())
    }
}

/// The refusal to write to a breaker stored under invalid UTF-8.
pub fn refuse_write(verb: &str, u: &Undecodable) -> anyhow::Error {
    CliError::new(
        ExitCode::Failure,
        format!(
            "cannot {verb} '{}': its stored name is not valid UTF-8; nothing written",
            u.shown
        ),
    )
    .hint(
        "the breaker addresses names as UTF-8, so no service using it can reach this row; \
         `status` and `audit` show it; fix the program that wrote the name",
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_resolves_literally_first_then_by_its_escapes() {
        let keys: Vec<Vec<u8>> = vec![
            b"badbyte\xff".to_vec(),
            b"pi\x1b[2J".to_vec(),
            b"plain".to_vec(),
            br"lit\x41".to_vec(),
        ];
        let names = StoredNames::new(keys.clone());
        assert_eq!(names.resolve("plain"), Target::Name("plain".into()));
        assert_eq!(
            names.resolve(r"badbyte\xff"),
            Target::Undecodable(Undecodable {
                key: b"badbyte\xff".to_vec(),
                lossy: "badbyte\u{fffd}".into(),
                shown: r"badbyte\xff".into(),
            })
        );
        assert_eq!(
            names.resolve(r"pi\x1b[2J"),
            Target::Name("pi\x1b[2J".into())
        );
        // A stored name that looks like an escape is itself.
        assert_eq!(names.resolve(r"lit\x41"), Target::Name(r"lit\x41".into()));
        // The lossy reading addresses nothing; an unknown escape stays as typed.
        assert_eq!(
            names.resolve("badbyte\u{fffd}"),
            Target::Name("badbyte\u{fffd}".into())
        );
        assert_eq!(
            names.resolve(r"badbyte\xfe"),
            Target::Name(r"badbyte\xfe".into())
        );
        assert_eq!(names.shown("badbyte\u{fffd}"), r"badbyte\xff");
        assert_eq!(names.shown("plain"), "plain");
        assert!(names.typable().contains(&r"badbyte\xff".to_owned()));
    }

    #[test]
    fn names_that_read_the_same_are_not_guessed() {
        let names = StoredNames::new(vec![b"bad\xff".to_vec(), b"bad\xfe".to_vec()]);
        assert_eq!(names.shown("bad\u{fffd}"), "bad\u{fffd}");
        let Target::Undecodable(u) = names.resolve(r"bad\xfe") else {
            panic!("undecodable");
        };
        assert!(names.check_distinct(&u).is_err());
    }
}
