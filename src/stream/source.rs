//! The consume task (a `Role::Source`): reads raw records from the
//! transport (or a replay file), injects checkpoint barriers and update
//! triggers between batches, and commits positions once the sinks stage
//! reports a checkpoint written.
//!
//! It also tells the stages where it stands ([`SourceProgress`]: every
//! assigned partition and whether it has caught up with its log's end)
//! before the first batch, whenever that changes, and on a timer, because
//! only the source knows a partition that has not delivered yet from one
//! with nothing to deliver; the watermark needs exactly that. A record
//! larger than `stream.validate.max_record_bytes` is refused here, before
//! it travels through the stages, and dead-lettered with a bounded prefix.
//!
//! At shutdown it sends a final barrier and drops its sender, so the
//! stages drain, the sinks flush and the final checkpoint is written. The
//! drain is short at any load because the source hands over a batch only
//! when the records in flight leave room for it ([`InFlight`]).

use super::in_flight::InFlight;
use super::message::{Barrier, Batch, Msg, Origin, SourceProgress};
use super::replay::ReplayReader;
use crate::stream::checkpoint::CheckpointId;
use crate::stream::sinks::stage::Completed;
use crate::stream::sinks::{DeadLetter, PayloadLimit};
use crate::supervisor::{TaskContext, TaskError, TaskReport, TaskResult};
use crate::transport::{ConsumedRecord, Consumer, Subscription, TopicPartition, Transport};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Where the records come from.
pub enum Input {
    /// The transport, read as `subscription` says (built from
    /// `kafka.consumer`: start offsets where no checkpoint gives a position).
    Transport {
        transport: Transport,
        subscription: Subscription,
    },
    Replay {
        path: PathBuf,
        rate: u64,
    },
}

/// What the source needs, shared across its restarts.
pub struct SourceSettings {
    pub input: Input,
    pub batch_size: usize,
    pub checkpoint_interval: Duration,
    /// `None`: append mode, no triggers.
    pub trigger_interval: Option<Duration>,
    /// How often the source reports its progress even when nothing changed
    /// (drives the watermark's idleness; a fraction of `window.idle_timeout`).
    pub progress_interval: Duration,
    /// Read what the transport holds, then end the input (every window
    /// closes) instead of waiting for more (`stream.source.stop_at_end`).
    pub stop_at_end: bool,
    /// Records larger than this are refused before they enter the stages.
    pub max_record_bytes: usize,
    /// How much of a refused record its dead letter keeps.
    pub payload_limit: PayloadLimit,
    /// Room for records between the source and the sinks
    /// (`stream.max_in_flight`).
    pub in_flight: InFlight,
    /// Positions after the last batch handed to the stages and the last
    /// barrier id used, so a restarted source continues exactly there.
    pub sent: std::sync::Mutex<Option<Resume>>,
}

/// Where a (re)started source begins: the latest completed checkpoint.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    pub last_id: CheckpointId,
    pub positions: BTreeMap<TopicPartition, i64>,
}

enum Reader {
    Consumer(Consumer),
    Replay(ReplayReader),
}

impl Reader {
    async fn recv(&mut self) -> Result<Option<Vec<ConsumedRecord>>, TaskError> {
        match self {
            Reader::Consumer(c) => Ok(Some(c.recv().await?)),
            Reader::Replay(r) => r.next_batch().await.map_err(TaskError::from),
        }
    }

    fn positions(&self) -> BTreeMap<TopicPartition, i64> {
        match self {
            Reader::Consumer(c) => c.positions(),
            Reader::Replay(r) => r.positions(),
        }
    }

    /// Every assigned partition and whether it has caught up; a replay
    /// (one file, in order) and a consumer whose assignment is not known
    /// yet report none.
    fn progress(&self) -> SourceProgress {
        let partitions = match self {
            Reader::Consumer(c) => c
                .progress()
                .map(|all| all.into_iter().map(|(tp, p)| (tp, p.caught_up())).collect()),
            Reader::Replay(_) => None,
        };
        SourceProgress { partitions }
    }

    fn commit(&self, positions: &BTreeMap<TopicPartition, i64>) {
        if let Reader::Consumer(c) = self {
            c.commit(positions);
        }
    }
}

/// The consume task body.
pub async fn run_source(
    ctx: TaskContext,
    settings: &SourceSettings,
    output: mpsc::Sender<Msg>,
    mut completed: watch::Receiver<Option<Completed>>,
    resume: Resume,
) -> TaskResult {
    // A restarted source continues after the last batch it handed over
    // (the stages hold everything before it), not at the checkpoint.
    let resume = settings
        .sent
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or(resume);
    let mut reader = match &settings.input {
        Input::Transport {
            transport,
            subscription,
        } => {
            let mut sub = subscription.clone();
            sub.positions = resume.positions.clone();
            sub.max_batch = settings.batch_size;
            Reader::Consumer(transport.consumer(sub).await?)
        }
        Input::Replay { path, rate } => Reader::Replay(ReplayReader::open(
            path,
            *rate,
            settings.batch_size,
            &resume.positions,
        )?),
    };
    ctx.health.running();
    let mut next_id = resume.last_id.0 + 1;
    let mut checkpoints = tokio::time::interval_at(
        tokio::time::Instant::now() + settings.checkpoint_interval,
        settings.checkpoint_interval,
    );
    checkpoints.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let trigger_every = settings
        .trigger_interval
        .unwrap_or(Duration::from_secs(3600));
    let mut triggers =
        tokio::time::interval_at(tokio::time::Instant::now() + trigger_every, trigger_every);
    triggers.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut progress_ticks = tokio::time::interval(settings.progress_interval);
    progress_ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reported: Option<SourceProgress> = None;
    let send = |msg| async {
        output
            .send(msg)
            .await
            .map_err(|_| TaskError::new("the validate stage is gone"))
    };
    let (mut records, mut batches) = (0u64, 0u64);
    let mut exhausted = false;
    let mut acks_open = true;
    // Positions of a batch kept back at a stop (see below).
    let mut held_back = None;
    loop {
        let before = reader.positions();
        tokio::select! {
            biased;
            _ = ctx.shutdown.cancelled() => break,
            changed = completed.changed(), if acks_open => {
                if changed.is_err() {
                    acks_open = false;
                } else if let Some(c) = completed.borrow_and_update().as_ref() {
                    reader.commit(&c.positions);
                }
            }
            _ = checkpoints.tick() => {
                send(Msg::Barrier(Barrier {
                    id: CheckpointId(next_id),
                    positions: reader.positions(),
                    parts: Vec::new(),
                    is_final: false,
                }))
                .await?;
                next_id += 1;
                remember(settings, next_id, reader.positions());
            }
            _ = triggers.tick(), if settings.trigger_interval.is_some() => {
                send(Msg::Trigger).await?;
            }
            _ = progress_ticks.tick(), if !exhausted => {
                let progress = reader.progress();
                let at_end = settings.stop_at_end && all_caught_up(&progress);
                reported = Some(progress.clone());
                send(Msg::Progress(progress)).await?;
                if at_end {
                    exhausted = true;
                    let why = "transport read to its end (stream.source.stop_at_end)";
                    end_input(&send, &mut next_id, settings, &reader, records, why).await?;
                }
            }
            batch = reader.recv(), if !exhausted => match batch? {
                Some(input) => {
                    let n = input.len() as u64;
                    // Room in the pipeline first (`stream.max_in_flight`),
                    // so a stop drains quickly at any load. A stop while
                    // waiting keeps this batch back: the final barrier
                    // carries the positions before it, and the next run
                    // reads it again.
                    let room = tokio::select! {
                        biased;
                        _ = ctx.shutdown.cancelled() => false,
                        _ = settings.in_flight.reserve(n) => true,
                    };
                    if !room {
                        held_back = Some(before);
                        break;
                    }
                    records += n;
                    batches += 1;
                    let progress = progress_before(reader.progress(), &input);
                    if reported.as_ref() != Some(&progress) {
                        reported = Some(progress.clone());
                        send(Msg::Progress(progress)).await?;
                    }
                    let mut batch = Batch::new(Instant::now());
                    batch.source_records = n;
                    refuse_oversized(input, settings.max_record_bytes, settings.payload_limit, &mut batch);
                    send(Msg::Data(batch)).await?;
                    remember(settings, next_id, reader.positions());
                }
                None => {
                    exhausted = true;
                    let why = "replay finished";
                    end_input(&send, &mut next_id, settings, &reader, records, why).await?;
                }
            },
        }
    }
    let positions = held_back.unwrap_or_else(|| reader.positions());
    send(Msg::Barrier(Barrier {
        id: CheckpointId(next_id),
        positions: positions.clone(),
        parts: Vec::new(),
        is_final: true,
    }))
    .await?;
    remember(settings, next_id + 1, positions);
    Ok(TaskReport::new(format!(
        "consumer stopped after {records} records in {batches} batches; final checkpoint {next_id} requested \
         behind {} records in flight (bound {})",
        settings.in_flight.records(),
        settings.in_flight.limit()
    )))
}

/// End of a bounded input: every window closes, then a checkpoint keeps it.
async fn end_input<F, Fut>(
    send: &F,
    next_id: &mut u64,
    settings: &SourceSettings,
    reader: &Reader,
    records: u64,
    why: &str,
) -> Result<(), TaskError>
where
    F: Fn(Msg) -> Fut,
    Fut: std::future::Future<Output = Result<(), TaskError>>,
{
    tracing::info!(records, "{why}: end of input, closing every window");
    send(Msg::EndOfInput).await?;
    send(Msg::Barrier(Barrier {
        id: CheckpointId(*next_id),
        positions: reader.positions(),
        parts: Vec::new(),
        is_final: false,
    }))
    .await?;
    *next_id += 1;
    remember(settings, *next_id, reader.positions());
    Ok(())
}

/// The progress the stages must see before `input`: a partition with
/// records in it was behind until they were handed out (the stages learn
/// that it caught up after they have its records, never before).
fn progress_before(mut progress: SourceProgress, input: &[ConsumedRecord]) -> SourceProgress {
    if let Some(all) = progress.partitions.as_mut() {
        for record in input {
            if let Some(caught_up) = all.get_mut(&record.topic_partition()) {
                *caught_up = false;
            }
        }
    }
    progress
}

/// True when the source knows every partition it reads and each has been
/// read to its end.
fn all_caught_up(progress: &SourceProgress) -> bool {
    progress
        .partitions
        .as_ref()
        .is_some_and(|all| !all.is_empty() && all.values().all(|caught_up| *caught_up))
}

/// Moves `input` into `batch`, refusing records over the size limit: their
/// dead letter keeps a bounded prefix, and the large buffer is dropped here.
fn refuse_oversized(
    input: Vec<ConsumedRecord>,
    max_record_bytes: usize,
    limit: PayloadLimit,
    batch: &mut Batch,
) {
    if input.iter().all(|r| r.value.len() <= max_record_bytes) {
        batch.input = input;
        return;
    }
    batch.input.reserve(input.len());
    for record in input {
        if record.value.len() <= max_record_bytes {
            batch.input.push(record);
            continue;
        }
        let origin = Origin {
            topic: record.topic,
            partition: record.partition,
            offset: record.offset,
        };
        batch.dead_letters.push(DeadLetter::new(
            "too_large",
            format!(
                "the record has {} bytes; stream.validate.max_record_bytes allows {}",
                record.value.len(),
                max_record_bytes
            ),
            origin,
            &record.value,
            limit,
        ));
    }
}

fn remember(settings: &SourceSettings, next_id: u64, positions: BTreeMap<TopicPartition, i64>) {
    *settings.sent.lock().unwrap_or_else(|p| p.into_inner()) = Some(Resume {
        last_id: CheckpointId(next_id - 1),
        positions,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::TopicKind;

    fn record(offset: i64, bytes: usize) -> ConsumedRecord {
        ConsumedRecord {
            topic: TopicKind::Readings,
            partition: 2,
            offset,
            key: None,
            value: vec![b'x'; bytes].into(),
            headers: crate::transport::json_headers(),
            timestamp_ms: 0,
        }
    }

    #[test]
    fn oversized_records_are_refused_before_the_stages_with_a_bounded_dead_letter() {
        let mut batch = Batch::new(Instant::now());
        let input = vec![record(0, 300), record(1, 1_000_000), record(2, 300)];
        refuse_oversized(input, 256 * 1024, PayloadLimit::new(64 * 1024), &mut batch);
        let offsets: Vec<i64> = batch.input.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [0, 2]);
        let dead = &batch.dead_letters;
        assert_eq!(dead.len(), 1);
        assert_eq!((dead[0].reason.as_str(), dead[0].offset), ("too_large", 1));
        assert_eq!(dead[0].payload_bytes, 1_000_000);
        let written = serde_json::to_vec(&dead[0]).unwrap();
        assert!(written.len() <= 64 * 1024, "{} bytes", written.len());
    }

    #[test]
    fn a_partition_with_records_in_the_batch_is_reported_behind_until_they_are_through() {
        let tp = |partition| TopicPartition {
            topic: TopicKind::Readings,
            partition,
        };
        let progress = SourceProgress {
            partitions: Some(BTreeMap::from([(tp(1), true), (tp(2), true)])),
        };
        let before = progress_before(progress, &[record(5, 10)]);
        let partitions = before.partitions.unwrap();
        assert!(partitions[&tp(1)], "no records of partition 1 in the batch");
        assert!(
            !partitions[&tp(2)],
            "partition 2's records are not through yet"
        );
    }
}
