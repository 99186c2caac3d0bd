//! `batch:` section of the config.

use crate::config::{ConfigIssue, Validate};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The historical store, the watched folder and the scheduled job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchConfig {
    /// Run the watched folder and the scheduled batch job.
    pub enabled: bool,
    /// Folder watched for new CSV/Parquet files.
    pub incoming_dir: PathBuf,
    /// Root of the Parquet history, partitioned by `date=YYYY-MM-DD/`.
    pub store_dir: PathBuf,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            incoming_dir: PathBuf::from("incoming"),
            store_dir: PathBuf::from("store"),
        }
    }
}

impl Validate for BatchConfig {
    fn validate(&self, section: &str, issues: &mut Vec<ConfigIssue>) {
        if self.enabled && self.incoming_dir == self.store_dir {
            issues.push(ConfigIssue::new(
                format!("{section}.incoming_dir"),
                "must differ from batch.store_dir",
            ));
        }
    }
}
