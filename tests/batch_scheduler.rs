//! The daemon's batch scheduler: runs on its schedule and on request; a
//! failed run (here: another process holds the job's lock, i.e. the job
//! is already running elsewhere) shows in /health as a degraded task with
//! the reason and in the metrics, and the next scheduled run retries and
//! clears it.

mod batch_common;

use batch_common::*;
use smokewatch::app::daemon::Daemon;
use smokewatch::base::config::Duration as ConfigDuration;
use smokewatch::batch::{RunRefused, RunStatus, Trigger};
use smokewatch::store::HistoryStore;
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
    let shared = daemon.handles().clone();
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

/// Live data reaches the batch layer: with the default
/// `batch.stream_append`, the simulated fleet's readings flow through the
/// stream into the store at each checkpoint, and a run started with
/// `POST /api/batch/run` reports them, per device.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_requested_over_http_reports_the_readings_the_stream_stored() {
    const TOKEN: &str = "test-admin-token-0123456789";
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "daemon:\n  data_dir: {}\nweb:\n  port: 0\n  admin_token: {TOKEN}\nml:\n  enabled: false\n\
         simulator:\n  time_acceleration: 60\n  faults:\n    enabled: false\n\
         stream:\n  checkpoint:\n    interval: 500ms\n\
         batch:\n  retrain:\n    enabled: false\n",
        dir.path().join("data").display()
    );
    let config = smokewatch::app::config::Config::from_yaml(
        &yaml,
        std::path::Path::new("test.yaml"),
        Vec::new(),
    )
    .unwrap();
    assert!(config.batch.stream_append, "appending is the default");
    let store = HistoryStore::new(&config.batch.store_dir);
    let daemon = Daemon::start(Arc::new(config)).await.unwrap();
    let base = format!("http://{}", daemon.web_addr().unwrap());
    let store_rows = |store: &HistoryStore| -> u64 {
        store
            .files()
            .unwrap()
            .iter()
            .map(|f| store.row_count(f).unwrap())
            .sum()
    };
    wait_until(
        "stream readings in the store",
        Duration::from_secs(30),
        || store_rows(&store) >= 200,
    )
    .await;

    let before = store_rows(&store);
    let client = reqwest::Client::new();
    let answer = client
        .post(format!("{base}/api/batch/run"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    let answer: serde_json::Value = answer.json().await.unwrap();
    let run_id = answer["run_id"].as_str().unwrap().to_string();
    let batch = daemon.handles().batch.clone();
    wait_until("the run to end", Duration::from_secs(60), || {
        batch
            .history()
            .iter()
            .any(|r| r.run_id == run_id && r.status != RunStatus::Running)
    })
    .await;
    let after = store_rows(&store);
    let record = batch
        .history()
        .into_iter()
        .find(|r| r.run_id == run_id)
        .unwrap();
    assert_eq!(record.status, RunStatus::Success, "{:?}", record.error);
    assert!(
        before <= record.rows && record.rows <= after,
        "the run saw {} rows; the store held {before} before and {after} after",
        record.rows
    );
    let report = batch.last_report().unwrap();
    let devices: std::collections::BTreeSet<&String> = report
        .kpis
        .readings_per_device_per_day
        .values()
        .flat_map(|d| d.keys())
        .collect();
    // The default fleet: 4 homes × 3 rooms, one detector each.
    assert_eq!(devices.len(), 12, "{devices:?}");
    assert_eq!(report.quality.duplicate_rows, 0, "nothing stored twice");
    daemon.stop().await;
}
