//! What the web server is built from: its own config section, what it
//! shows of the other sections, and the handles it reads. The app builds
//! it; the web never sees the whole config.

use super::WebConfig;
use crate::batch::BatchStatus;
use crate::ml::ModelHandle;
use crate::schema::registry::DeviceRegistry;
use crate::schema::registry::UnknownDevices;
use crate::stream::WindowConfig;
use crate::stream::sinks::LiveViews;
use crate::stream::sinks::stage::Progress;
use crate::supervisor::{Health, Queues};
use crate::transport::Transport;
use metrics_exporter_prometheus::PrometheusHandle;
use std::path::PathBuf;
use std::sync::Arc;

/// The handles and config the web reads. Cheap to clone (shared pointers).
#[derive(Clone)]
pub struct Deps {
    /// The `web` section.
    pub config: Arc<WebConfig>,
    /// What the pages say about the other components' sections.
    pub sections: Arc<Sections>,
    /// Every task's state, for /health.
    pub health: Health,
    /// Prometheus exporter; `None` when telemetry is disabled.
    pub metrics: Option<PrometheusHandle>,
    /// Where ingested records are sent: the same transport as the
    /// simulator's, so they get the same guarantees.
    pub transport: Transport,
    /// The fire model currently served (none until one is trained/loaded).
    pub model: ModelHandle,
    /// Devices known to the fleet; `/api/devices` registers more.
    pub devices: DeviceRegistry,
    /// The batch job's history, last report and run trigger.
    pub batch: BatchStatus,
    /// The stream's latest alerts, window results and room states.
    pub live: LiveViews,
    /// The stream's progress counters (readings and dead letters through
    /// the sinks, end-to-end latency); `None` while the stream is off.
    pub progress: Option<Arc<Progress>>,
    /// Every bounded channel between tasks, for the dashboard's queue depths.
    pub queues: Queues,
}

/// What the web needs to know of the other components' config sections:
/// whether each is switched on, and the few values its pages and API
/// state or apply.
#[derive(Debug, Clone)]
pub struct Sections {
    /// `stream.enabled`.
    pub stream_enabled: bool,
    /// `stream.window`: the Windows page states the size and trigger.
    pub window: WindowConfig,
    /// `stream.unknown_devices`: what ingest does with an unknown device.
    pub unknown_devices: UnknownDevices,
    /// `stream.default_home`: the home of a Smart Home message without one.
    pub default_home: String,
    /// `sinks.ring_capacity`: how many recent alerts and windows are kept.
    pub ring_capacity: usize,
    /// `ml.enabled`.
    pub ml_enabled: bool,
    /// `ml.model_dir`: the registry the Model page and reloads read.
    pub model_dir: PathBuf,
    /// `batch.enabled`.
    pub batch_enabled: bool,
    /// `telemetry.enabled`: without metrics the dashboard has no figures.
    pub telemetry_enabled: bool,
}
