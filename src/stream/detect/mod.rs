//! Anomaly detection: per-channel thresholds, statistical spikes (z-score
//! from the features), compound rules from config and the ML fire
//! probability, all feeding one [`AlertManager`].
//!
//! Device-scope detectors run on every reading of a device. Room-scope
//! rules (over room state only) run on every record of the room — its room
//! events and its detectors' readings — so a rule's `for` hold time is
//! checked with the room's own clock, about once a second.

pub mod alerts;
pub mod rules;

use crate::model::{Channel, EventTime, HomeId, RoomId};
use crate::sinks::{AlertEvent, AlertKind, RoomState};
use crate::stream::cow_map::CowMap;
use crate::stream::message::{Item, ReadingRecord};
use crate::stream::{DetectConfig, FastMap, Severity, ThresholdLevels};
use alerts::{AlertManager, Observed, Outcome, Slot, Subject};
use rules::{Lookup, Operand, Rule, RuleError, Scope};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most distinct features the rules may read (computed per reading).
pub const MAX_RULE_FEATURES: usize = 8;

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
}

/// Detector state that a checkpoint keeps.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DetectState {
    rooms: CowMap<(HomeId, RoomId), RoomState>,
    /// Event time since which a held rule's condition has been true.
    holds: FastMap<(Subject, usize), i64>,
    alerts: AlertManager,
}

/// All detectors and their state.
pub struct Detector {
    device_slots: Vec<Slot>,
    room_slots: Vec<Slot>,
    thresholds: Vec<(Channel, ThresholdLevels)>,
    spikes: Vec<Channel>,
    spike_z: f64,
    spike_severity: Severity,
    device_rules: Vec<RuleSlot>,
    room_rules: Vec<RuleSlot>,
    ml: Option<(f64, Severity)>,
    /// Features the rules read, in the order of `ReadingRecord::rule_features`.
    rule_features: Vec<crate::features::Feature>,
    state: DetectState,
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
        let spikes = if config.spike.enabled {
            config.spike.channels.clone()
        } else {
            Vec::new()
        };
        for c in &spikes {
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
            });
        }
        if rule_features.len() > MAX_RULE_FEATURES {
            return Err(DetectError::TooManyFeatures {
                count: rule_features.len(),
            });
        }
        let ml = ml_enabled.then_some((config.ml.threshold, config.ml.severity));
        if ml.is_some() {
            slot(&mut device_slots, "ml:fire".into(), AlertKind::Ml);
        }
        Ok(Self {
            device_slots,
            room_slots,
            thresholds,
            spikes,
            spike_z: config.spike.z_threshold,
            spike_severity: config.spike.severity,
            device_rules,
            room_rules,
            ml,
            rule_features,
            state: DetectState {
                alerts: AlertManager::new(cooldown_ms),
                ..DetectState::default()
            },
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

    /// Replaces the state (restore from a checkpoint).
    pub fn restore(&mut self, state: DetectState) {
        self.state = state;
    }

    pub fn open_alerts(&self) -> usize {
        self.state.alerts.open_count()
    }

    pub fn open_alert_list(&self) -> impl Iterator<Item = &crate::sinks::Alert> {
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
                self.room_rules_for(key, r.reading.event_time, r.reading.seq, now_ms, out);
            }
            Item::RoomEvent(e) => {
                let e = &e.event;
                let key = (e.home.clone(), e.room.clone());
                let room = self
                    .state
                    .rooms
                    .get_or_insert_with(&key, || RoomState::new(e.home.clone(), e.room.clone()));
                if room.apply(e.kind, e.value, e.event_time) && !self.changed_rooms.contains(&key) {
                    self.changed_rooms.insert(key.clone());
                }
                self.room_rules_for(key, e.event_time, e.seq, now_ms, out);
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
        for (c, levels) in &self.thresholds {
            outcomes.push(match reading.values.get(*c) {
                None => Outcome::Unknown,
                Some(v) if v >= levels.critical => Outcome::Active(Severity::Critical),
                Some(v) if v >= levels.high => Outcome::Active(Severity::High),
                Some(v) if v >= levels.medium => Outcome::Active(Severity::Medium),
                Some(_) => Outcome::Clear,
            });
        }
        for c in &self.spikes {
            let z = r.signals.z[c.index()];
            outcomes.push(if z.is_nan() {
                Outcome::Unknown
            } else if z.abs() >= self.spike_z {
                Outcome::Active(self.spike_severity)
            } else {
                Outcome::Clear
            });
        }
        let subject = Subject::Device(reading.device_id.clone());
        let room = self.state.rooms.get(&room_key);
        let lookup = RecordLookup {
            reading: Some(r),
            room,
            rule_features: &self.rule_features,
        };
        for rs in &self.device_rules {
            let verdict = rs.rule.expr.eval(&lookup);
            outcomes.push(held(&mut self.state.holds, &subject, rs, verdict, t));
        }
        if let Some((threshold, severity)) = self.ml {
            outcomes.push(match r.fire_probability {
                None => Outcome::Unknown,
                Some(p) if p >= threshold => Outcome::Active(severity),
                Some(_) => Outcome::Clear,
            });
        }
        let (thresholds, spikes, rules) = (&self.thresholds, &self.spikes, &self.device_rules);
        let values = |i: usize| device_values(thresholds, spikes, rules, i, &lookup);
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
        time: EventTime,
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

/// The triggering values of device slot `slot`.
fn device_values(
    thresholds: &[(Channel, ThresholdLevels)],
    spikes: &[Channel],
    device_rules: &[RuleSlot],
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
        let c = spikes[slot - n_thresholds];
        if let Some(v) = r.reading.values.get(c) {
            values.insert(c.key().to_string(), v);
        }
        values.insert(format!("{}__z", c.key()), r.signals.z[c.index()]);
    } else if let Some(rs) = device_rules.iter().find(|rs| rs.slot == slot) {
        operand_values(&rs.operands, lookup, &mut values);
    } else if let Some(p) = r.fire_probability {
        values.insert("fire_probability".into(), p);
    }
    values
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

impl Lookup for RecordLookup<'_> {
    fn value(&self, operand: &Operand) -> Option<f64> {
        match operand {
            Operand::Number(n) => Some(*n),
            Operand::Channel(c) => self.reading?.reading.values.get(*c),
            Operand::Feature(f) => {
                let i = self.rule_features.iter().position(|x| x == f)?;
                let v = self.reading?.rule_features[i];
                (!v.is_nan()).then_some(v)
            }
            Operand::FireProbability => self.reading?.fire_probability,
            Operand::Room(kind) => self.room?.sensor(*kind),
        }
    }

    fn delta(&self, channel: Channel) -> Option<f64> {
        let d = self.reading?.signals.delta[channel.index()];
        (!d.is_nan()).then_some(d)
    }
}
