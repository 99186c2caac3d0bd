//! The sinks stage, last in the pipeline: sends every result to its
//! outputs and completes checkpoints.
//!
//! * Alerts, window results and dead letters go to the web rings and (with
//!   the Kafka transport) their topics at once; file rows are buffered.
//! * Full buffers, and everything buffered at a barrier, go to the
//!   [`Writer`] thread, which stages them as part files; at a barrier it
//!   then writes the checkpoint (positions + every stage's state snapshot)
//!   atomically, publishes the staged files, and lets the source commit the
//!   positions — Flink's two-phase commit, so each row lands in the final
//!   folders exactly once even across a crash.

use super::files::PartFiles;
use super::store_sink::StoreSink;
use super::writer::{CheckpointJob, Job, Rows, Writer, WriterContext};
use super::{AlertEvent, LiveViews, SinksConfig};
use crate::stream::checkpoint::{CheckpointId, CheckpointSize, CheckpointStore};
use crate::stream::in_flight::InFlight;
use crate::stream::message::{Barrier, Batch, Item, Msg};
use crate::supervisor::{SharedReceiver, TaskContext, TaskError, TaskReport, TaskResult};
use crate::telemetry::histogram::LiveHistogram;
use crate::telemetry::names;
use crate::transport::{OutgoingRecord, Producer, TopicKind, TopicPartition};
use std::collections::BTreeMap;
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
    /// Longest time (µs) from a barrier reaching the sinks stage to its
    /// checkpoint being durable (the benchmark prints it).
    pub checkpoint_max_us: AtomicU64,
    /// Size of the latest checkpoint and of each stage's state in it.
    pub checkpoint_size: std::sync::Mutex<CheckpointSize>,
    /// End-to-end latency of every batch (received → sinks), the same
    /// observations as `smokewatch_end_to_end_latency_seconds`, readable
    /// in-process for the dashboard.
    pub latency: LiveHistogram,
}

/// Everything the sinks stage needs.
pub struct SinkStage {
    pub config: SinksConfig,
    pub files: Option<PartFiles>,
    pub live: LiveViews,
    /// Set when results also go to Kafka topics.
    pub producer: Option<Producer>,
    pub progress: Arc<Progress>,
    /// Copies of alert events (benchmarks measure latency with it).
    pub alert_tap: Option<mpsc::UnboundedSender<(Instant, AlertEvent)>>,
    /// `transport` or `replay`, the label of processed-reading counts.
    pub source_label: &'static str,
    /// The id the next barrier carries (the last one handed to the writer + 1).
    pub next_id: CheckpointId,
    /// File rows not yet handed to the writer.
    rows: Rows,
    in_flight: Option<InFlight>,
    writer: WriterContext,
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
        let writer = WriterContext {
            store,
            files: files.clone(),
            history: None,
            csv: config.csv,
            parquet: config.parquet,
            completed: Arc::new(completed),
            progress: progress.clone(),
            files_published: Arc::new(AtomicU64::new(0)),
            running: Arc::default(),
        };
        Self {
            config,
            files,
            live,
            producer,
            progress,
            alert_tap: None,
            source_label,
            next_id,
            rows: Rows::default(),
            in_flight: None,
            writer,
        }
    }

    /// Gives each batch's source records back to the in-flight bound once
    /// the batch is handled (`stream.max_in_flight`).
    pub fn with_in_flight(mut self, in_flight: InFlight) -> Self {
        self.in_flight = Some(in_flight);
        self
    }

    /// Also appends the cleaned readings to the history store, staged and
    /// published with the checkpoints (`batch.stream_append`).
    pub fn with_history(mut self, history: StoreSink) -> Self {
        self.writer.history = Some(history);
        self
    }

    /// The task body: runs until the input closes.
    pub async fn run(&mut self, ctx: TaskContext, input: SharedReceiver<Msg>) -> TaskResult {
        let mut input = input.lock().await;
        ctx.health.running();
        let mut writer = Writer::start(self.writer.clone());
        let pumped = self.pump(&mut input, &mut writer).await;
        // Joined on every path: what was handed over is written (or has
        // failed) before this stage ends or is restarted.
        let finished = writer.finish().await;
        pumped.and(finished)?;
        let last = self.progress.checkpoint.load(Ordering::Relaxed);
        Ok(TaskReport::new(format!(
            "sinks flushed: {} part files published, last checkpoint {}",
            self.writer.files_published.load(Ordering::Relaxed),
            if last == 0 {
                "none".to_string()
            } else {
                last.to_string()
            }
        )))
    }

    async fn pump(
        &mut self,
        input: &mut tokio::sync::mpsc::Receiver<Msg>,
        writer: &mut Writer,
    ) -> Result<(), TaskError> {
        while let Some(msg) = input.recv().await {
            match msg {
                Msg::Data(batch) => self.on_batch(batch, writer).await?,
                Msg::Barrier(barrier) => self.on_barrier(barrier, writer).await?,
                Msg::Trigger | Msg::EndOfInput | Msg::Progress(_) => {}
            }
        }
        Ok(())
    }

    async fn on_batch(&mut self, mut batch: Batch, writer: &mut Writer) -> Result<(), TaskError> {
        let readings = batch
            .items
            .iter()
            .filter(|i| matches!(i, Item::Reading(_)))
            .count() as u64;
        let events = batch.items.len() as u64 - readings;
        metrics::counter!(names::STREAM_RECORDS, "stage" => "sinks")
            .increment(batch.items.len() as u64);
        let dead_letters = batch.dead_letters.len() as u64;
        // Counted now, published below with the progress counters.
        let mut dead_by_reason: Vec<(String, u64)> = Vec::new();
        count_by(
            &batch.dead_letters,
            |d| d.reason.as_str(),
            |reason, n| dead_by_reason.push((reason.to_string(), n)),
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
        self.live.record_dead_letters(&batch.dead_letters);
        if let Some(tap) = &self.alert_tap {
            let now = Instant::now();
            for a in &batch.alerts {
                let _ = tap.send((now, a.clone()));
            }
        }
        self.send_to_kafka(&batch).await?;
        let p = &self.progress;
        p.window_results
            .fetch_add(batch.window_results.len() as u64, Ordering::Relaxed);
        p.alert_events
            .fetch_add(batch.alerts.len() as u64, Ordering::Relaxed);
        if self.writer.history.is_some() {
            self.rows
                .readings
                .extend(batch.items.iter().filter_map(|i| match i {
                    Item::Reading(r) => Some(r.reading.clone()),
                    Item::RoomEvent(_) => None,
                }));
            // Bounded memory: a file's worth of readings goes to the writer.
            if self.rows.readings.len() >= self.config.max_rows_per_file {
                let rows = Rows {
                    readings: std::mem::take(&mut self.rows.readings),
                    ..Rows::default()
                };
                let id = self.next_id;
                writer.send(Job::Stage { id, rows }).await?;
            }
        }
        if self.files.is_some() {
            self.rows.windows.append(&mut batch.window_results);
            self.rows.alerts.append(&mut batch.alerts);
            self.rows.dead.append(&mut batch.dead_letters);
            // Bounded memory: a file's worth of rows goes to the writer.
            if self.rows.len() >= self.config.max_rows_per_file {
                let rows = std::mem::take(&mut self.rows);
                let id = self.next_id;
                writer.send(Job::Stage { id, rows }).await?;
            }
        }
        // The exported counters and the progress counters the dashboard
        // reads move together, once the batch is through the sinks.
        let p = &self.progress;
        metrics::counter!(names::READINGS_PROCESSED, "source" => self.source_label)
            .increment(readings);
        p.readings.fetch_add(readings, Ordering::Relaxed);
        for (reason, n) in dead_by_reason {
            metrics::counter!(names::DEAD_LETTERS, "reason" => reason).increment(n);
        }
        p.dead_letters.fetch_add(dead_letters, Ordering::Relaxed);
        p.room_events.fetch_add(events, Ordering::Relaxed);
        let latency = batch.received.elapsed().as_secs_f64();
        metrics::histogram!(names::END_TO_END_LATENCY).record(latency);
        p.latency.record(latency);
        if let Some(in_flight) = &self.in_flight {
            in_flight.release(batch.source_records);
        }
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

    /// Hands everything buffered and the checkpoint to the writer. The
    /// stage goes on with the next batch while the writer encodes and
    /// writes; the source learns of the checkpoint from the writer.
    async fn on_barrier(&mut self, barrier: Barrier, writer: &mut Writer) -> Result<(), TaskError> {
        let started = Instant::now();
        let id = barrier.id;
        if !self.rows.is_empty() {
            let rows = std::mem::take(&mut self.rows);
            writer.send(Job::Stage { id, rows }).await?;
        }
        if let Some(producer) = &self.producer {
            producer.flush().await?;
        }
        writer
            .send(Job::Checkpoint(CheckpointJob {
                id,
                positions: barrier.positions,
                parts: barrier.parts,
                is_final: barrier.is_final,
                started,
            }))
            .await?;
        self.next_id = CheckpointId(id.0 + 1);
        Ok(())
    }
}

/// Counts `items` by `label` and reports each count once (metric macros
/// with labels cost a lookup each; a batch can carry thousands of rows).
fn count_by<'a, T, L: Ord + Copy + 'a>(
    items: &'a [T],
    label: impl Fn(&'a T) -> L,
    mut report: impl FnMut(L, u64),
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
