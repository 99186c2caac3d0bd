//! KPIs of the readings a run analyses: readings per device per day, the
//! alarm rate (share of labelled readings labelled fire), mean/min/max of
//! every channel per day, and the anomalies the stream raised on those
//! days (from its alert files, see [`super::alerts`]).

use super::alerts::AnomalyCounts;
use super::daily::{ChannelAcc, ChannelSummary, DailyStats};
use crate::schema::{CHANNEL_COUNT, Channel};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Labels and alarms of some readings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmRate {
    pub labelled: u64,
    pub alarms: u64,
    /// alarms / labelled; `None` without labelled readings.
    pub rate: Option<f64>,
}

impl AlarmRate {
    fn new(labelled: u64, alarms: u64) -> Self {
        Self {
            labelled,
            alarms,
            rate: (labelled > 0).then(|| alarms as f64 / labelled as f64),
        }
    }
}

/// The KPI section of a run report. Days are UTC, `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiReport {
    /// day → device → readings.
    pub readings_per_device_per_day: BTreeMap<String, BTreeMap<String, u64>>,
    pub alarm_rate: AlarmRate,
    pub alarm_rate_per_day: BTreeMap<String, AlarmRate>,
    /// day → channel key → mean/min/max (channels without values left out).
    pub channels_per_day: BTreeMap<String, BTreeMap<String, ChannelSummary>>,
    pub anomalies: AnomalyCounts,
}

/// Rolls the per-device days up into the KPIs.
pub fn kpis(stats: &DailyStats, anomalies: AnomalyCounts) -> KpiReport {
    let mut readings: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut per_day: BTreeMap<String, (u64, u64, [ChannelAcc; CHANNEL_COUNT])> = BTreeMap::new();
    let (mut labelled, mut alarms) = (0, 0);
    for ((day, device), d) in &stats.days {
        let day = day.format("%Y-%m-%d").to_string();
        readings
            .entry(day.clone())
            .or_default()
            .insert(device.to_string(), d.readings);
        let entry = per_day
            .entry(day)
            .or_insert_with(|| (0, 0, [ChannelAcc::default(); CHANNEL_COUNT]));
        entry.0 += d.labelled;
        entry.1 += d.alarms;
        for (acc, channel) in entry.2.iter_mut().zip(&d.channels) {
            acc.merge(channel);
        }
        labelled += d.labelled;
        alarms += d.alarms;
    }
    let alarm_rate_per_day = per_day
        .iter()
        .map(|(day, (l, a, _))| (day.clone(), AlarmRate::new(*l, *a)))
        .collect();
    let channels_per_day = per_day
        .iter()
        .map(|(day, (_, _, channels))| {
            let summaries = Channel::ALL
                .iter()
                .filter_map(|c| Some((c.key().to_string(), channels[c.index()].summary()?)))
                .collect();
            (day.clone(), summaries)
        })
        .collect();
    KpiReport {
        readings_per_device_per_day: readings,
        alarm_rate: AlarmRate::new(labelled, alarms),
        alarm_rate_per_day,
        channels_per_day,
        anomalies,
    }
}
