//! `simulator:` section of the config.

use crate::config::{ConfigIssue, Validate};
use serde::{Deserialize, Serialize};

/// How the simulated fleet looks and behaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimulatorConfig {
    /// Run the simulated fleet inside the daemon.
    pub enabled: bool,
    /// Seed of every random choice: the same seed gives the same readings.
    pub seed: u64,
    /// Number of homes in the fleet.
    pub homes: u32,
    /// Rooms per home; each room has one smoke detector and room sensors.
    pub rooms_per_home: u32,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            seed: 42,
            homes: 4,
            rooms_per_home: 3,
        }
    }
}

impl Validate for SimulatorConfig {
    fn validate(&self, section: &str, issues: &mut Vec<ConfigIssue>) {
        if self.homes == 0 {
            issues.push(ConfigIssue::new(
                format!("{section}.homes"),
                "must be at least 1",
            ));
        }
        if self.rooms_per_home == 0 {
            issues.push(ConfigIssue::new(
                format!("{section}.rooms_per_home"),
                "must be at least 1",
            ));
        }
    }
}
