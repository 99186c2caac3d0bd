//! Acceptance 5: in the running daemon with faults enabled, every injected
//! fault kind shows up in /metrics by kind; the simulator waits on a full
//! transport instead of buffering or dropping.

mod common;

use common::RunningDaemon;
use std::time::{Duration, Instant};

const FAULT_KINDS: [&str; 10] = [
    "missing_value",
    "stuck_sensor",
    "spike",
    "drift",
    "duplicate",
    "out_of_order",
    "late",
    "truncated_json",
    "wrong_type",
    "unknown_device",
];

/// Value of the first sample of `name` whose labels contain `labels`.
fn metric(text: &str, name: &str, labels: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

fn scrape(daemon: &RunningDaemon) -> String {
    reqwest::blocking::get(daemon.url("/metrics"))
        .and_then(|r| r.text())
        .unwrap_or_default()
}

/// Two detectors at 300x real time, stream only (no ML, no batch).
const ACCELERATED_FLEET: &str = "
daemon:
  data_dir: data
simulator:
  homes: 1
  rooms_per_home: 2
  time_acceleration: 300
  faults:
    enabled: false
ml:
  enabled: false
batch:
  enabled: false
";

/// Readings the stream has processed from the transport.
fn readings_processed(text: &str) -> f64 {
    metric(
        text,
        "smokewatch_readings_processed_total",
        "source=\"transport\"",
    )
    .unwrap_or(0.0)
}

/// Records dead-lettered for `reason`.
fn dead_lettered(text: &str, reason: &str) -> f64 {
    metric(
        text,
        "smokewatch_dead_letters_total",
        &format!("reason=\"{reason}\""),
    )
    .unwrap_or(0.0)
}

/// Scrapes until `n` readings are processed (or a minute passed).
fn scrape_until_processed(daemon: &RunningDaemon, n: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut text = scrape(daemon);
    while readings_processed(&text) < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        text = scrape(daemon);
    }
    text
}

#[test]
fn every_fault_kind_is_counted_in_metrics() {
    // 6 detectors at 50x real time: 300 readings/s. With every fault at
    // 2-5 % per reading, each kind starts within the first second or two.
    // No stream consumes yet, so the embedded log must hold everything the
    // test produces: 6 partitions x 65536 records is ~20 minutes of this.
    let config = "
daemon:
  data_dir: data
simulator:
  homes: 2
  rooms_per_home: 3
  time_acceleration: 50
  faults:
    missing_value: 0.05
    stuck_sensor: 0.02
    spike: 0.05
    drift: 0.02
    duplicate: 0.05
    out_of_order: 0.05
    late: 0.05
    late_by: 2s
    truncated_json: 0.05
    wrong_type: 0.05
    unknown_device: 0.05
";
    let dir = tempfile::tempdir().unwrap();
    let daemon = RunningDaemon::start(dir.path(), config, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut text = String::new();
    while Instant::now() < deadline {
        text = scrape(&daemon);
        let all = FAULT_KINDS.iter().all(|kind| {
            metric(
                &text,
                "smokewatch_simulator_faults_total",
                &format!("kind=\"{kind}\""),
            )
            .is_some_and(|v| v > 0.0)
        });
        if all {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    for kind in FAULT_KINDS {
        let count = metric(
            &text,
            "smokewatch_simulator_faults_total",
            &format!("kind=\"{kind}\""),
        );
        assert!(
            count.is_some_and(|v| v > 0.0),
            "fault {kind} not counted:\n{text}"
        );
    }
    let readings = metric(
        &text,
        "smokewatch_readings_produced_total",
        "source=\"simulator\"",
    );
    let events = metric(
        &text,
        "smokewatch_room_events_produced_total",
        "source=\"simulator\"",
    );
    assert!(readings.is_some_and(|v| v > 100.0), "{text}");
    assert!(events.is_some_and(|v| v > 0.0), "{text}");
}

#[test]
fn a_full_transport_makes_the_simulator_wait() {
    // One partition holding 200 records per topic and nobody reading: the
    // simulator fills it within a second, then must wait — the produced
    // count stops at the capacity instead of growing (buffering) and no
    // error is raised (dropping would need one).
    let config = "
daemon:
  data_dir: data
simulator:
  homes: 1
  rooms_per_home: 2
  time_acceleration: 100
  faults:
    enabled: false
kafka:
  partitions: 1
  embedded_capacity: 200
";
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = RunningDaemon::start(dir.path(), config, &[]);
    let produced = |daemon: &RunningDaemon| {
        metric(
            &scrape(daemon),
            "smokewatch_readings_produced_total",
            "source=\"simulator\"",
        )
        .unwrap_or(0.0)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while produced(&daemon) < 200.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(produced(&daemon), 200.0, "fills the partition exactly");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(produced(&daemon), 200.0, "waits instead of producing more");
    // After SLOW_SEND (5 s) of waiting the task says why it is stuck.
    std::thread::sleep(Duration::from_secs(4));
    let health: serde_json::Value = reqwest::blocking::get(daemon.url("/health"))
        .unwrap()
        .json()
        .unwrap();
    let task = &health["subsystems"]["simulate"]["tasks"]["simulate/fleet"];
    assert_eq!(task["state"], "degraded", "{health}");
    assert!(
        task["detail"]
            .as_str()
            .unwrap_or("")
            .contains("backpressure"),
        "{health}"
    );
    daemon.terminate();
    let status = daemon.wait_exit(Duration::from_secs(15)).expect("stops");
    assert_eq!(status.code(), Some(0));
    let log = daemon.drain_log().join("\n");
    assert!(log.contains("simulator stopped after"), "{log}");
}

#[test]
fn an_accelerated_simulator_stays_processed_past_the_future_skew() {
    // At 300x real time the simulated event time passes the wall clock
    // plus `stream.max_future_skew` (5 min) after one second; the stream
    // must go on processing the fleet's readings instead of refusing them
    // all as `future_event_time`.
    let config = ACCELERATED_FLEET;
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = RunningDaemon::start(dir.path(), config, &[]);
    // 10 minutes of event time past the start, i.e. well beyond the skew.
    let produced_past_skew = 2.0 * 600.0;
    let text = scrape_until_processed(&daemon, produced_past_skew);
    assert!(
        readings_processed(&text) >= produced_past_skew,
        "readings past 5 min of event time are processed:\n{text}"
    );
    assert_eq!(dead_lettered(&text, "future_event_time"), 0.0, "{text}");
    daemon.terminate();
    let status = daemon.wait_exit(Duration::from_secs(15)).expect("stops");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn an_accelerated_fleet_restarted_goes_on_from_its_event_time() {
    // At 300x a few seconds put the simulated clock an hour or so ahead of
    // the wall clock. A restart on the same data dir must resume there:
    // starting again at the wall clock would send readings far older than
    // the restored watermark, all of them dead-lettered `late`, and number
    // them below what the restored dedupe state has seen.
    let config = &format!("{ACCELERATED_FLEET}stream:\n  checkpoint:\n    interval: 500ms\n");
    let dir = tempfile::tempdir().unwrap();
    for run in 0..2 {
        let mut daemon = RunningDaemon::start(dir.path(), config, &[]);
        let text = scrape_until_processed(&daemon, 3000.0);
        assert!(readings_processed(&text) >= 3000.0, "run {run}:\n{text}");
        for reason in ["late", "duplicate"] {
            assert_eq!(
                dead_lettered(&text, reason),
                0.0,
                "run {run}, {reason}:\n{text}"
            );
        }
        daemon.terminate();
        let status = daemon.wait_exit(Duration::from_secs(15)).expect("stops");
        assert_eq!(status.code(), Some(0));
    }
}

#[test]
#[ignore = "bug, not fixed yet: a partition that carries only records the stream refuses \
            (here unknown devices) is never idle and never observed, so the watermark never \
            starts and no window closes (see the session-28 note)"]
fn refused_records_do_not_hold_the_watermark() {
    // Two detectors on six readings partitions: strangers with random ids
    // (2 % of readings) land on the partitions no real device uses, and
    // the validate stage dead-letters them before the windows see them.
    let config = "
daemon:
  data_dir: data
simulator:
  homes: 1
  rooms_per_home: 2
  time_acceleration: 60
  faults:
    enabled: true
    missing_value: 0.0
    stuck_sensor: 0.0
    spike: 0.0
    drift: 0.0
    duplicate: 0.0
    out_of_order: 0.0
    late: 0.0
    truncated_json: 0.0
    wrong_type: 0.0
    unknown_device: 0.02
ml:
  enabled: false
batch:
  enabled: false
";
    let dir = tempfile::tempdir().unwrap();
    let daemon = RunningDaemon::start(dir.path(), config, &[]);
    // The idle timeout is 30 s: a partition that never delivered is held
    // at most that long, then the watermark must run.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut text = scrape(&daemon);
    while metric(&text, "smokewatch_watermark_seconds", "").is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        text = scrape(&daemon);
    }
    assert!(dead_lettered(&text, "unknown_device") > 0.0, "{text}");
    assert!(
        metric(&text, "smokewatch_watermark_seconds", "").is_some(),
        "no watermark after a minute:\n{text}"
    );
}
