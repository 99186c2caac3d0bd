//! The validate stage: decodes raw records (readings and room events) and
//! refuses malformed, wrong-typed, non-finite, out-of-range, unknown-schema,
//! unknown-device and duplicate ones. A reading with a physically
//! impossible value on a channel is kept without that channel (marked
//! invalid in its quality flags): one broken sensor must not hide the rest. Every refusal becomes a dead letter
//! with the reason, the original bytes and the source position.

use super::dedupe::{Dedupe, Seen};
use super::intern::Interner;
use super::message::{Batch, Item, Origin, Quality, ReadingRecord, RoomEventRecord, Signals};
use crate::model::json::{decode_reading_text, decode_room_event};
use crate::model::registry::DeviceRegistry;
use crate::model::{DeviceId, HomeId, RoomId};
use crate::sinks::DeadLetter;
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
}

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
        }
    }

    pub fn state(&self) -> &ValidateState {
        &self.state
    }

    pub fn restore(&mut self, state: ValidateState) {
        self.state = state;
    }

    /// Moves `batch.input` into `batch.items` or `batch.dead_letters`.
    pub fn process(&mut self, batch: &mut Batch) {
        let input = std::mem::take(&mut batch.input);
        batch.items.reserve(input.len());
        for record in input {
            match self.validate(record) {
                Ok(item) => batch.items.push(item),
                Err(dead) => batch.dead_letters.push(*dead),
            }
        }
    }

    fn validate(&mut self, record: ConsumedRecord) -> Result<Item, Box<DeadLetter>> {
        let origin = Origin {
            topic: record.topic,
            partition: record.partition,
            offset: record.offset,
        };
        let refuse = |reason: &str, detail: String| {
            Box::new(DeadLetter::new(reason, detail, origin, &record.value))
        };
        match record.topic {
            TopicKind::Readings => {
                let decoded = decode_reading_text(&record.value)
                    .map_err(|e| refuse(e.reason(), e.to_string()))?;
                if !self.registry.accepts_text(&decoded.device_id) {
                    return Err(refuse(
                        "unknown_device",
                        format!(
                            "device {:?} is not in the fleet registry",
                            decoded.device_id.as_ref()
                        ),
                    ));
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
                let event = decode_room_event(&record.value)
                    .map_err(|e| refuse(e.reason(), e.to_string()))?;
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
