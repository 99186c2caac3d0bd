//! One producer lane's task: fills a batch (rskafka's
//! [`RecordAggregator`], up to `batch_size` bytes or `linger`), sends it
//! with the configured compression, retries retriable failures with
//! backoff, and counts the outcome: acknowledged records in
//! `smokewatch_transport_records_sent_total`, records given up on in
//! `smokewatch_transport_send_failures_total` and the log.

use super::super::metrics::{FlowCounters, count_send_failures, record_bytes};
use super::super::{OutgoingRecord, TopicKind};
use super::producer::{Progress, Queued};
use super::retry::{Failure, classify, reason_label, retry_backoff};
use super::status::FailureStreak;
use super::{Cluster, KafkaContext};
use crate::transport::config::CompressionCodec;
use rskafka::chrono::{TimeZone, Utc};
use rskafka::client::error::Error as ClientError;
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::record::Record;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

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

/// A batch being filled, up to `batch_size` bytes counted the way
/// rskafka's `RecordAggregator` counts them (key + value + header names and
/// values). Records stay ours until a send attempt converts them, so a
/// retry or the failure log needs no second copy, and the batch holds its
/// records' queue permits as one, released once when the batch is done.
struct Batch {
    held: Vec<OutgoingRecord>,
    permit: OwnedSemaphorePermit,
    bytes: usize,
    max_bytes: usize,
}

/// What a record counts against `batch_size`.
fn batch_bytes(record: &OutgoingRecord) -> usize {
    record.key.len()
        + record.value.len()
        + record
            .headers
            .iter()
            .map(|(name, value)| name.len() + value.len())
            .sum::<usize>()
}

impl Batch {
    /// A batch of `first` alone, whatever its size.
    fn starting_with(first: Queued, max_bytes: usize) -> Self {
        Self {
            bytes: batch_bytes(&first.record),
            held: vec![first.record],
            permit: first.permit,
            max_bytes,
        }
    }

    /// Adds `q`, or gives it back when it would overfill the batch. A
    /// record larger than a whole batch thus goes alone (the broker decides
    /// whether it fits).
    fn push(&mut self, q: Queued) -> Result<(), Queued> {
        let size = batch_bytes(&q.record);
        if self.bytes.saturating_add(size) > self.max_bytes {
            return Err(q);
        }
        self.bytes += size;
        self.held.push(q.record);
        self.permit.merge(q.permit);
        Ok(())
    }

    /// Whether nothing may join the batch any more.
    fn is_full(&self) -> bool {
        self.bytes >= self.max_bytes
    }

    /// The records of one send attempt, as rskafka takes them.
    fn records(&self) -> Vec<Record> {
        self.held.iter().map(to_kafka).collect()
    }
}

/// The task behind one lane.
pub(super) struct LaneTask {
    pub(super) topic: TopicKind,
    pub(super) topic_name: String,
    pub(super) partition: i32,
    pub(super) cluster: Arc<Cluster>,
    pub(super) shared: Arc<KafkaContext>,
    pub(super) client: Option<Arc<PartitionClient>>,
    pub(super) progress: Arc<Progress>,
    pub(super) streak: FailureStreak,
    pub(super) unreported_failures: Arc<AtomicU64>,
    pub(super) sent: FlowCounters,
    pub(super) retries: metrics::Counter,
    pub(super) latency: metrics::Histogram,
}

impl LaneTask {
    pub(super) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Queued>) {
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
            let mut batch = Batch::starting_with(first, max_bytes);
            let deadline = tokio::time::Instant::now() + linger;
            loop {
                // Under a steady flow `try_recv` always has a record; the
                // linger still bounds how long the first one waits.
                if batch.is_full() || tokio::time::Instant::now() >= deadline {
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
    async fn send(&mut self, batch: Batch) {
        let shared = self.shared.clone();
        let config = &shared.config.producer;
        let codec = compression(config.compression);
        let n = batch.held.len() as u64;
        let bytes: u64 = batch
            .held
            .iter()
            .map(|record| record_bytes(record.key.len(), record.value.len()))
            .sum();
        let mut backoff = retry_backoff(config.retry_backoff.get(), config.retry_backoff_max.get());
        let mut attempt: u32 = 0;
        loop {
            let records = batch.records();
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
            .map(|record| String::from_utf8_lossy(&record.key).into_owned())
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
    use tokio::sync::Semaphore;

    fn queued(permits: &Arc<Semaphore>, value_len: usize) -> Queued {
        Queued {
            record: OutgoingRecord::json("dev", vec![b'x'; value_len], 0),
            permit: permits.clone().try_acquire_owned().unwrap(),
        }
    }

    #[test]
    fn a_batch_fills_up_to_its_size_and_hands_back_the_rest() {
        let permits = Arc::new(Semaphore::new(100));
        let mut batch = Batch::starting_with(queued(&permits, 200), 1024);
        let mut accepted = 1;
        let rejected = loop {
            match batch.push(queued(&permits, 200)) {
                Ok(()) => accepted += 1,
                Err(q) => break q,
            }
        };
        assert_eq!(accepted, 4, "4 × ~250 bytes fit in 1 KiB, 5 do not");
        assert_eq!(rejected.record.value.len(), 200);
        let records = batch.records();
        assert_eq!(records.len(), 4);
        assert_eq!(records[0].headers["content_type"], b"application/json");
        assert_eq!(
            permits.available_permits(),
            100 - 5,
            "held records keep their permits"
        );
        drop(batch);
        assert_eq!(
            permits.available_permits(),
            100 - 1,
            "a finished batch gives back every permit it held"
        );
    }

    #[test]
    fn a_batch_counts_bytes_like_rskafka() {
        let permits = Arc::new(Semaphore::new(1));
        let record = queued(&permits, 321).record;
        assert_eq!(batch_bytes(&record), to_kafka(&record).approximate_size());
    }

    #[test]
    fn a_record_larger_than_a_batch_goes_alone() {
        let permits = Arc::new(Semaphore::new(10));
        let mut batch = Batch::starting_with(queued(&permits, 5000), 1024);
        assert!(batch.is_full());
        assert!(
            batch.push(queued(&permits, 10)).is_err(),
            "nothing joins it"
        );
        assert_eq!(batch.records().len(), 1);
    }
}
