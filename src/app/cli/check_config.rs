//! `smokewatch check-config`: validate and print the effective config.

use crate::app::config::Config;
use std::process::ExitCode;

pub fn check_config(config: &Config) -> ExitCode {
    println!("# effective configuration (file + SMOKEWATCH__* overrides; secrets masked)");
    print!("{}", config.to_masked_yaml());
    eprintln!("config is valid");
    ExitCode::SUCCESS
}
