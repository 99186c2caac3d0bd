//! The command line: `smokewatch [--config PATH] [COMMAND]`.
//!
//! Exit codes: 0 ok, 1 runtime failure, 2 bad config or usage.

mod batch;
pub mod bench;
mod bench_alerts;
mod check_config;
mod console;
mod error;
mod evaluate;
mod generate;
mod predict;
mod run;
mod tail;
mod train;

use crate::app::config::{Config, ConfigError};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Config file read when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "config.yaml";

/// Exit code of a runtime failure.
pub const EXIT_RUNTIME: u8 = 1;
/// Exit code of a bad config or bad usage (clap uses 2 as well).
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "smokewatch",
    version,
    about = "An IoT smoke-detection pipeline in one daemon: simulate, transport, stream, batch, ML, web.",
    after_help = "Without a command, `run` is assumed. Config keys can be overridden with SMOKEWATCH__SECTION__KEY=value."
)]
pub struct Cli {
    /// Config file (YAML). Default: ./config.yaml, or built-in defaults when it does not exist.
    #[arg(long, short = 'c', global = true, env = "SMOKEWATCH_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon (the default): every enabled subsystem until SIGINT/SIGTERM.
    Run(run::RunArgs),
    /// Validate the config and print the effective configuration (secrets masked).
    CheckConfig,
    /// Benchmarks that print figures (run with --release).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Generate labelled history like the Smoke Detection Dataset (CSV or Parquet).
    Generate(generate::GenerateArgs),
    /// Train a fire model on a data file, evaluate it on the latest data and store it.
    Train(train::TrainArgs),
    /// Score a stored model on a data file (time-ordered held-out rows by default).
    Evaluate(evaluate::EvaluateArgs),
    /// Predict fire for one JSON reading (argument) or JSON lines on stdin.
    Predict(predict::PredictArgs),
    /// The batch layer without the daemon: run the job once, ingest the watched folder.
    Batch(batch::BatchArgs),
    /// Follow a running daemon: a table per trigger of the windows (or alerts) that changed.
    Tail(tail::TailArgs),
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match load_config(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match cli.command.unwrap_or(Command::Run(run::RunArgs::default())) {
        Command::Run(args) => run::run(config, &args),
        Command::CheckConfig => check_config::check_config(&config),
        Command::Bench(command) => bench::bench(&config, command),
        Command::Generate(args) => generate::generate(&config, &args),
        Command::Train(args) => train::train(&config, &args),
        Command::Evaluate(args) => evaluate::evaluate_command(&config, &args),
        Command::Predict(args) => predict::predict(&config, &args),
        Command::Batch(args) => batch::batch(&config, &args),
        Command::Tail(args) => tail::tail(&config, &args),
    }
}

/// Loads the config: the given path must exist; without one,
/// `config.yaml` is used when present, else the built-in defaults.
pub fn load_config(path: Option<&Path>) -> Result<Config, ConfigError> {
    match path {
        Some(path) => Config::load(path),
        None if Path::new(DEFAULT_CONFIG_PATH).exists() => {
            Config::load(Path::new(DEFAULT_CONFIG_PATH))
        }
        None => {
            eprintln!("note: {DEFAULT_CONFIG_PATH} not found, using built-in defaults");
            Config::from_yaml("", Path::new("(defaults)"), std::env::vars())
        }
    }
}

/// A multi-threaded tokio runtime for the commands that need one.
pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("smokewatch")
        .build()
}
