//! Exactly-once across crashes: the daemon replays a fixed recording (the
//! replay source: one partition, offsets = line numbers) once without
//! interruption and once killed with SIGKILL at several points and
//! restarted each time. The published window results, alerts and dead
//! letters of both runs must be identical — nothing lost, nothing doubled.
//! So must the readings the stream appends to the history store
//! (`batch.stream_append`): every accepted reading stored exactly once.

mod common;

use common::RunningDaemon;
use smokewatch::schema::json::{encode_reading, encode_room_event};
use smokewatch::schema::{
    Channel, ChannelValues, EventTime, RoomEvent, RoomSensorKind, SmokeReading,
};
use std::path::Path;
use std::time::Duration;

const T0: i64 = 1_700_000_000_000;
const DEVICES: usize = 24;
const SECONDS: i64 = 240;

fn reading(device: usize, seq: u64, t_ms: i64, pm: f64, temp: f64) -> Vec<u8> {
    let mut values = ChannelValues::EMPTY;
    for c in Channel::ALL {
        values.set(
            c,
            Some(*c.physical_range().start() + 1.0 + (seq % 5) as f64 * 0.1),
        );
    }
    values.set(Channel::Pm2_5, Some(pm));
    values.set(Channel::Temperature, Some(temp));
    if seq.is_multiple_of(97) {
        values.set(Channel::Humidity, None);
    }
    encode_reading(&SmokeReading {
        device_id: format!("dev-{device:02}").into(),
        home: format!("home-{}", device / 6).into(),
        room: format!("room-{}", device % 6).into(),
        event_time: EventTime(t_ms),
        seq,
        cnt: Some(seq),
        values,
        fire_alarm: None,
    })
}

fn room_event(
    home: usize,
    room: usize,
    kind: RoomSensorKind,
    value: f64,
    t_ms: i64,
    seq: u64,
) -> Vec<u8> {
    encode_room_event(&RoomEvent {
        home: format!("home-{home}").into(),
        room: format!("room-{room}").into(),
        sensor_id: format!("home-{home}-room-{room}-sensors").into(),
        kind,
        value,
        event_time: EventTime(t_ms),
        seq,
    })
}

/// A fixed recording: a quiet fleet, one fire, one lit empty room, some
/// disorder, and bad lines of every kind.
fn recording() -> String {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut room_seq = 0u64;
    for s in 0..SECONDS {
        let t = T0 + s * 1000;
        let mut second: Vec<Vec<u8>> = Vec::new();
        for d in 0..DEVICES {
            let fire = d == 7 && (120..180).contains(&s);
            let pm = if fire {
                10.0 + (s - 120) as f64 * 1.5
            } else {
                2.0 + (d % 3) as f64 * 0.1
            };
            let temp = if fire {
                22.0 + (s - 120) as f64 * 0.3
            } else {
                21.0 + ((s + d as i64) % 4) as f64 * 0.05
            };
            second.push(reading(d, s as u64 + 1, t, pm, temp));
        }
        if s % 5 == 0 {
            for home in 0..DEVICES / 6 {
                for room in 0..6 {
                    // home-1/room-2 has its light on and nobody in it from 60 s to 150 s.
                    let empty_lit = home == 1 && room == 2 && (60..150).contains(&s);
                    room_seq += 1;
                    second.push(room_event(
                        home,
                        room,
                        RoomSensorKind::Light,
                        if empty_lit { 1.0 } else { 0.0 },
                        t,
                        room_seq,
                    ));
                    room_seq += 1;
                    second.push(room_event(
                        home,
                        room,
                        RoomSensorKind::Presence,
                        0.0,
                        t,
                        room_seq,
                    ));
                }
            }
        }
        // Some disorder within the allowed lateness.
        if s % 7 == 3 {
            second.reverse();
        }
        lines.extend(second);
        match s % 40 {
            10 => lines.push(b"{\"schema_version\":1,\"device_id\":".to_vec()),
            20 => lines.push(reading(3, s as u64 + 1, t, 2.0, 21.0)),
            30 => lines.push(reading(5, 1000 + s as u64, t - 400_000, 2.0, 21.0)),
            35 => lines.push(
                String::from_utf8(reading(9, 5000 + s as u64, t, 2.0, 21.0))
                    .unwrap()
                    .replace("\"schema_version\":1", "\"schema_version\":3")
                    .into_bytes(),
            ),
            _ => {}
        }
    }
    let mut text = String::new();
    for l in lines {
        text.push_str(std::str::from_utf8(&l).unwrap());
        text.push('\n');
    }
    text
}

/// The recording's detectors: a PM2.5 threshold and the smoke-and-heat
/// rule (not among the defaults any more) besides the forgotten-light rule.
fn config() -> &'static str {
    "daemon:\n  data_dir: data\n  shutdown_timeout: 30s\n\
     simulator:\n  enabled: false\n\
     batch:\n  job:\n    schedule: 24h\n  retrain:\n    enabled: false\n\
     ml:\n  enabled: false\n\
     stream:\n  batch_size: 256\n  source:\n    kind: replay\n    replay_path: input.jsonl\n    replay_rate: 4000\n  \
     window:\n    output_mode: append\n  checkpoint:\n    interval: 150ms\n  \
     detect:\n    thresholds:\n      pm2_5: {medium: 25.0, high: 35.0, critical: 50.0, sustain: 1}\n    \
     rules:\n      - {name: light_on_empty_room, when: \"light == on && presence == 0 for >= 60s\", severity: low}\n      \
     - {name: smoke_and_heat_rising, when: \"pm2_5 > 35 && temperature rising\", severity: high}\n"
}

/// Every published row (header lines dropped), sorted.
fn published(dir: &Path, sub: &str, ext: &str) -> Vec<String> {
    fn walk(p: &Path, ext: &str, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(p) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, ext, out);
            } else if path.extension().is_some_and(|x| x == ext) {
                let text = std::fs::read_to_string(&path).unwrap();
                let skip = usize::from(ext == "csv");
                out.extend(text.lines().skip(skip).map(str::to_string));
            }
        }
    }
    let mut out = Vec::new();
    walk(&dir.join("data/out").join(sub), ext, &mut out);
    out.sort();
    out
}

/// The (device, seq) of every reading a run's history store holds.
fn stored(dir: &Path) -> Vec<(String, u64)> {
    common::stored_keys(&dir.join("data/store"))
}

fn finish(mut daemon: RunningDaemon) {
    daemon
        .wait_for_log("replay finished", Duration::from_secs(120))
        .expect("the replay reaches the end of the file");
    // Let the barrier after end-of-input be written before stopping.
    std::thread::sleep(Duration::from_millis(500));
    daemon.terminate();
    let status = daemon
        .wait_exit(Duration::from_secs(60))
        .expect("exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "{:?}", daemon.drain_log());
}

fn run_dir(input: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("input.jsonl"), input).unwrap();
    dir
}

#[test]
fn sigkill_and_restart_give_the_same_results_as_an_uninterrupted_run() {
    let input = recording();

    let clean = run_dir(&input);
    finish(RunningDaemon::start(clean.path(), config(), &[]));

    let crashed = run_dir(&input);
    for (i, after_ms) in [700u64, 450, 900, 300].into_iter().enumerate() {
        let mut daemon = RunningDaemon::start(crashed.path(), config(), &[]);
        std::thread::sleep(Duration::from_millis(after_ms));
        daemon.child.kill().unwrap();
        daemon.child.wait().unwrap();
        let restored = published(crashed.path(), "window_results", "csv").len();
        eprintln!("kill {i} after {after_ms} ms: {restored} window rows published so far");
    }
    // The kills hit the middle of the replay: some windows were published
    // by then, and the last run still had work left.
    let stored_before_last_run = stored(crashed.path()).len();
    let before_last_run = published(crashed.path(), "window_results", "csv").len();
    let total = published(clean.path(), "window_results", "csv").len();
    assert!(
        0 < before_last_run && before_last_run < total,
        "{before_last_run} of {total} window rows published before the last run"
    );
    finish(RunningDaemon::start(crashed.path(), config(), &[]));

    same_files(clean.path(), crashed.path());
    same_store(clean.path(), crashed.path(), stored_before_last_run);
    produced_what_the_recording_was_made_for(clean.path());
}

/// The crashed run published the same part files as the uninterrupted one.
fn same_files(clean: &Path, crashed: &Path) {
    for (sub, ext) in [
        ("window_results", "csv"),
        ("alerts", "csv"),
        ("dead_letters", "jsonl"),
    ] {
        let expected = published(clean, sub, ext);
        let got = published(crashed, sub, ext);
        assert!(
            !expected.is_empty(),
            "the uninterrupted run published {sub}"
        );
        if expected != got {
            let missing: Vec<_> = expected
                .iter()
                .filter(|l| !got.contains(l))
                .take(3)
                .collect();
            let extra: Vec<_> = got
                .iter()
                .filter(|l| !expected.contains(l))
                .take(3)
                .collect();
            panic!(
                "{sub}: {} rows uninterrupted, {} after crashes; missing {missing:#?}; unexpected {extra:#?}",
                expected.len(),
                got.len()
            );
        }
    }
}

/// Both runs stored every accepted reading once, and left nothing staged.
fn same_store(clean: &Path, crashed: &Path, stored_before_last_run: usize) {
    // The history store: every reading the recording holds that the
    // stream accepts (each device's seqs 1..=SECONDS; the duplicate, the
    // late reading and the unknown schema version are dead letters),
    // stored once by both runs.
    let mut accepted: Vec<(String, u64)> = (0..DEVICES)
        .flat_map(|d| (1..=SECONDS as u64).map(move |seq| (format!("dev-{d:02}"), seq)))
        .collect();
    accepted.sort();
    assert_eq!(stored(clean), accepted, "uninterrupted run");
    let after_crashes = stored(crashed);
    assert!(
        0 < stored_before_last_run && stored_before_last_run < accepted.len(),
        "{stored_before_last_run} of {} readings stored before the last run",
        accepted.len()
    );
    if after_crashes != accepted {
        let mut seen = std::collections::BTreeMap::new();
        for key in &after_crashes {
            *seen.entry(key.clone()).or_insert(0) += 1;
        }
        let doubled: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
        let missing: Vec<_> = accepted
            .iter()
            .filter(|k| !seen.contains_key(*k))
            .take(5)
            .collect();
        panic!(
            "after crashes {} rows stored, {} expected; doubled {doubled:?}; missing {missing:?}",
            after_crashes.len(),
            accepted.len()
        );
    }
    assert!(
        !crashed
            .join("data/store/_staging")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some()),
        "nothing left staged in the store"
    );
    assert!(
        !crashed
            .join("out/_pending")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
    );
}

/// The alerts, dead letters and windows the recording was made to produce.
fn produced_what_the_recording_was_made_for(clean: &Path) {
    let alerts = published(clean, "alerts", "csv");
    for rule in [
        "threshold:pm2_5",
        "light_on_empty_room",
        "smoke_and_heat_rising",
    ] {
        assert!(
            alerts.iter().any(|a| a.contains(rule)),
            "{rule} in {alerts:#?}"
        );
    }
    let dead = published(clean, "dead_letters", "jsonl").join("\n");
    for reason in [
        "malformed_json",
        "duplicate",
        "late",
        "unknown_schema_version",
    ] {
        assert!(
            dead.contains(&format!("\"reason\":\"{reason}\"")),
            "{reason}"
        );
    }
    let windows = published(clean, "window_results", "csv");
    let device_minutes = windows
        .iter()
        .filter(|w| w.starts_with("tumbling,device,") && w.contains(",pm2_5,"))
        .count();
    // 240 s starting 20 s into a minute touch 5 minutes; the end of the
    // input closes the last one.
    assert_eq!(T0 / 1000 % 60, 20);
    assert_eq!(device_minutes, DEVICES * 5, "5 windows per device");
}
