//! Helpers shared by the `batch_*` integration tests: generated history,
//! CSV files in the data set's format, a batch-only config, reading the
//! store back.

#![allow(dead_code)]

use smokewatch::app::config::Config;
use smokewatch::base::config::Duration;
use smokewatch::schema::csv::{CsvRow, CsvWriter};
use smokewatch::schema::{DeviceId, EventTime, HomeId, RoomId, SmokeReading};
use smokewatch::simulate::{HistoryGenerator, HistoryOptions, SimulatorConfig};
use smokewatch::store::HistoryStore;
use std::path::Path;
use std::time::Instant;

/// Generated readings in event-time order, `interval_secs` apart per device.
pub fn history(rows: u64, devices: u32, seed: u64, interval_secs: u64) -> Vec<SmokeReading> {
    let simulator = SimulatorConfig {
        sample_interval: Duration::from_secs(interval_secs),
        ..SimulatorConfig::default()
    };
    let options = HistoryOptions {
        rows: Some(rows),
        days: None,
        devices,
        seed,
        fire_share: None,
    };
    HistoryGenerator::new(&simulator, options)
        .expect("history generator")
        .collect()
}

/// The data set's CSV text (header, CRLF) of `readings`, row index from 0.
pub fn csv_text(readings: &[SmokeReading]) -> String {
    let mut writer = CsvWriter::new(Vec::new()).expect("header");
    for (i, r) in readings.iter().enumerate() {
        writer
            .write_row(&CsvRow::from_reading(i as u64, r))
            .expect("row");
    }
    String::from_utf8(writer.finish().expect("flush")).expect("utf-8")
}

/// What the store holds for row `i` of a CSV file named after `device`
/// (the CSV's `UTC` column holds whole seconds).
pub fn as_stored(device: &str, readings: &[SmokeReading]) -> Vec<SmokeReading> {
    readings
        .iter()
        .enumerate()
        .map(|(i, r)| SmokeReading {
            device_id: DeviceId::from(device),
            home: HomeId::from("imported"),
            room: RoomId::from("unknown"),
            seq: i as u64,
            event_time: EventTime::from_utc_seconds(r.event_time.utc_seconds()),
            ..r.clone()
        })
        .collect()
}

/// A config with only the batch layer (and metrics) on, everything under `dir`.
pub fn config(dir: &Path) -> Config {
    let mut config = Config::default();
    config.simulator.enabled = false;
    config.stream.enabled = false;
    config.sinks.enabled = false;
    config.sinks.dir = dir.join("out");
    config.ml.enabled = false;
    config.web.enabled = false;
    config.batch.incoming_dir = dir.join("incoming");
    config.batch.store_dir = dir.join("store");
    config.batch.state_dir = dir.join("batch");
    config.batch.poll_interval = Duration::from_millis(100);
    config.batch.retrain.enabled = false;
    config.ml.model_dir = dir.join("models");
    config
}

/// Every reading in the store, sorted by (device, seq, time).
pub fn store_readings(store_dir: &Path) -> Vec<SmokeReading> {
    let store = HistoryStore::new(store_dir);
    let mut out = Vec::new();
    for file in store.files().expect("store files") {
        for batch in store.read(&file).expect("open part") {
            out.extend(batch.expect("read part"));
        }
    }
    out.sort_by(|a, b| {
        (&a.device_id, a.seq, a.event_time).cmp(&(&b.device_id, b.seq, b.event_time))
    });
    out
}

/// Names of the files directly in `dir` (sorted).
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

pub async fn wait_until(what: &str, timeout: std::time::Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Writes `text` beside `dir` and renames it in (how a careful producer drops a file).
pub fn drop_file(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("incoming dir");
    let temp = dir.join(format!("{name}.tmp"));
    std::fs::write(&temp, bytes).expect("write");
    std::fs::rename(&temp, dir.join(name)).expect("rename");
}

/// Asserts two reading lists are equal, naming the first difference.
pub fn assert_same(got: &[SmokeReading], want: &[SmokeReading]) {
    if let Some(i) = (0..got.len().min(want.len())).find(|&i| got[i] != want[i]) {
        panic!(
            "reading {i} differs:\n got  {:?}\n want {:?}",
            got[i], want[i]
        );
    }
    assert_eq!(got.len(), want.len(), "reading counts differ");
}
