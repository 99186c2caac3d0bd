//! Labelled readings of the live fleet itself, for training the first
//! model on what the stream will score.
//!
//! The data-set-like history ([`super::history`]) is made of recording
//! sessions: each starts from a fresh room state and is fire or no fire as
//! a whole, as the real data set was recorded. The live fleet is different:
//! a room's air carries on from one second to the next, and a fire or a
//! nuisance starts and ends inside it, with the value faults the fleet
//! injects. A model trained on sessions learns what a whole fire session
//! looks like and takes the live fleet's normal air for fire more often:
//! on the alert scoreboard (20 detectors x 1 day, seeds 1-3, vote
//! threshold 0.9) its sustained ML alert raised 0.45-0.7 false alerts per
//! detector-day, a model trained on these readings none.
//!
//! The fleet is the configured one with three changes: its own seed (the
//! model must not learn the rooms it will be scored on), scenarios far more
//! often (the live rate, half a fire a day, would give a model a handful of
//! fires to learn from) and no wire faults (duplicates, late and malformed
//! messages never reach a model: the stream drops or dead-letters them).

use super::SimulateError;
use super::config::SimulatorConfig;
use super::history::DATASET_START_MS;
use super::live::LiveFleet;
use crate::schema::SmokeReading;
use crate::schema::json::decode_reading;
use crate::transport::TopicKind;
use std::collections::VecDeque;

/// Scenarios of each kind expected over the whole fleet's time, at least:
/// the rate is raised for short runs so both classes are there to learn.
const MIN_SCENARIOS: f64 = 8.0;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetHistoryOptions {
    /// Readings to produce (all detectors together).
    pub rows: u64,
    /// Smoke detectors in the fleet.
    pub detectors: u32,
    pub seed: u64,
    /// Each scenario kind (nuisance, smouldering, flaming) starts at least
    /// this often per detector per day (more often in a run too short to
    /// expect a few of each).
    pub scenarios_per_day: f64,
}

/// Readings of the live fleet in tick order, each labelled with its
/// scenario's class (`fire_alarm`).
pub struct FleetHistory {
    fleet: LiveFleet,
    pending: VecDeque<SmokeReading>,
    rows_left: u64,
}

impl FleetHistory {
    pub fn new(
        simulator: &SimulatorConfig,
        options: &FleetHistoryOptions,
    ) -> Result<Self, SimulateError> {
        let mut config = simulator.clone();
        config.seed = options.seed;
        config.rooms_per_home = config.rooms_per_home.max(1);
        config.homes = options.detectors.max(1).div_ceil(config.rooms_per_home);
        // A short run (a test's few thousand rows) must still hold fires:
        // at least MIN_SCENARIOS of each kind expected over the fleet's time.
        let fleet_days =
            options.rows as f64 * config.sample_interval.get().as_secs_f64() / 86_400.0;
        let floor = MIN_SCENARIOS / fleet_days.max(1e-9);
        let rate = options.scenarios_per_day.max(floor);
        let scenarios = &mut config.scenarios;
        for per_day in [
            &mut scenarios.nuisance_per_day,
            &mut scenarios.smouldering_per_day,
            &mut scenarios.flaming_per_day,
        ] {
            *per_day = per_day.max(rate);
        }
        let faults = &mut config.faults;
        faults.duplicate = 0.0;
        faults.out_of_order = 0.0;
        faults.late = 0.0;
        faults.truncated_json = 0.0;
        faults.wrong_type = 0.0;
        faults.unknown_device = 0.0;
        let start_ms = config
            .start_time
            .map_or(DATASET_START_MS, |t| t.timestamp_millis());
        Ok(Self {
            fleet: LiveFleet::new(&config, start_ms)?,
            pending: VecDeque::new(),
            rows_left: options.rows,
        })
    }
}

impl Iterator for FleetHistory {
    type Item = SmokeReading;

    fn next(&mut self) -> Option<SmokeReading> {
        if self.rows_left == 0 {
            return None;
        }
        while self.pending.is_empty() {
            let tick = self.fleet.tick();
            // With the wire faults off every readings message decodes; one
            // that did not would be no reading of the fleet's, so skip it.
            self.pending.extend(
                tick.messages
                    .iter()
                    .filter(|m| m.topic == TopicKind::Readings)
                    .filter_map(|m| decode_reading(&m.value).ok()),
            );
        }
        self.rows_left -= 1;
        self.pending.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(rows: u64) -> FleetHistoryOptions {
        FleetHistoryOptions {
            rows,
            detectors: 6,
            seed: 3,
            scenarios_per_day: 200.0,
        }
    }

    #[test]
    fn the_fleet_yields_labelled_readings_of_every_detector_with_fires_among_them() {
        let readings: Vec<_> = FleetHistory::new(&SimulatorConfig::default(), &options(30_000))
            .unwrap()
            .collect();
        assert_eq!(readings.len(), 30_000);
        assert!(readings.iter().all(|r| r.fire_alarm.is_some()));
        let devices: std::collections::HashSet<_> =
            readings.iter().map(|r| r.device_id.clone()).collect();
        assert_eq!(devices.len(), 6);
        let fire = readings
            .iter()
            .filter(|r| r.fire_alarm == Some(true))
            .count();
        // 400 fires a day of 10-20 minutes each: most of the time burns,
        // and normal air and nuisances are there too.
        assert!(fire > 3_000 && fire < 27_000, "{fire} fire readings");
        // No wire faults: each (device, seq) once.
        let unique: std::collections::HashSet<_> = readings
            .iter()
            .map(|r| (r.device_id.clone(), r.seq))
            .collect();
        assert_eq!(unique.len(), readings.len());
    }

    #[test]
    fn the_same_seed_gives_the_same_readings() {
        let a: Vec<_> = FleetHistory::new(&SimulatorConfig::default(), &options(2_000))
            .unwrap()
            .collect();
        let b: Vec<_> = FleetHistory::new(&SimulatorConfig::default(), &options(2_000))
            .unwrap()
            .collect();
        assert_eq!(a, b);
    }
}
