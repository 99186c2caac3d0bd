//! The Grafana dashboard and the alert rules query only metric names that
//! are declared in src/telemetry/names.rs, or listed in
//! monitoring/pending-metrics.txt while their producer has not landed (and
//! every pending entry is still used). Declared names follow Prometheus
//! conventions.

use serde_json::Value;
use smokewatch::telemetry::names::{self, MetricKind, MetricName};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap()
}

/// Every `smokewatch_…` identifier in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find("smokewatch_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// Every metric declared in names.rs.
fn declared() -> Vec<MetricName> {
    names::ALL.to_vec()
}

fn pending() -> BTreeSet<String> {
    read("monitoring/pending-metrics.txt")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

/// A queried name resolves to a declared base name (histogram series add
/// `_bucket`, `_sum`, `_count`).
fn resolve<'a>(name: &'a str, known: &BTreeSet<String>) -> Option<&'a str> {
    if known.contains(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"]
        .iter()
        .filter_map(|s| name.strip_suffix(s))
        .find(|base| known.contains(*base))
}

fn dashboard_exprs() -> Vec<String> {
    let dashboard: Value =
        serde_json::from_str(&read("monitoring/grafana/dashboards/smokewatch.json")).unwrap();
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    exprs
}

fn rule_exprs() -> Vec<String> {
    let rules: serde_yaml::Value =
        serde_yaml::from_str(&read("monitoring/prometheus/alerts.yml")).unwrap();
    rules["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap().clone())
        .map(|r| r["expr"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn dashboard_and_rules_query_only_declared_or_pending_names() {
    let declared: BTreeSet<String> = declared().iter().map(|m| m.name.to_string()).collect();
    let pending = pending();
    let overlap: Vec<&String> = pending.intersection(&declared).collect();
    assert!(
        overlap.is_empty(),
        "declared now, remove from pending-metrics.txt: {overlap:?}"
    );
    let known: BTreeSet<String> = declared.union(&pending).cloned().collect();

    let exprs = dashboard_exprs();
    assert!(exprs.len() >= 20, "the dashboard has its panels");
    let mut used = BTreeSet::new();
    for (source, exprs) in [("dashboard", exprs), ("alert rules", rule_exprs())] {
        for expr in exprs {
            let names = metric_names(&expr);
            assert!(
                !names.is_empty() || expr.contains("up{"),
                "{source}: {expr} queries no smokewatch metric"
            );
            for name in names {
                let base = resolve(&name, &known).unwrap_or_else(|| {
                    panic!("{source} queries {name}, which names.rs does not declare: {expr}")
                });
                used.insert(base.to_string());
            }
        }
    }
    let unused: Vec<&String> = pending.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "pending names nobody queries: {unused:?}"
    );
    for web_metric in [
        "smokewatch_http_requests_total",
        "smokewatch_http_request_duration_seconds",
        "smokewatch_task_state",
        "smokewatch_queue_depth",
    ] {
        assert!(
            used.contains(web_metric),
            "the dashboard or rules show {web_metric}"
        );
    }
}

#[test]
fn declared_names_follow_prometheus_conventions() {
    let declared = declared();
    assert!(declared.len() >= 9);
    let mut seen = BTreeSet::new();
    for m in &declared {
        let name = m.name;
        assert!(seen.insert(name), "{name} declared twice");
        assert!(name.starts_with("smokewatch_"), "{name}: prefix");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{name}: snake_case"
        );
        assert!(!m.help.trim().is_empty(), "{name} has help text");
        match m.kind {
            MetricKind::Counter => {
                assert!(name.ends_with("_total"), "counter {name} ends in _total")
            }
            MetricKind::Histogram => assert!(
                name.ends_with("_seconds") || name.ends_with("_bytes"),
                "histogram {name} is in base units"
            ),
            MetricKind::Gauge => assert!(
                !name.ends_with("_total"),
                "{name}: only counters end in _total"
            ),
        }
    }
}
