//! Helpers for the stream's in-process tests: a pipeline on the embedded
//! transport with its state and outputs in a temporary folder.

#![allow(dead_code)]

use smokewatch::app::config::Config;
use smokewatch::app::daemon::Handles;
use smokewatch::base::config::Duration;
use smokewatch::ml::ModelHandle;
use smokewatch::schema::registry::DeviceRegistry;
use smokewatch::schema::{Channel, ChannelValues, EventTime, SmokeReading};
use smokewatch::stream::OutputMode;
use smokewatch::stream::sinks::LiveViews;
use smokewatch::stream::sinks::stage::Progress;
use smokewatch::supervisor::RestartPolicy;
use smokewatch::supervisor::{Health, ShutdownSummary, Supervisor};
use smokewatch::transport::Transport;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A config writing everything under `dir`, append mode, fast checkpoints.
pub fn config(dir: &Path) -> Config {
    let mut config = Config::default();
    config.daemon.data_dir = dir.to_path_buf();
    config.sinks.dir = dir.join("out");
    config.batch.store_dir = dir.join("store");
    config.stream.window.output_mode = OutputMode::Append;
    config.stream.checkpoint.interval = Duration::from_millis(200);
    config.ml.enabled = false;
    config.kafka.partitions = 2;
    config
}

pub struct Running {
    pub supervisor: Supervisor,
    pub shared: Handles,
    pub progress: Arc<Progress>,
}

pub fn start(config: Config, devices: DeviceRegistry) -> Running {
    let config = Arc::new(config);
    let health = Health::new();
    let mut supervisor = Supervisor::new(health.clone(), RestartPolicy::default());
    let shared = Handles {
        transport: Transport::embedded(&config.kafka),
        config,
        health,
        metrics: None,
        model: ModelHandle::new(),
        devices,
        batch: smokewatch::batch::BatchStatus::new(),
        live: LiveViews::new(100),
        queues: supervisor.queues().clone(),
        progress: None,
    };
    let progress =
        smokewatch::stream::spawn(&mut supervisor, shared.stream_deps()).expect("stream starts");
    Running {
        supervisor,
        shared,
        progress,
    }
}

impl Running {
    /// Waits until `n` records went through validation (accepted or refused).
    pub async fn wait_for(&self, n: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let p = &self.progress;
            let seen = p.readings.load(Ordering::Relaxed)
                + p.room_events.load(Ordering::Relaxed)
                + p.dead_letters.load(Ordering::Relaxed);
            if seen >= n {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "only {seen} of {n} records arrived"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(self) -> ShutdownSummary {
        self.supervisor
            .shutdown(std::time::Duration::from_secs(20))
            .await
    }
}

/// Every published file under `dir/sub` with extension `ext`.
pub fn files(dir: &Path, sub: &str, ext: &str) -> Vec<PathBuf> {
    fn walk(p: &Path, ext: &str, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(p) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, ext, out);
            } else if path.extension().is_some_and(|x| x == ext) {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dir.join(sub), ext, &mut out);
    out.sort();
    out
}

/// A plausible reading of a quiet room.
pub fn reading(device: &str, seq: u64, t_ms: i64) -> SmokeReading {
    let mut values = ChannelValues::EMPTY;
    for c in Channel::ALL {
        values.set(c, Some(*c.physical_range().start() + 1.0));
    }
    values.set(Channel::Temperature, Some(21.0));
    values.set(Channel::Pm2_5, Some(2.0));
    SmokeReading {
        device_id: device.into(),
        home: "h1".into(),
        room: format!("room-{device}").into(),
        event_time: EventTime(t_ms),
        seq,
        cnt: Some(seq),
        values,
        fire_alarm: None,
    }
}
