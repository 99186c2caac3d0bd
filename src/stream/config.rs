//! `stream:` section of the config.

use crate::config::{ConfigIssue, Duration, Validate};
use serde::{Deserialize, Serialize};

/// Real-time processing of readings and room events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    /// Run the stream processor.
    pub enabled: bool,
    /// Event-time windows.
    pub window: WindowConfig,
}

/// Event-time window settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WindowConfig {
    /// Length of a tumbling window.
    pub size: Duration,
    /// How far behind the newest event time an event may arrive and still count.
    pub allowed_lateness: Duration,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            window: WindowConfig::default(),
        }
    }
}

impl Default for WindowConfig {
    fn default() -> Self {
        Self {
            size: Duration::from_secs(60),
            allowed_lateness: Duration::from_secs(10),
        }
    }
}

impl Validate for StreamConfig {
    fn validate(&self, section: &str, issues: &mut Vec<ConfigIssue>) {
        if self.window.size.get() < std::time::Duration::from_secs(1) {
            issues.push(ConfigIssue::new(
                format!("{section}.window.size"),
                format!(
                    "{} is shorter than the 1s sample interval",
                    self.window.size
                ),
            ));
        }
    }
}
