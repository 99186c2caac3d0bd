//! Event-time windows against a brute-force reference: random streams of
//! readings and room events, out of order and partly late, split into
//! random batches with update triggers between them. Every result the
//! window operator emits (append and update mode) must equal what the
//! reference computes from the same input by re-scanning it.

use bytes::Bytes;
use proptest::prelude::*;
use smokewatch::base::config::Duration;
use smokewatch::schema::{
    Channel, ChannelValues, EventTime, RoomEvent, RoomSensorKind, SmokeReading,
};
use smokewatch::stream::message::{Item, Origin, Quality, ReadingRecord, RoomEventRecord, Signals};
use smokewatch::stream::sinks::{Measure, WindowName, WindowResult};
use smokewatch::stream::window::{Added, Flow, ResultSink, Windows};
use smokewatch::stream::{KeyKind, OutputMode, SlidingConfig, WindowConfig};
use smokewatch::transport::TopicKind;
use std::collections::BTreeMap;

const SIZE: i64 = 10_000;
const SLIDE_SIZE: i64 = 20_000;
const SLIDE: i64 = 5_000;
const LATENESS: i64 = 3_000;
const CHANNELS: [Channel; 2] = [Channel::Pm2_5, Channel::Temperature];

#[derive(Debug, Clone)]
enum Input {
    Reading {
        device: u8,
        t: i64,
        pm: Option<f64>,
        temp: f64,
    },
    Event {
        room: u8,
        kind: u8,
        t: i64,
        value: f64,
    },
    /// Ends the current batch.
    BatchEnd,
    /// Ends the batch and fires an update trigger.
    Trigger,
}

fn room_of(device: u8) -> u8 {
    device % 2
}

fn config(mode: OutputMode) -> WindowConfig {
    WindowConfig {
        size: Duration::from_millis(SIZE as u64),
        allowed_lateness: Duration::from_millis(LATENESS as u64),
        idle_timeout: Duration::from_secs(3600),
        keys: vec![KeyKind::Device, KeyKind::Room, KeyKind::RoomSensor],
        sliding: SlidingConfig {
            enabled: true,
            size: Duration::from_millis(SLIDE_SIZE as u64),
            slide: Duration::from_millis(SLIDE as u64),
            keys: vec![KeyKind::Room, KeyKind::RoomSensor],
        },
        output_mode: mode,
        trigger_interval: Duration::from_secs(1),
        channels: CHANNELS.to_vec(),
    }
}

fn item(input: &Input, n: i64) -> Option<Item> {
    let origin = Origin {
        topic: TopicKind::Readings,
        partition: 0,
        offset: n,
    };
    match *input {
        Input::Reading {
            device,
            t,
            pm,
            temp,
        } => {
            let mut values = ChannelValues::EMPTY;
            values.set(Channel::Pm2_5, pm);
            values.set(Channel::Temperature, Some(temp));
            values.set(Channel::Humidity, Some(50.0));
            Some(Item::Reading(Box::new(ReadingRecord {
                origin,
                raw: Bytes::new(),
                reading: SmokeReading {
                    device_id: format!("d{device}").into(),
                    home: "h".into(),
                    room: format!("r{}", room_of(device)).into(),
                    event_time: EventTime(t),
                    seq: n as u64,
                    cnt: None,
                    values,
                    fire_alarm: None,
                },
                quality: Quality::default(),
                signals: Signals::default(),
                rule_features: [f64::NAN; 8],
                vector_row: None,
                fire_probability: None,
            })))
        }
        Input::Event {
            room,
            kind,
            t,
            value,
        } => Some(Item::RoomEvent(Box::new(RoomEventRecord {
            origin,
            raw: Bytes::new(),
            event: RoomEvent {
                home: "h".into(),
                room: format!("r{room}").into(),
                sensor_id: format!("s{room}").into(),
                kind: RoomSensorKind::ALL[kind as usize],
                value,
                event_time: EventTime(t),
                seq: n as u64,
            },
        }))),
        Input::BatchEnd | Input::Trigger => None,
    }
}

/// (window, key kind, who, measure, start, final, phase) — what identifies a result row.
type RowKey = (WindowName, KeyKind, String, Measure, i64, bool, usize);

#[derive(Debug, Clone, PartialEq)]
struct Stats {
    count: u64,
    mean: f64,
    min: f64,
    max: f64,
    std: f64,
    last: f64,
}

fn stats(values: &[(i64, f64)]) -> Stats {
    let n = values.len() as f64;
    let mean = values.iter().map(|v| v.1).sum::<f64>() / n;
    let var = values.iter().map(|v| (v.1 - mean).powi(2)).sum::<f64>() / n;
    let last = values
        .iter()
        .max_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)))
        .map(|v| v.1)
        .unwrap();
    Stats {
        count: values.len() as u64,
        mean,
        min: values.iter().map(|v| v.1).fold(f64::INFINITY, f64::min),
        max: values.iter().map(|v| v.1).fold(f64::NEG_INFINITY, f64::max),
        std: var.sqrt(),
        last,
    }
}

/// (spec name, size, slide, key kinds) of the configuration above.
fn specs() -> [(WindowName, i64, i64, Vec<KeyKind>); 2] {
    [
        (
            WindowName::Tumbling,
            SIZE,
            SIZE,
            vec![KeyKind::Device, KeyKind::Room, KeyKind::RoomSensor],
        ),
        (
            WindowName::Sliding,
            SLIDE_SIZE,
            SLIDE,
            vec![KeyKind::Room, KeyKind::RoomSensor],
        ),
    ]
}

type WindowId = (WindowName, KeyKind, String, Measure, i64);

/// A window's key: room-sensor windows are keyed by sensor kind too.
fn window_who(kind: KeyKind, who: &str, measure: Measure) -> String {
    match kind {
        KeyKind::RoomSensor => format!("{who}/{}", measure.as_str()),
        _ => who.to_string(),
    }
}

/// The reference: re-scans the input with the textbook definitions.
fn reference(inputs: &[Input], mode: OutputMode, finish: bool) -> (BTreeMap<RowKey, Stats>, u64) {
    let mut max_seen: Option<i64> = None;
    let mut assigned: BTreeMap<WindowId, Vec<(i64, f64)>> = BTreeMap::new();
    // A window (all its measures, like one wide row) changed when any of
    // its measures received a value since the previous trigger.
    let mut changed: BTreeMap<(WindowName, KeyKind, String, i64), bool> = BTreeMap::new();
    let emit_changed = |changed: &mut BTreeMap<(WindowName, KeyKind, String, i64), bool>,
                        assigned: &BTreeMap<WindowId, Vec<(i64, f64)>>,
                        out: &mut BTreeMap<RowKey, Stats>,
                        w: i64,
                        phase: usize| {
        for (id, values) in assigned {
            let size = if id.0 == WindowName::Tumbling {
                SIZE
            } else {
                SLIDE_SIZE
            };
            let window = (id.0, id.1, window_who(id.1, &id.2, id.3), id.4);
            if changed.get(&window) == Some(&true) && id.4 + size > w {
                out.insert(
                    (id.0, id.1, id.2.clone(), id.3, id.4, false, phase),
                    stats(values),
                );
            }
        }
        changed.values_mut().for_each(|d| *d = false);
    };
    let mut emitted_final: BTreeMap<WindowId, bool> = BTreeMap::new();
    let mut out = BTreeMap::new();
    let mut late = 0;
    let mut phase = 0;
    let wm = |m: Option<i64>| m.map_or(i64::MIN, |m| m - LATENESS);
    let close = |w: i64,
                 assigned: &BTreeMap<WindowId, Vec<(i64, f64)>>,
                 emitted: &mut BTreeMap<WindowId, bool>,
                 out: &mut BTreeMap<RowKey, Stats>,
                 phase: usize| {
        for (id, values) in assigned {
            let size = if id.0 == WindowName::Tumbling {
                SIZE
            } else {
                SLIDE_SIZE
            };
            if id.4 + size <= w && !emitted.contains_key(id) {
                emitted.insert(id.clone(), true);
                out.insert(
                    (id.0, id.1, id.2.clone(), id.3, id.4, true, phase),
                    stats(values),
                );
            }
        }
    };
    for input in inputs {
        let (t, rows): (i64, Vec<(KeyKind, String, Measure, f64)>) = match input {
            Input::Reading {
                device,
                t,
                pm,
                temp,
            } => {
                let mut rows = Vec::new();
                for (kind, who) in [
                    (KeyKind::Device, format!("d{device}")),
                    (KeyKind::Room, format!("h/r{}", room_of(*device))),
                ] {
                    if let Some(pm) = pm {
                        rows.push((kind, who.clone(), Measure::Channel(Channel::Pm2_5), *pm));
                    }
                    rows.push((kind, who, Measure::Channel(Channel::Temperature), *temp));
                }
                (*t, rows)
            }
            Input::Event {
                room,
                kind,
                t,
                value,
            } => {
                let kind = RoomSensorKind::ALL[*kind as usize];
                (
                    *t,
                    vec![(
                        KeyKind::RoomSensor,
                        format!("h/r{room}"),
                        Measure::Sensor(kind),
                        *value,
                    )],
                )
            }
            Input::BatchEnd | Input::Trigger => {
                close(wm(max_seen), &assigned, &mut emitted_final, &mut out, phase);
                phase += 1;
                if matches!(input, Input::Trigger) && mode == OutputMode::Update {
                    emit_changed(&mut changed, &assigned, &mut out, wm(max_seen), phase);
                    phase += 1;
                }
                continue;
            }
        };
        let w = wm(max_seen);
        let is_reading = matches!(input, Input::Reading { .. });
        let latest_end = |size: i64, slide: i64| t.div_euclid(slide) * slide + size;
        let open_somewhere = specs().iter().any(|(_, size, slide, kinds)| {
            let applies = kinds
                .iter()
                .any(|k| (*k == KeyKind::RoomSensor) != is_reading);
            applies && latest_end(*size, *slide) > w
        });
        if !open_somewhere {
            late += 1;
            continue;
        }
        for (name, size, slide, kinds) in specs() {
            let mut start = t.div_euclid(slide) * slide;
            while start > t - size {
                if start + size > w {
                    for (kind, who, measure, value) in &rows {
                        if kinds.contains(kind) {
                            let id = (name, *kind, who.clone(), *measure, start);
                            assigned.entry(id).or_default().push((t, *value));
                            changed.insert(
                                (name, *kind, window_who(*kind, who, *measure), start),
                                true,
                            );
                        }
                    }
                }
                start -= slide;
            }
        }
        max_seen = Some(max_seen.map_or(t, |m| m.max(t)));
    }
    close(wm(max_seen), &assigned, &mut emitted_final, &mut out, phase);
    if finish {
        phase += 1;
        if mode == OutputMode::Update {
            emit_changed(&mut changed, &assigned, &mut out, wm(max_seen), phase);
        }
        close(i64::MAX, &assigned, &mut emitted_final, &mut out, phase);
    }
    if mode == OutputMode::Append {
        out.retain(|k, _| k.5);
    }
    (out, late)
}

fn row_key(r: &WindowResult, phase: usize) -> RowKey {
    let who = match &r.device {
        Some(d) => d.to_string(),
        None => format!("{}/{}", r.home, r.room),
    };
    (
        r.window,
        r.key_kind,
        who,
        r.measure,
        r.start.millis(),
        r.is_final,
        phase,
    )
}

/// A result sink that says it is full once it holds `every` results (0:
/// never), as the windows stage's message of results does: the windows
/// stop, the results are taken, and the same call goes on.
struct Sink {
    results: Vec<WindowResult>,
    every: usize,
    /// How often a call stopped on a full sink.
    pauses: usize,
}

impl ResultSink for Sink {
    fn push(&mut self, result: WindowResult) {
        self.results.push(result);
    }
    fn is_full(&self) -> bool {
        self.every > 0 && self.results.len() >= self.every
    }
}

impl Sink {
    /// Runs `call` until it is done, taking the results after each pause.
    fn drain(&mut self, mut call: impl FnMut(&mut Sink) -> Flow) -> Vec<WindowResult> {
        let mut taken = Vec::new();
        while call(self) == Flow::Paused {
            self.pauses += 1;
            taken.append(&mut self.results);
        }
        taken.append(&mut self.results);
        taken
    }
}

/// Runs the operator the way the windows stage does, with an output that
/// is full after every `full_every` results (0: never).
fn actual(
    inputs: &[Input],
    mode: OutputMode,
    finish: bool,
    full_every: usize,
) -> (BTreeMap<RowKey, Stats>, u64, usize) {
    let mut windows = Windows::new(&config(mode));
    let mut out = BTreeMap::new();
    let mut phase = 0;
    let mut sink = Sink {
        results: Vec::new(),
        every: full_every,
        pauses: 0,
    };
    let collect = |results: Vec<WindowResult>, phase: usize, out: &mut BTreeMap<RowKey, Stats>| {
        for r in results {
            assert_eq!(
                r.end.millis() - r.start.millis(),
                if r.window == WindowName::Tumbling {
                    SIZE
                } else {
                    SLIDE_SIZE
                }
            );
            let key = row_key(&r, phase);
            let stats = Stats {
                count: r.count,
                mean: r.avg,
                min: r.min,
                max: r.max,
                std: r.stddev,
                last: r.last,
            };
            assert!(
                out.insert(key.clone(), stats).is_none(),
                "emitted twice: {key:?}"
            );
        }
    };
    for (n, input) in inputs.iter().enumerate() {
        match input {
            Input::BatchEnd | Input::Trigger => {
                let results = sink.drain(|s| windows.advance(s));
                collect(results, phase, &mut out);
                phase += 1;
                if matches!(input, Input::Trigger) && mode == OutputMode::Update {
                    let results = sink.drain(|s| windows.trigger(s));
                    collect(results, phase, &mut out);
                    phase += 1;
                }
            }
            other => {
                let item = item(other, n as i64).unwrap();
                let results = sink.drain(|s| match windows.add(&item, s) {
                    Added::Paused => Flow::Paused,
                    Added::Taken | Added::Late => Flow::Done,
                });
                collect(results, phase, &mut out);
            }
        }
    }
    let results = sink.drain(|s| windows.advance(s));
    collect(results, phase, &mut out);
    if finish {
        phase += 1;
        let results = sink.drain(|s| windows.finish(s));
        let (updates, finals): (Vec<_>, Vec<_>) = results.into_iter().partition(|r| !r.is_final);
        collect(updates, phase, &mut out);
        collect(finals, phase, &mut out);
    }
    (out, windows.late, sink.pauses)
}

fn assert_same(expected: &BTreeMap<RowKey, Stats>, actual: &BTreeMap<RowKey, Stats>) {
    let missing: Vec<&RowKey> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .take(5)
        .collect();
    let extra: Vec<&RowKey> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "the same windows are emitted at the same moments; missing {missing:?}, unexpected {extra:?}"
    );
    for (k, e) in expected {
        let a = &actual[k];
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * (1.0 + x.abs().max(y.abs()));
        assert!(
            a.count == e.count
                && a.min == e.min
                && a.max == e.max
                && a.last == e.last
                && close(a.mean, e.mean)
                && close(a.std, e.std),
            "{k:?}: expected {e:?}, got {a:?}"
        );
    }
}

fn inputs() -> impl Strategy<Value = Vec<Input>> {
    let step = prop_oneof![
        6 => (0u8..4, -8_000i64..3_000, proptest::option::weighted(0.8, 0u32..500), 0u32..400)
            .prop_map(|(device, dt, pm, temp)| (0, device, dt, pm.map(|p| f64::from(p) / 10.0), f64::from(temp) / 10.0)),
        3 => (0u8..2, -8_000i64..3_000, 0u8..4, 0u32..2)
            .prop_map(|(room, dt, kind, v)| (1, room * 4 + kind, dt, None, f64::from(v))),
        1 => Just((2, 0, 0, None, 0.0)),
        1 => Just((3, 0, 0, None, 0.0)),
    ];
    proptest::collection::vec(step, 1..250).prop_map(|steps| {
        let mut clock = 1_700_000_000_000i64;
        steps
            .into_iter()
            .map(|(what, a, dt, pm, v)| {
                clock += 400;
                let t = clock + dt;
                match what {
                    0 => Input::Reading {
                        device: a,
                        t,
                        pm,
                        temp: v,
                    },
                    1 => Input::Event {
                        room: a / 4,
                        kind: a % 4,
                        t,
                        value: v,
                    },
                    2 => Input::BatchEnd,
                    _ => Input::Trigger,
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// `full_every` > 0: the output fills after so many results and every
    /// call stops and goes on (as on a large fleet's window boundary): the
    /// results must be the same, none twice, none lost.
    #[test]
    fn append_mode_equals_the_reference(inputs in inputs(), finish in any::<bool>(), full_every in 0usize..4) {
        let (expected, expected_late) = reference(&inputs, OutputMode::Append, finish);
        let (got, late, _) = actual(&inputs, OutputMode::Append, finish, full_every);
        assert_same(&expected, &got);
        prop_assert_eq!(late, expected_late);
    }

    #[test]
    fn update_mode_equals_the_reference(inputs in inputs(), finish in any::<bool>(), full_every in 0usize..4) {
        let (expected, expected_late) = reference(&inputs, OutputMode::Update, finish);
        let (got, late, _) = actual(&inputs, OutputMode::Update, finish, full_every);
        assert_same(&expected, &got);
        prop_assert_eq!(late, expected_late);
    }
}

#[test]
fn late_events_exist_in_generated_streams() {
    // Guards the property tests against a generator that never makes
    // late events (which would make the late-count check vacuous).
    let mut inputs = Vec::new();
    for i in 0..50 {
        inputs.push(Input::Reading {
            device: 0,
            t: 1_700_000_000_000 + i * 1000,
            pm: Some(1.0),
            temp: 1.0,
        });
    }
    inputs.push(Input::Reading {
        device: 1,
        t: 1_700_000_000_000,
        pm: Some(1.0),
        temp: 1.0,
    });
    let (_, late, _) = actual(&inputs, OutputMode::Append, false, 0);
    assert_eq!(late, 1);
    assert_eq!(reference(&inputs, OutputMode::Append, false).1, 1);
}

/// Guards the property tests against an output that never fills: with one
/// result per message, closes and triggers of several keys stop and go on
/// many times, in both modes, and give what an output that never fills
/// gives.
#[test]
fn a_full_output_pauses_closes_and_triggers_and_loses_nothing() {
    let mut inputs = Vec::new();
    for i in 0..60i64 {
        for device in 0..4u8 {
            inputs.push(Input::Reading {
                device,
                t: 1_700_000_000_000 + i * 1000,
                pm: Some(f64::from(device)),
                temp: i as f64,
            });
        }
        inputs.push(Input::Event {
            room: (i % 2) as u8,
            kind: (i % 4) as u8,
            t: 1_700_000_000_000 + i * 1000,
            value: 1.0,
        });
        if i % 7 == 0 {
            inputs.push(Input::Trigger);
        }
    }
    for mode in [OutputMode::Append, OutputMode::Update] {
        let (whole, _, no_pauses) = actual(&inputs, mode, true, 0);
        let (paused, _, pauses) = actual(&inputs, mode, true, 1);
        assert_eq!(no_pauses, 0);
        assert!(pauses > 20, "{mode:?}: {pauses} pauses");
        assert_eq!(whole, paused, "{mode:?}");
        assert_same(&reference(&inputs, mode, true).0, &paused);
    }
}
