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
//!
//! Every call that emits results returns [`Flow`]: `Paused` when the
//! result sink said it is full ([`ResultSink::is_full`]); the caller sends
//! what it holds and calls the same method again, which goes on where it
//! stopped (see [`operator`]).

pub mod agg;
pub mod operator;
pub mod stage;

pub use stage::WindowsStage;

use crate::schema::{Channel, DeviceId, EventTime, HomeId, RoomId, RoomSensorKind};
use crate::stream::config::{KeyKind, OutputMode, WindowConfig};
use crate::stream::message::{ChunkedResults, Item, SourceProgress};
use crate::stream::sinks::{Measure, WindowName, WindowResult};
use crate::transport::TopicPartition;
pub use operator::Flow;
use operator::{Emitted, WindowOperator, WindowSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::ControlFlow;
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
    /// Largest event time delivered; `None` for an assigned partition that
    /// has not delivered yet: it holds the watermark back until it delivers
    /// or, having nothing to read, goes idle.
    max_seen: Option<i64>,
    /// Processing time of its latest sign of life: a record, or the source
    /// reporting it behind its log's end (not checkpointed: a restored
    /// partition counts as active).
    #[serde(skip, default = "Instant::now")]
    last_active: Instant,
    /// The source reported every record it held as read. A partition the
    /// source does not report on (a replay) counts as caught up, so it goes
    /// idle after `idle_timeout` without records, as before sources
    /// reported progress. Not checkpointed: the source reports again before
    /// the first record after a restart.
    #[serde(skip, default = "caught_up_by_default")]
    caught_up: bool,
}

fn caught_up_by_default() -> bool {
    true
}

impl PartitionClock {
    fn new(max_seen: Option<i64>, caught_up: bool, now: Instant) -> Self {
        Self {
            max_seen,
            last_active: now,
            caught_up,
        }
    }

    /// Idle partitions do not hold the watermark back. A partition with a
    /// backlog is never idle, however long it takes to deliver; one with
    /// nothing left to read is idle after `idle_timeout` without records or
    /// backlog. Not at once even if it never delivered: a broker's high
    /// watermark can lag (seen with the tansu test broker: a partition
    /// reported caught up at offset 0 later delivered a backlog), and a
    /// partition taken for empty that then delivers would find it all late.
    fn is_idle(&self, now: Instant, idle_timeout: Duration) -> bool {
        self.caught_up && now.duration_since(self.last_active) > idle_timeout
    }
}

/// The watermark, as Flink's per-split watermarks with idleness and Kafka
/// Streams' stream time: per source partition the largest event time seen
/// minus the allowed lateness; overall the minimum over partitions that are
/// not idle, never moving back. Every assigned partition is known from the
/// source's first [`SourceProgress`] (before its first record), so one
/// running ahead (a backlog read partition by partition) does not make the
/// others late; idleness is re-evaluated on the source's progress timer,
/// not only when a record arrives.
///
/// A record is late when every window it belongs to has ended by the
/// larger of the overall watermark and its own partition's watermark. As
/// long as no partition went idle and came back, the overall watermark is
/// at most every partition's own, so whether a record is late depends only
/// on its partition's order — not on how partitions interleave, nor on
/// where a run was killed and restarted.
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

impl Default for Watermark {
    /// No allowed lateness, the default idle timeout.
    fn default() -> Self {
        Self::new(0, default_idle())
    }
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
        self.observe_at(partition, t, Instant::now());
    }

    /// [`Watermark::observe`] with the caller's clock (one reading of it
    /// serves a whole batch).
    pub fn observe_at(&mut self, partition: TopicPartition, t: EventTime, now: Instant) {
        let t = t.millis();
        let clock = self
            .partitions
            .entry(partition)
            .or_insert_with(|| PartitionClock::new(None, true, now));
        clock.max_seen = Some(clock.max_seen.map_or(t, |m| m.max(t)));
        clock.last_active = now;
        self.recompute(now);
    }

    /// Takes the source's view of its partitions: registers every assigned
    /// one (a new one holds the watermark back until it delivers or is
    /// found to have nothing to read), forgets partitions no longer
    /// assigned, notes which are caught up, and re-evaluates idleness.
    pub fn sync(&mut self, progress: &SourceProgress) {
        self.sync_at(progress, Instant::now());
    }

    /// [`Watermark::sync`] with the caller's clock.
    pub fn sync_at(&mut self, progress: &SourceProgress, now: Instant) {
        if let Some(assigned) = &progress.partitions {
            self.partitions.retain(|tp, _| assigned.contains_key(tp));
            for (tp, caught_up) in assigned {
                let clock = self
                    .partitions
                    .entry(*tp)
                    .or_insert_with(|| PartitionClock::new(None, *caught_up, now));
                clock.caught_up = *caught_up;
                if !caught_up {
                    clock.last_active = now;
                }
            }
        }
        self.recompute(now);
    }

    fn recompute(&mut self, now: Instant) {
        let mut active = self
            .partitions
            .values()
            .filter(|c| !c.is_idle(now, self.idle_timeout))
            .map(|c| c.max_seen)
            .peekable();
        if active.peek().is_none() {
            return;
        }
        if let Some(min) = active.min().flatten() {
            self.current = self.current.max(min.saturating_sub(self.lateness_ms));
        }
    }

    /// Whether the source reported `partition` as assigned (or it delivered).
    pub fn knows(&self, partition: &TopicPartition) -> bool {
        self.partitions.contains_key(partition)
    }

    /// Event time up to which every partition that is not idle has
    /// delivered: the smallest of their newest event times, without the
    /// allowed lateness and not held monotonic (`i64::MIN` while one has
    /// not delivered yet). `None` when no partition is known or every one
    /// is idle: nothing is pending.
    pub fn delivered_until(&self, now: Instant) -> Option<i64> {
        self.partitions
            .values()
            .filter(|c| !c.is_idle(now, self.idle_timeout))
            .map(|c| c.max_seen.unwrap_or(i64::MIN))
            .min()
    }

    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// Replaces the idle timeout (not checkpointed: a restart takes the
    /// configured one).
    pub fn set_idle_timeout(&mut self, idle_timeout: Duration) {
        self.idle_timeout = idle_timeout;
    }

    /// Current watermark in ms; `i64::MIN` before the first event.
    pub fn get(&self) -> i64 {
        if self.finished {
            i64::MAX
        } else {
            self.current
        }
    }

    /// What decides whether a record of `partition` is late: the larger of
    /// the watermark and the partition's own (its newest event time minus
    /// the allowed lateness).
    pub fn for_partition(&self, partition: &TopicPartition) -> i64 {
        let own = self
            .partitions
            .get(partition)
            .and_then(|c| c.max_seen)
            .map_or(i64::MIN, |m| m.saturating_sub(self.lateness_ms));
        self.get().max(own)
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

    /// Takes the source's progress (see [`Watermark::sync`]) and closes the
    /// windows the watermark has passed since (if paused, [`Windows::advance`]
    /// goes on).
    pub fn sync(&mut self, progress: &SourceProgress, out: &mut impl ResultSink) -> Flow {
        self.watermark.sync(progress);
        self.advance(out)
    }

    /// The state a checkpoint keeps: it shares the windows' panes (see
    /// [`CowMap::checkpoint_snapshot`](crate::stream::cow_map::CowMap::checkpoint_snapshot)).
    pub fn checkpoint_snapshot(&mut self) -> Self {
        Self {
            watermark: self.watermark.clone(),
            mode: self.mode,
            channels: self.channels.clone(),
            specs: self
                .specs
                .iter_mut()
                .map(|spec| SpecState {
                    name: spec.name,
                    readings: spec
                        .readings
                        .as_mut()
                        .map(WindowOperator::checkpoint_snapshot),
                    keys: spec.keys.clone(),
                    events: spec
                        .events
                        .as_mut()
                        .map(WindowOperator::checkpoint_snapshot),
                })
                .collect(),
            late: self.late,
        }
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

    /// Adds one record, or says it is late (it belongs to no open window;
    /// the caller dead-letters it). Windows the watermark has passed are
    /// closed (into `out`) before the record is added: a sliding window must
    /// not pick up, through a pane it shares with a later window, a record
    /// that arrived after its end. When that close fills `out`, the record
    /// is not looked at ([`Added::Paused`]): call again with it.
    pub fn add(&mut self, item: &Item, out: &mut impl ResultSink) -> Added {
        let t = item.event_time();
        if self.advance(out) == Flow::Paused {
            return Added::Paused;
        }
        let origin = item.origin();
        let partition = TopicPartition {
            topic: origin.topic,
            partition: origin.partition,
        };
        let wm = self.watermark.for_partition(&partition);
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
            return Added::Late;
        }
        self.watermark.observe(partition, t);
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
        Added::Taken
    }

    /// Closes the windows the watermark has passed (call after each batch).
    pub fn advance(&mut self, out: &mut impl ResultSink) -> Flow {
        let wm = self.watermark.get();
        self.each_op(out, |op, emitted| op.close(wm, emitted))
    }

    /// Update mode: emits changed open windows. Append mode: nothing.
    pub fn trigger(&mut self, out: &mut impl ResultSink) -> Flow {
        if self.mode != OutputMode::Update {
            return Flow::Done;
        }
        self.each_op(out, |op, emitted| op.trigger(emitted))
    }

    /// End of input: closes every window. Called again after a pause, it
    /// goes on where it stopped (the trigger and the final watermark are
    /// not repeated: nothing is added in between).
    pub fn finish(&mut self, out: &mut impl ResultSink) -> Flow {
        if self.trigger(out) == Flow::Paused {
            return Flow::Paused;
        }
        self.watermark.finish();
        self.advance(out)
    }

    /// Runs `f` on every operator in order, turning what it emits into
    /// results as it goes (a boundary of 100 000 rooms never holds every
    /// room's merged aggregates besides its results); stops at the first
    /// operator that pauses. Operators before it are done, so running the
    /// same `f` again goes on from there.
    fn each_op(
        &mut self,
        out: &mut impl ResultSink,
        mut f: impl FnMut(&mut WindowOperator<WindowKey>, operator::Emit<'_, WindowKey>) -> Flow,
    ) -> Flow {
        let channels = &self.channels;
        for spec in &mut self.specs {
            let name = spec.name;
            for (op, readings) in [(&mut spec.readings, true), (&mut spec.events, false)] {
                let Some(op) = op else { continue };
                let flow = f(op, &mut |e| {
                    to_results(name, readings, channels, e, out);
                    if out.is_full() {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                });
                if flow == Flow::Paused {
                    return Flow::Paused;
                }
            }
        }
        Flow::Done
    }
}

/// What [`Windows::add`] did with a record.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// In every open window it belongs to.
    Taken,
    /// It belongs to no open window.
    Late,
    /// Closing the windows before it filled the output: send that on and
    /// add the record again.
    Paused,
}

/// Where [`Windows`] puts the results it emits: a vector, or a batch's
/// [`ChunkedResults`] (which keeps a large boundary's results in
/// message-sized chunks).
pub trait ResultSink {
    fn push(&mut self, result: WindowResult);
    /// Whether the emitting call should stop and let the results be sent
    /// on before it makes more (a vector never is).
    fn is_full(&self) -> bool {
        false
    }
}

impl ResultSink for Vec<WindowResult> {
    fn push(&mut self, result: WindowResult) {
        Vec::push(self, result);
    }
}

impl ResultSink for ChunkedResults<'_> {
    fn push(&mut self, result: WindowResult) {
        ChunkedResults::push(self, result);
    }
    /// Full once a whole message of results waits to be sent.
    fn is_full(&self) -> bool {
        !self.ahead.is_empty()
    }
}

fn to_results(
    name: WindowName,
    readings: bool,
    channels: &[Channel],
    e: Emitted<WindowKey>,
    out: &mut impl ResultSink,
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

    fn progress(partitions: &[(i32, bool)]) -> SourceProgress {
        SourceProgress {
            partitions: Some(partitions.iter().map(|(n, c)| (p(*n), *c)).collect()),
        }
    }

    #[test]
    fn watermark_is_the_minimum_over_partitions_and_never_moves_back() {
        let now = Instant::now();
        let mut wm = Watermark::new(10, Duration::from_secs(3600));
        assert_eq!(wm.get(), i64::MIN);
        wm.sync_at(&progress(&[(0, false), (1, false)]), now);
        wm.observe_at(p(0), EventTime(1000), now);
        assert_eq!(wm.get(), i64::MIN, "partition 1 has not delivered yet");
        wm.observe_at(p(1), EventTime(200), now);
        assert_eq!(wm.get(), 190, "partition 1 is behind");
        wm.observe_at(p(1), EventTime(5000), now);
        assert_eq!(wm.get(), 990);
        wm.observe_at(p(2), EventTime(100), now);
        assert_eq!(
            wm.get(),
            990,
            "a late-joining partition does not move it back"
        );
        wm.finish();
        assert_eq!(wm.get(), i64::MAX);
    }

    #[test]
    fn a_partition_with_a_backlog_holds_the_watermark_however_long_it_is_silent() {
        let start = Instant::now();
        let mut wm = Watermark::new(0, Duration::from_millis(20));
        wm.sync_at(&progress(&[(0, false), (1, false)]), start);
        wm.observe_at(p(0), EventTime(1000), start);
        let later = start + Duration::from_secs(600);
        wm.sync_at(&progress(&[(0, true), (1, false)]), later);
        assert_eq!(wm.get(), i64::MIN, "partition 1 is behind its log's end");
        wm.observe_at(p(1), EventTime(400), later);
        assert_eq!(wm.get(), 400);
    }

    #[test]
    fn a_partition_that_never_delivers_goes_idle_on_the_timer_without_a_record() {
        let start = Instant::now();
        let mut wm = Watermark::new(0, Duration::from_secs(30));
        // Partition 1 is an empty topic: caught up, nothing ever delivered.
        wm.sync_at(&progress(&[(0, false), (1, true)]), start);
        wm.observe_at(p(0), EventTime(1000), start);
        assert_eq!(wm.get(), i64::MIN, "held for the idle timeout");
        wm.sync_at(
            &progress(&[(0, false), (1, true)]),
            start + Duration::from_secs(31),
        );
        assert_eq!(wm.get(), 1000, "an empty partition went idle on the timer");
        // Partition 0 caught up after delivering: it holds the watermark
        // for the idle timeout, then the timer (a progress message, no
        // record) lets a busy partition 2 lead.
        let later = start + Duration::from_secs(31);
        wm.sync_at(&progress(&[(0, true), (1, true), (2, false)]), later);
        wm.observe_at(p(2), EventTime(9000), later);
        assert_eq!(wm.get(), 1000);
        wm.sync_at(
            &progress(&[(0, true), (1, true), (2, false)]),
            later + Duration::from_secs(31),
        );
        assert_eq!(wm.get(), 9000, "partition 0 went idle");
    }

    #[test]
    fn partitions_no_longer_assigned_are_forgotten() {
        let now = Instant::now();
        let mut wm = Watermark::new(0, Duration::from_secs(3600));
        wm.sync_at(&progress(&[(0, false), (1, false)]), now);
        wm.observe_at(p(0), EventTime(1000), now);
        wm.sync_at(&progress(&[(0, false)]), now);
        assert_eq!(wm.get(), 1000);
    }

    #[test]
    fn lateness_is_decided_by_the_records_own_partition() {
        let now = Instant::now();
        let mut wm = Watermark::new(100, Duration::from_secs(3600));
        wm.sync_at(&progress(&[(0, false), (1, false)]), now);
        wm.observe_at(p(0), EventTime(10_000), now);
        wm.observe_at(p(1), EventTime(2_000), now);
        assert_eq!(wm.get(), 1_900);
        assert_eq!(wm.for_partition(&p(0)), 9_900);
        assert_eq!(wm.for_partition(&p(1)), 1_900);
    }
}
