//! `batch:` section of the config: the historical store, the watched
//! folder, the scheduled job and when it retrains.

use crate::base::config::{ConfigIssue, Duration, Validate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The historical store, the watched folder and the scheduled job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchConfig {
    /// Run the watched folder and the scheduled batch job.
    pub enabled: bool,
    /// Folder watched for new CSV/Parquet files; `processed/`, `failed/`
    /// and `quarantine/` are created inside it. Relative paths of this
    /// section live under `daemon.data_dir`.
    pub incoming_dir: PathBuf,
    /// Root of the Parquet history, partitioned by `date=YYYY-MM-DD/`.
    pub store_dir: PathBuf,
    /// The batch layer's own state: ingest ledger, job history, run
    /// reports, features and daily aggregates.
    pub state_dir: PathBuf,
    /// How often the watched folder is listed. A file is taken once its
    /// size and modification time are the same in two listings in a row.
    pub poll_interval: Duration,
    /// Home of the readings of a CSV file (the data set's CSV has no
    /// device columns; the device id is the file name, see README), unless
    /// the device is registered in the fleet.
    pub csv_home: String,
    /// Room of the readings of a CSV file, unless the device is registered.
    pub csv_room: String,
    /// The stream appends its cleaned readings to the store, staged and
    /// published with its checkpoints (exactly once across crashes), so
    /// the scheduled job sees what the daemon saw.
    pub stream_append: bool,
    pub job: JobConfig,
    pub retrain: RetrainConfig,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            incoming_dir: PathBuf::from("incoming"),
            store_dir: PathBuf::from("store"),
            state_dir: PathBuf::from("batch"),
            poll_interval: Duration::from_secs(2),
            csv_home: "imported".to_string(),
            csv_room: "unknown".to_string(),
            stream_append: true,
            job: JobConfig::default(),
            retrain: RetrainConfig::default(),
        }
    }
}

/// The scheduled data-quality/KPI job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobConfig {
    /// When the job runs: an interval (`1h`) or a cron expression
    /// (`0 3 * * *`, UTC, 5 fields or 6 with seconds).
    pub schedule: Schedule,
    /// What a run analyses: `new` (data added since the last successful
    /// run) or `all` (the whole store).
    pub scope: Scope,
    /// When set, data whose newest event is older than this lowers the
    /// quality score (timeliness = max_staleness / age, at most 1).
    pub max_staleness: Option<Duration>,
    /// Runs kept in the job history, and run reports kept on disk.
    pub history_limit: usize,
}

impl Default for JobConfig {
    fn default() -> Self {
        Self {
            schedule: Schedule::Every(Duration::from_secs(3600)),
            scope: Scope::New,
            max_staleness: None,
            history_limit: 100,
        }
    }
}

/// When a run retrains the fire model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrainConfig {
    /// Retrain (champion/challenger) when the conditions below hold.
    pub enabled: bool,
    /// Labelled rows that must have arrived since the last retraining.
    pub min_new_labelled_rows: u64,
    /// Quality score the run's data must reach.
    pub min_quality: f64,
    /// Most recent labelled rows of the store trained on.
    pub max_rows: usize,
}

impl Default for RetrainConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_new_labelled_rows: 10_000,
            min_quality: 0.9,
            max_rows: 200_000,
        }
    }
}

/// What a job run analyses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Store files and ingested files not seen by the last successful run.
    New,
    /// Everything in the store.
    All,
}

/// When the job runs: every interval from start, or at the times of a
/// cron expression (UTC).
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    Every(Duration),
    Cron(Box<CronSchedule>),
}

/// A parsed cron expression with the text it came from.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    text: String,
    cron: croner::Cron,
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Schedule {
    /// The first time after `now` the job is due.
    pub fn next_after(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        match self {
            Schedule::Every(every) => chrono::Duration::from_std(every.get())
                .ok()
                .and_then(|d| now.checked_add_signed(d)),
            Schedule::Cron(c) => c.cron.find_next_occurrence(&now, false).ok(),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Every(d) => write!(f, "{d}"),
            Schedule::Cron(c) => f.write_str(&c.text),
        }
    }
}

impl FromStr for Schedule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if let Ok(every) = text.parse::<Duration>() {
            return if every.is_zero() {
                Err("an interval schedule must be longer than 0".to_string())
            } else {
                Ok(Schedule::Every(every))
            };
        }
        match text.parse::<croner::Cron>() {
            Ok(cron) => Ok(Schedule::Cron(Box::new(CronSchedule {
                text: text.to_string(),
                cron,
            }))),
            Err(e) => Err(format!(
                "{text:?} is neither an interval (\"1h\") nor a cron expression (\"0 3 * * *\"): {e}"
            )),
        }
    }
}

impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Validate for BatchConfig {
    fn validate(&self, section: &str, issues: &mut Vec<ConfigIssue>) {
        let mut issue = |key: &str, reason: &str| {
            issues.push(ConfigIssue::new(format!("{section}.{key}"), reason));
        };
        if self.enabled && self.incoming_dir == self.store_dir {
            issue("incoming_dir", "must differ from batch.store_dir");
        }
        if self.enabled && self.state_dir == self.store_dir {
            issue("state_dir", "must differ from batch.store_dir");
        }
        if self.poll_interval.is_zero() {
            issue("poll_interval", "must be longer than 0");
        }
        if self.csv_home.trim().is_empty() {
            issue("csv_home", "must not be empty");
        }
        if self.csv_room.trim().is_empty() {
            issue("csv_room", "must not be empty");
        }
        if self.job.history_limit == 0 {
            issue("job.history_limit", "must be at least 1");
        }
        if self.job.max_staleness.is_some_and(|d| d.is_zero()) {
            issue("job.max_staleness", "must be longer than 0 (or null)");
        }
        if !(0.0..=1.0).contains(&self.retrain.min_quality) {
            issue("retrain.min_quality", "must be between 0 and 1");
        }
        if self.retrain.max_rows == 0 {
            issue("retrain.max_rows", "must be at least 1");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn schedule_is_an_interval_or_a_cron_expression() {
        let at = chrono::Utc.with_ymd_and_hms(2024, 3, 1, 10, 20, 0).unwrap();
        let every: Schedule = "90s".parse().unwrap();
        assert_eq!(
            every.next_after(at),
            Some(at + chrono::Duration::seconds(90))
        );
        let nightly: Schedule = "0 3 * * *".parse().unwrap();
        assert_eq!(
            nightly.next_after(at),
            Some(chrono::Utc.with_ymd_and_hms(2024, 3, 2, 3, 0, 0).unwrap())
        );
        assert_eq!(nightly.to_string(), "0 3 * * *");
        let err = "every tuesday".parse::<Schedule>().unwrap_err();
        assert!(err.contains("neither an interval"), "{err}");
        assert!("0s".parse::<Schedule>().is_err());
    }

    #[test]
    fn invalid_values_are_reported_by_key() {
        let mut config = BatchConfig::default();
        config.retrain.min_quality = 1.5;
        config.job.history_limit = 0;
        let mut issues = Vec::new();
        config.validate("batch", &mut issues);
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            ["batch.job.history_limit", "batch.retrain.min_quality"]
        );
    }
}
