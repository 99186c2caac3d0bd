//! Faults real fleets have, injected at configured rates so the stream's
//! validation, de-duplication, lateness handling and dead-letter path have
//! real work.
//!
//! * Value faults change what a detector reports: missing channels (null),
//!   a stuck channel (frozen for minutes), a spike (one absurd value, some
//!   beyond the physical range), a drifting calibration.
//! * Wire faults change what travels: a message sent twice, a reading sent
//!   after the device's next one, a reading held back and sent late.
//! * Malformed payloads are *extra* messages (the device's own stream stays
//!   complete): JSON cut off mid-way, a field of the wrong JSON type, a
//!   reading from a device id nobody registered.

use super::config::FaultRates;
use crate::schema::json::encode_reading;
use crate::schema::{CHANNEL_COUNT, Channel, DeviceId, SmokeReading};
use rand::{Rng, RngExt};
use serde_json::Value;

/// The kinds of fault, as counted in `smokewatch_simulator_faults_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    MissingValue,
    StuckSensor,
    Spike,
    Drift,
    Duplicate,
    OutOfOrder,
    Late,
    TruncatedJson,
    WrongType,
    UnknownDevice,
}

impl FaultKind {
    pub const ALL: [FaultKind; 10] = [
        FaultKind::MissingValue,
        FaultKind::StuckSensor,
        FaultKind::Spike,
        FaultKind::Drift,
        FaultKind::Duplicate,
        FaultKind::OutOfOrder,
        FaultKind::Late,
        FaultKind::TruncatedJson,
        FaultKind::WrongType,
        FaultKind::UnknownDevice,
    ];

    /// Label value (matches the config key).
    pub const fn as_str(self) -> &'static str {
        match self {
            FaultKind::MissingValue => "missing_value",
            FaultKind::StuckSensor => "stuck_sensor",
            FaultKind::Spike => "spike",
            FaultKind::Drift => "drift",
            FaultKind::Duplicate => "duplicate",
            FaultKind::OutOfOrder => "out_of_order",
            FaultKind::Late => "late",
            FaultKind::TruncatedJson => "truncated_json",
            FaultKind::WrongType => "wrong_type",
            FaultKind::UnknownDevice => "unknown_device",
        }
    }
}

/// Readings a stuck channel stays frozen: 2 to 10 minutes at 1 Hz.
const STUCK_READINGS: std::ops::Range<u64> = 120..600;
/// Readings a drift lasts before the sensor is recalibrated: 10-60 min.
const DRIFT_READINGS: std::ops::Range<u64> = 600..3600;

#[derive(Debug, Clone, Copy)]
struct Stuck {
    channel: usize,
    value: Option<f64>,
    left: u64,
}

#[derive(Debug, Clone, Copy)]
struct Drift {
    channel: usize,
    per_reading: f64,
    offset: f64,
    left: u64,
}

/// One detector's ongoing value faults.
#[derive(Debug, Clone, Default)]
pub struct ValueFaults {
    stuck: Option<Stuck>,
    drift: Option<Drift>,
    /// Channel of the spike in the latest reading, if it had one.
    spiked: Option<usize>,
}

impl ValueFaults {
    /// Channels with a fault in the latest reading: (stuck, drifting,
    /// spiked), for the simulator's ground truth.
    pub fn active(&self) -> [Option<usize>; 3] {
        [
            self.stuck.map(|s| s.channel),
            self.drift.map(|d| d.channel),
            self.spiked,
        ]
    }

    /// Applies ongoing faults to `reading` and maybe starts new ones;
    /// pushes the kind of every fault started to `started`.
    pub fn apply<R: Rng>(
        &mut self,
        rng: &mut R,
        rates: &FaultRates,
        reading: &mut SmokeReading,
        started: &mut Vec<FaultKind>,
    ) {
        let values = &mut reading.values.0;
        self.spiked = None;
        // Faults that ended with the previous reading (kept until now so
        // that `active` reports them for their last reading).
        if self.drift.is_some_and(|d| d.left == 0) {
            self.drift = None;
        }
        if self.stuck.is_some_and(|s| s.left == 0) {
            self.stuck = None;
        }
        if self.drift.is_none() && rng.random::<f64>() < rates.drift {
            let channel = rng.random_range(0..CHANNEL_COUNT);
            let left = rng.random_range(DRIFT_READINGS);
            // Drifts by about the channel's typical level over its course.
            let scale = values[channel].map_or(1.0, |v| v.abs().max(1.0));
            let sign = if rng.random::<bool>() { 1.0 } else { -1.0 };
            self.drift = Some(Drift {
                channel,
                per_reading: sign * scale / left as f64,
                offset: 0.0,
                left,
            });
            started.push(FaultKind::Drift);
        }
        if let Some(d) = &mut self.drift {
            d.offset += d.per_reading;
            if let Some(v) = &mut values[d.channel] {
                *v += d.offset;
            }
            d.left -= 1;
        }
        if self.stuck.is_none() && rng.random::<f64>() < rates.stuck_sensor {
            let channel = rng.random_range(0..CHANNEL_COUNT);
            let left = rng.random_range(STUCK_READINGS);
            self.stuck = Some(Stuck {
                channel,
                value: values[channel],
                left,
            });
            started.push(FaultKind::StuckSensor);
        }
        if let Some(s) = &mut self.stuck {
            values[s.channel] = s.value;
            s.left -= 1;
        }
        if rng.random::<f64>() < rates.spike {
            let channel = rng.random_range(0..CHANNEL_COUNT);
            values[channel] = Some(spike_value(rng, Channel::ALL[channel], values[channel]));
            self.spiked = Some(channel);
            started.push(FaultKind::Spike);
        }
        if rng.random::<f64>() < rates.missing_value {
            for _ in 0..rng.random_range(1..=3) {
                values[rng.random_range(0..CHANNEL_COUNT)] = None;
            }
            started.push(FaultKind::MissingValue);
        }
    }
}

/// An absurd value: half the time beyond the physical range (validation
/// must refuse it), otherwise a jump far outside the channel's normal level
/// (anomaly detection should flag it).
fn spike_value<R: Rng>(rng: &mut R, channel: Channel, current: Option<f64>) -> f64 {
    let range = channel.physical_range();
    if rng.random::<bool>() {
        if rng.random::<bool>() {
            range.end() * 1.5 + 1.0
        } else {
            range.start() - 100.0
        }
    } else {
        let level = current.unwrap_or(*range.start()).abs().max(1.0);
        (level * rng.random_range(5.0..20.0)).min(*range.end())
    }
}

/// `payload` cut off at a random byte (never empty, never whole).
pub fn truncated<R: Rng>(rng: &mut R, payload: &[u8]) -> Vec<u8> {
    if payload.len() < 2 {
        return b"{".to_vec();
    }
    payload[..rng.random_range(1..payload.len())].to_vec()
}

/// The reading's JSON with one field of the wrong type: a unit glued to a
/// number, a number as a device id, a boolean sequence number.
pub fn wrong_type<R: Rng>(rng: &mut R, reading: &SmokeReading) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&encode_reading(reading)).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        match rng.random_range(0..4) {
            0 => {
                let t = reading.values.get(Channel::Temperature).unwrap_or(21.5);
                map.insert("temperature_c".into(), Value::String(format!("{t:.1} C")));
            }
            1 => {
                map.insert(
                    "device_id".into(),
                    Value::from(rng.random_range(1000..9999)),
                );
            }
            2 => {
                map.insert("seq".into(), Value::Bool(true));
            }
            _ => {
                map.insert(
                    "event_time_ms".into(),
                    Value::String(reading.event_time.to_string()),
                );
            }
        }
    }
    serde_json::to_vec(&value).unwrap_or_default()
}

/// The reading as if sent by a device that is not in the registry. Its id
/// does not read `home-room-kind`, so `stream.unknown_devices: register`
/// does not adopt it: it stays a stranger the stream dead-letters.
pub fn from_unknown_device<R: Rng>(rng: &mut R, reading: &SmokeReading) -> SmokeReading {
    let mut ghost = reading.clone();
    ghost.device_id = DeviceId::from(format!(
        "{}_unregistered_{:04x}",
        reading.home,
        rng.random_range(0..0x1_0000u32)
    ));
    ghost
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::json::decode_reading;
    use crate::schema::{ChannelValues, EventTime};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn reading() -> SmokeReading {
        let mut values = ChannelValues::EMPTY;
        for c in Channel::ALL {
            values.set(c, Some(*c.physical_range().start() + 10.0));
        }
        SmokeReading {
            device_id: "h001-kitchen-smoke".into(),
            home: "h001".into(),
            room: "kitchen".into(),
            event_time: EventTime(1_700_000_000_000),
            seq: 3,
            cnt: Some(3),
            values,
            fire_alarm: Some(false),
        }
    }

    #[test]
    fn malformed_payloads_are_refused_by_the_decoder_with_a_reason() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let r = reading();
        for _ in 0..50 {
            let cut = truncated(&mut rng, &encode_reading(&r));
            assert_eq!(decode_reading(&cut).unwrap_err().reason(), "malformed_json");
            let wrong = wrong_type(&mut rng, &r);
            let reason = decode_reading(&wrong).unwrap_err().reason();
            assert!(
                reason == "wrong_type" || reason == "malformed_json",
                "{reason}"
            );
        }
        let ghost = from_unknown_device(&mut rng, &r);
        assert!(ghost.device_id.as_str().starts_with("h001_unregistered_"));
        assert_eq!(
            crate::schema::registry::parse_device_id(ghost.device_id.as_str()),
            None
        );
    }

    #[test]
    fn every_value_fault_starts_at_rate_one_and_none_at_rate_zero() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let all = FaultRates {
            missing_value: 1.0,
            stuck_sensor: 1.0,
            spike: 1.0,
            drift: 1.0,
            ..FaultRates::default()
        };
        let mut faults = ValueFaults::default();
        let mut started = Vec::new();
        let mut r = reading();
        faults.apply(&mut rng, &all, &mut r, &mut started);
        started.sort();
        assert_eq!(
            started,
            [
                FaultKind::MissingValue,
                FaultKind::StuckSensor,
                FaultKind::Spike,
                FaultKind::Drift
            ]
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
        );
        assert!(r.values.missing_count() >= 1);
        let none = FaultRates {
            missing_value: 0.0,
            stuck_sensor: 0.0,
            spike: 0.0,
            drift: 0.0,
            ..FaultRates::default()
        };
        let (mut clean, mut started) = (reading(), Vec::new());
        ValueFaults::default().apply(&mut rng, &none, &mut clean, &mut started);
        assert!(started.is_empty());
        assert_eq!(clean, reading());
    }
}
