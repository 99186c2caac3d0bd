//! The OpenAPI 3.0 description served at `/api/openapi.json`, generated
//! from the route table ([`Route::all`]) and the channel list, so it cannot
//! list a route the server lacks or miss one it has. Each route's
//! operation is an exhaustive `match`: a new route does not compile until
//! it is documented. `tests/web_openapi.rs` validates the document.

use super::api::BATCH_BODY_LIMIT;
use super::body::BODY_LIMIT;
use super::predict::MAX_BATCH;
use super::routes::{HttpMethod, Route};
use crate::schema::Channel;
use serde_json::{Map, Value, json};

/// The whole document.
pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for &route in Route::all() {
        let method = match route.method() {
            HttpMethod::Get => "get",
            HttpMethod::Post => "post",
        };
        let mut op = operation(route);
        if let Some(params) = path_parameters(route.path()) {
            op["parameters"] = params;
        }
        let item = paths
            .entry(route.path().to_string())
            .or_insert_with(|| json!({}));
        item[method] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "smokewatch",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!(
                "Smoke-detection pipeline daemon: fire predictions, health, live figures. \
                 Every error is JSON {{\"error\": ..., \"field\": ...}}. Request bodies are \
                 limited to {BODY_LIMIT} bytes ({BATCH_BODY_LIMIT} for the batch route); \
                 413 beyond."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "web.admin_token; admin endpoints answer 403 while it is unset."
                },
                "ingestToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "web.ingest_token; the ingest endpoints answer 403 while it is unset."
                }
            }
        }
    })
}

fn path_parameters(path: &str) -> Option<Value> {
    let params: Vec<Value> = path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    (!params.is_empty()).then_some(Value::Array(params))
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": json_content(schema_ref("Error"))})
}

fn ok_json(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": json_content(schema)})
}

fn operation(route: Route) -> Value {
    let mut responses = Map::new();
    let (summary, tag) = match route {
        Route::Page(page) => {
            responses.insert(
                "200".into(),
                json!({"description": format!("The {} page", page.title()),
                       "content": {"text/html": {"schema": {"type": "string"}}}}),
            );
            (format!("{} page (HTML)", page.title()), "ui")
        }
        Route::Asset => {
            responses.insert(
                "200".into(),
                json!({"description": "An embedded CSS, JavaScript or vendor file",
                       "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}),
            );
            responses.insert(
                "304".into(),
                json!({"description": "The client's copy is current (ETag)"}),
            );
            responses.insert("404".into(), error_response("No such asset"));
            ("Static asset embedded in the binary".into(), "ui")
        }
        Route::Health | Route::ApiHealth => {
            responses.insert(
                "200".into(),
                ok_json("Running (possibly degraded)", schema_ref("Health")),
            );
            responses.insert(
                "503".into(),
                ok_json(
                    "A task has failed; `reasons` says which",
                    schema_ref("Health"),
                ),
            );
            ("Health of every subsystem and task".into(), "operations")
        }
        Route::Metrics => {
            responses.insert(
                "200".into(),
                json!({"description": "Prometheus text exposition format 0.0.4",
                       "content": {"text/plain": {"schema": {"type": "string"}}}}),
            );
            responses.insert(
                "404".into(),
                json!({"description": "telemetry.enabled is false",
                "content": {"text/plain": {"schema": {"type": "string"}}}}),
            );
            ("Prometheus metrics".into(), "operations")
        }
        Route::OpenApi => {
            responses.insert(
                "200".into(),
                ok_json("This document", json!({"type": "object"})),
            );
            ("OpenAPI 3 description of this API".into(), "operations")
        }
        Route::SensorsSchema => {
            responses.insert(
                "200".into(),
                ok_json("Channels and room sensors", schema_ref("SensorsSchema")),
            );
            (
                "Channels with units and physical ranges, room sensor kinds, limits".into(),
                "predict",
            )
        }
        Route::Predict => {
            responses.insert(
                "200".into(),
                ok_json("The prediction", schema_ref("Prediction")),
            );
            add_input_errors(&mut responses);
            responses.insert("503".into(), error_response("No model is loaded yet"));
            (
                "Fire prediction for one reading (no history)".into(),
                "predict",
            )
        }
        Route::PredictBatch => {
            responses.insert(
                "200".into(),
                ok_json(
                    "One prediction per reading, in request order",
                    schema_ref("BatchPrediction"),
                ),
            );
            add_input_errors(&mut responses);
            responses.insert("503".into(), error_response("No model is loaded yet"));
            (
                format!(
                    "Fire predictions for up to {MAX_BATCH} readings; readings with device_id and event_time_ms form a series"
                ),
                "predict",
            )
        }
        Route::Model => {
            responses.insert(
                "200".into(),
                ok_json(
                    "The model served now, its evaluation and the registry history",
                    schema_ref("Model"),
                ),
            );
            (
                "The model currently served, its metrics, confusion matrix, feature importances and version history (rejected challengers included)".into(),
                "model",
            )
        }
        Route::ModelReload | Route::BatchRun => {
            add_admin_errors(&mut responses);
            if route == Route::ModelReload {
                responses.insert(
                    "200".into(),
                    ok_json(
                        "The registry's current model is served now",
                        json!({"type": "object"}),
                    ),
                );
            } else {
                responses.insert(
                    "202".into(),
                    ok_json(
                        "The run started; its outcome appears on /batch",
                        json!({"type": "object"}),
                    ),
                );
            }
            responses.insert("409".into(), error_response(
                "Cannot be done now: no current model in the registry, a refused model file, or a batch run already running",
            ));
            responses.insert("413".into(), error_response("Body larger than the limit"));
            responses.insert(
                "503".into(),
                error_response(
                    "The subsystem is switched off (ml.enabled / batch.enabled false) or stopping",
                ),
            );
            let what = if route == Route::ModelReload {
                ("Reload the model from the registry (admin)", "model")
            } else {
                ("Run the batch job now (admin)", "batch")
            };
            (what.0.into(), what.1)
        }
        Route::Alerts | Route::Windows | Route::DeadLetters => {
            responses.insert(
                "400".into(),
                error_response(
                    "An unknown query parameter or a bad value; `field` is query.<name>",
                ),
            );
            responses.insert(
                "503".into(),
                error_response("The stream is switched off (stream.enabled: false)"),
            );
            if route == Route::Alerts {
                responses.insert(
                    "200".into(),
                    ok_json("Alerts, most recently changed first", schema_ref("Alerts")),
                );
                (
                    "The stream's recent alerts (open and resolved), filtered".into(),
                    "stream",
                )
            } else if route == Route::DeadLetters {
                responses.insert(
                    "200".into(),
                    ok_json("Dead letters, newest first", schema_ref("DeadLetters")),
                );
                (
                    "The stream's recently refused records and why (payloads are in the dead-letter files and topic), filtered".into(),
                    "stream",
                )
            } else {
                responses.insert(
                    "200".into(),
                    ok_json("Window results, newest first", schema_ref("Windows")),
                );
                (
                    "The stream's recent window results, filtered".into(),
                    "stream",
                )
            }
        }
        Route::Devices => {
            responses.insert(
                "200".into(),
                ok_json(
                    "Every known device, sorted by id",
                    json!({"type": "object"}),
                ),
            );
            (
                "Known devices: the simulator's fleet, the devices: config list, those registered through the API or automatically".into(),
                "devices",
            )
        }
        Route::DevicesRegister => {
            add_admin_errors(&mut responses);
            responses.insert(
                "201".into(),
                ok_json(
                    "Registered and written to the registry file",
                    json!({"type": "object"}),
                ),
            );
            responses.insert("400".into(), error_response("Body is not valid JSON"));
            responses.insert("413".into(), error_response("Body larger than the limit"));
            responses.insert(
                "422".into(),
                error_response("An entry lacks an id, or home/room its id does not say"),
            );
            (
                "Register devices (admin): {\"id\", \"home\"?, \"room\"?} or an array of them; home and room may be left out when the id reads home-room-kind".into(),
                "devices",
            )
        }
        Route::IngestReadings | Route::IngestRoomEvents => {
            responses.insert(
                "200".into(),
                ok_json(
                    "Counts of accepted and refused records, each refusal with its 1-based line (NDJSON) or index (array) and reason",
                    schema_ref("IngestReport"),
                ),
            );
            responses.insert(
                "400".into(),
                error_response("Empty body, or a body that starts as a JSON array but is not one"),
            );
            responses.insert(
                "401".into(),
                error_response("Missing or wrong bearer token (web.ingest_token)"),
            );
            responses.insert(
                "403".into(),
                error_response("Ingest is off: web.ingest_token is unset"),
            );
            responses.insert(
                "413".into(),
                error_response("Body larger than web.ingest_max_body_bytes"),
            );
            responses.insert(
                "415".into(),
                error_response("Content-Type is neither JSON nor NDJSON"),
            );
            responses.insert(
                "422".into(),
                ok_json("Every record was refused", schema_ref("IngestReport")),
            );
            responses.insert(
                "503".into(),
                error_response("The transport refused the records, or nothing would read them (stream and Kafka off)"),
            );
            let what = if route == Route::IngestReadings {
                "Send smoke readings (smokewatch's shape or the data set's column names): one JSON object, a JSON array or NDJSON"
            } else {
                "Send room events (smokewatch's shape or the Smart Home producer's): one JSON object, a JSON array or NDJSON"
            };
            (what.into(), "ingest")
        }
        Route::Stream => {
            responses.insert(
                "200".into(),
                json!({"description": "Server-Sent Events: one `history` event (array of Snapshot), then a `snapshot` event (Snapshot) each second",
                       "content": {"text/event-stream": {"schema": {"type": "string"}}}}),
            );
            (
                "Live dashboard figures (Server-Sent Events)".into(),
                "dashboard",
            )
        }
    };
    let mut op = json!({
        "operationId": operation_id(route),
        "summary": summary,
        "tags": [tag],
        "responses": responses,
    });
    match route {
        Route::Predict => op["requestBody"] = request_body(schema_ref("Reading")),
        Route::PredictBatch => op["requestBody"] = request_body(schema_ref("BatchRequest")),
        Route::ModelReload | Route::BatchRun | Route::DevicesRegister => {
            op["security"] = json!([{"adminToken": []}]);
        }
        Route::IngestReadings | Route::IngestRoomEvents => {
            op["security"] = json!([{"ingestToken": []}]);
            op["requestBody"] = json!({"required": true, "content": {
                "application/json": {"schema": {"oneOf": [
                    {"type": "object"}, {"type": "array", "items": {"type": "object"}}]}},
                "application/x-ndjson": {"schema": {"type": "string"}}
            }});
        }
        Route::Alerts => op["parameters"] = query_parameters(ALERT_PARAMETERS),
        Route::Windows => op["parameters"] = query_parameters(WINDOW_PARAMETERS),
        Route::DeadLetters => op["parameters"] = query_parameters(DEAD_LETTER_PARAMETERS),
        _ => {}
    }
    op
}

fn request_body(schema: Value) -> Value {
    json!({"required": true, "content": json_content(schema)})
}

fn add_input_errors(responses: &mut Map<String, Value>) {
    responses.insert(
        "400".into(),
        error_response("Body is not valid JSON (NaN and Infinity included)"),
    );
    responses.insert(
        "413".into(),
        error_response("Body or batch larger than the limit"),
    );
    responses.insert("415".into(), error_response("Content-Type is not JSON"));
    responses.insert(
        "422".into(),
        error_response("A field is missing, of the wrong type or out of range; `field` names it"),
    );
}

fn add_admin_errors(responses: &mut Map<String, Value>) {
    responses.insert(
        "401".into(),
        error_response("Missing or wrong bearer token"),
    );
    responses.insert(
        "403".into(),
        error_response("Admin endpoints are off (no web.admin_token)"),
    );
}

fn operation_id(route: Route) -> String {
    match route {
        Route::Page(page) => format!("page_{}", page.id()),
        Route::Asset => "asset".into(),
        Route::Health => "health".into(),
        Route::ApiHealth => "api_health".into(),
        Route::Metrics => "metrics".into(),
        Route::OpenApi => "openapi".into(),
        Route::SensorsSchema => "sensors_schema".into(),
        Route::Predict => "predict".into(),
        Route::PredictBatch => "predict_batch".into(),
        Route::Model => "model".into(),
        Route::ModelReload => "model_reload".into(),
        Route::BatchRun => "batch_run".into(),
        Route::Stream => "stream".into(),
        Route::Alerts => "alerts".into(),
        Route::Windows => "windows".into(),
        Route::DeadLetters => "dead_letters".into(),
        Route::Devices => "devices".into(),
        Route::DevicesRegister => "devices_register".into(),
        Route::IngestReadings => "ingest_readings".into(),
        Route::IngestRoomEvents => "ingest_room_events".into(),
    }
}

/// (name, allowed values or `None` for free text, description).
type QueryParameter = (&'static str, Option<&'static [&'static str]>, &'static str);

const ALERT_PARAMETERS: &[QueryParameter] = &[
    (
        "state",
        Some(&["open", "resolved"]),
        "Open or resolved alerts",
    ),
    (
        "severity",
        Some(&["low", "medium", "high", "critical"]),
        "Exact severity",
    ),
    (
        "kind",
        Some(&["threshold", "spike", "rule", "ml", "fault"]),
        "Detector that raised it",
    ),
    ("home", None, "Home id"),
    ("room", None, "Room id"),
    ("rule", None, "Rule name, e.g. threshold:pm2_5 or ml:fire"),
];

const DEAD_LETTER_PARAMETERS: &[QueryParameter] = &[
    (
        "reason",
        None,
        "Reason label, e.g. malformed_json, wrong_type, late, unknown_device",
    ),
    (
        "topic",
        Some(&["readings", "room_events"]),
        "Topic kind the record was refused from",
    ),
];

const WINDOW_PARAMETERS: &[QueryParameter] = &[
    ("window", Some(&["tumbling", "sliding"]), "Window spec"),
    (
        "key",
        Some(&["device", "room", "room_sensor"]),
        "What the window aggregates by",
    ),
    (
        "measure",
        None,
        "A channel key (see /api/sensors/schema) or a room sensor kind",
    ),
    ("home", None, "Home id"),
    ("room", None, "Room id"),
    ("device", None, "Device id (device windows)"),
    (
        "final",
        Some(&["true", "false"]),
        "Closed windows only, or update-mode intermediates only",
    ),
    (
        "current",
        Some(&["true", "false"]),
        "Instead of the most recent results: each series' newest window (latest emission) and its last closed one",
    ),
];

fn query_parameters(params: &[QueryParameter]) -> Value {
    let mut out: Vec<Value> = params
        .iter()
        .map(|(name, values, description)| {
            let schema = match values {
                Some(v) => json!({"type": "string", "enum": v}),
                None => json!({"type": "string"}),
            };
            json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
        })
        .collect();
    out.push(json!({"name": "limit", "in": "query", "required": false,
        "description": "Most results returned",
        "schema": {"type": "integer", "minimum": 1, "maximum": super::live_api::MAX_LIMIT,
                   "default": super::live_api::DEFAULT_LIMIT}}));
    Value::Array(out)
}

fn reading_schema(series: bool) -> Value {
    let mut properties = Map::new();
    for c in Channel::ALL {
        let unit = match c.unit() {
            "" => "raw sensor count".to_string(),
            u => u.to_string(),
        };
        properties.insert(
            c.key().into(),
            json!({"type": "number", "minimum": c.physical_range().start(), "maximum": c.physical_range().end(),
                   "description": format!("{} ({unit})", c.csv_name())}),
        );
    }
    if series {
        properties.insert(
            "device_id".into(),
            json!({"type": "string", "description": "Readings of one device form a series"}),
        );
        properties.insert(
            "event_time_ms".into(),
            json!({"type": "integer", "format": "int64", "description": "Required with device_id"}),
        );
    }
    let required: Vec<&str> = Channel::ALL.iter().map(|c| c.key()).collect();
    json!({"type": "object", "required": required, "properties": properties, "additionalProperties": false})
}

fn schemas() -> Value {
    let mut schemas = schema_objects();
    // Apart from the rest: one `json!` of them all exceeds the macro's
    // recursion limit.
    schemas["DeadLetters"] = json!({
        "type": "object", "required": ["matched", "updates", "dead_letters"],
        "properties": {
            "matched": {"type": "integer"},
            "updates": {"type": "integer", "description": "Dead letters recorded since start"},
            "kept_at_most": {"type": "integer"},
            "dead_letters": {"type": "array", "items": {"type": "object", "properties": {
                "seq": {"type": "integer"}, "seen_ms": {"type": "integer"},
                "reason": {"type": "string"}, "detail": {"type": "string"},
                "topic": {"type": "string"}, "partition": {"type": "integer"},
                "offset": {"type": "integer"}, "payload_bytes": {"type": "integer"},
                "payload_sha256": {"type": "string"}}}}
        }
    });
    schemas
}

fn schema_objects() -> Value {
    json!({
        "IngestReport": {
            "type": "object",
            "required": ["framing", "received", "accepted", "refused", "refusals", "refusals_truncated"],
            "properties": {
                "framing": {"type": "string", "enum": ["object", "array", "ndjson"]},
                "received": {"type": "integer", "description": "Records in the body"},
                "accepted": {"type": "integer", "description": "Records handed to the transport"},
                "refused": {"type": "integer"},
                "refusals": {"type": "array", "description": "The first 1000 refusals, in body order",
                    "items": {"type": "object", "required": ["reason", "error"], "properties": {
                        "line": {"type": "integer", "description": "1-based line of an NDJSON body"},
                        "index": {"type": "integer", "description": "1-based position in an array (1 for one object)"},
                        "reason": {"type": "string", "description": "missing_field, wrong_type, unknown_device, ..."},
                        "field": {"type": "string"},
                        "error": {"type": "string"}}}},
                "refusals_truncated": {"type": "boolean"},
                "error": {"type": "string"}
            }
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"type": "string", "description": "What was wrong, precisely"},
                "field": {"type": "string", "description": "JSON path of the field, e.g. readings[3].tvoc_ppb"},
                "errors": {"type": "array", "description": "Every invalid field, when there are several",
                    "items": {"type": "object", "required": ["field", "error"],
                        "properties": {"field": {"type": "string"}, "error": {"type": "string"}}}}
            }
        },
        "Reading": reading_schema(false),
        "BatchReading": reading_schema(true),
        "BatchRequest": {
            "type": "object", "required": ["readings"], "additionalProperties": false,
            "properties": {"readings": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": schema_ref("BatchReading")}}
        },
        "Prediction": {
            "type": "object", "required": ["class", "fire", "probability", "model_version"],
            "properties": {
                "class": {"type": "string", "enum": ["fire", "no_fire"]},
                "fire": {"type": "boolean"},
                "probability": {"type": "number", "minimum": 0, "maximum": 1},
                "model_version": {"type": "string"}
            }
        },
        "BatchPrediction": {
            "type": "object", "required": ["model_version", "count", "fire_count", "predictions"],
            "properties": {
                "model_version": {"type": "string"},
                "count": {"type": "integer"},
                "fire_count": {"type": "integer"},
                "predictions": {"type": "array", "items": {
                    "type": "object", "required": ["index", "class", "fire", "probability"],
                    "properties": {"index": {"type": "integer"}, "class": {"type": "string", "enum": ["fire", "no_fire"]},
                        "fire": {"type": "boolean"}, "probability": {"type": "number"}}}}
            }
        },
        "Health": {
            "type": "object", "required": ["status", "reasons", "subsystems"],
            "properties": {
                "status": {"type": "string", "enum": ["ok", "degraded", "failed"]},
                "reasons": {"type": "array", "items": {"type": "string"}},
                "subsystems": {"type": "object", "additionalProperties": {"type": "object"}}
            }
        },
        "SensorsSchema": {
            "type": "object", "required": ["channels", "room_sensors", "max_batch"],
            "properties": {
                "channels": {"type": "array", "items": {"type": "object", "properties": {
                    "key": {"type": "string"}, "csv_name": {"type": "string"}, "unit": {"type": "string"},
                    "min": {"type": "number"}, "max": {"type": "number"}}}},
                "room_sensors": {"type": "array", "items": {"type": "object", "properties": {
                    "kind": {"type": "string"}, "binary": {"type": "boolean"},
                    "min": {"type": "number"}, "max": {"type": "number"}}}},
                "max_batch": {"type": "integer"},
                "body_limit_bytes": {"type": "integer"},
                "batch_body_limit_bytes": {"type": "integer"},
                "message_schemas": {"type": "object", "description": "JSON Schema of every accepted message shape: reading, reading_dataset_columns, room_event, room_event_smart_home"},
                "ingest": {"type": "object", "description": "The ingest routes and how a body may be framed"}
            }
        },
        "Model": {
            "type": "object", "required": ["ml_enabled", "loaded", "features", "history"],
            "properties": {
                "ml_enabled": {"type": "boolean"},
                "loaded": {"type": "boolean"},
                "version": {"type": "string", "nullable": true},
                "features": {"type": "array", "items": {"type": "string"}},
                "current": {"type": "object", "nullable": true,
                    "description": "meta.json of the served model: metrics (accuracy, precision, recall, f1, roc_auc, confusion, calibration: per tenth of the probability range lower, upper, rows, mean_predicted, observed_fire_share), feature_importances"},
                "history": {"type": "array", "items": {"type": "object", "properties": {
                    "version": {"type": "string"}, "current": {"type": "boolean"},
                    "meta": {"type": "object", "nullable": true},
                    "decision": {"type": "object", "nullable": true, "description": "promoted, rejected or candidate, and why"},
                    "problem": {"type": "string", "nullable": true}}}},
                "registry_problem": {"type": "string", "nullable": true}
            }
        },
        "Alerts": {
            "type": "object", "required": ["matched", "open_total", "alerts"],
            "properties": {
                "matched": {"type": "integer"}, "open_total": {"type": "integer"},
                "kept_at_most": {"type": "integer"},
                "rules": {"type": "array", "description": "Per rule, whatever the filter", "items": {"type": "object", "properties": {
                    "rule": {"type": "string"}, "open": {"type": "integer"},
                    "opened_today": {"type": "integer", "description": "UTC day, while the daemon ran"},
                    "opened_since_start": {"type": "integer"},
                    "judged": {"type": "integer", "description": "Resolved alerts judged against the simulator's ground truth since the daemon started (0 without a simulator)"},
                    "false_alerts": {"type": "integer", "description": "Judged alerts no incident explains"},
                    "false_positive_rate": {"type": "number", "nullable": true, "description": "false_alerts / judged; null before the first verdict"}}}},
                "alerts": {"type": "array", "items": {"type": "object", "properties": {
                    "id": {"type": "string"}, "home": {"type": "string"}, "room": {"type": "string"},
                    "device": {"type": "string", "nullable": true}, "rule": {"type": "string"},
                    "kind": {"type": "string"}, "severity": {"type": "string"},
                    "state": {"type": "string", "enum": ["open", "resolved"]},
                    "values": {"type": "object", "additionalProperties": {"type": "number"}},
                    "event_time": {"type": "integer"}, "last_event_time": {"type": "integer"},
                    "resolved_time": {"type": "integer", "nullable": true}, "repeats": {"type": "integer"}}}}
            }
        },
        "Windows": {
            "type": "object", "required": ["matched", "windows"],
            "properties": {
                "matched": {"type": "integer"}, "kept_at_most": {"type": "integer"},
                "updates": {"type": "integer", "description": "Batches of window results emitted since start"},
                "windows": {"type": "array", "items": {"type": "object", "properties": {
                    "window": {"type": "string"}, "key_kind": {"type": "string"},
                    "device": {"type": "string", "nullable": true}, "home": {"type": "string"},
                    "room": {"type": "string"}, "measure": {"type": "string"},
                    "start": {"type": "integer"}, "end": {"type": "integer"}, "count": {"type": "integer"},
                    "avg": {"type": "number"}, "min": {"type": "number"}, "max": {"type": "number"},
                    "stddev": {"type": "number"}, "last": {"type": "number"}, "is_final": {"type": "boolean"}}}}
            }
        }
    })
}
