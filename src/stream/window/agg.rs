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
        let (mean, m2, min, max) = (&mut self.mean, &mut self.m2, &mut self.min, &mut self.max);
        add_value(self.count as f64, value, mean, m2, min, max);
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
        if replaces_last(time_ms, value, self.last_time, self.last) {
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

/// Welford's step for the `n`-th value (counted with it) and the running
/// minimum and maximum: one definition, so a pane and a window compute the
/// same bits.
#[inline]
fn add_value(n: f64, value: f64, mean: &mut f64, m2: &mut f64, min: &mut f64, max: &mut f64) {
    let diff = value - *mean;
    *mean += diff / n;
    *m2 += diff * (value - *mean);
    *min = min.min(value);
    *max = max.max(value);
}

/// Whether a value at `time` replaces the last one, at `last_time`: a later
/// time, or the same time and a larger value (so the result does not
/// depend on arrival order).
#[inline]
fn replaces_last<T: PartialOrd>(time: T, value: f64, last_time: T, last: f64) -> bool {
    time > last_time || (time == last_time && value > last)
}

/// An [`Agg`] as a window pane stores it: 48 B instead of 56.
///
/// Panes are most of the stream's state: a fleet of 100 000 detectors
/// holds about half a million 12-measure panes at a window boundary. The
/// 8 B saved per measure move a pane (its 12 aggregates behind one `Arc`)
/// from the allocator's 768 B size class to 640 B. The count fits in 32
/// bits and the last value's time is kept as an offset from the pane's
/// start: a pane is never longer than [`MAX_PANE_MS`] (the windows'
/// configuration is checked for it). Expanded to an [`Agg`] exactly, so
/// results and checkpoints are what they were.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaneAgg {
    count: u32,
    /// Event time of `last` minus the pane's start (ms).
    last_offset: u32,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
    last: f64,
}

/// The longest pane a [`PaneAgg`] can hold: offsets are 32-bit
/// milliseconds (49 days 17 hours).
pub const MAX_PANE_MS: i64 = u32::MAX as i64;

impl Default for PaneAgg {
    fn default() -> Self {
        let empty = Agg::default();
        Self {
            count: 0,
            last_offset: 0,
            mean: empty.mean,
            m2: empty.m2,
            min: empty.min,
            max: empty.max,
            last: empty.last,
        }
    }
}

impl PaneAgg {
    /// [`Agg::add`] for a value `offset` ms after the pane's start, with
    /// the same arithmetic (so the same bits).
    pub fn add(&mut self, offset: u32, value: f64) {
        let first = self.count == 0;
        self.count = self.count.saturating_add(1);
        let (mean, m2, min, max) = (&mut self.mean, &mut self.m2, &mut self.min, &mut self.max);
        add_value(f64::from(self.count), value, mean, m2, min, max);
        if first || replaces_last(offset, value, self.last_offset, self.last) {
            self.last_offset = offset;
            self.last = value;
        }
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// The aggregate of a pane starting at `pane_start`.
    pub fn to_agg(&self, pane_start: i64) -> Agg {
        if self.count == 0 {
            return Agg::default();
        }
        Agg {
            count: u64::from(self.count),
            mean: self.mean,
            m2: self.m2,
            min: self.min,
            max: self.max,
            last_time: pane_start + i64::from(self.last_offset),
            last: self.last,
        }
    }

    /// `agg` as a pane starting at `pane_start` holds it; `None` when it
    /// does not fit (more than 2^32 values, or a last value outside the
    /// pane's first [`MAX_PANE_MS`]).
    pub fn from_agg(agg: &Agg, pane_start: i64) -> Option<Self> {
        if agg.count == 0 {
            return Some(Self::default());
        }
        Some(Self {
            count: u32::try_from(agg.count).ok()?,
            last_offset: u32::try_from(agg.last_time.checked_sub(pane_start)?).ok()?,
            mean: agg.mean,
            m2: agg.m2,
            min: agg.min,
            max: agg.max,
            last: agg.last,
        })
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

    #[test]
    fn a_pane_aggregate_is_the_aggregate_bit_for_bit() {
        let pane_start = 1_700_000_040_000;
        let (mut full, mut compact) = (Agg::default(), PaneAgg::default());
        assert_eq!(
            format!("{:?}", compact.to_agg(pane_start)),
            format!("{full:?}"),
            "empty"
        );
        // Out of order, with a tie at the latest time.
        for (dt, v) in [
            (30_000, 1.25),
            (5, 7.5),
            (59_999, 3.0),
            (59_999, 4.0),
            (0, -2.0),
        ] {
            full.add(pane_start + dt, v);
            compact.add(dt as u32, v);
        }
        assert_eq!(std::mem::size_of::<PaneAgg>(), 48);
        assert_eq!(compact.to_agg(pane_start), full);
        assert_eq!(PaneAgg::from_agg(&full, pane_start), Some(compact));
        assert_eq!(full.last, 4.0);
    }

    #[test]
    fn an_aggregate_a_pane_cannot_hold_is_refused() {
        let mut a = Agg::default();
        a.add(1_000, 1.0);
        assert_eq!(PaneAgg::from_agg(&a, 2_000), None, "last before the pane");
        assert_eq!(
            PaneAgg::from_agg(&a, 1_000 - MAX_PANE_MS - 1),
            None,
            "too far in"
        );
        a.count = u64::from(u32::MAX) + 1;
        assert_eq!(PaneAgg::from_agg(&a, 0), None, "too many values");
    }
}
