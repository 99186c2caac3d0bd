//! Message shapes of other producers, accepted beside smokewatch's own
//! (schema version 1, [`super::json`]) and mapped to the same internal
//! [`RoomEvent`] and [`SmokeReading`](super::SmokeReading), so a Smart Home
//! producer or a device replaying the data set can send as it already does:
//!
//! - **Smart Home room event**: `{"room": "kitchen", "sensor": "light",
//!   "value": "On", "timestamp": "2022-06-08T18:16:27Z"}` with an optional
//!   `home` (else `stream.default_home`). `value` is a number, or for light
//!   and presence also `"On"`/`"Off"`, `true`/`false`, `1`/`0`;
//!   `timestamp` is RFC 3339 (with an offset) or epoch seconds or
//!   milliseconds (told apart by size: the accepted years 2000–2100 are
//!   10-digit seconds and 13-digit milliseconds).
//! - **Data-set reading**: the Smoke Detection Dataset's column names
//!   (`Temperature[C]`, …, `NC2.5`, `UTC`, `CNT`, optional `Fire Alarm`)
//!   plus `device_id`; `home` and `room` are optional when the device id
//!   reads `home-room-kind`.
//!
//! A message is one of these only when it has no `schema_version` and has
//! a key only these shapes use (`sensor`/`timestamp`, a column name); so a
//! v1 message is never reinterpreted, and one mixing both shapes is refused
//! as ambiguous, naming the field. Identity the other shapes do not carry
//! is derived deterministically, so a replay decodes to the same record and
//! duplicates are still dropped: a Smart Home event's sender is
//! `<home>-<room>-<sensor>` and its sequence number its time in
//! milliseconds; a data-set reading's sequence number is `seq` when given,
//! else its `UTC` second (the data set samples once a second).

use super::json::{
    DecodeError, DecodedReading, MAX_EVENT_TIME_MS, MIN_EVENT_TIME_MS, check_value, required_text,
};
use super::registry::parse_device_id;
use super::{
    Channel, ChannelValues, DeviceId, EventTime, HomeId, RoomEvent, RoomId, RoomSensorKind,
};
use serde_json::{Map, Value};
use std::borrow::Cow;

type Object = Map<String, Value>;

/// Keys only the Smart Home room-event shape has.
const SMART_HOME_KEYS: [&str; 2] = ["sensor", "timestamp"];
/// smokewatch v1 room-event keys that conflict with the Smart Home shape.
const V1_ROOM_KEYS: [(&str, &str); 2] = [("kind", "sensor"), ("event_time_ms", "timestamp")];

/// The JSON object of `bytes` when it is a Smart Home room event; else the
/// error of smokewatch's own decoder (`v1_error`), or an ambiguity.
pub(super) fn room_event_shape(bytes: &[u8], v1_error: DecodeError) -> Result<Object, DecodeError> {
    let Some(object) = object_of(bytes) else {
        return Err(v1_error);
    };
    let Some(marker) = SMART_HOME_KEYS.iter().find(|k| object.contains_key(**k)) else {
        return Err(v1_error);
    };
    if object.contains_key("schema_version") {
        return Err(DecodeError::Ambiguous {
            field: "schema_version".into(),
            detail: format!(
                "smokewatch's room-event shape has `schema_version`, the Smart Home shape has \
                 `{marker}`; send one shape (drop `schema_version` for the Smart Home one)"
            ),
        });
    }
    for (v1, smart) in V1_ROOM_KEYS {
        if object.contains_key(v1) && object.contains_key(smart) {
            return Err(DecodeError::Ambiguous {
                field: v1.into(),
                detail: format!(
                    "both `{v1}` (smokewatch shape) and `{smart}` (Smart Home shape) are present; send one"
                ),
            });
        }
    }
    Ok(object)
}

/// The JSON object of `bytes` when it is a reading keyed by the data set's
/// column names; else `v1_error`, or an ambiguity.
pub(super) fn reading_shape(bytes: &[u8], v1_error: DecodeError) -> Result<Object, DecodeError> {
    let Some(object) = object_of(bytes) else {
        return Err(v1_error);
    };
    let marker = Channel::ALL
        .into_iter()
        .map(Channel::csv_name)
        .chain(["UTC", "CNT", "Fire Alarm"])
        .find(|k| object.contains_key(*k));
    let Some(marker) = marker else {
        return Err(v1_error);
    };
    if object.contains_key("schema_version") {
        return Err(DecodeError::Ambiguous {
            field: "schema_version".into(),
            detail: format!(
                "smokewatch's reading shape has `schema_version`, the data set's has `{marker}`; \
                 send one shape (drop `schema_version` for the data set's column names)"
            ),
        });
    }
    let pairs = Channel::ALL
        .into_iter()
        .map(|c| (c.csv_name(), c.key()))
        .chain([
            ("UTC", "event_time_ms"),
            ("CNT", "cnt"),
            ("Fire Alarm", "fire_alarm"),
        ]);
    for (column, key) in pairs {
        if object.contains_key(column) && object.contains_key(key) {
            return Err(DecodeError::Ambiguous {
                field: column.into(),
                detail: format!(
                    "both `{column}` (data set) and `{key}` (smokewatch) are present; send one"
                ),
            });
        }
    }
    Ok(object)
}

fn object_of(bytes: &[u8]) -> Option<Object> {
    match serde_json::from_slice::<Value>(bytes).ok()? {
        Value::Object(object) => Some(object),
        _ => None,
    }
}

/// Decodes a Smart Home room event (see the module docs).
pub(super) fn decode_smart_home_event(
    object: &Object,
    default_home: &str,
) -> Result<RoomEvent, DecodeError> {
    let room = text(object, "room")?;
    let home = optional_text(object, "home")?.unwrap_or(default_home);
    let kind = sensor_kind(object)?;
    let value = room_value(object, kind)?;
    let event_time = timestamp(object, "timestamp")?;
    let seq = match object.get("seq") {
        None | Some(Value::Null) => u64::try_from(event_time.millis()).unwrap_or(0),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| wrong_type("seq", v, "a non-negative integer"))?,
    };
    let sensor_id = match optional_text(object, "sensor_id")? {
        Some(id) => DeviceId::from(id),
        None => DeviceId::from(format!("{home}-{room}-{}", kind.key())),
    };
    Ok(RoomEvent {
        home: HomeId::from(home),
        room: RoomId::from(room),
        sensor_id,
        kind,
        value,
        event_time,
        seq,
    })
}

/// Decodes a reading keyed by the data set's column names.
pub(super) fn decode_dataset_reading(
    object: &Object,
    default_home: &str,
) -> Result<DecodedReading<'static>, DecodeError> {
    let device = text(object, "device_id")?;
    let parsed = parse_device_id(device);
    let home = match optional_text(object, "home")? {
        Some(home) => home,
        None => parsed.map_or(default_home, |(home, _, _)| home),
    };
    let room = match optional_text(object, "room")? {
        Some(room) => room,
        None => match parsed {
            Some((_, room, _)) => room,
            None => {
                return Err(DecodeError::MissingField { field: "room" });
            }
        },
    };
    let event_time = timestamp(object, "UTC")?;
    let cnt = match object.get("CNT") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| wrong_type("CNT", v, "a non-negative integer"))?,
        ),
    };
    let seq = match object.get("seq") {
        None | Some(Value::Null) => u64::try_from(event_time.utc_seconds()).unwrap_or(0),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| wrong_type("seq", v, "a non-negative integer"))?,
    };
    let mut values = ChannelValues::EMPTY;
    let mut out_of_range = Vec::new();
    for channel in Channel::ALL {
        let field = channel.csv_name();
        let value = match object.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) if is_non_finite_word(s) => {
                return Err(DecodeError::NotFinite {
                    field: field.into(),
                    value: s.clone(),
                });
            }
            Some(v) => return Err(wrong_type(field, v, "a number or null")),
        };
        // Like smokewatch's own shape: an impossible value leaves only its
        // channel missing (the stream marks it invalid), other errors refuse.
        match value.map(|v| (v, check_value(field, v, channel.physical_range()))) {
            Some((v, Err(DecodeError::OutOfRange { .. }))) => out_of_range.push((channel, v)),
            Some((_, Err(e))) => return Err(e),
            _ => values.set(channel, value),
        }
    }
    let fire_alarm = match object.get("Fire Alarm") {
        None | Some(Value::Null) => None,
        Some(v) => Some(flag(v).ok_or_else(|| wrong_type("Fire Alarm", v, "0, 1, true or false"))?),
    };
    Ok(DecodedReading {
        device_id: Cow::Owned(device.to_string()),
        home: Cow::Owned(home.to_string()),
        room: Cow::Owned(room.to_string()),
        event_time,
        seq,
        cnt,
        values,
        fire_alarm,
        out_of_range,
    })
}

fn text<'a>(object: &'a Object, field: &'static str) -> Result<&'a str, DecodeError> {
    match object.get(field) {
        None | Some(Value::Null) => Err(DecodeError::MissingField { field }),
        Some(Value::String(s)) => required_text(Some(s.as_str()), field),
        Some(v) => Err(wrong_type(field, v, "a string")),
    }
}

fn optional_text<'a>(
    object: &'a Object,
    field: &'static str,
) -> Result<Option<&'a str>, DecodeError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => text(object, field).map(Some),
    }
}

fn wrong_type(field: &str, value: &Value, expected: &str) -> DecodeError {
    DecodeError::WrongType {
        field: field.into(),
        detail: format!("{} is not {expected}", describe(value)),
    }
}

/// A value as an error message shows it (long strings cut).
fn describe(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        let cut: String = text.chars().take(40).collect();
        format!("{cut}…")
    } else {
        text
    }
}

fn is_non_finite_word(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "nan" | "infinity" | "-infinity" | "inf" | "-inf" | "+inf" | "+infinity"
    )
}

fn sensor_kind(object: &Object) -> Result<RoomSensorKind, DecodeError> {
    let name = text(object, "sensor")?;
    let lower = name.trim().to_ascii_lowercase();
    RoomSensorKind::ALL
        .into_iter()
        .find(|k| k.key() == lower)
        .ok_or_else(|| DecodeError::WrongType {
            field: "sensor".into(),
            detail: format!(
                "{name:?} is not a room sensor kind; expected temperature, humidity, light or presence"
            ),
        })
}

/// `0`/`1`, `true`/`false`, `"On"`/`"Off"` (and `"true"`, `"1"`, … as text).
fn flag(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "on" | "true" | "1" => Some(true),
            "off" | "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn room_value(object: &Object, kind: RoomSensorKind) -> Result<f64, DecodeError> {
    let value = match object.get("value") {
        None | Some(Value::Null) => return Err(DecodeError::MissingField { field: "value" }),
        Some(v) => v,
    };
    let number = if kind.is_binary() {
        match (value, flag(value)) {
            (_, Some(on)) => f64::from(u8::from(on)),
            (Value::Number(n), None) => n.as_f64().unwrap_or(f64::NAN),
            (v, None) => {
                return Err(wrong_type(
                    "value",
                    v,
                    &format!(
                        "a {} value (\"On\", \"Off\", true, false, 1 or 0)",
                        kind.key()
                    ),
                ));
            }
        }
    } else {
        match value {
            Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
            Value::String(s) if is_non_finite_word(s) => {
                return Err(DecodeError::NotFinite {
                    field: "value".into(),
                    value: s.clone(),
                });
            }
            v => {
                return Err(wrong_type(
                    "value",
                    v,
                    &format!("a number (a {} sensor sends numbers)", kind.key()),
                ));
            }
        }
    };
    check_value("value", number, kind.physical_range())?;
    if kind.is_binary() && number != 0.0 && number != 1.0 {
        return Err(DecodeError::OutOfRange {
            field: "value".into(),
            value: number,
            min: 0.0,
            max: 1.0,
        });
    }
    Ok(number)
}

/// Epoch seconds of the earliest and latest accepted event time.
const MIN_SECONDS: f64 = (MIN_EVENT_TIME_MS / 1000) as f64;
const MAX_SECONDS: f64 = (MAX_EVENT_TIME_MS / 1000) as f64;

/// An event time given as RFC 3339 text, or epoch seconds or milliseconds
/// (a number or digits in a string). Seconds and milliseconds of the
/// accepted years (2000–2100) do not overlap, so the size tells them apart;
/// a number in neither range is refused, naming both.
pub(super) fn timestamp(object: &Object, field: &'static str) -> Result<EventTime, DecodeError> {
    let value = match object.get(field) {
        None | Some(Value::Null) => return Err(DecodeError::MissingField { field }),
        Some(v) => v,
    };
    let epoch = match value {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                return in_range(field, t.timestamp_millis());
            }
            match s.parse::<f64>() {
                Ok(v) if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') => v,
                _ => {
                    return Err(DecodeError::WrongType {
                        field: field.into(),
                        detail: format!(
                            "{s:?} is neither RFC 3339 with an offset (2022-06-08T18:16:27Z) nor \
                             epoch seconds or milliseconds"
                        ),
                    });
                }
            }
        }
        v => {
            return Err(wrong_type(
                field,
                v,
                "RFC 3339 text or epoch seconds or milliseconds",
            ));
        }
    };
    if !epoch.is_finite() {
        return Err(DecodeError::NotFinite {
            field: field.into(),
            value: epoch.to_string(),
        });
    }
    if (MIN_SECONDS..=MAX_SECONDS).contains(&epoch) {
        return in_range(field, (epoch * 1000.0).round() as i64);
    }
    if (MIN_EVENT_TIME_MS as f64..=MAX_EVENT_TIME_MS as f64).contains(&epoch) {
        return in_range(field, epoch.round() as i64);
    }
    Err(DecodeError::OutOfRange {
        field: field.into(),
        value: epoch,
        min: MIN_SECONDS,
        max: MAX_EVENT_TIME_MS as f64,
    })
}

fn in_range(field: &str, ms: i64) -> Result<EventTime, DecodeError> {
    if (MIN_EVENT_TIME_MS..=MAX_EVENT_TIME_MS).contains(&ms) {
        Ok(EventTime(ms))
    } else {
        Err(DecodeError::OutOfRange {
            field: field.into(),
            value: ms as f64,
            min: MIN_EVENT_TIME_MS as f64,
            max: MAX_EVENT_TIME_MS as f64,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::schema::json::{
        DecodeError, decode_reading, decode_reading_text_in, decode_room_event,
        decode_room_event_in, encode_reading, encode_room_event,
    };
    use crate::schema::{Channel, EventTime, RoomEvent, RoomSensorKind};
    use serde_json::json;

    const T_MS: i64 = 1_654_712_187_000;

    fn event(v: serde_json::Value) -> Result<RoomEvent, DecodeError> {
        decode_room_event_in(v.to_string().as_bytes(), "h001")
    }

    #[test]
    fn smart_home_message_maps_to_the_same_event_as_the_v1_shape() {
        let smart = event(json!({"room": "kitchen", "sensor": "light", "value": "On",
                                 "timestamp": "2022-06-08T18:16:27Z"}))
        .unwrap();
        let v1 = RoomEvent {
            home: "h001".into(),
            room: "kitchen".into(),
            sensor_id: "h001-kitchen-light".into(),
            kind: RoomSensorKind::Light,
            value: 1.0,
            event_time: EventTime(T_MS),
            seq: T_MS as u64,
        };
        assert_eq!(smart, v1);
        assert_eq!(decode_room_event(&encode_room_event(&v1)).unwrap(), v1);
    }

    #[test]
    fn on_off_true_false_one_zero_all_read_as_flags() {
        for (raw, want) in [
            (json!("On"), 1.0),
            (json!("off"), 0.0),
            (json!(" ON "), 1.0),
            (json!(true), 1.0),
            (json!(false), 0.0),
            (json!(1), 1.0),
            (json!(0), 0.0),
            (json!(1.0), 1.0),
        ] {
            let e = event(json!({"home": "h2", "room": "hall", "sensor": "Presence",
                                 "value": raw, "timestamp": 1_654_712_187}))
            .unwrap();
            assert_eq!((e.value, e.kind), (want, RoomSensorKind::Presence), "{raw}");
            assert_eq!(e.home.as_str(), "h2");
        }
        let err = event(json!({"room": "hall", "sensor": "light", "value": 2,
                               "timestamp": 1_654_712_187}))
        .unwrap_err();
        assert_eq!((err.reason(), err.field()), ("out_of_range", Some("value")));
        let err = event(json!({"room": "hall", "sensor": "light", "value": "dim",
                               "timestamp": 1_654_712_187}))
        .unwrap_err();
        assert_eq!((err.reason(), err.field()), ("wrong_type", Some("value")));
        let err = event(
            json!({"room": "hall", "sensor": "temperature", "value": "On",
                               "timestamp": 1_654_712_187}),
        )
        .unwrap_err();
        assert_eq!((err.reason(), err.field()), ("wrong_type", Some("value")));
        assert!(err.to_string().contains("temperature"), "{err}");
    }

    #[test]
    fn epoch_seconds_milliseconds_and_rfc3339_agree() {
        let at = |ts: serde_json::Value| {
            event(json!({"room": "r", "sensor": "temperature", "value": 21.5, "timestamp": ts}))
                .map(|e| e.event_time)
        };
        let want = Ok(EventTime(T_MS));
        assert_eq!(at(json!(1_654_712_187)), want);
        assert_eq!(at(json!(1_654_712_187_000_i64)), want);
        assert_eq!(at(json!("1654712187")), want);
        assert_eq!(at(json!("2022-06-08T18:16:27Z")), want);
        assert_eq!(at(json!("2022-06-08T20:16:27+02:00")), want);
        assert_eq!(at(json!(1_654_712_187.25)), Ok(EventTime(T_MS + 250)));
        // No offset: the time zone is unknown, so it is refused by name.
        let err = at(json!("2022-06-08T18:16:27")).unwrap_err();
        assert_eq!(
            (err.reason(), err.field()),
            ("wrong_type", Some("timestamp"))
        );
        // 1970 in either unit, and a value between the two ranges.
        for bad in [json!(5), json!(50_000_000_000_i64)] {
            let err = at(bad).unwrap_err();
            assert_eq!(
                (err.reason(), err.field()),
                ("out_of_range", Some("timestamp"))
            );
        }
        let err = at(json!(true)).unwrap_err();
        assert_eq!(err.field(), Some("timestamp"));
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        let full = json!({"room": "r", "sensor": "light", "value": 1, "timestamp": 1_654_712_187});
        for field in ["room", "value", "timestamp"] {
            let mut v = full.clone();
            v.as_object_mut().unwrap().remove(field);
            let err = event(v).unwrap_err();
            assert_eq!((err.reason(), err.field()), ("missing_field", Some(field)));
        }
        let mut v = full.clone();
        v["sensor"] = json!("smell");
        let err = event(v).unwrap_err();
        assert_eq!(err.field(), Some("sensor"));
        assert!(err.to_string().contains("smell"), "{err}");
        // The v1 shape's own errors are unchanged without Smart Home keys.
        let err = event(json!({"room": "r", "kind": "light"})).unwrap_err();
        assert_eq!(
            err,
            DecodeError::MissingField {
                field: "schema_version"
            }
        );
    }

    #[test]
    fn mixed_shapes_are_ambiguous() {
        let err = event(json!({"schema_version": 1, "room": "r", "sensor": "light",
                               "value": "On", "timestamp": 1_654_712_187}))
        .unwrap_err();
        assert_eq!(
            (err.reason(), err.field()),
            ("ambiguous_shape", Some("schema_version"))
        );
        let err = event(json!({"room": "r", "sensor": "light", "kind": "light",
                               "value": 1, "timestamp": 1_654_712_187}))
        .unwrap_err();
        assert_eq!(
            (err.reason(), err.field()),
            ("ambiguous_shape", Some("kind"))
        );
    }

    fn dataset_row() -> serde_json::Value {
        json!({"device_id": "h001-kitchen-smoke", "UTC": 1_654_712_187, "Temperature[C]": 20.0,
               "Humidity[%]": 57.36, "TVOC[ppb]": 0, "eCO2[ppm]": 400, "Raw H2": 12306,
               "Raw Ethanol": 18520, "Pressure[hPa]": 939.735, "PM1.0": 0.0, "PM2.5": 0.0,
               "NC0.5": 0.0, "NC1.0": 0.0, "NC2.5": 0.0, "CNT": 17, "Fire Alarm": 0})
    }

    #[test]
    fn dataset_columns_map_to_the_same_reading_as_the_v1_shape() {
        let bytes = dataset_row().to_string();
        let reading = decode_reading(bytes.as_bytes()).unwrap();
        assert_eq!(
            (reading.home.as_str(), reading.room.as_str()),
            ("h001", "kitchen")
        );
        assert_eq!(reading.event_time, EventTime(T_MS));
        assert_eq!((reading.seq, reading.cnt), (1_654_712_187, Some(17)));
        assert_eq!(reading.values.get(Channel::Humidity), Some(57.36));
        assert_eq!(reading.values.get(Channel::RawH2), Some(12306.0));
        assert_eq!(reading.fire_alarm, Some(false));
        assert_eq!(decode_reading(&encode_reading(&reading)).unwrap(), reading);
    }

    #[test]
    fn dataset_reading_errors_name_the_column() {
        let mut v = dataset_row();
        v["TVOC[ppb]"] = json!("high");
        let err = decode_reading(v.to_string().as_bytes()).unwrap_err();
        assert_eq!(
            (err.reason(), err.field()),
            ("wrong_type", Some("TVOC[ppb]"))
        );
        // An impossible value: the strict decoder refuses the reading, the
        // stream's keeps it with that channel left out (marked invalid).
        let mut v = dataset_row();
        v["Humidity[%]"] = json!(140);
        let text = v.to_string();
        let err = decode_reading(text.as_bytes()).unwrap_err();
        assert_eq!(err.reason(), "out_of_range");
        let kept = decode_reading_text_in(text.as_bytes(), "h0").unwrap();
        assert_eq!(kept.out_of_range, vec![(Channel::Humidity, 140.0)]);
        assert_eq!(kept.values.get(Channel::Humidity), None);
        let mut v = dataset_row();
        v.as_object_mut().unwrap().remove("UTC");
        let err = decode_reading(v.to_string().as_bytes()).unwrap_err();
        assert_eq!(err, DecodeError::MissingField { field: "UTC" });
        let mut v = dataset_row();
        v["temperature_c"] = json!(20.0);
        let err = decode_reading(v.to_string().as_bytes()).unwrap_err();
        assert_eq!(
            (err.reason(), err.field()),
            ("ambiguous_shape", Some("Temperature[C]"))
        );
        // An id that does not say its room needs `room`; `home` defaults.
        let mut v = dataset_row();
        v["device_id"] = json!("sensor7");
        let err = decode_reading(v.to_string().as_bytes()).unwrap_err();
        assert_eq!(err, DecodeError::MissingField { field: "room" });
        v["room"] = json!("attic");
        let text = v.to_string();
        let r = decode_reading_text_in(text.as_bytes(), "mine").unwrap();
        assert_eq!((r.home.as_ref(), r.room.as_ref()), ("mine", "attic"));
    }

    #[test]
    fn nothing_arbitrary_panics() {
        for text in [
            "",
            "[]",
            "null",
            "{}",
            "{\"sensor\":1}",
            "{\"UTC\":[1]}",
            "{\"timestamp\":{}}",
            "{\"room\":\"r\",\"sensor\":\"light\",\"value\":1e400,\"timestamp\":1}",
            "{\"device_id\":\"a-b-c\",\"UTC\":1e300,\"PM2.5\":-1}",
        ] {
            let _ = decode_room_event(text.as_bytes());
            let _ = decode_reading(text.as_bytes());
        }
    }
}
