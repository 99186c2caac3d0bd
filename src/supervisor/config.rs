//! The supervisor's section of the config (`daemon.restart`): how failed
//! tasks are restarted.

use crate::base::backoff::Backoff;
use crate::base::config::{ConfigIssue, Duration, Validate};
use serde::{Deserialize, Serialize};

/// Exponential backoff for restarting a failed task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RestartPolicy {
    /// Wait before the first restart.
    pub initial_backoff: Duration,
    /// Longest wait between restarts.
    pub max_backoff: Duration,
    /// Each further failure multiplies the wait by this.
    pub multiplier: f64,
    /// Give up (task stays `failed`) after this many consecutive failures;
    /// 0 means never give up.
    pub max_restarts: u32,
    /// A task that ran this long before failing starts over at
    /// `initial_backoff`.
    pub reset_after: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            multiplier: 2.0,
            max_restarts: 0,
            reset_after: Duration::from_secs(60),
        }
    }
}

impl RestartPolicy {
    /// The wait before restart number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> std::time::Duration {
        Backoff::new(self.initial_backoff.get(), self.max_backoff.get())
            .with_multiplier(self.multiplier)
            .delay(attempt)
    }
}

impl Validate for RestartPolicy {
    fn validate(&self, section: &str, issues: &mut Vec<ConfigIssue>) {
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            issues.push(ConfigIssue::new(
                format!("{section}.multiplier"),
                format!("{} must be a number of at least 1.0", self.multiplier),
            ));
        }
        if self.max_backoff < self.initial_backoff {
            issues.push(ConfigIssue::new(
                format!("{section}.max_backoff"),
                format!(
                    "{} is shorter than restart.initial_backoff ({})",
                    self.max_backoff, self.initial_backoff
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RestartPolicy::default();
        assert_eq!(p.backoff(1), std::time::Duration::from_millis(500));
        assert_eq!(p.backoff(2), std::time::Duration::from_secs(1));
        assert_eq!(p.backoff(30), std::time::Duration::from_secs(30));
    }

    #[test]
    fn a_shrinking_curve_is_refused() {
        let policy = RestartPolicy {
            multiplier: 0.5,
            max_backoff: Duration::from_millis(10),
            ..RestartPolicy::default()
        };
        let mut issues = Vec::new();
        policy.validate("daemon.restart", &mut issues);
        let keys: Vec<_> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            ["daemon.restart.multiplier", "daemon.restart.max_backoff"]
        );
    }
}
