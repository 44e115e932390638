//! The rule tests must catch broken rules (issue 14, point 6): every mutant of
//! docs/alerts/circuit-breaker.yml below changes when an alert fires or resolves, and
//! `promtool test rules docs/alerts/circuit-breaker.test.yml` must fail on each.
//!
//! The mutants are made from the shipped file, so a new rule gets them too:
//! - every `for:` one evaluation step (15 s, the test file's `evaluation_interval`) shorter
//!   and longer; a rule without `for:` gets `for: 15s`;
//! - every range window and `offset` 15 s shorter and longer;
//! - every comparison with a number made strict or not, and its number 1 up or down;
//! - every `bookmaker!~"sim-.*"` removed (simulated bookmakers would alert);
//! - and the mutations the issue found passing before: ForcedReset's `[15m]` as `[2m]` to
//!   `[20m]`, ForcedReset with `for: 1m`, LoadShedding's `for: 11m` and `rate(...[1m])`,
//!   `[2m]`, `[6m]`, Tripped's `for: 4m30s`, and the guards added for issue 14 removed.
//!
//! Each mutant is checked with `promtool check rules` first (a mutant that does not load
//! would fail for the wrong reason), then only the test groups that check its alert are
//! run, two mutants at a time. Skipped with a note when promtool is not installed, failing
//! instead with `CI=true`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

fn alerts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/alerts")
}

/// One evaluation step of the rule tests.
const STEP_S: u64 = 15;

/// Mutants that cannot change when an alert fires on the test's 15 s grid, with the reason;
/// each must still be among the mutants made (so that the list follows the rules).
const EQUIVALENT: &[(&str, &str, &str)] = &[
    (
        "CircuitBreakerFlapping",
        "window of min_over_time #1: 1h -> 59m45s",
        "the creation term only counts while the series is younger than an hour \
         (present_over_time), so a window of an hour, one step more or less, still starts at or \
         before its first sample (windows are closed at both ends) and sees its first value",
    ),
    (
        "CircuitBreakerFlapping",
        "window of min_over_time #1: 1h -> 1h15s",
        "a longer window only adds time before the series existed",
    ),
    (
        "CircuitBreakerFlapping",
        "window of present_over_time #1: 1h -> 59m45s",
        "only the far edge (two hours back) moves: a series created within the hour has no \
         sample there either way; it only moves when a series gone for more than an hour \
         counts as new again, the approximation the rule's comment states",
    ),
    (
        "CircuitBreakerFlapping",
        "window of present_over_time #1: 1h -> 1h15s",
        "as above: only the far edge moves",
    ),
    (
        "CircuitBreakerFlapping",
        "window of increase #2: 1h -> 1h15s",
        "the second increase() only supplies the 0 where the creation term is absent, and the \
         sum also needs the first increase() over the hour: a longer window cannot add an alert \
         (a shorter one can remove one, and is tested)",
    ),
];

#[derive(Debug, Clone)]
struct Mutant {
    alert: String,
    what: String,
    rules: String,
}

/// One rule of the file: its alert name and where its lines are.
#[derive(Debug, Clone)]
struct Rule {
    alert: String,
    start: usize,
    end: usize,
}

fn rules_of(text: &str) -> Vec<Rule> {
    let mut starts: Vec<(usize, String)> = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.trim_start().strip_prefix("- alert: ") {
            starts.push((offset, name.trim().to_owned()));
        }
        offset += line.len();
    }
    let ends: Vec<usize> = starts
        .iter()
        .skip(1)
        .map(|(s, _)| *s)
        .chain([text.len()])
        .collect();
    starts
        .into_iter()
        .zip(ends)
        .map(|((start, alert), end)| Rule { alert, start, end })
        .collect()
}

/// A Prometheus duration (`5m`, `1h`, `4m30s`, `90s`) in seconds.
fn parse_duration(s: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut number = String::new();
    let mut any = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().ok()?;
        number.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return None,
        };
        any = true;
    }
    (number.is_empty() && any).then_some(total)
}

fn format_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

fn replace_at(text: &str, at: usize, len: usize, with: &str) -> String {
    format!("{}{}{}", &text[..at], with, &text[at + len..])
}

/// The byte range of a rule's `expr:` (up to its `for:`, `keep_firing_for:` or `labels:`).
fn expr_range(text: &str, rule: &Rule) -> (usize, usize) {
    let block = &text[rule.start..rule.end];
    let start = block.find("expr:").expect("every rule has an expr") + rule.start;
    let after = &text[start..rule.end];
    let end = [
        "\n        for:",
        "\n        keep_firing_for:",
        "\n        labels:",
    ]
    .iter()
    .filter_map(|k| after.find(k))
    .min()
    .map(|i| start + i)
    .unwrap_or(rule.end);
    (start, end)
}

/// Durations shorter and longer by one step, as mutants of `text[at..at + len]`.
fn duration_mutants(
    text: &str,
    rule: &Rule,
    at: usize,
    len: usize,
    what: &str,
    wrap: impl Fn(&str) -> String,
    out: &mut Vec<Mutant>,
) {
    let Some(secs) = parse_duration(&text[at..at + len]) else {
        return;
    };
    for changed in [secs.checked_sub(STEP_S), Some(secs + STEP_S)]
        .into_iter()
        .flatten()
        .filter(|s| *s > 0)
    {
        let d = format_duration(changed);
        out.push(Mutant {
            alert: rule.alert.clone(),
            what: format!("{what} {} -> {d}", &text[at..at + len]),
            rules: replace_at(text, at, len, &wrap(&d)),
        });
    }
}

fn generic_mutants(text: &str) -> Vec<Mutant> {
    let mut out = Vec::new();
    for rule in rules_of(text) {
        let block = &text[rule.start..rule.end];
        // for: +-1 step, or a for: where there is none.
        match block.find("\n        for: ") {
            Some(i) => {
                let at = rule.start + i + "\n        for: ".len();
                let len = text[at..].find('\n').unwrap_or(0);
                duration_mutants(text, &rule, at, len, "for:", |d| d.to_owned(), &mut out);
            }
            None => {
                let i = block
                    .find("\n        labels:")
                    .expect("every rule has labels");
                out.push(Mutant {
                    alert: rule.alert.clone(),
                    what: format!("for: {STEP_S}s added"),
                    rules: replace_at(
                        text,
                        rule.start + i,
                        0,
                        &format!("\n        for: {STEP_S}s"),
                    ),
                });
            }
        }
        let (es, ee) = expr_range(text, &rule);
        let expr = &text[es..ee];
        // Range windows and offsets.
        let mut i = 0;
        let mut seen: Vec<String> = Vec::new();
        while let Some(open) = expr[i..].find('[') {
            let at = es + i + open + 1;
            let len = text[at..].find(']').expect("closed window");
            // Named by the function it is the window of, and which one of them it is.
            let before = &expr[..i + open];
            let function = before
                .rfind('(')
                .map(|p| {
                    let name_start = before[..p]
                        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .map_or(0, |q| q + 1);
                    &before[name_start..p]
                })
                .unwrap_or("?")
                .to_owned();
            seen.push(function.clone());
            let nth = seen.iter().filter(|f| **f == function).count();
            let what = format!("window of {function} #{nth}:");
            duration_mutants(text, &rule, at, len, &what, |d| d.to_owned(), &mut out);
            i += open + 1;
        }
        let mut i = 0;
        while let Some(found) = expr[i..].find("offset ") {
            let at = es + i + found + "offset ".len();
            let len = text[at..]
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(0);
            duration_mutants(text, &rule, at, len, "offset", |d| d.to_owned(), &mut out);
            i += found + 1;
        }
        // Comparisons with a number, outside label matchers and quotes.
        for (at, op, num_at, num) in comparisons(expr) {
            let (at, num_at) = (es + at, es + num_at);
            let value: f64 = num.parse().expect("a number");
            let swapped = match op {
                ">" => Some(">="),
                ">=" => Some(">"),
                "<" => Some("<="),
                "<=" => Some("<"),
                "==" => Some("!="),
                _ => None,
            };
            if let Some(s) = swapped {
                out.push(Mutant {
                    alert: rule.alert.clone(),
                    what: format!("{op} {num} -> {s} {num}"),
                    rules: replace_at(text, at, op.len(), s),
                });
            }
            for changed in [value - 1.0, value + 1.0] {
                if changed < 0.0 {
                    continue;
                }
                out.push(Mutant {
                    alert: rule.alert.clone(),
                    what: format!("{op} {num} -> {op} {changed}"),
                    rules: replace_at(text, num_at, num.len(), &changed.to_string()),
                });
            }
        }
        // Simulated bookmakers let in.
        let sim = r#", bookmaker!~"sim-.*""#;
        let mut i = 0;
        let mut n = 0;
        while let Some(found) = expr[i..].find(sim) {
            n += 1;
            out.push(Mutant {
                alert: rule.alert.clone(),
                what: format!("sim-* exclusion #{n} removed"),
                rules: replace_at(text, es + i + found, sim.len(), ""),
            });
            i += found + 1;
        }
    }
    out
}

/// `(operator offset, operator, number offset, number)` for every comparison of an
/// expression with a number literal, skipping `{...}` matchers and quoted strings.
fn comparisons(expr: &str) -> Vec<(usize, &'static str, usize, &str)> {
    let bytes = expr.as_bytes();
    let mut out = Vec::new();
    let (mut depth, mut quoted) = (0usize, false);
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if quoted {
            if c == b'\\' {
                i += 1;
            } else if c == b'"' {
                quoted = false;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' => quoted = true,
            b'{' => depth += 1,
            b'}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => {
                let op = ["==", "!=", ">=", "<=", ">", "<"]
                    .into_iter()
                    .find(|op| expr[i..].starts_with(op));
                if let Some(op) = op {
                    let rest = &expr[i + op.len()..];
                    let skipped = rest.len() - rest.trim_start().len();
                    let num_at = i + op.len() + skipped;
                    let num_len = expr[num_at..]
                        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                        .unwrap_or(expr.len() - num_at);
                    if num_len > 0 {
                        out.push((i, op, num_at, &expr[num_at..num_at + num_len]));
                    }
                    i += op.len();
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The mutations of the issue and of the guards it asked for, by exact text within a rule.
fn named_mutants(text: &str) -> Vec<Mutant> {
    let rules = rules_of(text);
    let edit = |alert: &str, from: &str, to: &str| -> Mutant {
        let rule = rules
            .iter()
            .find(|r| r.alert == alert)
            .unwrap_or_else(|| panic!("no rule {alert}"));
        let block = &text[rule.start..rule.end];
        let at = block
            .find(from)
            .unwrap_or_else(|| panic!("{alert} has no {from:?}"));
        Mutant {
            alert: alert.to_owned(),
            what: format!("{from:?} -> {to:?}"),
            rules: replace_at(text, rule.start + at, from.len(), to),
        }
    };
    let mut out = Vec::new();
    for w in ["2m", "10m", "14m", "16m", "20m"] {
        out.push(edit(
            "CircuitBreakerForcedReset",
            "[15m]",
            &format!("[{w}]"),
        ));
    }
    out.push(edit(
        "CircuitBreakerForcedReset",
        "\n        labels:",
        "\n        for: 1m\n        labels:",
    ));
    for f in ["9m", "11m"] {
        out.push(edit(
            "CircuitBreakerLoadShedding",
            "for: 10m",
            &format!("for: {f}"),
        ));
    }
    for w in ["1m", "2m", "4m", "6m"] {
        out.push(edit(
            "CircuitBreakerLoadShedding",
            "[5m]",
            &format!("[{w}]"),
        ));
    }
    // One alert per bookmaker again, instead of one per host.
    out.push(edit(
        "CircuitBreakerLoadShedding",
        "sum by (job, instance)",
        "sum by (job, instance, bookmaker)",
    ));
    for f in ["4m", "4m30s", "5m30s", "6m"] {
        out.push(edit(
            "CircuitBreakerTripped",
            "for: 5m",
            &format!("for: {f}"),
        ));
    }
    // A scrape gap resolves the page again.
    let tripped = &rules
        .iter()
        .find(|r| r.alert == "CircuitBreakerTripped")
        .expect("CircuitBreakerTripped");
    let block = &text[tripped.start..tripped.end];
    let guard_start = block.find("\n          or (").expect("the stale guard");
    let guard_end = block[guard_start..]
        .find("\n          )\n")
        .expect("the end of the stale guard")
        + guard_start
        + "\n          )".len();
    out.push(Mutant {
        alert: "CircuitBreakerTripped".to_owned(),
        what: "the scrape-gap guard removed".to_owned(),
        rules: replace_at(
            text,
            tripped.start + guard_start,
            guard_end - guard_start,
            "",
        ),
    });
    out.push(edit(
        "CircuitBreakerTripped",
        r#"{bookmaker=~".+", bookmaker!~"sim-.*"} == 1"#,
        r#"{bookmaker!~"sim-.*"} == 1"#,
    ));
    // The trip a breaker is created with no longer counts.
    out.push(edit(
        "CircuitBreakerFlapping",
        "min_over_time(circuit_breaker_trips_total{bookmaker!~\"sim-.*\"}[1h]) == 1",
        "min_over_time(circuit_breaker_trips_total{bookmaker!~\"sim-.*\"}[1h]) == -1",
    ));
    out
}

/// The test file with only the groups that check `alert` (a mutant of one rule changes
/// only that rule's alerts).
fn tests_for(test_file: &str, alert: &str) -> String {
    let marker = "\n  - interval:";
    let head_end = test_file.find(marker).expect("a test group");
    let mut kept = test_file[..head_end].to_owned();
    let body = &test_file[head_end..];
    let mut starts: Vec<usize> = body.match_indices(marker).map(|(i, _)| i).collect();
    starts.push(body.len());
    let needle = format!("alertname: {alert}\n");
    for pair in starts.windows(2) {
        let group = &body[pair[0]..pair[1]];
        if group.contains(&needle) {
            kept.push_str(group);
        }
    }
    kept
}

fn promtool_available() -> bool {
    match Command::new("promtool").arg("--version").output() {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("promtool is required when CI=true; install `prometheus` (see .ci/run)");
            }
            eprintln!("note: promtool not found; skipping the mutation test of the alert rules");
            false
        }
        Err(e) => panic!("could not run promtool: {e}"),
    }
}

/// `Ok(())` when the mutant is caught: it loads, and the rule tests fail on it.
fn caught(dir: &Path, mutant: &Mutant, test_file: &str) -> Result<(), String> {
    std::fs::write(dir.join("circuit-breaker.yml"), &mutant.rules).unwrap();
    std::fs::write(
        dir.join("circuit-breaker.test.yml"),
        tests_for(test_file, &mutant.alert),
    )
    .unwrap();
    let check = Command::new("promtool")
        .args(["check", "rules", "circuit-breaker.yml"])
        .current_dir(dir)
        .output()
        .unwrap();
    if !check.status.success() {
        return Err(format!(
            "does not load, so it proves nothing:\n{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        ));
    }
    let test = Command::new("promtool")
        .args(["test", "rules", "circuit-breaker.test.yml"])
        .current_dir(dir)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
    if test.status.success() {
        return Err("passes the rule tests".to_owned());
    }
    if !said.contains(&format!("alertname: {}", mutant.alert)) {
        return Err(format!("fails, but not on its alert's checks:\n{said}"));
    }
    Ok(())
}

#[test]
fn every_mutant_of_the_rules_fails_the_rule_tests() {
    if !promtool_available() {
        return;
    }
    let rules = std::fs::read_to_string(alerts_dir().join("circuit-breaker.yml")).unwrap();
    let test_file = std::fs::read_to_string(alerts_dir().join("circuit-breaker.test.yml")).unwrap();
    // The unmutated rules pass the filtered tests of every alert.
    for rule in rules_of(&rules) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("circuit-breaker.yml"), &rules).unwrap();
        std::fs::write(
            dir.path().join("circuit-breaker.test.yml"),
            tests_for(&test_file, &rule.alert),
        )
        .unwrap();
        let out = Command::new("promtool")
            .args(["test", "rules", "circuit-breaker.test.yml"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the shipped rules fail the tests of {}:\n{}",
            rule.alert,
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            tests_for(&test_file, &rule.alert).contains(&format!("alertname: {}\n", rule.alert)),
            "no test checks {}",
            rule.alert
        );
    }

    let mut mutants = generic_mutants(&rules);
    mutants.extend(named_mutants(&rules));
    assert!(mutants.len() > 60, "only {} mutants", mutants.len());
    for m in &mutants {
        assert_ne!(m.rules, rules, "{} changes nothing", m.what);
    }

    for (alert, what, _) in EQUIVALENT {
        assert!(
            mutants.iter().any(|m| m.alert == *alert && m.what == *what),
            "the equivalent mutant {alert}: {what} is no longer made; update EQUIVALENT"
        );
    }
    mutants.retain(|m| {
        !EQUIVALENT
            .iter()
            .any(|(alert, what, _)| m.alert == *alert && m.what == *what)
    });

    let queue = Mutex::new(mutants.iter());
    let survivors = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let dir = tempfile::tempdir().unwrap();
                loop {
                    let Some(m) = queue.lock().unwrap().next() else {
                        return;
                    };
                    if let Err(why) = caught(dir.path(), m, &test_file) {
                        survivors
                            .lock()
                            .unwrap()
                            .push(format!("{}: {}: {why}", m.alert, m.what));
                    }
                }
            });
        }
    });
    let survivors = survivors.into_inner().unwrap();
    eprintln!(
        "alert_mutations: {} mutants, {} caught ({} listed as equivalent)",
        mutants.len(),
        mutants.len() - survivors.len(),
        EQUIVALENT.len()
    );
    assert!(
        survivors.is_empty(),
        "{} of {} mutants of the rules were not caught by circuit-breaker.test.yml:\n{}",
        survivors.len(),
        mutants.len(),
        survivors.join("\n")
    );
}

#[test]
fn durations_and_comparisons_are_found() {
    assert_eq!(parse_duration("4m30s"), Some(270));
    assert_eq!(parse_duration("1h"), Some(3600));
    assert_eq!(parse_duration("5"), None);
    assert_eq!(format_duration(3585), "59m45s");
    assert_eq!(format_duration(3615), "1h15s");
    let found: Vec<(&str, &str)> =
        comparisons(r#"x{a=~"1", b!="2"} >= 3 or y == 1 unless z > bool 2"#)
            .into_iter()
            .map(|(_, op, _, n)| (op, n))
            .collect();
    assert_eq!(found, [(">=", "3"), ("==", "1")]);
}
