//! What every task is doing right now, for `/health`, the UI and metrics.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// Life-cycle state of a supervised task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Spawned, not yet ready (connecting, restoring a checkpoint…).
    Starting,
    Running,
    /// Working, but not fully (broker unreachable and retrying, …).
    Degraded,
    /// Crashed; waiting to be restarted, or given up on.
    Failed,
    /// Finished on purpose (shutdown).
    Stopped,
    /// Switched off in the config. Only a subsystem is ever off (it then
    /// has no task), so this is not in [`TaskState::ALL`].
    Off,
}

impl TaskState {
    pub const ALL: [TaskState; 5] = [
        TaskState::Starting,
        TaskState::Running,
        TaskState::Degraded,
        TaskState::Failed,
        TaskState::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Starting => "starting",
            TaskState::Running => "running",
            TaskState::Degraded => "degraded",
            TaskState::Failed => "failed",
            TaskState::Stopped => "stopped",
            TaskState::Off => "off",
        }
    }

    /// Worse states sort higher: a subsystem is as bad as its worst task.
    fn severity(self) -> u8 {
        match self {
            TaskState::Running | TaskState::Stopped | TaskState::Off => 0,
            TaskState::Starting => 1,
            TaskState::Degraded => 2,
            TaskState::Failed => 3,
        }
    }
}

/// One task's current status.
#[derive(Debug, Clone, Serialize)]
pub struct TaskStatus {
    /// Subsystem the task belongs to, e.g. `stream` or `web`.
    pub subsystem: &'static str,
    /// Current life-cycle state, set by the task and its supervisor.
    pub state: TaskState,
    /// Why it is degraded or failed; what it reported when it stopped.
    pub detail: Option<String>,
    /// Times the task has failed since the daemon started (each counts as a restart).
    pub restarts: u32,
    /// When `state` last changed (or the task was registered).
    pub since: DateTime<Utc>,
}

/// Overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Overall {
    Ok,
    Degraded,
    Failed,
}

/// A subsystem's tasks and the worst state among them, or `off` (no
/// tasks) when the config switched it off.
#[derive(Debug, Clone, Serialize)]
pub struct SubsystemHealth {
    /// Worst state among `tasks`; `off` when the config switched the subsystem off.
    pub state: TaskState,
    /// Task name (e.g. `stream/windows`) → status; empty when off.
    pub tasks: BTreeMap<String, TaskStatus>,
    /// Why it is off: the config key that switched it off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The answer of `/health`.
#[derive(Debug, Clone, Serialize)]
pub struct HealthReport {
    /// `failed` if any task failed, `degraded` if any is degraded or starting, else `ok`.
    pub status: Overall,
    /// Why the status is not `ok`: one line per failed, degraded or starting task.
    pub reasons: Vec<String>,
    /// Subsystem name → its tasks and worst state; switched-off ones included.
    pub subsystems: BTreeMap<&'static str, SubsystemHealth>,
}

/// Shared registry of task statuses. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Health {
    tasks: Arc<RwLock<BTreeMap<String, TaskStatus>>>,
    /// Subsystems switched off in the config → why (the key), so /health
    /// lists them as `off` instead of leaving them out.
    off: Arc<RwLock<BTreeMap<&'static str, String>>>,
}

impl Health {
    pub fn new() -> Self {
        Self::default()
    }

    /// A handle through which one task reports its state.
    pub fn register(&self, subsystem: &'static str, task: &str) -> TaskHealth {
        let handle = TaskHealth {
            health: self.clone(),
            subsystem,
            task: task.to_string(),
        };
        handle.set(TaskState::Starting, None);
        // Exported at 0 from the start, so `increase()` over the first
        // restart works and the series exists in every scrape.
        metrics::counter!(crate::telemetry::names::TASK_RESTARTS, "task" => task.to_string())
            .increment(0);
        handle
    }

    fn update(&self, task: &str, subsystem: &'static str, f: impl FnOnce(&mut TaskStatus)) {
        let mut tasks = self.tasks.write().unwrap_or_else(|p| p.into_inner());
        let status = tasks.entry(task.to_string()).or_insert_with(|| TaskStatus {
            subsystem,
            state: TaskState::Starting,
            detail: None,
            restarts: 0,
            since: Utc::now(),
        });
        f(status);
    }

    /// Records that `subsystem` is switched off; `reason` names the key
    /// (`ml.enabled: false`).
    pub fn switched_off(&self, subsystem: &'static str, reason: impl Into<String>) {
        let mut off = self.off.write().unwrap_or_else(|p| p.into_inner());
        off.insert(subsystem, reason.into());
    }

    /// The state of one task, if registered.
    pub fn task(&self, task: &str) -> Option<TaskStatus> {
        let tasks = self.tasks.read().unwrap_or_else(|p| p.into_inner());
        tasks.get(task).cloned()
    }

    /// Every task, grouped by subsystem, with the overall verdict: failed
    /// when any task has failed, degraded when any is degraded or still
    /// starting.
    pub fn report(&self) -> HealthReport {
        let tasks = self.tasks.read().unwrap_or_else(|p| p.into_inner());
        let mut subsystems: BTreeMap<&'static str, SubsystemHealth> = BTreeMap::new();
        let mut reasons = Vec::new();
        let mut worst = TaskState::Running;
        for (name, status) in tasks.iter() {
            let entry = subsystems
                .entry(status.subsystem)
                .or_insert_with(|| SubsystemHealth {
                    state: TaskState::Running,
                    tasks: BTreeMap::new(),
                    detail: None,
                });
            if status.state.severity() > entry.state.severity() {
                entry.state = status.state;
            }
            if status.state.severity() > worst.severity() {
                worst = status.state;
            }
            if matches!(
                status.state,
                TaskState::Failed | TaskState::Degraded | TaskState::Starting
            ) {
                // Task names carry their subsystem ("ml/models"); a name
                // that does not is prefixed with it.
                let task = if name.starts_with(&format!("{}/", status.subsystem)) {
                    name.clone()
                } else {
                    format!("{}/{name}", status.subsystem)
                };
                // A starting task makes the status `degraded` too, so it
                // is named: a verdict with no reason sends an operator
                // looking for a fault that is only a start in progress.
                reasons.push(match (status.state, status.detail.as_deref()) {
                    (TaskState::Starting, None) => format!("{task} is starting"),
                    (state, detail) => format!(
                        "{task} is {}: {}",
                        state.as_str(),
                        detail.unwrap_or("no detail")
                    ),
                });
            }
            entry.tasks.insert(name.clone(), status.clone());
        }
        let off = self.off.read().unwrap_or_else(|p| p.into_inner());
        for (subsystem, reason) in off.iter() {
            subsystems
                .entry(subsystem)
                .or_insert_with(|| SubsystemHealth {
                    state: TaskState::Off,
                    tasks: BTreeMap::new(),
                    detail: Some(reason.clone()),
                });
        }
        let status = match worst {
            TaskState::Failed => Overall::Failed,
            TaskState::Degraded | TaskState::Starting => Overall::Degraded,
            TaskState::Running | TaskState::Stopped | TaskState::Off => Overall::Ok,
        };
        HealthReport {
            status,
            reasons,
            subsystems,
        }
    }
}

/// One task's reporting handle.
#[derive(Debug, Clone)]
pub struct TaskHealth {
    health: Health,
    subsystem: &'static str,
    task: String,
}

impl TaskHealth {
    pub fn name(&self) -> &str {
        &self.task
    }

    pub fn subsystem(&self) -> &'static str {
        self.subsystem
    }

    /// The task is doing its job.
    pub fn running(&self) {
        self.set(TaskState::Running, None);
    }

    /// The task works but not fully; `reason` shows in /health.
    pub fn degraded(&self, reason: impl Into<String>) {
        self.set(TaskState::Degraded, Some(reason.into()));
    }

    pub fn set(&self, state: TaskState, detail: Option<String>) {
        let changed_at = Utc::now();
        self.health.update(&self.task, self.subsystem, |s| {
            if s.state != state {
                s.since = changed_at;
            }
            s.state = state;
            s.detail = detail;
        });
        for candidate in TaskState::ALL {
            metrics::gauge!(
                crate::telemetry::names::TASK_STATE,
                "task" => self.task.clone(),
                "state" => candidate.as_str()
            )
            .set(if candidate == state { 1.0 } else { 0.0 });
        }
    }

    pub(crate) fn count_restart(&self) {
        self.health
            .update(&self.task, self.subsystem, |s| s.restarts += 1);
        metrics::counter!(crate::telemetry::names::TASK_RESTARTS, "task" => self.task.clone())
            .increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overall_is_the_worst_task_state() {
        let health = Health::new();
        let a = health.register("stream", "stream/windows");
        let b = health.register("web", "web/server");
        let report = health.report();
        assert_eq!(report.status, Overall::Degraded, "still starting");
        assert_eq!(
            report.reasons,
            vec!["stream/windows is starting", "web/server is starting"]
        );
        a.running();
        b.running();
        assert_eq!(health.report().status, Overall::Ok);
        a.degraded("broker unreachable");
        let report = health.report();
        assert_eq!(report.status, Overall::Degraded);
        assert_eq!(
            report.reasons,
            vec!["stream/windows is degraded: broker unreachable"],
            "the task name already carries its subsystem"
        );
        b.set(TaskState::Failed, Some("boom".into()));
        assert_eq!(health.report().status, Overall::Failed);
        assert_eq!(health.report().subsystems["web"].state, TaskState::Failed);
    }
}
