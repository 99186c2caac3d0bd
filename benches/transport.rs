//! Kafka transport throughput against a local broker (tansu, started by
//! `scripts/kafka-broker.sh`), beside a confluent-kafka (librdkafka)
//! consumer reading the same topic in the same run.
//!
//! ```sh
//! cargo bench --bench transport
//! SMOKEWATCH_BENCH_RECORDS=500000 SMOKEWATCH_BENCH_CODECS=none,lz4,zstd \
//!   SMOKEWATCH_BENCH_BATCH_SIZE=1048576 SMOKEWATCH_BENCH_FETCH_BYTES=4194304 \
//!   cargo bench --bench transport
//! ```
//!
//! For each codec: smokewatch's producer sends N readings (JSON, keyed by
//! device id, over `kafka.partitions` partitions) and flushes; smokewatch's
//! consumer reads them back from the beginning; then the Python client
//! reads the same topic from the beginning. Rates count key + value bytes
//! and run from the first record to the last. The ratio to librdkafka is
//! the figure to watch: the broker is the same for both, so it measures the
//! client. Prints a table; asserts nothing (benchmarks measure, tests check).

#[path = "../tests/kafka_support/mod.rs"]
mod kafka_support;

use kafka_support::{Broker, Storage, connected, reading, record_of};
use smokewatch::transport::{CompressionCodec, OutgoingRecord, Subscription, TopicKind};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

struct Rate {
    records: u64,
    bytes: u64,
    seconds: f64,
}

impl Rate {
    fn row(&self, what: &str) -> String {
        format!(
            "{what:<34} {:>10} records {:>8.2} s {:>12.0} records/s {:>8.1} MB/s",
            self.records,
            self.seconds,
            self.records as f64 / self.seconds,
            self.bytes as f64 / self.seconds / 1e6
        )
    }

    fn per_second(&self) -> f64 {
        self.records as f64 / self.seconds
    }
}

fn codec(name: &str) -> CompressionCodec {
    match name {
        "none" => CompressionCodec::None,
        "gzip" => CompressionCodec::Gzip,
        "lz4" => CompressionCodec::Lz4,
        "snappy" => CompressionCodec::Snappy,
        "zstd" => CompressionCodec::Zstd,
        other => panic!("SMOKEWATCH_BENCH_CODECS: unknown codec {other:?}"),
    }
}

fn python_consumer(addr: &str, topic: &str, partitions: u32, expect: u64) -> Rate {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/kafka_interop.py");
    let output = Command::new("python3")
        .arg(script)
        .args(["bench", "--bootstrap", addr, "--topic", topic])
        .args(["--partitions", &partitions.to_string()])
        .args(["--expect", &expect.to_string()])
        .output()
        .expect("run python3 (scripts/test-deps.sh installs confluent-kafka)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let parsed: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "python bench printed no JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    Rate {
        records: parsed["records"].as_u64().unwrap_or(0),
        bytes: parsed["bytes"].as_u64().unwrap_or(0),
        seconds: parsed["seconds"].as_f64().unwrap_or(f64::NAN),
    }
}

async fn run(broker: &Broker, codec_name: &str, n: u64) -> Vec<String> {
    let mut config = broker.config();
    config.producer.compression = codec(codec_name);
    if let Some(bytes) = std::env::var("SMOKEWATCH_BENCH_BATCH_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.producer.batch_size = bytes;
    }
    config.consumer.max_wait = smokewatch::base::config::Duration::from_millis(500);
    if let Some(bytes) = std::env::var("SMOKEWATCH_BENCH_FETCH_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.consumer.max_bytes = bytes;
    }
    config.topics.readings = format!("bench-{codec_name}.readings");
    config.topics.room_events = format!("bench-{codec_name}.room-events");
    config.topics.alerts = format!("bench-{codec_name}.alerts");
    config.topics.window_results = format!("bench-{codec_name}.window-results");
    config.topics.dead_letters = format!("bench-{codec_name}.dead-letters");
    let transport = connected(&config).await;
    let partitions = transport.partitions(TopicKind::Readings);

    let devices = 1_000u32;
    let records: Vec<OutgoingRecord> = (0..n)
        .map(|i| {
            record_of(&reading(
                (i % u64::from(devices)) as u32,
                i / u64::from(devices),
            ))
        })
        .collect();
    let bytes: u64 = records
        .iter()
        .map(|r| (r.key.len() + r.value.len()) as u64)
        .sum();

    let producer = transport.producer();
    let started = Instant::now();
    for record in records {
        producer.send(TopicKind::Readings, record).await.unwrap();
    }
    producer.flush().await.unwrap();
    let produced = Rate {
        records: n,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    };

    let mut subscription = Subscription::configured(&[TopicKind::Readings], &config);
    subscription.max_batch = 4096;
    let mut consumer = transport.consumer(subscription).await.unwrap();
    let (mut got, mut got_bytes, mut first) = (0u64, 0u64, None);
    while got < n {
        let batch = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
            .await
            .expect("consumer stalled")
            .unwrap();
        first.get_or_insert_with(Instant::now);
        got += batch.len() as u64;
        got_bytes += batch
            .iter()
            .map(|r| (r.key.as_ref().map_or(0, |k| k.len()) + r.value.len()) as u64)
            .sum::<u64>();
    }
    let consumed = Rate {
        records: got,
        bytes: got_bytes,
        seconds: first.map_or(f64::NAN, |t| t.elapsed().as_secs_f64()),
    };
    drop(consumer);

    let reference = python_consumer(&broker.addr, &config.topics.readings, partitions, n);
    vec![
        format!(
            "codec {codec_name}, {partitions} partitions, batch_size {} bytes, {:.0} bytes/record",
            config.producer.batch_size,
            bytes as f64 / n as f64
        ),
        produced.row("smokewatch produce (send + flush)"),
        consumed.row("smokewatch consume"),
        reference.row("confluent-kafka consume"),
        format!(
            "smokewatch / confluent-kafka consume ratio: {:.2}",
            consumed.per_second() / reference.per_second()
        ),
    ]
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    // useful either: this target only runs when benchmarked.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n: u64 = std::env::var("SMOKEWATCH_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let codecs = std::env::var("SMOKEWATCH_BENCH_CODECS").unwrap_or_else(|_| "lz4,none".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let broker = Broker::start(Storage::Memory);
    println!(
        "kafka transport benchmark: {n} readings per codec, tansu (memory storage) at {}",
        broker.addr
    );
    for name in codecs.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let lines = runtime.block_on(run(&broker, name, n));
        for line in lines {
            println!("{line}");
        }
        println!();
    }
}
