//! Random forest and single decision tree, trained by smartcore.
//!
//! The forest is a *probability forest*: smartcore's random forest on the
//! 0/1 fire label with squared-error splits. On a 0/1 target a split's
//! squared-error decrease is exactly half its Gini decrease, so the trees
//! are the Gini trees a classifier grows (bootstrap rows, √features tried
//! per split), and every leaf holds the fire share of its rows: the
//! forest's probability is the mean of its trees' probabilities, as
//! scikit-learn's `predict_proba`. smartcore's `RandomForestClassifier`
//! grows the same kind of trees about 4× slower (it scans every row at
//! every node, where the forest's trees partition sorted indices) and
//! exposes only a majority vote.
//!
//! smartcore fits a forest's trees one after the other on one core; we
//! split the forest into fixed groups of trees, fit each group as a small
//! smartcore forest on the rayon pool and join them. The group size is
//! fixed, so the same seed gives the same forest on any number of cores.

use super::config::{ForestConfig, TreeConfig};
use super::tree::{FlatTree, LANES, SmartTree, TreeError, normalise};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use smartcore::ensemble::random_forest_regressor::{
    RandomForestRegressor, RandomForestRegressorParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::tree::decision_tree_classifier::{
    DecisionTreeClassifier, DecisionTreeClassifierParameters, SplitCriterion,
};
use tokio_util::sync::CancellationToken;

/// Trees fitted by one rayon task. Small enough to balance two cores,
/// large enough that per-task setup (sorting every column) is noise.
const TREES_PER_TASK: u16 = 5;

/// Why smartcore could not fit a model.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("smartcore: {0}")]
    Smartcore(String),
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error("serializing smartcore's model: {0}")]
    Serialize(String),
    #[error("cancelled")]
    Cancelled,
}

/// A trained forest ready to serve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forest {
    pub trees: Vec<FlatTree>,
}

impl Forest {
    /// Mean of the trees' fire probabilities.
    #[inline]
    pub fn probability(&self, x: &[f64]) -> f64 {
        let votes: f64 = self.trees.iter().map(|t| t.eval(x)).sum();
        votes / self.trees.len().max(1) as f64
    }

    /// Probabilities for many rows (row-major, `n_features` wide), tree by
    /// tree so a tree's nodes stay in cache across rows; parallel in blocks.
    pub fn probabilities(&self, x: &[f64], n_features: usize, out: &mut [f64]) {
        const BLOCK: usize = 2048;
        let n_trees = self.trees.len().max(1) as f64;
        out.par_chunks_mut(BLOCK)
            .zip(x.par_chunks(BLOCK * n_features))
            .for_each(|(out, x)| {
                out.iter_mut().for_each(|p| *p = 0.0);
                for tree in &self.trees {
                    let rows = out.chunks_mut(LANES).zip(x.chunks(LANES * n_features));
                    for (p, x) in rows {
                        tree.eval_lanes(x, n_features, p);
                    }
                }
                // The same arithmetic as `probability`, to the last bit.
                out.iter_mut().for_each(|p| *p /= n_trees);
            });
    }

    pub fn validate(&self, n_features: usize) -> Result<(), TreeError> {
        if self.trees.is_empty() {
            return Err(TreeError::Empty);
        }
        self.trees.iter().try_for_each(|t| t.validate(n_features))
    }
}

/// A forest with its normalised feature importances.
pub struct FittedForest {
    pub forest: Forest,
    pub importances: Vec<f64>,
}

/// Column-major smartcore matrix from a row-major one.
pub(crate) fn smartcore_matrix(x: &[f64], n_features: usize) -> Result<DenseMatrix<f64>, FitError> {
    let n = x.len() / n_features.max(1);
    let mut columns = vec![0.0; n * n_features];
    for (i, row) in x.chunks_exact(n_features).enumerate() {
        for (j, v) in row.iter().enumerate() {
            columns[j * n + i] = *v;
        }
    }
    DenseMatrix::new(n, n_features, columns, true).map_err(|e| FitError::Smartcore(e.to_string()))
}

/// Refuses a label vector with one class: no classifier can be fitted.
fn check_both_classes(y: &[bool]) -> Result<(), FitError> {
    if y.iter().all(|f| *f) || !y.iter().any(|f| *f) {
        return Err(FitError::Smartcore(
            "the labels hold one class only; fire and no-fire are both needed".into(),
        ));
    }
    Ok(())
}

/// Seed of tree group `group`: far apart for neighbouring groups, so
/// their bootstrap samples are unrelated.
fn group_seed(seed: u64, group: u64) -> u64 {
    // splitmix64's increment: consecutive groups land far apart.
    seed.wrapping_add(group.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Fits a random forest on `x` (row-major) and `y`, using every core of
/// the rayon pool. Both classes must be present. Stops early (with
/// [`FitError::Cancelled`]) once `cancel` is cancelled.
pub fn fit_forest(
    x: &[f64],
    n_features: usize,
    y: &[bool],
    config: &ForestConfig,
    cancel: &CancellationToken,
) -> Result<FittedForest, FitError> {
    check_both_classes(y)?;
    let matrix = smartcore_matrix(x, n_features)?;
    let target: Vec<f64> = y.iter().map(|f| f64::from(u8::from(*f))).collect();
    let groups: Vec<(u64, u16)> = (0..config.trees)
        .step_by(usize::from(TREES_PER_TASK))
        .enumerate()
        .map(|(g, first)| (g as u64, TREES_PER_TASK.min(config.trees - first)))
        .collect();
    let fitted: Vec<Vec<(FlatTree, Vec<f64>)>> = groups
        .par_iter()
        .map(|&(group, trees)| {
            // smartcore cannot be interrupted; a shutdown waits for at
            // most the groups already running.
            if cancel.is_cancelled() {
                return Err(FitError::Cancelled);
            }
            let params = group_params(config, n_features, group, trees);
            let forest = RandomForestRegressor::fit(&matrix, &target, params)
                .map_err(|e| FitError::Smartcore(e.to_string()))?;
            flatten_forest(&forest, n_features)
        })
        .collect::<Result<_, _>>()?;
    let mut importances = vec![0.0; n_features];
    let mut trees = Vec::with_capacity(usize::from(config.trees));
    for (tree, mut imp) in fitted.into_iter().flatten() {
        normalise(&mut imp);
        importances.iter_mut().zip(&imp).for_each(|(a, b)| *a += b);
        trees.push(tree);
    }
    normalise(&mut importances);
    Ok(FittedForest {
        forest: Forest { trees },
        importances,
    })
}

fn group_params(
    config: &ForestConfig,
    n_features: usize,
    group: u64,
    trees: u16,
) -> RandomForestRegressorParameters {
    RandomForestRegressorParameters {
        max_depth: Some(config.max_depth),
        min_samples_leaf: config.min_samples_leaf,
        min_samples_split: config.min_samples_split,
        n_trees: usize::from(trees),
        m: config.max_features.map(|m| m.min(n_features)),
        keep_samples: false,
        seed: group_seed(config.seed, group),
    }
}

type SmartForest = RandomForestRegressor<f64, f64, DenseMatrix<f64>, Vec<f64>>;

/// The trees of a fitted smartcore forest, flattened, with importances.
fn flatten_forest(
    forest: &SmartForest,
    n_features: usize,
) -> Result<Vec<(FlatTree, Vec<f64>)>, FitError> {
    #[derive(Deserialize)]
    struct Repr {
        forest_regressor: Option<Inner>,
    }
    #[derive(Deserialize)]
    struct Inner {
        trees: Option<Vec<serde_json::Value>>,
    }
    let value = serde_json::to_value(forest).map_err(|e| FitError::Serialize(e.to_string()))?;
    let repr: Repr = serde_json::from_value(value)
        .map_err(|e| FitError::Tree(TreeError::Representation(e.to_string())))?;
    let trees = repr
        .forest_regressor
        .and_then(|f| f.trees)
        .ok_or_else(|| TreeError::Representation("fitted forest has no trees".into()))?;
    trees
        .into_iter()
        .map(|t| {
            let tree = SmartTree::from_value(t)?;
            Ok((tree.flatten(n_features)?, tree.importances(n_features)?))
        })
        .collect()
}

/// A single tree with leaf probabilities and normalised importances.
pub struct FittedTree {
    pub tree: FlatTree,
    pub importances: Vec<f64>,
}

/// Fits one decision tree on every row (no bootstrap, all features at
/// every split); its leaves give the share of fire among the training rows
/// that reach them.
pub fn fit_tree(
    x: &[f64],
    n_features: usize,
    y: &[bool],
    config: &TreeConfig,
) -> Result<FittedTree, FitError> {
    check_both_classes(y)?;
    let matrix = smartcore_matrix(x, n_features)?;
    let labels: Vec<u32> = y.iter().map(|f| u32::from(*f)).collect();
    let params = DecisionTreeClassifierParameters {
        criterion: SplitCriterion::Gini,
        max_depth: Some(config.max_depth),
        min_samples_leaf: config.min_samples_leaf,
        min_samples_split: config.min_samples_split,
        seed: Some(0),
    };
    let fitted: DecisionTreeClassifier<f64, u32, DenseMatrix<f64>, Vec<u32>> =
        DecisionTreeClassifier::fit(&matrix, &labels, params)
            .map_err(|e| FitError::Smartcore(e.to_string()))?;
    let value = serde_json::to_value(&fitted).map_err(|e| FitError::Serialize(e.to_string()))?;
    let repr = SmartTree::from_value(value)?;
    let mut tree = repr.flatten(n_features)?;
    tree.set_leaf_probabilities(x, n_features, y);
    let mut importances = repr.importances(n_features)?;
    normalise(&mut importances);
    Ok(FittedTree { tree, importances })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    /// Two noisy features decide the class; a third is noise.
    fn synthetic(n: usize, seed: u64) -> (Vec<f64>, Vec<bool>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut x = Vec::with_capacity(n * 3);
        let mut y = Vec::with_capacity(n);
        for _ in 0..n {
            let a: f64 = rng.random_range(0.0..10.0);
            let b: f64 = rng.random_range(0.0..10.0);
            let noise: f64 = rng.random_range(0.0..1.0);
            x.extend([a, b, noise]);
            y.push(a + b + rng.random_range(-1.0..1.0) > 10.0);
        }
        (x, y)
    }

    fn small_forest(trees: u16) -> ForestConfig {
        ForestConfig {
            trees,
            max_depth: 6,
            ..ForestConfig::default()
        }
    }

    #[test]
    fn flattened_forest_predicts_what_smartcore_predicts() {
        let (x, y) = synthetic(600, 1);
        let config = small_forest(TREES_PER_TASK);
        let fitted = fit_forest(&x, 3, &y, &config, &CancellationToken::new()).unwrap();
        // The same group, fitted and evaluated by smartcore itself.
        let matrix = smartcore_matrix(&x, 3).unwrap();
        let target: Vec<f64> = y.iter().map(|f| f64::from(u8::from(*f))).collect();
        let params = group_params(&config, 3, 0, TREES_PER_TASK);
        let reference = RandomForestRegressor::fit(&matrix, &target, params).unwrap();
        let expected = reference.predict(&matrix).unwrap();
        let mut mixed = 0;
        for (i, row) in x.chunks_exact(3).enumerate() {
            let p = fitted.forest.probability(row);
            assert!(
                (p - expected[i]).abs() < 1e-12,
                "row {i}: {p} vs {}",
                expected[i]
            );
            mixed += usize::from(p > 0.0 && p < 1.0);
        }
        assert!(mixed > 0, "probabilities, not only votes");
    }

    #[test]
    fn forest_learns_a_signal_and_ranks_its_features() {
        let (x, y) = synthetic(2000, 2);
        let fitted = fit_forest(&x, 3, &y, &small_forest(10), &CancellationToken::new()).unwrap();
        assert_eq!(fitted.forest.trees.len(), 10);
        let (test_x, test_y) = synthetic(500, 3);
        let correct = test_x
            .chunks_exact(3)
            .zip(&test_y)
            .filter(|(row, fire)| (fitted.forest.probability(row) > 0.5) == **fire)
            .count();
        assert!(correct > 450, "accuracy {correct}/500");
        let imp = &fitted.importances;
        assert!((imp.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(imp[0] > imp[2] && imp[1] > imp[2], "{imp:?}");
        let mut batch = vec![0.0; 500];
        fitted.forest.probabilities(&test_x, 3, &mut batch);
        for (row, p) in test_x.chunks_exact(3).zip(&batch) {
            assert_eq!(fitted.forest.probability(row), *p);
        }
    }

    #[test]
    fn same_seed_gives_the_same_forest_on_any_pool_size() {
        let (x, y) = synthetic(500, 4);
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let single = one_thread
            .install(|| fit_forest(&x, 3, &y, &small_forest(9), &CancellationToken::new()))
            .unwrap()
            .forest;
        let a = fit_forest(&x, 3, &y, &small_forest(9), &CancellationToken::new())
            .unwrap()
            .forest;
        let b = fit_forest(&x, 3, &y, &small_forest(9), &CancellationToken::new())
            .unwrap()
            .forest;
        assert_eq!(a, b);
        assert_eq!(a, single);
        assert_eq!(a.trees.len(), 9);
        let other_seed = ForestConfig {
            seed: 1,
            ..small_forest(9)
        };
        assert_ne!(
            fit_forest(&x, 3, &y, &other_seed, &CancellationToken::new())
                .unwrap()
                .forest,
            a
        );
    }

    #[test]
    fn single_tree_gives_leaf_probabilities() {
        let (x, y) = synthetic(1000, 5);
        let config = TreeConfig {
            max_depth: 3,
            ..TreeConfig::default()
        };
        let fitted = fit_tree(&x, 3, &y, &config).unwrap();
        let probabilities: Vec<f64> = x.chunks_exact(3).map(|r| fitted.tree.eval(r)).collect();
        assert!(probabilities.iter().any(|p| *p > 0.0 && *p < 1.0));
        let mean = probabilities.iter().sum::<f64>() / 1000.0;
        let base = y.iter().filter(|f| **f).count() as f64 / 1000.0;
        assert!(
            (mean - base).abs() < 1e-9,
            "leaf shares average to the base rate"
        );
    }

    #[test]
    fn cancelled_fit_stops_with_an_error() {
        let (x, y) = synthetic(200, 6);
        let cancel = CancellationToken::new();
        cancel.cancel();
        assert!(matches!(
            fit_forest(&x, 3, &y, &small_forest(10), &cancel),
            Err(FitError::Cancelled)
        ));
    }

    #[test]
    fn one_class_only_is_an_error_not_a_panic() {
        let x = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert!(
            fit_forest(
                &x,
                3,
                &[true, true],
                &small_forest(2),
                &CancellationToken::new()
            )
            .is_err()
        );
        assert!(fit_tree(&x, 3, &[false, false], &TreeConfig::default()).is_err());
    }
}
