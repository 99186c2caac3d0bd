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

pub mod assignment;
pub mod config;
pub mod embedded;
pub mod kafka;
mod metrics;
pub mod partitioner;
mod record;

pub use config::{CompressionCodec, ConsumerConfig, KafkaConfig, ProducerConfig, TopicNames};
pub use metrics::ConsumerLag;
pub(crate) use record::headers_from;
pub use record::{
    CONTENT_TYPE_JSON, ConsumedRecord, HEADER_CONTENT_TYPE, HEADER_SCHEMA_VERSION, Headers, Origin,
    OutgoingRecord, PartitionProgress, StartFrom, Subscription, TopicKind, TopicPartition,
    json_headers,
};

use crate::supervisor::{Role, Supervisor};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Why a transport operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("transport is closed")]
    Closed,
    #[error("topic {topic} has no partition {partition}")]
    UnknownPartition { topic: TopicKind, partition: i32 },
    #[error("kafka: {0}")]
    Kafka(String),
    #[error(
        "{records} records could not be sent after every retry (counted in \
         smokewatch_transport_send_failures_total and logged with their keys)"
    )]
    SendFailed { records: u64 },
    #[error("embedded transport: {0}")]
    Embedded(String),
}

/// The transport chosen by the config. Cheap to clone.
#[derive(Clone)]
pub enum Transport {
    Embedded(Arc<embedded::EmbeddedBroker>),
    Kafka(Arc<kafka::KafkaTransport>),
}

impl Transport {
    /// The transport `config` asks for: Kafka when `kafka.enabled`, else
    /// the embedded one. Returns at once: Kafka is reached (and its topics
    /// created) in the background with backoff, so a broker that is down
    /// does not stop the daemon from starting; see [`spawn`] for how that
    /// shows in /health. Needs a tokio runtime.
    pub async fn connect(config: &KafkaConfig) -> Result<Transport, TransportError> {
        if !config.enabled {
            return Ok(Transport::embedded(config));
        }
        if config.bootstrap_servers.is_empty() {
            return Err(TransportError::Kafka(
                "kafka.bootstrap_servers names no broker".into(),
            ));
        }
        Ok(Transport::Kafka(Arc::new(kafka::KafkaTransport::start(
            config,
        ))))
    }

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
            Transport::Kafka(kafka) => kafka.describe(),
        }
    }

    /// Number of partitions of `topic` (for Kafka: the topic's real count
    /// once connected, `kafka.partitions` before).
    pub fn partitions(&self, topic: TopicKind) -> u32 {
        match self {
            Transport::Embedded(broker) => broker.partitions(topic),
            Transport::Kafka(kafka) => kafka.partitions(topic),
        }
    }

    pub fn producer(&self) -> Producer {
        match self {
            Transport::Embedded(broker) => {
                Producer::Embedded(embedded::EmbeddedProducer::new(broker.clone()))
            }
            Transport::Kafka(kafka) => Producer::Kafka(kafka.producer()),
        }
    }

    /// The lag of every partition this transport's consumers read.
    pub fn consumer_lag(&self) -> &metrics::ConsumerLag {
        match self {
            Transport::Embedded(broker) => broker.consumer_lag(),
            Transport::Kafka(kafka) => kafka.consumer_lag(),
        }
    }

    pub async fn consumer(&self, subscription: Subscription) -> Result<Consumer, TransportError> {
        match self {
            Transport::Embedded(broker) => Ok(Consumer::Embedded(embedded::EmbeddedConsumer::new(
                broker.clone(),
                subscription,
            )?)),
            Transport::Kafka(kafka) => Ok(Consumer::Kafka(kafka.consumer(subscription)?)),
        }
    }
}

/// Starts the transport's own supervised task, if it has one: for Kafka,
/// `transport/kafka` keeps /health degraded (with the reason, naming the
/// config key) while the cluster is unreachable, requests are failing, or
/// a topic has fewer partitions than configured.
pub fn spawn(supervisor: &mut Supervisor, transport: &Transport) {
    if let Transport::Kafka(kafka) = transport {
        let kafka = kafka.clone();
        supervisor.spawn("transport", "transport/kafka", Role::Service, move |ctx| {
            kafka::monitor(ctx, kafka.clone())
        });
    }
}

/// Sends records; cheap to clone and share between tasks.
#[derive(Clone)]
pub enum Producer {
    Embedded(embedded::EmbeddedProducer),
    Kafka(kafka::KafkaProducer),
}

impl Producer {
    /// Sends one record to its key's partition. Waits while the transport
    /// is full (backpressure); never drops. For Kafka, returns once the
    /// record is queued; [`Producer::flush`] waits for the broker.
    pub async fn send(
        &self,
        topic: TopicKind,
        record: OutgoingRecord,
    ) -> Result<(), TransportError> {
        match self {
            Producer::Embedded(p) => p.send(topic, record).await,
            Producer::Kafka(p) => p.send(topic, record).await,
        }
    }

    /// Waits until everything sent so far is stored. Fails when records
    /// were given up on since the last flush (they are counted and logged).
    pub async fn flush(&self) -> Result<(), TransportError> {
        match self {
            Producer::Embedded(_) => Ok(()),
            Producer::Kafka(p) => p.flush().await,
        }
    }
}

/// Reads records of a [`Subscription`].
pub enum Consumer {
    Embedded(embedded::EmbeddedConsumer),
    Kafka(kafka::KafkaConsumer),
}

impl Consumer {
    /// The next batch of records (at most `max_batch`), waiting until there
    /// is at least one. Within a partition, offsets increase.
    pub async fn recv(&mut self) -> Result<Vec<ConsumedRecord>, TransportError> {
        match self {
            Consumer::Embedded(c) => c.recv().await,
            Consumer::Kafka(c) => c.recv().await,
        }
    }

    /// Next offset to read per assigned partition.
    pub fn positions(&self) -> BTreeMap<TopicPartition, i64> {
        match self {
            Consumer::Embedded(c) => c.positions(),
            Consumer::Kafka(c) => c.positions(),
        }
    }

    /// Every assigned partition with how far it has been read; `None` while
    /// the assignment is not known yet (Kafka before the cluster answered).
    /// Known before the first record of any partition is handed out, so the
    /// stream never mistakes "not heard from yet" for "not assigned".
    pub fn progress(&self) -> Option<BTreeMap<TopicPartition, PartitionProgress>> {
        match self {
            Consumer::Embedded(c) => Some(c.progress()),
            Consumer::Kafka(c) => c.progress(),
        }
    }

    /// A checkpoint has made everything before these offsets durable. The
    /// embedded log frees them; Kafka keeps records by its own retention
    /// (smokewatch commits no offsets to Kafka), so there it does nothing.
    pub fn commit(&self, positions: &BTreeMap<TopicPartition, i64>) {
        match self {
            Consumer::Embedded(c) => c.commit(positions),
            Consumer::Kafka(_) => {}
        }
    }

    /// Records between each partition's position and its end.
    /// (Partitions whose end is not known yet are left out.)
    pub fn lag(&self) -> BTreeMap<TopicPartition, i64> {
        self.progress()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(tp, p)| Some((tp, (p.end? - p.position?).max(0))))
            .collect()
    }
}
