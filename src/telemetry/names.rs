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

// --- stream (src/stream, src/sinks, src/checkpoint) ---

/// Counter of records a stream stage processed (label: stage).
pub const STREAM_RECORDS: &str = "smokewatch_stream_records_total";
/// Histogram of the time a stage spent on one batch (label: stage).
pub const STAGE_LATENCY: &str = "smokewatch_stage_latency_seconds";
/// Histogram of the time from the source handing a batch over to the sinks finishing it.
pub const END_TO_END_LATENCY: &str = "smokewatch_end_to_end_latency_seconds";
/// Counter of records refused by the stream (label: reason).
pub const DEAD_LETTERS: &str = "smokewatch_dead_letters_total";
/// Counter of records that arrived after every window they belong to closed.
pub const LATE_EVENTS: &str = "smokewatch_late_events_total";
/// Counter of window results emitted (labels: kind = device/room/room_sensor, window).
pub const WINDOW_RESULTS: &str = "smokewatch_window_results_total";
/// Counter of alert changes (labels: kind, severity, change).
pub const ANOMALIES: &str = "smokewatch_anomalies_total";
/// Gauge of alerts currently open.
pub const OPEN_ALERTS: &str = "smokewatch_open_alerts";
/// Counter of readings that went through the whole stream (label: source).
pub const READINGS_PROCESSED: &str = "smokewatch_readings_processed_total";
/// Counter of readings left unscored (label: reason, e.g. no_model).
pub const SCORING_SKIPPED: &str = "smokewatch_scoring_skipped_total";
/// Counter of channel quality flags raised by cleaning (label: flag).
pub const QUALITY_FLAGS: &str = "smokewatch_quality_flags_total";
/// Gauge of the stream's event-time watermark, seconds since the epoch.
pub const WATERMARK: &str = "smokewatch_watermark_seconds";
/// Counter of checkpoints (label: outcome = written/failed).
pub const CHECKPOINTS: &str = "smokewatch_checkpoints_total";
/// Histogram of the time to write a checkpoint.
pub const CHECKPOINT_DURATION: &str = "smokewatch_checkpoint_duration_seconds";
/// Gauge of the size of the latest checkpoint.
pub const CHECKPOINT_SIZE: &str = "smokewatch_checkpoint_size_bytes";
/// Counter of part files published by the file sinks (label: sink).
pub const SINK_FILES: &str = "smokewatch_sink_files_total";
/// Counter of readings put on the readings topic (label: source), every
/// message counted, faulty ones included.
pub const READINGS_PRODUCED: &str = "smokewatch_readings_produced_total";
/// Counter of room-sensor events put on the room-events topic (label: source).
pub const ROOM_EVENTS_PRODUCED: &str = "smokewatch_room_events_produced_total";
/// Counter of faults the simulator injected (label: kind).
pub const SIMULATOR_FAULTS: &str = "smokewatch_simulator_faults_total";
/// Counter of scenarios the simulator started (label: kind).
pub const SIMULATOR_SCENARIOS: &str = "smokewatch_simulator_scenarios_total";
/// Gauge of simulated event time, seconds since the Unix epoch.
pub const SIMULATOR_EVENT_TIME: &str = "smokewatch_simulator_event_time_seconds";
/// Info gauge, 1 for the model currently served, 0 for models it replaced
/// (labels: version, kind).
pub const MODEL_INFO: &str = "smokewatch_model_info";
/// Counter of fire predictions served (label: class = fire | no_fire).
pub const PREDICTIONS_TOTAL: &str = "smokewatch_predictions_total";
/// Histogram of the time one served prediction takes.
pub const INFERENCE_LATENCY_SECONDS: &str = "smokewatch_inference_latency_seconds";
/// Counter of retrained models made current.
pub const MODEL_PROMOTIONS_TOTAL: &str = "smokewatch_model_promotions_total";
/// Counter of retrained models rejected by the champion/challenger rule.
pub const MODEL_REJECTIONS_TOTAL: &str = "smokewatch_model_rejections_total";
/// Histogram of the time training and evaluating a model takes (label: kind).
pub const MODEL_TRAINING_DURATION_SECONDS: &str = "smokewatch_model_training_duration_seconds";
/// Counter of registry loads refused (corrupt or incompatible model files).
pub const MODEL_LOAD_FAILURES_TOTAL: &str = "smokewatch_model_load_failures_total";

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
