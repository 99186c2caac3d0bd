//! The embedded transport: an in-process, partitioned, offset-addressed log
//! per topic, so the stream works the same with or without Kafka.
//!
//! Like Kafka, records keep their (partition, offset) and a consumer can
//! re-read from any retained offset — which a restarted stream task does,
//! from its last checkpoint. Unlike Kafka, retention is "until committed":
//! a partition holds at most `capacity` records that no checkpoint has yet
//! made durable, and producers wait (backpressure) while it is full. A topic
//! nobody consumes therefore fills up and stops its producer instead of
//! dropping data. Records a consumer has read wait for that checkpoint
//! compressed ([`frozen`]). Nothing survives the process.

mod frozen;

use super::metrics::{ConsumerLag, FlowCounters, LagGauge, count_offset_reset, record_bytes};
use super::partitioner::partition_for;
use super::{
    ConsumedRecord, Headers, OutgoingRecord, PartitionProgress, StartFrom, Subscription, TopicKind,
    TopicPartition, TransportError,
};
use bytes::Bytes;
use frozen::{BLOCK_RECORDS, FrozenBlock};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::Notify;

struct Stored {
    key: Bytes,
    value: Bytes,
    headers: Headers,
    timestamp_ms: i64,
}

/// One partition's log: offsets from `base` (the first retained) to
/// `end()`. Records a consumer has read (below `read_mark`) are packed
/// into `frozen` blocks, contiguous up to `hot_base`; `records[i]` has
/// offset `hot_base + i`.
#[derive(Default)]
struct PartitionLog {
    base: i64,
    frozen: VecDeque<FrozenBlock>,
    hot_base: i64,
    records: VecDeque<Stored>,
    /// The furthest position any consumer has read to.
    read_mark: i64,
}

impl PartitionLog {
    fn end(&self) -> i64 {
        self.hot_base + self.records.len() as i64
    }

    /// Records retained: what a checkpoint has not yet released.
    fn len(&self) -> usize {
        usize::try_from(self.end() - self.base).unwrap_or(0)
    }

    /// Packs whole blocks of read records. Read records are needed again
    /// only by a consumer restarted from a checkpoint.
    fn freeze_read(&mut self) {
        while self.read_mark - self.hot_base >= BLOCK_RECORDS as i64 {
            let block = FrozenBlock::freeze(self.hot_base, self.records.drain(..BLOCK_RECORDS));
            self.hot_base = block.end();
            self.frozen.push_back(block);
        }
        self.shrink_hot();
    }

    /// Gives back the slots of a drained backlog. A backlog (the stream
    /// waiting for the first model, a restart reading from its checkpoint)
    /// grows `records` to the partition's capacity, about 6 MB of slots at
    /// the default 65 536, and a `VecDeque` keeps its largest size for
    /// good: every partition of every topic would hold its worst moment
    /// for the life of the process.
    fn shrink_hot(&mut self) {
        let needed = self.records.len().max(BLOCK_RECORDS);
        if self.records.capacity() > 4 * needed {
            self.records.shrink_to(2 * needed);
        }
    }

    /// Forgets records before `offset`.
    fn release(&mut self, offset: i64) {
        let offset = offset.min(self.end());
        if offset <= self.base {
            return;
        }
        self.base = offset;
        while self.frozen.front().is_some_and(|b| b.end() <= offset) {
            self.frozen.pop_front();
        }
        if offset > self.hot_base {
            let n = usize::try_from(offset - self.hot_base).unwrap_or(0);
            self.records.drain(..n.min(self.records.len()));
            self.hot_base = offset;
            self.shrink_hot();
        }
    }

    /// Appends to `out` at most `max` records from `position` on (at least
    /// `base`); returns how many.
    fn read_into(
        &self,
        tp: TopicPartition,
        mut position: i64,
        max: usize,
        out: &mut Vec<ConsumedRecord>,
    ) -> Result<usize, TransportError> {
        let mut taken = 0;
        while taken < max && position < self.hot_base {
            let i = self.frozen.partition_point(|b| b.end() <= position);
            let Some(block) = self.frozen.get(i).filter(|b| b.first() <= position) else {
                break;
            };
            let n = block.thaw_into(tp, position, max - taken, out)?;
            taken += n;
            position += n as i64;
        }
        let start = usize::try_from(position - self.hot_base).unwrap_or(usize::MAX);
        if taken < max && start < self.records.len() {
            for (i, r) in self.records.range(start..).take(max - taken).enumerate() {
                out.push(ConsumedRecord {
                    topic: tp.topic,
                    partition: tp.partition,
                    offset: position + i as i64,
                    key: Some(r.key.clone()),
                    value: r.value.clone(),
                    headers: r.headers.clone(),
                    timestamp_ms: r.timestamp_ms,
                });
                taken += 1;
            }
        }
        Ok(taken)
    }

    /// Heap bytes of the records retained (shared headers not counted).
    fn retained_bytes(&self) -> usize {
        let hot: usize = self
            .records
            .iter()
            .map(|r| r.key.len() + r.value.len() + size_of::<Stored>())
            .sum();
        hot + self
            .frozen
            .iter()
            .map(FrozenBlock::heap_bytes)
            .sum::<usize>()
    }
}

/// The in-process broker: every [`TopicKind`] with the same partition count.
pub struct EmbeddedBroker {
    partitions: u32,
    capacity: usize,
    topics: BTreeMap<TopicKind, Vec<Mutex<PartitionLog>>>,
    /// Woken on every append; consumers wait on it when caught up.
    data_ready: Notify,
    /// Woken on every commit; producers wait on it when a partition is full.
    space_ready: Notify,
    /// The lag of every consumer's partitions.
    lag: ConsumerLag,
}

impl EmbeddedBroker {
    pub fn new(partitions: u32, capacity: usize) -> Self {
        let partitions = partitions.max(1);
        let topics = TopicKind::ALL
            .into_iter()
            .map(|kind| {
                let logs = (0..partitions)
                    .map(|_| Mutex::new(PartitionLog::default()))
                    .collect();
                (kind, logs)
            })
            .collect();
        Self {
            partitions,
            capacity: capacity.max(1),
            topics,
            data_ready: Notify::new(),
            space_ready: Notify::new(),
            lag: ConsumerLag::default(),
        }
    }

    /// The lag of the partitions its consumers read.
    pub fn consumer_lag(&self) -> &ConsumerLag {
        &self.lag
    }

    pub fn partitions(&self, _topic: TopicKind) -> u32 {
        self.partitions
    }

    fn log(&self, tp: TopicPartition) -> Result<&Mutex<PartitionLog>, TransportError> {
        self.topics
            .get(&tp.topic)
            .and_then(|logs| usize::try_from(tp.partition).ok().and_then(|p| logs.get(p)))
            .ok_or(TransportError::UnknownPartition {
                topic: tp.topic,
                partition: tp.partition,
            })
    }

    /// Appends to the key's partition, waiting while it is full. Returns
    /// (partition, offset).
    pub async fn append(
        &self,
        topic: TopicKind,
        record: OutgoingRecord,
    ) -> Result<(i32, i64), TransportError> {
        let partition = partition_for(&record.key, self.partitions);
        let log = self.log(TopicPartition { topic, partition })?;
        let mut record = Some(record);
        loop {
            let space = self.space_ready.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            {
                let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                if log.len() < self.capacity {
                    let Some(r) = record.take() else {
                        return Err(TransportError::Closed);
                    };
                    log.records.push_back(Stored {
                        key: r.key,
                        value: r.value,
                        headers: r.headers,
                        timestamp_ms: r.timestamp_ms,
                    });
                    let offset = log.end() - 1;
                    drop(log);
                    self.data_ready.notify_waiters();
                    return Ok((partition, offset));
                }
            }
            space.await;
        }
    }

    /// Heap bytes of the records every partition of `topic` retains.
    pub fn retained_bytes(&self, topic: TopicKind) -> usize {
        self.topics.get(&topic).map_or(0, |logs| {
            logs.iter()
                .map(|log| {
                    log.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .retained_bytes()
                })
                .sum()
        })
    }

    /// First and next-to-be-written offsets of a partition.
    pub fn offsets(&self, tp: TopicPartition) -> Result<(i64, i64), TransportError> {
        let log = self.log(tp)?.lock().unwrap_or_else(|p| p.into_inner());
        Ok((log.base, log.end()))
    }

    /// Forgets records before `offset` (they are durable elsewhere).
    fn release(&self, tp: TopicPartition, offset: i64) {
        let Ok(log) = self.log(tp) else { return };
        log.lock()
            .unwrap_or_else(|p| p.into_inner())
            .release(offset);
        self.space_ready.notify_waiters();
    }

    /// Copies up to `max` records from `position`; moves a position that
    /// points before the retained data to the earliest retained offset.
    fn read(
        &self,
        tp: TopicPartition,
        position: &mut i64,
        max: usize,
        out: &mut Vec<ConsumedRecord>,
    ) -> Result<(), TransportError> {
        let mut log = self.log(tp)?.lock().unwrap_or_else(|p| p.into_inner());
        if *position < log.base {
            tracing::warn!(
                topic = %tp.topic,
                partition = tp.partition,
                "offset {} is no longer retained, resetting to earliest ({})",
                *position,
                log.base
            );
            count_offset_reset(tp);
            *position = log.base;
        }
        let taken = log.read_into(tp, *position, max, out)?;
        *position += taken as i64;
        if *position > log.read_mark {
            log.read_mark = *position;
            log.freeze_read();
        }
        Ok(())
    }
}

/// A producer handle: the broker plus its metric handles.
#[derive(Clone)]
pub struct EmbeddedProducer {
    broker: std::sync::Arc<EmbeddedBroker>,
    sent: FlowCounters,
}

impl EmbeddedProducer {
    pub fn new(broker: std::sync::Arc<EmbeddedBroker>) -> Self {
        Self {
            broker,
            sent: FlowCounters::sent(),
        }
    }

    /// Appends to the key's partition (waiting while it is full) and counts it.
    pub async fn send(
        &self,
        topic: TopicKind,
        record: OutgoingRecord,
    ) -> Result<(), TransportError> {
        let bytes = record_bytes(record.key.len(), record.value.len());
        self.broker.append(topic, record).await?;
        self.sent.add(topic, 1, bytes);
        Ok(())
    }
}

/// A consumer of the embedded broker.
pub struct EmbeddedConsumer {
    broker: std::sync::Arc<EmbeddedBroker>,
    /// Assigned partitions with the next offset to read.
    positions: Vec<(TopicPartition, i64)>,
    max_batch: usize,
    /// Where the next round-robin pass starts, so no partition starves.
    next: usize,
    consumed: FlowCounters,
    /// One per entry of `positions`.
    lag_gauges: Vec<LagGauge>,
}

impl EmbeddedConsumer {
    pub fn new(
        broker: std::sync::Arc<EmbeddedBroker>,
        subscription: Subscription,
    ) -> Result<Self, TransportError> {
        let mut positions = Vec::new();
        for topic in &subscription.topics {
            let partitions: Vec<i32> = match &subscription.partitions {
                Some(list) => list.clone(),
                None => (0..broker.partitions(*topic) as i32).collect(),
            };
            for partition in partitions {
                let tp = TopicPartition {
                    topic: *topic,
                    partition,
                };
                let (earliest, latest) = broker.offsets(tp)?;
                let position = match subscription.positions.get(&tp) {
                    Some(p) => *p,
                    None => match subscription.default_start {
                        StartFrom::Earliest => earliest,
                        StartFrom::Latest => latest,
                    },
                };
                positions.push((tp, position));
            }
        }
        let lag_gauges = positions
            .iter()
            .map(|(tp, _)| broker.lag.gauge(*tp))
            .collect();
        Ok(Self {
            broker,
            positions,
            max_batch: subscription.max_batch.max(1),
            next: 0,
            consumed: FlowCounters::consumed(),
            lag_gauges,
        })
    }

    pub async fn recv(&mut self) -> Result<Vec<ConsumedRecord>, TransportError> {
        if self.positions.is_empty() {
            // Nothing assigned: wait forever (until the task is cancelled).
            std::future::pending::<()>().await;
        }
        loop {
            let ready = self.broker.data_ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            let mut batch = Vec::new();
            let n = self.positions.len();
            for i in 0..n {
                let left = self.max_batch - batch.len();
                if left == 0 {
                    break;
                }
                let (tp, position) = &mut self.positions[(self.next + i) % n];
                self.broker.read(*tp, position, left, &mut batch)?;
            }
            self.next = (self.next + 1) % n;
            if !batch.is_empty() {
                self.publish(&batch);
                return Ok(batch);
            }
            ready.await;
        }
    }

    /// Counts a handed-out batch and refreshes every assigned partition's
    /// lag gauge.
    fn publish(&self, batch: &[ConsumedRecord]) {
        for r in batch {
            let key = r.key.as_ref().map_or(0, Bytes::len);
            self.consumed
                .add(r.topic, 1, record_bytes(key, r.value.len()));
        }
        for ((tp, position), gauge) in self.positions.iter().zip(&self.lag_gauges) {
            if let Ok((_, end)) = self.broker.offsets(*tp) {
                gauge.set(end - position);
            }
        }
    }

    pub fn positions(&self) -> BTreeMap<TopicPartition, i64> {
        self.positions.iter().copied().collect()
    }

    pub fn commit(&self, positions: &BTreeMap<TopicPartition, i64>) {
        for (tp, offset) in positions {
            self.broker.release(*tp, *offset);
        }
    }

    /// Every assigned partition with its position and the log's end now.
    pub fn progress(&self) -> BTreeMap<TopicPartition, PartitionProgress> {
        self.positions
            .iter()
            .map(|(tp, position)| {
                let end = self.broker.offsets(*tp).ok().map(|(_, end)| end);
                (
                    *tp,
                    PartitionProgress {
                        position: Some(*position),
                        end,
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Subscription;
    use std::sync::Arc;
    use std::time::Duration;

    /// A consumer of every readings partition from the earliest offset.
    fn reader(broker: &Arc<EmbeddedBroker>) -> EmbeddedConsumer {
        EmbeddedConsumer::new(
            broker.clone(),
            Subscription::from_earliest(&[TopicKind::Readings]),
        )
        .unwrap()
    }

    fn record(key: &str, n: u32) -> OutgoingRecord {
        OutgoingRecord::json(key.to_string(), n.to_string(), i64::from(n))
    }

    #[tokio::test]
    async fn records_arrive_in_partition_order_with_offsets() {
        let broker = Arc::new(EmbeddedBroker::new(3, 1000));
        for n in 0..300u32 {
            broker
                .append(TopicKind::Readings, record(&format!("dev-{}", n % 7), n))
                .await
                .unwrap();
        }
        let mut consumer = reader(&broker);
        let mut seen = Vec::new();
        while seen.len() < 300 {
            seen.extend(consumer.recv().await.unwrap());
        }
        for p in 0..3 {
            let offsets: Vec<i64> = seen
                .iter()
                .filter(|r| r.partition == p)
                .map(|r| r.offset)
                .collect();
            let expected: Vec<i64> = (0..offsets.len() as i64).collect();
            assert_eq!(
                offsets, expected,
                "partition {p} offsets are dense and ordered"
            );
        }
        for r in &seen {
            let key = r.key.as_ref().unwrap();
            assert_eq!(r.partition, partition_for(key, 3), "key on its partition");
        }
        assert!(
            consumer
                .progress()
                .values()
                .all(PartitionProgress::caught_up)
        );
    }

    #[tokio::test]
    async fn full_partition_makes_producer_wait_until_commit() {
        let broker = Arc::new(EmbeddedBroker::new(1, 2));
        broker
            .append(TopicKind::Readings, record("k", 0))
            .await
            .unwrap();
        broker
            .append(TopicKind::Readings, record("k", 1))
            .await
            .unwrap();
        let producer = broker.clone();
        let third =
            tokio::spawn(async move { producer.append(TopicKind::Readings, record("k", 2)).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !third.is_finished(),
            "producer waits while the partition is full"
        );
        let mut consumer = reader(&broker);
        let batch = consumer.recv().await.unwrap();
        assert_eq!(batch.len(), 2);
        consumer.commit(&consumer.positions());
        let (partition, offset) = tokio::time::timeout(Duration::from_secs(1), third)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!((partition, offset), (0, 2));
    }

    #[tokio::test]
    async fn restarted_consumer_rereads_from_a_stored_position() {
        let broker = Arc::new(EmbeddedBroker::new(1, 100));
        for n in 0..10 {
            broker
                .append(TopicKind::Readings, record("k", n))
                .await
                .unwrap();
        }
        let tp = TopicPartition {
            topic: TopicKind::Readings,
            partition: 0,
        };
        let mut first = reader(&broker);
        first.recv().await.unwrap();
        first.commit(&BTreeMap::from([(tp, 4)]));
        let mut sub = Subscription::from_earliest(&[TopicKind::Readings]);
        sub.positions.insert(tp, 4);
        let mut second = EmbeddedConsumer::new(broker.clone(), sub).unwrap();
        let batch = second.recv().await.unwrap();
        assert_eq!(batch.first().map(|r| r.offset), Some(4));
        assert_eq!(batch.len(), 6);
        let mut sub = Subscription::from_earliest(&[TopicKind::Readings]);
        sub.positions.insert(tp, 1);
        let mut stale = EmbeddedConsumer::new(broker, sub).unwrap();
        let batch = stale.recv().await.unwrap();
        assert_eq!(
            batch.first().map(|r| r.offset),
            Some(4),
            "released offsets reset to earliest"
        );
    }

    #[tokio::test]
    async fn read_records_wait_compressed_and_a_restart_reads_them_again() {
        let broker = Arc::new(EmbeddedBroker::new(1, 100_000));
        for n in 0..5_000u32 {
            let value = format!(
                "{{\"device_id\":\"dev-{}\",\"seq\":{n},\"temperature_c\":{}.{}}}",
                n % 40,
                20 + n % 3,
                n % 10
            );
            let record = OutgoingRecord::json(format!("dev-{}", n % 40), value, i64::from(n));
            broker.append(TopicKind::Readings, record).await.unwrap();
        }
        let unread = broker.retained_bytes(TopicKind::Readings);
        let mut first = reader(&broker);
        let mut seen = Vec::new();
        while seen.len() < 5_000 {
            seen.extend(first.recv().await.unwrap());
        }
        let read = broker.retained_bytes(TopicKind::Readings);
        assert!(
            read * 3 < unread,
            "{read} bytes retained once read, {unread} before"
        );
        let tp = TopicPartition {
            topic: TopicKind::Readings,
            partition: 0,
        };
        // A checkpoint covers part of a block.
        first.commit(&BTreeMap::from([(tp, 1_500)]));
        assert_eq!(broker.offsets(tp).unwrap(), (1_500, 5_000));
        let mut sub = Subscription::from_earliest(&[TopicKind::Readings]);
        sub.positions.insert(tp, 1_500);
        let mut restarted = EmbeddedConsumer::new(broker.clone(), sub).unwrap();
        let mut again = Vec::new();
        while again.len() < 3_500 {
            again.extend(restarted.recv().await.unwrap());
        }
        let fields = |r: &ConsumedRecord| {
            (
                r.offset,
                r.key.clone(),
                r.value.clone(),
                r.headers.clone(),
                r.timestamp_ms,
            )
        };
        assert_eq!(
            again.iter().map(fields).collect::<Vec<_>>(),
            seen[1_500..].iter().map(fields).collect::<Vec<_>>()
        );
        // Frozen records still count against the capacity until released.
        let small = Arc::new(EmbeddedBroker::new(1, 2_000));
        for n in 0..2_000 {
            small
                .append(TopicKind::Readings, record("k", n))
                .await
                .unwrap();
        }
        let mut consumer = reader(&small);
        let mut n = 0;
        while n < 2_000 {
            n += consumer.recv().await.unwrap().len();
        }
        let blocked = tokio::time::timeout(
            Duration::from_millis(50),
            small.append(TopicKind::Readings, record("k", 2_000)),
        )
        .await;
        assert!(blocked.is_err(), "a full partition holds its producer");
    }

    #[tokio::test]
    async fn a_drained_backlog_gives_its_slots_back() {
        let broker = Arc::new(EmbeddedBroker::new(1, 100_000));
        let tp = TopicPartition {
            topic: TopicKind::Readings,
            partition: 0,
        };
        let slots =
            |broker: &EmbeddedBroker| broker.log(tp).unwrap().lock().unwrap().records.capacity();
        for n in 0..50_000u32 {
            broker
                .append(TopicKind::Readings, record("k", n))
                .await
                .unwrap();
        }
        assert!(slots(&broker) >= 50_000);
        let mut consumer = reader(&broker);
        let mut n = 0;
        while n < 50_000 {
            n += consumer.recv().await.unwrap().len();
        }
        // Read records are frozen into blocks: their slots go already.
        assert!(
            slots(&broker) <= 4 * BLOCK_RECORDS,
            "{} slots once read",
            slots(&broker)
        );
        consumer.commit(&BTreeMap::from([(tp, 50_000)]));
        assert!(slots(&broker) <= 4 * BLOCK_RECORDS);
        // The log takes a full backlog again afterwards.
        for n in 0..50_000u32 {
            broker
                .append(TopicKind::Readings, record("k", n))
                .await
                .unwrap();
        }
        let mut again = 0;
        while again < 50_000 {
            again += consumer.recv().await.unwrap().len();
        }
        assert_eq!(broker.offsets(tp).unwrap(), (50_000, 100_000));
    }

    #[tokio::test]
    async fn waiting_consumer_wakes_on_append() {
        let broker = Arc::new(EmbeddedBroker::new(2, 100));
        let mut consumer = EmbeddedConsumer::new(
            broker.clone(),
            Subscription::from_earliest(&[TopicKind::RoomEvents]),
        )
        .unwrap();
        let reader = tokio::spawn(async move { consumer.recv().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        broker
            .append(TopicKind::RoomEvents, record("h/r", 1))
            .await
            .unwrap();
        let batch = tokio::time::timeout(Duration::from_secs(1), reader)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(batch.len(), 1);
    }
}
