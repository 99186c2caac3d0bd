//! Every metric name smokewatch exports, in one place, so the Grafana
//! dashboard and the Prometheus rules can be checked against them.
//!
//! Prometheus conventions: `smokewatch_` prefix, base units (`_seconds`,
//! `_bytes`), counters end in `_total`.

/// Gauge, 1 for the state a task is in (labels: task, state).
pub const TASK_STATE: &str = "smokewatch_task_state";
/// Counter of task failures that led to a restart (label: task).
pub const TASK_RESTARTS: &str = "smokewatch_task_restarts_total";
/// Gauge of items waiting in a bounded channel (label: queue).
pub const QUEUE_DEPTH: &str = "smokewatch_queue_depth";
/// Gauge of a bounded channel's capacity (label: queue).
pub const QUEUE_CAPACITY: &str = "smokewatch_queue_capacity";
/// Info gauge, always 1 (label: version).
pub const BUILD_INFO: &str = "smokewatch_build_info";

// --- web ---

/// Counter of HTTP requests answered (labels: route — the route template,
/// `unmatched` for 404s —, method, status).
pub const HTTP_REQUESTS: &str = "smokewatch_http_requests_total";
/// Histogram of the time to the response head (labels: route, method).
pub const HTTP_REQUEST_DURATION: &str = "smokewatch_http_request_duration_seconds";
/// Gauge of open Server-Sent Events connections (live dashboards).
pub const HTTP_SSE_CLIENTS: &str = "smokewatch_http_sse_clients";
/// Counter of fire predictions served by the API (label: class).
pub const API_PREDICTIONS: &str = "smokewatch_api_predictions_total";
