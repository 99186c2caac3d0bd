//! Acceptance 2 and 3: `smokewatch generate` is reproducible, writes the
//! data set's exact CSV, and Parquet that arrow and pyarrow read back.

mod common;

use common::smokewatch;
use smokewatch::schema::csv::{CsvReader, DATASET_HEADER, MissingCells};
use smokewatch::schema::parquet::{ReadingsReader, schema};
use std::path::{Path, PathBuf};

/// Runs `smokewatch generate ARGS` in `dir`; panics with stderr on failure.
fn generate(dir: &Path, args: &[&str]) {
    let out = smokewatch(dir).arg("generate").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "generate {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn same_seed_gives_identical_csv_and_another_seed_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let base = ["--rows", "30000", "--devices", "2", "--format", "csv"];
    for (name, seed) in [("a.csv", "5"), ("b.csv", "5"), ("c.csv", "6")] {
        let mut args = base.to_vec();
        args.extend(["--out", name, "--seed", seed]);
        generate(dir.path(), &args);
    }
    let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    let (a, b, c) = (read("a.csv"), read("b.csv"), read("c.csv"));
    assert!(a.len() > 30000 * 50, "{} bytes", a.len());
    assert!(a == b, "same seed, different bytes");
    assert!(a != c, "different seeds, same bytes");
}

#[test]
fn csv_has_the_data_sets_header_and_reads_back_strictly() {
    let dir = tempfile::tempdir().unwrap();
    generate(
        dir.path(),
        &["--rows", "5000", "--format", "csv", "--out", "smoke.csv"],
    );
    let text = std::fs::read_to_string(dir.path().join("smoke.csv")).unwrap();
    let first_line = text.split("\r\n").next().unwrap();
    assert_eq!(first_line, DATASET_HEADER);
    // The strict reader (no empty cells, as in the published file) accepts
    // every row; indices count from 0 and CNT restarts per session.
    let rows: Vec<_> = CsvReader::new(text.as_bytes(), MissingCells::Reject)
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 5000);
    assert!(rows.iter().enumerate().all(|(i, r)| r.index == i as u64));
    assert!(
        rows.windows(2)
            .all(|w| w[0].utc_seconds <= w[1].utc_seconds)
    );
    let fire = rows.iter().filter(|r| r.fire_alarm == Some(true)).count();
    assert!(fire > 0 && fire < rows.len(), "both classes present");
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(parquet_files(&path));
        } else if path.extension().is_some_and(|e| e == "parquet") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn arrow_rows(files: &[PathBuf]) -> usize {
    let mut rows = 0;
    for file in files {
        let metadata = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(file).unwrap(),
        )
        .unwrap();
        let file_schema = metadata.schema();
        assert_eq!(
            file_schema.fields(),
            schema().fields(),
            "{}: schema",
            file.display()
        );
        for batch in ReadingsReader::open(file).unwrap() {
            rows += batch.unwrap().len();
        }
    }
    rows
}

/// pyarrow, an independent Parquet implementation, must read the output.
fn pyarrow_reads(path: &Path, rows: usize) {
    let rows = rows.to_string();
    common::python_check(
        "simulate_read_parquet.py",
        &[path.as_os_str(), rows.as_ref()],
    );
}

#[test]
fn parquet_file_reads_back_with_arrow_and_pyarrow() {
    let dir = tempfile::tempdir().unwrap();
    generate(
        dir.path(),
        &[
            "--rows",
            "50000",
            "--devices",
            "3",
            "--format",
            "parquet",
            "--out",
            "smoke.parquet",
        ],
    );
    let file = dir.path().join("smoke.parquet");
    assert_eq!(arrow_rows(std::slice::from_ref(&file)), 50000);
    pyarrow_reads(&file, 50000);
}

#[test]
fn parquet_directory_is_partitioned_by_date() {
    let dir = tempfile::tempdir().unwrap();
    generate(
        dir.path(),
        &[
            "--days",
            "1.6",
            "--devices",
            "2",
            "--format",
            "parquet",
            "--out",
            "store",
            "--start",
            "2024-03-01T12:00:00Z",
        ],
    );
    let store = dir.path().join("store");
    let files = parquet_files(&store);
    let partitions: Vec<String> = files
        .iter()
        .map(|f| {
            f.parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        partitions,
        ["date=2024-03-01", "date=2024-03-02", "date=2024-03-03"]
    );
    let rows = arrow_rows(&files);
    // 1.6 days of two 1 Hz devices, minus the gaps between sessions.
    assert!(rows > 200_000 && rows <= 276_480, "{rows}");
    pyarrow_reads(&store, rows);
}
