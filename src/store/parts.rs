//! Writing readings into day partitions (`date=YYYY-MM-DD/<prefix>-NNNNN.parquet`)
//! in bounded memory, whatever order the readings come in.
//!
//! [`DayBatcher`] (on the parsing thread) groups readings by UTC day into
//! record batches of [`BATCH_ROWS`]; [`PartWriter`] (on the encoding
//! thread) appends them to one open Parquet file per day. At most
//! [`MAX_BUFFERED_DAYS`] days are buffered and [`MAX_OPEN_DAYS`] files are
//! open: input that jumps between more days than that closes the least
//! recently used one, and a later reading of that day starts the day's
//! next part file. A time-ordered file (the usual case) keeps one day
//! open at a time.

use crate::schema::parquet::{BatchBuilder, ParquetError, writer_properties};
use crate::schema::{EventTime, SmokeReading};
use arrow::array::RecordBatch;
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// Rows per record batch handed from the parser to the encoder.
pub const BATCH_ROWS: usize = 16_384;
/// Days buffered on the parsing side at once (builders start small and
/// grow to [`BATCH_ROWS`], so a few dozen cost little).
pub const MAX_BUFFERED_DAYS: usize = 32;
/// Part files open on the encoding side at once (each holds an encoded
/// row group in memory).
pub const MAX_OPEN_DAYS: usize = 8;
/// Initial capacity of a day's batch builder.
const INITIAL_ROWS: usize = 1024;

/// The UTC calendar day of an event time, `None` outside chrono's range.
pub fn day_of(time: EventTime) -> Option<NaiveDate> {
    time.to_datetime().map(|t| t.date_naive())
}

/// The partition folder name of a day: `date=2024-03-01`.
pub fn partition_name(day: NaiveDate) -> String {
    format!("date={}", day.format("%Y-%m-%d"))
}

/// Why part files could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PartError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Parquet { path: PathBuf, source: ParquetError },
}

/// Groups readings by day into record batches.
#[derive(Default)]
pub struct DayBatcher {
    builders: Vec<(NaiveDate, BatchBuilder)>,
}

impl DayBatcher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a reading of `day`; returns the batches that became full (or
    /// were evicted to keep at most [`MAX_BUFFERED_DAYS`] days buffered).
    pub fn push(
        &mut self,
        day: NaiveDate,
        reading: &SmokeReading,
    ) -> Result<Vec<(NaiveDate, RecordBatch)>, ParquetError> {
        let mut out = Vec::new();
        let position = match self.builders.iter().position(|(d, _)| *d == day) {
            Some(p) => p,
            None => {
                if self.builders.len() >= MAX_BUFFERED_DAYS {
                    // The front is the least recently used day.
                    let (old, mut builder) = self.builders.remove(0);
                    out.push((old, builder.finish()?));
                }
                self.builders
                    .push((day, BatchBuilder::with_capacity(INITIAL_ROWS)));
                self.builders.len() - 1
            }
        };
        // Keep the most recently used day at the back.
        let last = self.builders.len() - 1;
        if position != last {
            let entry = self.builders.remove(position);
            self.builders.push(entry);
        }
        let (_, builder) = &mut self.builders[last];
        builder.push(reading);
        if builder.len() >= BATCH_ROWS {
            out.push((day, builder.finish()?));
        }
        Ok(out)
    }

    /// The batches of everything still buffered.
    pub fn finish(mut self) -> Result<Vec<(NaiveDate, RecordBatch)>, ParquetError> {
        let mut out = Vec::new();
        for (day, builder) in &mut self.builders {
            if !builder.is_empty() {
                out.push((*day, builder.finish()?));
            }
        }
        Ok(out)
    }
}

/// A finished part file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenPart {
    pub day: NaiveDate,
    /// Relative to the writer's directory: `date=2024-03-01/x-00000.parquet`.
    pub relative: String,
    pub rows: u64,
}

struct OpenPart {
    day: NaiveDate,
    relative: String,
    path: PathBuf,
    writer: ArrowWriter<BufWriter<File>>,
    rows: u64,
}

/// Appends record batches to per-day part files under `dir`.
pub struct PartWriter {
    dir: PathBuf,
    prefix: String,
    /// Least recently used first.
    open: Vec<OpenPart>,
    next_index: HashMap<NaiveDate, u32>,
    written: Vec<WrittenPart>,
}

impl PartWriter {
    /// Part files will be named `<dir>/date=D/<prefix>-NNNNN.parquet`.
    pub fn new(dir: &Path, prefix: &str) -> Self {
        Self {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            open: Vec::new(),
            next_index: HashMap::new(),
            written: Vec::new(),
        }
    }

    pub fn write(&mut self, day: NaiveDate, batch: &RecordBatch) -> Result<(), PartError> {
        let position = match self.open.iter().position(|p| p.day == day) {
            Some(p) => p,
            None => {
                if self.open.len() >= MAX_OPEN_DAYS {
                    let oldest = self.open.remove(0);
                    self.close(oldest)?;
                }
                let part = self.start(day)?;
                self.open.push(part);
                self.open.len() - 1
            }
        };
        let mut part = self.open.remove(position);
        let result = part.writer.write(batch);
        part.rows += batch.num_rows() as u64;
        let path = part.path.clone();
        self.open.push(part);
        result.map_err(|e| PartError::Parquet {
            path,
            source: e.into(),
        })
    }

    fn start(&mut self, day: NaiveDate) -> Result<OpenPart, PartError> {
        let index = self.next_index.entry(day).or_insert(0);
        let relative = format!(
            "{}/{}-{:05}.parquet",
            partition_name(day),
            self.prefix,
            *index
        );
        *index += 1;
        let path = self.dir.join(&relative);
        let io = |source| PartError::Io {
            path: path.clone(),
            source,
        };
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(io)?;
        }
        let file = File::create(&path).map_err(io)?;
        let writer = ArrowWriter::try_new(
            BufWriter::with_capacity(256 * 1024, file),
            crate::schema::parquet::schema(),
            Some(writer_properties()),
        )
        .map_err(|e| PartError::Parquet {
            path: path.clone(),
            source: e.into(),
        })?;
        Ok(OpenPart {
            day,
            relative,
            path,
            writer,
            rows: 0,
        })
    }

    fn close(&mut self, part: OpenPart) -> Result<(), PartError> {
        let path = part.path;
        let out = part.writer.into_inner().map_err(|e| PartError::Parquet {
            path: path.clone(),
            source: e.into(),
        })?;
        let file = out.into_inner().map_err(|e| PartError::Io {
            path: path.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(|source| PartError::Io {
            path: path.clone(),
            source,
        })?;
        self.written.push(WrittenPart {
            day: part.day,
            relative: part.relative,
            rows: part.rows,
        });
        Ok(())
    }

    /// Closes every open file; returns all parts written, by name.
    pub fn finish(mut self) -> Result<Vec<WrittenPart>, PartError> {
        for part in std::mem::take(&mut self.open) {
            self.close(part)?;
        }
        self.written.sort_by(|a, b| a.relative.cmp(&b.relative));
        Ok(self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::parquet::ReadingsReader;

    fn reading(day: i64, seq: u64) -> SmokeReading {
        crate::schema::test_reading("d", seq, day * 86_400_000 + seq as i64)
    }

    #[test]
    fn readings_jumping_between_many_days_land_in_their_day_with_bounded_open_days() {
        let dir = tempfile::tempdir().unwrap();
        let mut batcher = DayBatcher::new();
        let mut writer = PartWriter::new(dir.path(), "t");
        let days = (MAX_BUFFERED_DAYS + 5) as i64;
        // Runs of 50 readings, each run on another day, revisiting days.
        let readings: Vec<_> = (0..4_000u64)
            .map(|i| reading(19_000 + ((i / 50) as i64 * 7) % days, i))
            .collect();
        for r in &readings {
            let day = day_of(r.event_time).unwrap();
            for (d, batch) in batcher.push(day, r).unwrap() {
                writer.write(d, &batch).unwrap();
            }
            assert!(batcher.builders.len() <= MAX_BUFFERED_DAYS);
            assert!(writer.open.len() <= MAX_OPEN_DAYS);
        }
        for (d, batch) in batcher.finish().unwrap() {
            writer.write(d, &batch).unwrap();
        }
        let parts = writer.finish().unwrap();
        assert_eq!(parts.iter().map(|p| p.rows).sum::<u64>(), 4_000);
        // At most one part per run of readings (80 runs), never one per reading.
        assert!(parts.len() <= 80, "{} parts", parts.len());
        let mut back = Vec::new();
        for part in &parts {
            for batch in ReadingsReader::open(&dir.path().join(&part.relative)).unwrap() {
                for r in batch.unwrap() {
                    assert_eq!(day_of(r.event_time), Some(part.day), "{}", part.relative);
                    assert!(part.relative.starts_with(&partition_name(part.day)));
                    back.push(r.seq);
                }
            }
        }
        back.sort_unstable();
        assert_eq!(back, (0..4_000).collect::<Vec<_>>());
    }
}
