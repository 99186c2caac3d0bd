//! A batch run with enough new labelled data retrains through ML's
//! champion/challenger path; the challenger (trained on clean data) beats
//! the served champion (trained on scrambled labels) and the running
//! daemon serves it at once, without a restart: `shared.model` holds the
//! new version and `smokewatch_model_info` says so.

mod batch_common;

use batch_common::*;
use smokewatch::app::daemon::Daemon;
use smokewatch::base::config::Duration as ConfigDuration;
use smokewatch::batch::{RunStatus, Trigger};
use smokewatch::ml::{ModelHandle, Promotion, TrainingData, retrain};
use smokewatch::schema::SmokeReading;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enough_new_labelled_data_retrains_and_the_daemon_serves_the_winner_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.ml.enabled = true;
    config.ml.forest.trees = 12;
    config.ml.forest.max_depth = 8;
    config.ml.reload_interval = ConfigDuration::from_millis(100);
    config.batch.retrain.enabled = true;
    config.batch.retrain.min_new_labelled_rows = 5_000;
    config.batch.retrain.min_quality = 0.8;

    // The champion: a model trained on scrambled labels.
    let mut scrambled = history(3_000, 1, 41, 1);
    for (i, r) in scrambled.iter_mut().enumerate() {
        r.fire_alarm = Some(i % 2 == 0);
    }
    let champion = retrain(
        &config.ml,
        &ModelHandle::new(),
        &TrainingData::from_readings("scrambled", scrambled).unwrap(),
        None,
        Promotion::Force,
        &CancellationToken::new(),
    )
    .unwrap()
    .version;

    let daemon = Daemon::start(Arc::new(config.clone())).await.unwrap();
    let shared = daemon.handles().clone();
    wait_until("the champion served", Duration::from_secs(10), || {
        shared.model.version().as_deref() == Some(champion.as_str())
    })
    .await;

    // New labelled history arrives through the watched folder, one CSV per device.
    let fresh = history(8_000, 2, 42, 1);
    let mut names = Vec::new();
    for device in ["h001-kitchen-smoke", "h001-living-room-smoke"] {
        let rows: Vec<SmokeReading> = fresh
            .iter()
            .filter(|r| r.device_id.as_str() == device)
            .cloned()
            .collect();
        names.push(format!("{device}.csv"));
        drop_file(
            &config.batch.incoming_dir,
            &format!("{device}.csv"),
            csv_text(&rows).as_bytes(),
        );
    }
    let processed = config.batch.incoming_dir.join("processed");
    wait_until("both files ingested", Duration::from_secs(30), || {
        file_names(&processed) == names
    })
    .await;

    let done = shared
        .batch
        .trigger(Trigger::Api)
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(done.status, RunStatus::Success, "{:?}", done.error);
    let report = shared.batch.last_report().unwrap();
    assert!(report.retrain.attempted, "{}", report.retrain.reason);
    let outcome = report.retrain.outcome.clone().unwrap();
    assert_eq!(outcome.champion.as_deref(), Some(champion.as_str()));
    assert!(outcome.promoted, "{}", outcome.decision);
    assert!(
        outcome.f1 > outcome.champion_f1.unwrap(),
        "{}",
        outcome.decision
    );
    assert_eq!(outcome.training_rows, 8_000);
    assert_eq!(done.retrained.as_deref(), Some(outcome.version.as_str()));

    // Served at once, no restart; the metrics say which model is current.
    assert_eq!(
        shared.model.version().as_deref(),
        Some(outcome.version.as_str())
    );
    let metrics = shared.metrics.as_ref().unwrap().render();
    let new_info = format!(
        "smokewatch_model_info{{version=\"{}\",kind=\"rf\"}} 1",
        outcome.version
    );
    let old_info = format!("smokewatch_model_info{{version=\"{champion}\",kind=\"rf\"}} 0");
    assert!(metrics.contains(&new_info), "{new_info} in\n{metrics}");
    assert!(metrics.contains(&old_info), "{old_info} in\n{metrics}");

    // And the web API says the same: GET /api/model serves the winner.
    let app = smokewatch::web::App::new(shared.web_deps(), CancellationToken::new()).unwrap();
    let answer = warp::test::request()
        .method("GET")
        .path("/api/model")
        .reply(&smokewatch::web::routes(app))
        .await;
    assert_eq!(answer.status(), 200);
    let model: serde_json::Value = serde_json::from_slice(answer.body()).unwrap();
    assert_eq!(model["version"], outcome.version.as_str(), "{model}");
    assert_eq!(model["current"]["metrics"]["f1"].as_f64(), Some(outcome.f1));

    // Nothing new: the next run does not retrain.
    let again = shared
        .batch
        .trigger(Trigger::Api)
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(again.status, RunStatus::Success);
    let report = shared.batch.last_report().unwrap();
    assert!(!report.retrain.attempted);
    assert!(
        report.retrain.reason.contains("fewer than"),
        "{}",
        report.retrain.reason
    );
    assert_eq!(
        shared.model.version().as_deref(),
        Some(outcome.version.as_str())
    );
    let summary = daemon.stop().await;
    assert!(summary.is_clean(), "{:?}", summary.aborted);
}
