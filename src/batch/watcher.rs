//! The `batch/watcher` source task: lists `batch.incoming_dir` every
//! `batch.poll_interval` and ingests each file once it is complete.
//!
//! **Completeness rule**: a file is taken when its size and modification
//! time are the same in two listings in a row (so at least one poll
//! interval without a write). Names a writer uses while it writes are
//! never taken: hidden names (`.x`, `_x`) and `.tmp`, `.part`, `.partial`,
//! `.crdownload`, `.filepart`, `.download` suffixes, so an atomic
//! "write then rename" is always safe. An empty file (a writer may have
//! created it and not written yet) is logged and waits
//! [`EMPTY_GRACE_LISTINGS`] listings; still empty then, it is taken and
//! refused to `failed/` with a note. Sub-folders
//! (`processed/`, `failed/`, `quarantine/`) are not looked into.
//!
//! A file that cannot be ingested for a reason that is not its own (the
//! store or ledger cannot be written) stays in place, the task reports
//! degraded, and it is tried again at the next poll.

use super::BatchConfig;
use super::ingest::{IngestError, IngestOutcome, Ingester};
use super::status::BatchStatus;
use crate::schema::registry::DeviceRegistry;
use crate::supervisor::{TaskContext, TaskError, TaskReport, TaskResult};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// Suffixes of files still being written by common tools.
const IN_PROGRESS_SUFFIXES: [&str; 6] = [
    ".tmp",
    ".part",
    ".partial",
    ".crdownload",
    ".filepart",
    ".download",
];

/// What one listing saw of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub len: u64,
    pub modified: Option<SystemTime>,
}

/// Listings an empty file must stay empty and unchanged before it is
/// taken (and refused as empty): a writer that created it has that many
/// poll intervals to start writing. Without this limit an empty file
/// waited for ever, silently.
pub const EMPTY_GRACE_LISTINGS: u32 = 10;

/// What the listings saw of one file so far.
#[derive(Debug, Clone, Copy)]
struct Seen {
    snapshot: Snapshot,
    /// Listings in a row after the first that saw the same snapshot.
    unchanged: u32,
}

/// Applies the completeness rule across listings.
#[derive(Debug, Default)]
pub struct Readiness {
    previous: HashMap<PathBuf, Seen>,
    /// Empty files seen for the first time by the last listing (the task
    /// logs them, so a file that waits is never silent).
    newly_empty: Vec<PathBuf>,
}

impl Readiness {
    /// Files of this listing that are complete (unchanged since the
    /// previous listing; empty ones after [`EMPTY_GRACE_LISTINGS`]), in
    /// name order. Files no longer listed are forgotten.
    pub fn observe(&mut self, listing: Vec<(PathBuf, Snapshot)>) -> Vec<PathBuf> {
        let mut ready = Vec::new();
        let mut current = HashMap::with_capacity(listing.len());
        self.newly_empty.clear();
        for (path, snapshot) in listing {
            let previous = self.previous.get(&path);
            let unchanged = match previous {
                Some(seen) if seen.snapshot == snapshot => seen.unchanged + 1,
                _ => 0,
            };
            let needed = if snapshot.len == 0 {
                EMPTY_GRACE_LISTINGS
            } else {
                1
            };
            if unchanged >= needed {
                ready.push(path.clone());
            }
            if snapshot.len == 0 && previous.is_none_or(|seen| seen.snapshot.len > 0) {
                self.newly_empty.push(path.clone());
            }
            current.insert(
                path,
                Seen {
                    snapshot,
                    unchanged,
                },
            );
        }
        self.previous = current;
        ready.sort();
        ready
    }

    /// Empty files the last [`observe`](Self::observe) saw for the first time.
    pub fn newly_empty(&self) -> &[PathBuf] {
        &self.newly_empty
    }

    /// Forgets a file (taken, or to be looked at afresh).
    pub fn forget(&mut self, path: &Path) {
        self.previous.remove(path);
    }
}

/// Whether a file name may be taken (see the module docs).
pub fn is_candidate(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !crate::base::durable::is_hidden(name)
        && !IN_PROGRESS_SUFFIXES.iter().any(|s| lower.ends_with(s))
}

/// The regular files directly in `dir` that may be taken.
pub fn list(dir: &Path) -> std::io::Result<Vec<(PathBuf, Snapshot)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_candidate(&name) {
            continue;
        }
        let Ok(meta) = entry.metadata() else {
            continue; // gone between the listing and the look
        };
        if meta.is_file() {
            let snapshot = Snapshot {
                len: meta.len(),
                modified: meta.modified().ok(),
            };
            out.push((entry.path(), snapshot));
        }
    }
    Ok(out)
}

/// The task.
pub(crate) async fn run(
    ctx: TaskContext,
    config: Arc<BatchConfig>,
    devices: DeviceRegistry,
    status: BatchStatus,
) -> TaskResult {
    let incoming = config.incoming_dir.clone();
    std::fs::create_dir_all(&incoming)
        .map_err(|e| TaskError::new(format!("batch.incoming_dir {}: {e}", incoming.display())))?;
    let open_config = config.clone();
    let mut ingester = tokio::task::spawn_blocking(move || Ingester::open(&open_config, devices))
        .await
        .map_err(|e| TaskError::new(e.to_string()))??;
    let cancel = ctx.shutdown.child_token();
    let mut readiness = Readiness::default();
    let mut tick = tokio::time::interval(config.poll_interval.get());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut files, mut problem) = (0u64, None::<String>);
    ctx.health.running();
    tracing::info!("watching {} for CSV and Parquet files", incoming.display());
    'poll: loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let dir = incoming.clone();
        let listing = match tokio::task::spawn_blocking(move || list(&dir)).await {
            Ok(Ok(listing)) => listing,
            Ok(Err(e)) => {
                ctx.health
                    .degraded(format!("cannot list {}: {e}", incoming.display()));
                continue;
            }
            Err(e) => return Err(TaskError::new(e.to_string())),
        };
        let mut pass_problem = None;
        let ready = readiness.observe(listing);
        for path in readiness.newly_empty() {
            tracing::warn!(
                file = %path.display(),
                "file is empty; waiting {} s for a writer, then it is refused to failed/",
                config.poll_interval.get().as_secs() * u64::from(EMPTY_GRACE_LISTINGS)
            );
        }
        for path in ready {
            if ctx.shutdown.is_cancelled() {
                break 'poll;
            }
            readiness.forget(&path);
            let token = cancel.clone();
            let job = tokio::task::spawn_blocking(move || {
                let result = ingester.ingest(&path, &token);
                (ingester, path, result)
            });
            let (back, path, result) = job.await.map_err(|e| TaskError::new(e.to_string()))?;
            ingester = back;
            match result {
                Ok(outcome) => {
                    files += 1;
                    let entry = match outcome {
                        IngestOutcome::Ingested(e) | IngestOutcome::Failed(e) => e,
                        IngestOutcome::Duplicate { original, .. } => original,
                    };
                    status.record_ingest(entry);
                }
                Err(IngestError::Cancelled { .. }) => break 'poll,
                Err(e) if e.is_vanished(&path) => {
                    tracing::info!(file = %path.display(), "gone before it was read; skipped");
                }
                Err(e) => {
                    tracing::error!(file = %path.display(), "not ingested, retrying at the next poll: {e}");
                    pass_problem = Some(format!("{} not ingested (retrying): {e}", path.display()));
                }
            }
        }
        match (&problem, &pass_problem) {
            (_, Some(p)) => ctx.health.degraded(p.clone()),
            (Some(_), None) => ctx.health.running(),
            (None, None) => {}
        }
        problem = pass_problem;
    }
    Ok(TaskReport::new(format!(
        "stopped after taking {files} files"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(len: u64, secs: u64) -> Snapshot {
        Snapshot {
            len,
            modified: Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs)),
        }
    }

    #[test]
    fn a_file_is_ready_once_unchanged_across_two_listings() {
        let mut r = Readiness::default();
        let a = PathBuf::from("a.csv");
        assert!(r.observe(vec![(a.clone(), snap(10, 1))]).is_empty());
        assert!(
            r.observe(vec![(a.clone(), snap(20, 2))]).is_empty(),
            "still growing"
        );
        assert_eq!(r.observe(vec![(a.clone(), snap(20, 2))]), vec![a.clone()]);
        r.forget(&a);
        assert!(
            r.observe(vec![(a.clone(), snap(20, 2))]).is_empty(),
            "forgotten"
        );
        let empty = PathBuf::from("e.csv");
        r.observe(vec![(empty.clone(), snap(0, 1))]);
        assert!(
            r.observe(vec![(empty, snap(0, 1))]).is_empty(),
            "empty files wait"
        );
    }

    #[test]
    fn an_empty_file_is_taken_once_it_stayed_empty_for_the_grace_listings() {
        let mut r = Readiness::default();
        let empty = PathBuf::from("e.csv");
        let mut taken_after = None;
        for listing in 1..=EMPTY_GRACE_LISTINGS + 1 {
            if !r.observe(vec![(empty.clone(), snap(0, 1))]).is_empty() {
                taken_after = Some(listing);
                break;
            }
        }
        assert_eq!(
            taken_after,
            Some(EMPTY_GRACE_LISTINGS + 1),
            "an empty file waits for a writer, then is taken (and refused)"
        );
        let growing = PathBuf::from("g.csv");
        r.observe(vec![(growing.clone(), snap(0, 1))]);
        r.observe(vec![(growing.clone(), snap(0, 1))]);
        assert!(r.observe(vec![(growing.clone(), snap(5, 2))]).is_empty());
        assert_eq!(
            r.observe(vec![(growing.clone(), snap(5, 2))]),
            vec![growing]
        );
    }

    #[test]
    fn names_being_written_are_never_candidates() {
        for name in ["a.csv", "data.parquet", "notes.txt"] {
            assert!(is_candidate(name), "{name}");
        }
        for name in [
            ".a.csv",
            "_tmp.csv",
            "a.csv.tmp",
            "a.csv.PART",
            "b.parquet.crdownload",
        ] {
            assert!(!is_candidate(name), "{name}");
        }
    }
}
