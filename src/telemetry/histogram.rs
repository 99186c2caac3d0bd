//! A latency histogram readable in-process, with the same buckets as the
//! exported `_seconds` histograms, so a figure the dashboard computes from
//! it equals what Prometheus' `histogram_quantile` gives over the scrape.
//!
//! The exporter's own histogram cannot be read back without rendering and
//! parsing the whole exposition; a component that wants a live figure
//! records into one of these beside its `metrics::histogram!`.

use super::LATENCY_BUCKETS;
use std::sync::atomic::{AtomicU64, Ordering};

/// Observation counts per bucket of [`LATENCY_BUCKETS`] (plus `+Inf`).
#[derive(Debug)]
pub struct LiveHistogram {
    /// Not cumulative: `counts[i]` holds observations in bucket `i` only.
    counts: Vec<AtomicU64>,
}

impl Default for LiveHistogram {
    fn default() -> Self {
        Self {
            counts: (0..=LATENCY_BUCKETS.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }
}

impl LiveHistogram {
    /// Counts one observation of `seconds`.
    pub fn record(&self, seconds: f64) {
        let bucket = LATENCY_BUCKETS.partition_point(|&bound| bound < seconds);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// Cumulative counts per bucket bound (`le`), `+Inf` last: what a
    /// scrape of the exported histogram shows.
    pub fn cumulative(&self) -> Vec<u64> {
        let mut total = 0;
        self.counts
            .iter()
            .map(|c| {
                total += c.load(Ordering::Relaxed);
                total
            })
            .collect()
    }
}

/// The `q` quantile of the observations between two [`cumulative`]
/// snapshots (`before` older), interpolated within its bucket as
/// Prometheus' `histogram_quantile` does; `None` without observations in
/// between.
///
/// [`cumulative`]: LiveHistogram::cumulative
pub fn quantile_between(before: &[u64], after: &[u64], q: f64) -> Option<f64> {
    let bounds = LATENCY_BUCKETS.iter().copied().chain([f64::INFINITY]);
    let deltas: Vec<(f64, f64)> = bounds
        .zip(after)
        .enumerate()
        .map(|(i, (bound, n))| {
            let old = before.get(i).copied().unwrap_or(0);
            (bound, n.saturating_sub(old) as f64)
        })
        .collect();
    let total = deltas.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(bound, count) in &deltas {
        if count >= rank {
            if bound.is_infinite() {
                return Some(lower.0);
            }
            let in_bucket = count - lower.1;
            let share = if in_bucket > 0.0 {
                (rank - lower.1) / in_bucket
            } else {
                1.0
            };
            return Some(lower.0 + (bound - lower.0) * share);
        }
        lower = (bound, count);
    }
    Some(lower.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_bucket_of_their_upper_bound() {
        let h = LiveHistogram::default();
        // Prometheus buckets are `le`: a value equal to a bound is in it.
        h.record(0.001);
        h.record(0.0011);
        h.record(1e9);
        let c = h.cumulative();
        let at = |bound: f64| LATENCY_BUCKETS.iter().position(|&b| b == bound).unwrap();
        assert_eq!(c[at(0.001)], 1);
        assert_eq!(c[at(0.0025)], 2);
        assert_eq!(*c.last().unwrap(), 3, "+Inf holds everything");
    }

    #[test]
    fn the_median_interpolates_within_its_bucket() {
        let h = LiveHistogram::default();
        let before = h.cumulative();
        // 2 observations ≤ 0.01, 6 in (0.01, 0.025], 2 above 60 s.
        for s in [0.005, 0.01] {
            h.record(s);
        }
        for _ in 0..6 {
            h.record(0.02);
        }
        for _ in 0..2 {
            h.record(100.0);
        }
        let after = h.cumulative();
        // Rank 5 of 10 falls in (0.01, 0.025], which holds ranks 3..=8.
        let p50 = quantile_between(&before, &after, 0.5).unwrap();
        assert!((p50 - (0.01 + 0.015 * 3.0 / 6.0)).abs() < 1e-9, "{p50}");
        assert_eq!(quantile_between(&after, &after, 0.5), None);
        assert_eq!(quantile_between(&before, &after, 1.0), Some(60.0));
    }
}
