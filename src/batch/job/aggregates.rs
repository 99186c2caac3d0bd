//! Daily aggregates as Parquet: one row per device and UTC day, written to
//! `<batch.state_dir>/aggregates/date=YYYY-MM-DD/daily.parquet` (Hive
//! layout, like the store). A day is always aggregated over its whole
//! store partition and its file replaced atomically, so re-running a day
//! (new files arrived for it) gives the same result as aggregating it once.
//!
//! Columns: `day_start` (timestamp ms UTC), `device_id`, `home`, `room`,
//! `readings`, `labelled`, `alarms`, `alarm_rate` (null without labels),
//! then per channel key `<key>_count`, `<key>_mean`, `<key>_min`,
//! `<key>_max` (null when the channel had no value that day).

use super::daily::DailyStats;
use crate::base::durable;
use crate::schema::Channel;
use crate::schema::parquet::writer_properties;
use crate::store::parts::partition_name;
use arrow::array::{
    ArrayRef, Float64Builder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
    UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// File name of a day's aggregates.
pub const FILE_NAME: &str = "daily.parquet";

/// Why aggregates could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("encoding {}: {reason}", path.display())]
    Encode { path: PathBuf, reason: String },
}

impl OutputError {
    fn encode(path: &Path, reason: impl std::fmt::Display) -> Self {
        OutputError::Encode {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }
}

/// The schema of the aggregate files.
pub fn schema() -> SchemaRef {
    let mut fields = vec![
        Field::new(
            "day_start",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("device_id", DataType::Utf8, false),
        Field::new("home", DataType::Utf8, false),
        Field::new("room", DataType::Utf8, false),
        Field::new("readings", DataType::UInt64, false),
        Field::new("labelled", DataType::UInt64, false),
        Field::new("alarms", DataType::UInt64, false),
        Field::new("alarm_rate", DataType::Float64, true),
    ];
    for c in Channel::ALL {
        fields.push(Field::new(
            format!("{}_count", c.key()),
            DataType::UInt64,
            false,
        ));
        for stat in ["mean", "min", "max"] {
            fields.push(Field::new(
                format!("{}_{stat}", c.key()),
                DataType::Float64,
                true,
            ));
        }
    }
    Arc::new(Schema::new(fields))
}

/// Writes the aggregates of `day` (the stats must cover only that day);
/// returns the file's path relative to `root`.
pub fn write_day(root: &Path, day: NaiveDate, stats: &DailyStats) -> Result<String, OutputError> {
    let relative = format!("{}/{FILE_NAME}", partition_name(day));
    let path = root.join(&relative);
    let batch = to_batch(day, stats).map_err(|e| OutputError::encode(&path, e))?;
    write_parquet(&path, &batch)?;
    Ok(relative)
}

/// Encodes `batch` as one Parquet file and replaces `path` with it
/// atomically (the day's previous file, if any).
pub(super) fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<(), OutputError> {
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), Some(writer_properties()))
        .map_err(|e| OutputError::encode(path, e))?;
    writer
        .write(batch)
        .map_err(|e| OutputError::encode(path, e))?;
    writer.close().map_err(|e| OutputError::encode(path, e))?;
    durable::write(path, &bytes).map_err(|source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn to_batch(day: NaiveDate, stats: &DailyStats) -> Result<RecordBatch, arrow::error::ArrowError> {
    let day_ms = day
        .and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_millis());
    let mut start = TimestampMillisecondBuilder::new().with_timezone("UTC");
    let (mut device, mut home, mut room) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let (mut readings, mut labelled, mut alarms) = (
        UInt64Builder::new(),
        UInt64Builder::new(),
        UInt64Builder::new(),
    );
    let mut rate = Float64Builder::new();
    let mut counts: Vec<UInt64Builder> =
        Channel::ALL.iter().map(|_| UInt64Builder::new()).collect();
    let mut stat: Vec<[Float64Builder; 3]> = Channel::ALL
        .iter()
        .map(|_| std::array::from_fn(|_| Float64Builder::new()))
        .collect();
    for ((d, id), dd) in stats.days.range((day, crate::schema::DeviceId::from(""))..) {
        if *d != day {
            break;
        }
        start.append_value(day_ms);
        device.append_value(id.as_str());
        home.append_value(dd.home.as_str());
        room.append_value(dd.room.as_str());
        readings.append_value(dd.readings);
        labelled.append_value(dd.labelled);
        alarms.append_value(dd.alarms);
        rate.append_option((dd.labelled > 0).then(|| dd.alarms as f64 / dd.labelled as f64));
        for c in Channel::ALL {
            let acc = &dd.channels[c.index()];
            counts[c.index()].append_value(acc.count);
            let summary = acc.summary();
            let [mean, min, max] = &mut stat[c.index()];
            mean.append_option(summary.as_ref().map(|s| s.mean));
            min.append_option(summary.as_ref().map(|s| s.min));
            max.append_option(summary.as_ref().map(|s| s.max));
        }
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(start.finish()),
        Arc::new(device.finish()),
        Arc::new(home.finish()),
        Arc::new(room.finish()),
        Arc::new(readings.finish()),
        Arc::new(labelled.finish()),
        Arc::new(alarms.finish()),
        Arc::new(rate.finish()),
    ];
    for (count, [mean, min, max]) in counts.iter_mut().zip(stat.iter_mut()) {
        columns.push(Arc::new(count.finish()));
        columns.push(Arc::new(mean.finish()));
        columns.push(Arc::new(min.finish()));
        columns.push(Arc::new(max.finish()));
    }
    RecordBatch::try_new(schema(), columns)
}
