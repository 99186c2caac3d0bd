//! How each channel moves from one 1 Hz reading to the next.
//!
//! Every channel has a latent standard-normal AR(1) process
//! `z' = φ·z + √(1-φ²)·s·ε` (ε from the copula, so channels move together).
//! φ is the profile's lag-1 autocorrelation. Real sensors do not move in
//! Gaussian steps, though: temperature changes by a median 0.014 °C per
//! second but by 0.09 °C at the 90th percentile, mostly still and sometimes
//! moving. So the innovation is a scale mixture: a calm scale most seconds
//! and a jump scale in a share `q` of seconds (unit variance overall, so the
//! stationary distribution — and with it every marginal — is unchanged).
//! `q` and the calm scale are fitted, per channel, so that the median and
//! 90th-percentile absolute change of the *mapped* values, rounded to the
//! sensor's resolution, match the profile's `step_behaviour`.
//!
//! The jump indicator is one shared uniform per reading (channel `i` jumps
//! when it is below `q_i`), so channels that move together still do.

use super::marginal::{QuantileFunction, normal_cdf};
use super::profile::{FireClass, SmokeProfile};
use crate::model::{CHANNEL_COUNT, Channel};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::sync::OnceLock;

/// Decimal places the real data set prints for a channel; simulated values
/// are rounded to them so steps and exact zeros look like the real sensors'.
pub const fn decimals(channel: Channel) -> i32 {
    match channel {
        Channel::Temperature | Channel::Pressure => 3,
        Channel::Humidity => 2,
        Channel::Tvoc | Channel::Eco2 | Channel::RawH2 | Channel::RawEthanol => 0,
        Channel::Pm1_0 | Channel::Pm2_5 | Channel::Nc0_5 => 2,
        Channel::Nc1_0 | Channel::Nc2_5 => 3,
    }
}

/// Rounds `value` to the channel's printed resolution.
#[inline]
pub fn round_to_resolution(channel: Channel, value: f64) -> f64 {
    const POW10: [f64; 4] = [1.0, 10.0, 100.0, 1000.0];
    let scale = POW10[decimals(channel) as usize];
    (value * scale).round() / scale
}

/// Step parameters of one channel's latent process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelDynamics {
    /// Lag-1 autocorrelation of the latent process.
    pub phi: f64,
    /// Share of seconds with a jump-sized innovation.
    pub jump_share: f64,
    /// Innovation scale in calm seconds.
    pub calm_scale: f64,
    /// Innovation scale in jump seconds (unit variance overall).
    pub jump_scale: f64,
}

impl ChannelDynamics {
    /// The innovation multiplier `√(1-φ²)·s` for the shared uniform `u`.
    #[inline]
    pub fn innovation_scale(&self, u: f64) -> f64 {
        let s = if u < self.jump_share {
            self.jump_scale
        } else {
            self.calm_scale
        };
        (1.0 - self.phi * self.phi).sqrt() * s
    }
}

/// Step parameters of all channels, fitted to a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Dynamics {
    pub channels: [ChannelDynamics; CHANNEL_COUNT],
}

/// Monte-Carlo pairs per candidate: enough for the median and p90 of the
/// step to be within a few percent; the fit runs once per process.
const FIT_SAMPLES: usize = 1500;
const JUMP_SHARES: [f64; 8] = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5];
const CALM_SCALES: usize = 40;

impl Dynamics {
    /// Fitted to the embedded profile (once per process).
    pub fn embedded() -> &'static Dynamics {
        static DYNAMICS: OnceLock<Dynamics> = OnceLock::new();
        DYNAMICS.get_or_init(|| Dynamics::fit(SmokeProfile::embedded()))
    }

    /// Fits every channel's step parameters to `profile` (deterministic).
    pub fn fit(profile: &SmokeProfile) -> Dynamics {
        Dynamics {
            channels: Channel::ALL.map(|c| fit_channel(profile, c)),
        }
    }
}

fn fit_channel(profile: &SmokeProfile, channel: Channel) -> ChannelDynamics {
    let step = profile.step(channel);
    let phi = step.lag1_autocorr.clamp(0.0, 0.999_999);
    let functions = FireClass::ALL.map(|class| {
        QuantileFunction::from_profile(profile.quantiles(class, channel), profile.class_rows(class))
    });
    // Common random numbers for every candidate keep the search smooth.
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0000 + channel.index() as u64);
    let samples: Vec<(usize, f64, f64, f64, f64)> = (0..FIT_SAMPLES)
        .map(|_| {
            let class = if rng.random::<f64>() < profile.fire_share {
                1
            } else {
                0
            };
            let z: f64 = rng.sample(StandardNormal);
            let e: f64 = rng.sample(StandardNormal);
            let u: f64 = rng.random();
            let from = round_to_resolution(channel, functions[class].value(normal_cdf(z)));
            (class, z, e, u, from)
        })
        .collect();
    let resolution = 10f64.powi(-decimals(channel));
    let loss = |m: f64, p: f64| {
        let r = resolution;
        ((m + r) / (step.median_abs_step + r)).ln().abs()
            + ((p + r) / (step.p90_abs_step + r)).ln().abs()
    };
    let mut best = (
        f64::INFINITY,
        ChannelDynamics {
            phi,
            jump_share: 0.0,
            calm_scale: 1.0,
            jump_scale: 1.0,
        },
    );
    let mut steps = vec![0.0; FIT_SAMPLES];
    for q in JUMP_SHARES {
        for k in 0..CALM_SCALES {
            // Calm scales from 0.002 to 1 (log-spaced); q = 0 is pure Gaussian.
            let calm = if q == 0.0 {
                1.0
            } else {
                0.002f64 * 500f64.powf(k as f64 / (CALM_SCALES - 1) as f64)
            };
            if q == 0.0 && k > 0 {
                break;
            }
            let jump = ((1.0 - (1.0 - q) * calm * calm) / q.max(1e-12))
                .max(0.0)
                .sqrt();
            let candidate = ChannelDynamics {
                phi,
                jump_share: q,
                calm_scale: calm,
                jump_scale: if q == 0.0 { 1.0 } else { jump },
            };
            for (slot, &(class, z, e, u, from)) in steps.iter_mut().zip(&samples) {
                let next = phi * z + candidate.innovation_scale(u) * e;
                let to = round_to_resolution(channel, functions[class].value(normal_cdf(next)));
                *slot = (to - from).abs();
            }
            steps.sort_by(f64::total_cmp);
            let median = steps[FIT_SAMPLES / 2];
            let p90 = steps[FIT_SAMPLES * 9 / 10];
            let l = loss(median, p90);
            if l < best.0 {
                best = (l, candidate);
            }
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_matches_the_data_sets_printing() {
        assert_eq!(round_to_resolution(Channel::Humidity, 57.364_9), 57.36);
        assert_eq!(round_to_resolution(Channel::Tvoc, 1102.6), 1103.0);
        assert_eq!(round_to_resolution(Channel::Nc2_5, 0.045_4), 0.045);
    }

    #[test]
    fn fitted_innovations_keep_unit_variance() {
        for d in Dynamics::embedded().channels {
            let var =
                d.jump_share * d.jump_scale.powi(2) + (1.0 - d.jump_share) * d.calm_scale.powi(2);
            assert!((var - 1.0).abs() < 1e-9, "{d:?}");
            assert!(d.phi > 0.9 && d.phi < 1.0);
        }
    }
}
