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
//! reads the same topic from the beginning, and produces N readings of its
//! own to a second topic. Last, the whole daemon (`smokewatch run`, Kafka
//! on, every output topic on, simulator, ML and batch off) reads the first
//! topic from the beginning through every stream stage to the sinks.
//! Rates count key + value bytes and run from the first record to the last;
//! the daemon's from the first reading its sinks finished to the last
//! (polled from `/metrics` every 50 ms). The ratios to librdkafka are the
//! figures to watch: the broker is the same for both, so they measure the
//! client, and the full-stream one what the stream costs on top. Peak RSS
//! is the daemon's and the Python consumer's. Prints a table; asserts
//! nothing (benchmarks measure, tests check).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/kafka_support/mod.rs"]
mod kafka_support;

use kafka_support::{Broker, Storage, connected, reading, record_of};
use smokewatch::transport::{
    CompressionCodec, KafkaConfig, OutgoingRecord, Subscription, TopicKind,
};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The daemon's allocator (src/main.rs), so the producer and consumer
/// measured here allocate as they do in `smokewatch run`.
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Fetch wait of every consumer in the bench, in milliseconds.
const FETCH_WAIT_MS: u64 = 100;

struct Rate {
    records: u64,
    bytes: u64,
    seconds: f64,
    /// Peak resident memory of the process that did the work, when known.
    max_rss_bytes: Option<u64>,
}

impl Rate {
    fn row(&self, what: &str) -> String {
        let rss = self
            .max_rss_bytes
            .map(|b| format!(" {:>7.0} MB peak RSS", b as f64 / 1e6))
            .unwrap_or_default();
        format!(
            "{what:<44} {:>10} records {:>8.2} s {:>12.0} records/s {:>8.1} MB/s{rss}",
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

/// Runs `tests/python/kafka_interop.py` with `args` and reads its JSON rate.
fn python_rate(args: &[&str]) -> Rate {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/kafka_interop.py");
    let output = Command::new("python3")
        .arg(script)
        .args(args)
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
        max_rss_bytes: parsed["max_rss_bytes"].as_u64(),
    }
}

fn python_consumer(addr: &str, topic: &str, partitions: u32, expect: u64) -> Rate {
    python_rate(&[
        "bench",
        "--bootstrap",
        addr,
        "--topic",
        topic,
        "--partitions",
        &partitions.to_string(),
        "--expect",
        &expect.to_string(),
    ])
}

fn python_producer(addr: &str, topic: &str, count: u64, codec: &str) -> Rate {
    python_rate(&[
        "bench-produce",
        "--bootstrap",
        addr,
        "--topic",
        topic,
        "--count",
        &count.to_string(),
        "--compression",
        codec,
    ])
}

/// Sum of every series of `name` in a Prometheus text page.
fn metric_sum(page: &str, name: &str) -> f64 {
    page.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The daemon reads `config.topics.readings` (holding `n` readings) from
/// the beginning through the whole stream, every output topic on; returns
/// its rate from the first reading the sinks finished to the last, and its
/// peak RSS.
fn full_stream(
    addr: &str,
    config: &KafkaConfig,
    codec_name: &str,
    n: u64,
    bytes_per_record: f64,
) -> Rate {
    let dir = tempfile::tempdir().expect("temp dir for the daemon");
    let t = &config.topics;
    let yaml = format!(
        "daemon:\n  data_dir: {data}\nkafka:\n  enabled: true\n  bootstrap_servers: [\"{addr}\"]\n  \
         partitions: {partitions}\n  producer:\n    compression: {codec_name}\n  consumer:\n    \
         max_wait: {FETCH_WAIT_MS}ms\n    max_bytes: {max_bytes}\n  topics:\n    \
         readings: {r}\n    room_events: {e}\n    alerts: {a}\n    window_results: {w}\n    \
         dead_letters: {d}\nsimulator:\n  enabled: false\nml:\n  enabled: false\nbatch:\n  \
         enabled: false\n",
        data = dir.path().join("data").display(),
        partitions = config.partitions,
        max_bytes = config.consumer.max_bytes,
        r = t.readings,
        e = t.room_events,
        a = t.alerts,
        w = t.window_results,
        d = t.dead_letters,
    );
    let mut daemon = common::RunningDaemon::start(dir.path(), &yaml, &[]);
    let metrics = daemon.url("/metrics");
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    let (mut first, mut done_at, mut at_first) = (None, None, 0.0);
    let mut finished = 0.0;
    while Instant::now() < deadline {
        let page = client
            .get(&metrics)
            .send()
            .and_then(|r| r.text())
            .unwrap_or_default();
        finished = metric_sum(&page, "smokewatch_readings_processed_total")
            + metric_sum(&page, "smokewatch_dead_letters_total");
        if finished > 0.0 && first.is_none() {
            first = Some(Instant::now());
            at_first = finished;
        }
        if finished >= n as f64 {
            done_at = Some(Instant::now());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let max_rss_bytes = std::fs::read_to_string(format!("/proc/{}/status", daemon.child.id()))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        });
    daemon.terminate();
    daemon.wait_exit(Duration::from_secs(60));
    let seconds = match (first, done_at) {
        (Some(first), Some(done)) => (done - first).as_secs_f64(),
        _ => f64::NAN,
    };
    let records = (finished - at_first) as u64;
    Rate {
        records,
        bytes: (records as f64 * bytes_per_record) as u64,
        seconds,
        max_rss_bytes,
    }
}

/// What one codec's async part measured, for the blocking runs after it.
struct Measured {
    config: KafkaConfig,
    partitions: u32,
    bytes: u64,
    produced: Rate,
    consumed: Rate,
}

/// smokewatch's producer and consumer on a fresh topic of `n` readings.
async fn client_rates(broker: &Broker, codec_name: &str, n: u64) -> Measured {
    let mut config = broker.config();
    config.producer.compression = codec(codec_name);
    if let Some(bytes) = std::env::var("SMOKEWATCH_BENCH_BATCH_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.producer.batch_size = bytes;
    }
    // The same fetch wait as the confluent-kafka consumer (`fetch.wait.max.ms`
    // in tests/python/kafka_interop.py): tansu 0.6 sleeps up to the wait on
    // every fetch, even one that found records (tansu-storage
    // src/service/fetch.rs), so unequal waits would measure that sleep.
    config.consumer.max_wait = smokewatch::base::config::Duration::from_millis(FETCH_WAIT_MS);
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
        max_rss_bytes: None,
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
        max_rss_bytes: None,
    };
    drop(consumer);
    // The topics confluent-kafka produces to (created like smokewatch's).
    let mut python = config.clone();
    python.topics.readings = format!("bench-{codec_name}.py-readings");
    python.topics.room_events = format!("bench-{codec_name}.py-room-events");
    python.topics.alerts = format!("bench-{codec_name}.py-alerts");
    python.topics.window_results = format!("bench-{codec_name}.py-window-results");
    python.topics.dead_letters = format!("bench-{codec_name}.py-dead-letters");
    drop(connected(&python).await);
    Measured {
        config,
        partitions,
        bytes,
        produced,
        consumed,
    }
}

/// Every measurement of one codec, as table lines.
fn run(
    runtime: &tokio::runtime::Runtime,
    broker: &Broker,
    codec_name: &str,
    n: u64,
) -> Vec<String> {
    let m = runtime.block_on(client_rates(broker, codec_name, n));
    let topics = &m.config.topics;
    let reference = python_consumer(&broker.addr, &topics.readings, m.partitions, n);
    let python_produced = python_producer(
        &broker.addr,
        &format!("bench-{codec_name}.py-readings"),
        n,
        codec_name,
    );
    let per_record = m.bytes as f64 / n as f64;
    let stream = full_stream(&broker.addr, &m.config, codec_name, n, per_record);
    let ratio = |a: &Rate, b: &Rate| a.per_second() / b.per_second();
    let rss = |r: &Rate| r.max_rss_bytes.map_or(f64::NAN, |b| b as f64);
    vec![
        format!(
            "codec {codec_name}, {} partitions, batch_size {} bytes, {per_record:.0} bytes/record",
            m.partitions, m.config.producer.batch_size,
        ),
        m.produced.row("smokewatch produce (send + flush)"),
        python_produced.row("confluent-kafka produce (produce + flush)"),
        m.consumed.row("smokewatch consume"),
        reference.row("confluent-kafka consume"),
        stream.row("smokewatch full stream (daemon, outputs on)"),
        format!(
            "ratios to confluent-kafka: produce {:.2}, consume {:.2}, full stream {:.2}; \
             full-stream peak RSS {:.1}x the consumer's",
            ratio(&m.produced, &python_produced),
            ratio(&m.consumed, &reference),
            ratio(&stream, &reference),
            rss(&stream) / rss(&reference),
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
        let lines = run(&runtime, &broker, name, n);
        for line in lines {
            println!("{line}");
        }
        println!();
    }
}
