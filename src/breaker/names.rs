//! Bookmaker names and error messages: validation, "did you mean", the seed's timeout rule.

use super::MAX_NAME_BYTES;
use crate::error::{BreakerError, Result};

/// The seed's classification: an error whose message mentions a timeout weighs as a timeout.
pub fn message_says_timeout(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("timeout") || lower.contains("timed out")
}

/// Checks a bookmaker name: not empty, not longer than `MAX_NAME_BYTES`.
pub fn validate_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(BreakerError::InvalidName {
            detail: "the name is empty".to_owned(),
        });
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(BreakerError::InvalidName {
            detail: format!(
                "the name is {} bytes long; at most {MAX_NAME_BYTES} are allowed",
                name.len()
            ),
        });
    }
    Ok(())
}

/// Known names closest to `name`, best first (for "did you mean").
pub fn closest_names(name: &str, known: &[String]) -> Vec<String> {
    let lower = name.to_lowercase();
    let mut scored: Vec<(f64, &String)> = known
        .iter()
        .map(|k| (strsim::jaro_winkler(&lower, &k.to_lowercase()), k))
        .filter(|(score, k)| *score >= 0.75 || strsim::levenshtein(&lower, &k.to_lowercase()) <= 2)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.into_iter().take(3).map(|(_, k)| k.clone()).collect()
}
