//! `smokewatch generate` throughput: rows/s of generated history to
//! Parquet and to the data set's CSV (and of the generator alone).
//!
//! Run: `cargo bench --bench generate`. Criterion prints the throughput as
//! "thrpt: … Melem/s" (one element = one reading). Output goes to an
//! in-memory sink so the disk is not what is measured.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smokewatch::simulate::export::{write_csv, write_parquet};
use smokewatch::simulate::{HistoryGenerator, HistoryOptions, SimulatorConfig};
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

const ROWS: u64 = 1_000_000;

fn generator() -> HistoryGenerator {
    let options = HistoryOptions {
        rows: Some(ROWS),
        days: None,
        devices: 12,
        seed: 42,
        fire_share: None,
    };
    HistoryGenerator::new(&SimulatorConfig::default(), options).expect("valid options")
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("generate");
    group.throughput(Throughput::Elements(ROWS));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    let quiet = |_: u64| {};
    group.bench_function("readings_only", |b| {
        b.iter(|| black_box(generator().count()))
    });
    group.bench_function("parquet", |b| {
        b.iter(|| black_box(write_parquet(generator(), std::io::sink(), &quiet).expect("parquet")))
    });
    group.bench_function("csv", |b| {
        b.iter(|| {
            black_box(
                write_csv(generator(), std::io::sink(), Path::new("(sink)"), &quiet).expect("csv"),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
