//! `sinks:` section of the config.

use crate::config::{ConfigIssue, Validate};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where the stream's results (alerts, window results, dead letters) go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SinksConfig {
    /// Write results to files under `dir` (Kafka topics are written when kafka is enabled).
    pub enabled: bool,
    /// Root folder of the file sinks.
    pub dir: PathBuf,
}

impl Default for SinksConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: PathBuf::from("out"),
        }
    }
}

impl Validate for SinksConfig {
    fn validate(&self, section: &str, issues: &mut Vec<ConfigIssue>) {
        if self.enabled && self.dir.as_os_str().is_empty() {
            issues.push(ConfigIssue::new(
                format!("{section}.dir"),
                "must not be empty",
            ));
        }
    }
}
