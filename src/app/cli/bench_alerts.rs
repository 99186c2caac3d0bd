//! `smokewatch bench alerts`: the alert scoreboard. Runs the simulated
//! fleet (or `--data FILE`) through the stream with the configured
//! detectors and the model the daemon would train first, and prints how
//! its alerts compare with the ground truth (see [`crate::app::scoreboard`]).

use super::{EXIT_RUNTIME, runtime};
use crate::app::config::Config;
use crate::app::scoreboard::{self, RunOutput, ScoreboardError};
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `bench alerts`.
#[derive(Debug, Clone, clap::Args)]
pub struct AlertBenchArgs {
    /// Simulated smoke detectors.
    #[arg(long, default_value_t = 200)]
    pub detectors: u32,
    /// Event-time days to simulate.
    #[arg(long, default_value_t = 7.0)]
    pub days: f64,
    /// Seed of the simulated fleet (the model is trained as configured).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write the scoreboard as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Score a labelled CSV (the data set's format) or readings Parquet
    /// instead of the simulator: `Fire Alarm` runs of 1 are the incidents.
    #[arg(long)]
    pub data: Option<PathBuf>,
}

pub fn bench_alerts(config: &Config, args: &AlertBenchArgs) -> ExitCode {
    match run(config, args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn run(config: &Config, args: &AlertBenchArgs) -> Result<(), ScoreboardError> {
    let rt = runtime()?;
    let trained = std::time::Instant::now();
    let model = scoreboard::initial_model(config)?;
    if model.is_some() {
        eprintln!(
            "first model ({}) trained as the daemon would, in {:.1} s",
            config.ml.model,
            trained.elapsed().as_secs_f64()
        );
    }
    let model = model.unwrap_or_default();
    let out: RunOutput = rt.block_on(async {
        match &args.data {
            Some(path) => scoreboard::run_file(config, path, model).await,
            None => {
                scoreboard::run_fleet(config, args.detectors, args.days, args.seed, model).await
            }
        }
    })?;
    let board = scoreboard::score(
        &out.incidents,
        &out.alerts,
        out.detectors,
        out.start_ms,
        out.end_ms,
    );
    match &args.data {
        Some(path) => println!("alert scoreboard: {}", path.display()),
        None => println!(
            "alert scoreboard: seed {}, {} readings in {:.1} s ({:.0} readings/s)",
            args.seed,
            out.readings,
            out.wall.as_secs_f64(),
            out.readings as f64 / out.wall.as_secs_f64().max(1e-9)
        ),
    }
    print!("{}", scoreboard::report::table(&board));
    if let Some(path) = &args.json {
        let json = serde_json::to_vec_pretty(&board)
            .map_err(|e| ScoreboardError::Stream(format!("encoding the JSON: {e}")))?;
        std::fs::write(path, json)?;
    }
    Ok(())
}
