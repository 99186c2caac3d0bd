//! `smokewatch run`: the daemon.

use super::tail::Tailed;
use super::{EXIT_RUNTIME, EXIT_USAGE, console, runtime};
use crate::app::config::Config;
use crate::app::daemon;
use crate::telemetry;
use clap::Args;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// How long the exit waits for blocking work still running once the
/// daemon has stopped (a task that outlived the shutdown timeout).
const RUNTIME_EXIT_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Default, Args)]
pub struct RunArgs {
    /// Also print to stdout, like Spark's console sink, a table per trigger
    /// of the room × sensor windows (or the alerts) that changed; the same
    /// tables as `smokewatch tail`.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub console: Option<Tailed>,
}

pub fn run(config: Config, args: &RunArgs) -> ExitCode {
    telemetry::init_logging(&config.telemetry);
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let console = args.console;
    let beside = move |handles: &daemon::Handles| {
        let live = handles.live.clone();
        async move {
            if let Some(what) = console {
                console::print(what, live).await;
            }
        }
    };
    let outcome = runtime.block_on(daemon::run_until_signal(Arc::new(config), beside));
    // Blocking work of tasks the supervisor gave up on (a drain past
    // `daemon.shutdown_timeout`) must not hold the exit: dropping the
    // runtime would wait for it without a limit.
    runtime.shutdown_timeout(RUNTIME_EXIT_GRACE);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            if e.is_config() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::from(EXIT_RUNTIME)
            }
        }
    }
}
