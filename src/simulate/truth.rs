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
