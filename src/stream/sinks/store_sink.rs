//! The history store as a sink (`batch.stream_append`): the stream's
//! cleaned readings become Parquet parts of the batch layer's store
//! ([`HistoryStore`]), published with the checkpoints like the other part
//! files ([`super::files`]), so the scheduled job, its KPIs and retraining
//! see what the daemon saw.
//!
//! Two-phase, keyed by checkpoint id:
//!
//! 1. *stage*: readings handed to the writer for checkpoint N are written
//!    as `<store>/_staging/checkpoint-N/date=…/stream-<hash>-NNNNN.parquet`
//!    (a bounded number of rows per call, so memory stays bounded);
//! 2. *publish*: once checkpoint N is durable, every staging folder up to
//!    N is renamed into the store's `date=…/` partitions.
//!
//! On start ([`StoreSink::recover`]) staging folders of checkpoints that
//! were written are published (the crash came between the checkpoint and
//! the renames) and the others deleted (their readings are replayed from
//! the checkpoint's positions). So each reading the stream accepted is
//! stored exactly once across crashes; part names derive from the
//! readings, so a publish repeated after a crash replaces, never doubles.

use crate::schema::SmokeReading;
use crate::store::parts::day_of;
use crate::store::{HistoryStore, STAGING, StoreError, write_parts};
use crate::stream::checkpoint::CheckpointId;
use crate::telemetry::names;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Staging folders of this sink are `checkpoint-<id>`; the watched
/// folder's are `ingest-<hash>`, so neither discards the other's.
const PREFIX: &str = "checkpoint-";

/// Why readings could not be staged or published in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreSinkError {
    #[error("history store (batch.stream_append): {0}")]
    Store(#[from] StoreError),
    #[error("history store staging {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreSinkError + '_ {
    move |source| StoreSinkError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The stream's side of the history store. Cheap to clone (the writer
/// context is cloned at every restart of the sinks stage).
#[derive(Debug, Clone)]
pub struct StoreSink {
    store: HistoryStore,
    /// Rows staged per checkpoint not yet published, for the stored-rows
    /// counter (after a restart the staged folders' rows are not counted).
    staged_rows: Arc<Mutex<BTreeMap<CheckpointId, u64>>>,
}

impl StoreSink {
    pub fn new(store: HistoryStore) -> Self {
        Self {
            store,
            staged_rows: Arc::default(),
        }
    }

    fn staging(&self, id: CheckpointId) -> PathBuf {
        self.store.staging_dir(&format!("{PREFIX}{}", id.0))
    }

    /// Writes `readings` as parts staged for checkpoint `id`. Readings
    /// whose time has no calendar day (cannot be partitioned) are left
    /// out with a warning rather than stopping the stream. Returns the
    /// rows staged.
    pub fn stage(
        &self,
        id: CheckpointId,
        readings: &[SmokeReading],
    ) -> Result<u64, StoreSinkError> {
        let (storable, outside): (Vec<&SmokeReading>, Vec<&SmokeReading>) = readings
            .iter()
            .partition(|r| day_of(r.event_time).is_some());
        if !outside.is_empty() {
            tracing::warn!(
                count = outside.len(),
                "readings with a time outside the calendar are not stored in the history"
            );
        }
        if storable.is_empty() {
            return Ok(0);
        }
        let mut hash = Sha256::new();
        for r in &storable {
            hash.update(r.device_id.as_str().as_bytes());
            hash.update([0]);
            hash.update(r.seq.to_le_bytes());
            hash.update(r.event_time.millis().to_le_bytes());
        }
        let prefix = format!("stream-{}", &hex::encode(hash.finalize())[..16]);
        let staging = self.staging(id);
        write_parts(
            &staging,
            &prefix,
            storable.iter().map(|r| Ok::<_, StoreError>(*r)),
        )?;
        let rows = storable.len() as u64;
        let mut staged = self.staged_rows.lock().unwrap_or_else(|p| p.into_inner());
        *staged.entry(id).or_default() += rows;
        Ok(rows)
    }

    /// Publishes what checkpoints up to `id` staged (an earlier one may
    /// have failed after staging). Returns the part files published.
    pub fn publish_upto(&self, id: CheckpointId) -> Result<usize, StoreSinkError> {
        let mut files = 0;
        for staged in self.staged_ids()? {
            if staged <= id {
                files += self.publish(staged)?;
            }
        }
        Ok(files)
    }

    fn publish(&self, id: CheckpointId) -> Result<usize, StoreSinkError> {
        let staging = self.staging(id);
        let mut parts = Vec::new();
        collect_parts(&staging, &staging, &mut parts).map_err(io(&staging))?;
        self.store.publish(&staging, &parts)?;
        let rows = {
            let mut staged = self.staged_rows.lock().unwrap_or_else(|p| p.into_inner());
            staged.remove(&id).unwrap_or(0)
        };
        metrics::counter!(names::BATCH_ROWS_STORED, "source" => "stream").increment(rows);
        Ok(parts.len())
    }

    fn staged_ids(&self) -> Result<Vec<CheckpointId>, StoreSinkError> {
        let root = self.store.root().join(STAGING);
        super::files::staged_checkpoint_ids(&root, PREFIX).map_err(io(&root))
    }

    /// After a restart from checkpoint `last` (or none): publishes what
    /// checkpoints up to `last` staged, deletes what later ones staged.
    /// Returns (part files published, staging folders discarded).
    pub fn recover(&self, last: Option<CheckpointId>) -> Result<(usize, usize), StoreSinkError> {
        let (mut published, mut discarded) = (0, 0);
        for id in self.staged_ids()? {
            if last.is_some_and(|last| id <= last) {
                published += self.publish(id)?;
            } else {
                let dir = self.staging(id);
                std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
                discarded += 1;
            }
        }
        Ok((published, discarded))
    }
}

/// Finished part files under `dir`, relative to `root` with `/`
/// separators (`date=2024-03-01/stream-….parquet`); temporaries skipped.
fn collect_parts(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            collect_parts(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "parquet")
            && let Ok(relative) = path.strip_prefix(root)
        {
            let parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
    out.sort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(device: &str, seq: u64, ms: i64) -> SmokeReading {
        SmokeReading {
            cnt: Some(seq),
            ..crate::schema::test_reading(device, seq, ms)
        }
    }

    fn stored(store: &HistoryStore) -> Vec<(String, u64)> {
        let files = store.files().unwrap();
        let mut out: Vec<(String, u64)> = store
            .read_all(&files)
            .unwrap()
            .into_iter()
            .map(|r| (r.device_id.to_string(), r.seq))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn staged_readings_are_stored_only_once_their_checkpoint_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = HistoryStore::new(dir.path());
        let sink = StoreSink::new(store.clone());
        let day = 86_400_000;
        // Checkpoint 1: two flushes, two days. Checkpoint 2: one flush.
        sink.stage(
            CheckpointId(1),
            &[reading("a", 1, 19_800 * day), reading("b", 1, 19_801 * day)],
        )
        .unwrap();
        sink.stage(CheckpointId(1), &[reading("a", 2, 19_800 * day + 1)])
            .unwrap();
        sink.stage(CheckpointId(2), &[reading("a", 3, 19_800 * day + 2)])
            .unwrap();
        assert!(
            stored(&store).is_empty(),
            "nothing visible before a checkpoint"
        );

        // A crash after checkpoint 1 was written, before its publish.
        let restarted = StoreSink::new(store.clone());
        assert_eq!(restarted.recover(Some(CheckpointId(1))).unwrap(), (3, 1));
        let want = |v: &[(&str, u64)]| -> Vec<(String, u64)> {
            v.iter().map(|(d, s)| (d.to_string(), *s)).collect()
        };
        assert_eq!(stored(&store), want(&[("a", 1), ("a", 2), ("b", 1)]));
        assert!(
            !sink.staging(CheckpointId(2)).exists(),
            "checkpoint 2 was never written"
        );

        // Checkpoint 2 replayed after the restart: stored once.
        restarted
            .stage(CheckpointId(2), &[reading("a", 3, 19_800 * day + 2)])
            .unwrap();
        assert_eq!(restarted.publish_upto(CheckpointId(2)).unwrap(), 1);
        assert_eq!(restarted.recover(Some(CheckpointId(2))).unwrap(), (0, 0));
        assert_eq!(
            stored(&store),
            want(&[("a", 1), ("a", 2), ("a", 3), ("b", 1)])
        );
    }
}
