//! The fetch loops behind a [`super::KafkaConsumer`]: one per assigned
//! partition, each starting at its position (or earliest/latest), fetching
//! with `kafka.consumer` min/max bytes and max wait, and sending what it
//! read, in offset order, into the consumer's bounded queue while the next
//! fetch is already in flight (so at most two fetches' records per
//! partition are outside the queue).
//!
//! A loop never gives up: broker errors are retried with backoff (and show
//! in /health through [`FailureStreak`]), and an offset the broker no
//! longer has (removed by retention, or a recreated topic) is reset to the
//! earliest retained one with a warning and
//! `smokewatch_consumer_offset_resets_total`.

use super::super::assignment::assigned_partitions;
use super::super::metrics::count_offset_reset;
use super::super::{ConsumedRecord, StartFrom, Subscription, TopicPartition, headers_from};
use super::retry::retry_backoff;
use super::status::FailureStreak;
use super::{Cluster, KafkaContext};
use crate::base::backoff::Backoff;
use crate::telemetry::names;
use bytes::Bytes;
use rskafka::client::error::{Error as ClientError, ProtocolError};
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::record::RecordAndOffset;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// What a fetch loop tells the consumer, in partition order.
pub(super) enum Fetched {
    /// Every partition this consumer reads, sent once before any loop
    /// starts, so the consumer knows them all before the first record.
    Assignment(Vec<TopicPartition>),
    /// The loop starts reading `tp` at `position`.
    Assigned {
        tp: TopicPartition,
        position: i64,
        /// High watermark as of the loop's last fetch.
        watermark: Arc<AtomicI64>,
    },
    Records(Vec<ConsumedRecord>),
    /// The position was out of range and moved to `to`.
    Reset {
        tp: TopicPartition,
        to: i64,
    },
}

/// A high watermark not fetched yet.
pub(super) const UNKNOWN_END: i64 = -1;

/// Waits for the cluster, then runs one fetch loop per assigned partition
/// until the consumer goes away.
pub(super) async fn run_fetch_loops(
    shared: Arc<KafkaContext>,
    subscription: Subscription,
    tx: mpsc::Sender<Fetched>,
) {
    let Ok(cluster) = shared.cluster().await else {
        return;
    };
    let mut assignment = Vec::new();
    for topic in &subscription.topics {
        let partitions = match assigned_partitions(
            *topic,
            cluster.partitions(*topic),
            subscription.partitions.as_deref(),
            &shared.config.consumer,
        ) {
            Ok(partitions) => partitions,
            Err(e) => {
                tracing::error!(
                    "consumer cannot read {topic}: {e} (check kafka.consumer.partitions and the topic's partition count)"
                );
                continue;
            }
        };
        assignment.extend(partitions.into_iter().map(|partition| TopicPartition {
            topic: *topic,
            partition,
        }));
    }
    if tx
        .send(Fetched::Assignment(assignment.clone()))
        .await
        .is_err()
    {
        return;
    }
    let mut loops = JoinSet::new();
    for tp in assignment {
        let topic = tp.topic;
        let fetch = FetchLoop {
            tp,
            topic_name: topic.name(&shared.config.topics).to_string(),
            cluster: cluster.clone(),
            shared: shared.clone(),
            tx: tx.clone(),
            watermark: Arc::new(AtomicI64::new(UNKNOWN_END)),
            streak: FailureStreak::new(shared.status.clone()),
            backoff: retry_backoff(
                shared.config.reconnect_backoff.get(),
                shared.config.reconnect_backoff_max.get(),
            ),
            errors: metrics::counter!(names::CONSUMER_FETCH_ERRORS, "topic" => topic.as_str()),
        };
        let start = subscription.positions.get(&tp).copied();
        loops.spawn(fetch.run(start, subscription.default_start));
    }
    drop(tx);
    while loops.join_next().await.is_some() {}
}

/// One fetch as `kafka.consumer` configures it.
struct FetchRequest {
    bytes: std::ops::Range<i32>,
    max_wait_ms: i32,
    /// The broker may hold the fetch for `max_wait`; the request timeout
    /// counts after that.
    timeout: std::time::Duration,
}

impl FetchRequest {
    /// Records from `position` on, with the partition's high watermark.
    async fn send(
        &self,
        client: &PartitionClient,
        position: i64,
    ) -> Result<(Vec<RecordAndOffset>, i64), ClientError> {
        let fetch = client.fetch_records(position, self.bytes.clone(), self.max_wait_ms);
        tokio::time::timeout(self.timeout, fetch)
            .await
            .unwrap_or(Err(ClientError::Timeout))
    }
}

/// Fetches one partition forever.
struct FetchLoop {
    tp: TopicPartition,
    topic_name: String,
    cluster: Arc<Cluster>,
    shared: Arc<KafkaContext>,
    tx: mpsc::Sender<Fetched>,
    watermark: Arc<AtomicI64>,
    streak: FailureStreak,
    backoff: Backoff,
    errors: metrics::Counter,
}

impl FetchLoop {
    async fn run(mut self, start: Option<i64>, default_start: StartFrom) {
        let Some(client) = self.client().await else {
            return;
        };
        let mut position = match start {
            Some(position) => position,
            None => {
                let at = match default_start {
                    StartFrom::Earliest => OffsetAt::Earliest,
                    StartFrom::Latest => OffsetAt::Latest,
                };
                match self.offset(&client, at).await {
                    Some(offset) => offset,
                    None => return,
                }
            }
        };
        let assigned = Fetched::Assigned {
            tp: self.tp,
            position,
            watermark: self.watermark.clone(),
        };
        if self.tx.send(assigned).await.is_err() {
            return;
        }
        let config = &self.shared.config;
        let request = FetchRequest {
            bytes: config.consumer.min_bytes as i32
                ..(config.consumer.max_bytes as i32).saturating_add(1),
            max_wait_ms: i32::try_from(config.consumer.max_wait.get().as_millis())
                .unwrap_or(i32::MAX),
            timeout: config.consumer.max_wait.get() + config.request_timeout.get(),
        };
        let idle = config
            .consumer
            .max_wait
            .get()
            .min(std::time::Duration::from_millis(100));
        let mut result = request.send(&client, position).await;
        loop {
            match result {
                Ok((records, high_watermark)) => {
                    self.recovered();
                    self.watermark.store(high_watermark, Ordering::Release);
                    let next = records
                        .iter()
                        .map(|r| r.offset + 1)
                        .max()
                        .filter(|next| *next > position);
                    match next {
                        // Fetch what follows while these records are
                        // converted and wait for room in the queue, as
                        // Kafka's own consumer pipelines its fetches: the
                        // round trip no longer adds to the stream's time.
                        Some(next) => {
                            let deliver = async {
                                let records = self.convert(records, position);
                                self.tx.send(Fetched::Records(records)).await
                            };
                            let (fetched, delivered) =
                                tokio::join!(request.send(&client, next), deliver);
                            if delivered.is_err() {
                                return;
                            }
                            position = next;
                            result = fetched;
                            continue;
                        }
                        // Behind the watermark yet nothing readable (only
                        // control records): do not spin.
                        None if position < high_watermark => tokio::time::sleep(idle).await,
                        None => {}
                    }
                }
                Err(ClientError::ServerError {
                    protocol_error: ProtocolError::OffsetOutOfRange,
                    ..
                }) => {
                    let Some(earliest) = self.offset(&client, OffsetAt::Earliest).await else {
                        return;
                    };
                    tracing::warn!(
                        topic = %self.topic_name,
                        partition = self.tp.partition,
                        "offset {position} is out of range (removed by retention, or the topic \
                         was recreated); resetting to the earliest offset {earliest}"
                    );
                    count_offset_reset(self.tp);
                    position = earliest;
                    if self
                        .tx
                        .send(Fetched::Reset {
                            tp: self.tp,
                            to: earliest,
                        })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    if self.failed("fetching", &e).await.is_none() {
                        return;
                    }
                }
            }
            result = request.send(&client, position).await;
        }
    }

    fn convert(&self, mut records: Vec<RecordAndOffset>, position: i64) -> Vec<ConsumedRecord> {
        records.sort_by_key(|r| r.offset);
        records
            .into_iter()
            .filter(|r| r.offset >= position)
            .map(|r| {
                let headers = headers_from(r.record.headers);
                ConsumedRecord {
                    topic: self.tp.topic,
                    partition: self.tp.partition,
                    offset: r.offset,
                    key: r.record.key.map(Bytes::from),
                    value: r.record.value.map(Bytes::from).unwrap_or_default(),
                    headers,
                    timestamp_ms: r.record.timestamp.timestamp_millis(),
                }
            })
            .collect()
    }

    /// The partition client, retrying until it exists; `None` when the
    /// consumer went away meanwhile.
    async fn client(&mut self) -> Option<PartitionClient> {
        let timeout = self.shared.config.request_timeout.get();
        loop {
            let create = self.cluster.client.partition_client(
                self.topic_name.clone(),
                self.tp.partition,
                UnknownTopicHandling::Retry,
            );
            match tokio::time::timeout(timeout, create)
                .await
                .unwrap_or(Err(ClientError::Timeout))
            {
                Ok(client) => {
                    self.recovered();
                    return Some(client);
                }
                Err(e) => {
                    self.failed("connecting to the partition leader", &e)
                        .await?
                }
            }
        }
    }

    /// The earliest or latest offset, retrying until known.
    async fn offset(&mut self, client: &PartitionClient, at: OffsetAt) -> Option<i64> {
        let timeout = self.shared.config.request_timeout.get();
        loop {
            match tokio::time::timeout(timeout, client.get_offset(at))
                .await
                .unwrap_or(Err(ClientError::Timeout))
            {
                Ok(offset) => {
                    self.recovered();
                    return Some(offset);
                }
                Err(e) => self.failed("looking up an offset", &e).await?,
            }
        }
    }

    /// Counts and reports a failure, then waits out the backoff. `None`
    /// when the consumer is gone (no point retrying).
    async fn failed(&mut self, what: &str, error: &ClientError) -> Option<()> {
        self.errors.increment(1);
        let message = format!("{what} {}[{}]: {error}", self.topic_name, self.tp.partition);
        let wait = self.backoff.next_wait();
        if self.streak.failed(message.clone()) {
            tracing::warn!("{message}; retrying with backoff until the broker answers");
        } else {
            tracing::debug!("{message}; retrying in {:.1}s", wait.as_secs_f64());
        }
        if self.tx.is_closed() {
            return None;
        }
        tokio::time::sleep(wait).await;
        Some(())
    }

    fn recovered(&mut self) {
        self.backoff.reset();
        if self.streak.succeeded() {
            tracing::info!(
                topic = %self.topic_name,
                partition = self.tp.partition,
                "consumer reached the broker again"
            );
        }
    }
}
