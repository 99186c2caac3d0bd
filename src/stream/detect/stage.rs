//! The detector as a pipeline stage: alerts for every record, and the
//! web's room view refreshed a few times a second.

use super::Detector;
use crate::stream::checkpoint::{CheckpointError, StateSnapshot, StoredPart};
use crate::stream::message::{Batch, SourceProgress};
use crate::stream::sinks::LiveViews;
use crate::stream::stage::Stage;
use crate::telemetry::names;
use std::time::Instant;

pub struct DetectStage {
    pub detector: Detector,
    pub live: LiveViews,
    /// When the web's room view was last updated (at most every
    /// [`ROOM_VIEW_EVERY`]: it is for people, not worth a lock per batch).
    pub rooms_published: Instant,
}

/// How often the detect stage refreshes the web's room view.
pub const ROOM_VIEW_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

impl Stage for DetectStage {
    fn name(&self) -> &'static str {
        "detect"
    }
    fn process(&mut self, batch: &mut Batch) {
        let now_ms = chrono::Utc::now().timestamp_millis();
        for item in &batch.items {
            self.detector.process(item, now_ms, &mut batch.alerts);
        }
        if self.rooms_published.elapsed() >= ROOM_VIEW_EVERY {
            self.rooms_published = Instant::now();
            let rooms = self.detector.take_changed_rooms();
            self.live.update_rooms(&rooms);
        }
        metrics::gauge!(names::OPEN_ALERTS).set(self.detector.open_alerts() as f64);
    }
    fn progress(&mut self, progress: &SourceProgress, _out: &mut Batch) {
        self.detector.source_progress(progress);
    }
    fn snapshot(&mut self) -> Option<Box<dyn StateSnapshot>> {
        Some(Box::new(self.detector.checkpoint_snapshot()))
    }
    fn restore(&mut self, part: StoredPart<'_>) -> Result<(), CheckpointError> {
        self.detector.restore(part.decode()?);
        self.live
            .restore_open_alerts(self.detector.open_alert_list());
        self.live.update_rooms(self.detector.rooms());
        Ok(())
    }
    fn report(&self) -> String {
        format!("{} alerts open", self.detector.open_alerts())
    }
}
