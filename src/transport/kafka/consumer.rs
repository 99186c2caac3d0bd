//! The Kafka consumer: one fetch loop per assigned partition, feeding one
//! bounded channel that [`KafkaConsumer::recv`] drains.
//!
//! There is no group coordinator: the partitions come from the
//! subscription or `kafka.consumer` (see [`crate::transport::assignment`]),
//! each loop starts at the subscription's position (from a checkpoint) or
//! at the earliest/latest offset, and positions advance only as `recv`
//! hands records out, so a checkpoint of [`KafkaConsumer::positions`]
//! never skips a record the stream has not seen. The channel is bounded
//! (`kafka.consumer.queue_capacity` fetch responses), so a slow stream
//! stops the fetching instead of filling memory.
//!
//! A fetch loop never gives up: broker errors are retried with backoff
//! (and show in /health), and an offset the broker no longer has (removed
//! by retention, or a recreated topic) is reset to the earliest retained
//! one with a warning and `smokewatch_consumer_offset_resets_total`.

use super::super::assignment::assigned_partitions;
use super::super::metrics::{FlowCounters, count_offset_reset, lag_gauge, record_bytes};
use super::super::{
    ConsumedRecord, Headers, StartFrom, Subscription, TopicPartition, TransportError,
};
use super::retry::Backoff;
use super::status::FailureStreak;
use super::{Cluster, KafkaContext};
use crate::telemetry::names;
use bytes::Bytes;
use metrics::Gauge;
use rskafka::client::error::{Error as ClientError, ProtocolError};
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::record::RecordAndOffset;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// What a fetch loop tells the consumer, in partition order.
enum Fetched {
    /// The loop starts reading `tp` at `position`.
    Assigned {
        tp: TopicPartition,
        position: i64,
        watermark: Arc<AtomicI64>,
    },
    Records(Vec<ConsumedRecord>),
    /// The position was out of range and moved to `to`.
    Reset {
        tp: TopicPartition,
        to: i64,
    },
}

/// Waiting to be handed out by `recv`, in arrival order.
enum Pending {
    Record(ConsumedRecord),
    Position(TopicPartition, i64),
}

/// Reads a subscription from Kafka.
pub struct KafkaConsumer {
    rx: mpsc::Receiver<Fetched>,
    /// Keeps the channel open when nothing is assigned, so `recv` waits
    /// instead of failing.
    _keepalive: mpsc::Sender<Fetched>,
    pending: VecDeque<Pending>,
    pending_records: usize,
    positions: BTreeMap<TopicPartition, i64>,
    watermarks: BTreeMap<TopicPartition, (Arc<AtomicI64>, Gauge)>,
    consumed: FlowCounters,
    max_batch: usize,
    /// Owns the fetch loops; aborting it stops them all.
    loops: tokio::task::JoinHandle<()>,
}

impl Drop for KafkaConsumer {
    fn drop(&mut self) {
        self.loops.abort();
    }
}

impl KafkaConsumer {
    /// Starts the fetch loops (once the cluster is reached). When it is
    /// reached already, an assignment naming a partition that does not
    /// exist fails here; otherwise it is logged when the loops start.
    pub(super) fn start(
        shared: Arc<KafkaContext>,
        subscription: Subscription,
    ) -> Result<Self, TransportError> {
        if let Some(cluster) = shared.cluster_now() {
            for topic in &subscription.topics {
                assigned_partitions(
                    *topic,
                    cluster.partitions(*topic),
                    subscription.partitions.as_deref(),
                    &shared.config.consumer,
                )?;
            }
        }
        let (tx, rx) = mpsc::channel(shared.config.consumer.queue_capacity.get());
        let max_batch = subscription.max_batch.max(1);
        let positions = subscription.positions.clone();
        let loops = tokio::spawn(run_fetch_loops(shared, subscription, tx.clone()));
        Ok(Self {
            rx,
            _keepalive: tx,
            pending: VecDeque::new(),
            pending_records: 0,
            positions,
            watermarks: BTreeMap::new(),
            consumed: FlowCounters::consumed(),
            max_batch,
            loops,
        })
    }

    /// Up to `max_batch` records, waiting until there is at least one.
    pub async fn recv(&mut self) -> Result<Vec<ConsumedRecord>, TransportError> {
        loop {
            while self.pending_records < self.max_batch {
                match self.rx.try_recv() {
                    Ok(fetched) => self.accept(fetched),
                    Err(_) => break,
                }
            }
            let batch = self.take_batch();
            if !batch.is_empty() {
                self.publish(&batch);
                return Ok(batch);
            }
            match self.rx.recv().await {
                Some(fetched) => self.accept(fetched),
                None => return Err(TransportError::Closed),
            }
        }
    }

    fn accept(&mut self, fetched: Fetched) {
        match fetched {
            Fetched::Assigned {
                tp,
                position,
                watermark,
            } => {
                let gauge = lag_gauge(tp);
                gauge.set((watermark.load(Ordering::Acquire) - position).max(0) as f64);
                self.watermarks.insert(tp, (watermark, gauge));
                self.pending.push_back(Pending::Position(tp, position));
            }
            Fetched::Reset { tp, to } => self.pending.push_back(Pending::Position(tp, to)),
            Fetched::Records(records) => {
                self.pending_records += records.len();
                self.pending
                    .extend(records.into_iter().map(Pending::Record));
            }
        }
    }

    /// Hands out pending records in order, advancing positions; drops any
    /// record at or behind its partition's position (already handed out).
    fn take_batch(&mut self) -> Vec<ConsumedRecord> {
        let mut batch = Vec::with_capacity(self.pending_records.min(self.max_batch));
        while batch.len() < self.max_batch {
            match self.pending.pop_front() {
                None => break,
                Some(Pending::Position(tp, position)) => {
                    self.positions.insert(tp, position);
                }
                Some(Pending::Record(record)) => {
                    self.pending_records -= 1;
                    let tp = record.topic_partition();
                    let position = self.positions.entry(tp).or_insert(record.offset);
                    if record.offset < *position {
                        tracing::debug!(
                            topic = %tp.topic,
                            partition = tp.partition,
                            offset = record.offset,
                            "dropping a record before the position"
                        );
                        continue;
                    }
                    *position = record.offset + 1;
                    batch.push(record);
                }
            }
        }
        batch
    }

    fn publish(&self, batch: &[ConsumedRecord]) {
        for r in batch {
            let key = r.key.as_ref().map_or(0, Bytes::len);
            self.consumed
                .add(r.topic, 1, record_bytes(key, r.value.len()));
        }
        for (tp, (watermark, gauge)) in &self.watermarks {
            if let Some(position) = self.positions.get(tp) {
                gauge.set((watermark.load(Ordering::Acquire) - position).max(0) as f64);
            }
        }
    }

    /// Next offset to read per partition, as far as records were handed out.
    pub fn positions(&self) -> BTreeMap<TopicPartition, i64> {
        self.positions.clone()
    }

    /// Records between each partition's position and its high watermark
    /// (as of the last fetch).
    pub fn lag(&self) -> BTreeMap<TopicPartition, i64> {
        self.watermarks
            .iter()
            .filter_map(|(tp, (watermark, _))| {
                let position = self.positions.get(tp)?;
                Some((*tp, (watermark.load(Ordering::Acquire) - position).max(0)))
            })
            .collect()
    }
}

/// Waits for the cluster, then runs one fetch loop per assigned partition
/// until the consumer goes away.
async fn run_fetch_loops(
    shared: Arc<KafkaContext>,
    subscription: Subscription,
    tx: mpsc::Sender<Fetched>,
) {
    let Ok(cluster) = shared.cluster().await else {
        return;
    };
    let mut loops = JoinSet::new();
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
        for partition in partitions {
            let tp = TopicPartition {
                topic: *topic,
                partition,
            };
            let fetch = FetchLoop {
                tp,
                topic_name: topic.name(&shared.config.topics).to_string(),
                cluster: cluster.clone(),
                shared: shared.clone(),
                tx: tx.clone(),
                watermark: Arc::new(AtomicI64::new(0)),
                streak: FailureStreak::new(shared.status.clone()),
                backoff: Backoff::new(
                    shared.config.reconnect_backoff.get(),
                    shared.config.reconnect_backoff_max.get(),
                ),
                errors: metrics::counter!(names::CONSUMER_FETCH_ERRORS, "topic" => topic.as_str()),
            };
            let start = subscription.positions.get(&tp).copied();
            loops.spawn(fetch.run(start, subscription.default_start));
        }
    }
    drop(tx);
    while loops.join_next().await.is_some() {}
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
        let bytes =
            config.consumer.min_bytes as i32..(config.consumer.max_bytes as i32).saturating_add(1);
        let max_wait = config.consumer.max_wait.get();
        let max_wait_ms = i32::try_from(max_wait.as_millis()).unwrap_or(i32::MAX);
        let timeout = max_wait + config.request_timeout.get();
        loop {
            let fetch = client.fetch_records(position, bytes.clone(), max_wait_ms);
            let result = tokio::time::timeout(timeout, fetch)
                .await
                .unwrap_or(Err(ClientError::Timeout));
            match result {
                Ok((records, high_watermark)) => {
                    self.recovered();
                    self.watermark.store(high_watermark, Ordering::Release);
                    let records = self.convert(records, position);
                    match records.last() {
                        Some(last) => {
                            position = last.offset + 1;
                            if self.tx.send(Fetched::Records(records)).await.is_err() {
                                return;
                            }
                        }
                        // Behind the watermark yet nothing readable (only
                        // control records): do not spin.
                        None if position < high_watermark => {
                            tokio::time::sleep(max_wait.min(std::time::Duration::from_millis(100)))
                                .await;
                        }
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
        }
    }

    fn convert(&self, mut records: Vec<RecordAndOffset>, position: i64) -> Vec<ConsumedRecord> {
        records.sort_by_key(|r| r.offset);
        records
            .into_iter()
            .filter(|r| r.offset >= position)
            .map(|r| {
                let headers: Headers = r
                    .record
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k, Bytes::from(v)))
                    .collect::<Vec<_>>()
                    .into();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::TopicKind;

    fn record(partition: i32, offset: i64) -> ConsumedRecord {
        ConsumedRecord {
            topic: TopicKind::Readings,
            partition,
            offset,
            key: Some(Bytes::from_static(b"k")),
            value: Bytes::from_static(b"{}"),
            headers: crate::transport::json_headers(),
            timestamp_ms: 0,
        }
    }

    fn consumer(max_batch: usize) -> KafkaConsumer {
        let (tx, rx) = mpsc::channel(4);
        KafkaConsumer {
            rx,
            _keepalive: tx,
            pending: VecDeque::new(),
            pending_records: 0,
            positions: BTreeMap::new(),
            watermarks: BTreeMap::new(),
            consumed: FlowCounters::consumed(),
            max_batch,
            loops: tokio::spawn(async {}),
        }
    }

    #[tokio::test]
    async fn positions_follow_handed_out_records_and_resets_in_order() {
        let mut c = consumer(3);
        let tp = TopicPartition {
            topic: TopicKind::Readings,
            partition: 0,
        };
        c.accept(Fetched::Assigned {
            tp,
            position: 10,
            watermark: Arc::new(AtomicI64::new(20)),
        });
        c.accept(Fetched::Records((10..14).map(|o| record(0, o)).collect()));
        c.accept(Fetched::Reset { tp, to: 2 });
        c.accept(Fetched::Records(vec![record(0, 2)]));
        let first = c.take_batch();
        assert_eq!(
            first.iter().map(|r| r.offset).collect::<Vec<_>>(),
            [10, 11, 12]
        );
        assert_eq!(c.positions()[&tp], 13, "only what was handed out");
        assert_eq!(c.lag()[&tp], 7);
        let second = c.take_batch();
        assert_eq!(second.iter().map(|r| r.offset).collect::<Vec<_>>(), [13, 2]);
        assert_eq!(
            c.positions()[&tp],
            3,
            "the reset applies after the records before it"
        );
    }

    #[tokio::test]
    async fn records_behind_the_position_are_not_handed_out_twice() {
        let mut c = consumer(100);
        let tp = TopicPartition {
            topic: TopicKind::Readings,
            partition: 1,
        };
        c.accept(Fetched::Assigned {
            tp,
            position: 5,
            watermark: Arc::new(AtomicI64::new(8)),
        });
        c.accept(Fetched::Records(vec![record(1, 5), record(1, 6)]));
        c.accept(Fetched::Records(vec![record(1, 6), record(1, 7)]));
        let offsets: Vec<i64> = c.take_batch().iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [5, 6, 7]);
    }
}
