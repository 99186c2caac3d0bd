//! The Smart Home producer's messages, sent as-is to the room-events topic
//! by confluent-kafka (librdkafka, tests/python/smart_home_produce.py),
//! give the same room windows and "light on in an empty room" alert as the
//! same events in smokewatch's own shape sent over HTTP.

mod ingest_support;
mod kafka_support;

use ingest_support::{
    check_room_outputs, get, settled_room_outputs, smart_home_body, t0_ms, url, v1_body,
};
use kafka_support::{Broker, Storage};
use smokewatch::app::config::Config;
use smokewatch::app::daemon::Daemon;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const INGEST: &str = "ingest-token-0123456789";

async fn daemon(dir: &Path, kafka: &str) -> Daemon {
    let yaml = format!(
        "daemon:\n  data_dir: {}\nweb:\n  port: 0\n  ingest_token: {INGEST}\nml:\n  enabled: false\n\
         simulator:\n  enabled: false\n{kafka}stream:\n  default_home: h1\n  window:\n    trigger_interval: 200ms\n",
        dir.join("data").display()
    );
    let config = Config::from_yaml(&yaml, Path::new("test.yaml"), Vec::new()).expect("config");
    Daemon::start(Arc::new(config))
        .await
        .expect("daemon starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smart_home_messages_over_kafka_match_the_v1_shape_over_http() {
    let t0 = t0_ms();

    // The reference: smokewatch's shape over HTTP, embedded transport.
    let dir = tempfile::tempdir().unwrap();
    let reference = daemon(dir.path(), "kafka:\n  partitions: 1\n").await;
    let answer: serde_json::Value = reqwest::Client::new()
        .post(url(&reference, "/api/ingest/room-events"))
        .bearer_auth(INGEST)
        .header("content-type", "application/x-ndjson")
        .body(v1_body(t0))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["refused"], 0, "{answer}");
    let expected = settled_room_outputs(&reference).await;
    reference.stop().await;
    check_room_outputs(&expected, t0);

    // The Smart Home producer's messages through Kafka.
    let broker = Broker::start(Storage::Memory);
    let dir = tempfile::tempdir().unwrap();
    let kafka = format!(
        "kafka:\n  enabled: true\n  bootstrap_servers: [\"{}\"]\n  partitions: 1\n  reconnect_backoff: 100ms\n  reconnect_backoff_max: 1s\n  consumer:\n    max_wait: 100ms\n",
        broker.addr
    );
    let daemon = daemon(dir.path(), &kafka).await;
    // smokewatch creates its topics once connected.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let health = get(&daemon, "/health").await;
        if health["subsystems"]["transport"]["state"] == "running" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Kafka transport not running: {health}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let file = dir.path().join("smart-home.ndjson");
    std::fs::write(&file, smart_home_body(t0)).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/smart_home_produce.py");
    let topic = daemon.handles().config.kafka.topics.room_events.clone();
    let output = Command::new("python3")
        .arg(&script)
        .args(["--bootstrap", &broker.addr, "--topic", &topic, "--file"])
        .arg(&file)
        .output()
        .expect("run python3 (scripts/test-deps.sh installs confluent-kafka)");
    assert!(
        output.status.success(),
        "smart_home_produce.py failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let produced: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(produced["delivered"], ingest_support::room_script().len());
    let actual = settled_room_outputs(&daemon).await;
    daemon.stop().await;
    assert_eq!(actual.0, expected.0, "room windows differ");
    assert_eq!(actual.1, expected.1, "alerts differ");
}
