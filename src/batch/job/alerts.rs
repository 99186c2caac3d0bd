//! Anomaly counts from the stream's alert files.
//!
//! The stream's file sink publishes alert changes under
//! `<sinks.dir>/alerts/date=YYYY-MM-DD/part-<uuid>.{csv,parquet}` (day of
//! the alert's event time), one row per change with at least the columns
//! `event_id`, `change` (`opened`, `escalated`, `resolved`), `kind`
//! (`threshold`, `spike`, `rule`, `ml`) and `device`, all text. An anomaly
//! is an alert *opened*; the same change is written to both the CSV and
//! the Parquet file, so rows are de-duplicated by `event_id`.
//!
//! Missing alert files are not an error: the counts are 0 with a note
//! saying so (the stream or its file sink may be off).

use arrow::array::{Array, StringArray};
use chrono::NaiveDate;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

/// The anomaly section of the KPIs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AnomalyCounts {
    /// Where alert files were looked for.
    pub source: String,
    /// Alerts opened on the analysed days.
    pub opened: u64,
    /// By alert kind.
    pub by_kind: BTreeMap<String, u64>,
    /// By day (`YYYY-MM-DD`).
    pub by_day: BTreeMap<String, u64>,
    /// Alert files read.
    pub files: u64,
    /// Why the counts may be incomplete (no alert files, unreadable files).
    pub notes: Vec<String>,
}

/// Counts the alerts opened on `days` under `<sinks_dir>/alerts`.
pub fn count_anomalies(sinks_dir: &Path, days: &BTreeSet<NaiveDate>) -> AnomalyCounts {
    let root = sinks_dir.join("alerts");
    let mut counts = AnomalyCounts {
        source: root.display().to_string(),
        ..AnomalyCounts::default()
    };
    let Ok(folders) = std::fs::read_dir(&root) else {
        counts.notes.push(format!(
            "no alert files under {}: anomaly counts are 0 (the stream writes them when sinks are enabled)",
            root.display()
        ));
        return counts;
    };
    let mut seen = HashSet::new();
    for folder in folders.flatten() {
        let name = folder.file_name().to_string_lossy().into_owned();
        let Some(day) = name
            .strip_prefix("date=")
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        else {
            continue;
        };
        if !days.contains(&day) {
            continue;
        }
        let Ok(files) = std::fs::read_dir(folder.path()) else {
            continue;
        };
        let mut paths: Vec<_> = files.flatten().map(|f| f.path()).collect();
        paths.sort();
        for path in paths {
            let file = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if file.as_deref().is_none_or(crate::base::durable::is_hidden) {
                continue;
            }
            let rows = match path.extension().and_then(|e| e.to_str()) {
                Some("csv") => csv_rows(&path),
                Some("parquet") => parquet_rows(&path),
                _ => continue,
            };
            match rows {
                Ok(rows) => {
                    counts.files += 1;
                    for row in rows {
                        if row.change == "opened" && seen.insert(row.event_id) {
                            counts.opened += 1;
                            *counts.by_kind.entry(row.kind).or_default() += 1;
                            *counts
                                .by_day
                                .entry(day.format("%Y-%m-%d").to_string())
                                .or_default() += 1;
                        }
                    }
                }
                Err(reason) => counts
                    .notes
                    .push(format!("{} skipped: {reason}", path.display())),
            }
        }
    }
    if counts.files == 0 && counts.notes.is_empty() {
        counts
            .notes
            .push("no alert files for the analysed days".to_string());
    }
    counts
}

/// The columns of an alert row this module reads.
struct AlertRow {
    event_id: String,
    change: String,
    kind: String,
}

fn csv_rows(path: &Path) -> Result<Vec<AlertRow>, String> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| e.to_string())?;
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let index = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("no {name:?} column"))
    };
    let (id, change, kind) = (index("event_id")?, index("change")?, index("kind")?);
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| e.to_string())?;
        let field = |i: usize| record.get(i).unwrap_or_default().to_string();
        out.push(AlertRow {
            event_id: field(id),
            change: field(change),
            kind: field(kind),
        });
    }
    Ok(out)
}

fn parquet_rows(path: &Path) -> Result<Vec<AlertRow>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned())
                .ok_or_else(|| format!("no text column {name:?}"))
        };
        let (id, change, kind) = (column("event_id")?, column("change")?, column("kind")?);
        for i in 0..batch.num_rows() {
            let text = |a: &StringArray| {
                if a.is_null(i) {
                    String::new()
                } else {
                    a.value(i).to_string()
                }
            };
            out.push(AlertRow {
                event_id: text(&id),
                change: text(&change),
                kind: text(&kind),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "event_id,change,alert_id,device,home,room,rule,kind,severity,state,event_time,last_event_time,resolved_time,trigger_seq,repeats,values";

    #[test]
    fn opened_alerts_are_counted_once_per_event_on_the_analysed_days() {
        let dir = tempfile::tempdir().unwrap();
        let day = dir.path().join("alerts/date=2024-03-01");
        std::fs::create_dir_all(&day).unwrap();
        let rows = [
            "e1,opened,a1,d1,h,r,threshold:pm2_5,threshold,warning,open,t,t,,1,0,{}",
            "e2,escalated,a1,d1,h,r,threshold:pm2_5,threshold,critical,open,t,t,,1,0,{}",
            "e3,opened,a2,d1,h,r,ml:fire,ml,critical,open,t,t,,1,0,{}",
            "e4,resolved,a2,d1,h,r,ml:fire,ml,critical,resolved,t,t,t,1,0,{}",
        ];
        std::fs::write(
            day.join("part-1.csv"),
            format!("{HEADER}\n{}\n", rows.join("\n")),
        )
        .unwrap();
        // The same change in a second file (CSV and Parquet twins) counts once.
        std::fs::write(day.join("part-2.csv"), format!("{HEADER}\n{}\n", rows[0])).unwrap();
        let other = dir.path().join("alerts/date=2024-03-02");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(
            other.join("part-3.csv"),
            format!("{HEADER}\n{}\n", rows[0].replace("e1", "e9")),
        )
        .unwrap();
        let days = BTreeSet::from([NaiveDate::from_ymd_opt(2024, 3, 1).unwrap()]);
        let counts = count_anomalies(dir.path(), &days);
        assert_eq!(counts.opened, 2);
        assert_eq!(
            counts.by_kind,
            BTreeMap::from([("ml".into(), 1), ("threshold".into(), 1)])
        );
        assert_eq!(counts.by_day, BTreeMap::from([("2024-03-01".into(), 2)]));
        assert_eq!(counts.files, 2);
        assert!(counts.notes.is_empty(), "{:?}", counts.notes);
    }

    #[test]
    fn without_alert_files_the_count_is_zero_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let counts = count_anomalies(dir.path(), &BTreeSet::new());
        assert_eq!(counts.opened, 0);
        assert!(
            counts.notes[0].contains("no alert files"),
            "{:?}",
            counts.notes
        );
    }
}
