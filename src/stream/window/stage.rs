//! The windows operator as a pipeline stage: late records become dead
//! letters with the watermark they missed, and the watermark is published.

use super::{Added, Flow, Windows};
use crate::stream::checkpoint::{CheckpointError, StateSnapshot, StoredPart};
use crate::stream::message::{Batch, ChunkedResults, SourceProgress};
use crate::stream::sinks::{DeadLetter, PayloadLimit};
use crate::stream::stage::Stage;
use crate::telemetry::names;

pub struct WindowsStage {
    pub windows: Windows,
    /// How much of a late record its dead letter keeps.
    pub payload_limit: PayloadLimit,
    /// The call that stopped on a full message of results.
    paused: Option<Paused>,
}

/// Where a paused call goes on.
#[derive(Debug, Clone, Copy)]
enum Paused {
    /// At record `next` of the batch; the records before `kept` are the
    /// ones taken so far (late ones are removed in place as the loop goes).
    Items {
        next: usize,
        kept: usize,
    },
    /// Closing windows after the batch's records.
    Advance,
    Trigger,
    EndOfInput,
}

impl WindowsStage {
    pub fn new(windows: Windows, payload_limit: PayloadLimit) -> Self {
        Self {
            windows,
            payload_limit,
            paused: None,
        }
    }

    fn publish_watermark(&self) {
        let wm = self.windows.watermark();
        if wm > i64::MIN && wm < i64::MAX {
            metrics::gauge!(names::WATERMARK).set(wm as f64 / 1000.0);
        }
    }

    /// Adds the batch's records from `next` on, dead-lettering late ones,
    /// then closes what the watermark has passed; stops (keeping its place)
    /// when a message of results is full.
    fn add_items(&mut self, batch: &mut Batch, mut next: usize, mut kept: usize) {
        let limit = self.payload_limit;
        let windows = &mut self.windows;
        let items = &mut batch.items;
        let dead = &mut batch.dead_letters;
        let mut results = ChunkedResults {
            ahead: &mut batch.results_ahead,
            current: &mut batch.window_results,
        };
        let mut late = 0u64;
        while let Some(item) = items.get(next) {
            match windows.add(item, &mut results) {
                Added::Paused => break,
                Added::Taken => {
                    items.swap(kept, next);
                    kept += 1;
                }
                Added::Late => {
                    late += 1;
                    dead.push(DeadLetter::new(
                        "late",
                        format!(
                            "event time {} is behind the watermark {}: every window it belongs to has closed",
                            item.event_time(),
                            crate::schema::EventTime(windows.watermark())
                        ),
                        item.origin(),
                        item.raw(),
                        limit,
                    ));
                }
            }
            next += 1;
        }
        if late > 0 {
            metrics::counter!(names::LATE_EVENTS).increment(late);
        }
        if next < items.len() {
            self.paused = Some(Paused::Items { next, kept });
            return;
        }
        items.truncate(kept);
        self.advance(batch);
    }

    fn advance(&mut self, batch: &mut Batch) {
        if self.windows.advance(&mut chunked(batch)) == Flow::Paused {
            self.paused = Some(Paused::Advance);
            return;
        }
        self.publish_watermark();
    }

    fn trigger_windows(&mut self, out: &mut Batch) {
        if self.windows.trigger(&mut chunked(out)) == Flow::Paused {
            self.paused = Some(Paused::Trigger);
        }
    }

    fn finish_windows(&mut self, out: &mut Batch) {
        if self.windows.finish(&mut chunked(out)) == Flow::Paused {
            self.paused = Some(Paused::EndOfInput);
        }
    }
}

/// The batch's window results, written in message-sized chunks.
fn chunked(batch: &mut Batch) -> ChunkedResults<'_> {
    ChunkedResults {
        ahead: &mut batch.results_ahead,
        current: &mut batch.window_results,
    }
}

impl Stage for WindowsStage {
    fn name(&self) -> &'static str {
        "windows"
    }
    fn process(&mut self, batch: &mut Batch) {
        self.add_items(batch, 0, 0);
    }
    fn is_paused(&self) -> bool {
        self.paused.is_some()
    }
    fn resume(&mut self, batch: &mut Batch) {
        match self.paused.take() {
            None => {}
            Some(Paused::Items { next, kept }) => self.add_items(batch, next, kept),
            Some(Paused::Advance) => self.advance(batch),
            Some(Paused::Trigger) => self.trigger_windows(batch),
            Some(Paused::EndOfInput) => self.finish_windows(batch),
        }
    }
    fn progress(&mut self, progress: &SourceProgress, out: &mut Batch) {
        if self.windows.sync(progress, &mut chunked(out)) == Flow::Paused {
            self.paused = Some(Paused::Advance);
            return;
        }
        self.publish_watermark();
    }
    fn trigger(&mut self, out: &mut Batch) {
        self.trigger_windows(out);
    }
    fn end_of_input(&mut self, out: &mut Batch) {
        self.finish_windows(out);
    }
    fn snapshot(&mut self) -> Option<Box<dyn StateSnapshot>> {
        Some(Box::new(self.windows.checkpoint_snapshot()))
    }
    fn restore(&mut self, part: StoredPart<'_>) -> Result<(), CheckpointError> {
        self.windows.restore(part.decode()?);
        Ok(())
    }
    fn report(&self) -> String {
        format!(
            "{} late, {} keys with open windows",
            self.windows.late,
            self.windows.key_count()
        )
    }
}
