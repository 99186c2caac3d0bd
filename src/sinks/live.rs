//! In-memory views of the stream's latest results for the web UI: recent
//! alerts (with open/resolved state), recent window results and the latest
//! state of every room. Bounded rings; readers take a short read lock and
//! copy what they show.

use super::{Alert, AlertChange, AlertEvent, AlertState, WindowResult};
use crate::model::{EventTime, HomeId, RoomId, RoomSensorKind};
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
}

impl AlertBoard {
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

#[derive(Debug, Default)]
struct Inner {
    alerts: AlertBoard,
    windows: VecDeque<WindowResult>,
    window_capacity: usize,
    rooms: BTreeMap<(HomeId, RoomId), RoomState>,
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
        let mut inner = self.write();
        for e in events {
            inner.alerts.apply(e);
        }
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

    /// Latest state of every room, by (home, room).
    pub fn rooms(&self) -> Vec<RoomState> {
        self.read().rooms.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::AlertKind;
    use crate::stream::Severity;

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

    #[test]
    fn older_room_event_does_not_overwrite_newer_state() {
        let mut room = RoomState::new("h".into(), "r".into());
        assert!(room.apply(RoomSensorKind::Light, 1.0, EventTime(10)));
        assert!(!room.apply(RoomSensorKind::Light, 0.0, EventTime(5)));
        assert_eq!(room.light, Some(true));
    }
}
