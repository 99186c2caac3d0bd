//! A reading to predict on, as a person or a script writes it: a JSON
//! object with all 12 channels (by JSON key, e.g. `pm2_5`, or by the data
//! set's column name, e.g. `PM2.5`), and optionally `device_id` and
//! `event_time_ms` so a series of one device gets its history features.
//!
//! Every refusal names the field: missing, wrong type, not finite (also
//! Python's bare `NaN`), or outside the channel's physical range. The
//! errors are the wire codec's [`DecodeError`], so the web form and the
//! CLI say the same thing.

use crate::schema::json::DecodeError;
use crate::schema::{Channel, ChannelValues, EventTime};
use serde_json::{Map, Value};

/// One decoded input.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictInput {
    pub device_id: Option<String>,
    pub event_time: Option<EventTime>,
    pub values: ChannelValues,
}

/// Decodes one JSON object.
pub fn decode_input(text: &str) -> Result<PredictInput, DecodeError> {
    let object = parse_object(text)?;
    let mut values = ChannelValues::EMPTY;
    for channel in Channel::ALL {
        let value = object
            .get(channel.key())
            .or_else(|| object.get(channel.csv_name()));
        values.set(channel, Some(channel_value(channel, value)?));
    }
    let device_id = match object.get("device_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(Value::String(_)) => return Err(DecodeError::Empty { field: "device_id" }),
        Some(other) => return Err(wrong_type("device_id", "a string", other)),
    };
    let event_time = match object.get("event_time_ms") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(ms) => Some(EventTime(ms)),
            None => return Err(wrong_type("event_time_ms", "an integer (ms since 1970)", v)),
        },
    };
    Ok(PredictInput {
        device_id,
        event_time,
        values,
    })
}

fn channel_value(channel: Channel, value: Option<&Value>) -> Result<f64, DecodeError> {
    let field = channel.key();
    let v = match value {
        None | Some(Value::Null) => return Err(DecodeError::MissingField { field }),
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(Value::String(s)) if is_non_finite_token(s) => {
            return Err(DecodeError::NotFinite {
                field: field.to_string(),
                value: s.clone(),
            });
        }
        Some(other) => return Err(wrong_type(field, "a number", other)),
    };
    if !v.is_finite() {
        return Err(DecodeError::NotFinite {
            field: field.to_string(),
            value: v.to_string(),
        });
    }
    let range = channel.physical_range();
    if !range.contains(&v) {
        return Err(DecodeError::OutOfRange {
            field: field.to_string(),
            value: v,
            min: *range.start(),
            max: *range.end(),
        });
    }
    Ok(v)
}

fn wrong_type(field: &str, expected: &str, found: &Value) -> DecodeError {
    let kind = match found {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    DecodeError::WrongType {
        field: field.to_string(),
        detail: format!("expected {expected}, found {kind} ({found})"),
    }
}

fn is_non_finite_token(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "nan" | "-nan" | "inf" | "-inf" | "+inf" | "infinity" | "-infinity" | "+infinity"
    )
}

/// Parses a JSON object. Bare `NaN`/`Infinity` (not JSON, but what
/// Python's `json.dumps` writes) are read as strings so the field they
/// are in can be named.
fn parse_object(text: &str) -> Result<Map<String, Value>, DecodeError> {
    let parsed = serde_json::from_str::<Value>(text).or_else(|first| {
        serde_json::from_str::<Value>(&quote_bare_non_finite(text)).map_err(|_| first)
    });
    match parsed {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(DecodeError::Malformed {
            detail: format!("expected a JSON object with the 12 channels, found {other}"),
        }),
        Err(e) => Err(DecodeError::Malformed {
            detail: e.to_string(),
        }),
    }
}

/// Wraps the tokens `NaN`, `Infinity`, `-Infinity` that stand outside
/// strings in quotes.
fn quote_bare_non_finite(text: &str) -> String {
    const TOKENS: [&str; 3] = ["-Infinity", "Infinity", "NaN"];
    let mut out = String::with_capacity(text.len() + 8);
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if !in_string && let Some(token) = TOKENS.iter().find(|t| rest.starts_with(**t)) {
            out.push('"');
            out.push_str(token);
            out.push('"');
            rest = &rest[token.len()..];
            continue;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"temperature_c":20.0,"humidity_pct":57.36,"tvoc_ppb":0,"eco2_ppm":400,
        "raw_h2":12306,"raw_ethanol":18520,"pressure_hpa":939.735,"pm1_0":0.0,"pm2_5":0.0,
        "nc0_5":0.0,"nc1_0":0.0,"nc2_5":0.0}"#;

    fn with(key: &str, value: &str) -> String {
        GOOD.replace(
            &format!("\"{key}\":{}", value_of(key)),
            &format!("\"{key}\":{value}"),
        )
    }

    fn value_of(key: &str) -> String {
        let v: Value = serde_json::from_str(GOOD).unwrap();
        v[key].to_string()
    }

    #[test]
    fn decodes_all_channels_and_optional_identity() {
        let input = decode_input(GOOD).unwrap();
        assert_eq!(input.values.get(Channel::Pressure), Some(939.735));
        assert_eq!(input.values.missing_count(), 0);
        assert_eq!(input.device_id, None);
        let text = GOOD.replace('{', r#"{"device_id":"d1","event_time_ms":1654733331000,"#);
        let input = decode_input(&text).unwrap();
        assert_eq!(input.device_id.as_deref(), Some("d1"));
        assert_eq!(input.event_time, Some(EventTime(1_654_733_331_000)));
    }

    #[test]
    fn csv_column_names_are_accepted() {
        let text = GOOD.replace("\"pm2_5\"", "\"PM2.5\"");
        assert_eq!(
            decode_input(&text).unwrap().values.get(Channel::Pm2_5),
            Some(0.0)
        );
    }

    #[test]
    fn every_refusal_names_the_field() {
        let cases = [
            (
                GOOD.replace(r#""tvoc_ppb":0,"#, ""),
                "tvoc_ppb",
                "missing_field",
            ),
            (with("raw_h2", "\"12306\""), "raw_h2", "wrong_type"),
            (with("pm1_0", "NaN"), "pm1_0", "not_finite"),
            (with("pm1_0", "\"nan\""), "pm1_0", "not_finite"),
            (
                with("humidity_pct", "157.3"),
                "humidity_pct",
                "out_of_range",
            ),
            (with("nc2_5", "null"), "nc2_5", "missing_field"),
            (with("eco2_ppm", "[400]"), "eco2_ppm", "wrong_type"),
        ];
        for (text, field, reason) in cases {
            let err = decode_input(&text).unwrap_err();
            assert_eq!(err.field(), Some(field), "{text}: {err}");
            assert_eq!(err.reason(), reason, "{text}: {err}");
            assert!(err.to_string().contains(field), "{err}");
        }
    }

    #[test]
    fn not_an_object_is_malformed() {
        for text in ["", "[1,2]", "{\"temperature_c\": 20", "42"] {
            let err = decode_input(text).unwrap_err();
            assert_eq!(err.reason(), "malformed_json", "{text}");
        }
    }

    #[test]
    fn quoting_leaves_strings_alone() {
        assert_eq!(
            quote_bare_non_finite(r#"{"a":"NaN \" NaN","b":NaN,"c":-Infinity}"#),
            r#"{"a":"NaN \" NaN","b":"NaN","c":"-Infinity"}"#
        );
    }
}
