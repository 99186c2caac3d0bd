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
use crate::daemon::Shared;
use crate::supervisor::queue::QueueDepth;
use crate::supervisor::{Overall, TaskState};
use chrono::Utc;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
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
    pub task: String,
    pub subsystem: &'static str,
    pub state: TaskState,
    pub detail: Option<String>,
    pub restarts: u32,
    pub since_ms: i64,
}

/// The web layer's own traffic.
#[derive(Debug, Clone, Serialize)]
pub struct WebFigures {
    #[serde(flatten)]
    pub counts: WebCounts,
    pub requests_per_second: f64,
    pub predictions_per_second: f64,
}

/// Pipeline figures. `None` until the subsystem that measures them is
/// wired in (shown as "—"; never as a made-up zero).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PipelineFigures {
    pub readings_per_second: Option<f64>,
    pub end_to_end_latency_seconds: Option<f64>,
    pub dead_letters_total: Option<u64>,
    pub consumer_lag: Option<i64>,
    pub open_alerts: Option<u64>,
}

/// Everything the dashboard shows at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// Increases by one per sample; the SSE event id.
    pub seq: u64,
    /// Wall-clock time of the sample, ms since the Unix epoch.
    pub at_ms: i64,
    pub uptime_seconds: f64,
    pub status: Overall,
    pub reasons: Vec<String>,
    /// Number of tasks in each state.
    pub task_states: BTreeMap<&'static str, usize>,
    pub tasks: Vec<TaskRow>,
    pub queues: Vec<QueueDepth>,
    pub model_version: Option<String>,
    pub web: WebFigures,
    pub pipeline: PipelineFigures,
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
            history.push_back(snapshot.clone());
        }
        self.latest.send_replace(Some(snapshot));
    }
}

/// Takes snapshots until `shutdown`.
pub struct Sampler {
    shared: Shared,
    stats: Arc<WebStats>,
    feed: Feed,
    started: Instant,
    previous: Option<(Instant, WebCounts)>,
    seq: u64,
}

impl Sampler {
    pub fn new(shared: Shared, stats: Arc<WebStats>, feed: Feed) -> Self {
        Self {
            shared,
            stats,
            feed,
            started: Instant::now(),
            previous: None,
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
        let report = self.shared.health.report();
        let mut task_states: BTreeMap<&'static str, usize> =
            TaskState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        let mut tasks = Vec::new();
        for subsystem in report.subsystems.values() {
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
        self.feed.publish(Snapshot {
            seq: self.seq,
            at_ms: Utc::now().timestamp_millis(),
            uptime_seconds: now.duration_since(self.started).as_secs_f64(),
            status: report.status,
            reasons: report.reasons,
            task_states,
            tasks,
            queues: self.shared.queues.depths(),
            model_version: self.shared.model.version().map(|v| v.to_string()),
            web: WebFigures {
                counts,
                requests_per_second,
                predictions_per_second,
            },
            pipeline: PipelineFigures::default(),
        });
    }
}
