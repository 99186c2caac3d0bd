//! `kafka:` section of the config (also sizes the embedded transport).

use crate::config::{Capacity, ConfigIssue, Validate};
use serde::{Deserialize, Serialize};

/// Where records travel: Kafka when enabled, else the in-process transport.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Use a Kafka cluster. Off: the embedded in-process transport, which
    /// needs nothing installed but keeps nothing across restarts.
    pub enabled: bool,
    /// `host:port` of one or more brokers to bootstrap from.
    pub bootstrap_servers: Vec<String>,
    /// Client id sent to the brokers (shows up in broker logs and quotas).
    pub client_id: String,
    /// Topic names.
    pub topics: TopicNames,
    /// Partitions of every topic smokewatch creates (and of the embedded transport).
    pub partitions: u32,
    /// Replication factor of topics smokewatch creates.
    pub replication_factor: u16,
    /// Embedded transport only: records a partition holds before producers wait.
    pub embedded_capacity: Capacity,
}

/// Names of the topics smokewatch reads and writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicNames {
    /// Smoke detector readings (JSON), keyed by device id.
    pub readings: String,
    /// Room sensor events (JSON), keyed by home/room.
    pub room_events: String,
    /// Alerts raised and resolved by the stream.
    pub alerts: String,
    /// Closed (or updated) window aggregates.
    pub window_results: String,
    /// Records the stream refused, with the reason.
    pub dead_letters: String,
}

impl Default for TopicNames {
    fn default() -> Self {
        Self {
            readings: "smokewatch.readings".into(),
            room_events: "smokewatch.room-events".into(),
            alerts: "smokewatch.alerts".into(),
            window_results: "smokewatch.window-results".into(),
            dead_letters: "smokewatch.dead-letters".into(),
        }
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            bootstrap_servers: vec!["127.0.0.1:9092".into()],
            client_id: "smokewatch".into(),
            topics: TopicNames::default(),
            partitions: 6,
            replication_factor: 1,
            embedded_capacity: Capacity::new(65_536),
        }
    }
}

impl Validate for KafkaConfig {
    fn validate(&self, section: &str, issues: &mut Vec<ConfigIssue>) {
        if self.enabled && self.bootstrap_servers.is_empty() {
            issues.push(ConfigIssue::new(
                format!("{section}.bootstrap_servers"),
                "must name at least one broker when kafka.enabled is true",
            ));
        }
        for server in &self.bootstrap_servers {
            let port_ok = server
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !port_ok {
                issues.push(ConfigIssue::new(
                    format!("{section}.bootstrap_servers"),
                    format!("{server:?} is not host:port"),
                ));
            }
        }
        if self.partitions == 0 {
            issues.push(ConfigIssue::new(
                format!("{section}.partitions"),
                "must be at least 1",
            ));
        }
        if self.replication_factor == 0 {
            issues.push(ConfigIssue::new(
                format!("{section}.replication_factor"),
                "must be at least 1",
            ));
        }
        let t = &self.topics;
        for (key, name) in [
            ("readings", &t.readings),
            ("room_events", &t.room_events),
            ("alerts", &t.alerts),
            ("window_results", &t.window_results),
            ("dead_letters", &t.dead_letters),
        ] {
            let legal = !name.is_empty()
                && name.len() <= 249
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !legal {
                issues.push(ConfigIssue::new(
                    format!("{section}.topics.{key}"),
                    format!(
                        "{name:?} is not a legal Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)"
                    ),
                ));
            }
        }
    }
}
