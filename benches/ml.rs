//! ML benchmarks at the data set's size (62,630 readings × 12 channels),
//! the forest scikit-learn was measured with (100 trees, depth 12):
//!
//! * `ml_train/forest_100x12`: training (time-ordered 80 % of the rows,
//!   every core of the rayon pool).
//! * `ml_infer/batch`: batch scoring of all 62,630 rows (rows/s).
//! * `ml_infer/single`: one reading through `FireModel::predict`, as the
//!   stream scores every reading.
//!
//! References measured on this machine: scikit-learn 7.3 s to train with
//! 2 jobs, 476 k rows/s batch, 5.5 ms per single row; smartcore's own
//! classifier forest 12.9 s on one core.
//!
//! Run: `cargo bench --bench ml`.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use smokewatch::features::FeatureSpec;
use smokewatch::ml::feature_matrix::FeatureMatrix;
use smokewatch::ml::train::train;
use smokewatch::ml::{FireModel, MlConfig, ModelKind, TrainingData};
use smokewatch::simulate::{HistoryGenerator, HistoryOptions, SimulatorConfig};
use std::hint::black_box;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Rows of the public Smoke Detection FeatureMatrix.
const DATASET_ROWS: u64 = 62_630;

fn data() -> TrainingData {
    let options = HistoryOptions {
        rows: Some(DATASET_ROWS),
        days: None,
        devices: 1,
        seed: 7,
        fire_share: None,
    };
    let generator =
        HistoryGenerator::new(&SimulatorConfig::default(), options).expect("history generator");
    TrainingData::from_readings("bench", generator).expect("labelled readings")
}

/// The benchmark's forest: the 12 raw channels, 100 trees, depth 12.
fn config() -> MlConfig {
    let mut config = MlConfig::default();
    config.features.engineered = false;
    config.forest.trees = 100;
    config.forest.max_depth = 12;
    config
}

fn benches(c: &mut Criterion) {
    let data = data();
    let config = config();
    let cancel = CancellationToken::new();
    eprintln!(
        "data: {} readings, rayon threads: {}",
        data.len(),
        rayon::current_num_threads()
    );

    let mut group = c.benchmark_group("ml_train");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(40));
    group.bench_function("forest_100x12", |b| {
        b.iter(|| train(&data, ModelKind::RandomForest, &config, &cancel).expect("training"))
    });
    group.finish();

    let model = train(&data, ModelKind::RandomForest, &config, &cancel)
        .expect("training")
        .model;
    let nodes: usize = match &model.file().body {
        smokewatch::ml::model::ModelBody::Forest(f) => f.trees.iter().map(|t| t.nodes.len()).sum(),
        _ => 0,
    };
    eprintln!("forest: {nodes} nodes in 100 trees");
    let rows = FeatureMatrix::build(&data, &FeatureSpec::raw());

    let mut group = c.benchmark_group("ml_infer");
    group.throughput(Throughput::Elements(rows.len() as u64));
    group.bench_function("batch", |b| {
        b.iter(|| black_box(model.probabilities(black_box(&rows.x))))
    });
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("single", |b| {
        b.iter_batched(
            || {
                i = (i + 7919) % rows.len();
                i
            },
            |i| black_box(model.predict(black_box(rows.row(i)))),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(ml, benches);
criterion_main!(ml);
