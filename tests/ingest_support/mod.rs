//! Shared by the ingest tests (HTTP and Kafka): a room's script of events
//! in smokewatch's shape and in the Smart Home producer's, and the room
//! windows and alerts a daemon made of them.

#![allow(dead_code)]

use serde_json::{Value, json};
use smokewatch::app::daemon::Daemon;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

pub fn url(daemon: &Daemon, path: &str) -> String {
    format!("http://{}{path}", daemon.web_addr().expect("web on"))
}

pub async fn get(daemon: &Daemon, path: &str) -> Value {
    reqwest::get(url(daemon, path))
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON")
}

/// A minute-aligned start half an hour ago (inside every skew limit).
pub fn t0_ms() -> i64 {
    let now = chrono::Utc::now().timestamp_millis();
    (now - 30 * 60_000).div_euclid(60_000) * 60_000
}

/// Room `study`: light on and nobody in from T0, the temperature and
/// humidity every second for 150 s; then someone enters, and the room
/// stays clear for longer than `stream.alerts.cooldown` (1 min). As
/// (kind, value, seconds after T0).
pub fn room_script() -> Vec<(&'static str, f64, i64)> {
    let mut events = vec![("light", 1.0, 0), ("presence", 0.0, 0)];
    for s in 1..=150 {
        events.push(("temperature", 20.0 + (s % 7) as f64 * 0.25, s));
        events.push(("humidity", 40.0 + (s % 5) as f64, s));
    }
    events.push(("presence", 1.0, 151));
    for s in 152..=230 {
        events.push(("temperature", 21.0, s));
    }
    events
}

/// The script in smokewatch's room-event shape (home h1), as NDJSON.
pub fn v1_body(t0: i64) -> String {
    room_script()
        .into_iter()
        .enumerate()
        .map(|(i, (kind, value, s))| {
            json!({"schema_version": 1, "home": "h1", "room": "study",
                   "sensor_id": "h1-study-room", "kind": kind, "value": value,
                   "event_time_ms": t0 + s * 1000, "seq": i + 1})
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The same events as the Smart Home producer sends them, as NDJSON: no
/// home (the daemon's `stream.default_home` must be h1), "On"/"Off" and
/// true/false, time as RFC 3339 or epoch seconds.
pub fn smart_home_body(t0: i64) -> String {
    room_script()
        .into_iter()
        .enumerate()
        .map(|(i, (kind, value, s))| {
            let t_ms = t0 + s * 1000;
            let value = match kind {
                "light" => json!(if value == 1.0 { "On" } else { "Off" }),
                "presence" => json!(value == 1.0),
                _ => json!(value),
            };
            let timestamp = if i % 2 == 0 {
                json!(
                    chrono::DateTime::from_timestamp_millis(t_ms)
                        .unwrap()
                        .to_rfc3339()
                )
            } else {
                json!(t_ms / 1000)
            };
            json!({"room": "study", "sensor": kind, "value": value, "timestamp": timestamp})
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The latest result of every room window (update mode: once the input
/// is consumed, each holds the aggregate of all its events, however the
/// triggers fell), and the room-rule alerts, without what names the
/// sender (alert trigger sequence numbers, detection wall time).
pub async fn room_outputs(daemon: &Daemon) -> (BTreeSet<String>, Vec<Value>) {
    let windows = get(daemon, "/api/windows?limit=5000").await;
    let mut seen = BTreeSet::new();
    let windows: BTreeSet<String> = windows["windows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| {
            let id = ["window", "key_kind", "home", "room", "measure", "start"]
                .map(|k| w[k].to_string());
            seen.insert(id)
        })
        .map(|w| {
            let mut w = w.clone();
            let o = w.as_object_mut().unwrap();
            o.remove("device");
            o.remove("is_final");
            w.to_string()
        })
        .collect();
    let alerts = get(daemon, "/api/alerts?kind=rule&limit=5000").await;
    let alerts = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let mut a = a.clone();
            let o = a.as_object_mut().unwrap();
            o.remove("trigger_seq");
            o.remove("detected_at_ms");
            a
        })
        .collect();
    (windows, alerts)
}

/// Waits until the script's four minutes have windows, the alert has
/// resolved, and two polls in a row agree; returns those outputs.
pub async fn settled_room_outputs(daemon: &Daemon) -> (BTreeSet<String>, Vec<Value>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut previous = None;
    loop {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let outputs = room_outputs(daemon).await;
        let minutes: BTreeSet<String> = outputs
            .0
            .iter()
            .filter(|w| w.contains("\"window\":\"tumbling\""))
            .map(|w| serde_json::from_str::<Value>(w).unwrap()["start"].to_string())
            .collect();
        let resolved = outputs.1.iter().any(|a| a["state"] == "resolved");
        if minutes.len() >= 4 && resolved && previous.as_ref() == Some(&outputs) {
            return outputs;
        }
        assert!(
            Instant::now() < deadline,
            "no settled room windows and resolved alert: {outputs:#?}"
        );
        previous = Some(outputs);
    }
}

/// What the script must produce, whatever the shape: a room-sensor window
/// of the light, and one "light on in an empty room" alert opened at 60 s
/// and resolved.
pub fn check_room_outputs(outputs: &(BTreeSet<String>, Vec<Value>), t0: i64) {
    let (windows, alerts) = outputs;
    assert!(
        windows
            .iter()
            .any(|w| w.contains("\"measure\":\"light\"")
                && w.contains("\"key_kind\":\"room_sensor\"")),
        "{windows:#?}"
    );
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["rule"], "light_on_empty_room");
    assert_eq!(alerts[0]["home"], "h1");
    assert_eq!(alerts[0]["event_time"], t0 + 60_000);
    assert_eq!(alerts[0]["state"], "resolved");
}

/// A reading in smokewatch's shape.
pub fn reading(device: &str, home: &str, room: &str, seq: u64, t_ms: i64) -> Value {
    json!({"schema_version": 1, "device_id": device, "home": home, "room": room,
           "event_time_ms": t_ms, "seq": seq, "cnt": seq, "temperature_c": 21.0,
           "humidity_pct": 45.0, "tvoc_ppb": 80.0, "eco2_ppm": 400.0, "raw_h2": 12800.0,
           "raw_ethanol": 20100.0, "pressure_hpa": 938.0, "pm1_0": 1.0, "pm2_5": 1.5,
           "nc0_5": 9.0, "nc1_0": 1.5, "nc2_5": 0.04})
}

/// NDJSON of three readings, one second apart and ending now, from
/// `h777-attic-smoke`: a detector no fleet knows, whose id reads
/// home-room-kind.
pub fn new_device_body() -> String {
    let now = chrono::Utc::now().timestamp_millis();
    (1..=3)
        .map(|s| {
            reading(
                "h777-attic-smoke",
                "h777",
                "attic",
                s,
                now - 3000 + s as i64 * 1000,
            )
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
