//! `ml:` section of the config.

use crate::config::{ConfigIssue, Validate};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Fire-prediction models: training, registry, serving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MlConfig {
    /// Score readings with the current model and serve predictions.
    pub enabled: bool,
    /// The model registry: one folder per version plus a `current` pointer.
    pub model_dir: PathBuf,
}

impl Default for MlConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            model_dir: PathBuf::from("data/models"),
        }
    }
}

impl Validate for MlConfig {
    fn validate(&self, section: &str, issues: &mut Vec<ConfigIssue>) {
        if self.enabled && self.model_dir.as_os_str().is_empty() {
            issues.push(ConfigIssue::new(
                format!("{section}.model_dir"),
                "must not be empty",
            ));
        }
    }
}
