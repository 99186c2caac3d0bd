//! The batch job: one run over the store (all of it, or what arrived since
//! the last successful run) that computes data quality and KPIs, writes
//! daily aggregates and training features for the days that changed,
//! retrains the fire model when enough good new data arrived, and writes
//! its report.
//!
//! [`run`] is blocking (Parquet reads, training): call it from
//! `spawn_blocking`. It holds `<batch.state_dir>/job.lock` (an OS file
//! lock, released even if the process dies) for the whole run, so a
//! `smokewatch batch run` and the daemon never run the job at once.
//! Nothing of a failed run is recorded as seen: the next run picks up the
//! same new data again (aggregates and features are rewritten whole per
//! day, so repeating them is harmless).

pub mod aggregates;
pub mod alerts;
pub mod daily;
pub mod features;
pub mod kpis;
pub mod quality;
pub mod retrain;

use super::config::Scope;
use super::ingest::ledger_path;
use super::job_files::{self, JobFilesError, JobState};
use super::ledger::{IngestState, Ledger, LedgerError};
use super::report::{InputSummary, Outputs, RunReport, Trigger};
use crate::batch::config::BatchConfig;
use crate::ml::MlConfig;
use crate::ml::{MlError, ModelHandle};
use crate::store::{HistoryStore, StoreError, StoreFile};
use aggregates::OutputError;
use chrono::{NaiveDate, Utc};
use daily::DailyStats;
use quality::QualityAccumulator;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Name of the lock file in `batch.state_dir`.
pub const LOCK_FILE: &str = "job.lock";
/// Folders of the job's outputs in `batch.state_dir`.
pub const AGGREGATES_DIR: &str = "aggregates";
pub const FEATURES_DIR: &str = "features";

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("the batch job is already running in another process (lock {})", path.display())]
    Locked { path: PathBuf },
    #[error("batch job lock {}: {source}", path.display())]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading the store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("writing job outputs: {0}")]
    Output(#[from] OutputError),
    #[error(transparent)]
    State(#[from] JobFilesError),
    #[error("retraining: {0}")]
    Retrain(Box<MlError>),
    #[error("cancelled (shutdown)")]
    Cancelled,
}

impl From<MlError> for JobError {
    fn from(e: MlError) -> Self {
        JobError::Retrain(Box::new(e))
    }
}

/// What a run needs.
#[derive(Clone)]
pub struct JobContext {
    /// The batch section.
    pub batch: Arc<BatchConfig>,
    /// The ML section: the features the job writes, how it retrains.
    pub ml: Arc<MlConfig>,
    /// `sinks.dir`: the stream's alert files, counted per day in the KPIs.
    pub alerts_dir: PathBuf,
    /// The served model: a promoted challenger is swapped in here.
    pub model: ModelHandle,
    pub cancel: CancellationToken,
}

impl JobContext {
    /// A job context with a fresh cancellation token.
    pub fn new(batch: BatchConfig, ml: MlConfig, alerts_dir: PathBuf, model: ModelHandle) -> Self {
        Self {
            batch: Arc::new(batch),
            ml: Arc::new(ml),
            alerts_dir,
            model,
            cancel: CancellationToken::new(),
        }
    }
}

/// A successful run.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub report: RunReport,
    /// The report file, relative to `batch.state_dir`.
    pub report_file: String,
}

/// Runs the job once; see the module docs.
pub fn run(ctx: &JobContext, run_id: &str, trigger: Trigger) -> Result<RunOutput, JobError> {
    let started_at = Utc::now();
    let batch = &ctx.batch;
    let state_dir = &batch.state_dir;
    let _lock = lock(state_dir)?;
    let store = HistoryStore::new(&batch.store_dir);
    let mut state = JobState::load(state_dir)?;
    let files = store.files()?;
    let is_new = |f: &StoreFile| !state.seen_parts.contains(&f.relative);
    let new_files = files.iter().filter(|f| is_new(f)).count() as u64;
    let analysed: Vec<&StoreFile> = match batch.job.scope {
        Scope::All => files.iter().collect(),
        Scope::New => files.iter().filter(|f| is_new(f)).collect(),
    };
    let ledger = Ledger::open(&ledger_path(batch))?;
    let ingests: Vec<_> = ledger
        .entries()
        .filter(|e| matches!(e.state, IngestState::Ingested | IngestState::Failed))
        .filter(|e| batch.job.scope == Scope::All || !state.seen_ingests.contains(&e.hash))
        .collect();
    let mut quarantined: BTreeMap<String, u64> = BTreeMap::new();
    for entry in &ingests {
        for (reason, n) in &entry.quarantined_by_reason {
            *quarantined.entry(reason.clone()).or_default() += n;
        }
    }
    let last_ingest = ingests
        .iter()
        .filter(|e| e.state == IngestState::Ingested)
        .filter_map(|e| e.finished_at)
        .max();

    let mut quality = QualityAccumulator::default();
    let mut stats = DailyStats::default();
    let (mut rows, mut new_labelled) = (0u64, 0u64);
    for file in &analysed {
        let new = is_new(file);
        for batch in store.read(file)? {
            if ctx.cancel.is_cancelled() {
                return Err(JobError::Cancelled);
            }
            for r in batch? {
                rows += 1;
                quality.add(&r);
                stats.add(&r);
                new_labelled += u64::from(new && r.fire_alarm.is_some());
            }
        }
    }
    let days = stats.dates();
    let anomalies = alerts::count_anomalies(&ctx.alerts_dir, &days);
    let max_staleness = batch.job.max_staleness.map(|d| d.get());
    let quality = quality.finish(&quarantined, last_ingest, max_staleness, Utc::now());
    let kpis = kpis::kpis(&stats, anomalies);
    drop(stats);

    let changed: BTreeSet<NaiveDate> = analysed.iter().map(|f| f.day).collect();
    let outputs = write_outputs(ctx, &store, &files, &changed)?;

    let labelled_since_retrain = state.labelled_since_retrain + new_labelled;
    let retrain =
        retrain::maybe_retrain(ctx, &store, &files, quality.score, labelled_since_retrain)?;

    let report = RunReport {
        run_id: run_id.to_string(),
        trigger,
        scope: batch.job.scope,
        started_at,
        finished_at: Utc::now(),
        input: InputSummary {
            store_files: files.len() as u64,
            files_analysed: analysed.len() as u64,
            new_files,
            rows,
            new_labelled_rows: new_labelled,
            labelled_since_retrain,
            ingests: ingests.len() as u64,
            days: days
                .iter()
                .map(|d| d.format("%Y-%m-%d").to_string())
                .collect(),
        },
        quality,
        kpis,
        outputs,
        retrain,
    };
    let seen_ingests: HashSet<String> = ingests.iter().map(|e| e.hash.clone()).collect();
    state.seen_parts = files.iter().map(|f| f.relative.clone()).collect();
    state.seen_ingests.extend(seen_ingests);
    state.labelled_since_retrain = if report.retrain.attempted {
        0
    } else {
        labelled_since_retrain
    };
    state.last_success = Some(run_id.to_string());
    let report_file = job_files::write_report(state_dir, &report, batch.job.history_limit)?;
    state.save(state_dir)?;
    Ok(RunOutput {
        report,
        report_file,
    })
}

/// Daily aggregates and features of every day in `days`, each over the
/// day's whole partition (one day's readings in memory at a time).
fn write_outputs(
    ctx: &JobContext,
    store: &HistoryStore,
    files: &[StoreFile],
    days: &BTreeSet<NaiveDate>,
) -> Result<Outputs, JobError> {
    let state_dir = &ctx.batch.state_dir;
    let spec = ctx.ml.features.spec();
    let mut outputs = Outputs::default();
    for day in days {
        if ctx.cancel.is_cancelled() {
            return Err(JobError::Cancelled);
        }
        let mut readings = Vec::new();
        for file in files.iter().filter(|f| f.day == *day) {
            for batch in store.read(file)? {
                readings.extend(batch?);
            }
        }
        let mut stats = DailyStats::default();
        readings.iter().for_each(|r| stats.add(r));
        outputs.aggregates.push(format!(
            "{AGGREGATES_DIR}/{}",
            aggregates::write_day(&state_dir.join(AGGREGATES_DIR), *day, &stats)?
        ));
        outputs.features.push(format!(
            "{FEATURES_DIR}/{}",
            features::write_day(&state_dir.join(FEATURES_DIR), *day, &spec, &mut readings)?
        ));
    }
    Ok(outputs)
}

/// Takes the job's cross-process lock (held until the returned file drops).
fn lock(state_dir: &std::path::Path) -> Result<std::fs::File, JobError> {
    let path = state_dir.join(LOCK_FILE);
    let lock_error = |source| JobError::Lock {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(state_dir).map_err(lock_error)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(lock_error)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(JobError::Locked { path }),
        Err(std::fs::TryLockError::Error(e)) => Err(lock_error(e)),
    }
}
