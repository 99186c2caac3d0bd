//! `smokewatch evaluate --data PATH [--model VERSION] [--all]`: scores a
//! stored model on a file. By default on the file's latest
//! `ml.test_fraction` of rows in event time — the rows `train` held out,
//! so `train` then `evaluate` on one file agree — or on every row with
//! `--all` (data the model never saw).

use super::EXIT_RUNTIME;
use super::error::{CliError, load_model};
use crate::app::config::Config;
use crate::ml::TrainingData;
use crate::ml::train::{EvalRows, evaluate};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Data to score: a CSV in the Smoke Detection Dataset's format, a
    /// Parquet file in the readings schema, or a store directory
    /// (date=YYYY-MM-DD/*.parquet, e.g. batch.store_dir).
    #[arg(long, value_name = "PATH")]
    pub data: PathBuf,
    /// Model version in the registry (default: the current model).
    #[arg(long, value_name = "VERSION")]
    pub model: Option<String>,
    /// Score every row instead of the latest ml.test_fraction.
    #[arg(long)]
    pub all: bool,
}

pub fn evaluate_command(config: &Config, args: &EvaluateArgs) -> ExitCode {
    match run(config, args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn run(config: &Config, args: &EvaluateArgs) -> Result<(), CliError> {
    let (version, model) = load_model(&config.ml.model_dir, args.model.as_deref())?;
    let data = TrainingData::load(&args.data)?;
    let rows = if args.all {
        EvalRows::All
    } else {
        EvalRows::Latest(config.ml.test_fraction)
    };
    let metrics = evaluate(&model, &data, rows);
    println!("model: {version}");
    println!("kind: {}", model.kind());
    println!(
        "split: {}",
        if args.all {
            "all rows".to_string()
        } else {
            format!("latest {} of rows by event time", config.ml.test_fraction)
        }
    );
    print!("{}", metrics.to_lines());
    Ok(())
}
