//! Replays a recorded JSONL file — one reading or room event per line, as
//! they travel on the topics — as one partition whose offsets are line
//! numbers (0-based). Positions are checkpointed like Kafka offsets, so a
//! replay killed half-way resumes at the right line. A line whose object
//! has a `sensor_id` key is a room event; any other line is a reading
//! (and is dead-lettered if it is not one).

use crate::transport::{ConsumedRecord, TopicKind, TopicPartition, json_headers};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The position key of a replay: partition 0 of `readings`.
pub const REPLAY_PARTITION: TopicPartition = TopicPartition {
    topic: TopicKind::Readings,
    partition: 0,
};

/// Why the replay file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("replay file {}: {source}", path.display())]
pub struct ReplayError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Reads batches of lines, optionally paced.
pub struct ReplayReader {
    path: PathBuf,
    lines: std::io::Lines<std::io::BufReader<std::fs::File>>,
    next_line: i64,
    rate: u64,
    batch: usize,
    started: Instant,
    sent: u64,
}

#[derive(serde::Deserialize)]
struct Probe {
    sensor_id: Option<serde::de::IgnoredAny>,
}

impl ReplayReader {
    /// Opens `path` and skips to the stored position.
    pub fn open(
        path: &Path,
        rate: u64,
        batch: usize,
        positions: &BTreeMap<TopicPartition, i64>,
    ) -> Result<Self, ReplayError> {
        let err = |source| ReplayError {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(err)?;
        let mut lines = std::io::BufReader::with_capacity(1 << 20, file).lines();
        let start = positions
            .get(&REPLAY_PARTITION)
            .copied()
            .unwrap_or(0)
            .max(0);
        for _ in 0..start {
            match lines.next() {
                Some(line) => {
                    line.map_err(err)?;
                }
                None => break,
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            lines,
            next_line: start,
            rate,
            batch: batch.max(1),
            started: Instant::now(),
            sent: 0,
        })
    }

    pub fn positions(&self) -> BTreeMap<TopicPartition, i64> {
        BTreeMap::from([(REPLAY_PARTITION, self.next_line)])
    }

    /// The next lines as records; `None` at the end of the file.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<ConsumedRecord>>, ReplayError> {
        if self.rate > 0 {
            let due = self.started
                + std::time::Duration::from_secs_f64(self.sent as f64 / self.rate as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        let max = if self.rate > 0 {
            self.batch.min((self.rate / 10).max(1) as usize)
        } else {
            self.batch
        };
        let mut out = Vec::with_capacity(max);
        while out.len() < max {
            let Some(line) = self.lines.next() else { break };
            let line = line.map_err(|source| ReplayError {
                path: self.path.clone(),
                source,
            })?;
            let value = Bytes::from(line.trim_end_matches('\r').to_string());
            let topic = match serde_json::from_slice::<Probe>(&value) {
                Ok(Probe { sensor_id: Some(_) }) => TopicKind::RoomEvents,
                _ => TopicKind::Readings,
            };
            out.push(ConsumedRecord {
                topic,
                partition: 0,
                offset: self.next_line,
                key: None,
                value,
                headers: json_headers(),
                timestamp_ms: 0,
            });
            self.next_line += 1;
        }
        self.sent += out.len() as u64;
        Ok((!out.is_empty()).then_some(out))
    }
}
