//! smokewatch and a foreign Kafka client (confluent-kafka 2.16, i.e.
//! librdkafka) share topics: each reads what the other wrote, and both put
//! every key on the same partition.

mod kafka_support;

use kafka_support::{Broker, Storage, connected, reading, record_of};
use serde_json::Value;
use smokewatch::schema::json::decode_reading;
use smokewatch::transport::partitioner::partition_for;
use smokewatch::transport::{
    CONTENT_TYPE_JSON, HEADER_CONTENT_TYPE, HEADER_SCHEMA_VERSION, Subscription, TopicKind,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const FROM_SMOKEWATCH: u64 = 2_000;
const FROM_PYTHON: u64 = 1_500;

/// Runs tests/python/kafka_interop.py and parses the JSON it prints.
fn python(args: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/kafka_interop.py");
    let output = Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
        .expect("run python3 (scripts/test-deps.sh installs confluent-kafka)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "kafka_interop.py {args:?} failed: {}\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("kafka_interop.py printed no JSON ({e}): {stdout}\n{stderr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_and_smokewatch_read_each_other_and_agree_on_partitions() {
    let broker = Broker::start(Storage::Memory);
    let config = broker.config();
    let transport = connected(&config).await;
    let topic = config.topics.readings.clone();
    let partitions = transport.partitions(TopicKind::Readings);
    let partitions_arg = partitions.to_string();

    // smokewatch → confluent-kafka
    let producer = transport.producer();
    for seq in 0..FROM_SMOKEWATCH / 40 {
        for device in 0..40 {
            producer
                .send(TopicKind::Readings, record_of(&reading(device, seq)))
                .await
                .unwrap();
        }
    }
    producer.flush().await.unwrap();
    let expect = FROM_SMOKEWATCH.to_string();
    let read = python(&[
        "consume",
        "--bootstrap",
        &broker.addr,
        "--topic",
        &topic,
        "--partitions",
        &partitions_arg,
        "--expect",
        &expect,
    ]);
    assert_eq!(read["count"], FROM_SMOKEWATCH, "{read}");
    assert_eq!(read["problems"], Value::Array(vec![]), "{read}");
    assert_eq!(read["offsets_in_order"], true);
    assert_eq!(
        read["headers"][HEADER_SCHEMA_VERSION],
        serde_json::json!(["1"]),
        "{read}"
    );
    assert_eq!(
        read["headers"][HEADER_CONTENT_TYPE],
        serde_json::json!([CONTENT_TYPE_JSON]),
        "{read}"
    );
    let key_partitions = read["key_partitions"].as_object().expect("key_partitions");
    assert_eq!(key_partitions.len(), 40);
    for (key, seen) in key_partitions {
        assert_eq!(
            seen,
            &serde_json::json!([partition_for(key.as_bytes(), partitions)]),
            "{key}: one partition, the murmur2 one"
        );
    }

    // Where smokewatch's consumer is now: after everything it produced.
    let mut before = transport
        .consumer(Subscription::configured(&[TopicKind::Readings], &config))
        .await
        .unwrap();
    let mut count = 0;
    while count < FROM_SMOKEWATCH {
        count += before.recv().await.unwrap().len() as u64;
    }
    let positions = before.positions();

    // confluent-kafka → smokewatch
    let count_arg = FROM_PYTHON.to_string();
    let produced = python(&[
        "produce",
        "--bootstrap",
        &broker.addr,
        "--topic",
        &topic,
        "--count",
        &count_arg,
        "--device-prefix",
        "py",
    ]);
    assert_eq!(produced["delivered"], FROM_PYTHON, "{produced}");
    let placements: BTreeMap<String, i64> =
        serde_json::from_value(produced["placements"].clone()).unwrap();
    assert_eq!(placements.len(), 50);
    for (key, partition) in &placements {
        assert_eq!(
            *partition,
            i64::from(partition_for(key.as_bytes(), partitions)),
            "librdkafka murmur2_random and smokewatch agree on {key}"
        );
    }

    let mut subscription = Subscription::configured(&[TopicKind::Readings], &config);
    subscription.positions = positions;
    let mut consumer = transport.consumer(subscription).await.unwrap();
    let mut seen = 0u64;
    while seen < FROM_PYTHON {
        let batch = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("python's records arrive")
            .unwrap();
        for record in batch {
            seen += 1;
            let key = String::from_utf8(record.key.clone().unwrap().to_vec()).unwrap();
            let decoded = decode_reading(&record.value)
                .unwrap_or_else(|e| panic!("python's value for {key} decodes: {e}"));
            assert_eq!(decoded.device_id.as_str(), key);
            assert!(
                key.starts_with("py"),
                "only records after the positions: {key}"
            );
            assert_eq!(i64::from(record.partition), placements[&key]);
            let headers: BTreeMap<&str, &[u8]> = record
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), &v[..]))
                .collect();
            assert_eq!(headers[HEADER_SCHEMA_VERSION], b"1");
            assert_eq!(headers[HEADER_CONTENT_TYPE], CONTENT_TYPE_JSON.as_bytes());
        }
    }
    assert_eq!(seen, FROM_PYTHON);
}
