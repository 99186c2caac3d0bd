//! The validate stage: decodes raw records (readings and room events) and
//! refuses malformed, wrong-typed, non-finite, out-of-range, unknown-schema,
//! unknown-device and duplicate ones, and those dated further ahead of the
//! daemon's clock than `stream.max_future_skew` (one device with a bad
//! clock must not push the watermark years ahead and make every other
//! reading late). A reading with a physically impossible value on a channel
//! is kept without that channel (marked invalid in its quality flags): one
//! broken sensor must not hide the rest. Every refusal becomes a dead letter
//! with the reason, the original bytes (bounded, see [`PayloadLimit`]) and
//! the source position.

use super::dedupe::{Dedupe, Seen};
use super::intern::Interner;
use super::message::{Batch, Item, Origin, Quality, ReadingRecord, RoomEventRecord, Signals};
use super::stage::Stage;
use crate::schema::json::{DEFAULT_HOME, decode_reading_text_in, decode_room_event_in};
use crate::schema::registry::{Admission, DeviceRegistry, UnknownDevices};
use crate::schema::{DeviceId, HomeId, RoomId};
use crate::stream::checkpoint::{CheckpointError, StateSnapshot, StoredPart};
use crate::stream::sinks::{DeadLetter, PayloadLimit};
use crate::transport::{ConsumedRecord, TopicKind};
use serde::{Deserialize, Serialize};

/// State a checkpoint keeps: the duplicate filters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidateState {
    readings: Dedupe,
    room_events: Dedupe,
}

/// Decoding and validation.
pub struct Validator {
    state: ValidateState,
    registry: DeviceRegistry,
    devices: Interner<DeviceId>,
    homes: Interner<HomeId>,
    rooms: Interner<RoomId>,
    payload_limit: PayloadLimit,
    /// Event times more than this ahead of the clock are refused.
    max_future_skew_ms: i64,
    /// What to do with readings from unregistered devices.
    unknown_devices: UnknownDevices,
    /// Home of Smart Home and data-set messages that name none.
    default_home: String,
}

/// Default of `stream.max_future_skew`.
pub const DEFAULT_MAX_FUTURE_SKEW_MS: i64 = 5 * 60 * 1000;

impl Validator {
    pub fn new(dedupe_window: u32, registry: DeviceRegistry) -> Self {
        Self {
            state: ValidateState {
                readings: Dedupe::new(dedupe_window),
                room_events: Dedupe::new(dedupe_window),
            },
            registry,
            devices: Interner::default(),
            homes: Interner::default(),
            rooms: Interner::default(),
            payload_limit: PayloadLimit::default(),
            max_future_skew_ms: DEFAULT_MAX_FUTURE_SKEW_MS,
            unknown_devices: UnknownDevices::default(),
            default_home: DEFAULT_HOME.to_string(),
        }
    }

    /// `stream.unknown_devices`.
    pub fn with_unknown_devices(mut self, policy: UnknownDevices) -> Self {
        self.unknown_devices = policy;
        self
    }

    /// `stream.default_home`.
    pub fn with_default_home(mut self, home: &str) -> Self {
        self.default_home = home.to_string();
        self
    }

    /// Writes the devices registered automatically to the registry file.
    /// Called with every checkpoint snapshot, so no checkpoint covers a
    /// reading whose registration is not on disk. Blocking, but only when
    /// a device was registered since the last call.
    pub fn flush_registry(&self) -> Result<bool, crate::schema::registry::RegistryError> {
        self.registry.flush()
    }

    /// How much of a refused record its dead letter keeps.
    pub fn with_payload_limit(mut self, limit: PayloadLimit) -> Self {
        self.payload_limit = limit;
        self
    }

    /// Refuse event times more than `skew` ahead of the daemon's clock.
    pub fn with_max_future_skew(mut self, skew: std::time::Duration) -> Self {
        self.max_future_skew_ms = i64::try_from(skew.as_millis()).unwrap_or(i64::MAX);
        self
    }

    pub fn state(&self) -> &ValidateState {
        &self.state
    }

    pub fn restore_state(&mut self, state: ValidateState) {
        self.state = state;
    }

    /// [`Stage::process`] with the clock reading `now_ms`.
    pub fn process_at(&mut self, batch: &mut Batch, now_ms: i64) {
        let latest_allowed = now_ms.saturating_add(self.max_future_skew_ms);
        let input = std::mem::take(&mut batch.input);
        batch.items.reserve(input.len());
        for record in input {
            match self.validate(record, latest_allowed) {
                Ok(item) => batch.items.push(item),
                Err(dead) => batch.dead_letters.push(*dead),
            }
        }
    }

    fn validate(
        &mut self,
        record: ConsumedRecord,
        latest_allowed: i64,
    ) -> Result<Item, Box<DeadLetter>> {
        let origin = Origin {
            topic: record.topic,
            partition: record.partition,
            offset: record.offset,
        };
        let limit = self.payload_limit;
        let refuse = |reason: &str, detail: String| {
            Box::new(DeadLetter::new(
                reason,
                detail,
                origin,
                &record.value,
                limit,
            ))
        };
        let future = |t: crate::schema::EventTime| {
            Box::new(DeadLetter::new(
                "future_event_time",
                format!(
                    "event time {t} is more than stream.max_future_skew ahead of the daemon's clock (latest accepted now: {})",
                    crate::schema::EventTime(latest_allowed)
                ),
                origin,
                &record.value,
                limit,
            ))
        };
        match record.topic {
            TopicKind::Readings => {
                let decoded = decode_reading_text_in(&record.value, &self.default_home)
                    .map_err(|e| refuse(e.reason(), e.to_string()))?;
                match self
                    .registry
                    .admit(&decoded.device_id, self.unknown_devices)
                {
                    Admission::Known | Admission::Open => {}
                    Admission::Register { home, room } => {
                        // A function of the id alone: a replay registers
                        // the device again, identically.
                        tracing::info!(device = %decoded.device_id, home = %home, room = %room, "device registered automatically (stream.unknown_devices: register)");
                        self.registry.register_auto(
                            DeviceId::from(decoded.device_id.as_ref()),
                            home,
                            room,
                        );
                    }
                    Admission::Refused(reason) => return Err(refuse("unknown_device", reason)),
                }
                if decoded.event_time.millis() > latest_allowed {
                    return Err(future(decoded.event_time));
                }
                let device = self.devices.get(&decoded.device_id);
                match self.state.readings.check(&device, decoded.seq) {
                    Seen::New => {}
                    seen => return Err(refuse("duplicate", duplicate_detail(seen, decoded.seq))),
                }
                let home = self.homes.get(&decoded.home);
                let room = self.rooms.get(&decoded.room);
                let invalid = decoded
                    .out_of_range
                    .iter()
                    .fold(0u16, |m, (c, _)| m | 1 << c.index());
                let reading = decoded.into_reading(device, home, room);
                Ok(Item::Reading(Box::new(ReadingRecord {
                    origin,
                    raw: record.value,
                    reading,
                    quality: Quality {
                        invalid,
                        ..Quality::default()
                    },
                    signals: Signals::default(),
                    rule_features: [f64::NAN; super::detect::MAX_RULE_FEATURES],
                    vector_row: None,
                    fire_probability: None,
                })))
            }
            TopicKind::RoomEvents => {
                let event = decode_room_event_in(&record.value, &self.default_home)
                    .map_err(|e| refuse(e.reason(), e.to_string()))?;
                if event.event_time.millis() > latest_allowed {
                    return Err(future(event.event_time));
                }
                match self.state.room_events.check(&event.sensor_id, event.seq) {
                    Seen::New => {}
                    seen => return Err(refuse("duplicate", duplicate_detail(seen, event.seq))),
                }
                Ok(Item::RoomEvent(Box::new(RoomEventRecord {
                    origin,
                    raw: record.value,
                    event,
                })))
            }
            other => Err(refuse(
                "unexpected_topic",
                format!("the stream does not read topic {other}"),
            )),
        }
    }
}

fn duplicate_detail(seen: Seen, seq: u64) -> String {
    match seen {
        Seen::TooOld => {
            format!("sequence number {seq} is older than the duplicate filter remembers")
        }
        _ => format!("sequence number {seq} was already received from this sender"),
    }
}

impl Stage for Validator {
    fn name(&self) -> &'static str {
        "validate"
    }
    /// Moves `batch.input` into `batch.items` or `batch.dead_letters`.
    fn process(&mut self, batch: &mut Batch) {
        self.process_at(batch, chrono::Utc::now().timestamp_millis());
    }
    fn snapshot(&mut self) -> Option<Box<dyn StateSnapshot>> {
        // Devices registered since the last checkpoint reach the disk
        // before this checkpoint can cover their readings.
        if let Err(e) = self.flush_registry() {
            tracing::warn!(
                "{e}; the devices registered automatically are written again at the next checkpoint, and a replay registers them again"
            );
        }
        Some(Box::new(ValidateState {
            readings: self.state.readings.checkpoint_snapshot(),
            room_events: self.state.room_events.checkpoint_snapshot(),
        }))
    }
    fn restore(&mut self, part: StoredPart<'_>) -> Result<(), CheckpointError> {
        self.state = part.decode()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ChannelValues, EventTime, SmokeReading};
    use std::time::Instant;

    const NOW_MS: i64 = 1_764_000_000_000;

    fn record(seq: u64, event_time_ms: i64) -> ConsumedRecord {
        let reading = SmokeReading {
            device_id: "h1-kitchen-smoke".into(),
            home: "h1".into(),
            room: "kitchen".into(),
            event_time: EventTime(event_time_ms),
            seq,
            cnt: None,
            values: ChannelValues::EMPTY,
            fire_alarm: None,
        };
        ConsumedRecord {
            topic: TopicKind::Readings,
            partition: 0,
            offset: seq as i64,
            key: None,
            value: crate::schema::json::encode_reading(&reading).into(),
            headers: crate::transport::json_headers(),
            timestamp_ms: 0,
        }
    }

    #[test]
    fn an_auto_registered_device_is_registered_again_identically_on_replay() {
        use crate::schema::registry::DeviceSource;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("devices.json");
        let fleet = |registry: &DeviceRegistry| {
            registry.register("h0-hall-smoke".into(), "h0".into(), "hall".into());
        };
        let registry = DeviceRegistry::open(&path).unwrap();
        fleet(&registry);
        let mut validator = Validator::new(64, registry.clone());
        // The last checkpoint was taken before the new device's readings.
        let checkpoint = validator.state().clone();
        let run = |validator: &mut Validator| {
            let mut batch = Batch::new(Instant::now());
            batch.input = vec![record(1, NOW_MS - 2000), record(2, NOW_MS - 1000)];
            validator.process_at(&mut batch, NOW_MS);
            (batch.items.len(), batch.dead_letters.len())
        };
        assert_eq!(run(&mut validator), (2, 0));
        let registered = registry.get(&"h1-kitchen-smoke".into()).unwrap();
        assert_eq!(registered.source, DeviceSource::Auto);
        assert_eq!(registered.room.as_str(), "kitchen");

        // A crash before the next checkpoint: the file never saw it, and
        // the stream replays from the checkpoint.
        assert!(!path.exists());
        let reopened = DeviceRegistry::open(&path).unwrap();
        fleet(&reopened);
        assert_eq!(reopened.get(&"h1-kitchen-smoke".into()), None);
        let mut replay = Validator::new(64, reopened.clone());
        replay.restore_state(checkpoint);
        assert_eq!(run(&mut replay), (2, 0), "the replayed readings pass again");
        assert_eq!(reopened.get(&"h1-kitchen-smoke".into()), Some(registered));

        // The checkpoint snapshot writes it; a restart then knows it.
        assert!(replay.flush_registry().unwrap());
        let restarted = DeviceRegistry::open(&path).unwrap();
        assert_eq!(
            restarted.get(&"h1-kitchen-smoke".into()).map(|d| d.room),
            Some("kitchen".into())
        );
    }

    #[test]
    fn a_reading_dated_2099_is_refused_and_the_readings_after_it_are_processed() {
        let in_2099 = 4_070_908_800_000;
        let mut validator = Validator::new(64, DeviceRegistry::new())
            .with_max_future_skew(std::time::Duration::from_secs(300));
        let mut batch = Batch::new(Instant::now());
        batch.input = vec![
            record(1, NOW_MS - 2000),
            record(2, in_2099),
            record(3, NOW_MS - 1000),
            record(4, NOW_MS + 299_000),
        ];
        validator.process_at(&mut batch, NOW_MS);
        let reasons: Vec<&str> = batch
            .dead_letters
            .iter()
            .map(|d| d.reason.as_str())
            .collect();
        assert_eq!(reasons, ["future_event_time"]);
        assert_eq!(batch.dead_letters[0].offset, 2);
        let seqs: Vec<u64> = batch
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Reading(r) => Some(r.reading.seq),
                Item::RoomEvent(_) => None,
            })
            .collect();
        assert_eq!(seqs, [1, 3, 4], "within the skew is accepted");
    }
}
