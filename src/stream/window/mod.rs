//! Event-time windows over readings (by device, by room) and room events
//! (by room and sensor kind), with a watermark and late-event handling.
//!
//! Watermark = the largest event time seen − `allowed_lateness` (per source
//! partition, the minimum over active partitions — see [`Watermark`]). A window
//! closes (append mode emits it) once the watermark reaches its end. A
//! record with no open window left in any window spec is *late*: it is
//! counted and dead-lettered, not silently dropped. In update mode every
//! trigger emits the windows changed since the previous one, and each
//! window is emitted once more, final, when it closes — so the final rows
//! of update mode are exactly what append mode emits.

pub mod agg;
pub mod operator;

use crate::model::{Channel, DeviceId, EventTime, HomeId, RoomId, RoomSensorKind};
use crate::sinks::{Measure, WindowName, WindowResult};
use crate::stream::message::Item;
use crate::stream::{KeyKind, OutputMode, WindowConfig};
use crate::transport::TopicPartition;
use operator::{Emitted, WindowOperator, WindowSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What windows are keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WindowKey {
    Device {
        device: DeviceId,
        home: HomeId,
        room: RoomId,
    },
    Room(HomeId, RoomId),
    RoomSensor(HomeId, RoomId, RoomSensorKind),
}

/// Event-time progress of one source partition.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PartitionClock {
    /// `None` for an assigned partition that has not delivered yet: it
    /// holds the watermark back until it delivers or goes idle.
    max_seen: Option<i64>,
    /// Processing time of its latest record (not checkpointed: a restored
    /// partition counts as active).
    #[serde(skip, default = "Instant::now")]
    last_record: Instant,
}

/// The watermark, Flink-style: per source partition the largest event time
/// seen minus the allowed lateness; overall the minimum over partitions
/// that delivered records within `idle_timeout`, and never moving back.
/// One partition running ahead (a backlog read partition by partition)
/// therefore does not make the others late.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Watermark {
    partitions: BTreeMap<TopicPartition, PartitionClock>,
    lateness_ms: i64,
    #[serde(skip, default = "default_idle")]
    idle_timeout: Duration,

    /// The watermark emitted so far (monotonic).
    current: i64,
    /// Set by end of input: every window is closed.
    finished: bool,
}

fn default_idle() -> Duration {
    Duration::from_secs(30)
}

impl Watermark {
    pub fn new(lateness_ms: i64, idle_timeout: Duration) -> Self {
        Self {
            partitions: BTreeMap::new(),
            lateness_ms,
            idle_timeout,
            current: i64::MIN,
            finished: false,
        }
    }

    /// Notes a record of `partition` at `t`.
    pub fn observe(&mut self, partition: TopicPartition, t: EventTime) {
        let t = t.millis();
        let now = Instant::now();
        match self.partitions.get_mut(&partition) {
            Some(c) => {
                c.max_seen = Some(c.max_seen.map_or(t, |m| m.max(t)));
                c.last_record = now;
            }
            None => {
                self.partitions.insert(
                    partition,
                    PartitionClock {
                        max_seen: Some(t),
                        last_record: now,
                    },
                );
            }
        }
        let active = self
            .partitions
            .values()
            .filter(|c| now.duration_since(c.last_record) <= self.idle_timeout)
            .map(|c| c.max_seen)
            .min();
        if let Some(Some(min)) = active {
            self.current = self.current.max(min.saturating_sub(self.lateness_ms));
        }
    }

    /// Registers the partitions the source reads, so one that has not
    /// delivered yet holds the watermark back (for `idle_timeout`) instead
    /// of finding everything it holds already late.
    pub fn assign(&mut self, partitions: &[TopicPartition]) {
        for p in partitions {
            self.partitions.entry(*p).or_insert_with(|| PartitionClock {
                max_seen: None,
                last_record: Instant::now(),
            });
        }
    }

    /// Current watermark in ms; `i64::MIN` before the first event.
    pub fn get(&self) -> i64 {
        if self.finished {
            i64::MAX
        } else {
            self.current
        }
    }

    /// End of input: the watermark jumps to the end of time.
    pub fn finish(&mut self) {
        self.finished = true;
    }
}

/// One window spec and the key kinds it applies to.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SpecState {
    name: WindowName,
    readings: Option<WindowOperator<WindowKey>>,
    keys: Vec<KeyKind>,
    events: Option<WindowOperator<WindowKey>>,
}

/// Window state of the whole stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Windows {
    watermark: Watermark,
    mode: OutputMode,
    /// Channels aggregated; measure index = position here.
    channels: Vec<Channel>,
    specs: Vec<SpecState>,
    /// Late records so far.
    pub late: u64,
}

impl Windows {
    pub fn new(config: &WindowConfig) -> Self {
        let mut specs = Vec::new();
        let mut add = |name, spec: WindowSpec, keys: &[KeyKind]| {
            let reading_keys = keys.iter().any(|k| *k != KeyKind::RoomSensor);
            specs.push(SpecState {
                name,
                readings: reading_keys.then(|| WindowOperator::new(spec, config.channels.len())),
                events: keys
                    .contains(&KeyKind::RoomSensor)
                    .then(|| WindowOperator::new(spec, 1)),
                keys: keys.to_vec(),
            });
        };
        add(
            WindowName::Tumbling,
            WindowSpec::tumbling(config.size.as_millis_i64()),
            &config.keys,
        );
        if config.sliding.enabled {
            add(
                WindowName::Sliding,
                WindowSpec::sliding(
                    config.sliding.size.as_millis_i64(),
                    config.sliding.slide.as_millis_i64(),
                ),
                &config.sliding.keys,
            );
        }
        Self {
            watermark: Watermark::new(
                config.allowed_lateness.as_millis_i64(),
                config.idle_timeout.get(),
            ),
            mode: config.output_mode,
            channels: config.channels.clone(),
            specs,
            late: 0,
        }
    }

    pub fn watermark(&self) -> i64 {
        self.watermark.get()
    }

    /// Registers the source's assigned partitions (see [`Watermark::assign`]).
    pub fn assign(&mut self, partitions: &[TopicPartition]) {
        self.watermark.assign(partitions);
    }

    /// Takes over restored state, keeping this instance's settings that
    /// are safe to change across a restart (output mode, idle timeout).
    pub fn restore(&mut self, mut restored: Windows) {
        restored.mode = self.mode;
        restored.watermark.idle_timeout = self.watermark.idle_timeout;
        *self = restored;
    }

    /// Open keys over all specs (for metrics).
    pub fn key_count(&self) -> usize {
        self.specs
            .iter()
            .flat_map(|s| [s.readings.as_ref(), s.events.as_ref()])
            .flatten()
            .map(WindowOperator::key_count)
            .sum()
    }

    /// Adds one record. Returns false when it is late (it belongs to no
    /// open window); the caller dead-letters it. Windows the watermark has
    /// passed are closed (into `out`) before the record is added: a sliding
    /// window must not pick up, through a pane it shares with a later
    /// window, a record that arrived after its end.
    pub fn add(&mut self, item: &Item, out: &mut Vec<WindowResult>) -> bool {
        let t = item.event_time();
        self.advance(out);
        let wm = self.watermark.get();
        let is_reading = matches!(item, Item::Reading(_));
        let mut applicable = false;
        let mut accepted = false;
        for spec in &self.specs {
            let op = if is_reading {
                &spec.readings
            } else {
                &spec.events
            };
            if let Some(op) = op {
                applicable = true;
                accepted |= op.accepts(t.millis(), wm);
            }
        }
        if applicable && !accepted {
            self.late += 1;
            return false;
        }
        let origin = item.origin();
        self.watermark.observe(
            TopicPartition {
                topic: origin.topic,
                partition: origin.partition,
            },
            t,
        );
        let t = t.millis();
        let channels = &self.channels;
        for spec in &mut self.specs {
            match item {
                Item::Reading(r) => {
                    let Some(op) = spec.readings.as_mut() else {
                        continue;
                    };
                    if !op.accepts(t, wm) {
                        continue;
                    }
                    let r = &r.reading;
                    let values = channels
                        .iter()
                        .enumerate()
                        .filter_map(|(i, c)| r.values.get(*c).map(|v| (i, v)));
                    for kind in &spec.keys {
                        let key = match kind {
                            KeyKind::Device => WindowKey::Device {
                                device: r.device_id.clone(),
                                home: r.home.clone(),
                                room: r.room.clone(),
                            },
                            KeyKind::Room => WindowKey::Room(r.home.clone(), r.room.clone()),
                            KeyKind::RoomSensor => continue,
                        };
                        op.add(&key, t, values.clone());
                    }
                }
                Item::RoomEvent(e) => {
                    let Some(op) = spec.events.as_mut() else {
                        continue;
                    };
                    if !op.accepts(t, wm) {
                        continue;
                    }
                    let e = &e.event;
                    let key = WindowKey::RoomSensor(e.home.clone(), e.room.clone(), e.kind);
                    op.add(&key, t, [(0, e.value)]);
                }
            }
        }
        true
    }

    /// Closes the windows the watermark has passed (call after each batch).
    pub fn advance(&mut self, out: &mut Vec<WindowResult>) {
        let wm = self.watermark.get();
        self.each_op(out, |op, emitted| op.close(wm, emitted));
    }

    /// Update mode: emits changed open windows. Append mode: nothing.
    pub fn trigger(&mut self, out: &mut Vec<WindowResult>) {
        if self.mode == OutputMode::Update {
            self.each_op(out, |op, emitted| op.trigger(emitted));
        }
    }

    /// End of input: closes every window.
    pub fn finish(&mut self, out: &mut Vec<WindowResult>) {
        self.trigger(out);
        self.watermark.finish();
        self.advance(out);
    }

    fn each_op(
        &mut self,
        out: &mut Vec<WindowResult>,
        mut f: impl FnMut(&mut WindowOperator<WindowKey>, &mut Vec<Emitted<WindowKey>>),
    ) {
        let mut emitted = Vec::new();
        for spec in &mut self.specs {
            for (op, readings) in [(&mut spec.readings, true), (&mut spec.events, false)] {
                let Some(op) = op else { continue };
                emitted.clear();
                f(op, &mut emitted);
                for e in emitted.drain(..) {
                    to_results(spec.name, readings, &self.channels, e, out);
                }
            }
        }
    }
}

fn to_results(
    name: WindowName,
    readings: bool,
    channels: &[Channel],
    e: Emitted<WindowKey>,
    out: &mut Vec<WindowResult>,
) {
    let (key_kind, device, home, room, sensor) = match e.key {
        WindowKey::Device { device, home, room } => {
            (KeyKind::Device, Some(device), home, room, None)
        }
        WindowKey::Room(home, room) => (KeyKind::Room, None, home, room, None),
        WindowKey::RoomSensor(home, room, kind) => {
            (KeyKind::RoomSensor, None, home, room, Some(kind))
        }
    };
    for (index, agg) in e.aggs {
        let measure = match (readings, sensor) {
            (false, Some(kind)) => Measure::Sensor(kind),
            _ => match channels.get(index) {
                Some(c) => Measure::Channel(*c),
                None => continue,
            },
        };
        out.push(WindowResult {
            window: name,
            key_kind,
            device: device.clone(),
            home: home.clone(),
            room: room.clone(),
            measure,
            start: EventTime(e.start),
            end: EventTime(e.end),
            count: agg.count,
            avg: agg.mean(),
            min: agg.min,
            max: agg.max,
            stddev: agg.stddev(),
            last: agg.last,
            is_final: e.is_final,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::TopicKind;

    fn p(partition: i32) -> TopicPartition {
        TopicPartition {
            topic: TopicKind::Readings,
            partition,
        }
    }

    #[test]
    fn watermark_is_the_minimum_over_partitions_and_never_moves_back() {
        let mut wm = Watermark::new(10, Duration::from_secs(3600));
        assert_eq!(wm.get(), i64::MIN);
        wm.assign(&[p(0), p(1)]);
        wm.observe(p(0), EventTime(1000));
        assert_eq!(wm.get(), i64::MIN, "partition 1 has not delivered yet");
        wm.observe(p(1), EventTime(200));
        assert_eq!(wm.get(), 190, "partition 1 is behind");
        wm.observe(p(1), EventTime(5000));
        assert_eq!(wm.get(), 990);
        wm.observe(p(2), EventTime(100));
        assert_eq!(
            wm.get(),
            990,
            "a late-joining partition does not move it back"
        );
        wm.finish();
        assert_eq!(wm.get(), i64::MAX);
    }

    #[test]
    fn idle_partitions_stop_holding_the_watermark_back() {
        let mut wm = Watermark::new(0, Duration::from_millis(20));
        wm.assign(&[p(0), p(1)]);
        wm.observe(p(0), EventTime(1000));
        assert_eq!(wm.get(), i64::MIN);
        std::thread::sleep(std::time::Duration::from_millis(40));
        wm.observe(p(0), EventTime(2000));
        assert_eq!(wm.get(), 2000, "partition 1 never delivered and went idle");
    }
}
