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

/// The alerts of the shipped rules, in file order, with their `for:` (`None` without one).
fn shipped_alerts() -> Vec<(String, Option<String>)> {
    let text = std::fs::read_to_string(alerts_dir().join("circuit-breaker.yml")).unwrap();
    let mut alerts: Vec<(String, Option<String>)> = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if let Some(name) = line.strip_prefix("- alert: ") {
            alerts.push((name.trim().to_owned(), None));
        } else if let Some(d) = line.strip_prefix("for: ") {
            alerts.last_mut().expect("for: inside a rule").1 = Some(d.trim().to_owned());
        }
    }
    alerts
}

const ALERTS: [&str; 8] = [
    "CircuitBreakerTripped",
    "CircuitBreakerFlapping",
    "CircuitBreakerLoadShedding",
    "CircuitBreakerForcedReset",
    "CircuitBreakerExporterDown",
    "CircuitBreakerExporterMissing",
    "CircuitBreakerMetricsMissing",
    "CircuitBreakerStoreUnreadable",
];

const RUNBOOK_BASE: &str = "https://runbooks.example.com/breakerctl/runbook.md";

#[test]
fn rules_are_valid() {
    let Some(out) = run("promtool", &["check", "rules", "circuit-breaker.yml"]) else {
        return;
    };
    assert_ok(&out, "promtool check rules");
    assert!(out.text.contains("SUCCESS: 8 rules found"), "{}", out.text);
    let names: Vec<String> = shipped_alerts().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ALERTS);
}

#[test]
fn rule_unit_tests_pass() {
    let Some(out) = run("promtool", &["test", "rules", "circuit-breaker.test.yml"]) else {
        return;
    };
    assert_ok(&out, "promtool test rules");
    assert!(out.text.contains("SUCCESS"), "{}", out.text);
    assert!(!out.text.contains("FAILED"), "{}", out.text);
    // Every alert is checked, firing and not firing.
    let tests = std::fs::read_to_string(alerts_dir().join("circuit-breaker.test.yml")).unwrap();
    for alert in ALERTS {
        assert!(
            tests.contains(&format!("alertname: {alert}\n")),
            "no test checks {alert}"
        );
    }
}

#[test]
fn alertmanager_config_is_valid() {
    let Some(out) = run("amtool", &["check-config", "alertmanager.yml"]) else {
        return;
    };
    assert_ok(&out, "amtool check-config");
    assert!(out.text.contains("SUCCESS"), "{}", out.text);
    assert!(out.text.contains("2 receivers"), "{}", out.text);
    assert!(out.text.contains("2 inhibit rules"), "{}", out.text);
}

/// Critical alerts page through PagerDuty; warnings go to the team's channel; a simulated
/// bookmaker never pages, whatever its severity.
#[test]
fn alertmanager_routes_by_severity() {
    for (labels, receiver) in [
        (
            &[
                "severity=critical",
                "alertname=CircuitBreakerTripped",
                "bookmaker=draftkings",
                "instance=host-a:9464",
            ][..],
            "pagerduty",
        ),
        (
            &[
                "severity=critical",
                "alertname=CircuitBreakerExporterDown",
                "instance=host-a:9464",
            ][..],
            "pagerduty",
        ),
        (
            &[
                "severity=critical",
                "alertname=CircuitBreakerTripped",
                "bookmaker=sim-draftkings",
            ][..],
            "team-warnings",
        ),
        (
            &[
                "severity=warning",
                "alertname=CircuitBreakerFlapping",
                "bookmaker=draftkings",
            ][..],
            "team-warnings",
        ),
        (
            &[
                "severity=warning",
                "alertname=CircuitBreakerLoadShedding",
                "instance=host-a:9464",
            ][..],
            "team-warnings",
        ),
        (
            &["severity=warning", "alertname=CircuitBreakerForcedReset"][..],
            "team-warnings",
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

/// Notifications are grouped per host and bookmaker, and say both.
#[test]
fn alertmanager_groups_by_host_and_pages_say_it() {
    let text = std::fs::read_to_string(alerts_dir().join("alertmanager.yml")).unwrap();
    assert!(
        text.contains(r#"group_by: ["alertname", "job", "instance", "bookmaker"]"#),
        "{text}"
    );
    for detail in [
        "instance: '{{ .CommonLabels.instance }}'",
        "bookmaker: '{{ .CommonLabels.bookmaker }}'",
        "runbook_url: '{{ .CommonAnnotations.runbook_url }}'",
    ] {
        assert!(text.contains(detail), "PagerDuty details lack {detail}");
    }
    // Inhibited by the exporter's health, per host: every per-breaker alert.
    let inhibit = &text[text.find("inhibit_rules:").unwrap()..text.find("\nreceivers:").unwrap()];
    for alert in &ALERTS[..4] {
        assert!(inhibit.contains(alert), "{alert} is not inhibited");
    }
    assert!(
        inhibit.contains(r#"equal: ["job", "instance"]"#),
        "{inhibit}"
    );
}

/// The placeholders must stay placeholders in the repository: a real key or webhook does
/// not belong in version control.
#[test]
fn receiver_secrets_are_placeholders() {
    let text = std::fs::read_to_string(alerts_dir().join("alertmanager.yml")).unwrap();
    assert!(
        text.contains("routing_key: \"REPLACE_WITH_PAGERDUTY_ROUTING_KEY\""),
        "{text}"
    );
    assert!(
        text.contains("api_url: \"https://hooks.slack.com/services/REPLACE/WITH/WEBHOOK\""),
        "{text}"
    );
}

/// GitHub's anchor of a heading: lower case, spaces to dashes, punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Every alert links (`runbook_url`) the runbook section named after it, which exists; the
/// tripped alert keeps the seed's expression and severity; no summary or description
/// states a duration (the `for:` and windows are the only place they are written).
#[test]
fn rules_link_the_runbook_and_state_no_durations() {
    let text = std::fs::read_to_string(alerts_dir().join("circuit-breaker.yml")).unwrap();
    let runbook =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("runbook.md")).unwrap();
    let anchors: Vec<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(anchor)
        .collect();
    assert!(text.contains("- name: circuit_breaker_alerts"));
    assert!(text.contains(r#"circuit_breaker_tripped{bookmaker=~".+", bookmaker!~"sim-.*"} == 1"#));
    assert!(!text.contains("runbook:"), "runbook_url is the convention");
    for alert in ALERTS {
        let a = anchor(alert);
        assert!(anchors.contains(&a), "runbook.md has no section ## {alert}");
        assert!(
            text.contains(&format!("runbook_url: \"{RUNBOOK_BASE}#{a}\"")),
            "{alert} does not link its runbook section"
        );
    }
    assert_eq!(text.matches("runbook_url:").count(), ALERTS.len());
    // Summaries and descriptions: no "5 minutes", "10m", "1 hour" (but "the last hour" is
    // the window's meaning, not a number).
    let mut in_text = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("summary:") || t.starts_with("description:") {
            in_text = true;
        } else if t.starts_with("runbook_url:") || t.starts_with("- alert:") {
            in_text = false;
        }
        if !in_text {
            continue;
        }
        let words: Vec<&str> = t.split(|c: char| !c.is_alphanumeric()).collect();
        for pair in words.windows(2) {
            let number = pair[0].chars().all(|c| c.is_ascii_digit()) && !pair[0].is_empty();
            let unit = [
                "s", "m", "h", "sec", "seconds", "minute", "minutes", "hour", "hours",
            ]
            .contains(&pair[1]);
            assert!(!(number && unit), "a duration in an annotation: {line}");
        }
        for word in &words {
            let digits = word.trim_end_matches(['s', 'm', 'h']);
            assert!(
                digits.is_empty()
                    || digits.len() == word.len()
                    || !digits.chars().all(|c| c.is_ascii_digit()),
                "a duration in an annotation: {line}"
            );
        }
    }
}

/// docs/metrics.md lists every alert with the `for:` of the shipped rules.
#[test]
fn the_metrics_doc_lists_every_alert_with_its_for() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/metrics.md"))
            .unwrap();
    for (alert, for_) in shipped_alerts() {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{alert}` |")))
            .unwrap_or_else(|| panic!("docs/metrics.md has no row for {alert}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let want = for_.unwrap_or_else(|| "none".to_owned());
        assert!(
            cells.contains(&want.as_str()),
            "{alert}: the row says {row:?}, the rule says for: {want}"
        );
    }
}

/// Each alert's runbook section quotes the rule's `for:` (or says it has none).
#[test]
fn the_runbook_quotes_every_for() {
    let runbook =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("runbook.md")).unwrap();
    for (alert, for_) in shipped_alerts() {
        let start = runbook
            .find(&format!("\n## {alert}\n"))
            .unwrap_or_else(|| panic!("runbook.md has no section ## {alert}"));
        let rest = &runbook[start + 4..];
        let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
        let want = match &for_ {
            Some(d) => format!("`for: {d}`"),
            None => "no `for:`".to_owned(),
        };
        assert!(
            section.contains(&want),
            "runbook.md's {alert} section does not say {want}"
        );
    }
}
