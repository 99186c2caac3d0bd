//! The one Parquet schema for smoke-detector readings, with its writer and
//! reader. `generate`, the batch store and the ML loader all use it, so a
//! file written by one is read by the others (and by pyarrow, DuckDB or
//! Spark) without a mapping step.
//!
//! | column | Arrow type | null? | meaning |
//! |---|---|---|---|
//! | `event_time` | Timestamp(ms, "UTC") | no | when the sensor measured |
//! | `device_id` | Utf8 | no | smoke detector id |
//! | `home` | Utf8 | no | home id |
//! | `room` | Utf8 | no | room id within the home |
//! | `seq` | UInt64 | no | per-device sequence number |
//! | `cnt` | UInt64 | yes | the data set's `CNT` (samples since power-on) |
//! | `temperature_c` … `nc2_5` | Float64 | yes | the 12 channels, named by [`Channel::key`], in data-set order; null = missing |
//! | `fire_alarm` | Boolean | yes | the data set's `Fire Alarm` label, when known |
//!
//! The schema carries `smokewatch.schema = readings/1` in its metadata.
//! Files are Snappy-compressed with row groups of [`ROW_GROUP_ROWS`] rows:
//! large enough for efficient column scans, small enough that a writer
//! holds only a few tens of MB in memory.

use super::{Channel, ChannelValues, DeviceId, EventTime, HomeId, RoomId, SmokeReading};
use arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, Float64Array, Float64Builder, RecordBatch,
    StringArray, StringBuilder, TimestampMillisecondArray, TimestampMillisecondBuilder,
    UInt64Array, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// Metadata key and value naming this schema and its version.
pub const SCHEMA_METADATA_KEY: &str = "smokewatch.schema";
pub const SCHEMA_METADATA_VALUE: &str = "readings/1";
/// Rows per row group (and per record batch handed to the writer).
pub const ROW_GROUP_ROWS: usize = 131_072;
/// Name of the timestamp column.
pub const EVENT_TIME: &str = "event_time";

/// Why a readings Parquet file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ParquetError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("column {column:?} is missing or is not {expected}")]
    Column {
        column: String,
        expected: &'static str,
    },
    #[error("row {row}, column {column:?}: {reason}")]
    Value {
        row: usize,
        column: String,
        reason: &'static str,
    },
}

/// The readings schema (shared, built once).
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let mut fields = vec![
                Field::new(
                    EVENT_TIME,
                    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                    false,
                ),
                Field::new("device_id", DataType::Utf8, false),
                Field::new("home", DataType::Utf8, false),
                Field::new("room", DataType::Utf8, false),
                Field::new("seq", DataType::UInt64, false),
                Field::new("cnt", DataType::UInt64, true),
            ];
            fields.extend(
                Channel::ALL
                    .iter()
                    .map(|c| Field::new(c.key(), DataType::Float64, true)),
            );
            fields.push(Field::new("fire_alarm", DataType::Boolean, true));
            let metadata = HashMap::from([(
                SCHEMA_METADATA_KEY.to_string(),
                SCHEMA_METADATA_VALUE.to_string(),
            )]);
            Arc::new(Schema::new_with_metadata(fields, metadata))
        })
        .clone()
}

/// Writer properties of every readings file.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build()
}

/// Accumulates readings column by column into record batches.
pub struct BatchBuilder {
    event_time: TimestampMillisecondBuilder,
    device_id: StringBuilder,
    home: StringBuilder,
    room: StringBuilder,
    seq: UInt64Builder,
    cnt: UInt64Builder,
    channels: Vec<Float64Builder>,
    fire_alarm: BooleanBuilder,
    len: usize,
}

impl BatchBuilder {
    pub fn with_capacity(rows: usize) -> Self {
        Self {
            event_time: TimestampMillisecondBuilder::with_capacity(rows).with_timezone("UTC"),
            device_id: StringBuilder::with_capacity(rows, rows * 24),
            home: StringBuilder::with_capacity(rows, rows * 4),
            room: StringBuilder::with_capacity(rows, rows * 10),
            seq: UInt64Builder::with_capacity(rows),
            cnt: UInt64Builder::with_capacity(rows),
            channels: (0..Channel::ALL.len())
                .map(|_| Float64Builder::with_capacity(rows))
                .collect(),
            fire_alarm: BooleanBuilder::with_capacity(rows),
            len: 0,
        }
    }

    pub fn push(&mut self, r: &SmokeReading) {
        self.event_time.append_value(r.event_time.millis());
        self.device_id.append_value(r.device_id.as_str());
        self.home.append_value(r.home.as_str());
        self.room.append_value(r.room.as_str());
        self.seq.append_value(r.seq);
        self.cnt.append_option(r.cnt);
        for (builder, value) in self.channels.iter_mut().zip(r.values.0) {
            builder.append_option(value);
        }
        self.fire_alarm.append_option(r.fire_alarm);
        self.len += 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The batch of everything pushed since the last call.
    pub fn finish(&mut self) -> Result<RecordBatch, ParquetError> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.event_time.finish()),
            Arc::new(self.device_id.finish()),
            Arc::new(self.home.finish()),
            Arc::new(self.room.finish()),
            Arc::new(self.seq.finish()),
            Arc::new(self.cnt.finish()),
        ];
        columns.extend(
            self.channels
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        columns.push(Arc::new(self.fire_alarm.finish()));
        self.len = 0;
        Ok(RecordBatch::try_new(schema(), columns)?)
    }
}

/// Readings as one record batch.
pub fn to_record_batch(readings: &[SmokeReading]) -> Result<RecordBatch, ParquetError> {
    let mut builder = BatchBuilder::with_capacity(readings.len());
    readings.iter().for_each(|r| builder.push(r));
    builder.finish()
}

fn column<'a, T: 'static>(
    batch: &'a RecordBatch,
    name: &str,
    expected: &'static str,
) -> Result<&'a T, ParquetError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| ParquetError::Column {
            column: name.to_string(),
            expected,
        })
}

fn required_text(array: &StringArray, row: usize, name: &str) -> Result<String, ParquetError> {
    if array.is_null(row) {
        return Err(ParquetError::Value {
            row,
            column: name.to_string(),
            reason: "is null",
        });
    }
    Ok(array.value(row).to_string())
}

/// Readings of a record batch in the readings schema. Columns are found by
/// name, so extra columns (and another column order) are accepted.
pub fn from_record_batch(batch: &RecordBatch) -> Result<Vec<SmokeReading>, ParquetError> {
    let time: &TimestampMillisecondArray = column(batch, EVENT_TIME, "Timestamp(Millisecond)")?;
    let device: &StringArray = column(batch, "device_id", "Utf8")?;
    let home: &StringArray = column(batch, "home", "Utf8")?;
    let room: &StringArray = column(batch, "room", "Utf8")?;
    let seq: &UInt64Array = column(batch, "seq", "UInt64")?;
    let cnt: &UInt64Array = column(batch, "cnt", "UInt64")?;
    let channels = Channel::ALL
        .iter()
        .map(|c| column::<Float64Array>(batch, c.key(), "Float64"))
        .collect::<Result<Vec<_>, _>>()?;
    let alarm: &BooleanArray = column(batch, "fire_alarm", "Boolean")?;
    let mut out = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        if time.is_null(row) || seq.is_null(row) {
            return Err(ParquetError::Value {
                row,
                column: if time.is_null(row) { EVENT_TIME } else { "seq" }.to_string(),
                reason: "is null",
            });
        }
        let mut values = ChannelValues::EMPTY;
        for (slot, array) in values.0.iter_mut().zip(&channels) {
            *slot = (!array.is_null(row)).then(|| array.value(row));
        }
        out.push(SmokeReading {
            device_id: DeviceId::from(required_text(device, row, "device_id")?),
            home: HomeId::from(required_text(home, row, "home")?),
            room: RoomId::from(required_text(room, row, "room")?),
            event_time: EventTime(time.value(row)),
            seq: seq.value(row),
            cnt: (!cnt.is_null(row)).then(|| cnt.value(row)),
            values,
            fire_alarm: (!alarm.is_null(row)).then(|| alarm.value(row)),
        });
    }
    Ok(out)
}

/// Writes readings to one Parquet stream, a row group at a time.
pub struct ReadingsWriter<W: Write + Send> {
    writer: ArrowWriter<W>,
    builder: BatchBuilder,
    rows: u64,
}

impl<W: Write + Send> ReadingsWriter<W> {
    pub fn new(out: W) -> Result<Self, ParquetError> {
        Ok(Self {
            writer: ArrowWriter::try_new(out, schema(), Some(writer_properties()))?,
            builder: BatchBuilder::with_capacity(ROW_GROUP_ROWS),
            rows: 0,
        })
    }

    pub fn write(&mut self, reading: &SmokeReading) -> Result<(), ParquetError> {
        self.builder.push(reading);
        self.rows += 1;
        if self.builder.len() >= ROW_GROUP_ROWS {
            let batch = self.builder.finish()?;
            self.writer.write(&batch)?;
        }
        Ok(())
    }

    /// Writes a ready batch (in the readings schema) as it is.
    pub fn write_batch(&mut self, batch: &RecordBatch) -> Result<(), ParquetError> {
        if !self.builder.is_empty() {
            let pending = self.builder.finish()?;
            self.writer.write(&pending)?;
        }
        self.rows += batch.num_rows() as u64;
        self.writer.write(batch)?;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes what is buffered and the file footer.
    pub fn finish(mut self) -> Result<W, ParquetError> {
        if !self.builder.is_empty() {
            let batch = self.builder.finish()?;
            self.writer.write(&batch)?;
        }
        Ok(self.writer.into_inner()?)
    }
}

/// Reads the readings of a Parquet file, a record batch at a time.
pub struct ReadingsReader {
    batches: ParquetRecordBatchReader,
}

impl ReadingsReader {
    pub fn open(path: &Path) -> Result<Self, ParquetError> {
        let file = File::open(path).map_err(|source| ParquetError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let batches = ParquetRecordBatchReaderBuilder::try_new(file)?
            .with_batch_size(8192)
            .build()?;
        Ok(Self { batches })
    }
}

impl Iterator for ReadingsReader {
    type Item = Result<Vec<SmokeReading>, ParquetError>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = self.batches.next()?;
        Some(
            batch
                .map_err(ParquetError::from)
                .and_then(|b| from_record_batch(&b)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(seq: u64, alarm: Option<bool>) -> SmokeReading {
        let mut values = ChannelValues::EMPTY;
        for c in Channel::ALL {
            values.set(c, Some(c.index() as f64 + seq as f64 / 10.0));
        }
        values.set(Channel::Pm2_5, None);
        SmokeReading {
            device_id: "h001-kitchen-smoke".into(),
            home: "h001".into(),
            room: "kitchen".into(),
            event_time: EventTime(1_654_712_187_000 + seq as i64 * 1000),
            seq,
            cnt: seq.is_multiple_of(2).then_some(seq),
            values,
            fire_alarm: alarm,
        }
    }

    #[test]
    fn readings_round_trip_through_a_file() {
        let readings: Vec<_> = (0..1000)
            .map(|i| reading(i, [Some(true), Some(false), None][i as usize % 3]))
            .collect();
        let mut writer = ReadingsWriter::new(Vec::new()).unwrap();
        readings.iter().for_each(|r| writer.write(r).unwrap());
        let bytes = bytes::Bytes::from(writer.finish().unwrap());
        let back: Vec<SmokeReading> = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap()
            .flat_map(|b| from_record_batch(&b.unwrap()).unwrap())
            .collect();
        assert_eq!(back, readings);
    }

    #[test]
    fn schema_names_channels_by_key_and_keeps_them_nullable() {
        let schema = schema();
        assert_eq!(schema.fields().len(), 6 + Channel::ALL.len() + 1);
        for c in Channel::ALL {
            let field = schema.field_with_name(c.key()).unwrap();
            assert_eq!(field.data_type(), &DataType::Float64);
            assert!(field.is_nullable());
        }
        assert!(!schema.field_with_name(EVENT_TIME).unwrap().is_nullable());
    }

    #[test]
    fn a_batch_without_a_column_is_refused_by_name() {
        let batch = to_record_batch(&[reading(1, None)]).unwrap();
        let without = batch.project(&[0, 1, 2, 3, 4]).unwrap();
        let err = from_record_batch(&without).unwrap_err();
        assert!(err.to_string().contains("\"cnt\""), "{err}");
    }
}
