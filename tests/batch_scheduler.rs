//! The daemon's batch scheduler: runs on its schedule and on request; a
//! failed run (here: another process holds the job's lock, i.e. the job
//! is already running elsewhere) shows in /health as a degraded task with
//! the reason and in the metrics, and the next scheduled run retries and
//! clears it.

mod batch_common;

use batch_common::*;
use smokewatch::batch::{HistoryStore, RunRefused, RunStatus, Trigger};
use smokewatch::config::Duration as ConfigDuration;
use smokewatch::daemon::Daemon;
use smokewatch::supervisor::TaskState;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_degrades_health_and_the_next_scheduled_run_retries() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.batch.job.schedule = "400ms".parse().unwrap();
    config.batch.poll_interval = ConfigDuration::from_secs(60);
    HistoryStore::new(&config.batch.store_dir)
        .append(&history(500, 2, 9, 1))
        .unwrap();
    // Another process is running the job: hold its lock.
    std::fs::create_dir_all(&config.batch.state_dir).unwrap();
    let lock = std::fs::File::create(config.batch.state_dir.join("job.lock")).unwrap();
    lock.lock().unwrap();

    let daemon = Daemon::start(Arc::new(config)).await.unwrap();
    let shared = daemon.shared().clone();
    wait_until("a failed scheduled run", Duration::from_secs(20), || {
        shared
            .batch
            .history()
            .iter()
            .any(|r| r.status == RunStatus::Failed)
    })
    .await;
    let failed = shared
        .batch
        .history()
        .into_iter()
        .find(|r| r.status == RunStatus::Failed)
        .unwrap();
    assert_eq!(failed.trigger, Trigger::Schedule);
    assert!(
        failed
            .error
            .as_deref()
            .unwrap()
            .contains("already running in another process"),
        "{failed:?}"
    );
    wait_until("batch/scheduler degraded", Duration::from_secs(5), || {
        daemon.health().task("batch/scheduler").map(|t| t.state) == Some(TaskState::Degraded)
    })
    .await;
    let report = daemon.health().report();
    assert!(
        report.reasons.iter().any(|r| r.contains("batch/scheduler")
            && r.contains("already running in another process")
            && r.contains("retrying at the next scheduled run")),
        "{:?}",
        report.reasons
    );
    let metrics = shared.metrics.as_ref().unwrap().render();
    assert!(
        metrics.contains("smokewatch_batch_runs_total{status=\"failed\"}"),
        "{metrics}"
    );

    // The lock is released: the next scheduled run succeeds and clears it.
    lock.unlock().unwrap();
    wait_until("a successful run", Duration::from_secs(20), || {
        shared
            .batch
            .history()
            .iter()
            .any(|r| r.status == RunStatus::Success)
    })
    .await;
    wait_until("batch/scheduler running", Duration::from_secs(5), || {
        daemon.health().task("batch/scheduler").map(|t| t.state) == Some(TaskState::Running)
    })
    .await;
    let first = shared.batch.last_report().unwrap();
    assert_eq!(
        first.input.rows, 500,
        "the retry analysed the data the failed run missed"
    );
    let metrics = shared.metrics.as_ref().unwrap().render();
    for needle in [
        "smokewatch_batch_runs_total{status=\"success\"}",
        "smokewatch_batch_last_success_timestamp_seconds",
        "smokewatch_data_quality_score 1",
        "smokewatch_batch_run_duration_seconds_count",
    ] {
        assert!(metrics.contains(needle), "{needle} in\n{metrics}");
    }

    // A run on request (the web's POST /api/batch/run).
    let ticket = loop {
        match shared.batch.trigger(Trigger::Api) {
            Ok(ticket) => break ticket,
            Err(RunRefused::AlreadyRunning { .. }) => {
                tokio::time::sleep(Duration::from_millis(10)).await
            }
            Err(e) => panic!("{e}"),
        }
    };
    let done = ticket.wait().await.unwrap();
    assert_eq!(
        (done.trigger, done.status),
        (Trigger::Api, RunStatus::Success)
    );
    let summary = daemon.stop().await;
    assert!(summary.is_clean(), "{:?}", summary.aborted);
    assert_eq!(
        shared.batch.trigger(Trigger::Api).err(),
        Some(RunRefused::NotRunning)
    );
}
