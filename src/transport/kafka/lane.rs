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
use rskafka::client::producer::aggregator::{Aggregator, RecordAggregator, TryPush};
use rskafka::record::Record;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::mpsc;

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
        let mut backoff = retry_backoff(config.retry_backoff.get(), config.retry_backoff_max.get());
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
    use tokio::sync::Semaphore;

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
