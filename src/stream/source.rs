//! The consume task (a `Role::Source`): reads raw records from the
//! transport (or a replay file), injects checkpoint barriers and update
//! triggers between batches, and commits positions once the sinks stage
//! reports a checkpoint written.
//!
//! At shutdown it sends a final barrier and drops its sender, so the
//! stages drain, the sinks flush and the final checkpoint is written.

use super::message::{Barrier, Batch, Msg};
use super::replay::ReplayReader;
use crate::checkpoint::CheckpointId;
use crate::sinks::stage::Completed;
use crate::supervisor::{TaskContext, TaskError, TaskReport, TaskResult};
use crate::transport::{ConsumedRecord, Consumer, Subscription, TopicPartition, Transport};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
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

    /// Partitions whose watermarks count (a replay's one partition needs none).
    fn assigned(&self) -> Arc<[TopicPartition]> {
        match self {
            Reader::Consumer(c) => c.positions().into_keys().collect(),
            Reader::Replay(_) => Arc::from(Vec::new()),
        }
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
    let assigned = reader.assigned();
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
    let send = |msg| async {
        output
            .send(msg)
            .await
            .map_err(|_| TaskError::new("the validate stage is gone"))
    };
    let (mut records, mut batches) = (0u64, 0u64);
    let mut exhausted = false;
    let mut acks_open = true;
    loop {
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
            batch = reader.recv(), if !exhausted => match batch? {
                Some(input) => {
                    records += input.len() as u64;
                    batches += 1;
                    let mut batch = Batch::new(Instant::now());
                    batch.input = input;
                    batch.assigned = assigned.clone();
                    send(Msg::Data(batch)).await?;
                    remember(settings, next_id, reader.positions());
                }
                None => {
                    exhausted = true;
                    tracing::info!(records, "replay finished: end of input, closing every window");
                    send(Msg::EndOfInput).await?;
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
            },
        }
    }
    send(Msg::Barrier(Barrier {
        id: CheckpointId(next_id),
        positions: reader.positions(),
        parts: Vec::new(),
        is_final: true,
    }))
    .await?;
    remember(settings, next_id + 1, reader.positions());
    Ok(TaskReport::new(format!(
        "consumer stopped after {records} records in {batches} batches; final checkpoint {next_id} requested"
    )))
}

fn remember(settings: &SourceSettings, next_id: u64, positions: BTreeMap<TopicPartition, i64>) {
    *settings.sent.lock().unwrap_or_else(|p| p.into_inner()) = Some(Resume {
        last_id: CheckpointId(next_id - 1),
        positions,
    });
}
