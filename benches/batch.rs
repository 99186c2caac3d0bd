//! Batch-layer throughput, in readings per second (criterion's "thrpt:
//! … Melem/s", one element = one reading):
//!
//! * `ingest_csv_1m` — a 1 M-row CSV in the data set's format (one
//!   detector, 11.6 days) through the watched folder's ingest: hash,
//!   parse and validate, quarantine check, Parquet part files per day,
//!   publish, ledger, move to `processed/`. Real files on disk, fsync
//!   included.
//! * `job_1m` — a `scope: all` job run over the resulting store: quality,
//!   KPIs, daily aggregates and training features for every day.
//! * `append_100k` — the stream's entry point, `HistoryStore::append`.
//!
//! Run: `cargo bench --bench batch`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smokewatch::app::config::Config;
use smokewatch::batch::ingest::{IngestOutcome, Ingester};
use smokewatch::batch::job::{self, JobContext};
use smokewatch::batch::{Scope, Trigger};
use smokewatch::ml::ModelHandle;
use smokewatch::schema::SmokeReading;
use smokewatch::schema::csv::{CsvRow, CsvWriter};
use smokewatch::schema::registry::DeviceRegistry;
use smokewatch::simulate::{HistoryGenerator, HistoryOptions, SimulatorConfig};
use smokewatch::store::HistoryStore;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const ROWS: u64 = 1_000_000;
const APPEND_ROWS: u64 = 100_000;

fn history(rows: u64, devices: u32) -> HistoryGenerator {
    let options = HistoryOptions {
        rows: Some(rows),
        days: None,
        devices,
        seed: 42,
        fire_share: None,
    };
    HistoryGenerator::new(&SimulatorConfig::default(), options).expect("valid options")
}

fn write_csv(path: &Path) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).expect("csv file"));
    let mut writer = CsvWriter::new(file).expect("header");
    for (i, r) in history(ROWS, 1).enumerate() {
        writer
            .write_row(&CsvRow::from_reading(i as u64, &r))
            .expect("row");
    }
    writer.finish().expect("flush");
}

fn config(dir: &Path) -> Config {
    let mut config = Config::default();
    config.batch.incoming_dir = dir.join("incoming");
    config.batch.store_dir = dir.join("store");
    config.batch.state_dir = dir.join("state");
    config.batch.job.scope = Scope::All;
    config.batch.retrain.enabled = false;
    config.sinks.dir = dir.join("out");
    config
}

fn reset(dir: &Path) {
    for sub in ["incoming", "store", "state"] {
        let _ = std::fs::remove_dir_all(dir.join(sub));
    }
    std::fs::create_dir_all(dir.join("incoming")).expect("incoming");
}

/// Ingests `csv` into a fresh store under `dir`; returns the ingest time.
fn ingest(dir: &Path, csv: &Path) -> Duration {
    reset(dir);
    let target = dir.join("incoming/h001-kitchen-smoke.csv");
    std::fs::copy(csv, &target).expect("copy csv");
    let config = config(dir);
    let started = Instant::now();
    let mut ingester = Ingester::open(&config.batch, DeviceRegistry::new()).expect("ingester");
    let outcome = ingester
        .ingest(&target, &CancellationToken::new())
        .expect("ingest");
    let elapsed = started.elapsed();
    assert!(matches!(outcome, IngestOutcome::Ingested(ref e) if e.rows_stored == ROWS));
    elapsed
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("smoke-1m.csv");
    write_csv(&csv);
    let bytes = std::fs::metadata(&csv).map(|m| m.len()).unwrap_or(0);
    let work = dir.path().join("work");

    let mut group = c.benchmark_group("batch");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(ROWS));
    group.bench_function("ingest_csv_1m", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| ingest(&work, &csv)).sum())
    });
    let once = ingest(&work, &csv);
    eprintln!(
        "ingest_csv_1m: {:.0} rows/s, {:.1} MB/s of CSV ({:.1} MB in {:.2}s)",
        ROWS as f64 / once.as_secs_f64(),
        bytes as f64 / 1e6 / once.as_secs_f64(),
        bytes as f64 / 1e6,
        once.as_secs_f64()
    );

    // The store of the last ingest stays for the job.
    let config = config(&work);
    let ctx = JobContext::new(
        config.batch.clone(),
        config.ml.clone(),
        config.sinks.dir.clone(),
        ModelHandle::new(),
    );
    group.bench_function("job_1m", |b| {
        b.iter(|| job::run(&ctx, "bench", Trigger::Cli).expect("job run"))
    });

    let readings: Vec<SmokeReading> = history(APPEND_ROWS, 12).collect();
    let store = HistoryStore::new(work.join("append"));
    group.throughput(Throughput::Elements(APPEND_ROWS));
    group.bench_function("append_100k", |b| {
        b.iter(|| store.append(&readings).expect("append"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
