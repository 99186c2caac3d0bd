//! Files of the watched folder as rows: each row is a valid reading or a
//! bad row with its line and reason. A problem with the file as a whole
//! (wrong header, unreadable Parquet, wrong schema) is a [`SourceError`]:
//! nothing of such a file is stored.
//!
//! * CSV in the Smoke Detection Dataset's format, read by
//!   [`CsvReader`] with empty cells allowed (stored as null, counted by the
//!   job's quality figures). The file has no device columns: the device id
//!   is the file name's stem up to the first `__`
//!   (`h001-kitchen-smoke__2024-03.csv` → `h001-kitchen-smoke`); home and
//!   room come from the fleet's device registry when the device is
//!   registered, else from `batch.csv_home` / `batch.csv_room`. The row
//!   index is the sequence number.
//! * Parquet in the readings schema ([`crate::schema::parquet`]). A row's
//!   "line" is its 1-based row number in the file. Rows are checked like
//!   CSV cells: finite numbers within each channel's physical range, ids
//!   present.

use crate::schema::csv::{CsvError, CsvReader, MissingCells};
use crate::schema::parquet::{ParquetError, from_record_batch};
use crate::schema::registry::DeviceRegistry;
use crate::schema::{Channel, DeviceId, HomeId, RoomId, SmokeReading};
use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use std::collections::VecDeque;
use std::fs::File;
use std::path::Path;

/// Rows per Parquet record batch read.
const PARQUET_BATCH_ROWS: usize = 8192;

/// The kinds of file the watched folder takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Csv,
    Parquet,
}

impl InputKind {
    /// By extension (case-insensitive): `.csv` or `.parquet`.
    pub fn of(path: &Path) -> Option<InputKind> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(InputKind::Csv),
            "parquet" => Some(InputKind::Parquet),
            _ => None,
        }
    }
}

/// A row that is not stored, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// 1-based line of a CSV file (the header is line 1), or row number of
    /// a Parquet file.
    pub line: u64,
    /// Short stable label (`wrong_type`, `out_of_range`, …) for metrics.
    pub reason: &'static str,
    /// What exactly was wrong, naming column and value.
    pub error: String,
}

/// One row of an input file.
// Good rows are the common case: boxing them would cost an allocation per row.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    Good(SmokeReading),
    Bad(BadRow),
}

/// Why a file cannot be ingested at all.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot open: {0}")]
    Open(std::io::Error),
    #[error(transparent)]
    Csv(CsvError),
    #[error("not a readings Parquet file: {0}")]
    Parquet(ParquetError),
    #[error("not in the readings schema: {0}")]
    Schema(String),
}

/// Every column of the readings schema must be there with its type
/// (extra columns are fine); all problems are named at once.
fn check_schema(found: &arrow::datatypes::Schema) -> Result<(), String> {
    use arrow::datatypes::DataType;
    let mut problems = Vec::new();
    for field in crate::schema::parquet::schema().fields() {
        match found.field_with_name(field.name()) {
            Err(_) => problems.push(format!("column {:?} is missing", field.name())),
            Ok(f) => {
                let same = match (f.data_type(), field.data_type()) {
                    (DataType::Timestamp(a, _), DataType::Timestamp(b, _)) => a == b,
                    (a, b) => a == b,
                };
                if !same {
                    problems.push(format!(
                        "column {:?} is {}, expected {}",
                        field.name(),
                        f.data_type(),
                        field.data_type()
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// The device a CSV file's readings belong to (see the module docs).
pub fn csv_identity(
    path: &Path,
    home: &str,
    room: &str,
    devices: &DeviceRegistry,
) -> (DeviceId, HomeId, RoomId) {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = stem.split("__").next().unwrap_or_default().trim();
    let device = DeviceId::from(if name.is_empty() { "csv" } else { name });
    match devices.get(&device) {
        Some(info) => (device, info.home, info.room),
        None => (device, HomeId::from(home), RoomId::from(room)),
    }
}

/// Rows of an input file.
pub enum Source {
    Csv(Box<CsvSource>),
    Parquet(ParquetSource),
}

impl Source {
    /// Opens `path`; CSV rows become readings of `identity`.
    pub fn open(
        path: &Path,
        kind: InputKind,
        identity: (DeviceId, HomeId, RoomId),
    ) -> Result<Source, SourceError> {
        let file = File::open(path).map_err(SourceError::Open)?;
        Ok(match kind {
            InputKind::Csv => Source::Csv(Box::new(CsvSource {
                reader: CsvReader::new(file, MissingCells::Allow),
                identity,
            })),
            InputKind::Parquet => {
                let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                    .map_err(|e| SourceError::Parquet(e.into()))?;
                check_schema(builder.schema()).map_err(SourceError::Schema)?;
                let batches = builder
                    .with_batch_size(PARQUET_BATCH_ROWS)
                    .build()
                    .map_err(|e| SourceError::Parquet(e.into()))?;
                Source::Parquet(ParquetSource {
                    batches,
                    rows_before: 0,
                    pending: VecDeque::new(),
                })
            }
        })
    }
}

impl Iterator for Source {
    type Item = Result<Row, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Source::Csv(s) => s.next(),
            Source::Parquet(s) => s.next(),
        }
    }
}

pub struct CsvSource {
    reader: CsvReader<File>,
    identity: (DeviceId, HomeId, RoomId),
}

impl Iterator for CsvSource {
    type Item = Result<Row, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(match self.reader.next_row()? {
            Ok(row) => {
                let (device, home, room) = self.identity.clone();
                let reading = row.into_reading(device, home, room);
                Ok(match check_time(&reading) {
                    Some(problem) => Row::Bad(BadRow {
                        line: self.reader.line_number(),
                        ..problem
                    }),
                    None => Row::Good(reading),
                })
            }
            Err(e @ (CsvError::Header { .. } | CsvError::Io(_))) => Err(SourceError::Csv(e)),
            Err(e) => Ok(Row::Bad(BadRow {
                line: e.line().unwrap_or(0),
                reason: e.reason(),
                error: e.to_string(),
            })),
        })
    }
}

/// Refuses readings whose time has no calendar day (cannot be partitioned).
fn check_time(reading: &SmokeReading) -> Option<BadRow> {
    if crate::store::parts::day_of(reading.event_time).is_some() {
        return None;
    }
    Some(BadRow {
        line: 0,
        reason: "bad_timestamp",
        error: format!(
            "event time {}ms is outside the calendar range",
            reading.event_time.millis()
        ),
    })
}

pub struct ParquetSource {
    batches: ParquetRecordBatchReader,
    /// Rows of the batches already taken.
    rows_before: u64,
    pending: VecDeque<Row>,
}

impl Iterator for ParquetSource {
    type Item = Result<Row, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(row) = self.pending.pop_front() {
                return Some(Ok(row));
            }
            let batch = match self.batches.next()? {
                Ok(batch) => batch,
                Err(e) => return Some(Err(SourceError::Parquet(e.into()))),
            };
            if let Err(e) = self.take(&batch) {
                return Some(Err(SourceError::Parquet(e)));
            }
        }
    }
}

impl ParquetSource {
    /// Checks every row of `batch` into `pending`. A missing or mistyped
    /// column fails the file; a null where a value is required fails the row.
    fn take(&mut self, batch: &RecordBatch) -> Result<(), ParquetError> {
        let first_line = self.rows_before + 1;
        self.rows_before += batch.num_rows() as u64;
        match from_record_batch(batch) {
            Ok(readings) => {
                for (i, reading) in readings.into_iter().enumerate() {
                    self.pending
                        .push_back(check_reading(reading, first_line + i as u64));
                }
                Ok(())
            }
            Err(ParquetError::Value { .. }) => {
                for i in 0..batch.num_rows() {
                    let line = first_line + i as u64;
                    match from_record_batch(&batch.slice(i, 1)) {
                        Ok(mut one) => match one.pop() {
                            Some(reading) => self.pending.push_back(check_reading(reading, line)),
                            None => continue,
                        },
                        Err(ParquetError::Value { column, reason, .. }) => {
                            self.pending.push_back(Row::Bad(BadRow {
                                line,
                                reason: "missing_value",
                                error: format!("row {line}, column {column:?} {reason}"),
                            }))
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

/// Applies the CSV reader's cell rules to a reading from Parquet.
fn check_reading(reading: SmokeReading, line: u64) -> Row {
    let bad = |reason, error: String| {
        Row::Bad(BadRow {
            line,
            reason,
            error,
        })
    };
    for (name, id) in [
        ("device_id", reading.device_id.as_str()),
        ("home", reading.home.as_str()),
        ("room", reading.room.as_str()),
    ] {
        if id.trim().is_empty() {
            return bad(
                "missing_value",
                format!("row {line}, column {name:?} is empty"),
            );
        }
    }
    for channel in Channel::ALL {
        let Some(value) = reading.values.get(channel) else {
            continue;
        };
        if !value.is_finite() {
            return bad(
                "not_finite",
                format!(
                    "row {line}, column {:?}: {value} is not a finite number",
                    channel.key()
                ),
            );
        }
        let range = channel.physical_range();
        if !range.contains(&value) {
            return bad(
                "out_of_range",
                format!(
                    "row {line}, column {:?}: {value} is outside the physical range {}..={}",
                    channel.key(),
                    range.start(),
                    range.end()
                ),
            );
        }
    }
    match check_time(&reading) {
        Some(problem) => Row::Bad(BadRow { line, ..problem }),
        None => Row::Good(reading),
    }
}
