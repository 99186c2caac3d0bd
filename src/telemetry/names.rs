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
/// Counter of ML predictions (label: class = fire/no_fire).
pub const PREDICTIONS: &str = "smokewatch_predictions_total";
/// Histogram of the inference time per reading.
pub const INFERENCE_LATENCY: &str = "smokewatch_inference_seconds";
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
