//! JSON wire format of readings and room events (schema version 1).
//!
//! Values are flat JSON objects with snake_case keys, so any Kafka client in
//! any language can produce and read them:
//!
//! ```json
//! {"schema_version":1,"device_id":"h001-kitchen-smoke","home":"h001","room":"kitchen",
//!  "event_time_ms":1654712187000,"seq":17,"cnt":17,"temperature_c":20.0,"humidity_pct":57.36,
//!  "tvoc_ppb":0,"eco2_ppm":400,"raw_h2":12306,"raw_ethanol":18520,"pressure_hpa":939.735,
//!  "pm1_0":0.0,"pm2_5":0.0,"nc0_5":0.0,"nc1_0":0.0,"nc2_5":0.0,"fire_alarm":0}
//! ```
//!
//! A channel that is `null` or absent is missing. Unknown keys are ignored
//! (newer producers may add fields); an unknown `schema_version` is not.
//! Every error names the field and why it was refused, because these errors
//! end up in the dead-letter sink where an operator has to act on them.

use super::{
    Channel, ChannelValues, DeviceId, EventTime, HomeId, RoomEvent, RoomId, RoomSensorKind,
    SCHEMA_VERSION, SmokeReading,
};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// Why a JSON payload was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("not valid JSON: {detail}")]
    Malformed { detail: String },
    #[error("field `{field}` is missing")]
    MissingField { field: &'static str },
    #[error("field `{field}` has the wrong type: {detail}")]
    WrongType { field: String, detail: String },
    #[error("field `{field}` is {value}, not a finite number")]
    NotFinite { field: String, value: String },
    #[error("field `{field}` is {value}, outside the physical range {min}..={max}")]
    OutOfRange {
        field: String,
        value: f64,
        min: f64,
        max: f64,
    },
    #[error("field `schema_version` is {found}, but this build reads version {supported}")]
    UnknownSchemaVersion { found: u32, supported: u32 },
    #[error("field `{field}` must not be empty")]
    Empty { field: &'static str },
    /// The message mixes two accepted shapes (e.g. `schema_version` with
    /// the Smart Home `sensor`, or `Temperature[C]` with `temperature_c`),
    /// so which value is meant cannot be told.
    #[error("field `{field}` is ambiguous: {detail}")]
    Ambiguous { field: String, detail: String },
}

impl DecodeError {
    /// A short, stable label for metrics and dead-letter records.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Malformed { .. } => "malformed_json",
            DecodeError::MissingField { .. } => "missing_field",
            DecodeError::WrongType { .. } => "wrong_type",
            DecodeError::NotFinite { .. } => "not_finite",
            DecodeError::OutOfRange { .. } => "out_of_range",
            DecodeError::UnknownSchemaVersion { .. } => "unknown_schema_version",
            DecodeError::Empty { .. } => "empty_field",
            DecodeError::Ambiguous { .. } => "ambiguous_shape",
        }
    }

    /// The field the error is about, if it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            DecodeError::Malformed { .. } => None,
            DecodeError::MissingField { field } | DecodeError::Empty { field } => Some(field),
            DecodeError::WrongType { field, .. }
            | DecodeError::NotFinite { field, .. }
            | DecodeError::OutOfRange { field, .. }
            | DecodeError::Ambiguous { field, .. } => Some(field),
            DecodeError::UnknownSchemaVersion { .. } => Some("schema_version"),
        }
    }
}

/// Text of a payload: borrowed from the bytes when it has no escapes (the
/// stream decodes hundreds of thousands of readings a second and should not
/// copy every id), owned when it has.
#[derive(Debug, Default, Serialize)]
#[serde(transparent)]
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        de.deserialize_str(TextVisitor(std::marker::PhantomData))
    }
}

impl Text<'_> {
    fn as_deref<'b>(text: &'b Option<Text<'_>>) -> Option<&'b str> {
        text.as_ref().map(|t| t.0.as_ref())
    }
}

/// Wire shape of a reading. Every field is optional here so that a missing
/// one is reported by name rather than as serde's generic message.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ReadingWire<'a> {
    schema_version: Option<u32>,
    #[serde(borrow)]
    device_id: Option<Text<'a>>,
    #[serde(borrow)]
    home: Option<Text<'a>>,
    #[serde(borrow)]
    room: Option<Text<'a>>,
    event_time_ms: Option<i64>,
    seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cnt: Option<u64>,
    #[serde(default, deserialize_with = "lenient_number")]
    temperature_c: Option<f64>,
    #[serde(default, deserialize_with = "lenient_number")]
    humidity_pct: Option<f64>,
    #[serde(default, deserialize_with = "lenient_number")]
    tvoc_ppb: Option<f64>,
    #[serde(default, deserialize_with = "lenient_number")]
    eco2_ppm: Option<f64>,
    #[serde(default, deserialize_with = "lenient_number")]
    raw_h2: Option<f64>,
    #[serde(default, deserialize_with = "lenient_number")]
    raw_ethanol: Option<f64>,
    #[serde(default, deserialize_with = "lenient_number")]
    pressure_hpa: Option<f64>,
    #[serde(default, deserialize_with = "lenient_number")]
    pm1_0: Option<f64>,
    #[serde(default, deserialize_with = "lenient_number")]
    pm2_5: Option<f64>,
    #[serde(default, deserialize_with = "lenient_number")]
    nc0_5: Option<f64>,
    #[serde(default, deserialize_with = "lenient_number")]
    nc1_0: Option<f64>,
    #[serde(default, deserialize_with = "lenient_number")]
    nc2_5: Option<f64>,
    #[serde(
        default,
        deserialize_with = "flag",
        serialize_with = "flag_out",
        skip_serializing_if = "Option::is_none"
    )]
    fire_alarm: Option<bool>,
}

impl ReadingWire<'_> {
    fn channels(&self) -> [Option<f64>; 12] {
        [
            self.temperature_c,
            self.humidity_pct,
            self.tvoc_ppb,
            self.eco2_ppm,
            self.raw_h2,
            self.raw_ethanol,
            self.pressure_hpa,
            self.pm1_0,
            self.pm2_5,
            self.nc0_5,
            self.nc1_0,
            self.nc2_5,
        ]
    }
}

/// Wire shape of a room event.
#[derive(Debug, Default, Serialize, Deserialize)]
struct RoomEventWire<'a> {
    schema_version: Option<u32>,
    #[serde(borrow)]
    home: Option<Text<'a>>,
    #[serde(borrow)]
    room: Option<Text<'a>>,
    #[serde(borrow)]
    sensor_id: Option<Text<'a>>,
    kind: Option<RoomSensorKind>,
    #[serde(default, deserialize_with = "lenient_number")]
    value: Option<f64>,
    event_time_ms: Option<i64>,
    seq: Option<u64>,
}

/// Encodes a reading as one JSON object (no trailing newline).
pub fn encode_reading(reading: &SmokeReading) -> Vec<u8> {
    let v = &reading.values;
    let wire = ReadingWire {
        schema_version: Some(SCHEMA_VERSION),
        device_id: Some(Text(reading.device_id.as_str().into())),
        home: Some(Text(reading.home.as_str().into())),
        room: Some(Text(reading.room.as_str().into())),
        event_time_ms: Some(reading.event_time.millis()),
        seq: Some(reading.seq),
        cnt: reading.cnt,
        temperature_c: v.get(Channel::Temperature),
        humidity_pct: v.get(Channel::Humidity),
        tvoc_ppb: v.get(Channel::Tvoc),
        eco2_ppm: v.get(Channel::Eco2),
        raw_h2: v.get(Channel::RawH2),
        raw_ethanol: v.get(Channel::RawEthanol),
        pressure_hpa: v.get(Channel::Pressure),
        pm1_0: v.get(Channel::Pm1_0),
        pm2_5: v.get(Channel::Pm2_5),
        nc0_5: v.get(Channel::Nc0_5),
        nc1_0: v.get(Channel::Nc1_0),
        nc2_5: v.get(Channel::Nc2_5),
        fire_alarm: reading.fire_alarm,
    };
    // Serialising a struct of strings, integers and finite floats cannot
    // fail; non-finite floats become `null`, which decodes as "missing".
    serde_json::to_vec(&wire).unwrap_or_default()
}

/// A validated reading whose ids are still text of the payload, so the
/// caller can map them to ids it already holds (the stream interns them)
/// instead of allocating three strings per reading.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedReading<'a> {
    /// Detector id from `device_id`; borrowed from the payload when it has no escapes.
    pub device_id: Cow<'a, str>,
    /// Home id from `home`; a data-set-shaped reading without one takes it from the
    /// device id, else the default home (`stream.default_home`).
    pub home: Cow<'a, str>,
    /// Room id from `room`; a data-set-shaped reading without one takes it from the device id.
    pub room: Cow<'a, str>,
    /// When the detector measured: `event_time_ms`, or the data set's `UTC` seconds.
    pub event_time: EventTime,
    /// Per-device sequence number; a data-set-shaped reading without `seq` uses its `UTC` seconds.
    pub seq: u64,
    /// The data set's `CNT` sample counter (`cnt` or `CNT`), when sent.
    pub cnt: Option<u64>,
    /// The 12 channels; one that is `null`, absent or out of range is missing.
    pub values: ChannelValues,
    /// The `Fire Alarm` label (`fire_alarm` in smokewatch's shape), when sent.
    pub fire_alarm: Option<bool>,
    /// Channels whose value was outside the physical range, with the
    /// value: left missing in `values`. One broken channel must not cost
    /// the device's other eleven, so the stream keeps the reading and marks
    /// these channels invalid; [`decode_reading`] still refuses them.
    pub out_of_range: Vec<(Channel, f64)>,
}

impl DecodedReading<'_> {
    /// The reading with the given ids (which the caller derived from the text).
    pub fn into_reading(self, device_id: DeviceId, home: HomeId, room: RoomId) -> SmokeReading {
        SmokeReading {
            device_id,
            home,
            room,
            event_time: self.event_time,
            seq: self.seq,
            cnt: self.cnt,
            values: self.values,
            fire_alarm: self.fire_alarm,
        }
    }
}

/// Decodes and validates one reading.
pub fn decode_reading(bytes: &[u8]) -> Result<SmokeReading, DecodeError> {
    let d = decode_reading_text(bytes)?;
    if let Some((channel, value)) = d.out_of_range.first() {
        let range = channel.physical_range();
        return Err(DecodeError::OutOfRange {
            field: channel.key().to_string(),
            value: *value,
            min: *range.start(),
            max: *range.end(),
        });
    }
    let ids = (
        DeviceId::from(d.device_id.as_ref()),
        HomeId::from(d.home.as_ref()),
        RoomId::from(d.room.as_ref()),
    );
    Ok(d.into_reading(ids.0, ids.1, ids.2))
}

/// Decodes and validates one reading, leaving its ids as text. Accepts
/// smokewatch's own shape and the data set's column names
/// ([`super::foreign`]); a home the latter does not name is [`DEFAULT_HOME`].
pub fn decode_reading_text(bytes: &[u8]) -> Result<DecodedReading<'_>, DecodeError> {
    decode_reading_text_in(bytes, DEFAULT_HOME)
}

/// [`decode_reading_text`] with the home used when a data-set-shaped
/// reading names none and its device id does not say it
/// (`stream.default_home`).
pub fn decode_reading_text_in<'a>(
    bytes: &'a [u8],
    default_home: &str,
) -> Result<DecodedReading<'a>, DecodeError> {
    // smokewatch's own shape first: the simulator's readings never pay for
    // the other shape's check.
    match decode_reading_v1(bytes) {
        Ok(reading) => Ok(reading),
        Err(err) => {
            let object = super::foreign::reading_shape(bytes, err)?;
            super::foreign::decode_dataset_reading(&object, default_home)
        }
    }
}

/// Home of a Smart Home or data-set message that names none, unless the
/// caller passes `stream.default_home`.
pub const DEFAULT_HOME: &str = "home";

fn decode_reading_v1(bytes: &[u8]) -> Result<DecodedReading<'_>, DecodeError> {
    let wire: ReadingWire = parse(bytes, |b| parse_typed::<ReadingWire>(b).map(drop))?;
    check_version(wire.schema_version)?;
    required_text(Text::as_deref(&wire.device_id), "device_id")?;
    required_text(Text::as_deref(&wire.home), "home")?;
    required_text(Text::as_deref(&wire.room), "room")?;
    let event_time = check_event_time(wire.event_time_ms)?;
    let seq = wire.seq.ok_or(DecodeError::MissingField { field: "seq" })?;
    let mut values = ChannelValues::EMPTY;
    let mut out_of_range = Vec::new();
    for (channel, value) in Channel::ALL.into_iter().zip(wire.channels()) {
        if let Some(v) = value {
            match check_value(channel.key(), v, channel.physical_range()) {
                Ok(()) => values.set(channel, value),
                Err(DecodeError::OutOfRange { .. }) => out_of_range.push((channel, v)),
                Err(e) => return Err(e),
            }
        }
    }
    Ok(DecodedReading {
        device_id: wire.device_id.map(|t| t.0).unwrap_or_default(),
        home: wire.home.map(|t| t.0).unwrap_or_default(),
        room: wire.room.map(|t| t.0).unwrap_or_default(),
        event_time,
        seq,
        cnt: wire.cnt,
        values,
        fire_alarm: wire.fire_alarm,
        out_of_range,
    })
}

/// Encodes a room event as one JSON object.
pub fn encode_room_event(event: &RoomEvent) -> Vec<u8> {
    let wire = RoomEventWire {
        schema_version: Some(SCHEMA_VERSION),
        home: Some(Text(event.home.as_str().into())),
        room: Some(Text(event.room.as_str().into())),
        sensor_id: Some(Text(event.sensor_id.as_str().into())),
        kind: Some(event.kind),
        value: Some(event.value),
        event_time_ms: Some(event.event_time.millis()),
        seq: Some(event.seq),
    };
    serde_json::to_vec(&wire).unwrap_or_default()
}

/// Decodes and validates one room event: smokewatch's own shape or the
/// Smart Home producer's ([`super::foreign`]), whose missing `home` is
/// [`DEFAULT_HOME`].
pub fn decode_room_event(bytes: &[u8]) -> Result<RoomEvent, DecodeError> {
    decode_room_event_in(bytes, DEFAULT_HOME)
}

/// [`decode_room_event`] with the home of Smart Home messages that name
/// none (`stream.default_home`).
pub fn decode_room_event_in(bytes: &[u8], default_home: &str) -> Result<RoomEvent, DecodeError> {
    match decode_room_event_v1(bytes) {
        Ok(event) => Ok(event),
        Err(err) => {
            let object = super::foreign::room_event_shape(bytes, err)?;
            super::foreign::decode_smart_home_event(&object, default_home)
        }
    }
}

fn decode_room_event_v1(bytes: &[u8]) -> Result<RoomEvent, DecodeError> {
    let wire: RoomEventWire = parse(bytes, |b| parse_typed::<RoomEventWire>(b).map(drop))?;
    check_version(wire.schema_version)?;
    let home = required_text(Text::as_deref(&wire.home), "home")?;
    let room = required_text(Text::as_deref(&wire.room), "room")?;
    let sensor_id = required_text(Text::as_deref(&wire.sensor_id), "sensor_id")?;
    let kind = wire
        .kind
        .ok_or(DecodeError::MissingField { field: "kind" })?;
    let value = wire
        .value
        .ok_or(DecodeError::MissingField { field: "value" })?;
    check_value("value", value, kind.physical_range())?;
    if kind.is_binary() && value != 0.0 && value != 1.0 {
        return Err(DecodeError::OutOfRange {
            field: "value".into(),
            value,
            min: 0.0,
            max: 1.0,
        });
    }
    let event_time = check_event_time(wire.event_time_ms)?;
    let seq = wire.seq.ok_or(DecodeError::MissingField { field: "seq" })?;
    Ok(RoomEvent {
        home: HomeId::from(home),
        room: RoomId::from(room),
        sensor_id: DeviceId::from(sensor_id),
        kind,
        value,
        event_time,
        seq,
    })
}

/// Parses with field paths in errors. A payload that is not JSON only
/// because a producer wrote bare `NaN`/`Infinity` (Python's `json.dumps`
/// does) is parsed once more with those tokens quoted, so the error can
/// name the field instead of a byte offset.
///
/// `typed` parses a payload into the same type as `T` (for the second
/// attempt, whose bytes do not live as long as `bytes`).
fn parse<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    typed: impl FnOnce(&[u8]) -> Result<(), DecodeError>,
) -> Result<T, DecodeError> {
    // Valid payloads take the direct path; only a refused one is parsed
    // again with field paths tracked, for the error message.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    match parse_typed::<T>(bytes) {
        Err(DecodeError::Malformed { detail }) => match quote_non_finite_tokens(bytes) {
            // Only the non-finite verdict is worth reporting; a payload that
            // still fails, or now parses, was broken JSON all the same.
            Some(quoted) => match typed(&quoted) {
                Err(e @ DecodeError::NotFinite { .. }) => Err(e),
                _ => Err(DecodeError::Malformed { detail }),
            },
            None => Err(DecodeError::Malformed { detail }),
        },
        other => other,
    }
}

fn parse_typed<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_data() && path != "." {
            let detail = strip_position(&inner.to_string());
            match detail.strip_prefix(NON_FINITE_MARK) {
                Some(value) => DecodeError::NotFinite {
                    field: path,
                    value: value.to_string(),
                },
                None => DecodeError::WrongType {
                    field: path,
                    detail,
                },
            }
        } else {
            DecodeError::Malformed {
                detail: inner.to_string(),
            }
        }
    })?;
    de.end().map_err(|e| DecodeError::Malformed {
        detail: e.to_string(),
    })?;
    Ok(value)
}

/// serde_json appends " at line 1 column 42"; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn check_version(version: Option<u32>) -> Result<(), DecodeError> {
    match version {
        None => Err(DecodeError::MissingField {
            field: "schema_version",
        }),
        Some(SCHEMA_VERSION) => Ok(()),
        Some(found) => Err(DecodeError::UnknownSchemaVersion {
            found,
            supported: SCHEMA_VERSION,
        }),
    }
}

pub(super) fn required_text<'a>(
    value: Option<&'a str>,
    field: &'static str,
) -> Result<&'a str, DecodeError> {
    match value {
        None => Err(DecodeError::MissingField { field }),
        Some(s) if s.trim().is_empty() => Err(DecodeError::Empty { field }),
        Some(s) => Ok(s),
    }
}

/// Earliest event time accepted: 2000-01-01. Sensors with an unset clock
/// report 1970; such readings cannot be placed in any window.
pub(super) const MIN_EVENT_TIME_MS: i64 = 946_684_800_000;
/// Latest event time accepted: 2100-01-01.
pub(super) const MAX_EVENT_TIME_MS: i64 = 4_102_444_800_000;

fn check_event_time(ms: Option<i64>) -> Result<EventTime, DecodeError> {
    let ms = ms.ok_or(DecodeError::MissingField {
        field: "event_time_ms",
    })?;
    if !(MIN_EVENT_TIME_MS..=MAX_EVENT_TIME_MS).contains(&ms) {
        return Err(DecodeError::OutOfRange {
            field: "event_time_ms".into(),
            value: ms as f64,
            min: MIN_EVENT_TIME_MS as f64,
            max: MAX_EVENT_TIME_MS as f64,
        });
    }
    Ok(EventTime(ms))
}

pub(super) fn check_value(
    field: &str,
    value: f64,
    range: std::ops::RangeInclusive<f64>,
) -> Result<(), DecodeError> {
    if !value.is_finite() {
        return Err(DecodeError::NotFinite {
            field: field.to_string(),
            value: value.to_string(),
        });
    }
    if !range.contains(&value) {
        return Err(DecodeError::OutOfRange {
            field: field.to_string(),
            value,
            min: *range.start(),
            max: *range.end(),
        });
    }
    Ok(())
}

/// Prefix of the custom serde error raised for `"NaN"`-like strings, so
/// [`parse_typed`] can turn it into [`DecodeError::NotFinite`].
const NON_FINITE_MARK: &str = "non-finite:";

/// Accepts a JSON number or `null`. The strings `NaN`, `Infinity`,
/// `-Infinity` (what bare non-finite tokens become after
/// [`quote_non_finite_tokens`]) are refused as non-finite, any other string
/// as the wrong type.
fn lenient_number<'de, D: Deserializer<'de>>(de: D) -> Result<Option<f64>, D::Error> {
    struct NumberVisitor;
    impl<'de> Visitor<'de> for NumberVisitor {
        type Value = Option<f64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a number or null")
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let lower = v.trim().to_ascii_lowercase();
            if matches!(
                lower.as_str(),
                "nan" | "infinity" | "-infinity" | "inf" | "-inf" | "+inf" | "+infinity"
            ) {
                Err(E::custom(format_args!("{NON_FINITE_MARK}{v}")))
            } else {
                Err(E::invalid_type(de::Unexpected::Str(v), &self))
            }
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Err(E::invalid_type(de::Unexpected::Bool(v), &self))
        }
    }
    de.deserialize_any(NumberVisitor)
}

/// Accepts `0`/`1`, `true`/`false` or `null` for the fire-alarm label.
fn flag<'de, D: Deserializer<'de>>(de: D) -> Result<Option<bool>, D::Error> {
    struct FlagVisitor;
    impl<'de> Visitor<'de> for FlagVisitor {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("0, 1, true, false or null")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            match v {
                0 => Ok(Some(false)),
                1 => Ok(Some(true)),
                _ => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
            }
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Err(E::invalid_value(de::Unexpected::Signed(v), &self))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Err(E::invalid_value(de::Unexpected::Float(v), &self))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Err(E::invalid_type(de::Unexpected::Str(v), &self))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    de.deserialize_any(FlagVisitor)
}

/// Writes the label as the data set does: `0` or `1`.
fn flag_out<S: serde::Serializer>(value: &Option<bool>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.serialize_u8(u8::from(*v)),
        None => s.serialize_none(),
    }
}

/// Quotes bare `NaN`, `Infinity` and `-Infinity` tokens outside strings.
/// Returns `None` when there are none (the payload is broken otherwise).
fn quote_non_finite_tokens(bytes: &[u8]) -> Option<Vec<u8>> {
    const TOKENS: [&[u8]; 3] = [b"-Infinity", b"Infinity", b"NaN"];
    let mut out = Vec::with_capacity(bytes.len() + 8);
    let mut in_string = false;
    let mut escaped = false;
    let mut found = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            out.push(b);
            i += 1;
            continue;
        }
        if let Some(token) = TOKENS.iter().find(|t| bytes[i..].starts_with(t)) {
            out.push(b'"');
            out.extend_from_slice(token);
            out.push(b'"');
            i += token.len();
            found = true;
            continue;
        }
        out.push(b);
        i += 1;
    }
    found.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SmokeReading {
        let mut values = ChannelValues::EMPTY;
        for (i, c) in Channel::ALL.into_iter().enumerate() {
            values.set(c, Some(*c.physical_range().start() + i as f64));
        }
        values.set(Channel::Pm2_5, None);
        SmokeReading {
            device_id: "h001-kitchen-smoke".into(),
            home: "h001".into(),
            room: "kitchen".into(),
            event_time: EventTime(1_654_712_187_000),
            seq: 17,
            cnt: Some(3),
            values,
            fire_alarm: Some(true),
        }
    }

    fn with_field(field: &str, raw: &str) -> Vec<u8> {
        let mut v: serde_json::Value = serde_json::from_slice(&encode_reading(&sample())).unwrap();
        v[field] = serde_json::from_str(raw).unwrap();
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn reading_round_trips() {
        let r = sample();
        assert_eq!(decode_reading(&encode_reading(&r)).unwrap(), r);
    }

    #[test]
    fn missing_required_field_is_named() {
        let mut v: serde_json::Value = serde_json::from_slice(&encode_reading(&sample())).unwrap();
        v.as_object_mut().unwrap().remove("device_id");
        let err = decode_reading(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert_eq!(err, DecodeError::MissingField { field: "device_id" });
    }

    #[test]
    fn string_instead_of_number_names_the_field() {
        let err = decode_reading(&with_field("tvoc_ppb", "\"high\"")).unwrap_err();
        assert_eq!(err.reason(), "wrong_type");
        assert_eq!(err.field(), Some("tvoc_ppb"));
        assert!(err.to_string().contains("tvoc_ppb"), "{err}");
    }

    #[test]
    fn bare_nan_from_python_names_the_field() {
        let text = String::from_utf8(encode_reading(&sample())).unwrap();
        let text = text.replace("\"humidity_pct\":1.0", "\"humidity_pct\":NaN");
        assert!(text.contains("NaN"));
        let err = decode_reading(text.as_bytes()).unwrap_err();
        assert_eq!(
            err,
            DecodeError::NotFinite {
                field: "humidity_pct".into(),
                value: "NaN".into()
            }
        );
    }

    #[test]
    fn nan_inside_a_string_value_is_not_rewritten() {
        let bytes = with_field("device_id", "\"NaN-device\"");
        assert_eq!(
            decode_reading(&bytes).unwrap().device_id.as_str(),
            "NaN-device"
        );
    }

    #[test]
    fn out_of_range_value_is_refused() {
        let err = decode_reading(&with_field("humidity_pct", "140")).unwrap_err();
        assert!(
            matches!(err, DecodeError::OutOfRange { ref field, .. } if field == "humidity_pct")
        );
    }

    #[test]
    fn out_of_range_channel_is_left_missing_by_the_stream_decoder() {
        let bytes = with_field("humidity_pct", "140");
        let d = decode_reading_text(&bytes).unwrap();
        assert_eq!(d.out_of_range, vec![(Channel::Humidity, 140.0)]);
        assert_eq!(d.values.get(Channel::Humidity), None);
        assert!(d.values.get(Channel::Temperature).is_some(), "others kept");
    }

    #[test]
    fn unknown_schema_version_is_refused() {
        let err = decode_reading(&with_field("schema_version", "2")).unwrap_err();
        assert_eq!(err.reason(), "unknown_schema_version");
    }

    #[test]
    fn truncated_payload_is_malformed() {
        let bytes = encode_reading(&sample());
        let err = decode_reading(&bytes[..bytes.len() / 2]).unwrap_err();
        assert_eq!(err.reason(), "malformed_json");
    }

    #[test]
    fn fire_alarm_accepts_bool_and_refuses_two() {
        assert_eq!(
            decode_reading(&with_field("fire_alarm", "false"))
                .unwrap()
                .fire_alarm,
            Some(false)
        );
        let err = decode_reading(&with_field("fire_alarm", "2")).unwrap_err();
        assert_eq!(err.field(), Some("fire_alarm"));
    }

    #[test]
    fn room_event_round_trips_and_checks_binary_values() {
        let event = RoomEvent {
            home: "h001".into(),
            room: "kitchen".into(),
            sensor_id: "h001-kitchen-room".into(),
            kind: RoomSensorKind::Light,
            value: 1.0,
            event_time: EventTime(1_654_712_187_000),
            seq: 4,
        };
        assert_eq!(
            decode_room_event(&encode_room_event(&event)).unwrap(),
            event
        );
        let bad = RoomEvent {
            value: 0.5,
            ..event
        };
        let err = decode_room_event(&encode_room_event(&bad)).unwrap_err();
        assert_eq!(err.reason(), "out_of_range");
    }

    #[test]
    fn unknown_room_sensor_kind_names_the_field() {
        let text = String::from_utf8(encode_room_event(&RoomEvent {
            home: "h".into(),
            room: "r".into(),
            sensor_id: "s".into(),
            kind: RoomSensorKind::Presence,
            value: 0.0,
            event_time: EventTime(1_654_712_187_000),
            seq: 1,
        }))
        .unwrap()
        .replace("\"presence\"", "\"smell\"");
        let err = decode_room_event(text.as_bytes()).unwrap_err();
        assert_eq!(err.field(), Some("kind"));
    }
}
