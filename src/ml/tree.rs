//! Decision trees trained by smartcore, flattened into a compact array for
//! serving.
//!
//! smartcore trains the trees, but keeps their nodes private, and predicts
//! through a generic matrix (one allocation and a bounds-checked, generic
//! `get` per node). Its models do serialize (serde feature), so we read the
//! nodes from that representation once after training and evaluate them
//! from a flat `Vec` of 16-byte nodes: a single reading through 100 trees
//! takes a few microseconds. Every leaf holds a fire probability.

use serde::{Deserialize, Serialize};

/// Marks a leaf in [`FlatNode::feature`].
const LEAF: u32 = u32::MAX;

/// Rows walked through a tree side by side in batch scoring
/// ([`FlatTree::eval_lanes`]): their walks are independent, so the CPU
/// overlaps their node loads instead of waiting on one walk at a time.
pub const LANES: usize = 8;

/// smartcore sends `value <= threshold` to its true child (left), and
/// anything else — NaN included — to the right.
#[inline]
fn goes_right(value: f64, threshold: f64) -> bool {
    !matches!(
        value.partial_cmp(&threshold),
        Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
    )
}

/// One node: a split (`feature`, `threshold`, children at `left` and
/// `left + 1`) or a leaf (`feature == LEAF`, fire probability in `threshold`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FlatNode {
    pub feature: u32,
    pub left: u32,
    pub threshold: f64,
}

/// A tree whose nodes are laid out so the two children of a split are
/// neighbours and always come after their parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlatTree {
    pub nodes: Vec<FlatNode>,
}

/// Why a tree (from smartcore or from a model file) cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TreeError {
    #[error("tree has no nodes")]
    Empty,
    #[error("node {node}: child index {child} is not after it or not within the {len} nodes")]
    BadChild {
        node: usize,
        child: usize,
        len: usize,
    },
    #[error("node {node}: feature {feature} but the model has {n_features} features")]
    BadFeature {
        node: usize,
        feature: usize,
        n_features: usize,
    },
    #[error("node {node}: threshold or leaf value {value} is not a usable number")]
    BadValue { node: usize, value: f64 },
    #[error("smartcore tree representation not understood: {0}")]
    Representation(String),
}

impl FlatTree {
    /// The fire probability of the leaf `x` falls into. `x` must have at
    /// least as many values as the model has features (checked by
    /// [`FlatTree::validate`] and the caller).
    #[inline]
    pub fn eval(&self, x: &[f64]) -> f64 {
        let mut i = 0;
        loop {
            let node = &self.nodes[i];
            if node.feature == LEAF {
                return node.threshold;
            }
            let go_right = goes_right(x[node.feature as usize], node.threshold);
            i = node.left as usize + usize::from(go_right);
        }
    }

    /// Adds the leaf values of the rows in `x` (row-major, at most [`LANES`]) to
    /// `out`, walking the rows through the tree in lockstep: the walks are
    /// independent, so the CPU overlaps their node loads. Same result as
    /// [`FlatTree::eval`] per row.
    #[inline]
    pub fn eval_lanes(&self, x: &[f64], n_features: usize, out: &mut [f64]) {
        let mut at = [0usize; LANES];
        let lanes = out.len().min(LANES).min(x.len() / n_features.max(1));
        loop {
            let mut moving = false;
            for (k, i) in at.iter_mut().enumerate().take(lanes) {
                let node = &self.nodes[*i];
                if node.feature != LEAF {
                    let v = x[k * n_features + node.feature as usize];
                    *i = node.left as usize + usize::from(goes_right(v, node.threshold));
                    moving = true;
                }
            }
            if !moving {
                break;
            }
        }
        for (p, i) in out.iter_mut().zip(&at).take(lanes) {
            *p += self.nodes[*i].threshold;
        }
    }

    /// The index of the leaf `x` falls into.
    pub fn leaf_index(&self, x: &[f64]) -> usize {
        let mut i = 0;
        loop {
            let node = &self.nodes[i];
            if node.feature == LEAF {
                return i;
            }
            let go_right = goes_right(x[node.feature as usize], node.threshold);
            i = node.left as usize + usize::from(go_right);
        }
    }

    /// Checks that evaluation terminates and stays in bounds for vectors of
    /// `n_features`, so [`FlatTree::eval`] cannot panic on a loaded model.
    pub fn validate(&self, n_features: usize) -> Result<(), TreeError> {
        if self.nodes.is_empty() {
            return Err(TreeError::Empty);
        }
        let len = self.nodes.len();
        for (i, node) in self.nodes.iter().enumerate() {
            if !node.threshold.is_finite() {
                return Err(TreeError::BadValue {
                    node: i,
                    value: node.threshold,
                });
            }
            if node.feature == LEAF {
                if !(0.0..=1.0).contains(&node.threshold) {
                    return Err(TreeError::BadValue {
                        node: i,
                        value: node.threshold,
                    });
                }
                continue;
            }
            let left = node.left as usize;
            if left <= i || left + 1 >= len {
                return Err(TreeError::BadChild {
                    node: i,
                    child: left,
                    len,
                });
            }
            if node.feature as usize >= n_features {
                return Err(TreeError::BadFeature {
                    node: i,
                    feature: node.feature as usize,
                    n_features,
                });
            }
        }
        Ok(())
    }

    /// Replaces the leaf values by the share of fire among the rows of
    /// `x`/`y` that reach each leaf (what scikit-learn's `predict_proba`
    /// gives for a single tree). Leaves no row reaches keep their value.
    pub fn set_leaf_probabilities(&mut self, x: &[f64], n_features: usize, y: &[bool]) {
        let mut counts = vec![(0u64, 0u64); self.nodes.len()];
        for (row, fire) in x.chunks_exact(n_features).zip(y) {
            let leaf = self.leaf_index(row);
            counts[leaf].0 += u64::from(*fire);
            counts[leaf].1 += 1;
        }
        for (node, (fire, total)) in self.nodes.iter_mut().zip(counts) {
            if node.feature == LEAF && total > 0 {
                node.threshold = fire as f64 / total as f64;
            }
        }
    }

    /// Number of split nodes.
    pub fn splits(&self) -> usize {
        self.nodes.iter().filter(|n| n.feature != LEAF).count()
    }
}

/// One node of a smartcore tree, in the fields both of its tree types
/// serialize: `DecisionTreeClassifier` (leaf `output` is a class index,
/// `impurity` and `n_node_samples` give importances) and the `BaseTree` of
/// its forests (leaf `output` is the mean target, `split_score` the
/// mass-weighted impurity decrease).
#[derive(Debug, Deserialize)]
struct SmartNode {
    output: f64,
    split_feature: usize,
    split_value: Option<f64>,
    true_child: Option<usize>,
    false_child: Option<usize>,
    #[serde(default)]
    split_score: Option<f64>,
    #[serde(default)]
    n_node_samples: Option<usize>,
    #[serde(default)]
    impurity: Option<f64>,
}

/// A fitted smartcore tree read through its serde representation.
#[derive(Debug, Deserialize)]
pub(crate) struct SmartTree {
    nodes: Vec<SmartNode>,
    /// Classifier trees only: the class of each leaf `output` index.
    #[serde(default)]
    classes: Option<Vec<u32>>,
}

impl SmartTree {
    pub(crate) fn from_value(value: serde_json::Value) -> Result<SmartTree, TreeError> {
        serde_json::from_value(value).map_err(|e| TreeError::Representation(e.to_string()))
    }

    /// Fire probability of a leaf: the mean 0/1 target for regression
    /// trees; 1 or 0 for a classifier's fire or no-fire class.
    fn leaf_value(&self, node: &SmartNode) -> Result<f64, TreeError> {
        let Some(classes) = &self.classes else {
            return Ok(node.output);
        };
        let class = classes.get(node.output as usize).copied().ok_or_else(|| {
            TreeError::Representation(format!("leaf class index {} unknown", node.output))
        })?;
        Ok(if class == 1 { 1.0 } else { 0.0 })
    }

    /// The tree as a [`FlatTree`].
    pub(crate) fn flatten(&self, n_features: usize) -> Result<FlatTree, TreeError> {
        let mut nodes = Vec::with_capacity(self.nodes.len());
        let placeholder = FlatNode {
            feature: LEAF,
            left: 0,
            threshold: 0.0,
        };
        nodes.push(placeholder);
        // (smartcore node, slot in `nodes`); children are placed in pairs.
        let mut stack = vec![(0usize, 0usize)];
        while let Some((src, dst)) = stack.pop() {
            let node = self.node(src)?;
            match (node.true_child, node.false_child, node.split_value) {
                (Some(t), Some(f), Some(value)) => {
                    let left = nodes.len();
                    nodes[dst] = FlatNode {
                        feature: u32::try_from(node.split_feature).unwrap_or(LEAF - 1),
                        left: u32::try_from(left)
                            .map_err(|_| TreeError::Representation("tree too large".into()))?,
                        threshold: value,
                    };
                    nodes.extend([placeholder; 2]);
                    stack.push((t, left));
                    stack.push((f, left + 1));
                }
                _ => {
                    nodes[dst] = FlatNode {
                        feature: LEAF,
                        left: 0,
                        threshold: self.leaf_value(node)?,
                    };
                }
            }
            if nodes.len() > self.nodes.len() {
                return Err(TreeError::Representation("nodes visited twice".into()));
            }
        }
        let tree = FlatTree { nodes };
        tree.validate(n_features)?;
        Ok(tree)
    }

    /// Mean decrease in impurity per feature (unnormalised): the stored
    /// `split_score` of forest trees, or for a classifier tree
    /// `n·impurity` of a split node minus that of its children.
    pub(crate) fn importances(&self, n_features: usize) -> Result<Vec<f64>, TreeError> {
        let mut out = vec![0.0; n_features];
        let weighted =
            |n: &SmartNode| n.n_node_samples.unwrap_or(0) as f64 * n.impurity.unwrap_or(0.0);
        for node in &self.nodes {
            let (Some(t), Some(f)) = (node.true_child, node.false_child) else {
                continue;
            };
            let gain = match node.split_score {
                Some(score) if self.classes.is_none() => score,
                _ => weighted(node) - weighted(self.node(t)?) - weighted(self.node(f)?),
            };
            if let Some(slot) = out.get_mut(node.split_feature) {
                *slot += gain.max(0.0);
            }
        }
        Ok(out)
    }

    fn node(&self, i: usize) -> Result<&SmartNode, TreeError> {
        self.nodes
            .get(i)
            .ok_or_else(|| TreeError::Representation(format!("node {i} does not exist")))
    }
}

/// Scales `v` to sum to 1 (left as is when it sums to 0).
pub(crate) fn normalise(v: &mut [f64]) {
    let sum: f64 = v.iter().sum();
    if sum > 0.0 {
        v.iter_mut().for_each(|x| *x /= sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(p: f64) -> FlatNode {
        FlatNode {
            feature: LEAF,
            left: 0,
            threshold: p,
        }
    }

    fn stump() -> FlatTree {
        FlatTree {
            nodes: vec![
                FlatNode {
                    feature: 1,
                    left: 1,
                    threshold: 5.0,
                },
                leaf(0.0),
                leaf(1.0),
            ],
        }
    }

    #[test]
    fn eval_sends_values_up_to_the_threshold_left() {
        let t = stump();
        assert_eq!(t.eval(&[0.0, 5.0]), 0.0);
        assert_eq!(t.eval(&[0.0, 5.1]), 1.0);
        assert!(t.validate(2).is_ok());
    }

    #[test]
    fn validation_refuses_trees_that_could_loop_or_read_out_of_bounds() {
        let mut cyclic = stump();
        cyclic.nodes[0].left = 0;
        assert!(matches!(
            cyclic.validate(2),
            Err(TreeError::BadChild { .. })
        ));
        let mut short = stump();
        short.nodes.pop();
        assert!(matches!(short.validate(2), Err(TreeError::BadChild { .. })));
        assert!(matches!(
            stump().validate(1),
            Err(TreeError::BadFeature { .. })
        ));
        let mut nan = stump();
        nan.nodes[2].threshold = f64::NAN;
        assert!(matches!(nan.validate(2), Err(TreeError::BadValue { .. })));
        assert_eq!(
            FlatTree { nodes: vec![] }.validate(2),
            Err(TreeError::Empty)
        );
    }

    #[test]
    fn leaf_probabilities_are_the_fire_share_of_rows_reaching_them() {
        let mut t = stump();
        let x = [0.0, 1.0, 0.0, 2.0, 0.0, 9.0, 0.0, 7.0, 0.0, 8.0];
        let y = [false, true, true, true, false];
        t.set_leaf_probabilities(&x, 2, &y);
        assert_eq!(t.eval(&[0.0, 0.0]), 0.5);
        assert!((t.eval(&[0.0, 9.0]) - 2.0 / 3.0).abs() < 1e-12);
    }
}
