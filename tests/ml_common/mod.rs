//! Helpers shared by the `ml_*` integration tests: generated history,
//! CSV files in the data set's format, small model configs.

#![allow(dead_code)]

use rand::{RngExt, SeedableRng};
use smokewatch::ml::{MlConfig, ModelHandle, Promotion, RetrainOutcome, TrainingData, retrain};
use smokewatch::schema::SmokeReading;
use smokewatch::schema::csv::{CsvRow, CsvWriter};
use smokewatch::simulate::{HistoryGenerator, HistoryOptions, SimulatorConfig};
use std::path::Path;
use tokio_util::sync::CancellationToken;

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

/// A champion and the worse challenger that tried to replace it.
pub struct ChampionAndChallenger {
    pub champion: RetrainOutcome,
    pub challenger: RetrainOutcome,
    /// What the challenger was trained and compared on.
    pub challenger_data: TrainingData,
}

/// Trains a champion (promoted into `config.model_dir` and `handle`), then
/// a challenger on new data whose earlier part (what the challenger trains
/// on) has half its labels scrambled — a mislabelled batch — while the
/// later part, on which both models are compared, is labelled correctly.
/// Blocking: a few seconds.
pub fn champion_and_challenger(config: &MlConfig, handle: &ModelHandle) -> ChampionAndChallenger {
    let cancel = CancellationToken::new();
    let clean = history(5_000, 2, 41);
    let champion = retrain(
        config,
        handle,
        &training_data(clean.clone()),
        None,
        Promotion::Compare,
        &cancel,
    )
    .expect("champion trains");
    assert!(champion.promoted(), "{:?}", champion.decision);
    let mut scrambled = clean;
    let split = scrambled.len() * 8 / 10;
    flip_labels(&mut scrambled[..split], 0.5, 7);
    let challenger_data = training_data(scrambled);
    let challenger = retrain(
        config,
        handle,
        &challenger_data,
        None,
        Promotion::Compare,
        &cancel,
    )
    .expect("challenger trains");
    ChampionAndChallenger {
        champion,
        challenger,
        challenger_data,
    }
}
