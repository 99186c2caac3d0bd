//! `smokewatch bench stream`: throughput and reading→alert latency of the
//! whole stream path (consume → validate → clean → features → windows →
//! score → detect → sinks, with checkpoints and part files) on the
//! embedded transport.
//!
//! Two measurements per fleet size: readings/s when the transport holds
//! more than the stream can take (pre-encoded readings pushed as fast as
//! possible), and the latency from handing a reading to the producer to
//! its alert reaching the sinks, at a fixed offered rate.

use super::error::CliError;
use super::{EXIT_RUNTIME, runtime};
use crate::app::config::Config;
use crate::app::stream_wiring::stream_deps;
use crate::base::config::{Capacity, Duration as ConfigDuration};
use crate::ml::ModelHandle;
use crate::schema::json::encode_reading;
use crate::schema::registry::DeviceRegistry;
use crate::schema::{Channel, ChannelValues, EventTime, SmokeReading};
use crate::stream::checkpoint::CheckpointSize;
use crate::stream::sinks::{AlertChange, AlertEvent, LiveViews};
use crate::stream::{Hooks, OutputMode, spawn_with};
use crate::supervisor::{Health, Supervisor};
use crate::telemetry::memory;
use crate::transport::{OutgoingRecord, TopicKind, Transport};
use bytes::Bytes;
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Options of `bench stream`.
#[derive(Debug, Clone, clap::Args)]
pub struct StreamBenchArgs {
    /// Fleet sizes to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,100000")]
    pub devices: Vec<usize>,
    /// Readings pushed in the throughput run.
    #[arg(long, default_value_t = 1_000_000)]
    pub readings: usize,
    /// Offered rate (readings/s) of the latency run.
    #[arg(long, default_value_t = 20_000)]
    pub rate: u64,
    /// Length of the latency run (long enough to include checkpoints).
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Time between checkpoints (every stage's state is serialized then).
    #[arg(long, default_value = "10s")]
    pub checkpoint_interval: ConfigDuration,
    /// One reading in this many (per device, staggered across devices)
    /// crosses the PM2.5 threshold.
    #[arg(long, default_value_t = 50)]
    pub alert_every: u64,
}

/// `bench` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// The whole stream path on the embedded transport.
    Stream(StreamBenchArgs),
    /// Incident-level scoreboard of the configured detectors against the
    /// simulator's ground truth (or a labelled file).
    Alerts(super::bench_alerts::AlertBenchArgs),
}

pub fn bench(config: &Config, command: BenchCommand) -> ExitCode {
    let args = match command {
        BenchCommand::Stream(args) => args,
        BenchCommand::Alerts(args) => return super::bench_alerts::bench_alerts(config, &args),
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    println!(
        "stream bench: embedded transport, ML scoring off, append windows, part files + checkpoints on, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:>8} {:>10} {:>14} {:>12} | {:>9} {:>8} {:>6} {:>12} {:>10} {:>10} {:>10}",
        "devices",
        "readings",
        "readings/s",
        "ckpt max ms",
        "offered/s",
        "alerts",
        "ckpts",
        "ckpt max ms",
        "p50 ms",
        "p99 ms",
        "max ms"
    );
    let mut memory_rows = Vec::new();
    for (i, &devices) in args.devices.iter().enumerate() {
        let result = rt.block_on(async {
            let throughput = run(devices, args.readings, None, &args, i * 2).await?;
            let n = (args.rate * args.seconds) as usize;
            let latency = run(devices, n, Some(args.rate), &args, i * 2 + 1).await?;
            Ok::<_, CliError>((throughput, latency))
        });
        match result {
            Ok((t, l)) => {
                println!(
                    "{:>8} {:>10} {:>14.0} {:>12.1} | {:>9} {:>8} {:>6} {:>12.1} {:>10.2} {:>10.2} {:>10.2}",
                    devices,
                    args.readings,
                    t.readings_per_sec,
                    t.checkpoint_max_ms,
                    args.rate,
                    l.latencies.len(),
                    l.checkpoints,
                    l.checkpoint_max_ms,
                    l.percentile(0.50),
                    l.percentile(0.99),
                    l.percentile(1.0)
                );
                memory_rows.push((devices, t));
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_RUNTIME);
            }
        }
    }
    print_memory(&memory_rows);
    ExitCode::SUCCESS
}

/// The memory table of the throughput runs: the state each stage keeps
/// (its encoded size in the final checkpoint, per device) and the
/// process's resident memory.
fn print_memory(rows: &[(usize, Outcome)]) {
    let stages: std::collections::BTreeSet<&str> = rows
        .iter()
        .flat_map(|(_, o)| o.state.parts.keys().map(String::as_str))
        .collect();
    println!();
    println!(
        "memory of the throughput runs: state = each stage's encoded state in the final checkpoint, B per device; \
         log = records the embedded transport retains for a restart, at the end; \
         heap = bytes the program holds (jemalloc's allocated) at the end and at most (sampled every 20 ms); RSS in MB"
    );
    print!("{:>8} {:>10}", "devices", "state MB");
    for stage in &stages {
        print!(" {stage:>9}");
    }
    println!(
        " {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "total B", "log MB", "heap end", "heap peak", "RSS end", "RSS peak"
    );
    let mb = |b: Option<u64>| b.map_or("-".to_string(), |b| format!("{:.0}", b as f64 / 1e6));
    for (devices, o) in rows {
        let per_device = |b: u64| b as f64 / (*devices).max(1) as f64;
        print!(
            "{:>8} {:>10.1}",
            devices,
            o.state.parts.values().sum::<u64>() as f64 / 1e6
        );
        for stage in &stages {
            let b = o.state.parts.get(*stage).copied().unwrap_or(0);
            print!(" {:>9.0}", per_device(b));
        }
        println!(
            " {:>9.0} {:>9} {:>9} {:>9} {:>9} {:>9}",
            per_device(o.state.parts.values().sum()),
            mb(Some(o.log_end as u64)),
            mb(o.heap_end),
            mb(o.heap_peak),
            mb(o.rss_end),
            mb(o.rss_peak)
        );
    }
}

struct Outcome {
    readings_per_sec: f64,
    /// Checkpoints completed while readings were processed.
    checkpoints: u64,
    /// Longest barrier-at-sinks → checkpoint-durable time, in ms, the
    /// final checkpoint at shutdown included.
    checkpoint_max_ms: f64,
    /// Reading→alert latencies in ms.
    latencies: Vec<f64>,
    /// The final checkpoint: every stage's state after the run.
    state: CheckpointSize,
    /// Resident memory when the last reading had gone through, and the
    /// peak of the run (`None` where the OS does not tell).
    rss_end: Option<u64>,
    rss_peak: Option<u64>,
    /// Bytes the program held (jemalloc's count) at the same moment.
    heap_end: Option<u64>,
    /// The most it held during the run (sampled).
    heap_peak: Option<u64>,
    /// Heap bytes of the records the embedded transport retained (not
    /// yet covered by a checkpoint) when the last reading had gone through.
    log_end: usize,
}

impl Outcome {
    fn percentile(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[i]
    }
}

fn bench_config(dir: &std::path::Path, args: &StreamBenchArgs) -> Config {
    let mut config = Config::default();
    config.daemon.data_dir = dir.to_path_buf();
    config.sinks.dir = dir.join("out");
    config.ml.enabled = false;
    // The stream path alone, as the README's table reports it (history
    // appends encode every reading as Parquet on the writer thread).
    config.batch.stream_append = false;
    config.kafka.embedded_capacity = Capacity::new(4_000_000);
    let s = &mut config.stream;
    s.window.output_mode = OutputMode::Append;
    s.checkpoint.interval = args.checkpoint_interval;
    s.alerts.cooldown = ConfigDuration::from_secs(0);
    // The latency run times the path from a crossing reading to its
    // alert, not the detectors' tuning: one PM2.5 reading above 50 opens
    // an alert (the default thresholds watch no PM2.5 and want 3 readings).
    s.detect.thresholds.insert(
        Channel::Pm2_5,
        crate::stream::ThresholdLevels {
            low: None,
            medium: None,
            high: Some(50.0),
            critical: None,
            hysteresis: 0.1,
            sustain: 1,
        },
    );
    // The bench sends no room events: their partitions go idle quickly.
    s.window.idle_timeout = ConfigDuration::from_secs(2);
    s.channel_capacity = Capacity::new(32);
    config
}

/// Whether a device's reading `seq` crosses the threshold. Staggered by
/// device, so every fleet size raises alerts at the same rate from the
/// start (a large fleet sends each device's first readings late).
fn fires(device: usize, seq: u64, alert_every: u64) -> bool {
    (seq + device as u64).is_multiple_of(alert_every)
}

/// How far (in readings) the throughput run's producer may run ahead of
/// the stream: a few batches of every stage, so the stream never waits
/// for input, and not the whole run in memory.
const AHEAD: u64 = 100_000;

/// An encoded record: device, sequence number, key and value.
type Payload = (usize, u64, Bytes, Bytes);

/// The `n`-th reading of the fleet: devices in turn, one second apart per device.
fn reading(devices: usize, n: usize, alert_every: u64) -> Payload {
    let device = n % devices;
    let seq = (n / devices) as u64 + 1;
    let mut values = ChannelValues::EMPTY;
    for c in Channel::ALL {
        values.set(
            c,
            Some(*c.physical_range().start() + 1.0 + (seq % 7) as f64 * 0.01),
        );
    }
    values.set(Channel::Temperature, Some(21.0 + (seq % 3) as f64 * 0.01));
    let fire = fires(device, seq, alert_every);
    values.set(Channel::Pm2_5, Some(if fire { 60.0 } else { 2.0 }));
    let r = SmokeReading {
        device_id: format!("dev-{device}").into(),
        home: format!("home-{}", device / 3).into(),
        room: format!("room-{}", device % 3).into(),
        event_time: EventTime(1_700_000_000_000 + seq as i64 * 1000),
        seq,
        cnt: Some(seq),
        values,
        fire_alarm: None,
    };
    let key = Bytes::from(r.device_id.to_string());
    (device, seq, key, Bytes::from(encode_reading(&r)))
}

async fn run(
    devices: usize,
    readings: usize,
    rate: Option<u64>,
    args: &StreamBenchArgs,
    run_no: usize,
) -> Result<Outcome, CliError> {
    let dir =
        std::env::temp_dir().join(format!("smokewatch-bench-{}-{run_no}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = Arc::new(bench_config(&dir, args));
    memory::reset_peak();
    let heap_peak = memory::HeapPeak::start(Duration::from_millis(20));
    let health = Health::new();
    let mut supervisor = Supervisor::new(health, config.daemon.restart.clone());
    let transport = Transport::embedded(&config.kafka);
    let (tap_tx, mut tap_rx) = mpsc::unbounded_channel::<(Instant, AlertEvent)>();
    let progress = spawn_with(
        &mut supervisor,
        stream_deps(
            &config,
            transport.clone(),
            ModelHandle::new(),
            DeviceRegistry::new(),
            LiveViews::new(100),
        ),
        Hooks {
            alert_tap: rate.map(|_| tap_tx),
        },
    )?;
    let producer = transport.producer();
    let started = Instant::now();
    let mut sent_at: HashMap<(usize, u64), Instant> = HashMap::new();
    let burst = rate.map(|r| (r / 1000).max(1) as usize);
    // Readings are made as they are sent, not all before: the input of a
    // long run would otherwise be most of the memory the bench reports.
    // The producer stays at most `AHEAD` readings in front of the stream,
    // as a Kafka consumer's fetches would, so the transport holds the
    // backlog of a source, not the whole run.
    for i in 0..readings {
        if rate.is_none() && i % 1024 == 0 {
            while i as u64 > progress.readings.load(Ordering::Relaxed) + AHEAD {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        }
        let (device, seq, key, payload) = reading(devices, i, args.alert_every);
        if let (Some(rate), Some(burst)) = (rate, burst)
            && i % burst == 0
        {
            let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        if rate.is_some() && fires(device, seq, args.alert_every) {
            sent_at.insert((device, seq), Instant::now());
        }
        producer
            .send(TopicKind::Readings, OutgoingRecord::json(key, payload, 0))
            .await?;
    }
    let limit = Duration::from_secs(600);
    let deadline = Instant::now() + limit;
    while progress.readings.load(Ordering::Relaxed) < readings as u64 {
        if Instant::now() > deadline {
            return Err(CliError::Timeout(limit));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    let checkpoints = progress.checkpoint.load(Ordering::Relaxed);
    let mut latencies = Vec::new();
    while let Ok((at, event)) = tap_rx.try_recv() {
        if event.change != AlertChange::Opened {
            continue;
        }
        let device = event
            .alert
            .device
            .as_ref()
            .and_then(|d| d.as_str().strip_prefix("dev-"))
            .and_then(|d| d.parse::<usize>().ok());
        if let Some(sent) = device.and_then(|d| sent_at.get(&(d, event.alert.trigger_seq))) {
            latencies.push(at.duration_since(*sent).as_secs_f64() * 1000.0);
        }
    }
    latencies.sort_by(f64::total_cmp);
    let rss_end = memory::rss_bytes();
    let heap_end = memory::heap_stats().map(|h| h.allocated);
    let log_end = match &transport {
        Transport::Embedded(broker) => TopicKind::ALL
            .into_iter()
            .map(|topic| broker.retained_bytes(topic))
            .sum(),
        Transport::Kafka(_) => 0,
    };
    let summary = supervisor.shutdown(Duration::from_secs(60)).await;
    // Like the resident peak, over the final checkpoint too.
    let heap_peak = heap_peak.finish();
    // After shutdown: includes the final checkpoint of the whole state.
    let checkpoint_max_ms = progress.checkpoint_max_us.load(Ordering::Relaxed) as f64 / 1000.0;
    let state = progress
        .checkpoint_size
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let _ = std::fs::remove_dir_all(&dir);
    if !summary.is_clean() {
        return Err(CliError::ShutdownAborted(summary.aborted));
    }
    Ok(Outcome {
        readings_per_sec: readings as f64 / elapsed.as_secs_f64(),
        checkpoints,
        checkpoint_max_ms,
        latencies,
        state,
        rss_end,
        heap_end,
        heap_peak,
        rss_peak: memory::peak_rss_bytes(),
        log_end,
    })
}
