//! In-memory views of the stream's latest results for the web UI: recent
//! alerts (with open/resolved state), recent window results, the current
//! windows of every series, the latest state of every room and the recent
//! dead letters. Bounded; readers take a short read lock and copy what they
//! show.

use super::{
    Alert, AlertChange, AlertEvent, AlertState, DeadLetter, Measure, WindowName, WindowResult,
};
use crate::schema::{DeviceId, EventTime, HomeId, RoomId, RoomSensorKind};
use crate::stream::config::KeyKind;
use crate::transport::TopicKind;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock};
use uuid::Uuid;

/// The latest known state of one room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomState {
    pub home: HomeId,
    pub room: RoomId,
    /// Light on (room sensor).
    pub light: Option<bool>,
    /// Somebody present (room sensor).
    pub presence: Option<bool>,
    pub temperature: Option<f64>,
    pub humidity: Option<f64>,
    /// Latest PM2.5 of the room's smoke detector(s): the smoke level.
    pub smoke_pm2_5: Option<f64>,
    /// Latest ML fire probability of the room's detector(s).
    pub fire_probability: Option<f64>,
    /// Event time of the latest room event per sensor kind (older events
    /// do not overwrite newer state).
    pub sensor_times: BTreeMap<RoomSensorKind, EventTime>,
    /// Latest event time of anything in the room.
    pub updated: Option<EventTime>,
}

impl RoomState {
    pub fn new(home: HomeId, room: RoomId) -> Self {
        Self {
            home,
            room,
            light: None,
            presence: None,
            temperature: None,
            humidity: None,
            smoke_pm2_5: None,
            fire_probability: None,
            sensor_times: BTreeMap::new(),
            updated: None,
        }
    }

    /// The latest value of a room sensor (light/presence as 1/0).
    pub fn sensor(&self, kind: RoomSensorKind) -> Option<f64> {
        let flag = |b: Option<bool>| b.map(|b| if b { 1.0 } else { 0.0 });
        match kind {
            RoomSensorKind::Light => flag(self.light),
            RoomSensorKind::Presence => flag(self.presence),
            RoomSensorKind::Temperature => self.temperature,
            RoomSensorKind::Humidity => self.humidity,
        }
    }

    /// Applies a room event unless a newer one of the same kind was seen.
    pub fn apply(&mut self, kind: RoomSensorKind, value: f64, time: EventTime) -> bool {
        if self.sensor_times.get(&kind).is_some_and(|t| *t > time) {
            return false;
        }
        self.sensor_times.insert(kind, time);
        match kind {
            RoomSensorKind::Light => self.light = Some(value >= 0.5),
            RoomSensorKind::Presence => self.presence = Some(value >= 0.5),
            RoomSensorKind::Temperature => self.temperature = Some(value),
            RoomSensorKind::Humidity => self.humidity = Some(value),
        }
        self.touch(time);
        true
    }

    pub fn touch(&mut self, time: EventTime) {
        self.updated = Some(self.updated.map_or(time, |u| u.max(time)));
    }
}

/// Recent alerts: the latest state of each, newest first.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AlertBoard {
    capacity: usize,
    /// Alert ids, newest change first.
    order: VecDeque<Uuid>,
    alerts: BTreeMap<Uuid, Alert>,
    /// Alerts opened per rule since the daemon started, and on the current
    /// UTC day: counted as they open, so the ring's evictions do not lose
    /// them.
    opened: BTreeMap<String, OpenedCounts>,
    /// Alerts judged against ground truth per rule (where a judge runs:
    /// the daemon's simulator knows what really happened).
    verdicts: BTreeMap<String, Verdicts>,
}

/// How one rule's alerts fared against ground truth.
#[derive(Debug, Clone, Copy, Default, Serialize)]
struct Verdicts {
    judged: u64,
    false_alerts: u64,
}

/// How many alerts one rule opened.
#[derive(Debug, Clone, Default, Serialize)]
struct OpenedCounts {
    since_start: u64,
    /// UTC day (days since the epoch, wall clock) `today` counts.
    day: i64,
    today: u64,
}

/// One rule's line of the alert summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleSummary {
    pub rule: String,
    /// Alerts of the rule open now.
    pub open: u64,
    /// Alerts the rule opened today (UTC, wall clock) while the daemon ran.
    pub opened_today: u64,
    /// Alerts the rule opened since the daemon started.
    pub opened_since_start: u64,
    /// Alerts of the rule judged against ground truth since the daemon
    /// started (0 where none is known: no simulator).
    pub judged: u64,
    /// Of those, alerts no incident explains.
    pub false_alerts: u64,
    /// `false_alerts / judged`; `None` before the first verdict.
    pub false_positive_rate: Option<f64>,
}

/// Days since the epoch of a wall-clock time in ms.
fn utc_day(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

impl AlertBoard {
    fn count_opened(&mut self, rule: &str, now_ms: i64) {
        let day = utc_day(now_ms);
        let counts = self.opened.entry(rule.to_string()).or_default();
        if counts.day != day {
            counts.day = day;
            counts.today = 0;
        }
        counts.since_start += 1;
        counts.today += 1;
    }

    /// Per rule: open now, opened today and since start; rules in name order.
    fn summary(&self, now_ms: i64) -> Vec<RuleSummary> {
        let mut open: BTreeMap<&str, u64> = BTreeMap::new();
        for a in self.alerts.values().filter(|a| a.state == AlertState::Open) {
            *open.entry(a.rule.as_str()).or_default() += 1;
        }
        let mut rules: Vec<&str> = open.keys().copied().collect();
        rules.extend(self.opened.keys().map(String::as_str));
        rules.extend(self.verdicts.keys().map(String::as_str));
        rules.sort_unstable();
        rules.dedup();
        let day = utc_day(now_ms);
        rules
            .into_iter()
            .map(|rule| {
                let counts = self.opened.get(rule);
                let verdicts = self.verdicts.get(rule).copied().unwrap_or_default();
                RuleSummary {
                    rule: rule.to_string(),
                    open: open.get(rule).copied().unwrap_or(0),
                    opened_today: counts.filter(|c| c.day == day).map_or(0, |c| c.today),
                    opened_since_start: counts.map_or(0, |c| c.since_start),
                    judged: verdicts.judged,
                    false_alerts: verdicts.false_alerts,
                    false_positive_rate: (verdicts.judged > 0)
                        .then(|| verdicts.false_alerts as f64 / verdicts.judged as f64),
                }
            })
            .collect()
    }

    fn apply(&mut self, event: &AlertEvent) {
        let id = event.alert.id;
        if self.alerts.insert(id, event.alert.clone()).is_some() {
            self.order.retain(|x| *x != id);
        }
        self.order.push_front(id);
        while self.order.len() > self.capacity {
            // Evict the oldest resolved alert first; open ones stay visible.
            let victim = self
                .order
                .iter()
                .rposition(|x| {
                    self.alerts
                        .get(x)
                        .is_some_and(|a| a.state == AlertState::Resolved)
                })
                .unwrap_or(self.order.len() - 1);
            if let Some(x) = self.order.remove(victim) {
                self.alerts.remove(&x);
            }
        }
    }

    /// Alerts, most recently changed first.
    pub fn recent(&self) -> Vec<Alert> {
        self.order
            .iter()
            .filter_map(|id| self.alerts.get(id).cloned())
            .collect()
    }

    pub fn open(&self) -> Vec<Alert> {
        self.recent()
            .into_iter()
            .filter(|a| a.state == AlertState::Open)
            .collect()
    }
}

/// One series of windows: a window spec, what it is keyed by and a measure
/// (e.g. tumbling, room `h1/kitchen`, `temperature`).
type SeriesKey = (
    WindowName,
    KeyKind,
    HomeId,
    RoomId,
    Option<DeviceId>,
    Measure,
);

/// Series the current-windows view keeps at most. Far more than a fleet's
/// devices × channels plus rooms × measures; past it, the series whose
/// newest window is oldest (a device gone quiet) is forgotten, so devices
/// that come and go cannot grow it without bound.
pub const MAX_SERIES: usize = 20_000;

/// The windows of one series a user watches: the newest (open and updating
/// in update mode, or just closed) and the last one closed.
#[derive(Debug, Clone)]
struct SeriesWindows {
    newest: WindowResult,
    last_closed: Option<WindowResult>,
}

impl SeriesWindows {
    fn apply(&mut self, r: &WindowResult) {
        // Emissions of one window arrive in order, its final one last; an
        // older window's late final emission must not replace a newer one.
        if r.start >= self.newest.start {
            self.newest = r.clone();
        }
        if r.is_final && self.last_closed.as_ref().is_none_or(|c| r.start >= c.start) {
            self.last_closed = Some(r.clone());
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    alerts: AlertBoard,
    windows: VecDeque<WindowResult>,
    window_capacity: usize,
    /// The ring above mixes every series and is soon filled by the busiest
    /// (device windows): the Windows page and `smokewatch tail windows`
    /// need each series' current window whatever the others emit.
    series: BTreeMap<SeriesKey, SeriesWindows>,
    /// Batches of window results recorded so far: a client polling the
    /// current windows sees from it whether a trigger emitted since.
    window_updates: u64,
    rooms: BTreeMap<(HomeId, RoomId), RoomState>,
    /// Newest last; at most `window_capacity`.
    dead_letters: VecDeque<DeadLetterNote>,
    /// Dead letters recorded since start (the next note's `seq` is this + 1).
    dead_letters_seen: u64,
}

/// A refused record as the live view keeps it: why, and where the original
/// is. The payload itself stays in the dead-letter files and topic, so a
/// burst of large malformed records cannot grow the view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetterNote {
    /// Running number since the daemon started (1, 2, …): the note's identity.
    pub seq: u64,
    /// When the sinks saw it, ms since the epoch (wall clock: a refused
    /// record often has no usable event time).
    pub seen_ms: i64,
    pub reason: String,
    pub detail: String,
    pub topic: TopicKind,
    pub partition: i32,
    pub offset: i64,
    pub payload_bytes: u64,
    pub payload_sha256: String,
}

/// The web-facing views, shared by the stream (writer) and the web (reader).
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct LiveViews {
    inner: Arc<RwLock<Inner>>,
}

impl Default for LiveViews {
    fn default() -> Self {
        Self::new(1000)
    }
}

impl LiveViews {
    /// Rings that keep `capacity` alerts and `capacity` window results.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            inner: Arc::new(RwLock::new(Inner {
                alerts: AlertBoard {
                    capacity,
                    ..AlertBoard::default()
                },
                window_capacity: capacity,
                ..Inner::default()
            })),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record_alerts(&self, events: &[AlertEvent]) {
        if events.is_empty() {
            return;
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut inner = self.write();
        for e in events {
            if e.change == AlertChange::Opened {
                inner.alerts.count_opened(&e.alert.rule, now_ms);
            }
            inner.alerts.apply(e);
        }
    }

    /// Notes verdicts on alerts judged against ground truth: (rule,
    /// whether no incident explains the alert), one per alert.
    pub fn record_verdicts(&self, verdicts: &[(String, bool)]) {
        if verdicts.is_empty() {
            return;
        }
        let mut inner = self.write();
        for (rule, is_false) in verdicts {
            let v = inner.alerts.verdicts.entry(rule.clone()).or_default();
            v.judged += 1;
            v.false_alerts += u64::from(*is_false);
        }
    }

    /// Per rule: alerts open now, opened today (UTC) and since the daemon
    /// started, and how many were judged false against ground truth.
    /// Alerts restored open from a checkpoint count as open, not as
    /// opened.
    pub fn alert_summary(&self) -> Vec<RuleSummary> {
        self.read()
            .alerts
            .summary(chrono::Utc::now().timestamp_millis())
    }

    /// Notes dead letters (without their payloads), dropping the oldest
    /// beyond the capacity.
    pub fn record_dead_letters(&self, dead: &[DeadLetter]) {
        if dead.is_empty() {
            return;
        }
        let seen_ms = chrono::Utc::now().timestamp_millis();
        let mut inner = self.write();
        let capacity = inner.window_capacity;
        for d in dead {
            inner.dead_letters_seen += 1;
            let note = DeadLetterNote {
                seq: inner.dead_letters_seen,
                seen_ms,
                reason: d.reason.clone(),
                detail: d.detail.clone(),
                topic: d.topic,
                partition: d.partition,
                offset: d.offset,
                payload_bytes: d.payload_bytes,
                payload_sha256: d.payload_sha256.clone(),
            };
            if inner.dead_letters.len() >= capacity {
                inner.dead_letters.pop_front();
            }
            inner.dead_letters.push_back(note);
        }
    }

    /// Recent dead letters, newest first, and how many were recorded in all.
    pub fn recent_dead_letters(&self) -> (Vec<DeadLetterNote>, u64) {
        let inner = self.read();
        (
            inner.dead_letters.iter().rev().cloned().collect(),
            inner.dead_letters_seen,
        )
    }

    /// Puts open alerts back after a restart (from the checkpoint).
    pub fn restore_open_alerts<'a>(&self, alerts: impl IntoIterator<Item = &'a Alert>) {
        let mut inner = self.write();
        for alert in alerts {
            inner.alerts.apply(&AlertEvent {
                change: AlertChange::Opened,
                alert: alert.clone(),
            });
        }
    }

    pub fn record_windows(&self, results: &[WindowResult]) {
        if results.is_empty() {
            return;
        }
        let mut inner = self.write();
        let capacity = inner.window_capacity;
        let skip = results.len().saturating_sub(capacity);
        for r in &results[skip..] {
            inner.windows.push_front(r.clone());
        }
        inner.windows.truncate(capacity);
        for r in results {
            let key = (
                r.window,
                r.key_kind,
                r.home.clone(),
                r.room.clone(),
                r.device.clone(),
                r.measure,
            );
            match inner.series.get_mut(&key) {
                Some(series) => series.apply(r),
                None => {
                    inner.series.insert(
                        key,
                        SeriesWindows {
                            newest: r.clone(),
                            last_closed: r.is_final.then(|| r.clone()),
                        },
                    );
                }
            }
        }
        if inner.series.len() > MAX_SERIES {
            let mut by_age: Vec<(EventTime, SeriesKey)> = inner
                .series
                .iter()
                .map(|(k, s)| (s.newest.end, k.clone()))
                .collect();
            by_age.sort();
            let excess = inner.series.len() - MAX_SERIES;
            for (_, key) in by_age.into_iter().take(excess) {
                inner.series.remove(&key);
            }
        }
        inner.window_updates += 1;
    }

    pub fn update_rooms<'a>(&self, rooms: impl IntoIterator<Item = &'a RoomState>) {
        let mut inner = self.write();
        for r in rooms {
            inner
                .rooms
                .insert((r.home.clone(), r.room.clone()), r.clone());
        }
    }

    /// Alerts, most recently changed first (open and resolved).
    pub fn recent_alerts(&self) -> Vec<Alert> {
        self.read().alerts.recent()
    }

    /// Open alerts, most recently changed first.
    pub fn open_alerts(&self) -> Vec<Alert> {
        self.read().alerts.open()
    }

    /// Window results, newest first.
    pub fn recent_windows(&self) -> Vec<WindowResult> {
        self.read().windows.iter().cloned().collect()
    }

    /// The current windows of every series, ordered by window spec, key
    /// kind, home, room, device and measure: each series' newest window
    /// (its latest emission) and, when it is another one, the last closed.
    pub fn current_windows(&self) -> Vec<WindowResult> {
        let inner = self.read();
        let mut out = Vec::with_capacity(inner.series.len() * 2);
        for s in inner.series.values() {
            out.push(s.newest.clone());
            if let Some(closed) = &s.last_closed
                && closed.start != s.newest.start
            {
                out.push(closed.clone());
            }
        }
        out
    }

    /// How many batches of window results were recorded since start.
    pub fn window_updates(&self) -> u64 {
        self.read().window_updates
    }

    /// Latest state of every room, by (home, room).
    pub fn rooms(&self) -> Vec<RoomState> {
        self.read().rooms.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::config::Severity;
    use crate::stream::sinks::AlertKind;

    fn event(n: u128, change: AlertChange, state: AlertState) -> AlertEvent {
        AlertEvent {
            change,
            alert: Alert {
                id: Uuid::from_u128(n),
                device: None,
                home: "h".into(),
                room: "r".into(),
                rule: "x".into(),
                kind: AlertKind::Rule,
                severity: Severity::Low,
                state,
                values: BTreeMap::new(),
                event_time: EventTime(0),
                last_event_time: EventTime(0),
                resolved_time: None,
                detected_at_ms: 0,
                trigger_seq: 0,
                repeats: 1,
            },
        }
    }

    #[test]
    fn board_keeps_latest_state_and_evicts_resolved_first() {
        let views = LiveViews::new(2);
        views.record_alerts(&[
            event(1, AlertChange::Opened, AlertState::Open),
            event(2, AlertChange::Opened, AlertState::Open),
            event(2, AlertChange::Resolved, AlertState::Resolved),
            event(3, AlertChange::Opened, AlertState::Open),
        ]);
        let ids: Vec<u128> = views
            .recent_alerts()
            .iter()
            .map(|a| a.id.as_u128())
            .collect();
        assert_eq!(ids, vec![3, 1], "resolved 2 evicted before open 1");
        assert_eq!(views.open_alerts().len(), 2);
    }

    fn window(start: i64, count: u64, is_final: bool) -> WindowResult {
        WindowResult {
            window: WindowName::Tumbling,
            key_kind: KeyKind::RoomSensor,
            device: None,
            home: "h".into(),
            room: "r".into(),
            measure: Measure::Sensor(RoomSensorKind::Temperature),
            start: EventTime(start),
            end: EventTime(start + 60_000),
            count,
            avg: count as f64,
            min: 0.0,
            max: count as f64,
            stddev: 0.0,
            last: 0.0,
            is_final,
        }
    }

    #[test]
    fn current_windows_keep_each_series_newest_and_last_closed() {
        // A ring of 2 would have lost the first window's final emission.
        let views = LiveViews::new(2);
        assert_eq!(views.window_updates(), 0);
        views.record_windows(&[window(0, 3, false)]);
        views.record_windows(&[window(0, 5, true), window(60_000, 1, false)]);
        views.record_windows(&[window(60_000, 2, false)]);
        // A late final emission of an old window replaces nothing newer.
        views.record_windows(&[window(-60_000, 9, true)]);
        assert_eq!(views.window_updates(), 4);
        let current: Vec<(i64, u64, bool)> = views
            .current_windows()
            .iter()
            .map(|w| (w.start.0, w.count, w.is_final))
            .collect();
        assert_eq!(current, vec![(60_000, 2, false), (0, 5, true)]);
    }

    #[test]
    fn older_room_event_does_not_overwrite_newer_state() {
        let mut room = RoomState::new("h".into(), "r".into());
        assert!(room.apply(RoomSensorKind::Light, 1.0, EventTime(10)));
        assert!(!room.apply(RoomSensorKind::Light, 0.0, EventTime(5)));
        assert_eq!(room.light, Some(true));
    }

    #[test]
    fn dead_letters_are_noted_without_payload_newest_first_and_bounded() {
        let views = LiveViews::new(2);
        let origin = |offset| crate::transport::Origin {
            topic: TopicKind::Readings,
            partition: 0,
            offset,
        };
        let dead: Vec<DeadLetter> = (0..3)
            .map(|i| {
                DeadLetter::new(
                    "malformed_json",
                    format!("cut at byte {i}"),
                    origin(i),
                    &vec![b'{'; 10_000],
                    crate::stream::sinks::records::PayloadLimit::default(),
                )
            })
            .collect();
        views.record_dead_letters(&dead[..1]);
        views.record_dead_letters(&dead[1..]);
        let (notes, seen) = views.recent_dead_letters();
        assert_eq!(seen, 3);
        let kept: Vec<(u64, i64)> = notes.iter().map(|n| (n.seq, n.offset)).collect();
        assert_eq!(kept, [(3, 2), (2, 1)], "newest first, the oldest dropped");
        assert_eq!(notes[0].payload_bytes, 10_000);
        assert_eq!(notes[0].payload_sha256, dead[2].payload_sha256);
        assert_eq!(notes[0].reason, "malformed_json");
    }

    #[test]
    fn summary_counts_open_and_opened_per_rule_but_not_restored_alerts() {
        let views = LiveViews::new(10);
        let mut restored = event(1, AlertChange::Opened, AlertState::Open).alert;
        restored.rule = "ml:fire".into();
        views.restore_open_alerts([&restored]);
        let mut opened = event(2, AlertChange::Opened, AlertState::Open);
        opened.alert.rule = "ml:fire".into();
        let mut light = event(3, AlertChange::Opened, AlertState::Open);
        light.alert.rule = "light_on_empty_room".into();
        views.record_alerts(&[opened, light]);
        let mut resolved = event(3, AlertChange::Resolved, AlertState::Resolved);
        resolved.alert.rule = "light_on_empty_room".into();
        views.record_alerts(&[resolved]);
        let summary: Vec<(String, u64, u64, u64)> = views
            .alert_summary()
            .into_iter()
            .map(|r| (r.rule, r.open, r.opened_today, r.opened_since_start))
            .collect();
        assert_eq!(
            summary,
            [
                ("light_on_empty_room".to_string(), 0, 1, 1),
                ("ml:fire".to_string(), 2, 1, 1),
            ]
        );
    }

    #[test]
    fn summary_gives_the_false_positive_rate_of_judged_rules_only() {
        let views = LiveViews::new(10);
        let mut opened = event(2, AlertChange::Opened, AlertState::Open);
        opened.alert.rule = "ml:fire".into();
        views.record_alerts(&[opened]);
        views.record_verdicts(&[
            ("fault:device".to_string(), false),
            ("fault:device".to_string(), true),
            ("fault:device".to_string(), false),
            ("fault:device".to_string(), false),
        ]);
        let summary: Vec<(String, u64, u64, Option<f64>)> = views
            .alert_summary()
            .into_iter()
            .map(|r| (r.rule, r.judged, r.false_alerts, r.false_positive_rate))
            .collect();
        assert_eq!(
            summary,
            [
                ("fault:device".to_string(), 4, 1, Some(0.25)),
                ("ml:fire".to_string(), 0, 0, None),
            ]
        );
    }

    #[test]
    fn opened_today_starts_again_on_a_new_utc_day() {
        let mut board = AlertBoard::default();
        let day = 86_400_000;
        board.count_opened("x", 3 * day + 5);
        board.count_opened("x", 3 * day + 6);
        assert_eq!(board.summary(3 * day + 7)[0].opened_today, 2);
        assert_eq!(board.summary(4 * day)[0].opened_today, 0, "yesterday's");
        board.count_opened("x", 4 * day + 1);
        let line = &board.summary(4 * day + 2)[0];
        assert_eq!((line.opened_today, line.opened_since_start), (1, 3));
    }
}
