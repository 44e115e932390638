//! Exit codes, and the one place that maps an error to its code and message.

use crate::error::BreakerError;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Ok = 0,
    Failure = 1,
    Usage = 2,
    CooldownDenied = 3,
    UnknownBreaker = 4,
    Busy = 5,
    DatabaseUnusable = 6,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// An error the CLI itself raises, with its exit code and what to do next.
#[derive(Debug)]
pub struct CliError {
    pub code: ExitCode,
    pub message: String,
    pub hint: Option<String>,
}

impl CliError {
    pub fn new(code: ExitCode, message: impl Into<String>) -> CliError {
        CliError {
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::new(ExitCode::Usage, message)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> CliError {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// What an error means for the person at the terminal: code, message, next step.
pub struct Diagnosis {
    pub code: ExitCode,
    pub message: String,
    pub hint: Option<String>,
}

pub fn diagnose(err: &anyhow::Error) -> Diagnosis {
    if let Some(e) = err.downcast_ref::<CliError>() {
        return Diagnosis {
            code: e.code,
            message: e.message.clone(),
            hint: e.hint.clone(),
        };
    }
    if let Some(e) = err.downcast_ref::<BreakerError>() {
        return diagnose_breaker(e);
    }
    if let Some(e) = err.downcast_ref::<clap::Error>() {
        return Diagnosis {
            code: ExitCode::Usage,
            message: e.to_string().trim_end().to_owned(),
            hint: None,
        };
    }
    Diagnosis {
        code: ExitCode::Failure,
        message: format!("{err:#}"),
        hint: None,
    }
}

fn diagnose_breaker(e: &BreakerError) -> Diagnosis {
    use BreakerError as E;
    let (code, hint) = match e {
        E::NotFound { .. } => (
            ExitCode::DatabaseUnusable,
            Some(
                "check --db / CIRCUIT_BREAKER_DB, or create one with `breakerctl init`".to_owned(),
            ),
        ),
        E::Corrupt { .. } => (
            ExitCode::DatabaseUnusable,
            Some(
                "run `breakerctl doctor`; restore the file from a backup and escalate (runbook.md: \"The database is corrupt\")"
                    .to_owned(),
            ),
        ),
        E::NotABreakerDatabase { .. } => (
            ExitCode::DatabaseUnusable,
            Some(
                "check --db / CIRCUIT_BREAKER_DB points at the services' circuit_breaker.db"
                    .to_owned(),
            ),
        ),
        E::SchemaTooNew { .. } => (ExitCode::DatabaseUnusable, None),
        E::ReadOnly { .. } => (
            ExitCode::DatabaseUnusable,
            Some("run as a user who can write the database and its folder".to_owned()),
        ),
        E::Io { .. } => (ExitCode::DatabaseUnusable, None),
        E::Busy { .. } => (
            ExitCode::Busy,
            Some("retry, or raise --busy-timeout".to_owned()),
        ),
        E::CooldownActive { .. } => (
            ExitCode::CooldownDenied,
            Some("wait, or use --force --reason TEXT to override".to_owned()),
        ),
        E::ForceNeedsReason | E::InvalidName { .. } | E::InvalidArgument { .. } => {
            (ExitCode::Usage, None)
        }
        E::UnknownBookmaker { suggestions, .. } => (
            ExitCode::UnknownBreaker,
            Some(if suggestions.is_empty() {
                "run `breakerctl status-all` to list the breakers".to_owned()
            } else {
                format!("did you mean {}?", suggestions.join(", "))
            }),
        ),
        E::Backend { .. } => (ExitCode::Failure, None),
    };
    let message = match e {
        // The cooldown's message carries its own next step, on one line as operators expect.
        E::CooldownActive { .. } => {
            return Diagnosis {
                code,
                message: format!("{e}; use --force --reason TEXT to override"),
                hint: None,
            };
        }
        _ => e.to_string(),
    };
    Diagnosis {
        code,
        message,
        hint,
    }
}
