//! Turns detector outcomes into alerts: one open alert per (subject, rule),
//! repeats update it, and it resolves once its condition has stayed clear
//! for the cooldown (event time). Ids derive from (subject, rule, event
//! time of opening), so a replay after a crash raises the same ids.

use crate::schema::{DeviceId, EventTime, HomeId, RoomId};
use crate::stream::config::Severity;
use crate::stream::fast_map::FastMap;
use crate::stream::sinks::{Alert, AlertChange, AlertEvent, AlertKind, AlertState, derived_id};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What an alert is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Subject {
    Device(DeviceId),
    Room(HomeId, RoomId),
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Device(d) => write!(f, "device/{d}"),
            Subject::Room(h, r) => write!(f, "room/{h}/{r}"),
        }
    }
}

/// One detector condition an outcome is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    /// Alert rule name, e.g. `threshold:pm2_5`.
    pub rule: Arc<str>,
    pub kind: AlertKind,
}

/// A condition's verdict for one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not evaluated or not known (missing value, hold time not reached).
    Unknown,
    /// Evaluated and false.
    Clear,
    /// Evaluated and true, with this severity.
    Active(Severity),
}

/// The record being evaluated.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    pub subject: &'a Subject,
    pub home: &'a HomeId,
    pub room: &'a RoomId,
    pub event_time: EventTime,
    pub seq: u64,
    /// Wall-clock ms, stamped into new alerts as detection time.
    pub now_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct OpenAlert {
    alert: Alert,
    /// Event time since which the condition has been clear.
    cleared_since: Option<i64>,
}

/// Open alerts of every subject.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AlertManager {
    cooldown_ms: i64,
    open: FastMap<Subject, Vec<OpenAlert>>,
}

impl AlertManager {
    pub fn new(cooldown_ms: i64) -> Self {
        Self {
            cooldown_ms,
            open: FastMap::default(),
        }
    }

    /// Number of open alerts.
    pub fn open_count(&self) -> usize {
        self.open.values().map(Vec::len).sum()
    }

    /// Every open alert (for the web ring after a restore).
    pub fn open_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.open.values().flatten().map(|o| &o.alert)
    }

    /// Applies the outcomes (`outcomes[i]` is about `slots[i]`) of one
    /// record; `values(i)` gives the triggering values of slot `i`.
    pub fn observe(
        &mut self,
        at: Observed<'_>,
        slots: &[Slot],
        outcomes: &[Outcome],
        values: &dyn Fn(usize) -> BTreeMap<String, f64>,
        out: &mut Vec<AlertEvent>,
    ) {
        let any_active = outcomes.iter().any(|o| matches!(o, Outcome::Active(_)));
        if !any_active && !self.open.contains_key(at.subject) {
            return;
        }
        let t = at.event_time.millis();
        let list = self.open.entry(at.subject.clone()).or_default();
        for (i, (slot, outcome)) in slots.iter().zip(outcomes).enumerate() {
            let existing = list.iter().position(|o| *o.alert.rule == *slot.rule);
            match (*outcome, existing) {
                (Outcome::Unknown, _) | (Outcome::Clear, None) => {}
                (Outcome::Active(severity), Some(index)) => {
                    let open = &mut list[index];
                    open.cleared_since = None;
                    let alert = &mut open.alert;
                    alert.repeats += 1;
                    alert.last_event_time = alert.last_event_time.max(at.event_time);
                    alert.values = values(i);
                    if severity > alert.severity {
                        alert.severity = severity;
                        alert.trigger_seq = at.seq;
                        alert.detected_at_ms = at.now_ms;
                        out.push(AlertEvent {
                            change: AlertChange::Escalated,
                            alert: alert.clone(),
                        });
                    }
                }
                (Outcome::Active(severity), None) => {
                    let alert = Alert {
                        id: derived_id(&format!("{}/{}/{t}", at.subject, slot.rule)),
                        device: match at.subject {
                            Subject::Device(d) => Some(d.clone()),
                            Subject::Room(..) => None,
                        },
                        home: at.home.clone(),
                        room: at.room.clone(),
                        rule: slot.rule.to_string(),
                        kind: slot.kind,
                        severity,
                        state: AlertState::Open,
                        values: values(i),
                        event_time: at.event_time,
                        last_event_time: at.event_time,
                        resolved_time: None,
                        detected_at_ms: at.now_ms,
                        trigger_seq: at.seq,
                        repeats: 1,
                    };
                    out.push(AlertEvent {
                        change: AlertChange::Opened,
                        alert: alert.clone(),
                    });
                    list.push(OpenAlert {
                        alert,
                        cleared_since: None,
                    });
                }
                // Records arrive in arrival order: a clear one older than
                // the last activity (out of order) tells nothing about the
                // time after it, so it does not start the cooldown.
                (Outcome::Clear, Some(index))
                    if t <= list[index].alert.last_event_time.millis() => {}
                (Outcome::Clear, Some(index)) => {
                    let since = *list[index].cleared_since.get_or_insert(t);
                    if t - since >= self.cooldown_ms {
                        let mut open = list.remove(index);
                        open.alert.state = AlertState::Resolved;
                        open.alert.resolved_time = Some(EventTime(since));
                        open.alert.detected_at_ms = at.now_ms;
                        out.push(AlertEvent {
                            change: AlertChange::Resolved,
                            alert: open.alert,
                        });
                    }
                }
            }
        }
        if list.is_empty() {
            self.open.remove(at.subject);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots() -> Vec<Slot> {
        vec![Slot {
            rule: "threshold:pm2_5".into(),
            kind: AlertKind::Threshold,
        }]
    }

    fn observe(m: &mut AlertManager, t: i64, outcome: Outcome, out: &mut Vec<AlertEvent>) {
        let subject = Subject::Device("d1".into());
        let at = Observed {
            subject: &subject,
            home: &"h".into(),
            room: &"r".into(),
            event_time: EventTime(t),
            seq: t as u64,
            now_ms: 0,
        };
        let values = |_| BTreeMap::from([("pm2_5".to_string(), t as f64)]);
        m.observe(at, &slots(), &[outcome], &values, out);
    }

    #[test]
    fn repeats_update_escalation_is_reported_and_resolution_waits_for_the_cooldown() {
        let mut m = AlertManager::new(10_000);
        let mut out = Vec::new();
        observe(&mut m, 1000, Outcome::Active(Severity::Medium), &mut out);
        observe(&mut m, 2000, Outcome::Active(Severity::Medium), &mut out);
        observe(&mut m, 3000, Outcome::Clear, &mut out);
        observe(&mut m, 4000, Outcome::Active(Severity::High), &mut out);
        let changes: Vec<AlertChange> = out.iter().map(|e| e.change).collect();
        assert_eq!(changes, vec![AlertChange::Opened, AlertChange::Escalated]);
        assert_eq!(out[0].alert.id, out[1].alert.id, "same alert, updated");
        assert_eq!(m.open_count(), 1);
        observe(&mut m, 5000, Outcome::Clear, &mut out);
        observe(&mut m, 14_999, Outcome::Clear, &mut out);
        assert_eq!(out.len(), 2, "clear for less than the cooldown");
        observe(&mut m, 15_000, Outcome::Unknown, &mut out);
        observe(&mut m, 15_000, Outcome::Clear, &mut out);
        assert_eq!(out.len(), 3);
        let resolved = &out[2];
        assert_eq!(resolved.change, AlertChange::Resolved);
        assert_eq!(resolved.alert.resolved_time, Some(EventTime(5000)));
        assert_eq!(resolved.alert.repeats, 3);
        assert_eq!(m.open_count(), 0);
        observe(&mut m, 20_000, Outcome::Active(Severity::Medium), &mut out);
        assert_ne!(
            out[3].alert.id, out[0].alert.id,
            "a new alert after resolution"
        );
    }

    /// Records reach the detector in arrival order, which is not event-time
    /// order (out-of-order and late readings are allowed up to the
    /// lateness). A clear reading older than the alert's last active one
    /// says nothing about the time after it, so it must not start the
    /// cooldown: a resolution is never dated before the last activity.
    #[test]
    fn an_out_of_order_clear_does_not_resolve_before_the_last_activity() {
        let mut m = AlertManager::new(10_000);
        let mut out = Vec::new();
        observe(&mut m, 1000, Outcome::Active(Severity::Medium), &mut out);
        observe(&mut m, 3000, Outcome::Active(Severity::Medium), &mut out);
        observe(&mut m, 2000, Outcome::Clear, &mut out); // arrives late
        observe(&mut m, 12_500, Outcome::Clear, &mut out);
        for e in &out {
            if let Some(resolved) = e.alert.resolved_time {
                assert!(
                    resolved >= e.alert.last_event_time,
                    "resolved at {resolved:?} before the last event {:?}",
                    e.alert.last_event_time
                );
            }
        }
        assert_eq!(out.len(), 1, "clear for only 9.5 s since the last activity");
        observe(&mut m, 22_500, Outcome::Clear, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].change, AlertChange::Resolved);
        assert_eq!(out[1].alert.resolved_time, Some(EventTime(12_500)));
        assert_eq!(out[1].alert.last_event_time, EventTime(3000));
    }
}
