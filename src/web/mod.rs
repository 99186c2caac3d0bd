//! The HTTP face of the daemon (warp): `/health` for load balancers and
//! Docker, `/metrics` for Prometheus; the dashboard and JSON API build on
//! the same [`AppState`].

mod config;

pub use config::WebConfig;

use crate::daemon::Shared;
use crate::supervisor::{Overall, TaskContext, TaskReport, TaskResult};
use warp::Filter;
use warp::http::StatusCode;

/// Everything the web layer reads: the daemon's shared handles.
pub type AppState = Shared;

/// All routes of the server.
pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl warp::Reply,), Error = std::convert::Infallible> + Clone {
    let with_state = warp::any().map(move || state.clone());
    let health = warp::path("health")
        .or(warp::path!("api" / "health"))
        .unify()
        .and(warp::path::end())
        .and(warp::get())
        .and(with_state.clone())
        .map(|state: AppState| health_reply(&state));
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_state)
        .map(|state: AppState| metrics_reply(&state));
    health.or(metrics).recover(handle_rejection)
}

/// 200 with every subsystem's state; 503 when any task has failed.
fn health_reply(state: &AppState) -> warp::reply::Response {
    let report = state.health.report();
    let status = if report.status == Overall::Failed {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    warp::reply::with_status(warp::reply::json(&report), status).into_response()
}

fn metrics_reply(state: &AppState) -> warp::reply::Response {
    match &state.metrics {
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

use warp::Reply as _;

/// Turns warp's rejections into JSON errors (never an HTML page or a 500).
async fn handle_rejection(
    rejection: warp::Rejection,
) -> Result<warp::reply::Response, std::convert::Infallible> {
    let (status, message) = if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "no such route".to_string())
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed on this route".to_string(),
        )
    } else {
        (StatusCode::BAD_REQUEST, format!("{rejection:?}"))
    };
    let body = serde_json::json!({ "error": message });
    Ok(warp::reply::with_status(warp::reply::json(&body), status).into_response())
}

/// Service task: serves on an already bound listener (bound by the daemon
/// at start, so a busy port fails the start instead of a restart loop).
pub async fn serve(
    ctx: TaskContext,
    listener: std::io::Result<std::net::TcpListener>,
    state: AppState,
) -> TaskResult {
    let listener = tokio::net::TcpListener::from_std(listener?)?;
    let addr = listener.local_addr()?;
    ctx.health.running();
    let shutdown = ctx.shutdown.clone();
    warp::serve(routes(state))
        .incoming(listener)
        .graceful(async move { shutdown.cancelled().await })
        .run()
        .await;
    Ok(TaskReport::new(format!("web server on {addr} closed")))
}
