//! The records the stream emits: window results, alert events and dead
//! letters. Serializable (Kafka topics, files, the web API) and identified
//! deterministically, so a replay after a crash produces the same ids.

use crate::schema::{Channel, DeviceId, EventTime, HomeId, RoomId, RoomSensorKind};
use crate::stream::config::{KeyKind, Severity};
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

/// Smallest allowed `sinks.dead_letters.max_payload_bytes`.
pub const MIN_DEAD_LETTER_BYTES: usize = 4096;

/// Room kept for a dead letter's fields besides the payload.
const DEAD_LETTER_FIELDS_BYTES: usize = 2048;

/// Longest detail a dead letter keeps (a detail may quote the input, e.g.
/// an unknown device id, which a hostile record can make megabytes long).
const MAX_DETAIL_BYTES: usize = 1024;

/// How much of a refused record a dead letter keeps, from
/// `sinks.dead_letters.max_payload_bytes`: the most a whole dead letter
/// may take when written, so the payload keeps the base64 of as many of
/// the original bytes as fit beside the other fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadLimit {
    /// Original bytes kept at most.
    kept: usize,
}

impl PayloadLimit {
    pub fn new(max_dead_letter_bytes: usize) -> Self {
        let room = max_dead_letter_bytes.saturating_sub(DEAD_LETTER_FIELDS_BYTES);
        Self { kept: room / 4 * 3 }
    }

    /// Original bytes a dead letter keeps at most.
    pub fn kept_bytes(self) -> usize {
        self.kept
    }
}

impl Default for PayloadLimit {
    fn default() -> Self {
        Self::new(super::config::DeadLetterConfig::default().max_payload_bytes)
    }
}

/// A record the stream refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Short stable label: `malformed_json`, `duplicate`, `late`, …
    pub reason: String,
    /// What exactly was wrong (at most 1 KiB).
    pub detail: String,
    pub topic: TopicKind,
    pub partition: i32,
    pub offset: i64,
    /// The original bytes, base64: all of them, or the first ones when
    /// `payload_truncated` (see [`PayloadLimit`]).
    pub payload_base64: String,
    /// Size of the original record in bytes.
    pub payload_bytes: u64,
    /// SHA-256 of the whole original record (hex), so a cut payload still
    /// identifies the record.
    pub payload_sha256: String,
    /// True when `payload_base64` holds only the first bytes.
    pub payload_truncated: bool,
}

impl DeadLetter {
    pub fn new(
        reason: &str,
        detail: impl Into<String>,
        origin: crate::transport::Origin,
        payload: &[u8],
        limit: PayloadLimit,
    ) -> Self {
        use base64::Engine;
        use sha2::Digest;
        let kept = &payload[..payload.len().min(limit.kept)];
        let mut detail = detail.into();
        if detail.len() > MAX_DETAIL_BYTES {
            let mut cut = MAX_DETAIL_BYTES;
            while !detail.is_char_boundary(cut) {
                cut -= 1;
            }
            detail.truncate(cut);
            detail.push('…');
        }
        Self {
            reason: reason.to_string(),
            detail,
            topic: origin.topic,
            partition: origin.partition,
            offset: origin.offset,
            payload_base64: base64::engine::general_purpose::STANDARD.encode(kept),
            payload_bytes: payload.len() as u64,
            payload_sha256: hex::encode(sha2::Sha256::digest(payload)),
            payload_truncated: kept.len() < payload.len(),
        }
    }

    /// The bytes kept of the original (all of them unless `payload_truncated`).
    pub fn payload(&self) -> Option<Vec<u8>> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(&self.payload_base64)
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Origin;
    use crate::transport::TopicKind;

    fn origin() -> Origin {
        Origin {
            topic: TopicKind::Readings,
            partition: 0,
            offset: 7,
        }
    }

    #[test]
    fn a_huge_record_costs_at_most_the_configured_dead_letter_size() {
        let record = vec![b'{'; 1_000_000];
        let limit = PayloadLimit::new(64 * 1024);
        let detail = "x".repeat(100_000);
        let dead = DeadLetter::new("malformed_json", detail, origin(), &record, limit);
        let written = serde_json::to_vec(&dead).unwrap();
        assert!(
            written.len() <= 64 * 1024,
            "{} bytes written",
            written.len()
        );
        assert!(dead.payload_truncated);
        assert_eq!(dead.payload_bytes, 1_000_000);
        let kept = dead.payload().unwrap();
        assert_eq!(kept.len(), limit.kept_bytes());
        assert!(kept.len() > 40_000, "keeps as much as fits: {}", kept.len());
        assert_eq!(dead.payload_sha256.len(), 64);
    }

    #[test]
    fn a_small_record_is_kept_whole() {
        let record = br#"{"schema_version":1,"device_id":"#;
        let dead = DeadLetter::new(
            "malformed_json",
            "eof",
            origin(),
            record,
            PayloadLimit::default(),
        );
        assert!(!dead.payload_truncated);
        assert_eq!(dead.payload().unwrap(), record.to_vec());
        assert_eq!(dead.payload_bytes, record.len() as u64);
    }
}
