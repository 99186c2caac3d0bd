//! Real-time processing, built the way a Flink job is: event time,
//! watermarks, and state that survives a crash without double counting.
//!
//! ```text
//! consume ─► validate ─► clean ─► features ─► windows ─► score ─► detect ─► sinks
//! (Source)   decode,     fill,    deltas,     tumbling/   ML      thresholds, files, Kafka,
//!            dedupe      flag     z-scores    sliding     hook    spikes,     web rings,
//!                                                                 rules, ML   checkpoint
//! ```
//!
//! Stages are supervised tasks joined by bounded channels carrying batches.
//! The consume task injects checkpoint barriers; each stage adds its state
//! to a barrier as it passes, and the sinks stage writes the checkpoint
//! (positions + all state) atomically, publishes the part files staged
//! since the previous one, and lets the consumer commit. On start the
//! latest checkpoint is restored and reading resumes at its positions.

mod clean;
mod config;
pub mod dedupe;
pub mod detect;
pub mod enrich;
pub mod message;
mod pipeline;
pub mod replay;
pub mod score;
pub mod source;
pub mod stages;
pub mod validate;
pub mod window;

pub use clean::Cleaner;
pub use config::{
    AlertsConfig, CheckpointConfig, CleanConfig, DetectConfig, FeaturesConfig, KeyKind,
    MissingPolicy, MlDetectConfig, OutputMode, RuleConfig, Severity, SlidingConfig, SourceConfig,
    SourceKind, SpikeConfig, StreamConfig, ThresholdLevels, ValidateConfig, WindowConfig,
};
pub use message::Origin;
pub use pipeline::{Hooks, spawn, spawn_with};

/// Hash map with a fast, fixed-seed hasher: the keys are our own ids, and a
/// fixed seed keeps iteration (and so output) order the same across runs.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

/// Why the stream could not start.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    #[error("recovering the file sinks: {0}")]
    Files(#[from] crate::sinks::files::FileSinkError),
    #[error("detectors: {0}")]
    Detect(#[from] detect::DetectError),
}

/// Help texts of the stream's metrics (called when the recorder is installed).
pub fn describe_metrics() {
    use crate::telemetry::names;
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        names::STREAM_RECORDS,
        "Records a stream stage processed, by stage"
    );
    describe_histogram!(
        names::STAGE_LATENCY,
        Unit::Seconds,
        "Time a stream stage spent on one batch, by stage"
    );
    describe_histogram!(
        names::END_TO_END_LATENCY,
        Unit::Seconds,
        "Time from the consumer handing a batch over to the sinks finishing it"
    );
    describe_counter!(names::DEAD_LETTERS, "Records the stream refused, by reason");
    describe_counter!(
        names::LATE_EVENTS,
        "Records that arrived after every window they belong to closed"
    );
    describe_counter!(
        names::WINDOW_RESULTS,
        "Window results emitted, by key kind and window"
    );
    describe_counter!(
        names::ANOMALIES,
        "Alert changes, by detector kind, severity and change"
    );
    describe_gauge!(names::OPEN_ALERTS, "Alerts currently open");
    describe_counter!(
        names::READINGS_PROCESSED,
        "Readings that went through the whole stream, by source"
    );
    describe_counter!(
        names::SCORING_SKIPPED,
        "Readings left unscored, by reason (no_model)"
    );
    describe_counter!(
        names::QUALITY_FLAGS,
        "Channel quality flags raised by cleaning, by flag"
    );
    describe_gauge!(
        names::WATERMARK,
        "Event-time watermark of the stream, seconds since the epoch"
    );
    describe_counter!(
        names::CHECKPOINTS,
        "Checkpoints, by outcome (written/failed)"
    );
    describe_histogram!(
        names::CHECKPOINT_DURATION,
        Unit::Seconds,
        "Time to write a checkpoint"
    );
    describe_gauge!(
        names::CHECKPOINT_SIZE,
        Unit::Bytes,
        "Size of the latest checkpoint"
    );
    describe_counter!(names::SINK_FILES, "Part files published by the file sinks");
}
