//! `smokewatch run`: the daemon.

use super::{EXIT_RUNTIME, EXIT_USAGE, runtime};
use crate::config::Config;
use crate::{daemon, telemetry};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// How long the exit waits for blocking work still running once the
/// daemon has stopped (a task that outlived the shutdown timeout).
const RUNTIME_EXIT_GRACE: Duration = Duration::from_secs(2);

pub fn run(config: Config) -> ExitCode {
    telemetry::init_logging(&config.telemetry);
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let outcome = runtime.block_on(daemon::run_until_signal(Arc::new(config)));
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
