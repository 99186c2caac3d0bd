//! Helpers shared by the `ml_*` integration tests: generated history,
//! CSV files in the data set's format, small model configs.

#![allow(dead_code)]

use rand::{RngExt, SeedableRng};
use smokewatch::ml::{MlConfig, TrainingData};
use smokewatch::model::SmokeReading;
use smokewatch::model::csv::{CsvRow, CsvWriter};
use smokewatch::simulate::{HistoryGenerator, HistoryOptions, SimulatorConfig};
use std::path::Path;

/// Generated readings (fire, nuisance and normal sessions) in event-time order.
pub fn history(rows: u64, devices: u32, seed: u64) -> Vec<SmokeReading> {
    let options = HistoryOptions {
        rows: Some(rows),
        days: None,
        devices,
        seed,
        fire_share: None,
    };
    HistoryGenerator::new(&SimulatorConfig::default(), options)
        .expect("history generator")
        .collect()
}

/// Flips the label of about `share` of the readings (seeded): noisy
/// labels, so that even a good model scores below 1.0.
pub fn flip_labels(readings: &mut [SmokeReading], share: f64, seed: u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for r in readings.iter_mut() {
        if rng.random_range(0.0..1.0) < share {
            r.fire_alarm = r.fire_alarm.map(|f| !f);
        }
    }
}

pub fn training_data(readings: Vec<SmokeReading>) -> TrainingData {
    TrainingData::from_readings("test history", readings).expect("labelled readings")
}

/// Writes readings as the data set's CSV (header with the unnamed index
/// column, CRLF) with `CsvWriter`.
pub fn write_csv(path: &Path, readings: &[SmokeReading]) {
    let file = std::fs::File::create(path).expect("create csv");
    let mut writer = CsvWriter::new(std::io::BufWriter::new(file)).expect("csv header");
    for (i, r) in readings.iter().enumerate() {
        writer
            .write_row(&CsvRow::from_reading(i as u64, r))
            .expect("csv row");
    }
    writer.finish().expect("flush csv");
}

/// A config with a small, quick forest and the registry in `model_dir`.
pub fn small_config(model_dir: &Path) -> MlConfig {
    let mut config = MlConfig {
        model_dir: model_dir.to_path_buf(),
        ..MlConfig::default()
    };
    config.forest.trees = 12;
    config.forest.max_depth = 8;
    config
}

/// The same config as YAML for the binary.
pub fn small_config_yaml(model_dir: &Path) -> String {
    format!(
        "ml:\n  model_dir: {}\n  forest:\n    trees: 12\n    max_depth: 8\n",
        model_dir.display()
    )
}
