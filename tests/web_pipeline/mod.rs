//! A whole pipeline for the web tests: a model registry with a REAL model
//! trained here on generated readings (smartcore random forest) plus a rejected challenger, and an in-process daemon
//! running the simulator (accelerated, with frequent fires), the stream,
//! the ML task following that registry, the batch layer (a CSV of
//! generated history dropped into its watched folder) and the web with an
//! admin token.

#![allow(dead_code)]

#[path = "../ml_common/mod.rs"]
mod ml_common;

use smokewatch::app::config::Config;
use smokewatch::app::daemon::Daemon;
use smokewatch::ml::{MlConfig, ModelHandle, Promotion, RetrainOutcome, retrain};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub const TOKEN: &str = "pipeline-admin-token-0123456789";

/// The models trained into the registry.
pub struct Trained {
    pub champion: RetrainOutcome,
    pub rejected: RetrainOutcome,
}

/// Small, quick forest (engineered features), registry in `model_dir`.
pub fn ml_config(model_dir: &Path) -> MlConfig {
    ml_common::small_config(model_dir)
}

/// Trains a champion (promoted) and a worse challenger (rejected) into
/// `model_dir`. Blocking: a few seconds.
pub fn train_registry(model_dir: &Path) -> Trained {
    let trained = ml_common::champion_and_challenger(&ml_config(model_dir), &ModelHandle::new());
    assert!(
        !trained.challenger.promoted(),
        "{:?}",
        trained.challenger.decision
    );
    Trained {
        champion: trained.champion,
        rejected: trained.challenger,
    }
}

/// Trains one more model and makes it current (a newer version on disk).
pub fn train_newer(model_dir: &Path) -> RetrainOutcome {
    let config = ml_config(model_dir);
    let data = ml_common::training_data(ml_common::history(3_000, 2, 99));
    retrain(
        &config,
        &ModelHandle::new(),
        &data,
        None,
        Promotion::Force,
        &CancellationToken::new(),
    )
    .expect("newer model trains")
}

/// Writes generated labelled history as the data set's CSV into `dir`.
pub fn drop_csv(dir: &Path, rows: u64) -> PathBuf {
    std::fs::create_dir_all(dir).expect("incoming dir");
    let readings = ml_common::history(rows, 2, 5);
    let tmp = dir.join(".history.csv.part");
    ml_common::write_csv(&tmp, &readings);
    let path = dir.join("history.csv");
    std::fs::rename(&tmp, &path).expect("publish csv");
    path
}

/// The daemon's YAML: state under `dir/data`, the registry trained there.
pub fn yaml(dir: &Path) -> String {
    let data = dir.join("data");
    format!(
        r#"daemon:
  data_dir: {data}
web:
  port: 0
  admin_token: {TOKEN}
simulator:
  homes: 2
  rooms_per_home: 2
  time_acceleration: 60
  scenarios:
    nuisance_per_day: 50
    smouldering_per_day: 150
    flaming_per_day: 150
    smouldering_duration: 3m
    flaming_duration: 2m
ml:
  reload_interval: 1h
  forest:
    trees: 12
    max_depth: 8
batch:
  poll_interval: 1s
"#,
        data = data.display()
    )
}

/// Trains the registry under `dir/data/models`, drops a CSV into the
/// batch layer's watched folder, and starts the daemon.
pub async fn start(dir: &Path) -> (Daemon, Trained) {
    let models = dir.join("data").join("models");
    let trained = {
        let models = models.clone();
        tokio::task::spawn_blocking(move || train_registry(&models))
            .await
            .expect("training task")
    };
    drop_csv(&dir.join("data").join("incoming"), 2_000);
    let config =
        Config::from_yaml(&yaml(dir), Path::new("pipeline.yaml"), Vec::new()).expect("config");
    let daemon = Daemon::start(Arc::new(config))
        .await
        .expect("daemon starts");
    let champion = trained.champion.version.clone();
    wait_for(
        "the ML task to serve the champion",
        Duration::from_secs(30),
        || daemon.handles().model.version().as_deref() == Some(champion.as_str()),
    )
    .await;
    (daemon, trained)
}

/// Polls `done` every 100 ms until it holds; panics after `limit`.
pub async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn base_url(daemon: &Daemon) -> String {
    format!("http://{}", daemon.web_addr().expect("web enabled"))
}
