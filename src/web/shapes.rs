//! The accepted message shapes as JSON Schema (draft 2020-12), served in
//! `/api/sensors/schema` under `message_schemas`, generated from the
//! channel list and room sensor kinds so they cannot drift from the
//! decoders ([`crate::schema::json`], [`crate::schema::foreign`]).

use crate::schema::{Channel, RoomSensorKind};
use serde_json::{Map, Value, json};

/// Event time of the other producers' shapes: RFC 3339 with an offset, or
/// epoch seconds or milliseconds.
fn flexible_time(description: &str) -> Value {
    json!({"description": description, "oneOf": [
        {"type": "string", "format": "date-time"},
        {"type": "number", "description": "epoch seconds (10 digits) or milliseconds (13 digits), years 2000-2100"},
        {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$"}
    ]})
}

fn channel_properties(name: impl Fn(Channel) -> &'static str) -> Map<String, Value> {
    Channel::ALL
        .into_iter()
        .map(|c| {
            (
                name(c).to_string(),
                json!({"type": ["number", "null"], "minimum": c.physical_range().start(),
                       "maximum": c.physical_range().end(), "description": c.unit()}),
            )
        })
        .collect()
}

/// Every accepted shape: two for readings, two for room events.
pub fn message_schemas() -> Value {
    let kinds: Vec<&str> = RoomSensorKind::ALL.into_iter().map(|k| k.key()).collect();
    let mut reading = channel_properties(Channel::key);
    for (key, schema) in [
        (
            "schema_version",
            json!({"const": crate::schema::SCHEMA_VERSION}),
        ),
        ("device_id", json!({"type": "string", "minLength": 1})),
        ("home", json!({"type": "string", "minLength": 1})),
        ("room", json!({"type": "string", "minLength": 1})),
        (
            "event_time_ms",
            json!({"type": "integer", "description": "epoch milliseconds"}),
        ),
        (
            "seq",
            json!({"type": "integer", "minimum": 0, "description": "per-device sequence number; with device_id it identifies the reading"}),
        ),
        ("cnt", json!({"type": ["integer", "null"], "minimum": 0})),
        ("fire_alarm", json!({"enum": [0, 1, true, false, null]})),
    ] {
        reading.insert(key.into(), schema);
    }
    let mut dataset = channel_properties(Channel::csv_name);
    for (key, schema) in [
        (
            "device_id",
            json!({"type": "string", "minLength": 1, "description": "home and room are read from an id home-room-kind"}),
        ),
        (
            "home",
            json!({"type": "string", "minLength": 1, "description": "default: from the id, else stream.default_home"}),
        ),
        (
            "room",
            json!({"type": "string", "minLength": 1, "description": "default: from the id (required otherwise)"}),
        ),
        (
            "UTC",
            flexible_time(
                "the data set's UTC column: epoch seconds (milliseconds and RFC 3339 are read too)",
            ),
        ),
        ("CNT", json!({"type": ["integer", "null"], "minimum": 0})),
        (
            "seq",
            json!({"type": "integer", "minimum": 0, "description": "default: the UTC second"}),
        ),
        ("Fire Alarm", json!({"enum": [0, 1, true, false, null]})),
    ] {
        dataset.insert(key.into(), schema);
    }
    json!({
        "reading": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Smoke reading (smokewatch shape)",
            "type": "object",
            "required": ["schema_version", "device_id", "home", "room", "event_time_ms", "seq"],
            "properties": reading,
        },
        "reading_dataset_columns": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Smoke reading keyed by the Smoke Detection Dataset's column names",
            "type": "object",
            "required": ["device_id", "UTC"],
            "not": {"required": ["schema_version"]},
            "properties": dataset,
        },
        "room_event": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Room event (smokewatch shape)",
            "type": "object",
            "required": ["schema_version", "home", "room", "sensor_id", "kind", "value", "event_time_ms", "seq"],
            "properties": {
                "schema_version": {"const": crate::schema::SCHEMA_VERSION},
                "home": {"type": "string", "minLength": 1},
                "room": {"type": "string", "minLength": 1},
                "sensor_id": {"type": "string", "minLength": 1},
                "kind": {"enum": kinds},
                "value": {"type": "number", "description": "light and presence: 0 or 1"},
                "event_time_ms": {"type": "integer"},
                "seq": {"type": "integer", "minimum": 0}
            }
        },
        "room_event_smart_home": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Room event as the Smart Home producer sends it",
            "type": "object",
            "required": ["room", "sensor", "value", "timestamp"],
            "not": {"required": ["schema_version"]},
            "properties": {
                "home": {"type": "string", "minLength": 1, "description": "default: stream.default_home"},
                "room": {"type": "string", "minLength": 1},
                "sensor": {"type": "string", "description": format!("one of {} (any case)", kinds.join(", "))},
                "value": {"oneOf": [
                    {"type": "number"},
                    {"type": "boolean"},
                    {"type": "string", "description": "light and presence: On, Off (any case), true, false, 1, 0"}
                ]},
                "timestamp": flexible_time("RFC 3339 with an offset, or epoch seconds or milliseconds"),
                "sensor_id": {"type": "string", "description": "default: <home>-<room>-<sensor>"},
                "seq": {"type": "integer", "minimum": 0, "description": "default: the timestamp in milliseconds"}
            }
        }
    })
}
