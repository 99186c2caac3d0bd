//! smokewatch's Kafka producer into smokewatch's Kafka consumer, through a
//! real broker: 100 000 readings all arrive, once, in per-partition order,
//! on the partition of their key; and every compression codec round-trips.

mod kafka_support;

use kafka_support::{Broker, Storage, connected, reading, record_of};
use smokewatch::schema::json::decode_reading;
use smokewatch::transport::partitioner::partition_for;
use smokewatch::transport::{
    CONTENT_TYPE_JSON, CompressionCodec, HEADER_CONTENT_TYPE, HEADER_SCHEMA_VERSION, Subscription,
    TopicKind,
};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

const DEVICES: u32 = 500;
const READINGS: u64 = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_readings_arrive_once_in_order_on_their_partitions() {
    let broker = Broker::start(Storage::Memory);
    let config = broker.config();
    let transport = connected(&config).await;
    let partitions = transport.partitions(TopicKind::Readings);
    assert_eq!(partitions, config.partitions, "topic created as configured");

    // Start the consumer first: it must pick up records as they come.
    let mut consumer = transport
        .consumer(Subscription::configured(&[TopicKind::Readings], &config))
        .await
        .unwrap();

    let producer = transport.producer();
    let sending = tokio::spawn(async move {
        for seq in 0..READINGS / u64::from(DEVICES) {
            for device in 0..DEVICES {
                producer
                    .send(TopicKind::Readings, record_of(&reading(device, seq)))
                    .await
                    .unwrap();
            }
        }
        producer.flush().await.unwrap();
    });

    let mut seen: HashSet<(String, u64)> = HashSet::new();
    let mut last_offset: BTreeMap<i32, i64> = BTreeMap::new();
    let mut last_seq: BTreeMap<String, u64> = BTreeMap::new();
    let mut count = 0u64;
    while count < READINGS {
        let batch = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("stalled after {count} records\n{}", broker.log()))
            .unwrap();
        for record in batch {
            count += 1;
            let key = record.key.clone().expect("keyed");
            assert_eq!(
                record.partition,
                partition_for(&key, partitions),
                "key {key:?} on the murmur2 partition"
            );
            let expected = last_offset.get(&record.partition).map_or(0, |o| o + 1);
            assert_eq!(
                record.offset, expected,
                "partition {} offsets dense and in order",
                record.partition
            );
            last_offset.insert(record.partition, record.offset);
            let decoded = decode_reading(&record.value).expect("value is reading JSON");
            assert_eq!(decoded.device_id.as_str().as_bytes(), &key[..]);
            if let Some(previous) =
                last_seq.insert(decoded.device_id.as_str().to_string(), decoded.seq)
            {
                assert_eq!(decoded.seq, previous + 1, "per-device order kept");
            }
            assert!(
                seen.insert((decoded.device_id.as_str().to_string(), decoded.seq)),
                "duplicate {:?}/{}",
                decoded.device_id,
                decoded.seq
            );
            let headers: BTreeMap<&str, &[u8]> = record
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), &v[..]))
                .collect();
            assert_eq!(headers[HEADER_SCHEMA_VERSION], b"1");
            assert_eq!(headers[HEADER_CONTENT_TYPE], CONTENT_TYPE_JSON.as_bytes());
        }
    }
    sending.await.unwrap();
    assert_eq!(seen.len() as u64, READINGS);
    assert_eq!(last_seq.len() as u32, DEVICES);
    let positions = consumer.positions();
    for (p, last) in &last_offset {
        let tp = smokewatch::transport::TopicPartition {
            topic: TopicKind::Readings,
            partition: *p,
        };
        assert_eq!(positions[&tp], last + 1, "position is the next offset");
    }
    // Nothing more arrives: no duplicates after the last one either.
    let extra = tokio::time::timeout(Duration::from_millis(500), consumer.recv()).await;
    assert!(
        extra.is_err(),
        "no record beyond the {READINGS} sent: {extra:?}"
    );
    assert!(
        consumer.lag().values().all(|lag| *lag == 0),
        "{:?}",
        consumer.lag()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_compression_codec_round_trips() {
    let broker = Broker::start(Storage::Memory);
    for codec in [
        CompressionCodec::None,
        CompressionCodec::Gzip,
        CompressionCodec::Lz4,
        CompressionCodec::Zstd,
        CompressionCodec::Snappy,
    ] {
        let mut config = broker.config();
        config.producer.compression = codec;
        let prefix = format!("{codec:?}").to_lowercase();
        config.topics.readings = format!("{prefix}.readings");
        config.topics.room_events = format!("{prefix}.room-events");
        config.topics.alerts = format!("{prefix}.alerts");
        config.topics.window_results = format!("{prefix}.window-results");
        config.topics.dead_letters = format!("{prefix}.dead-letters");
        let transport = connected(&config).await;
        let producer = transport.producer();
        for seq in 0..300 {
            producer
                .send(
                    TopicKind::Readings,
                    record_of(&reading(seq as u32 % 7, seq)),
                )
                .await
                .unwrap();
        }
        producer.flush().await.unwrap();
        let mut consumer = transport
            .consumer(Subscription::configured(&[TopicKind::Readings], &config))
            .await
            .unwrap();
        let mut seqs = Vec::new();
        while seqs.len() < 300 {
            let batch = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!("{codec:?}: stalled at {}\n{}", seqs.len(), broker.log())
                })
                .unwrap();
            seqs.extend(batch.iter().map(|r| decode_reading(&r.value).unwrap().seq));
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (0..300).collect::<Vec<u64>>(), "{codec:?}");
    }
}
