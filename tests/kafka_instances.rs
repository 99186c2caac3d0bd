//! Scale-out without consumer groups: two smokewatch consumers configured
//! as instance 0 of 2 and instance 1 of 2 together read every partition
//! exactly once; an explicit partition list reads just those partitions.

mod kafka_support;

use kafka_support::{Broker, Storage, connected, reading, record_of};
use smokewatch::transport::{Consumer, KafkaConfig, Subscription, TopicKind, Transport};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

const READINGS: u64 = 6_000;

/// Reads until `consumer` has been quiet for a second; returns
/// (partition, offset) pairs.
async fn drain(consumer: &mut Consumer) -> Vec<(i32, i64)> {
    let mut seen = Vec::new();
    while let Ok(batch) = tokio::time::timeout(Duration::from_secs(2), consumer.recv()).await {
        seen.extend(batch.unwrap().iter().map(|r| (r.partition, r.offset)));
    }
    seen
}

async fn consumer_for(config: &KafkaConfig) -> (Transport, Consumer) {
    // Each instance is its own daemon: its own connection.
    let transport = connected(config).await;
    let consumer = transport
        .consumer(Subscription::configured(&[TopicKind::Readings], config))
        .await
        .unwrap();
    (transport, consumer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_split_the_partitions_and_together_read_everything_once() {
    let broker = Broker::start(Storage::Memory);
    let config = broker.config();
    let transport = connected(&config).await;
    let producer = transport.producer();
    for seq in 0..READINGS / 100 {
        for device in 0..100 {
            producer
                .send(TopicKind::Readings, record_of(&reading(device, seq)))
                .await
                .unwrap();
        }
    }
    producer.flush().await.unwrap();

    let mut first = config.clone();
    first.consumer.instance = 0;
    first.consumer.instances = 2;
    let mut second = config.clone();
    second.consumer.instance = 1;
    second.consumer.instances = 2;
    let (_t0, mut c0) = consumer_for(&first).await;
    let (_t1, mut c1) = consumer_for(&second).await;
    let (seen0, seen1) = tokio::join!(drain(&mut c0), drain(&mut c1));

    let partitions = |seen: &[(i32, i64)]| seen.iter().map(|(p, _)| *p).collect::<BTreeSet<i32>>();
    assert_eq!(partitions(&seen0), BTreeSet::from([0, 2, 4]));
    assert_eq!(partitions(&seen1), BTreeSet::from([1, 3, 5]));
    let positions0: BTreeSet<i32> = c0.positions().keys().map(|tp| tp.partition).collect();
    let positions1: BTreeSet<i32> = c1.positions().keys().map(|tp| tp.partition).collect();
    assert!(positions0.is_disjoint(&positions1));

    let mut all = HashSet::new();
    for pair in seen0.iter().chain(&seen1) {
        assert!(all.insert(*pair), "{pair:?} read twice");
    }
    assert_eq!(
        all.len() as u64,
        READINGS,
        "every record read by one of them"
    );
    // And each partition completely: offsets 0..n with n its record count.
    let mut per_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for (p, o) in all {
        per_partition.entry(p).or_default().push(o);
    }
    for (p, mut offsets) in per_partition {
        offsets.sort_unstable();
        assert_eq!(
            offsets,
            (0..offsets.len() as i64).collect::<Vec<_>>(),
            "partition {p}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_partition_list_reads_only_those_partitions() {
    let broker = Broker::start(Storage::Memory);
    let mut config = broker.config();
    let transport = connected(&config).await;
    let producer = transport.producer();
    for device in 0..300 {
        producer
            .send(TopicKind::Readings, record_of(&reading(device, 0)))
            .await
            .unwrap();
    }
    producer.flush().await.unwrap();
    config.consumer.partitions = Some(vec![1, 4]);
    let (_t, mut consumer) = consumer_for(&config).await;
    let seen = drain(&mut consumer).await;
    assert!(!seen.is_empty());
    let partitions: BTreeSet<i32> = seen.iter().map(|(p, _)| *p).collect();
    assert_eq!(partitions, BTreeSet::from([1, 4]));

    // A partition the topic does not have is refused, not silently skipped.
    config.consumer.partitions = Some(vec![9]);
    let err = transport
        .consumer(Subscription {
            partitions: Some(vec![9]),
            ..Subscription::configured(&[TopicKind::Readings], &config)
        })
        .await
        .err()
        .expect("partition 9 does not exist");
    assert!(err.to_string().contains("no partition 9"), "{err}");
}
