//! The scoreboard as a table for people (the JSON is the serde form of
//! [`Scoreboard`]).

use super::Scoreboard;
use std::fmt::Write;

/// Fires listed by name under the table.
const SLOWEST_FIRES: usize = 5;
/// False alerts listed by name under the table (the JSON has them all).
const FALSE_ALERTS_LISTED: usize = 10;

/// An event time as text.
fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

fn secs(v: Option<f64>) -> String {
    v.map_or("-".into(), |s| format!("{s:.0}"))
}

/// The scoreboard as text: incident kinds, then rules with false alerts.
pub fn table(s: &Scoreboard) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} detectors x {:.2} days = {:.1} detector-days, {} alerts",
        s.detectors, s.days, s.detector_days, s.alerts
    );
    let _ = writeln!(
        out,
        "\n{:<14} {:>9} {:>8} {:>7} {:>8} {:>20} {:>20} {:>9} {:>11} {:>16} severity reached",
        "incident",
        "incidents",
        "alerted",
        "recall",
        "critical",
        "delay p50/p95/max s",
        "critical p50/p95/max",
        "alerts/inc",
        "fire alerts",
        "resolve p50/p95 s",
    );
    for k in &s.kinds {
        let severity: Vec<String> = k
            .severity_reached
            .iter()
            .map(|(s, n)| format!("{s}:{n}"))
            .collect();
        let _ = writeln!(
            out,
            "{:<14} {:>9} {:>8} {:>7.3} {:>8} {:>20} {:>20} {:>9.2} {:>11} {:>16} {}",
            k.kind.as_str(),
            k.incidents,
            k.alerted,
            k.recall,
            if k.kind.is_fire() {
                k.critical.to_string()
            } else {
                "-".into()
            },
            format!(
                "{}/{}/{}",
                secs(k.delay.p50_s),
                secs(k.delay.p95_s),
                secs(k.delay.max_s)
            ),
            format!(
                "{}/{}/{}",
                secs(k.critical_delay.p50_s),
                secs(k.critical_delay.p95_s),
                secs(k.critical_delay.max_s)
            ),
            k.alerts_per_incident,
            k.fire_alerts,
            format!(
                "{}/{}",
                secs(k.time_to_resolve.p50_s),
                secs(k.time_to_resolve.p95_s)
            ),
            severity.join(" ")
        );
    }
    let _ = writeln!(out, "\nalerts overlapping each incident kind, by rule:");
    for k in &s.kinds {
        let rules: Vec<String> = k.rules.iter().map(|(r, n)| format!("{r}:{n}")).collect();
        let _ = writeln!(out, "  {:<14} {}", k.kind.as_str(), rules.join(" "));
    }
    // Missed fires first, then the slowest: where a change made things worse.
    let mut slowest: Vec<_> = s.fires.iter().collect();
    slowest.sort_by(|a, b| {
        let key = |f: &super::score::FireOutcome| f.delay_s.unwrap_or(f64::INFINITY);
        key(b).total_cmp(&key(a))
    });
    if !slowest.is_empty() {
        let _ = writeln!(out, "\nslowest fires (of {}):", s.fires.len());
        for f in slowest.iter().take(SLOWEST_FIRES) {
            let _ = writeln!(
                out,
                "  {:<12} {:<24} onset {} lasting {:>6.0} s: first alert {} s, critical {} s, {}",
                f.kind.as_str(),
                f.device,
                time(f.start_ms),
                f.duration_s,
                secs(f.delay_s),
                secs(f.critical_delay_s),
                f.severity
            );
        }
    }
    let _ = writeln!(
        out,
        "\n{:<28} {:>8} {:>8} {:>12}  false by severity",
        "rule", "alerts", "false", "false/det-day"
    );
    for (rule, r) in &s.rules {
        let by: Vec<String> = r
            .false_by_severity
            .iter()
            .map(|(s, n)| format!("{s}:{n}"))
            .collect();
        let _ = writeln!(
            out,
            "{:<28} {:>8} {:>8} {:>12.4}  {}",
            rule,
            r.alerts,
            r.false_alerts,
            r.false_per_detector_day,
            by.join(" ")
        );
    }
    if !s.false_alerts.is_empty() {
        let _ = writeln!(
            out,
            "\nfalse alerts (first {} of {}), with the incidents they overlap:",
            FALSE_ALERTS_LISTED.min(s.false_alerts.len()),
            s.false_alerts.len()
        );
        for f in s.false_alerts.iter().take(FALSE_ALERTS_LISTED) {
            let _ = writeln!(
                out,
                "  {:<24} {:<8} {:<28} opened {} for {:>6.0} s: {}{}",
                f.rule,
                f.severity.as_str(),
                f.subject,
                time(f.opened_ms),
                f.duration_s,
                if f.overlapping.is_empty() {
                    "none".to_string()
                } else {
                    f.overlapping.join(" ")
                },
                if f.open_when_critical.is_empty() {
                    String::new()
                } else {
                    format!("; critical beside {}", f.open_when_critical.join(", "))
                }
            );
        }
    }
    let _ = writeln!(
        out,
        "\nfalse alerts per detector-day: {:.4} any severity, {:.4} critical; precision {:.3} (critical {:.3})",
        s.false_per_detector_day,
        s.false_critical_per_detector_day,
        s.precision,
        s.critical_precision
    );
    out
}
