//! The stream's dependencies from the whole config: shared by the daemon,
//! the benchmarks and the alert scoreboard, which run the stream without a
//! daemon. A module of its own so that the scoreboard, which the daemon
//! uses for its live judge, need not depend on the daemon.

use crate::app::config::Config;
use crate::ml::ModelHandle;
use crate::schema::registry::DeviceRegistry;
use crate::stream;
use crate::stream::sinks::LiveViews;
use crate::transport::{Subscription, TopicKind, Transport};

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
