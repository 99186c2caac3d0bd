//! How the Kafka transport is doing, for /health and the broker-up gauge.
//!
//! The producer lanes and fetch loops are plain tokio tasks, not supervised
//! ones (they live as long as the transport, and their retries are their
//! own), so they report here; the supervised `transport/kafka` service task
//! turns this into the task's health every half second.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// KafkaContext by every loop of one transport.
#[derive(Debug, Default)]
pub struct BrokerStatus {
    connected: AtomicBool,
    /// Loops whose last request failed.
    failing: AtomicUsize,
    /// Why the last request (or connection attempt) failed.
    last_error: Mutex<Option<String>>,
    /// Problems with the topics found at connection (partition shortfall…).
    topic_problems: Mutex<Vec<String>>,
}

/// What /health should say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    Degraded(String),
}

impl BrokerStatus {
    /// The cluster could not be reached (or set up); `reason` names the
    /// config key to look at.
    pub fn connect_failed(&self, reason: String) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
    }

    /// Connected; `problems` are the topic issues worth an operator's look.
    pub fn connected(&self, problems: Vec<String>) {
        *self
            .topic_problems
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = problems;
        self.connected.store(true, Ordering::Release);
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Whether the broker answers: connected and no loop currently failing.
    pub fn is_up(&self) -> bool {
        self.is_connected() && self.failing.load(Ordering::Acquire) == 0
    }

    pub fn verdict(&self) -> Verdict {
        let last_error = || {
            self.last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
                .unwrap_or_else(|| "unknown error".into())
        };
        if !self.is_connected() {
            return Verdict::Degraded(last_error());
        }
        let failing = self.failing.load(Ordering::Acquire);
        if failing > 0 {
            return Verdict::Degraded(format!(
                "{failing} partition loop(s) retrying after broker errors; last: {}",
                last_error()
            ));
        }
        let problems = self
            .topic_problems
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if problems.is_empty() {
            Verdict::Healthy
        } else {
            Verdict::Degraded(problems.join("; "))
        }
    }
}

/// One loop's run of failures: counted once in [`BrokerStatus`] however
/// long it lasts, and uncounted when the loop succeeds again or ends.
#[derive(Debug)]
pub struct FailureStreak {
    status: Arc<BrokerStatus>,
    failing: bool,
}

impl FailureStreak {
    pub fn new(status: Arc<BrokerStatus>) -> Self {
        Self {
            status,
            failing: false,
        }
    }

    /// A request failed with `error`. Returns whether this started a
    /// streak (worth a warning; repeats are not).
    pub fn failed(&mut self, error: String) -> bool {
        *self
            .status
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(error);
        let started = !self.failing;
        if started {
            self.failing = true;
            self.status.failing.fetch_add(1, Ordering::AcqRel);
        }
        started
    }

    /// A request succeeded. Returns whether this ended a failure streak
    /// (worth a "recovered" log line).
    pub fn succeeded(&mut self) -> bool {
        let was_failing = self.failing;
        if was_failing {
            self.failing = false;
            self.status.failing.fetch_sub(1, Ordering::AcqRel);
        }
        was_failing
    }
}

impl Drop for FailureStreak {
    fn drop(&mut self) {
        self.succeeded();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degraded_until_connected_then_while_any_loop_fails() {
        let status = Arc::new(BrokerStatus::default());
        status.connect_failed("cannot reach kafka.bootstrap_servers".into());
        assert_eq!(
            status.verdict(),
            Verdict::Degraded("cannot reach kafka.bootstrap_servers".into())
        );
        status.connected(Vec::new());
        assert_eq!(status.verdict(), Verdict::Healthy);
        let mut a = FailureStreak::new(status.clone());
        let mut b = FailureStreak::new(status.clone());
        assert!(a.failed("connection refused".into()));
        assert!(!a.failed("connection refused".into()));
        assert!(b.failed("timeout".into()));
        assert!(!status.is_up());
        assert!(a.succeeded());
        assert!(!a.succeeded(), "a second success ends nothing");
        assert!(matches!(status.verdict(), Verdict::Degraded(r) if r.contains("timeout")));
        drop(b);
        assert_eq!(status.verdict(), Verdict::Healthy);
        assert!(status.is_up());
        status.connected(vec!["topic t has 3 partitions".into()]);
        assert_eq!(
            status.verdict(),
            Verdict::Degraded("topic t has 3 partitions".into())
        );
    }
}
