//! The daemon's ML task with an empty registry: it trains a first model in
//! the background (scoring reports "no model" until then), promotes it and
//! publishes it in the metrics.

mod ml_common;

use smokewatch::app::config::Config;
use smokewatch::app::daemon::Daemon;
use smokewatch::base::config::Duration;
use smokewatch::ml::Registry;
use smokewatch::supervisor::TaskState;
use std::sync::Arc;
use std::time::Instant;

/// Only the ML task (and metrics) run; the registry is in `dir`.
fn config(dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.simulator.enabled = false;
    config.stream.enabled = false;
    config.sinks.enabled = false;
    config.batch.enabled = false;
    config.web.enabled = false;
    config.ml = ml_common::small_config(dir);
    config.ml.reload_interval = Duration::from_millis(100);
    config.ml.initial_training.rows = 3_000;
    config.ml.initial_training.devices = 2;
    config
}

async fn wait_until(what: &str, timeout: std::time::Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_model_the_daemon_trains_one_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(Arc::new(config(dir.path()))).await.unwrap();
    let handle = daemon.handles().model.clone();
    wait_until(
        "the first model",
        std::time::Duration::from_secs(120),
        || handle.current().is_some(),
    )
    .await;
    let version = handle.version().unwrap();
    let registry = Registry::open(dir.path()).unwrap();
    assert_eq!(
        registry.current_version().unwrap().as_deref(),
        Some(&*version)
    );
    let meta = registry.load(&version).unwrap().meta().clone();
    assert!(
        meta.data.source.starts_with("generated"),
        "{}",
        meta.data.source
    );
    wait_until(
        "ml/models running",
        std::time::Duration::from_secs(5),
        || daemon.health().task("ml/models").map(|t| t.state) == Some(TaskState::Running),
    )
    .await;
    let metrics = daemon.handles().metrics.as_ref().unwrap().render();
    let info = format!("smokewatch_model_info{{version=\"{version}\",kind=\"rf\"}} 1");
    assert!(metrics.contains(&info), "{info} in\n{metrics}");
    assert!(
        metrics.contains("smokewatch_model_promotions_total"),
        "{metrics}"
    );
    let summary = daemon.stop().await;
    assert!(summary.is_clean(), "{:?}", summary.aborted);
}
