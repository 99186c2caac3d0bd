//! Where the live simulator's event time stopped, kept in the data dir so
//! a restarted daemon's fleet goes on from there.
//!
//! Why: faster than real time (`simulator.time_acceleration` > 1) the
//! simulated clock runs ahead of the wall clock. Restarting it at the wall
//! clock would send readings hours older than the stream's restored
//! watermark, and every one of them would be dead-lettered `late` until the
//! new run caught up. So the fleet starts at the later of the wall clock
//! and the stored time. A configured `simulator.start_time` wins: a fixed
//! start is asked for to repeat a run exactly.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often the running simulator stores its clock.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// The stored clock of the live simulator.
pub struct StoredClock {
    path: PathBuf,
    saved_at: Option<Instant>,
}

impl StoredClock {
    /// The clock kept under `data_dir`.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join("simulator-clock"),
            saved_at: None,
        }
    }

    /// The event time (ms since the epoch) the last run had reached, if
    /// any was stored and can be read.
    pub fn load(&self) -> Option<i64> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        match text.trim().parse() {
            Ok(ms) => Some(ms),
            Err(e) => {
                tracing::warn!(
                    "ignoring the stored simulator clock {}: {e}",
                    self.path.display()
                );
                None
            }
        }
    }

    /// Where a run begins: the configured start, else the later of `now_ms`
    /// and the stored clock.
    pub fn start_ms(&self, configured: Option<i64>, now_ms: i64) -> i64 {
        configured.unwrap_or_else(|| match self.load() {
            Some(stored) if stored > now_ms => {
                tracing::info!(
                    "simulator: event time resumes at {stored} ms, where the last run stopped \
                     ({:.0} s ahead of the clock)",
                    (stored - now_ms) as f64 / 1000.0
                );
                stored
            }
            _ => now_ms,
        })
    }

    /// Stores `event_time_ms` (at most once per second unless `force`).
    /// A failure is logged, not fatal: the fleet runs on without it.
    pub fn save(&mut self, event_time_ms: i64, force: bool) {
        if !force && self.saved_at.is_some_and(|at| at.elapsed() < SAVE_EVERY) {
            return;
        }
        self.saved_at = Some(Instant::now());
        if let Err(e) =
            crate::base::durable::write(&self.path, event_time_ms.to_string().as_bytes())
        {
            tracing::warn!(
                "cannot store the simulator clock in {}: {e}",
                self.path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_resumes_where_the_last_one_stopped_when_that_is_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let mut clock = StoredClock::in_data_dir(dir.path());
        assert_eq!(clock.start_ms(None, 1_000), 1_000, "nothing stored");
        clock.save(5_000, true);
        assert_eq!(StoredClock::in_data_dir(dir.path()).load(), Some(5_000));
        assert_eq!(clock.start_ms(None, 1_000), 5_000, "stored time is ahead");
        assert_eq!(clock.start_ms(None, 9_000), 9_000, "the clock is ahead");
        assert_eq!(clock.start_ms(Some(42), 1_000), 42, "configured start wins");
    }

    #[test]
    fn an_unreadable_clock_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("simulator-clock"), "soon").unwrap();
        let clock = StoredClock::in_data_dir(dir.path());
        assert_eq!(clock.start_ms(None, 7), 7);
    }
}
