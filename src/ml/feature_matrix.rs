//! Training data turned into a feature matrix: features computed per device
//! in event-time order (with [`crate::features`], as the stream does live),
//! then all rows merged in event-time order so that the test split is the
//! *latest* data. A random split would put neighbouring seconds of one
//! fire in both halves and report a perfect score that means nothing.

use super::config::Imputation;
use crate::dataset::TrainingData;
use crate::features::{DeviceFeatures, FeatureSpec};
use crate::schema::EventTime;
use std::ops::Range;

/// Row-major feature matrix with labels; NaN marks a missing feature.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMatrix {
    pub n_features: usize,
    /// `len() × n_features` values, row after row.
    pub x: Vec<f64>,
    pub y: Vec<bool>,
    pub times: Vec<EventTime>,
    /// The row's reading had at least one empty channel.
    pub had_missing: Vec<bool>,
}

impl FeatureMatrix {
    /// Computes `spec`'s features for every reading and orders the rows by
    /// (event time, device, sequence): the same order for every spec, so
    /// two models with different features are tested on the same rows.
    pub fn build(data: &TrainingData, spec: &FeatureSpec) -> FeatureMatrix {
        let m = spec.len();
        let n = data.len();
        let mut rows = Vec::with_capacity(n * m);
        let mut keys = Vec::with_capacity(n);
        let mut vector = Vec::with_capacity(m);
        for (device_index, series) in data.series.iter().enumerate() {
            let mut state = DeviceFeatures::new(spec);
            for r in &series.readings {
                state.update(r.time, &r.values);
                state.vector_into(spec, &mut vector);
                keys.push((
                    r.time,
                    device_index,
                    r.seq,
                    keys.len(),
                    r.fire,
                    r.values.missing_count() > 0,
                ));
                rows.extend_from_slice(&vector);
            }
        }
        keys.sort_unstable_by_key(|k| (k.0, k.1, k.2, k.3));
        let mut out = FeatureMatrix {
            n_features: m,
            x: Vec::with_capacity(n * m),
            y: Vec::with_capacity(n),
            times: Vec::with_capacity(n),
            had_missing: Vec::with_capacity(n),
        };
        for (time, _, _, row, fire, missing) in keys {
            out.x.extend_from_slice(&rows[row * m..(row + 1) * m]);
            out.y.push(fire);
            out.times.push(time);
            out.had_missing.push(missing);
        }
        out
    }

    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.n_features..(i + 1) * self.n_features]
    }

    /// Where the held-out part starts: the last `test_fraction` of rows.
    pub fn split_index(&self, test_fraction: f64) -> usize {
        let n = self.len();
        let test = ((n as f64) * test_fraction).round() as usize;
        n - test.clamp(1.min(n), n)
    }

    /// A copy of the rows in `range`.
    pub fn rows(&self, range: Range<usize>) -> FeatureMatrix {
        let m = self.n_features;
        FeatureMatrix {
            n_features: m,
            x: self.x[range.start * m..range.end * m].to_vec(),
            y: self.y[range.clone()].to_vec(),
            times: self.times[range.clone()].to_vec(),
            had_missing: self.had_missing[range].to_vec(),
        }
    }

    /// The rows whose reading had no empty channel.
    pub fn complete_rows(&self) -> FeatureMatrix {
        let m = self.n_features;
        let mut out = FeatureMatrix {
            n_features: m,
            x: Vec::new(),
            y: Vec::new(),
            times: Vec::new(),
            had_missing: Vec::new(),
        };
        for i in (0..self.len()).filter(|i| !self.had_missing[*i]) {
            out.x.extend_from_slice(self.row(i));
            out.y.push(self.y[i]);
            out.times.push(self.times[i]);
            out.had_missing.push(false);
        }
        out
    }

    /// Fire rows, no-fire rows.
    pub fn class_counts(&self) -> (usize, usize) {
        let fire = self.y.iter().filter(|f| **f).count();
        (fire, self.len() - fire)
    }

    /// Earliest and latest event time.
    pub fn time_range(&self) -> Option<(EventTime, EventTime)> {
        Some((*self.times.first()?, *self.times.last()?))
    }

    /// Replaces every NaN by its column's fill value; returns how many.
    pub fn impute(&mut self, fill: &[f64]) -> u64 {
        let mut filled = 0;
        for row in self.x.chunks_exact_mut(self.n_features) {
            for (v, f) in row.iter_mut().zip(fill) {
                if v.is_nan() {
                    *v = *f;
                    filled += 1;
                }
            }
        }
        filled
    }

    /// Per-feature fill values fitted on these rows (the training split).
    /// A feature never seen gets 0.
    pub fn fill_values(&self, policy: Imputation) -> Vec<f64> {
        (0..self.n_features)
            .map(|j| {
                let mut column: Vec<f64> = self
                    .x
                    .iter()
                    .skip(j)
                    .step_by(self.n_features)
                    .copied()
                    .filter(|v| !v.is_nan())
                    .collect();
                if column.is_empty() {
                    return 0.0;
                }
                match policy {
                    Imputation::Zero => 0.0,
                    Imputation::Mean => column.iter().sum::<f64>() / column.len() as f64,
                    Imputation::Median | Imputation::DropRows => median(&mut column),
                }
            })
            .collect()
    }
}

fn median(values: &mut [f64]) -> f64 {
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *m;
    if values.len() % 2 == 1 {
        return upper;
    }
    let lower = values[..mid]
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    (lower + upper) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{DeviceSeries, LabelledReading, LoadReport};
    use crate::features::FeatureSpec;
    use crate::schema::{Channel, ChannelValues, DeviceId};

    fn series(device: &str, start: i64, pm: &[Option<f64>]) -> DeviceSeries {
        DeviceSeries {
            device: DeviceId::from(device),
            readings: pm
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let mut values = ChannelValues([Some(1.0); 12]);
                    values.set(Channel::Pm2_5, *v);
                    LabelledReading {
                        time: EventTime::from_utc_seconds(start + i as i64),
                        seq: i as u64,
                        values,
                        fire: v.is_some_and(|v| v > 10.0),
                    }
                })
                .collect(),
        }
    }

    fn data(series: Vec<DeviceSeries>) -> TrainingData {
        TrainingData {
            source: "test".into(),
            series,
            report: LoadReport::default(),
        }
    }

    #[test]
    fn rows_are_merged_in_event_time_order_with_per_device_features() {
        let d = data(vec![
            series("a", 100, &[Some(1.0), Some(3.0), Some(20.0)]),
            series("b", 101, &[Some(50.0), None]),
            series("c", 103, &[None]),
        ]);
        let spec = FeatureSpec::engineered(&[10]);
        let ds = FeatureMatrix::build(&d, &spec);
        let secs: Vec<i64> = ds.times.iter().map(|t| t.utc_seconds()).collect();
        assert_eq!(secs, [100, 101, 101, 102, 102, 103]);
        let pm = spec.names().iter().position(|n| n == "pm2_5").unwrap();
        let delta = spec
            .names()
            .iter()
            .position(|n| n == "pm2_5__delta")
            .unwrap();
        let column = |j: usize| (0..ds.len()).map(|i| ds.row(i)[j]).collect::<Vec<_>>();
        // Device b's delta is computed from b's own history, never from a's.
        // A channel that drops out keeps its last value (b at 102)…
        assert_eq!(column(pm)[..5], [1.0, 3.0, 50.0, 20.0, 50.0]);
        assert_eq!(column(delta)[..5], [0.0, 2.0, 0.0, 17.0, 0.0]);
        // …one never reported is NaN until imputed (c).
        assert!(column(pm)[5].is_nan());
        assert_eq!(ds.had_missing, [false, false, false, false, true, true]);
        assert_eq!(ds.y, [false, false, true, true, false, false]);
    }

    #[test]
    fn split_holds_out_the_latest_rows() {
        let d = data(vec![series("a", 0, &[Some(1.0); 10])]);
        let ds = FeatureMatrix::build(&d, &FeatureSpec::raw());
        assert_eq!(ds.split_index(0.2), 8);
        let test = ds.rows(8..10);
        assert!(test.times[0] > ds.times[7]);
        assert_eq!(ds.split_index(0.01), 9, "at least one test row");
    }

    #[test]
    fn fill_values_follow_the_policy_and_ignore_missing() {
        let ds = FeatureMatrix {
            n_features: 2,
            x: vec![1.0, f64::NAN, 2.0, f64::NAN, 10.0, f64::NAN, 3.0, f64::NAN],
            y: vec![false; 4],
            times: vec![EventTime(0); 4],
            had_missing: vec![true; 4],
        };
        assert_eq!(ds.fill_values(Imputation::Median), [2.5, 0.0]);
        assert_eq!(ds.fill_values(Imputation::Mean), [4.0, 0.0]);
        assert_eq!(ds.fill_values(Imputation::Zero), [0.0, 0.0]);
        let mut imputed = ds.clone();
        assert_eq!(imputed.impute(&[9.0, 7.0]), 4);
        assert_eq!(imputed.row(1), [2.0, 7.0]);
        let mut odd = vec![5.0, 1.0, 3.0];
        assert_eq!(median(&mut odd), 3.0);
    }
}
