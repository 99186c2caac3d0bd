//! Retraining from the store: when enough labelled rows arrived since the
//! last retraining and the data's quality is good enough, a challenger is
//! trained on the store's most recent labelled rows and goes through ML's
//! champion/challenger path ([`crate::ml::retrain`] with
//! [`Promotion::Compare`]): if it wins, it is made current in the registry
//! and swapped into the served model handle at once.

use super::{JobContext, JobError};
use crate::batch::report::{RetrainReport, RetrainSummary};
use crate::ml::{MlError, Promotion, TrainError, TrainingData};
use crate::store::{HistoryStore, StoreFile};
use tokio_util::sync::CancellationToken;

/// Decides whether to retrain and does it.
pub fn maybe_retrain(
    ctx: &JobContext,
    store: &HistoryStore,
    files: &[StoreFile],
    quality: Option<f64>,
    labelled_since_retrain: u64,
) -> Result<RetrainReport, JobError> {
    let config = &ctx.batch.retrain;
    let cancel = &ctx.cancel;
    let skip = |reason: String| {
        Ok(RetrainReport {
            attempted: false,
            reason,
            outcome: None,
        })
    };
    if !config.enabled {
        return skip("retraining is off (batch.retrain.enabled)".to_string());
    }
    if labelled_since_retrain < config.min_new_labelled_rows {
        return skip(format!(
            "{labelled_since_retrain} labelled rows stored since the last retraining, fewer than batch.retrain.min_new_labelled_rows ({})",
            config.min_new_labelled_rows
        ));
    }
    let score = match quality {
        None => return skip("no quality score (nothing analysed)".to_string()),
        Some(score) if score < config.min_quality => {
            return skip(format!(
                "quality score {score:.4} is below batch.retrain.min_quality ({})",
                config.min_quality
            ));
        }
        Some(score) => score,
    };
    let (readings, days) = latest_labelled(store, files, config.max_rows, cancel)?;
    let source = format!(
        "batch store {} ({} labelled rows, {days})",
        store.root().display(),
        readings.len()
    );
    let data = TrainingData::from_readings(source, readings)
        .map_err(|e| JobError::from(crate::ml::MlError::from(e)))?;
    tracing::info!(
        "retraining on {} labelled rows ({labelled_since_retrain} new, quality {score:.4})",
        data.len()
    );
    let outcome =
        match crate::ml::retrain(&ctx.ml, &ctx.model, &data, None, Promotion::Compare, cancel) {
            Ok(outcome) => outcome,
            // Data that cannot train a classifier (one class only, as live
            // data without a fire is; too few rows) is a fact about the data,
            // not a failure of the run: said as the reason, and the labelled
            // rows keep counting towards the next attempt.
            Err(MlError::Train(
                e @ (TrainError::OneClass { .. } | TrainError::TooFewRows { .. }),
            )) => {
                tracing::info!("not retrained: {e}");
                return skip(format!("not retrained: {e}"));
            }
            Err(e) => return Err(e.into()),
        };
    Ok(RetrainReport {
        attempted: true,
        reason: format!(
            "{labelled_since_retrain} labelled rows since the last retraining (at least {}), quality {score:.4} (at least {})",
            config.min_new_labelled_rows, config.min_quality
        ),
        outcome: Some(RetrainSummary {
            version: outcome.version.clone(),
            promoted: outcome.promoted(),
            decision: outcome.decision.reason.clone(),
            f1: outcome.metrics.f1,
            champion: outcome.decision.champion.clone(),
            champion_f1: outcome.decision.champion_f1,
            training_rows: data.len() as u64,
        }),
    })
}

/// Up to `max_rows` labelled readings, whole days newest first (the
/// oldest day taken may be cut); with the days they span, for the record.
fn latest_labelled(
    store: &HistoryStore,
    files: &[StoreFile],
    max_rows: usize,
    cancel: &CancellationToken,
) -> Result<(Vec<crate::schema::SmokeReading>, String), JobError> {
    let mut readings = Vec::new();
    let (mut first, mut last) = (None, None);
    'files: for file in files.iter().rev() {
        if cancel.is_cancelled() {
            return Err(JobError::Cancelled);
        }
        for batch in store.read(file)? {
            for r in batch? {
                if r.fire_alarm.is_none() {
                    continue;
                }
                if readings.len() >= max_rows {
                    break 'files;
                }
                readings.push(r);
                first = Some(file.day);
                last = last.or(Some(file.day));
            }
        }
    }
    let days = match first.zip(last) {
        Some((a, b)) if a == b => format!("day {a}"),
        Some((a, b)) => format!("days {a} to {b}"),
        None => "no days".to_string(),
    };
    Ok((readings, days))
}
