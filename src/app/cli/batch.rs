//! `smokewatch batch …`: the batch layer without the daemon.
//!
//! * `batch run` runs the job once (quality, KPIs, aggregates, features,
//!   retraining when due) and prints its summary; the JSON report goes to
//!   `<batch.state_dir>/reports/`. It refuses to run while another process
//!   (a daemon) runs the job. A model it promotes is picked up by a running
//!   daemon through the registry (`ml.reload_interval`).
//! * `batch ingest` takes every file now in `batch.incoming_dir` (no
//!   completeness wait: the caller says the files are complete), as the
//!   daemon's watcher would. It exits 1 when a file is refused (moved to
//!   `failed/`) or cannot be ingested, 0 when every file was stored or
//!   was a duplicate.

use super::{EXIT_RUNTIME, EXIT_USAGE};
use crate::app::config::Config;
use crate::batch::ingest::{IngestOutcome, Ingester};
use crate::batch::job::JobContext;
use crate::batch::{BatchStatus, RunStatus, Scope, Trigger, watcher};
use crate::ml::ModelHandle;
use crate::schema::registry::DeviceRegistry;
use crate::telemetry;
use clap::{Args, Subcommand};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct BatchArgs {
    #[command(subcommand)]
    pub command: BatchCommand,
}

#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Run the batch job once: data quality, KPIs, daily aggregates, features, retraining when due.
    Run {
        /// What to analyse (default: batch.job.scope).
        #[arg(long, value_enum)]
        scope: Option<ScopeArg>,
        /// Print the whole JSON report on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Ingest the files now in batch.incoming_dir into the store.
    Ingest,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ScopeArg {
    /// Data added since the last successful run.
    New,
    /// The whole store.
    All,
}

pub fn batch(config: &Config, args: &BatchArgs) -> ExitCode {
    telemetry::init_logging(&config.telemetry);
    match &args.command {
        BatchCommand::Run { scope, json } => run(config, *scope, *json),
        BatchCommand::Ingest => ingest(config),
    }
}

fn run(config: &Config, scope: Option<ScopeArg>, json: bool) -> ExitCode {
    let mut config = config.clone();
    if let Some(scope) = scope {
        config.batch.job.scope = match scope {
            ScopeArg::New => Scope::New,
            ScopeArg::All => Scope::All,
        };
    }
    let status = BatchStatus::new();
    let attached = status.attach(JobContext::new(
        config.batch.clone(),
        config.ml.clone(),
        config.sinks.dir.clone(),
        ModelHandle::new(),
    ));
    if let Err(e) = attached {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_RUNTIME);
    }
    let record = match status.run_blocking(Trigger::Cli) {
        Ok(record) => record,
        Err(refused) => {
            eprintln!("error: {refused}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if record.status != RunStatus::Success {
        eprintln!(
            "batch run {} failed: {}",
            record.run_id,
            record.error.as_deref().unwrap_or("unknown error")
        );
        return ExitCode::from(EXIT_RUNTIME);
    }
    let Some(report) = status.last_report() else {
        eprintln!("batch run {} succeeded but left no report", record.run_id);
        return ExitCode::from(EXIT_RUNTIME);
    };
    if json {
        match serde_json::to_string_pretty(&*report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("error: cannot print the report: {e}");
                return ExitCode::from(EXIT_RUNTIME);
            }
        }
    }
    let q = &report.quality;
    eprintln!(
        "batch run {}: {} rows in {} files ({} new), {} days",
        report.run_id,
        report.input.rows,
        report.input.files_analysed,
        report.input.new_files,
        report.input.days.len()
    );
    eprintln!(
        "quality: score {}, missing {:.3}%, out of range {:.3}%, duplicates {}, quarantined {}",
        q.score.map_or("n/a".to_string(), |s| format!("{s:.4}")),
        q.missing_pct,
        q.out_of_range_pct,
        q.duplicate_rows,
        q.quarantined_rows
    );
    eprintln!(
        "alarm rate: {} of {} labelled rows; anomalies opened: {}",
        report.kpis.alarm_rate.alarms,
        report.kpis.alarm_rate.labelled,
        report.kpis.anomalies.opened
    );
    match &report.retrain.outcome {
        Some(o) => eprintln!(
            "retrained: {} ({}): {}",
            o.version,
            if o.promoted { "promoted" } else { "rejected" },
            o.decision
        ),
        None => eprintln!("not retrained: {}", report.retrain.reason),
    }
    if let Some(file) = &record.report {
        eprintln!("report: {}", config.batch.state_dir.join(file).display());
    }
    ExitCode::SUCCESS
}

fn ingest(config: &Config) -> ExitCode {
    let incoming = &config.batch.incoming_dir;
    let mut ingester = match Ingester::open(&config.batch, DeviceRegistry::new()) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let mut listing = match watcher::list(incoming) {
        Ok(listing) => listing,
        Err(e) => {
            eprintln!("error: cannot list {}: {e}", incoming.display());
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    listing.sort_by(|a, b| a.0.cmp(&b.0));
    let cancel = CancellationToken::new();
    let mut failed = false;
    for (path, _) in listing {
        match ingester.ingest(&path, &cancel) {
            Ok(IngestOutcome::Ingested(e)) => eprintln!(
                "{}: {} rows stored, {} quarantined",
                e.file_name, e.rows_stored, e.rows_quarantined
            ),
            Ok(IngestOutcome::Duplicate { original, moved_to }) => eprintln!(
                "{}: already ingested as {}; moved to {moved_to}",
                path.display(),
                original.file_name
            ),
            Ok(IngestOutcome::Failed(e)) => {
                // A refused file is a failed ingest for the caller (a
                // script checks the exit code), though the others go on.
                failed = true;
                eprintln!(
                    "{}: refused: {}",
                    e.file_name,
                    e.error.as_deref().unwrap_or("unknown reason")
                );
            }
            Err(e) => {
                failed = true;
                eprintln!("error: {}: {e}", path.display());
            }
        }
    }
    if failed {
        ExitCode::from(EXIT_RUNTIME)
    } else {
        ExitCode::SUCCESS
    }
}
