//! The records the stream emits: window results, alert events and dead
//! letters. Serializable (Kafka topics, files, the web API) and identified
//! deterministically, so a replay after a crash produces the same ids.

use crate::model::{Channel, DeviceId, EventTime, HomeId, RoomId, RoomSensorKind};
use crate::stream::{KeyKind, Severity};
use crate::transport::TopicKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Namespace of every deterministic id smokewatch derives (UUID v5).
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x5a0c_e0a7_c4e5_4b1d_9a55_2f1e_77c0_ffee);

/// A deterministic id from the text that identifies a thing.
pub fn derived_id(text: &str) -> Uuid {
    Uuid::new_v5(&ID_NAMESPACE, text.as_bytes())
}

/// A deterministic id from a file's content (part file names).
pub fn content_id(bytes: &[u8]) -> Uuid {
    Uuid::new_v5(&ID_NAMESPACE, bytes)
}

/// Which window spec produced a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowName {
    Tumbling,
    Sliding,
}

impl WindowName {
    pub const fn as_str(self) -> &'static str {
        match self {
            WindowName::Tumbling => "tumbling",
            WindowName::Sliding => "sliding",
        }
    }
}

/// What a window result aggregates: a detector channel or a room sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Measure {
    Channel(Channel),
    Sensor(RoomSensorKind),
}

impl Measure {
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Channel(c) => c.key(),
            Measure::Sensor(s) => s.key(),
        }
    }
}

/// The aggregate of one measure of one key in one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowResult {
    pub window: WindowName,
    pub key_kind: KeyKind,
    /// Set for device keys.
    pub device: Option<DeviceId>,
    pub home: HomeId,
    pub room: RoomId,
    pub measure: Measure,
    pub start: EventTime,
    pub end: EventTime,
    pub count: u64,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    pub stddev: f64,
    pub last: f64,
    /// True when the window closed (append mode emits only these); false for
    /// an update-mode intermediate result.
    pub is_final: bool,
}

impl WindowResult {
    /// Identifies the window and measure (not the emission): the record key.
    pub fn key(&self) -> String {
        let who = match &self.device {
            Some(d) => d.to_string(),
            None => format!("{}/{}", self.home, self.room),
        };
        format!(
            "{}/{}/{}/{}/{}",
            self.window.as_str(),
            self.key_kind.as_str(),
            who,
            self.measure.as_str(),
            self.start.millis()
        )
    }
}

/// Which detector raised an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Threshold,
    Spike,
    Rule,
    Ml,
    /// The sensor itself is faulty (impossible, stuck or drifting values).
    Fault,
}

impl AlertKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertKind::Threshold => "threshold",
            AlertKind::Spike => "spike",
            AlertKind::Rule => "rule",
            AlertKind::Ml => "ml",
            AlertKind::Fault => "fault",
        }
    }
}

/// Life-cycle state of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Raised; repeats update it.
    Open,
    /// The condition stayed clear for the cooldown.
    Resolved,
}

/// An alert as sinks and the web see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Derived from (subject, rule, event time of opening): a replay gives the same id.
    pub id: Uuid,
    /// Set for alerts about one device; room rules leave it empty.
    pub device: Option<DeviceId>,
    pub home: HomeId,
    pub room: RoomId,
    /// Rule name, e.g. `threshold:pm2_5`, `spike:tvoc_ppb`, a config rule's name, `ml:fire`.
    pub rule: String,
    pub kind: AlertKind,
    pub severity: Severity,
    pub state: AlertState,
    /// The values that triggered it (latest repeat).
    pub values: BTreeMap<String, f64>,
    /// Event time at which it was raised.
    pub event_time: EventTime,
    /// Event time of the latest repeat.
    pub last_event_time: EventTime,
    /// Event time at which its condition cleared (resolved alerts).
    pub resolved_time: Option<EventTime>,
    /// Wall-clock time (ms) of detection; not part of replay equality.
    pub detected_at_ms: i64,
    /// Sequence number of the triggering reading or room event.
    pub trigger_seq: u64,
    /// How often the condition held while the alert was open.
    pub repeats: u64,
}

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertChange {
    Opened,
    /// Its severity rose while open.
    Escalated,
    Resolved,
}

/// One change of one alert: what the alert sinks receive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub change: AlertChange,
    pub alert: Alert,
}

impl AlertEvent {
    /// Unique per change: the record key on Kafka and the dedupe key in files.
    pub fn event_id(&self) -> Uuid {
        let change = match self.change {
            AlertChange::Opened => "opened".to_string(),
            AlertChange::Escalated => format!("escalated:{}", self.alert.severity.as_str()),
            AlertChange::Resolved => "resolved".to_string(),
        };
        derived_id(&format!("{}/{change}", self.alert.id))
    }
}

/// A record the stream refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Short stable label: `malformed_json`, `duplicate`, `late`, …
    pub reason: String,
    /// What exactly was wrong.
    pub detail: String,
    pub topic: TopicKind,
    pub partition: i32,
    pub offset: i64,
    /// The original bytes, base64.
    pub payload_base64: String,
    /// The original bytes as text when they are UTF-8 (for people).
    pub payload_text: Option<String>,
}

impl DeadLetter {
    pub fn new(
        reason: &str,
        detail: impl Into<String>,
        origin: crate::stream::Origin,
        payload: &[u8],
    ) -> Self {
        use base64::Engine;
        Self {
            reason: reason.to_string(),
            detail: detail.into(),
            topic: origin.topic,
            partition: origin.partition,
            offset: origin.offset,
            payload_base64: base64::engine::general_purpose::STANDARD.encode(payload),
            payload_text: std::str::from_utf8(payload).ok().map(str::to_string),
        }
    }

    /// The original bytes.
    pub fn payload(&self) -> Option<Vec<u8>> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(&self.payload_base64)
            .ok()
    }
}
