//! Part files published transactionally with checkpoints (the two-phase
//! commit of Flink's file sink).
//!
//! Between checkpoints, finished part files are *staged* under
//! `<dir>/_pending/<checkpoint id>/…`. Once checkpoint N is durable they
//! are *published*: renamed to their final place `<dir>/<sink>/…/part-<uuid>.<ext>`.
//! On start, staged files of checkpoints that were written are published
//! (the crash came between the checkpoint and the rename) and the others
//! deleted (their records are replayed from the checkpoint's positions).
//! So every record reaches the final folders exactly once. File names are
//! UUIDs derived from the content, so publishing twice is harmless.

use crate::base::durable;
use crate::stream::checkpoint::CheckpointId;
use std::path::{Path, PathBuf};

const PENDING: &str = "_pending";

/// Why a part file could not be staged or published.
#[derive(Debug, thiserror::Error)]
#[error("sink file {}: {source}", path.display())]
pub struct FileSinkError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> FileSinkError + use<> {
    let path = path.to_path_buf();
    move |source| FileSinkError {
        path: path.clone(),
        source,
    }
}

/// The staging area and final folders under `sinks.dir`.
#[derive(Debug, Clone)]
pub struct PartFiles {
    root: PathBuf,
}

impl PartFiles {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn pending(&self, id: CheckpointId) -> PathBuf {
        self.root.join(PENDING).join(id.0.to_string())
    }

    /// Writes `bytes` (fsynced) as `<folder>/part-<uuid>.<ext>`, staged for
    /// checkpoint `id`. Returns the file's final relative path.
    pub fn stage(
        &self,
        id: CheckpointId,
        folder: &Path,
        ext: &str,
        bytes: &[u8],
    ) -> Result<PathBuf, FileSinkError> {
        let name = format!(
            "part-{}.{ext}",
            crate::stream::sinks::records::content_id(bytes)
        );
        let relative = folder.join(name);
        let path = self.pending(id).join(&relative);
        // The folders are made durable once per checkpoint (`sync_staged`).
        durable::write_file(&path, bytes).map_err(io(&path))?;
        Ok(relative)
    }

    /// Makes the names of every staged file durable: fsyncs each folder
    /// under `_pending`, once, before the checkpoint that will publish them
    /// is written (recovery publishes what a written checkpoint staged).
    pub fn sync_staged(&self) -> Result<(), FileSinkError> {
        let pending = self.root.join(PENDING);
        if !pending.exists() {
            return Ok(());
        }
        let mut dirs = vec![self.root.clone()];
        collect_dirs(&pending, &mut dirs).map_err(io(&pending))?;
        for dir in dirs {
            durable::sync_dir(&dir).map_err(io(&dir))?;
        }
        Ok(())
    }

    /// Moves every file staged for `id` to its final place. Returns how many.
    pub fn publish(&self, id: CheckpointId) -> Result<usize, FileSinkError> {
        let pending = self.pending(id);
        if !pending.exists() {
            return Ok(0);
        }
        let mut files = Vec::new();
        collect_files(&pending, &mut files).map_err(io(&pending))?;
        let mut dirs = std::collections::BTreeSet::new();
        for file in &files {
            let Ok(relative) = file.strip_prefix(&pending) else {
                continue;
            };
            // A temporary left by a crash in the middle of a write.
            let name = file.file_name().map(|n| n.to_string_lossy());
            if name.is_none_or(|n| durable::is_hidden(&n) || n.ends_with(".tmp")) {
                continue;
            }
            let target = self.root.join(relative);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
                dirs.insert(parent.to_path_buf());
            }
            std::fs::rename(file, &target).map_err(io(&target))?;
        }
        for dir in dirs {
            durable::sync_dir(&dir).map_err(io(&dir))?;
        }
        std::fs::remove_dir_all(&pending).map_err(io(&pending))?;
        Ok(files.len())
    }

    /// Publishes every staging area of checkpoints up to `id` (an earlier
    /// checkpoint may have failed after staging). Returns the file count.
    pub fn publish_upto(&self, id: CheckpointId) -> Result<usize, FileSinkError> {
        let mut published = 0;
        for staged in self.staged_ids()? {
            if staged <= id {
                published += self.publish(staged)?;
            }
        }
        Ok(published)
    }

    fn staged_ids(&self) -> Result<Vec<CheckpointId>, FileSinkError> {
        let root = self.root.join(PENDING);
        staged_checkpoint_ids(&root, "").map_err(io(&root))
    }

    /// After a restart from checkpoint `last` (or none): publishes what
    /// checkpoints up to `last` staged, deletes what later ones staged.
    pub fn recover(&self, last: Option<CheckpointId>) -> Result<(usize, usize), FileSinkError> {
        let ids = self.staged_ids()?;
        let (mut published, mut discarded) = (0, 0);
        for id in ids {
            if last.is_some_and(|last| id <= last) {
                published += self.publish(id)?;
            } else {
                let dir = self.pending(id);
                std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
                discarded += 1;
            }
        }
        Ok((published, discarded))
    }
}

/// Checkpoint ids of the staging folders `<prefix><id>` under `root`,
/// sorted (none when `root` does not exist). Shared by every sink that
/// stages per checkpoint and publishes after it is written.
pub(crate) fn staged_checkpoint_ids(
    root: &Path,
    prefix: &str,
) -> std::io::Result<Vec<CheckpointId>> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut ids = Vec::new();
    for entry in entries {
        if let Some(id) = entry?
            .file_name()
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|n| n.parse::<u64>().ok())
        {
            ids.push(CheckpointId(id));
        }
    }
    ids.sort();
    Ok(ids)
}

/// `dir` and every folder below it.
fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    out.push(dir.to_path_buf());
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_dirs(&path, out)?;
        }
    }
    Ok(())
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_files_appear_only_when_published_and_recovery_follows_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let files = PartFiles::new(dir.path());
        let folder = Path::new("alerts/date=2026-01-01");
        let a = files.stage(CheckpointId(1), folder, "csv", b"a\n").unwrap();
        let b = files.stage(CheckpointId(2), folder, "csv", b"b\n").unwrap();
        assert!(!dir.path().join(&a).exists(), "staged, not yet visible");
        assert_eq!(files.recover(Some(CheckpointId(1))).unwrap(), (1, 1));
        assert_eq!(std::fs::read(dir.path().join(&a)).unwrap(), b"a\n");
        assert!(
            !dir.path().join(&b).exists(),
            "checkpoint 2 never completed"
        );
        assert!(!dir.path().join(PENDING).join("2").exists());
        let again = files.stage(CheckpointId(3), folder, "csv", b"a\n").unwrap();
        assert_eq!(again, a, "name derives from content");
        assert_eq!(files.publish(CheckpointId(3)).unwrap(), 1);
    }
}
