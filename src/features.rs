//! Per-device features computed from a device's time series, shared by the
//! stream (detectors, live scoring) and ML training, so a model is served
//! exactly the numbers it was trained on.
//!
//! Rolling statistics are *time-aware exponentially weighted* (EW) rather
//! than sliding windows: O(1) memory and work per channel and device (a
//! fleet of 100 k devices fits in a few tens of MB), insensitive to the odd
//! missing sample, and the same update whether computed over a CSV in a
//! batch or reading by reading in the stream. An EW statistic with span `s`
//! uses the time constant `s / 2`, so its weights have the same mean age as
//! a sliding window of length `s`.
//!
//! A gap longer than [`FeatureSpec::max_gap_secs`] (a device restarted, a
//! new recording session in the data set) resets the device's state, so one
//! session's history does not leak into the next.

use crate::schema::{CHANNEL_COUNT, Channel, ChannelValues, EventTime};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// What is computed from one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeatureKind {
    /// The value itself.
    Raw,
    /// Change per second since the device's previous reading.
    Delta,
    /// EW mean over the span.
    Mean(u32),
    /// EW standard deviation over the span.
    Std(u32),
    /// How unusual the value is: (value − EW mean) / EW std, both taken
    /// before this value was added; 0 while the std is still ~0.
    ZScore(u32),
}

/// One feature: a kind applied to a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Feature {
    pub channel: Channel,
    pub kind: FeatureKind,
}

impl fmt::Display for Feature {
    /// `pm2_5`, `pm2_5__delta`, `pm2_5__mean_30s`, `pm2_5__std_30s`, `pm2_5__z_30s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.channel.key();
        match self.kind {
            FeatureKind::Raw => write!(f, "{c}"),
            FeatureKind::Delta => write!(f, "{c}__delta"),
            FeatureKind::Mean(s) => write!(f, "{c}__mean_{s}s"),
            FeatureKind::Std(s) => write!(f, "{c}__std_{s}s"),
            FeatureKind::ZScore(s) => write!(f, "{c}__z_{s}s"),
        }
    }
}

impl FromStr for Feature {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let (channel, rest) = match name.split_once("__") {
            Some((c, rest)) => (c, Some(rest)),
            None => (name, None),
        };
        let channel = Channel::from_name(channel)
            .ok_or_else(|| format!("feature {name:?}: unknown channel {channel:?}"))?;
        let span = |s: &str| -> Result<u32, String> {
            s.strip_suffix('s')
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("feature {name:?}: {s:?} is not a span like \"30s\""))
        };
        let kind = match rest {
            None => FeatureKind::Raw,
            Some("delta") => FeatureKind::Delta,
            Some(r) => match r.split_once('_') {
                Some(("mean", s)) => FeatureKind::Mean(span(s)?),
                Some(("std", s)) => FeatureKind::Std(span(s)?),
                Some(("z", s)) => FeatureKind::ZScore(span(s)?),
                _ => return Err(format!("feature {name:?}: unknown kind {r:?}")),
            },
        };
        Ok(Feature { channel, kind })
    }
}

impl Serialize for Feature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Feature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// Which features, in which order, and when history is reset. Saved with
/// every model so serving computes the same vector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    pub features: Vec<Feature>,
    /// A gap between two readings longer than this resets the history.
    pub max_gap_secs: u32,
}

/// Default reset gap: a minute without readings means a new session.
pub const DEFAULT_MAX_GAP_SECS: u32 = 60;

impl FeatureSpec {
    /// The 12 raw channels, in data-set order.
    pub fn raw() -> Self {
        Self {
            features: Channel::ALL
                .into_iter()
                .map(|channel| Feature {
                    channel,
                    kind: FeatureKind::Raw,
                })
                .collect(),
            max_gap_secs: DEFAULT_MAX_GAP_SECS,
        }
    }

    /// The raw channels plus, for every channel, the delta and the EW
    /// mean, std and z-score over each span.
    pub fn engineered(spans_secs: &[u32]) -> Self {
        let mut spec = Self::raw();
        for channel in Channel::ALL {
            spec.features.push(Feature {
                channel,
                kind: FeatureKind::Delta,
            });
            for &s in spans_secs {
                for kind in [
                    FeatureKind::Mean(s),
                    FeatureKind::Std(s),
                    FeatureKind::ZScore(s),
                ] {
                    spec.features.push(Feature { channel, kind });
                }
            }
        }
        spec
    }

    pub fn names(&self) -> Vec<String> {
        self.features.iter().map(Feature::to_string).collect()
    }

    pub fn len(&self) -> usize {
        self.features.len()
    }

    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// Distinct spans used by any feature, ascending.
    pub fn spans(&self) -> Vec<u32> {
        let mut spans: Vec<u32> = self
            .features
            .iter()
            .filter_map(|f| match f.kind {
                FeatureKind::Mean(s) | FeatureKind::Std(s) | FeatureKind::ZScore(s) => Some(s),
                FeatureKind::Raw | FeatureKind::Delta => None,
            })
            .collect();
        spans.sort_unstable();
        spans.dedup();
        spans
    }
}

/// EW mean and variance of one channel over one span.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct EwStats {
    mean: f64,
    var: f64,
    /// z-score of the latest value against the stats before it.
    z: f64,
}

/// One channel's latest value and change. 32 bytes: the time of the
/// latest value doubles as "none yet" ([`NO_VALUE`]) instead of an
/// `Option`, which would pad it to 40.
#[derive(Debug, Clone, Copy)]
struct ChannelHead {
    /// Event time (ms) of `last`; [`NO_VALUE`] before the first value.
    last_ms: i64,
    last: f64,
    /// Event time (ms) of the first value of this history; the z-score
    /// waits for half a span of it (see [`DeviceFeatures::update`]).
    first_ms: i64,
    delta: f64,
}

/// `ChannelHead::last_ms` of a channel that has no value yet.
const NO_VALUE: i64 = i64::MIN;

impl Default for ChannelHead {
    fn default() -> Self {
        Self {
            last_ms: NO_VALUE,
            last: 0.0,
            first_ms: 0,
            delta: 0.0,
        }
    }
}

impl ChannelHead {
    fn last(&self) -> Option<(i64, f64)> {
        (self.last_ms != NO_VALUE).then_some((self.last_ms, self.last))
    }
}

/// Below this std a z-score is meaningless (a flat signal).
const MIN_STD_FOR_Z: f64 = 1e-9;

/// The feature state of one device. Feed it the device's readings in event
/// time order with [`DeviceFeatures::update`]. Serializable so the stream
/// can checkpoint it (a restart must not restart every device's history).
///
/// Laid out for a fleet: the stream holds one per device, and copies it
/// whenever it updates a device a checkpoint's snapshot still shares. The
/// channels' heads sit inline and every channel's statistics in one slice
/// (channel-major, a span's entry at `channel × spans + span`), so a
/// device is two allocations of about 1.1 KB in all (at two spans), where
/// a `Vec` of statistics per channel made it 14 allocations of 1.5 KB.
/// Checkpoints keep the layout they had ([`stored`]).
#[derive(Debug, Clone)]
pub struct DeviceFeatures {
    spans: Arc<[u32]>,
    max_gap_ms: i64,
    last_time_ms: Option<i64>,
    heads: [ChannelHead; CHANNEL_COUNT],
    stats: Box<[EwStats]>,
}

impl DeviceFeatures {
    pub fn new(spec: &FeatureSpec) -> Self {
        let spans: Arc<[u32]> = spec.spans().into();
        Self {
            stats: vec![EwStats::default(); spans.len() * CHANNEL_COUNT].into(),
            spans,
            max_gap_ms: i64::from(spec.max_gap_secs) * 1000,
            heads: [ChannelHead::default(); CHANNEL_COUNT],
            last_time_ms: None,
        }
    }

    /// One channel's statistics, one per span.
    fn channel_stats(&self, channel: usize) -> &[EwStats] {
        let n = self.spans.len();
        &self.stats[channel * n..(channel + 1) * n]
    }

    /// Adds a reading. A reading older than the newest one seen is not
    /// added (the history stays in time order); its features are computed
    /// from the current state.
    pub fn update(&mut self, time: EventTime, values: &ChannelValues) {
        let t = time.millis();
        if let Some(last) = self.last_time_ms {
            if t < last {
                return;
            }
            if t - last > self.max_gap_ms {
                self.reset();
            }
        }
        self.last_time_ms = Some(t);
        let n = self.spans.len();
        for channel in Channel::ALL {
            let Some(x) = values.get(channel) else {
                continue;
            };
            let i = channel.index();
            let head = &mut self.heads[i];
            let stats = &mut self.stats[i * n..(i + 1) * n];
            match head.last() {
                None => {
                    head.first_ms = t;
                    head.delta = 0.0;
                    for s in stats {
                        *s = EwStats {
                            mean: x,
                            var: 0.0,
                            z: 0.0,
                        };
                    }
                }
                Some((t0, x0)) => {
                    let dt = (t - t0) as f64 / 1000.0;
                    head.delta = if dt > 0.0 { (x - x0) / dt } else { head.delta };
                    let history_ms = t - head.first_ms;
                    for (s, span) in stats.iter_mut().zip(self.spans.iter()) {
                        let std = s.var.sqrt();
                        // The variance of the first few samples is a poor
                        // estimate (after two samples it is one squared
                        // difference), so every reading of a device that
                        // just started would be a many-sigma "spike". A
                        // z-score counts only once the stats have seen half
                        // their span (the EW time constant).
                        let warm = history_ms >= i64::from(*span) * 500;
                        s.z = if warm && std > MIN_STD_FOR_Z {
                            (x - s.mean) / std
                        } else {
                            0.0
                        };
                        let tau = f64::from(*span) / 2.0;
                        let alpha = 1.0 - (-dt / tau).exp();
                        let diff = x - s.mean;
                        let incr = alpha * diff;
                        s.mean += incr;
                        s.var = (1.0 - alpha) * (s.var + diff * incr);
                    }
                }
            }
            head.last_ms = t;
            head.last = x;
        }
    }

    /// Forgets all history (new session).
    pub fn reset(&mut self) {
        self.heads = [ChannelHead::default(); CHANNEL_COUNT];
        self.stats.fill(EwStats::default());
        self.last_time_ms = None;
    }

    /// One feature's current value; NaN when the channel has no value yet.
    pub fn value(&self, feature: &Feature) -> f64 {
        let i = feature.channel.index();
        let head = &self.heads[i];
        let Some((_, last)) = head.last() else {
            return f64::NAN;
        };
        let stats = |span: u32| {
            self.spans
                .iter()
                .position(|s| *s == span)
                .map(|k| self.channel_stats(i)[k])
        };
        match feature.kind {
            FeatureKind::Raw => last,
            FeatureKind::Delta => head.delta,
            FeatureKind::Mean(s) => stats(s).map_or(f64::NAN, |st| st.mean),
            FeatureKind::Std(s) => stats(s).map_or(f64::NAN, |st| st.var.max(0.0).sqrt()),
            FeatureKind::ZScore(s) => stats(s).map_or(f64::NAN, |st| st.z),
        }
    }

    /// The current values of `spec`'s features, in its order, into `out`.
    pub fn vector_into(&self, spec: &FeatureSpec, out: &mut Vec<f64>) {
        out.clear();
        out.extend(spec.features.iter().map(|f| self.value(f)));
    }

    /// Rate of change per second of a channel since the previous reading.
    pub fn delta(&self, channel: Channel) -> Option<f64> {
        let head = &self.heads[channel.index()];
        head.last().map(|_| head.delta)
    }
}

/// The checkpoint layout of [`DeviceFeatures`], unchanged since its
/// statistics were a `Vec` per channel: checkpoints written before still
/// load, and new ones are byte for byte what the old layout wrote.
mod stored {
    use super::{CHANNEL_COUNT, ChannelHead, DeviceFeatures, EwStats, NO_VALUE};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// One channel as stored.
    #[derive(Serialize)]
    struct ChannelRef<'a> {
        last: Option<(i64, f64)>,
        first_ms: i64,
        delta: f64,
        stats: &'a [EwStats],
    }

    #[derive(Serialize)]
    struct DeviceRef<'a> {
        spans: &'a [u32],
        max_gap_ms: i64,
        channels: [ChannelRef<'a>; CHANNEL_COUNT],
        last_time_ms: Option<i64>,
    }

    #[derive(Deserialize)]
    struct Channel {
        last: Option<(i64, f64)>,
        #[serde(default)]
        first_ms: i64,
        delta: f64,
        stats: Vec<EwStats>,
    }

    #[derive(Deserialize)]
    struct Device {
        spans: Vec<u32>,
        max_gap_ms: i64,
        channels: [Channel; CHANNEL_COUNT],
        last_time_ms: Option<i64>,
    }

    impl Serialize for DeviceFeatures {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            DeviceRef {
                spans: &self.spans,
                max_gap_ms: self.max_gap_ms,
                channels: std::array::from_fn(|i| {
                    let head = &self.heads[i];
                    ChannelRef {
                        last: head.last(),
                        first_ms: head.first_ms,
                        delta: head.delta,
                        stats: self.channel_stats(i),
                    }
                }),
                last_time_ms: self.last_time_ms,
            }
            .serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for DeviceFeatures {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let device = Device::deserialize(d)?;
            let n = device.spans.len();
            let mut stats = Vec::with_capacity(n * CHANNEL_COUNT);
            let mut heads = [ChannelHead::default(); CHANNEL_COUNT];
            for (head, channel) in heads.iter_mut().zip(device.channels) {
                if channel.stats.len() != n {
                    return Err(serde::de::Error::custom(format!(
                        "device features: a channel has {} span statistics for {n} spans",
                        channel.stats.len()
                    )));
                }
                let (last_ms, last) = channel.last.unwrap_or((NO_VALUE, 0.0));
                *head = ChannelHead {
                    last_ms,
                    last,
                    first_ms: channel.first_ms,
                    delta: channel.delta,
                };
                stats.extend(channel.stats);
            }
            Ok(DeviceFeatures {
                spans: device.spans.into(),
                max_gap_ms: device.max_gap_ms,
                last_time_ms: device.last_time_ms,
                heads,
                stats: stats.into(),
            })
        }
    }
}

/// Features of a whole series of one device (event-time order), one row per
/// reading: what training computes offline and serving live.
pub fn series_features<'a>(
    spec: &FeatureSpec,
    readings: impl IntoIterator<Item = (EventTime, &'a ChannelValues)>,
) -> Vec<Vec<f64>> {
    let mut state = DeviceFeatures::new(spec);
    readings
        .into_iter()
        .map(|(t, values)| {
            state.update(t, values);
            let mut row = Vec::with_capacity(spec.len());
            state.vector_into(spec, &mut row);
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pm: f64) -> ChannelValues {
        let mut v = ChannelValues::EMPTY;
        v.set(Channel::Pm2_5, Some(pm));
        v
    }

    fn feature(name: &str) -> Feature {
        name.parse().unwrap()
    }

    #[test]
    fn names_round_trip() {
        let spec = FeatureSpec::engineered(&[10, 60]);
        for f in &spec.features {
            assert_eq!(&f.to_string().parse::<Feature>().unwrap(), f);
        }
        assert_eq!(spec.len(), 12 + 12 * (1 + 3 * 2));
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<FeatureSpec>(&json).unwrap(), spec);
        assert!("pm2_5__median_5s".parse::<Feature>().is_err());
        assert!("smoke".parse::<Feature>().is_err());
    }

    #[test]
    fn constant_signal_has_its_mean_no_spread_and_no_change() {
        let spec = FeatureSpec::engineered(&[30]);
        let mut d = DeviceFeatures::new(&spec);
        for s in 0..100 {
            d.update(EventTime::from_utc_seconds(1_000_000 + s), &values(12.5));
        }
        assert_eq!(d.value(&feature("pm2_5")), 12.5);
        assert!((d.value(&feature("pm2_5__mean_30s")) - 12.5).abs() < 1e-9);
        assert!(d.value(&feature("pm2_5__std_30s")).abs() < 1e-9);
        assert_eq!(d.value(&feature("pm2_5__delta")), 0.0);
        assert_eq!(d.value(&feature("pm2_5__z_30s")), 0.0);
        assert!(d.value(&feature("tvoc_ppb")).is_nan(), "never seen");
    }

    #[test]
    fn ramp_gives_its_slope_and_a_lagging_mean() {
        let spec = FeatureSpec::engineered(&[10]);
        let mut d = DeviceFeatures::new(&spec);
        for s in 0..200 {
            d.update(EventTime::from_utc_seconds(s), &values(2.0 * s as f64));
        }
        assert!((d.delta(Channel::Pm2_5).unwrap() - 2.0).abs() < 1e-9);
        // A sliding mean over 10 one-second samples lags a ramp by
        // slope × 4.5 s (the samples' mean age); the EW mean with span 10 s
        // should lag about the same.
        let lag = 398.0 - d.value(&feature("pm2_5__mean_10s"));
        assert!((lag - 9.0).abs() < 0.1, "lag {lag}");
    }

    #[test]
    fn spike_has_a_large_z_score() {
        let spec = FeatureSpec::engineered(&[60]);
        let mut d = DeviceFeatures::new(&spec);
        for s in 0..120 {
            let noise = if s % 2 == 0 { 0.1 } else { -0.1 };
            d.update(EventTime::from_utc_seconds(s), &values(2.0 + noise));
        }
        d.update(EventTime::from_utc_seconds(120), &values(50.0));
        assert!(d.value(&feature("pm2_5__z_60s")) > 100.0);
    }

    #[test]
    fn z_score_waits_for_half_a_span_of_history() {
        // A device that just started: its third reading differs from the
        // first two. Without a warm-up the variance of two samples makes
        // that a many-sigma spike; with it the z-score stays 0 until the
        // stats have seen 30 s (half the 60 s span), then counts.
        let spec = FeatureSpec::engineered(&[60]);
        let mut d = DeviceFeatures::new(&spec);
        d.update(EventTime::from_utc_seconds(0), &values(2.0));
        d.update(EventTime::from_utc_seconds(1), &values(2.1));
        d.update(EventTime::from_utc_seconds(2), &values(5.0));
        assert_eq!(d.value(&feature("pm2_5__z_60s")), 0.0);
        for s in 3..40 {
            let noise = if s % 2 == 0 { 0.1 } else { -0.1 };
            d.update(EventTime::from_utc_seconds(s), &values(2.0 + noise));
        }
        d.update(EventTime::from_utc_seconds(40), &values(50.0));
        assert!(d.value(&feature("pm2_5__z_60s")) > 8.0);
    }

    #[test]
    fn long_gap_resets_history_and_old_readings_are_ignored() {
        let spec = FeatureSpec::engineered(&[30]);
        let mut d = DeviceFeatures::new(&spec);
        d.update(EventTime::from_utc_seconds(0), &values(100.0));
        d.update(EventTime::from_utc_seconds(1), &values(100.0));
        d.update(EventTime::from_utc_seconds(1000), &values(5.0));
        assert_eq!(d.value(&feature("pm2_5__mean_30s")), 5.0);
        assert_eq!(d.value(&feature("pm2_5__delta")), 0.0);
        d.update(EventTime::from_utc_seconds(999), &values(1e6));
        assert_eq!(d.value(&feature("pm2_5")), 5.0);
    }

    /// One channel in the checkpoint layout from before a device's
    /// statistics went into one slice.
    #[derive(Serialize)]
    struct OldChannel {
        last: Option<(i64, f64)>,
        first_ms: i64,
        delta: f64,
        stats: Vec<EwStats>,
    }

    /// A device in that layout.
    #[derive(Serialize)]
    struct OldDevice {
        spans: Vec<u32>,
        max_gap_ms: i64,
        channels: [OldChannel; CHANNEL_COUNT],
        last_time_ms: Option<i64>,
    }

    #[test]
    fn checkpoints_keep_the_layout_of_a_stats_vec_per_channel() {
        // An older checkpoint must load, and a new one be byte-identical.
        let spec = FeatureSpec::engineered(&[10, 60]);
        let mut d = DeviceFeatures::new(&spec);
        for s in 0..40 {
            // PM2.5 only: the other channels stay without a value.
            d.update(EventTime::from_utc_seconds(s), &values((s % 5) as f64));
        }
        let pm = Channel::Pm2_5.index();
        let old = OldDevice {
            spans: vec![10, 60],
            max_gap_ms: 60_000,
            channels: std::array::from_fn(|i| OldChannel {
                last: (i == pm).then_some((39_000, 4.0)),
                first_ms: 0,
                // 3 at 38 s, 4 at 39 s.
                delta: if i == pm { 1.0 } else { 0.0 },
                stats: d.channel_stats(i).to_vec(),
            }),
            last_time_ms: Some(39_000),
        };
        let old_bytes = postcard::to_stdvec(&old).expect("encode");
        assert_eq!(postcard::to_stdvec(&d).expect("encode"), old_bytes);
        let back: DeviceFeatures = postcard::from_bytes(&old_bytes).expect("decode");
        assert_eq!(postcard::to_stdvec(&back).expect("encode"), old_bytes);
        let bits = |d: &DeviceFeatures| {
            let mut v = Vec::new();
            d.vector_into(&spec, &mut v);
            v.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        };
        assert_eq!(bits(&back), bits(&d));
        // A device's statistics in one slice, twelve heads inline: the
        // struct itself stays small (it sits in an `Arc` per device).
        assert_eq!(d.stats.len(), 2 * CHANNEL_COUNT);
        assert!(std::mem::size_of::<DeviceFeatures>() <= 448);
    }

    #[test]
    fn a_checkpoint_with_statistics_for_other_spans_is_refused() {
        let bad = OldDevice {
            spans: vec![10, 60],
            max_gap_ms: 60_000,
            channels: std::array::from_fn(|_| OldChannel {
                last: None,
                first_ms: 0,
                delta: 0.0,
                stats: vec![EwStats::default()],
            }),
            last_time_ms: None,
        };
        let bytes = postcard::to_stdvec(&bad).expect("encode");
        // One statistic per channel for two spans: the stats slice could
        // not be indexed by channel × spans.
        assert!(postcard::from_bytes::<DeviceFeatures>(&bytes).is_err());
    }

    #[test]
    fn series_equals_reading_by_reading() {
        let spec = FeatureSpec::engineered(&[5, 20]);
        let series: Vec<(EventTime, ChannelValues)> = (0..50)
            .map(|s| (EventTime::from_utc_seconds(s), values((s * s % 17) as f64)))
            .collect();
        let batch = series_features(&spec, series.iter().map(|(t, v)| (*t, v)));
        let mut live = DeviceFeatures::new(&spec);
        for ((t, v), row) in series.iter().zip(&batch) {
            live.update(*t, v);
            let mut out = Vec::new();
            live.vector_into(&spec, &mut out);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&out), bits(row));
        }
    }
}
