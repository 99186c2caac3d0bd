//! Anomaly detection: per-channel thresholds, statistical spikes (z-score
//! from the features), compound rules from config, the ML fire probability
//! and device faults, all feeding one [`AlertManager`].
//!
//! Alerts people can trust (see `smokewatch bench alerts`):
//! - thresholds need `sustain` readings in a row and clear only below a
//!   hysteresis band, so one glitch or a value hovering at a level does
//!   not open and close alerts;
//! - spikes count only in the direction that matters for the channel,
//!   only with a minimum absolute change, and only when they hold;
//! - the ML alert needs `min_votes` of the last `window` readings above
//!   the threshold, and is critical only when an independent detector of
//!   the device agrees (severity from evidence): another detector's alert,
//!   or an evidence-only rule (by default the data set's fire gas
//!   signature) that raises nothing by itself;
//! - a channel with impossible, stuck or drifting values is left out of
//!   the thresholds, spikes and rules; impossible values that persist raise
//!   `fault:device`.
//!
//! Device-scope detectors run on every reading of a device. Room-scope
//! rules (over room state only) run on every record of the room — its room
//! events and its detectors' readings — so a rule's `for` hold time is
//! checked with the room's own clock, about once a second. Readings and
//! room events travel on different partitions, read in turn, so a reading
//! can arrive before the room events of its time: a reading checks the
//! room's rules only at the event time up to which every room-events
//! partition has delivered (see [`Detector::source_progress`]), never on a
//! room state that may already be out of date.

pub mod alerts;
pub mod rules;
pub mod stage;

pub use stage::DetectStage;

use crate::schema::{Channel, EventTime, HomeId, RoomId};
use crate::stream::config::{DetectConfig, Direction, Severity, SpikeChannel, ThresholdLevels};
use crate::stream::cow_map::CowMap;
use crate::stream::fast_map::FastMap;
use crate::stream::message::{Item, ReadingRecord, SourceProgress};
use crate::stream::sinks::{AlertEvent, AlertKind, RoomState};
use crate::stream::window::Watermark;
use crate::transport::{Origin, TopicKind, TopicPartition};
use alerts::{AlertManager, Observed, Outcome, Slot, Subject};
use rules::{Lookup, Operand, Rule, RuleError, Scope};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub use crate::stream::message::MAX_RULE_FEATURES;

/// Why the detectors could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error("rules read {count} distinct features; at most {MAX_RULE_FEATURES} are supported")]
    TooManyFeatures { count: usize },
}

struct RuleSlot {
    rule: Rule,
    severity: Severity,
    operands: Vec<Operand>,
    slot: usize,
    /// Raises nothing itself; only corroborates the ML fire alert.
    evidence_only: bool,
}

/// Per-device memory of the detectors that look back over readings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct DeviceMemory {
    /// Per threshold: readings in a row at or above its lowest level, and
    /// whether it is active (then it holds until below the hysteresis band).
    thresholds: Vec<(u32, bool)>,
    /// Per spike channel: readings in a row the change has held.
    spikes: Vec<u32>,
    /// ML votes of the latest readings, newest in bit 0.
    ml_votes: u64,
    /// Readings in a row with a physically impossible value.
    invalid_run: u32,
}

/// Detector state that a checkpoint keeps.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DetectState {
    rooms: CowMap<(HomeId, RoomId), RoomState>,
    devices: CowMap<crate::schema::DeviceId, DeviceMemory>,
    /// Event time since which a held rule's condition has been true.
    holds: FastMap<(Subject, usize), i64>,
    alerts: AlertManager,
    /// How far each assigned room-events partition has delivered.
    #[serde(default)]
    room_events: Watermark,
}

/// All detectors and their state.
pub struct Detector {
    device_slots: Vec<Slot>,
    room_slots: Vec<Slot>,
    thresholds: Vec<(Channel, ThresholdLevels)>,
    spikes: Vec<(Channel, SpikeChannel)>,
    spike_z: f64,
    spike_sustain: u32,
    spike_severity: Severity,
    device_rules: Vec<RuleSlot>,
    room_rules: Vec<RuleSlot>,
    /// Some room rule has a hold time (`for >= ...`): room events then
    /// first close the old state's holds (see [`Detector::process`]).
    has_held_room_rules: bool,
    ml: Option<crate::stream::config::MlDetectConfig>,
    /// The ML alert's slot among the device slots.
    ml_slot: Option<usize>,
    /// Indices (in `device_rules`) of the evidence-only rules that hold for
    /// the reading being observed; reused across readings.
    evidence: Vec<usize>,
    fault: Option<crate::stream::config::FaultDetectConfig>,
    /// Features the rules read, in the order of `ReadingRecord::rule_features`.
    rule_features: Vec<crate::features::Feature>,
    state: DetectState,
    /// Event time up to which the room events are all in (`None`: nothing
    /// pending, or a source that is one ordered log); from `state.room_events`.
    room_events_until: Option<i64>,
    outcomes: Vec<Outcome>,
    /// Rooms whose state changed since the web view was last updated.
    changed_rooms: std::collections::HashSet<(HomeId, RoomId), foldhash::fast::FixedState>,
}

impl Detector {
    pub fn new(
        config: &DetectConfig,
        cooldown_ms: i64,
        ml_enabled: bool,
    ) -> Result<Self, DetectError> {
        let mut device_slots = Vec::new();
        let slot = |slots: &mut Vec<Slot>, rule: String, kind| {
            slots.push(Slot {
                rule: rule.into(),
                kind,
            });
            slots.len() - 1
        };
        let thresholds: Vec<(Channel, ThresholdLevels)> =
            config.thresholds.iter().map(|(c, l)| (*c, *l)).collect();
        for (c, _) in &thresholds {
            slot(
                &mut device_slots,
                format!("threshold:{c}"),
                AlertKind::Threshold,
            );
        }
        let spikes: Vec<(Channel, SpikeChannel)> = if config.spike.enabled {
            config
                .spike
                .channels
                .iter()
                .map(|(c, s)| (*c, *s))
                .collect()
        } else {
            Vec::new()
        };
        for (c, _) in &spikes {
            slot(&mut device_slots, format!("spike:{c}"), AlertKind::Spike);
        }
        let mut room_slots = Vec::new();
        let (mut device_rules, mut room_rules) = (Vec::new(), Vec::new());
        let mut rule_features = Vec::new();
        for rc in &config.rules {
            let rule = Rule::parse(&rc.name, &rc.when)?;
            for f in rule.features() {
                if !rule_features.contains(&f) {
                    rule_features.push(f);
                }
            }
            let mut operands = Vec::new();
            rule.expr.operands(&mut operands);
            let (slots, list) = match rule.scope {
                Scope::Device => (&mut device_slots, &mut device_rules),
                Scope::Room => (&mut room_slots, &mut room_rules),
            };
            let index = slot(slots, rc.name.clone(), AlertKind::Rule);
            list.push(RuleSlot {
                rule,
                severity: rc.severity,
                operands,
                slot: index,
                evidence_only: rc.evidence_only,
            });
        }
        if rule_features.len() > MAX_RULE_FEATURES {
            return Err(DetectError::TooManyFeatures {
                count: rule_features.len(),
            });
        }
        let ml = ml_enabled.then(|| config.ml.clone());
        let ml_slot = ml
            .is_some()
            .then(|| slot(&mut device_slots, "ml:fire".into(), AlertKind::Ml));
        let fault = config.fault.enabled.then(|| config.fault.clone());
        if fault.is_some() {
            slot(&mut device_slots, "fault:device".into(), AlertKind::Fault);
        }
        Ok(Self {
            device_slots,
            room_slots,
            thresholds,
            spikes,
            spike_z: config.spike.z_threshold,
            spike_sustain: config.spike.sustain,
            spike_severity: config.spike.severity,
            device_rules,
            has_held_room_rules: room_rules.iter().any(|rs| rs.rule.hold_ms > 0),
            room_rules,
            ml,
            ml_slot,
            evidence: Vec::new(),
            fault,
            rule_features,
            state: DetectState {
                alerts: AlertManager::new(cooldown_ms),
                ..DetectState::default()
            },
            room_events_until: None,
            outcomes: Vec::new(),
            changed_rooms: Default::default(),
        })
    }

    /// Features the rules read; the features stage computes them per reading.
    pub fn rule_features(&self) -> &[crate::features::Feature] {
        &self.rule_features
    }

    pub fn state(&self) -> &DetectState {
        &self.state
    }

    /// The state a checkpoint keeps (see
    /// [`CowMap::checkpoint_snapshot`]).
    pub fn checkpoint_snapshot(&mut self) -> DetectState {
        let s = &mut self.state;
        DetectState {
            rooms: s.rooms.checkpoint_snapshot(),
            devices: s.devices.checkpoint_snapshot(),
            holds: s.holds.clone(),
            alerts: s.alerts.clone(),
            room_events: s.room_events.clone(),
        }
    }

    /// Replaces the state (restore from a checkpoint), keeping this
    /// instance's idle timeout.
    pub fn restore(&mut self, mut state: DetectState) {
        state
            .room_events
            .set_idle_timeout(self.state.room_events.idle_timeout());
        self.state = state;
        self.room_events_until = self.state.room_events.delivered_until(Instant::now());
    }

    /// A room-events partition that has had no record for `idle_timeout`,
    /// with nothing left to read, no longer holds readings' room rules
    /// back (the windows' idleness, `stream.window.idle_timeout`).
    pub fn with_idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.state.room_events.set_idle_timeout(idle_timeout);
        self
    }

    /// Takes the source's assigned partitions: the room-events ones are
    /// tracked so that a reading checks its room's rules only as far as the
    /// room events are in. A source that reports no partitions (a replay:
    /// one log in order) needs no such care.
    pub fn source_progress(&mut self, progress: &SourceProgress) {
        let room_events = SourceProgress {
            partitions: progress.partitions.as_ref().map(|all| {
                all.iter()
                    .filter(|(tp, _)| tp.topic == TopicKind::RoomEvents)
                    .map(|(tp, caught_up)| (*tp, *caught_up))
                    .collect()
            }),
        };
        let now = Instant::now();
        self.state.room_events.sync_at(&room_events, now);
        self.room_events_until = self.state.room_events.delivered_until(now);
    }

    /// Notes a room event's partition progress (only a partition the
    /// source reported).
    fn room_event_delivered(&mut self, origin: Origin, t: EventTime) {
        let partition = TopicPartition {
            topic: origin.topic,
            partition: origin.partition,
        };
        if self.state.room_events.knows(&partition) {
            let now = Instant::now();
            self.state.room_events.observe_at(partition, t, now);
            self.room_events_until = self.state.room_events.delivered_until(now);
        }
    }

    pub fn open_alerts(&self) -> usize {
        self.state.alerts.open_count()
    }

    pub fn open_alert_list(&self) -> impl Iterator<Item = &crate::stream::sinks::Alert> {
        self.state.alerts.open_alerts()
    }

    /// Every room's latest state.
    pub fn rooms(&self) -> impl Iterator<Item = &RoomState> {
        self.state.rooms.values()
    }

    /// Rooms changed since the last call, with their state (for the web).
    pub fn take_changed_rooms(&mut self) -> Vec<RoomState> {
        let mut keys: Vec<(HomeId, RoomId)> = self.changed_rooms.drain().collect();
        keys.sort();
        keys.iter()
            .filter_map(|k| self.state.rooms.get(k).cloned())
            .collect()
    }

    /// Runs every detector on one record.
    pub fn process(&mut self, item: &Item, now_ms: i64, out: &mut Vec<AlertEvent>) {
        match item {
            Item::Reading(r) => {
                self.on_reading(r, now_ms, out);
                let key = (r.reading.home.clone(), r.reading.room.clone());
                let at = RoomClock::Reading(r.reading.event_time);
                self.room_rules_for(key, at, r.reading.seq, now_ms, out);
            }
            Item::RoomEvent(record) => {
                let e = &record.event;
                let at = RoomClock::Event(e.event_time);
                let key = (e.home.clone(), e.room.clone());
                // The room was in its old state until this event: a held
                // rule whose mark passed since the room's last record (one
                // event per change, so minutes can lie between two) was met
                // then. Evaluating the old state at the event's time opens
                // it at the mark before the event changes the state.
                if self.has_held_room_rules && self.state.rooms.get(&key).is_some() {
                    self.room_rules_for(key.clone(), at, e.seq, now_ms, out);
                }
                let room = self
                    .state
                    .rooms
                    .get_or_insert_with(&key, || RoomState::new(e.home.clone(), e.room.clone()));
                if room.apply(e.kind, e.value, e.event_time) && !self.changed_rooms.contains(&key) {
                    self.changed_rooms.insert(key.clone());
                }
                self.room_rules_for(key, at, e.seq, now_ms, out);
                self.room_event_delivered(record.origin, e.event_time);
            }
        }
    }

    fn on_reading(&mut self, r: &ReadingRecord, now_ms: i64, out: &mut Vec<AlertEvent>) {
        let reading = &r.reading;
        let t = reading.event_time.millis();
        let room_key = (reading.home.clone(), reading.room.clone());
        if let Some(room) = self.state.rooms.get_mut(&room_key) {
            room.smoke_pm2_5 = reading.values.get(Channel::Pm2_5).or(room.smoke_pm2_5);
            room.fire_probability = r.fire_probability.or(room.fire_probability);
            room.touch(reading.event_time);
        } else {
            let mut room = RoomState::new(reading.home.clone(), reading.room.clone());
            room.smoke_pm2_5 = reading.values.get(Channel::Pm2_5);
            room.fire_probability = r.fire_probability;
            room.touch(reading.event_time);
            self.state.rooms.insert(room_key.clone(), room);
        }
        if !self.changed_rooms.contains(&room_key) {
            self.changed_rooms.insert(room_key.clone());
        }

        let mut outcomes = std::mem::take(&mut self.outcomes);
        outcomes.clear();
        let (n_thresholds, n_spikes) = (self.thresholds.len(), self.spikes.len());
        let memory = self
            .state
            .devices
            .get_or_insert_with(&reading.device_id, DeviceMemory::default);
        memory.thresholds.resize(n_thresholds, (0, false));
        memory.spikes.resize(n_spikes, 0);
        let q = &r.quality;
        let untrusted = q.untrusted();
        for ((c, levels), run) in self.thresholds.iter().zip(memory.thresholds.iter_mut()) {
            let value = reading
                .values
                .get(*c)
                .filter(|_| untrusted & (1 << c.index()) == 0);
            outcomes.push(threshold(levels, value, run));
        }
        for ((c, spike), run) in self.spikes.iter().zip(memory.spikes.iter_mut()) {
            let i = c.index();
            let trusted = untrusted & (1 << i) == 0 && q.missing & (1 << i) == 0;
            let (z, dev) = (r.signals.z[i], r.signals.dev[i]);
            outcomes.push(if !trusted || z.is_nan() || dev.is_nan() {
                *run = 0;
                Outcome::Unknown
            } else {
                let sign = |x: f64| match spike.direction {
                    Direction::Rise => x,
                    Direction::Fall => -x,
                    Direction::Both => x.abs(),
                };
                let changed = sign(dev) >= spike.min_change;
                // A spike starts with a jump far outside the device's
                // spread and goes on while the change holds.
                if changed && (*run > 0 || sign(z) >= self.spike_z) {
                    *run = run.saturating_add(1);
                } else {
                    *run = 0;
                }
                if *run >= self.spike_sustain {
                    Outcome::Active(self.spike_severity)
                } else {
                    Outcome::Clear
                }
            });
        }
        let invalid = q.invalid != 0;
        memory.invalid_run = if invalid {
            memory.invalid_run.saturating_add(1)
        } else {
            0
        };
        let invalid_run = memory.invalid_run;
        let subject = Subject::Device(reading.device_id.clone());
        let room = self.state.rooms.get(&room_key);
        let lookup = RecordLookup {
            reading: Some(r),
            room,
            rule_features: &self.rule_features,
        };
        self.evidence.clear();
        for (i, rs) in self.device_rules.iter().enumerate() {
            let verdict = rs.rule.expr.eval(&lookup);
            let outcome = held(&mut self.state.holds, &subject, rs, verdict, t);
            if rs.evidence_only {
                if matches!(outcome, Outcome::Active(_)) {
                    self.evidence.push(i);
                }
                outcomes.push(Outcome::Clear);
            } else {
                outcomes.push(outcome);
            }
        }
        if let Some(ml) = &self.ml {
            // Independent evidence: an evidence-only rule holding, or any
            // other device detector active now.
            let corroborated = !self.evidence.is_empty()
                || outcomes.iter().any(|o| matches!(o, Outcome::Active(_)));
            outcomes.push(match r.fire_probability {
                None => Outcome::Unknown,
                Some(p) => {
                    let memory = self
                        .state
                        .devices
                        .get_or_insert_with(&reading.device_id, DeviceMemory::default);
                    let mask = if ml.window >= 64 {
                        u64::MAX
                    } else {
                        (1u64 << ml.window) - 1
                    };
                    memory.ml_votes =
                        ((memory.ml_votes << 1) | u64::from(p >= ml.threshold)) & mask;
                    let votes = memory.ml_votes.count_ones();
                    if votes >= ml.min_votes {
                        Outcome::Active(if corroborated && votes >= ml.corroborated_votes() {
                            ml.corroborated_severity
                        } else {
                            ml.severity
                        })
                    } else {
                        Outcome::Clear
                    }
                }
            });
        }
        if let Some(fault) = &self.fault {
            let persistent_invalid = invalid_run >= fault.invalid_after;
            // Stuck and drift flags are not raised as faults: channels
            // saturate at their sensor's bound for hours (identical values)
            // and a room's slow climate moves a mean as much as a drifting
            // calibration does (the scoreboard counted them as false
            // alerts); such channels are only kept out of the detectors.
            outcomes.push(if persistent_invalid {
                Outcome::Active(fault.severity)
            } else if invalid {
                Outcome::Unknown
            } else {
                Outcome::Clear
            });
        }
        let (thresholds, spikes, rules) = (&self.thresholds, &self.spikes, &self.device_rules);
        // The ML alert's values also name what corroborated it.
        let evidence = DeviceEvidence {
            ml_slot: self.ml_slot,
            rules: &self.evidence,
        };
        let values = |i: usize| device_values(thresholds, spikes, rules, &evidence, i, &lookup);
        let at = Observed {
            subject: &subject,
            home: &reading.home,
            room: &reading.room,
            event_time: reading.event_time,
            seq: reading.seq,
            now_ms,
        };
        self.state
            .alerts
            .observe(at, &self.device_slots, &outcomes, &values, out);
        self.outcomes = outcomes;
    }

    fn room_rules_for(
        &mut self,
        key: (HomeId, RoomId),
        at: RoomClock,
        seq: u64,
        now_ms: i64,
        out: &mut Vec<AlertEvent>,
    ) {
        if self.room_rules.is_empty() {
            return;
        }
        let Some(room) = self.state.rooms.get(&key) else {
            return;
        };
        // The room's state describes the room from its latest room event
        // on: a record from before that (another partition running behind)
        // cannot tell what the room was like at its time.
        let latest = room.sensor_times.values().max().copied();
        let time = match at {
            RoomClock::Event(t) | RoomClock::Reading(t) if latest.is_some_and(|l| t < l) => {
                return;
            }
            RoomClock::Event(t) => t,
            // Nor can a record from after the time up to which the room
            // events are in: an event of the room may still come before it
            // (a person walking back in). The room is known as it is until
            // then, and at least at its latest event.
            RoomClock::Reading(t) => match self.room_events_until {
                Some(until) if until < t.millis() => {
                    let known = EventTime(until);
                    latest.map_or(known, |l| l.max(known))
                }
                _ => t,
            },
        };
        let subject = Subject::Room(key.0.clone(), key.1.clone());
        let lookup = RecordLookup {
            reading: None,
            room: Some(room),
            rule_features: &[],
        };
        let mut outcomes = std::mem::take(&mut self.outcomes);
        outcomes.clear();
        for rs in &self.room_rules {
            let verdict = rs.rule.expr.eval(&lookup);
            outcomes.push(held(
                &mut self.state.holds,
                &subject,
                rs,
                verdict,
                time.millis(),
            ));
        }
        // A held condition is met `hold` after it became true, even when
        // the next record that shows it comes later (partitions are read
        // in turn, so a room's records can arrive seconds apart in event
        // time): the alert opens at that moment, not at the record's.
        let mut time = time;
        for (rs, outcome) in self.room_rules.iter().zip(&outcomes) {
            if let (Outcome::Active(_), Some(since)) =
                (outcome, self.state.holds.get(&(subject.clone(), rs.slot)))
                && rs.rule.hold_ms > 0
            {
                time = time.min(EventTime(since + rs.rule.hold_ms));
            }
        }
        let rules = &self.room_rules;
        let values = |i: usize| {
            let mut values = BTreeMap::new();
            if let Some(rs) = rules.iter().find(|rs| rs.slot == i) {
                operand_values(&rs.operands, &lookup, &mut values);
            }
            values
        };
        let at = Observed {
            subject: &subject,
            home: &key.0,
            room: &key.1,
            event_time: time,
            seq,
            now_ms,
        };
        self.state
            .alerts
            .observe(at, &self.room_slots, &outcomes, &values, out);
        self.outcomes = outcomes;
    }
}

/// The record a room's rules are checked for, with its event time.
#[derive(Debug, Clone, Copy)]
enum RoomClock {
    /// A room event of the room: the room is known as it is up to its time.
    Event(EventTime),
    /// A reading of one of the room's devices, from another partition than
    /// the room events.
    Reading(EventTime),
}

/// What corroborated a device's ML alert at the reading being observed.
struct DeviceEvidence<'a> {
    ml_slot: Option<usize>,
    /// Indices in `device_rules` of the evidence-only rules that hold.
    rules: &'a [usize],
}

/// The triggering values of device slot `slot`.
fn device_values(
    thresholds: &[(Channel, ThresholdLevels)],
    spikes: &[(Channel, SpikeChannel)],
    device_rules: &[RuleSlot],
    evidence: &DeviceEvidence<'_>,
    slot: usize,
    lookup: &RecordLookup<'_>,
) -> BTreeMap<String, f64> {
    let mut values = BTreeMap::new();
    let Some(r) = lookup.reading else {
        return values;
    };
    let n_thresholds = thresholds.len();
    let n_spikes = spikes.len();
    if slot < n_thresholds {
        let c = thresholds[slot].0;
        if let Some(v) = r.reading.values.get(c) {
            values.insert(c.key().to_string(), v);
        }
    } else if slot < n_thresholds + n_spikes {
        let c = spikes[slot - n_thresholds].0;
        if let Some(v) = r.reading.values.get(c) {
            values.insert(c.key().to_string(), v);
        }
        values.insert(format!("{}__z", c.key()), r.signals.z[c.index()]);
        values.insert(format!("{}__change", c.key()), r.signals.dev[c.index()]);
    } else if let Some(rs) = device_rules.iter().find(|rs| rs.slot == slot) {
        operand_values(&rs.operands, lookup, &mut values);
    } else if let Some(p) = r.fire_probability {
        values.insert("fire_probability".into(), p);
        if evidence.ml_slot == Some(slot) {
            for &i in evidence.rules {
                operand_values(&device_rules[i].operands, lookup, &mut values);
            }
        }
    }
    if r.quality.invalid != 0 {
        values.insert("invalid_channels".into(), f64::from(r.quality.invalid));
    }
    values
}

/// One threshold's verdict for a value (`None`: missing or untrusted).
/// `run` is its memory: readings in a row at or above the lowest level,
/// and whether it is active.
fn threshold(levels: &ThresholdLevels, value: Option<f64>, run: &mut (u32, bool)) -> Outcome {
    let Some(v) = value else {
        return Outcome::Unknown;
    };
    let Some((lowest_severity, lowest)) = levels.levels().next() else {
        return Outcome::Unknown;
    };
    let reached = levels
        .levels()
        .filter(|(_, l)| v >= *l)
        .map(|(s, _)| s)
        .last();
    match reached {
        Some(severity) => {
            run.0 = run.0.saturating_add(1);
            if run.0 >= levels.sustain {
                run.1 = true;
            }
            if run.1 {
                Outcome::Active(severity)
            } else {
                Outcome::Clear
            }
        }
        None => {
            run.0 = 0;
            if run.1 && v >= lowest - levels.hysteresis * lowest.abs() {
                // Inside the hysteresis band: still the same incident.
                Outcome::Active(lowest_severity)
            } else {
                run.1 = false;
                Outcome::Clear
            }
        }
    }
}

/// Applies a rule's hold time: active only once true for `hold_ms`.
fn held(
    holds: &mut FastMap<(Subject, usize), i64>,
    subject: &Subject,
    rs: &RuleSlot,
    verdict: Option<bool>,
    t: i64,
) -> Outcome {
    match verdict {
        Some(true) if rs.rule.hold_ms == 0 => Outcome::Active(rs.severity),
        Some(true) => {
            let since = *holds.entry((subject.clone(), rs.slot)).or_insert(t);
            if t - since >= rs.rule.hold_ms {
                Outcome::Active(rs.severity)
            } else {
                Outcome::Unknown
            }
        }
        Some(false) => {
            if rs.rule.hold_ms > 0 {
                holds.remove(&(subject.clone(), rs.slot));
            }
            Outcome::Clear
        }
        None => {
            if rs.rule.hold_ms > 0 {
                holds.remove(&(subject.clone(), rs.slot));
            }
            Outcome::Unknown
        }
    }
}

fn operand_values(
    operands: &[Operand],
    lookup: &RecordLookup<'_>,
    out: &mut BTreeMap<String, f64>,
) {
    for o in operands {
        if let Some(v) = lookup.value(o) {
            out.insert(o.name(), v);
        }
        if let Operand::Channel(c) = o
            && let Some(d) = lookup.delta(*c)
        {
            out.insert(format!("{}__delta", c.key()), d);
        }
    }
}

/// What a rule reads, for one record.
struct RecordLookup<'a> {
    reading: Option<&'a ReadingRecord>,
    room: Option<&'a RoomState>,
    rule_features: &'a [crate::features::Feature],
}

impl<'a> RecordLookup<'a> {
    /// The reading, if `channel` can be trusted in it. A channel the clean
    /// stage flagged stuck or drifting (or whose value was impossible) is
    /// unknown to rules, as it is to thresholds and spikes: a rule over a
    /// frozen sensor would otherwise hold for as long as it stays frozen
    /// (and, as evidence, turn an ML alert critical).
    fn trusted(&self, channel: Channel) -> Option<&'a ReadingRecord> {
        let r = self.reading?;
        (r.quality.untrusted() & (1 << channel.index()) == 0).then_some(r)
    }
}

impl Lookup for RecordLookup<'_> {
    fn value(&self, operand: &Operand) -> Option<f64> {
        match operand {
            Operand::Number(n) => Some(*n),
            Operand::Channel(c) => self.trusted(*c)?.reading.values.get(*c),
            Operand::Feature(f) => {
                let i = self.rule_features.iter().position(|x| x == f)?;
                let v = self.trusted(f.channel)?.rule_features[i];
                (!v.is_nan()).then_some(v)
            }
            Operand::FireProbability => self.reading?.fire_probability,
            Operand::Room(kind) => self.room?.sensor(*kind),
        }
    }

    fn delta(&self, channel: Channel) -> Option<f64> {
        let d = self.trusted(channel)?.signals.delta[channel.index()];
        (!d.is_nan()).then_some(d)
    }
}
