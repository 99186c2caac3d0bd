//! Gauges derived from the stream's live views ([`LiveViews`]), published
//! once a second by the daemon's metrics upkeep task, for the alert rules and the
//! Grafana dashboard:
//!
//! * `smokewatch_window_channel_max{home,room,channel}`: the maximum of
//!   each detector channel in the room's latest closed tumbling window
//!   (the sensor alert rules: temperature, TVOC, eCO2, PM2.5);
//! * `smokewatch_open_alerts_by_severity{severity}`: open alerts per
//!   severity (every severity is set, so "none open" is an explicit 0).
//!
//! They are read from the live views rather than recorded inside the
//! stream's stages so the hot path does no per-room label formatting.

use crate::schema::Channel;
use crate::stream::config::{KeyKind, Severity};
use crate::stream::sinks::{AlertState, LiveViews, Measure, WindowName};
use crate::telemetry::names;
use std::collections::{BTreeMap, HashSet};

const SEVERITIES: [Severity; 4] = [
    Severity::Low,
    Severity::Medium,
    Severity::High,
    Severity::Critical,
];

/// Publishes the live-view gauges; remembers what it published.
#[derive(Debug, Default)]
pub struct LiveGauges {
    /// (home, room, channel) series already set, so each is set once per
    /// new window only.
    latest: BTreeMap<(String, String, Channel), i64>,
}

impl LiveGauges {
    /// Sets the gauges from `live` now.
    pub fn publish(&mut self, live: &LiveViews) {
        let mut seen: HashSet<(String, String, Channel)> = HashSet::new();
        // Newest first: the first result per series is its latest window.
        for w in live.recent_windows() {
            let Measure::Channel(channel) = w.measure else {
                continue;
            };
            if !w.is_final || w.window != WindowName::Tumbling || w.key_kind != KeyKind::Room {
                continue;
            }
            let key = (w.home.to_string(), w.room.to_string(), channel);
            if !seen.insert(key.clone()) {
                continue;
            }
            let end = w.end.millis();
            if self.latest.get(&key) == Some(&end) {
                continue;
            }
            metrics::gauge!(
                names::WINDOW_CHANNEL_MAX,
                "home" => key.0.clone(),
                "room" => key.1.clone(),
                "channel" => channel.key()
            )
            .set(w.max);
            self.latest.insert(key, end);
        }
        let mut open: BTreeMap<Severity, u64> = SEVERITIES.iter().map(|s| (*s, 0)).collect();
        for alert in live.open_alerts() {
            if alert.state == AlertState::Open {
                *open.entry(alert.severity).or_default() += 1;
            }
        }
        for (severity, n) in open {
            metrics::gauge!(names::OPEN_ALERTS_BY_SEVERITY, "severity" => severity.as_str())
                .set(n as f64);
        }
    }
}
