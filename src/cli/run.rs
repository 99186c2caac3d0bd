//! `smokewatch run`: the daemon.

use super::{EXIT_RUNTIME, EXIT_USAGE, runtime};
use crate::config::Config;
use crate::{daemon, telemetry};
use std::process::ExitCode;
use std::sync::Arc;

pub fn run(config: Config) -> ExitCode {
    telemetry::init_logging(&config.telemetry);
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    match runtime.block_on(daemon::run_until_signal(Arc::new(config))) {
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
