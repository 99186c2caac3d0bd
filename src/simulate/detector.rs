//! One smoke detector's physics: a 12-channel latent state that moves one
//! reading at a time and is mapped to the data set's channels.
//!
//! A detector's next values depend on its last (see [`super::dynamics`]);
//! the scenario it is in decides its class and pushes its levels (see
//! [`super::scenario`]); the calibration maps latent to physical values so
//! the class's readings follow the real data's distribution.

use super::calibration::Calibration;
use super::correlation::correlate;
use super::dynamics::round_to_resolution;
use super::profile::FireClass;
use super::scenario::Episode;
use crate::schema::{CHANNEL_COUNT, Channel, ChannelValues};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

/// A detector's evolving state.
#[derive(Debug, Clone)]
pub struct Detector {
    latent: [f64; CHANNEL_COUNT],
    episode: Episode,
}

impl Detector {
    /// A detector in `episode`, its latent state drawn from the stationary
    /// distribution of the episode's class.
    pub fn new<R: Rng>(rng: &mut R, calibration: &Calibration, episode: Episode) -> Self {
        let mut detector = Detector {
            latent: [0.0; CHANNEL_COUNT],
            episode,
        };
        detector.redraw(rng, calibration);
        detector
    }

    /// Draws a fresh latent state: a new recording session (another day,
    /// another place), independent of the last one.
    pub fn redraw<R: Rng>(&mut self, rng: &mut R, calibration: &Calibration) {
        let n = standard_normals(rng);
        self.latent = correlate(calibration.factor(self.episode.kind.class()), &n);
    }

    /// Starts from the latent state made of independent standard normals
    /// `n` (correlated here by the class's copula).
    pub fn start_from(&mut self, n: &[f64; CHANNEL_COUNT], calibration: &Calibration) {
        self.latent = correlate(calibration.factor(self.episode.kind.class()), n);
    }

    pub fn episode(&self) -> &Episode {
        &self.episode
    }

    /// Switches scenario; the latent state carries over (a fire starts in
    /// the same room, at the same temperature).
    pub fn set_episode(&mut self, episode: Episode) {
        self.episode = episode;
    }

    /// The class of the reading about to be produced.
    pub fn class(&self) -> FireClass {
        self.episode.kind.class()
    }

    /// Advances one reading and returns its values (every channel present,
    /// rounded to the data set's resolution) and its class.
    #[inline]
    pub fn step<R: Rng>(
        &mut self,
        rng: &mut R,
        calibration: &Calibration,
    ) -> (ChannelValues, FireClass) {
        let class = self.class();
        let n = standard_normals(rng);
        let jump: f64 = rng.random();
        let innovation = correlate(calibration.factor(class), &n);
        let kind = self.episode.kind;
        let level = self.episode.level();
        let mut values = ChannelValues::EMPTY;
        for (i, channel) in Channel::ALL.into_iter().enumerate() {
            let d = &calibration.dynamics().channels[i];
            self.latent[i] = d.phi * self.latent[i] + d.innovation_scale(jump) * innovation[i];
            let z = self.latent[i] + kind.shift(i, level);
            let value = round_to_resolution(channel, calibration.value(class, i, z));
            values.0[i] = Some(value);
        }
        self.episode.elapsed += 1;
        (values, class)
    }
}

fn standard_normals<R: Rng>(rng: &mut R) -> [f64; CHANNEL_COUNT] {
    let mut n = [0.0; CHANNEL_COUNT];
    for x in &mut n {
        *x = rng.sample(StandardNormal);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::profile::SmokeProfile;
    use crate::simulate::scenario::{ScenarioKind, ScenarioMix};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn next_value_stays_close_to_the_last() {
        let cal = Calibration::new(SmokeProfile::embedded(), &ScenarioMix::new(0.0, 0.5)).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut d = Detector::new(&mut rng, &cal, Episode::new(ScenarioKind::Normal, 10_000));
        let mut last = d.step(&mut rng, &cal).0;
        let mut big_moves = 0;
        for _ in 0..2000 {
            let (v, class) = d.step(&mut rng, &cal);
            assert_eq!(class, FireClass::NoFire);
            let t0 = last.get(Channel::Pressure).unwrap();
            let t1 = v.get(Channel::Pressure).unwrap();
            if (t1 - t0).abs() > 0.5 {
                big_moves += 1;
            }
            last = v;
        }
        // Pressure's p90 step is 0.012 hPa; jumps of 0.5 hPa must be rare.
        assert!(big_moves < 20, "{big_moves}");
    }
}
