//! `smokewatch generate`: labelled history shaped like the real Smoke
//! Detection Dataset, as the data set's CSV or as Parquet.

use super::{EXIT_RUNTIME, EXIT_USAGE};
use crate::app::config::Config;
use crate::simulate::export::{self, ExportError};
use crate::simulate::{HistoryGenerator, HistoryOptions};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Output format of `generate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The data set's CSV: unnamed index column, UTC seconds, CNT, Fire Alarm.
    Csv,
    /// Parquet in the readings schema (one file, or a directory partitioned
    /// by date=YYYY-MM-DD/ when --out is a directory or has no .parquet name).
    Parquet,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("size").required(true).args(["rows", "days"]))]
pub struct GenerateArgs {
    /// Number of readings to generate (all devices together).
    #[arg(long)]
    pub rows: Option<u64>,
    /// Days of event time to generate (every device at its sample rate).
    #[arg(long)]
    pub days: Option<f64>,
    /// Number of smoke detectors (rooms filled home by home).
    #[arg(long, default_value_t = 1)]
    pub devices: u32,
    #[arg(long, value_enum)]
    pub format: Format,
    /// Output file (CSV, Parquet) or directory (partitioned Parquet).
    #[arg(long)]
    pub out: PathBuf,
    /// Seed; the same seed gives byte-identical output. Default: simulator.seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Share of readings labelled fire (default: the real data set's 0.7146).
    #[arg(long)]
    pub fire_share: Option<f64>,
    /// Event time of the first reading (RFC 3339). Default:
    /// simulator.start_time, else the real data set's first timestamp.
    #[arg(long)]
    pub start: Option<chrono::DateTime<chrono::Utc>>,
}

pub fn generate(config: &Config, args: &GenerateArgs) -> ExitCode {
    let mut simulator = config.simulator.clone();
    if let Some(start) = args.start {
        simulator.start_time = Some(start);
    }
    let options = HistoryOptions {
        rows: args.rows,
        days: args.days,
        devices: args.devices,
        seed: args.seed.unwrap_or(simulator.seed),
        fire_share: args.fire_share,
    };
    let generator = match HistoryGenerator::new(&simulator, options) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let bar = progress_bar(args, &simulator);
    let started = Instant::now();
    let report = |rows: u64| bar.set_position(rows);
    let result = run(generator, args, options.seed, &report);
    bar.finish_and_clear();
    match result {
        Ok(rows) => {
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "wrote {rows} readings to {} in {secs:.2}s ({:.0} rows/s)",
                args.out.display(),
                rows as f64 / secs.max(1e-9)
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn run(
    generator: HistoryGenerator,
    args: &GenerateArgs,
    seed: u64,
    progress: export::Progress<'_>,
) -> Result<u64, ExportError> {
    let out = &args.out;
    match args.format {
        Format::Csv => {
            let file = create(out)?;
            export::write_csv(generator, std::io::BufWriter::new(file), out, progress)
        }
        Format::Parquet if is_directory(out) => {
            let prefix = format!("generated-seed{seed}");
            export::write_parquet_partitioned(generator, out, &prefix, progress)
                .map(|(rows, _)| rows)
        }
        Format::Parquet => {
            let file = create(out)?;
            export::write_parquet(generator, std::io::BufWriter::new(file), progress)
        }
    }
}

/// A directory target: an existing directory, or a path whose name does
/// not end in `.parquet`.
fn is_directory(path: &Path) -> bool {
    path.is_dir() || path.extension().is_none_or(|e| e != "parquet")
}

fn create(path: &Path) -> Result<std::fs::File, ExportError> {
    let io = |source| ExportError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::File::create(path).map_err(|source| ExportError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// A bar when the total is known (`--rows`), else a counter; hidden when
/// stderr is not a terminal.
fn progress_bar(args: &GenerateArgs, simulator: &crate::simulate::SimulatorConfig) -> ProgressBar {
    let expected = args.rows.or_else(|| {
        let per_device = args.days? * 86_400.0 / simulator.sample_interval.get().as_secs_f64();
        Some((per_device * f64::from(args.devices)) as u64)
    });
    let bar = match (args.rows, expected) {
        (Some(rows), _) => ProgressBar::new(rows),
        (None, Some(rows)) => ProgressBar::new(rows),
        (None, None) => ProgressBar::no_length(),
    };
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} rows ({per_sec}, eta {eta})",
    );
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar
}
