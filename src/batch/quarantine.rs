//! Quarantine files: the rows of an ingested file that were not stored,
//! each with its line number, reason and the row as it was in the file,
//! so an operator can see what was wrong, fix it and drop the rows in
//! again.
//!
//! ```text
//! line,reason,error,row
//! 7,wrong_type,"line 7, column ""TVOC[ppb]"": ""abc"" is not a number","5,1654733336,20.0,57.36,abc,…"
//! ```
//!
//! Memory stays bounded whatever the number of bad rows: while the file is
//! read, bad rows go to a temporary log; at the end the log and the source
//! are read side by side (both in line order) to add each row's raw text.
//! Parquet rows have no text: their `row` column is empty and `line` is the
//! row number.

use super::source::{BadRow, InputKind};
use crate::base::durable;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Header of a quarantine file.
pub const COLUMNS: [&str; 4] = ["line", "reason", "error", "row"];

#[derive(Serialize, Deserialize)]
struct LoggedRow {
    line: u64,
    reason: String,
    error: String,
}

/// Bad rows of one file being ingested.
pub struct Quarantine {
    log_path: PathBuf,
    log: BufWriter<File>,
    count: u64,
    by_reason: BTreeMap<String, u64>,
}

impl Quarantine {
    /// Starts a log in `dir` (the quarantine folder).
    pub fn new(dir: &Path) -> std::io::Result<Quarantine> {
        std::fs::create_dir_all(dir)?;
        let log_path = dir.join(format!(".rows-{}.jsonl", uuid::Uuid::new_v4().simple()));
        let log = BufWriter::new(File::create(&log_path)?);
        Ok(Quarantine {
            log_path,
            log,
            count: 0,
            by_reason: BTreeMap::new(),
        })
    }

    pub fn add(&mut self, row: &BadRow) -> std::io::Result<()> {
        let logged = LoggedRow {
            line: row.line,
            reason: row.reason.to_string(),
            error: row.error.clone(),
        };
        serde_json::to_writer(&mut self.log, &logged)?;
        self.log.write_all(b"\n")?;
        self.count += 1;
        *self.by_reason.entry(row.reason.to_string()).or_default() += 1;
        Ok(())
    }

    /// Rows quarantined so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Rows quarantined so far, by reason.
    pub fn by_reason(&self) -> &BTreeMap<String, u64> {
        &self.by_reason
    }

    /// Writes the quarantine file `target` (atomically) when there were
    /// bad rows; returns whether it did. The log is removed either way.
    pub fn finish(self, source: &Path, kind: InputKind, target: &Path) -> std::io::Result<bool> {
        let Quarantine {
            log_path,
            log,
            count,
            ..
        } = self;
        let result = (|| {
            log.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            if count == 0 {
                return Ok(false);
            }
            durable::write_with(target, |file| {
                merge(&log_path, source, kind, BufWriter::new(file))
            })?;
            Ok(true)
        })();
        let _ = std::fs::remove_file(&log_path);
        result
    }

    /// Drops the log (the file is not ingested after all).
    pub fn discard(self) {
        let _ = std::fs::remove_file(&self.log_path);
    }
}

/// Writes the quarantine CSV: each logged row with the source's raw line.
fn merge(log_path: &Path, source: &Path, kind: InputKind, out: impl Write) -> std::io::Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(COLUMNS).map_err(std::io::Error::other)?;
    let mut lines = match kind {
        InputKind::Csv => Some(RawLines::open(source)?),
        InputKind::Parquet => None,
    };
    for entry in BufReader::new(File::open(log_path)?).lines() {
        let logged: LoggedRow = serde_json::from_str(&entry?)?;
        let raw = match lines.as_mut() {
            Some(lines) => lines.get(logged.line)?,
            None => String::new(),
        };
        csv.write_record([
            logged.line.to_string().as_str(),
            &logged.reason,
            &logged.error,
            &raw,
        ])
        .map_err(std::io::Error::other)?;
    }
    csv.flush()
}

/// Lines of a text file, read forwards on demand.
struct RawLines {
    input: BufReader<File>,
    number: u64,
    line: Vec<u8>,
}

impl RawLines {
    fn open(path: &Path) -> std::io::Result<RawLines> {
        Ok(RawLines {
            input: BufReader::with_capacity(64 * 1024, File::open(path)?),
            number: 0,
            line: Vec::new(),
        })
    }

    /// The text of 1-based line `wanted` (without its line ending); empty
    /// when the file is shorter or the line was already passed.
    fn get(&mut self, wanted: u64) -> std::io::Result<String> {
        while self.number < wanted {
            self.line.clear();
            if self.input.read_until(b'\n', &mut self.line)? == 0 {
                return Ok(String::new());
            }
            self.number += 1;
        }
        if self.number != wanted {
            return Ok(String::new());
        }
        let text = String::from_utf8_lossy(self.line.trim_ascii_end()).into_owned();
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarantine_file_holds_line_reason_error_and_raw_row() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("in.csv");
        std::fs::write(&source, "header\r\ngood\r\nbad one\r\ngood\r\nbad, two\r\n").unwrap();
        let mut q = Quarantine::new(&dir.path().join("q")).unwrap();
        for (line, reason) in [(3, "wrong_type"), (5, "short_row")] {
            q.add(&BadRow {
                line,
                reason,
                error: format!("line {line}: broken"),
            })
            .unwrap();
        }
        assert_eq!(q.count(), 2);
        let target = dir.path().join("q/in.quarantine.csv");
        assert!(q.finish(&source, InputKind::Csv, &target).unwrap());
        let rows: Vec<csv::StringRecord> = csv::Reader::from_path(&target)
            .unwrap()
            .records()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            &rows[0],
            vec!["3", "wrong_type", "line 3: broken", "bad one"]
        );
        assert_eq!(
            &rows[1],
            vec!["5", "short_row", "line 5: broken", "bad, two"]
        );
        let left: Vec<_> = std::fs::read_dir(dir.path().join("q")).unwrap().collect();
        assert_eq!(left.len(), 1, "the temporary log is gone");
    }

    #[test]
    fn no_bad_rows_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let q = Quarantine::new(dir.path()).unwrap();
        let target = dir.path().join("x.csv");
        assert!(!q.finish(&target, InputKind::Csv, &target).unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
