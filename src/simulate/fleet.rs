//! The fleet's layout: homes, their rooms, and in every room one smoke
//! detector and one room-sensor unit, with stable, readable ids
//! (`h001-kitchen-smoke`, `h001-kitchen-room`).

use crate::schema::registry::DeviceRegistry;
use crate::schema::{DeviceId, HomeId, RoomId};

/// Room names in the order rooms are added to a home; the kitchen comes
/// first because it is where nuisance alarms happen.
const ROOM_NAMES: [&str; 8] = [
    "kitchen",
    "living-room",
    "bedroom",
    "hallway",
    "bathroom",
    "office",
    "kids-room",
    "basement",
];

/// What a room is used for; shapes occupancy and nuisance sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoomKind {
    Kitchen,
    LivingRoom,
    Bedroom,
    Hallway,
    Bathroom,
    Office,
    Other,
}

impl RoomKind {
    fn of_position(position: usize) -> RoomKind {
        match position {
            0 => RoomKind::Kitchen,
            1 => RoomKind::LivingRoom,
            2 | 6 => RoomKind::Bedroom,
            3 => RoomKind::Hallway,
            4 => RoomKind::Bathroom,
            5 => RoomKind::Office,
            _ => RoomKind::Other,
        }
    }
}

/// One room of the fleet with its two devices.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomSlot {
    pub home: HomeId,
    pub room: RoomId,
    pub kind: RoomKind,
    /// The smoke detector.
    pub detector: DeviceId,
    /// The room-sensor unit (light, presence, temperature, humidity).
    pub sensor: DeviceId,
}

impl RoomSlot {
    /// Key of the room's events on the room-events topic.
    pub fn event_key(&self) -> String {
        format!("{}/{}", self.home, self.room)
    }
}

/// `homes` homes of `rooms_per_home` rooms each, in id order.
pub fn layout(homes: u32, rooms_per_home: u32) -> Vec<RoomSlot> {
    let mut rooms = Vec::with_capacity(homes as usize * rooms_per_home as usize);
    for h in 1..=homes {
        let home = HomeId::from(format!("h{h:03}"));
        for r in 0..rooms_per_home as usize {
            let name = match ROOM_NAMES.get(r) {
                Some(name) => (*name).to_string(),
                None => format!("room-{}", r + 1),
            };
            rooms.push(RoomSlot {
                detector: DeviceId::from(format!("{home}-{name}-smoke")),
                sensor: DeviceId::from(format!("{home}-{name}-room")),
                home: home.clone(),
                room: RoomId::from(name),
                kind: RoomKind::of_position(r),
            });
        }
    }
    rooms
}

/// The first `devices` rooms of a fleet with `rooms_per_home` rooms per home.
pub fn first_rooms(devices: u32, rooms_per_home: u32) -> Vec<RoomSlot> {
    let per_home = rooms_per_home.max(1);
    let mut rooms = layout(devices.div_ceil(per_home), per_home);
    rooms.truncate(devices as usize);
    rooms
}

/// Registers every detector and room-sensor unit, so the stream accepts
/// them and refuses devices nobody installed.
pub fn register(rooms: &[RoomSlot], registry: &DeviceRegistry) {
    for slot in rooms {
        registry.register(slot.detector.clone(), slot.home.clone(), slot.room.clone());
        registry.register(slot.sensor.clone(), slot.home.clone(), slot.room.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_readable() {
        let rooms = layout(12, 10);
        assert_eq!(rooms.len(), 120);
        assert_eq!(rooms[0].detector.as_str(), "h001-kitchen-smoke");
        assert_eq!(rooms[9].room.as_str(), "room-10");
        assert_eq!(rooms[0].event_key(), "h001/kitchen");
        let ids: std::collections::HashSet<_> = rooms.iter().map(|r| r.detector.clone()).collect();
        assert_eq!(ids.len(), rooms.len());
    }

    #[test]
    fn first_rooms_fills_homes_in_order() {
        let rooms = first_rooms(5, 3);
        assert_eq!(rooms.len(), 5);
        assert_eq!(rooms[4].home.as_str(), "h002");
    }
}
