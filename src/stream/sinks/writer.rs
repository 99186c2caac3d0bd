//! The sinks' writer thread. Everything the sinks stage hands over that
//! costs CPU time in bulk or waits for the disk — encoding rows as CSV and
//! Parquet, staging part files, encoding the stages' state snapshots,
//! writing the checkpoint, publishing — runs here, in order, so the stage
//! (an async task on one of the runtime's few worker threads) never stalls
//! the pipeline on an encoder or an fsync.
//!
//! Order is what keeps the two-phase commit correct: rows staged for
//! checkpoint N are on disk before checkpoint N is written, and the source
//! is told to commit only once it is. The job queue is bounded, so a writer
//! that falls behind slows the stage down instead of growing memory.

use super::files::PartFiles;
use super::stage::{Completed, Progress};
use super::store_sink::StoreSink;
use super::{AlertEvent, DeadLetter, WindowResult, encode};
use crate::schema::{EventTime, SmokeReading};
use crate::stream::checkpoint::{CheckpointId, CheckpointSize, CheckpointStore};
use crate::stream::message::StatePart;
use crate::supervisor::TaskError;
use crate::telemetry::names;
use crate::transport::TopicPartition;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::{mpsc, watch};

/// Rows waiting to be written as part files.
#[derive(Debug, Default)]
pub struct Rows {
    pub windows: Vec<WindowResult>,
    pub alerts: Vec<AlertEvent>,
    pub dead: Vec<DeadLetter>,
    /// Cleaned readings for the history store (`batch.stream_append`);
    /// flushed on their own count, not part of [`Rows::len`].
    pub readings: Vec<SmokeReading>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.windows.len() + self.alerts.len() + self.dead.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0 && self.readings.is_empty()
    }
}

/// A checkpoint to complete: the barrier's positions and state snapshots.
pub struct CheckpointJob {
    pub id: CheckpointId,
    pub positions: BTreeMap<TopicPartition, i64>,
    pub parts: Vec<StatePart>,
    pub is_final: bool,
    /// When the barrier reached the sinks stage (for the duration metric).
    pub started: Instant,
}

/// Work for the writer, done in the order sent.
pub enum Job {
    /// Write `rows` as part files staged for checkpoint `id`.
    Stage {
        id: CheckpointId,
        rows: Rows,
    },
    Checkpoint(CheckpointJob),
}

/// What the writer needs; shared across restarts of the sinks stage.
#[derive(Clone)]
pub struct WriterContext {
    pub store: CheckpointStore,
    pub files: Option<PartFiles>,
    /// The history store, when the stream appends its readings to it.
    pub history: Option<StoreSink>,
    pub csv: bool,
    pub parquet: bool,
    pub completed: Arc<watch::Sender<Option<Completed>>>,
    pub progress: Arc<Progress>,
    /// Part files published so far (for the stage's report).
    pub files_published: Arc<AtomicU64>,
    /// Held by the running writer thread for its whole life. A writer
    /// started after a restart of the stage (perhaps after a panic that
    /// could not join the old one) waits for it, so there is never more
    /// than one writer and checkpoints are written in id order.
    pub running: Arc<std::sync::Mutex<()>>,
}

/// Handle of a running writer thread.
pub struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    /// `None` once joined (a join handle must not be awaited twice).
    done: Option<tokio::task::JoinHandle<Result<(), TaskError>>>,
    /// The writer's error once joined, returned again by `finish`.
    failed: Option<TaskError>,
}

/// Jobs queued at most; each can hold a file's worth of rows.
const QUEUE: usize = 4;

impl Writer {
    /// Starts the writer on a blocking thread of the runtime.
    pub fn start(ctx: WriterContext) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
        let done = tokio::task::spawn_blocking(move || {
            let _only_writer = ctx.running.lock().unwrap_or_else(|p| p.into_inner());
            while let Some(job) = rx.blocking_recv() {
                match job {
                    Job::Stage { id, rows } => stage_rows(&ctx, id, rows)?,
                    Job::Checkpoint(job) => complete_checkpoint(&ctx, job)?,
                }
            }
            Ok(())
        });
        Self {
            jobs: Some(tx),
            done: Some(done),
            failed: None,
        }
    }

    /// Queues a job (waits while the queue is full). Fails with the
    /// writer's own error when it has stopped on one.
    pub async fn send(&mut self, job: Job) -> Result<(), TaskError> {
        if let Some(jobs) = &self.jobs
            && jobs.send(job).await.is_ok()
        {
            return Ok(());
        }
        let error = match self.join().await {
            Err(e) => e,
            Ok(()) => TaskError::new("the sink writer has stopped"),
        };
        self.failed = Some(TaskError::new(error.to_string()));
        Err(error)
    }

    /// Waits until every queued job is done.
    pub async fn finish(mut self) -> Result<(), TaskError> {
        self.join().await?;
        match self.failed.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Closes the queue and waits for the thread (once).
    async fn join(&mut self) -> Result<(), TaskError> {
        self.jobs = None;
        match self.done.take() {
            Some(done) => done
                .await
                .map_err(|e| TaskError::new(format!("the sink writer failed: {e}")))?,
            None => Ok(()),
        }
    }
}

/// Groups rows by folder and writes each group as part files.
fn stage_rows(ctx: &WriterContext, id: CheckpointId, mut rows: Rows) -> Result<(), TaskError> {
    let readings = std::mem::take(&mut rows.readings);
    if let Some(history) = &ctx.history {
        history.stage(id, &readings)?;
    }
    let Some(files) = &ctx.files else {
        return Ok(());
    };
    let windows = by_folder(
        rows.windows,
        |w| w.start,
        |t| format!("window_results/{}", folder(t, "date=%Y-%m-%d/hour=%H")),
    );
    for (folder, rows) in windows {
        if ctx.csv {
            files.stage(id, &folder, "csv", &encode::windows_csv(&rows)?)?;
        }
        if ctx.parquet {
            files.stage(id, &folder, "parquet", &encode::windows_parquet(&rows)?)?;
        }
    }
    let alerts = by_folder(
        rows.alerts,
        |a| a.alert.event_time,
        |t| format!("alerts/{}", folder(t, "date=%Y-%m-%d")),
    );
    for (folder, rows) in alerts {
        if ctx.csv {
            files.stage(id, &folder, "csv", &encode::alerts_csv(&rows)?)?;
        }
        if ctx.parquet {
            files.stage(id, &folder, "parquet", &encode::alerts_parquet(&rows)?)?;
        }
    }
    let mut dead: BTreeMap<PathBuf, Vec<DeadLetter>> = BTreeMap::new();
    for d in rows.dead {
        let folder = PathBuf::from(format!("dead_letters/topic={}", d.topic.as_str()));
        dead.entry(folder).or_default().push(d);
    }
    for (folder, rows) in dead {
        files.stage(id, &folder, "jsonl", &encode::dead_letters_jsonl(&rows)?)?;
    }
    Ok(())
}

/// Splits `rows` (in order) by the folder of their time; the folder text
/// is formatted once per run of rows in the same folder.
fn by_folder<T>(
    rows: Vec<T>,
    time: impl Fn(&T) -> EventTime,
    name: impl Fn(EventTime) -> String,
) -> BTreeMap<PathBuf, Vec<T>> {
    let mut out: BTreeMap<PathBuf, Vec<T>> = BTreeMap::new();
    let mut last: Option<(EventTime, PathBuf)> = None;
    for row in rows {
        let t = time(&row);
        let folder = match &last {
            // Folders are at least an hour wide: same hour, same folder.
            Some((lt, f))
                if lt.millis().div_euclid(3_600_000) == t.millis().div_euclid(3_600_000) =>
            {
                f.clone()
            }
            _ => {
                let f = PathBuf::from(name(t));
                last = Some((t, f.clone()));
                f
            }
        };
        out.entry(folder).or_default().push(row);
    }
    out
}

fn folder(t: EventTime, pattern: &str) -> String {
    match t.to_datetime() {
        Some(d) => d.format(pattern).to_string(),
        None => "date=unknown".to_string(),
    }
}

/// Encodes the snapshots, writes the checkpoint, publishes the part files
/// staged for it, and tells the source it may commit.
fn complete_checkpoint(ctx: &WriterContext, mut job: CheckpointJob) -> Result<(), TaskError> {
    let result = write_checkpoint(ctx, &mut job);
    let published = match result {
        Ok(v) => v,
        Err(e) => {
            metrics::counter!(names::CHECKPOINTS, "outcome" => "failed").increment(1);
            return Err(e);
        }
    };
    let (size, published) = published;
    ctx.files_published
        .fetch_add(published as u64, Ordering::Relaxed);
    metrics::counter!(names::SINK_FILES, "sink" => "all").increment(published as u64);
    metrics::counter!(names::CHECKPOINTS, "outcome" => "written").increment(1);
    metrics::gauge!(names::CHECKPOINT_SIZE).set(size.bytes as f64);
    for (stage, bytes) in &size.parts {
        metrics::gauge!(names::CHECKPOINT_STATE_SIZE, "stage" => stage.clone()).set(*bytes as f64);
    }
    let took = job.started.elapsed();
    metrics::histogram!(names::CHECKPOINT_DURATION).record(took.as_secs_f64());
    let took_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    ctx.progress
        .checkpoint_max_us
        .fetch_max(took_us, Ordering::Relaxed);
    ctx.progress.checkpoint.store(job.id.0, Ordering::Relaxed);
    tracing::debug!(checkpoint = %job.id, bytes = size.bytes, files = published, "checkpoint written");
    *ctx.progress
        .checkpoint_size
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = size;
    ctx.completed.send_replace(Some(Completed {
        id: job.id,
        positions: job.positions,
        is_final: job.is_final,
    }));
    Ok(())
}

fn write_checkpoint(
    ctx: &WriterContext,
    job: &mut CheckpointJob,
) -> Result<(CheckpointSize, usize), TaskError> {
    // Every part encoded first (most already are, by the snapshot encoder),
    // each snapshot released as soon as it is: the staged files' fsync
    // below can take seconds, and a snapshot still held then makes the
    // stages encode early every value they change meanwhile.
    let encoded = ctx.store.collect_parts(std::mem::take(&mut job.parts))?;
    if let Some(files) = &ctx.files {
        files.sync_staged()?;
    }
    let size = ctx.store.write_encoded(
        job.id,
        chrono::Utc::now().timestamp_millis(),
        &job.positions,
        encoded,
    )?;
    let mut published = match &ctx.files {
        Some(f) => f.publish_upto(job.id)?,
        None => 0,
    };
    if let Some(history) = &ctx.history {
        published += history.publish_upto(job.id)?;
    }
    Ok((size, published))
}
