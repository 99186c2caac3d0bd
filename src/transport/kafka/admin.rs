//! Topic set-up at connection: create what is missing, measure what exists.
//!
//! Kafka clusters often forbid auto-creation (and tansu never does it), so
//! smokewatch creates its topics with `kafka.partitions` and
//! `kafka.replication_factor` through the controller. An existing topic is
//! used as it is, with its real partition count, because that is where
//! every other client puts each key; when it has fewer partitions than
//! configured, the shortfall is logged, shown in /health and exported as
//! `smokewatch_transport_topic_partitions_missing`, since it caps how far
//! the consumers can scale out.

use super::super::{KafkaConfig, TopicKind};
use crate::telemetry::names;
use rskafka::client::Client;
use rskafka::client::error::{Error as ClientError, ProtocolError};
use std::collections::BTreeMap;
use std::time::Duration;

/// Why topic set-up failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("listing topics: {0}")]
    List(#[source] ClientError),
    #[error(
        "creating topic {topic:?} with {partitions} partitions and replication factor {replication} \
         (kafka.partitions, kafka.replication_factor): {source}"
    )]
    Create {
        topic: String,
        partitions: u32,
        replication: u16,
        #[source]
        source: ClientError,
    },
    #[error("topic {topic:?} is still missing after it was created")]
    StillMissing { topic: String },
    #[error("{what} timed out after {after:?} (kafka.request_timeout)")]
    Timeout { what: &'static str, after: Duration },
}

/// The topics as found (or made) on the cluster.
#[derive(Debug, Clone)]
pub struct TopicLayout {
    /// Real partition count of each topic.
    pub partitions: BTreeMap<TopicKind, u32>,
    /// One line per topic with fewer partitions than configured.
    pub problems: Vec<String>,
}

/// Creates missing topics and reads every topic's partition count.
pub async fn ensure_topics(
    client: &Client,
    config: &KafkaConfig,
) -> Result<TopicLayout, AdminError> {
    let timeout = config.request_timeout.get();
    let existing = list(client, timeout).await?;
    let controller = client.controller_client().map_err(AdminError::List)?;
    let mut created = false;
    for kind in TopicKind::ALL {
        let name = kind.name(&config.topics);
        if existing.contains_key(name) {
            continue;
        }
        let request = controller.create_topic(
            name,
            config.partitions as i32,
            config.replication_factor as i16,
            i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX),
        );
        let result =
            tokio::time::timeout(timeout, request)
                .await
                .map_err(|_| AdminError::Timeout {
                    what: "creating topics",
                    after: timeout,
                })?;
        match result {
            Ok(()) => {
                created = true;
                tracing::info!(
                    topic = name,
                    partitions = config.partitions,
                    replication_factor = config.replication_factor,
                    "created Kafka topic"
                );
            }
            // Another daemon created it between our listing and now.
            Err(ClientError::ServerError {
                protocol_error: ProtocolError::TopicAlreadyExists,
                ..
            }) => created = true,
            Err(source) => {
                return Err(AdminError::Create {
                    topic: name.to_string(),
                    partitions: config.partitions,
                    replication: config.replication_factor,
                    source,
                });
            }
        }
    }
    let topics = if created {
        list(client, timeout).await?
    } else {
        existing
    };
    layout(&topics, config)
}

async fn list(client: &Client, timeout: Duration) -> Result<BTreeMap<String, u32>, AdminError> {
    let topics = tokio::time::timeout(timeout, client.list_topics())
        .await
        .map_err(|_| AdminError::Timeout {
            what: "listing topics",
            after: timeout,
        })?
        .map_err(AdminError::List)?;
    Ok(topics
        .into_iter()
        .map(|t| (t.name, t.partitions.len() as u32))
        .collect())
}

/// Partition counts per topic kind, with the shortfalls reported.
fn layout(topics: &BTreeMap<String, u32>, config: &KafkaConfig) -> Result<TopicLayout, AdminError> {
    let mut partitions = BTreeMap::new();
    let mut problems = Vec::new();
    for kind in TopicKind::ALL {
        let name = kind.name(&config.topics);
        let count = match topics.get(name) {
            Some(count) if *count > 0 => *count,
            _ => {
                return Err(AdminError::StillMissing {
                    topic: name.to_string(),
                });
            }
        };
        let missing = config.partitions.saturating_sub(count);
        metrics::gauge!(names::TRANSPORT_TOPIC_PARTITIONS_MISSING, "topic" => kind.as_str())
            .set(f64::from(missing));
        if missing > 0 {
            let problem = format!(
                "topic {name:?} has {count} partitions but kafka.partitions is {}: \
                 keys are spread over {count} and at most {count} instances can share it; \
                 add partitions with the Kafka tools (existing keys then move) or lower kafka.partitions",
                config.partitions
            );
            tracing::error!("{problem}");
            problems.push(problem);
        } else if count > config.partitions {
            tracing::info!(
                topic = name,
                partitions = count,
                configured = config.partitions,
                "topic has more partitions than kafka.partitions; using all of them"
            );
        }
        partitions.insert(kind, count);
    }
    Ok(TopicLayout {
        partitions,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_with_fewer_partitions_is_reported_and_used_as_it_is() {
        let config = KafkaConfig::default();
        let mut topics: BTreeMap<String, u32> = TopicKind::ALL
            .iter()
            .map(|k| (k.name(&config.topics).to_string(), config.partitions))
            .collect();
        topics.insert(config.topics.alerts.clone(), 2);
        let layout = layout(&topics, &config).unwrap();
        assert_eq!(layout.partitions[&TopicKind::Alerts], 2);
        assert_eq!(layout.partitions[&TopicKind::Readings], 6);
        assert_eq!(layout.problems.len(), 1);
        assert!(layout.problems[0].contains("smokewatch.alerts"));
        assert!(layout.problems[0].contains("kafka.partitions is 6"));
    }

    #[test]
    fn a_missing_topic_is_an_error() {
        let config = KafkaConfig::default();
        let err = layout(&BTreeMap::new(), &config).unwrap_err();
        assert!(err.to_string().contains("smokewatch.readings"), "{err}");
    }
}
