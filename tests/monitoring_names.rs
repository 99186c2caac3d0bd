//! The Grafana dashboard and the alert rules query only metric names that
//! are declared in src/telemetry/names.rs AND present in a real scrape of
//! `/metrics` from a running daemon (tests/web_pipeline: simulator, stream,
//! ML serving a trained model, a batch run). Declared names follow
//! Prometheus conventions.

mod web_pipeline;

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

/// Every (source, expression, metric name) the dashboard and rules query.
fn queried() -> Vec<(&'static str, String, String)> {
    let exprs = dashboard_exprs();
    assert!(exprs.len() >= 20, "the dashboard has its panels");
    let mut out = Vec::new();
    for (source, exprs) in [("dashboard", exprs), ("alert rules", rule_exprs())] {
        for expr in exprs {
            let names = metric_names(&expr);
            assert!(
                !names.is_empty() || expr.contains("up{"),
                "{source}: {expr} queries no smokewatch metric"
            );
            for name in names {
                out.push((source, expr.clone(), name));
            }
        }
    }
    out
}

#[test]
fn dashboard_and_rules_query_only_declared_names() {
    let declared: BTreeSet<String> = declared().iter().map(|m| m.name.to_string()).collect();
    assert!(
        !repo().join("monitoring/pending-metrics.txt").exists(),
        "every expected metric is declared; no pending list"
    );
    let mut used = BTreeSet::new();
    for (source, expr, name) in queried() {
        let base = resolve(&name, &declared).unwrap_or_else(|| {
            panic!("{source} queries {name}, which names.rs does not declare: {expr}")
        });
        used.insert(base.to_string());
    }
    for web_metric in [
        "smokewatch_http_requests_total",
        "smokewatch_http_request_duration_seconds",
        "smokewatch_task_state",
        "smokewatch_queue_depth",
        "smokewatch_window_channel_max",
        "smokewatch_open_alerts_by_severity",
    ] {
        assert!(
            used.contains(web_metric),
            "the dashboard or rules show {web_metric}"
        );
    }
}

/// Series names (with `_bucket` etc.) in a scrape.
fn scraped_names(scrape: &str) -> BTreeSet<String> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// The queried names a scrape lacks.
fn missing_from(scrape: &str) -> BTreeSet<String> {
    let present = scraped_names(scrape);
    queried()
        .into_iter()
        .map(|(_, _, name)| name)
        .filter(|name| !present.contains(name))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_queried_name_is_in_a_real_scrape_of_a_running_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, _trained) = web_pipeline::start(dir.path()).await;
    let base = web_pipeline::base_url(&daemon);
    let client = reqwest::Client::new();
    // Web traffic (a prediction through the API) and a batch run, so the
    // web's and the batch layer's series exist too.
    let reading = serde_json::json!({
        "temperature_c": 20.54, "humidity_pct": 46.14, "tvoc_ppb": 86.0, "eco2_ppm": 400.0,
        "raw_h2": 12840.0, "raw_ethanol": 20160.0, "pressure_hpa": 937.5, "pm1_0": 1.45,
        "pm2_5": 1.52, "nc0_5": 9.97, "nc1_0": 1.578, "nc2_5": 0.039
    });
    let predicted = client
        .post(format!("{base}/api/predict"))
        .json(&reading)
        .send()
        .await
        .unwrap();
    assert_eq!(predicted.status(), 200);
    let batch = daemon.handles().batch.clone();
    web_pipeline::wait_for(
        "the CSV to be ingested",
        std::time::Duration::from_secs(60),
        || !batch.snapshot().recent_ingests.is_empty(),
    )
    .await;
    let run = client
        .post(format!("{base}/api/batch/run"))
        .bearer_auth(web_pipeline::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(run.status(), 202);

    // The stream needs a few seconds for windows to close and alerts to open.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let scrape = loop {
        let scrape = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let missing = missing_from(&scrape);
        if missing.is_empty() {
            break scrape;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the dashboard or rules query names a running daemon does not export: {missing:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    // Values, not only names: the stream really processed readings.
    let processed: f64 = scrape
        .lines()
        .filter(|l| l.starts_with("smokewatch_readings_processed_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(processed > 0.0, "readings processed: {processed}");
    assert!(
        scrape.contains("smokewatch_open_alerts_by_severity{severity=\"critical\"}"),
        "every severity is exported"
    );
    daemon.stop().await;
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
