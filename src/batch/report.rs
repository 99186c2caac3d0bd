//! What a job run found and did: the JSON report kept per run under
//! `<batch.state_dir>/reports/<run id>.json` (the web UI shows the last
//! one), and the run's line in the job history.

use super::config::Scope;
use super::job::kpis::KpiReport;
use super::job::quality::QualityReport;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who asked for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The daemon's schedule (interval or cron).
    Schedule,
    /// `POST /api/batch/run` (or another in-process caller).
    Api,
    /// `smokewatch batch run`.
    Cli,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Api => "api",
            Trigger::Cli => "cli",
        }
    }
}

/// What a run read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSummary {
    /// Part files in the store when the run started.
    pub store_files: u64,
    /// Part files the run analysed (all, or the new ones).
    pub files_analysed: u64,
    /// Part files not seen by the last successful run.
    pub new_files: u64,
    /// Rows analysed.
    pub rows: u64,
    /// Labelled rows in the new files.
    pub new_labelled_rows: u64,
    /// Labelled rows stored since the last retraining (this run's included).
    pub labelled_since_retrain: u64,
    /// Ingested files (ledger entries) in scope.
    pub ingests: u64,
    /// UTC days of the analysed rows.
    pub days: Vec<String>,
}

/// Files a run wrote, relative to `batch.state_dir`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Outputs {
    pub aggregates: Vec<String>,
    pub features: Vec<String>,
}

/// The retraining a run triggered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrainSummary {
    /// The challenger's version in the registry.
    pub version: String,
    /// Whether it became the served model.
    pub promoted: bool,
    /// The champion/challenger decision, e.g. "F1 0.97 vs champion … F1 0.95".
    pub decision: String,
    pub f1: f64,
    pub champion: Option<String>,
    pub champion_f1: Option<f64>,
    /// Labelled rows trained and evaluated on.
    pub training_rows: u64,
}

/// Whether and why a run retrained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrainReport {
    pub attempted: bool,
    /// Why it did or did not retrain.
    pub reason: String,
    pub outcome: Option<RetrainSummary>,
}

/// The report of one successful run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub run_id: String,
    pub trigger: Trigger,
    pub scope: Scope,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub input: InputSummary,
    pub quality: QualityReport,
    pub kpis: KpiReport,
    pub outputs: Outputs,
    pub retrain: RetrainReport,
}

/// How a run ended (or that it has not yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Success,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Success => "success",
            RunStatus::Failed => "failed",
        }
    }
}

/// One line of the job history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    pub trigger: Trigger,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: RunStatus,
    /// Rows analysed.
    pub rows: u64,
    pub quality_score: Option<f64>,
    /// The retrained model's version, when the run retrained.
    pub retrained: Option<String>,
    pub promoted: Option<bool>,
    /// Why the run failed.
    pub error: Option<String>,
    /// The report file, relative to `batch.state_dir`.
    pub report: Option<String>,
}

impl RunRecord {
    pub fn running(run_id: &str, trigger: Trigger, started_at: DateTime<Utc>) -> RunRecord {
        RunRecord {
            run_id: run_id.to_string(),
            trigger,
            started_at,
            finished_at: None,
            status: RunStatus::Running,
            rows: 0,
            quality_score: None,
            retrained: None,
            promoted: None,
            error: None,
            report: None,
        }
    }

    /// The record of a run that produced `report` (written to `report_file`).
    pub fn succeeded(mut self, report: &RunReport, report_file: String) -> RunRecord {
        self.finished_at = Some(report.finished_at);
        self.status = RunStatus::Success;
        self.rows = report.input.rows;
        self.quality_score = report.quality.score;
        self.retrained = report.retrain.outcome.as_ref().map(|o| o.version.clone());
        self.promoted = report.retrain.outcome.as_ref().map(|o| o.promoted);
        self.report = Some(report_file);
        self
    }

    pub fn failed(mut self, error: String) -> RunRecord {
        self.finished_at = Some(Utc::now());
        self.status = RunStatus::Failed;
        self.error = Some(error);
        self
    }
}

/// A new run id: sortable by start time, unique.
pub fn run_id(started_at: DateTime<Utc>) -> String {
    format!(
        "{}-{}",
        started_at.format("%Y%m%dT%H%M%S%.3fZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    )
}
