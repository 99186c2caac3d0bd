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
//! Jumps happen to all channels at once (one shared jump share, one draw
//! per reading) and the particle channels, which the profile shows moving
//! as one (rank correlation 0.96-1.00), share all their step parameters:
//! channels whose innovations were scaled independently would decorrelate.

use super::marginal::{QuantileFunction, normal_cdf};
use super::profile::{FireClass, SmokeProfile};
use crate::schema::{CHANNEL_COUNT, Channel};
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

/// Channels that move as one and therefore share step parameters.
const PARTICLES: [Channel; 5] = [
    Channel::Pm1_0,
    Channel::Pm2_5,
    Channel::Nc0_5,
    Channel::Nc1_0,
    Channel::Nc2_5,
];

impl Dynamics {
    /// Fitted to the embedded profile (once per process).
    pub fn embedded() -> &'static Dynamics {
        static DYNAMICS: OnceLock<Dynamics> = OnceLock::new();
        DYNAMICS.get_or_init(|| Dynamics::fit(SmokeProfile::embedded()))
    }

    /// Fits the step parameters to `profile` (deterministic): one jump
    /// share for all channels, a calm scale per channel group, each chosen
    /// to minimise the step-size mismatch.
    pub fn fit(profile: &SmokeProfile) -> Dynamics {
        let mut groups: Vec<Vec<StepFit>> = vec![
            PARTICLES
                .iter()
                .map(|&c| StepFit::new(profile, c))
                .collect(),
        ];
        for channel in Channel::ALL {
            if !PARTICLES.contains(&channel) {
                groups.push(vec![StepFit::new(profile, channel)]);
            }
        }
        for group in &mut groups {
            let phi = group.iter().map(|f| f.phi).sum::<f64>() / group.len() as f64;
            for fit in group.iter_mut() {
                fit.phi = phi;
            }
        }
        let mut best: Option<(f64, Vec<ChannelDynamics>)> = None;
        for q in JUMP_SHARES {
            let mut total = 0.0;
            let mut chosen = Vec::with_capacity(groups.len());
            for group in &groups {
                let (loss, calm) = calm_scales(q)
                    .map(|calm| {
                        let loss: f64 = group.iter().map(|f| f.loss(q, calm)).sum();
                        (loss / group.len() as f64, calm)
                    })
                    .min_by(|a, b| a.0.total_cmp(&b.0))
                    .unwrap_or((f64::INFINITY, 1.0));
                total += loss;
                chosen.push(calm);
            }
            if best.as_ref().is_none_or(|(l, _)| total < *l) {
                let mut channels = vec![ChannelDynamics::gaussian(0.0); CHANNEL_COUNT];
                for (group, calm) in groups.iter().zip(chosen) {
                    for fit in group {
                        channels[fit.channel.index()] = ChannelDynamics::mixture(fit.phi, q, calm);
                    }
                }
                best = Some((total, channels));
            }
        }
        let channels = best.map(|(_, c)| c).unwrap_or_default();
        Dynamics {
            channels: std::array::from_fn(|i| {
                channels
                    .get(i)
                    .copied()
                    .unwrap_or(ChannelDynamics::gaussian(0.99))
            }),
        }
    }
}

impl ChannelDynamics {
    fn gaussian(phi: f64) -> Self {
        Self {
            phi,
            jump_share: 0.0,
            calm_scale: 1.0,
            jump_scale: 1.0,
        }
    }

    /// Jump share `q`, calm scale `calm`, jump scale for unit variance.
    fn mixture(phi: f64, q: f64, calm: f64) -> Self {
        if q <= 0.0 || calm >= 1.0 {
            return Self::gaussian(phi);
        }
        let jump = ((1.0 - (1.0 - q) * calm * calm) / q).max(0.0).sqrt();
        Self {
            phi,
            jump_share: q,
            calm_scale: calm,
            jump_scale: jump,
        }
    }
}

/// Calm scales tried for jump share `q`: log-spaced from 0.002 to 1; a
/// pure Gaussian (`q` = 0) has only 1.
fn calm_scales(q: f64) -> impl Iterator<Item = f64> {
    let count = if q == 0.0 { 1 } else { CALM_SCALES };
    (0..count).map(move |k| {
        if q == 0.0 {
            1.0
        } else {
            0.002f64 * 500f64.powf(k as f64 / (CALM_SCALES - 1) as f64)
        }
    })
}

/// Monte-Carlo evaluation of one channel's step sizes for candidate
/// parameters, with common random numbers so candidates compare fairly.
struct StepFit {
    channel: Channel,
    phi: f64,
    target_median: f64,
    target_p90: f64,
    functions: [QuantileFunction; 2],
    /// (class, latent, innovation, jump draw, rounded value at latent).
    samples: Vec<(usize, f64, f64, f64, f64)>,
}

impl StepFit {
    fn new(profile: &SmokeProfile, channel: Channel) -> StepFit {
        let step = profile.step(channel);
        let functions = FireClass::ALL.map(|class| {
            QuantileFunction::from_profile(
                profile.quantiles(class, channel),
                profile.class_rows(class),
            )
        });
        let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0000);
        let samples = (0..FIT_SAMPLES)
            .map(|_| {
                let class = usize::from(rng.random::<f64>() < profile.fire_share);
                let z: f64 = rng.sample(StandardNormal);
                let e: f64 = rng.sample(StandardNormal);
                let u: f64 = rng.random();
                let from = round_to_resolution(channel, functions[class].value(normal_cdf(z)));
                (class, z, e, u, from)
            })
            .collect();
        StepFit {
            channel,
            phi: step.lag1_autocorr.clamp(0.0, 0.999_999),
            target_median: step.median_abs_step,
            target_p90: step.p90_abs_step,
            functions,
            samples,
        }
    }

    /// Log-ratio mismatch of the median and p90 absolute step (offset by
    /// the channel's resolution so a target of 0 is reachable).
    fn loss(&self, q: f64, calm: f64) -> f64 {
        let d = ChannelDynamics::mixture(self.phi, q, calm);
        let mut steps: Vec<f64> = self
            .samples
            .iter()
            .map(|&(class, z, e, u, from)| {
                let next = d.phi * z + d.innovation_scale(u) * e;
                let to = round_to_resolution(
                    self.channel,
                    self.functions[class].value(normal_cdf(next)),
                );
                (to - from).abs()
            })
            .collect();
        steps.sort_by(f64::total_cmp);
        let median = steps[steps.len() / 2];
        let p90 = steps[steps.len() * 9 / 10];
        let r = 10f64.powi(-decimals(self.channel));
        ((median + r) / (self.target_median + r)).ln().abs()
            + ((p90 + r) / (self.target_p90 + r)).ln().abs()
    }
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
