//! The one interface of the pipeline's operators. Every operator
//! (validate, clean, features, windows, score, detect) implements [`Stage`]
//! next to its own code; [`crate::stream::stage_task`] runs any of them.

use super::message::{Batch, SourceProgress};
use crate::stream::checkpoint::{CheckpointError, StateSnapshot, StoredPart};

/// One operator of the pipeline.
pub trait Stage: Send + 'static {
    /// Task and metric label, e.g. `windows`.
    fn name(&self) -> &'static str;
    fn process(&mut self, batch: &mut Batch);
    /// Update-mode trigger: results to send down go into `out`.
    fn trigger(&mut self, _out: &mut Batch) {}
    /// The source's progress (for the watermark): results to send down go
    /// into `out`.
    fn progress(&mut self, _progress: &SourceProgress, _out: &mut Batch) {}
    /// End of a bounded input: results to send down go into `out`.
    fn end_of_input(&mut self, _out: &mut Batch) {}
    /// Whether the last call stopped early with a full message of results
    /// in its batch's `results_ahead`. The task sends those on, then calls
    /// [`Stage::resume`] with the same batch, until the stage is done: a
    /// window boundary of a large fleet emits millions of rows, which are
    /// then made as the next stage takes them, never all at once.
    fn is_paused(&self) -> bool {
        false
    }
    /// Goes on with the call that paused, into the same batch.
    fn resume(&mut self, _batch: &mut Batch) {}
    /// A copy of the state a checkpoint keeps (`None`: stateless), encoded
    /// later by the checkpoint writer. It must be cheap: the stage holds
    /// its records while taking it. Mutable because keyed state
    /// ([`crate::stream::cow_map::CowMap`]) remembers its snapshots, to
    /// encode a value for them before changing it.
    fn snapshot(&mut self) -> Option<Box<dyn StateSnapshot>> {
        None
    }
    /// Restores the state from a checkpoint part.
    fn restore(&mut self, _part: StoredPart<'_>) -> Result<(), CheckpointError> {
        Ok(())
    }
    /// What it did, for the shutdown report.
    fn report(&self) -> String {
        String::new()
    }
}
