//! Atomic snapshots of the stream: read positions plus every stage's state,
//! taken at one consistent point (a barrier that flowed down the pipeline).
//!
//! File format: the magic line `SMOKEWATCH-CHECKPOINT\n`, a format version
//! (u32, little-endian), then the [`Checkpoint`] in postcard (a compact
//! binary serde format: no field names, varint integers), its parts — each
//! stage's state — in postcard too. Version 1 files (CBOR throughout) are
//! still read, so an upgrade keeps its state. Written to a temp file,
//! fsynced, renamed over `checkpoint`, and the folder fsynced, so a crash at
//! any moment leaves either the old or the new checkpoint, never half of one.
//!
//! A large fleet's state is hundreds of megabytes; encoding it is the
//! costly part of a checkpoint. Stages therefore hand over a
//! [`StateSnapshot`] (a cheap copy of their state) and the sinks stage's
//! writer thread encodes and writes it while the pipeline goes on, as
//! Flink's asynchronous snapshots do.

use crate::base::durable;
use crate::transport::TopicPartition;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The format version this build writes (it reads this one and version 1).
pub const FORMAT_VERSION: u32 = 2;
/// The first format: everything CBOR.
const CBOR_VERSION: u32 = 1;
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
    /// How the parts are encoded (from the file's version).
    #[serde(skip)]
    pub codec: PartCodec,
}

/// Encoding of a checkpoint's parts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PartCodec {
    /// Format version 2 on.
    #[default]
    Postcard,
    /// Format version 1.
    Cbor,
}

/// One stage's state as stored in a checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct StoredPart<'a> {
    pub stage: &'a str,
    pub bytes: &'a [u8],
    pub codec: PartCodec,
}

impl StoredPart<'_> {
    /// Decodes the state.
    pub fn decode<T: for<'de> Deserialize<'de>>(&self) -> Result<T, CheckpointError> {
        let err = |detail: String| CheckpointError::Decode {
            stage: self.stage.to_string(),
            detail,
        };
        match self.codec {
            PartCodec::Postcard => postcard::from_bytes(self.bytes).map_err(|e| err(e.to_string())),
            PartCodec::Cbor => ciborium::from_reader(self.bytes).map_err(|e| err(e.to_string())),
        }
    }
}

impl Checkpoint {
    pub fn part<'a>(&'a self, stage: &'a str) -> Option<StoredPart<'a>> {
        self.parts.get(stage).map(|b| StoredPart {
            stage,
            bytes: b.as_slice(),
            codec: self.codec,
        })
    }
}

/// A stage's state captured at a barrier: a copy that the checkpoint
/// writer encodes off the pipeline, while the stage goes on.
///
/// The writer encodes each part once, into an unlinked spill file beside
/// the checkpoint, and copies it into the checkpoint after its length (the
/// format puts the length first). Not into a memory buffer: a large
/// fleet's window state encodes to hundreds of megabytes, and a buffer
/// (grown by doubling) would cost up to twice that at every checkpoint.
/// Not measured by a first encoding pass either, as it was: that cost as
/// much CPU again, and every second the writer holds the snapshots the
/// stages copy the state they change (copy on write).
pub trait StateSnapshot: Send + 'static {
    /// Writes the state in the checkpoint's part encoding.
    fn encode_to(&self, stage: &str, out: &mut dyn Write) -> Result<(), CheckpointError>;
}

impl<T: Serialize + Send + 'static> StateSnapshot for T {
    fn encode_to(&self, stage: &str, out: &mut dyn Write) -> Result<(), CheckpointError> {
        postcard::to_io(self, out)
            .map(drop)
            .map_err(|e| encode_error(stage, e))
    }
}

fn encode_error(stage: &str, e: postcard::Error) -> CheckpointError {
    CheckpointError::Encode {
        stage: stage.to_string(),
        detail: e.to_string(),
    }
}

/// The fields of a [`Checkpoint`] before its parts, in its field order:
/// postcard writes a struct as its fields one after the other, so this
/// head followed by the parts map is byte for byte a [`Checkpoint`].
#[derive(Serialize)]
struct CheckpointHead<'a> {
    id: CheckpointId,
    created_ms: i64,
    positions: &'a BTreeMap<TopicPartition, i64>,
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

/// Encodes one stage's state for a checkpoint part (tests build
/// checkpoints of encoded parts with it).
#[cfg(test)]
pub fn encode_part<T: Serialize + ?Sized>(
    stage: &str,
    state: &T,
) -> Result<Vec<u8>, CheckpointError> {
    postcard::to_stdvec(state).map_err(|e| encode_error(stage, e))
}

/// An encoded part: an unlinked spill file, rewound, and its length.
pub type Spill = (std::fs::File, u64);

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

    /// Encodes one part into an unlinked temporary file in the checkpoint
    /// folder (gone when dropped, whatever happens to the process); returns
    /// it rewound, with its length.
    pub(crate) fn spill(
        &self,
        stage: &str,
        state: &dyn StateSnapshot,
    ) -> Result<Spill, CheckpointError> {
        let io = self.io(&self.dir);
        std::fs::create_dir_all(&self.dir).map_err(&io)?;
        let file = tempfile::tempfile_in(&self.dir).map_err(&io)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        state.encode_to(stage, &mut out)?;
        let mut file = out.into_inner().map_err(|e| io(e.into_error()))?;
        let len = file.stream_position().map_err(&io)?;
        file.rewind().map_err(&io)?;
        Ok((file, len))
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
        let corrupt = |detail: String| CheckpointError::Corrupt {
            path: path.clone(),
            detail,
        };
        let checkpoint = match version {
            FORMAT_VERSION => {
                let (checkpoint, rest): (Checkpoint, _) =
                    postcard::take_from_bytes(body).map_err(|e| corrupt(e.to_string()))?;
                if !rest.is_empty() {
                    return Err(corrupt(format!("{} bytes after the end", rest.len())));
                }
                checkpoint
            }
            CBOR_VERSION => Checkpoint {
                codec: PartCodec::Cbor,
                ..ciborium::from_reader(body).map_err(|e| corrupt(e.to_string()))?
            },
            found => return Err(CheckpointError::UnknownVersion { path, found }),
        };
        Ok(Some(checkpoint))
    }

    /// Writes `checkpoint`, its parts already encoded, atomically
    /// ([`durable::write_with`]); returns its size in bytes. The stream
    /// writes with [`CheckpointStore::write_snapshots`]; tests compare the
    /// two.
    #[cfg(test)]
    pub fn write(&self, checkpoint: &Checkpoint) -> Result<u64, CheckpointError> {
        let path = self.dir.join(FILE_NAME);
        let mut encode_error = None;
        let written = durable::write_with(&path, |file| {
            // Streamed: the parts are not copied into one more buffer.
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            out.write_all(MAGIC)?;
            out.write_all(&FORMAT_VERSION.to_le_bytes())?;
            let mut out = postcard::to_io(checkpoint, out).map_err(|e| {
                let detail = e.to_string();
                encode_error = Some(detail.clone());
                std::io::Error::other(detail)
            })?;
            out.flush()
        });
        if let Some(detail) = encode_error {
            return Err(CheckpointError::Encode {
                stage: "checkpoint".into(),
                detail,
            });
        }
        written.map_err(self.io(&path))?;
        Ok(std::fs::metadata(&path).map_err(self.io(&path))?.len())
    }

    /// Writes a checkpoint of `parts` (stage name and state) atomically,
    /// encoding each state straight into the file; the file is the one
    /// [`CheckpointStore::write`] writes for the encoded parts. Returns
    /// its size and the size of each part.
    pub fn write_snapshots(
        &self,
        id: CheckpointId,
        created_ms: i64,
        positions: &BTreeMap<TopicPartition, i64>,
        parts: &[(&str, &dyn StateSnapshot)],
    ) -> Result<CheckpointSize, CheckpointError> {
        let encoded = self.encode_each(parts.to_vec(), |stage, state| self.spill(stage, state))?;
        self.write_encoded(id, created_ms, positions, encoded)
    }

    /// The parts of a barrier, once each is encoded (they are encoded
    /// from when each stage took its snapshot, see
    /// [`crate::stream::snapshot_encoder`]; a part still to be encoded is
    /// encoded here). A snapshot shares the live state until dropped, and
    /// every value a stage changes meanwhile costs an early encoding of
    /// it: each is dropped as soon as it is encoded, not once the whole
    /// checkpoint is on disk (see [`CheckpointStore::write_encoded`]).
    pub fn collect_parts(
        &self,
        parts: Vec<crate::stream::message::StatePart>,
    ) -> Result<EncodedParts, CheckpointError> {
        self.encode_each(parts, |stage, part| part.wait(stage, self))
    }

    /// Spills every part in the order given (each dropped once encoded),
    /// and orders them by stage name (the order the file keeps).
    fn encode_each<P>(
        &self,
        parts: Vec<(&str, P)>,
        spill: impl Fn(&str, P) -> Result<Spill, CheckpointError>,
    ) -> Result<EncodedParts, CheckpointError> {
        let mut spills = Vec::with_capacity(parts.len());
        for (stage, part) in parts {
            let (file, len) = spill(stage, part)?;
            spills.push((stage.to_string(), file, len));
        }
        // The parts map is ordered by stage name, as the BTreeMap of
        // `Checkpoint::parts` is when it is read back.
        spills.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = spills.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(CheckpointError::Encode {
                stage: w[0].0.clone(),
                detail: "two parts of one checkpoint have this stage name".into(),
            });
        }
        Ok(EncodedParts { spills })
    }

    /// Writes a checkpoint of parts already encoded by
    /// [`CheckpointStore::encode_snapshots`] atomically.
    pub fn write_encoded(
        &self,
        id: CheckpointId,
        created_ms: i64,
        positions: &BTreeMap<TopicPartition, i64>,
        encoded: EncodedParts,
    ) -> Result<CheckpointSize, CheckpointError> {
        let EncodedParts { mut spills } = encoded;
        let head = CheckpointHead {
            id,
            created_ms,
            positions,
        };
        let path = self.dir.join(FILE_NAME);
        let mut failed = None;
        let written = durable::write_with(&path, |file| {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            let result = (|| {
                out.write_all(MAGIC).map_err(|e| self.io(&path)(e))?;
                out.write_all(&FORMAT_VERSION.to_le_bytes())
                    .map_err(|e| self.io(&path)(e))?;
                let head_error = |e| encode_error("checkpoint", e);
                postcard::to_io(&head, &mut out).map_err(head_error)?;
                postcard::to_io(&spills.len(), &mut out).map_err(head_error)?;
                for (stage, spill, len) in &mut spills {
                    postcard::to_io(stage.as_str(), &mut out).map_err(head_error)?;
                    postcard::to_io(&usize::try_from(*len).unwrap_or(usize::MAX), &mut out)
                        .map_err(head_error)?;
                    // File to file: the kernel copies (copy_file_range).
                    let copied = std::io::copy(spill, &mut out).map_err(|e| self.io(&path)(e))?;
                    if copied != *len {
                        return Err(CheckpointError::Encode {
                            stage: stage.clone(),
                            detail: format!("{copied} bytes copied of the {len} encoded"),
                        });
                    }
                }
                out.flush().map_err(|e| self.io(&path)(e))
            })();
            result.map_err(|e| {
                let io = std::io::Error::other(e.to_string());
                failed = Some(e);
                io
            })
        });
        if let Some(e) = failed {
            return Err(e);
        }
        written.map_err(self.io(&path))?;
        Ok(CheckpointSize {
            bytes: std::fs::metadata(&path).map_err(self.io(&path))?.len(),
            parts: spills
                .into_iter()
                .map(|(stage, _, len)| (stage, len))
                .collect(),
        })
    }
}

/// Stage states encoded into spill files, ordered by stage name, waiting
/// to be written as one checkpoint ([`CheckpointStore::write_encoded`]).
pub struct EncodedParts {
    spills: Vec<(String, std::fs::File, u64)>,
}

/// What a written checkpoint costs on disk: the state of each stage,
/// which is also what the stage keeps in memory, in compact form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointSize {
    /// The whole file.
    pub bytes: u64,
    /// Encoded bytes of each stage's state, by stage name.
    pub parts: BTreeMap<String, u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::snapshot_encoder::PartEncoding;
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
            codec: PartCodec::Postcard,
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
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["checkpoint"], "no temporary file is left");
    }

    #[test]
    fn version_1_files_in_cbor_are_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let state = BTreeMap::from([("dev-1".to_string(), 42u64)]);
        let mut part = Vec::new();
        ciborium::into_writer(&state, &mut part).unwrap();
        let mut old = sample(3);
        old.parts = BTreeMap::from([("validate".to_string(), serde_bytes::ByteBuf::from(part))]);
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&1u32.to_le_bytes());
        ciborium::into_writer(&old, &mut bytes).unwrap();
        std::fs::write(dir.path().join("checkpoint"), bytes).unwrap();
        let loaded = CheckpointStore::new(dir.path()).load().unwrap().unwrap();
        assert_eq!(
            (loaded.id, loaded.codec),
            (CheckpointId(3), PartCodec::Cbor)
        );
        let restored: BTreeMap<String, u64> = loaded.part("validate").unwrap().decode().unwrap();
        assert_eq!(restored, state);
    }

    #[test]
    fn snapshots_encode_to_parts_that_decode_back() {
        let state = BTreeMap::from([("dev-1".to_string(), vec![1.5f64, f64::NAN])]);
        let snapshot: Box<dyn StateSnapshot> = Box::new(state.clone());
        let mut bytes = Vec::new();
        snapshot.encode_to("features", &mut bytes).unwrap();
        assert_eq!(bytes, encode_part("features", &state).unwrap());
        let part = StoredPart {
            stage: "features",
            bytes: &bytes,
            codec: PartCodec::Postcard,
        };
        let back: BTreeMap<String, Vec<f64>> = part.decode().unwrap();
        assert_eq!(back["dev-1"][0], 1.5);
        assert!(back["dev-1"][1].is_nan());
        let err = StoredPart {
            bytes: &bytes[..3],
            ..part
        }
        .decode::<BTreeMap<String, Vec<f64>>>();
        assert!(
            matches!(err, Err(CheckpointError::Decode { ref stage, .. }) if stage == "features")
        );
    }

    #[test]
    fn snapshots_are_released_once_encoded_before_the_checkpoint_is_written() {
        // A snapshot shares the live state (as CowMap values do) until it
        // is dropped; the writer must not hold it while the file is written.
        let live = std::sync::Arc::new(vec![1.0f64, 2.0, 3.0]);
        let snapshot = std::sync::Arc::clone(&live);
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path());
        let part = PartEncoding::Deferred(Box::new(snapshot));
        let encoded = store.collect_parts(vec![("windows", part)]).unwrap();
        assert_eq!(
            std::sync::Arc::strong_count(&live),
            1,
            "the snapshot is dropped as soon as it is encoded"
        );
        let positions = BTreeMap::new();
        let size = store
            .write_encoded(CheckpointId(3), 1, &positions, encoded)
            .unwrap();
        let loaded = store.load().unwrap().unwrap();
        let back: Vec<f64> = loaded.part("windows").unwrap().decode().unwrap();
        assert_eq!(back, *live);
        assert_eq!(size.parts.keys().collect::<Vec<_>>(), ["windows"]);
    }

    #[test]
    fn streamed_snapshots_write_the_same_file_as_encoded_parts() {
        let windows = BTreeMap::from([("dev-1".to_string(), vec![1.5f64, -2.0])]);
        let validate = BTreeMap::from([("dev-1".to_string(), 42u64), ("dev-2".to_string(), 7)]);
        let encoded = Checkpoint {
            parts: BTreeMap::from([
                (
                    "windows".to_string(),
                    serde_bytes::ByteBuf::from(encode_part("windows", &windows).unwrap()),
                ),
                (
                    "validate".to_string(),
                    serde_bytes::ByteBuf::from(encode_part("validate", &validate).unwrap()),
                ),
            ]),
            ..sample(9)
        };
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        CheckpointStore::new(a.path()).write(&encoded).unwrap();
        // Out of name order on purpose: the file orders parts by stage.
        let written = CheckpointStore::new(b.path())
            .write_snapshots(
                encoded.id,
                encoded.created_ms,
                &encoded.positions,
                &[("windows", &windows), ("validate", &validate)],
            )
            .unwrap();
        let streamed = std::fs::read(b.path().join("checkpoint")).unwrap();
        assert_eq!(
            streamed,
            std::fs::read(a.path().join("checkpoint")).unwrap()
        );
        assert_eq!(written.bytes, streamed.len() as u64);
        let files: Vec<String> = std::fs::read_dir(b.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(files, ["checkpoint"], "no spill file is left behind");
        assert_eq!(
            written.parts,
            BTreeMap::from([
                (
                    "validate".to_string(),
                    encoded.parts["validate"].len() as u64
                ),
                ("windows".to_string(), encoded.parts["windows"].len() as u64),
            ])
        );
        let loaded = CheckpointStore::new(b.path()).load().unwrap().unwrap();
        let back: BTreeMap<String, Vec<f64>> = loaded.part("windows").unwrap().decode().unwrap();
        assert_eq!(back, windows);
        let twice = CheckpointStore::new(b.path()).write_snapshots(
            CheckpointId(10),
            1,
            &encoded.positions,
            &[("windows", &windows), ("windows", &windows)],
        );
        assert!(
            matches!(twice, Err(CheckpointError::Encode { ref stage, .. }) if stage == "windows")
        );
        assert_eq!(
            CheckpointStore::new(b.path()).load().unwrap().unwrap().id,
            CheckpointId(9),
            "a refused checkpoint leaves the previous one"
        );
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
