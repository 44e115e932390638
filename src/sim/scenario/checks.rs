//! The load test's expectations, evaluated on a report.

#[allow(unused_imports)]
use super::*;

/// The load test's expectations, evaluated on a report.
pub fn checks(report: &Report) -> Vec<Check> {
    let mut out = Vec::new();
    let mut check = |name: &str, ok: bool, detail: String| {
        out.push(Check {
            name: name.to_owned(),
            ok,
            detail,
        })
    };
    let threshold = report.settings.failure_threshold;
    let degraded = report.bookmakers.iter().find(|b| b.degraded);
    let healthy: Vec<&BookmakerReport> = report.bookmakers.iter().filter(|b| !b.degraded).collect();

    if let Some(d) = degraded {
        let at = d.failure_count_at_trip;
        check(
            "degraded bookmaker trips within the threshold",
            at.is_some_and(|c| c >= threshold && c < threshold + 1.0),
            match (at, d.time_to_trip_ms) {
                (Some(c), Some(t)) => format!(
                    "{} tripped at {}/{} weighted failures, {t} ms after it degraded",
                    d.bookmaker,
                    fmt_count(c),
                    fmt_count(threshold)
                ),
                _ => format!("{} never tripped", d.bookmaker),
            },
        );
        check(
            "open breaker rejects in under 1 ms at p99",
            d.latency_open.p99_ms.is_some_and(|p| p < 1.0),
            match d.latency_open.p99_ms {
                Some(p) => format!(
                    "{}: p99 {p:.3} ms over {} rejections",
                    d.bookmaker, d.latency_open.count
                ),
                None => format!("{}: no call was rejected", d.bookmaker),
            },
        );
    }
    if report.scenario != Scenario::Steady {
        let leaks: u64 = report
            .bookmakers
            .iter()
            .map(|b| b.requests_while_open)
            .sum();
        let probes: u64 = report.bookmakers.iter().map(|b| b.probe_requests).sum();
        check(
            "only half-open probes reach a bookmaker whose breaker is open",
            leaks == 0,
            format!("{leaks} other requests while open; {probes} probe requests"),
        );
    }
    if report.scenario == Scenario::Spike {
        let heavy: Vec<&OperationReport> = report.operations.iter().filter(|o| o.heavy).collect();
        let light: Vec<&OperationReport> = report.operations.iter().filter(|o| !o.heavy).collect();
        let heavy_shed: u64 = heavy.iter().map(|o| o.shed_while_high_load).sum();
        let heavy_through: u64 = heavy.iter().map(|o| o.upstream_while_high_load).sum();
        let heavy_low: u64 = heavy.iter().map(|o| o.shed_while_low_load).sum();
        let light_shed: u64 = light.iter().map(|o| o.counts.shed).sum();
        check(
            "heavy operations shed while the load is high, light ones never",
            heavy_shed > 0 && heavy_through == 0 && heavy_low == 0 && light_shed == 0,
            format!(
                "heavy: {heavy_shed} shed and {heavy_through} sent while high, {heavy_low} shed while low; light: {light_shed} shed"
            ),
        );
    }
    let tripped: Vec<&str> = healthy
        .iter()
        .filter(|b| b.trips > 0)
        .map(|b| b.bookmaker.as_str())
        .collect();
    check(
        "healthy bookmakers never trip",
        tripped.is_empty(),
        if tripped.is_empty() {
            format!("{} healthy bookmakers, 0 trips", healthy.len())
        } else {
            format!("tripped: {}", tripped.join(", "))
        },
    );
    out
}
