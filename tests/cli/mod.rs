//! Integration tests of the `breakerctl` binary: every command and exit code, the JSON shapes,
//! the typo guard, the cooldown, escaping of untrusted text, unusable databases, a closed pipe.
//! Each test runs the real binary on a real database file in its own temporary folder.

mod commands;
mod database;
mod names;
mod output;
mod tables;
