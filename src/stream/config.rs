//! `stream:` section of the config.
//!
//! Everything the stream's stages read: where records come from, the
//! cleaning policy, feature spans, windows, detectors, alerting and
//! checkpointing. Rules are parsed (and their errors reported with the rule
//! name and position) by [`StreamConfig::validate`], so a typo in a rule
//! stops the daemon at start instead of silently never firing.

use crate::base::config::{Capacity, ConfigIssue, Duration, Validate};
use crate::schema::Channel;
use crate::schema::registry::UnknownDevices;
use crate::stream::detect::rules::Scope;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Real-time processing of readings and room events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    /// Run the stream processor.
    pub enabled: bool,
    /// Where the stream reads from.
    pub source: SourceConfig,
    /// Records dated further ahead of the daemon's clock than this are
    /// dead-lettered `future_event_time`: one device with a bad clock must
    /// not drag the watermark ahead and make every other reading late.
    pub max_future_skew: Duration,
    /// A reading from a device the registry does not know: `register` it
    /// when its id reads `home-room-kind` (others are dead-lettered
    /// `unknown_device`), or `dead_letter` every such reading.
    pub unknown_devices: UnknownDevices,
    /// Home of a Smart Home room event or data-set reading that names none
    /// (and whose device id does not say it).
    pub default_home: String,
    /// Most records carried by one message between stages.
    pub batch_size: usize,
    /// Messages (batches) a channel between two stages holds.
    pub channel_capacity: Capacity,
    /// Records between the source and the sinks are kept to about this
    /// much of the pipeline's measured throughput (at least 4 batches), so
    /// a graceful stop drains in about this long even on a machine that
    /// cannot keep up (see `stream::in_flight`).
    pub max_in_flight: Duration,
    /// Validation of incoming records.
    pub validate: ValidateConfig,
    /// Missing values, stuck sensors and drift.
    pub clean: CleanConfig,
    /// Per-device features for detectors and the ML scorer.
    pub features: FeaturesConfig,
    /// Event-time windows.
    pub window: WindowConfig,
    /// Anomaly detectors.
    pub detect: DetectConfig,
    /// Alert de-duplication.
    pub alerts: AlertsConfig,
    /// Consistent snapshots of offsets and state.
    pub checkpoint: CheckpointConfig,
}

/// Which input the stream consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// The `readings` and `room_events` topics of the transport.
    Transport,
    /// A recorded JSONL file (one partition, offset = line number).
    Replay,
}

/// Where the stream reads from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceConfig {
    /// `transport` (Kafka or embedded) or `replay` (a recorded file).
    pub kind: SourceKind,
    /// Replay only: the JSONL file, one reading or room event per line.
    pub replay_path: PathBuf,
    /// Replay only: lines per second; 0 reads as fast as the stream goes.
    pub replay_rate: u64,
    /// Transport only: read what the topics hold when the stream starts,
    /// then end the input (every window closes, a checkpoint is written)
    /// and wait for shutdown, instead of waiting for more records. For
    /// backfills and reproducible runs over a fixed input.
    pub stop_at_end: bool,
}

/// Validation of incoming records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidateConfig {
    /// Sequence numbers remembered per device to drop duplicates; a
    /// sequence number further back than this counts as a duplicate.
    pub dedupe_window: u32,
    /// Records larger than this (bytes) are dead-lettered `too_large` as
    /// they arrive, before any stage parses them. A reading is about 350 bytes.
    pub max_record_bytes: usize,
}

/// What to do about a channel's missing value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingPolicy {
    /// Use the device's last good value if it is younger than `max_fill_age`.
    ForwardFill,
    /// Leave it missing (and flag it).
    Leave,
}

/// Cleaning policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CleanConfig {
    /// Policy for channels not listed in `missing`.
    pub missing_default: MissingPolicy,
    /// Per-channel policy, by JSON key (e.g. `pm2_5: leave`).
    pub missing: BTreeMap<Channel, MissingPolicy>,
    /// Oldest last-good value forward fill may use.
    pub max_fill_age: Duration,
    /// Channels checked for a stuck sensor (the exact same value).
    pub stuck_channels: Vec<Channel>,
    /// A value unchanged for this long flags the channel as stuck.
    pub stuck_after: Duration,
    /// Span of the slow mean used to detect drift.
    pub drift_span: Duration,
    /// Span over which the baseline the slow mean is compared with follows
    /// it. A baseline that never moves flags every lasting change (a moved
    /// device, a season) as drift for ever, and a drifting channel is left
    /// out of the thresholds: the heat threshold would stay blind. With
    /// this span a lasting change is taken as the new level after a while
    /// (for a step twice the limit, about 0.35 × this span).
    pub drift_baseline_span: Duration,
    /// Largest move of the slow mean away from the device's baseline
    /// before the channel is flagged as drifting, in channel units.
    pub drift_limits: BTreeMap<Channel, f64>,
}

/// Per-device features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeaturesConfig {
    /// Spans (seconds) of the rolling EW mean/std/z-score.
    pub spans: Vec<u32>,
    /// A gap between readings longer than this resets a device's history.
    pub max_gap: Duration,
}

/// When window results are emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputMode {
    /// Once per window, when the watermark passes its end.
    Append,
    /// Changed windows at every trigger, and once more (final) at close.
    Update,
}

/// What a window aggregates by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// Readings of one smoke detector, per channel.
    Device,
    /// Readings of every detector in a room, per channel.
    Room,
    /// Room events of one room, per sensor kind.
    RoomSensor,
}

impl KeyKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyKind::Device => "device",
            KeyKind::Room => "room",
            KeyKind::RoomSensor => "room_sensor",
        }
    }
}

/// Event-time window settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WindowConfig {
    /// Length of a tumbling window.
    pub size: Duration,
    /// How far behind the newest event time an event may arrive and still count.
    pub allowed_lateness: Duration,
    /// A source partition without records for this long (processing time)
    /// stops holding the watermark back.
    pub idle_timeout: Duration,
    /// What tumbling windows aggregate by.
    pub keys: Vec<KeyKind>,
    /// Sliding windows.
    pub sliding: SlidingConfig,
    /// `append` or `update`.
    pub output_mode: OutputMode,
    /// Update mode: how often changed windows are emitted (processing time).
    pub trigger_interval: Duration,
    /// Channels of the readings that are aggregated.
    pub channels: Vec<Channel>,
}

/// Sliding windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlidingConfig {
    /// Compute sliding windows.
    pub enabled: bool,
    /// Length of a sliding window.
    pub size: Duration,
    /// Distance between the starts of two sliding windows.
    pub slide: Duration,
    /// What sliding windows aggregate by.
    pub keys: Vec<KeyKind>,
}

/// How bad an anomaly is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One channel's threshold detector: levels (any of them, ascending), the
/// hysteresis band below the lowest one, and how many readings in a row
/// must pass it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdLevels {
    /// Low (advisory) severity from here.
    #[serde(default)]
    pub low: Option<f64>,
    /// Medium severity from here.
    #[serde(default)]
    pub medium: Option<f64>,
    /// High severity from here.
    #[serde(default)]
    pub high: Option<f64>,
    /// Critical severity from here.
    #[serde(default)]
    pub critical: Option<f64>,
    /// An open alert stays active until the value falls below the lowest
    /// level minus this share of it, so a value hovering at the level does
    /// not open and close alerts.
    #[serde(default = "default_hysteresis")]
    pub hysteresis: f64,
    /// Readings in a row at or above the lowest level before the alert
    /// opens: one absurd reading (a sensor glitch) is not an incident.
    #[serde(default = "default_sustain")]
    pub sustain: u32,
}

fn default_hysteresis() -> f64 {
    0.1
}

fn default_sustain() -> u32 {
    3
}

impl ThresholdLevels {
    /// Levels with their severities, lowest first.
    pub fn levels(&self) -> impl Iterator<Item = (Severity, f64)> + '_ {
        [
            (Severity::Low, self.low),
            (Severity::Medium, self.medium),
            (Severity::High, self.high),
            (Severity::Critical, self.critical),
        ]
        .into_iter()
        .filter_map(|(s, l)| l.map(|l| (s, l)))
    }
}

/// Which way of a change matters for a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Only increases (smoke, gas, heat).
    Rise,
    /// Only decreases.
    Fall,
    Both,
}

/// One channel watched by the spike detector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpikeChannel {
    /// Which changes count.
    pub direction: Direction,
    /// Smallest change from the device's mean (channel units) that counts,
    /// so a quiet channel's tiny spread cannot make a z-score of 200 out of
    /// nothing.
    pub min_change: f64,
}

/// Statistical spike detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpikeConfig {
    /// Run the spike detector.
    pub enabled: bool,
    /// Channels watched, with the direction that matters and the minimum change.
    pub channels: BTreeMap<Channel, SpikeChannel>,
    /// Span (seconds, one of `features.spans`) of the z-score.
    pub span: u32,
    /// z-score at or beyond which a reading starts a spike.
    pub z_threshold: f64,
    /// Readings in a row the change must hold (at least `min_change` from
    /// the mean) before the alert opens: a one-reading glitch is not one.
    pub sustain: u32,
    /// Severity of a spike alert.
    pub severity: Severity,
}

/// A compound rule written in config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique name; alerts carry it.
    pub name: String,
    /// The condition, e.g. `light == on && presence == 0 for >= 60s`.
    pub when: String,
    /// Severity of its alert (ignored by an evidence-only rule).
    #[serde(default = "low_severity")]
    pub severity: Severity,
    /// Raise no alert of its own: the condition is independent evidence
    /// that, while it holds, makes the device's ML fire alert critical.
    /// A signature that alone would cry wolf (normal air sometimes reads
    /// like a fire on one or two channels) can still confirm what the
    /// model sees. Device rules only: room state says nothing of a fire.
    #[serde(default)]
    pub evidence_only: bool,
}

fn low_severity() -> Severity {
    Severity::Low
}

/// ML fire-probability detector (active when `ml.enabled`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MlDetectConfig {
    /// Probability at or above which a reading counts as a fire vote.
    pub threshold: f64,
    /// Readings (of the device, latest first) the votes are counted over.
    pub window: u32,
    /// Votes among the last `window` readings needed: one reading is no
    /// fire, a sustained probability is.
    pub min_votes: u32,
    /// Severity of a sustained probability alone.
    pub severity: Severity,
    /// Severity when another, independent detector of the device (a
    /// threshold, spike or device rule) is active too.
    pub corroborated_severity: Severity,
    /// Votes (of the same `window`) the corroborated severity needs; `None`
    /// is `min_votes`. The evidence that corroborates (the fire gas
    /// signature) reads the TVOC plateau the model has learnt too, so it
    /// often holds for the model's own short mistakes: a stricter count
    /// lets fewer of them become critical.
    pub corroborated_min_votes: Option<u32>,
}

impl MlDetectConfig {
    /// Votes the corroborated severity needs.
    pub fn corroborated_votes(&self) -> u32 {
        self.corroborated_min_votes.unwrap_or(self.min_votes)
    }
}

/// Device faults: a sensor reporting impossible, frozen or drifting values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultDetectConfig {
    /// Raise `fault:device` alerts.
    pub enabled: bool,
    /// Readings in a row with a physically impossible value before the
    /// device is flagged (one glitch is dropped silently).
    pub invalid_after: u32,
    /// Severity of a device-fault alert.
    pub severity: Severity,
}

/// Anomaly detectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// Per-channel threshold levels.
    pub thresholds: BTreeMap<Channel, ThresholdLevels>,
    /// Statistical spikes.
    pub spike: SpikeConfig,
    /// Compound rules.
    pub rules: Vec<RuleConfig>,
    /// ML fire probability.
    pub ml: MlDetectConfig,
    /// Device faults (impossible, stuck or drifting channels).
    pub fault: FaultDetectConfig,
}

/// Alert de-duplication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// An open alert resolves once its condition stayed clear this long
    /// (event time); repeats before that update the open alert.
    pub cooldown: Duration,
}

/// Checkpointing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Time between two checkpoints (one more is written at shutdown).
    pub interval: Duration,
    /// Folder of the checkpoint; null means `<daemon.data_dir>/checkpoints`.
    pub dir: Option<PathBuf>,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            source: SourceConfig::default(),
            max_future_skew: Duration::from_secs(300),
            unknown_devices: UnknownDevices::Register,
            default_home: crate::schema::json::DEFAULT_HOME.to_string(),
            batch_size: 1024,
            channel_capacity: Capacity::new(16),
            max_in_flight: Duration::from_secs(1),
            validate: ValidateConfig::default(),
            clean: CleanConfig::default(),
            features: FeaturesConfig::default(),
            window: WindowConfig::default(),
            detect: DetectConfig::default(),
            alerts: AlertsConfig::default(),
            checkpoint: CheckpointConfig::default(),
        }
    }
}

impl Default for SourceConfig {
    fn default() -> Self {
        Self {
            kind: SourceKind::Transport,
            replay_path: PathBuf::from("data/replay.jsonl"),
            replay_rate: 0,
            stop_at_end: false,
        }
    }
}

impl Default for ValidateConfig {
    fn default() -> Self {
        Self {
            dedupe_window: 1024,
            max_record_bytes: 256 * 1024,
        }
    }
}

impl Default for CleanConfig {
    fn default() -> Self {
        Self {
            missing_default: MissingPolicy::ForwardFill,
            missing: BTreeMap::new(),
            max_fill_age: Duration::from_secs(30),
            stuck_channels: vec![
                Channel::Temperature,
                Channel::Humidity,
                Channel::Pressure,
                Channel::RawH2,
                Channel::RawEthanol,
            ],
            stuck_after: Duration::from_secs(600),
            drift_span: Duration::from_secs(3600),
            drift_baseline_span: Duration::from_secs(24 * 3600),
            drift_limits: BTreeMap::from([
                (Channel::Temperature, 5.0),
                (Channel::Humidity, 15.0),
                (Channel::Pressure, 10.0),
            ]),
        }
    }
}

impl Default for FeaturesConfig {
    fn default() -> Self {
        Self {
            spans: vec![10, 60],
            max_gap: Duration::from_secs(60),
        }
    }
}

impl Default for WindowConfig {
    fn default() -> Self {
        Self {
            size: Duration::from_secs(60),
            allowed_lateness: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            keys: vec![KeyKind::Device, KeyKind::Room, KeyKind::RoomSensor],
            sliding: SlidingConfig::default(),
            output_mode: OutputMode::Update,
            trigger_interval: Duration::from_secs(10),
            channels: Channel::ALL.to_vec(),
        }
    }
}

impl Default for SlidingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            size: Duration::from_secs(300),
            slide: Duration::from_secs(60),
            keys: vec![KeyKind::Room, KeyKind::RoomSensor],
        }
    }
}

impl Default for SpikeConfig {
    fn default() -> Self {
        let rise = |min_change| SpikeChannel {
            direction: Direction::Rise,
            min_change,
        };
        Self {
            // Off by default: in the calibrated fleet, normal air's particle
            // and gas channels jump by thousands within seconds (the data
            // set's heavy tails), so even sustained rises raised over 100
            // false alerts per detector-day (README, "Alerts").
            enabled: false,
            channels: BTreeMap::from([
                (Channel::Pm2_5, rise(20.0)),
                (Channel::Tvoc, rise(300.0)),
                (Channel::Eco2, rise(200.0)),
                (Channel::Temperature, rise(3.0)),
            ]),
            span: 60,
            z_threshold: 8.0,
            sustain: 3,
            severity: Severity::Low,
        }
    }
}

/// Name of the default evidence-only rule that confirms the ML fire alert.
pub const FIRE_GAS_SIGNATURE: &str = "fire_gas_signature";
/// The fire class's gas signature in the Smoke Detection Dataset (profile
/// `tests/fixtures/smoke_profile.yaml`): TVOC on its plateau (fire p25-p99
/// 332-1,417 ppb, where normal air sits between its p75 of 182 and p90 of
/// 9,000) with clean air's particle counts (fire PM2.5 p99 4.9; cooking and
/// steam reach thousands), held 20 s. A rule, not a model: it cannot learn
/// the model's mistakes, so when both agree the alert is critical.
pub const FIRE_GAS_SIGNATURE_WHEN: &str =
    "tvoc_ppb >= 700 && tvoc_ppb <= 2500 && pm2_5 <= 10 for >= 20s";

impl Default for DetectConfig {
    fn default() -> Self {
        let low = |low| ThresholdLevels {
            low: Some(low),
            medium: None,
            high: None,
            critical: None,
            hysteresis: default_hysteresis(),
            sustain: default_sustain(),
        };
        Self {
            // Only heat: normal air in the calibrated fleet reaches the
            // sensors' caps on TVOC (60,000 ppb), eCO2 and particles, so no
            // level on them separates a quiet room from a kitchen or a fire
            // (fires here read *low* particles, as in the data set). 60 °C
            // is above everything normal air reads (max 59.7 °C) and where
            // fixed-temperature heat detectors trip (57-60 °C).
            thresholds: BTreeMap::from([(Channel::Temperature, low(60.0))]),
            spike: SpikeConfig::default(),
            rules: vec![
                RuleConfig {
                    name: "light_on_empty_room".into(),
                    when: "light == on && presence == 0 for >= 60s".into(),
                    severity: Severity::Low,
                    evidence_only: false,
                },
                RuleConfig {
                    name: FIRE_GAS_SIGNATURE.into(),
                    when: FIRE_GAS_SIGNATURE_WHEN.into(),
                    severity: Severity::Low,
                    evidence_only: true,
                },
            ],
            ml: MlDetectConfig::default(),
            fault: FaultDetectConfig::default(),
        }
    }
}

impl Default for MlDetectConfig {
    fn default() -> Self {
        Self {
            threshold: 0.7,
            window: 45,
            min_votes: 36,
            severity: Severity::High,
            corroborated_severity: Severity::Critical,
            corroborated_min_votes: None,
        }
    }
}

impl Default for FaultDetectConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            invalid_after: 3,
            severity: Severity::Low,
        }
    }
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            cooldown: Duration::from_secs(60),
        }
    }
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            dir: None,
        }
    }
}

impl CheckpointConfig {
    /// The checkpoint folder, defaulting under the daemon's data dir.
    pub fn dir_under(&self, data_dir: &std::path::Path) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| data_dir.join("checkpoints"))
    }
}

impl Validate for StreamConfig {
    fn validate(&self, section: &str, issues: &mut Vec<ConfigIssue>) {
        let mut issue = |key: &str, reason: String| {
            issues.push(ConfigIssue::new(format!("{section}.{key}"), reason));
        };
        if self.default_home.trim().is_empty() {
            issue(
                "default_home",
                "must not be empty: it names the home of messages that name none".into(),
            );
        }
        if self.validate.max_record_bytes < 1024 {
            issue(
                "validate.max_record_bytes",
                format!(
                    "{} bytes would refuse ordinary readings (about 350 bytes each); use at least 1024",
                    self.validate.max_record_bytes
                ),
            );
        }
        if self.source.stop_at_end && self.source.kind == SourceKind::Replay {
            issue(
                "source.stop_at_end",
                "applies to the transport source; a replay always ends at the end of its file"
                    .into(),
            );
        }
        let w = &self.window;
        if w.size.get() < std::time::Duration::from_secs(1) {
            issue(
                "window.size",
                format!("{} is shorter than the 1s sample interval", w.size),
            );
        }
        // A window is held as panes (see `window::operator`) that record
        // times as 32-bit offsets; longer aggregates are the batch job's.
        let longest = std::time::Duration::from_millis(
            crate::stream::window::agg::MAX_PANE_MS.unsigned_abs(),
        );
        if w.size.get() > longest {
            issue(
                "window.size",
                format!(
                    "{} is longer than the longest window the stream keeps (49d 17h); daily and longer aggregates are the batch job's",
                    w.size
                ),
            );
        }
        if w.sliding.enabled && w.sliding.slide.get() > longest {
            issue(
                "window.sliding.slide",
                format!(
                    "{} is longer than the longest window slide the stream keeps (49d 17h)",
                    w.sliding.slide
                ),
            );
        }
        if w.sliding.enabled {
            if w.sliding.slide.is_zero() {
                issue("window.sliding.slide", "must be longer than 0s".into());
            }
            if w.sliding.size < w.sliding.slide {
                issue(
                    "window.sliding.size",
                    format!(
                        "{} is shorter than window.sliding.slide ({})",
                        w.sliding.size, w.sliding.slide
                    ),
                );
            }
        }
        if w.output_mode == OutputMode::Update && w.trigger_interval.is_zero() {
            issue("window.trigger_interval", "must be longer than 0s".into());
        }
        if self.batch_size == 0 {
            issue("batch_size", "must be at least 1".into());
        }
        if self.max_in_flight.is_zero() {
            issue("max_in_flight", "must be longer than 0s".into());
        }
        if self.features.spans.contains(&0) {
            issue("features.spans", "spans must be at least 1 (second)".into());
        }
        let spike = &self.detect.spike;
        if spike.enabled && !self.features.spans.contains(&spike.span) {
            issue(
                "detect.spike.span",
                format!(
                    "{} is not one of features.spans {:?}",
                    spike.span, self.features.spans
                ),
            );
        }
        if !(spike.z_threshold.is_finite() && spike.z_threshold > 0.0) {
            issue(
                "detect.spike.z_threshold",
                format!("{} must be a positive number", spike.z_threshold),
            );
        }
        for (channel, l) in &self.detect.thresholds {
            let levels: Vec<f64> = l.levels().map(|(_, v)| v).collect();
            let ordered = levels.windows(2).all(|w| w[0] <= w[1]);
            if levels.is_empty() || !ordered || !levels.iter().all(|v| v.is_finite()) {
                issue(
                    &format!("detect.thresholds.{channel}"),
                    format!(
                        "give at least one of low, medium, high, critical; finite and ascending (got {levels:?})"
                    ),
                );
            }
            if !(0.0..1.0).contains(&l.hysteresis) {
                issue(
                    &format!("detect.thresholds.{channel}.hysteresis"),
                    format!("{} must be a share from 0 to below 1", l.hysteresis),
                );
            }
            if l.sustain == 0 {
                issue(
                    &format!("detect.thresholds.{channel}.sustain"),
                    "must be at least 1 reading".into(),
                );
            }
        }
        for (channel, c) in &spike.channels {
            if !(c.min_change.is_finite() && c.min_change >= 0.0) {
                issue(
                    &format!("detect.spike.channels.{channel}.min_change"),
                    format!("{} must be 0 or more", c.min_change),
                );
            }
        }
        if spike.sustain == 0 {
            issue("detect.spike.sustain", "must be at least 1 reading".into());
        }
        let ml = &self.detect.ml;
        if ml.window == 0 || ml.window > 64 || ml.min_votes == 0 || ml.min_votes > ml.window {
            issue(
                "detect.ml",
                format!(
                    "min_votes ({}) must be from 1 to window ({}), and window at most 64",
                    ml.min_votes, ml.window
                ),
            );
        }
        if ml
            .corroborated_min_votes
            .is_some_and(|v| v < ml.min_votes || v > ml.window)
        {
            issue(
                "detect.ml.corroborated_min_votes",
                format!(
                    "{} must be from min_votes ({}) to window ({})",
                    ml.corroborated_votes(),
                    ml.min_votes,
                    ml.window
                ),
            );
        }
        if self.detect.fault.invalid_after == 0 {
            issue(
                "detect.fault.invalid_after",
                "must be at least 1 reading".into(),
            );
        }
        if !(0.0..=1.0).contains(&self.detect.ml.threshold) {
            issue(
                "detect.ml.threshold",
                format!("{} is not a probability (0-1)", self.detect.ml.threshold),
            );
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, rule) in self.detect.rules.iter().enumerate() {
            if !names.insert(rule.name.as_str()) {
                issue(
                    &format!("detect.rules[{i}].name"),
                    format!("rule name {:?} is used twice", rule.name),
                );
            }
            match super::detect::rules::Rule::parse(&rule.name, &rule.when) {
                Err(e) => issue(&format!("detect.rules[{i}].when"), e.to_string()),
                Ok(parsed) if rule.evidence_only && parsed.scope == Scope::Room => issue(
                    &format!("detect.rules[{i}].evidence_only"),
                    format!(
                        "rule {:?} reads only room state; evidence for a device's fire alert \
                         must read the device's reading",
                        rule.name
                    ),
                ),
                Ok(_) => {}
            }
        }
        if self.clean.drift_baseline_span <= self.clean.drift_span {
            issue(
                "clean.drift_baseline_span",
                format!(
                    "{} must be longer than clean.drift_span ({}): a baseline that follows \
                     the slow mean as fast as the mean moves never sees it leave",
                    self.clean.drift_baseline_span, self.clean.drift_span
                ),
            );
        }
        for (channel, limit) in &self.clean.drift_limits {
            if !(limit.is_finite() && *limit > 0.0) {
                issue(
                    &format!("clean.drift_limits.{channel}"),
                    format!("{limit} must be a positive number"),
                );
            }
        }
        if self.checkpoint.interval.is_zero() {
            issue("checkpoint.interval", "must be longer than 0s".into());
        }
        if self.source.kind == SourceKind::Replay && self.source.replay_path.as_os_str().is_empty()
        {
            issue(
                "source.replay_path",
                "must name a file when source.kind is replay".into(),
            );
        }
    }
}
