//! Champion/challenger retraining: a new model is trained on the earlier
//! part of the data, then it and the model currently served are scored on
//! the *same* held-out later rows. The challenger replaces the champion
//! only if its F1 is at least the champion's minus
//! `ml.promotion_tolerance`; otherwise it is kept in the registry as
//! rejected, with the reason, and the champion stays.

use super::config::{MlConfig, ModelKind};
use super::metrics::Metrics;
use super::model::{ModelMeta, TrainedModel};
use super::registry::{Decision, Outcome, Registry};
use super::serving::ModelHandle;
use super::train::{EvalRows, evaluate, train};
use super::{MlError, publish_model_info};
use crate::dataset::TrainingData;
use crate::telemetry::names;
use chrono::Utc;
use std::sync::Mutex;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Registry writes in this process happen one at a time (a CLI `train`
/// in another process only adds a version folder and replaces `current`,
/// both atomic).
static RETRAIN_LOCK: Mutex<()> = Mutex::new(());

/// Versions kept in the registry; older ones (never the current) are deleted.
pub const KEEP_VERSIONS: usize = 50;

/// What a retraining did.
#[derive(Debug, Clone)]
pub struct RetrainOutcome {
    /// The version the challenger was stored as.
    pub version: String,
    /// The challenger's metadata as stored.
    pub meta: ModelMeta,
    pub decision: Decision,
    /// The challenger's metrics on the held-out rows.
    pub metrics: Metrics,
    /// The champion's metrics on the same rows, when there was one.
    pub champion_metrics: Option<Metrics>,
}

impl RetrainOutcome {
    pub fn promoted(&self) -> bool {
        self.decision.outcome == Outcome::Promoted
    }
}

/// How a retraining treats the current model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promotion {
    /// Champion/challenger.
    Compare,
    /// Make the new model current whatever the comparison says.
    Force,
    /// Store it only.
    Never,
}

/// Trains a challenger on `data`, compares it with the registry's current
/// model on the same held-out rows, stores it with the decision, and, when
/// it wins, makes it current and swaps it into `handle` (readers in flight
/// finish with the old model; nothing waits). Blocking and CPU-heavy:
/// call it from `spawn_blocking` in async code.
pub fn retrain(
    config: &MlConfig,
    handle: &ModelHandle,
    data: &TrainingData,
    kind: Option<ModelKind>,
    promotion: Promotion,
    cancel: &CancellationToken,
) -> Result<RetrainOutcome, MlError> {
    let _guard = RETRAIN_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let registry = Registry::open(&config.model_dir)?;
    let started = Instant::now();
    let kind = kind.unwrap_or(config.model);
    let trained = train(data, kind, config, cancel)?;
    metrics::histogram!(names::MODEL_TRAINING_DURATION_SECONDS, "kind" => kind.key())
        .record(started.elapsed().as_secs_f64());
    let mut challenger = trained.model;
    let challenger_metrics = challenger.meta().metrics.clone();

    let (champion, champion_problem) = match registry.current_version() {
        Ok(None) => (None, None),
        Ok(Some(version)) => match registry.load(&version) {
            Ok(model) => (Some(model), None),
            Err(e) => (None, Some(e.to_string())),
        },
        Err(e) => (None, Some(e.to_string())),
    };
    let champion_metrics = champion
        .as_ref()
        .map(|c| evaluate(c, data, EvalRows::From(trained.split_index)));
    let decision = decide(
        &challenger_metrics,
        champion.as_ref().zip(champion_metrics.as_ref()),
        champion_problem,
        config.promotion_tolerance,
        promotion,
    );
    let version = registry.save(&mut challenger, &decision)?;
    let meta = challenger.meta().clone();
    match decision.outcome {
        Outcome::Promoted => {
            registry.set_current(&version)?;
            publish_model_info(challenger.meta());
            handle.swap(Box::new(challenger));
            metrics::counter!(names::MODEL_PROMOTIONS_TOTAL).increment(1);
            tracing::info!(version = %version, "model promoted: {}", decision.reason);
        }
        Outcome::Rejected => {
            metrics::counter!(names::MODEL_REJECTIONS_TOTAL).increment(1);
            tracing::warn!(version = %version, "challenger rejected: {}", decision.reason);
        }
        Outcome::Candidate => {
            tracing::info!(version = %version, "model stored, not promoted");
        }
    }
    if let Err(e) = registry.prune(KEEP_VERSIONS) {
        tracing::warn!("pruning old model versions: {e}");
    }
    Ok(RetrainOutcome {
        version,
        meta,
        decision,
        metrics: challenger_metrics,
        champion_metrics,
    })
}

/// The champion/challenger rule.
fn decide(
    challenger: &Metrics,
    champion: Option<(&TrainedModel, &Metrics)>,
    champion_problem: Option<String>,
    tolerance: f64,
    promotion: Promotion,
) -> Decision {
    let (outcome, reason) = match (promotion, champion) {
        (Promotion::Never, _) => (Outcome::Candidate, "stored without promotion".to_string()),
        (Promotion::Force, _) => (Outcome::Promoted, "promotion forced".to_string()),
        (Promotion::Compare, None) => (
            Outcome::Promoted,
            match &champion_problem {
                Some(problem) => format!("current model unusable ({problem})"),
                None => "no current model".to_string(),
            },
        ),
        (Promotion::Compare, Some((model, metrics))) => {
            let bar = metrics.f1 - tolerance;
            let comparison = format!(
                "F1 {:.4} vs champion {} F1 {:.4} on the same {} held-out rows (tolerance {tolerance})",
                challenger.f1,
                model.meta().version,
                metrics.f1,
                challenger.rows
            );
            if challenger.f1 >= bar {
                (Outcome::Promoted, comparison)
            } else {
                (Outcome::Rejected, comparison)
            }
        }
    };
    Decision {
        outcome,
        reason,
        decided_at: Utc::now(),
        f1: challenger.f1,
        champion: champion.map(|(m, _)| m.meta().version.clone()),
        champion_f1: champion.map(|(_, m)| m.f1),
    }
}
