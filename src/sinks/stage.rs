//! The sinks stage, last in the pipeline: sends every result to its
//! outputs and completes checkpoints.
//!
//! * Alerts, window results and dead letters go to the web rings and (with
//!   the Kafka transport) their topics at once; file rows are buffered.
//! * At a barrier the buffered rows are staged as part files, the
//!   checkpoint (positions + every stage's state) is written atomically,
//!   the staged files are published, and the source is told it may commit
//!   the positions — Flink's two-phase commit, so each row lands in the
//!   final folders exactly once even across a crash.

use super::files::PartFiles;
use super::{AlertEvent, DeadLetter, LiveViews, SinksConfig, WindowResult, encode};
use crate::checkpoint::{Checkpoint, CheckpointId, CheckpointStore};
use crate::model::EventTime;
use crate::stream::message::{Barrier, Batch, Item, Msg};
use crate::supervisor::{SharedReceiver, TaskContext, TaskError, TaskReport, TaskResult};
use crate::telemetry::names;
use crate::transport::{OutgoingRecord, Producer, TopicKind, TopicPartition};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::{mpsc, watch};

/// A completed checkpoint, for the source to commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Completed {
    pub id: CheckpointId,
    pub positions: BTreeMap<TopicPartition, i64>,
    pub is_final: bool,
}

/// Counters other parts (bench, tests, web) can watch.
#[derive(Debug, Default)]
pub struct Progress {
    /// Readings that went through every stage.
    pub readings: AtomicU64,
    pub room_events: AtomicU64,
    pub dead_letters: AtomicU64,
    pub window_results: AtomicU64,
    pub alert_events: AtomicU64,
    /// Id of the latest checkpoint written.
    pub checkpoint: AtomicU64,
}

/// Everything the sinks stage needs.
pub struct SinkStage {
    pub config: SinksConfig,
    pub files: Option<PartFiles>,
    pub store: CheckpointStore,
    pub live: LiveViews,
    /// Set when results also go to Kafka topics.
    pub producer: Option<Producer>,
    pub completed: watch::Sender<Option<Completed>>,
    pub progress: Arc<Progress>,
    /// Copies of alert events (benchmarks measure latency with it).
    pub alert_tap: Option<mpsc::UnboundedSender<(Instant, AlertEvent)>>,
    /// `transport` or `replay`, the label of processed-reading counts.
    pub source_label: &'static str,
    /// The id the next barrier carries (the last one written + 1).
    pub next_id: CheckpointId,
    windows: BTreeMap<PathBuf, Vec<WindowResult>>,
    alerts: BTreeMap<PathBuf, Vec<AlertEvent>>,
    dead: BTreeMap<PathBuf, Vec<DeadLetter>>,
    files_published: u64,
}

impl SinkStage {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: SinksConfig,
        store: CheckpointStore,
        live: LiveViews,
        producer: Option<Producer>,
        completed: watch::Sender<Option<Completed>>,
        progress: Arc<Progress>,
        source_label: &'static str,
        next_id: CheckpointId,
    ) -> Self {
        let files = config.enabled.then(|| PartFiles::new(config.dir.clone()));
        Self {
            config,
            files,
            store,
            live,
            producer,
            completed,
            progress,
            alert_tap: None,
            source_label,
            next_id,
            windows: BTreeMap::new(),
            alerts: BTreeMap::new(),
            dead: BTreeMap::new(),
            files_published: 0,
        }
    }

    /// The task body: runs until the input closes.
    pub async fn run(&mut self, ctx: TaskContext, input: SharedReceiver<Msg>) -> TaskResult {
        let mut input = input.lock().await;
        ctx.health.running();
        let mut last_written = None;
        while let Some(msg) = input.recv().await {
            match msg {
                Msg::Data(batch) => self.on_batch(batch).await?,
                Msg::Barrier(barrier) => {
                    let id = barrier.id;
                    self.on_barrier(barrier).await?;
                    last_written = Some(id);
                }
                Msg::Trigger | Msg::EndOfInput => {}
            }
        }
        Ok(TaskReport::new(format!(
            "sinks flushed: {} part files published, last checkpoint {}",
            self.files_published,
            last_written.map_or("none".to_string(), |id| id.to_string())
        )))
    }

    async fn on_batch(&mut self, batch: Batch) -> Result<(), TaskError> {
        let readings = batch
            .items
            .iter()
            .filter(|i| matches!(i, Item::Reading(_)))
            .count() as u64;
        let events = batch.items.len() as u64 - readings;
        metrics::counter!(names::READINGS_PROCESSED, "source" => self.source_label)
            .increment(readings);
        metrics::counter!(names::STREAM_RECORDS, "stage" => "sinks")
            .increment(batch.items.len() as u64);
        count_by(
            &batch.dead_letters,
            |d| d.reason.as_str(),
            |reason, n| {
                metrics::counter!(names::DEAD_LETTERS, "reason" => reason.to_string()).increment(n);
            },
        );
        count_by(
            &batch.window_results,
            |w| (w.key_kind.as_str(), w.window.as_str()),
            |(kind, window), n| {
                metrics::counter!(names::WINDOW_RESULTS, "kind" => kind, "window" => window)
                    .increment(n);
            },
        );
        for a in &batch.alerts {
            let change = match a.change {
                super::AlertChange::Opened => "opened",
                super::AlertChange::Escalated => "escalated",
                super::AlertChange::Resolved => "resolved",
            };
            metrics::counter!(names::ANOMALIES, "kind" => a.alert.kind.as_str(),
                "severity" => a.alert.severity.as_str(), "change" => change)
            .increment(1);
        }
        self.live.record_alerts(&batch.alerts);
        self.live.record_windows(&batch.window_results);
        if let Some(tap) = &self.alert_tap {
            let now = Instant::now();
            for a in &batch.alerts {
                let _ = tap.send((now, a.clone()));
            }
        }
        self.send_to_kafka(&batch).await?;
        if self.files.is_some() {
            // Results of one batch mostly share an hour: format its folder once.
            let mut cached: Option<(i64, PathBuf)> = None;
            for w in &batch.window_results {
                let hour = w.start.millis().div_euclid(3_600_000);
                let folder = match &cached {
                    Some((h, f)) if *h == hour => f.clone(),
                    _ => {
                        let f = PathBuf::from(format!("window_results/{}", hour_folder(w.start)));
                        cached = Some((hour, f.clone()));
                        f
                    }
                };
                self.windows.entry(folder).or_default().push(w.clone());
            }
            for a in &batch.alerts {
                let folder = PathBuf::from(format!("alerts/{}", day_folder(a.alert.event_time)));
                self.alerts.entry(folder).or_default().push(a.clone());
            }
            for d in &batch.dead_letters {
                let folder = PathBuf::from(format!("dead_letters/topic={}", d.topic.as_str()));
                self.dead.entry(folder).or_default().push(d.clone());
            }
            self.stage_full_buffers()?;
        }
        let p = &self.progress;
        p.dead_letters
            .fetch_add(batch.dead_letters.len() as u64, Ordering::Relaxed);
        p.window_results
            .fetch_add(batch.window_results.len() as u64, Ordering::Relaxed);
        p.alert_events
            .fetch_add(batch.alerts.len() as u64, Ordering::Relaxed);
        p.room_events.fetch_add(events, Ordering::Relaxed);
        p.readings.fetch_add(readings, Ordering::Relaxed);
        metrics::histogram!(names::END_TO_END_LATENCY)
            .record(batch.received.elapsed().as_secs_f64());
        Ok(())
    }

    async fn send_to_kafka(&self, batch: &Batch) -> Result<(), TaskError> {
        let Some(producer) = &self.producer else {
            return Ok(());
        };
        for a in &batch.alerts {
            let value = serde_json::to_vec(a)?;
            let record = OutgoingRecord::json(
                a.event_id().to_string(),
                value,
                a.alert.last_event_time.millis(),
            );
            producer.send(TopicKind::Alerts, record).await?;
        }
        for w in &batch.window_results {
            let value = serde_json::to_vec(w)?;
            producer
                .send(
                    TopicKind::WindowResults,
                    OutgoingRecord::json(w.key(), value, w.end.millis()),
                )
                .await?;
        }
        for d in &batch.dead_letters {
            let value = serde_json::to_vec(d)?;
            let key = format!("{}/{}/{}", d.topic.as_str(), d.partition, d.offset);
            producer
                .send(TopicKind::DeadLetters, OutgoingRecord::json(key, value, 0))
                .await?;
        }
        Ok(())
    }

    /// Stages buffers that reached `max_rows_per_file` (bounded memory).
    fn stage_full_buffers(&mut self) -> Result<(), TaskError> {
        let limit = self.config.max_rows_per_file;
        let full = self.windows.values().any(|v| v.len() >= limit)
            || self.alerts.values().any(|v| v.len() >= limit)
            || self.dead.values().any(|v| v.len() >= limit);
        if full {
            self.stage_all(self.next_id)
        } else {
            Ok(())
        }
    }

    /// Writes every buffered row as part files staged for checkpoint `id`.
    fn stage_all(&mut self, id: CheckpointId) -> Result<(), TaskError> {
        let Some(files) = &self.files else {
            return Ok(());
        };
        let (csv, parquet) = (self.config.csv, self.config.parquet);
        for (folder, rows) in std::mem::take(&mut self.windows) {
            if csv {
                files.stage(id, &folder, "csv", &encode::windows_csv(&rows)?)?;
            }
            if parquet {
                files.stage(id, &folder, "parquet", &encode::windows_parquet(&rows)?)?;
            }
        }
        for (folder, rows) in std::mem::take(&mut self.alerts) {
            if csv {
                files.stage(id, &folder, "csv", &encode::alerts_csv(&rows)?)?;
            }
            if parquet {
                files.stage(id, &folder, "parquet", &encode::alerts_parquet(&rows)?)?;
            }
        }
        for (folder, rows) in std::mem::take(&mut self.dead) {
            files.stage(id, &folder, "jsonl", &encode::dead_letters_jsonl(&rows)?)?;
        }
        Ok(())
    }

    async fn on_barrier(&mut self, barrier: Barrier) -> Result<(), TaskError> {
        let started = Instant::now();
        let id = barrier.id;
        self.stage_all(id)?;
        if let Some(producer) = &self.producer {
            producer.flush().await?;
        }
        let checkpoint = Checkpoint {
            id,
            created_ms: chrono::Utc::now().timestamp_millis(),
            positions: barrier.positions.clone(),
            parts: barrier
                .parts
                .into_iter()
                .map(|(stage, bytes)| (stage.to_string(), serde_bytes::ByteBuf::from(bytes)))
                .collect(),
        };
        let store = self.store.clone();
        let files = self.files.clone();
        let written = tokio::task::spawn_blocking(move || -> Result<(u64, usize), TaskError> {
            let size = store.write(&checkpoint)?;
            let published = match files {
                Some(f) => f.publish_upto(id)?,
                None => 0,
            };
            Ok((size, published))
        })
        .await
        .map_err(|e| TaskError::new(format!("checkpoint writer: {e}")));
        let (size, published) = match written.and_then(|r| r) {
            Ok(v) => v,
            Err(e) => {
                metrics::counter!(names::CHECKPOINTS, "outcome" => "failed").increment(1);
                return Err(e);
            }
        };
        self.files_published += published as u64;
        metrics::counter!(names::SINK_FILES, "sink" => "all").increment(published as u64);
        metrics::counter!(names::CHECKPOINTS, "outcome" => "written").increment(1);
        metrics::gauge!(names::CHECKPOINT_SIZE).set(size as f64);
        metrics::histogram!(names::CHECKPOINT_DURATION).record(started.elapsed().as_secs_f64());
        self.progress.checkpoint.store(id.0, Ordering::Relaxed);
        self.next_id = CheckpointId(id.0 + 1);
        tracing::debug!(checkpoint = %id, bytes = size, files = published, "checkpoint written");
        self.completed.send_replace(Some(Completed {
            id,
            positions: barrier.positions,
            is_final: barrier.is_final,
        }));
        Ok(())
    }
}

/// Counts `items` by `label` and reports each count once (metric macros
/// with labels cost a lookup each; a batch can carry thousands of rows).
fn count_by<'a, T, L: Ord + Copy + 'a>(
    items: &'a [T],
    label: impl Fn(&'a T) -> L,
    report: impl Fn(L, u64),
) {
    if items.is_empty() {
        return;
    }
    let mut counts: BTreeMap<L, u64> = BTreeMap::new();
    for item in items {
        *counts.entry(label(item)).or_default() += 1;
    }
    for (l, n) in counts {
        report(l, n);
    }
}

fn hour_folder(t: EventTime) -> String {
    match t.to_datetime() {
        Some(d) => d.format("date=%Y-%m-%d/hour=%H").to_string(),
        None => "date=unknown".to_string(),
    }
}

fn day_folder(t: EventTime) -> String {
    match t.to_datetime() {
        Some(d) => d.format("date=%Y-%m-%d").to_string(),
        None => "date=unknown".to_string(),
    }
}
