//! Per device and UTC day: readings, labels, alarms and per-channel
//! count/sum/min/max. The KPIs roll these up; the daily aggregates are
//! these, written as Parquet.

use crate::schema::{CHANNEL_COUNT, Channel, DeviceId, HomeId, RoomId, SmokeReading};
use crate::store::parts::day_of;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Running statistics of one channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelAcc {
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl Default for ChannelAcc {
    fn default() -> Self {
        Self {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl ChannelAcc {
    pub fn add(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    pub fn merge(&mut self, other: &ChannelAcc) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Mean, min and max; `None` without values.
    pub fn summary(&self) -> Option<ChannelSummary> {
        (self.count > 0).then(|| ChannelSummary {
            count: self.count,
            mean: self.sum / self.count as f64,
            min: self.min,
            max: self.max,
        })
    }
}

/// Mean/min/max of a channel over some readings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelSummary {
    pub count: u64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

/// One device's day.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceDay {
    pub home: HomeId,
    pub room: RoomId,
    pub readings: u64,
    /// Readings with a `Fire Alarm` label.
    pub labelled: u64,
    /// Readings labelled fire.
    pub alarms: u64,
    pub channels: [ChannelAcc; CHANNEL_COUNT],
}

/// Statistics by (day, device).
#[derive(Debug, Default)]
pub struct DailyStats {
    pub days: BTreeMap<(NaiveDate, DeviceId), DeviceDay>,
}

impl DailyStats {
    pub fn add(&mut self, r: &SmokeReading) {
        let Some(day) = day_of(r.event_time) else {
            return;
        };
        let entry = self
            .days
            .entry((day, r.device_id.clone()))
            .or_insert_with(|| DeviceDay {
                home: r.home.clone(),
                room: r.room.clone(),
                readings: 0,
                labelled: 0,
                alarms: 0,
                channels: [ChannelAcc::default(); CHANNEL_COUNT],
            });
        entry.readings += 1;
        entry.labelled += u64::from(r.fire_alarm.is_some());
        entry.alarms += u64::from(r.fire_alarm == Some(true));
        for channel in Channel::ALL {
            if let Some(v) = r.values.get(channel) {
                entry.channels[channel.index()].add(v);
            }
        }
    }

    /// The days covered.
    pub fn dates(&self) -> std::collections::BTreeSet<NaiveDate> {
        self.days.keys().map(|(d, _)| *d).collect()
    }
}
