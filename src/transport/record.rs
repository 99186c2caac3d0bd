//! The records the transport moves and the names that address them:
//! topics, partitions, headers, subscriptions.

use bytes::Bytes;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::{KafkaConfig, TopicNames};

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
                    Bytes::from(crate::schema::SCHEMA_VERSION.to_string()),
                ),
                (
                    HEADER_CONTENT_TYPE.to_string(),
                    Bytes::from_static(CONTENT_TYPE_JSON.as_bytes()),
                ),
            ])
        })
        .clone()
}

/// Headers as read from Kafka. The JSON headers every smokewatch producer
/// writes come back as the one shared copy of [`json_headers`] instead of
/// a fresh allocation per record: a consumed reading then carries no
/// header memory of its own while it is in flight.
pub fn headers_from(read: BTreeMap<String, Vec<u8>>) -> Headers {
    let standard = json_headers();
    let is_standard = read.len() == standard.len()
        && standard
            .iter()
            .all(|(name, value)| read.get(name).is_some_and(|v| v[..] == value[..]));
    if is_standard {
        return standard;
    }
    read.into_iter()
        .map(|(name, value)| (name, Bytes::from(value)))
        .collect::<Vec<_>>()
        .into()
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

    /// Position in [`TopicKind::ALL`], for per-topic arrays.
    pub const fn index(self) -> usize {
        match self {
            TopicKind::Readings => 0,
            TopicKind::RoomEvents => 1,
            TopicKind::Alerts => 2,
            TopicKind::WindowResults => 3,
            TopicKind::DeadLetters => 4,
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

/// How far a consumer has read one assigned partition: what the stream's
/// watermark needs to tell a partition with a backlog (it must hold the
/// watermark back) from one that has nothing more to give (it may go idle).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionProgress {
    /// Next offset to hand out; `None` until the partition's reader started.
    pub position: Option<i64>,
    /// The log end (Kafka's high watermark) as last seen; `None` until the
    /// broker first answered for this partition.
    pub end: Option<i64>,
}

impl PartitionProgress {
    /// Everything the partition held when last asked has been handed out.
    /// Unknown counts as behind: a partition not heard of yet may hold a backlog.
    pub fn caught_up(&self) -> bool {
        matches!((self.position, self.end), (Some(p), Some(e)) if p >= e)
    }
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

/// Where a record came from: topic, partition and offset. Dead letters
/// and alerts carry it so that any output names its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Origin {
    pub topic: TopicKind,
    pub partition: i32,
    pub offset: i64,
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
    /// Partitions to read; `None` means this instance's share as
    /// configured by `kafka.consumer` (instance/instances or an explicit
    /// list; every partition by default).
    pub partitions: Option<Vec<i32>>,
    /// Next offset to read per partition (from a checkpoint).
    pub positions: BTreeMap<TopicPartition, i64>,
    /// Where to start on partitions without a position.
    pub default_start: StartFrom,
    /// Most records handed out by one [`Consumer::recv`](super::Consumer::recv).
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

    /// `topics` read the way `kafka.consumer` says: this instance's
    /// partitions, starting at `kafka.consumer.start` where no checkpoint
    /// gives a position. What the daemon's consumers use.
    pub fn configured(topics: &[TopicKind], config: &KafkaConfig) -> Self {
        Self {
            default_start: config.consumer.start,
            ..Self::from_earliest(topics)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_vec()))
            .collect()
    }

    #[test]
    fn smokewatchs_json_headers_come_back_as_the_shared_copy() {
        let version = crate::schema::SCHEMA_VERSION.to_string();
        let headers = headers_from(read(&[
            (HEADER_CONTENT_TYPE, CONTENT_TYPE_JSON.as_bytes()),
            (HEADER_SCHEMA_VERSION, version.as_bytes()),
        ]));
        assert!(Arc::ptr_eq(&headers, &json_headers()));
    }

    #[test]
    fn other_headers_are_kept_as_read() {
        for pairs in [
            vec![(HEADER_CONTENT_TYPE, CONTENT_TYPE_JSON.as_bytes())],
            vec![
                (HEADER_CONTENT_TYPE, CONTENT_TYPE_JSON.as_bytes()),
                (HEADER_SCHEMA_VERSION, b"0".as_slice()),
            ],
            vec![("trace_id", b"abc".as_slice())],
        ] {
            let headers = headers_from(read(&pairs));
            assert!(!Arc::ptr_eq(&headers, &json_headers()), "{pairs:?}");
            let mut kept: Vec<(&str, &[u8])> = headers
                .iter()
                .map(|(name, value)| (name.as_str(), &value[..]))
                .collect();
            kept.sort();
            let mut expected = pairs.clone();
            expected.sort();
            assert_eq!(kept, expected);
        }
    }
}
