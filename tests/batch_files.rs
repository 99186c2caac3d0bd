//! Files the watched folder refuses or partly quarantines: Parquet rows
//! with NaN, out-of-range or missing values; files of the wrong kind or
//! shape go to `failed/` with a note saying why, and are remembered as
//! failed (not as ingested), so a fixed file can be dropped in again.

mod batch_common;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use batch_common::*;
use parquet::arrow::ArrowWriter;
use smokewatch::batch::ingest::{IngestOutcome, Ingester};
use smokewatch::batch::ledger::IngestState;
use smokewatch::schema::parquet::to_record_batch;
use smokewatch::schema::registry::DeviceRegistry;
use smokewatch::schema::{Channel, SmokeReading};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

fn parquet_bytes(batch: &RecordBatch) -> Vec<u8> {
    let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.into_inner().unwrap()
}

/// `readings` as Parquet with `device_id` nullable and null in row `null_row`.
fn with_null_device(readings: &[SmokeReading], null_row: usize) -> RecordBatch {
    let batch = to_record_batch(readings).unwrap();
    let schema = batch.schema();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let f = f.as_ref().clone();
            if f.name() == "device_id" {
                f.with_nullable(true)
            } else {
                f
            }
        })
        .collect();
    let devices: StringArray = readings
        .iter()
        .enumerate()
        .map(|(i, r)| (i != null_row).then(|| r.device_id.to_string()))
        .collect();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    let index = schema.index_of("device_id").unwrap();
    columns[index] = Arc::new(devices);
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

fn ingest(ingester: &mut Ingester, path: &std::path::Path) -> IngestOutcome {
    ingester.ingest(path, &CancellationToken::new()).unwrap()
}

#[test]
fn parquet_rows_with_nan_out_of_range_or_null_ids_are_quarantined_the_rest_stored() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let incoming = &config.batch.incoming_dir;
    let mut readings = history(1_000, 2, 3, 1);
    readings[7].values.set(Channel::Humidity, Some(f64::NAN));
    readings[20].values.set(Channel::Pressure, Some(5_000.0));
    drop_file(
        incoming,
        "fleet.parquet",
        &parquet_bytes(&with_null_device(&readings, 31)),
    );
    let mut ingester = Ingester::open(&config.batch, DeviceRegistry::new()).unwrap();
    let IngestOutcome::Ingested(entry) = ingest(&mut ingester, &incoming.join("fleet.parquet"))
    else {
        panic!("not ingested");
    };
    assert_eq!(
        (entry.rows_read, entry.rows_stored, entry.rows_quarantined),
        (1_000, 997, 3)
    );
    let mut expected: Vec<SmokeReading> = readings
        .iter()
        .enumerate()
        .filter(|(i, _)| ![7, 20, 31].contains(i))
        .map(|(_, r)| r.clone())
        .collect();
    expected.sort_by(|a, b| (&a.device_id, a.seq).cmp(&(&b.device_id, b.seq)));
    assert_same(&store_readings(&config.batch.store_dir), &expected);
    let quarantine = incoming.join(entry.quarantine_file.unwrap());
    let rows: Vec<(String, String)> = csv::Reader::from_path(quarantine)
        .unwrap()
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), r[1].to_string())
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("8".to_string(), "not_finite".to_string()),
            ("21".into(), "out_of_range".into()),
            ("32".into(), "missing_value".into())
        ]
    );
}

#[test]
fn files_refused_as_a_whole_go_to_failed_with_the_reason_and_can_come_back_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let incoming = &config.batch.incoming_dir;
    let readings = history(200, 1, 4, 1);
    let good = csv_text(&readings);
    let other_schema = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "event_id",
            DataType::Utf8,
            false,
        )])),
        vec![Arc::new(StringArray::from(vec!["e1"])) as ArrayRef],
    )
    .unwrap();
    let all_bad: String = good
        .split_inclusive("\r\n")
        .enumerate()
        .map(|(i, line)| {
            if i == 0 || line.trim().is_empty() {
                line.to_string()
            } else {
                format!(
                    "{}\r\n",
                    line.splitn(6, ',').take(5).collect::<Vec<_>>().join(",")
                )
            }
        })
        .collect();
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("notes.txt", b"hello".to_vec(), "not a .csv or .parquet"),
        (
            "headless.csv",
            good.lines()
                .skip(1)
                .collect::<Vec<_>>()
                .join("\r\n")
                .into_bytes(),
            "header",
        ),
        (
            "alerts.parquet",
            parquet_bytes(&other_schema),
            "not in the readings schema: column \"event_time\" is missing; column \"device_id\" is missing",
        ),
        (
            "garbage.parquet",
            b"PAR1 not really".to_vec(),
            "not a readings Parquet file",
        ),
        (
            "all-bad.csv",
            all_bad.into_bytes(),
            "no valid row: all 200 data rows quarantined",
        ),
    ];
    let mut ingester = Ingester::open(&config.batch, DeviceRegistry::new()).unwrap();
    for (name, bytes, reason) in &cases {
        drop_file(incoming, name, bytes);
        let outcome = ingest(&mut ingester, &incoming.join(name));
        let IngestOutcome::Failed(entry) = outcome else {
            panic!("{name}: {outcome:?}");
        };
        let error = entry.error.clone().unwrap();
        assert!(error.contains(reason), "{name}: {error}");
        let note =
            std::fs::read_to_string(incoming.join(format!("failed/{name}.error.txt"))).unwrap();
        assert!(note.contains(reason), "{name}: {note}");
        assert_eq!(
            ingester.ledger().get(&entry.hash).unwrap().state,
            IngestState::Failed
        );
    }
    assert_eq!(file_names(&incoming.join("failed")).len(), 10);
    assert!(store_readings(&config.batch.store_dir).is_empty());
    // The same failed content again fails again (it is not a duplicate).
    drop_file(incoming, "notes.txt", b"hello");
    assert!(matches!(
        ingest(&mut ingester, &incoming.join("notes.txt")),
        IngestOutcome::Failed(_)
    ));
    assert_eq!(
        file_names(&incoming.join("failed")).len(),
        12,
        "a second copy is kept beside the first"
    );
    // The fixed file is ingested.
    drop_file(incoming, "headless.csv", good.as_bytes());
    let outcome = ingest(&mut ingester, &incoming.join("headless.csv"));
    assert!(
        matches!(outcome, IngestOutcome::Ingested(ref e) if e.rows_stored == 200),
        "{outcome:?}"
    );
}
