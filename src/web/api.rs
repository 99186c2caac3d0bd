//! JSON endpoints under `/api` (and the `/health`, `/metrics` probes).
//! Each handler checks its input completely before touching the model, so
//! a bad request is a 4xx even while no model is loaded.

use super::App;
use super::errors::{ApiError, FieldError};
use super::model_view::ModelView;
use super::predict::{self, MAX_BATCH, PredictionOut, ReadingInput};
use crate::schema::{Channel, RoomSensorKind};
use crate::supervisor::Overall;
use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};
use warp::Reply;
use warp::http::StatusCode;
use warp::reply::Response;

/// Most field errors listed in one answer (a 10 000-reading batch of
/// garbage must not produce a 10 MB error body).
const MAX_FIELD_ERRORS: usize = 100;

/// 200 with every subsystem's state; 503 when any task has failed.
pub fn health(app: &App) -> Response {
    let report = app.deps.health.report();
    let status = if report.status == Overall::Failed {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    warp::reply::with_status(warp::reply::json(&report), status).into_response()
}

/// Prometheus text exposition.
pub fn metrics(app: &App) -> Response {
    match &app.deps.metrics {
        Some(handle) => warp::reply::with_header(
            handle.render(),
            "content-type",
            "text/plain; version=0.0.4; charset=utf-8",
        )
        .into_response(),
        None => warp::reply::with_status(
            "metrics are disabled (telemetry.enabled: false)\n",
            StatusCode::NOT_FOUND,
        )
        .into_response(),
    }
}

/// Channels with units and physical ranges; room sensor kinds; limits.
pub fn sensors_schema() -> Response {
    let channels: Vec<Value> = Channel::ALL
        .into_iter()
        .map(|c| {
            json!({
                "key": c.key(),
                "csv_name": c.csv_name(),
                "unit": c.unit(),
                "min": c.physical_range().start(),
                "max": c.physical_range().end(),
            })
        })
        .collect();
    let room_sensors: Vec<Value> = RoomSensorKind::ALL
        .into_iter()
        .map(|k| {
            json!({
                "kind": k.key(),
                "binary": k.is_binary(),
                "min": k.physical_range().start(),
                "max": k.physical_range().end(),
            })
        })
        .collect();
    warp::reply::json(&json!({
        "channels": channels,
        "room_sensors": room_sensors,
        "max_batch": MAX_BATCH,
        "body_limit_bytes": super::body::BODY_LIMIT,
        "batch_body_limit_bytes": BATCH_BODY_LIMIT,
        "message_schemas": super::shapes::message_schemas(),
        "ingest": {
            "readings": "/api/ingest/readings",
            "room_events": "/api/ingest/room-events",
            "framing": "one JSON object, a JSON array, or NDJSON (application/x-ndjson)",
        },
    }))
    .into_response()
}

/// Body limit of `POST /api/predict/batch`: 10 000 readings with 12
/// channels at full float precision take about 4 MB, so the batch route
/// gets 8 MiB instead of the 1 MiB of every other route.
pub const BATCH_BODY_LIMIT: u64 = 8 * 1024 * 1024;

/// `POST /api/predict`.
pub async fn predict(body: Bytes, app: App) -> Response {
    respond(predict_one(&body, &app))
}

fn predict_one(body: &[u8], app: &App) -> Result<Response, ApiError> {
    let value = super::body::parse_json(body)?;
    let mut errors = Vec::new();
    let reading = predict::parse_reading(&value, "", false, &mut errors);
    let reading = match reading {
        Some(r) if errors.is_empty() => r,
        _ => return Err(ApiError::Invalid(errors)),
    };
    let model = app.deps.model.current().ok_or_else(|| no_model(app))?;
    let prediction = predict::score_one(model.as_ref().as_ref(), &reading.values);
    app.stats.record_predictions(1, u64::from(prediction.fire));
    Ok(warp::reply::json(&PredictionOut::from(prediction)).into_response())
}

#[derive(Serialize)]
struct BatchOut {
    model_version: String,
    count: usize,
    fire_count: usize,
    predictions: Vec<IndexedPrediction>,
}

#[derive(Serialize)]
struct IndexedPrediction {
    index: usize,
    class: &'static str,
    fire: bool,
    probability: f64,
}

/// Why there is no model to predict with: not trained yet, or never
/// (ML switched off; a model can still be put in the handle by hand).
fn no_model(app: &App) -> ApiError {
    if app.deps.sections.ml_enabled {
        ApiError::NoModel
    } else {
        ApiError::MlOff
    }
}

/// `POST /api/predict/batch`: `{"readings": [...]}`.
pub async fn predict_batch(body: Bytes, app: App) -> Response {
    let readings = match parse_batch(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let Some(model) = app.deps.model.current() else {
        return no_model(&app).into_response();
    };
    let scored = tokio::task::spawn_blocking(move || {
        let predictions = predict::score_batch(model.as_ref().as_ref(), &readings);
        (model.version().to_string(), predictions)
    })
    .await;
    let (version, predictions) = match scored {
        Ok(v) => v,
        Err(e) => return ApiError::Internal(format!("scoring task: {e}")).into_response(),
    };
    let fire_count = predictions.iter().filter(|p| p.fire).count();
    app.stats
        .record_predictions(predictions.len() as u64, fire_count as u64);
    let out = BatchOut {
        model_version: version,
        count: predictions.len(),
        fire_count,
        predictions: predictions
            .into_iter()
            .enumerate()
            .map(|(index, p)| IndexedPrediction {
                index,
                class: if p.fire { "fire" } else { "no_fire" },
                fire: p.fire,
                probability: p.probability,
            })
            .collect(),
    };
    warp::reply::json(&out).into_response()
}

fn parse_batch(body: &[u8]) -> Result<Vec<ReadingInput>, ApiError> {
    let value = super::body::parse_json(body)?;
    let Some(object) = value.as_object() else {
        return Err(invalid(
            "$",
            format!(
                "the body must be an object {{\"readings\": [...]}}, not {}",
                predict::kind(&value)
            ),
        ));
    };
    if let Some(key) = object.keys().find(|k| *k != "readings") {
        return Err(invalid(
            key,
            format!("unknown field `{key}`; the body is {{\"readings\": [...]}}"),
        ));
    }
    let items = match object.get("readings") {
        Some(Value::Array(items)) => items,
        None => {
            return Err(invalid(
                "readings",
                "readings is required: an array of readings",
            ));
        }
        Some(other) => {
            return Err(invalid(
                "readings",
                format!("readings must be an array, not {}", predict::kind(other)),
            ));
        }
    };
    if items.len() > MAX_BATCH {
        return Err(ApiError::BatchTooLarge {
            count: items.len(),
            max: MAX_BATCH,
        });
    }
    if items.is_empty() {
        return Err(invalid(
            "readings",
            "readings must hold at least one reading",
        ));
    }
    let mut errors = Vec::new();
    let mut readings = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Some(r) = predict::parse_reading(item, &format!("readings[{i}]"), true, &mut errors)
        {
            readings.push(r);
        }
        if errors.len() >= MAX_FIELD_ERRORS {
            break;
        }
    }
    if errors.is_empty() {
        Ok(readings)
    } else {
        errors.truncate(MAX_FIELD_ERRORS);
        Err(ApiError::Invalid(errors))
    }
}

fn invalid(field: &str, error: impl Into<String>) -> ApiError {
    ApiError::Invalid(vec![FieldError::new(field, error)])
}

/// `GET /api/model`: the model served now, its evaluation and the
/// registry's history (the Model page shows the same [`ModelView`]).
pub async fn model(app: App) -> Response {
    warp::reply::json(&ModelView::load(&app.deps).await).into_response()
}

fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(ApiError::into_response)
}
