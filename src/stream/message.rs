//! What travels between the stream's stages.
//!
//! Records move in batches ([`Batch`], one `Vec` per channel message) so a
//! channel hop costs the same for 1 or 1000 records. Besides data, the
//! channels carry control messages in order with the data, as Flink's
//! operators do: [`Msg::Barrier`] (take a snapshot now: everything before
//! it is in the snapshot, nothing after it), [`Msg::Trigger`] (update-mode
//! window output) and [`Msg::EndOfInput`] (a bounded source is exhausted).

use crate::features::FeatureSpec;
use crate::ml::FireModel;
use crate::schema::{CHANNEL_COUNT, EventTime, RoomEvent, SmokeReading};
use crate::stream::checkpoint::CheckpointId;
use crate::stream::sinks::{AlertEvent, DeadLetter, WindowResult};
pub use crate::transport::Origin;
use crate::transport::{ConsumedRecord, TopicPartition};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// Data-quality flags of a reading, one bit per channel (bit = channel index).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quality {
    /// Channels missing after cleaning.
    pub missing: u16,
    /// Channels filled with the last good value.
    pub filled: u16,
    /// Channels whose value has not changed for `clean.stuck_after`.
    pub stuck: u16,
    /// Channels whose slow mean moved beyond `clean.drift_limits`.
    pub drift: u16,
    /// Channels whose value was physically impossible (outside the
    /// channel's range): dropped from the reading, which goes on with the
    /// other channels; the device-fault detector watches these.
    pub invalid: u16,
}

impl Quality {
    /// Channels whose value the detectors must not believe: impossible,
    /// stuck or drifting (thresholds, spikes and rules all leave them out).
    pub fn untrusted(&self) -> u16 {
        self.invalid | self.stuck | self.drift
    }
}

/// Per-channel numbers the detectors read, computed by the features stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signals {
    /// Change per second since the previous reading (NaN: unknown).
    pub delta: [f64; CHANNEL_COUNT],
    /// z-score at `detect.spike.span` (NaN: unknown).
    pub z: [f64; CHANNEL_COUNT],
    /// Value minus the EW mean at `detect.spike.span`, in channel units
    /// (NaN: unknown): the spike detector's minimum change is checked on it.
    pub dev: [f64; CHANNEL_COUNT],
}

impl Default for Signals {
    fn default() -> Self {
        Self {
            delta: [f64::NAN; CHANNEL_COUNT],
            z: [f64::NAN; CHANNEL_COUNT],
            dev: [f64::NAN; CHANNEL_COUNT],
        }
    }
}

/// Most distinct features the detector's rules may read (computed per
/// reading and carried in [`ReadingRecord::rule_features`]).
pub const MAX_RULE_FEATURES: usize = 8;

/// A validated smoke reading and what the stages add to it.
#[derive(Debug, Clone)]
pub struct ReadingRecord {
    pub origin: Origin,
    /// The bytes as received, for a dead letter further down.
    pub raw: Bytes,
    pub reading: SmokeReading,
    pub quality: Quality,
    pub signals: Signals,
    /// Values of the features the rules read (`Detector::rule_features`), NaN when unknown.
    pub rule_features: [f64; MAX_RULE_FEATURES],
    /// Row of this reading in [`Batch::vectors`] (when a model is served).
    pub vector_row: Option<u32>,
    /// Fire probability from the served model.
    pub fire_probability: Option<f64>,
}

/// A validated room event.
#[derive(Debug, Clone)]
pub struct RoomEventRecord {
    pub origin: Origin,
    pub raw: Bytes,
    pub event: RoomEvent,
}

/// One record in stream order.
#[derive(Debug, Clone)]
pub enum Item {
    Reading(Box<ReadingRecord>),
    RoomEvent(Box<RoomEventRecord>),
}

impl Item {
    pub fn event_time(&self) -> EventTime {
        match self {
            Item::Reading(r) => r.reading.event_time,
            Item::RoomEvent(e) => e.event.event_time,
        }
    }

    pub fn origin(&self) -> Origin {
        match self {
            Item::Reading(r) => r.origin,
            Item::RoomEvent(e) => e.origin,
        }
    }

    pub fn raw(&self) -> &Bytes {
        match self {
            Item::Reading(r) => &r.raw,
            Item::RoomEvent(e) => &e.raw,
        }
    }
}

/// Model feature vectors of a batch, row-major, for the score stage.
#[derive(Clone, Default)]
pub struct Vectors {
    /// The model the vectors were computed for (the one that scores them).
    pub model: Option<Arc<Box<dyn FireModel>>>,
    /// Its feature spec's length.
    pub width: usize,
    pub values: Vec<f64>,
}

impl Vectors {
    pub fn row(&self, row: u32) -> &[f64] {
        let start = row as usize * self.width;
        self.values.get(start..start + self.width).unwrap_or(&[])
    }

    pub fn spec(&self) -> Option<&FeatureSpec> {
        self.model.as_ref().map(|m| m.feature_spec())
    }
}

impl std::fmt::Debug for Vectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vectors")
            .field("model", &self.model.as_ref().map(|m| m.version().clone()))
            .field("rows", &self.values.len().checked_div(self.width))
            .finish()
    }
}

/// Most window results one message carries; a window boundary of a large
/// fleet emits millions, sent on in messages of this size.
pub const MAX_RESULTS_PER_MESSAGE: usize = 8192;

/// Records and results travelling together down the pipeline.
#[derive(Debug)]
pub struct Batch {
    /// Raw records from the source, before validation.
    pub input: Vec<ConsumedRecord>,
    /// Valid records in stream order; stages remove the ones they reject.
    pub items: Vec<Item>,
    /// Rejected records, with their reasons.
    pub dead_letters: Vec<DeadLetter>,
    /// Window results emitted while processing this batch.
    pub window_results: Vec<WindowResult>,
    /// Full chunks of [`MAX_RESULTS_PER_MESSAGE`] results emitted before
    /// `window_results`, each sent on as a message of its own ahead of the
    /// batch (see [`ChunkedResults`]).
    pub results_ahead: Vec<Vec<WindowResult>>,
    /// Alert events raised while processing this batch.
    pub alerts: Vec<AlertEvent>,
    pub vectors: Vectors,
    /// When the source handed the batch over (for end-to-end latency).
    pub received: Instant,
    /// Records the source handed over in this batch (0 for batches a stage
    /// emits itself); the sinks give them back to the in-flight bound.
    pub source_records: u64,
}

impl Batch {
    pub fn new(received: Instant) -> Self {
        Self {
            input: Vec::new(),
            items: Vec::new(),
            dead_letters: Vec::new(),
            window_results: Vec::new(),
            results_ahead: Vec::new(),
            alerts: Vec::new(),
            vectors: Vectors::default(),
            received,
            source_records: 0,
        }
    }

    /// Whether a stage's control-message output holds window results (the
    /// only output those messages make).
    pub fn has_results(&self) -> bool {
        !self.window_results.is_empty() || !self.results_ahead.is_empty()
    }
}

/// Writes window results into a batch in chunks of
/// [`MAX_RESULTS_PER_MESSAGE`]: full chunks move to
/// [`Batch::results_ahead`], the last one stays in
/// [`Batch::window_results`].
///
/// Why: a window boundary of a 100 000-device fleet emits over a million
/// results at once. Pushed into one vector, they cost the vector's doubling
/// slack and then a second copy when split into messages (about a gigabyte
/// at the boundary); in chunks they are allocated once, at their size.
pub struct ChunkedResults<'a> {
    pub ahead: &'a mut Vec<Vec<WindowResult>>,
    pub current: &'a mut Vec<WindowResult>,
}

impl ChunkedResults<'_> {
    pub fn push(&mut self, result: WindowResult) {
        if self.current.len() >= MAX_RESULTS_PER_MESSAGE {
            let full = std::mem::replace(self.current, Vec::with_capacity(MAX_RESULTS_PER_MESSAGE));
            self.ahead.push(full);
        }
        self.current.push(result);
    }
}

/// A stage's state inside a barrier, by stage name: being encoded since
/// the stage took it.
pub type StatePart = (&'static str, crate::stream::snapshot_encoder::PartEncoding);

/// "Snapshot now": the source's read positions plus each stage's state,
/// collected as the barrier passes.
pub struct Barrier {
    pub id: CheckpointId,
    pub positions: BTreeMap<TopicPartition, i64>,
    pub parts: Vec<StatePart>,
    /// The last barrier (shutdown or end of input): sinks flush everything.
    pub is_final: bool,
}

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Barrier")
            .field("id", &self.id)
            .field("positions", &self.positions)
            .field("parts", &self.parts.iter().map(|p| p.0).collect::<Vec<_>>())
            .field("is_final", &self.is_final)
            .finish()
    }
}

/// The source's partitions and whether each has caught up with its log's
/// end. Sent before the first batch, whenever it changes, and on a timer, so
/// the windows stage knows every partition from the start (one that has not
/// delivered yet holds the watermark back), can tell a partition with a
/// backlog (never idle) from one with nothing left to read, and re-evaluates
/// idleness without waiting for the next record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceProgress {
    /// Every assigned partition with its "caught up" flag; `None` when the
    /// source cannot tell (a replay file, Kafka before the cluster
    /// answered): partitions are then known as they deliver.
    pub partitions: Option<BTreeMap<TopicPartition, bool>>,
}

/// A message between two stages.
#[derive(Debug)]
pub enum Msg {
    Data(Batch),
    /// The source's partitions and their progress (for the watermark).
    Progress(SourceProgress),
    /// Update-mode trigger (processing time), emitted by the source.
    Trigger,
    /// Take a snapshot.
    Barrier(Barrier),
    /// The (bounded) input is exhausted: close every window.
    EndOfInput,
}
