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
/// Counter of files the watched folder took (label: outcome = ingested |
/// failed | duplicate).
pub const BATCH_FILES: &str = "smokewatch_batch_files_total";
/// Counter of rows written to the historical store (label: source = file | stream).
pub const BATCH_ROWS_STORED: &str = "smokewatch_batch_rows_stored_total";
/// Counter of rows of ingested files put in quarantine (label: reason).
pub const BATCH_QUARANTINED_ROWS: &str = "smokewatch_batch_quarantined_rows_total";
/// Counter of batch job runs (label: status = success | failed).
pub const BATCH_RUNS: &str = "smokewatch_batch_runs_total";
/// Histogram of the time one batch job run takes.
pub const BATCH_RUN_DURATION_SECONDS: &str = "smokewatch_batch_run_duration_seconds";
/// Gauge: when the last successful batch run ended, seconds since the Unix epoch.
pub const BATCH_LAST_SUCCESS_TIMESTAMP_SECONDS: &str =
    "smokewatch_batch_last_success_timestamp_seconds";
/// Gauge: the 0–1 data-quality score of the last successful batch run.
pub const DATA_QUALITY_SCORE: &str = "smokewatch_data_quality_score";
