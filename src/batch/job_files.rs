//! What the batch job keeps across runs and restarts, under
//! `<batch.state_dir>`:
//!
//! * `history.json` — the last `batch.job.history_limit` runs (start, end,
//!   status, rows, error), newest last;
//! * `reports/<run id>.json` — each successful run's report (as many kept);
//! * `job_state.json` — what the last successful run saw (store part
//!   files, ingests) and the labelled rows stored since the last
//!   retraining, so the next run knows what is new.
//!
//! All are replaced atomically. A file that cannot be parsed is moved
//! aside (`<name>.corrupt-<time>`) and started afresh: losing it costs a
//! run that re-analyses everything, never data.

use super::report::{RunRecord, RunReport};
use crate::base::durable;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

pub const HISTORY_FILE: &str = "history.json";
pub const STATE_FILE: &str = "job_state.json";
pub const REPORTS_DIR: &str = "reports";

/// Why job state could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("batch job state {}: {source}", path.display())]
pub struct JobFilesError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JobFilesError + '_ {
    move |source| JobFilesError {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a JSON file; missing → default; unparsable → moved aside, default.
fn load<T: DeserializeOwned + Default>(path: &Path) -> Result<T, JobFilesError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(T::default()),
        Err(e) => return Err(io(path)(e)),
    };
    match serde_json::from_slice(&bytes) {
        Ok(value) => Ok(value),
        Err(e) => {
            let aside = path.with_extension(format!(
                "json.corrupt-{}",
                chrono::Utc::now().format("%Y%m%dT%H%M%S")
            ));
            tracing::warn!(
                "{} is unreadable ({e}); moved to {} and started afresh",
                path.display(),
                aside.display()
            );
            std::fs::rename(path, &aside).map_err(io(path))?;
            Ok(T::default())
        }
    }
}

fn save<T: Serialize>(path: &Path, value: &T) -> Result<(), JobFilesError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| io(path)(e.into()))?;
    durable::write(path, &bytes).map_err(io(path))
}

/// The log of the job's runs (`history.json`), newest last.
#[derive(Debug, Clone)]
pub struct RunLog {
    path: PathBuf,
    limit: usize,
    runs: VecDeque<RunRecord>,
}

impl RunLog {
    pub fn open(state_dir: &Path, limit: usize) -> Result<RunLog, JobFilesError> {
        let path = state_dir.join(HISTORY_FILE);
        let mut runs: VecDeque<RunRecord> = load(&path)?;
        // A run "running" in the file was cut short by a stop or a crash.
        for run in runs.iter_mut() {
            if run.status == super::report::RunStatus::Running {
                *run = run
                    .clone()
                    .failed("interrupted: the daemon stopped during the run".to_string());
            }
        }
        Ok(RunLog { path, limit, runs })
    }

    pub fn runs(&self) -> impl DoubleEndedIterator<Item = &RunRecord> {
        self.runs.iter()
    }

    /// Adds or replaces (same run id) a record and saves the history.
    pub fn record(&mut self, record: RunRecord) -> Result<(), JobFilesError> {
        match self.runs.iter_mut().find(|r| r.run_id == record.run_id) {
            Some(existing) => *existing = record,
            None => self.runs.push_back(record),
        }
        while self.runs.len() > self.limit {
            self.runs.pop_front();
        }
        save(&self.path, &self.runs)
    }
}

/// What the last successful run saw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobState {
    /// Store part files (relative names).
    pub seen_parts: BTreeSet<String>,
    /// Ledger entries (content hashes) whose quarantine counts were taken.
    pub seen_ingests: BTreeSet<String>,
    /// Labelled rows stored since the last retraining.
    pub labelled_since_retrain: u64,
    /// Run id of the last successful run.
    pub last_success: Option<String>,
}

impl JobState {
    pub fn load(state_dir: &Path) -> Result<JobState, JobFilesError> {
        load(&state_dir.join(STATE_FILE))
    }

    pub fn save(&self, state_dir: &Path) -> Result<(), JobFilesError> {
        save(&state_dir.join(STATE_FILE), self)
    }
}

/// Writes a run's report; keeps the newest `keep` reports. Returns the
/// report's path relative to `state_dir`.
pub fn write_report(
    state_dir: &Path,
    report: &RunReport,
    keep: usize,
) -> Result<String, JobFilesError> {
    let relative = format!("{REPORTS_DIR}/{}.json", report.run_id);
    save(&state_dir.join(&relative), report)?;
    let dir = state_dir.join(REPORTS_DIR);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(io(&dir))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && !durable::is_hidden(n))
        .collect();
    // Run ids start with the start time: name order is time order.
    names.sort();
    let excess = names.len().saturating_sub(keep);
    for name in &names[..excess] {
        let path = dir.join(name);
        std::fs::remove_file(&path).map_err(io(&path))?;
    }
    Ok(relative)
}

/// Reads a report written by [`write_report`].
pub fn read_report(state_dir: &Path, relative: &str) -> Option<RunReport> {
    let bytes = std::fs::read(state_dir.join(relative)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::report::{RunStatus, Trigger};

    #[test]
    fn history_keeps_the_newest_runs_and_marks_interrupted_ones_failed() {
        let dir = tempfile::tempdir().unwrap();
        let mut history = RunLog::open(dir.path(), 2).unwrap();
        let t = chrono::Utc::now();
        for id in ["a", "b", "c"] {
            history
                .record(RunRecord::running(id, Trigger::Schedule, t))
                .unwrap();
        }
        history
            .record(RunRecord::running("c", Trigger::Schedule, t).failed("boom".into()))
            .unwrap();
        let reopened = RunLog::open(dir.path(), 2).unwrap();
        let runs: Vec<_> = reopened
            .runs()
            .map(|r| (r.run_id.as_str(), r.status))
            .collect();
        assert_eq!(runs, [("b", RunStatus::Failed), ("c", RunStatus::Failed)]);
        assert!(
            reopened
                .runs()
                .next()
                .unwrap()
                .error
                .as_deref()
                .unwrap()
                .contains("interrupted")
        );
    }

    #[test]
    fn an_unreadable_state_is_moved_aside_and_started_afresh() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE), b"{not json").unwrap();
        assert_eq!(JobState::load(dir.path()).unwrap(), JobState::default());
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("job_state.json.corrupt-")),
            "{names:?}"
        );
    }
}
