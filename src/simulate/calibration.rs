//! The calibrated generator model: per class, a table from a channel's
//! (shifted) latent value to its physical value, and the copula factor.
//!
//! A reading's channel value is `Q(G(z + shift))`: `z` is the channel's
//! latent standard normal, `shift` the scenario's push at this moment,
//! `G` the distribution function of `z + shift` over all of the class's
//! time (a mixture over the scenario kinds and their envelopes, see
//! [`ScenarioMix`]) and `Q` the class's measured quantile function. Because
//! `G` is the exact distribution of the shifted latent, `G(z + shift)` is
//! uniform over the class's readings and the class's values follow `Q` —
//! the measured distribution — however strong the scenarios push. Both
//! maps are folded into one table per class and channel, interpolated
//! linearly at run time.

use super::SimulateError;
use super::correlation::copula_factor;
use super::dynamics::Dynamics;
use super::marginal::{QuantileFunction, normal_cdf};
use super::profile::{ChannelMatrix, FireClass, SmokeProfile};
use super::scenario::{ScenarioKind, ScenarioMix};
use crate::schema::{CHANNEL_COUNT, Channel};

/// Latent range covered by the tables: ±7 standard deviations around the
/// largest shifts of any scenario.
const Z_MIN: f64 = -10.0;
const Z_MAX: f64 = 11.0;
/// Points of each value table (latent step 0.005).
const TABLE_POINTS: usize = 4201;
/// Points at which `G` is evaluated exactly; it is smooth (a mixture of
/// normal distribution functions), so linear interpolation in between is
/// accurate to about 1e-5.
const MIXTURE_POINTS: usize = 1051;
/// Quadrature points over an envelope's rising and decaying parts.
const ENVELOPE_QUADRATURE: usize = 48;

/// Everything a detector needs to turn latent state into readings.
#[derive(Debug, Clone)]
pub struct Calibration {
    /// `tables[class][channel]`: value at latent `Z_MIN + k·step`.
    tables: [[Vec<f64>; CHANNEL_COUNT]; 2],
    factors: [ChannelMatrix; 2],
    dynamics: &'static Dynamics,
    inverse_step: f64,
}

impl Calibration {
    /// Calibrates to `profile` for readings spread over scenarios as `mix`.
    pub fn new(profile: &SmokeProfile, mix: &ScenarioMix) -> Result<Calibration, SimulateError> {
        let dynamics = Dynamics::embedded();
        let factors = [
            copula_factor(profile.spearman(FireClass::NoFire))?,
            copula_factor(profile.spearman(FireClass::Fire))?,
        ];
        let tables = FireClass::ALL.map(|class| {
            Channel::ALL.map(|channel| {
                let q = QuantileFunction::from_profile(
                    profile.quantiles(class, channel),
                    profile.class_rows(class),
                );
                value_table(&q, mix.of(class), channel.index())
            })
        });
        Ok(Calibration {
            tables,
            factors,
            dynamics,
            inverse_step: (TABLE_POINTS - 1) as f64 / (Z_MAX - Z_MIN),
        })
    }

    /// The (unrounded) value of `channel` for shifted latent `z` in `class`.
    #[inline]
    pub fn value(&self, class: FireClass, channel: usize, z: f64) -> f64 {
        let table = &self.tables[class.index()][channel];
        let x = ((z - Z_MIN) * self.inverse_step).clamp(0.0, (TABLE_POINTS - 1) as f64);
        let i = (x as usize).min(TABLE_POINTS - 2);
        let t = x - i as f64;
        table[i] + t * (table[i + 1] - table[i])
    }

    /// Lower-triangular copula factor of `class`.
    pub fn factor(&self, class: FireClass) -> &ChannelMatrix {
        &self.factors[class.index()]
    }

    pub fn dynamics(&self) -> &Dynamics {
        self.dynamics
    }
}

/// `Q(G(z))` on the table's grid for one channel of one class.
fn value_table(q: &QuantileFunction, mix: &[(ScenarioKind, f64)], channel: usize) -> Vec<f64> {
    let mixture_step = (Z_MAX - Z_MIN) / (MIXTURE_POINTS - 1) as f64;
    let g: Vec<f64> = (0..MIXTURE_POINTS)
        .map(|k| mixture_cdf(Z_MIN + k as f64 * mixture_step, mix, channel))
        .collect();
    let table_step = (Z_MAX - Z_MIN) / (TABLE_POINTS - 1) as f64;
    (0..TABLE_POINTS)
        .map(|k| {
            let x = k as f64 * table_step / mixture_step;
            let i = (x as usize).min(MIXTURE_POINTS - 2);
            let t = x - i as f64;
            q.value(g[i] + t * (g[i + 1] - g[i]))
        })
        .collect()
}

/// `P(z + shift ≤ x)` over the class's time, `z` standard normal.
fn mixture_cdf(x: f64, mix: &[(ScenarioKind, f64)], channel: usize) -> f64 {
    let total: f64 = mix.iter().map(|(_, w)| w).sum();
    if total <= 0.0 {
        return normal_cdf(x);
    }
    let mut p = 0.0;
    for &(kind, weight) in mix {
        let e = kind.envelope();
        let held = kind.shift(channel, 1.0);
        // Time at peak: level 1. Rising and decaying parts are linear in
        // time, so over them the level is uniform on [0, 1].
        let ramps = e.rise + e.decay;
        let mut kind_p = e.hold * normal_cdf(x - held);
        if ramps > 0.0 {
            let mean: f64 = (0..ENVELOPE_QUADRATURE)
                .map(|k| {
                    let level = (k as f64 + 0.5) / ENVELOPE_QUADRATURE as f64;
                    normal_cdf(x - kind.shift(channel, level))
                })
                .sum::<f64>()
                / ENVELOPE_QUADRATURE as f64;
            kind_p += ramps * mean;
        }
        p += weight / total * kind_p;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unshifted_table_maps_latent_quantiles_to_measured_ones() {
        let profile = SmokeProfile::embedded();
        let cal = Calibration::new(profile, &ScenarioMix::new(0.0, 0.5)).unwrap();
        let q = profile.quantiles(FireClass::NoFire, Channel::Tvoc);
        // No nuisance: G is the normal CDF, so z = 0 is the median and
        // z = 1.2816 the 90th percentile.
        assert!((cal.value(FireClass::NoFire, Channel::Tvoc.index(), 0.0) - q.p50).abs() < 1.0);
        let p90 = cal.value(FireClass::NoFire, Channel::Tvoc.index(), 1.281_551_6);
        assert!((p90 - q.p90).abs() / q.p90 < 0.01, "{p90}");
    }

    #[test]
    fn mixture_cdf_is_a_distribution_function() {
        let mix = ScenarioMix::new(0.2, 0.5);
        for (class, kinds) in [(0, &mix.no_fire), (1, &mix.fire)] {
            for channel in 0..CHANNEL_COUNT {
                let mut last = 0.0;
                for k in 0..=200 {
                    let x = Z_MIN + k as f64 * (Z_MAX - Z_MIN) / 200.0;
                    let p = mixture_cdf(x, kinds, channel);
                    assert!(p >= last - 1e-12, "class {class} channel {channel}");
                    last = p;
                }
                assert!(mixture_cdf(Z_MIN, kinds, channel) < 1e-6);
                assert!(mixture_cdf(Z_MAX, kinds, channel) > 1.0 - 1e-6);
            }
        }
    }
}
