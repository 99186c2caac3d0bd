//! File encodings of the stream's outputs: CSV and Parquet for window
//! results and alerts (one flat schema each, as the Smart Home job wrote
//! them), JSON lines for dead letters. Encoding is deterministic (same
//! records, same bytes), which the content-derived part names rely on.

use super::{AlertEvent, DeadLetter, WindowResult};
use crate::schema::EventTime;
use arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use std::sync::Arc;

/// Why records could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("csv: {0}")]
    Csv(#[from] csv::Error),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

fn time(t: EventTime) -> String {
    t.to_string()
}

/// Column names of window-result files.
pub const WINDOW_COLUMNS: [&str; 15] = [
    "window",
    "key_kind",
    "device",
    "home",
    "room",
    "measure",
    "window_start",
    "window_end",
    "count",
    "avg",
    "min",
    "max",
    "stddev",
    "last",
    "final",
];

/// Column names of alert files.
pub const ALERT_COLUMNS: [&str; 16] = [
    "event_id",
    "change",
    "alert_id",
    "device",
    "home",
    "room",
    "rule",
    "kind",
    "severity",
    "state",
    "event_time",
    "last_event_time",
    "resolved_time",
    "trigger_seq",
    "repeats",
    "values",
];

fn window_row(r: &WindowResult) -> [String; 15] {
    [
        r.window.as_str().into(),
        r.key_kind.as_str().into(),
        r.device.as_ref().map(|d| d.to_string()).unwrap_or_default(),
        r.home.to_string(),
        r.room.to_string(),
        r.measure.as_str().into(),
        time(r.start),
        time(r.end),
        r.count.to_string(),
        r.avg.to_string(),
        r.min.to_string(),
        r.max.to_string(),
        r.stddev.to_string(),
        r.last.to_string(),
        r.is_final.to_string(),
    ]
}

/// One alert change as a row. The detection time (wall clock) is left out
/// of files so that a replay writes identical rows; it is on Kafka and in
/// the web ring.
fn alert_row(e: &AlertEvent) -> [String; 16] {
    let a = &e.alert;
    let change = serde_json::to_value(e.change)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    [
        e.event_id().to_string(),
        change,
        a.id.to_string(),
        a.device.as_ref().map(|d| d.to_string()).unwrap_or_default(),
        a.home.to_string(),
        a.room.to_string(),
        a.rule.clone(),
        a.kind.as_str().into(),
        a.severity.as_str().into(),
        match a.state {
            super::AlertState::Open => "open".into(),
            super::AlertState::Resolved => "resolved".into(),
        },
        time(a.event_time),
        time(a.last_event_time),
        a.resolved_time.map(time).unwrap_or_default(),
        a.trigger_seq.to_string(),
        a.repeats.to_string(),
        serde_json::to_string(&a.values).unwrap_or_default(),
    ]
}

fn csv_bytes<const N: usize>(
    header: [&str; N],
    rows: impl Iterator<Item = [String; N]>,
) -> Result<Vec<u8>, EncodeError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header)?;
    for row in rows {
        w.write_record(&row)?;
    }
    w.into_inner()
        .map_err(|e| EncodeError::Csv(e.into_error().into()))
}

pub fn windows_csv(rows: &[WindowResult]) -> Result<Vec<u8>, EncodeError> {
    csv_bytes(WINDOW_COLUMNS, rows.iter().map(window_row))
}

pub fn alerts_csv(rows: &[AlertEvent]) -> Result<Vec<u8>, EncodeError> {
    csv_bytes(ALERT_COLUMNS, rows.iter().map(alert_row))
}

pub fn dead_letters_jsonl(rows: &[DeadLetter]) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    for r in rows {
        serde_json::to_writer(&mut out, r)?;
        out.push(b'\n');
    }
    Ok(out)
}

fn parquet_bytes(batch: RecordBatch) -> Result<Vec<u8>, EncodeError> {
    let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), None)?;
    writer.write(&batch)?;
    Ok(writer.into_inner()?)
}

fn text(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

pub fn windows_parquet(rows: &[WindowResult]) -> Result<Vec<u8>, EncodeError> {
    let schema = Arc::new(Schema::new(vec![
        text("window", false),
        text("key_kind", false),
        text("device", true),
        text("home", false),
        text("room", false),
        text("measure", false),
        Field::new("window_start_ms", DataType::Int64, false),
        Field::new("window_end_ms", DataType::Int64, false),
        Field::new("count", DataType::UInt64, false),
        Field::new("avg", DataType::Float64, false),
        Field::new("min", DataType::Float64, false),
        Field::new("max", DataType::Float64, false),
        Field::new("stddev", DataType::Float64, false),
        Field::new("last", DataType::Float64, false),
        Field::new("final", DataType::Boolean, false),
    ]));
    let strings = |f: &dyn Fn(&WindowResult) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let floats = |f: &dyn Fn(&WindowResult) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(rows.iter().map(f)))
    };
    let columns: Vec<ArrayRef> = vec![
        strings(&|r| r.window.as_str().into()),
        strings(&|r| r.key_kind.as_str().into()),
        Arc::new(StringArray::from(
            rows.iter()
                .map(|r| r.device.as_ref().map(|d| d.to_string()))
                .collect::<Vec<_>>(),
        )),
        strings(&|r| r.home.to_string()),
        strings(&|r| r.room.to_string()),
        strings(&|r| r.measure.as_str().into()),
        Arc::new(arrow::array::Int64Array::from_iter_values(
            rows.iter().map(|r| r.start.millis()),
        )),
        Arc::new(arrow::array::Int64Array::from_iter_values(
            rows.iter().map(|r| r.end.millis()),
        )),
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.count))),
        floats(&|r| r.avg),
        floats(&|r| r.min),
        floats(&|r| r.max),
        floats(&|r| r.stddev),
        floats(&|r| r.last),
        Arc::new(BooleanArray::from(
            rows.iter().map(|r| r.is_final).collect::<Vec<_>>(),
        )),
    ];
    parquet_bytes(RecordBatch::try_new(schema, columns)?)
}

pub fn alerts_parquet(rows: &[AlertEvent]) -> Result<Vec<u8>, EncodeError> {
    let table: Vec<[String; 16]> = rows.iter().map(alert_row).collect();
    let fields: Vec<Field> = ALERT_COLUMNS.iter().map(|c| text(c, false)).collect();
    let columns: Vec<ArrayRef> = (0..ALERT_COLUMNS.len())
        .map(|i| {
            Arc::new(StringArray::from_iter_values(
                table.iter().map(|r| r[i].as_str()),
            )) as ArrayRef
        })
        .collect();
    parquet_bytes(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}
