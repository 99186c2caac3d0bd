//! Every kind of bad record ends in the dead-letter sink with its reason,
//! its original bytes and its source position — through the whole
//! pipeline on the embedded transport — and nothing (arbitrary bytes,
//! mutated valid payloads) makes validation panic.

mod stream_support;

use proptest::prelude::*;
use smokewatch::schema::json::{encode_reading, encode_room_event};
use smokewatch::schema::registry::DeviceRegistry;
use smokewatch::schema::{Channel, EventTime, RoomEvent, RoomSensorKind};
use smokewatch::stream::message::{Batch, Item};
use smokewatch::stream::sinks::DeadLetter;
use smokewatch::stream::stage::Stage;
use smokewatch::stream::validate::Validator;
use smokewatch::transport::{ConsumedRecord, OutgoingRecord, Producer, TopicKind, json_headers};
use std::collections::BTreeMap;
use std::path::Path;
use stream_support::{config, files, reading, start};

const T0: i64 = 1_700_000_000_000;

fn edit(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(text.contains(from), "{text} lacks {from}");
    text.replacen(from, to, 1).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_malformed_kind_reaches_the_dead_letter_sink_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let devices = DeviceRegistry::new();
    devices.register("d1".into(), "h1".into(), "room-d1".into());
    devices.register("d2".into(), "h1".into(), "room-d2".into());
    // One partition per topic: every assigned partition delivers, so the
    // watermark moves (an assigned partition that never delivers holds it
    // back for stream.window.idle_timeout).
    let mut config = config(dir.path());
    config.kafka.partitions = 1;
    let running = start(config, devices);
    let producer = running.shared.transport.producer();

    let good = encode_reading(&reading("d1", 1, T0));
    let room = RoomEvent {
        home: "h1".into(),
        room: "room-d1".into(),
        sensor_id: "h1-room-d1-room".into(),
        kind: RoomSensorKind::Light,
        value: 1.0,
        event_time: EventTime(T0),
        seq: 1,
    };
    let room_event = encode_room_event(&room);
    let mut bad = malformed_cases(&good, &room_event);
    for (_, topic, payload) in &bad {
        producer
            .send(*topic, OutgoingRecord::json("d1", payload.clone(), T0))
            .await
            .unwrap();
    }
    // Valid traffic: ten minutes of d1 and d2, a duplicate, then a reading
    // from before the watermark.
    let mut sent = bad.len() as u64 + send_valid_traffic(&producer, &room).await;
    // The watermark is the minimum over partitions: until every partition's
    // readings are through, a partition consumed ahead of the others does
    // not make the late reading late (it would land in a window instead).
    running.wait_for(sent).await;
    let duplicate = encode_reading(&reading("d1", 300, T0 + 290_000));
    let late = encode_reading(&reading("d1", 5, T0 + 1000));
    for payload in [&duplicate, &late] {
        producer
            .send(
                TopicKind::Readings,
                OutgoingRecord::json("d1", payload.clone(), T0),
            )
            .await
            .unwrap();
        sent += 1;
    }
    bad.push(("duplicate", TopicKind::Readings, duplicate));
    bad.push(("late", TopicKind::Readings, late));
    running.wait_for(sent).await;
    let summary = running.stop().await;
    assert!(summary.is_clean(), "{summary:?}");

    check_dead_letters(&dir.path().join("out"), &bad);
}

#[test]
fn an_impossible_channel_value_marks_the_channel_invalid_and_keeps_the_reading() {
    let good = encode_reading(&reading("d1", 1, T0));
    let bad = edit(&good, "\"humidity_pct\":1.0", "\"humidity_pct\":140.0");
    let devices = DeviceRegistry::new();
    devices.register("d1".into(), "h1".into(), "room-d1".into());
    let mut validator = Validator::new(64, devices);
    let mut batch = Batch::new(std::time::Instant::now());
    batch.input.push(ConsumedRecord {
        topic: TopicKind::Readings,
        partition: 0,
        offset: 7,
        key: None,
        value: bad.into(),
        headers: json_headers(),
        timestamp_ms: 0,
    });
    validator.process(&mut batch);
    assert!(batch.dead_letters.is_empty(), "{:?}", batch.dead_letters);
    let Some(Item::Reading(r)) = batch.items.first() else {
        panic!("the reading is kept: {:?}", batch.items);
    };
    assert_eq!(r.reading.values.get(Channel::Humidity), None);
    assert_eq!(r.quality.invalid, 1 << Channel::Humidity.index());
    assert_eq!(
        r.reading.values.get(Channel::Pm2_5),
        Some(2.0),
        "other channels go on"
    );
}

fn validate(topic: TopicKind, bytes: Vec<u8>) -> Batch {
    let mut validator = Validator::new(64, DeviceRegistry::new());
    let mut batch = Batch::new(std::time::Instant::now());
    batch.input.push(ConsumedRecord {
        topic,
        partition: 0,
        offset: 7,
        key: None,
        value: bytes.into(),
        headers: json_headers(),
        timestamp_ms: 0,
    });
    validator.process(&mut batch);
    batch
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn validation_never_panics_and_accounts_for_every_record(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        room in any::<bool>(),
    ) {
        let topic = if room { TopicKind::RoomEvents } else { TopicKind::Readings };
        let batch = validate(topic, bytes);
        prop_assert_eq!(batch.items.len() + batch.dead_letters.len(), 1);
    }

    #[test]
    fn mutated_valid_payloads_are_accepted_or_dead_lettered_never_panic(
        seq in any::<u64>(),
        cuts in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = encode_reading(&reading("d1", seq, T0));
        for (index, byte) in cuts {
            let i = index.index(bytes.len());
            bytes[i] = byte;
        }
        let batch = validate(TopicKind::Readings, bytes.clone());
        prop_assert_eq!(batch.items.len() + batch.dead_letters.len(), 1);
        if let Some(letter) = batch.dead_letters.first() {
            prop_assert_eq!(letter.payload().unwrap(), bytes);
            prop_assert_eq!(letter.offset, 7);
        }
    }
}

/// One malformed record of every kind: (expected reason, topic, payload).
fn malformed_cases(good: &[u8], room_event: &[u8]) -> Vec<(&'static str, TopicKind, Vec<u8>)> {
    // (expected reason, topic, payload), one case a line.
    let reading_case = |reason, payload| (reason, TopicKind::Readings, payload);
    let room_case = |reason, payload| (reason, TopicKind::RoomEvents, payload);
    vec![
        reading_case("malformed_json", good[..good.len() / 2].to_vec()),
        reading_case("malformed_json", b"\xff\xfe not json".to_vec()),
        reading_case(
            "wrong_type",
            edit(good, "\"pm2_5\":2.0", "\"pm2_5\":\"high\""),
        ),
        reading_case("wrong_type", edit(good, "\"seq\":1", "\"seq\":\"one\"")),
        reading_case("not_finite", edit(good, "\"pm2_5\":2.0", "\"pm2_5\":NaN")),
        reading_case(
            "not_finite",
            edit(good, "\"pm2_5\":2.0", "\"pm2_5\":Infinity"),
        ),
        reading_case(
            "out_of_range",
            edit(
                good,
                "\"event_time_ms\":1700000000000",
                "\"event_time_ms\":5",
            ),
        ),
        reading_case(
            "unknown_schema_version",
            edit(good, "\"schema_version\":1", "\"schema_version\":2"),
        ),
        reading_case("missing_field", edit(good, "\"device_id\":\"d1\",", "")),
        reading_case(
            "empty_field",
            edit(good, "\"room\":\"room-d1\"", "\"room\":\"  \""),
        ),
        reading_case(
            "unknown_device",
            encode_reading(&reading("intruder", 1, T0)),
        ),
        room_case(
            "out_of_range",
            edit(room_event, "\"value\":1.0", "\"value\":0.5"),
        ),
        room_case("wrong_type", edit(room_event, "\"light\"", "\"smell\"")),
    ]
}

/// Ten minutes of readings of d1 and d2, and room events every 30 s;
/// returns how many records were sent.
async fn send_valid_traffic(producer: &Producer, room: &RoomEvent) -> u64 {
    let room_event = encode_room_event(room);
    producer
        .send(
            TopicKind::RoomEvents,
            OutgoingRecord::json("h1/room-d1", room_event.clone(), T0),
        )
        .await
        .unwrap();
    let mut sent = 1;
    for s in 0..600u64 {
        if s % 30 == 0 {
            // Room sensors report too (their partition must not hold the
            // watermark back).
            let e = encode_room_event(&RoomEvent {
                seq: 10 + s,
                event_time: EventTime(T0 + s as i64 * 1000),
                ..room.clone()
            });
            producer
                .send(
                    TopicKind::RoomEvents,
                    OutgoingRecord::json("h1/room-d1", e, T0),
                )
                .await
                .unwrap();
            sent += 1;
        }
        for d in ["d1", "d2"] {
            let r = encode_reading(&reading(d, 10 + s, T0 + s as i64 * 1000));
            producer
                .send(TopicKind::Readings, OutgoingRecord::json(d, r, T0))
                .await
                .unwrap();
            sent += 1;
        }
    }
    sent
}

/// The dead-letter files under `out` hold exactly one letter per `bad`
/// record, each with its expected reason and a detail that explains it.
fn check_dead_letters(out: &Path, bad: &[(&str, TopicKind, Vec<u8>)]) {
    let mut letters: Vec<DeadLetter> = Vec::new();
    for file in files(out, "dead_letters", "jsonl") {
        for line in std::fs::read_to_string(file).unwrap().lines() {
            letters.push(serde_json::from_str(line).unwrap());
        }
    }
    let mut expected: BTreeMap<Vec<u8>, &str> = BTreeMap::new();
    for (reason, _, payload) in bad {
        expected.insert(payload.clone(), reason);
    }
    assert_eq!(letters.len(), bad.len(), "{letters:#?}");
    for letter in &letters {
        let payload = letter.payload().unwrap();
        let reason = expected
            .get(&payload)
            .unwrap_or_else(|| panic!("unexpected dead letter {letter:?}"));
        assert_eq!(letter.reason, *reason, "{letter:?}");
        assert!(!letter.detail.is_empty());
        assert!(letter.offset >= 0);
    }
    let unknown = letters
        .iter()
        .find(|l| l.reason == "unknown_device")
        .unwrap();
    assert!(unknown.detail.contains("intruder"), "{}", unknown.detail);
    let late = letters.iter().find(|l| l.reason == "late").unwrap();
    assert!(late.detail.contains("watermark"), "{}", late.detail);
}
