//! The schema of the data that flows through smokewatch: smoke-detector readings and room
//! sensor events, and the codecs that put them on the wire (JSON) and on
//! disk (the Smoke Detection Dataset's CSV, and Parquet).
//!
//! Types carry meaning ([`DeviceId`], [`EventTime`]) so a home id cannot be
//! passed where a device id is expected, and event time (when the sensor
//! measured) is never confused with processing time (when we saw it).

pub mod channel;
pub mod csv;
pub mod foreign;
pub mod json;
pub mod parquet;
pub mod registry;

pub use channel::{CHANNEL_COUNT, Channel, ChannelValues};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// Version of the JSON wire format this build reads and writes.
///
/// Bumped on any incompatible change; the stream dead-letters records with
/// a version it does not know instead of guessing.
pub const SCHEMA_VERSION: u32 = 1;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Reference-counted so the stream can key windows and state maps by
        /// it without copying the string for every reading.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            pub fn new(id: impl Into<Arc<str>>) -> Self {
                Self(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        /// Hashes and compares as its text, so maps keyed by the id can
        /// be searched with a `&str` (no allocation per lookup).
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(Arc::from(s))
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(Arc::from(s))
            }
        }
    };
}

string_id!(
    /// Identifies one physical smoke detector (unique across the fleet).
    DeviceId
);
string_id!(
    /// Identifies one home (building) of the fleet.
    HomeId
);
string_id!(
    /// Identifies a room within its home; unique only together with the home.
    RoomId
);

/// When a sensor measured a value: milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventTime(pub i64);

impl EventTime {
    /// From the data set's `UTC` column (whole seconds).
    pub const fn from_utc_seconds(seconds: i64) -> Self {
        Self(seconds * 1000)
    }

    /// Whole seconds, rounded towards negative infinity (the CSV's `UTC`).
    pub const fn utc_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub const fn millis(self) -> i64 {
        self.0
    }

    /// As a calendar time, if it is within chrono's range.
    pub fn to_datetime(self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::from_timestamp_millis(self.0)
    }
}

/// RFC 3339 in UTC with milliseconds (`2024-01-01T00:00:00.000Z`), what
/// `%Y-%m-%dT%H:%M:%S%.3fZ` writes. Window rows and alerts format two times
/// each, so this is on the stream's hot path: chrono's RFC 3339 writer does
/// not parse a format string on every call as `format` does.
impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_datetime() {
            Some(t) => f.write_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            None => write!(f, "{}ms", self.0),
        }
    }
}

#[cfg(test)]
mod event_time_tests {
    use super::EventTime;

    #[test]
    fn displays_as_the_strftime_format_it_replaced() {
        for ms in [
            0,
            1_700_000_000_123,
            -1,
            -62_135_596_800_001,
            253_402_300_799_999,
            253_402_300_800_000,
            8_210_266_876_799_999,
        ] {
            let t = EventTime(ms).to_datetime().expect("in chrono's range");
            let strftime = t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            assert_eq!(EventTime(ms).to_string(), strftime, "{ms} ms");
        }
        assert_eq!(EventTime(i64::MAX).to_string(), format!("{}ms", i64::MAX));
    }
}

/// One sample of a smoke detector: the 12 channels of the Smoke Detection
/// Dataset plus where and when it was measured.
#[derive(Debug, Clone, PartialEq)]
pub struct SmokeReading {
    /// The detector that measured it (`device_id` on the wire).
    pub device_id: DeviceId,
    /// Home the detector is in, as the reading names it (`home` on the wire).
    pub home: HomeId,
    /// Room of that home the detector is in (`room` on the wire).
    pub room: RoomId,
    /// When the detector measured (`event_time_ms` on the wire), not when it arrived.
    pub event_time: EventTime,
    /// Per-device sequence number, increasing by one per sample; with the
    /// device id it identifies a reading, so duplicates can be dropped.
    pub seq: u64,
    /// The data set's `CNT`: the device's sample counter since power-on.
    pub cnt: Option<u64>,
    /// The 12 channels in data-set units; a channel not sent (or `null`) is missing.
    pub values: ChannelValues,
    /// The data set's `Fire Alarm` label, when known (training data, the
    /// simulator's ground truth); live devices do not send it.
    pub fire_alarm: Option<bool>,
}

/// The kinds of room (smart-home) sensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomSensorKind {
    Temperature,
    Humidity,
    /// 1 = light on, 0 = off.
    Light,
    /// 1 = somebody is in the room, 0 = empty.
    Presence,
}

impl RoomSensorKind {
    pub const ALL: [RoomSensorKind; 4] = [
        RoomSensorKind::Temperature,
        RoomSensorKind::Humidity,
        RoomSensorKind::Light,
        RoomSensorKind::Presence,
    ];

    pub const fn key(self) -> &'static str {
        match self {
            RoomSensorKind::Temperature => "temperature",
            RoomSensorKind::Humidity => "humidity",
            RoomSensorKind::Light => "light",
            RoomSensorKind::Presence => "presence",
        }
    }

    /// Whether the sensor reports only 0 or 1.
    pub const fn is_binary(self) -> bool {
        matches!(self, RoomSensorKind::Light | RoomSensorKind::Presence)
    }

    /// Values a working sensor of this kind can report.
    pub fn physical_range(self) -> std::ops::RangeInclusive<f64> {
        match self {
            RoomSensorKind::Temperature => -40.0..=125.0,
            RoomSensorKind::Humidity => 0.0..=100.0,
            RoomSensorKind::Light | RoomSensorKind::Presence => 0.0..=1.0,
        }
    }
}

impl fmt::Display for RoomSensorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// One measurement of a room sensor (light, presence, temperature, humidity).
#[derive(Debug, Clone, PartialEq)]
pub struct RoomEvent {
    /// Home the room is in (`home` on the wire).
    pub home: HomeId,
    /// Room the sensor is in (`room` on the wire).
    pub room: RoomId,
    /// The room sensor unit that sent it; with `seq` it identifies the event.
    pub sensor_id: DeviceId,
    /// What the sensor measures; sets the unit and physical range of `value`.
    pub kind: RoomSensorKind,
    /// °C for temperature, % for humidity, 1 or 0 for light and presence.
    pub value: f64,
    /// When the sensor measured (`event_time_ms` on the wire), not when it arrived.
    pub event_time: EventTime,
    /// Sequence number of `sensor_id`; with it, identifies the event (duplicates are dropped).
    pub seq: u64,
}

/// Readings for unit tests: an empty reading of `device` in home `h`, room
/// `r`, at `ms`, that a test fills in as it needs.
#[cfg(test)]
pub(crate) fn test_reading(device: &str, seq: u64, ms: i64) -> SmokeReading {
    SmokeReading {
        device_id: DeviceId::from(device),
        home: HomeId::from("h"),
        room: RoomId::from("r"),
        event_time: EventTime(ms),
        seq,
        cnt: None,
        values: ChannelValues::EMPTY,
        fire_alarm: None,
    }
}
