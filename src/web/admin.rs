//! The admin endpoints (behind [`super::auth::admin`]):
//! `POST /api/model/reload` loads the registry's current version from disk
//! into the [`crate::ml::ModelHandle`] now (instead of at the ML task's next
//! `ml.reload_interval` poll); `POST /api/batch/run` asks the batch
//! scheduler for a run through [`crate::batch::BatchStatus::trigger`].
//!
//! 503 only when the subsystem is switched off or not running; a request
//! that cannot be honoured in the current state (no model in the registry,
//! a refused model file, a run already in progress) is a 409 saying why.

use super::App;
use super::errors::ApiError;
use crate::batch::{RunRefused, Trigger};
use crate::ml::Registry;
use serde_json::json;
use warp::Reply;
use warp::http::StatusCode;
use warp::reply::Response;

/// `POST /api/model/reload`.
pub async fn model_reload(app: App) -> Response {
    let deps = app.deps.clone();
    if !deps.sections.ml_enabled {
        return ApiError::Unavailable(
            "the ML subsystem is switched off (ml.enabled: false): no model registry is followed, \
             so there is nothing to reload"
                .into(),
        )
        .into_response();
    }
    let dir = deps.sections.model_dir.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        if !dir.is_dir() {
            return Ok(None);
        }
        let registry = Registry::open(&dir)?;
        let Some(version) = registry.current_version()? else {
            return Ok(None);
        };
        registry.load(&version).map(Some)
    })
    .await;
    let previous = deps.model.version().map(|v| v.to_string());
    let model = match loaded {
        Ok(Ok(Some(model))) => model,
        Ok(Ok(None)) => {
            return ApiError::Conflict(format!(
                "the model registry in {} has no current model yet; nothing was reloaded",
                deps.sections.model_dir.display()
            ))
            .into_response();
        }
        Ok(Err(e)) => {
            metrics::counter!(crate::telemetry::names::MODEL_LOAD_FAILURES_TOTAL).increment(1);
            let serving = previous
                .as_deref()
                .map_or("no model is served".to_string(), |v| {
                    format!("still serving {v}")
                });
            return ApiError::Conflict(format!("model refused: {e}; {serving}")).into_response();
        }
        Err(e) => return ApiError::Internal(format!("loading the model: {e}")).into_response(),
    };
    let version = model.meta().version.clone();
    crate::ml::publish_model_info(model.meta());
    deps.model.swap(Box::new(model));
    tracing::info!(version = %version, "model reloaded through the API");
    warp::reply::json(&json!({
        "reloaded": true,
        "version": version,
        "previous": previous,
        "changed": previous.as_deref() != Some(version.as_str()),
    }))
    .into_response()
}

/// `POST /api/batch/run`: 202 with the run id; the run goes on in the
/// batch scheduler (the Batch page and its history show the outcome).
pub fn batch_run(app: App) -> Response {
    if !app.deps.sections.batch_enabled {
        return ApiError::Unavailable(
            "the batch layer is switched off (batch.enabled: false): there is no job to run".into(),
        )
        .into_response();
    }
    match app.deps.batch.trigger(Trigger::Api) {
        Ok(ticket) => warp::reply::with_status(
            warp::reply::json(&json!({
                "started": true,
                "run_id": ticket.run_id,
                "see": "/batch",
            })),
            StatusCode::ACCEPTED,
        )
        .into_response(),
        Err(refused @ RunRefused::AlreadyRunning { .. }) => {
            ApiError::Conflict(refused.to_string()).into_response()
        }
        Err(RunRefused::Disabled) => ApiError::Unavailable(
            "the batch layer is configured but not running: it failed to start (see /health)"
                .into(),
        )
        .into_response(),
        Err(refused @ RunRefused::NotRunning) => {
            ApiError::Unavailable(refused.to_string()).into_response()
        }
    }
}
