//! Fire predictions for readings sent to the API: checks each reading field
//! by field (every problem named with its JSON path), computes the model's
//! features with [`crate::features`] exactly as the stream does, and scores.
//!
//! A reading without history is scored from a fresh
//! [`DeviceFeatures`] updated once (deltas 0, EW means equal to the value).
//! In a batch, readings that carry a `device_id` and `event_time_ms` form
//! that device's series (in event-time order), so history-based features
//! are computed as they would be live.

use super::errors::FieldError;
use crate::features::DeviceFeatures;
use crate::ml::{FireModel, Prediction};
use crate::schema::{Channel, ChannelValues, EventTime};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Most readings one `POST /api/predict/batch` may carry.
pub const MAX_BATCH: usize = 10_000;

/// Keys a reading may carry besides the 12 channels (batch only).
const DEVICE_KEY: &str = "device_id";
const TIME_KEY: &str = "event_time_ms";

/// A checked reading.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadingInput {
    /// All 12 channels, each present and within its physical range.
    pub values: ChannelValues,
    /// Device and time, when the reading belongs to a series.
    pub series: Option<(String, EventTime)>,
}

/// Checks one reading object found at `path` ("" for the body itself).
/// `allow_series` accepts `device_id` + `event_time_ms`.
pub fn parse_reading(
    value: &Value,
    path: &str,
    allow_series: bool,
    errors: &mut Vec<FieldError>,
) -> Option<ReadingInput> {
    let at = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    let Some(object) = value.as_object() else {
        let field = if path.is_empty() { "$" } else { path };
        errors.push(FieldError::new(
            field,
            format!(
                "must be a JSON object of the 12 channels, not {}",
                kind(value)
            ),
        ));
        return None;
    };
    let before = errors.len();
    for key in object.keys() {
        let known = Channel::from_name(key).is_some_and(|c| c.key() == key)
            || (allow_series && (key == DEVICE_KEY || key == TIME_KEY));
        if !known {
            errors.push(FieldError::new(
                at(key),
                unknown_key_message(key, allow_series),
            ));
        }
    }
    let mut values = ChannelValues::EMPTY;
    for channel in Channel::ALL {
        if let Some(v) = channel_value(object, channel, &at(channel.key()), errors) {
            values.set(channel, Some(v));
        }
    }
    let series = if allow_series {
        series_of(object, &at, errors)
    } else {
        None
    };
    (errors.len() == before).then_some(ReadingInput { values, series })
}

fn unknown_key_message(key: &str, allow_series: bool) -> String {
    let mut known: Vec<&str> = Channel::ALL.iter().map(|c| c.key()).collect();
    if allow_series {
        known.extend([DEVICE_KEY, TIME_KEY]);
    }
    format!(
        "unknown field `{key}`; expected one of {}",
        known.join(", ")
    )
}

fn channel_value(
    object: &Map<String, Value>,
    channel: Channel,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<f64> {
    let unit = match channel.unit() {
        "" => String::new(),
        u => format!(" {u}"),
    };
    let range = channel.physical_range();
    let problem = match object.get(channel.key()) {
        None | Some(Value::Null) => format!("is required: a number in {}", describe(&range)),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(x) if range.contains(&x) => return Some(x),
            Some(x) => format!(
                "{x}{unit} is outside the physical range {}{unit}",
                describe(&range)
            ),
            None => format!("{n} is not representable as a number"),
        },
        Some(Value::String(s)) if s.trim().parse::<f64>().is_ok_and(|x| !x.is_finite()) => {
            format!("must be a finite number, not the string {s:?}")
        }
        Some(other) => format!("must be a number, not {}", kind(other)),
    };
    errors.push(FieldError::new(field, format!("{field} {problem}")));
    None
}

fn series_of(
    object: &Map<String, Value>,
    at: &dyn Fn(&str) -> String,
    errors: &mut Vec<FieldError>,
) -> Option<(String, EventTime)> {
    let device = object.get(DEVICE_KEY);
    let time = object.get(TIME_KEY);
    let device = match device {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(other) => {
            let field = at(DEVICE_KEY);
            errors.push(FieldError::new(
                &field,
                format!("{field} must be a non-empty string, not {}", kind(other)),
            ));
            return None;
        }
    };
    let time = match time {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64().map(EventTime),
        Some(other) => {
            let field = at(TIME_KEY);
            errors.push(FieldError::new(
                &field,
                format!(
                    "{field} must be whole milliseconds since the Unix epoch, not {}",
                    kind(other)
                ),
            ));
            return None;
        }
    };
    match (device, time) {
        (Some(d), Some(t)) => Some((d, t)),
        (None, None) => None,
        (Some(_), None) => {
            let field = at(TIME_KEY);
            errors.push(FieldError::new(
                &field,
                format!("{field} is required with device_id (features depend on the time between readings)"),
            ));
            None
        }
        (None, Some(_)) => {
            let field = at(DEVICE_KEY);
            errors.push(FieldError::new(
                &field,
                format!("{field} is required with event_time_ms (a series belongs to a device)"),
            ));
            None
        }
    }
}

fn describe(range: &std::ops::RangeInclusive<f64>) -> String {
    format!("{}..={}", range.start(), range.end())
}

/// "a string", "an array", … for error messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A prediction as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictionOut {
    /// `fire` or `no_fire`.
    pub class: &'static str,
    /// The model's verdict: `probability` above its decision threshold.
    pub fire: bool,
    /// Probability of fire, 0–1.
    pub probability: f64,
    /// Registry version of the model that scored it, e.g. `20261123T101500Z-rf`.
    pub model_version: String,
}

impl From<Prediction> for PredictionOut {
    fn from(p: Prediction) -> Self {
        Self {
            class: if p.fire { "fire" } else { "no_fire" },
            fire: p.fire,
            probability: p.probability,
            model_version: p.model_version.to_string(),
        }
    }
}

/// Scores one reading with no history.
pub fn score_one(model: &dyn FireModel, values: &ChannelValues) -> Prediction {
    let spec = model.feature_spec();
    let mut state = DeviceFeatures::new(spec);
    state.update(EventTime(0), values);
    let mut features = Vec::with_capacity(spec.len());
    state.vector_into(spec, &mut features);
    model.predict(&features)
}

/// Scores readings in request order; readings of one device are fed to
/// that device's feature state in event-time order.
pub fn score_batch(model: &dyn FireModel, readings: &[ReadingInput]) -> Vec<Prediction> {
    let spec = model.feature_spec();
    let mut out: Vec<Option<Prediction>> = vec![None; readings.len()];
    let mut by_device: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, r) in readings.iter().enumerate() {
        match &r.series {
            Some((device, _)) => by_device.entry(device.as_str()).or_default().push(i),
            None => out[i] = Some(score_one(model, &r.values)),
        }
    }
    let mut features = Vec::with_capacity(spec.len());
    for mut indices in by_device.into_values() {
        indices.sort_by_key(|&i| readings[i].series.as_ref().map(|(_, t)| *t));
        let mut state = DeviceFeatures::new(spec);
        for i in indices {
            let time = readings[i]
                .series
                .as_ref()
                .map_or(EventTime(0), |(_, t)| *t);
            state.update(time, &readings[i].values);
            state.vector_into(spec, &mut features);
            out[i] = Some(model.predict(&features));
        }
    }
    out.into_iter().flatten().collect()
}
