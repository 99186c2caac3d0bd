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

// Transport (src/transport). The `topic` label is the logical stream
// (readings, room_events, alerts, window_results, dead_letters), the same
// whatever `kafka.topics` names the Kafka topics.

/// Counter of records the transport stored: acknowledged by Kafka, or
/// appended to the embedded log (label: topic).
pub const TRANSPORT_RECORDS_SENT: &str = "smokewatch_transport_records_sent_total";
/// Counter of key + value bytes of those records (label: topic).
pub const TRANSPORT_SENT_BYTES: &str = "smokewatch_transport_sent_bytes_total";
/// Counter of records handed to consumers (label: topic).
pub const TRANSPORT_RECORDS_CONSUMED: &str = "smokewatch_transport_records_consumed_total";
/// Counter of key + value bytes of those records (label: topic).
pub const TRANSPORT_CONSUMED_BYTES: &str = "smokewatch_transport_consumed_bytes_total";
/// Counter of records that could not be sent after every retry (labels:
/// topic, reason). Each one is also logged with its key.
pub const TRANSPORT_SEND_FAILURES: &str = "smokewatch_transport_send_failures_total";
/// Counter of produce requests retried after a retriable error (label: topic).
pub const TRANSPORT_SEND_RETRIES: &str = "smokewatch_transport_send_retries_total";
/// Histogram of produce request latency, batch sent to acknowledgement.
pub const TRANSPORT_PRODUCE_SECONDS: &str = "smokewatch_transport_produce_request_seconds";
/// Gauge of records the Kafka producer holds (queued, batching, in flight).
pub const TRANSPORT_PRODUCER_QUEUED: &str = "smokewatch_transport_producer_queued_records";
/// Gauge, 1 while the Kafka cluster is reachable and requests succeed.
pub const TRANSPORT_BROKER_UP: &str = "smokewatch_transport_broker_up";
/// Gauge of partitions a topic lacks compared with `kafka.partitions`
/// (label: topic); anything above 0 needs an operator.
pub const TRANSPORT_TOPIC_PARTITIONS_MISSING: &str =
    "smokewatch_transport_topic_partitions_missing";
/// Counter of failed fetch requests, retried with backoff (label: topic).
pub const CONSUMER_FETCH_ERRORS: &str = "smokewatch_consumer_fetch_errors_total";
/// Gauge of records between a partition's consumer position and its high
/// watermark (labels: topic, partition).
pub const CONSUMER_LAG: &str = "smokewatch_consumer_lag";
/// Counter of positions moved to the earliest retained offset because the
/// records they pointed at were gone (labels: topic, partition).
pub const CONSUMER_OFFSET_RESETS: &str = "smokewatch_consumer_offset_resets_total";
