//! Both transports publish the same metrics: records and bytes sent and
//! consumed per topic, and consumer lag per partition (high watermark −
//! position), so dashboards do not care which transport runs.

mod kafka_support;

use kafka_support::{Broker, Storage, connected, metric_value, reading, record_of};
use smokewatch::base::config::Capacity;
use smokewatch::transport::{KafkaConfig, Subscription, TopicKind, Transport};
use std::time::Duration;

/// Sends 40 records to `topic` on partition-0-only topics, consumes 25 of
/// them, and checks what /metrics would show.
async fn check(transport: &Transport, config: &KafkaConfig, topic: TopicKind, label: &str) {
    let metrics = smokewatch::telemetry::metrics_handle();
    let sample =
        |name: &str, labels: &[(&str, &str)]| metric_value(&metrics.render(), name, labels);
    let topic_label = [("topic", label)];
    let sent_before = sample("smokewatch_transport_records_sent_total", &topic_label);
    let consumed_before = sample("smokewatch_transport_records_consumed_total", &topic_label);
    let bytes_before = sample("smokewatch_transport_sent_bytes_total", &topic_label);

    let producer = transport.producer();
    let mut bytes = 0usize;
    for seq in 0..40 {
        let record = record_of(&reading(1, seq));
        bytes += record.key.len() + record.value.len();
        producer.send(topic, record).await.unwrap();
    }
    producer.flush().await.unwrap();
    assert_eq!(
        sample("smokewatch_transport_records_sent_total", &topic_label) - sent_before,
        40.0
    );
    assert_eq!(
        sample("smokewatch_transport_sent_bytes_total", &topic_label) - bytes_before,
        bytes as f64
    );

    let mut subscription = Subscription::configured(&[topic], config);
    subscription.max_batch = 25;
    let mut consumer = transport.consumer(subscription).await.unwrap();
    let mut got = 0;
    while got < 25 {
        got += tokio::time::timeout(Duration::from_secs(20), consumer.recv())
            .await
            .expect("records arrive")
            .unwrap()
            .len();
    }
    assert_eq!(got, 25, "max_batch caps one recv");
    assert_eq!(
        sample("smokewatch_transport_records_consumed_total", &topic_label) - consumed_before,
        25.0
    );
    let lag = sample(
        "smokewatch_consumer_lag",
        &[("topic", label), ("partition", "0")],
    );
    assert_eq!(lag, 15.0, "40 written, 25 handed out");
    assert_eq!(consumer.lag().values().sum::<i64>(), 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_and_kafka_publish_the_same_counters_and_lag() {
    let mut config = KafkaConfig {
        partitions: 1,
        embedded_capacity: Capacity::new(1000),
        ..KafkaConfig::default()
    };
    let embedded = Transport::connect(&config).await.unwrap();
    assert!(matches!(embedded, Transport::Embedded(_)));
    check(
        &embedded,
        &config,
        TopicKind::WindowResults,
        "window_results",
    )
    .await;

    let broker = Broker::start(Storage::Memory);
    config = KafkaConfig {
        partitions: 1,
        ..broker.config()
    };
    let kafka = connected(&config).await;
    check(&kafka, &config, TopicKind::Alerts, "alerts").await;
}
