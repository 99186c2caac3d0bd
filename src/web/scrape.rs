//! Reads the pipeline's figures back from the daemon's own Prometheus
//! exposition (the `metrics` handle's `render()`), so the dashboard shows
//! exactly what Prometheus scrapes: the stream records its counters and
//! histograms through the `metrics` facade only, and this is the one place
//! the web reads them.
//!
//! Only sample lines are read (`name{labels} value`); `# HELP`/`# TYPE`
//! lines are skipped. Label values never contain a newline in the text
//! format, so a line is one sample.

use crate::telemetry::names;
use std::collections::BTreeMap;

/// The cumulative figures of one exposition, summed over every label set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PipelineTotals {
    /// `smokewatch_readings_processed_total`; `None` when never recorded.
    pub readings_processed: Option<f64>,
    pub dead_letters: Option<f64>,
    /// Sum of `smokewatch_consumer_lag` over partitions.
    pub consumer_lag: Option<f64>,
    /// End-to-end latency histogram: cumulative count per bucket bound.
    pub latency_buckets: BTreeMap<Bound, f64>,
}

/// A histogram bucket's upper bound (`le`), ordered; `+Inf` is the largest.
#[derive(Debug, Clone, Copy)]
pub struct Bound(pub f64);

impl PartialEq for Bound {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Bound {}

impl PartialOrd for Bound {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Bound {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// One sample line split into its parts.
struct Sample<'a> {
    name: &'a str,
    labels: &'a str,
    value: f64,
}

fn parse_line(line: &str) -> Option<Sample<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (series, rest) = match line.find('{') {
        Some(_) => {
            let close = line.rfind('}')?;
            (&line[..close + 1], &line[close + 1..])
        }
        None => line.split_at(line.find(' ')?),
    };
    let (name, labels) = match series.find('{') {
        Some(open) => (&series[..open], &series[open + 1..series.len() - 1]),
        None => (series, ""),
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// The value of label `key` in a label list like `a="x",le="0.5"`.
fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    let start = labels
        .match_indices(&format!("{key}=\""))
        .find(|(i, _)| *i == 0 || labels[..*i].ends_with(','))?
        .0
        + key.len()
        + 2;
    let end = labels[start..].find('"')? + start;
    Some(&labels[start..end])
}

fn add(slot: &mut Option<f64>, value: f64) {
    *slot = Some(slot.unwrap_or(0.0) + value);
}

/// Sums the pipeline's series in `text` (Prometheus text format 0.0.4).
pub fn pipeline_totals(text: &str) -> PipelineTotals {
    let bucket = format!("{}_bucket", names::END_TO_END_LATENCY);
    let mut totals = PipelineTotals::default();
    for sample in text.lines().filter_map(parse_line) {
        match sample.name {
            n if n == names::READINGS_PROCESSED => {
                add(&mut totals.readings_processed, sample.value)
            }
            n if n == names::DEAD_LETTERS => add(&mut totals.dead_letters, sample.value),
            n if n == names::CONSUMER_LAG => add(&mut totals.consumer_lag, sample.value),
            n if n == bucket => {
                let bound = match label(sample.labels, "le") {
                    Some("+Inf") => f64::INFINITY,
                    Some(le) => match le.parse() {
                        Ok(b) => b,
                        Err(_) => continue,
                    },
                    None => continue,
                };
                *totals.latency_buckets.entry(Bound(bound)).or_default() += sample.value;
            }
            _ => {}
        }
    }
    totals
}

/// The `q` quantile of the observations between two cumulative bucket
/// sets (`before` older), interpolated within its bucket as Prometheus'
/// `histogram_quantile` does; `None` without observations in between.
pub fn quantile_between(
    before: &BTreeMap<Bound, f64>,
    after: &BTreeMap<Bound, f64>,
    q: f64,
) -> Option<f64> {
    let deltas: Vec<(f64, f64)> = after
        .iter()
        .map(|(b, n)| (b.0, n - before.get(b).copied().unwrap_or(0.0)))
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

    const TEXT: &str = r#"# HELP smokewatch_readings_processed_total Counter
# TYPE smokewatch_readings_processed_total counter
smokewatch_readings_processed_total{source="simulator"} 120
smokewatch_readings_processed_total{source="replay"} 5
smokewatch_dead_letters_total{reason="malformed_json"} 3
smokewatch_consumer_lag{topic="readings",partition="0"} 7
smokewatch_consumer_lag{topic="readings",partition="1"} 2
smokewatch_end_to_end_latency_seconds_bucket{le="0.01"} 2
smokewatch_end_to_end_latency_seconds_bucket{le="0.1"} 8
smokewatch_end_to_end_latency_seconds_bucket{le="+Inf"} 10
smokewatch_end_to_end_latency_seconds_sum 0.5
smokewatch_end_to_end_latency_seconds_count 10
"#;

    #[test]
    fn sums_series_over_labels() {
        let t = pipeline_totals(TEXT);
        assert_eq!(t.readings_processed, Some(125.0));
        assert_eq!(t.dead_letters, Some(3.0));
        assert_eq!(t.consumer_lag, Some(9.0));
        assert_eq!(t.latency_buckets.len(), 3);
        assert_eq!(pipeline_totals("").readings_processed, None);
    }

    #[test]
    fn quantile_interpolates_within_the_bucket() {
        let t = pipeline_totals(TEXT);
        let empty = BTreeMap::new();
        // 10 observations: rank 5 falls in (0.01, 0.1] holding 6 of them.
        let p50 = quantile_between(&empty, &t.latency_buckets, 0.5).unwrap();
        assert!((p50 - (0.01 + 0.09 * 3.0 / 6.0)).abs() < 1e-9, "{p50}");
        assert_eq!(
            quantile_between(&t.latency_buckets, &t.latency_buckets, 0.5),
            None,
            "no observations in between"
        );
    }

    #[test]
    fn label_lookup_matches_whole_names() {
        assert_eq!(label(r#"xle="1",le="2""#, "le"), Some("2"));
        assert_eq!(label(r#"le="+Inf""#, "le"), Some("+Inf"));
        assert_eq!(label(r#"a="1""#, "le"), None);
    }
}
