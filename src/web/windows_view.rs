//! What the Windows page renders: the current tumbling windows of every
//! room × sensor (what the Smart Home job's console sink printed each
//! trigger) and of every smoke detector × channel, from the stream's live
//! view of each series ([`crate::stream::sinks::LiveViews::current_windows`]).
//! Numbers come formatted; `static/windows.js` formats the same way when it
//! keeps the tables live.

use crate::schema::{Channel, RoomSensorKind};
use crate::stream::KeyKind;
use crate::stream::sinks::{WindowName, WindowResult};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// Event time as the page shows it: `2026-11-29 23:47:00` (UTC).
fn date_time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

/// The end of a window, whose date is the start's: `23:48:00`.
fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map_or_else(|| ms.to_string(), |t| t.format("%H:%M:%S").to_string())
}

fn value(x: f64) -> String {
    format!("{x:.2}")
}

/// One room × sensor: its newest window and the mean of the last closed.
#[derive(Debug, Serialize)]
pub struct RoomSensorRow {
    /// `home/room/sensor`, the row's identity in the page's script.
    pub series: String,
    /// Home id of the room.
    pub home: String,
    /// Room id within the home.
    pub room: String,
    /// Room sensor kind key: `temperature`, `humidity`, `light` or `presence`.
    pub sensor: &'static str,
    /// Start of the newest window (event time), `YYYY-MM-DD HH:MM:SS` UTC.
    pub start: String,
    /// End of the newest window, `HH:MM:SS` UTC (its date is the start's).
    pub end: String,
    /// `open` while the window still updates, `closed` once final.
    pub state: &'static str,
    /// Room events in the newest window.
    pub count: u64,
    /// Mean over the newest window in the sensor's unit, to two decimals.
    pub avg: String,
    /// Lowest value in the newest window, to two decimals.
    pub min: String,
    /// Highest value in the newest window, to two decimals.
    pub max: String,
    /// Mean of the last closed window, when it is not the newest.
    pub closed_avg: String,
}

/// One smoke detector: the mean of each channel over its newest window.
#[derive(Debug, Serialize)]
pub struct DeviceRow {
    /// Detector id; the row's identity in the page's script.
    pub device: String,
    /// Home id the detector's readings carry.
    pub home: String,
    /// Room id the detector's readings carry.
    pub room: String,
    /// In [`WindowsPage::channels`] order; `—` for a channel not windowed.
    pub avgs: Vec<String>,
}

/// The Windows page.
#[derive(Debug, Serialize)]
pub struct WindowsPage {
    /// One row per room × sensor with a window, by home, room and sensor.
    pub rooms: Vec<RoomSensorRow>,
    /// Channel keys, the device table's columns.
    pub channels: Vec<&'static str>,
    /// One row per detector with a device-keyed tumbling window, by device id.
    pub devices: Vec<DeviceRow>,
    /// Filter choices.
    pub room_choices: Vec<String>,
    /// Every room sensor kind key: the Sensor filter's choices.
    pub sensors: Vec<&'static str>,
}

impl WindowsPage {
    /// Builds the page from each series' current windows (any order).
    pub fn new(current: &[WindowResult], channels: &[Channel]) -> WindowsPage {
        let tumbling = |kind: KeyKind| {
            current
                .iter()
                .filter(move |w| w.window == WindowName::Tumbling && w.key_kind == kind)
        };
        // Per series: the newest window, and the last closed one.
        type Series<'a> = (Option<&'a WindowResult>, Option<&'a WindowResult>);
        let mut series: BTreeMap<(String, String, &'static str), Series> = BTreeMap::new();
        for w in tumbling(KeyKind::RoomSensor) {
            let key = (w.home.to_string(), w.room.to_string(), w.measure.as_str());
            let (newest, closed) = series.entry(key).or_default();
            if newest.is_none_or(|n| w.start >= n.start) {
                *newest = Some(w);
            }
            if w.is_final && closed.is_none_or(|c| w.start >= c.start) {
                *closed = Some(w);
            }
        }
        let rooms: Vec<RoomSensorRow> = series
            .into_iter()
            .filter_map(|((home, room, sensor), (newest, closed))| {
                let w = newest?;
                Some(RoomSensorRow {
                    series: format!("{home}/{room}/{sensor}"),
                    home,
                    room,
                    sensor,
                    start: date_time(w.start.millis()),
                    end: time(w.end.millis()),
                    state: if w.is_final { "closed" } else { "open" },
                    count: w.count,
                    avg: value(w.avg),
                    min: value(w.min),
                    max: value(w.max),
                    closed_avg: closed
                        .filter(|c| c.start != w.start)
                        .map_or("—".into(), |c| value(c.avg)),
                })
            })
            .collect();

        // Device × channel: the newest window's mean of each channel.
        // Device → (home, room, channel → (start of its newest window, mean)).
        type Means = BTreeMap<&'static str, (i64, f64)>;
        let mut devices: BTreeMap<String, (String, String, Means)> = BTreeMap::new();
        for w in tumbling(KeyKind::Device) {
            let Some(device) = &w.device else { continue };
            let entry = devices
                .entry(device.to_string())
                .or_insert_with(|| (w.home.to_string(), w.room.to_string(), BTreeMap::new()));
            let slot = entry.2.entry(w.measure.as_str()).or_insert((i64::MIN, 0.0));
            if w.start.millis() >= slot.0 {
                *slot = (w.start.millis(), w.avg);
            }
        }
        let channels: Vec<&'static str> = channels.iter().map(|c| c.key()).collect();
        let devices = devices
            .into_iter()
            .map(|(device, (home, room, avgs))| DeviceRow {
                device,
                home,
                room,
                avgs: channels
                    .iter()
                    .map(|c| avgs.get(c).map_or("—".into(), |(_, avg)| value(*avg)))
                    .collect(),
            })
            .collect();
        let room_choices = rooms
            .iter()
            .map(|r| format!("{}/{}", r.home, r.room))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        WindowsPage {
            rooms,
            channels,
            devices,
            room_choices,
            sensors: RoomSensorKind::ALL.iter().map(|s| s.key()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::EventTime;
    use crate::stream::sinks::Measure;

    fn w(kind: KeyKind, measure: Measure, start: i64, avg: f64, is_final: bool) -> WindowResult {
        WindowResult {
            window: WindowName::Tumbling,
            key_kind: kind,
            device: (kind == KeyKind::Device).then(|| "h1-kitchen-smoke".into()),
            home: "h1".into(),
            room: "kitchen".into(),
            measure,
            start: EventTime(start),
            end: EventTime(start + 60_000),
            count: 4,
            avg,
            min: avg - 1.0,
            max: avg + 1.0,
            stddev: 0.5,
            last: avg,
            is_final,
        }
    }

    #[test]
    fn one_row_per_room_sensor_with_its_newest_window_and_last_closed_mean() {
        let temp = Measure::Sensor(RoomSensorKind::Temperature);
        let current = [
            w(KeyKind::RoomSensor, temp, 60_000, 21.5, false),
            w(KeyKind::RoomSensor, temp, 0, 20.25, true),
            w(
                KeyKind::Device,
                Measure::Channel(Channel::Pm2_5),
                0,
                3.0,
                true,
            ),
            w(
                KeyKind::Room,
                Measure::Channel(Channel::Pm2_5),
                0,
                3.0,
                true,
            ),
        ];
        let page = WindowsPage::new(&current, &[Channel::Temperature, Channel::Pm2_5]);
        assert_eq!(page.rooms.len(), 1);
        let row = &page.rooms[0];
        assert_eq!(row.series, "h1/kitchen/temperature");
        assert_eq!(row.start, "1970-01-01 00:01:00");
        assert_eq!(row.end, "00:02:00");
        assert_eq!(row.state, "open");
        assert_eq!((row.avg.as_str(), row.min.as_str()), ("21.50", "20.50"));
        assert_eq!(row.closed_avg, "20.25");
        assert_eq!(page.room_choices, vec!["h1/kitchen".to_string()]);
        assert_eq!(page.devices.len(), 1);
        assert_eq!(page.devices[0].avgs, vec!["—".to_string(), "3.00".into()]);
    }
}
