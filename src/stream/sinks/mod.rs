//! Where the stream's results leave the pipeline: part files (CSV,
//! Parquet, JSON lines) published with checkpoints, Kafka topics, and the
//! in-memory rings the web UI reads ([`LiveViews`]).

mod config;
pub mod encode;
pub mod files;
pub mod live;
pub mod live_gauges;
pub mod records;
pub mod stage;
pub mod store_sink;
pub mod writer;

pub use config::{DeadLetterConfig, SinksConfig};
pub use live::{DeadLetterNote, LiveViews, RoomState, RuleSummary};
pub use records::{
    Alert, AlertChange, AlertEvent, AlertKind, AlertState, DeadLetter, MIN_DEAD_LETTER_BYTES,
    Measure, PayloadLimit, WindowName, WindowResult, derived_id,
};
