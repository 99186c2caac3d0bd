//! The daemon with `kafka.enabled: true`: it starts and answers /health
//! even when the broker is down (degraded, naming kafka.bootstrap_servers),
//! recovers when the broker comes, and runs simulator → Kafka → stream end
//! to end with the consumed count equal to the produced count.

mod common;
mod kafka_support;

use common::RunningDaemon;
use kafka_support::{Broker, Storage, free_port, metric_value};
use std::time::{Duration, Instant};

fn config(port: u16) -> String {
    format!(
        "daemon:\n  data_dir: data\n\
         kafka:\n  enabled: true\n  bootstrap_servers: [\"127.0.0.1:{port}\"]\n  \
         reconnect_backoff_max: 1s\n  consumer:\n    max_wait: 100ms\n"
    )
}

fn get_json(client: &reqwest::blocking::Client, url: &str) -> serde_json::Value {
    client
        .get(url)
        .send()
        .and_then(|r| r.json())
        .unwrap_or(serde_json::Value::Null)
}

#[test]
fn the_daemon_starts_without_a_broker_says_why_and_recovers_when_it_comes() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let started = Instant::now();
    let mut daemon = RunningDaemon::start(dir.path(), &config(port), &[]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the daemon does not wait for the broker"
    );
    let client = reqwest::blocking::Client::new();
    let mut health = serde_json::Value::Null;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        health = get_json(&client, &daemon.url("/health"));
        let reasons = health["reasons"].to_string();
        if reasons.contains("cannot reach Kafka") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(
        health["subsystems"]["transport"]["state"], "degraded",
        "{health}"
    );
    let reasons = health["reasons"].to_string();
    assert!(
        reasons.contains("kafka.bootstrap_servers") && reasons.contains(&port.to_string()),
        "{reasons}"
    );
    assert!(
        daemon
            .wait_for_log("kafka.bootstrap_servers", Duration::from_secs(10))
            .is_some(),
        "the log names the key to fix"
    );

    let _broker = Broker::start_on(Storage::Memory, port);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        health = get_json(&client, &daemon.url("/health"));
        if health["subsystems"]["transport"]["state"] == "running" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "transport never recovered: {health}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let metrics = client
        .get(daemon.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(
        metric_value(&metrics, "smokewatch_transport_broker_up", &[]),
        1.0,
        "{metrics}"
    );

    daemon.terminate();
    let status = daemon
        .wait_exit(Duration::from_secs(15))
        .expect("exit after SIGTERM");
    assert_eq!(status.code(), Some(0));
}

/// Acceptance: simulator → Kafka → consumer, with the consumed count equal
/// to the produced count in /metrics. Needs the simulator and the stream
/// consumer in the daemon (they export
/// `smokewatch_readings_produced_total{source="simulator"}` and consume
/// the readings topic).
#[test]
fn simulated_readings_travel_through_kafka_and_are_all_consumed() {
    let broker = Broker::start(Storage::Memory);
    let dir = tempfile::tempdir().unwrap();
    let port: u16 = broker.port().parse().unwrap();
    let daemon = RunningDaemon::start(dir.path(), &config(port), &[]);
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    let (mut produced, mut consumed, mut sent) = (0.0, 0.0, 0.0);
    while Instant::now() < deadline {
        let metrics = client
            .get(daemon.url("/metrics"))
            .send()
            .and_then(|r| r.text())
            .unwrap_or_default();
        produced = metric_value(
            &metrics,
            "smokewatch_readings_produced_total",
            &[("source", "simulator")],
        );
        sent = metric_value(
            &metrics,
            "smokewatch_transport_records_sent_total",
            &[("topic", "readings")],
        );
        consumed = metric_value(
            &metrics,
            "smokewatch_transport_records_consumed_total",
            &[("topic", "readings")],
        );
        if produced >= 50.0 && consumed == produced && sent == produced {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "after 90 s: produced {produced} (smokewatch_readings_produced_total{{source=\"simulator\"}}), \
         sent to Kafka {sent}, consumed {consumed}; expected at least 50 with all three equal\n\
         broker log:\n{}",
        broker.log()
    );
}
