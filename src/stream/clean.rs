//! The clean stage: fills missing channels from the device's last good
//! value (within `clean.max_fill_age`, per the channel's policy) and flags
//! what it cannot fix — still-missing channels, stuck sensors (the exact
//! same value for `clean.stuck_after`) and drift (the slow mean moved
//! beyond `clean.drift_limits` from the device's baseline, which follows
//! the slow mean over `clean.drift_baseline_span`).

use super::message::{Batch, Item, Quality};
use super::stage::Stage;
use crate::schema::{CHANNEL_COUNT, Channel, DeviceId, SmokeReading};
use crate::stream::checkpoint::{CheckpointError, StateSnapshot, StoredPart};
use crate::stream::config::{CleanConfig, MissingPolicy};
use crate::stream::cow_map::CowMap;
use crate::telemetry::names;
use serde::{Deserialize, Serialize};

/// Slow EW mean of one channel and the baseline it is compared with.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Drift {
    mean: f64,
    last_ms: Option<i64>,
    started_ms: i64,
    /// What the slow mean is compared with: the slow mean once it had
    /// seen one full span of data, then following it over the (much
    /// longer) baseline span.
    baseline: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct DeviceClean {
    last_good: [Option<(i64, f64)>; CHANNEL_COUNT],
    /// (since, value) of the current run of identical values.
    unchanged: [Option<(i64, f64)>; CHANNEL_COUNT],
    /// Drift state of the channels that have a drift limit (three by
    /// default), by channel index. Kept sparse because it is most of a
    /// device's cleaning state otherwise (48 B a channel), and the state is
    /// held once per device and copied again while a checkpoint shares it.
    /// Stored in checkpoints as one entry per channel, as before.
    #[serde(with = "drift_per_channel")]
    drift: Vec<(u8, Drift)>,
}

impl DeviceClean {
    fn drift_mut(&mut self, channel: usize) -> &mut Drift {
        let at = match self
            .drift
            .iter()
            .position(|(c, _)| usize::from(*c) == channel)
        {
            Some(at) => at,
            None => {
                // Channel indices are below CHANNEL_COUNT (12).
                let index = u8::try_from(channel).unwrap_or(u8::MAX);
                self.drift.push((index, Drift::default()));
                self.drift.len() - 1
            }
        };
        &mut self.drift[at].1
    }
}

/// The checkpoint layout of [`DeviceClean::drift`]: one [`Drift`] per
/// channel, in channel order, untouched channels at their default.
mod drift_per_channel {
    use super::{CHANNEL_COUNT, Drift};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(sparse: &[(u8, Drift)], s: S) -> Result<S::Ok, S::Error> {
        let mut all = [Drift::default(); CHANNEL_COUNT];
        for (channel, drift) in sparse {
            if let Some(slot) = all.get_mut(usize::from(*channel)) {
                *slot = *drift;
            }
        }
        all.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(u8, Drift)>, D::Error> {
        let all = <[Drift; CHANNEL_COUNT]>::deserialize(d)?;
        // A channel that never had a value has the default state, which
        // `drifted` treats as "nothing seen yet": leaving it out is the same.
        Ok((0u8..)
            .zip(all)
            .filter(|(_, drift)| drift.last_ms.is_some())
            .collect())
    }
}

/// Cleaning policy and per-device state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cleaner {
    fill: [bool; CHANNEL_COUNT],
    max_fill_age_ms: i64,
    stuck_mask: u16,
    stuck_after_ms: i64,
    drift_limits: [Option<f64>; CHANNEL_COUNT],
    drift_span_ms: i64,
    /// Not in checkpoints (their layout predates it); taken from the
    /// config, as every setting is on restore.
    #[serde(skip)]
    drift_baseline_span_ms: i64,
    devices: CowMap<DeviceId, DeviceClean>,
}

impl Cleaner {
    pub fn new(config: &CleanConfig) -> Self {
        let mut fill = [false; CHANNEL_COUNT];
        let mut drift_limits = [None; CHANNEL_COUNT];
        for c in Channel::ALL {
            let policy = config
                .missing
                .get(&c)
                .copied()
                .unwrap_or(config.missing_default);
            fill[c.index()] = policy == MissingPolicy::ForwardFill;
            drift_limits[c.index()] = config.drift_limits.get(&c).copied();
        }
        Self {
            fill,
            max_fill_age_ms: config.max_fill_age.as_millis_i64(),
            stuck_mask: mask(&config.stuck_channels),
            stuck_after_ms: config.stuck_after.as_millis_i64(),
            drift_limits,
            drift_span_ms: config.drift_span.as_millis_i64().max(1),
            drift_baseline_span_ms: config.drift_baseline_span.as_millis_i64().max(1),
            devices: CowMap::default(),
        }
    }

    /// Cleans every reading of a batch in place.
    pub fn clean_items(&mut self, items: &mut [Item]) {
        for item in items {
            if let Item::Reading(r) = item {
                let invalid = r.quality.invalid;
                r.quality = Quality {
                    invalid,
                    ..self.clean(&mut r.reading)
                };
            }
        }
    }

    /// Fills and flags one reading.
    pub fn clean(&mut self, reading: &mut SmokeReading) -> Quality {
        let t = reading.event_time.millis();
        let device = self
            .devices
            .get_or_insert_with(&reading.device_id, DeviceClean::default);
        let mut q = Quality::default();
        for c in Channel::ALL {
            let i = c.index();
            let bit = 1u16 << i;
            match reading.values.0[i] {
                Some(v) => {
                    if device.last_good[i].is_none_or(|(lt, _)| lt <= t) {
                        device.last_good[i] = Some((t, v));
                    }
                    if self.stuck_mask & bit != 0 {
                        match device.unchanged[i] {
                            Some((since, same)) if same == v => {
                                if t - since >= self.stuck_after_ms {
                                    q.stuck |= bit;
                                }
                            }
                            _ => device.unchanged[i] = Some((t, v)),
                        }
                    }
                    if let Some(limit) = self.drift_limits[i]
                        && drifted(
                            device.drift_mut(i),
                            t,
                            v,
                            (self.drift_span_ms, self.drift_baseline_span_ms),
                            limit,
                        )
                    {
                        q.drift |= bit;
                    }
                }
                None => {
                    let fresh = device.last_good[i]
                        .filter(|(lt, _)| *lt <= t && t - lt <= self.max_fill_age_ms);
                    match fresh {
                        Some((_, v)) if self.fill[i] => {
                            reading.values.0[i] = Some(v);
                            q.filled |= bit;
                        }
                        _ => q.missing |= bit,
                    }
                }
            }
        }
        q
    }
}

/// Updates the slow mean and the baseline that follows it; true when the
/// mean is beyond `limit` from the baseline. `spans` are the mean's and
/// the baseline's spans in milliseconds.
fn drifted(d: &mut Drift, t: i64, v: f64, spans: (i64, i64), limit: f64) -> bool {
    let (span_ms, baseline_span_ms) = spans;
    let follow = |span: i64, dt: i64| 1.0 - (-(dt as f64) / (span as f64 / 2.0)).exp();
    match d.last_ms {
        None => {
            *d = Drift {
                mean: v,
                last_ms: Some(t),
                started_ms: t,
                baseline: None,
            };
            return false;
        }
        Some(last) if t > last => {
            d.mean += follow(span_ms, t - last) * (v - d.mean);
            if let Some(base) = d.baseline.as_mut() {
                *base += follow(baseline_span_ms, t - last) * (d.mean - *base);
            }
            d.last_ms = Some(t);
        }
        Some(_) => {}
    }
    match d.baseline {
        None => {
            if t - d.started_ms >= span_ms {
                d.baseline = Some(d.mean);
            }
            false
        }
        Some(base) => (d.mean - base).abs() > limit,
    }
}

fn mask(channels: &[Channel]) -> u16 {
    channels.iter().fold(0, |m, c| m | (1 << c.index()))
}

impl Stage for Cleaner {
    fn name(&self) -> &'static str {
        "clean"
    }
    fn process(&mut self, batch: &mut Batch) {
        self.clean_items(&mut batch.items);
        let (mut filled, mut missing, mut stuck, mut drift) = (0u64, 0u64, 0u64, 0u64);
        for item in &batch.items {
            if let Item::Reading(r) = item {
                filled += u64::from(r.quality.filled.count_ones());
                missing += u64::from(r.quality.missing.count_ones());
                stuck += u64::from(r.quality.stuck.count_ones());
                drift += u64::from(r.quality.drift.count_ones());
            }
        }
        for (flag, n) in [
            ("filled", filled),
            ("missing", missing),
            ("stuck", stuck),
            ("drift", drift),
        ] {
            if n > 0 {
                metrics::counter!(names::QUALITY_FLAGS, "flag" => flag).increment(n);
            }
        }
    }
    fn snapshot(&mut self) -> Option<Box<dyn StateSnapshot>> {
        Some(Box::new(Self {
            fill: self.fill,
            max_fill_age_ms: self.max_fill_age_ms,
            stuck_mask: self.stuck_mask,
            stuck_after_ms: self.stuck_after_ms,
            drift_limits: self.drift_limits,
            drift_span_ms: self.drift_span_ms,
            drift_baseline_span_ms: self.drift_baseline_span_ms,
            devices: self.devices.checkpoint_snapshot(),
        }))
    }
    fn restore(&mut self, part: StoredPart<'_>) -> Result<(), CheckpointError> {
        // Only the devices' state: the settings stored beside it are the
        // config of the run that wrote the checkpoint, and a restart is
        // how an operator applies changed limits.
        let stored: Cleaner = part.decode()?;
        self.devices = stored.devices;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::config::Duration;
    use crate::schema::{ChannelValues, EventTime};

    fn reading(t_s: i64, temp: Option<f64>, pm: Option<f64>) -> SmokeReading {
        let mut values = ChannelValues::EMPTY;
        values.set(Channel::Temperature, temp);
        values.set(Channel::Pm2_5, pm);
        SmokeReading {
            device_id: "d".into(),
            home: "h".into(),
            room: "r".into(),
            event_time: EventTime::from_utc_seconds(t_s),
            seq: t_s as u64,
            cnt: None,
            values,
            fire_alarm: None,
        }
    }

    #[test]
    fn forward_fill_within_max_age_then_missing_and_leave_policy_respected() {
        let mut config = CleanConfig {
            max_fill_age: Duration::from_secs(5),
            ..CleanConfig::default()
        };
        config.missing.insert(Channel::Pm2_5, MissingPolicy::Leave);
        let mut c = Cleaner::new(&config);
        c.clean(&mut reading(0, Some(20.0), Some(3.0)));
        let mut r = reading(4, None, None);
        let q = c.clean(&mut r);
        assert_eq!(r.values.get(Channel::Temperature), Some(20.0));
        assert_eq!(q.filled, 1 << Channel::Temperature.index());
        assert_eq!(r.values.get(Channel::Pm2_5), None, "leave policy");
        assert_ne!(q.missing & (1 << Channel::Pm2_5.index()), 0);
        let mut r = reading(6, None, Some(1.0));
        let q = c.clean(&mut r);
        assert_eq!(
            r.values.get(Channel::Temperature),
            None,
            "6 s > max age 5 s"
        );
        assert_ne!(q.missing & 1, 0);
    }

    #[test]
    fn identical_values_for_stuck_after_flag_the_channel() {
        let config = CleanConfig {
            stuck_after: Duration::from_secs(10),
            ..CleanConfig::default()
        };
        let mut c = Cleaner::new(&config);
        let bit = 1 << Channel::Temperature.index();
        assert_eq!(c.clean(&mut reading(0, Some(21.5), None)).stuck & bit, 0);
        assert_eq!(c.clean(&mut reading(9, Some(21.5), None)).stuck & bit, 0);
        assert_ne!(c.clean(&mut reading(10, Some(21.5), None)).stuck & bit, 0);
        assert_eq!(c.clean(&mut reading(11, Some(21.6), None)).stuck & bit, 0);
    }

    #[test]
    fn slow_mean_leaving_the_baseline_flags_drift() {
        let config = CleanConfig {
            drift_span: Duration::from_secs(60),
            ..CleanConfig::default()
        };
        let mut c = Cleaner::new(&config);
        let bit = 1 << Channel::Temperature.index();
        for s in 0..=120 {
            let q = c.clean(&mut reading(s, Some(20.0 + (s % 2) as f64 * 0.1), None));
            assert_eq!(q.drift & bit, 0, "steady signal at {s}");
        }
        let mut flagged = false;
        for s in 121..1000 {
            let temp = 20.0 + (s - 120) as f64 * 0.02;
            flagged |= c.clean(&mut reading(s, Some(temp), None)).drift & bit != 0;
        }
        assert!(flagged, "a slow 0.02 °C/s climb drifts beyond 5 °C");
    }

    #[test]
    fn a_lasting_change_is_flagged_as_drift_then_taken_as_the_new_level() {
        let config = CleanConfig {
            drift_span: Duration::from_secs(60),
            drift_baseline_span: Duration::from_secs(600),
            ..CleanConfig::default()
        };
        let mut c = Cleaner::new(&config);
        let bit = 1 << Channel::Temperature.index();
        let mut flagged = Vec::new();
        for s in 0..3000 {
            // 20 °C for two minutes, then 20 °C more for good (the limit is 5).
            let temp = if s < 120 { 20.0 } else { 40.0 };
            if c.clean(&mut reading(s, Some(temp), None)).drift & bit != 0 {
                flagged.push(s);
            }
        }
        let (first, last) = (flagged[0], flagged[flagged.len() - 1]);
        assert!((121..200).contains(&first), "flagged from {first} s");
        // The baseline (time constant 300 s) comes within 5 °C of a 20 °C
        // step after about 300 × ln 4 ≈ 416 s.
        assert!((400..900).contains(&last), "flagged until {last} s");
        assert_eq!(
            flagged.len() as i64,
            last - first + 1,
            "one run: {flagged:?}"
        );
    }

    #[test]
    fn a_restore_takes_the_devices_from_the_checkpoint_and_the_settings_from_the_config() {
        let written = CleanConfig {
            stuck_after: Duration::from_secs(10),
            ..CleanConfig::default()
        };
        let mut before = Cleaner::new(&written);
        before.clean(&mut reading(0, Some(21.5), Some(3.0)));
        let bytes = postcard::to_stdvec(&before).expect("encode");

        let now = CleanConfig {
            stuck_after: Duration::from_secs(600),
            ..CleanConfig::default()
        };
        let mut after = Cleaner::new(&now);
        after
            .restore(StoredPart {
                stage: "clean",
                bytes: &bytes,
                codec: crate::stream::checkpoint::PartCodec::Postcard,
            })
            .expect("restore");
        let mut r = reading(5, None, Some(3.0));
        let q = after.clean(&mut r);
        assert_eq!(
            r.values.get(Channel::Temperature),
            Some(21.5),
            "the device's last good value came back"
        );
        assert_ne!(q.filled, 0);
        let q = after.clean(&mut reading(30, Some(21.5), None));
        assert_eq!(
            q.stuck, 0,
            "30 s unchanged is stuck under the checkpoint's 10 s, not the config's 10 min"
        );
    }

    #[test]
    fn drift_state_is_kept_only_for_channels_with_a_limit_and_checkpoints_as_before() {
        let mut c = Cleaner::new(&CleanConfig::default());
        for s in 0..100 {
            c.clean(&mut reading(s, Some(20.0 + s as f64 * 0.01), Some(3.0)));
        }
        let device = c.devices.get(&DeviceId::from("d")).expect("device state");
        // Temperature has a drift limit by default; PM2.5 does not.
        let channels: Vec<u8> = device.drift.iter().map(|(ch, _)| *ch).collect();
        assert_eq!(channels, [Channel::Temperature.index() as u8]);

        // The layout before the state went sparse: a drift per channel.
        #[derive(Serialize)]
        struct Dense<'a> {
            last_good: &'a [Option<(i64, f64)>; CHANNEL_COUNT],
            unchanged: &'a [Option<(i64, f64)>; CHANNEL_COUNT],
            drift: [Drift; CHANNEL_COUNT],
        }
        let mut drift = [Drift::default(); CHANNEL_COUNT];
        drift[Channel::Temperature.index()] = device.drift[0].1;
        let dense = postcard::to_stdvec(&Dense {
            last_good: &device.last_good,
            unchanged: &device.unchanged,
            drift,
        })
        .expect("encode");
        assert_eq!(postcard::to_stdvec(device).expect("encode"), dense);
        let back: DeviceClean = postcard::from_bytes(&dense).expect("decode");
        assert_eq!(back.drift.len(), 1);
        assert_eq!(postcard::to_stdvec(&back).expect("encode"), dense);
    }
}
