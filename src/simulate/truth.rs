//! Ground truth of the live fleet: what really happened in each room and
//! to each detector, recorded by the simulator as it makes it happen.
//!
//! The alert scoreboard (`smokewatch bench alerts`) compares the stream's
//! alerts with these incidents. Recording them where they are decided —
//! the episode switch, the forgotten light, the fault injector — means
//! the truth is never re-derived from the readings (which would score the
//! detectors against a second detector).

use crate::schema::{Channel, DeviceId, EventTime, HomeId, RoomId};
use serde::Serialize;

/// What kind of thing happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    /// A smouldering fire: readings labelled `Fire Alarm` = 1.
    Smouldering,
    /// A flaming fire: readings labelled `Fire Alarm` = 1.
    Flaming,
    /// Cooking, steam or spray: no fire, should raise at most an advisory.
    Nuisance,
    /// A light left on in an empty room (the smart-home rule's incident).
    LightLeftOn,
    /// A labelled fire from a recorded file (`--data`: a run of 1s).
    LabelledFire,
    /// A channel frozen at one value.
    StuckSensor,
    /// A channel whose calibration drifts away.
    Drift,
    /// One absurd value on one channel.
    Spike,
}

impl IncidentKind {
    pub const ALL: [IncidentKind; 8] = [
        IncidentKind::Smouldering,
        IncidentKind::Flaming,
        IncidentKind::LabelledFire,
        IncidentKind::Nuisance,
        IncidentKind::LightLeftOn,
        IncidentKind::StuckSensor,
        IncidentKind::Drift,
        IncidentKind::Spike,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            IncidentKind::Smouldering => "smouldering",
            IncidentKind::Flaming => "flaming",
            IncidentKind::Nuisance => "nuisance",
            IncidentKind::LightLeftOn => "light_left_on",
            IncidentKind::LabelledFire => "labelled_fire",
            IncidentKind::StuckSensor => "stuck_sensor",
            IncidentKind::Drift => "drift",
            IncidentKind::Spike => "spike",
        }
    }

    /// A fire: must raise a critical alert.
    pub const fn is_fire(self) -> bool {
        matches!(
            self,
            IncidentKind::Smouldering | IncidentKind::Flaming | IncidentKind::LabelledFire
        )
    }

    /// A fault of the sensor itself, not of the air in the room.
    pub const fn is_fault(self) -> bool {
        matches!(
            self,
            IncidentKind::StuckSensor | IncidentKind::Drift | IncidentKind::Spike
        )
    }
}

/// One incident, from its first to its last reading (event time, inclusive).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    pub kind: IncidentKind,
    /// The room's smoke detector (room incidents name it too, so every
    /// incident has one device).
    pub device: DeviceId,
    pub home: HomeId,
    pub room: RoomId,
    /// The channel a fault is about.
    pub channel: Option<Channel>,
    pub start: EventTime,
    pub end: EventTime,
}

/// An incident that has started and not ended yet.
#[derive(Debug, Clone)]
pub(crate) struct OpenIncident {
    pub kind: IncidentKind,
    pub channel: Option<Channel>,
    pub start: EventTime,
    /// Event time of its latest reading so far.
    pub last: EventTime,
}

impl OpenIncident {
    pub fn new(kind: IncidentKind, channel: Option<Channel>, at: EventTime) -> Self {
        Self {
            kind,
            channel,
            start: at,
            last: at,
        }
    }

    pub fn close(self, device: &DeviceId, home: &HomeId, room: &RoomId) -> Incident {
        Incident {
            kind: self.kind,
            device: device.clone(),
            home: home.clone(),
            room: room.clone(),
            channel: self.channel,
            start: self.start,
            end: self.last,
        }
    }
}

/// How long (event time) the live truth keeps an ended incident: an alert
/// is judged against every incident it overlaps, and one can stay open
/// for hours (a forgotten light in a room nobody enters).
const KEEP_ENDED_MS: i64 = 24 * 3_600_000;
/// Most ended incidents kept, whatever their age (a bound on memory for a
/// large, fast fleet).
const KEEP_ENDED_MAX: usize = 50_000;

/// The live fleet's ground truth as the daemon's simulator publishes it:
/// incidents ended recently, those still going, and the event time up to
/// which that picture is complete. Cheap to clone; the web's per-rule
/// false-alert rate is judged against it.
#[derive(Clone, Default)]
pub struct TruthLog {
    inner: std::sync::Arc<std::sync::Mutex<TruthState>>,
}

#[derive(Default)]
struct TruthState {
    ended: std::collections::VecDeque<Incident>,
    open: Vec<Incident>,
    horizon: Option<EventTime>,
}

/// What the truth holds at one moment.
#[derive(Debug, Clone, Default)]
pub struct TruthSnapshot {
    /// Ended incidents, then the ongoing ones (ended at their latest
    /// reading so far).
    pub incidents: Vec<Incident>,
    /// Every incident that started before this event time is in
    /// `incidents`; `None` until the simulator has published once.
    pub horizon: Option<EventTime>,
}

impl TruthLog {
    fn state(&self) -> std::sync::MutexGuard<'_, TruthState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds incidents that ended.
    pub fn record_ended(&self, ended: impl IntoIterator<Item = Incident>) {
        let mut state = self.state();
        state.ended.extend(ended);
        let newest = state.ended.back().map(|i| i.end.millis());
        while state.ended.len() > KEEP_ENDED_MAX
            || state
                .ended
                .front()
                .zip(newest)
                .is_some_and(|(oldest, newest)| oldest.end.millis() < newest - KEEP_ENDED_MS)
        {
            state.ended.pop_front();
        }
    }

    /// Replaces the ongoing incidents with those of the fleet at event
    /// time `horizon` (every incident ended before it was recorded).
    pub fn publish_open(&self, open: Vec<Incident>, horizon: EventTime) {
        let mut state = self.state();
        state.open = open;
        state.horizon = Some(horizon);
    }

    pub fn snapshot(&self) -> TruthSnapshot {
        let state = self.state();
        TruthSnapshot {
            incidents: state.ended.iter().chain(&state.open).cloned().collect(),
            horizon: state.horizon,
        }
    }
}

/// Incidents for tests of the code that judges alerts by them.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// An incident of detector `h1-kitchen-smoke` (home `h1`, room
    /// `kitchen`), from `start_s` to `end_s` seconds of event time.
    pub fn incident(kind: IncidentKind, start_s: i64, end_s: i64) -> Incident {
        Incident {
            kind,
            device: "h1-kitchen-smoke".into(),
            home: "h1".into(),
            room: "kitchen".into(),
            channel: None,
            start: EventTime(start_s * 1000),
            end: EventTime(end_s * 1000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::incident;
    use super::*;

    #[test]
    fn the_log_keeps_a_day_of_ended_incidents_and_the_latest_open_ones() {
        let log = TruthLog::default();
        assert_eq!(log.snapshot().horizon, None);
        log.record_ended([incident(IncidentKind::Nuisance, 0, 60)]);
        log.publish_open(
            vec![incident(IncidentKind::Flaming, 100, 130)],
            EventTime(131_000),
        );
        let s = log.snapshot();
        assert_eq!(s.incidents.len(), 2);
        assert_eq!(s.horizon, Some(EventTime(131_000)));
        log.publish_open(Vec::new(), EventTime(140_000));
        log.record_ended([incident(IncidentKind::Flaming, 100, 135)]);
        let kinds: Vec<(IncidentKind, i64)> = log
            .snapshot()
            .incidents
            .iter()
            .map(|i| (i.kind, i.end.millis()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (IncidentKind::Nuisance, 60_000),
                (IncidentKind::Flaming, 135_000)
            ]
        );
        // A day after the nuisance ended it is forgotten; the fire is not.
        log.record_ended([incident(IncidentKind::Spike, 86_499, 86_500)]);
        let kinds: Vec<IncidentKind> = log.snapshot().incidents.iter().map(|i| i.kind).collect();
        assert_eq!(kinds, vec![IncidentKind::Flaming, IncidentKind::Spike]);
    }
}
