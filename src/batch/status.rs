//! [`BatchStatus`]: the batch layer's shared handle (the app hands it to
//! the batch layer and to the web). The web reads the job history, the running
//! run, the last report and recent ingests from it, and asks for a run
//! with [`BatchStatus::trigger`] (`POST /api/batch/run`).
//!
//! One run at a time: a run is *claimed* here before it starts, so a
//! second request while one runs gets [`RunRefused::AlreadyRunning`] at
//! once, naming the run in progress. In the daemon runs execute in the
//! `batch/scheduler` task (see [`super::scheduler`]); `smokewatch batch
//! run` executes one in its own process with [`BatchStatus::run_blocking`]
//! (the job's file lock keeps the two apart).

use super::job::{self, JobContext};
use super::job_files::{self, JobFilesError, RunLog};
use super::ledger::LedgerEntry;
use super::report::{RunRecord, RunReport, RunStatus, Trigger, run_id};
use crate::telemetry::names;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use tokio::sync::{mpsc, oneshot};

/// Ingests kept for the web's "recent files" list.
const RECENT_INGESTS: usize = 50;

/// Why a run was not started.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[serde(tag = "refused", rename_all = "snake_case")]
pub enum RunRefused {
    #[error("a batch run is already running: {} (started {} by {})", run.run_id, run.started_at, run.trigger.as_str())]
    AlreadyRunning { run: Box<RunRecord> },
    #[error("the batch layer is disabled (batch.enabled: false)")]
    Disabled,
    #[error("the batch scheduler is not running (the daemon is stopping)")]
    NotRunning,
}

/// A run asked of the scheduler.
pub(crate) struct RunRequest {
    pub record: RunRecord,
    pub done: Option<oneshot::Sender<RunRecord>>,
}

/// A started run: its id, and its outcome once it ends.
pub struct RunTicket {
    pub run_id: String,
    done: oneshot::Receiver<RunRecord>,
}

impl RunTicket {
    /// Waits for the run to end; `None` if the daemon stopped first.
    pub async fn wait(self) -> Option<RunRecord> {
        self.done.await.ok()
    }
}

/// Everything the web shows about the batch layer.
#[derive(Debug, Clone, Serialize)]
pub struct BatchSnapshot {
    pub enabled: bool,
    pub running: Option<RunRecord>,
    /// Newest first.
    pub history: Vec<RunRecord>,
    pub last_report: Option<Arc<RunReport>>,
    /// Newest first.
    pub recent_ingests: Vec<LedgerEntry>,
}

struct Runner {
    ctx: JobContext,
    run_log: Mutex<RunLog>,
}

#[derive(Default)]
struct Inner {
    running: Mutex<Option<RunRecord>>,
    history: RwLock<Vec<RunRecord>>,
    last_report: RwLock<Option<Arc<RunReport>>>,
    recent_ingests: RwLock<VecDeque<LedgerEntry>>,
    runner: OnceLock<Runner>,
    requests: Mutex<Option<mpsc::Sender<RunRequest>>>,
}

/// The batch layer's shared state. Cheap to clone.
#[derive(Clone, Default)]
pub struct BatchStatus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for BatchStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchStatus")
            .field("enabled", &self.is_enabled())
            .finish()
    }
}

impl BatchStatus {
    /// A status with no job attached (batch disabled until [`Self::attach`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Attaches the job: loads the history and the last report from
    /// `batch.state_dir`. Later calls change nothing.
    pub fn attach(&self, ctx: JobContext) -> Result<(), JobFilesError> {
        if self.is_enabled() {
            return Ok(());
        }
        let batch = &ctx.batch;
        let run_log = RunLog::open(&batch.state_dir, batch.job.history_limit)?;
        let runs: Vec<RunRecord> = run_log.runs().cloned().collect();
        let last = runs
            .iter()
            .rev()
            .find(|r| r.status == RunStatus::Success)
            .and_then(|r| r.report.as_deref())
            .and_then(|file| job_files::read_report(&batch.state_dir, file));
        *write(&self.inner.history) = runs;
        *write(&self.inner.last_report) = last.map(Arc::new);
        let _ = self.inner.runner.set(Runner {
            ctx,
            run_log: Mutex::new(run_log),
        });
        Ok(())
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.runner.get().is_some()
    }

    /// Where [`Self::trigger`] sends runs (set by the scheduler task).
    pub(crate) fn set_requests(&self, tx: Option<mpsc::Sender<RunRequest>>) {
        *lock(&self.inner.requests) = tx;
    }

    /// Claims the right to run; refused while another run is claimed.
    pub(crate) fn claim(&self, trigger: Trigger) -> Result<RunRecord, RunRefused> {
        if !self.is_enabled() {
            return Err(RunRefused::Disabled);
        }
        let mut running = lock(&self.inner.running);
        if let Some(run) = running.as_ref() {
            return Err(RunRefused::AlreadyRunning {
                run: Box::new(run.clone()),
            });
        }
        let now = chrono::Utc::now();
        let record = RunRecord::running(&run_id(now), trigger, now);
        *running = Some(record.clone());
        Ok(record)
    }

    /// Gives up a claim that will not run.
    pub(crate) fn release(&self, run_id: &str) {
        let mut running = lock(&self.inner.running);
        if running.as_ref().is_some_and(|r| r.run_id == run_id) {
            *running = None;
        }
    }

    /// Starts a run in the daemon's scheduler and returns at once; a run
    /// in progress refuses it (no queueing: the caller says "already
    /// running" and may try again).
    pub fn trigger(&self, trigger: Trigger) -> Result<RunTicket, RunRefused> {
        let record = self.claim(trigger)?;
        let (tx, rx) = oneshot::channel();
        let run_id = record.run_id.clone();
        let sender = lock(&self.inner.requests).clone();
        let sent = sender.is_some_and(|s| {
            s.try_send(RunRequest {
                record,
                done: Some(tx),
            })
            .is_ok()
        });
        match sent {
            true => Ok(RunTicket { run_id, done: rx }),
            false => {
                self.release(&run_id);
                Err(RunRefused::NotRunning)
            }
        }
    }

    /// Claims and executes a run on this thread (blocking; the CLI).
    pub fn run_blocking(&self, trigger: Trigger) -> Result<RunRecord, RunRefused> {
        let record = self.claim(trigger)?;
        Ok(self.execute(record))
    }

    /// Executes a claimed run to its end: records it in the history,
    /// runs the job, publishes the outcome and metrics, releases the claim.
    /// Blocking.
    pub(crate) fn execute(&self, record: RunRecord) -> RunRecord {
        let Some(runner) = self.inner.runner.get() else {
            self.release(&record.run_id);
            return record.failed("the batch layer is disabled".to_string());
        };
        self.remember(&runner.run_log, record.clone());
        let started = std::time::Instant::now();
        tracing::info!(run = %record.run_id, trigger = record.trigger.as_str(), "batch run started");
        let outcome = job::run(&runner.ctx, &record.run_id, record.trigger);
        let elapsed = started.elapsed().as_secs_f64();
        let done = match outcome {
            Ok(output) => {
                let done = record.succeeded(&output.report, output.report_file);
                tracing::info!(
                    run = %done.run_id,
                    "batch run succeeded in {elapsed:.2}s: {} rows, quality {}, retraining: {}",
                    done.rows,
                    done.quality_score.map_or("n/a".to_string(), |s| format!("{s:.4}")),
                    output.report.retrain.reason
                );
                metrics::gauge!(names::BATCH_LAST_SUCCESS_TIMESTAMP_SECONDS)
                    .set(output.report.finished_at.timestamp_millis() as f64 / 1000.0);
                if let Some(score) = output.report.quality.score {
                    metrics::gauge!(names::DATA_QUALITY_SCORE).set(score);
                }
                *write(&self.inner.last_report) = Some(Arc::new(output.report));
                done
            }
            Err(e) => {
                tracing::error!(run = %record.run_id, "batch run failed after {elapsed:.2}s: {e}");
                record.failed(e.to_string())
            }
        };
        metrics::counter!(names::BATCH_RUNS, "status" => done.status.as_str()).increment(1);
        metrics::histogram!(names::BATCH_RUN_DURATION_SECONDS).record(elapsed);
        self.remember(&runner.run_log, done.clone());
        self.release(&done.run_id);
        done
    }

    fn remember(&self, run_log: &Mutex<RunLog>, record: RunRecord) {
        let mut run_log = lock(run_log);
        if let Err(e) = run_log.record(record) {
            tracing::warn!("batch job history not saved: {e}");
        }
        *write(&self.inner.history) = run_log.runs().cloned().collect();
    }

    /// Records an ingest for the web's list.
    pub(crate) fn record_ingest(&self, entry: LedgerEntry) {
        let mut recent = write(&self.inner.recent_ingests);
        recent.push_front(entry);
        recent.truncate(RECENT_INGESTS);
    }

    /// The run in progress, if any.
    pub fn running(&self) -> Option<RunRecord> {
        lock(&self.inner.running).clone()
    }

    /// The job history, newest first.
    pub fn history(&self) -> Vec<RunRecord> {
        read(&self.inner.history).iter().rev().cloned().collect()
    }

    /// The report of the last successful run.
    pub fn last_report(&self) -> Option<Arc<RunReport>> {
        read(&self.inner.last_report).clone()
    }

    pub fn snapshot(&self) -> BatchSnapshot {
        BatchSnapshot {
            enabled: self.is_enabled(),
            running: self.running(),
            history: self.history(),
            last_report: self.last_report(),
            recent_ingests: read(&self.inner.recent_ingests).iter().cloned().collect(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::BatchConfig;

    fn attached(dir: &std::path::Path) -> BatchStatus {
        let batch = BatchConfig {
            state_dir: dir.join("state"),
            store_dir: dir.join("store"),
            ..BatchConfig::default()
        };
        let status = BatchStatus::new();
        status
            .attach(JobContext::new(
                batch,
                crate::ml::MlConfig::default(),
                dir.join("out"),
                crate::ml::ModelHandle::new(),
            ))
            .unwrap();
        status
    }

    #[test]
    fn a_second_request_while_a_run_is_claimed_is_refused_with_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let status = attached(dir.path());
        let (tx, mut rx) = mpsc::channel(4);
        status.set_requests(Some(tx));
        let ticket = status.trigger(Trigger::Api).unwrap();
        let refused = status.trigger(Trigger::Api).err().unwrap();
        match &refused {
            RunRefused::AlreadyRunning { run } => assert_eq!(run.run_id, ticket.run_id),
            other => panic!("{other:?}"),
        }
        assert!(refused.to_string().contains("already running"), "{refused}");
        assert!(status.run_blocking(Trigger::Cli).is_err());
        // The scheduler executes the request; the claim is released after.
        let request = rx.try_recv().unwrap();
        let done = status.execute(request.record);
        assert_eq!(done.run_id, ticket.run_id);
        assert_eq!(done.status, RunStatus::Success, "{:?}", done.error);
        assert!(status.running().is_none());
        assert_eq!(status.history()[0].run_id, ticket.run_id);
        assert!(status.trigger(Trigger::Api).is_ok());
    }

    #[test]
    fn without_a_scheduler_or_a_job_runs_are_refused_clearly() {
        assert_eq!(
            BatchStatus::new().trigger(Trigger::Api).err(),
            Some(RunRefused::Disabled)
        );
        let dir = tempfile::tempdir().unwrap();
        let status = attached(dir.path());
        assert_eq!(
            status.trigger(Trigger::Api).err(),
            Some(RunRefused::NotRunning)
        );
        assert!(status.running().is_none(), "the refused claim was released");
    }
}
