//! Writes generated history to disk: the data set's CSV, one Parquet file,
//! or a Parquet directory partitioned by day (`date=YYYY-MM-DD/`).
//!
//! Generation and encoding run on two threads joined by a bounded channel
//! of two batches, so a 2-core machine keeps both busy while memory stays
//! bounded (the generator waits when the encoder is behind).

use super::history::HistoryGenerator;
use crate::schema::csv::{CsvRow, CsvWriter};
use crate::schema::parquet::{BatchBuilder, ParquetError, ROW_GROUP_ROWS, ReadingsWriter};
use crate::schema::{EventTime, SmokeReading};
use arrow::array::RecordBatch;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Readings per chunk handed from the generator to the CSV encoder.
const CSV_CHUNK: usize = 16_384;
const MS_PER_DAY: i64 = 86_400_000;

/// Why exporting failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Parquet(#[from] ParquetError),
    #[error("the encoder thread stopped unexpectedly")]
    EncoderGone,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Called with the number of rows written so far, every chunk.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// Writes every reading as a row of the data set's CSV (row index from 0).
pub fn write_csv<W: Write + Send>(
    generator: HistoryGenerator,
    out: W,
    out_name: &Path,
    progress: Progress<'_>,
) -> Result<u64, ExportError> {
    let (tx, rx) = sync_channel::<Vec<SmokeReading>>(2);
    std::thread::scope(|scope| {
        let encoder = scope.spawn(move || -> Result<u64, ExportError> {
            let mut writer = CsvWriter::new(out).map_err(io_error(out_name))?;
            let mut index = 0u64;
            for chunk in rx {
                for reading in &chunk {
                    let row = CsvRow::from_reading(index, reading);
                    writer.write_row(&row).map_err(io_error(out_name))?;
                    index += 1;
                }
                progress(index);
            }
            writer.finish().map_err(io_error(out_name))?;
            Ok(index)
        });
        let sent = send_chunks(generator, &tx);
        drop(tx);
        let written = encoder.join().map_err(|_| ExportError::EncoderGone)??;
        sent.map(|()| written)
    })
}

fn send_chunks(
    generator: HistoryGenerator,
    tx: &SyncSender<Vec<SmokeReading>>,
) -> Result<(), ExportError> {
    let mut chunk = Vec::with_capacity(CSV_CHUNK);
    for reading in generator {
        chunk.push(reading);
        if chunk.len() == CSV_CHUNK {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CSV_CHUNK));
            // A closed channel means the encoder failed; its error wins.
            if tx.send(full).is_err() {
                return Ok(());
            }
        }
    }
    if !chunk.is_empty() {
        let _ = tx.send(chunk);
    }
    Ok(())
}

/// Writes every reading to one Parquet file.
pub fn write_parquet<W: Write + Send>(
    generator: HistoryGenerator,
    out: W,
    progress: Progress<'_>,
) -> Result<u64, ExportError> {
    let mut sink = Some(ReadingsWriter::new(out)?);
    let rows = pipeline(generator, false, progress, |_, batch| {
        match sink.as_mut() {
            Some(writer) => writer.write_batch(&batch)?,
            None => return Err(ExportError::EncoderGone),
        }
        Ok(())
    })?;
    if let Some(writer) = sink.take() {
        writer.finish()?;
    }
    Ok(rows)
}

/// Writes readings into `dir/date=YYYY-MM-DD/<prefix>-NNNNN.parquet`, one
/// file per day (Hive partitioning: Spark, DuckDB and pyarrow read the
/// `date` column from the path). Returns the rows and the files written.
pub fn write_parquet_partitioned(
    generator: HistoryGenerator,
    dir: &Path,
    prefix: &str,
    progress: Progress<'_>,
) -> Result<(u64, Vec<PathBuf>), ExportError> {
    let mut files = Vec::new();
    let mut current: Option<(i64, ReadingsWriter<std::io::BufWriter<std::fs::File>>)> = None;
    let rows = pipeline(generator, true, progress, |day, batch| {
        if current.as_ref().is_none_or(|(d, _)| *d != day) {
            if let Some((_, writer)) = current.take() {
                writer.finish()?;
            }
            let path = partition_file(dir, day, prefix);
            let folder = path.parent().unwrap_or(dir);
            std::fs::create_dir_all(folder).map_err(io_error(folder))?;
            let file = std::fs::File::create(&path).map_err(io_error(&path))?;
            files.push(path);
            current = Some((day, ReadingsWriter::new(std::io::BufWriter::new(file))?));
        }
        if let Some((_, writer)) = current.as_mut() {
            writer.write_batch(&batch)?;
        }
        Ok(())
    })?;
    if let Some((_, writer)) = current.take() {
        writer.finish()?;
    }
    Ok((rows, files))
}

/// `dir/date=YYYY-MM-DD/<prefix>-00000.parquet` for day number `day`.
pub fn partition_file(dir: &Path, day: i64, prefix: &str) -> PathBuf {
    let date = EventTime(day * MS_PER_DAY)
        .to_datetime()
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| format!("day{day}"));
    dir.join(format!("date={date}"))
        .join(format!("{prefix}-00000.parquet"))
}

/// Builds record batches on this thread and hands them, with their day
/// number (when `split_days`), to `write` on an encoder thread.
fn pipeline<F>(
    generator: HistoryGenerator,
    split_days: bool,
    progress: Progress<'_>,
    mut write: F,
) -> Result<u64, ExportError>
where
    F: FnMut(i64, RecordBatch) -> Result<(), ExportError> + Send,
{
    let (tx, rx) = sync_channel::<(i64, RecordBatch)>(2);
    std::thread::scope(|scope| {
        let encoder = scope.spawn(move || encode(rx, &mut write, progress));
        let built = build_batches(generator, split_days, &tx);
        drop(tx);
        let written = encoder.join().map_err(|_| ExportError::EncoderGone)??;
        built.map(|()| written)
    })
}

fn encode<F>(
    rx: Receiver<(i64, RecordBatch)>,
    write: &mut F,
    progress: Progress<'_>,
) -> Result<u64, ExportError>
where
    F: FnMut(i64, RecordBatch) -> Result<(), ExportError>,
{
    let mut rows = 0u64;
    for (day, batch) in rx {
        rows += batch.num_rows() as u64;
        write(day, batch)?;
        progress(rows);
    }
    Ok(rows)
}

fn build_batches(
    generator: HistoryGenerator,
    split_days: bool,
    tx: &SyncSender<(i64, RecordBatch)>,
) -> Result<(), ExportError> {
    let mut builder = BatchBuilder::with_capacity(ROW_GROUP_ROWS);
    let mut day = None;
    for reading in generator {
        let reading_day = if split_days {
            reading.event_time.millis().div_euclid(MS_PER_DAY)
        } else {
            0
        };
        if day.is_some_and(|d| d != reading_day) || builder.len() >= ROW_GROUP_ROWS {
            let batch = builder.finish()?;
            if tx.send((day.unwrap_or(reading_day), batch)).is_err() {
                return Ok(());
            }
        }
        day = Some(reading_day);
        builder.push(&reading);
    }
    if let Some(d) = day
        && !builder.is_empty()
    {
        let _ = tx.send((d, builder.finish()?));
    }
    Ok(())
}
