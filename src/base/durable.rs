//! Crash-safe file writes: write a hidden temporary file beside the
//! target, fsync it, rename it over the target, fsync the directory. A
//! reader (or a restart after a crash) sees the old file or the new one,
//! never half of one. Temporary names start with `.` so Hive-style readers
//! (Spark, pyarrow, DuckDB) skip them.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A temporary name beside `target`: `.<name>.tmp-<uuid>`.
pub fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.tmp-{}", uuid::Uuid::new_v4().simple()))
}

/// Replaces `target` with `bytes` atomically.
pub fn write(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with(target, |file| file.write_all(bytes))
}

/// Replaces `target` with what `fill` writes, atomically. On error the
/// temporary file is removed and `target` is unchanged.
pub fn write_with(
    target: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    replace(target, fill)?;
    sync_dir(parent(target))
}

/// Like [`write`], but leaves the folder's fsync to the caller: for many
/// files written into a few folders and made durable together (one
/// [`sync_dir`] per folder instead of one per file). Until then a crash
/// may lose the file's name, never leave half of it.
pub fn write_file(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace(target, |file| file.write_all(bytes))
}

/// Writes a synced temporary file beside `target` and renames it over
/// `target`; on error removes the temporary and keeps `target`.
fn replace(
    target: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    std::fs::create_dir_all(parent(target))?;
    let temp = temp_path(target);
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        fill(&mut file)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, target)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Moves `from` to `to` (same file system) and makes the move durable.
pub fn rename(from: &Path, to: &Path) -> std::io::Result<()> {
    let dir = parent(to);
    std::fs::create_dir_all(dir)?;
    std::fs::rename(from, to)?;
    sync_dir(dir)?;
    let from_dir = parent(from);
    if from_dir != dir {
        sync_dir(from_dir)?;
    }
    Ok(())
}

/// Makes a directory's entries (created, renamed files) durable. A no-op
/// where directories cannot be opened (Windows).
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Whether a file name is one of our temporaries or otherwise hidden.
pub fn is_hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_replaces_the_target_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/ledger.json");
        write(&target, b"one").unwrap();
        write(&target, b"two").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(target.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["ledger.json"]);
    }

    #[test]
    fn a_failed_fill_keeps_the_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("state.json");
        write(&target, b"old").unwrap();
        let err = write_with(&target, |f| {
            f.write_all(b"half")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
