//! Checks the alerting files under docs/alerts/ with the Prometheus tools:
//! `promtool check rules`, `promtool test rules` and `amtool check-config`
//! (plus `amtool config routes test` for the routing).
//!
//! When a tool is not installed the test prints a note and passes, unless the
//! environment has `CI=true`, where a missing tool is a failure (`.ci/run`
//! installs them).

use std::path::{Path, PathBuf};
use std::process::Command;

fn alerts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/alerts")
}

struct Output {
    success: bool,
    text: String,
}

/// Runs `tool args...` in docs/alerts/. `None`: the tool is missing and we
/// are not in CI, so the caller skips.
fn run(tool: &str, args: &[&str]) -> Option<Output> {
    let result = Command::new(tool)
        .args(args)
        .current_dir(alerts_dir())
        .output();
    match result {
        Ok(out) => Some(Output {
            success: out.status.success(),
            text: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "`{tool}` is not installed but CI=true requires it; install the \
                     `prometheus` and `prometheus-alertmanager` packages (see .ci/run)"
                );
            }
            eprintln!(
                "note: `{tool}` not found; skipping `{tool} {}`",
                args.join(" ")
            );
            None
        }
        Err(e) => panic!("could not run `{tool}`: {e}"),
    }
}

fn assert_ok(out: &Output, what: &str) {
    assert!(out.success, "{what} failed:\n{}", out.text);
}

#[test]
fn rules_are_valid() {
    let Some(out) = run("promtool", &["check", "rules", "circuit-breaker.yml"]) else {
        return;
    };
    assert_ok(&out, "promtool check rules");
    assert!(out.text.contains("SUCCESS: 4 rules found"), "{}", out.text);
}

#[test]
fn rule_unit_tests_pass() {
    let Some(out) = run("promtool", &["test", "rules", "circuit-breaker.test.yml"]) else {
        return;
    };
    assert_ok(&out, "promtool test rules");
    assert!(out.text.contains("SUCCESS"), "{}", out.text);
    assert!(!out.text.contains("FAILED"), "{}", out.text);
}

#[test]
fn alertmanager_config_is_valid() {
    let Some(out) = run("amtool", &["check-config", "alertmanager.yml"]) else {
        return;
    };
    assert_ok(&out, "amtool check-config");
    assert!(out.text.contains("SUCCESS"), "{}", out.text);
    assert!(out.text.contains("2 receivers"), "{}", out.text);
}

/// Critical alerts page through PagerDuty; warnings go to the default receiver.
#[test]
fn alertmanager_routes_by_severity() {
    for (labels, receiver) in [
        (
            &[
                "severity=critical",
                "alertname=CircuitBreakerTripped",
                "bookmaker=draftkings",
            ][..],
            "pagerduty",
        ),
        (
            &[
                "severity=warning",
                "alertname=CircuitBreakerFlapping",
                "bookmaker=draftkings",
            ][..],
            "default",
        ),
        (
            &["severity=warning", "alertname=CircuitBreakerLoadShedding"][..],
            "default",
        ),
    ] {
        let verify = format!("--verify.receivers={receiver}");
        let mut args = vec![
            "config",
            "routes",
            "test",
            "--config.file=alertmanager.yml",
            verify.as_str(),
        ];
        args.extend_from_slice(labels);
        let Some(out) = run("amtool", &args) else {
            return;
        };
        assert_ok(&out, &format!("amtool config routes test {labels:?}"));
        assert_eq!(
            out.text.lines().next().map(str::trim),
            Some(receiver),
            "{labels:?}: {}",
            out.text
        );
    }
}

/// The placeholder must stay a placeholder in the repository: a real key
/// does not belong in version control.
#[test]
fn pagerduty_key_is_a_placeholder() {
    let text = std::fs::read_to_string(alerts_dir().join("alertmanager.yml")).unwrap();
    assert!(
        text.contains("routing_key: \"REPLACE_WITH_PAGERDUTY_ROUTING_KEY\""),
        "{text}"
    );
}

/// Every alert names its runbook section, and the tripped alert keeps the
/// seed's expression, duration and severity.
#[test]
fn rules_point_at_the_runbook() {
    let text = std::fs::read_to_string(alerts_dir().join("circuit-breaker.yml")).unwrap();
    assert!(text.contains("- name: circuit_breaker_alerts"));
    assert!(text.contains(r#"expr: circuit_breaker_tripped{bookmaker=~".+"} == 1"#));
    for alert in [
        "CircuitBreakerTripped",
        "CircuitBreakerFlapping",
        "CircuitBreakerLoadShedding",
        "CircuitBreakerForcedReset",
    ] {
        assert!(text.contains(&format!("- alert: {alert}\n")), "{alert}");
        assert!(
            text.contains(&format!("runbook: \"runbook.md, section '{alert}'\"")),
            "{alert} has no runbook pointer"
        );
    }
}
