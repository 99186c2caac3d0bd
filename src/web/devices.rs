//! The device registry over HTTP: `GET /api/devices` lists every known
//! device with who registered it; `POST /api/devices` (admin) registers
//! devices and writes the registry file before answering, so a 201 means
//! the registration survives a restart.

use super::App;
use super::errors::{ApiError, FieldError};
use crate::schema::registry::DeviceEntry;
use crate::schema::{DeviceId, HomeId, RoomId};
use bytes::Bytes;
use serde_json::{Value, json};
use warp::Reply;
use warp::http::StatusCode;
use warp::reply::Response;

/// Most devices one request registers.
pub const MAX_DEVICES_PER_REQUEST: usize = 10_000;

/// `GET /api/devices`.
pub fn list(app: &App) -> Response {
    let devices: Vec<Value> = app
        .deps
        .devices
        .list()
        .into_iter()
        .map(|(id, info)| {
            json!({"id": id, "home": info.home, "room": info.room, "source": info.source})
        })
        .collect();
    warp::reply::json(&json!({
        "count": devices.len(),
        "unknown_devices": app.deps.sections.unknown_devices,
        "devices": devices,
    }))
    .into_response()
}

/// The body: one `{"id", "home"?, "room"?}` object or an array of them;
/// every invalid entry is named (`[3].room`).
fn parse(body: &[u8]) -> Result<Vec<(DeviceId, HomeId, RoomId)>, ApiError> {
    let value = super::body::parse_json(body)?;
    let (items, prefix): (Vec<Value>, bool) = match value {
        Value::Array(items) => (items, true),
        other => (vec![other], false),
    };
    if items.is_empty() {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "body",
            "the array is empty; send at least one device",
        )]));
    }
    if items.len() > MAX_DEVICES_PER_REQUEST {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "body",
            format!(
                "{} devices; at most {MAX_DEVICES_PER_REQUEST} per request",
                items.len()
            ),
        )]));
    }
    let mut errors = Vec::new();
    let mut devices = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let at = |field: &str| {
            if prefix {
                format!("[{i}].{field}")
            } else {
                field.to_string()
            }
        };
        let entry: DeviceEntry = match serde_json::from_value(item) {
            Ok(entry) => entry,
            Err(e) => {
                errors.push(FieldError::new(
                    at("id"),
                    format!("expected {{\"id\": text, \"home\"?: text, \"room\"?: text}}: {e}"),
                ));
                continue;
            }
        };
        if entry.id.trim().is_empty() {
            errors.push(FieldError::new(at("id"), "must not be empty"));
            continue;
        }
        match entry.placement() {
            Ok((home, room)) => devices.push((DeviceId::from(entry.id.as_str()), home, room)),
            Err(reason) => errors.push(FieldError::new(at("room"), reason)),
        }
    }
    if errors.is_empty() {
        Ok(devices)
    } else {
        Err(ApiError::Invalid(errors))
    }
}

/// `POST /api/devices`: 201 with the devices registered.
pub async fn register(body: Bytes, app: App) -> Response {
    let devices = match parse(&body) {
        Ok(devices) => devices,
        Err(e) => return e.into_response(),
    };
    let registry = app.deps.devices.clone();
    let listed: Vec<Value> = devices
        .iter()
        .map(|(id, home, room)| json!({"id": id, "home": home, "room": room, "source": "api"}))
        .collect();
    let written = tokio::task::spawn_blocking(move || registry.register_persistent(devices)).await;
    match written {
        Ok(Ok(())) => warp::reply::with_status(
            warp::reply::json(&json!({
                "registered": listed,
                "persisted": app.deps.devices.path().is_some(),
            })),
            StatusCode::CREATED,
        )
        .into_response(),
        Ok(Err(e)) => ApiError::Internal(format!(
            "the devices are registered until the daemon stops, but could not be kept: {e}"
        ))
        .into_response(),
        Err(e) => ApiError::Internal(format!("registering: {e}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_placed_from_the_id_or_named_when_they_cannot_be() {
        let devices =
            parse(br#"[{"id": "h1-attic-smoke"}, {"id": "x7", "home": "h2", "room": "hall"}]"#)
                .unwrap();
        assert_eq!(devices[0].2.as_str(), "attic");
        assert_eq!(devices[1].1.as_str(), "h2");
        let err = parse(br#"[{"id": "h1-attic-smoke"}, {"id": "x7"}, {"name": "y"}]"#).unwrap_err();
        let ApiError::Invalid(errors) = err else {
            panic!("invalid");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["[1].room", "[2].id"]);
    }
}
