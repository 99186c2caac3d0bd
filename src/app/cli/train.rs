//! `smokewatch train --data PATH [--model rf|logreg|tree]`: trains a model
//! on a file, evaluates it on the latest part of the data (time-ordered
//! split), stores it in the registry and — champion/challenger — makes it
//! current if it is at least as good as the current model on the same
//! held-out rows. A running daemon picks the new current model up.

use super::{EXIT_RUNTIME, EXIT_USAGE};
use crate::app::config::Config;
use crate::ml::{ModelHandle, registry::Outcome};
use crate::ml::{ModelKind, Promotion, TrainingData, retrain};
use crate::telemetry;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// Feature importances printed (all are in the model's meta.json).
const TOP_IMPORTANCES: usize = 8;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training data: a CSV in the Smoke Detection Dataset's format, a
    /// Parquet file in the readings schema, or a store directory
    /// (date=YYYY-MM-DD/*.parquet, e.g. batch.store_dir).
    #[arg(long, value_name = "PATH")]
    pub data: PathBuf,
    /// Model to train (default: ml.model from the config).
    #[arg(long, value_name = "rf|logreg|tree")]
    pub model: Option<ModelKind>,
    /// Make the new model current even if the current one scores better.
    #[arg(long, conflicts_with = "no_promote")]
    pub force: bool,
    /// Store the new model without making it current.
    #[arg(long)]
    pub no_promote: bool,
}

pub fn train(config: &Config, args: &TrainArgs) -> ExitCode {
    telemetry::init_logging(&config.telemetry);
    let data = match TrainingData::load(&args.data) {
        Ok(data) => data,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    print_load_report(&data, config.ml.imputation);
    let promotion = if args.force {
        Promotion::Force
    } else if args.no_promote {
        Promotion::Never
    } else {
        Promotion::Compare
    };
    let outcome = match retrain(
        &config.ml,
        &ModelHandle::new(),
        &data,
        args.model,
        promotion,
        &CancellationToken::new(),
    ) {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(match e {
                crate::ml::MlError::Train(crate::ml::TrainError::OneClass { .. })
                | crate::ml::MlError::Train(crate::ml::TrainError::TooFewRows { .. }) => EXIT_USAGE,
                _ => EXIT_RUNTIME,
            });
        }
    };
    let meta = &outcome.meta;
    println!("version: {}", outcome.version);
    println!("model: {}", meta.kind);
    println!("features: {}", meta.features.len());
    println!("training_rows: {}", meta.training_rows);
    println!("test_rows: {}", meta.test_rows);
    if let Some(from) = meta.data.test_from {
        println!("test_from: {}", from.to_rfc3339());
    }
    println!("training_seconds: {:.2}", meta.training_seconds);
    print!("{}", outcome.metrics.to_lines());
    if let Some(cv) = &meta.cross_validation {
        println!("cv_folds: {}", cv.folds.len());
        println!("cv_f1_mean: {:.4}", cv.f1.mean);
        println!("cv_f1_std: {:.4}", cv.f1.std);
    }
    for fi in meta.feature_importances.iter().take(TOP_IMPORTANCES) {
        println!("importance.{}: {:.4}", fi.feature, fi.importance);
    }
    if let Some(champion) = &outcome.champion_metrics {
        println!("champion_f1: {:.4}", champion.f1);
    }
    let decision = match outcome.decision.outcome {
        Outcome::Promoted => "promoted",
        Outcome::Rejected => "rejected",
        Outcome::Candidate => "stored",
    };
    println!("decision: {decision}");
    println!("reason: {}", outcome.decision.reason);
    ExitCode::SUCCESS
}

fn print_load_report(data: &TrainingData, imputation: crate::ml::Imputation) {
    let r = &data.report;
    eprintln!(
        "{}: {} rows read, {} used, {} without label (skipped), {} refused (skipped), {} with empty cells (imputation: {imputation:?})",
        data.source, r.rows_read, r.rows_used, r.unlabelled, r.refused, r.rows_with_missing
    );
    for e in &r.errors {
        eprintln!("  refused: {e}");
    }
}
