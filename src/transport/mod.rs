//! Moves records between sources and the stream: Kafka (rskafka) when
//! `kafka.enabled`, else the embedded in-process transport.
//!
//! The stream does not know which one it runs on: both deliver
//! [`ConsumedRecord`]s with (topic, partition, offset), so checkpoints store
//! positions the same way. Records are plain JSON values with a key and
//! headers, so any Kafka client can produce and read them.
//!
//! rskafka has no consumer groups and no offset commits. smokewatch owns
//! those parts, as Flink's Kafka source does: partitions are assigned
//! statically and read positions live in smokewatch's own checkpoints.
//! [`Consumer::commit`] tells the transport what a checkpoint has made
//! durable (the embedded log may then forget it).

mod config;
pub mod embedded;
pub mod partitioner;

pub use config::{KafkaConfig, TopicNames};

use bytes::Bytes;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Header naming the JSON schema version of the value.
pub const HEADER_SCHEMA_VERSION: &str = "schema_version";
/// Header naming the value's content type.
pub const HEADER_CONTENT_TYPE: &str = "content_type";
/// Content type of every value smokewatch writes.
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// Record headers: (name, value) pairs, shared so that copying a record
/// between stages does not copy them.
pub type Headers = Arc<[(String, Bytes)]>;

/// The headers of every JSON value smokewatch writes.
pub fn json_headers() -> Headers {
    static HEADERS: std::sync::OnceLock<Headers> = std::sync::OnceLock::new();
    HEADERS
        .get_or_init(|| {
            Arc::from(vec![
                (
                    HEADER_SCHEMA_VERSION.to_string(),
                    Bytes::from(crate::model::SCHEMA_VERSION.to_string()),
                ),
                (
                    HEADER_CONTENT_TYPE.to_string(),
                    Bytes::from_static(CONTENT_TYPE_JSON.as_bytes()),
                ),
            ])
        })
        .clone()
}

/// The logical streams smokewatch moves; names come from `kafka.topics`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum TopicKind {
    Readings,
    RoomEvents,
    Alerts,
    WindowResults,
    DeadLetters,
}

impl TopicKind {
    pub const ALL: [TopicKind; 5] = [
        TopicKind::Readings,
        TopicKind::RoomEvents,
        TopicKind::Alerts,
        TopicKind::WindowResults,
        TopicKind::DeadLetters,
    ];

    /// The configured topic name.
    pub fn name(self, names: &TopicNames) -> &str {
        match self {
            TopicKind::Readings => &names.readings,
            TopicKind::RoomEvents => &names.room_events,
            TopicKind::Alerts => &names.alerts,
            TopicKind::WindowResults => &names.window_results,
            TopicKind::DeadLetters => &names.dead_letters,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TopicKind::Readings => "readings",
            TopicKind::RoomEvents => "room_events",
            TopicKind::Alerts => "alerts",
            TopicKind::WindowResults => "window_results",
            TopicKind::DeadLetters => "dead_letters",
        }
    }
}

impl fmt::Display for TopicKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One partition of one topic.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct TopicPartition {
    pub topic: TopicKind,
    pub partition: i32,
}

/// A record to send. The partition is derived from the key.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingRecord {
    /// Device id for readings, `home/room` for room events; decides the partition.
    pub key: Bytes,
    pub value: Bytes,
    pub headers: Headers,
    /// Event time in ms, used as the Kafka record timestamp.
    pub timestamp_ms: i64,
}

impl OutgoingRecord {
    /// A JSON record with the standard headers.
    pub fn json(key: impl Into<Bytes>, value: impl Into<Bytes>, timestamp_ms: i64) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
            headers: json_headers(),
            timestamp_ms,
        }
    }
}

/// A record as read from a partition.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumedRecord {
    pub topic: TopicKind,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Bytes>,
    pub value: Bytes,
    pub headers: Headers,
    pub timestamp_ms: i64,
}

impl ConsumedRecord {
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition {
            topic: self.topic,
            partition: self.partition,
        }
    }
}

/// Where a consumer starts on a partition without a stored position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartFrom {
    Earliest,
    Latest,
}

/// What a consumer reads and from where.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub topics: Vec<TopicKind>,
    /// Partitions to read; `None` means all of each topic's partitions.
    pub partitions: Option<Vec<i32>>,
    /// Next offset to read per partition (from a checkpoint).
    pub positions: BTreeMap<TopicPartition, i64>,
    /// Where to start on partitions without a position.
    pub default_start: StartFrom,
    /// Most records handed out by one [`Consumer::recv`].
    pub max_batch: usize,
}

impl Subscription {
    /// Everything in `topics` from the beginning.
    pub fn from_earliest(topics: &[TopicKind]) -> Self {
        Self {
            topics: topics.to_vec(),
            partitions: None,
            positions: BTreeMap::new(),
            default_start: StartFrom::Earliest,
            max_batch: 1024,
        }
    }
}

/// Why a transport operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("transport is closed")]
    Closed,
    #[error("topic {topic} has no partition {partition}")]
    UnknownPartition { topic: TopicKind, partition: i32 },
    #[error("kafka: {0}")]
    Kafka(String),
}

/// The transport chosen by the config. Cheap to clone.
#[derive(Clone)]
pub enum Transport {
    Embedded(Arc<embedded::EmbeddedBroker>),
}

impl Transport {
    /// The embedded transport sized by `config` (`kafka.partitions`,
    /// `kafka.embedded_capacity`).
    pub fn embedded(config: &KafkaConfig) -> Self {
        Transport::Embedded(Arc::new(embedded::EmbeddedBroker::new(
            config.partitions,
            config.embedded_capacity.get(),
        )))
    }

    /// Human name for logs and the UI.
    pub fn describe(&self) -> String {
        match self {
            Transport::Embedded(_) => "embedded (in-process)".to_string(),
        }
    }

    /// Number of partitions of `topic`.
    pub fn partitions(&self, topic: TopicKind) -> u32 {
        match self {
            Transport::Embedded(broker) => broker.partitions(topic),
        }
    }

    pub fn producer(&self) -> Producer {
        match self {
            Transport::Embedded(broker) => Producer::Embedded(broker.clone()),
        }
    }

    pub async fn consumer(&self, subscription: Subscription) -> Result<Consumer, TransportError> {
        match self {
            Transport::Embedded(broker) => Ok(Consumer::Embedded(embedded::EmbeddedConsumer::new(
                broker.clone(),
                subscription,
            )?)),
        }
    }
}

/// Sends records; cheap to clone and share between tasks.
#[derive(Clone)]
pub enum Producer {
    Embedded(Arc<embedded::EmbeddedBroker>),
}

impl Producer {
    /// Sends one record to its key's partition. Waits while the transport
    /// is full (backpressure); never drops.
    pub async fn send(
        &self,
        topic: TopicKind,
        record: OutgoingRecord,
    ) -> Result<(), TransportError> {
        match self {
            Producer::Embedded(broker) => broker.append(topic, record).await.map(|_| ()),
        }
    }

    /// Waits until everything sent so far is stored.
    pub async fn flush(&self) -> Result<(), TransportError> {
        match self {
            Producer::Embedded(_) => Ok(()),
        }
    }
}

/// Reads records of a [`Subscription`].
pub enum Consumer {
    Embedded(embedded::EmbeddedConsumer),
}

impl Consumer {
    /// The next batch of records (at most `max_batch`), waiting until there
    /// is at least one. Within a partition, offsets increase.
    pub async fn recv(&mut self) -> Result<Vec<ConsumedRecord>, TransportError> {
        match self {
            Consumer::Embedded(c) => c.recv().await,
        }
    }

    /// Next offset to read per assigned partition.
    pub fn positions(&self) -> BTreeMap<TopicPartition, i64> {
        match self {
            Consumer::Embedded(c) => c.positions(),
        }
    }

    /// A checkpoint has made everything before these offsets durable.
    pub fn commit(&self, positions: &BTreeMap<TopicPartition, i64>) {
        match self {
            Consumer::Embedded(c) => c.commit(positions),
        }
    }

    /// Records between each partition's position and its end.
    pub fn lag(&self) -> BTreeMap<TopicPartition, i64> {
        match self {
            Consumer::Embedded(c) => c.lag(),
        }
    }
}
