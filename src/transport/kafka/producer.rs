//! The Kafka producer: one lane (queue + task) per topic partition.
//!
//! `send` picks the partition with Kafka's murmur2 partitioner (the Java
//! client's and librdkafka's `murmur2_random`), so a device's readings land
//! where any client would put them, and hands the record to that
//! partition's lane. The lane's task fills a batch (up to `batch_size`
//! bytes, or whatever arrived within `linger`), compresses, and sends one batch at a time, retrying retriable errors
//! with backoff. One batch in flight per partition is what keeps a
//! partition in order across retries (rskafka's `BatchProducer` lets
//! several batches fly and retries them independently, which can reorder
//! a partition when a broker restarts) — Kafka's
//! `max.in.flight.requests.per.connection=1`. Lanes of different
//! partitions run in parallel. The lane task is in [`super::lane`].
//!
//! Memory is bounded: every record holds one of `queue_capacity` permits
//! from `send` until its batch is acknowledged or given up, so a slow or
//! absent broker makes `send` wait instead of the queue growing. A batch
//! that still fails after `retries` is counted in
//! `smokewatch_transport_send_failures_total{topic,reason}`, logged with
//! its partition and keys, and reported by the next `flush`.

use super::super::metrics::FlowCounters;
use super::super::partitioner::partition_for;
use super::super::{OutgoingRecord, TopicKind, TransportError};
use super::lane::LaneTask;
use super::status::FailureStreak;
use super::{Cluster, KafkaContext};
use crate::telemetry::names;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
pub(super) struct Queued {
    pub(super) record: OutgoingRecord,
    pub(super) permit: OwnedSemaphorePermit,
}

/// The sending side of one partition's lane.
struct Lane {
    tx: mpsc::UnboundedSender<Queued>,
    progress: Arc<Progress>,
}

/// How far a lane has got, for `flush`.
pub(super) struct Progress {
    /// Records handed to the lane so far.
    pub(super) enqueued: AtomicU64,
    /// Records acknowledged or given up on so far.
    pub(super) done: watch::Sender<u64>,
    /// Send the current batch now instead of waiting out the linger.
    pub(super) flush_now: Notify,
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
        lane.tx.send(Queued { record, permit }).map_err(|_| {
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
