//! Moves records between the sources and the stream: Kafka (rskafka) when
//! `kafka.enabled`, else an in-process embedded transport.

mod config;

pub use config::{KafkaConfig, TopicNames};
