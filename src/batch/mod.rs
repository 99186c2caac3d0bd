//! The batch layer: the historical Parquet store, the watched folder that
//! feeds it, and the scheduled job (data quality, KPIs, daily aggregates,
//! training features, retraining).
//!
//! * [`store`] — the store (`date=YYYY-MM-DD/` Hive partitions, two-phase
//!   writes); [`store::HistoryStore::append`] is the stream's entry point.
//! * [`watcher`] → [`ingest`] — files of `batch.incoming_dir`, read by
//!   [`source`], bad rows to [`quarantine`], once only thanks to the
//!   [`ledger`].
//! * [`scheduler`] → [`job`] — runs, reported in [`report`] and kept in
//!   [`history`]; [`status::BatchStatus`] is what the web and the CLI use.
//!
//! In the daemon: `batch/watcher` is a source task (stops taking files
//! first at shutdown), `batch/scheduler` a service task.

mod config;
pub mod history;
pub mod ingest;
pub mod job;
pub mod ledger;
pub mod parts;
pub mod quarantine;
pub mod report;
mod scheduler;
pub mod source;
pub mod status;
pub mod store;
pub mod watcher;

pub use config::{BatchConfig, CronSchedule, JobConfig, RetrainConfig, Schedule, Scope};
pub use report::{RunRecord, RunReport, RunStatus, Trigger};
pub use status::{BatchSnapshot, BatchStatus, RunRefused, RunTicket};
pub use store::HistoryStore;

use crate::app::daemon::Shared;
use crate::supervisor::{Role, Supervisor};
use job::JobContext;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Run requests waiting for the scheduler; one is enough (one run at a
/// time is claimed before a request is sent), a few leave slack.
const REQUEST_CAPACITY: usize = 4;

/// Why the batch layer could not start.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("batch job history: {0}")]
    History(#[from] history::HistoryError),
}

/// Starts `batch/watcher` (source) and `batch/scheduler` (service), and
/// attaches the job to `shared.batch` so the web can trigger runs.
pub fn spawn(supervisor: &mut Supervisor, shared: &Shared) -> Result<(), BatchError> {
    let config = shared.config.clone();
    let cancel = CancellationToken::new();
    shared.batch.attach(JobContext {
        config: config.clone(),
        model: shared.model.clone(),
        cancel: cancel.clone(),
    })?;
    let (tx, rx) = tokio::sync::mpsc::channel(REQUEST_CAPACITY);
    shared.batch.set_requests(Some(tx));
    let requests: scheduler::Requests = Arc::new(tokio::sync::Mutex::new(rx));

    let (watch_config, devices, status) =
        (config.clone(), shared.devices.clone(), shared.batch.clone());
    supervisor.spawn("batch", "batch/watcher", Role::Source, move |ctx| {
        watcher::run(ctx, watch_config.clone(), devices.clone(), status.clone())
    });
    let status = shared.batch.clone();
    let schedule = config.batch.job.schedule.clone();
    supervisor.spawn("batch", "batch/scheduler", Role::Service, move |ctx| {
        scheduler::run(
            ctx,
            status.clone(),
            schedule.clone(),
            requests.clone(),
            cancel.clone(),
        )
    });
    Ok(())
}
