//! `ml:` section of the config: which model is trained with which
//! parameters, how it is evaluated and when a retrained model is promoted.

use crate::base::config::{ConfigIssue, Duration, Validate};
use crate::features::FeatureSpec;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Fire-prediction models: training, registry, serving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MlConfig {
    /// Score readings with the current model and serve predictions.
    pub enabled: bool,
    /// The model registry: one folder per version plus a `current` pointer.
    pub model_dir: PathBuf,
    /// Model trained when none is named: `rf`, `logreg` or `tree`.
    pub model: ModelKind,
    /// A reading is classified as fire when the fire probability exceeds this.
    pub threshold: f64,
    /// Share of the data, the latest in event time, held out for evaluation.
    pub test_fraction: f64,
    /// Extra time-series cross-validation folds reported with a model (0 = off).
    pub cv_folds: u32,
    /// A challenger is promoted when its held-out F1 is at least the
    /// champion's minus this.
    pub promotion_tolerance: f64,
    /// What fills a feature that has no value.
    pub imputation: Imputation,
    /// How often the daemon checks the registry's `current` pointer (a
    /// model promoted by `smokewatch train` is picked up without restart).
    pub reload_interval: Duration,
    pub features: FeaturesConfig,
    pub forest: ForestConfig,
    pub tree: TreeConfig,
    pub logreg: LogRegConfig,
    pub initial_training: crate::dataset::InitialTrainingConfig,
}

impl Default for MlConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            model_dir: PathBuf::from("models"),
            model: ModelKind::RandomForest,
            threshold: 0.5,
            test_fraction: 0.2,
            cv_folds: 0,
            promotion_tolerance: 0.01,
            imputation: Imputation::Median,
            reload_interval: Duration::from_secs(10),
            features: FeaturesConfig::default(),
            forest: ForestConfig::default(),
            tree: TreeConfig::default(),
            logreg: LogRegConfig::default(),
            initial_training: crate::dataset::InitialTrainingConfig::default(),
        }
    }
}

/// The model families smokewatch trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ModelKind {
    /// Random forest (bagged smartcore decision trees); the default.
    #[serde(rename = "rf")]
    RandomForest,
    /// Logistic regression on standardised features.
    #[serde(rename = "logreg")]
    LogisticRegression,
    /// A single decision tree.
    #[serde(rename = "tree")]
    DecisionTree,
}

impl ModelKind {
    pub const ALL: [ModelKind; 3] = [
        ModelKind::RandomForest,
        ModelKind::LogisticRegression,
        ModelKind::DecisionTree,
    ];

    /// Short name used in config, CLI, versions and metric labels.
    pub fn key(self) -> &'static str {
        match self {
            ModelKind::RandomForest => "rf",
            ModelKind::LogisticRegression => "logreg",
            ModelKind::DecisionTree => "tree",
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

impl std::str::FromStr for ModelKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelKind::ALL
            .into_iter()
            .find(|k| k.key() == s)
            .ok_or_else(|| format!("unknown model {s:?} (known: rf, logreg, tree)"))
    }
}

/// The value given to a feature that is missing (a channel the device
/// never reported; a channel that drops out later keeps its last value,
/// see [`crate::features`]). Fill values are fitted on the training split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Imputation {
    /// The training median of the feature (robust to the skewed PM counts).
    Median,
    /// The training mean of the feature.
    Mean,
    /// Zero.
    Zero,
    /// Training rows with a missing channel are left out; serving fills
    /// with the median.
    DropRows,
}

/// Which features models read (see [`crate::features::FeatureSpec`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeaturesConfig {
    /// Add per-device rates of change and EW mean/std/z-score to the 12 channels.
    pub engineered: bool,
    /// Spans of the EW statistics.
    pub spans: Vec<Duration>,
    /// A longer gap between two readings of a device resets its history.
    pub max_gap: Duration,
}

impl Default for FeaturesConfig {
    fn default() -> Self {
        Self {
            engineered: true,
            spans: vec![Duration::from_secs(30)],
            max_gap: Duration::from_secs(60),
        }
    }
}

impl FeaturesConfig {
    /// The feature spec a newly trained model uses.
    pub fn spec(&self) -> FeatureSpec {
        let mut spec = if self.engineered {
            let spans: Vec<u32> = self.spans.iter().map(|d| secs_u32(*d)).collect();
            FeatureSpec::engineered(&spans)
        } else {
            FeatureSpec::raw()
        };
        spec.max_gap_secs = secs_u32(self.max_gap);
        spec
    }
}

fn secs_u32(d: Duration) -> u32 {
    u32::try_from(d.get().as_secs()).unwrap_or(u32::MAX)
}

/// Random forest parameters (scikit-learn's names where they exist).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForestConfig {
    /// Number of trees.
    pub trees: u16,
    /// Maximum depth of a tree.
    pub max_depth: u16,
    /// Minimum training samples in a leaf.
    pub min_samples_leaf: usize,
    /// Minimum training samples a node needs to be split.
    pub min_samples_split: usize,
    /// Features tried at each split; null means the square root of the
    /// feature count.
    pub max_features: Option<usize>,
    /// Seed of bootstrap sampling and feature choice (same seed, same forest).
    pub seed: u64,
}

impl Default for ForestConfig {
    fn default() -> Self {
        Self {
            trees: 100,
            max_depth: 12,
            min_samples_leaf: 1,
            min_samples_split: 2,
            max_features: None,
            seed: 42,
        }
    }
}

/// Single decision tree parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TreeConfig {
    /// Maximum depth.
    pub max_depth: u16,
    /// Minimum training samples in a leaf.
    pub min_samples_leaf: usize,
    /// Minimum training samples a node needs to be split.
    pub min_samples_split: usize,
}

impl Default for TreeConfig {
    fn default() -> Self {
        Self {
            max_depth: 12,
            min_samples_leaf: 1,
            min_samples_split: 2,
        }
    }
}

/// Logistic regression parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogRegConfig {
    /// L2 regularisation strength (0 = none).
    pub alpha: f64,
}

impl Default for LogRegConfig {
    fn default() -> Self {
        Self { alpha: 1.0 }
    }
}

impl Validate for MlConfig {
    fn validate(&self, section: &str, issues: &mut Vec<ConfigIssue>) {
        let mut issue = |key: &str, reason: &str| {
            issues.push(ConfigIssue::new(format!("{section}.{key}"), reason));
        };
        if self.enabled && self.model_dir.as_os_str().is_empty() {
            issue("model_dir", "must not be empty");
        }
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            issue("threshold", "must be between 0 and 1 (exclusive)");
        }
        if !(self.test_fraction > 0.0 && self.test_fraction < 1.0) {
            issue("test_fraction", "must be between 0 and 1 (exclusive)");
        }
        if self.cv_folds == 1 || self.cv_folds > 20 {
            issue("cv_folds", "must be 0 (off) or 2..=20");
        }
        if !(self.promotion_tolerance >= 0.0 && self.promotion_tolerance < 1.0) {
            issue("promotion_tolerance", "must be in 0..1");
        }
        if self.reload_interval.is_zero() {
            issue("reload_interval", "must be longer than 0s");
        }
        if self.features.engineered && self.features.spans.is_empty() {
            issue(
                "features.spans",
                "must list at least one span when features.engineered is true",
            );
        }
        if self.features.spans.iter().any(|s| s.get().as_secs() == 0) {
            issue("features.spans", "every span must be at least 1s");
        }
        if self.features.max_gap.get().as_secs() == 0 {
            issue("features.max_gap", "must be at least 1s");
        }
        if self.forest.trees == 0 {
            issue("forest.trees", "must be at least 1");
        }
        for (key, depth) in [
            ("forest.max_depth", self.forest.max_depth),
            ("tree.max_depth", self.tree.max_depth),
        ] {
            if depth == 0 {
                issue(key, "must be at least 1");
            }
        }
        for (key, n) in [
            ("forest.min_samples_leaf", self.forest.min_samples_leaf),
            ("tree.min_samples_leaf", self.tree.min_samples_leaf),
        ] {
            if n == 0 {
                issue(key, "must be at least 1");
            }
        }
        for (key, n) in [
            ("forest.min_samples_split", self.forest.min_samples_split),
            ("tree.min_samples_split", self.tree.min_samples_split),
        ] {
            if n < 2 {
                issue(key, "must be at least 2");
            }
        }
        if self.forest.max_features == Some(0) {
            issue("forest.max_features", "must be at least 1 (or null)");
        }
        if !(self.logreg.alpha >= 0.0 && self.logreg.alpha.is_finite()) {
            issue("logreg.alpha", "must be a finite number >= 0");
        }
        if self.initial_training.rows < 100 {
            issue("initial_training.rows", "must be at least 100");
        }
        if self.initial_training.devices == 0 {
            issue("initial_training.devices", "must be at least 1");
        }
        let per_day = self.initial_training.scenarios_per_day;
        if !(per_day.is_finite() && (0.0..=10_000.0).contains(&per_day)) {
            issue(
                "initial_training.scenarios_per_day",
                "must be a number from 0 to 10000",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let mut issues = Vec::new();
        MlConfig::default().validate("ml", &mut issues);
        assert!(issues.is_empty(), "{issues:?}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let config = MlConfig {
            test_fraction: 1.0,
            cv_folds: 1,
            forest: ForestConfig {
                trees: 0,
                ..ForestConfig::default()
            },
            initial_training: crate::dataset::InitialTrainingConfig {
                scenarios_per_day: f64::NAN,
                ..Default::default()
            },
            ..MlConfig::default()
        };
        let mut issues = Vec::new();
        config.validate("ml", &mut issues);
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "ml.test_fraction",
                "ml.cv_folds",
                "ml.forest.trees",
                "ml.initial_training.scenarios_per_day"
            ]
        );
    }

    #[test]
    fn model_kind_parses_its_short_names() {
        for kind in ModelKind::ALL {
            assert_eq!(kind.key().parse::<ModelKind>().unwrap(), kind);
            let yaml = serde_yaml::to_string(&kind).unwrap();
            assert_eq!(yaml.trim(), kind.key());
        }
        assert!("svm".parse::<ModelKind>().is_err());
    }

    #[test]
    fn feature_spec_follows_the_config() {
        let raw = FeaturesConfig {
            engineered: false,
            ..FeaturesConfig::default()
        };
        assert_eq!(raw.spec().len(), 12);
        let engineered = FeaturesConfig {
            spans: vec![Duration::from_secs(10), Duration::from_secs(60)],
            max_gap: Duration::from_secs(120),
            ..FeaturesConfig::default()
        };
        let spec = engineered.spec();
        assert_eq!(spec.len(), 12 + 12 * 7);
        assert_eq!(spec.max_gap_secs, 120);
    }
}
