//! HTTP ingest: `POST /api/ingest/readings` and `POST /api/ingest/room-events`
//! (behind [`super::auth::ingest`], `web.ingest_token`).
//!
//! The body is one JSON object, a JSON array of objects, or NDJSON (one
//! object per line). Every record is decoded with the stream's own decoders
//! (every accepted shape, [`crate::schema::foreign`]); a reading from a
//! device the registry refuses under `stream.unknown_devices` is refused
//! here too, so the sender learns it at once. The good records are
//! re-encoded in smokewatch's own shape and sent, in order, through the
//! same producer as the simulator's (Kafka when enabled, else the embedded
//! log), so they get the same guarantees and pass the whole stream: the
//! stream registers new devices, drops duplicates and dead-letters late
//! or future-dated records as it does for any source. Refused records are
//! answered with their 1-based line (NDJSON) or index (array) and reason;
//! nothing accepted is dropped because a neighbour was bad.

use super::App;
use super::errors::ApiError;
use crate::schema::json::{
    DecodeError, decode_reading_text_in, decode_room_event_in, encode_reading, encode_room_event,
};
use crate::schema::registry::{Admission, DeviceRegistry, UnknownDevices};
use crate::schema::{DeviceId, HomeId, RoomId};
use crate::telemetry::names;
use crate::transport::{OutgoingRecord, TopicKind, Transport};
use bytes::Bytes;
use serde::Serialize;
use std::borrow::Cow;
use warp::Reply;
use warp::http::StatusCode;
use warp::reply::Response;

/// Source label of what HTTP ingest produces.
pub const SOURCE: &str = "http";
/// Most refusals listed one by one in an answer; the counts cover all.
pub const MAX_LISTED_REFUSALS: usize = 1000;

/// Which kind of record a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Readings,
    RoomEvents,
}

impl RecordKind {
    fn topic(self) -> TopicKind {
        match self {
            RecordKind::Readings => TopicKind::Readings,
            RecordKind::RoomEvents => TopicKind::RoomEvents,
        }
    }
}

/// How the body was framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    Object,
    Array,
    Ndjson,
}

/// One refused record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    /// 1-based line of an NDJSON body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based position in a JSON array (1 for a single object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// Stable label, as in dead letters (`missing_field`, `unknown_device`, …).
    pub reason: String,
    /// The field the refusal is about, e.g. `device_id`; `None` when about the whole record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The full message, e.g. "field `seq` is missing"; `reason` is its stable label.
    pub error: String,
}

/// The answer.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    /// How the body was read; decides whether refusals carry `line` or `index`.
    pub framing: Framing,
    /// Records in the body.
    pub received: usize,
    /// Records handed to the transport.
    pub accepted: usize,
    /// Records refused, all counted (the list stops at [`MAX_LISTED_REFUSALS`]).
    pub refused: usize,
    /// The first [`MAX_LISTED_REFUSALS`] refusals, in body order.
    pub refusals: Vec<Refusal>,
    /// More refusals than listed.
    pub refusals_truncated: bool,
}

/// One record of the body: where it was and its bytes.
struct Piece<'a> {
    position: usize,
    bytes: Cow<'a, [u8]>,
}

/// Splits a body into records. A body that parses as one JSON value is an
/// object or an array of records; anything else is NDJSON, one record per
/// non-blank line (blank lines are skipped but counted in line numbers).
fn split(body: &[u8]) -> Result<(Framing, Vec<Piece<'_>>), ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadJson {
            detail: "the body is empty; send a JSON object, a JSON array or NDJSON".into(),
            field: None,
        });
    }
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if first == Some(b'[') {
        // Validated as a whole first; then each element is cut out of the
        // body (no JSON tree of up to web.ingest_max_body_bytes is built)
        // and decoded on its own, so one bad element refuses only itself.
        serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(body).map_err(|e| {
            ApiError::BadJson {
                detail: format!("the body starts as a JSON array but is not one: {e}"),
                field: None,
            }
        })?;
        let pieces = array_elements(body)
            .into_iter()
            .enumerate()
            .map(|(i, bytes)| Piece {
                position: i + 1,
                bytes: Cow::Borrowed(bytes),
            })
            .collect();
        return Ok((Framing::Array, pieces));
    }
    if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
        return Ok((
            Framing::Object,
            vec![Piece {
                position: 1,
                bytes: Cow::Borrowed(body),
            }],
        ));
    }
    let pieces = body
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .map(|(i, line)| Piece {
            position: i + 1,
            bytes: Cow::Borrowed(line.strip_suffix(b"\r").unwrap_or(line)),
        })
        .collect();
    Ok((Framing::Ndjson, pieces))
}

/// The elements of a top-level JSON array, as byte slices of `body`
/// (which the caller has validated as one): cut at the commas outside
/// strings and nested values.
fn array_elements(body: &[u8]) -> Vec<&[u8]> {
    let Some(open) = body.iter().position(|b| *b == b'[') else {
        return Vec::new();
    };
    let mut elements = Vec::new();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut start = open + 1;
    for (i, &b) in body.iter().enumerate().skip(open + 1) {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' => depth = depth.saturating_sub(1),
            b']' if depth == 0 => {
                let last = body[start..i].trim_ascii();
                if !last.is_empty() {
                    elements.push(last);
                }
                break;
            }
            b']' => depth -= 1,
            b',' if depth == 0 => {
                elements.push(body[start..i].trim_ascii());
                start = i + 1;
            }
            _ => {}
        }
    }
    elements
}

/// A record ready for the transport.
struct Outgoing {
    key: String,
    value: Vec<u8>,
    timestamp_ms: i64,
}

/// Decodes every piece; blocking CPU work (run off the async threads).
fn decode_all(
    kind: RecordKind,
    framing: Framing,
    pieces: &[Piece<'_>],
    registry: &DeviceRegistry,
    policy: UnknownDevices,
    default_home: &str,
) -> (Vec<Outgoing>, Vec<Refusal>, usize) {
    let mut good = Vec::with_capacity(pieces.len());
    let mut refusals = Vec::new();
    let mut refused = 0usize;
    for piece in pieces {
        match decode_one(kind, &piece.bytes, registry, policy, default_home) {
            Ok(out) => good.push(out),
            Err((reason, field, error)) => {
                refused += 1;
                if refusals.len() < MAX_LISTED_REFUSALS {
                    let (line, index) = match framing {
                        Framing::Ndjson => (Some(piece.position), None),
                        _ => (None, Some(piece.position)),
                    };
                    refusals.push(Refusal {
                        line,
                        index,
                        reason,
                        field,
                        error,
                    });
                }
            }
        }
    }
    (good, refusals, refused)
}

type Refused = (String, Option<String>, String);

fn decode_error(e: DecodeError) -> Refused {
    (
        e.reason().to_string(),
        e.field().map(str::to_string),
        e.to_string(),
    )
}

fn decode_one(
    kind: RecordKind,
    bytes: &[u8],
    registry: &DeviceRegistry,
    policy: UnknownDevices,
    default_home: &str,
) -> Result<Outgoing, Refused> {
    match kind {
        RecordKind::Readings => {
            let decoded = decode_reading_text_in(bytes, default_home).map_err(decode_error)?;
            if let Admission::Refused(reason) = registry.admit(&decoded.device_id, policy) {
                return Err(("unknown_device".into(), Some("device_id".into()), reason));
            }
            let key = decoded.device_id.to_string();
            let ids = (
                DeviceId::from(decoded.device_id.as_ref()),
                HomeId::from(decoded.home.as_ref()),
                RoomId::from(decoded.room.as_ref()),
            );
            // An impossible value travels on, as it would over Kafka: the
            // stream marks that channel invalid (and raises a device fault
            // when it persists) and keeps the reading's other channels.
            let out_of_range = decoded.out_of_range.clone();
            let mut reading = decoded.into_reading(ids.0, ids.1, ids.2);
            for (channel, value) in out_of_range {
                reading.values.set(channel, Some(value));
            }
            Ok(Outgoing {
                key,
                value: encode_reading(&reading),
                timestamp_ms: reading.event_time.millis(),
            })
        }
        RecordKind::RoomEvents => {
            let event = decode_room_event_in(bytes, default_home).map_err(decode_error)?;
            Ok(Outgoing {
                // The simulator's key: a room's events stay in order.
                key: format!("{}/{}", event.home, event.room),
                value: encode_room_event(&event),
                timestamp_ms: event.event_time.millis(),
            })
        }
    }
}

/// `POST /api/ingest/readings` and `POST /api/ingest/room-events`.
pub async fn ingest(kind: RecordKind, body: Bytes, app: App) -> Response {
    let deps = app.deps.clone();
    if !deps.sections.stream_enabled && matches!(deps.transport, Transport::Embedded(_)) {
        return ApiError::Unavailable(
            "ingest is refused: the stream is switched off (stream.enabled: false) and the \
             transport is the embedded in-process log (kafka.enabled: false), so nothing would \
             ever read the records"
                .into(),
        )
        .into_response();
    }
    let registry = deps.devices.clone();
    let policy = deps.sections.unknown_devices;
    let default_home = deps.sections.default_home.clone();
    let decoded = tokio::task::spawn_blocking(move || {
        let (framing, pieces) = split(&body)?;
        let received = pieces.len();
        let (good, refusals, refused) =
            decode_all(kind, framing, &pieces, &registry, policy, &default_home);
        Ok::<_, ApiError>((framing, received, good, refusals, refused))
    })
    .await;
    let (framing, received, good, refusals, refused) = match decoded {
        Ok(Ok(parts)) => parts,
        Ok(Err(e)) => return e.into_response(),
        Err(e) => return ApiError::Internal(format!("decoding the body: {e}")).into_response(),
    };
    let producer = deps.transport.producer();
    let topic = kind.topic();
    let counter = match kind {
        RecordKind::Readings => names::READINGS_PRODUCED,
        RecordKind::RoomEvents => names::ROOM_EVENTS_PRODUCED,
    };
    let mut accepted = 0usize;
    for out in good {
        let record = OutgoingRecord::json(out.key, out.value, out.timestamp_ms);
        if let Err(e) = producer.send(topic, record).await {
            metrics::counter!(counter, "source" => SOURCE).increment(accepted as u64);
            return ApiError::Unavailable(format!(
                "the transport refused record {} of the {} valid ones: {e}; the {accepted} before it \
                 were sent (send the rest again: the stream drops duplicates)",
                accepted + 1,
                received - refused
            ))
            .into_response();
        }
        accepted += 1;
    }
    // Answer only once the transport holds them (Kafka: acknowledged).
    if let Err(e) = producer.flush().await {
        return ApiError::Unavailable(format!(
            "{accepted} records were handed to the transport but not all were stored: {e}; send \
             the body again (the stream drops duplicates)"
        ))
        .into_response();
    }
    metrics::counter!(counter, "source" => SOURCE).increment(accepted as u64);
    let status = if accepted == 0 && refused > 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let report = IngestReport {
        framing,
        received,
        accepted,
        refused,
        refusals_truncated: refused > refusals.len(),
        refusals,
    };
    warp::reply::with_status(warp::reply::json(&report), status).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions(body: &str) -> (Framing, Vec<usize>) {
        let (framing, pieces) = split(body.as_bytes()).unwrap();
        (framing, pieces.iter().map(|p| p.position).collect())
    }

    #[test]
    fn object_array_and_ndjson_are_told_apart() {
        assert_eq!(positions("{\"a\": 1}"), (Framing::Object, vec![1]));
        assert_eq!(positions("{\n  \"a\": 1\n}\n"), (Framing::Object, vec![1]));
        assert_eq!(
            positions(" [{\"a\":1}, {\"b\":2}]"),
            (Framing::Array, vec![1, 2])
        );
        assert_eq!(
            positions("{\"a\":1}\n\n{\"b\":2}\r\nnot json\n"),
            (Framing::Ndjson, vec![1, 3, 4])
        );
        assert!(split(b" \n ").is_err());
        let (_, pieces) = split(br#"[{"a":"x,]\"}"}, [1, {"b":[2,3]}] ,"s"]"#).unwrap();
        let texts: Vec<&[u8]> = pieces.iter().map(|p| p.bytes.as_ref()).collect();
        assert_eq!(
            texts,
            [
                br#"{"a":"x,]\"}"}"#.as_slice(),
                br#"[1, {"b":[2,3]}]"#.as_slice(),
                br#""s""#.as_slice()
            ]
        );
        assert!(split(b"[]").unwrap().1.is_empty());
        assert!(split(b"[{\"a\":1},").is_err());
    }

    #[test]
    fn bad_lines_are_refused_by_line_and_the_rest_kept() {
        let registry = DeviceRegistry::new();
        let good = r#"{"room":"k","sensor":"light","value":"On","timestamp":1654712187}"#;
        let body = format!("{good}\n{{\"room\":\"k\"}}\n{good}\n[1,\n");
        let (framing, pieces) = split(body.as_bytes()).unwrap();
        let (out, refusals, refused) = decode_all(
            RecordKind::RoomEvents,
            framing,
            &pieces,
            &registry,
            UnknownDevices::Register,
            "h1",
        );
        assert_eq!((out.len(), refused), (2, 2));
        assert_eq!(refusals[0].line, Some(2));
        assert_eq!(refusals[0].reason, "missing_field");
        assert_eq!(refusals[1].line, Some(4));
        assert_eq!(refusals[1].reason, "malformed_json");
        assert_eq!(out[0].key, "h1/k");
    }
}
