//! `sinks:` section of the config.

use crate::base::config::{ConfigIssue, Validate};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where the stream's results (alerts, window results, dead letters) go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SinksConfig {
    /// Write results to files under `dir` (Kafka topics are written when kafka is enabled).
    pub enabled: bool,
    /// Root folder of the file sinks (under `daemon.data_dir` when relative).
    pub dir: PathBuf,
    /// Write window results and alerts as CSV part files.
    pub csv: bool,
    /// Write window results and alerts as Parquet part files.
    pub parquet: bool,
    /// Also send alerts, window results and dead letters to their Kafka
    /// topics (only when the transport is Kafka).
    pub kafka: bool,
    /// Rows a part file holds at most; more rows start another file.
    pub max_rows_per_file: usize,
    /// Alerts and window results the web UI's in-memory rings keep.
    pub ring_capacity: usize,
    /// What a dead letter keeps of the record it refuses.
    pub dead_letters: DeadLetterConfig,
}

/// Dead letters keep the refused record for people to inspect, but a huge
/// malformed record must not turn into a huge dead letter (a 1 MB record
/// used to cost 2.4 MB: base64 plus text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadLetterConfig {
    /// Most bytes one dead letter takes when written (JSON, payload as
    /// base64). The payload keeps as much of the original as fits; its
    /// full size and SHA-256 are always kept. At least 4096.
    pub max_payload_bytes: usize,
}

impl Default for DeadLetterConfig {
    fn default() -> Self {
        Self {
            max_payload_bytes: 64 * 1024,
        }
    }
}

impl Default for SinksConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: PathBuf::from("out"),
            csv: true,
            parquet: true,
            kafka: true,
            max_rows_per_file: 100_000,
            ring_capacity: 1000,
            dead_letters: DeadLetterConfig::default(),
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
        if self.dead_letters.max_payload_bytes < crate::stream::sinks::MIN_DEAD_LETTER_BYTES {
            issues.push(ConfigIssue::new(
                format!("{section}.dead_letters.max_payload_bytes"),
                format!(
                    "must be at least {} (a dead letter's fields besides the payload need room)",
                    crate::stream::sinks::MIN_DEAD_LETTER_BYTES
                ),
            ));
        }
        if self.max_rows_per_file == 0 {
            issues.push(ConfigIssue::new(
                format!("{section}.max_rows_per_file"),
                "must be at least 1",
            ));
        }
    }
}
