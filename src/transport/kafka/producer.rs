//! The Kafka producer: one lane (queue + task) per topic partition.
//!
//! `send` picks the partition with Kafka's murmur2 partitioner (the Java
//! client's and librdkafka's `murmur2_random`), so a device's readings land
//! where any client would put them, and hands the record to that
//! partition's lane. A lane batches with rskafka's [`RecordAggregator`]
//! (up to `batch_size` bytes, or whatever arrived within `linger`),
//! compresses, and sends one batch at a time, retrying retriable errors
//! with backoff. One batch in flight per partition is what keeps a
//! partition in order across retries (rskafka's `BatchProducer` lets
//! several batches fly and retries them independently, which can reorder
//! a partition when a broker restarts) — Kafka's
//! `max.in.flight.requests.per.connection=1`. Lanes of different
//! partitions run in parallel.
//!
//! Memory is bounded: every record holds one of `queue_capacity` permits
//! from `send` until its batch is acknowledged or given up, so a slow or
//! absent broker makes `send` wait instead of the queue growing. A batch
//! that still fails after `retries` is counted in
//! `smokewatch_transport_send_failures_total{topic,reason}`, logged with
//! its partition and keys, and reported by the next `flush`.

use super::super::metrics::{FlowCounters, count_send_failures, record_bytes};
use super::super::partitioner::partition_for;
use super::super::{OutgoingRecord, TopicKind, TransportError};
use super::retry::{Backoff, Failure, classify, reason_label};
use super::status::FailureStreak;
use super::{Cluster, KafkaContext};
use crate::telemetry::names;
use crate::transport::config::CompressionCodec;
use rskafka::chrono::{TimeZone, Utc};
use rskafka::client::error::Error as ClientError;
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::producer::aggregator::{Aggregator, RecordAggregator, TryPush};
use rskafka::record::Record;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};

/// Sends records to Kafka. Cheap to clone; clones share the lanes.
#[derive(Clone)]
pub struct KafkaProducer {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<KafkaContext>,
    permits: Arc<Semaphore>,
    capacity: usize,
    lanes: tokio::sync::OnceCell<Vec<Vec<Lane>>>,
    /// Records given up on that no `flush` has reported yet.
    unreported_failures: Arc<AtomicU64>,
}

/// A record waiting in a lane, holding its share of the queue capacity.
struct Queued {
    record: OutgoingRecord,
    _permit: OwnedSemaphorePermit,
}

/// The sending side of one partition's lane.
struct Lane {
    tx: mpsc::UnboundedSender<Queued>,
    progress: Arc<Progress>,
}

/// How far a lane has got, for `flush`.
struct Progress {
    /// Records handed to the lane so far.
    enqueued: AtomicU64,
    /// Records acknowledged or given up on so far.
    done: watch::Sender<u64>,
    /// Send the current batch now instead of waiting out the linger.
    flush_now: Notify,
}

impl KafkaProducer {
    pub(super) fn new(shared: Arc<KafkaContext>) -> Self {
        let capacity = shared.config.producer.queue_capacity.get();
        Self {
            inner: Arc::new(Inner {
                shared,
                permits: Arc::new(Semaphore::new(capacity)),
                capacity,
                lanes: tokio::sync::OnceCell::new(),
                unreported_failures: Arc::new(AtomicU64::new(0)),
            }),
        }
    }

    /// Records held right now (queued, batching or in flight).
    pub fn held(&self) -> usize {
        self.inner.capacity - self.inner.permits.available_permits()
    }

    /// Queues `record` on its key's partition. Waits while the cluster is
    /// not reached yet or `queue_capacity` records are held.
    pub async fn send(
        &self,
        topic: TopicKind,
        record: OutgoingRecord,
    ) -> Result<(), TransportError> {
        let lanes = self.lanes().await?;
        let permit = self
            .inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| TransportError::Closed)?;
        let topic_lanes = &lanes[topic.index()];
        let partition = partition_for(&record.key, topic_lanes.len() as u32);
        let lane = usize::try_from(partition)
            .ok()
            .and_then(|p| topic_lanes.get(p))
            .ok_or(TransportError::UnknownPartition { topic, partition })?;
        lane.progress.enqueued.fetch_add(1, Ordering::AcqRel);
        lane.tx
            .send(Queued {
                record,
                _permit: permit,
            })
            .map_err(|_| {
                lane.progress.enqueued.fetch_sub(1, Ordering::AcqRel);
                TransportError::Closed
            })
    }

    /// Waits until every record queued before the call is acknowledged or
    /// given up on. Fails when records were given up on since the last
    /// flush (they are counted and logged as well).
    pub async fn flush(&self) -> Result<(), TransportError> {
        if let Some(lanes) = self.inner.lanes.get() {
            for lane in lanes.iter().flatten() {
                let target = lane.progress.enqueued.load(Ordering::Acquire);
                if *lane.progress.done.borrow() >= target {
                    continue;
                }
                lane.progress.flush_now.notify_one();
                let mut done = lane.progress.done.subscribe();
                done.wait_for(|d| *d >= target)
                    .await
                    .map_err(|_| TransportError::Closed)?;
            }
        }
        match self.inner.unreported_failures.swap(0, Ordering::AcqRel) {
            0 => Ok(()),
            failed => Err(TransportError::SendFailed { records: failed }),
        }
    }

    /// The lanes, started on first use once the cluster is reached (the
    /// partition counts are known only then).
    async fn lanes(&self) -> Result<&Vec<Vec<Lane>>, TransportError> {
        self.inner
            .lanes
            .get_or_try_init(|| async {
                let cluster = self.inner.shared.cluster().await?;
                Ok(TopicKind::ALL
                    .iter()
                    .map(|topic| {
                        (0..cluster.partitions(*topic) as i32)
                            .map(|partition| self.start_lane(&cluster, *topic, partition))
                            .collect()
                    })
                    .collect())
            })
            .await
    }

    fn start_lane(&self, cluster: &Arc<Cluster>, topic: TopicKind, partition: i32) -> Lane {
        let (tx, rx) = mpsc::unbounded_channel();
        let progress = Arc::new(Progress {
            enqueued: AtomicU64::new(0),
            done: watch::Sender::new(0),
            flush_now: Notify::new(),
        });
        let config = &self.inner.shared.config;
        let lane = LaneTask {
            topic,
            topic_name: topic.name(&config.topics).to_string(),
            partition,
            cluster: cluster.clone(),
            shared: self.inner.shared.clone(),
            client: None,
            progress: progress.clone(),
            streak: FailureStreak::new(self.inner.shared.status.clone()),
            unreported_failures: self.inner.unreported_failures.clone(),
            sent: FlowCounters::sent(),
            retries: metrics::counter!(names::TRANSPORT_SEND_RETRIES, "topic" => topic.as_str()),
            latency: metrics::histogram!(names::TRANSPORT_PRODUCE_SECONDS),
        };
        tokio::spawn(lane.run(rx));
        Lane { tx, progress }
    }
}

fn compression(codec: CompressionCodec) -> Compression {
    match codec {
        CompressionCodec::None => Compression::NoCompression,
        CompressionCodec::Gzip => Compression::Gzip,
        CompressionCodec::Lz4 => Compression::Lz4,
        CompressionCodec::Snappy => Compression::Snappy,
        CompressionCodec::Zstd => Compression::Zstd,
    }
}

/// Our record as rskafka's; the timestamp falls back to now when the event
/// time is not representable.
fn to_kafka(record: &OutgoingRecord) -> Record {
    Record {
        key: Some(record.key.to_vec()),
        value: Some(record.value.to_vec()),
        headers: record
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.to_vec()))
            .collect(),
        timestamp: Utc
            .timestamp_millis_opt(record.timestamp_ms)
            .single()
            .unwrap_or_else(Utc::now),
    }
}

/// A batch being filled: rskafka's aggregator decides when it is full; we
/// keep our own records for retries and for the failure log.
struct Batch {
    aggregator: RecordAggregator,
    held: Vec<Queued>,
    /// Holds one record too large for the aggregator; nothing joins it.
    oversized: bool,
}

impl Batch {
    fn new(max_bytes: usize) -> Self {
        Self {
            aggregator: RecordAggregator::new(max_bytes),
            held: Vec::new(),
            oversized: false,
        }
    }

    /// Adds `q`, or gives it back when the batch is full. A record larger
    /// than a whole batch goes alone (the broker decides whether it fits).
    fn push(&mut self, q: Queued) -> Result<(), Queued> {
        if self.oversized {
            return Err(q);
        }
        let accepted = matches!(
            self.aggregator.try_push(to_kafka(&q.record)),
            Ok(TryPush::Aggregated(_))
        );
        if accepted {
            self.held.push(q);
            Ok(())
        } else if self.held.is_empty() {
            self.oversized = true;
            self.held.push(q);
            Ok(())
        } else {
            Err(q)
        }
    }

    /// The records to send on the first attempt.
    fn take_records(&mut self) -> Vec<Record> {
        match self.aggregator.flush() {
            Ok((records, _)) if !self.oversized && records.len() == self.held.len() => records,
            _ => self.held.iter().map(|q| to_kafka(&q.record)).collect(),
        }
    }
}

/// The task behind one lane.
struct LaneTask {
    topic: TopicKind,
    topic_name: String,
    partition: i32,
    cluster: Arc<Cluster>,
    shared: Arc<KafkaContext>,
    client: Option<Arc<PartitionClient>>,
    progress: Arc<Progress>,
    streak: FailureStreak,
    unreported_failures: Arc<AtomicU64>,
    sent: FlowCounters,
    retries: metrics::Counter,
    latency: metrics::Histogram,
}

impl LaneTask {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Queued>) {
        let max_bytes = self.shared.config.producer.batch_size as usize;
        let linger = self.shared.config.producer.linger.get();
        let mut carry: Option<Queued> = None;
        loop {
            let first = match carry.take() {
                Some(q) => q,
                None => match rx.recv().await {
                    Some(q) => q,
                    None => return,
                },
            };
            let mut batch = Batch::new(max_bytes);
            let _ = batch.push(first);
            let deadline = tokio::time::Instant::now() + linger;
            loop {
                // Under a steady flow `try_recv` always has a record; the
                // linger still bounds how long the first one waits.
                if tokio::time::Instant::now() >= deadline {
                    break;
                }
                let next = match rx.try_recv() {
                    Ok(q) => Some(q),
                    Err(mpsc::error::TryRecvError::Disconnected) => None,
                    Err(mpsc::error::TryRecvError::Empty) => tokio::select! {
                        biased;
                        q = rx.recv() => q,
                        _ = tokio::time::sleep_until(deadline) => break,
                        _ = self.progress.flush_now.notified() => break,
                    },
                };
                let Some(q) = next else { break };
                if let Err(q) = batch.push(q) {
                    carry = Some(q);
                    break;
                }
            }
            self.send(batch).await;
        }
    }

    /// Sends one batch, retrying retriable failures; counts the outcome.
    async fn send(&mut self, mut batch: Batch) {
        let shared = self.shared.clone();
        let config = &shared.config.producer;
        let codec = compression(config.compression);
        let n = batch.held.len() as u64;
        let bytes: u64 = batch
            .held
            .iter()
            .map(|q| record_bytes(q.record.key.len(), q.record.value.len()))
            .sum();
        let mut records = Some(batch.take_records());
        let mut backoff = Backoff::new(config.retry_backoff.get(), config.retry_backoff_max.get());
        let mut attempt: u32 = 0;
        loop {
            let records = records
                .take()
                .unwrap_or_else(|| batch.held.iter().map(|q| to_kafka(&q.record)).collect());
            let started = Instant::now();
            match self.produce(records, codec).await {
                Ok(()) => {
                    self.latency.record(started.elapsed().as_secs_f64());
                    if self.streak.succeeded() {
                        tracing::info!(
                            topic = %self.topic_name,
                            partition = self.partition,
                            "producer reached the broker again after {attempt} retries"
                        );
                    }
                    self.sent.add(self.topic, n, bytes);
                    break;
                }
                Err(error) => {
                    let retriable = classify(&error) == Failure::Retriable;
                    if retriable && attempt < config.retries {
                        attempt += 1;
                        self.retries.increment(1);
                        let wait = backoff.next_wait();
                        tracing::warn!(
                            topic = %self.topic_name,
                            partition = self.partition,
                            records = n,
                            "produce failed (attempt {attempt} of {}): {error}; retrying in {:.2}s",
                            config.retries + 1,
                            wait.as_secs_f64()
                        );
                        let _ = self.streak.failed(format!(
                            "producing to {}[{}]: {error}",
                            self.topic_name, self.partition
                        ));
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    self.give_up(&batch, &error, attempt, retriable);
                    break;
                }
            }
        }
        self.progress.done.send_modify(|d| *d += n);
    }

    /// One produce attempt, creating the partition client if needed.
    async fn produce(
        &mut self,
        records: Vec<Record>,
        codec: Compression,
    ) -> Result<(), ClientError> {
        let timeout = self.shared.config.request_timeout.get();
        let client = match &self.client {
            Some(client) => client.clone(),
            None => {
                let create = self.cluster.client.partition_client(
                    self.topic_name.clone(),
                    self.partition,
                    UnknownTopicHandling::Retry,
                );
                let client = Arc::new(
                    tokio::time::timeout(timeout, create)
                        .await
                        .map_err(|_| ClientError::Timeout)??,
                );
                self.client = Some(client.clone());
                client
            }
        };
        tokio::time::timeout(timeout, client.produce(records, codec))
            .await
            .map_err(|_| ClientError::Timeout)?
            .map(|_offsets| ())
    }

    fn give_up(&mut self, batch: &Batch, error: &ClientError, attempt: u32, retriable: bool) {
        let n = batch.held.len() as u64;
        let reason = if retriable {
            format!("retries_exhausted_{}", reason_label(error))
        } else {
            reason_label(error)
        };
        count_send_failures(self.topic, &reason, n);
        self.unreported_failures.fetch_add(n, Ordering::AcqRel);
        let keys: Vec<String> = batch
            .held
            .iter()
            .map(|q| String::from_utf8_lossy(&q.record.key).into_owned())
            .collect();
        tracing::error!(
            topic = %self.topic_name,
            partition = self.partition,
            records = n,
            reason = %reason,
            "gave up sending {n} records after {} attempts: {error}; keys: {}",
            attempt + 1,
            keys.join(",")
        );
        if retriable {
            let _ = self.streak.failed(format!(
                "gave up on {n} records for {}[{}]: {error}",
                self.topic_name, self.partition
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(permits: &Arc<Semaphore>, value_len: usize) -> Queued {
        Queued {
            record: OutgoingRecord::json("dev", vec![b'x'; value_len], 0),
            _permit: permits.clone().try_acquire_owned().unwrap(),
        }
    }

    #[test]
    fn a_batch_fills_up_to_its_size_and_hands_back_the_rest() {
        let permits = Arc::new(Semaphore::new(100));
        let mut batch = Batch::new(1024);
        let mut accepted = 0;
        let rejected = loop {
            match batch.push(queued(&permits, 200)) {
                Ok(()) => accepted += 1,
                Err(q) => break q,
            }
        };
        assert_eq!(accepted, 4, "4 × ~250 bytes fit in 1 KiB, 5 do not");
        assert_eq!(rejected.record.value.len(), 200);
        let records = batch.take_records();
        assert_eq!(records.len(), 4);
        assert_eq!(records[0].headers["content_type"], b"application/json");
        assert_eq!(
            permits.available_permits(),
            100 - 5,
            "held records keep their permits"
        );
    }

    #[test]
    fn a_record_larger_than_a_batch_goes_alone() {
        let permits = Arc::new(Semaphore::new(10));
        let mut batch = Batch::new(1024);
        assert!(batch.push(queued(&permits, 5000)).is_ok());
        assert!(
            batch.push(queued(&permits, 10)).is_err(),
            "nothing joins it"
        );
        assert_eq!(batch.take_records().len(), 1);
    }
}
