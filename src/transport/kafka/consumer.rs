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
//! stops the fetching instead of filling memory. The loops themselves are
//! in [`super::fetch`].

use super::super::assignment::assigned_partitions;
use super::super::metrics::{ConsumerLag, FlowCounters, LagGauge, record_bytes};
use super::super::{
    ConsumedRecord, PartitionProgress, Subscription, TopicPartition, TransportError,
};
use super::KafkaContext;
use super::fetch::{Fetched, UNKNOWN_END, run_fetch_loops};
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::sync::mpsc;

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
    /// Every assigned partition, once the fetch loops know them.
    assignment: Option<Vec<TopicPartition>>,
    positions: BTreeMap<TopicPartition, i64>,
    watermarks: BTreeMap<TopicPartition, (Arc<AtomicI64>, LagGauge)>,
    /// Where each partition's lag gauge is mirrored for the dashboard.
    lag: ConsumerLag,
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
        let lag = shared.lag.clone();
        let (tx, rx) = mpsc::channel(shared.config.consumer.queue_capacity.get());
        let max_batch = subscription.max_batch.max(1);
        let positions = subscription.positions.clone();
        let loops = tokio::spawn(run_fetch_loops(shared, subscription, tx.clone()));
        Ok(Self {
            rx,
            _keepalive: tx,
            pending: VecDeque::new(),
            pending_records: 0,
            assignment: None,
            positions,
            watermarks: BTreeMap::new(),
            lag,
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
            Fetched::Assignment(partitions) => self.assignment = Some(partitions),
            Fetched::Assigned {
                tp,
                position,
                watermark,
            } => {
                let gauge = self.lag.gauge(tp);
                gauge.set(watermark.load(Ordering::Acquire) - position);
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
                gauge.set(watermark.load(Ordering::Acquire) - position);
            }
        }
    }

    /// Next offset to read per partition, as far as records were handed out.
    pub fn positions(&self) -> BTreeMap<TopicPartition, i64> {
        self.positions.clone()
    }

    /// Every assigned partition with its position and high watermark as of
    /// its loop's last fetch; `None` until the fetch loops have started.
    pub fn progress(&self) -> Option<BTreeMap<TopicPartition, PartitionProgress>> {
        let assignment = self.assignment.as_ref()?;
        Some(
            assignment
                .iter()
                .map(|tp| {
                    let end = self
                        .watermarks
                        .get(tp)
                        .map(|(w, _)| w.load(Ordering::Acquire))
                        .filter(|end| *end != UNKNOWN_END);
                    let progress = PartitionProgress {
                        position: self.positions.get(tp).copied(),
                        end,
                    };
                    (*tp, progress)
                })
                .collect(),
        )
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
            assignment: None,
            positions: BTreeMap::new(),
            watermarks: BTreeMap::new(),
            lag: ConsumerLag::default(),
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
        assert_eq!(c.progress(), None, "assignment not known yet");
        c.accept(Fetched::Assignment(vec![tp]));
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
        let progress = c.progress().expect("assignment known")[&tp];
        assert_eq!((progress.position, progress.end), (Some(13), Some(20)));
        assert!(!progress.caught_up());
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
