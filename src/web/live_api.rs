//! `GET /api/alerts`, `GET /api/windows` and `GET /api/dead-letters`: the
//! stream's recent alerts, window results and refused records, from its
//! live views ([`crate::stream::sinks::LiveViews`]),
//! filtered by query parameters. `GET /api/windows?current=true` gives
//! instead each series' current windows (what the Windows page and
//! `smokewatch tail windows` show). An unknown parameter or a bad value is a
//! 400 naming it (`field: "query.severity"`), so a typo never silently
//! returns everything.

use super::App;
use super::errors::ApiError;
use crate::stream::sinks::{
    Alert, AlertKind, AlertState, DeadLetterNote, Measure, RuleSummary, WindowName, WindowResult,
};
use crate::stream::{KeyKind, Severity};
use crate::transport::TopicKind;
use serde::Serialize;
use serde::de::DeserializeOwned;
use warp::Reply;
use warp::reply::Response;

/// Results returned when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 200;
/// Largest `limit` accepted.
pub const MAX_LIMIT: usize = 5000;

/// The query string as name/value pairs, in order.
pub type Query = Vec<(String, String)>;

fn bad(name: &str, detail: impl Into<String>) -> ApiError {
    ApiError::BadQuery {
        field: format!("query.{name}"),
        detail: detail.into(),
    }
}

/// Parses a value with the type's own serde names (`critical`, `room`, …).
fn parse_named<T: DeserializeOwned>(name: &str, value: &str, allowed: &str) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(value.to_string()))
        .map_err(|_| bad(name, format!("{name}={value:?} is not one of {allowed}")))
}

fn parse_limit(value: &str) -> Result<usize, ApiError> {
    match value.parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(bad(
            "limit",
            format!("limit={value:?} is not a whole number from 1 to {MAX_LIMIT}"),
        )),
    }
}

fn parse_bool(name: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(name, format!("{name}={value:?} is not true or false"))),
    }
}

fn stream_off(what: &str) -> ApiError {
    ApiError::Unavailable(format!(
        "the stream is switched off (stream.enabled: false), so there are no {what}"
    ))
}

/// What `GET /api/alerts` keeps.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AlertFilter {
    /// `state=`: only open or only resolved alerts; `None` keeps both.
    pub state: Option<AlertState>,
    /// `severity=`: only alerts of exactly this severity; `None` keeps all.
    pub severity: Option<Severity>,
    /// `kind=`: only alerts of this detector kind (`threshold`, `spike`, `rule`, `ml`, `fault`).
    pub kind: Option<AlertKind>,
    /// `home=`: only alerts in this home (exact id).
    pub home: Option<String>,
    /// `room=`: only alerts in a room with this id (in any home unless `home` is set).
    pub room: Option<String>,
    /// `rule=`: only alerts of this rule name, e.g. `threshold:pm2_5`.
    pub rule: Option<String>,
    /// `limit=`: most alerts returned, 1 to [`MAX_LIMIT`]; `None` means [`DEFAULT_LIMIT`].
    pub limit: Option<usize>,
}

impl AlertFilter {
    /// Reads the query; refuses unknown parameters and bad values.
    pub fn parse(query: &Query) -> Result<AlertFilter, ApiError> {
        let mut f = AlertFilter::default();
        for (name, value) in query {
            match name.as_str() {
                "state" => f.state = Some(parse_named(name, value, "open, resolved")?),
                "severity" => {
                    f.severity = Some(parse_named(name, value, "low, medium, high, critical")?)
                }
                "kind" => {
                    f.kind = Some(parse_named(
                        name,
                        value,
                        "threshold, spike, rule, ml, fault",
                    )?)
                }
                "home" => f.home = Some(value.clone()),
                "room" => f.room = Some(value.clone()),
                "rule" => f.rule = Some(value.clone()),
                "limit" => f.limit = Some(parse_limit(value)?),
                other => {
                    return Err(bad(
                        other,
                        format!(
                            "unknown parameter `{other}`; filters are state, severity, kind, home, room, rule, limit"
                        ),
                    ));
                }
            }
        }
        Ok(f)
    }

    pub fn keeps(&self, a: &Alert) -> bool {
        self.state.is_none_or(|s| a.state == s)
            && self.severity.is_none_or(|s| a.severity == s)
            && self.kind.is_none_or(|k| a.kind == k)
            && self.home.as_deref().is_none_or(|h| a.home.as_str() == h)
            && self.room.as_deref().is_none_or(|r| a.room.as_str() == r)
            && self.rule.as_deref().is_none_or(|r| a.rule == r)
    }
}

#[derive(Serialize)]
struct AlertsOut {
    /// Alerts matching the filter (before `limit`).
    matched: usize,
    /// Open alerts in the live view, whatever the filter.
    open_total: usize,
    /// How many alerts the live view keeps (`sinks.ring_capacity`).
    kept_at_most: usize,
    /// Per rule, whatever the filter: open now, opened today (UTC) and
    /// since the daemon started.
    rules: Vec<RuleSummary>,
    alerts: Vec<Alert>,
}

/// `GET /api/alerts`: most recently changed first.
pub fn alerts(query: Query, app: App) -> Response {
    let filter = match AlertFilter::parse(&query) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    if !app.deps.sections.stream_enabled {
        return stream_off("alerts").into_response();
    }
    let all = app.deps.live.recent_alerts();
    let open_total = all.iter().filter(|a| a.state == AlertState::Open).count();
    let matched: Vec<Alert> = all.into_iter().filter(|a| filter.keeps(a)).collect();
    let out = AlertsOut {
        matched: matched.len(),
        open_total,
        kept_at_most: app.deps.sections.ring_capacity,
        rules: app.deps.live.alert_summary(),
        alerts: matched
            .into_iter()
            .take(filter.limit.unwrap_or(DEFAULT_LIMIT))
            .collect(),
    };
    warp::reply::json(&out).into_response()
}

/// What `GET /api/dead-letters` keeps.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DeadLetterFilter {
    /// `reason=`: only this reason, e.g. `malformed_json` or `late`.
    pub reason: Option<String>,
    /// `topic=`: only records refused from this topic kind.
    pub topic: Option<TopicKind>,
    /// `limit=`: most notes returned, 1 to [`MAX_LIMIT`]; `None` means [`DEFAULT_LIMIT`].
    pub limit: Option<usize>,
}

impl DeadLetterFilter {
    /// Reads the query; refuses unknown parameters and bad values.
    pub fn parse(query: &Query) -> Result<DeadLetterFilter, ApiError> {
        let mut f = DeadLetterFilter::default();
        for (name, value) in query {
            match name.as_str() {
                "reason" => f.reason = Some(value.clone()),
                "topic" => f.topic = Some(parse_named(name, value, "readings, room_events")?),
                "limit" => f.limit = Some(parse_limit(value)?),
                other => {
                    return Err(bad(
                        other,
                        format!("unknown parameter `{other}`; filters are reason, topic, limit"),
                    ));
                }
            }
        }
        Ok(f)
    }

    pub fn keeps(&self, d: &DeadLetterNote) -> bool {
        self.reason.as_deref().is_none_or(|r| d.reason == r)
            && self.topic.is_none_or(|t| d.topic == t)
    }
}

#[derive(Serialize)]
struct DeadLettersOut {
    /// Notes matching the filter (before `limit`).
    matched: usize,
    /// Dead letters recorded since the daemon started, whatever the filter:
    /// a poller sees from it whether new ones arrived.
    updates: u64,
    /// How many notes the live view keeps (`sinks.ring_capacity`).
    kept_at_most: usize,
    dead_letters: Vec<DeadLetterNote>,
}

/// `GET /api/dead-letters`: the stream's recently refused records, newest
/// first, without payloads (those are in the dead-letter files and topic).
pub fn dead_letters(query: Query, app: App) -> Response {
    let filter = match DeadLetterFilter::parse(&query) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    if !app.deps.sections.stream_enabled {
        return stream_off("dead letters").into_response();
    }
    let (all, updates) = app.deps.live.recent_dead_letters();
    let matched: Vec<DeadLetterNote> = all.into_iter().filter(|d| filter.keeps(d)).collect();
    let out = DeadLettersOut {
        matched: matched.len(),
        updates,
        kept_at_most: app.deps.sections.ring_capacity,
        dead_letters: matched
            .into_iter()
            .take(filter.limit.unwrap_or(DEFAULT_LIMIT))
            .collect(),
    };
    warp::reply::json(&out).into_response()
}

/// What `GET /api/windows` keeps.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct WindowFilter {
    /// `window=`: only tumbling or only sliding results; `None` keeps both.
    pub window: Option<WindowName>,
    /// `key=`: only results keyed by device, room or room sensor.
    pub key: Option<KeyKind>,
    /// `measure=`: only this channel key or room sensor kind, e.g. `pm2_5` or `light`.
    pub measure: Option<Measure>,
    /// `home=`: only results in this home (exact id).
    pub home: Option<String>,
    /// `room=`: only results of a room with this id (in any home unless `home` is set).
    pub room: Option<String>,
    /// `device=`: only device-keyed results of this detector.
    pub device: Option<String>,
    /// `final=`: only closed (`true`) or only intermediate (`false`) results.
    pub is_final: Option<bool>,
    /// Each series' newest and last closed window instead of the most
    /// recent results.
    pub current: bool,
    /// `limit=`: most results returned, 1 to [`MAX_LIMIT`]; `None` means [`DEFAULT_LIMIT`].
    pub limit: Option<usize>,
}

impl WindowFilter {
    pub fn parse(query: &Query) -> Result<WindowFilter, ApiError> {
        let mut f = WindowFilter::default();
        for (name, value) in query {
            match name.as_str() {
                "window" => f.window = Some(parse_named(name, value, "tumbling, sliding")?),
                "key" => f.key = Some(parse_named(name, value, "device, room, room_sensor")?),
                "measure" => {
                    f.measure = Some(parse_named(
                        name,
                        value,
                        "a channel key (see /api/sensors/schema) or a room sensor kind",
                    )?)
                }
                "home" => f.home = Some(value.clone()),
                "room" => f.room = Some(value.clone()),
                "device" => f.device = Some(value.clone()),
                "final" => f.is_final = Some(parse_bool(name, value)?),
                "current" => f.current = parse_bool(name, value)?,
                "limit" => f.limit = Some(parse_limit(value)?),
                other => {
                    return Err(bad(
                        other,
                        format!(
                            "unknown parameter `{other}`; filters are window, key, measure, home, room, device, final, current, limit"
                        ),
                    ));
                }
            }
        }
        Ok(f)
    }

    pub fn keeps(&self, w: &WindowResult) -> bool {
        self.window.is_none_or(|x| w.window == x)
            && self.key.is_none_or(|k| w.key_kind == k)
            && self.measure.is_none_or(|m| w.measure == m)
            && self.home.as_deref().is_none_or(|h| w.home.as_str() == h)
            && self.room.as_deref().is_none_or(|r| w.room.as_str() == r)
            && self
                .device
                .as_deref()
                .is_none_or(|d| w.device.as_ref().is_some_and(|x| x.as_str() == d))
            && self.is_final.is_none_or(|f| w.is_final == f)
    }
}

#[derive(Serialize)]
struct WindowsOut {
    matched: usize,
    kept_at_most: usize,
    /// Batches of window results the stream emitted since start: a poller
    /// sees a new trigger when it moves.
    updates: u64,
    windows: Vec<WindowResult>,
}

/// `GET /api/windows`: newest first; with `current=true`, each series'
/// current windows, by window spec, key, home, room, device and measure.
pub fn windows(query: Query, app: App) -> Response {
    let filter = match WindowFilter::parse(&query) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    if !app.deps.sections.stream_enabled {
        return stream_off("window results").into_response();
    }
    let live = &app.deps.live;
    // Read before the windows: a poller that saw this count has seen at
    // least the windows of that many batches.
    let updates = live.window_updates();
    let windows = if filter.current {
        live.current_windows()
    } else {
        live.recent_windows()
    };
    let matched: Vec<WindowResult> = windows.into_iter().filter(|w| filter.keeps(w)).collect();
    let out = WindowsOut {
        matched: matched.len(),
        kept_at_most: app.deps.sections.ring_capacity,
        updates,
        windows: matched
            .into_iter()
            .take(filter.limit.unwrap_or(DEFAULT_LIMIT))
            .collect(),
    };
    warp::reply::json(&out).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Query {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn filters_parse_and_refuse_precisely() {
        let f = AlertFilter::parse(&q(&[("severity", "critical"), ("state", "open")])).unwrap();
        assert_eq!(f.severity, Some(Severity::Critical));
        assert_eq!(f.state, Some(AlertState::Open));
        let e = AlertFilter::parse(&q(&[("severity", "huge")])).unwrap_err();
        assert_eq!(e.field(), Some("query.severity"));
        assert!(e.to_string().contains("\"huge\""), "{e}");
        let e = AlertFilter::parse(&q(&[("sevrity", "low")])).unwrap_err();
        assert_eq!(e.field(), Some("query.sevrity"));
        let e = WindowFilter::parse(&q(&[("limit", "0")])).unwrap_err();
        assert_eq!(e.field(), Some("query.limit"));
        let w = WindowFilter::parse(&q(&[("measure", "pm2_5"), ("key", "room")])).unwrap();
        assert_eq!(
            w.measure,
            Some(Measure::Channel(crate::schema::Channel::Pm2_5))
        );
        assert_eq!(w.key, Some(KeyKind::Room));
        assert!(!w.current);
        let w = WindowFilter::parse(&q(&[("current", "true")])).unwrap();
        assert!(w.current);
        let e = WindowFilter::parse(&q(&[("current", "yes")])).unwrap_err();
        assert_eq!(e.field(), Some("query.current"));
    }
}
