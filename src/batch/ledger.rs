//! The ingest ledger: one entry per input file, keyed by the SHA-256 of
//! its content, so a file is never ingested twice — whatever its name,
//! however often it is dropped in, across restarts.
//!
//! An ingest moves an entry through `started` → `publishing` (its part
//! files are staged and listed) → `ingested`. After a crash:
//! `started` means nothing was published (the staging is discarded and the
//! file, still in the folder, is ingested again); `publishing` means the
//! listed parts are moved into the store (idempotent) and the entry
//! completed. Only `ingested` entries make a file a duplicate; a `failed`
//! file may be dropped in again (e.g. after a disk-full error).
//!
//! The ledger is one JSON file (`<batch.state_dir>/ledger.json`), replaced
//! atomically on every change. A ledger that cannot be parsed stops the
//! watcher instead of being reset: starting over would ingest every file
//! again.

use crate::base::durable;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Version of the ledger file's format.
const LEDGER_VERSION: u32 = 1;

/// Why the ledger could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ingest ledger {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "ingest ledger {} is unreadable ({reason}); fix or move it away (every file would be ingested again without it)",
        path.display()
    )]
    Corrupt { path: PathBuf, reason: String },
}

/// Where an input file is in its ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestState {
    Started,
    Publishing,
    Ingested,
    Failed,
}

/// What happened to one input file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// SHA-256 of the content, hex.
    pub hash: String,
    /// The name it had in the watched folder.
    pub file_name: String,
    pub bytes: u64,
    pub state: IngestState,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The device a CSV file's rows were given.
    pub device: Option<String>,
    /// Data rows read (good and bad).
    pub rows_read: u64,
    pub rows_stored: u64,
    /// Stored rows with a `Fire Alarm` label.
    pub labelled_rows: u64,
    pub rows_quarantined: u64,
    pub quarantined_by_reason: BTreeMap<String, u64>,
    /// Part files in the store (relative to its root).
    pub parts: Vec<String>,
    /// Quarantine file, relative to the watched folder.
    pub quarantine_file: Option<String>,
    /// Where the input file was moved, relative to the watched folder.
    pub moved_to: Option<String>,
    /// Why the file failed.
    pub error: Option<String>,
}

impl LedgerEntry {
    pub fn started(hash: &str, file_name: &str, bytes: u64) -> LedgerEntry {
        LedgerEntry {
            hash: hash.to_string(),
            file_name: file_name.to_string(),
            bytes,
            state: IngestState::Started,
            started_at: Utc::now(),
            finished_at: None,
            device: None,
            rows_read: 0,
            rows_stored: 0,
            labelled_rows: 0,
            rows_quarantined: 0,
            quarantined_by_reason: BTreeMap::new(),
            parts: Vec::new(),
            quarantine_file: None,
            moved_to: None,
            error: None,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct LedgerFile {
    version: u32,
    files: Vec<LedgerEntry>,
}

/// The ledger, loaded in memory and saved on every change.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    entries: BTreeMap<String, LedgerEntry>,
}

impl Ledger {
    /// Loads `path`; a missing file is an empty ledger.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Ledger {
                    path: path.to_path_buf(),
                    entries: BTreeMap::new(),
                });
            }
            Err(source) => {
                return Err(LedgerError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let corrupt = |reason: String| LedgerError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let file: LedgerFile = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
        if file.version != LEDGER_VERSION {
            return Err(corrupt(format!(
                "format version {} (this build reads {LEDGER_VERSION})",
                file.version
            )));
        }
        Ok(Ledger {
            path: path.to_path_buf(),
            entries: file
                .files
                .into_iter()
                .map(|e| (e.hash.clone(), e))
                .collect(),
        })
    }

    pub fn get(&self, hash: &str) -> Option<&LedgerEntry> {
        self.entries.get(hash)
    }

    /// Whether content with this hash is already in the store.
    pub fn is_ingested(&self, hash: &str) -> bool {
        self.get(hash)
            .is_some_and(|e| e.state == IngestState::Ingested)
    }

    /// Every entry, by hash.
    pub fn entries(&self) -> impl Iterator<Item = &LedgerEntry> {
        self.entries.values()
    }

    /// Inserts or replaces the entry of `entry.hash` and saves the ledger.
    pub fn record(&mut self, entry: LedgerEntry) -> Result<(), LedgerError> {
        self.entries.insert(entry.hash.clone(), entry);
        self.save()
    }

    fn save(&self) -> Result<(), LedgerError> {
        let file = LedgerFile {
            version: LEDGER_VERSION,
            files: self.entries.values().cloned().collect(),
        };
        let io = |source| LedgerError::Io {
            path: self.path.clone(),
            source,
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| io(e.into()))?;
        durable::write(&self.path, &bytes).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_a_reopen_and_only_ingested_ones_are_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        let mut ledger = Ledger::open(&path).unwrap();
        let mut done = LedgerEntry::started("aa", "a.csv", 10);
        done.state = IngestState::Ingested;
        done.rows_stored = 7;
        ledger.record(done.clone()).unwrap();
        ledger
            .record(LedgerEntry::started("bb", "b.csv", 3))
            .unwrap();
        let reopened = Ledger::open(&path).unwrap();
        assert_eq!(reopened.get("aa"), Some(&done));
        assert!(reopened.is_ingested("aa"));
        assert!(!reopened.is_ingested("bb"));
        assert!(!reopened.is_ingested("cc"));
    }

    #[test]
    fn a_corrupt_ledger_is_an_error_not_an_empty_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        std::fs::write(&path, b"{\"version\":1,\"files\":[").unwrap();
        let err = Ledger::open(&path).unwrap_err();
        assert!(matches!(err, LedgerError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("ingested again"), "{err}");
    }
}
