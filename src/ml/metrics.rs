//! Classification metrics with fire as the positive class, computed from
//! predicted probabilities and true labels, and printed one per line as
//! `name: value` (what `train` and `evaluate` show and scripts parse).

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Counts of a binary confusion matrix (positive = fire).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    pub true_positive: u64,
    pub false_positive: u64,
    pub true_negative: u64,
    pub false_negative: u64,
}

impl Confusion {
    pub fn add(&mut self, predicted_fire: bool, fire: bool) {
        match (predicted_fire, fire) {
            (true, true) => self.true_positive += 1,
            (true, false) => self.false_positive += 1,
            (false, false) => self.true_negative += 1,
            (false, true) => self.false_negative += 1,
        }
    }

    pub fn total(&self) -> u64 {
        self.true_positive + self.false_positive + self.true_negative + self.false_negative
    }
}

/// Everything reported for a model on one set of rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub rows: u64,
    pub accuracy: f64,
    /// Of the readings called fire, the share that were fire (0 when none was called fire).
    pub precision: f64,
    /// Of the fire readings, the share called fire (0 when there was none).
    pub recall: f64,
    pub f1: f64,
    /// Area under the ROC curve; `None` when the rows hold only one class.
    pub roc_auc: Option<f64>,
    pub confusion: Confusion,
    /// Rows that were fire.
    pub support_fire: u64,
    /// Rows that were not fire.
    pub support_no_fire: u64,
    /// Reliability of the probabilities: per tenth of the probability
    /// range, the mean predicted probability beside the share of rows that
    /// were fire. A calibrated model's two columns agree, so "0.9" means
    /// nine fires in ten. Empty for models evaluated before it existed.
    #[serde(default)]
    pub calibration: Vec<CalibrationBin>,
}

/// One tenth of the probability range in a [`Metrics::calibration`] table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Lower edge (inclusive) of the predicted probabilities of the bin.
    pub lower: f64,
    /// Upper edge (exclusive, but 1.0 is in the last bin).
    pub upper: f64,
    /// Rows whose predicted probability fell in the bin.
    pub rows: u64,
    /// Mean predicted fire probability of those rows; `None` when none.
    pub mean_predicted: Option<f64>,
    /// Share of those rows that were fire; `None` when none.
    pub observed_fire_share: Option<f64>,
}

/// Bins of the calibration table.
const CALIBRATION_BINS: usize = 10;

/// The calibration (reliability) table of `probabilities` against `labels`.
pub fn calibration(probabilities: &[f64], labels: &[bool]) -> Vec<CalibrationBin> {
    let mut sums = [(0u64, 0.0f64, 0u64); CALIBRATION_BINS];
    for (p, fire) in probabilities.iter().zip(labels) {
        if !p.is_finite() {
            continue;
        }
        let bin =
            ((p.clamp(0.0, 1.0) * CALIBRATION_BINS as f64) as usize).min(CALIBRATION_BINS - 1);
        let (rows, sum, fires) = &mut sums[bin];
        *rows += 1;
        *sum += p;
        *fires += u64::from(*fire);
    }
    sums.iter()
        .enumerate()
        .map(|(i, (rows, sum, fires))| CalibrationBin {
            lower: i as f64 / CALIBRATION_BINS as f64,
            upper: (i + 1) as f64 / CALIBRATION_BINS as f64,
            rows: *rows,
            mean_predicted: (*rows > 0).then(|| sum / *rows as f64),
            observed_fire_share: (*rows > 0).then(|| *fires as f64 / *rows as f64),
        })
        .collect()
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl Metrics {
    /// Metrics of `probabilities` against `labels` at `threshold` (fire
    /// when the probability exceeds it).
    pub fn compute(probabilities: &[f64], labels: &[bool], threshold: f64) -> Metrics {
        let mut c = Confusion::default();
        for (p, fire) in probabilities.iter().zip(labels) {
            c.add(*p > threshold, *fire);
        }
        let precision = ratio(c.true_positive, c.true_positive + c.false_positive);
        let recall = ratio(c.true_positive, c.true_positive + c.false_negative);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        Metrics {
            rows: c.total(),
            accuracy: ratio(c.true_positive + c.true_negative, c.total()),
            precision,
            recall,
            f1,
            roc_auc: roc_auc(probabilities, labels),
            confusion: c,
            support_fire: c.true_positive + c.false_negative,
            support_no_fire: c.true_negative + c.false_positive,
            calibration: calibration(probabilities, labels),
        }
    }

    /// One `name: value` line per metric.
    pub fn to_lines(&self) -> String {
        let c = &self.confusion;
        let mut s = String::new();
        let _ = writeln!(s, "rows: {}", self.rows);
        let _ = writeln!(s, "accuracy: {:.4}", self.accuracy);
        let _ = writeln!(s, "precision: {:.4}", self.precision);
        let _ = writeln!(s, "recall: {:.4}", self.recall);
        let _ = writeln!(s, "f1: {:.4}", self.f1);
        match self.roc_auc {
            Some(auc) => {
                let _ = writeln!(s, "roc_auc: {auc:.4}");
            }
            None => s.push_str("roc_auc: n/a (one class only)\n"),
        }
        let _ = writeln!(s, "true_positive: {}", c.true_positive);
        let _ = writeln!(s, "false_positive: {}", c.false_positive);
        let _ = writeln!(s, "true_negative: {}", c.true_negative);
        let _ = writeln!(s, "false_negative: {}", c.false_negative);
        let _ = writeln!(s, "support_fire: {}", self.support_fire);
        let _ = writeln!(s, "support_no_fire: {}", self.support_no_fire);
        s
    }
}

/// ROC-AUC as the probability that a random fire row scores above a random
/// no-fire row (ties count half): the Mann–Whitney U statistic from ranks,
/// O(n log n), exact for tied scores such as forest vote shares.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let positives = labels.iter().filter(|l| **l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len().min(labels.len())).collect();
    order.sort_unstable_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    // Sum of the (average, 1-based) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let average_rank = (i + j) as f64 / 2.0 + 1.0;
        let tied_positives = order[i..=j].iter().filter(|k| labels[**k]).count();
        rank_sum += average_rank * tied_positives as f64;
        i = j + 1;
    }
    let p = positives as f64;
    let u = rank_sum - p * (p + 1.0) / 2.0;
    Some(u / (p * negatives as f64))
}

/// Mean and standard deviation of a metric over cross-validation folds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub mean: f64,
    pub std: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Spread {
        let n = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        Spread {
            mean,
            std: var.sqrt(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_follow_the_confusion_matrix() {
        let p = [0.9, 0.8, 0.3, 0.6, 0.1, 0.2];
        let y = [true, true, true, false, false, false];
        let m = Metrics::compute(&p, &y, 0.5);
        assert_eq!(
            m.confusion,
            Confusion {
                true_positive: 2,
                false_positive: 1,
                true_negative: 2,
                false_negative: 1
            }
        );
        assert!((m.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.f1 - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.accuracy - 4.0 / 6.0).abs() < 1e-12);
        // Pairs (pos, neg) ordered correctly: 0.9 and 0.8 beat all three
        // negatives, 0.3 beats 0.1 and 0.2: 8 of 9.
        assert!((m.roc_auc.unwrap() - 8.0 / 9.0).abs() < 1e-12);
        assert_eq!((m.support_fire, m.support_no_fire), (3, 3));
    }

    #[test]
    fn calibration_compares_predicted_and_observed_fire_per_tenth() {
        // Three rows at 0.05 (none fire), four at 0.95 and 1.0 (three fire).
        let p = [0.05, 0.05, 0.05, 0.95, 0.95, 1.0, 1.0, f64::NAN];
        let y = [false, false, false, true, true, true, false, true];
        let table = calibration(&p, &y);
        assert_eq!(table.len(), 10);
        assert_eq!(
            (table[0].lower, table[0].upper, table[0].rows),
            (0.0, 0.1, 3)
        );
        assert_eq!(table[0].observed_fire_share, Some(0.0));
        assert_eq!(table[9].rows, 4, "1.0 falls in the last bin; NaN in none");
        assert!((table[9].mean_predicted.unwrap() - 0.975).abs() < 1e-12);
        assert_eq!(table[9].observed_fire_share, Some(0.75));
        assert!(
            table[1..9]
                .iter()
                .all(|b| b.rows == 0 && b.mean_predicted.is_none())
        );
        assert_eq!(Metrics::compute(&p, &y, 0.5).calibration, table);
    }

    #[test]
    fn metrics_saved_before_the_calibration_table_still_load() {
        let mut json =
            serde_json::to_value(Metrics::compute(&[0.2, 0.8], &[false, true], 0.5)).unwrap();
        json.as_object_mut().unwrap().remove("calibration");
        let old: Metrics = serde_json::from_value(json).unwrap();
        assert!(old.calibration.is_empty());
    }

    #[test]
    fn tied_scores_count_half() {
        let auc = roc_auc(&[0.5, 0.5, 0.5, 0.5], &[true, false, true, false]).unwrap();
        assert!((auc - 0.5).abs() < 1e-12);
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn no_fire_predicted_gives_zero_not_nan() {
        let m = Metrics::compute(&[0.1, 0.2], &[true, false], 0.5);
        assert_eq!((m.precision, m.recall, m.f1), (0.0, 0.0, 0.0));
        let lines = m.to_lines();
        assert!(lines.contains("f1: 0.0000\n"), "{lines}");
        assert!(lines.lines().all(|l| l.contains(": ")));
    }
}
