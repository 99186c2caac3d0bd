//! The daemon: starts every enabled subsystem under the supervisor, wires
//! them with bounded channels, and stops them in order on SIGINT/SIGTERM.
//!
//! See ARCHITECTURE.md for the task and channel diagram.

use crate::batch::BatchStatus;
use crate::config::Config;
use crate::ml::ModelHandle;
use crate::model::registry::DeviceRegistry;
use crate::sinks::LiveViews;
use crate::supervisor::{Health, Queues, Role, ShutdownSummary, Supervisor};
use crate::transport::{Transport, TransportError};
use crate::{stream, telemetry, transport, web};
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use std::sync::Arc;

/// Handles that cross subsystem boundaries. Every subsystem's `spawn`
/// receives it; the web layer reads everything it shows from it. All
/// fields are cheap to clone (shared pointers).
#[derive(Clone)]
pub struct Shared {
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
    #[error("shutdown did not finish within daemon.shutdown_timeout; aborted: {}", aborted.join(", "))]
    ShutdownIncomplete { aborted: Vec<String> },
}

/// A running daemon.
pub struct Daemon {
    config: Arc<Config>,
    supervisor: Supervisor,
    web_addr: Option<SocketAddr>,
    shared: Shared,
}

impl Daemon {
    /// Starts every enabled subsystem and returns once they are spawned.
    pub async fn start(config: Arc<Config>) -> Result<Daemon, DaemonError> {
        let health = Health::new();
        let mut supervisor = Supervisor::new(health.clone(), config.daemon.restart.clone());
        let metrics = config.telemetry.enabled.then(telemetry::metrics_handle);
        let shared = Shared {
            config: config.clone(),
            health: health.clone(),
            metrics: metrics.clone(),
            // Returns at once even when Kafka is down: it is reached in the
            // background and /health says degraded until then.
            transport: Transport::connect(&config.kafka).await?,
            model: ModelHandle::new(),
            devices: DeviceRegistry::new(),
            batch: BatchStatus::new(),
            live: LiveViews::new(config.sinks.ring_capacity),
            queues: supervisor.queues().clone(),
        };
        tracing::info!("transport: {}", shared.transport.describe());

        if let Some(handle) = metrics.clone() {
            let queues = supervisor.queues().clone();
            supervisor.spawn("telemetry", "telemetry/upkeep", Role::Service, move |ctx| {
                telemetry::upkeep(ctx, queues.clone(), handle.clone())
            });
        }

        // Subsystems in data-flow order. Each module exposes
        // `spawn(&mut Supervisor, &Shared)` and is started here when its
        // section is enabled: simulate → transport → stream → sinks, beside
        // batch and ml; web last so it can show all of them.
        if config.simulator.enabled {
            crate::simulate::spawn(&mut supervisor, &shared)?;
        }

        if config.stream.enabled {
            stream::spawn(&mut supervisor, &shared)?;
        }

        if config.batch.enabled {
            crate::batch::spawn(&mut supervisor, &shared)?;
        }

        if config.ml.enabled {
            crate::ml::spawn(&mut supervisor, &shared);
        }

        transport::spawn(&mut supervisor, &shared);

        let web_addr = if config.web.enabled {
            let addr = config.web.socket_addr().map_err(DaemonError::WebAddress)?;
            let listener = std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|source| DaemonError::Bind { addr, source })?;
            let local = listener
                .local_addr()
                .map_err(|source| DaemonError::Bind { addr, source })?;
            let state = shared.clone();
            supervisor.spawn("web", "web/server", Role::Service, move |ctx| {
                web::serve(ctx, listener.try_clone(), state.clone())
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
            shared,
        })
    }

    /// Where the web server listens (the real port when `web.port` is 0).
    pub fn web_addr(&self) -> Option<SocketAddr> {
        self.web_addr
    }

    pub fn health(&self) -> &Health {
        self.supervisor.health()
    }

    /// The handles shared between subsystems (for in-process tests).
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Graceful stop within `daemon.shutdown_timeout`.
    pub async fn stop(self) -> ShutdownSummary {
        let timeout = self.config.daemon.shutdown_timeout.get();
        self.supervisor.shutdown(timeout).await
    }
}

/// Runs until SIGINT or SIGTERM, then stops gracefully and logs what each
/// task flushed.
pub async fn run_until_signal(config: Arc<Config>) -> Result<(), DaemonError> {
    let daemon = Daemon::start(config).await?;
    wait_for_signal().await?;
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
