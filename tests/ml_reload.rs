//! The daemon's ML task follows the registry's `current` pointer: the
//! stored model is loaded at start, a corrupt one is refused with the
//! reason while the served model stays, and a model promoted by another
//! process is swapped in without a restart.

mod ml_common;

use smokewatch::app::config::Config;
use smokewatch::app::daemon::Daemon;
use smokewatch::base::config::Duration;
use smokewatch::ml::{ModelHandle, Promotion, Registry, retrain};
use smokewatch::supervisor::TaskState;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

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
async fn a_corrupt_current_model_is_refused_and_the_served_one_kept() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let data = ml_common::training_data(ml_common::history(3_000, 2, 51));
    let cancel = CancellationToken::new();
    let first = retrain(
        &config.ml,
        &ModelHandle::new(),
        &data,
        None,
        Promotion::Force,
        &cancel,
    )
    .unwrap();

    let daemon = Daemon::start(Arc::new(config.clone())).await.unwrap();
    let handle = daemon.handles().model.clone();
    wait_until(
        "the stored model loaded at start",
        std::time::Duration::from_secs(10),
        || handle.version().as_deref() == Some(first.version.as_str()),
    )
    .await;

    // A second version whose model.json is damaged becomes "current".
    let registry = Registry::open(dir.path()).unwrap();
    let broken = dir.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    for file in ["meta.json", "decision.json"] {
        std::fs::copy(
            dir.path().join(&first.version).join(file),
            broken.join(file),
        )
        .unwrap();
    }
    std::fs::write(
        broken.join("model.json"),
        b"{\"format_version\":1,\"fill\":[",
    )
    .unwrap();
    registry.set_current("broken").unwrap();
    wait_until("the refusal", std::time::Duration::from_secs(10), || {
        daemon
            .health()
            .task("ml/models")
            .and_then(|t| t.detail)
            .is_some_and(|d| d.contains("broken"))
    })
    .await;
    let status = daemon.health().task("ml/models").unwrap();
    assert_eq!(status.state, TaskState::Degraded);
    assert!(
        status
            .detail
            .unwrap()
            .contains(&format!("still serving {}", first.version))
    );
    assert_eq!(handle.version().as_deref(), Some(first.version.as_str()));

    // A good model promoted by another process is picked up.
    let second = retrain(
        &config.ml,
        &ModelHandle::new(),
        &data,
        None,
        Promotion::Force,
        &cancel,
    )
    .unwrap();
    wait_until("the new model", std::time::Duration::from_secs(10), || {
        handle.version().as_deref() == Some(second.version.as_str())
    })
    .await;
    assert_eq!(
        daemon.health().task("ml/models").unwrap().state,
        TaskState::Running
    );
    daemon.stop().await;
}
