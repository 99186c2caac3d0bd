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

/// A dashboard closing its tab ends its `/api/stream` connection; that
/// is the normal end of an event stream, not a server error.
#[test]
fn a_client_leaving_the_event_stream_logs_no_error() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = RunningDaemon::start(dir.path(), &config(), &[]);
    for _ in 0..3 {
        let mut socket = std::net::TcpStream::connect(&daemon.addr).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        write!(
            socket,
            "GET /api/stream HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
            daemon.addr
        )
        .unwrap();
        let mut first = [0u8; 256];
        let n = socket.read(&mut first).unwrap();
        assert!(
            String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&first[..n])
        );
        // Leave while the server is streaming: reset the connection.
        drop(socket);
    }
    // Snapshots go out each second: the server meets the closed sockets.
    std::thread::sleep(Duration::from_millis(2500));
    daemon.terminate();
    let status = daemon.wait_exit(Duration::from_secs(10)).expect("exit");
    assert_eq!(status.code(), Some(0));
    let log = daemon.drain_log().join("\n");
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

/// Subsystems switched off in the config are reported as `off` (in
/// /health and the start-up log), not left out as if they did not exist.
#[test]
fn switched_off_subsystems_are_reported_off() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "daemon:\n  data_dir: data\nml:\n  enabled: false\nbatch:\n  enabled: false\nsimulator:\n  enabled: false\n";
    let mut daemon = RunningDaemon::start(dir.path(), yaml, &[]);
    let client = reqwest::blocking::Client::new();
    let health = || -> serde_json::Value {
        client
            .get(daemon.url("/health"))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    // The web server answers before every stream task has started (each
    // says so in `reasons`); wait for the start to finish.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut body = health();
    while body["status"] != "ok" && Instant::now() < deadline {
        assert!(
            body["reasons"].as_array().is_some_and(|r| r
                .iter()
                .all(|r| r.as_str().is_some_and(|r| r.ends_with("is starting")))),
            "only a start in progress is not ok: {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
        body = health();
    }
    for (subsystem, key) in [
        ("ml", "ml.enabled"),
        ("batch", "batch.enabled"),
        ("simulate", "simulator.enabled"),
    ] {
        let s = &body["subsystems"][subsystem];
        assert_eq!(s["state"], "off", "{subsystem}: {body}");
        assert!(
            s["detail"].as_str().unwrap_or_default().contains(key),
            "{subsystem}: {body}"
        );
    }
    assert_eq!(body["subsystems"]["stream"]["state"], "running", "{body}");
    assert_eq!(body["status"], "ok", "off is not a problem: {body}");
    let html = client
        .get(daemon.url("/status"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(html.contains("data-subsystem-off=\"ml\""), "{html}");
    let line = daemon
        .wait_for_log("subsystems:", Duration::from_secs(5))
        .expect("the start-up log lists the subsystems");
    for part in ["ml off", "batch off", "simulate off", "stream on", "web on"] {
        assert!(line.contains(part), "{part}: {line}");
    }
    daemon.terminate();
    assert_eq!(
        daemon
            .wait_exit(Duration::from_secs(10))
            .and_then(|s| s.code()),
        Some(0)
    );
}

/// A data directory that cannot be written (here: a path through a file)
/// stops the daemon at start with exit 2 and a message naming the path,
/// instead of tasks failing and restarting for ever.
#[test]
fn an_unwritable_data_dir_stops_the_start_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a-file"), b"not a folder").unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        "daemon:\n  data_dir: a-file/data\nweb:\n  port: 0\n",
    )
    .unwrap();
    let mut child = common::smokewatch(dir.path())
        .args(["--config", "config.yaml", "run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            panic!("the daemon kept running with an unwritable data dir");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("daemon.data_dir"), "{stderr}");
    assert!(stderr.contains("a-file/data"), "{stderr}");
    assert_eq!(
        stderr.matches("Not a directory").count(),
        1,
        "the cause once: {stderr}"
    );
}
