//! The measured statistics of the real Smoke Detection Dataset that the
//! simulator is calibrated to.
//!
//! The figures live in `tests/fixtures/smoke_profile.yaml` (a copy of the
//! profile measured on the 62,630 real rows) and are compiled into the
//! binary, so the generator's defaults *are* the measurements and the
//! calibration tests compare against the very same numbers.

use crate::schema::{CHANNEL_COUNT, Channel};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The profile text compiled into the binary.
pub const EMBEDDED_PROFILE: &str = include_str!("../../tests/fixtures/smoke_profile.yaml");

/// Why a profile could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("smoke profile is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("smoke profile: {what} has no entry for channel {channel:?}")]
    MissingChannel {
        what: &'static str,
        channel: &'static str,
    },
    #[error("smoke profile: {what} lists channels {found:?}, expected the data set's 12 in order")]
    ChannelOrder {
        what: &'static str,
        found: Vec<String>,
    },
    #[error("smoke profile: {what} is not a 12x12 matrix")]
    MatrixShape { what: &'static str },
    #[error("smoke profile: quantiles of {channel:?} ({class}) are not increasing")]
    Quantiles {
        channel: &'static str,
        class: &'static str,
    },
}

/// The two classes of the data set's `Fire Alarm` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FireClass {
    NoFire,
    Fire,
}

impl FireClass {
    pub const ALL: [FireClass; 2] = [FireClass::NoFire, FireClass::Fire];

    pub const fn index(self) -> usize {
        self as usize
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            FireClass::NoFire => "no_fire",
            FireClass::Fire => "fire",
        }
    }

    pub const fn from_alarm(alarm: bool) -> Self {
        if alarm {
            FireClass::Fire
        } else {
            FireClass::NoFire
        }
    }
}

/// Order statistics of one channel within one class.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelQuantiles {
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub p01: f64,
    pub p10: f64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    /// Share of rows whose value is exactly zero.
    pub zero_share: f64,
}

impl ChannelQuantiles {
    /// (probability, value) of the measured percentiles p01..p99.
    pub fn percentiles(&self) -> [(f64, f64); 7] {
        [
            (0.01, self.p01),
            (0.10, self.p10),
            (0.25, self.p25),
            (0.50, self.p50),
            (0.75, self.p75),
            (0.90, self.p90),
            (0.99, self.p99),
        ]
    }
}

#[derive(Debug, Clone, Deserialize)]
struct ClassPair {
    fire: ChannelQuantiles,
    no_fire: ChannelQuantiles,
}

/// How a channel moves between consecutive 1 Hz readings.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepBehaviour {
    pub median_abs_step: f64,
    pub p90_abs_step: f64,
    pub lag1_autocorr: f64,
}

#[derive(Debug, Clone, Deserialize)]
struct SpearmanWire {
    channels: Vec<String>,
    matrix: Vec<Vec<f64>>,
}

/// Lengths of contiguous runs of one class, in rows.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runs {
    pub count: u32,
    pub median_rows: u64,
    pub max_rows: u64,
}

#[derive(Debug, Clone, Deserialize)]
struct EpisodesWire {
    fire_runs: Runs,
    no_fire_runs: Runs,
}

#[derive(Debug, Clone, Deserialize)]
struct ProfileWire {
    rows: u64,
    fire_share: f64,
    sample_interval_seconds: u64,
    channels: BTreeMap<String, ClassPair>,
    step_behaviour: BTreeMap<String, StepBehaviour>,
    spearman_all: SpearmanWire,
    spearman_fire: SpearmanWire,
    spearman_no_fire: SpearmanWire,
    episodes: EpisodesWire,
}

/// A 12x12 matrix indexed by [`Channel::index`].
pub type ChannelMatrix = [[f64; CHANNEL_COUNT]; CHANNEL_COUNT];

/// The profile, indexed by [`Channel`] and [`FireClass`].
#[derive(Debug, Clone)]
pub struct SmokeProfile {
    /// Rows of the real data set the figures were measured on.
    pub rows: u64,
    /// Share of rows with `Fire Alarm` = 1.
    pub fire_share: f64,
    pub sample_interval_seconds: u64,
    quantiles: [[ChannelQuantiles; CHANNEL_COUNT]; 2],
    steps: [StepBehaviour; CHANNEL_COUNT],
    spearman_all: ChannelMatrix,
    spearman: [ChannelMatrix; 2],
    runs: [Runs; 2],
}

impl SmokeProfile {
    /// The profile compiled into the binary (parsed once).
    pub fn embedded() -> &'static SmokeProfile {
        static PROFILE: OnceLock<SmokeProfile> = OnceLock::new();
        PROFILE.get_or_init(|| {
            // The text is part of the source tree and checked by a unit test;
            // failing here means the build itself is broken.
            SmokeProfile::parse(EMBEDDED_PROFILE).expect("embedded smoke profile is valid")
        })
    }

    /// Parses a profile in the layout of `tests/fixtures/smoke_profile.yaml`.
    pub fn parse(text: &str) -> Result<SmokeProfile, ProfileError> {
        let wire: ProfileWire = serde_yaml::from_str(text)?;
        let mut no_fire = Vec::with_capacity(CHANNEL_COUNT);
        let mut fire = Vec::with_capacity(CHANNEL_COUNT);
        let mut steps = Vec::with_capacity(CHANNEL_COUNT);
        for channel in Channel::ALL {
            let name = channel.csv_name();
            let pair = wire
                .channels
                .get(name)
                .ok_or(ProfileError::MissingChannel {
                    what: "channels",
                    channel: name,
                })?;
            for (class, q) in [
                (FireClass::NoFire, &pair.no_fire),
                (FireClass::Fire, &pair.fire),
            ] {
                if !is_increasing(q) {
                    return Err(ProfileError::Quantiles {
                        channel: name,
                        class: class.as_str(),
                    });
                }
            }
            no_fire.push(pair.no_fire);
            fire.push(pair.fire);
            steps.push(
                *wire
                    .step_behaviour
                    .get(name)
                    .ok_or(ProfileError::MissingChannel {
                        what: "step_behaviour",
                        channel: name,
                    })?,
            );
        }
        Ok(SmokeProfile {
            rows: wire.rows,
            fire_share: wire.fire_share,
            sample_interval_seconds: wire.sample_interval_seconds,
            quantiles: [per_channel(no_fire)?, per_channel(fire)?],
            steps: per_channel(steps)?,
            spearman_all: matrix(&wire.spearman_all, "spearman_all")?,
            spearman: [
                matrix(&wire.spearman_no_fire, "spearman_no_fire")?,
                matrix(&wire.spearman_fire, "spearman_fire")?,
            ],
            runs: [wire.episodes.no_fire_runs, wire.episodes.fire_runs],
        })
    }

    /// Measured order statistics of `channel` in `class`.
    pub fn quantiles(&self, class: FireClass, channel: Channel) -> &ChannelQuantiles {
        &self.quantiles[class.index()][channel.index()]
    }

    /// Measured step behaviour of `channel` (both classes together).
    pub fn step(&self, channel: Channel) -> &StepBehaviour {
        &self.steps[channel.index()]
    }

    /// Spearman rank correlation between channels within `class`.
    pub fn spearman(&self, class: FireClass) -> &ChannelMatrix {
        &self.spearman[class.index()]
    }

    /// Spearman rank correlation over all rows.
    pub fn spearman_all(&self) -> &ChannelMatrix {
        &self.spearman_all
    }

    /// Contiguous runs of `class` in the real data.
    pub fn runs(&self, class: FireClass) -> &Runs {
        &self.runs[class.index()]
    }

    /// Rows of `class` in the real data (for plotting positions of min/max).
    pub fn class_rows(&self, class: FireClass) -> f64 {
        let share = match class {
            FireClass::Fire => self.fire_share,
            FireClass::NoFire => 1.0 - self.fire_share,
        };
        (self.rows as f64 * share).max(1.0)
    }
}

/// One entry per channel, as an array indexed by [`Channel::index`].
fn per_channel<T>(values: Vec<T>) -> Result<[T; CHANNEL_COUNT], ProfileError> {
    values
        .try_into()
        .map_err(|_| ProfileError::MatrixShape { what: "channels" })
}

fn is_increasing(q: &ChannelQuantiles) -> bool {
    let seq = [
        q.min, q.p01, q.p10, q.p25, q.p50, q.p75, q.p90, q.p99, q.max,
    ];
    seq.windows(2).all(|w| w[0] <= w[1]) && (0.0..=1.0).contains(&q.zero_share)
}

fn matrix(wire: &SpearmanWire, what: &'static str) -> Result<ChannelMatrix, ProfileError> {
    let in_order = wire.channels.len() == CHANNEL_COUNT
        && wire
            .channels
            .iter()
            .zip(Channel::ALL)
            .all(|(name, c)| name == c.csv_name());
    if !in_order {
        return Err(ProfileError::ChannelOrder {
            what,
            found: wire.channels.clone(),
        });
    }
    if wire.matrix.len() != CHANNEL_COUNT || wire.matrix.iter().any(|r| r.len() != CHANNEL_COUNT) {
        return Err(ProfileError::MatrixShape { what });
    }
    let mut m = [[0.0; CHANNEL_COUNT]; CHANNEL_COUNT];
    for (i, row) in wire.matrix.iter().enumerate() {
        m[i].copy_from_slice(row);
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_profile_parses_with_the_data_sets_figures() {
        let p = SmokeProfile::parse(EMBEDDED_PROFILE).unwrap();
        assert_eq!(p.rows, 62_630);
        assert!((p.fire_share - 0.7146).abs() < 1e-9);
        assert_eq!(p.quantiles(FireClass::Fire, Channel::Pm2_5).p50, 1.94);
        assert_eq!(p.quantiles(FireClass::Fire, Channel::Tvoc).p50, 1103.0);
        assert_eq!(
            p.spearman_all()[Channel::Tvoc.index()][Channel::RawEthanol.index()],
            -0.88
        );
        assert_eq!(p.runs(FireClass::NoFire).median_rows, 1605);
    }

    #[test]
    fn a_profile_without_a_channel_is_refused_by_name() {
        let text = EMBEDDED_PROFILE.replace("'NC2.5':\n    fire", "'NC9':\n    fire");
        let err = SmokeProfile::parse(&text).unwrap_err();
        assert!(err.to_string().contains("NC2.5"), "{err}");
    }
}
