//! `smokewatch tail windows|alerts|dead-letters`: watches a running daemon over HTTP and
//! prints, like Spark's console sink, one table per trigger (`Batch: N`)
//! of what changed since the previous one.
//!
//! Why poll the JSON API rather than read Kafka: it works with every
//! transport (embedded too) and needs only the web address, and the daemon
//! already keeps each series' current window for the Windows page
//! (`/api/windows?current=true`). Each poll compares the rows with the
//! previous poll's; the windows API also counts the stream's batches of
//! window results (`updates`), so a poll that saw no new batch skips the
//! comparison. A poll interval longer than the stream's trigger interval
//! shows each series' newest state, not every intermediate one.

use super::{EXIT_RUNTIME, EXIT_USAGE};
use crate::app::config::Config;
use clap::{Args, ValueEnum};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

/// What to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Tailed {
    /// Each series' current window (newest and last closed).
    Windows,
    /// Alerts opened, escalated, repeated or resolved.
    Alerts,
    /// Records the stream refused, with the reason (the payloads are in
    /// the dead-letter files and topic).
    DeadLetters,
}

/// Window results keyed by what (tail windows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyArg {
    /// Room events per room and sensor (the Smart Home job's table).
    RoomSensor,
    /// Readings of all detectors of a room, per channel.
    Room,
    /// Readings of one detector, per channel.
    Device,
}

impl KeyArg {
    fn api(self) -> &'static str {
        match self {
            KeyArg::RoomSensor => "room_sensor",
            KeyArg::Room => "room",
            KeyArg::Device => "device",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WindowArg {
    Tumbling,
    Sliding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns under a `Batch: N` header.
    Table,
    /// One JSON object per batch and line: `{"batch": N, "rows": [...]}`.
    Json,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    /// What to follow.
    #[arg(value_enum)]
    pub what: Tailed,
    /// The daemon's web address. Default: http://<web.host>:<web.port> from
    /// the config (127.0.0.1 when it listens on every address).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Windows keyed by (tail windows).
    #[arg(long, value_enum, default_value = "room-sensor")]
    pub key: KeyArg,
    /// Window spec (tail windows).
    #[arg(long, value_enum, default_value = "tumbling")]
    pub window: WindowArg,
    /// Only this home.
    #[arg(long)]
    pub home: Option<String>,
    /// Only this room.
    #[arg(long)]
    pub room: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Stop after printing this many batches (default: until interrupted).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Print the current state as one batch and stop (same as --count 1).
    #[arg(long, conflicts_with = "count")]
    pub once: bool,
    /// Time between two polls of the daemon, e.g. 500ms or 2s.
    #[arg(long, default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("{text:?} is not a duration like 500ms or 2s: {e}"))?;
    if d < Duration::from_millis(50) {
        return Err(format!("{text:?} is shorter than 50ms"));
    }
    Ok(d)
}

/// The daemon's address from its config.
fn default_url(config: &Config) -> String {
    let host = match config.web.host.as_str() {
        "0.0.0.0" => "127.0.0.1".to_string(),
        "::" => "[::1]".to_string(),
        h if h.contains(':') => format!("[{h}]"),
        h => h.to_string(),
    };
    format!("http://{host}:{}", config.web.port.0)
}

/// Why tailing stopped.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad usage: exit 2.
    Usage(String),
    /// The daemon is unreachable or refused: exit 1.
    Runtime(String),
}

impl Failure {
    pub(crate) fn message(&self) -> &str {
        match self {
            Failure::Usage(m) | Failure::Runtime(m) => m,
        }
    }
}

pub fn tail(config: &Config, args: &TailArgs) -> ExitCode {
    let url = args.url.clone().unwrap_or_else(|| default_url(config));
    match run(&url, args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Runtime(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// The request for one poll.
fn request_url(base: &str, args: &TailArgs) -> Result<reqwest::Url, Failure> {
    let mut url = reqwest::Url::parse(base)
        .map_err(|e| Failure::Usage(format!("--url {base:?} is not a URL: {e}")))?;
    if url.scheme() != "http" {
        return Err(Failure::Usage(format!(
            "--url {base:?}: only http:// is supported (the daemon serves plain HTTP)"
        )));
    }
    let path = match args.what {
        Tailed::Windows => "/api/windows",
        Tailed::Alerts => "/api/alerts",
        Tailed::DeadLetters => "/api/dead-letters",
    };
    if args.what == Tailed::DeadLetters && (args.home.is_some() || args.room.is_some()) {
        return Err(Failure::Usage(
            "--home and --room filter windows and alerts; a refused record may name no room".into(),
        ));
    }
    url.set_path(&format!("{}{path}", url.path().trim_end_matches('/')));
    {
        let mut q = url.query_pairs_mut();
        q.clear();
        if args.what == Tailed::Windows {
            q.append_pair("current", "true");
            q.append_pair(
                "window",
                match args.window {
                    WindowArg::Tumbling => "tumbling",
                    WindowArg::Sliding => "sliding",
                },
            );
            q.append_pair("key", args.key.api());
        }
        if let Some(home) = &args.home {
            q.append_pair("home", home);
        }
        if let Some(room) = &args.room {
            q.append_pair("room", room);
        }
        q.append_pair("limit", &crate::web::live_api::MAX_LIMIT.to_string());
    }
    Ok(url)
}

fn run(base: &str, args: &TailArgs) -> Result<(), Failure> {
    let url = request_url(base, args)?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot create an HTTP client: {e}")))?;
    let limit = if args.once { Some(1) } else { args.count };
    let table = match args.what {
        Tailed::Windows => TableKind::windows(args.key),
        Tailed::Alerts => TableKind::alerts(),
        Tailed::DeadLetters => TableKind::dead_letters(),
    };
    let mut follower = Follower::new(table, args.format);
    let mut waiting_noted = false;
    let stdout = std::io::stdout();
    loop {
        let body = fetch(&client, &url)?;
        match follower.next(&body)? {
            Some(text) => {
                let mut out = stdout.lock();
                // A closed pipe (`| head`) ends tailing quietly.
                if out
                    .write_all(text.as_bytes())
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    return Ok(());
                }
                if limit.is_some_and(|n| follower.batches() >= n) {
                    return Ok(());
                }
            }
            None if follower.batches() == 0 && !waiting_noted => {
                eprintln!("waiting for the stream's first results from {base} ...");
                waiting_noted = true;
            }
            None => {}
        }
        std::thread::sleep(args.interval);
    }
}

/// Turns successive answers of the API (or the same shape built in the
/// daemon, see `run --console`) into batches: the rows that changed since
/// the previous answer, formatted.
pub(crate) struct Follower {
    table: TableKind,
    format: Format,
    /// Row identity → what it showed last.
    seen: HashMap<String, String>,
    /// The windows API's batch count at the last comparison.
    updates: Option<u64>,
    batch: u64,
}

impl Follower {
    pub(crate) fn new(table: TableKind, format: Format) -> Follower {
        Follower {
            table,
            format,
            seen: HashMap::new(),
            updates: None,
            batch: 0,
        }
    }

    /// Batches printed so far.
    pub(crate) fn batches(&self) -> u64 {
        self.batch
    }

    /// The next batch's text, when rows changed since the last one.
    pub(crate) fn next(&mut self, body: &Value) -> Result<Option<String>, Failure> {
        let moved = body.get("updates").and_then(Value::as_u64);
        // The stream emitted nothing since the last comparison.
        if moved.is_some() && moved == self.updates && self.batch > 0 {
            return Ok(None);
        }
        self.updates = moved;
        let rows = self.table.rows(body)?;
        let changed: Vec<&Row> = rows
            .iter()
            .filter(|r| self.seen.get(&r.key) != Some(&r.fingerprint))
            .collect();
        if changed.is_empty() {
            return Ok(None);
        }
        let text = match self.format {
            Format::Table => self.table.render(self.batch, &changed),
            Format::Json => json_batch(self.batch, &changed),
        };
        self.batch += 1;
        // Only what the daemon still shows: a long tail of dead letters or
        // alerts must not grow this map without end.
        self.seen = rows.into_iter().map(|r| (r.key, r.fingerprint)).collect();
        Ok(Some(text))
    }
}

fn fetch(client: &reqwest::blocking::Client, url: &reqwest::Url) -> Result<Value, Failure> {
    let response = client
        .get(url.clone())
        .send()
        .map_err(|e| Failure::Runtime(format!("cannot reach the daemon at {url}: {e}")))?;
    let status = response.status();
    let body: Value = response.json().map_err(|e| {
        Failure::Runtime(format!(
            "{url} answered {status} with a body that is not JSON: {e}"
        ))
    })?;
    if status.is_success() {
        return Ok(body);
    }
    let error = body
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("no reason given");
    let message = match body.get("field").and_then(Value::as_str) {
        Some(field) => format!("the daemon refused {field}: {error}"),
        None => format!("the daemon answered {status}: {error}"),
    };
    if status.is_client_error() {
        Err(Failure::Usage(message))
    } else {
        Err(Failure::Runtime(message))
    }
}

/// One printed row: its identity, what makes a change, its cells.
#[derive(Debug)]
struct Row {
    key: String,
    fingerprint: String,
    cells: Vec<String>,
    json: Value,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Align {
    Left,
    Right,
}

/// The columns of one kind of table and how rows are read from the API.
pub(crate) struct TableKind {
    columns: Vec<(&'static str, Align)>,
    list: &'static str,
    row: fn(&Value) -> Option<Row>,
}

fn text(v: &Value, name: &str) -> String {
    match v.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "—".into(),
        Some(other) => other.to_string(),
    }
}

fn number(v: &Value, name: &str) -> String {
    v.get(name)
        .and_then(Value::as_f64)
        .map_or("—".into(), |x| format!("{x:.2}"))
}

/// Event time (ms) as `2026-11-29 23:47:00`.
fn time(v: &Value, name: &str) -> String {
    v.get(name)
        .and_then(Value::as_i64)
        .and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis)
        .map_or("—".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

impl TableKind {
    pub(crate) fn windows(key: KeyArg) -> TableKind {
        use Align::*;
        let columns = match key {
            KeyArg::RoomSensor => vec![("home", Left), ("room", Left), ("sensor", Left)],
            KeyArg::Room => vec![("home", Left), ("room", Left), ("channel", Left)],
            KeyArg::Device => vec![
                ("device", Left),
                ("home", Left),
                ("room", Left),
                ("channel", Left),
            ],
        };
        let row: fn(&Value) -> Option<Row> = match key {
            KeyArg::Device => |w| window_row(w, true),
            _ => |w| window_row(w, false),
        };
        let mut columns = columns;
        columns.extend([
            ("window_start", Left),
            ("window_end", Left),
            ("state", Left),
            ("count", Right),
            ("avg", Right),
            ("min", Right),
            ("max", Right),
        ]);
        TableKind {
            columns,
            list: "windows",
            row,
        }
    }

    pub(crate) fn alerts() -> TableKind {
        use Align::*;
        TableKind {
            columns: vec![
                ("state", Left),
                ("severity", Left),
                ("home", Left),
                ("room", Left),
                ("rule", Left),
                ("kind", Left),
                ("repeats", Right),
                ("raised", Left),
                ("resolved", Left),
            ],
            list: "alerts",
            row: alert_row,
        }
    }

    pub(crate) fn dead_letters() -> TableKind {
        use Align::*;
        TableKind {
            columns: vec![
                ("seen", Left),
                ("reason", Left),
                ("topic", Left),
                ("partition", Right),
                ("offset", Right),
                ("bytes", Right),
                ("detail", Left),
            ],
            list: "dead_letters",
            row: dead_letter_row,
        }
    }

    /// The API answer's rows, sorted by their identity.
    fn rows(&self, body: &Value) -> Result<Vec<Row>, Failure> {
        let list = body
            .get(self.list)
            .and_then(Value::as_array)
            .ok_or_else(|| {
                Failure::Runtime(format!(
                    "the daemon's answer has no `{}` list; is the URL a smokewatch daemon?",
                    self.list
                ))
            })?;
        let mut rows: Vec<Row> = list.iter().filter_map(self.row).collect();
        rows.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(rows)
    }

    /// Spark's console sink layout: a `Batch: N` banner, then the table.
    fn render(&self, batch: u64, rows: &[&Row]) -> String {
        let mut widths: Vec<usize> = self.columns.iter().map(|(name, _)| name.len()).collect();
        for r in rows {
            for (w, cell) in widths.iter_mut().zip(&r.cells) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let rule = {
            let mut s = String::from("+");
            for w in &widths {
                s.push_str(&"-".repeat(*w));
                s.push('+');
            }
            s
        };
        let line = |cells: &mut dyn Iterator<Item = (&str, Align)>| {
            let mut s = String::from("|");
            for ((cell, align), w) in cells.zip(&widths) {
                let pad = w.saturating_sub(cell.chars().count());
                match align {
                    Align::Left => s.push_str(&format!("{cell}{}|", " ".repeat(pad))),
                    Align::Right => s.push_str(&format!("{}{cell}|", " ".repeat(pad))),
                }
            }
            s
        };
        let banner = "-".repeat(43);
        let mut out = format!("{banner}\nBatch: {batch}\n{banner}\n{rule}\n");
        out.push_str(&line(
            &mut self.columns.iter().map(|(name, align)| (*name, *align)),
        ));
        out.push('\n');
        out.push_str(&rule);
        out.push('\n');
        for r in rows {
            out.push_str(&line(
                &mut r
                    .cells
                    .iter()
                    .map(String::as_str)
                    .zip(self.columns.iter().map(|(_, a)| *a)),
            ));
            out.push('\n');
        }
        out.push_str(&rule);
        out.push_str("\n\n");
        out
    }
}

fn window_row(w: &Value, with_device: bool) -> Option<Row> {
    let start = w.get("start")?.as_i64()?;
    let mut cells = Vec::with_capacity(11);
    if with_device {
        cells.push(text(w, "device"));
    }
    cells.extend([text(w, "home"), text(w, "room"), text(w, "measure")]);
    let state = if w.get("is_final").and_then(Value::as_bool) == Some(true) {
        "closed"
    } else {
        "open"
    };
    cells.extend([
        time(w, "start"),
        time(w, "end"),
        state.to_string(),
        text(w, "count"),
        number(w, "avg"),
        number(w, "min"),
        number(w, "max"),
    ]);
    // Identity: the series and the window's start, sortable by both.
    let key = format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{start:020}",
        text(w, "home"),
        text(w, "room"),
        text(w, "device"),
        text(w, "measure"),
    );
    Some(Row {
        key,
        fingerprint: cells[cells.len() - 5..].join("|"),
        cells,
        json: w.clone(),
    })
}

fn alert_row(a: &Value) -> Option<Row> {
    let id = a.get("id")?.as_str()?.to_string();
    let cells = vec![
        text(a, "state"),
        text(a, "severity"),
        text(a, "home"),
        text(a, "room"),
        text(a, "rule"),
        text(a, "kind"),
        text(a, "repeats"),
        time(a, "event_time"),
        time(a, "resolved_time"),
    ];
    let fingerprint = format!(
        "{}|{}|{}|{}",
        cells[0],
        cells[1],
        cells[6],
        text(a, "last_event_time")
    );
    Some(Row {
        // Oldest first within a batch, then by id.
        key: format!("{}\u{1f}{id}", time(a, "event_time")),
        fingerprint,
        cells,
        json: a.clone(),
    })
}

/// Longest `detail` shown in a table cell (the JSON format has it whole).
const DETAIL_CELL_CHARS: usize = 60;

fn dead_letter_row(d: &Value) -> Option<Row> {
    let seq = d.get("seq")?.as_u64()?;
    let mut detail = text(d, "detail");
    if let Some((cut, _)) = detail.char_indices().nth(DETAIL_CELL_CHARS) {
        detail.truncate(cut);
        detail.push('…');
    }
    Some(Row {
        // Oldest first; a note never changes once recorded.
        key: format!("{seq:020}"),
        fingerprint: String::new(),
        cells: vec![
            time(d, "seen_ms"),
            text(d, "reason"),
            text(d, "topic"),
            text(d, "partition"),
            text(d, "offset"),
            text(d, "payload_bytes"),
            detail,
        ],
        json: d.clone(),
    })
}

fn json_batch(batch: u64, rows: &[&Row]) -> String {
    let rows: Vec<&Value> = rows.iter().map(|r| &r.json).collect();
    format!("{}\n", serde_json::json!({"batch": batch, "rows": rows}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn window(start: i64, count: u64, avg: f64, is_final: bool) -> Value {
        json!({"window": "tumbling", "key_kind": "room_sensor", "device": null,
               "home": "h1", "room": "kitchen", "measure": "temperature",
               "start": start, "end": start + 60_000, "count": count,
               "avg": avg, "min": 19.5, "max": 21.25, "stddev": 0.1, "last": 20.0,
               "is_final": is_final})
    }

    #[test]
    fn a_batch_is_an_aligned_table_under_its_number() {
        let table = TableKind::windows(KeyArg::RoomSensor);
        let rows = table
            .rows(&json!({"updates": 3, "windows": [window(0, 12, 20.126, false)]}))
            .unwrap();
        let text = table.render(7, &rows.iter().collect::<Vec<_>>());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "Batch: 7");
        assert_eq!(
            lines[4],
            "|home|room   |sensor     |window_start       |window_end         |state|count|  avg|  min|  max|"
        );
        assert_eq!(
            lines[6],
            "|h1  |kitchen|temperature|1970-01-01 00:00:00|1970-01-01 00:01:00|open |   12|20.13|19.50|21.25|"
        );
        // Every table line has the same width.
        assert!(lines[3..8].iter().all(|l| l.len() == lines[3].len()));
    }

    #[test]
    fn a_row_changes_when_its_window_updates_or_closes() {
        let a = window_row(&window(0, 12, 20.0, false), false).unwrap();
        let b = window_row(&window(0, 13, 20.0, false), false).unwrap();
        let c = window_row(&window(0, 13, 20.0, true), false).unwrap();
        let d = window_row(&window(60_000, 1, 20.0, false), false).unwrap();
        assert_eq!(a.key, b.key);
        assert_ne!(a.fingerprint, b.fingerprint);
        assert_ne!(b.fingerprint, c.fingerprint);
        assert_ne!(a.key, d.key);
    }

    #[test]
    fn the_request_carries_the_filters_and_refuses_other_schemes() {
        let args = TailArgs {
            what: Tailed::Windows,
            url: None,
            key: KeyArg::Device,
            window: WindowArg::Sliding,
            home: Some("h 1".into()),
            room: None,
            format: Format::Table,
            count: None,
            once: false,
            interval: Duration::from_secs(1),
        };
        let url = request_url("http://127.0.0.1:8080/", &args).unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/api/windows?current=true&window=sliding&key=device&home=h+1&limit=5000"
        );
        match request_url("https://example.org", &args) {
            Err(Failure::Usage(m)) => assert!(m.contains("only http://"), "{m}"),
            other => panic!("{other:?}"),
        }
        match request_url("not a url", &args) {
            Err(Failure::Usage(m)) => assert!(m.contains("--url \"not a url\""), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
