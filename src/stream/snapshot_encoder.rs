//! Encodes each stage's checkpoint snapshot as soon as the stage takes it,
//! on one thread of its own, instead of when the barrier reaches the
//! checkpoint writer.
//!
//! Why: a snapshot shares the live state ([`crate::stream::cow_map`]), and
//! every value a stage changes while a snapshot still holds it costs a
//! second, encoded copy. The barrier takes seconds to reach the writer
//! (behind the records queued in every channel, then behind the writer's
//! part files), and a large fleet's stream changes every device within a
//! second: encoded at the writer, a 100 000-device snapshot was all
//! encoded early, by the stages. Started at the barrier, the encoding runs
//! while the stages go on, and releases each value as it goes. This is the
//! asynchronous part of Flink's snapshots, started by each operator.
//!
//! One thread for all stages: one per stage left no snapshot waiting for
//! another's, but five encoders busy at once took the two cores of the
//! benchmark machine from the stages (p99 reading→alert at 100 000 devices
//! 86–154 ms against 24–31 ms; README, "Memory").
//!
//! The writer still writes the checkpoint, after the part files of its
//! rows are staged; it only waits for the encodings
//! ([`PartEncoding::wait`]).

use super::checkpoint::{CheckpointError, CheckpointStore, Spill, StateSnapshot};
use std::sync::mpsc;

/// Handle to the encoder thread; cheap to clone.
#[derive(Clone)]
pub struct SnapshotEncoder {
    jobs: mpsc::Sender<Job>,
}

struct Job {
    stage: &'static str,
    state: Box<dyn StateSnapshot>,
    done: mpsc::SyncSender<Result<Spill, CheckpointError>>,
}

/// A stage's part of a checkpoint: being encoded, or (when no encoder
/// thread runs) still to be encoded by the writer.
pub enum PartEncoding {
    Started(mpsc::Receiver<Result<Spill, CheckpointError>>),
    Deferred(Box<dyn StateSnapshot>),
}

impl SnapshotEncoder {
    /// Starts the encoder thread, spilling into `store`'s folder. It ends
    /// when every handle is dropped.
    pub fn start(store: CheckpointStore) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("checkpoint-encoder".into())
            .spawn(move || {
                for job in queue {
                    let spilled = store.spill(job.stage, job.state.as_ref());
                    // Released before the writer is told: the stage then
                    // changes the values in place again.
                    drop(job.state);
                    // The writer may be gone (shutdown); nothing to tell.
                    let _ = job.done.send(spilled);
                }
            })?;
        Ok(Self { jobs })
    }

    /// Queues `state` for encoding. If the encoder thread is gone, the
    /// writer encodes it instead.
    pub fn encode(&self, stage: &'static str, state: Box<dyn StateSnapshot>) -> PartEncoding {
        let (done, result) = mpsc::sync_channel(1);
        match self.jobs.send(Job { stage, state, done }) {
            Ok(()) => PartEncoding::Started(result),
            Err(mpsc::SendError(job)) => {
                tracing::warn!(
                    stage,
                    "the checkpoint encoder thread is gone; the writer encodes this part"
                );
                PartEncoding::Deferred(job.state)
            }
        }
    }
}

impl PartEncoding {
    /// The encoded part (blocks until it is).
    pub fn wait(self, stage: &str, store: &CheckpointStore) -> Result<Spill, CheckpointError> {
        match self {
            Self::Deferred(state) => store.spill(stage, state.as_ref()),
            Self::Started(result) => result.recv().unwrap_or_else(|_| {
                Err(CheckpointError::Encode {
                    stage: stage.to_string(),
                    detail: "the checkpoint encoder thread stopped before encoding it".into(),
                })
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::Arc;

    #[test]
    fn a_snapshot_is_encoded_and_released_before_anyone_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path());
        let encoder = SnapshotEncoder::start(store.clone()).unwrap();
        let live = Arc::new(vec![1u32, 2, 3]);
        let part = encoder.encode("windows", Box::new(Arc::clone(&live)));
        // Nobody waits yet: the encoder thread still gets on with it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while Arc::strong_count(&live) > 1 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(Arc::strong_count(&live), 1, "released once encoded");
        let (mut file, len) = part.wait("windows", &store).unwrap();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes.len() as u64, len);
        assert_eq!(bytes, postcard::to_stdvec(&vec![1u32, 2, 3]).unwrap());
    }

    #[test]
    fn without_an_encoder_thread_the_writer_encodes_the_part() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path());
        let part = PartEncoding::Deferred(Box::new(7u64));
        let (mut file, len) = part.wait("clean", &store).unwrap();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        assert_eq!((bytes, len), (postcard::to_stdvec(&7u64).unwrap(), 1));
    }
}
