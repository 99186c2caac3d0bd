//! The Smoke Detection Dataset's CSV format, read and written exactly.
//!
//! ```text
//! ,UTC,Temperature[C],Humidity[%],TVOC[ppb],eCO2[ppm],Raw H2,Raw Ethanol,Pressure[hPa],PM1.0,PM2.5,NC0.5,NC1.0,NC2.5,CNT,Fire Alarm
//! 0,1654733331,20.0,57.36,0,400,12306,18520,939.735,0.0,0.0,0.0,0.0,0.0,0,0
//! ```
//!
//! The first column is an unnamed 0-based row index, `UTC` is whole
//! seconds, `CNT` a per-session sample counter. The published file uses
//! CRLF line endings, so the writer does too; the reader accepts CRLF and
//! LF. A user can drop the public data set in as-is.
//!
//! The file has no device column: rows become [`SmokeReading`]s of one
//! device named by the caller ([`CsvRow::into_reading`]).

use super::{Channel, ChannelValues, DeviceId, EventTime, HomeId, RoomId, SmokeReading};
use std::fmt::Write as _;
use std::io::{Read, Write};

/// The data set's header line, byte for byte (without line ending).
pub const DATASET_HEADER: &str = ",UTC,Temperature[C],Humidity[%],TVOC[ppb],eCO2[ppm],Raw H2,Raw Ethanol,Pressure[hPa],PM1.0,PM2.5,NC0.5,NC1.0,NC2.5,CNT,Fire Alarm";

/// Column names in file order; the first (row index) is unnamed.
pub const COLUMNS: [&str; 16] = [
    "",
    "UTC",
    "Temperature[C]",
    "Humidity[%]",
    "TVOC[ppb]",
    "eCO2[ppm]",
    "Raw H2",
    "Raw Ethanol",
    "Pressure[hPa]",
    "PM1.0",
    "PM2.5",
    "NC0.5",
    "NC1.0",
    "NC2.5",
    "CNT",
    "Fire Alarm",
];

/// Name used in error messages for the unnamed first column.
const INDEX_COLUMN_LABEL: &str = "(row index)";
/// Position of the first sensor channel among [`COLUMNS`].
const FIRST_CHANNEL_COLUMN: usize = 2;

/// One row of the data set.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvRow {
    /// The unnamed first column: 0-based row number in the file.
    pub index: u64,
    /// Whole seconds since the Unix epoch.
    pub utc_seconds: i64,
    /// The 12 channel columns, `Temperature[C]` to `NC2.5`; an empty cell is missing.
    pub values: ChannelValues,
    /// The `CNT` column: the device's sample counter since power-on; `None` when empty.
    pub cnt: Option<u64>,
    /// The `Fire Alarm` column (0 or 1); `None` when empty.
    pub fire_alarm: Option<bool>,
}

impl CsvRow {
    /// Turns the row into a reading of the given device. The row index is
    /// the sequence number: it is unique within the file, which the `CNT`
    /// column (reset at every power-on) is not.
    pub fn into_reading(self, device_id: DeviceId, home: HomeId, room: RoomId) -> SmokeReading {
        SmokeReading {
            device_id,
            home,
            room,
            event_time: EventTime::from_utc_seconds(self.utc_seconds),
            seq: self.index,
            cnt: self.cnt,
            values: self.values,
            fire_alarm: self.fire_alarm,
        }
    }

    /// The row a reading becomes at position `index` of a file.
    pub fn from_reading(index: u64, reading: &SmokeReading) -> CsvRow {
        CsvRow {
            index,
            utc_seconds: reading.event_time.utc_seconds(),
            values: reading.values,
            cnt: reading.cnt,
            fire_alarm: reading.fire_alarm,
        }
    }
}

/// What is wrong with one cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CellProblem {
    Missing,
    NotANumber,
    NotFinite,
    NotAnInteger,
    OutOfRange { min: String, max: String },
    NotABoolean,
}

impl std::fmt::Display for CellProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CellProblem::Missing => f.write_str("is missing"),
            CellProblem::NotANumber => f.write_str("is not a number"),
            CellProblem::NotFinite => f.write_str("is not a finite number"),
            CellProblem::NotAnInteger => f.write_str("is not a whole number"),
            CellProblem::OutOfRange { min, max } => {
                write!(f, "is outside the physical range {min}..={max}")
            }
            CellProblem::NotABoolean => f.write_str("is not 0 or 1"),
        }
    }
}

/// Why a CSV file or row was refused. Lines are 1-based, as an editor shows them.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("reading CSV: {0}")]
    Io(String),
    #[error(
        "line 1: header does not match the Smoke Detection Dataset's: expected {expected:?}, found {found:?}"
    )]
    Header { expected: String, found: String },
    #[error("line {line}: row has {found} of {expected} columns; column {column:?} is missing")]
    ShortRow {
        line: u64,
        column: &'static str,
        found: usize,
        expected: usize,
    },
    #[error("line {line}: row has {found} columns, expected {expected}")]
    LongRow {
        line: u64,
        found: usize,
        expected: usize,
    },
    #[error("line {line}, column {column:?}: {value:?} {problem}")]
    Cell {
        line: u64,
        column: &'static str,
        value: String,
        problem: CellProblem,
    },
}

impl CsvError {
    /// The 1-based line the error is on, if it is about one line.
    pub fn line(&self) -> Option<u64> {
        match self {
            CsvError::Io(_) => None,
            CsvError::Header { .. } => Some(1),
            CsvError::ShortRow { line, .. }
            | CsvError::LongRow { line, .. }
            | CsvError::Cell { line, .. } => Some(*line),
        }
    }

    /// A short, stable label for metrics and quarantine files.
    pub fn reason(&self) -> &'static str {
        match self {
            CsvError::Io(_) => "io",
            CsvError::Header { .. } => "bad_header",
            CsvError::ShortRow { .. } => "short_row",
            CsvError::LongRow { .. } => "long_row",
            CsvError::Cell { problem, .. } => match problem {
                CellProblem::Missing => "missing_value",
                CellProblem::NotANumber | CellProblem::NotAnInteger | CellProblem::NotABoolean => {
                    "wrong_type"
                }
                CellProblem::NotFinite => "not_finite",
                CellProblem::OutOfRange { .. } => "out_of_range",
            },
        }
    }
}

/// How the reader treats empty cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingCells {
    /// An empty cell is an error (the published data set has none).
    #[default]
    Reject,
    /// An empty channel or label cell reads as missing; used for history
    /// written by smokewatch, where sensors did drop values.
    Allow,
}

/// Streams rows out of a CSV in the data set's format, one at a time, so
/// files larger than memory can be read. A bad row yields an error and the
/// reader continues with the next one.
///
/// Lines are read here (so error line numbers are exact for CRLF, LF and
/// blank lines alike); `csv-core` splits each line into fields, so quoted
/// fields written by other tools still parse.
pub struct CsvReader<R: Read> {
    input: std::io::BufReader<R>,
    line: Vec<u8>,
    line_number: u64,
    fields: FieldSplitter,
    missing: MissingCells,
    header_checked: bool,
}

impl<R: Read> CsvReader<R> {
    pub fn new(input: R, missing: MissingCells) -> Self {
        Self {
            input: std::io::BufReader::with_capacity(64 * 1024, input),
            line: Vec::with_capacity(256),
            line_number: 0,
            fields: FieldSplitter::default(),
            missing,
            header_checked: false,
        }
    }

    /// The 1-based line last read (the header is line 1): the line of the
    /// row `next_row` just returned.
    pub fn line_number(&self) -> u64 {
        self.line_number
    }

    /// The next row, `None` at the end of input.
    pub fn next_row(&mut self) -> Option<Result<CsvRow, CsvError>> {
        if !self.header_checked {
            self.header_checked = true;
            if let Err(e) = self.check_header() {
                return Some(Err(e));
            }
        }
        loop {
            match self.next_line() {
                Ok(false) => return None,
                // Blank lines (e.g. a trailing CRLF twice) carry no row.
                Ok(true) if self.line.trim_ascii().is_empty() => continue,
                Ok(true) => {
                    self.fields.split(&self.line);
                    return Some(parse_row(&self.fields, self.line_number, self.missing));
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// Reads one line into `self.line`; false at the end of input.
    fn next_line(&mut self) -> Result<bool, CsvError> {
        use std::io::BufRead;
        self.line.clear();
        let n = self
            .input
            .read_until(b'\n', &mut self.line)
            .map_err(|e| CsvError::Io(format!("line {}: {e}", self.line_number + 1)))?;
        if n == 0 {
            return Ok(false);
        }
        self.line_number += 1;
        Ok(true)
    }

    fn check_header(&mut self) -> Result<(), CsvError> {
        let found = if self.next_line()? {
            self.fields.split(&self.line);
            let names: Vec<String> = (0..self.fields.len())
                .map(|i| String::from_utf8_lossy(self.fields.get(i)).into_owned())
                .collect();
            names.join(",")
        } else {
            String::new()
        };
        if found.trim_start_matches('\u{feff}') == DATASET_HEADER {
            Ok(())
        } else {
            Err(CsvError::Header {
                expected: DATASET_HEADER.to_string(),
                found,
            })
        }
    }
}

impl<R: Read> Iterator for CsvReader<R> {
    type Item = Result<CsvRow, CsvError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_row()
    }
}

/// Splits one line into fields with `csv-core`, reusing its buffers and
/// its parser (building a `csv_core::Reader` compiles its DFA, which costs
/// more than parsing a line: it is built once and reset per line).
/// Trailing `\r`/`\n` are not part of the last field.
struct FieldSplitter {
    reader: csv_core::Reader,
    data: Vec<u8>,
    ends: Vec<usize>,
    count: usize,
}

impl Default for FieldSplitter {
    fn default() -> Self {
        Self {
            reader: csv_core::Reader::new(),
            data: Vec::new(),
            ends: Vec::new(),
            count: 0,
        }
    }
}

impl FieldSplitter {
    fn split(&mut self, line: &[u8]) {
        let line = line.trim_ascii_end();
        let reader = &mut self.reader;
        reader.reset();
        if self.data.len() < line.len() + 1 {
            self.data.resize(line.len() + 1, 0);
        }
        if self.ends.len() < 32 {
            self.ends.resize(32, 0);
        }
        let (mut input, mut out, mut end) = (line, 0, 0);
        let mut end_signalled = false;
        loop {
            let (result, nin, nout, nend) =
                reader.read_record(input, &mut self.data[out..], &mut self.ends[end..]);
            input = &input[nin..];
            out += nout;
            end += nend;
            match result {
                // The line is consumed; an empty input tells csv-core it
                // has ended, which completes the last field.
                csv_core::ReadRecordResult::InputEmpty if !end_signalled => end_signalled = true,
                csv_core::ReadRecordResult::OutputFull => {
                    let n = self.data.len() * 2;
                    self.data.resize(n, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    let n = self.ends.len() * 2;
                    self.ends.resize(n, 0);
                }
                _ => break,
            }
        }
        self.count = end;
    }

    fn len(&self) -> usize {
        self.count
    }

    fn get(&self, i: usize) -> &[u8] {
        if i >= self.count {
            return &[];
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.data[start..self.ends[i]]
    }
}

fn column_label(i: usize) -> &'static str {
    if i == 0 {
        INDEX_COLUMN_LABEL
    } else {
        COLUMNS[i]
    }
}

fn parse_row(record: &FieldSplitter, line: u64, missing: MissingCells) -> Result<CsvRow, CsvError> {
    if record.len() < COLUMNS.len() {
        return Err(CsvError::ShortRow {
            line,
            column: column_label(record.len()),
            found: record.len(),
            expected: COLUMNS.len(),
        });
    }
    if record.len() > COLUMNS.len() {
        return Err(CsvError::LongRow {
            line,
            found: record.len(),
            expected: COLUMNS.len(),
        });
    }
    let cell = |i: usize| Cell {
        line,
        column: column_label(i),
        raw: record.get(i),
    };
    let index = cell(0)
        .integer()?
        .ok_or_else(|| cell(0).error(CellProblem::Missing))?;
    let utc_seconds = cell(1)
        .whole_seconds()?
        .ok_or_else(|| cell(1).error(CellProblem::Missing))?;
    let mut values = ChannelValues::EMPTY;
    for channel in Channel::ALL {
        let c = cell(FIRST_CHANNEL_COLUMN + channel.index());
        let value = c.number(channel)?;
        if value.is_none() && missing == MissingCells::Reject {
            return Err(c.error(CellProblem::Missing));
        }
        values.set(channel, value);
    }
    let cnt = cell(14).integer()?;
    if cnt.is_none() && missing == MissingCells::Reject {
        return Err(cell(14).error(CellProblem::Missing));
    }
    let fire_alarm = cell(15).boolean()?;
    if fire_alarm.is_none() && missing == MissingCells::Reject {
        return Err(cell(15).error(CellProblem::Missing));
    }
    Ok(CsvRow {
        index,
        utc_seconds,
        values,
        cnt,
        fire_alarm,
    })
}

/// One cell with enough context to report a precise error.
struct Cell<'a> {
    line: u64,
    column: &'static str,
    raw: &'a [u8],
}

impl Cell<'_> {
    fn text(&self) -> String {
        String::from_utf8_lossy(self.raw.trim_ascii()).into_owned()
    }

    fn error(&self, problem: CellProblem) -> CsvError {
        CsvError::Cell {
            line: self.line,
            column: self.column,
            value: self.text(),
            problem,
        }
    }

    /// The trimmed text, `None` when empty.
    fn trimmed(&self) -> Result<Option<&str>, CsvError> {
        let s = std::str::from_utf8(self.raw)
            .map_err(|_| self.error(CellProblem::NotANumber))?
            .trim();
        Ok((!s.is_empty()).then_some(s))
    }

    fn float(&self) -> Result<Option<f64>, CsvError> {
        let Some(s) = self.trimmed()? else {
            return Ok(None);
        };
        let v: f64 = s.parse().map_err(|_| self.error(CellProblem::NotANumber))?;
        if !v.is_finite() {
            return Err(self.error(CellProblem::NotFinite));
        }
        Ok(Some(v))
    }

    fn number(&self, channel: Channel) -> Result<Option<f64>, CsvError> {
        let v = self.float()?;
        if let Some(v) = v {
            let range = channel.physical_range();
            if !range.contains(&v) {
                return Err(self.error(CellProblem::OutOfRange {
                    min: range.start().to_string(),
                    max: range.end().to_string(),
                }));
            }
        }
        Ok(v)
    }

    /// A non-negative whole number; `12.0` is accepted (pandas writes
    /// integer columns with missing values as floats). Parsed as an integer
    /// first: counters beyond 2^53 do not survive a trip through f64.
    fn integer(&self) -> Result<Option<u64>, CsvError> {
        let Some(s) = self.trimmed()? else {
            return Ok(None);
        };
        if let Ok(v) = s.parse::<u64>() {
            return Ok(Some(v));
        }
        match self.float()? {
            Some(v) if v >= 0.0 && v.fract() == 0.0 && v < u64::MAX as f64 => Ok(Some(v as u64)),
            _ => Err(self.error(CellProblem::NotAnInteger)),
        }
    }

    fn whole_seconds(&self) -> Result<Option<i64>, CsvError> {
        let Some(s) = self.trimmed()? else {
            return Ok(None);
        };
        if let Ok(v) = s.parse::<i64>() {
            return Ok(Some(v));
        }
        match self.float()? {
            Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => Ok(Some(v as i64)),
            _ => Err(self.error(CellProblem::NotAnInteger)),
        }
    }

    fn boolean(&self) -> Result<Option<bool>, CsvError> {
        match self.trimmed()? {
            None => Ok(None),
            Some("0") | Some("0.0") => Ok(Some(false)),
            Some("1") | Some("1.0") => Ok(Some(true)),
            Some(_) => Err(self.error(CellProblem::NotABoolean)),
        }
    }
}

/// Writes rows in the data set's exact format: its header, CRLF endings,
/// floats in the shortest form that reads back to the same value, empty
/// cells for missing values.
pub struct CsvWriter<W: Write> {
    out: W,
    line: String,
}

impl<W: Write> CsvWriter<W> {
    /// Starts a file: writes the header line.
    pub fn new(mut out: W) -> std::io::Result<Self> {
        out.write_all(DATASET_HEADER.as_bytes())?;
        out.write_all(b"\r\n")?;
        Ok(Self {
            out,
            line: String::with_capacity(160),
        })
    }

    pub fn write_row(&mut self, row: &CsvRow) -> std::io::Result<()> {
        // No field of the format can contain a comma or quote, so rows are
        // formatted directly; this keeps `generate` fast.
        self.line.clear();
        let _ = write!(self.line, "{},{}", row.index, row.utc_seconds);
        for (_, value) in row.values.iter() {
            self.line.push(',');
            if let Some(v) = value {
                let _ = write!(self.line, "{v}");
            }
        }
        self.line.push(',');
        if let Some(cnt) = row.cnt {
            let _ = write!(self.line, "{cnt}");
        }
        self.line.push(',');
        if let Some(alarm) = row.fire_alarm {
            self.line.push(if alarm { '1' } else { '0' });
        }
        self.line.push_str("\r\n");
        self.out.write_all(self.line.as_bytes())
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(index: u64) -> CsvRow {
        let mut values = ChannelValues::EMPTY;
        let sample = [
            20.0, 57.36, 0.0, 400.0, 12306.0, 18520.0, 939.735, 0.0, 0.0, 0.0, 0.0, 0.0,
        ];
        for (c, v) in Channel::ALL.into_iter().zip(sample) {
            values.set(c, Some(v));
        }
        CsvRow {
            index,
            utc_seconds: 1_654_733_331 + index as i64,
            values,
            cnt: Some(index),
            fire_alarm: Some(index % 2 == 1),
        }
    }

    fn write(rows: &[CsvRow]) -> String {
        let mut w = CsvWriter::new(Vec::new()).unwrap();
        for r in rows {
            w.write_row(r).unwrap();
        }
        String::from_utf8(w.finish().unwrap()).unwrap()
    }

    fn read(text: &str, missing: MissingCells) -> Vec<Result<CsvRow, CsvError>> {
        CsvReader::new(text.as_bytes(), missing).collect()
    }

    #[test]
    fn header_constant_matches_column_list() {
        assert_eq!(COLUMNS.join(","), DATASET_HEADER);
        for c in Channel::ALL {
            assert_eq!(COLUMNS[FIRST_CHANNEL_COLUMN + c.index()], c.csv_name());
        }
    }

    #[test]
    fn written_file_starts_with_the_exact_header_and_uses_crlf() {
        let text = write(&[row(0)]);
        assert!(text.starts_with(&format!("{DATASET_HEADER}\r\n")));
        assert_eq!(
            text.lines().nth(1).unwrap(),
            "0,1654733331,20,57.36,0,400,12306,18520,939.735,0,0,0,0,0,0,0"
        );
    }

    #[test]
    fn crlf_and_lf_files_read_the_same() {
        let crlf = write(&[row(0), row(1)]);
        let lf = crlf.replace("\r\n", "\n");
        let a: Vec<CsvRow> = read(&crlf, MissingCells::Reject)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let b: Vec<CsvRow> = read(&lf, MissingCells::Reject)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(a, vec![row(0), row(1)]);
        assert_eq!(a, b);
    }

    #[test]
    fn reads_a_line_copied_from_the_public_data_set() {
        let text = format!(
            "{DATASET_HEADER}\r\n0,1654733331,20.0,57.36,0,400,12306,18520,939.735,0.0,0.0,0.0,0.0,0.0,0,0\r\n"
        );
        let rows = read(&text, MissingCells::Reject);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0].as_ref().unwrap(),
            &CsvRow {
                fire_alarm: Some(false),
                ..row(0)
            }
        );
    }

    #[test]
    fn empty_cell_is_an_error_naming_column_and_line_unless_allowed() {
        let text = write(&[row(0), row(1)]).replace(
            ",57.36,0,400,12306,18520,939.735,0,0,0,0,0,1,1",
            ",57.36,,400,12306,18520,939.735,0,0,0,0,0,1,1",
        );
        let rows = read(&text, MissingCells::Reject);
        let err = rows[1].as_ref().unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 3, column \"TVOC[ppb]\": \"\" is missing"
        );
        assert_eq!(err.reason(), "missing_value");
        let allowed = read(&text, MissingCells::Allow);
        assert_eq!(allowed[1].as_ref().unwrap().values.get(Channel::Tvoc), None);
    }

    #[test]
    fn non_number_nan_and_short_row_are_precise_errors_with_crlf_and_lf() {
        let header = DATASET_HEADER;
        let lf = format!(
            "{header}\n\
             0,1654733331,20.0,57.36,abc,400,12306,18520,939.735,0,0,0,0,0,0,0\n\
             1,1654733332,20.0,NaN,0,400,12306,18520,939.735,0,0,0,0,0,0,0\n\
             \n\
             2,1654733333,20.0,57.36,0,400,12306,18520,939.735,0,0,0\n"
        );
        for text in [lf.clone(), lf.replace('\n', "\r\n")] {
            let errors: Vec<String> = read(&text, MissingCells::Reject)
                .into_iter()
                .map(|r| r.unwrap_err().to_string())
                .collect();
            assert_eq!(
                errors,
                vec![
                    "line 2, column \"TVOC[ppb]\": \"abc\" is not a number",
                    "line 3, column \"Humidity[%]\": \"NaN\" is not a finite number",
                    "line 5: row has 12 of 16 columns; column \"NC1.0\" is missing",
                ],
                "{text:?}"
            );
        }
    }

    #[test]
    fn quoted_fields_from_other_tools_parse() {
        let text = format!(
            "{DATASET_HEADER}\r\n\"0\",\"1654733331\",\"20.0\",57.36,0,400,12306,18520,939.735,0,0,0,0,0,0,0\r\n"
        );
        let rows = read(&text, MissingCells::Reject);
        assert_eq!(
            rows[0].as_ref().unwrap(),
            &CsvRow {
                fire_alarm: Some(false),
                ..row(0)
            }
        );
    }

    #[test]
    fn wrong_header_is_refused() {
        let text = "UTC,Temperature[C]\n1,2\n";
        let first = read(text, MissingCells::Reject).remove(0);
        assert!(matches!(first, Err(CsvError::Header { .. })));
    }

    #[test]
    fn out_of_range_value_names_the_range() {
        let text = write(&[row(0)]).replace(",57.36,", ",157.36,");
        let err = read(&text, MissingCells::Reject).remove(0).unwrap_err();
        assert_eq!(err.reason(), "out_of_range");
        assert!(err.to_string().contains("Humidity[%]"), "{err}");
    }
}
