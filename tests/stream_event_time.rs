//! Event time that survives restarts and backlogs, against a real broker
//! (tansu, through `scripts/kafka-broker.sh`).
//!
//! A fixed input (generated history of 12 devices in the JSON wire format,
//! plus malformed records) sits in the readings topic before the daemon
//! starts. The daemon reads it from offset 0 with
//! `stream.source.stop_at_end`, so every window closes at the end and the
//! final rows are the complete answer. For 1 and for 6 partitions:
//!
//! 1. an uninterrupted run gives the reference, and dead-letters no valid
//!    reading as `late` (a backlog read partition by partition must not
//!    make the slower partitions late);
//! 2. a run killed with SIGKILL at seeded random moments and restarted on
//!    the same data dir each time must publish exactly the reference's
//!    final window rows, alert changes and dead letters, as multisets.
//!
//! The CI size is small; the full size of issue 12 (500 000 readings) runs
//! with `SMOKEWATCH_EVENT_TIME_READINGS=500000 cargo test --release --test
//! stream_event_time`.

mod common;
mod kafka_support;
mod stream_support;

use common::RunningDaemon;
use kafka_support::{Broker, Storage, connected, metric_value};
use rand::{RngExt, SeedableRng};
use smokewatch::schema::SmokeReading;
use smokewatch::simulate::{HistoryGenerator, HistoryOptions, SimulatorConfig};
use smokewatch::transport::{OutgoingRecord, TopicKind};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Readings in the CI run (override with `SMOKEWATCH_EVENT_TIME_READINGS`).
const CI_READINGS: u64 = 60_000;
/// One malformed record after this many readings.
const MALFORMED_EVERY: u64 = 997;
const KILLS: usize = 5;
const CHECKPOINTS_TOTAL: &str = "smokewatch_checkpoints_total";

fn readings_count() -> u64 {
    std::env::var("SMOKEWATCH_EVENT_TIME_READINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CI_READINGS)
}

fn history(rows: u64) -> Vec<SmokeReading> {
    let options = HistoryOptions {
        rows: Some(rows),
        days: None,
        devices: 12,
        seed: 7,
        fire_share: None,
    };
    HistoryGenerator::new(&SimulatorConfig::default(), options)
        .expect("history generator")
        .collect()
}

/// Writes the fixed input into a fresh readings topic of `partitions`
/// partitions; returns how many malformed records it holds.
///
/// One record per record batch: tansu 0.6 answers a fetch at an offset
/// inside a batch with the *next* batch (librdkafka sees the same: assign
/// offset 10 of a 1000-record batch and the first message is offset 1000),
/// so a daemon resuming from a checkpoint in the middle of a batch would
/// lose the rest of it to the broker. A real Kafka broker returns the batch
/// that holds the offset.
fn produce_input(broker: &Broker, partitions: u32, readings: &[SmokeReading]) -> u64 {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut config = broker.config();
        config.partitions = partitions;
        config.producer.batch_size = 1;
        let transport = connected(&config).await;
        let producer = transport.producer();
        let mut malformed = 0;
        for (i, reading) in readings.iter().enumerate() {
            producer
                .send(TopicKind::Readings, kafka_support::record_of(reading))
                .await
                .expect("send a reading");
            if (i as u64 + 1).is_multiple_of(MALFORMED_EVERY) {
                malformed += 1;
                let key = reading.device_id.as_str().to_string();
                let value = format!("{{\"schema_version\":1,\"device_id\":\"{key}\",\"seq\":");
                producer
                    .send(
                        TopicKind::Readings,
                        OutgoingRecord::json(key, value, reading.event_time.millis()),
                    )
                    .await
                    .expect("send a malformed record");
            }
        }
        producer.flush().await.expect("everything stored");
        malformed
    })
}

fn config(broker: &Broker, partitions: u32) -> String {
    format!(
        "daemon:\n  data_dir: data\n  shutdown_timeout: 60s\n\
         simulator:\n  enabled: false\n\
         batch:\n  enabled: false\n\
         ml:\n  enabled: false\n\
         kafka:\n  enabled: true\n  bootstrap_servers: [\"{addr}\"]\n  partitions: {partitions}\n  \
         reconnect_backoff_max: 1s\n  consumer:\n    max_wait: 100ms\n    start: earliest\n\
         stream:\n  batch_size: 256\n  source:\n    stop_at_end: true\n  \
         window:\n    idle_timeout: 1s\n  \
         checkpoint:\n    interval: 50ms\n",
        addr = broker.addr
    )
}

/// Runs the daemon until it has read the input to its end, then stops it
/// with SIGTERM and expects exit 0.
fn run_to_end(dir: &Path, config: &str) {
    let mut daemon = RunningDaemon::start(dir, config, &[]);
    let ended = daemon.wait_for_log("end of input", Duration::from_secs(600));
    assert!(ended.is_some(), "the daemon reads the input to its end");

    // Let the checkpoint after the end of input be written.
    std::thread::sleep(Duration::from_millis(600));
    daemon.terminate();
    let status = daemon
        .wait_exit(Duration::from_secs(120))
        .expect("exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "{:?}", daemon.drain_log());
}

/// Every published line of the files ending in `ext` under `out/<sub>`
/// (CSV header lines dropped), as a multiset.
fn published(dir: &Path, sub: &str, ext: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for path in stream_support::files(&dir.join("data/out"), sub, ext) {
        let text = std::fs::read_to_string(&path).expect("read a part file");
        for line in text.lines().skip(usize::from(ext == "csv")) {
            *out.entry(line.to_string()).or_default() += 1;
        }
    }
    out
}

/// Final window rows (the `final` column, the last, is `true`).
fn final_windows(dir: &Path) -> BTreeMap<String, usize> {
    let mut rows = published(dir, "window_results", "csv");
    rows.retain(|line, _| line.ends_with(",true"));
    rows
}

/// Dead letters as (reason, topic, partition, offset): what was refused
/// and why, without the wording of the detail.
fn dead_letters(dir: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (line, n) in published(dir, "dead_letters", "jsonl") {
        let v: serde_json::Value = serde_json::from_str(&line).expect("a dead letter is JSON");
        let key = format!(
            "{} {} {} {}",
            v["reason"], v["topic"], v["partition"], v["offset"]
        );
        *out.entry(key).or_default() += n;
    }
    out
}

fn count_reason(dead: &BTreeMap<String, usize>, reason: &str) -> usize {
    let prefix = format!("\"{reason}\" ");
    dead.iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, n)| n)
        .sum()
}

fn assert_same(what: &str, expected: &BTreeMap<String, usize>, got: &BTreeMap<String, usize>) {
    if expected == got {
        return;
    }
    let missing: Vec<_> = expected
        .iter()
        .filter(|(k, n)| got.get(*k) != Some(n))
        .collect();
    let extra: Vec<_> = got
        .iter()
        .filter(|(k, n)| expected.get(*k) != Some(n))
        .collect();
    let kinds = |rows: &[(&String, &usize)]| {
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        for (row, _) in rows {
            let kind: Vec<&str> = row.split(',').take(2).collect();
            *kinds.entry(kind.join(",")).or_default() += 1;
        }
        kinds
    };
    eprintln!(
        "{what}: {} rows differ in the reference {:?}, {} after kills {:?}",
        missing.len(),
        kinds(&missing),
        extra.len(),
        kinds(&extra)
    );
    let (missing, extra): (Vec<_>, Vec<_>) = (
        missing.into_iter().take(3).collect(),
        extra.into_iter().take(3).collect(),
    );
    panic!(
        "{what}: {} distinct rows uninterrupted, {} after kills; \
         differing in the reference: {missing:#?}; differing after kills: {extra:#?}",
        expected.len(),
        got.len()
    );
}

fn killed_and_restarted_equals_uninterrupted(partitions: u32, seed: u64) {
    let readings = history(readings_count());
    let broker = Broker::start(Storage::Memory);
    let malformed = produce_input(&broker, partitions, &readings);
    let config = config(&broker, partitions);

    let reference = tempfile::tempdir().expect("temp dir");
    run_to_end(reference.path(), &config);
    let windows = final_windows(reference.path());
    let alerts = published(reference.path(), "alerts", "csv");
    let dead = dead_letters(reference.path());
    assert!(!windows.is_empty(), "the reference run closed windows");
    assert_eq!(
        count_reason(&dead, "malformed_json"),
        malformed as usize,
        "every malformed record is dead-lettered once: {dead:?}"
    );
    assert_eq!(
        count_reason(&dead, "late"),
        0,
        "a backlog over {partitions} partitions read from offset 0 makes nothing late"
    );

    // Kill at seeded random moments of the reading — up to 50 ms after a
    // run has processed a random share (1–6 %) of the input since it
    // started and written a checkpoint after that —
    // restarting each time on the same data dir; then let the last run
    // finish. Moments are chosen by progress, not wall time, so they fall
    // inside the reading however fast or loaded the machine is; the shares
    // are small because a fast machine reads a few thousand more records
    // between reaching the share and the kill (checkpoint interval, the
    // extra delay, the metrics scrape), and all five kills must come
    // before the input's end.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let crashed = tempfile::tempdir().expect("temp dir");
    let total = readings.len() as f64;
    let client = reqwest::blocking::Client::new();
    let mut kills_mid_reading = 0;
    for kill in 0..KILLS {
        let target = (total * rng.random_range(0.01..0.06)) as u64;
        let extra = Duration::from_millis(rng.random_range(0..50));
        let mut daemon = RunningDaemon::start(crashed.path(), &config, &[]);
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut written_at_target = None;
        let mut mid_reading = true;
        while Instant::now() < deadline {
            if daemon
                .wait_for_log("end of input", Duration::from_millis(1))
                .is_some()
            {
                mid_reading = false;
                break;
            }
            let metrics = client
                .get(daemon.url("/metrics"))
                .send()
                .and_then(|r| r.text())
                .unwrap_or_default();
            let processed = metric_value(&metrics, "smokewatch_readings_processed_total", &[]);
            let written = metric_value(&metrics, CHECKPOINTS_TOTAL, &[("outcome", "written")]);
            match written_at_target {
                None if processed >= target as f64 => written_at_target = Some(written),
                // A checkpoint after the target: this run's progress is kept.
                Some(at) if written > at => break,
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(extra);
        daemon.child.kill().expect("SIGKILL");
        daemon.child.wait().expect("reaped");
        kills_mid_reading += usize::from(mid_reading);
        eprintln!(
            "kill {kill} after {target} readings: {} final window rows and {} dead letters published so far",
            final_windows(crashed.path()).values().sum::<usize>(),
            dead_letters(crashed.path()).values().sum::<usize>()
        );
    }
    // The kills hit the reading: progress was checkpointed before them.
    let before_last_run = dead_letters(crashed.path()).values().sum::<usize>();
    assert!(
        before_last_run > 0 && kills_mid_reading == KILLS,
        "{kills_mid_reading} of {KILLS} kills hit the reading; \
         {before_last_run} of {malformed} dead letters published before the last run"
    );
    run_to_end(crashed.path(), &config);
    if std::env::var_os("SMOKEWATCH_KEEP_TEST_DIRS").is_some() {
        eprintln!(
            "kept: reference {}, killed {}",
            reference.path().display(),
            crashed.path().display()
        );
        std::mem::forget(reference);
        std::mem::forget(crashed);
        return;
    }

    assert_same("dead letters", &dead, &dead_letters(crashed.path()));
    assert_same(
        "final window rows",
        &windows,
        &final_windows(crashed.path()),
    );
    assert_same(
        "alert changes",
        &alerts,
        &published(crashed.path(), "alerts", "csv"),
    );
}

#[test]
fn one_partition_killed_and_restarted_publishes_what_an_uninterrupted_run_does() {
    killed_and_restarted_equals_uninterrupted(1, 11);
}

#[test]
fn six_partitions_killed_and_restarted_publish_what_an_uninterrupted_run_does() {
    killed_and_restarted_equals_uninterrupted(6, 66);
}
