//! The historical store: every reading kept, as Parquet in the one
//! readings schema ([`crate::schema::parquet`]), Hive-partitioned by UTC day:
//!
//! ```text
//! <batch.store_dir>/date=2024-03-01/ingest-<hash>-00000.parquet   (watched folder)
//! <batch.store_dir>/date=2024-03-01/stream-<hash>-00000.parquet   (stream appends)
//! <batch.store_dir>/_staging/…                                    (not yet published)
//! ```
//!
//! Spark, Trino, DuckDB and pyarrow read the directory as one table with a
//! `date` partition column; they skip `_staging` and `.`-prefixed files.
//!
//! Writes are two-phase: part files are written in `_staging/<id>/`, then
//! renamed into their partitions (atomic per file on one file system) and
//! the directories fsynced. Part names are derived from the content
//! (ingested file's hash, appended readings' identities), so publishing
//! the same data again replaces files instead of duplicating rows.

pub mod parts;

use crate::base::durable;
use crate::schema::SmokeReading;
use crate::schema::parquet::{ParquetError, ReadingsReader};
use crate::telemetry::names;
use chrono::NaiveDate;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parts::{DayBatcher, PartError, PartWriter, WrittenPart, day_of};
use sha2::{Digest, Sha256};
use std::borrow::Borrow;
use std::path::{Path, PathBuf};

/// Folder of not-yet-published part files.
pub const STAGING: &str = "_staging";

/// Why the store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("store file {}: {source}", path.display())]
    Parquet { path: PathBuf, source: ParquetError },
    #[error(transparent)]
    Part(#[from] PartError),
    #[error("reading at {time} (device {device}, seq {seq}) is outside the calendar range")]
    Unpartitionable {
        device: String,
        seq: u64,
        time: crate::schema::EventTime,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One published part file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreFile {
    /// `date=2024-03-01/ingest-….parquet`: the file's identity.
    pub relative: String,
    pub day: NaiveDate,
    pub path: PathBuf,
    pub bytes: u64,
}

/// What an append wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendReport {
    pub rows: u64,
    pub files: Vec<String>,
}

/// The Parquet history under `batch.store_dir`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HistoryStore {
    root: PathBuf,
}

impl HistoryStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a write with this id stages its part files.
    pub fn staging_dir(&self, id: &str) -> PathBuf {
        self.root.join(STAGING).join(id)
    }

    /// Appends readings (e.g. the stream's cleaned readings), one part
    /// file per day. Blocking file I/O: call it from `spawn_blocking` in
    /// async code. Appending the same readings again (a replay after a
    /// crash) replaces the same files: part names derive from the
    /// readings' (device, seq, event time).
    pub fn append(&self, readings: &[SmokeReading]) -> Result<AppendReport, StoreError> {
        if readings.is_empty() {
            return Ok(AppendReport {
                rows: 0,
                files: Vec::new(),
            });
        }
        let mut hash = Sha256::new();
        for r in readings {
            hash.update(r.device_id.as_str().as_bytes());
            hash.update([0]);
            hash.update(r.seq.to_le_bytes());
            hash.update(r.event_time.millis().to_le_bytes());
        }
        let id = format!("stream-{}", &hex::encode(hash.finalize())[..16]);
        let staging = self.staging_dir(&id);
        let result = (|| {
            let parts = write_parts(&staging, &id, readings.iter().map(Ok::<_, StoreError>))?;
            let names: Vec<String> = parts.into_iter().map(|p| p.relative).collect();
            self.publish(&staging, &names)?;
            Ok(names)
        })();
        let parts = match result {
            Ok(parts) => parts,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(e);
            }
        };
        metrics::counter!(names::BATCH_ROWS_STORED, "source" => "stream")
            .increment(readings.len() as u64);
        Ok(AppendReport {
            rows: readings.len() as u64,
            files: parts,
        })
    }

    /// Moves staged part files into their partitions (replacing files of
    /// the same name), makes the renames durable and removes the staging
    /// folder. Idempotent: a part already moved is skipped, so a publish
    /// cut short by a crash can simply be repeated.
    pub fn publish(&self, staging: &Path, parts: &[String]) -> Result<(), StoreError> {
        let mut folders = std::collections::BTreeSet::new();
        for part in parts {
            let from = staging.join(part);
            let to = self.root.join(part);
            if !from.exists() && to.exists() {
                continue;
            }
            if let Some(folder) = to.parent() {
                std::fs::create_dir_all(folder).map_err(io(folder))?;
                folders.insert(folder.to_path_buf());
            }
            std::fs::rename(&from, &to).map_err(io(&to))?;
        }
        for folder in folders {
            durable::sync_dir(&folder).map_err(io(&folder))?;
        }
        if staging.exists() {
            std::fs::remove_dir_all(staging).map_err(io(staging))?;
        }
        Ok(())
    }

    /// Removes staging folders whose id starts with `prefix` (writes that
    /// never published: their data is replayed or re-ingested).
    pub fn discard_staging(&self, prefix: &str) -> Result<usize, StoreError> {
        let dir = self.root.join(STAGING);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(0);
        };
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(io(&dir))?;
            if entry.file_name().to_string_lossy().starts_with(prefix) {
                std::fs::remove_dir_all(entry.path()).map_err(io(&entry.path()))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Every published part file, by day then name. Hidden files
    /// (temporaries) and folders other than `date=YYYY-MM-DD` are skipped.
    pub fn files(&self) -> Result<Vec<StoreFile>, StoreError> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io(&self.root)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io(&self.root))?;
            let folder = entry.file_name().to_string_lossy().into_owned();
            let Some(day) = folder
                .strip_prefix("date=")
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            else {
                continue;
            };
            let path = entry.path();
            for file in std::fs::read_dir(&path).map_err(io(&path))? {
                let file = file.map_err(io(&path))?;
                let name = file.file_name().to_string_lossy().into_owned();
                if durable::is_hidden(&name) || !name.ends_with(".parquet") {
                    continue;
                }
                let meta = file.metadata().map_err(io(&file.path()))?;
                out.push(StoreFile {
                    relative: format!("{folder}/{name}"),
                    day,
                    path: file.path(),
                    bytes: meta.len(),
                });
            }
        }
        out.sort_by(|a, b| (a.day, &a.relative).cmp(&(b.day, &b.relative)));
        Ok(out)
    }

    /// The readings of one part file, a record batch at a time.
    pub fn read(&self, file: &StoreFile) -> Result<StoreReader, StoreError> {
        let reader = ReadingsReader::open(&file.path).map_err(|source| StoreError::Parquet {
            path: file.path.clone(),
            source,
        })?;
        Ok(StoreReader {
            path: file.path.clone(),
            reader,
        })
    }

    /// Every reading of `files`, in file order (the whole of them in
    /// memory: for training sets and checks, not for the job's scans).
    pub fn read_all(&self, files: &[StoreFile]) -> Result<Vec<SmokeReading>, StoreError> {
        let mut readings = Vec::new();
        for file in files {
            for batch in self.read(file)? {
                readings.extend(batch?);
            }
        }
        Ok(readings)
    }

    /// Rows of a part file, from its footer (no data is read).
    pub fn row_count(&self, file: &StoreFile) -> Result<u64, StoreError> {
        let handle = std::fs::File::open(&file.path).map_err(io(&file.path))?;
        let reader = SerializedFileReader::new(handle).map_err(|e| StoreError::Parquet {
            path: file.path.clone(),
            source: e.into(),
        })?;
        Ok(u64::try_from(reader.metadata().file_metadata().num_rows()).unwrap_or(0))
    }
}

/// Batches of readings of one part file; errors name the file.
pub struct StoreReader {
    path: PathBuf,
    reader: ReadingsReader,
}

impl Iterator for StoreReader {
    type Item = Result<Vec<SmokeReading>, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = self.reader.next()?;
        Some(batch.map_err(|source| StoreError::Parquet {
            path: self.path.clone(),
            source,
        }))
    }
}

/// Writes readings (in any order) as part files `<prefix>-NNNNN.parquet`
/// in day folders under `dir`, parsing on this thread and encoding on
/// another (bounded channel of two batches, so memory stays bounded).
/// The iterator's errors stop the write and are returned.
pub fn write_parts<R, E>(
    dir: &Path,
    prefix: &str,
    readings: impl Iterator<Item = Result<R, E>>,
) -> Result<Vec<WrittenPart>, E>
where
    R: Borrow<SmokeReading>,
    E: From<StoreError>,
{
    let (tx, rx) = std::sync::mpsc::sync_channel::<(NaiveDate, arrow::array::RecordBatch)>(2);
    std::thread::scope(|scope| {
        let encoder = scope.spawn(move || -> Result<Vec<WrittenPart>, StoreError> {
            let mut writer = PartWriter::new(dir, prefix);
            for (day, batch) in rx {
                writer.write(day, &batch)?;
            }
            Ok(writer.finish()?)
        });
        let fed = feed(readings, &tx);
        drop(tx);
        let written = match encoder.join() {
            Ok(result) => result,
            Err(_) => Err(StoreError::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::other("the Parquet encoder thread panicked"),
            }),
        };
        fed?;
        Ok(written?)
    })
}

fn feed<R: Borrow<SmokeReading>, E: From<StoreError>>(
    readings: impl Iterator<Item = Result<R, E>>,
    tx: &std::sync::mpsc::SyncSender<(NaiveDate, arrow::array::RecordBatch)>,
) -> Result<(), E> {
    let parquet = |source| StoreError::Parquet {
        path: PathBuf::from("(record batch)"),
        source,
    };
    let mut batcher = DayBatcher::new();
    for reading in readings {
        let reading = reading?;
        let reading = reading.borrow();
        let Some(day) = day_of(reading.event_time) else {
            return Err(StoreError::Unpartitionable {
                device: reading.device_id.to_string(),
                seq: reading.seq,
                time: reading.event_time,
            }
            .into());
        };
        for full in batcher.push(day, reading).map_err(parquet)? {
            // A closed channel means the encoder failed; its error wins.
            if tx.send(full).is_err() {
                return Ok(());
            }
        }
    }
    for rest in batcher.finish().map_err(parquet)? {
        if tx.send(rest).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(device: &str, seq: u64, ms: i64) -> SmokeReading {
        SmokeReading {
            cnt: Some(seq),
            fire_alarm: Some(seq.is_multiple_of(2)),
            ..crate::schema::test_reading(device, seq, ms)
        }
    }

    fn all_rows(store: &HistoryStore) -> Vec<SmokeReading> {
        let mut out = Vec::new();
        for file in store.files().unwrap() {
            for batch in store.read(&file).unwrap() {
                out.extend(batch.unwrap());
            }
        }
        out
    }

    #[test]
    fn append_partitions_by_day_and_a_replayed_append_does_not_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let store = HistoryStore::new(dir.path());
        let day = 86_400_000;
        let readings = vec![
            reading("a", 1, 19_800 * day + 5),
            reading("a", 2, 19_801 * day + 5),
            reading("b", 1, 19_800 * day + 9),
        ];
        let report = store.append(&readings).unwrap();
        assert_eq!(report.rows, 3);
        assert_eq!(report.files.len(), 2);
        assert!(report.files[0].starts_with("date=2024-03-18/stream-"));
        store.append(&readings).unwrap();
        let files = store.files().unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(store.row_count(&files[0]).unwrap(), 2);
        let mut back = all_rows(&store);
        back.sort_by_key(|r| (r.device_id.clone(), r.seq));
        let mut expected = readings.clone();
        expected.sort_by_key(|r| (r.device_id.clone(), r.seq));
        assert_eq!(back, expected);
        assert!(!store.root().join(STAGING).join("x").exists());
    }

    #[test]
    fn files_skip_staging_temporaries_and_foreign_folders() {
        let dir = tempfile::tempdir().unwrap();
        let store = HistoryStore::new(dir.path());
        store.append(&[reading("a", 1, 1_700_000_000_000)]).unwrap();
        let day = dir.path().join("date=2023-11-14");
        std::fs::write(day.join(".x.parquet.tmp-1"), b"partial").unwrap();
        std::fs::create_dir_all(dir.path().join("_staging/ingest-1/date=2023-11-14")).unwrap();
        std::fs::create_dir_all(dir.path().join("notes")).unwrap();
        let files = store.files().unwrap();
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(store.discard_staging("ingest-").unwrap(), 1);
    }

    #[test]
    fn a_reading_outside_the_calendar_is_refused_and_nothing_is_published() {
        let dir = tempfile::tempdir().unwrap();
        let store = HistoryStore::new(dir.path());
        let err = store
            .append(&[reading("a", 1, 5), reading("a", 2, i64::MAX)])
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Unpartitionable { seq: 2, .. }),
            "{err}"
        );
        assert!(store.files().unwrap().is_empty());
    }
}
