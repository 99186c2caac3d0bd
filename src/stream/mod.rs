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

pub mod checkpoint;
mod clean;
mod config;
pub mod cow_map;
pub mod dedupe;
pub mod detect;
pub mod enrich;
pub mod fast_map;
pub mod in_flight;
pub mod intern;
pub mod message;
mod pipeline;
pub mod replay;
pub mod score;
pub mod sinks;
pub mod snapshot_encoder;
pub mod source;
pub mod stage;
pub mod stage_task;
pub mod validate;
pub mod window;

pub use crate::transport::Origin;
pub use clean::Cleaner;
pub use config::{
    AlertsConfig, CheckpointConfig, CleanConfig, DetectConfig, Direction, FaultDetectConfig,
    FeaturesConfig, KeyKind, MissingPolicy, MlDetectConfig, OutputMode, RuleConfig, Severity,
    SlidingConfig, SourceConfig, SourceKind, SpikeChannel, SpikeConfig, StreamConfig,
    ThresholdLevels, ValidateConfig, WindowConfig,
};
pub use fast_map::FastMap;
pub use pipeline::{Deps, Hooks, Scoring, StreamError, spawn, spawn_with};
