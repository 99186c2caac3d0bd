//! Builds the pipeline: restores the latest checkpoint, recovers the file
//! sinks, and spawns consume → validate → clean → features → windows →
//! score → detect → sinks as supervised tasks joined by bounded channels.
//!
//! The score stage runs before detect because one detector (the ML fire
//! probability) reads its output.

use super::StreamConfig;
use super::clean::Cleaner;
use super::detect::DetectStage;
use super::detect::Detector;
use super::enrich::FeatureStage;
use super::in_flight::InFlight;
use super::message::Msg;
use super::score::Scorer;
use super::snapshot_encoder::SnapshotEncoder;
use super::source::{Input, Resume, SourceSettings, run_source};
use super::stage::Stage;
use super::stage_task::run_stage;
use super::validate::Validator;
use super::window::Windows;
use super::window::WindowsStage;
use super::{OutputMode, SourceKind};
use crate::features::FeatureSpec;
use crate::ml::ModelHandle;
use crate::schema::registry::DeviceRegistry;
use crate::stream::checkpoint::{CheckpointId, CheckpointStore};
use crate::stream::sinks::files::PartFiles;
use crate::stream::sinks::stage::{Progress, SinkStage};
use crate::stream::sinks::store_sink::StoreSink;
use crate::stream::sinks::{AlertEvent, PayloadLimit};
use crate::stream::sinks::{LiveViews, SinksConfig};
use crate::supervisor::{Role, SharedReceiver, Supervisor, queue};
use crate::transport::{Subscription, Transport};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{Mutex, mpsc, watch};

/// Why the stream could not start.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] crate::stream::checkpoint::CheckpointError),
    #[error("recovering the file sinks: {0}")]
    Files(#[from] crate::stream::sinks::files::FileSinkError),
    #[error("detectors: {0}")]
    Detect(#[from] super::detect::DetectError),
    #[error("recovering the history store appends: {0}")]
    History(#[from] crate::stream::sinks::store_sink::StoreSinkError),
    #[error("starting the checkpoint encoder thread: {0}")]
    Encoder(std::io::Error),
}

/// Optional hooks for benchmarks and tests.
#[derive(Default)]
pub struct Hooks {
    /// Receives a copy of every alert event with the time it reached the sinks.
    pub alert_tap: Option<mpsc::UnboundedSender<(Instant, AlertEvent)>>,
}

/// What the stream is built from: its two config sections (`stream`,
/// `sinks`) and the handles it needs. The app builds it from the whole
/// config; the stream sees nothing else.
pub struct Deps {
    pub config: StreamConfig,
    pub sinks: SinksConfig,
    /// `daemon.data_dir`: checkpoints live under it unless
    /// `stream.checkpoint.dir` says otherwise.
    pub data_dir: PathBuf,
    /// Where readings and room events come from and, with `sinks.kafka`
    /// and a Kafka transport, where the results go.
    pub transport: Transport,
    /// The input topics, and where a partition without a stored position
    /// starts.
    pub subscription: Subscription,
    /// The history store every accepted reading is appended to
    /// (`batch.stream_append`); `None`: no appends.
    pub history_store: Option<PathBuf>,
    /// Fire scoring; `None` when ML is off.
    pub scoring: Option<Scoring>,
    /// Known devices; the validator refuses or registers others.
    pub devices: DeviceRegistry,
    /// The latest alerts, windows and room states, for the web and metrics.
    pub live: LiveViews,
    /// How far ahead of the clock an event time may be
    /// (`stream.max_future_skew` as applied: unbounded when the readings
    /// come from a simulator running faster than real time).
    pub max_future_skew: std::time::Duration,
}

/// The model the score stage serves, and the feature spec of the next
/// model to be trained.
pub struct Scoring {
    pub model: ModelHandle,
    /// `ml.features`: the stream keeps its spans from the first reading on.
    pub next_spec: FeatureSpec,
}

/// Spawns the stream (the daemon's entry point).
pub fn spawn(supervisor: &mut Supervisor, deps: Deps) -> Result<Arc<Progress>, StreamError> {
    spawn_with(supervisor, deps, Hooks::default())
}

/// Spawns the stream with hooks; returns its progress counters.
pub fn spawn_with(
    supervisor: &mut Supervisor,
    deps: Deps,
    hooks: Hooks,
) -> Result<Arc<Progress>, StreamError> {
    let Deps {
        config: sc,
        sinks,
        data_dir,
        transport,
        subscription,
        history_store,
        scoring,
        devices,
        live,
        max_future_skew,
    } = deps;
    let store = CheckpointStore::new(sc.checkpoint.dir_under(&data_dir));
    let checkpoint = store.load()?;
    let encoder = SnapshotEncoder::start(store.clone()).map_err(StreamError::Encoder)?;
    if sinks.enabled {
        let (published, discarded) =
            PartFiles::new(sinks.dir.clone()).recover(checkpoint.as_ref().map(|c| c.id))?;
        if published + discarded > 0 {
            tracing::info!(published, discarded, "file sinks recovered after a restart");
        }
    }
    let history = history_store.map(|dir| StoreSink::new(crate::store::HistoryStore::new(dir)));
    if let Some(history) = &history {
        let (published, discarded) = history.recover(checkpoint.as_ref().map(|c| c.id))?;
        if published + discarded > 0 {
            tracing::info!(
                published,
                discarded,
                "history store appends recovered after a restart"
            );
        }
    }
    let detector = Detector::new(
        &sc.detect,
        sc.alerts.cooldown.as_millis_i64(),
        scoring.is_some(),
    )?
    .with_idle_timeout(sc.window.idle_timeout.get());
    // Keep, from the first reading on, the spans the models will need (the
    // configured spec of the next trained model, and the served one's):
    // otherwise the first model to arrive finds spans the stream did not
    // keep and every device's history restarts.
    let mut spans = sc.features.spans.clone();
    if let Some(scoring) = &scoring {
        spans.extend(scoring.next_spec.spans());
        if let Some(model) = scoring.model.current() {
            spans.extend(model.feature_spec().spans());
        }
    }
    let mut features = FeatureStage::new(
        &spans,
        u32::try_from(sc.features.max_gap.get().as_secs()).unwrap_or(u32::MAX),
        sc.detect.spike.span,
        detector.rule_features().to_vec(),
        scoring.map(|s| s.model),
    );
    let payload_limit = PayloadLimit::new(sinks.dead_letters.max_payload_bytes);
    let mut validate = Validator::new(sc.validate.dedupe_window, devices)
        .with_payload_limit(payload_limit)
        .with_max_future_skew(max_future_skew)
        .with_unknown_devices(sc.unknown_devices)
        .with_default_home(&sc.default_home);
    let mut clean = Cleaner::new(&sc.clean);
    let mut windows = WindowsStage::new(Windows::new(&sc.window), payload_limit);
    let mut detect = DetectStage {
        detector,
        live: live.clone(),
        rooms_published: Instant::now(),
    };
    let mut resume = Resume::default();
    if let Some(cp) = &checkpoint {
        let stages: [&mut dyn Stage; 5] = [
            &mut validate,
            &mut clean,
            &mut features,
            &mut windows,
            &mut detect,
        ];
        for stage in stages {
            if let Some(part) = cp.part(stage.name()) {
                stage.restore(part)?;
            }
        }
        resume = Resume {
            last_id: cp.id,
            positions: cp.positions.clone(),
        };
        tracing::info!(checkpoint = %cp.id, positions = ?cp.positions, "stream state restored; resuming from the stored positions");
    }

    let queues = supervisor.queues().clone();
    let cap = sc.channel_capacity;
    let (to_validate, validate_in) = queue::bounded::<Msg>("stream.validate", cap, &queues);
    let (to_clean, clean_in) = queue::bounded::<Msg>("stream.clean", cap, &queues);
    let (to_features, features_in) = queue::bounded::<Msg>("stream.features", cap, &queues);
    let (to_windows, windows_in) = queue::bounded::<Msg>("stream.windows", cap, &queues);
    let (to_score, score_in) = queue::bounded::<Msg>("stream.score", cap, &queues);
    let (to_detect, detect_in) = queue::bounded::<Msg>("stream.detect", cap, &queues);
    let (to_sinks, sinks_in) = queue::bounded::<Msg>("stream.sinks", cap, &queues);

    let (completed_tx, completed_rx) = watch::channel(None);
    let progress = Arc::new(Progress::default());
    let (input, label) = match sc.source.kind {
        SourceKind::Transport => (
            Input::Transport {
                transport: transport.clone(),
                subscription,
            },
            "transport",
        ),
        SourceKind::Replay => (
            Input::Replay {
                path: sc.source.replay_path.clone(),
                rate: sc.source.replay_rate,
            },
            "replay",
        ),
    };
    let in_flight = InFlight::new(sc.max_in_flight.get(), sc.batch_size);
    let settings = Arc::new(SourceSettings {
        input,
        batch_size: sc.batch_size,
        checkpoint_interval: sc.checkpoint.interval.get(),
        trigger_interval: (sc.window.output_mode == OutputMode::Update)
            .then(|| sc.window.trigger_interval.get()),
        progress_interval: progress_interval(sc.window.idle_timeout.get()),
        stop_at_end: sc.source.stop_at_end,
        max_record_bytes: sc.validate.max_record_bytes,
        payload_limit,
        in_flight: in_flight.clone(),
        sent: std::sync::Mutex::new(None),
    });
    supervisor.spawn("stream", "stream/consume", Role::Source, move |ctx| {
        let (settings, tx, rx, resume) = (
            settings.clone(),
            to_validate.clone(),
            completed_rx.clone(),
            resume.clone(),
        );
        async move { run_source(ctx, &settings, tx, rx, resume).await }
    });
    spawn_stage(
        supervisor,
        &encoder,
        "stream/validate",
        validate,
        validate_in,
        to_clean,
    );
    spawn_stage(
        supervisor,
        &encoder,
        "stream/clean",
        clean,
        clean_in,
        to_features,
    );
    spawn_stage(
        supervisor,
        &encoder,
        "stream/features",
        features,
        features_in,
        to_windows,
    );
    spawn_stage(
        supervisor,
        &encoder,
        "stream/windows",
        windows,
        windows_in,
        to_score,
    );
    spawn_stage(
        supervisor,
        &encoder,
        "stream/score",
        Scorer::default(),
        score_in,
        to_detect,
    );
    spawn_stage(
        supervisor,
        &encoder,
        "stream/detect",
        detect,
        detect_in,
        to_sinks,
    );

    let kafka_out = sinks.kafka && matches!(transport, Transport::Kafka(_));
    let mut sink = SinkStage::new(
        sinks,
        store,
        live,
        kafka_out.then(|| transport.producer()),
        completed_tx,
        progress.clone(),
        label,
        CheckpointId(checkpoint.as_ref().map_or(0, |c| c.id.0) + 1),
    );
    sink.alert_tap = hooks.alert_tap;
    sink = sink.with_in_flight(in_flight);
    if let Some(history) = history {
        sink = sink.with_history(history);
    }
    let sink = Arc::new(Mutex::new(sink));
    supervisor.spawn("stream", "stream/sinks", Role::Stage, move |ctx| {
        let (sink, input) = (sink.clone(), sinks_in.clone());
        async move { sink.lock().await.run(ctx, input).await }
    });
    Ok(progress)
}

/// How often the source reports progress: often enough that an idle
/// partition is noticed soon after `idle_timeout`, rarely enough to cost
/// nothing (a few messages a second at most).
fn progress_interval(idle_timeout: std::time::Duration) -> std::time::Duration {
    (idle_timeout / 4).clamp(
        std::time::Duration::from_millis(200),
        std::time::Duration::from_secs(1),
    )
}

fn spawn_stage<S: Stage>(
    supervisor: &mut Supervisor,
    encoder: &SnapshotEncoder,
    name: &'static str,
    stage: S,
    input: SharedReceiver<Msg>,
    output: mpsc::Sender<Msg>,
) {
    let stage = Arc::new(Mutex::new(stage));
    let encoder = encoder.clone();
    supervisor.spawn("stream", name, Role::Stage, move |ctx| {
        run_stage(
            ctx,
            stage.clone(),
            encoder.clone(),
            input.clone(),
            output.clone(),
        )
    });
}
