//! The daemon: starts every enabled subsystem under the supervisor, wires
//! them with bounded channels, and stops them in order on SIGINT/SIGTERM.
//!
//! See ARCHITECTURE.md for the task and channel diagram.

use crate::app::config::Config;
use crate::batch::BatchStatus;
use crate::ml::ModelHandle;
use crate::schema::registry::DeviceRegistry;
use crate::stream::sinks::LiveViews;
use crate::stream::sinks::live_gauges::LiveGauges;
use crate::stream::sinks::stage::Progress;
use crate::supervisor::{
    Health, Queues, Role, ShutdownSummary, Supervisor, TaskContext, TaskReport, TaskResult,
};
use crate::transport::{Subscription, TopicKind, Transport, TransportError};
use crate::{dataset, stream, telemetry, transport, web};
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The handles the daemon creates once and hands, each to the components
/// that need it, inside their own `Deps`. Only the app layer sees them
/// together. All fields are cheap to clone (shared pointers).
#[derive(Clone)]
pub struct Handles {
    /// The one configuration.
    pub config: Arc<Config>,
    /// Every task's state, for /health.
    pub health: Health,
    /// Prometheus exporter; `None` when telemetry is disabled.
    pub metrics: Option<PrometheusHandle>,
    /// Kafka or embedded, as configured.
    pub transport: Transport,
    /// The fire model currently served (none until one is trained/loaded).
    pub model: ModelHandle,
    /// Devices known to the fleet; the stream refuses others.
    pub devices: DeviceRegistry,
    /// The batch job's history, last report and run trigger (for the web).
    pub batch: BatchStatus,
    /// The stream's latest alerts, window results and room states (web UI).
    pub live: LiveViews,
    /// Every bounded channel between tasks, for the dashboard's queue depths.
    pub queues: Queues,
    /// The stream's progress counters, once it runs (the dashboard's
    /// throughput, latency and dead-letter figures).
    pub progress: Option<Arc<Progress>>,
}

impl Handles {
    /// What the web server is built from.
    pub fn web_deps(&self) -> web::Deps {
        let config = &self.config;
        web::Deps {
            config: Arc::new(config.web.clone()),
            sections: Arc::new(web::Sections {
                stream_enabled: config.stream.enabled,
                window: config.stream.window.clone(),
                unknown_devices: config.stream.unknown_devices,
                default_home: config.stream.default_home.clone(),
                ring_capacity: config.sinks.ring_capacity,
                ml_enabled: config.ml.enabled,
                model_dir: config.ml.model_dir.clone(),
                batch_enabled: config.batch.enabled,
                telemetry_enabled: config.telemetry.enabled,
            }),
            health: self.health.clone(),
            metrics: self.metrics.clone(),
            transport: self.transport.clone(),
            model: self.model.clone(),
            devices: self.devices.clone(),
            batch: self.batch.clone(),
            live: self.live.clone(),
            progress: self.progress.clone(),
            queues: self.queues.clone(),
        }
    }

    /// What the stream is built from.
    pub fn stream_deps(&self) -> stream::Deps {
        stream_deps(
            &self.config,
            self.transport.clone(),
            self.model.clone(),
            self.devices.clone(),
            self.live.clone(),
        )
    }
}

/// The stream's `Deps` from the whole config and the handles it reads
/// (also for the benchmarks and the scoreboard, which run the stream
/// without a daemon).
pub fn stream_deps(
    config: &Config,
    transport: Transport,
    model: ModelHandle,
    devices: DeviceRegistry,
    live: LiveViews,
) -> stream::Deps {
    stream::Deps {
        config: config.stream.clone(),
        sinks: config.sinks.clone(),
        data_dir: config.daemon.data_dir.clone(),
        subscription: Subscription::configured(
            &[TopicKind::Readings, TopicKind::RoomEvents],
            &config.kafka,
        ),
        transport,
        // The store belongs to the batch layer: no batch layer, no appends.
        history_store: (config.batch.enabled && config.batch.stream_append)
            .then(|| config.batch.store_dir.clone()),
        scoring: config.ml.enabled.then(|| stream::Scoring {
            model,
            next_spec: config.ml.features.spec(),
        }),
        devices,
        live,
        max_future_skew: future_skew(config),
    }
}

/// `stream.max_future_skew`, unless the daemon's own simulator runs
/// faster than real time: its event time then runs ahead of the clock by
/// design, and measured against the clock every reading after the first
/// minutes would be refused as `future_event_time`.
fn future_skew(config: &Config) -> std::time::Duration {
    let sim = &config.simulator;
    if sim.enabled && sim.time_acceleration > 1.0 {
        tracing::info!(
            "stream.max_future_skew is not applied: the simulator runs at {}x real time \
             (simulator.time_acceleration), so its event time runs ahead of the clock",
            sim.time_acceleration
        );
        std::time::Duration::MAX
    } else {
        config.stream.max_future_skew.get()
    }
}

/// The data the ML service trains its first model on, when the registry
/// is empty: the configured file, or readings generated by the simulator.
fn initial_data(config: &Config) -> crate::ml::InitialData {
    let (initial, simulator) = (config.ml.initial_training.clone(), config.simulator.clone());
    Arc::new(move || Ok(dataset::initial_training_data(&initial, &simulator)?))
}

/// Why the daemon could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("web.host/web.port: {0}")]
    WebAddress(String),
    #[error("cannot listen on {addr} (web.host/web.port): {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("transport (kafka.*): {0}")]
    Transport(#[from] TransportError),
    #[error("waiting for signals: {0}")]
    Signal(std::io::Error),
    #[error("stream: {0}")]
    Stream(#[from] stream::StreamError),
    #[error("simulator: {0}")]
    Simulate(#[from] crate::simulate::SimulateError),
    #[error("batch: {0}")]
    Batch(#[from] crate::batch::BatchError),
    #[error("{0}")]
    Devices(#[from] crate::schema::registry::RegistryError),
    #[error("shutdown did not finish within daemon.shutdown_timeout; aborted: {}", aborted.join(", "))]
    ShutdownIncomplete { aborted: Vec<String> },
    /// A state folder cannot be created or written: every task that keeps
    /// state would fail and restart for ever, so the start stops here.
    #[error("{key} {} cannot be written: {source}", path.display())]
    StateDir {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl DaemonError {
    /// A start refused because of the configuration (a state folder that
    /// cannot be written), as opposed to a runtime failure: exit code 2.
    pub fn is_config(&self) -> bool {
        matches!(self, DaemonError::StateDir { .. })
    }
}

/// Service task: publishes queue depths and the gauges derived from the
/// stream's live views (`live`, `None` while the stream is off) every
/// second, and runs the exporter's upkeep (which drains histogram buffers).
async fn metrics_upkeep(
    ctx: TaskContext,
    queues: Queues,
    handle: PrometheusHandle,
    live: Option<LiveViews>,
) -> TaskResult {
    ctx.health.running();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    let mut gauges = LiveGauges::default();
    loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            _ = tick.tick() => {
                queues.publish_metrics();
                if let Some(views) = &live {
                    gauges.publish(views);
                }
                handle.run_upkeep();
            }
        }
    }
    Ok(TaskReport::new("metrics upkeep stopped"))
}

/// The device registry's file in `daemon.data_dir`.
pub const DEVICES_FILE: &str = "devices.json";

/// A running daemon.
pub struct Daemon {
    config: Arc<Config>,
    supervisor: Supervisor,
    web_addr: Option<SocketAddr>,
    handles: Handles,
}

impl Daemon {
    /// Starts every enabled subsystem and returns once they are spawned.
    pub async fn start(config: Arc<Config>) -> Result<Daemon, DaemonError> {
        check_state_dirs(&config)?;
        // Registrations kept from earlier runs, then the config's list
        // (which wins over a kept entry of the same id); the simulator
        // adds its fleet when it starts.
        let devices = DeviceRegistry::open(&config.daemon.data_dir.join(DEVICES_FILE))?;
        devices.register_config(&config.devices);
        let health = Health::new();
        let mut supervisor = Supervisor::new(health.clone(), config.daemon.restart.clone());
        let metrics = config.telemetry.enabled.then(telemetry::metrics_handle);
        let mut handles = Handles {
            config: config.clone(),
            health: health.clone(),
            metrics: metrics.clone(),
            // Returns at once even when Kafka is down: it is reached in the
            // background and /health says degraded until then.
            transport: Transport::connect(&config.kafka).await?,
            model: ModelHandle::new(),
            devices,
            batch: BatchStatus::new(),
            live: LiveViews::new(config.sinks.ring_capacity),
            queues: supervisor.queues().clone(),
            progress: None,
        };
        tracing::info!("transport: {}", handles.transport.describe());

        if let Some(handle) = metrics.clone() {
            let queues = supervisor.queues().clone();
            let live = config.stream.enabled.then(|| handles.live.clone());
            supervisor.spawn("telemetry", "telemetry/upkeep", Role::Service, move |ctx| {
                metrics_upkeep(ctx, queues.clone(), handle.clone(), live.clone())
            });
        }

        // Subsystems in data-flow order. Each module exposes
        // `spawn(&mut Supervisor, Deps)`, its own section plus the handles
        // it needs, and is started here when its section is enabled:
        // simulate → transport → stream → sinks, beside batch and ml; web
        // last so it can show all of them.
        if config.simulator.enabled {
            let truth = crate::simulate::truth::TruthLog::default();
            crate::simulate::spawn(
                &mut supervisor,
                crate::simulate::Deps {
                    config: config.simulator.clone(),
                    data_dir: config.daemon.data_dir.clone(),
                    devices: handles.devices.clone(),
                    producer: handles.transport.producer(),
                    truth: truth.clone(),
                },
            )?;
            // The simulator knows what really happened: the stream's alerts
            // are judged against it for the web's per-rule summary.
            if config.stream.enabled {
                crate::app::scoreboard::judge::spawn(
                    &mut supervisor,
                    crate::app::scoreboard::judge::Deps {
                        truth,
                        live: handles.live.clone(),
                    },
                );
            }
        }

        if config.stream.enabled {
            handles.progress = Some(stream::spawn(&mut supervisor, handles.stream_deps())?);
        }

        if config.batch.enabled {
            crate::batch::spawn(
                &mut supervisor,
                crate::batch::Deps {
                    config: config.batch.clone(),
                    ml: config.ml.clone(),
                    alerts_dir: config.sinks.dir.clone(),
                    model: handles.model.clone(),
                    devices: handles.devices.clone(),
                    status: handles.batch.clone(),
                },
            )?;
        }

        if config.ml.enabled {
            crate::ml::spawn(
                &mut supervisor,
                crate::ml::Deps {
                    config: config.ml.clone(),
                    model: handles.model.clone(),
                    initial_data: initial_data(&config),
                },
            );
        }

        transport::spawn(&mut supervisor, &handles.transport);

        let switches = subsystems(&config);
        for (subsystem, on, reason) in &switches {
            if !on {
                health.switched_off(subsystem, *reason);
            }
        }
        tracing::info!(
            "subsystems: {}",
            switches
                .iter()
                .map(|(name, on, reason)| if *on {
                    format!("{name} on")
                } else {
                    format!("{name} off ({reason})")
                })
                .collect::<Vec<_>>()
                .join(", ")
        );

        let web_addr = if config.web.enabled {
            let addr = config.web.socket_addr().map_err(DaemonError::WebAddress)?;
            let listener = std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|source| DaemonError::Bind { addr, source })?;
            let local = listener
                .local_addr()
                .map_err(|source| DaemonError::Bind { addr, source })?;
            let deps = handles.web_deps();
            supervisor.spawn("web", "web/server", Role::Service, move |ctx| {
                web::serve(ctx, listener.try_clone(), deps.clone())
            });
            tracing::info!("web UI, API and /health on http://{local}");
            Some(local)
        } else {
            None
        };

        Ok(Daemon {
            config,
            supervisor,
            web_addr,
            handles,
        })
    }

    /// Where the web server listens (the real port when `web.port` is 0).
    pub fn web_addr(&self) -> Option<SocketAddr> {
        self.web_addr
    }

    pub fn health(&self) -> &Health {
        self.supervisor.health()
    }

    /// The handles given to the components (for in-process tests).
    pub fn handles(&self) -> &Handles {
        &self.handles
    }

    /// Graceful stop within `daemon.shutdown_timeout`.
    pub async fn stop(self) -> ShutdownSummary {
        let timeout = self.config.daemon.shutdown_timeout.get();
        self.supervisor.shutdown(timeout).await
    }
}

/// Every subsystem in data-flow order: (name in /health, switched on,
/// why it is off). Off subsystems are reported, not left out.
fn subsystems(config: &Config) -> [(&'static str, bool, &'static str); 7] {
    [
        (
            "telemetry",
            config.telemetry.enabled,
            "telemetry.enabled: false",
        ),
        (
            "simulate",
            config.simulator.enabled,
            "simulator.enabled: false",
        ),
        (
            "transport",
            config.kafka.enabled,
            "kafka.enabled: false; records travel through the embedded in-process transport",
        ),
        ("stream", config.stream.enabled, "stream.enabled: false"),
        ("batch", config.batch.enabled, "batch.enabled: false"),
        ("ml", config.ml.enabled, "ml.enabled: false"),
        ("web", config.web.enabled, "web.enabled: false"),
    ]
}

/// Creates the state folders of the enabled subsystems and proves each
/// writable with a probe file, `daemon.data_dir` first. Without this a
/// data folder on a read-only or wrong path made the batch and ml tasks
/// fail and restart for ever, while the daemon looked up.
fn check_state_dirs(config: &Config) -> Result<(), DaemonError> {
    let mut dirs: Vec<(&'static str, PathBuf)> =
        vec![("daemon.data_dir", config.daemon.data_dir.clone())];
    if config.stream.enabled {
        dirs.push((
            "stream.checkpoint.dir",
            config.stream.checkpoint.dir_under(&config.daemon.data_dir),
        ));
        if config.sinks.enabled {
            dirs.push(("sinks.dir", config.sinks.dir.clone()));
        }
    }
    if config.batch.enabled {
        dirs.push(("batch.store_dir", config.batch.store_dir.clone()));
        dirs.push(("batch.incoming_dir", config.batch.incoming_dir.clone()));
        dirs.push(("batch.state_dir", config.batch.state_dir.clone()));
    }
    if config.ml.enabled {
        dirs.push(("ml.model_dir", config.ml.model_dir.clone()));
    }
    for (key, path) in dirs {
        probe_writable(&path).map_err(|source| DaemonError::StateDir { key, path, source })?;
    }
    Ok(())
}

fn probe_writable(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(format!(".smokewatch-probe-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

/// Runs until SIGINT or SIGTERM, then stops gracefully and logs what each
/// task flushed.
///
/// `beside` runs next to the daemon from its start to the signal
/// (`smokewatch run --console` prints from the live views with it). It is
/// not a supervised task: it only reads the shared handles, and the daemon
/// neither waits for it nor restarts it.
pub async fn run_until_signal<F, Fut>(config: Arc<Config>, beside: F) -> Result<(), DaemonError>
where
    F: FnOnce(&Handles) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let daemon = Daemon::start(config).await?;
    let beside = tokio::spawn(beside(daemon.handles()));
    let signal = wait_for_signal().await;
    beside.abort();
    signal?;
    let summary = daemon.stop().await;
    for (task, report) in &summary.reports {
        tracing::info!(task = %task, "{}", report.0);
    }
    if summary.is_clean() {
        tracing::info!(
            "shutdown complete in {:.2}s: {} tasks stopped cleanly",
            summary.elapsed.as_secs_f64(),
            summary.reports.len()
        );
        Ok(())
    } else {
        Err(DaemonError::ShutdownIncomplete {
            aborted: summary.aborted,
        })
    }
}

async fn wait_for_signal() -> Result<(), DaemonError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signal)?;
        let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signal)?;
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map_err(DaemonError::Signal)?;
        tracing::info!("Ctrl-C received");
        Ok(())
    }
}
