//! Data-quality figures of the readings a run analyses, and the 0–1
//! quality score that gates retraining.
//!
//! The score is the product of four shares of "good", each in 0–1, so any
//! one problem lowers it and a perfect score needs all four:
//!
//! ```text
//! completeness = 1 − missing channel values / (rows × 12)
//! validity     = 1 − (stored rows with a value outside its physical range
//!                     + rows quarantined at ingest) / (rows + quarantined rows)
//! uniqueness   = 1 − duplicate rows / rows      (duplicate: same device and seq
//!                                                as an earlier analysed row)
//! timeliness   = 1, or, when batch.job.max_staleness is set,
//!                min(1, max_staleness / age of the newest event)
//! score        = completeness × validity × uniqueness × timeliness
//! ```
//!
//! With nothing analysed (no rows, no quarantined rows) there is no score.

use crate::schema::{CHANNEL_COUNT, Channel, DeviceId, SmokeReading};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Missing values of one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelCompleteness {
    pub present: u64,
    pub missing: u64,
    /// Share of rows with the channel present, 0–1.
    pub completeness: f64,
}

/// How fresh the data is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Freshness {
    /// Newest event time among the analysed rows.
    pub newest_event: Option<DateTime<Utc>>,
    /// Seconds from the newest event to the run.
    pub event_age_seconds: Option<f64>,
    /// When the newest ingested file (in the run's scope) was stored.
    pub last_ingest: Option<DateTime<Utc>>,
    pub last_ingest_age_seconds: Option<f64>,
}

/// The four components of the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreComponents {
    pub completeness: f64,
    pub validity: f64,
    pub uniqueness: f64,
    pub timeliness: f64,
}

/// The data-quality section of a run report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    /// Stored rows analysed.
    pub rows: u64,
    /// Per channel key.
    pub channels: BTreeMap<String, ChannelCompleteness>,
    /// Missing channel values, % of all channel values.
    pub missing_pct: f64,
    /// Stored rows with a value outside its channel's physical range.
    pub out_of_range_rows: u64,
    /// Rows out of range, stored or quarantined for it, % of rows stored
    /// and quarantined.
    pub out_of_range_pct: f64,
    /// Rows of the analysed files' ingests that were quarantined.
    pub quarantined_rows: u64,
    pub quarantined_by_reason: BTreeMap<String, u64>,
    /// Rows repeating the (device, seq) of an earlier analysed row.
    pub duplicate_rows: u64,
    pub duplicate_pct: f64,
    pub freshness: Freshness,
    pub components: Option<ScoreComponents>,
    /// See the module docs; `None` with nothing analysed.
    pub score: Option<f64>,
}

/// Seen sequence numbers of one device as disjoint inclusive ranges: a
/// device's seqs are mostly consecutive, so this stays small where a set
/// of every seq would hold millions of entries.
#[derive(Debug, Default)]
pub struct SeqSet {
    /// start → end (inclusive), non-overlapping, non-adjacent.
    ranges: BTreeMap<u64, u64>,
}

impl SeqSet {
    /// Adds `seq`; false when it was already there.
    pub fn insert(&mut self, seq: u64) -> bool {
        let before = self.ranges.range(..=seq).next_back().map(|(s, e)| (*s, *e));
        if let Some((_, end)) = before
            && end >= seq
        {
            return false;
        }
        let after = seq
            .checked_add(1)
            .and_then(|next| self.ranges.get(&next).map(|end| (next, *end)));
        let joins_before = before.filter(|(_, end)| end.checked_add(1) == Some(seq));
        match (joins_before, after) {
            (Some((start, _)), Some((next, end))) => {
                self.ranges.remove(&next);
                self.ranges.insert(start, end);
            }
            (Some((start, _)), None) => {
                self.ranges.insert(start, seq);
            }
            (None, Some((next, end))) => {
                self.ranges.remove(&next);
                self.ranges.insert(seq, end);
            }
            (None, None) => {
                self.ranges.insert(seq, seq);
            }
        }
        true
    }

    /// Number of ranges held (memory use).
    pub fn ranges(&self) -> usize {
        self.ranges.len()
    }
}

/// Accumulates quality figures reading by reading.
#[derive(Debug, Default)]
pub struct QualityAccumulator {
    rows: u64,
    missing: [u64; CHANNEL_COUNT],
    out_of_range_rows: u64,
    duplicates: u64,
    seen: HashMap<DeviceId, SeqSet>,
    newest_ms: Option<i64>,
}

impl QualityAccumulator {
    pub fn add(&mut self, reading: &SmokeReading) {
        self.rows += 1;
        let mut out_of_range = false;
        for channel in Channel::ALL {
            match reading.values.get(channel) {
                None => self.missing[channel.index()] += 1,
                Some(v) => out_of_range |= !channel.physical_range().contains(&v),
            }
        }
        self.out_of_range_rows += u64::from(out_of_range);
        let seqs = match self.seen.get_mut(&reading.device_id) {
            Some(seqs) => seqs,
            None => self.seen.entry(reading.device_id.clone()).or_default(),
        };
        if !seqs.insert(reading.seq) {
            self.duplicates += 1;
        }
        let t = reading.event_time.millis();
        self.newest_ms = Some(self.newest_ms.map_or(t, |n| n.max(t)));
    }

    /// The report; `quarantined` are the quarantine counts by reason of
    /// the ingests in scope.
    pub fn finish(
        self,
        quarantined: &BTreeMap<String, u64>,
        last_ingest: Option<DateTime<Utc>>,
        max_staleness: Option<std::time::Duration>,
        now: DateTime<Utc>,
    ) -> QualityReport {
        let rows = self.rows;
        let quarantined_rows: u64 = quarantined.values().sum();
        let share = |part: u64, whole: u64| {
            if whole == 0 {
                0.0
            } else {
                part as f64 / whole as f64
            }
        };
        let channels = Channel::ALL
            .iter()
            .map(|c| {
                let missing = self.missing[c.index()];
                let completeness = ChannelCompleteness {
                    present: rows - missing,
                    missing,
                    completeness: 1.0 - share(missing, rows),
                };
                (c.key().to_string(), completeness)
            })
            .collect();
        let missing_cells: u64 = self.missing.iter().sum();
        let cells = rows * CHANNEL_COUNT as u64;
        let quarantined_out_of_range = quarantined.get("out_of_range").copied().unwrap_or(0);
        let all_rows = rows + quarantined_rows;
        let newest_event = self
            .newest_ms
            .and_then(DateTime::<Utc>::from_timestamp_millis);
        let age =
            |t: Option<DateTime<Utc>>| t.map(|t| (now - t).num_milliseconds() as f64 / 1000.0);
        let event_age_seconds = age(newest_event);
        let components = (all_rows > 0).then(|| ScoreComponents {
            completeness: 1.0 - share(missing_cells, cells),
            validity: 1.0 - share(self.out_of_range_rows + quarantined_rows, all_rows),
            uniqueness: 1.0 - share(self.duplicates, rows),
            timeliness: match (max_staleness, event_age_seconds) {
                (Some(max), Some(age)) if age > max.as_secs_f64() => max.as_secs_f64() / age,
                _ => 1.0,
            },
        });
        let score = components
            .as_ref()
            .map(|c| c.completeness * c.validity * c.uniqueness * c.timeliness);
        QualityReport {
            rows,
            channels,
            missing_pct: 100.0 * share(missing_cells, cells),
            out_of_range_rows: self.out_of_range_rows,
            out_of_range_pct: 100.0
                * share(self.out_of_range_rows + quarantined_out_of_range, all_rows),
            quarantined_rows,
            quarantined_by_reason: quarantined.clone(),
            duplicate_rows: self.duplicates,
            duplicate_pct: 100.0 * share(self.duplicates, rows),
            freshness: Freshness {
                newest_event,
                event_age_seconds,
                last_ingest,
                last_ingest_age_seconds: age(last_ingest),
            },
            components,
            score,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ChannelValues, EventTime, HomeId, RoomId};

    #[test]
    fn seq_set_finds_repeats_and_merges_neighbours() {
        let mut set = SeqSet::default();
        for seq in [5, 7, 6, 1, 3, 2, 4] {
            assert!(set.insert(seq), "{seq}");
        }
        assert_eq!(set.ranges(), 1);
        for seq in 1..=7 {
            assert!(!set.insert(seq));
        }
        assert!(set.insert(u64::MAX));
        assert!(!set.insert(u64::MAX));
        assert!(set.insert(0));
        assert_eq!(set.ranges(), 2);
    }

    fn reading(seq: u64, values: ChannelValues) -> SmokeReading {
        SmokeReading {
            device_id: "d".into(),
            home: HomeId::from("h"),
            room: RoomId::from("r"),
            event_time: EventTime(1_700_000_000_000 + seq as i64 * 1000),
            seq,
            cnt: None,
            values,
            fire_alarm: None,
        }
    }

    #[test]
    fn score_is_the_product_of_the_documented_shares() {
        let sample = [
            20.0, 57.36, 0.0, 400.0, 12306.0, 18520.0, 939.735, 0.0, 0.0, 0.0, 0.0, 0.0,
        ];
        let full = ChannelValues(sample.map(Some));
        let mut holes = full;
        holes.set(Channel::Tvoc, None);
        holes.set(Channel::Eco2, None);
        let mut hot = full;
        hot.set(Channel::Temperature, Some(500.0));
        let mut acc = QualityAccumulator::default();
        for r in [
            reading(1, full),
            reading(2, holes),
            reading(3, hot),
            reading(3, full),
        ] {
            acc.add(&r);
        }
        let quarantined = BTreeMap::from([("out_of_range".to_string(), 1)]);
        let newest = DateTime::<Utc>::from_timestamp_millis(1_700_000_003_000).unwrap();
        let now = newest + chrono::Duration::seconds(200);
        let report = acc.finish(
            &quarantined,
            None,
            Some(std::time::Duration::from_secs(100)),
            now,
        );
        let c = report.components.clone().unwrap();
        assert_eq!(c.completeness, 1.0 - 2.0 / 48.0);
        assert_eq!(c.validity, 1.0 - 2.0 / 5.0);
        assert_eq!(c.uniqueness, 1.0 - 1.0 / 4.0);
        assert_eq!(c.timeliness, 0.5);
        assert_eq!(
            report.score,
            Some(c.completeness * c.validity * c.uniqueness * c.timeliness)
        );
        assert_eq!(report.out_of_range_pct, 100.0 * 2.0 / 5.0);
        assert_eq!(report.channels["tvoc_ppb"].missing, 1);
        assert_eq!(report.duplicate_rows, 1);
        assert_eq!(report.freshness.event_age_seconds, Some(200.0));
    }

    #[test]
    fn nothing_analysed_has_no_score() {
        let report = QualityAccumulator::default().finish(&BTreeMap::new(), None, None, Utc::now());
        assert_eq!(report.score, None);
        assert_eq!(report.missing_pct, 0.0);
    }
}
