//! Atomic snapshots of the stream: read positions plus every stage's state,
//! taken at one consistent point (a barrier that flowed down the pipeline).
//!
//! File format: the magic line `SMOKEWATCH-CHECKPOINT\n`, a format version
//! (u32, little-endian), then the [`Checkpoint`] as CBOR. Written to a temp
//! file, fsynced, renamed over `checkpoint`, and the folder fsynced, so a
//! crash at any moment leaves either the old or the new checkpoint, never
//! half of one.

use crate::transport::TopicPartition;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const MAGIC: &[u8] = b"SMOKEWATCH-CHECKPOINT\n";
const FILE_NAME: &str = "checkpoint";

/// Number of a checkpoint; increases by one per checkpoint, across restarts.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct CheckpointId(pub u64);

impl std::fmt::Display for CheckpointId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One consistent snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub id: CheckpointId,
    /// Wall-clock time it was taken (ms since the epoch).
    pub created_ms: i64,
    /// Next offset to read per partition.
    pub positions: BTreeMap<TopicPartition, i64>,
    /// Each stage's serialized state, by stage name.
    pub parts: BTreeMap<String, serde_bytes::ByteBuf>,
}

impl Checkpoint {
    pub fn part(&self, stage: &str) -> Option<&[u8]> {
        self.parts.get(stage).map(|b| b.as_slice())
    }
}

/// Why a checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint folder {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a smokewatch checkpoint (bad magic)", path.display())]
    NotACheckpoint { path: PathBuf },
    #[error("{} has checkpoint format version {found}; this build reads version {FORMAT_VERSION}", path.display())]
    UnknownVersion { path: PathBuf, found: u32 },
    #[error("{} is corrupt: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error("encoding the state of stage {stage}: {detail}")]
    Encode { stage: String, detail: String },
    #[error("decoding the state of stage {stage} from the checkpoint: {detail}")]
    Decode { stage: String, detail: String },
}

/// Encodes one stage's state for a checkpoint part.
pub fn encode_part<T: Serialize>(stage: &str, state: &T) -> Result<Vec<u8>, CheckpointError> {
    let mut out = Vec::new();
    ciborium::into_writer(state, &mut out).map_err(|e| CheckpointError::Encode {
        stage: stage.to_string(),
        detail: e.to_string(),
    })?;
    Ok(out)
}

/// Decodes one stage's state from a checkpoint part.
pub fn decode_part<T: for<'de> Deserialize<'de>>(
    stage: &str,
    bytes: &[u8],
) -> Result<T, CheckpointError> {
    ciborium::from_reader(bytes).map_err(|e| CheckpointError::Decode {
        stage: stage.to_string(),
        detail: e.to_string(),
    })
}

/// The checkpoint file of one folder.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    dir: PathBuf,
}

impl CheckpointStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io(&self, path: &Path) -> impl Fn(std::io::Error) -> CheckpointError + use<> {
        let path = path.to_path_buf();
        move |source| CheckpointError::Io {
            path: path.clone(),
            source,
        }
    }

    /// The latest checkpoint, `None` when there is none yet.
    pub fn load(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        let path = self.dir.join(FILE_NAME);
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(&path)(e)),
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(self.io(&path))?;
        let Some(rest) = bytes.strip_prefix(MAGIC) else {
            return Err(CheckpointError::NotACheckpoint { path });
        };
        let (version, body) = rest
            .split_at_checked(4)
            .ok_or_else(|| CheckpointError::Corrupt {
                path: path.clone(),
                detail: "truncated header".into(),
            })?;
        let version = u32::from_le_bytes([version[0], version[1], version[2], version[3]]);
        if version != FORMAT_VERSION {
            return Err(CheckpointError::UnknownVersion {
                path,
                found: version,
            });
        }
        ciborium::from_reader(body)
            .map(Some)
            .map_err(|e| CheckpointError::Corrupt {
                path,
                detail: e.to_string(),
            })
    }

    /// Writes `checkpoint` atomically; returns its size in bytes.
    pub fn write(&self, checkpoint: &Checkpoint) -> Result<u64, CheckpointError> {
        std::fs::create_dir_all(&self.dir).map_err(self.io(&self.dir))?;
        let tmp = self.dir.join(format!("{FILE_NAME}.tmp"));
        let mut bytes = Vec::with_capacity(1 << 16);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        ciborium::into_writer(checkpoint, &mut bytes).map_err(|e| CheckpointError::Encode {
            stage: "checkpoint".into(),
            detail: e.to_string(),
        })?;
        {
            let mut file = std::fs::File::create(&tmp).map_err(self.io(&tmp))?;
            file.write_all(&bytes).map_err(self.io(&tmp))?;
            file.sync_all().map_err(self.io(&tmp))?;
        }
        let path = self.dir.join(FILE_NAME);
        std::fs::rename(&tmp, &path).map_err(self.io(&path))?;
        sync_dir(&self.dir).map_err(self.io(&self.dir))?;
        Ok(bytes.len() as u64)
    }
}

/// fsyncs a folder so a rename in it is durable.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::TopicKind;

    fn sample(id: u64) -> Checkpoint {
        Checkpoint {
            id: CheckpointId(id),
            created_ms: 1,
            positions: BTreeMap::from([(
                TopicPartition {
                    topic: TopicKind::Readings,
                    partition: 2,
                },
                41,
            )]),
            parts: BTreeMap::from([(
                "windows".to_string(),
                serde_bytes::ByteBuf::from(vec![1, 2, 3]),
            )]),
        }
    }

    #[test]
    fn written_checkpoint_loads_back_and_replaces_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path());
        assert_eq!(store.load().unwrap(), None);
        store.write(&sample(1)).unwrap();
        store.write(&sample(2)).unwrap();
        assert_eq!(store.load().unwrap(), Some(sample(2)));
        assert!(!dir.path().join("checkpoint.tmp").exists());
    }

    #[test]
    fn foreign_or_newer_files_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path());
        std::fs::write(dir.path().join("checkpoint"), b"hello").unwrap();
        assert!(matches!(
            store.load(),
            Err(CheckpointError::NotACheckpoint { .. })
        ));
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&7u32.to_le_bytes());
        std::fs::write(dir.path().join("checkpoint"), bytes).unwrap();
        assert!(matches!(
            store.load(),
            Err(CheckpointError::UnknownVersion { found: 7, .. })
        ));
    }
}
