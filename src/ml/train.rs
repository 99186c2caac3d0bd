//! Training and evaluation: features, the time-ordered split, imputation
//! fitted on the training part, the model fit, held-out metrics and
//! optional time-series cross-validation.

use super::config::{Imputation, MlConfig, ModelKind};
use super::feature_matrix::FeatureMatrix;
use super::forest::{FitError, fit_forest, fit_tree};
use super::linear::fit_logistic;
use super::metrics::{Metrics, Spread};
use super::model::{
    CrossValidation, DataInfo, FORMAT_VERSION, FeatureImportance, ModelBody, ModelError, ModelFile,
    ModelMeta, ModelParams, TrainedModel,
};
use super::tree::normalise;
use crate::dataset::TrainingData;
use chrono::Utc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Fewest training rows a model is fitted on.
const MIN_TRAINING_ROWS: usize = 10;

/// Why a model could not be trained or evaluated.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{rows} training rows; at least {MIN_TRAINING_ROWS} are needed")]
    TooFewRows { rows: usize },
    #[error(
        "the training part ({rows} rows up to {until}) holds only {class} readings; a classifier needs both fire and no-fire"
    )]
    OneClass {
        rows: usize,
        until: String,
        class: &'static str,
    },
    #[error("fitting the model: {0}")]
    Fit(#[from] FitError),
    #[error("the trained model is unusable: {0}")]
    Model(#[from] ModelError),
}

/// A freshly trained model and the held-out rows it was scored on.
pub struct Trained {
    pub model: TrainedModel,
    /// Index of the first held-out row in the time-ordered data.
    pub split_index: usize,
}

/// The fitted parts of a model, before metadata is attached.
struct Fit {
    file: ModelFile,
    importances: Vec<f64>,
    rows: usize,
    dropped: u64,
}

/// Fits fill values and the model on `train` (consumed: imputed in place).
fn fit(
    mut train: FeatureMatrix,
    kind: ModelKind,
    config: &MlConfig,
    cancel: &CancellationToken,
) -> Result<Fit, TrainError> {
    let mut dropped = 0;
    if config.imputation == Imputation::DropRows {
        let complete = train.complete_rows();
        dropped = (train.len() - complete.len()) as u64;
        train = complete;
    }
    check_trainable(&train)?;
    let fill = train.fill_values(config.imputation);
    train.impute(&fill);
    let m = train.n_features;
    let (body, importances) = match kind {
        ModelKind::RandomForest => {
            let f = fit_forest(&train.x, m, &train.y, &config.forest, cancel)?;
            (ModelBody::Forest(f.forest), f.importances)
        }
        ModelKind::DecisionTree => {
            let t = fit_tree(&train.x, m, &train.y, &config.tree)?;
            (ModelBody::Tree(t.tree), t.importances)
        }
        ModelKind::LogisticRegression => {
            let l = fit_logistic(&train.x, m, &train.y, config.logreg.alpha)?;
            let mut importances: Vec<f64> = l.weights.iter().map(|w| w.abs()).collect();
            normalise(&mut importances);
            (ModelBody::Logreg(l), importances)
        }
    };
    Ok(Fit {
        file: ModelFile {
            format_version: FORMAT_VERSION,
            fill,
            body,
        },
        importances,
        rows: train.len(),
        dropped,
    })
}

fn check_trainable(train: &FeatureMatrix) -> Result<(), TrainError> {
    if train.len() < MIN_TRAINING_ROWS {
        return Err(TrainError::TooFewRows { rows: train.len() });
    }
    let (fire, no_fire) = train.class_counts();
    if fire == 0 || no_fire == 0 {
        let until = train
            .time_range()
            .map(|(_, t)| t.to_string())
            .unwrap_or_default();
        return Err(TrainError::OneClass {
            rows: train.len(),
            until,
            class: if fire == 0 { "no-fire" } else { "fire" },
        });
    }
    Ok(())
}

/// Trains a `kind` model on the earliest `1 − test_fraction` of `data` and
/// scores it on the rest.
pub fn train(
    data: &TrainingData,
    kind: ModelKind,
    config: &MlConfig,
    cancel: &CancellationToken,
) -> Result<Trained, TrainError> {
    let started = Instant::now();
    let spec = config.features.spec();
    let all = FeatureMatrix::build(data, &spec);
    let split = all.split_index(config.test_fraction);
    let cross_validation = (config.cv_folds >= 2)
        .then(|| cross_validate(&all, kind, config, cancel))
        .transpose()?;
    let fitted = fit(all.rows(0..split), kind, config, cancel)?;
    let mut test = all.rows(split..all.len());
    let cells_imputed = count_nan(&all.x);
    test.impute(&fitted.file.fill);
    let probabilities = fitted.file.probabilities(&test.x);
    let metrics = Metrics::compute(&probabilities, &test.y, config.threshold);
    let created_at = Utc::now();
    let version = format!("{}-{}", created_at.format("%Y%m%dT%H%M%SZ"), kind.key());
    let mut importances: Vec<FeatureImportance> = spec
        .names()
        .into_iter()
        .zip(&fitted.importances)
        .map(|(feature, importance)| FeatureImportance {
            feature,
            importance: *importance,
        })
        .collect();
    importances.sort_by(|a, b| b.importance.total_cmp(&a.importance));
    let time_range = all.time_range();
    let meta = ModelMeta {
        format_version: FORMAT_VERSION,
        version,
        kind,
        params: params_of(kind, config),
        features: spec,
        threshold: config.threshold,
        imputation: config.imputation,
        training_rows: fitted.rows as u64,
        test_rows: test.len() as u64,
        data: DataInfo {
            source: data.source.clone(),
            load: data.report.clone(),
            time_from: time_range.and_then(|r| r.0.to_datetime()),
            time_to: time_range.and_then(|r| r.1.to_datetime()),
            test_from: test.times.first().and_then(|t| t.to_datetime()),
            cells_imputed,
            rows_dropped: fitted.dropped,
        },
        metrics,
        cross_validation,
        feature_importances: importances,
        training_seconds: started.elapsed().as_secs_f64(),
        created_at,
        model_sha256: String::new(),
        smokewatch_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    Ok(Trained {
        model: TrainedModel::new(meta, fitted.file)?,
        split_index: split,
    })
}

fn count_nan(x: &[f64]) -> u64 {
    x.iter().filter(|v| v.is_nan()).count() as u64
}

fn params_of(kind: ModelKind, config: &MlConfig) -> ModelParams {
    match kind {
        ModelKind::RandomForest => ModelParams::Forest(config.forest.clone()),
        ModelKind::DecisionTree => ModelParams::Tree(config.tree.clone()),
        ModelKind::LogisticRegression => ModelParams::Logreg(config.logreg.clone()),
    }
}

/// Time-series cross-validation over the whole time-ordered data.
fn cross_validate(
    all: &FeatureMatrix,
    kind: ModelKind,
    config: &MlConfig,
    cancel: &CancellationToken,
) -> Result<CrossValidation, TrainError> {
    let k = config.cv_folds as usize;
    let block = all.len() / (k + 1);
    let mut folds = Vec::new();
    let mut skipped = 0;
    for i in 0..k {
        let train_end = (i + 1) * block;
        let test_end = if i + 1 == k {
            all.len()
        } else {
            train_end + block
        };
        let fitted = match fit(all.rows(0..train_end), kind, config, cancel) {
            Ok(f) => f,
            Err(TrainError::OneClass { .. } | TrainError::TooFewRows { .. }) => {
                skipped += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut test = all.rows(train_end..test_end);
        test.impute(&fitted.file.fill);
        let probabilities = fitted.file.probabilities(&test.x);
        folds.push(Metrics::compute(&probabilities, &test.y, config.threshold));
    }
    let f1: Vec<f64> = folds.iter().map(|m| m.f1).collect();
    let accuracy: Vec<f64> = folds.iter().map(|m| m.accuracy).collect();
    Ok(CrossValidation {
        f1: Spread::of(&f1),
        accuracy: Spread::of(&accuracy),
        folds,
        skipped,
    })
}

/// Which rows of the time-ordered data an evaluation scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EvalRows {
    /// The latest `fraction` (the same rows `train` held out).
    Latest(f64),
    /// From this row index on (the champion/challenger comparison).
    From(usize),
    /// Every row (data the model never saw).
    All,
}

/// Scores `model` on `data`, computing the model's own features.
pub fn evaluate(model: &TrainedModel, data: &TrainingData, rows: EvalRows) -> Metrics {
    let spec = &model.meta().features;
    let all = FeatureMatrix::build(data, spec);
    let start = match rows {
        EvalRows::Latest(fraction) => all.split_index(fraction),
        EvalRows::From(i) => i.min(all.len()),
        EvalRows::All => 0,
    };
    let test = all.rows(start..all.len());
    let probabilities = model.probabilities(&test.x);
    Metrics::compute(&probabilities, &test.y, model.meta().threshold)
}
