//! A real Kafka-protocol broker (tansu) per test, started and stopped
//! through `scripts/kafka-broker.sh`, plus helpers shared by the Kafka
//! tests. A broker that cannot be started fails the test with the
//! script's output: these tests are never skipped.

#![allow(dead_code)]

use smokewatch::base::config::Duration as ConfigDuration;
use smokewatch::schema::{ChannelValues, DeviceId, EventTime, HomeId, RoomId, SmokeReading};
use smokewatch::transport::{KafkaConfig, OutgoingRecord, Transport};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How the broker keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// Lost when the broker stops.
    Memory,
    /// Kept in a file in the broker's folder, across restarts.
    Sqlite,
}

impl Storage {
    fn as_arg(self) -> &'static str {
        match self {
            Storage::Memory => "memory",
            Storage::Sqlite => "sqlite",
        }
    }
}

/// A running broker; stopped when dropped.
pub struct Broker {
    dir: tempfile::TempDir,
    storage: Storage,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka-broker.sh")
}

fn run_script(args: &[&str]) -> String {
    let output = Command::new(script())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script().display()));
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "scripts/kafka-broker.sh {} failed ({}). The Kafka tests need tansu 0.6.0 \
         (scripts/test-deps.sh installs it).\nstdout: {stdout}\nstderr: {stderr}",
        args.join(" "),
        output.status
    );
    stdout
}

impl Broker {
    /// Starts a broker on a free loopback port.
    pub fn start(storage: Storage) -> Broker {
        Self::start_with(storage, &[])
    }

    /// Starts a broker on `port` (e.g. one a daemon already tries to reach).
    pub fn start_on(storage: Storage, port: u16) -> Broker {
        Self::start_with(storage, &["--port", &port.to_string()])
    }

    fn start_with(storage: Storage, extra: &[&str]) -> Broker {
        let dir = tempfile::tempdir().expect("temp dir for the broker");
        let mut args = vec![
            "start",
            "--dir",
            dir.path().to_str().expect("utf-8 temp path"),
            "--storage",
            storage.as_arg(),
        ];
        args.extend_from_slice(extra);
        let addr = run_script(&args);
        assert!(
            addr.starts_with("127.0.0.1:"),
            "kafka-broker.sh printed {addr:?}, not an address"
        );
        Broker { dir, storage, addr }
    }

    pub fn port(&self) -> &str {
        self.addr.rsplit(':').next().unwrap_or_default()
    }

    pub fn stop(&self) {
        run_script(&["stop", "--dir", self.dir_str()]);
    }

    /// Starts the broker again on the same port (and, with sqlite
    /// storage, the same data).
    pub fn start_again(&self) {
        let addr = run_script(&[
            "start",
            "--dir",
            self.dir_str(),
            "--storage",
            self.storage.as_arg(),
            "--port",
            self.port(),
        ]);
        assert_eq!(addr, self.addr);
    }

    fn dir_str(&self) -> &str {
        self.dir.path().to_str().expect("utf-8 temp path")
    }

    /// The broker's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
    }

    /// A Kafka config for this broker with test-friendly timings.
    pub fn config(&self) -> KafkaConfig {
        kafka_config(&self.addr)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .args(["stop", "--dir", self.dir_str()])
            .output();
    }
}

/// A loopback port nothing listens on (free when this returns).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// `kafka.enabled` with `addr`, short backoffs so tests recover quickly.
pub fn kafka_config(addr: &str) -> KafkaConfig {
    let mut config = KafkaConfig {
        enabled: true,
        bootstrap_servers: vec![addr.to_string()],
        ..KafkaConfig::default()
    };
    config.reconnect_backoff = ConfigDuration::from_millis(100);
    config.reconnect_backoff_max = ConfigDuration::from_secs(1);
    config.producer.retry_backoff_max = ConfigDuration::from_secs(1);
    config.consumer.max_wait = ConfigDuration::from_millis(100);
    config
}

/// Connects and waits until the topics exist.
pub async fn connected(config: &KafkaConfig) -> Transport {
    let transport = Transport::connect(config).await.expect("transport");
    let Transport::Kafka(kafka) = &transport else {
        panic!("kafka.enabled gives the Kafka transport");
    };
    tokio::time::timeout(Duration::from_secs(60), kafka.ready())
        .await
        .expect("connected to the test broker within 60 s")
        .expect("transport ready");
    transport
}

/// A plausible reading of device `device` (one of `devices`) with `seq`.
pub fn reading(device: u32, seq: u64) -> SmokeReading {
    let home = format!("h{:03}", device / 4);
    let room = format!("room{}", device % 4);
    let mut values = ChannelValues::EMPTY;
    for (i, channel) in smokewatch::schema::Channel::ALL.iter().enumerate() {
        let range = channel.physical_range();
        let span = range.end() - range.start();
        let v = range.start() + span * (((seq as f64) * 0.37 + i as f64 * 0.11) % 1.0) * 0.5;
        values.set(*channel, Some(v));
    }
    SmokeReading {
        device_id: DeviceId::new(format!("{home}-{room}-smoke")),
        home: HomeId::new(home),
        room: RoomId::new(room),
        event_time: EventTime(1_654_712_187_000 + seq as i64 * 1000),
        seq,
        cnt: Some(seq),
        values,
        fire_alarm: Some(false),
    }
}

/// The record smokewatch sends for `reading`: keyed by device id.
pub fn record_of(reading: &SmokeReading) -> OutgoingRecord {
    OutgoingRecord::json(
        reading.device_id.as_str().to_string(),
        smokewatch::schema::json::encode_reading(reading),
        reading.event_time.millis(),
    )
}

/// Polls `check` every 50 ms until it holds or `timeout` passes.
pub async fn eventually(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Logs to the test output when `RUST_LOG` is set (e.g.
/// `RUST_LOG=smokewatch=debug cargo test --test kafka_broker_restart`).
pub fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// Sum of the samples of `name` in Prometheus text `text` whose labels
/// include every pair of `labels`.
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| rest.split(',').any(|pair| pair == format!("{k}=\"{v}\"")));
            all.then(|| value.parse::<f64>().ok()).flatten()
        })
        .fold(0.0, |sum, v| sum + v)
}
