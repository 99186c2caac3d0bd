//! `smokewatch predict [JSON]`: the current model's verdict on one reading
//! given as an argument, or on JSON lines read from stdin. Prints one JSON
//! object per reading: class, fire probability, model version.
//!
//! Readings carrying `device_id` and `event_time_ms` build up that
//! device's history, so a series on stdin gets the same engineered
//! features the stream computes; a reading without them is scored alone.
//! Bad input is reported with its line and field on stderr and the exit
//! code is 2; the other lines are still scored.

use super::error::{CliError, load_model};
use super::{EXIT_RUNTIME, EXIT_USAGE};
use crate::app::config::Config;
use crate::features::DeviceFeatures;
use crate::ml::input::decode_input;
use crate::ml::{FireModel, TrainedModel};
use crate::schema::EventTime;
use clap::Args;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// One reading as a JSON object with the 12 channels; without it, JSON
    /// lines are read from stdin.
    #[arg(value_name = "JSON")]
    pub reading: Option<String>,
    /// Model version in the registry (default: the current model).
    #[arg(long, value_name = "VERSION")]
    pub model: Option<String>,
}

#[derive(serde::Serialize)]
struct Output<'a> {
    class: &'static str,
    fire: bool,
    probability: f64,
    model_version: &'a str,
}

pub fn predict(config: &Config, args: &PredictArgs) -> ExitCode {
    let model = match load(config, args.model.as_deref()) {
        Ok(model) => model,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let mut scorer = Scorer {
        model: &model,
        devices: HashMap::new(),
        features: Vec::new(),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut bad = 0u64;
    let mut score = |line_no: Option<u64>, text: &str, out: &mut dyn Write| {
        match scorer.score(text) {
            Ok(json) => {
                if writeln!(out, "{json}").is_err() {
                    return false;
                }
            }
            Err(message) => {
                bad += 1;
                match line_no {
                    Some(n) => eprintln!("error: line {n}: {message}"),
                    None => eprintln!("error: {message}"),
                }
            }
        }
        true
    };
    match &args.reading {
        Some(text) => {
            score(None, text, &mut out);
        }
        None => {
            for (i, line) in std::io::stdin().lock().lines().enumerate() {
                let line = match line {
                    Ok(line) => line,
                    Err(e) => {
                        eprintln!("error: reading stdin: {e}");
                        return ExitCode::from(EXIT_RUNTIME);
                    }
                };
                if line.trim().is_empty() {
                    continue;
                }
                if !score(Some(i as u64 + 1), &line, &mut out) {
                    break;
                }
            }
        }
    }
    if bad > 0 {
        ExitCode::from(EXIT_USAGE)
    } else {
        ExitCode::SUCCESS
    }
}

fn load(config: &Config, version: Option<&str>) -> Result<TrainedModel, CliError> {
    Ok(load_model(&config.ml.model_dir, version)?.1)
}

/// Feature state per device, as the stream keeps it.
struct Scorer<'a> {
    model: &'a TrainedModel,
    devices: HashMap<String, DeviceFeatures>,
    features: Vec<f64>,
}

impl Scorer<'_> {
    fn score(&mut self, text: &str) -> Result<String, CliError> {
        let input = decode_input(text)?;
        let spec = self.model.feature_spec();
        let mut alone;
        let state = match (input.device_id, input.event_time) {
            (Some(device), Some(_)) => self
                .devices
                .entry(device)
                .or_insert_with(|| DeviceFeatures::new(spec)),
            _ => {
                alone = DeviceFeatures::new(spec);
                &mut alone
            }
        };
        state.update(input.event_time.unwrap_or(EventTime(0)), &input.values);
        state.vector_into(spec, &mut self.features);
        let prediction = self.model.predict(&self.features);
        let output = Output {
            class: if prediction.fire { "fire" } else { "no_fire" },
            fire: prediction.fire,
            probability: prediction.probability,
            model_version: &prediction.model_version,
        };
        Ok(serde_json::to_string(&output)?)
    }
}
