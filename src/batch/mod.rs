//! The batch layer: the watched folder that feeds the historical Parquet
//! store, and the scheduled job (data quality, KPIs, daily aggregates,
//! training features, retraining).
//!
//! * the store itself is [`crate::store`] (`date=YYYY-MM-DD/` Hive
//!   partitions, two-phase writes), shared with the stream's store sink;
//! * [`watcher`] → [`ingest`] — files of `batch.incoming_dir`, read by
//!   [`source`], bad rows to [`quarantine`], once only thanks to the
//!   [`ledger`].
//! * [`scheduler`] → [`job`] — runs, reported in [`report`] and kept in
//!   [`job_files`]; [`status::BatchStatus`] is what the web and the CLI use.
//!
//! In the daemon: `batch/watcher` is a source task (stops taking files
//! first at shutdown), `batch/scheduler` a service task.

mod config;
pub mod ingest;
pub mod job;
pub mod job_files;
pub mod ledger;
pub mod quarantine;
pub mod report;
mod scheduler;
pub mod source;
pub mod status;
pub mod watcher;

pub use config::{BatchConfig, CronSchedule, JobConfig, RetrainConfig, Schedule, Scope};
pub use report::{RunRecord, RunReport, RunStatus, Trigger};
pub use status::{BatchSnapshot, BatchStatus, RunRefused, RunTicket};

use crate::supervisor::{Role, Supervisor};
use job::JobContext;
use std::sync::Arc;

/// Run requests waiting for the scheduler; one is enough (one run at a
/// time is claimed before a request is sent), a few leave slack.
const REQUEST_CAPACITY: usize = 4;

/// Why the batch layer could not start.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("batch job files: {0}")]
    JobFiles(#[from] job_files::JobFilesError),
}

/// What the batch layer is built from: its config section, the ML section
/// its job writes features and retrains with, and the handles it needs.
pub struct Deps {
    pub config: BatchConfig,
    pub ml: crate::ml::MlConfig,
    /// `sinks.dir`: the stream's alert files, counted in the job's KPIs.
    pub alerts_dir: std::path::PathBuf,
    /// The served model: a challenger the job promotes is swapped in here.
    pub model: crate::ml::ModelHandle,
    /// Devices the watched folder's files may come from.
    pub devices: crate::schema::registry::DeviceRegistry,
    /// The job's history and run trigger, shared with the web.
    pub status: BatchStatus,
}

/// Starts `batch/watcher` (source) and `batch/scheduler` (service), and
/// attaches the job to `deps.status` so the web can trigger runs.
pub fn spawn(supervisor: &mut Supervisor, deps: Deps) -> Result<(), BatchError> {
    let Deps {
        config,
        ml,
        alerts_dir,
        model,
        devices,
        status,
    } = deps;
    let ctx = JobContext::new(config.clone(), ml, alerts_dir, model);
    let cancel = ctx.cancel.clone();
    status.attach(ctx)?;
    let (tx, rx) = tokio::sync::mpsc::channel(REQUEST_CAPACITY);
    status.set_requests(Some(tx));
    let requests: scheduler::Requests = Arc::new(tokio::sync::Mutex::new(rx));

    let schedule = config.job.schedule.clone();
    let watch_config = Arc::new(config);
    let watch_status = status.clone();
    supervisor.spawn("batch", "batch/watcher", Role::Source, move |ctx| {
        watcher::run(
            ctx,
            watch_config.clone(),
            devices.clone(),
            watch_status.clone(),
        )
    });
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
