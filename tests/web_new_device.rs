//! A reading from a device nobody registered, sent over HTTP to a daemon
//! that has a fire model: within 2 s of the ingest answer the device is
//! registered, its readings are windowed, scored by the model, and its room
//! shows in the dashboard's live Rooms table (the `/api/stream` snapshots the
//! dashboard renders) with the model's fire probability.
//!
//! The windows appear at the stream's next trigger: this daemon triggers
//! every second (`stream.window.trigger_interval: 1s`); the default is 10 s.

mod ingest_support;
mod ml_common;
mod web_support;

use ingest_support::{get, new_device_body, url};
use smokewatch::app::config::Config;
use smokewatch::app::daemon::Daemon;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use web_support::read_events;

const INGEST: &str = "ingest-token-0123456789";

/// The live fleet's one detector, ML on with a small first model trained
/// at start, windows triggered every second.
fn config(dir: &Path) -> Config {
    let yaml = format!(
        "daemon:\n  data_dir: {}\nweb:\n  port: 0\n  ingest_token: {INGEST}\n{}  initial_training:\n    rows: 3000\n    devices: 2\nsimulator:\n  homes: 1\n  rooms_per_home: 1\nstream:\n  window:\n    trigger_interval: 1s\n",
        dir.join("data").display(),
        ml_common::small_config_yaml(&dir.join("models")),
    );
    Config::from_yaml(&yaml, Path::new("test.yaml"), Vec::new()).expect("config")
}

/// The new device's room in a dashboard snapshot, once it has a probability.
fn scored_room(snapshot: &serde_json::Value) -> Option<f64> {
    snapshot["rooms"]
        .as_array()?
        .iter()
        .find(|r| r["home"] == "h777" && r["room"] == "attic")?["fire_probability"]
        .as_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_device_is_registered_windowed_scored_and_on_the_dashboard_within_2_s() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(Arc::new(config(dir.path())))
        .await
        .expect("daemon starts");
    let model = daemon.handles().model.clone();
    let trained = Instant::now();
    while model.current().is_none() {
        assert!(trained.elapsed() < Duration::from_secs(120), "no model");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let client = reqwest::Client::new();
    let mut dashboard = client
        .get(url(&daemon, "/api/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(read_events(&mut dashboard, 1).await[0].event, "history");

    let answer: serde_json::Value = client
        .post(url(&daemon, "/api/ingest/readings"))
        .bearer_auth(INGEST)
        .body(new_device_body())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["accepted"], 3, "{answer}");
    let answered = Instant::now();

    // Every snapshot the dashboard receives, until the room is scored.
    let probability = loop {
        let snapshot = read_events(&mut dashboard, 1).await.remove(0);
        if let Some(p) = scored_room(&snapshot.data) {
            break p;
        }
        assert!(
            answered.elapsed() < Duration::from_secs(2),
            "the room h777/attic not scored on the dashboard 2 s after the answer: {}",
            snapshot.data["rooms"]
        );
    };
    let on_dashboard = answered.elapsed();
    assert!((0.0..=1.0).contains(&probability), "{probability}");

    loop {
        let devices = get(&daemon, "/api/devices").await;
        let registered = devices["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == "h777-attic-smoke" && d["source"] == "auto");
        let windows = get(
            &daemon,
            "/api/windows?device=h777-attic-smoke&measure=pm2_5",
        )
        .await;
        if registered && windows["matched"].as_u64().unwrap() > 0 {
            break;
        }
        assert!(
            answered.elapsed() < Duration::from_secs(2),
            "registered {registered}, windows {windows}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "on the dashboard, scored ({probability:.3}), after {on_dashboard:?}; registered and windowed after {:?}",
        answered.elapsed()
    );
    let summary = daemon.stop().await;
    assert!(summary.is_clean(), "{:?}", summary.aborted);
}
