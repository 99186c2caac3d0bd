//! `simulator:` section of the config.

use crate::base::config::{ConfigIssue, Duration, Validate};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How the simulated fleet looks and behaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimulatorConfig {
    /// Run the simulated fleet inside the daemon.
    pub enabled: bool,
    /// Seed of every random choice: the same seed gives the same readings.
    pub seed: u64,
    /// Number of homes in the fleet.
    pub homes: u32,
    /// Rooms per home; each room has one smoke detector and room sensors.
    pub rooms_per_home: u32,
    /// Event time between two readings of one detector (the data set: 1 s).
    pub sample_interval: Duration,
    /// Event time of the first reading; `None`: when the daemon starts
    /// (history: the real data set's first timestamp, so output is
    /// reproducible).
    pub start_time: Option<DateTime<Utc>>,
    /// Event-time seconds per wall-clock second: 1 is real time, 1440 a
    /// day in a minute.
    pub time_acceleration: f64,
    /// Readings per wall-clock second across the fleet; 0 derives it from
    /// the fleet size, `sample_interval` and `time_acceleration`.
    pub target_rate: f64,
    pub scenarios: ScenarioRates,
    pub rooms: RoomBehaviour,
    pub faults: FaultRates,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            seed: 42,
            homes: 4,
            rooms_per_home: 3,
            sample_interval: Duration::from_secs(1),
            start_time: None,
            time_acceleration: 1.0,
            target_rate: 0.0,
            scenarios: ScenarioRates::default(),
            rooms: RoomBehaviour::default(),
            faults: FaultRates::default(),
        }
    }
}

/// How often each scenario starts in a room, and how long it lasts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScenarioRates {
    /// Nuisance episodes (cooking, steam, spray) per detector per day.
    pub nuisance_per_day: f64,
    /// Typical (median) length of a nuisance episode.
    pub nuisance_duration: Duration,
    /// Smouldering fires per detector per day.
    pub smouldering_per_day: f64,
    /// Typical length of a smouldering fire, from first smoke to put out.
    pub smouldering_duration: Duration,
    /// Flaming fires per detector per day.
    pub flaming_per_day: f64,
    /// Typical length of a flaming fire.
    pub flaming_duration: Duration,
}

impl Default for ScenarioRates {
    fn default() -> Self {
        Self {
            nuisance_per_day: 4.0,
            nuisance_duration: Duration::from_secs(10 * 60),
            smouldering_per_day: 0.5,
            smouldering_duration: Duration::from_secs(20 * 60),
            flaming_per_day: 0.5,
            flaming_duration: Duration::from_secs(10 * 60),
        }
    }
}

/// Occupancy and lights of the rooms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoomBehaviour {
    /// Event time between two temperature/humidity reports of a room.
    pub climate_interval: Duration,
    /// "Light left on in an empty room" incidents per room per day.
    pub light_left_on_per_day: f64,
    /// Typical time a forgotten light stays on before someone switches it off.
    pub light_left_on_duration: Duration,
}

impl Default for RoomBehaviour {
    fn default() -> Self {
        Self {
            climate_interval: Duration::from_secs(60),
            light_left_on_per_day: 1.0,
            light_left_on_duration: Duration::from_secs(45 * 60),
        }
    }
}

/// Faults injected into what the simulator sends, as the probability per
/// reading that one starts. Faulty messages are real bytes on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultRates {
    /// Inject faults at all.
    pub enabled: bool,
    /// A reading with one to three channels missing (null).
    pub missing_value: f64,
    /// A channel that freezes at its last value for minutes.
    pub stuck_sensor: f64,
    /// A single absurd value on one channel (some beyond the physical range).
    pub spike: f64,
    /// A channel whose calibration drifts away for a while.
    pub drift: f64,
    /// A message sent twice.
    pub duplicate: f64,
    /// A reading sent after the device's next one.
    pub out_of_order: f64,
    /// A reading held back and sent `late_by` later (event time unchanged).
    pub late: f64,
    /// How far behind a late reading arrives.
    pub late_by: Duration,
    /// An extra message cut off mid-JSON.
    pub truncated_json: f64,
    /// An extra message with a field of the wrong JSON type.
    pub wrong_type: f64,
    /// An extra reading from a device id that is not in the registry.
    pub unknown_device: f64,
}

impl Default for FaultRates {
    fn default() -> Self {
        Self {
            enabled: true,
            missing_value: 0.05,
            stuck_sensor: 0.0002,
            spike: 0.001,
            drift: 0.0001,
            duplicate: 0.002,
            out_of_order: 0.002,
            late: 0.001,
            late_by: Duration::from_secs(30),
            truncated_json: 0.0005,
            wrong_type: 0.0005,
            unknown_device: 0.0005,
        }
    }
}

impl FaultRates {
    /// (key, rate) of every per-reading probability, for validation.
    fn probabilities(&self) -> [(&'static str, f64); 10] {
        [
            ("missing_value", self.missing_value),
            ("stuck_sensor", self.stuck_sensor),
            ("spike", self.spike),
            ("drift", self.drift),
            ("duplicate", self.duplicate),
            ("out_of_order", self.out_of_order),
            ("late", self.late),
            ("truncated_json", self.truncated_json),
            ("wrong_type", self.wrong_type),
            ("unknown_device", self.unknown_device),
        ]
    }
}

impl SimulatorConfig {
    /// Number of smoke detectors (one per room).
    pub fn detectors(&self) -> u64 {
        u64::from(self.homes) * u64::from(self.rooms_per_home)
    }
}

impl Validate for SimulatorConfig {
    fn validate(&self, section: &str, issues: &mut Vec<ConfigIssue>) {
        let mut issue = |key: &str, reason: String| {
            issues.push(ConfigIssue::new(format!("{section}.{key}"), reason));
        };
        if self.homes == 0 {
            issue("homes", "must be at least 1".into());
        }
        if self.rooms_per_home == 0 {
            issue("rooms_per_home", "must be at least 1".into());
        }
        if self.sample_interval.get() < std::time::Duration::from_millis(1) {
            issue("sample_interval", "must be at least 1ms".into());
        }
        if !(self.time_acceleration.is_finite() && self.time_acceleration > 0.0) {
            issue(
                "time_acceleration",
                format!(
                    "{} must be a number above 0 (1 = real time)",
                    self.time_acceleration
                ),
            );
        }
        if !(self.target_rate.is_finite() && self.target_rate >= 0.0) {
            issue(
                "target_rate",
                format!(
                    "{} must be 0 (derived) or a positive number of readings/s",
                    self.target_rate
                ),
            );
        }
        let s = &self.scenarios;
        for (key, per_day, duration) in [
            ("nuisance", s.nuisance_per_day, s.nuisance_duration),
            ("smouldering", s.smouldering_per_day, s.smouldering_duration),
            ("flaming", s.flaming_per_day, s.flaming_duration),
        ] {
            if !(per_day.is_finite() && per_day >= 0.0) {
                issue(
                    &format!("scenarios.{key}_per_day"),
                    format!("{per_day} must be 0 or more"),
                );
            }
            if duration.is_zero() {
                issue(
                    &format!("scenarios.{key}_duration"),
                    "must be longer than 0s".into(),
                );
            }
        }
        let r = &self.rooms;
        if r.climate_interval.is_zero() {
            issue("rooms.climate_interval", "must be longer than 0s".into());
        }
        if !(r.light_left_on_per_day.is_finite() && r.light_left_on_per_day >= 0.0) {
            issue(
                "rooms.light_left_on_per_day",
                format!("{} must be 0 or more", r.light_left_on_per_day),
            );
        }
        if r.light_left_on_duration.is_zero() {
            issue(
                "rooms.light_left_on_duration",
                "must be longer than 0s".into(),
            );
        }
        for (key, p) in self.faults.probabilities() {
            if !(0.0..=1.0).contains(&p) {
                issue(
                    &format!("faults.{key}"),
                    format!("{p} is not a probability between 0 and 1"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let mut issues = Vec::new();
        SimulatorConfig::default().validate("simulator", &mut issues);
        assert!(issues.is_empty(), "{issues:?}");
    }

    #[test]
    fn bad_values_are_named_by_key() {
        let mut config = SimulatorConfig {
            time_acceleration: 0.0,
            ..Default::default()
        };
        config.faults.spike = 1.5;
        config.scenarios.flaming_duration = Duration::from_secs(0);
        let mut issues = Vec::new();
        config.validate("simulator", &mut issues);
        let keys: Vec<_> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "simulator.time_acceleration",
                "simulator.scenarios.flaming_duration",
                "simulator.faults.spike"
            ]
        );
    }
}
