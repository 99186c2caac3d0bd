//! The daemon binary end to end: starts, answers /health, stops cleanly on
//! SIGTERM and says what it flushed.

mod common;

use common::RunningDaemon;
use std::time::{Duration, Instant};

/// A config with every subsystem at its default except the web port
/// (set to 0 by the harness) and state kept in the test's folder.
fn config() -> String {
    "daemon:\n  data_dir: data\n".to_string()
}

#[test]
fn daemon_serves_health_quickly_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut daemon = RunningDaemon::start(dir.path(), &config(), &[]);
    let client = reqwest::blocking::Client::new();
    let mut answered = None;
    while started.elapsed() < Duration::from_secs(5) {
        if let Ok(resp) = client.get(daemon.url("/health")).send() {
            answered = Some(resp);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let resp = answered.expect("/health answered within 5 s of start");
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().unwrap();
    assert_eq!(body["subsystems"]["web"]["state"], "running", "{body}");

    let metrics = client
        .get(daemon.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(metrics.contains("smokewatch_build_info"), "{metrics}");

    daemon.terminate();
    let status = daemon
        .wait_exit(Duration::from_secs(10))
        .expect("exit within 10 s of SIGTERM");
    assert_eq!(status.code(), Some(0));
    let log = daemon.drain_log().join("\n");
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("shutdown complete"), "{log}");
    assert!(
        log.contains("web server on"),
        "the web task reports it closed: {log}"
    );
}

#[test]
fn port_in_use_fails_the_start_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    std::fs::write(
        dir.path().join("config.yaml"),
        format!("web:\n  port: {port}\n"),
    )
    .unwrap();
    let out = common::smokewatch(dir.path())
        .args(["--config", "config.yaml", "run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
}
