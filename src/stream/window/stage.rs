//! The windows operator as a pipeline stage: late records become dead
//! letters with the watermark they missed, and the watermark is published.

use super::Windows;
use crate::stream::checkpoint::{CheckpointError, StateSnapshot, StoredPart};
use crate::stream::message::{Batch, ChunkedResults, SourceProgress};
use crate::stream::sinks::{DeadLetter, PayloadLimit};
use crate::stream::stage::Stage;
use crate::telemetry::names;
use std::time::Instant;

pub struct WindowsStage {
    pub windows: Windows,
    /// How much of a late record its dead letter keeps.
    pub payload_limit: PayloadLimit,
}

impl WindowsStage {
    pub fn new(windows: Windows, payload_limit: PayloadLimit) -> Self {
        Self {
            windows,
            payload_limit,
        }
    }

    fn publish_watermark(&self) {
        let wm = self.windows.watermark();
        if wm > i64::MIN && wm < i64::MAX {
            metrics::gauge!(names::WATERMARK).set(wm as f64 / 1000.0);
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
        let limit = self.payload_limit;
        let windows = &mut self.windows;
        let dead = &mut batch.dead_letters;
        let mut results = ChunkedResults {
            ahead: &mut batch.results_ahead,
            current: &mut batch.window_results,
        };
        let before = windows.late;
        batch.items.retain(|item| {
            if windows.add(item, &mut results) {
                return true;
            }
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
            false
        });
        let late = windows.late - before;
        if late > 0 {
            metrics::counter!(names::LATE_EVENTS).increment(late);
        }
        windows.advance(&mut results);
        self.publish_watermark();
    }
    fn progress(&mut self, progress: &SourceProgress) -> Option<Batch> {
        let mut batch = Batch::new(Instant::now());
        self.windows.sync(progress, &mut chunked(&mut batch));
        self.publish_watermark();
        (!batch.window_results.is_empty()).then_some(batch)
    }
    fn trigger(&mut self) -> Option<Batch> {
        let mut batch = Batch::new(Instant::now());
        self.windows.trigger(&mut chunked(&mut batch));
        (!batch.window_results.is_empty()).then_some(batch)
    }
    fn end_of_input(&mut self) -> Option<Batch> {
        let mut batch = Batch::new(Instant::now());
        self.windows.finish(&mut chunked(&mut batch));
        (!batch.window_results.is_empty()).then_some(batch)
    }
    fn snapshot(&self) -> Option<Box<dyn StateSnapshot>> {
        Some(Box::new(self.windows.clone()))
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
