//! `kafka:` section of the config (also sizes the embedded transport).

use crate::base::config::{Capacity, ConfigIssue, Duration, Validate};
use serde::{Deserialize, Serialize};

use super::StartFrom;

/// Largest frame rskafka accepts from a broker; fetch and batch sizes must
/// fit in it.
pub const MAX_MESSAGE_BYTES: u32 = 100 * 1024 * 1024;

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
    /// Longest wait for one broker request before it counts as failed.
    pub request_timeout: Duration,
    /// First wait before reconnecting to an unreachable cluster.
    pub reconnect_backoff: Duration,
    /// Longest wait between reconnection attempts.
    pub reconnect_backoff_max: Duration,
    pub producer: ProducerConfig,
    pub consumer: ConsumerConfig,
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

/// Compression of produced batches. Consumers read whatever codec a batch
/// was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompressionCodec {
    None,
    Gzip,
    Lz4,
    Snappy,
    Zstd,
}

/// How records are batched and sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProducerConfig {
    /// Bytes (keys + values + headers, uncompressed) per partition batch.
    pub batch_size: u32,
    /// How long a partition waits for more records before sending a batch
    /// that is not full.
    pub linger: Duration,
    pub compression: CompressionCodec,
    /// Further attempts for a batch that failed with a retriable error.
    pub retries: u32,
    /// Wait before the first retry; doubles on each further one.
    pub retry_backoff: Duration,
    /// Longest wait between retries.
    pub retry_backoff_max: Duration,
    /// Records the producer holds (queued, batching or in flight) before
    /// `send` waits: bounds memory when the broker is slow or away.
    pub queue_capacity: Capacity,
}

/// How partitions are fetched and which ones this instance reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsumerConfig {
    /// Bytes a fetch waits for (up to `max_wait`) before the broker answers.
    pub min_bytes: u32,
    /// Most bytes one fetch returns per partition (a larger first batch
    /// still comes whole).
    pub max_bytes: u32,
    /// Longest time the broker holds a fetch open waiting for `min_bytes`.
    pub max_wait: Duration,
    /// Where to start on a partition without a checkpointed offset.
    pub start: StartFrom,
    /// This daemon's index among `instances` (0-based).
    pub instance: u32,
    /// Daemons sharing the topics: instance i reads partitions p with
    /// p % instances == i.
    pub instances: u32,
    /// Explicit partitions to read (instead of instance/instances).
    pub partitions: Option<Vec<i32>>,
    /// Fetched batches waiting for the stream, across all partitions.
    pub queue_capacity: Capacity,
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
            request_timeout: Duration::from_secs(30),
            reconnect_backoff: Duration::from_millis(200),
            reconnect_backoff_max: Duration::from_secs(10),
            producer: ProducerConfig::default(),
            consumer: ConsumerConfig::default(),
        }
    }
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self {
            batch_size: 1024 * 1024,
            linger: Duration::from_millis(5),
            compression: CompressionCodec::Lz4,
            retries: 30,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(5),
            queue_capacity: Capacity::new(100_000),
        }
    }
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            min_bytes: 1,
            max_bytes: 2 * 1024 * 1024,
            max_wait: Duration::from_millis(500),
            start: StartFrom::Earliest,
            instance: 0,
            instances: 1,
            partitions: None,
            queue_capacity: Capacity::new(4),
        }
    }
}

fn issue(issues: &mut Vec<ConfigIssue>, key: String, reason: impl Into<String>) {
    issues.push(ConfigIssue::new(key, reason));
}

impl Validate for KafkaConfig {
    fn validate(&self, section: &str, issues: &mut Vec<ConfigIssue>) {
        if self.enabled && self.bootstrap_servers.is_empty() {
            issue(
                issues,
                format!("{section}.bootstrap_servers"),
                "must name at least one broker when kafka.enabled is true",
            );
        }
        for server in &self.bootstrap_servers {
            let port_ok = server
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !port_ok {
                issue(
                    issues,
                    format!("{section}.bootstrap_servers"),
                    format!("{server:?} is not host:port"),
                );
            }
        }
        if self.partitions == 0 || self.partitions > i32::MAX as u32 {
            issue(
                issues,
                format!("{section}.partitions"),
                "must be at least 1",
            );
        }
        if self.replication_factor == 0 || self.replication_factor > i16::MAX as u16 {
            issue(
                issues,
                format!("{section}.replication_factor"),
                format!("must be between 1 and {}", i16::MAX),
            );
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
                issue(
                    issues,
                    format!("{section}.topics.{key}"),
                    format!(
                        "{name:?} is not a legal Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)"
                    ),
                );
            }
        }
        if self.request_timeout.is_zero() {
            issue(
                issues,
                format!("{section}.request_timeout"),
                "must be longer than 0s",
            );
        }
        check_backoff(
            issues,
            section,
            ("reconnect_backoff", self.reconnect_backoff),
            ("reconnect_backoff_max", self.reconnect_backoff_max),
        );
        self.producer
            .validate(&format!("{section}.producer"), issues);
        self.consumer
            .validate_against(&format!("{section}.consumer"), self.partitions, issues);
    }
}

/// Both waits positive, the first no longer than the cap.
fn check_backoff(
    issues: &mut Vec<ConfigIssue>,
    section: &str,
    (first_key, first): (&str, Duration),
    (max_key, max): (&str, Duration),
) {
    if first.is_zero() {
        issue(
            issues,
            format!("{section}.{first_key}"),
            "must be longer than 0s",
        );
    }
    if max < first {
        issue(
            issues,
            format!("{section}.{max_key}"),
            format!("{max} is shorter than {first_key} ({first})"),
        );
    }
}

impl Validate for ProducerConfig {
    fn validate(&self, section: &str, issues: &mut Vec<ConfigIssue>) {
        if self.batch_size < 1024 || self.batch_size > MAX_MESSAGE_BYTES / 2 {
            issue(
                issues,
                format!("{section}.batch_size"),
                format!(
                    "{} bytes is outside 1024..={} bytes",
                    self.batch_size,
                    MAX_MESSAGE_BYTES / 2
                ),
            );
        }
        if self.linger.get() > std::time::Duration::from_secs(60) {
            issue(
                issues,
                format!("{section}.linger"),
                format!(
                    "{} is longer than 1m; records would wait that long",
                    self.linger
                ),
            );
        }
        check_backoff(
            issues,
            section,
            ("retry_backoff", self.retry_backoff),
            ("retry_backoff_max", self.retry_backoff_max),
        );
    }
}

impl ConsumerConfig {
    fn validate_against(
        &self,
        section: &str,
        topic_partitions: u32,
        issues: &mut Vec<ConfigIssue>,
    ) {
        if self.max_bytes == 0 || self.max_bytes > MAX_MESSAGE_BYTES / 2 {
            issue(
                issues,
                format!("{section}.max_bytes"),
                format!(
                    "{} bytes is outside 1..={} bytes",
                    self.max_bytes,
                    MAX_MESSAGE_BYTES / 2
                ),
            );
        }
        if self.min_bytes > self.max_bytes {
            issue(
                issues,
                format!("{section}.min_bytes"),
                format!(
                    "{} is larger than max_bytes ({})",
                    self.min_bytes, self.max_bytes
                ),
            );
        }
        if self.max_wait.is_zero() || self.max_wait.get() > std::time::Duration::from_secs(300) {
            issue(
                issues,
                format!("{section}.max_wait"),
                format!("{} is outside 1ms..=5m", self.max_wait),
            );
        }
        if self.instances == 0 {
            issue(issues, format!("{section}.instances"), "must be at least 1");
        } else if self.instance >= self.instances {
            issue(
                issues,
                format!("{section}.instance"),
                format!(
                    "{} is not below instances ({}); instances are numbered 0..{}",
                    self.instance, self.instances, self.instances
                ),
            );
        } else if self.partitions.is_none() && self.instance >= topic_partitions {
            issue(
                issues,
                format!("{section}.instance"),
                format!(
                    "instance {} of {} would read no partition: topics have kafka.partitions = {}",
                    self.instance, self.instances, topic_partitions
                ),
            );
        }
        if let Some(list) = &self.partitions {
            if self.instances != 1 || self.instance != 0 {
                issue(
                    issues,
                    format!("{section}.partitions"),
                    "set either an explicit partition list or instance/instances, not both",
                );
            }
            if list.is_empty() {
                issue(
                    issues,
                    format!("{section}.partitions"),
                    "is empty: list at least one partition, or leave it null to use instance/instances",
                );
            }
            let mut seen = std::collections::BTreeSet::new();
            for p in list {
                if *p < 0 || i64::from(*p) >= i64::from(topic_partitions) {
                    issue(
                        issues,
                        format!("{section}.partitions"),
                        format!(
                            "partition {p} does not exist: topics have kafka.partitions = {topic_partitions} (0..{topic_partitions})"
                        ),
                    );
                }
                if !seen.insert(*p) {
                    issue(
                        issues,
                        format!("{section}.partitions"),
                        format!("partition {p} is listed twice"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issues_of(config: &KafkaConfig) -> Vec<String> {
        let mut issues = Vec::new();
        config.validate("kafka", &mut issues);
        issues.into_iter().map(|i| i.to_string()).collect()
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(issues_of(&KafkaConfig::default()), Vec::<String>::new());
    }

    #[test]
    fn bad_producer_and_consumer_settings_name_their_keys() {
        let mut c = KafkaConfig::default();
        c.producer.batch_size = 10;
        c.producer.retry_backoff = Duration::from_secs(10);
        c.consumer.min_bytes = c.consumer.max_bytes + 1;
        c.consumer.max_wait = Duration::from_millis(0);
        c.consumer.instance = 2;
        c.consumer.instances = 2;
        let issues = issues_of(&c);
        for key in [
            "kafka.producer.batch_size",
            "kafka.producer.retry_backoff_max",
            "kafka.consumer.min_bytes",
            "kafka.consumer.max_wait",
            "kafka.consumer.instance",
        ] {
            assert!(
                issues.iter().any(|i| i.starts_with(&format!("{key}:"))),
                "{key} in {issues:?}"
            );
        }
    }

    #[test]
    fn explicit_partitions_must_exist_be_unique_and_not_mix_with_instances() {
        let mut c = KafkaConfig::default();
        c.consumer.partitions = Some(vec![0, 6, 0]);
        c.consumer.instances = 2;
        let issues = issues_of(&c).join("\n");
        assert!(issues.contains("partition 6 does not exist"), "{issues}");
        assert!(issues.contains("partition 0 is listed twice"), "{issues}");
        assert!(issues.contains("not both"), "{issues}");
        let mut ok = KafkaConfig::default();
        ok.consumer.partitions = Some(vec![1, 4]);
        assert!(issues_of(&ok).is_empty());
    }

    #[test]
    fn an_instance_beyond_the_partition_count_is_refused() {
        let mut c = KafkaConfig {
            partitions: 2,
            ..KafkaConfig::default()
        };
        c.consumer.instances = 4;
        c.consumer.instance = 3;
        let issues = issues_of(&c).join("\n");
        assert!(issues.contains("would read no partition"), "{issues}");
    }

    #[test]
    fn compression_names_parse() {
        for (text, codec) in [
            ("none", CompressionCodec::None),
            ("gzip", CompressionCodec::Gzip),
            ("lz4", CompressionCodec::Lz4),
            ("snappy", CompressionCodec::Snappy),
            ("zstd", CompressionCodec::Zstd),
        ] {
            let parsed: CompressionCodec = serde_yaml::from_str(text).unwrap();
            assert_eq!(parsed, codec);
        }
        assert!(serde_yaml::from_str::<CompressionCodec>("brotli").is_err());
    }
}
