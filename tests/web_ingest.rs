//! HTTP ingest against in-process daemons: the Smart Home producer's room
//! events give the same room windows and "light on in an empty room"
//! alerts as smokewatch's own room-event shape; a reading from a new
//! device is registered (and kept across a restart) or, with
//! `stream.unknown_devices: dead_letter`, refused with the reason; 100 000
//! NDJSON readings in one request all reach the history store, and a body
//! with bad lines answers their line numbers and keeps the good ones.

mod common;
mod ingest_support;

use ingest_support::{
    check_room_outputs, get, new_device_body, reading, settled_room_outputs, smart_home_body,
    t0_ms, url, v1_body,
};
use serde_json::{Value, json};
use smokewatch::app::config::Config;
use smokewatch::app::daemon::Daemon;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const INGEST: &str = "ingest-token-0123456789";
const ADMIN: &str = "admin-token-0123456789";

/// A daemon with state in `dir/data`, web on a free port, both tokens,
/// ML off, `extra` YAML appended (sections not named here).
async fn daemon(dir: &Path, web_extra: &str, extra: &str) -> Daemon {
    let yaml = format!(
        "daemon:\n  data_dir: {}\nweb:\n  port: 0\n  admin_token: {ADMIN}\n  ingest_token: {INGEST}\n{web_extra}ml:\n  enabled: false\n{extra}",
        dir.join("data").display()
    );
    let config = Config::from_yaml(&yaml, Path::new("test.yaml"), Vec::new()).expect("config");
    Daemon::start(Arc::new(config))
        .await
        .expect("daemon starts")
}

async fn post(daemon: &Daemon, path: &str, token: Option<&str>, body: String) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(url(daemon, path))
        .header("content-type", "application/x-ndjson")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON answer"))
}

async fn wait_until<F, Fut>(what: &str, limit: Duration, mut done: F) -> Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<Value>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = done().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const ROOM_STREAM: &str = "simulator:\n  enabled: false\nkafka:\n  partitions: 1\nstream:\n  default_home: h1\n  window:\n    trigger_interval: 200ms\n";

async fn run_room_events(body: String) -> (BTreeSet<String>, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path(), "", ROOM_STREAM).await;
    let (status, report) = post(&daemon, "/api/ingest/room-events", Some(INGEST), body).await;
    assert_eq!(status, 200, "{report}");
    let n = ingest_support::room_script().len();
    assert_eq!(report["accepted"], n, "{report}");
    assert_eq!(report["refused"], 0, "{report}");
    assert_eq!(report["framing"], "ndjson");
    // The alert opens at 60 s and resolves a minute after someone enters
    // at 151 s.
    let outputs = settled_room_outputs(&daemon).await;
    daemon.stop().await;
    outputs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smart_home_messages_give_the_same_windows_and_alerts_as_the_v1_shape() {
    let t0 = t0_ms();
    let v1 = run_room_events(v1_body(t0)).await;
    let smart = run_room_events(smart_home_body(t0)).await;
    check_room_outputs(&v1, t0);
    let (windows, alerts) = &v1;
    assert_eq!(&smart.0, windows, "room windows differ");
    assert_eq!(&smart.1, alerts, "alerts differ");
}

/// A live fleet (one home of one room), so the registry is an allow-list.
const LIVE: &str = "simulator:\n  homes: 1\n  rooms_per_home: 1\nstream:\n  window:\n    trigger_interval: 200ms\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_device_is_registered_windowed_and_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path(), "", LIVE).await;
    let devices = get(&daemon, "/api/devices").await;
    assert_eq!(
        devices["count"], 2,
        "the simulator's detector and room sensor: {devices}"
    );

    // Without the token, and with a wrong one.
    let body = new_device_body;
    let (status, answer) = post(&daemon, "/api/ingest/readings", None, body()).await;
    assert_eq!(status, 401, "{answer}");
    let (status, answer) = post(&daemon, "/api/ingest/readings", Some(ADMIN), body()).await;
    assert_eq!(status, 401, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("web.ingest_token")
    );

    let sent = Instant::now();
    let (status, answer) = post(&daemon, "/api/ingest/readings", Some(INGEST), body()).await;
    assert_eq!((status, &answer["accepted"]), (200, &json!(3)), "{answer}");
    let d = &daemon;
    wait_until(
        "the new device registered and windowed",
        Duration::from_secs(2),
        || async move {
            let devices = get(d, "/api/devices").await;
            let registered = devices["devices"].as_array().unwrap().iter().any(|d| {
                d["id"] == "h777-attic-smoke" && d["source"] == "auto" && d["room"] == "attic"
            });
            let windows = get(d, "/api/windows?device=h777-attic-smoke&measure=pm2_5").await;
            (registered && windows["matched"].as_u64().unwrap() > 0).then_some(windows)
        },
    )
    .await;
    eprintln!(
        "registered and windowed {:?} after the answer",
        sent.elapsed()
    );

    // An id that does not read home-room-kind is refused by name.
    let sensor7 = |seq| {
        let now = chrono::Utc::now().timestamp_millis();
        let body = reading("sensor7", "h777", "attic", seq, now).to_string();
        post(&daemon, "/api/ingest/readings", Some(INGEST), body)
    };
    let (status, answer) = sensor7(1).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["refusals"][0]["reason"], "unknown_device");
    assert_eq!(answer["refusals"][0]["index"], 1);

    // Registered through the admin API instead, it is accepted.
    let response = reqwest::Client::new()
        .post(url(&daemon, "/api/devices"))
        .bearer_auth(ADMIN)
        .json(&json!([{"id": "sensor7", "home": "h777", "room": "attic"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let (status, answer) = sensor7(2).await;
    assert_eq!((status, &answer["accepted"]), (200, &json!(1)), "{answer}");
    daemon.stop().await;

    // Both registrations survive a restart.
    let daemon = self::daemon(dir.path(), "", LIVE).await;
    let devices = get(&daemon, "/api/devices").await;
    let kept: Vec<(String, String)> = devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["source"] != "fleet")
        .map(|d| {
            (
                d["id"].as_str().unwrap().to_string(),
                d["source"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        kept,
        [
            ("h777-attic-smoke".to_string(), "auto".to_string()),
            ("sensor7".to_string(), "api".to_string())
        ]
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_dead_letter_a_new_device_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(
        dir.path(),
        "",
        "simulator:\n  homes: 1\n  rooms_per_home: 1\nstream:\n  unknown_devices: dead_letter\n",
    )
    .await;
    let now = chrono::Utc::now().timestamp_millis();
    let body = json!([
        reading("h777-attic-smoke", "h777", "attic", 1, now),
        reading("h001-kitchen-smoke", "h001", "kitchen", 1_000_000, now)
    ])
    .to_string();
    let devices = get(&daemon, "/api/devices").await;
    assert!(
        devices.to_string().contains("\"h001-kitchen-smoke\""),
        "{devices}"
    );
    let (status, answer) = post(&daemon, "/api/ingest/readings", Some(INGEST), body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (&answer["accepted"], &answer["refused"]),
        (&json!(1), &json!(1)),
        "{answer}"
    );
    assert_eq!(answer["framing"], "array");
    let refusal = &answer["refusals"][0];
    assert_eq!(
        (&refusal["index"], &refusal["reason"]),
        (&json!(1), &json!("unknown_device"))
    );
    assert!(
        refusal["error"].as_str().unwrap().contains("dead_letter"),
        "{refusal}"
    );
    let devices = get(&daemon, "/api/devices").await;
    assert_eq!(devices["count"], 2, "nothing registered: {devices}");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_is_off_without_a_token_and_says_how_to_enable_it() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "daemon:\n  data_dir: {}\nweb:\n  port: 0\nml:\n  enabled: false\nsimulator:\n  enabled: false\n",
        dir.path().join("data").display()
    );
    let config = Config::from_yaml(&yaml, Path::new("t.yaml"), Vec::new()).unwrap();
    let daemon = Daemon::start(Arc::new(config)).await.unwrap();
    let (status, answer) = post(&daemon, "/api/ingest/room-events", Some("x"), "{}".into()).await;
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("web.ingest_token"),
        "{answer}"
    );
    daemon.stop().await;
}

/// Every (device, seq) in the history store (`batch.stream_append`).
fn stored(config: &Config) -> Vec<(String, u64)> {
    common::stored_keys(&config.batch.store_dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_ndjson_readings_and_a_body_with_ten_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path(), "", "simulator:\n  enabled: false\n").await;
    let config = daemon.handles().config.clone();
    let t0 = chrono::Utc::now().timestamp_millis() - 3 * 3600 * 1000;
    // 100 devices × 1000 seconds, in time order.
    let body: String = (1..=100_000usize)
        .map(|n| fleet_line(n, t0).to_string() + "\n")
        .collect();
    eprintln!("body: {} bytes", body.len());
    let started = Instant::now();
    let (status, answer) = post(&daemon, "/api/ingest/readings", Some(INGEST), body).await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (&answer["received"], &answer["accepted"], &answer["refused"]),
        (&json!(100_000), &json!(100_000), &json!(0))
    );
    eprintln!(
        "ingest throughput: 100000 readings in {:.2} s = {:.0} readings/s (answer after the transport held them all)",
        took.as_secs_f64(),
        100_000.0 / took.as_secs_f64()
    );

    // 10 000 lines (later seconds), 10 of them bad in different ways.
    let lines: Vec<String> = (100_001..=110_000usize)
        .map(|n| {
            match BAD_LINES
                .iter()
                .position(|(line, _, _)| *line == n - 100_000)
            {
                None => fleet_line(n, t0).to_string(),
                Some(which) => bad_line(which, fleet_line(n, t0)),
            }
        })
        .collect();
    let (status, answer) = post(
        &daemon,
        "/api/ingest/readings",
        Some(INGEST),
        lines.join("\n"),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (&answer["accepted"], &answer["refused"]),
        (&json!(9_990), &json!(10))
    );
    check_refusals(&answer);

    // Everything accepted is processed: the stream appends each cleaned
    // reading to the history store at its checkpoints. (The embedded
    // transport keeps nothing across a stop, so wait before stopping.)
    let deadline = Instant::now() + Duration::from_secs(180);
    while stored(&config).len() < 109_990 {
        assert!(
            Instant::now() < deadline,
            "only {} readings stored",
            stored(&config).len()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let summary = daemon.stop().await;
    assert!(summary.is_clean(), "{:?}", summary.aborted);
    let rows = stored(&config);
    assert_eq!(rows.len(), 109_990);
    let distinct: BTreeSet<&(String, u64)> = rows.iter().collect();
    assert_eq!(distinct.len(), rows.len(), "no reading stored twice");
}

/// Reading number `n` (1-based) of a fleet of 100 detectors `h1-r<d>-smoke`
/// reporting once a second from `t0`.
fn fleet_line(n: usize, t0: i64) -> Value {
    let s = (n as u64 - 1) / 100 + 1;
    let d = (n - 1) % 100;
    reading(
        &format!("h1-r{d}-smoke"),
        "h1",
        &format!("r{d}"),
        s,
        t0 + s as i64 * 1000,
    )
}

/// The bad lines of the second body: (line number, the refusal's reason,
/// the field it names).
const BAD_LINES: [(usize, &str, Option<&str>); 10] = [
    (1, "malformed_json", None),
    (7, "missing_field", Some("seq")),
    (500, "wrong_type", Some("pm2_5")),
    (1234, "not_finite", Some("humidity_pct")),
    (2000, "unknown_device", Some("device_id")),
    (4321, "unknown_schema_version", Some("schema_version")),
    (5000, "malformed_json", None),
    (7777, "empty_field", Some("home")),
    (9999, "ambiguous_shape", Some("Temperature[C]")),
    (10_000, "malformed_json", None),
];

/// Bad line number `which` of [`BAD_LINES`], made from the good reading `r`.
fn bad_line(which: usize, mut r: Value) -> String {
    match which {
        0 => "{\"schema_version\":1,\"device_id\":".into(),
        1 => {
            r.as_object_mut().unwrap().remove("seq");
            r.to_string()
        }
        2 => {
            r["pm2_5"] = json!("high");
            r.to_string()
        }
        3 => {
            // (An impossible value, e.g. 140 % humidity, is no
            // refusal: the stream marks that channel invalid.)
            r["humidity_pct"] = json!("NaN");
            r.to_string()
        }
        4 => {
            r["device_id"] = json!("no-registry");
            r.to_string()
        }
        5 => {
            r["schema_version"] = json!(9);
            r.to_string()
        }
        6 => "\"a string\"".into(),
        7 => {
            r["home"] = json!("  ");
            r.to_string()
        }
        8 => {
            // The data set's column beside smokewatch's key.
            r.as_object_mut().unwrap().remove("schema_version");
            r["Temperature[C]"] = json!(20.0);
            r.to_string()
        }
        _ => "not json at all".into(),
    }
}

/// The answer refuses exactly [`BAD_LINES`], each with its reason and field.
fn check_refusals(answer: &Value) {
    let refusals = answer["refusals"].as_array().unwrap();
    let got: Vec<(u64, &str, Option<&str>)> = refusals
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap(),
                r["field"].as_str(),
            )
        })
        .collect();
    let want: Vec<(u64, &str, Option<&str>)> = BAD_LINES
        .iter()
        .map(|(line, reason, field)| (*line as u64, *reason, *field))
        .collect();
    assert_eq!(got, want, "{answer}");
}
