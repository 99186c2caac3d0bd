//! The dashboard feed: once a second one sampler builds a [`Snapshot`] of
//! the daemon's live figures, keeps the last few minutes of them (so a page
//! opened now draws its charts at once), and publishes the newest to every
//! Server-Sent Events client. One sampler for any number of clients: rates
//! are computed once, between consecutive samples.
//!
//! The snapshot is a JSON object of sections; clients ignore what they do
//! not know, so a section added later (stream windows, rooms, alerts) does
//! not break an open page.

use super::stats::{WebCounts, WebStats};
use crate::schema::Channel;
use crate::stream::KeyKind;
use crate::stream::sinks::{Measure, WindowName};
use crate::supervisor::queue::QueueDepth;
use crate::supervisor::{Overall, TaskState};
use crate::telemetry::histogram::quantile_between;
use crate::web::Deps;
use chrono::Utc;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often a snapshot is taken and pushed.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);
/// Snapshots kept for clients that connect later: 5 minutes.
pub const HISTORY_LEN: usize = 300;

/// One task's line on the Health page.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRow {
    /// Task name, e.g. `stream/windows`; the row's identity on the Health page.
    pub task: String,
    /// Subsystem the task belongs to, e.g. `stream` or `web`.
    pub subsystem: &'static str,
    /// Current life-cycle state, shown as a coloured pill.
    pub state: TaskState,
    /// Why it is degraded or failed, or what it reported when it stopped; `None` otherwise.
    pub detail: Option<String>,
    /// Times the task has failed since the daemon started (each counts as a restart).
    pub restarts: u32,
    /// When `state` last changed (or the task was registered), ms since the Unix epoch.
    pub since_ms: i64,
}

/// The web layer's own traffic.
#[derive(Debug, Clone, Serialize)]
pub struct WebFigures {
    /// The web counters at this sample, flattened into this object.
    #[serde(flatten)]
    pub counts: WebCounts,
    /// Requests answered per second since the previous sample (0 on the first);
    /// the dashboard's throughput chart.
    pub requests_per_second: f64,
    /// Readings scored by the predict API per second since the previous sample
    /// (0 on the first).
    pub predictions_per_second: f64,
}

/// Pipeline figures, from the stream's progress counters, the transport's
/// consumer lag and the live views: the same observations the exported
/// metrics count, read in-process. A figure is `None` when it cannot be
/// known (shown as "—", never as a made-up zero); `unavailable` then says
/// why (the stream is switched off).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PipelineFigures {
    /// Why the stream's figures are missing, e.g. `stream.enabled: false`.
    pub unavailable: Option<String>,
    /// Readings that went through every stream stage since start.
    pub readings_processed_total: Option<f64>,
    /// Over the last [`RATE_SPAN`] samples.
    pub readings_per_second: Option<f64>,
    /// Median end-to-end latency of the batches finished in the last
    /// [`RATE_SPAN`] samples; `None` when none finished.
    pub end_to_end_latency_seconds: Option<f64>,
    /// Records the stream refused as dead letters since start.
    pub dead_letters_total: Option<f64>,
    /// Records behind, summed over partitions.
    pub consumer_lag: Option<f64>,
    /// Alerts open now in the stream's live view.
    pub open_alerts: Option<u64>,
}

/// The live state of one room (dashboard table).
#[derive(Debug, Clone, Serialize)]
pub struct RoomRow {
    /// Home id, e.g. `h1`.
    pub home: String,
    /// Room id within the home, e.g. `kitchen`.
    pub room: String,
    /// Latest PM2.5 of the room's detector(s), µg/m³.
    pub smoke_pm2_5: Option<f64>,
    /// Light on, from the room's light sensor; `None` until it has reported.
    pub light: Option<bool>,
    /// Somebody present, from the presence sensor; `None` until it has reported.
    pub presence: Option<bool>,
    /// Latest room-sensor temperature, °C; `None` until it has reported.
    pub temperature: Option<f64>,
    /// Latest ML fire probability (0–1) of the room's detector(s); `None` until
    /// one is scored. The dashboard flags 0.5 and above.
    pub fire_probability: Option<f64>,
    /// Event time of the latest update, ms since the epoch.
    pub updated_ms: Option<i64>,
}

/// One closed tumbling window of one room and measure (dashboard charts).
#[derive(Debug, Clone, Serialize)]
pub struct WindowPoint {
    /// End of the window (event time), ms since the Unix epoch; the chart's x value.
    pub end_ms: i64,
    /// Home id of the room.
    pub home: String,
    /// Room id within the home.
    pub room: String,
    /// Channel key, one of [`CHART_MEASURES`]: `pm2_5` or `temperature_c`.
    pub measure: &'static str,
    /// Mean of the room's readings in the window, in the channel's unit (µg/m³ or °C).
    pub avg: f64,
    /// Highest value in the window, in the channel's unit.
    pub max: f64,
}

/// The measures the dashboard charts per window.
pub const CHART_MEASURES: [Measure; 2] = [
    Measure::Channel(Channel::Pm2_5),
    Measure::Channel(Channel::Temperature),
];

/// Samples over which rates and the latency median are computed.
pub const RATE_SPAN: usize = 5;

/// Everything the dashboard shows at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// Increases by one per sample; the SSE event id.
    pub seq: u64,
    /// Wall-clock time of the sample, ms since the Unix epoch.
    pub at_ms: i64,
    /// Seconds since the sampler started, i.e. since the web server started.
    pub uptime_seconds: f64,
    /// Overall verdict, as `/health` reports it.
    pub status: Overall,
    /// Why `status` is not `ok`: one line per failed, degraded or starting task.
    pub reasons: Vec<String>,
    /// Number of tasks in each state.
    pub task_states: BTreeMap<&'static str, usize>,
    /// Every supervised task, one Health page row each.
    pub tasks: Vec<TaskRow>,
    /// Subsystems switched off in the config (they have no task rows).
    pub off: Vec<OffRow>,
    /// Fill level of every open bounded channel; the dashboard sums the depths.
    pub queues: Vec<QueueDepth>,
    /// Version of the model served now; `None` when none is loaded.
    pub model_version: Option<String>,
    /// Requests, predictions and SSE clients of the web server itself.
    pub web: WebFigures,
    /// Stream throughput, latency, lag and open alerts; `None` figures while it is off.
    pub pipeline: PipelineFigures,
    /// Latest state of every room; `None` while the stream is off, and in
    /// every snapshot of the history but the newest (see [`Feed::publish`]).
    pub rooms: Option<Vec<RoomRow>>,
    /// Closed room windows not sent in an earlier snapshot, oldest first.
    pub windows: Vec<WindowPoint>,
    /// Batches of window results the stream emitted since start (the
    /// Windows page refetches the current windows when it moves); `None`
    /// while the stream is off.
    pub window_updates: Option<u64>,
}

/// A subsystem switched off in the config.
#[derive(Debug, Clone, Serialize)]
pub struct OffRow {
    /// Name of the switched-off subsystem, e.g. `ml` or `batch`.
    pub subsystem: &'static str,
    /// The key that switched it off.
    pub detail: String,
}

/// The sampler's output: the newest snapshot and a short history.
#[derive(Clone)]
pub struct Feed {
    latest: Arc<watch::Sender<Option<Arc<Snapshot>>>>,
    history: Arc<Mutex<VecDeque<Arc<Snapshot>>>>,
}

impl Default for Feed {
    fn default() -> Self {
        Self {
            latest: Arc::new(watch::Sender::new(None)),
            history: Arc::new(Mutex::new(VecDeque::with_capacity(HISTORY_LEN))),
        }
    }
}

impl Feed {
    /// A receiver that sees every later snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<Snapshot>>> {
        self.latest.subscribe()
    }

    /// Snapshots newer than `after` (all when `None`), oldest first.
    pub fn history_after(&self, after: Option<u64>) -> Vec<Arc<Snapshot>> {
        let history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        history
            .iter()
            .filter(|s| after.is_none_or(|seq| s.seq > seq))
            .cloned()
            .collect()
    }

    fn publish(&self, snapshot: Snapshot) {
        let snapshot = Arc::new(snapshot);
        {
            let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
            if history.len() == HISTORY_LEN {
                history.pop_front();
            }
            // Only the newest snapshot keeps the rooms table: pages draw
            // it from the newest and their charts from the others, and
            // 300 copies of every room's row were most of the daemon's
            // memory at 10 000 rooms.
            if let Some(previous) = history.back_mut()
                && previous.rooms.is_some()
            {
                *previous = Arc::new(Snapshot {
                    rooms: None,
                    ..Snapshot::clone(previous)
                });
            }
            history.push_back(snapshot.clone());
        }
        self.latest.send_replace(Some(snapshot));
    }
}

/// The stream's cumulative figures at one sample.
#[derive(Debug, Clone)]
struct PipelineTotals {
    readings_processed: u64,
    /// End-to-end latency, cumulative per bucket.
    latency: Vec<u64>,
}

/// Takes snapshots until `shutdown`.
pub struct Sampler {
    deps: Deps,
    stats: Arc<WebStats>,
    feed: Feed,
    started: Instant,
    previous: Option<(Instant, WebCounts)>,
    /// The last [`RATE_SPAN`] + 1 pipeline totals, oldest first.
    totals: VecDeque<(Instant, PipelineTotals)>,
    /// Keys of window results already sent.
    windows_sent: HashSet<String>,
    seq: u64,
}

impl Sampler {
    pub fn new(deps: Deps, stats: Arc<WebStats>, feed: Feed) -> Self {
        Self {
            deps,
            stats,
            feed,
            started: Instant::now(),
            previous: None,
            totals: VecDeque::with_capacity(RATE_SPAN + 1),
            windows_sent: HashSet::new(),
            seq: 0,
        }
    }

    /// Samples every [`SAMPLE_INTERVAL`] until cancelled.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => self.sample(),
            }
        }
    }

    /// Takes one snapshot and publishes it.
    pub fn sample(&mut self) {
        let now = Instant::now();
        let counts = self.stats.counts();
        let (requests_per_second, predictions_per_second) = match self.previous {
            Some((then, before)) => {
                let secs = now.duration_since(then).as_secs_f64().max(1e-3);
                (
                    (counts.requests_total - before.requests_total) as f64 / secs,
                    (counts.predictions_total - before.predictions_total) as f64 / secs,
                )
            }
            None => (0.0, 0.0),
        };
        self.previous = Some((now, counts));
        self.seq += 1;
        let report = self.deps.health.report();
        let mut task_states: BTreeMap<&'static str, usize> =
            TaskState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        let mut tasks = Vec::new();
        let mut off = Vec::new();
        for (name, subsystem) in &report.subsystems {
            if subsystem.state == TaskState::Off {
                off.push(OffRow {
                    subsystem: name,
                    detail: subsystem.detail.clone().unwrap_or_default(),
                });
            }
            for (name, status) in &subsystem.tasks {
                *task_states.entry(status.state.as_str()).or_default() += 1;
                tasks.push(TaskRow {
                    task: name.clone(),
                    subsystem: status.subsystem,
                    state: status.state,
                    detail: status.detail.clone(),
                    restarts: status.restarts,
                    since_ms: status.since.timestamp_millis(),
                });
            }
        }
        let pipeline = self.pipeline(now);
        let rooms = self.rooms();
        let windows = self.new_windows();
        self.feed.publish(Snapshot {
            seq: self.seq,
            at_ms: Utc::now().timestamp_millis(),
            uptime_seconds: now.duration_since(self.started).as_secs_f64(),
            status: report.status,
            reasons: report.reasons,
            task_states,
            tasks,
            off,
            queues: self.deps.queues.depths(),
            model_version: self.deps.model.version().map(|v| v.to_string()),
            web: WebFigures {
                counts,
                requests_per_second,
                predictions_per_second,
            },
            pipeline,
            rooms,
            windows,
            window_updates: self
                .deps
                .sections
                .stream_enabled
                .then(|| self.deps.live.window_updates()),
        });
    }

    fn pipeline(&mut self, now: Instant) -> PipelineFigures {
        let Some(progress) = self
            .deps
            .progress
            .as_ref()
            .filter(|_| self.deps.sections.stream_enabled)
        else {
            return PipelineFigures {
                unavailable: Some("the stream is switched off (stream.enabled: false)".into()),
                ..PipelineFigures::default()
            };
        };
        let totals = PipelineTotals {
            readings_processed: progress.readings.load(Ordering::Relaxed),
            latency: progress.latency.cumulative(),
        };
        if self.totals.len() > RATE_SPAN {
            self.totals.pop_front();
        }
        self.totals.push_back((now, totals.clone()));
        let (readings_per_second, latency) = match self.totals.front() {
            Some((then, old)) if self.totals.len() > 1 => {
                let secs = now.duration_since(*then).as_secs_f64().max(1e-3);
                let processed = totals
                    .readings_processed
                    .saturating_sub(old.readings_processed);
                let p50 = quantile_between(&old.latency, &totals.latency, 0.5);
                (Some(processed as f64 / secs), p50)
            }
            _ => (None, None),
        };
        PipelineFigures {
            unavailable: None,
            readings_processed_total: Some(totals.readings_processed as f64),
            readings_per_second,
            end_to_end_latency_seconds: latency,
            dead_letters_total: Some(progress.dead_letters.load(Ordering::Relaxed) as f64),
            consumer_lag: self.deps.transport.consumer_lag().total(),
            open_alerts: Some(self.deps.live.open_alerts().len() as u64),
        }
    }

    fn rooms(&self) -> Option<Vec<RoomRow>> {
        if !self.deps.sections.stream_enabled {
            return None;
        }
        let rows = self
            .deps
            .live
            .rooms()
            .into_iter()
            .map(|r| RoomRow {
                home: r.home.to_string(),
                room: r.room.to_string(),
                smoke_pm2_5: r.smoke_pm2_5,
                light: r.light,
                presence: r.presence,
                temperature: r.temperature,
                fire_probability: r.fire_probability,
                updated_ms: r.updated.map(|t| t.millis()),
            })
            .collect();
        Some(rows)
    }

    fn new_windows(&mut self) -> Vec<WindowPoint> {
        let mut fresh: Vec<WindowPoint> = Vec::new();
        for w in self.deps.live.recent_windows() {
            let charted = w.is_final
                && w.window == WindowName::Tumbling
                && w.key_kind == KeyKind::Room
                && CHART_MEASURES.contains(&w.measure);
            if !charted || !self.windows_sent.insert(w.key()) {
                continue;
            }
            fresh.push(WindowPoint {
                end_ms: w.end.millis(),
                home: w.home.to_string(),
                room: w.room.to_string(),
                measure: w.measure.as_str(),
                avg: w.avg,
                max: w.max,
            });
        }
        // The live ring holds at most `sinks.ring_capacity` results; keys
        // older than that can never come back, so forget them now and then.
        if self.windows_sent.len() > 20 * self.deps.sections.ring_capacity.max(1) {
            self.windows_sent.clear();
        }
        fresh.sort_by_key(|p| p.end_ms);
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(seq: u64) -> Snapshot {
        Snapshot {
            seq,
            at_ms: 0,
            uptime_seconds: 0.0,
            status: Overall::Ok,
            reasons: Vec::new(),
            task_states: BTreeMap::new(),
            tasks: Vec::new(),
            off: Vec::new(),
            queues: Vec::new(),
            model_version: None,
            web: WebFigures {
                counts: WebCounts::default(),
                requests_per_second: 0.0,
                predictions_per_second: 0.0,
            },
            pipeline: PipelineFigures::default(),
            rooms: Some(vec![RoomRow {
                home: "h1".into(),
                room: "kitchen".into(),
                smoke_pm2_5: Some(seq as f64),
                light: None,
                presence: None,
                temperature: None,
                fire_probability: None,
                updated_ms: None,
            }]),
            windows: Vec::new(),
            window_updates: Some(seq),
        }
    }

    #[test]
    fn only_the_newest_snapshot_of_the_history_keeps_the_rooms_table() {
        let feed = Feed::default();
        for seq in 1..=HISTORY_LEN as u64 + 5 {
            feed.publish(snapshot(seq));
        }
        let history = feed.history_after(None);
        assert_eq!(history.len(), HISTORY_LEN);
        let (newest, older) = history.split_last().unwrap();
        assert_eq!(newest.seq, HISTORY_LEN as u64 + 5);
        assert_eq!(
            newest.rooms.as_ref().unwrap()[0].smoke_pm2_5,
            Some(newest.seq as f64)
        );
        assert!(older.iter().all(|s| s.rooms.is_none()));
        // The chart figures of older snapshots are kept.
        assert!(older.iter().all(|s| s.window_updates == Some(s.seq)));
        let latest = feed.subscribe().borrow().clone().unwrap();
        assert!(Arc::ptr_eq(&latest, newest));
    }
}
