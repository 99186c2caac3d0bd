//! Historical data generated in-process: labelled readings shaped like the
//! real Smoke Detection Dataset, for `smokewatch generate`, first-start
//! training and tests.
//!
//! Like the real data set, the history is a series of recording sessions
//! per device: each session is entirely fire or entirely no-fire (the
//! class alternates so the fire share approaches the requested one), its
//! length follows the real data's class runs, its `CNT` starts again at 0,
//! and a gap of a few minutes separates it from the next. A session starts
//! from a fresh latent state (another day, another room), then moves one
//! reading at a time. No-fire sessions contain nuisance episodes (cooking,
//! steam) — the real data's huge TVOC/eCO2/PM values; fire sessions are one
//! smouldering or flaming fire from onset through peak to decay.
//!
//! Session starts are spread evenly over each class's distribution
//! (randomised quasi-Monte Carlo, see [`SessionStarts`]): the slowest
//! channels barely move within a session, so a few hundred sessions hold
//! only a few hundred independent temperatures, and evenly spread ones
//! reproduce the class's distribution far more faithfully than
//! independent draws would — for tests and for training alike.
//!
//! Readings come out in event-time order across devices, every channel
//! present, `fire_alarm` set; no wire faults (those belong to the live
//! simulator).

use super::SimulateError;
use super::calibration::Calibration;
use super::config::SimulatorConfig;
use super::detector::Detector;
use super::fleet::{RoomSlot, first_rooms};
use super::marginal::normal_cdf;
use super::profile::{FireClass, SmokeProfile};
use super::scenario::{Episode, ScenarioKind, ScenarioMix};
use crate::schema::{CHANNEL_COUNT, EventTime, SmokeReading};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The real data set's first timestamp (2022-06-08T18:16:27Z): where
/// history starts unless the config names a start time.
pub const DATASET_START_MS: i64 = 1_654_712_187_000;

/// Share of no-fire time with a nuisance source. The no-fire class's TVOC
/// jumps from 182 ppb at p75 to 9,008 at p90: roughly its top eighth is
/// nuisance time.
pub const HISTORY_NUISANCE_SHARE: f64 = 0.12;
/// Share of fire time that is smouldering (the rest is flaming).
pub const HISTORY_SMOULDERING_SHARE: f64 = 0.5;
/// Median nuisance episode: five minutes of cooking or a hot shower.
const NUISANCE_MEDIAN_SECONDS: f64 = 300.0;
/// Spread (log-normal sigma) of session and nuisance lengths.
const LENGTH_SIGMA: f64 = 0.5;
/// Median gap between two sessions of a device.
const GAP_MEDIAN_SECONDS: f64 = 300.0;
/// Shortest session: a minute of readings.
const MIN_SESSION: u64 = 60;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoryOptions {
    /// Stop after this many readings (all devices together).
    pub rows: Option<u64>,
    /// Stop at this much event time after the start.
    pub days: Option<f64>,
    /// Number of devices (rooms filled home by home).
    pub devices: u32,
    pub seed: u64,
    /// Share of readings labelled fire; `None`: the real data set's 0.7146.
    pub fire_share: Option<f64>,
}

/// An iterator over generated readings in event-time order.
pub struct HistoryGenerator {
    devices: Vec<DeviceHistory>,
    calibration: Calibration,
    /// (next event time, device index) of every device still producing.
    queue: BinaryHeap<Reverse<(i64, usize)>>,
    rows_left: Option<u64>,
    fire_share: f64,
    /// Readings of the sessions started so far, by class (planned, not
    /// yet all produced): the class balance steers on these.
    planned: [u64; 2],
    starts: SessionStarts,
}

struct DeviceHistory {
    slot: RoomSlot,
    rng: ChaCha8Rng,
    detector: Detector,
    next_ms: i64,
    end_ms: Option<i64>,
    interval_ms: i64,
    seq: u64,
    cnt: u64,
    session_left: u64,
}

impl HistoryGenerator {
    pub fn new(config: &SimulatorConfig, options: HistoryOptions) -> Result<Self, SimulateError> {
        let profile = SmokeProfile::embedded();
        let fire_share = options.fire_share.unwrap_or(profile.fire_share);
        if !(0.0..=1.0).contains(&fire_share) {
            return Err(SimulateError::Options(format!(
                "fire share {fire_share} is not between 0 and 1"
            )));
        }
        if options.rows.is_none() && options.days.is_none() {
            return Err(SimulateError::Options(
                "give a number of rows or of days".into(),
            ));
        }
        if let Some(days) = options.days
            && !(days.is_finite() && days > 0.0)
        {
            return Err(SimulateError::Options(format!(
                "{days} days is not a positive duration"
            )));
        }
        if options.devices == 0 {
            return Err(SimulateError::Options(
                "at least one device is needed".into(),
            ));
        }
        let interval_ms = i64::try_from(config.sample_interval.get().as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let start_ms = config
            .start_time
            .map(|t| t.timestamp_millis())
            .unwrap_or(DATASET_START_MS);
        let end_ms = options
            .days
            .map(|d| start_ms.saturating_add((d * 86_400_000.0) as i64));
        let mix = ScenarioMix::new(HISTORY_NUISANCE_SHARE, HISTORY_SMOULDERING_SHARE);
        let calibration = Calibration::new(profile, &mix)?;
        let mut generator = HistoryGenerator {
            devices: Vec::with_capacity(options.devices as usize),
            calibration,
            queue: BinaryHeap::with_capacity(options.devices as usize),
            rows_left: options.rows,
            fire_share,
            planned: [0; 2],
            starts: SessionStarts::new(options.seed),
        };
        for (index, slot) in first_rooms(options.devices, config.rooms_per_home)
            .into_iter()
            .enumerate()
        {
            let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
            rng.set_stream(index as u64);
            // Devices sample at the same rate but not in lockstep.
            let phase = rng.random_range(0..interval_ms);
            let placeholder = Episode::new(ScenarioKind::Normal, 1);
            let detector = Detector::new(&mut rng, &generator.calibration, placeholder);
            generator.devices.push(DeviceHistory {
                slot,
                rng,
                detector,
                next_ms: start_ms + phase,
                end_ms,
                interval_ms,
                seq: 0,
                cnt: 0,
                session_left: 0,
            });
            if end_ms.is_none_or(|end| start_ms + phase < end) {
                generator.queue.push(Reverse((start_ms + phase, index)));
            }
        }
        Ok(generator)
    }

    /// Class of the next session: alternating towards the target share
    /// (`draw` is uniform on [0, 1) and decides only the very first one).
    fn next_session_class(&self, draw: f64) -> FireClass {
        let total = self.planned[0] + self.planned[1];
        if total == 0 {
            return FireClass::from_alarm(draw < self.fire_share);
        }
        let share = self.planned[FireClass::Fire.index()] as f64 / total as f64;
        FireClass::from_alarm(share < self.fire_share)
    }
}

impl Iterator for HistoryGenerator {
    type Item = SmokeReading;

    fn next(&mut self) -> Option<SmokeReading> {
        if self.rows_left == Some(0) {
            return None;
        }
        let Reverse((time_ms, index)) = self.queue.pop()?;
        if self.devices[index].session_left == 0 {
            let draw: f64 = self.devices[index].rng.random();
            let class = self.next_session_class(draw);
            let start = self.starts.next(class);
            let length = self.devices[index].start_session(class, start, &self.calibration);
            self.planned[class.index()] += length;
        }
        let device = &mut self.devices[index];
        let reading = device.produce(time_ms, &self.calibration);
        if let Some(rows) = &mut self.rows_left {
            *rows -= 1;
        }
        let next = device.advance();
        if device.end_ms.is_none_or(|end| next < end) {
            self.queue.push(Reverse((next, index)));
        }
        Some(reading)
    }
}

impl DeviceHistory {
    /// Starts a session of `class` from latent normals `start`; returns
    /// its planned length.
    fn start_session(
        &mut self,
        class: FireClass,
        start: [f64; CHANNEL_COUNT],
        calibration: &Calibration,
    ) -> u64 {
        let profile = SmokeProfile::embedded();
        let runs = profile.runs(class);
        let length = log_normal(&mut self.rng, runs.median_rows as f64)
            .clamp(MIN_SESSION as f64, runs.max_rows as f64) as u64;
        self.session_left = length;
        self.cnt = 0;
        let episode = match class {
            FireClass::Fire => {
                let smouldering = self.rng.random::<f64>() < HISTORY_SMOULDERING_SHARE;
                let kind = if smouldering {
                    ScenarioKind::Smouldering
                } else {
                    ScenarioKind::Flaming
                };
                Episode::new(kind, length)
            }
            FireClass::NoFire => self.quiet_episode(),
        };
        self.detector.set_episode(episode);
        self.detector.start_from(&start, calibration);
        length
    }

    /// Normal air until the next nuisance, which then lasts minutes.
    fn quiet_episode(&mut self) -> Episode {
        let mean_nuisance = NUISANCE_MEDIAN_SECONDS * (LENGTH_SIGMA * LENGTH_SIGMA / 2.0).exp();
        let mean_quiet = mean_nuisance * (1.0 - HISTORY_NUISANCE_SHARE) / HISTORY_NUISANCE_SHARE;
        let quiet = Exp::new(1.0 / mean_quiet)
            .map(|d| d.sample(&mut self.rng))
            .unwrap_or(mean_quiet);
        Episode::new(ScenarioKind::Normal, self.readings(quiet))
    }

    fn nuisance_episode(&mut self) -> Episode {
        let seconds = log_normal(&mut self.rng, NUISANCE_MEDIAN_SECONDS);
        Episode::new(ScenarioKind::Nuisance, self.readings(seconds))
    }

    fn readings(&self, seconds: f64) -> u64 {
        ((seconds * 1000.0 / self.interval_ms as f64).round() as u64).max(1)
    }

    fn produce(&mut self, time_ms: i64, calibration: &Calibration) -> SmokeReading {
        if self.detector.episode().is_over() {
            let next = match self.detector.episode().kind {
                ScenarioKind::Normal => self.nuisance_episode(),
                ScenarioKind::Nuisance => self.quiet_episode(),
                // A fire lasts its whole session; should rounding leave a
                // reading over, the fire is still burning.
                fire => Episode::new(fire, 1),
            };
            self.detector.set_episode(next);
        }
        let (values, class) = self.detector.step(&mut self.rng, calibration);
        let reading = SmokeReading {
            device_id: self.slot.detector.clone(),
            home: self.slot.home.clone(),
            room: self.slot.room.clone(),
            event_time: EventTime(time_ms),
            seq: self.seq,
            cnt: Some(self.cnt),
            values,
            fire_alarm: Some(class == FireClass::Fire),
        };
        self.seq += 1;
        self.cnt += 1;
        self.session_left = self.session_left.saturating_sub(1);
        reading
    }

    /// Event time of the device's next reading (after a gap when the
    /// session just ended).
    fn advance(&mut self) -> i64 {
        self.next_ms += self.interval_ms;
        if self.session_left == 0 {
            let gap_s = log_normal(&mut self.rng, GAP_MEDIAN_SECONDS);
            self.next_ms += (gap_s * 1000.0) as i64;
        }
        self.next_ms
    }
}

/// Where sessions start: independent standard normals per channel, made
/// from a randomised Kronecker (Weyl) sequence — `frac(shift + k·√prime)`
/// per dimension — one sequence per class. Each start is still uniformly
/// distributed (the random shift makes it so), but consecutive starts fill
/// the distribution evenly instead of clumping.
struct SessionStarts {
    shifts: [[f64; CHANNEL_COUNT]; 2],
    counts: [u64; 2],
}

/// Irrational steps of the sequence: square roots of the first primes.
const KRONECKER_PRIMES: [f64; CHANNEL_COUNT] = [
    2.0, 3.0, 5.0, 7.0, 11.0, 13.0, 17.0, 19.0, 23.0, 29.0, 31.0, 37.0,
];

impl SessionStarts {
    fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(u64::MAX);
        let mut shifts = [[0.0; CHANNEL_COUNT]; 2];
        for class in &mut shifts {
            for s in class.iter_mut() {
                *s = rng.random();
            }
        }
        Self {
            shifts,
            counts: [0; 2],
        }
    }

    fn next(&mut self, class: FireClass) -> [f64; CHANNEL_COUNT] {
        let k = self.counts[class.index()];
        self.counts[class.index()] += 1;
        let shifts = &self.shifts[class.index()];
        std::array::from_fn(|i| {
            let u = (shifts[i] + k as f64 * KRONECKER_PRIMES[i].sqrt()).fract();
            inverse_normal_cdf(u)
        })
    }
}

/// Φ⁻¹ by bisection on [`normal_cdf`]: exact to double precision, and only
/// needed once per channel per session.
fn inverse_normal_cdf(u: f64) -> f64 {
    let u = u.clamp(1e-12, 1.0 - 1e-12);
    let (mut lo, mut hi) = (-8.0f64, 8.0f64);
    for _ in 0..64 {
        let mid = 0.5 * (lo + hi);
        if normal_cdf(mid) < u {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

fn log_normal<R: Rng>(rng: &mut R, median: f64) -> f64 {
    LogNormal::new(median.max(1.0).ln(), LENGTH_SIGMA)
        .map(|d| d.sample(rng))
        .unwrap_or(median)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(rows: u64, devices: u32, seed: u64) -> HistoryOptions {
        HistoryOptions {
            rows: Some(rows),
            days: None,
            devices,
            seed,
            fire_share: None,
        }
    }

    #[test]
    fn readings_come_in_event_time_order_with_labels_and_counters() {
        let config = SimulatorConfig::default();
        let readings: Vec<_> = HistoryGenerator::new(&config, options(20_000, 3, 1))
            .unwrap()
            .collect();
        assert_eq!(readings.len(), 20_000);
        assert!(
            readings
                .windows(2)
                .all(|w| w[0].event_time <= w[1].event_time)
        );
        assert!(
            readings
                .iter()
                .all(|r| r.fire_alarm.is_some() && r.values.missing_count() == 0)
        );
        let first = &readings[0];
        assert_eq!(first.cnt, Some(0));
        let devices: std::collections::HashSet<_> =
            readings.iter().map(|r| r.device_id.clone()).collect();
        assert_eq!(devices.len(), 3);
    }

    #[test]
    fn days_bound_event_time() {
        let config = SimulatorConfig::default();
        let opts = HistoryOptions {
            rows: None,
            days: Some(0.05),
            devices: 2,
            seed: 3,
            fire_share: Some(0.5),
        };
        let readings: Vec<_> = HistoryGenerator::new(&config, opts).unwrap().collect();
        let end = DATASET_START_MS + (0.05 * 86_400_000.0) as i64;
        assert!(readings.iter().all(|r| r.event_time.millis() < end));
        // Two devices at 1 Hz minus session gaps.
        assert!(
            readings.len() > 4_000 && readings.len() <= 8_640,
            "{}",
            readings.len()
        );
    }

    #[test]
    fn inverse_normal_cdf_inverts() {
        for u in [0.001, 0.1, 0.5, 0.9, 0.999] {
            assert!((normal_cdf(inverse_normal_cdf(u)) - u).abs() < 1e-12);
        }
    }

    #[test]
    fn options_without_a_limit_are_refused() {
        let opts = HistoryOptions {
            rows: None,
            days: None,
            devices: 1,
            seed: 0,
            fire_share: None,
        };
        assert!(HistoryGenerator::new(&SimulatorConfig::default(), opts).is_err());
    }
}
