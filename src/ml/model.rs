//! A trained model as the daemon serves it and the registry stores it: its
//! metadata (`meta.json`), its parameters (`model.json`: fill values and
//! the fitted forest, tree or regression), and the [`FireModel`] impl.

use super::config::{ForestConfig, Imputation, LogRegConfig, ModelKind, TreeConfig};
use super::forest::Forest;
use super::linear::Logistic;
use super::metrics::{Metrics, Spread};
use super::serving::{FireModel, Prediction};
use super::tree::FlatTree;
use crate::dataset::LoadReport;
use crate::features::FeatureSpec;
use crate::telemetry::names;
use chrono::{DateTime, Utc};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;

/// Version of `model.json`/`meta.json`; a registry entry with another
/// version is refused rather than misread.
pub const FORMAT_VERSION: u32 = 1;

/// The parameters a model was trained with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelParams {
    Forest(ForestConfig),
    Tree(TreeConfig),
    Logreg(LogRegConfig),
}

/// Where the training data came from and what it covered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    pub source: String,
    pub load: LoadReport,
    /// Event time of the first and last row used (train and test).
    pub time_from: Option<DateTime<Utc>>,
    pub time_to: Option<DateTime<Utc>>,
    /// Event time of the first held-out row: everything before trained the model.
    pub test_from: Option<DateTime<Utc>>,
    /// Missing feature values filled by the imputation policy (train and test).
    pub cells_imputed: u64,
    /// Training rows left out by `imputation: drop_rows`.
    pub rows_dropped: u64,
}

/// A feature's share in the model's decisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureImportance {
    pub feature: String,
    /// Trees: normalised mean decrease in Gini impurity. Logistic
    /// regression: |weight| per standard deviation, normalised.
    pub importance: f64,
}

/// Time-series cross-validation: fold `i` trains on the first `i + 1`
/// blocks and tests on the next one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossValidation {
    pub folds: Vec<Metrics>,
    pub f1: Spread,
    pub accuracy: Spread,
    /// Folds left out because their training part held one class only.
    pub skipped: u32,
}

/// `meta.json`: what a model is and how good it was on held-out data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    pub format_version: u32,
    pub version: String,
    pub kind: ModelKind,
    pub params: ModelParams,
    pub features: FeatureSpec,
    pub threshold: f64,
    pub imputation: Imputation,
    pub training_rows: u64,
    pub test_rows: u64,
    pub data: DataInfo,
    /// On the held-out latest rows.
    pub metrics: Metrics,
    pub cross_validation: Option<CrossValidation>,
    /// Most important first.
    pub feature_importances: Vec<FeatureImportance>,
    pub training_seconds: f64,
    pub created_at: DateTime<Utc>,
    /// SHA-256 of `model.json`, checked on load.
    pub model_sha256: String,
    pub smokewatch_version: String,
}

/// The fitted part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelBody {
    Forest(Forest),
    Tree(FlatTree),
    Logreg(Logistic),
}

impl ModelBody {
    fn probability(&self, x: &[f64]) -> f64 {
        match self {
            ModelBody::Forest(f) => f.probability(x),
            ModelBody::Tree(t) => t.eval(x),
            ModelBody::Logreg(l) => l.probability(x),
        }
    }

    fn validate(&self, n_features: usize) -> Result<(), String> {
        match self {
            ModelBody::Forest(f) => f.validate(n_features).map_err(|e| e.to_string()),
            ModelBody::Tree(t) => t.validate(n_features).map_err(|e| e.to_string()),
            ModelBody::Logreg(l) => l.validate(n_features),
        }
    }
}

/// `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    pub format_version: u32,
    /// Per-feature value used where a feature is missing (NaN).
    pub fill: Vec<f64>,
    pub body: ModelBody,
}

/// Why a model cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("format version {found}, this build reads {FORMAT_VERSION}")]
    FormatVersion { found: u32 },
    #[error("model.json has {fill} fill values for {features} features")]
    FillLength { fill: usize, features: usize },
    #[error("model kind {meta} in meta.json but {body} in model.json")]
    KindMismatch { meta: ModelKind, body: &'static str },
    #[error("invalid model parameters: {0}")]
    Invalid(String),
}

/// Prediction counters and latency, resolved once per model so that the
/// serving path only touches atomics.
struct ServingMetrics {
    fire: metrics::Counter,
    no_fire: metrics::Counter,
    latency: metrics::Histogram,
}

impl ServingMetrics {
    fn new() -> Self {
        Self {
            fire: metrics::counter!(names::PREDICTIONS_TOTAL, "class" => "fire"),
            no_fire: metrics::counter!(names::PREDICTIONS_TOTAL, "class" => "no_fire"),
            latency: metrics::histogram!(names::INFERENCE_LATENCY_SECONDS),
        }
    }
}

/// A model ready to serve.
pub struct TrainedModel {
    meta: ModelMeta,
    version: Arc<str>,
    file: ModelFile,
    serving: ServingMetrics,
}

impl std::fmt::Debug for TrainedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainedModel")
            .field("version", &self.version)
            .field("kind", &self.meta.kind)
            .finish()
    }
}

impl TrainedModel {
    /// Checks that `meta` and `file` belong together and that predicting
    /// can neither panic nor read out of bounds.
    pub fn new(meta: ModelMeta, file: ModelFile) -> Result<TrainedModel, ModelError> {
        for found in [meta.format_version, file.format_version] {
            if found != FORMAT_VERSION {
                return Err(ModelError::FormatVersion { found });
            }
        }
        let n = meta.features.len();
        if file.fill.len() != n {
            return Err(ModelError::FillLength {
                fill: file.fill.len(),
                features: n,
            });
        }
        if file.fill.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::Invalid("a fill value is not finite".into()));
        }
        let body_kind = match (&file.body, meta.kind) {
            (ModelBody::Forest(_), ModelKind::RandomForest)
            | (ModelBody::Tree(_), ModelKind::DecisionTree)
            | (ModelBody::Logreg(_), ModelKind::LogisticRegression) => None,
            (ModelBody::Forest(_), _) => Some("rf"),
            (ModelBody::Tree(_), _) => Some("tree"),
            (ModelBody::Logreg(_), _) => Some("logreg"),
        };
        if let Some(body) = body_kind {
            return Err(ModelError::KindMismatch {
                meta: meta.kind,
                body,
            });
        }
        if !(meta.threshold > 0.0 && meta.threshold < 1.0) {
            return Err(ModelError::Invalid(format!(
                "threshold {} is not between 0 and 1",
                meta.threshold
            )));
        }
        file.body.validate(n).map_err(ModelError::Invalid)?;
        Ok(TrainedModel {
            version: Arc::from(meta.version.as_str()),
            meta,
            file,
            serving: ServingMetrics::new(),
        })
    }

    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }

    pub fn file(&self) -> &ModelFile {
        &self.file
    }

    pub fn kind(&self) -> ModelKind {
        self.meta.kind
    }

    /// Renames the model (the registry does, when a version is taken).
    pub(crate) fn set_version(&mut self, version: String) {
        self.version = Arc::from(version.as_str());
        self.meta.version = version;
    }

    pub(crate) fn meta_mut(&mut self) -> &mut ModelMeta {
        &mut self.meta
    }

    /// Fire probability of one feature vector; NaN or absent values are
    /// filled as in training.
    pub fn probability(&self, features: &[f64]) -> f64 {
        let n = self.file.fill.len();
        if features.len() >= n && !features[..n].iter().any(|v| v.is_nan()) {
            return self.file.body.probability(features);
        }
        let filled: Vec<f64> = (0..n)
            .map(|j| match features.get(j) {
                Some(v) if !v.is_nan() => *v,
                _ => self.file.fill[j],
            })
            .collect();
        self.file.body.probability(&filled)
    }

    /// Fire probabilities of many rows (row-major, `feature_spec().len()`
    /// wide; NaN filled as in training), in parallel. The offline path
    /// (evaluation, benchmarks): no serving metrics are recorded.
    pub fn probabilities(&self, x: &[f64]) -> Vec<f64> {
        self.file.probabilities(x)
    }
}

impl ModelFile {
    /// See [`TrainedModel::probabilities`]. Only for a validated body.
    pub(crate) fn probabilities(&self, x: &[f64]) -> Vec<f64> {
        let m = self.fill.len().max(1);
        let n = x.len() / m;
        let mut out = vec![0.0; n];
        let x = &x[..n * m];
        let imputed;
        let x = if x.iter().any(|v| v.is_nan()) {
            imputed = x
                .iter()
                .enumerate()
                .map(|(i, v)| if v.is_nan() { self.fill[i % m] } else { *v })
                .collect::<Vec<f64>>();
            &imputed[..]
        } else {
            x
        };
        match &self.body {
            ModelBody::Forest(f) => f.probabilities(x, m, &mut out),
            body => out
                .par_iter_mut()
                .zip(x.par_chunks(m))
                .for_each(|(p, row)| *p = body.probability(row)),
        }
        out
    }
}

impl FireModel for TrainedModel {
    fn version(&self) -> &Arc<str> {
        &self.version
    }

    fn feature_spec(&self) -> &FeatureSpec {
        &self.meta.features
    }

    fn predict(&self, features: &[f64]) -> Prediction {
        let started = Instant::now();
        let probability = self.probability(features);
        let fire = probability > self.meta.threshold;
        self.serving.latency.record(started.elapsed().as_secs_f64());
        if fire {
            self.serving.fire.increment(1);
        } else {
            self.serving.no_fire.increment(1);
        }
        Prediction {
            fire,
            probability,
            model_version: self.version.clone(),
        }
    }
}
