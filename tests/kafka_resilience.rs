//! The Kafka transport when things go wrong: the broker is down at start,
//! goes away under load, or has a topic with too few partitions.

mod kafka_support;

use kafka_support::{
    Broker, Storage, connected, eventually, free_port, kafka_config, metric_value, reading,
    record_of,
};
use smokewatch::base::config::{Capacity, Duration as ConfigDuration};
use smokewatch::transport::kafka::Verdict;
use smokewatch::transport::{Subscription, TopicKind, Transport, TransportError};
use std::time::Duration;

fn kafka(transport: &Transport) -> &smokewatch::transport::kafka::KafkaTransport {
    match transport {
        Transport::Kafka(kafka) => kafka,
        Transport::Embedded(_) => panic!("kafka.enabled gives the Kafka transport"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_is_down_at_start_is_waited_for_without_blocking() {
    let port = free_port();
    let config = kafka_config(&format!("127.0.0.1:{port}"));
    let transport = tokio::time::timeout(Duration::from_secs(1), Transport::connect(&config))
        .await
        .expect("connect returns at once, broker or not")
        .unwrap();
    let status = kafka(&transport).status();
    eventually(
        Duration::from_secs(10),
        "a failed connection attempt",
        || matches!(status.verdict(), Verdict::Degraded(reason) if reason.contains("cannot reach")),
    )
    .await;
    let Verdict::Degraded(reason) = status.verdict() else {
        unreachable!()
    };
    assert!(
        reason.contains("kafka.bootstrap_servers") && reason.contains(&port.to_string()),
        "the reason names the key and the address: {reason}"
    );

    // A send waits (backpressure) rather than failing or buffering forever.
    let producer = transport.producer();
    let pending = tokio::spawn({
        let producer = producer.clone();
        async move {
            producer
                .send(TopicKind::Readings, record_of(&reading(1, 1)))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!pending.is_finished(), "send waits for the cluster");

    let _broker = Broker::start_on(Storage::Memory, port);
    tokio::time::timeout(Duration::from_secs(30), pending)
        .await
        .expect("send completes once the broker is up")
        .unwrap()
        .unwrap();
    producer.flush().await.unwrap();
    assert_eq!(status.verdict(), Verdict::Healthy);
    let mut consumer = transport
        .consumer(Subscription::configured(&[TopicKind::Readings], &config))
        .await
        .unwrap();
    let batch = tokio::time::timeout(Duration::from_secs(10), consumer.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(batch.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_topic_with_fewer_partitions_is_reported_and_used_as_it_is() {
    let metrics = smokewatch::telemetry::metrics_handle();
    let broker = Broker::start(Storage::Memory);
    let config = broker.config();
    let admin = rskafka::client::ClientBuilder::new(vec![broker.addr.clone()])
        .build()
        .await
        .unwrap();
    admin
        .controller_client()
        .unwrap()
        .create_topic(&config.topics.alerts, 2, 1, 5_000)
        .await
        .unwrap();

    let transport = connected(&config).await;
    assert_eq!(transport.partitions(TopicKind::Alerts), 2, "used as it is");
    assert_eq!(transport.partitions(TopicKind::Readings), config.partitions);
    let Verdict::Degraded(reason) = kafka(&transport).status().verdict() else {
        panic!("a partition shortfall degrades /health");
    };
    assert!(
        reason.contains("smokewatch.alerts") && reason.contains("has 2 partitions"),
        "{reason}"
    );
    let text = metrics.render();
    assert_eq!(
        metric_value(
            &text,
            "smokewatch_transport_topic_partitions_missing",
            &[("topic", "alerts")]
        ),
        4.0,
        "{text}"
    );
    // Keys go to the two partitions that exist, as any client would put them.
    let producer = transport.producer();
    for device in 0..50 {
        producer
            .send(TopicKind::Alerts, record_of(&reading(device, 0)))
            .await
            .unwrap();
    }
    producer.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absent_broker_pushes_back_on_senders_and_they_resume_when_it_returns() {
    // sqlite storage, so the topics are still there after the restart.
    let broker = Broker::start(Storage::Sqlite);
    let mut config = broker.config();
    config.producer.queue_capacity = Capacity::new(50);
    let transport = connected(&config).await;
    let producer = transport.producer();
    producer
        .send(TopicKind::Readings, record_of(&reading(0, 0)))
        .await
        .unwrap();
    producer.flush().await.unwrap();

    broker.stop();
    for seq in 1..=50 {
        tokio::time::timeout(
            Duration::from_secs(1),
            producer.send(TopicKind::Readings, record_of(&reading(0, seq))),
        )
        .await
        .expect("the first queue_capacity records are accepted")
        .unwrap();
    }
    let blocked = tokio::spawn({
        let producer = producer.clone();
        async move {
            producer
                .send(TopicKind::Readings, record_of(&reading(0, 51)))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !blocked.is_finished(),
        "send waits once 50 records are held"
    );
    let Transport::Kafka(kafka) = &transport else {
        unreachable!()
    };
    assert_eq!(kafka.producer().held(), 50);
    assert!(!kafka.status().is_up());

    broker.start_again();
    tokio::time::timeout(Duration::from_secs(60), blocked)
        .await
        .expect("the waiting send completes when the broker is back")
        .unwrap()
        .unwrap();
    producer.flush().await.expect("nothing given up on");
    let mut consumer = transport
        .consumer(Subscription::configured(&[TopicKind::Readings], &config))
        .await
        .unwrap();
    let mut seqs = Vec::new();
    while seqs.len() < 52 {
        let batch = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .unwrap()
            .unwrap();
        for r in batch {
            seqs.push(
                smokewatch::schema::json::decode_reading(&r.value)
                    .unwrap()
                    .seq,
            );
        }
    }
    assert_eq!(
        seqs,
        (0..=51).collect::<Vec<u64>>(),
        "one device: one partition, in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_given_up_on_are_counted_logged_and_reported_by_flush() {
    let metrics = smokewatch::telemetry::metrics_handle();
    let broker = Broker::start(Storage::Memory);
    let mut config = broker.config();
    config.producer.retries = 2;
    config.producer.retry_backoff = ConfigDuration::from_millis(10);
    config.producer.retry_backoff_max = ConfigDuration::from_millis(20);
    let transport = connected(&config).await;
    let producer = transport.producer();
    // Lanes start on first use; warm them up while the broker is there.
    producer
        .send(TopicKind::DeadLetters, record_of(&reading(3, 0)))
        .await
        .unwrap();
    producer.flush().await.unwrap();
    let labels = [
        ("topic", "dead_letters"),
        ("reason", "retries_exhausted_broker_unreachable"),
    ];
    let before = metric_value(
        &metrics.render(),
        "smokewatch_transport_send_failures_total",
        &labels,
    );

    broker.stop();
    for seq in 1..=10 {
        producer
            .send(TopicKind::DeadLetters, record_of(&reading(3, seq)))
            .await
            .unwrap();
    }
    let err = tokio::time::timeout(Duration::from_secs(30), producer.flush())
        .await
        .expect("flush ends once retries are spent")
        .unwrap_err();
    assert!(
        matches!(err, TransportError::SendFailed { records: 10 }),
        "{err}"
    );
    let after = metric_value(
        &metrics.render(),
        "smokewatch_transport_send_failures_total",
        &labels,
    );
    assert_eq!(after - before, 10.0, "{}", metrics.render());
    producer.flush().await.expect("a failure is reported once");
}
