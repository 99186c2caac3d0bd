//! Drives readings through the real stream (embedded transport, the
//! configured detectors and model) as fast as the machine allows, and
//! collects every alert it raises. Event time comes from the readings,
//! so a week of fleet time takes as long as the pipeline needs, not a week.

use super::{AlertLog, AlertRecord, ScoreboardError};
use crate::app::config::Config;
use crate::app::stream_wiring::stream_deps;
use crate::base::config::Capacity;
use crate::ml::ModelHandle;
use crate::schema::json::encode_reading;
use crate::schema::registry::DeviceRegistry;
use crate::schema::{DeviceId, EventTime, HomeId, RoomId, SmokeReading};
use crate::simulate::fleet;
use crate::simulate::live::LiveFleet;
use crate::simulate::truth::{Incident, IncidentKind};
use crate::stream::sinks::{AlertEvent, LiveViews};
use crate::stream::{Hooks, spawn_with};
use crate::supervisor::{Health, Supervisor};
use crate::transport::{OutgoingRecord, Producer, TopicKind, Transport};
use bytes::Bytes;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Event time of the first simulated reading unless the config names one
/// (a fixed start keeps runs comparable: occupancy follows the hour).
pub const DEFAULT_START_MS: i64 = 1_709_251_200_000; // 2024-03-01T00:00:00Z

/// What one run saw: the truth, the alerts and the span they cover.
#[derive(Debug)]
pub struct RunOutput {
    pub incidents: Vec<Incident>,
    pub alerts: Vec<AlertRecord>,
    pub detectors: usize,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Readings sent to the stream.
    pub readings: u64,
    pub wall: Duration,
}

/// Runs `detectors` simulated detectors for `days` of event time with
/// `seed` through the stream configured by `config` (its simulator
/// section gives the scenario and fault rates); `model` is served to the
/// ML detector (when `config.ml.enabled`).
pub async fn run_fleet(
    config: &Config,
    detectors: u32,
    days: f64,
    seed: u64,
    model: ModelHandle,
) -> Result<RunOutput, ScoreboardError> {
    let mut sim = config.simulator.clone();
    sim.seed = seed;
    sim.rooms_per_home = rooms_per_home(detectors, sim.rooms_per_home);
    sim.homes = detectors.div_ceil(sim.rooms_per_home);
    let start_ms = sim
        .start_time
        .map_or(DEFAULT_START_MS, |t| t.timestamp_millis());
    let mut fleet = LiveFleet::new(&sim, start_ms)?;
    let registry = DeviceRegistry::new();
    let rooms: Vec<_> = fleet.rooms().cloned().collect();
    fleet::register(&rooms, &registry);
    let ticks = (days * 86_400_000.0 / sim.sample_interval.as_millis_i64().max(1) as f64) as u64;
    let mut pipeline = Pipeline::start(config, registry, model).await?;
    let started = Instant::now();
    let mut incidents = Vec::new();
    let mut readings = 0u64;
    for _ in 0..ticks {
        let tick = fleet.tick();
        incidents.extend(tick.incidents);
        for m in tick.messages {
            readings += u64::from(m.topic == TopicKind::Readings);
            pipeline
                .send(
                    m.topic,
                    OutgoingRecord::json(m.key, m.value, m.timestamp_ms),
                )
                .await?;
        }
    }
    incidents.extend(fleet.end_incidents());
    let end_ms = fleet.next_event_time().millis();
    let alerts = pipeline.finish(end_ms).await?;
    Ok(RunOutput {
        incidents,
        alerts,
        detectors: fleet.detectors(),
        start_ms,
        end_ms,
        readings,
        wall: started.elapsed(),
    })
}

/// Replays a labelled file (the data set's CSV or the readings Parquet)
/// through the stream; each run of `Fire Alarm` = 1 of a device is one
/// incident.
pub async fn run_file(
    config: &Config,
    path: &Path,
    model: ModelHandle,
) -> Result<RunOutput, ScoreboardError> {
    let data = crate::ml::TrainingData::load(path)?;
    let mut readings: Vec<SmokeReading> = data.readings().collect();
    readings.sort_by_key(|r| (r.event_time, r.seq));
    let registry = DeviceRegistry::new();
    for r in &readings {
        registry.register(r.device_id.clone(), r.home.clone(), r.room.clone());
    }
    let incidents = labelled_incidents(&readings);
    let (start_ms, end_ms) = match (readings.first(), readings.last()) {
        (Some(a), Some(b)) => (a.event_time.millis(), b.event_time.millis() + 1000),
        _ => return Err(ScoreboardError::Empty(path.display().to_string())),
    };
    let devices = registry.len();
    let mut pipeline = Pipeline::start(config, registry, model).await?;
    let started = Instant::now();
    for r in &readings {
        let key = Bytes::copy_from_slice(r.device_id.as_str().as_bytes());
        let record = OutgoingRecord::json(key, encode_reading(r), r.event_time.millis());
        pipeline.send(TopicKind::Readings, record).await?;
    }
    let alerts = pipeline.finish(end_ms).await?;
    Ok(RunOutput {
        incidents,
        alerts,
        detectors: devices,
        start_ms,
        end_ms,
        readings: readings.len() as u64,
        wall: started.elapsed(),
    })
}

/// Runs of `fire_alarm` = 1 per device, as incidents.
fn labelled_incidents(readings: &[SmokeReading]) -> Vec<Incident> {
    let mut open: std::collections::HashMap<DeviceId, (HomeId, RoomId, EventTime, EventTime)> =
        std::collections::HashMap::new();
    let mut out = Vec::new();
    let close = |device: DeviceId, (home, room, start, end)| Incident {
        kind: IncidentKind::LabelledFire,
        device,
        home,
        room,
        channel: None,
        start,
        end,
    };
    for r in readings {
        let fire = r.fire_alarm == Some(true);
        match (fire, open.get_mut(&r.device_id)) {
            (true, Some(o)) => o.3 = r.event_time,
            (true, None) => {
                let run = (r.home.clone(), r.room.clone(), r.event_time, r.event_time);
                open.insert(r.device_id.clone(), run);
            }
            (false, Some(_)) => {
                if let Some(run) = open.remove(&r.device_id) {
                    out.push(close(r.device_id.clone(), run));
                }
            }
            (false, None) => {}
        }
    }
    out.extend(open.into_iter().map(|(d, run)| close(d, run)));
    out.sort_by_key(|i| i.start);
    out
}

/// A detector count's rooms per home: the configured one when it divides
/// the count, else the largest that does, so the fleet has exactly that
/// many detectors.
fn rooms_per_home(detectors: u32, configured: u32) -> u32 {
    if configured > 0 && detectors.is_multiple_of(configured) {
        return configured;
    }
    (1..=8)
        .rev()
        .find(|r| detectors.is_multiple_of(*r))
        .unwrap_or(1)
}

/// The stream, running on its own embedded transport in a scratch folder.
struct Pipeline {
    supervisor: Supervisor,
    producer: Producer,
    progress: Arc<crate::stream::sinks::stage::Progress>,
    taps: mpsc::UnboundedReceiver<(Instant, AlertEvent)>,
    log: AlertLog,
    sent: u64,
    /// Scratch folder of checkpoints, removed when the run ends.
    dir: std::path::PathBuf,
}

impl Pipeline {
    async fn start(
        config: &Config,
        registry: DeviceRegistry,
        model: ModelHandle,
    ) -> Result<Self, ScoreboardError> {
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "smokewatch-scoreboard-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        let mut config = config.clone();
        config.daemon.data_dir = dir.clone();
        // Alerts are read from the tap; part files would only cost time.
        config.sinks.enabled = false;
        config.sinks.dir = dir.join("out");
        // A scoreboard run is no history: nothing goes to the batch store.
        config.batch.stream_append = false;
        config.stream.source.kind = crate::stream::SourceKind::Transport;
        config.stream.checkpoint.dir = None;
        config.kafka.enabled = false;
        config.kafka.embedded_capacity = Capacity::new(200_000);
        let config = Arc::new(config);
        let health = Health::new();
        let mut supervisor = Supervisor::new(health, config.daemon.restart.clone());
        let transport = Transport::embedded(&config.kafka);
        let (tap_tx, taps) = mpsc::unbounded_channel();
        let progress = spawn_with(
            &mut supervisor,
            stream_deps(
                &config,
                transport.clone(),
                model,
                registry,
                LiveViews::new(100),
            ),
            Hooks {
                alert_tap: Some(tap_tx),
            },
        )?;
        Ok(Self {
            producer: transport.producer(),
            supervisor,
            progress,
            taps,
            log: AlertLog::default(),
            sent: 0,
            dir,
        })
    }

    async fn send(
        &mut self,
        topic: TopicKind,
        record: OutgoingRecord,
    ) -> Result<(), ScoreboardError> {
        self.producer
            .send(topic, record)
            .await
            .map_err(|e| ScoreboardError::Stream(e.to_string()))?;
        self.sent += 1;
        if self.sent.is_multiple_of(65_536) {
            self.drain_taps();
        }
        Ok(())
    }

    fn drain_taps(&mut self) {
        while let Ok((_, event)) = self.taps.try_recv() {
            self.log.apply(&event);
        }
    }

    /// Waits until the stream has taken every record, stops it, and
    /// returns the alerts (those still open end at `end_ms`).
    async fn finish(mut self, end_ms: i64) -> Result<Vec<AlertRecord>, ScoreboardError> {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let p = &self.progress;
            let seen = p.readings.load(Ordering::Relaxed)
                + p.room_events.load(Ordering::Relaxed)
                + p.dead_letters.load(Ordering::Relaxed);
            if seen >= self.sent {
                break;
            }
            if Instant::now() > deadline {
                return Err(ScoreboardError::Stream(format!(
                    "the stream took {seen} of {} records within 10 minutes",
                    self.sent
                )));
            }
            self.drain_taps();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let summary = self.supervisor.shutdown(Duration::from_secs(60)).await;
        while let Ok((_, event)) = self.taps.try_recv() {
            self.log.apply(&event);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if !summary.is_clean() {
            return Err(ScoreboardError::Stream(format!(
                "shutdown aborted {:?}",
                summary.aborted
            )));
        }
        Ok(self.log.finish(EventTime(end_ms)))
    }
}
