//! One channel's distribution within one class, as a quantile function
//! built from the profile's measured order statistics.
//!
//! Between the measured percentiles the function is piecewise linear, with
//! two refinements that matter for smoke-sensor data:
//!
//! * **Heavy upper tails.** TVOC, eCO2, PM and NC are mostly small with rare
//!   huge values (no-fire PM2.5: p90 2.3, p99 15,870). A straight line
//!   between p90 and p99 would make values around 8,000 as common as values
//!   around 20; instead, segments above the median that grow more than
//!   [`HEAVY_RATIO`]-fold interpolate `log(value)` linearly in `log(1-u)`,
//!   the shape of a Pareto tail. The measured maximum sits at the plotting
//!   position `1 - 0.5/n` of the class's `n` real rows, so the largest values
//!   occur about once per `n` readings, as they did in the real data.
//! * **Exact zeros.** A channel with a measured `zero_share` returns exactly
//!   0 for that share of probability, as the real sensors do.

use super::profile::ChannelQuantiles;

/// Segments whose end value is this many times their start value (above
/// the median) are interpolated as a Pareto tail.
pub const HEAVY_RATIO: f64 = 4.0;

/// The standard normal distribution function.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z * std::f64::consts::FRAC_1_SQRT_2)
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Knot {
    u: f64,
    value: f64,
}

/// The inverse distribution function of one channel in one class.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantileFunction {
    knots: Vec<Knot>,
}

impl QuantileFunction {
    /// Builds the function from measured statistics of `class_rows` rows.
    pub fn from_profile(q: &ChannelQuantiles, class_rows: f64) -> QuantileFunction {
        let edge = 0.5 / class_rows.max(1.0);
        let mut knots = vec![Knot {
            u: edge,
            value: q.min,
        }];
        knots.extend(q.percentiles().map(|(u, value)| Knot { u, value }));
        knots.push(Knot {
            u: 1.0 - edge,
            value: q.max,
        });
        if q.zero_share > 0.0 && q.min <= 0.0 {
            let zero = Knot {
                u: q.zero_share,
                value: 0.0,
            };
            // Only where it keeps the function non-decreasing: every knot
            // before it must be at most 0, every knot after at least 0.
            let consistent = knots
                .iter()
                .all(|k| (k.u < zero.u && k.value <= 0.0) || (k.u > zero.u && k.value >= 0.0));
            if consistent {
                knots.push(zero);
            }
        }
        knots.sort_by(|a, b| a.u.total_cmp(&b.u));
        knots.dedup_by(|b, a| a.u == b.u);
        QuantileFunction { knots }
    }

    /// The value at probability `u` (clamped to the measured min/max).
    pub fn value(&self, u: f64) -> f64 {
        let knots = &self.knots;
        let (Some(first), Some(last)) = (knots.first(), knots.last()) else {
            return 0.0;
        };
        if u <= first.u {
            return first.value;
        }
        if u >= last.u {
            return last.value;
        }
        // First knot with knot.u > u; u lies in [knots[i-1], knots[i]).
        let i = knots
            .partition_point(|k| k.u <= u)
            .clamp(1, knots.len() - 1);
        let (a, b) = (knots[i - 1], knots[i]);
        interpolate(a, b, u)
    }

    /// The measured probabilities and values this function passes through.
    pub fn knots(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.knots.iter().map(|k| (k.u, k.value))
    }
}

fn interpolate(a: Knot, b: Knot, u: f64) -> f64 {
    if b.value <= a.value {
        return a.value;
    }
    let heavy = a.u >= 0.5 && a.value > 0.0 && b.value > HEAVY_RATIO * a.value;
    if heavy {
        // log(value) linear in log(1 - u): a Pareto tail through both knots.
        let t = ((1.0 - u).ln() - (1.0 - a.u).ln()) / ((1.0 - b.u).ln() - (1.0 - a.u).ln());
        (a.value.ln() + t * (b.value.ln() - a.value.ln())).exp()
    } else {
        a.value + (u - a.u) / (b.u - a.u) * (b.value - a.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Channel;
    use crate::simulate::profile::{FireClass, SmokeProfile};

    fn function(class: FireClass, channel: Channel) -> QuantileFunction {
        let p = SmokeProfile::embedded();
        QuantileFunction::from_profile(p.quantiles(class, channel), p.class_rows(class))
    }

    #[test]
    fn passes_through_every_measured_percentile() {
        let p = SmokeProfile::embedded();
        for class in FireClass::ALL {
            for channel in Channel::ALL {
                let f = function(class, channel);
                for (u, v) in p.quantiles(class, channel).percentiles() {
                    assert!(
                        (f.value(u) - v).abs() <= 1e-9 * v.abs().max(1.0),
                        "{channel} {u}"
                    );
                }
            }
        }
    }

    #[test]
    fn is_non_decreasing_and_bounded_by_min_and_max() {
        let p = SmokeProfile::embedded();
        for class in FireClass::ALL {
            for channel in Channel::ALL {
                let (f, q) = (function(class, channel), p.quantiles(class, channel));
                let mut last = f64::NEG_INFINITY;
                for i in 0..=10_000 {
                    let v = f.value(i as f64 / 10_000.0);
                    assert!(v >= last && v >= q.min && v <= q.max, "{channel} at {i}");
                    last = v;
                }
            }
        }
    }

    #[test]
    fn heavy_tail_keeps_huge_values_rare() {
        // no-fire PM2.5: p90 2.32, p99 15,870. Halfway in probability a
        // straight line would give ~7,900; the Pareto tail stays far lower.
        let f = function(FireClass::NoFire, Channel::Pm2_5);
        assert!(f.value(0.945) < 200.0, "{}", f.value(0.945));
        assert!(f.value(0.999) > 15_870.0);
    }

    #[test]
    fn zero_share_gives_exact_zeros() {
        // no-fire TVOC: 11.4 % of rows are exactly 0.
        let f = function(FireClass::NoFire, Channel::Tvoc);
        assert_eq!(f.value(0.113), 0.0);
        assert!(f.value(0.2) > 0.0);
    }

    #[test]
    fn normal_cdf_matches_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-12);
        assert!((normal_cdf(1.959_963_985) - 0.975).abs() < 1e-9);
        assert!((normal_cdf(-1.281_551_566) - 0.1).abs() < 1e-9);
    }
}
