//! `smokewatch tail windows` against a running daemon: a `Batch: N` table
//! per trigger with a row per room × sensor, as JSON too, the address taken
//! from the config, and clear errors for a bad or unreachable `--url`;
//! `tail alerts` and `tail dead-letters` print theirs.

mod common;

use common::{RunningDaemon, smokewatch};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A daemon producing room events fast: 1 home × 2 rooms at 60× real
/// time, windows emitted every second. Event time starts in the past:
/// from now it would run past `stream.max_future_skew` within seconds and
/// be dead-lettered.
const DAEMON: &str = "
daemon:
  data_dir: data
ml:
  enabled: false
batch:
  enabled: false
simulator:
  homes: 1
  rooms_per_home: 2
  time_acceleration: 60
  start_time: 2025-01-01T00:00:00Z
stream:
  window:
    trigger_interval: 1s
";

const SENSORS: [&str; 4] = ["temperature", "humidity", "light", "presence"];

/// Runs `cmd` to its end; kills it and panics after `limit`.
fn run_with_limit(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn smokewatch tail");
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait for tail") {
            let mut stdout = Vec::new();
            let mut stderr = Vec::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_end(&mut stdout)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_end(&mut stderr)
                .unwrap();
            return Output {
                status,
                stdout,
                stderr,
            };
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`tail` did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tail(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = smokewatch(dir);
    cmd.arg("tail").args(args);
    run_with_limit(cmd, Duration::from_secs(90))
}

/// Runs a tail that must succeed; its table header (the line starting
/// `|first_column`) and stdout.
fn tail_table(dir: &Path, args: &[&str], first_column: &str) -> (Vec<String>, String) {
    let out = tail(dir, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let header = stdout
        .lines()
        .find(|l| l.starts_with(&format!("|{first_column}")))
        .expect("a header line");
    let header = header
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_string())
        .collect();
    (header, stdout)
}

/// The data rows of each `Batch: N` table, split into cells.
fn batches(stdout: &str) -> Vec<(u64, Vec<Vec<String>>)> {
    let mut out: Vec<(u64, Vec<Vec<String>>)> = Vec::new();
    let mut rules = 0;
    for line in stdout.lines() {
        if let Some(n) = line.strip_prefix("Batch: ") {
            out.push((n.parse().expect("batch number"), Vec::new()));
            rules = 0;
        } else if line.starts_with('+') {
            rules += 1;
        } else if line.starts_with('|') && rules == 2 {
            let cells = line
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect();
            out.last_mut().expect("a banner first").1.push(cells);
        }
    }
    out
}

#[test]
fn tail_windows_prints_a_table_per_trigger_with_room_sensor_rows() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = RunningDaemon::start(dir.path(), DAEMON, &[]);
    let url = format!("http://{}", daemon.addr);
    // Until the stream has a window for every room × sensor, so the first
    // batch, the current state, must hold them all.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let current: serde_json::Value = reqwest::blocking::get(
            daemon.url("/api/windows?current=true&key=room_sensor&window=tumbling"),
        )
        .and_then(|r| r.json())
        .unwrap_or_default();
        let series: std::collections::BTreeSet<(String, String)> = current["windows"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|w| (w["room"].to_string(), w["measure"].to_string()))
            .collect();
        if series.len() == 2 * SENSORS.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "windows of every room sensor: {series:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = tail(
        dir.path(),
        &[
            "windows",
            "--url",
            &url,
            "--count",
            "3",
            "--interval",
            "200ms",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let header = stdout
        .lines()
        .find(|l| l.starts_with("|home"))
        .expect("a header line");
    let header: Vec<&str> = header.trim_matches('|').split('|').map(str::trim).collect();
    assert_eq!(
        header,
        [
            "home",
            "room",
            "sensor",
            "window_start",
            "window_end",
            "state",
            "count",
            "avg",
            "min",
            "max"
        ]
    );
    let tables = batches(&stdout);
    let numbers: Vec<u64> = tables.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, [0, 1, 2], "{stdout}");
    for (n, rows) in &tables {
        assert!(!rows.is_empty(), "batch {n} has rows:\n{stdout}");
        for row in rows {
            assert_eq!(row.len(), header.len(), "{row:?}");
            assert_eq!(row[0], "h001", "{row:?}");
            assert!(SENSORS.contains(&row[2].as_str()), "{row:?}");
            assert!(["open", "closed"].contains(&row[5].as_str()), "{row:?}");
            let count: u64 = row[6].parse().unwrap_or_else(|_| panic!("{row:?}"));
            assert!(count > 0, "{row:?}");
            let [avg, min, max] = [&row[7], &row[8], &row[9]]
                .map(|c| c.parse::<f64>().unwrap_or_else(|_| panic!("{row:?}")));
            assert!(min <= avg && avg <= max, "{row:?}");
        }
    }
    // The first batch is the current state: every room × sensor.
    let first: std::collections::BTreeSet<(String, String)> = tables[0]
        .1
        .iter()
        .map(|r| (r[1].clone(), r[2].clone()))
        .collect();
    assert_eq!(first.len(), 2 * SENSORS.len(), "{first:?}");
}

#[test]
fn tail_windows_reads_the_address_from_the_config_and_prints_json() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = RunningDaemon::start(dir.path(), DAEMON, &[]);
    let port = daemon.addr.rsplit(':').next().unwrap();
    let client = dir.path().join("client.yaml");
    std::fs::write(&client, format!("web:\n  port: {port}\n")).unwrap();
    let out = tail(
        dir.path(),
        &[
            "--config",
            client.to_str().unwrap(),
            "windows",
            "--key",
            "device",
            "--format",
            "json",
            "--once",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one batch: {stdout}");
    let batch: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(batch["batch"], 0);
    let rows = batch["rows"].as_array().unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        assert_eq!(row["key_kind"], "device", "{row}");
        assert!(
            row["device"].as_str().is_some_and(|d| !d.is_empty()),
            "{row}"
        );
        assert!(row["avg"].is_number(), "{row}");
    }
}

#[test]
fn tail_refuses_a_bad_url_and_names_an_unreachable_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let out = tail(dir.path(), &["windows", "--url", "ftp://example.org"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--url \"ftp://example.org\""), "{stderr}");

    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = tail(dir.path(), &["windows", "--url", &url, "--once"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot reach the daemon at {url}/api/windows")),
        "{stderr}"
    );

    let out = tail(dir.path(), &["windows", "--count", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--count"));
    let out = tail(dir.path(), &["windows", "--interval", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\"soon\" is not a duration"), "{stderr}");
}

#[test]
fn tail_alerts_prints_the_stream_alerts_as_a_table() {
    // An advisory level every humidity reading reaches: every detector
    // raises an alert at once (the tuned defaults watch heat only, which
    // only fires reach, after minutes).
    let config = format!(
        "{DAEMON}  detect:\n    thresholds:\n      humidity_pct: {{low: 0.0, medium: null, high: null, critical: null, hysteresis: 0.1, sustain: 1}}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let daemon = RunningDaemon::start(dir.path(), &config, &[]);
    let url = format!("http://{}", daemon.addr);
    let (header, stdout) = tail_table(dir.path(), &["alerts", "--url", &url, "--once"], "state");
    assert_eq!(
        header,
        [
            "state", "severity", "home", "room", "rule", "kind", "repeats", "raised", "resolved"
        ]
    );
    let tables = batches(&stdout);
    assert_eq!(tables.len(), 1, "--once: {stdout}");
    assert!(!tables[0].1.is_empty());
    for row in &tables[0].1 {
        assert!(["open", "resolved"].contains(&row[0].as_str()), "{row:?}");
        assert_eq!(row[1], "low", "{row:?}");
        assert_eq!(row[2], "h001", "{row:?}");
        assert!(!row[4].is_empty(), "a rule: {row:?}");
        assert!(row[6].parse::<u64>().is_ok_and(|n| n >= 1), "{row:?}");
    }
}

#[test]
fn tail_dead_letters_prints_the_refused_records_with_their_reasons() {
    // Many of the simulator's extra messages are cut-off or mistyped JSON.
    let config = DAEMON.replace(
        "  start_time: 2025-01-01T00:00:00Z\n",
        "  start_time: 2025-01-01T00:00:00Z\n  faults:\n    truncated_json: 0.3\n    wrong_type: 0.3\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let daemon = RunningDaemon::start(dir.path(), &config, &[]);
    let url = format!("http://{}", daemon.addr);
    let (header, stdout) = tail_table(
        dir.path(),
        &["dead-letters", "--url", &url, "--count", "2"],
        "seen",
    );
    assert_eq!(
        header,
        [
            "seen",
            "reason",
            "topic",
            "partition",
            "offset",
            "bytes",
            "detail"
        ]
    );
    let tables = batches(&stdout);
    assert_eq!(tables.len(), 2, "--count 2: {stdout}");
    let mut printed = std::collections::HashSet::new();
    let mut reasons = std::collections::BTreeSet::new();
    for (_, rows) in &tables {
        assert!(!rows.is_empty(), "{stdout}");
        for row in rows {
            reasons.insert(row[1].clone());
            assert!(
                ["readings", "room_events"].contains(&row[2].as_str()),
                "{row:?}"
            );
            assert!(row[5].parse::<u64>().is_ok_and(|n| n > 0), "{row:?}");
            assert!(!row[6].is_empty(), "a reason in words: {row:?}");
            // A record is printed once, in the batch after it was refused.
            let at = (row[2].clone(), row[3].clone(), row[4].clone());
            assert!(printed.insert(at), "{row:?} twice");
        }
    }
    assert!(
        reasons.contains("malformed_json") || reasons.contains("wrong_type"),
        "{reasons:?}"
    );

    // Windows and alerts have rooms; a refused record may not.
    let out = tail(
        dir.path(),
        &["dead-letters", "--url", &url, "--home", "h001"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--home and --room"));
}

#[test]
fn tail_says_when_the_daemon_has_no_stream() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = RunningDaemon::start(
        dir.path(),
        "daemon:\n  data_dir: data\nml:\n  enabled: false\nbatch:\n  enabled: false\nstream:\n  enabled: false\n",
        &[],
    );
    let url = format!("http://{}", daemon.addr);
    let out = tail(dir.path(), &["windows", "--url", &url, "--once"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("503") && stderr.contains("stream.enabled: false"),
        "{stderr}"
    );
}

/// `run --console windows`: the daemon prints the same tables itself.
#[test]
fn run_with_console_prints_the_window_tables_from_the_daemon() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, format!("{DAEMON}web:\n  port: 0\n")).unwrap();
    let mut child = smokewatch(dir.path())
        .arg("--config")
        .arg(&config)
        .args(["run", "--console", "windows"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn smokewatch run");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while batches(&text).len() < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                text.push_str(&line);
                text.push('\n');
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no 3 batches within 60 s:\n{text}");
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let tables = batches(&text);
    assert_eq!(tables[0].0, 0);
    assert_eq!(tables[1].0, 1);
    assert!(
        text.lines().any(|l| l.starts_with("|home|room")),
        "a header:\n{text}"
    );
    for (n, rows) in &tables[..2] {
        assert!(!rows.is_empty(), "batch {n}:\n{text}");
        for row in rows {
            assert!(SENSORS.contains(&row[2].as_str()), "{row:?}");
            assert!(row[7].parse::<f64>().is_ok(), "{row:?}");
        }
    }
}
