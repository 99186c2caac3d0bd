//! The aggregate of one measure in one window: count, mean, min, max,
//! standard deviation and last value, updated in O(1) per value and
//! mergeable (sliding windows are merged from panes).

use serde::{Deserialize, Serialize};

/// Running statistics of one measure (Welford's algorithm for the variance,
/// which stays accurate where sum-of-squares cancels catastrophically).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Agg {
    pub count: u64,
    mean: f64,
    /// Sum of squared differences from the mean.
    m2: f64,
    pub min: f64,
    pub max: f64,
    /// Event time (ms) of `last`.
    last_time: i64,
    /// The value with the latest event time (ties: the larger value, so
    /// the result does not depend on arrival order).
    pub last: f64,
}

impl Default for Agg {
    fn default() -> Self {
        Self {
            count: 0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            last_time: i64::MIN,
            last: f64::NAN,
        }
    }
}

impl Agg {
    pub fn add(&mut self, time_ms: i64, value: f64) {
        self.count += 1;
        let diff = value - self.mean;
        self.mean += diff / self.count as f64;
        self.m2 += diff * (value - self.mean);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.take_last(time_ms, value);
    }

    /// Adds everything `other` saw (Chan et al.'s parallel update).
    pub fn merge(&mut self, other: &Agg) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *other;
            return;
        }
        let n = (self.count + other.count) as f64;
        let diff = other.mean - self.mean;
        self.m2 += other.m2 + diff * diff * self.count as f64 * other.count as f64 / n;
        self.mean += diff * other.count as f64 / n;
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.take_last(other.last_time, other.last);
    }

    fn take_last(&mut self, time_ms: i64, value: f64) {
        if time_ms > self.last_time || (time_ms == self.last_time && value > self.last) {
            self.last_time = time_ms;
            self.last = value;
        }
    }

    pub fn mean(&self) -> f64 {
        if self.count == 0 { f64::NAN } else { self.mean }
    }

    /// Population standard deviation (0 for a single value).
    pub fn stddev(&self) -> f64 {
        if self.count == 0 {
            f64::NAN
        } else {
            (self.m2 / self.count as f64).max(0.0).sqrt()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_gives_the_textbook_statistics() {
        let mut a = Agg::default();
        for (t, v) in [
            (3, 2.0),
            (1, 4.0),
            (2, 4.0),
            (4, 4.0),
            (0, 5.0),
            (5, 5.0),
            (6, 7.0),
            (7, 9.0),
        ] {
            a.add(t, v);
        }
        assert_eq!(a.count, 8);
        assert!((a.mean() - 5.0).abs() < 1e-12);
        assert!((a.stddev() - 2.0).abs() < 1e-12);
        assert_eq!((a.min, a.max, a.last), (2.0, 9.0, 9.0));
    }

    #[test]
    fn merged_halves_equal_the_whole() {
        let values: Vec<(i64, f64)> = (0..50).map(|i| (i, ((i * 37) % 11) as f64 * 1.5)).collect();
        let mut whole = Agg::default();
        let (mut left, mut right) = (Agg::default(), Agg::default());
        for (i, (t, v)) in values.iter().enumerate() {
            whole.add(*t, *v);
            if i % 3 == 0 {
                left.add(*t, *v)
            } else {
                right.add(*t, *v)
            }
        }
        left.merge(&right);
        assert_eq!(left.count, whole.count);
        assert!((left.mean() - whole.mean()).abs() < 1e-12);
        assert!((left.stddev() - whole.stddev()).abs() < 1e-12);
        assert_eq!(
            (left.min, left.max, left.last),
            (whole.min, whole.max, whole.last)
        );
    }

    #[test]
    fn last_is_by_event_time_not_arrival() {
        let mut a = Agg::default();
        a.add(10, 1.0);
        a.add(5, 2.0);
        assert_eq!(a.last, 1.0);
        a.add(10, 3.0);
        assert_eq!(a.last, 3.0, "tie at the same time: the larger value");
    }
}
