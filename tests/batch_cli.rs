//! The binary end to end: `generate` writes history in the data set's CSV
//! and as Parquet, `batch ingest` stores it, `batch run --json` reports on
//! it, and pyarrow (an independent reader) reads the store as one table
//! with Hive partitioning: same rows, same schema, rows in their day.

mod batch_common;
mod common;

use batch_common::file_names;
use std::path::Path;
use std::process::Output;

fn smokewatch(dir: &Path, args: &[&str]) -> Output {
    let out = common::smokewatch(dir)
        .args(["--config", "config.yaml"])
        .args(args)
        .output()
        .expect("run smokewatch");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

const CONFIG: &str = "\
daemon:
  data_dir: .
simulator:
  enabled: false
batch:
  incoming_dir: incoming
  store_dir: store
  state_dir: state
  retrain:
    enabled: false
ml:
  model_dir: models
sinks:
  dir: out
telemetry:
  log_level: warn
";

#[test]
fn generated_files_are_ingested_reported_on_and_read_by_pyarrow() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), CONFIG).unwrap();
    // 30 000 seconds of one detector from 18:16 UTC: two days.
    let csv = smokewatch(
        dir.path(),
        &[
            "generate",
            "--rows",
            "30000",
            "--devices",
            "1",
            "--format",
            "csv",
            "--out",
            "incoming/h009-attic-smoke.csv",
        ],
    );
    assert!(csv.status.success());
    let parquet = smokewatch(
        dir.path(),
        &[
            "generate",
            "--rows",
            "12000",
            "--devices",
            "3",
            "--seed",
            "5",
            "--format",
            "parquet",
            "--out",
            "incoming/fleet.parquet",
        ],
    );
    assert!(parquet.status.success());

    let ingest = smokewatch(dir.path(), &["batch", "ingest"]);
    assert!(ingest.status.success());
    let said = String::from_utf8_lossy(&ingest.stderr);
    assert!(
        said.contains("h009-attic-smoke.csv: 30000 rows stored, 0 quarantined"),
        "{said}"
    );
    assert!(
        said.contains("fleet.parquet: 12000 rows stored, 0 quarantined"),
        "{said}"
    );
    assert_eq!(
        file_names(&dir.path().join("incoming/processed")),
        ["fleet.parquet", "h009-attic-smoke.csv"]
    );

    let run = smokewatch(dir.path(), &["batch", "run", "--json"]);
    assert!(run.status.success());
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["input"]["rows"], 42_000);
    assert_eq!(report["quality"]["score"], 1.0);
    let per_day = report["kpis"]["readings_per_device_per_day"]
        .as_object()
        .unwrap();
    let detector: u64 = per_day
        .values()
        .filter_map(|devices| devices["h009-attic-smoke"].as_u64())
        .sum();
    assert_eq!(detector, 30_000);
    assert!(per_day.len() >= 2, "{per_day:?}");
    assert_eq!(report["retrain"]["attempted"], false);
    let history: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("state/history.json")).unwrap())
            .unwrap();
    assert_eq!(history[0]["status"], "success");
    assert_eq!(history[0]["trigger"], "cli");

    let store = dir.path().join("store");
    common::python_check(
        "batch_read_store.py",
        &[store.as_os_str(), "42000".as_ref(), "2".as_ref()],
    );
}

/// A refused file is a failure of `batch ingest`: the caller (a script, a
/// cron job) must learn of it from the exit code, not only from stderr.
#[test]
fn batch_ingest_exits_1_when_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), CONFIG).unwrap();
    let incoming = dir.path().join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    std::fs::write(
        incoming.join("h001-kitchen-smoke.csv"),
        "not,the,header\n1,2,3\n",
    )
    .unwrap();
    std::fs::write(incoming.join("h002-hall-smoke.csv"), "").unwrap();

    let ingest = smokewatch(dir.path(), &["batch", "ingest"]);
    let said = String::from_utf8_lossy(&ingest.stderr);
    assert!(said.contains("h001-kitchen-smoke.csv: refused"), "{said}");
    assert_eq!(ingest.status.code(), Some(1), "{said}");
    assert_eq!(
        file_names(&incoming.join("failed")),
        [
            "h001-kitchen-smoke.csv",
            "h001-kitchen-smoke.csv.error.txt",
            "h002-hall-smoke.csv",
            "h002-hall-smoke.csv.error.txt"
        ]
    );
    let note =
        std::fs::read_to_string(incoming.join("failed/h002-hall-smoke.csv.error.txt")).unwrap();
    assert!(
        note.contains("empty"),
        "an empty file is refused as such: {note}"
    );
}

/// `evaluate` reads what `train` reads; its help must say so.
#[test]
fn evaluate_help_names_parquet_and_store_folders() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::smokewatch(dir.path())
        .args(["evaluate", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Parquet"), "{help}");
    assert!(help.contains("store directory"), "{help}");
}
