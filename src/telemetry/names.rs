//! Every metric name smokewatch exports, in one place, so the Grafana
//! dashboard and the Prometheus rules can be checked against them.
//!
//! Prometheus conventions: `smokewatch_` prefix, base units (`_seconds`,
//! `_bytes`), counters end in `_total`.
//!
//! Every name is declared once below with its type and help text; the
//! exporter describes all of them at start ([`describe_all`]), so a scrape
//! never has a metric without `# HELP`, and tests check the dashboard and
//! alert rules against [`ALL`].

/// The Prometheus type of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

/// One exported metric: name, type and help text.
#[derive(Debug, Clone, Copy)]
pub struct MetricName {
    pub name: &'static str,
    pub kind: MetricKind,
    pub help: &'static str,
}

/// Declares each metric as a `pub const` and lists it in [`ALL`].
macro_rules! metric_names {
    ($( $(#[doc = $doc:literal])+ $kind:ident $name:ident = $value:literal; )*) => {
        $( $(#[doc = $doc])+ pub const $name: &str = $value; )*

        /// Every metric smokewatch exports.
        pub const ALL: &[MetricName] = &[
            $( MetricName {
                name: $value,
                kind: MetricKind::$kind,
                help: concat!($($doc),+),
            }, )*
        ];
    };
}

/// Registers the help text (and unit) of every metric in [`ALL`] with the
/// installed recorder.
pub fn describe_all() {
    for m in ALL {
        let help = m.help.trim();
        match m.kind {
            MetricKind::Counter => metrics::describe_counter!(m.name, help),
            MetricKind::Gauge => metrics::describe_gauge!(m.name, help),
            MetricKind::Histogram if m.name.ends_with("_seconds") => {
                metrics::describe_histogram!(m.name, metrics::Unit::Seconds, help)
            }
            MetricKind::Histogram => metrics::describe_histogram!(m.name, help),
        }
    }
}

metric_names! {
    /// Gauge, 1 for the state a task is in (labels: task, state).
    Gauge TASK_STATE = "smokewatch_task_state";
    /// Counter of task failures that led to a restart (label: task).
    Counter TASK_RESTARTS = "smokewatch_task_restarts_total";
    /// Gauge of items waiting in a bounded channel (label: queue).
    Gauge QUEUE_DEPTH = "smokewatch_queue_depth";
    /// Gauge of a bounded channel's capacity (label: queue).
    Gauge QUEUE_CAPACITY = "smokewatch_queue_capacity";
    /// Info gauge, always 1 (label: version).
    Gauge BUILD_INFO = "smokewatch_build_info";
    /// Gauge of the process's resident memory (the OS's VmRSS), bytes.
    Gauge PROCESS_RESIDENT = "smokewatch_process_resident_bytes";
    /// Gauge of the allocator's memory, bytes (label kind: allocated = held
    /// by the program, active = in pages holding allocations, resident =
    /// the allocator's pages in RAM, retained = returned to the OS but
    /// kept mapped). Near 0 in a binary whose allocator is not jemalloc.
    Gauge HEAP_BYTES = "smokewatch_heap_bytes";
    /// Counter of readings put on the readings topic (label: source), every
    /// message counted, faulty ones included.
    Counter READINGS_PRODUCED = "smokewatch_readings_produced_total";
    /// Counter of room-sensor events put on the room-events topic (label: source).
    Counter ROOM_EVENTS_PRODUCED = "smokewatch_room_events_produced_total";
    /// Counter of faults the simulator injected (label: kind).
    Counter SIMULATOR_FAULTS = "smokewatch_simulator_faults_total";
    /// Counter of scenarios the simulator started (label: kind).
    Counter SIMULATOR_SCENARIOS = "smokewatch_simulator_scenarios_total";
    /// Gauge of simulated event time, seconds since the Unix epoch.
    Gauge SIMULATOR_EVENT_TIME = "smokewatch_simulator_event_time_seconds";
    /// Info gauge, 1 for the model currently served, 0 for models it replaced
    /// (labels: version, kind).
    Gauge MODEL_INFO = "smokewatch_model_info";
    /// Counter of fire predictions served (label: class = fire | no_fire).
    Counter PREDICTIONS_TOTAL = "smokewatch_predictions_total";
    /// Histogram of the time one served prediction takes.
    Histogram INFERENCE_LATENCY_SECONDS = "smokewatch_inference_latency_seconds";
    /// Counter of retrained models made current.
    Counter MODEL_PROMOTIONS_TOTAL = "smokewatch_model_promotions_total";
    /// Counter of retrained models rejected by the champion/challenger rule.
    Counter MODEL_REJECTIONS_TOTAL = "smokewatch_model_rejections_total";
    /// Histogram of the time training and evaluating a model takes (label: kind).
    Histogram MODEL_TRAINING_DURATION_SECONDS = "smokewatch_model_training_duration_seconds";
    /// Counter of registry loads refused (corrupt or incompatible model files).
    Counter MODEL_LOAD_FAILURES_TOTAL = "smokewatch_model_load_failures_total";

    // --- web ---

    /// Counter of HTTP requests answered (labels: route — the route template,
    /// `unmatched` for 404s —, method, status).
    Counter HTTP_REQUESTS = "smokewatch_http_requests_total";
    /// Histogram of the time to the response head (labels: route, method).
    Histogram HTTP_REQUEST_DURATION = "smokewatch_http_request_duration_seconds";
    /// Gauge of open Server-Sent Events connections (live dashboards).
    Gauge HTTP_SSE_CLIENTS = "smokewatch_http_sse_clients";
    /// Counter of fire predictions served by the API (label: class).
    Counter API_PREDICTIONS = "smokewatch_api_predictions_total";

    // Transport (src/transport). The `topic` label is the logical stream
    // (readings, room_events, alerts, window_results, dead_letters), the same
    // whatever `kafka.topics` names the Kafka topics.

    /// Counter of records the transport stored: acknowledged by Kafka, or
    /// appended to the embedded log (label: topic).
    Counter TRANSPORT_RECORDS_SENT = "smokewatch_transport_records_sent_total";
    /// Counter of key + value bytes of those records (label: topic).
    Counter TRANSPORT_SENT_BYTES = "smokewatch_transport_sent_bytes_total";
    /// Counter of records handed to consumers (label: topic).
    Counter TRANSPORT_RECORDS_CONSUMED = "smokewatch_transport_records_consumed_total";
    /// Counter of key + value bytes of those records (label: topic).
    Counter TRANSPORT_CONSUMED_BYTES = "smokewatch_transport_consumed_bytes_total";
    /// Counter of records that could not be sent after every retry (labels:
    /// topic, reason). Each one is also logged with its key.
    Counter TRANSPORT_SEND_FAILURES = "smokewatch_transport_send_failures_total";
    /// Counter of produce requests retried after a retriable error (label: topic).
    Counter TRANSPORT_SEND_RETRIES = "smokewatch_transport_send_retries_total";
    /// Histogram of produce request latency, batch sent to acknowledgement.
    Histogram TRANSPORT_PRODUCE_SECONDS = "smokewatch_transport_produce_request_seconds";
    /// Gauge of records the Kafka producer holds (queued, batching, in flight).
    Gauge TRANSPORT_PRODUCER_QUEUED = "smokewatch_transport_producer_queued_records";
    /// Gauge, 1 while the Kafka cluster is reachable and requests succeed.
    Gauge TRANSPORT_BROKER_UP = "smokewatch_transport_broker_up";
    /// Gauge of partitions a topic lacks compared with `kafka.partitions`
    /// (label: topic); anything above 0 needs an operator.
    Gauge TRANSPORT_TOPIC_PARTITIONS_MISSING = "smokewatch_transport_topic_partitions_missing";
    /// Counter of failed fetch requests, retried with backoff (label: topic).
    Counter CONSUMER_FETCH_ERRORS = "smokewatch_consumer_fetch_errors_total";
    /// Gauge of records between a partition's consumer position and its high
    /// watermark (labels: topic, partition).
    Gauge CONSUMER_LAG = "smokewatch_consumer_lag";
    /// Counter of positions moved to the earliest retained offset because the
    /// records they pointed at were gone (labels: topic, partition).
    Counter CONSUMER_OFFSET_RESETS = "smokewatch_consumer_offset_resets_total";

    // --- stream (src/stream, src/sinks, src/checkpoint) ---

    /// Counter of records a stream stage processed (label: stage).
    Counter STREAM_RECORDS = "smokewatch_stream_records_total";
    /// Histogram of the time a stage spent on one batch (label: stage).
    Histogram STAGE_LATENCY = "smokewatch_stage_latency_seconds";
    /// Histogram of the time from the source handing a batch over to the sinks finishing it.
    Histogram END_TO_END_LATENCY = "smokewatch_end_to_end_latency_seconds";
    /// Counter of records refused by the stream (label: reason).
    Counter DEAD_LETTERS = "smokewatch_dead_letters_total";
    /// Counter of records that arrived after every window they belong to closed.
    Counter LATE_EVENTS = "smokewatch_late_events_total";
    /// Counter of window results emitted (labels: kind = device/room/room_sensor, window).
    Counter WINDOW_RESULTS = "smokewatch_window_results_total";
    /// Counter of alert changes (labels: kind, severity, change).
    Counter ANOMALIES = "smokewatch_anomalies_total";
    /// Gauge of alerts currently open.
    Gauge OPEN_ALERTS = "smokewatch_open_alerts";
    /// Gauge of open alerts in the stream's live view, per severity (label:
    /// severity; all four are always present).
    Gauge OPEN_ALERTS_BY_SEVERITY = "smokewatch_open_alerts_by_severity";
    /// Gauge: maximum of a detector channel in a room's latest closed
    /// tumbling window (labels: home, room, channel).
    Gauge WINDOW_CHANNEL_MAX = "smokewatch_window_channel_max";
    /// Counter of readings that went through the whole stream (label: source).
    Counter READINGS_PROCESSED = "smokewatch_readings_processed_total";
    /// Counter of readings left unscored (label: reason, e.g. no_model).
    Counter SCORING_SKIPPED = "smokewatch_scoring_skipped_total";
    /// Counter of channel quality flags raised by cleaning (label: flag).
    Counter QUALITY_FLAGS = "smokewatch_quality_flags_total";
    /// Gauge of the stream's event-time watermark, seconds since the epoch.
    Gauge WATERMARK = "smokewatch_watermark_seconds";
    /// Counter of checkpoints (label: outcome = written/failed).
    Counter CHECKPOINTS = "smokewatch_checkpoints_total";
    /// Histogram of the time to write a checkpoint.
    Histogram CHECKPOINT_DURATION = "smokewatch_checkpoint_duration_seconds";
    /// Gauge of the size of the latest checkpoint.
    Gauge CHECKPOINT_SIZE = "smokewatch_checkpoint_size_bytes";
    /// Gauge of each stage's state in the latest checkpoint, encoded
    /// (label: stage): what grows with the fleet, stage by stage.
    Gauge CHECKPOINT_STATE_SIZE = "smokewatch_checkpoint_state_bytes";
    /// Counter of part files published by the file sinks (label: sink).
    Counter SINK_FILES = "smokewatch_sink_files_total";

    // --- batch (src/batch) ---

    /// Counter of files the watched folder took (label: outcome = ingested,
    /// failed or duplicate).
    Counter BATCH_FILES = "smokewatch_batch_files_total";
    /// Counter of rows written to the historical store (label: source = file or stream).
    Counter BATCH_ROWS_STORED = "smokewatch_batch_rows_stored_total";
    /// Counter of rows of ingested files put in quarantine (label: reason).
    Counter BATCH_QUARANTINED_ROWS = "smokewatch_batch_quarantined_rows_total";
    /// Counter of batch job runs (label: status = success or failed).
    Counter BATCH_RUNS = "smokewatch_batch_runs_total";
    /// Histogram of the time one batch job run takes.
    Histogram BATCH_RUN_DURATION_SECONDS = "smokewatch_batch_run_duration_seconds";
    /// Gauge: when the last successful batch run ended, seconds since the Unix epoch.
    Gauge BATCH_LAST_SUCCESS_TIMESTAMP_SECONDS = "smokewatch_batch_last_success_timestamp_seconds";
    /// Gauge: the 0-1 data-quality score of the last successful batch run's data.
    Gauge DATA_QUALITY_SCORE = "smokewatch_data_quality_score";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_follow_prometheus_conventions() {
        let mut seen = std::collections::HashSet::new();
        for m in ALL {
            assert!(seen.insert(m.name), "{} declared twice", m.name);
            assert!(m.name.starts_with("smokewatch_"), "{}", m.name);
            assert!(!m.help.trim().is_empty(), "{} has help text", m.name);
            let counter = m.kind == MetricKind::Counter;
            assert_eq!(
                counter,
                m.name.ends_with("_total"),
                "{}: counters and only counters end in _total",
                m.name
            );
        }
    }
}
