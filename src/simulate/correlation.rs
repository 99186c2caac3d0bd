//! How the 12 channels move together: the profile's Spearman rank
//! correlations turned into the Cholesky factor of a Gaussian copula.
//!
//! For a Gaussian copula, a Pearson correlation `r` between two latent
//! normals gives a Spearman correlation `ρ = (6/π)·asin(r/2)` between the
//! mapped values, whatever the marginals are; inverted, `r = 2·sin(π·ρ/6)`.
//! The measured matrices are rounded to two digits and contain blocks of
//! 1.00 (PM and NC channels in fire rows), so the converted matrix is
//! pulled to the nearest positive-definite correlation matrix (eigenvalues
//! clipped, unit diagonal restored) before it is factored.

use super::SimulateError;
use super::profile::ChannelMatrix;
use crate::schema::CHANNEL_COUNT;
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linalg::traits::cholesky::CholeskyDecomposable;
use smartcore::linalg::traits::evd::EVDDecomposable;

/// Smallest eigenvalue kept: a correlation of 1.00 becomes about 0.9999,
/// which leaves the factor well conditioned.
const MIN_EIGENVALUE: f64 = 1e-4;

/// Pearson correlation of latent normals that yields Spearman `rho`.
pub fn spearman_to_pearson(rho: f64) -> f64 {
    2.0 * (std::f64::consts::PI * rho.clamp(-1.0, 1.0) / 6.0).sin()
}

/// Spearman correlation of the mapped values for latent Pearson `r`.
pub fn pearson_to_spearman(r: f64) -> f64 {
    6.0 / std::f64::consts::PI * (r.clamp(-1.0, 1.0) / 2.0).asin()
}

/// The lower-triangular factor `L` with `L·Lᵀ` the latent correlation that
/// reproduces the Spearman matrix `spearman` (as closely as a valid
/// correlation matrix can).
pub fn copula_factor(spearman: &ChannelMatrix) -> Result<ChannelMatrix, SimulateError> {
    let mut pearson = [[0.0; CHANNEL_COUNT]; CHANNEL_COUNT];
    for i in 0..CHANNEL_COUNT {
        for j in 0..CHANNEL_COUNT {
            let rho = 0.5 * (spearman[i][j] + spearman[j][i]);
            pearson[i][j] = if i == j {
                1.0
            } else {
                spearman_to_pearson(rho)
            };
        }
    }
    let nearest = nearest_correlation(&pearson)?;
    cholesky(&nearest)
}

/// Clips eigenvalues at [`MIN_EIGENVALUE`] and rescales to a unit diagonal.
pub fn nearest_correlation(m: &ChannelMatrix) -> Result<ChannelMatrix, SimulateError> {
    let dense = to_dense(m)?;
    let evd = dense
        .evd(true)
        .map_err(|e| SimulateError::Calibration(format!("eigen-decomposition failed: {e}")))?;
    let n = CHANNEL_COUNT;
    let mut out = [[0.0; CHANNEL_COUNT]; CHANNEL_COUNT];
    for (i, row) in out.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            *cell = (0..n)
                .map(|k| {
                    let lambda = evd.d[k].max(MIN_EIGENVALUE);
                    evd.V.get((i, k)) * lambda * evd.V.get((j, k))
                })
                .sum();
        }
    }
    let scale: Vec<f64> = (0..n).map(|i| out[i][i].sqrt()).collect();
    for i in 0..n {
        for j in 0..n {
            out[i][j] = if i == j {
                1.0
            } else {
                out[i][j] / (scale[i] * scale[j])
            };
        }
    }
    Ok(out)
}

/// Lower-triangular Cholesky factor of a positive-definite matrix.
pub fn cholesky(m: &ChannelMatrix) -> Result<ChannelMatrix, SimulateError> {
    let factor = to_dense(m)?
        .cholesky()
        .map_err(|e| SimulateError::Calibration(format!("Cholesky factorisation failed: {e}")))?
        .L();
    let mut out = [[0.0; CHANNEL_COUNT]; CHANNEL_COUNT];
    for (i, row) in out.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate().take(i + 1) {
            *cell = *factor.get((i, j));
        }
    }
    Ok(out)
}

fn to_dense(m: &ChannelMatrix) -> Result<DenseMatrix<f64>, SimulateError> {
    let values: Vec<f64> = m.iter().flat_map(|row| row.iter().copied()).collect();
    DenseMatrix::new(CHANNEL_COUNT, CHANNEL_COUNT, values, false)
        .map_err(|e| SimulateError::Calibration(format!("matrix: {e}")))
}

/// `L·n`: correlated standard normals from independent ones.
#[inline]
pub fn correlate(factor: &ChannelMatrix, n: &[f64; CHANNEL_COUNT]) -> [f64; CHANNEL_COUNT] {
    let mut out = [0.0; CHANNEL_COUNT];
    for (i, row) in factor.iter().enumerate() {
        out[i] = row[..=i].iter().zip(&n[..=i]).map(|(a, b)| a * b).sum();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::profile::{FireClass, SmokeProfile};

    #[test]
    fn conversion_round_trips() {
        for rho in [-0.99, -0.5, 0.0, 0.3, 0.96] {
            assert!((pearson_to_spearman(spearman_to_pearson(rho)) - rho).abs() < 1e-12);
        }
    }

    #[test]
    fn factor_reproduces_the_profiles_correlations() {
        let p = SmokeProfile::embedded();
        for class in FireClass::ALL {
            let target = p.spearman(class);
            let l = copula_factor(target).unwrap();
            for i in 0..CHANNEL_COUNT {
                for j in 0..CHANNEL_COUNT {
                    let r: f64 = (0..CHANNEL_COUNT).map(|k| l[i][k] * l[j][k]).sum();
                    let rho = pearson_to_spearman(r);
                    // Eigenvalue clipping moves entries slightly; the
                    // profile itself is rounded to ±0.005.
                    assert!(
                        (rho - target[i][j]).abs() < 0.05,
                        "{class:?} {i},{j}: {rho}"
                    );
                }
            }
        }
    }
}
