//! Logistic regression: smartcore's L-BFGS fit on standardised features.
//!
//! The channels differ by five orders of magnitude (pressure ~940 hPa,
//! NC2.5 ~0.01), so the features are centred and scaled with the training
//! split's mean and standard deviation (smartcore's column statistics)
//! before fitting; the scaler is stored with the weights and applied again
//! when serving.

use super::forest::{FitError, smartcore_matrix};
use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::arrays::{Array, Array2, ArrayView2};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::{
    LogisticRegression, LogisticRegressionParameters, LogisticRegressionSolverName,
};

/// Below this standard deviation a feature is constant in training; it is
/// centred but not scaled (scaling by ~0 would blow up serving values).
const MIN_STD: f64 = 1e-12;

/// Fitted weights on the standardised scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    pub weights: Vec<f64>,
    pub intercept: f64,
}

impl Logistic {
    /// Fire probability of one (imputed) feature vector.
    #[inline]
    pub fn probability(&self, x: &[f64]) -> f64 {
        let mut z = self.intercept;
        for (((v, m), s), w) in x.iter().zip(&self.mean).zip(&self.std).zip(&self.weights) {
            z += (v - m) / s * w;
        }
        sigmoid(z)
    }

    /// Weights on the standardised scale: how much one standard deviation
    /// of each feature moves the log-odds of fire.
    pub fn standardised_weights(&self) -> &[f64] {
        &self.weights
    }

    pub fn validate(&self, n_features: usize) -> Result<(), String> {
        let lens = [self.mean.len(), self.std.len(), self.weights.len()];
        if lens.iter().any(|l| *l != n_features) {
            return Err(format!(
                "logistic regression has {lens:?} coefficients for {n_features} features"
            ));
        }
        let all = self.mean.iter().chain(&self.std).chain(&self.weights);
        if all.chain([&self.intercept]).any(|v| !v.is_finite())
            || self.std.iter().any(|s| *s <= 0.0)
        {
            return Err("logistic regression has a non-finite or zero coefficient".into());
        }
        Ok(())
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Fits on `x` (row-major, imputed) and `y`; both classes must be present.
pub fn fit_logistic(
    x: &[f64],
    n_features: usize,
    y: &[bool],
    alpha: f64,
) -> Result<Logistic, FitError> {
    let matrix = smartcore_matrix(x, n_features)?;
    let labels: Vec<u32> = y.iter().map(|f| u32::from(*f)).collect();
    let mean = matrix.column_mean();
    let std: Vec<f64> = matrix
        .std_dev(0)
        .into_iter()
        .map(|s| if s > MIN_STD { s } else { 1.0 })
        .collect();
    let (n, m) = matrix.shape();
    let mut scaled = vec![0.0; n * m];
    for j in 0..m {
        for i in 0..n {
            scaled[j * n + i] = (*matrix.get((i, j)) - mean[j]) / std[j];
        }
    }
    let scaled =
        DenseMatrix::new(n, m, scaled, true).map_err(|e| FitError::Smartcore(e.to_string()))?;
    let params = LogisticRegressionParameters {
        solver: LogisticRegressionSolverName::LBFGS,
        alpha,
    };
    let fitted: LogisticRegression<f64, u32, DenseMatrix<f64>, Vec<u32>> =
        LogisticRegression::fit(&scaled, &labels, params)
            .map_err(|e| FitError::Smartcore(e.to_string()))?;
    // smartcore orders classes ascending: the weights are those of class 1.
    let weights: Vec<f64> = fitted.coefficients().iterator(0).copied().collect();
    let intercept = *fitted.intercept().get((0, 0));
    let model = Logistic {
        mean,
        std,
        weights,
        intercept,
    };
    model
        .validate(n_features)
        .map_err(|e| FitError::Smartcore(format!("fit diverged: {e}")))?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_threshold_on_a_feature_of_any_scale() {
        // Fire when the second feature (scale ~1000) exceeds 1000; the
        // first is constant, which must not break the scaler.
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..200 {
            let v = 500.0 + 5.0 * i as f64;
            x.extend([3.0, v]);
            y.push(v > 1000.0);
        }
        let model = fit_logistic(&x, 2, &y, 0.0).unwrap();
        assert_eq!(model.std[0], 1.0);
        assert!(model.probability(&[3.0, 1400.0]) > 0.95);
        assert!(model.probability(&[3.0, 600.0]) < 0.05);
        assert!(model.weights[1] > 0.0);
        assert!(model.validate(2).is_ok());
        assert!(model.validate(3).is_err());
    }
}
