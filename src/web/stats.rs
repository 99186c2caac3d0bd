//! The web layer's own figures: exported to Prometheus through the
//! `metrics` facade and kept as plain counters for the live dashboard
//! (which must not parse its own /metrics output to show them).

use super::routes::Route;
use crate::telemetry::names;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters since the server started. Shared by every request.
#[derive(Debug, Default)]
pub struct WebStats {
    requests: AtomicU64,
    client_errors: AtomicU64,
    server_errors: AtomicU64,
    predictions: AtomicU64,
    fire_predictions: AtomicU64,
    sse_clients: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WebCounts {
    /// Requests answered since the server started, any route and status (404s too).
    pub requests_total: u64,
    /// Requests answered with a 4xx status.
    pub client_errors_total: u64,
    /// Requests answered with a 5xx status.
    pub server_errors_total: u64,
    /// Readings scored by `POST /api/predict` and `/api/predict/batch`.
    pub predictions_total: u64,
    /// Of `predictions_total`, those the model called fire.
    pub fire_predictions_total: u64,
    /// `/api/stream` clients connected now (a gauge, not a total).
    pub sse_clients: u64,
}

impl WebStats {
    /// Records one answered request under its route template.
    pub fn record_request(&self, method: &str, path: &str, status: u16, elapsed: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        match status {
            400..=499 => self.client_errors.fetch_add(1, Ordering::Relaxed),
            500..=599 => self.server_errors.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        let route = Route::matching(method, path).map_or("unmatched", Route::path);
        let method = method_label(method);
        metrics::counter!(
            names::HTTP_REQUESTS,
            "route" => route,
            "method" => method,
            "status" => status.to_string()
        )
        .increment(1);
        metrics::histogram!(names::HTTP_REQUEST_DURATION, "route" => route, "method" => method)
            .record(elapsed.as_secs_f64());
    }

    /// Records predictions served: `fire` of `total` were fire.
    pub fn record_predictions(&self, total: u64, fire: u64) {
        self.predictions.fetch_add(total, Ordering::Relaxed);
        self.fire_predictions.fetch_add(fire, Ordering::Relaxed);
        metrics::counter!(names::API_PREDICTIONS, "class" => "fire").increment(fire);
        metrics::counter!(names::API_PREDICTIONS, "class" => "no_fire").increment(total - fire);
    }

    /// An SSE client connected; the guard counts it until dropped.
    pub fn sse_client(self: &std::sync::Arc<Self>) -> SseClientGuard {
        let n = self.sse_clients.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::gauge!(names::HTTP_SSE_CLIENTS).set(n as f64);
        SseClientGuard(self.clone())
    }

    pub fn counts(&self) -> WebCounts {
        WebCounts {
            requests_total: self.requests.load(Ordering::Relaxed),
            client_errors_total: self.client_errors.load(Ordering::Relaxed),
            server_errors_total: self.server_errors.load(Ordering::Relaxed),
            predictions_total: self.predictions.load(Ordering::Relaxed),
            fire_predictions_total: self.fire_predictions.load(Ordering::Relaxed),
            sse_clients: self.sse_clients.load(Ordering::Relaxed),
        }
    }
}

/// Keeps one SSE client counted while it is connected.
#[derive(Debug)]
pub struct SseClientGuard(std::sync::Arc<WebStats>);

impl Drop for SseClientGuard {
    fn drop(&mut self) {
        let n = self.0.sse_clients.fetch_sub(1, Ordering::Relaxed) - 1;
        metrics::gauge!(names::HTTP_SSE_CLIENTS).set(n as f64);
    }
}

/// Methods as metric labels: known ones by name, anything else `other`
/// (a client can send any token as a method; labels must stay bounded).
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "HEAD" => "HEAD",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}
