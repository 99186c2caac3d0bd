//! Ingesting one file of the watched folder: hash it, look it up in the
//! ledger, read it row by row, stage the good rows as part files,
//! quarantine the bad ones, publish, record, and move the file to
//! `processed/` (or `failed/`, with a `.error.txt` beside it saying why).
//!
//! ```text
//! <incoming>/processed/   files ingested (or dropped in again: duplicates)
//! <incoming>/failed/      files refused as a whole, with <name>.error.txt
//! <incoming>/quarantine/  <name>.<hash>.quarantine.csv: the bad rows of a file
//! ```
//!
//! A file's own problems (wrong header, not Parquet, no valid row) fail
//! the file. Our problems (the store or the ledger cannot be written) are
//! an [`IngestError`]: the file stays where it is and is tried again.

use super::config::BatchConfig;
use super::ledger::{IngestState, Ledger, LedgerEntry, LedgerError};
use super::quarantine::Quarantine;
use super::source::{InputKind, Row, Source, SourceError, csv_identity};
use crate::base::durable;
use crate::schema::SmokeReading;
use crate::schema::registry::DeviceRegistry;
use crate::store::{HistoryStore, StoreError, write_parts};
use crate::telemetry::names;
use chrono::Utc;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// Sub-folders of the watched folder.
pub const PROCESSED: &str = "processed";
pub const FAILED: &str = "failed";
pub const QUARANTINE: &str = "quarantine";
/// Rows between two checks of the cancellation token.
const CANCEL_CHECK_ROWS: u64 = 4096;

/// Why a file could not be ingested for a reason that is not the file's.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("ingest of {} cancelled (shutdown); it is taken again at the next start", path.display())]
    Cancelled { path: PathBuf },
}

impl IngestError {
    /// The input file disappeared before it was read (moved away by
    /// someone else): nothing to do.
    pub fn is_vanished(&self, input: &Path) -> bool {
        matches!(self, IngestError::Io { path, source }
            if path == input && source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// What became of a file.
#[derive(Debug, Clone, PartialEq)]
pub enum IngestOutcome {
    /// Rows stored (and maybe some quarantined); moved to `processed/`.
    Ingested(LedgerEntry),
    /// Same content as a file already ingested; moved to `processed/`.
    Duplicate {
        original: LedgerEntry,
        moved_to: String,
    },
    /// Refused as a whole; moved to `failed/`.
    Failed(LedgerEntry),
}

/// Ingests files into the store, keeping the ledger.
pub struct Ingester {
    store: HistoryStore,
    ledger: Ledger,
    incoming: PathBuf,
    csv_home: String,
    csv_room: String,
    devices: DeviceRegistry,
}

/// Failure while streaming rows into the staging folder.
enum RowsError {
    File(SourceError),
    Store(StoreError),
    Quarantine(std::io::Error),
    Cancelled,
}

impl From<StoreError> for RowsError {
    fn from(e: StoreError) -> Self {
        RowsError::Store(e)
    }
}

impl Ingester {
    /// Opens the ledger and finishes what a crash interrupted (see
    /// [`super::ledger`]).
    pub fn open(config: &BatchConfig, devices: DeviceRegistry) -> Result<Ingester, IngestError> {
        let mut ingester = Ingester {
            store: HistoryStore::new(&config.store_dir),
            ledger: Ledger::open(&ledger_path(config))?,
            incoming: config.incoming_dir.clone(),
            csv_home: config.csv_home.clone(),
            csv_room: config.csv_room.clone(),
            devices,
        };
        ingester.recover()?;
        Ok(ingester)
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn recover(&mut self) -> Result<(), IngestError> {
        let interrupted: Vec<LedgerEntry> = self
            .ledger
            .entries()
            .filter(|e| e.state == IngestState::Publishing)
            .cloned()
            .collect();
        for mut entry in interrupted {
            let staging = self.store.staging_dir(&staging_id(&entry.hash));
            self.store.publish(&staging, &entry.parts)?;
            tracing::info!(file = %entry.file_name, "finished publishing interrupted ingest");
            entry.state = IngestState::Ingested;
            entry.finished_at = Some(Utc::now());
            self.ledger.record(entry)?;
        }
        // Whatever else is staged never reached `publishing`.
        self.store.discard_staging("ingest-")?;
        Ok(())
    }

    /// Ingests `path` (a file directly in the watched folder).
    pub fn ingest(
        &mut self,
        path: &Path,
        cancel: &CancellationToken,
    ) -> Result<IngestOutcome, IngestError> {
        let io = |source| IngestError::Io {
            path: path.to_path_buf(),
            source,
        };
        let name = file_name(path);
        let (hash, bytes) = hash_file(path).map_err(io)?;
        if let Some(original) = self
            .ledger
            .get(&hash)
            .filter(|e| e.state == IngestState::Ingested)
        {
            let original = original.clone();
            let moved_to = self.move_to(path, PROCESSED, &hash)?;
            tracing::info!(
                file = %name,
                "already ingested as {} on {}; moved to {moved_to} without storing it again",
                original.file_name,
                original.finished_at.unwrap_or(original.started_at)
            );
            metrics::counter!(names::BATCH_FILES, "outcome" => "duplicate").increment(1);
            return Ok(IngestOutcome::Duplicate { original, moved_to });
        }
        let mut entry = LedgerEntry::started(&hash, &name, bytes);
        let Some(kind) = InputKind::of(path) else {
            return self.fail(path, entry, "not a .csv or .parquet file".to_string());
        };
        if bytes == 0 {
            return self.fail(
                path,
                entry,
                "the file is empty (0 bytes): no header, no rows".to_string(),
            );
        }
        let staging_id = staging_id(&hash);
        let staging = self.store.staging_dir(&staging_id);
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(|source| IngestError::Io {
                path: staging.clone(),
                source,
            })?;
        }
        let identity = csv_identity(path, &self.csv_home, &self.csv_room, &self.devices);
        if kind == InputKind::Csv {
            entry.device = Some(identity.0.to_string());
        }
        self.ledger.record(entry.clone())?;
        let source = match Source::open(path, kind, identity) {
            Ok(source) => source,
            Err(e) => return self.fail(path, entry, e.to_string()),
        };
        let quarantine_dir = self.incoming.join(QUARANTINE);
        let mut quarantine =
            Quarantine::new(&quarantine_dir).map_err(|source| IngestError::Io {
                path: quarantine_dir.clone(),
                source,
            })?;
        let written = stage_rows(
            &staging,
            &staging_id,
            source,
            &mut quarantine,
            &mut entry,
            cancel,
        );
        let parts = match written {
            Ok(parts) => parts,
            Err(e) => {
                quarantine.discard();
                let _ = std::fs::remove_dir_all(&staging);
                return match e {
                    RowsError::File(e) => self.fail(path, entry, e.to_string()),
                    RowsError::Store(e) => Err(e.into()),
                    RowsError::Quarantine(source) => Err(IngestError::Io {
                        path: quarantine_dir,
                        source,
                    }),
                    RowsError::Cancelled => Err(IngestError::Cancelled {
                        path: path.to_path_buf(),
                    }),
                };
            }
        };
        entry.rows_quarantined = quarantine.count();
        entry.quarantined_by_reason = quarantine.by_reason().clone();
        let quarantine_name = format!("{name}.{}.quarantine.csv", &hash[..12]);
        let quarantine_path = quarantine_dir.join(&quarantine_name);
        if quarantine
            .finish(path, kind, &quarantine_path)
            .map_err(|source| IngestError::Io {
                path: quarantine_path.clone(),
                source,
            })?
        {
            entry.quarantine_file = Some(format!("{QUARANTINE}/{quarantine_name}"));
        }
        for (reason, n) in &entry.quarantined_by_reason {
            metrics::counter!(names::BATCH_QUARANTINED_ROWS, "reason" => reason.clone())
                .increment(*n);
        }
        if entry.rows_stored == 0 && entry.rows_quarantined > 0 {
            let _ = std::fs::remove_dir_all(&staging);
            let reason = format!(
                "no valid row: all {} data rows quarantined (see {})",
                entry.rows_quarantined,
                entry
                    .quarantine_file
                    .as_deref()
                    .unwrap_or("the quarantine folder")
            );
            return self.fail(path, entry, reason);
        }
        entry.parts = parts;
        entry.state = IngestState::Publishing;
        self.ledger.record(entry.clone())?;
        self.store.publish(&staging, &entry.parts)?;
        entry.state = IngestState::Ingested;
        entry.finished_at = Some(Utc::now());
        entry.moved_to = Some(self.target(path, PROCESSED, &hash));
        self.ledger.record(entry.clone())?;
        self.move_to(path, PROCESSED, &hash)?;
        metrics::counter!(names::BATCH_FILES, "outcome" => "ingested").increment(1);
        metrics::counter!(names::BATCH_ROWS_STORED, "source" => "file")
            .increment(entry.rows_stored);
        tracing::info!(
            file = %name,
            "ingested: {} rows stored in {} part files, {} quarantined",
            entry.rows_stored,
            entry.parts.len(),
            entry.rows_quarantined
        );
        Ok(IngestOutcome::Ingested(entry))
    }

    /// Records the file as failed and moves it to `failed/` with the reason.
    fn fail(
        &mut self,
        path: &Path,
        mut entry: LedgerEntry,
        reason: String,
    ) -> Result<IngestOutcome, IngestError> {
        tracing::warn!(file = %entry.file_name, "refused: {reason}");
        let moved_to = self.target(path, FAILED, &entry.hash);
        let note = self.incoming.join(format!("{moved_to}.error.txt"));
        durable::write(&note, format!("{reason}\n").as_bytes()).map_err(|source| {
            IngestError::Io {
                path: note.clone(),
                source,
            }
        })?;
        entry.state = IngestState::Failed;
        entry.finished_at = Some(Utc::now());
        entry.error = Some(reason);
        entry.moved_to = Some(moved_to);
        self.ledger.record(entry.clone())?;
        self.move_to(path, FAILED, &entry.hash)?;
        metrics::counter!(names::BATCH_FILES, "outcome" => "failed").increment(1);
        Ok(IngestOutcome::Failed(entry))
    }

    /// `folder/<name>`, or `folder/<stem>.<hash>.<ext>` when that is taken;
    /// relative to the watched folder.
    fn target(&self, path: &Path, folder: &str, hash: &str) -> String {
        let name = file_name(path);
        let plain = format!("{folder}/{name}");
        if !self.incoming.join(&plain).exists() {
            return plain;
        }
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        match path.extension() {
            Some(ext) => format!("{folder}/{stem}.{}.{}", &hash[..12], ext.to_string_lossy()),
            None => format!("{folder}/{stem}.{}", &hash[..12]),
        }
    }

    fn move_to(&self, path: &Path, folder: &str, hash: &str) -> Result<String, IngestError> {
        let relative = self.target(path, folder, hash);
        let to = self.incoming.join(&relative);
        durable::rename(path, &to).map_err(|source| IngestError::Io { path: to, source })?;
        Ok(relative)
    }
}

/// Streams the source's rows: good ones into part files under `staging`,
/// bad ones into the quarantine log; counts into `entry`.
fn stage_rows(
    staging: &Path,
    prefix: &str,
    mut source: Source,
    quarantine: &mut Quarantine,
    entry: &mut LedgerEntry,
    cancel: &CancellationToken,
) -> Result<Vec<String>, RowsError> {
    let rows = std::iter::from_fn(|| {
        loop {
            if entry.rows_read.is_multiple_of(CANCEL_CHECK_ROWS) && cancel.is_cancelled() {
                return Some(Err(RowsError::Cancelled));
            }
            match source.next()? {
                Err(e) => return Some(Err(RowsError::File(e))),
                Ok(Row::Good(reading)) => {
                    entry.rows_read += 1;
                    entry.rows_stored += 1;
                    entry.labelled_rows += u64::from(reading.fire_alarm.is_some());
                    return Some(Ok::<SmokeReading, RowsError>(reading));
                }
                Ok(Row::Bad(bad)) => {
                    entry.rows_read += 1;
                    if let Err(e) = quarantine.add(&bad) {
                        return Some(Err(RowsError::Quarantine(e)));
                    }
                }
            }
        }
    });
    let parts = write_parts(staging, prefix, rows)?;
    Ok(parts.into_iter().map(|p| p.relative).collect())
}

/// The ledger's place.
pub fn ledger_path(config: &BatchConfig) -> PathBuf {
    config.state_dir.join("ledger.json")
}

/// Staging folder and part-name prefix of a file's ingest.
fn staging_id(hash: &str) -> String {
    format!("ingest-{}", &hash[..16])
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// SHA-256 (hex) and size of a file's content.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), bytes))
}
