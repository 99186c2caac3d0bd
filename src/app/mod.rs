//! The app layer, at the top: the only code that knows every component.
//!
//! * [`config`]: the aggregate configuration (one section per component),
//!   loading, environment overrides and validation;
//! * [`daemon`]: builds each enabled component from its own section and the
//!   handles it needs, and stops them in order;
//! * [`stream_wiring`]: the stream's `Deps` from the whole config, for the
//!   daemon, the benchmarks and the scoreboard;
//! * [`scoreboard`]: scores alerts against ground truth (`bench alerts`,
//!   and the daemon's live judge);
//! * [`cli`]: the `smokewatch` command line.
//!
//! Components never import this module: each one's `spawn` takes its own
//! `Deps` (its config section plus handles), built here.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod scoreboard;
pub mod stream_wiring;
