//! The daemon's ML task: loads the registry's current model at start,
//! trains a first model in the background when there is none, and follows
//! the registry's `current` pointer so a model promoted elsewhere (the
//! `train` command, another process) is swapped in without a restart.
//! Until a model exists, [`ModelHandle::current`] is `None` and scorers
//! report "no model" instead of guessing.

use super::MlConfig;
use super::registry::Registry;
use super::retrain::{Promotion, RetrainOutcome, retrain};
use super::serving::ModelHandle;
use super::{MlError, publish_model_info};
use crate::dataset::TrainingData;
use crate::supervisor::{Role, Supervisor, TaskContext, TaskReport, TaskResult};
use crate::telemetry::names;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Loads the data the first model is trained on (run on a blocking
/// thread). Given by the app, which knows where that data lives
/// ([`crate::dataset::initial_training_data`]): `ml` knows no file format.
pub type InitialData = Arc<dyn Fn() -> Result<TrainingData, MlError> + Send + Sync>;

/// What the ML service is built from: its config section and the handles
/// it needs.
pub struct Deps {
    pub config: MlConfig,
    /// The model served to the stream and the web; swapped on promotion.
    pub model: ModelHandle,
    /// The first model's training data, when the registry is empty.
    pub initial_data: InitialData,
}

/// Starts the `ml/models` service task.
pub fn spawn(supervisor: &mut Supervisor, deps: Deps) {
    let Deps {
        config,
        model,
        initial_data,
    } = deps;
    let config = Arc::new(config);
    supervisor.spawn("ml", "ml/models", Role::Service, move |ctx| {
        run(ctx, config.clone(), model.clone(), initial_data.clone())
    });
}

async fn run(
    ctx: TaskContext,
    config: Arc<MlConfig>,
    handle: ModelHandle,
    initial_data: InitialData,
) -> TaskResult {
    let registry = Registry::open(&config.model_dir)?;
    let cancel = ctx.shutdown.child_token();
    let mut follower = Follower {
        registry,
        handle: handle.clone(),
        refused: None,
    };
    follower.sync(&ctx).await;
    let mut training: Option<JoinHandle<Result<RetrainOutcome, MlError>>> = None;
    if handle.current().is_none() {
        let source = match &config.initial_training.data {
            Some(path) => path.display().to_string(),
            None => "generated readings".to_string(),
        };
        ctx.health
            .degraded(format!("no model yet: training the first one on {source}"));
        training = Some(spawn_initial_training(
            config.clone(),
            handle.clone(),
            initial_data,
            cancel.clone(),
        ));
    }
    let mut tick = tokio::time::interval(config.reload_interval.get());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => {
                cancel.cancel();
                break;
            }
            result = poll_training(&mut training), if training.is_some() => {
                training = None;
                match result {
                    Ok(outcome) => {
                        tracing::info!(
                            "first model {} trained: f1 {:.4} on {} held-out rows",
                            outcome.version, outcome.metrics.f1, outcome.metrics.rows
                        );
                        ctx.health.running();
                    }
                    Err(e) if handle.current().is_some() => {
                        tracing::warn!("initial training failed, a model is served meanwhile: {e}");
                    }
                    Err(e) => {
                        tracing::error!("initial training failed: {e}");
                        ctx.health.degraded(format!(
                            "no model: initial training failed ({e}); train one with `smokewatch train --data PATH`"
                        ));
                    }
                }
            }
            _ = tick.tick() => follower.sync(&ctx).await,
        }
    }
    let serving = handle
        .version()
        .map_or("no model".to_string(), |v| format!("model {v}"));
    Ok(TaskReport::new(format!("stopped; was serving {serving}")))
}

async fn poll_training(
    training: &mut Option<JoinHandle<Result<RetrainOutcome, MlError>>>,
) -> Result<RetrainOutcome, MlError> {
    match training.as_mut() {
        Some(task) => match task.await {
            Ok(result) => result,
            Err(e) => Err(MlError::Task(e.to_string())),
        },
        None => std::future::pending().await,
    }
}

fn spawn_initial_training(
    config: Arc<MlConfig>,
    handle: ModelHandle,
    initial_data: InitialData,
    cancel: CancellationToken,
) -> JoinHandle<Result<RetrainOutcome, MlError>> {
    tokio::task::spawn_blocking(move || {
        let data = initial_data()?;
        tracing::info!(
            "training the first model ({}) on {} readings from {}",
            config.model,
            data.len(),
            data.source
        );
        retrain(&config, &handle, &data, None, Promotion::Compare, &cancel)
    })
}

/// Keeps the handle on the registry's current version.
struct Follower {
    registry: Registry,
    handle: ModelHandle,
    /// The version last refused, so a bad pointer is reported once.
    refused: Option<String>,
}

impl Follower {
    async fn sync(&mut self, ctx: &TaskContext) {
        let registry = self.registry.clone();
        let current = match registry.current_version() {
            Ok(Some(v)) => v,
            Ok(None) => return,
            Err(e) => return self.refuse("current".into(), e.to_string(), ctx),
        };
        if self.handle.version().as_deref() == Some(current.as_str())
            || self.refused.as_deref() == Some(current.as_str())
        {
            return;
        }
        let version = current.clone();
        let loaded = tokio::task::spawn_blocking(move || registry.load(&version)).await;
        match loaded {
            Ok(Ok(model)) => {
                tracing::info!(
                    version = %current,
                    "serving model {current} ({}, f1 {:.4})",
                    model.kind(),
                    model.meta().metrics.f1
                );
                publish_model_info(model.meta());
                self.handle.swap(Box::new(model));
                self.refused = None;
                ctx.health.running();
            }
            Ok(Err(e)) => self.refuse(current, e.to_string(), ctx),
            Err(e) => self.refuse(current, e.to_string(), ctx),
        }
    }

    fn refuse(&mut self, version: String, reason: String, ctx: &TaskContext) {
        if self.refused.as_deref() == Some(version.as_str()) {
            return;
        }
        metrics::counter!(names::MODEL_LOAD_FAILURES_TOTAL).increment(1);
        let serving = self
            .handle
            .version()
            .map_or("no model is served".to_string(), |v| {
                format!("still serving {v}")
            });
        tracing::error!("model {version} refused: {reason}; {serving}");
        ctx.health
            .degraded(format!("model {version} refused: {reason}; {serving}"));
        self.refused = Some(version);
    }
}
