//! Training features as Parquet: for every reading of a day, the feature
//! vector the fire model is trained and served on ([`crate::features`],
//! with the spec of `ml.features`), written to
//! `<batch.state_dir>/features/date=YYYY-MM-DD/features.parquet`.
//!
//! Features are computed per device in event-time order within the day,
//! exactly as training does per series (the EW state restarts at the day's
//! first reading, as it does after any gap longer than `ml.features.max_gap`).
//!
//! Columns: `event_time` (timestamp ms UTC), `device_id`, `seq`,
//! `fire_alarm` (null when unlabelled), then one Float64 column per
//! feature, named like `pm2_5__mean_30s` (null while a channel has no value
//! yet).

use super::aggregates::{OutputError, write_parquet};
use crate::features::{DeviceFeatures, FeatureSpec};
use crate::schema::SmokeReading;
use crate::store::parts::partition_name;
use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, RecordBatch, StringBuilder,
    TimestampMillisecondBuilder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use chrono::NaiveDate;
use std::path::Path;
use std::sync::Arc;

/// File name of a day's features.
pub const FILE_NAME: &str = "features.parquet";

/// Writes the features of `readings` (one day's, any order); returns the
/// file's path relative to `root`.
pub fn write_day(
    root: &Path,
    day: NaiveDate,
    spec: &FeatureSpec,
    readings: &mut [SmokeReading],
) -> Result<String, OutputError> {
    let relative = format!("{}/{FILE_NAME}", partition_name(day));
    let path = root.join(&relative);
    readings.sort_by(|a, b| {
        (&a.device_id, a.event_time, a.seq).cmp(&(&b.device_id, b.event_time, b.seq))
    });
    let batch = to_batch(spec, readings).map_err(|e| OutputError::Encode {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    write_parquet(&path, &batch)?;
    Ok(relative)
}

/// `readings` sorted by (device, time, seq).
fn to_batch(
    spec: &FeatureSpec,
    readings: &[SmokeReading],
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let n = readings.len();
    let mut time = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut device = StringBuilder::new();
    let mut seq = UInt64Builder::with_capacity(n);
    let mut label = BooleanBuilder::with_capacity(n);
    let mut columns: Vec<Float64Builder> = (0..spec.len())
        .map(|_| Float64Builder::with_capacity(n))
        .collect();
    let mut current: Option<&str> = None;
    let mut features = DeviceFeatures::new(spec);
    let mut vector = Vec::with_capacity(spec.len());
    for r in readings {
        if current != Some(r.device_id.as_str()) {
            current = Some(r.device_id.as_str());
            features = DeviceFeatures::new(spec);
        }
        features.update(r.event_time, &r.values);
        features.vector_into(spec, &mut vector);
        time.append_value(r.event_time.millis());
        device.append_value(r.device_id.as_str());
        seq.append_value(r.seq);
        label.append_option(r.fire_alarm);
        for (column, value) in columns.iter_mut().zip(&vector) {
            column.append_option((!value.is_nan()).then_some(*value));
        }
    }
    let mut fields = vec![
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("device_id", DataType::Utf8, false),
        Field::new("seq", DataType::UInt64, false),
        Field::new("fire_alarm", DataType::Boolean, true),
    ];
    fields.extend(
        spec.names()
            .into_iter()
            .map(|name| Field::new(name, DataType::Float64, true)),
    );
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(time.finish()),
        Arc::new(device.finish()),
        Arc::new(seq.finish()),
        Arc::new(label.finish()),
    ];
    arrays.extend(columns.iter_mut().map(|c| Arc::new(c.finish()) as ArrayRef));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}
