//! Runs every subsystem as a supervised tokio task.
//!
//! * A task that returns an error or panics is logged with its cause and
//!   restarted with exponential backoff ([`RestartPolicy`]); its state is
//!   visible in [`Health`] the whole time, so a crash loop is never a
//!   silent hang.
//! * Shutdown runs in phases, by [`Role`]: sources stop taking data in;
//!   stages end on their own once their input channel is closed and drained
//!   (the drop-the-sender idiom: a finished task drops its senders); then
//!   services (web, metrics) stop. Each task returns a [`TaskReport`] that
//!   says what it flushed, which the supervisor logs.
//!
//! A task is a factory closure, called again for each restart. State that
//! must survive a restart (a channel's receiving end) is captured by the
//! closure; see [`queue::bounded`].

mod config;
pub mod health;
pub mod queue;

pub use config::RestartPolicy;
pub use health::{Health, HealthReport, Overall, TaskHealth, TaskState, TaskStatus};
pub use queue::{Queues, SharedReceiver};

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::task::{Id, JoinSet};
use tokio_util::sync::CancellationToken;

/// When a task is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Takes data in (simulator, consumers, watched folder). Its token is
    /// cancelled first, when shutdown begins.
    Source,
    /// Processes what sources send. Ends by itself when its input channel
    /// closes; its token is cancelled only if the shutdown deadline passes.
    Stage,
    /// Serves the outside world (web, metrics upkeep, schedulers). Its
    /// token is cancelled after every source and stage has finished, so
    /// /health answers until the end.
    Service,
}

/// What a task gets each time it is (re)started.
#[derive(Debug, Clone)]
pub struct TaskContext {
    /// Report running/degraded here.
    pub health: TaskHealth,
    /// Cancelled when this task should stop (see [`Role`]).
    pub shutdown: CancellationToken,
    /// 0 on the first start, then the number of restarts so far.
    pub attempt: u32,
}

/// What a task did before it stopped, e.g. "flushed 3 part files".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskReport(pub String);

impl TaskReport {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }
}

/// Why a task failed. Any error converts into it with `?`.
#[derive(Debug)]
pub struct TaskError(String);

impl TaskError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for TaskError {
    fn from(e: E) -> Self {
        // Keep the whole cause chain: "writing checkpoint: disk full".
        // Many errors already end their message with their cause ("store
        // /x: Permission denied (os error 13)"); such a cause is not
        // repeated.
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            let cause = s.to_string();
            if !message.ends_with(&cause) {
                message.push_str(": ");
                message.push_str(&cause);
            }
            source = s.source();
        }
        Self(message)
    }
}

pub type TaskResult = Result<TaskReport, TaskError>;

/// What shutdown achieved.
#[derive(Debug, Default)]
pub struct ShutdownSummary {
    /// (task, report) of every task that stopped on its own.
    pub reports: Vec<(String, TaskReport)>,
    /// Tasks that had to be aborted at the deadline.
    pub aborted: Vec<String>,
    /// Wall time from the start of shutdown until every task stopped or was aborted.
    pub elapsed: Duration,
}

impl ShutdownSummary {
    pub fn is_clean(&self) -> bool {
        self.aborted.is_empty()
    }
}

/// Owns every task of the daemon.
pub struct Supervisor {
    health: Health,
    queues: Queues,
    policy: RestartPolicy,
    intake: CancellationToken,
    hard_stop: CancellationToken,
    service_stop: CancellationToken,
    pipeline: JoinSet<(String, Option<TaskReport>)>,
    pipeline_names: HashMap<Id, String>,
    services: JoinSet<(String, Option<TaskReport>)>,
    service_names: HashMap<Id, String>,
}

impl Supervisor {
    pub fn new(health: Health, policy: RestartPolicy) -> Self {
        Self {
            health,
            queues: Queues::default(),
            policy,
            intake: CancellationToken::new(),
            hard_stop: CancellationToken::new(),
            service_stop: CancellationToken::new(),
            pipeline: JoinSet::new(),
            pipeline_names: HashMap::new(),
            services: JoinSet::new(),
            service_names: HashMap::new(),
        }
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The registry of bounded channels, for queue-depth metrics.
    pub fn queues(&self) -> &Queues {
        &self.queues
    }

    /// Cancelled once shutdown has begun; for code outside supervised tasks.
    pub fn intake_token(&self) -> CancellationToken {
        self.intake.clone()
    }

    /// Starts a supervised task. `factory` is called for the first start and
    /// again after each failure.
    pub fn spawn<F, Fut>(&mut self, subsystem: &'static str, name: &str, role: Role, factory: F)
    where
        F: FnMut(TaskContext) -> Fut + Send + 'static,
        Fut: Future<Output = TaskResult> + Send + 'static,
    {
        let health = self.health.register(subsystem, name);
        let token = match role {
            Role::Source => self.intake.child_token(),
            Role::Stage => self.hard_stop.child_token(),
            Role::Service => self.service_stop.child_token(),
        };
        let release = self.intake.clone();
        let policy = self.policy.clone();
        let name = name.to_string();
        let run = supervise(name.clone(), health, token, release, policy, factory);
        let handle = match role {
            Role::Service => self.services.spawn(run),
            Role::Source | Role::Stage => self.pipeline.spawn(run),
        };
        match role {
            Role::Service => self.service_names.insert(handle.id(), name),
            Role::Source | Role::Stage => self.pipeline_names.insert(handle.id(), name),
        };
    }

    /// Graceful stop within `timeout`: sources stop, stages drain and
    /// flush, then services stop. Tasks still running at the deadline are
    /// aborted and named in the summary.
    pub async fn shutdown(mut self, timeout: Duration) -> ShutdownSummary {
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut summary = ShutdownSummary::default();
        tracing::info!("shutdown: stopping intake, draining the pipeline");
        self.intake.cancel();
        let pipeline_done = drain(
            &mut self.pipeline,
            &mut self.pipeline_names,
            deadline,
            &mut summary,
        )
        .await;
        if !pipeline_done {
            self.hard_stop.cancel();
        }
        tracing::info!("shutdown: pipeline drained, stopping services");
        self.service_stop.cancel();
        drain(
            &mut self.services,
            &mut self.service_names,
            deadline,
            &mut summary,
        )
        .await;
        for set in [&mut self.pipeline, &mut self.services] {
            set.abort_all();
        }
        summary.aborted.extend(self.pipeline_names.into_values());
        summary.aborted.extend(self.service_names.into_values());
        summary.aborted.sort();
        summary.elapsed = started.elapsed();
        summary
    }
}

/// Joins tasks until all are done or the deadline passes; true if all are done.
async fn drain(
    set: &mut JoinSet<(String, Option<TaskReport>)>,
    names: &mut HashMap<Id, String>,
    deadline: tokio::time::Instant,
    summary: &mut ShutdownSummary,
) -> bool {
    loop {
        match tokio::time::timeout_at(deadline, set.join_next_with_id()).await {
            Err(_) => return false,
            Ok(None) => return true,
            Ok(Some(Ok((id, (name, report))))) => {
                names.remove(&id);
                if let Some(report) = report {
                    summary.reports.push((name, report));
                }
            }
            Ok(Some(Err(e))) => {
                names.remove(&e.id());
            }
        }
    }
}

/// The restart loop of one task.
async fn supervise<F, Fut>(
    name: String,
    health: TaskHealth,
    token: CancellationToken,
    release: CancellationToken,
    policy: RestartPolicy,
    mut factory: F,
) -> (String, Option<TaskReport>)
where
    F: FnMut(TaskContext) -> Fut + Send + 'static,
    Fut: Future<Output = TaskResult> + Send + 'static,
{
    let mut failures: u32 = 0;
    let mut attempt: u32 = 0;
    loop {
        health.set(TaskState::Starting, None);
        let ctx = TaskContext {
            health: health.clone(),
            shutdown: token.clone(),
            attempt,
        };
        let started = Instant::now();
        // Spawned separately so a panic is caught here as a JoinError.
        let outcome = tokio::spawn(factory(ctx)).await;
        let cause = match outcome {
            Ok(Ok(report)) => {
                tracing::info!(task = %name, "stopped: {}", report.0);
                health.set(TaskState::Stopped, Some(report.0.clone()));
                return (name, Some(report));
            }
            Ok(Err(e)) => e.to_string(),
            Err(join) if join.is_panic() => format!("panicked: {}", panic_message(join)),
            Err(join) => format!("was cancelled: {join}"),
        };
        if started.elapsed() >= policy.reset_after.get() {
            failures = 0;
        }
        failures += 1;
        attempt += 1;
        health.count_restart();
        // A stage failing while it drains is restarted (it still has data
        // to drain); only a task told to stop is not.
        if token.is_cancelled() {
            tracing::error!(task = %name, "failed during shutdown, not restarted: {cause}");
            health.set(TaskState::Failed, Some(cause));
            return (name, None);
        }
        if policy.max_restarts > 0 && failures > policy.max_restarts {
            tracing::error!(
                task = %name,
                "failed {failures} times in a row, giving up: {cause}"
            );
            health.set(
                TaskState::Failed,
                Some(format!("gave up after {failures} failures: {cause}")),
            );
            // Keep the factory (and the channel ends it holds) until
            // shutdown begins, so one dead task does not unwind the
            // pipeline; /health says failed meanwhile.
            release.cancelled().await;
            return (name, None);
        }
        let wait = policy.backoff(failures);
        tracing::error!(task = %name, "failed, restarting in {wait:?}: {cause}");
        health.set(
            TaskState::Failed,
            Some(format!("{cause} (restart in {wait:?})")),
        );
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = token.cancelled() => {
                health.set(TaskState::Failed, Some(cause));
                return (name, None);
            }
        }
    }
}

fn panic_message(join: tokio::task::JoinError) -> String {
    let payload = join.into_panic();
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::config::Duration as ConfigDuration;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast_policy() -> RestartPolicy {
        RestartPolicy {
            initial_backoff: ConfigDuration::from_millis(10),
            max_backoff: ConfigDuration::from_millis(40),
            ..RestartPolicy::default()
        }
    }

    /// Many of our errors say their cause in their own message ("store
    /// /x: Permission denied (os error 13)") and also return it as
    /// `source()`; the chain must not say it twice.
    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let source = std::fs::read_dir("/nonexistent/smokewatch-test").unwrap_err();
        let os = source.to_string();
        #[derive(Debug, thiserror::Error)]
        #[error("store {path}: {source}")]
        struct StoreIo {
            path: String,
            source: std::io::Error,
        }
        let error = StoreIo {
            path: "/nonexistent/smokewatch-test".into(),
            source,
        };
        let message = TaskError::from(error).to_string();
        assert_eq!(message.matches(&os).count(), 1, "{message}");

        #[derive(Debug, thiserror::Error)]
        #[error("writing checkpoint")]
        struct Outer(#[source] std::io::Error);
        let message = TaskError::from(Outer(std::io::Error::other("disk full"))).to_string();
        assert_eq!(
            message, "writing checkpoint: disk full",
            "a cause not in the message is kept"
        );
    }

    #[tokio::test]
    async fn failing_task_is_restarted_until_it_succeeds() {
        let health = Health::new();
        let mut sup = Supervisor::new(health.clone(), fast_policy());
        let starts = Arc::new(AtomicU32::new(0));
        let counter = starts.clone();
        sup.spawn("test", "flaky", Role::Stage, move |_ctx| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    0 => Err(TaskError::new("first start fails")),
                    1 => panic!("second start panics"),
                    _ => Ok(TaskReport::new("done")),
                }
            }
        });
        let summary = sup.shutdown(Duration::from_secs(5)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 3);
        assert_eq!(
            summary.reports,
            vec![("flaky".to_string(), TaskReport::new("done"))]
        );
        let status = health.task("flaky").unwrap();
        assert_eq!(status.restarts, 2);
        assert_eq!(status.state, TaskState::Stopped);
    }

    #[tokio::test]
    async fn task_that_keeps_failing_is_marked_failed() {
        let health = Health::new();
        let policy = RestartPolicy {
            max_restarts: 2,
            ..fast_policy()
        };
        let mut sup = Supervisor::new(health.clone(), policy);
        sup.spawn("test", "broken", Role::Source, |_ctx| async {
            Err::<TaskReport, _>(TaskError::new("disk on fire"))
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let status = health.task("broken").unwrap();
        assert_eq!(status.state, TaskState::Failed);
        assert!(status.detail.unwrap().contains("disk on fire"));
        assert_eq!(health.report().status, Overall::Failed);
        sup.shutdown(Duration::from_secs(2)).await;
    }

    #[tokio::test]
    async fn shutdown_stops_sources_then_stages_drain_then_services_stop() {
        let health = Health::new();
        let mut sup = Supervisor::new(health, fast_policy());
        let (tx, rx) = queue::bounded::<u32>(
            "numbers",
            crate::base::config::Capacity::new(4),
            sup.queues(),
        );
        let order = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let log = order.clone();
        sup.spawn("test", "source", Role::Source, move |ctx| {
            let tx = tx.clone();
            let log = log.clone();
            async move {
                let mut n = 0;
                loop {
                    tokio::select! {
                        _ = ctx.shutdown.cancelled() => break,
                        r = tx.send(n) => { r.map_err(|_| TaskError::new("closed"))?; n += 1; }
                    }
                }
                log.lock().unwrap().push("source".into());
                Ok(TaskReport::new(format!("sent {n}")))
            }
        });
        let log = order.clone();
        sup.spawn("test", "stage", Role::Stage, move |_ctx| {
            let rx = rx.clone();
            let log = log.clone();
            async move {
                let mut rx = rx.lock().await;
                let mut received = 0u32;
                while rx.recv().await.is_some() {
                    received += 1;
                }
                log.lock().unwrap().push("stage".into());
                Ok(TaskReport::new(format!("drained {received}")))
            }
        });
        let log = order.clone();
        sup.spawn("test", "service", Role::Service, move |ctx| {
            let log = log.clone();
            async move {
                ctx.shutdown.cancelled().await;
                log.lock().unwrap().push("service".into());
                Ok(TaskReport::new("served"))
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let summary = sup.shutdown(Duration::from_secs(5)).await;
        assert!(summary.is_clean());
        assert_eq!(*order.lock().unwrap(), vec!["source", "stage", "service"]);
        let sent: u32 = summary.reports[0]
            .1
            .0
            .trim_start_matches("sent ")
            .parse()
            .unwrap();
        let drained: u32 = summary.reports[1]
            .1
            .0
            .trim_start_matches("drained ")
            .parse()
            .unwrap();
        assert_eq!(sent, drained, "every record sent was drained");
    }

    #[tokio::test]
    async fn hung_task_is_aborted_and_named_at_the_deadline() {
        let mut sup = Supervisor::new(Health::new(), fast_policy());
        sup.spawn("test", "stuck", Role::Stage, |_ctx| async {
            std::future::pending::<()>().await;
            Ok(TaskReport::default())
        });
        let summary = sup.shutdown(Duration::from_millis(100)).await;
        assert_eq!(summary.aborted, vec!["stuck".to_string()]);
    }
}
