//! smokewatch: an IoT smoke-detection pipeline in one tokio daemon.
//!
//! The modules follow the data: [`simulate`] produces readings, the
//! [`transport`] carries them (Kafka or in-process), the [`stream`]
//! validates, windows, detects and scores them, and [`sinks`] write the
//! results. Beside the flow: [`batch`] (history and scheduled jobs), [`ml`]
//! (fire models), [`web`] (UI, API, health, metrics) and [`telemetry`]
//! (logs, metrics), [`scoreboard`] (alerts scored against the
//! simulator's ground truth). [`config`], [`model`] and [`supervisor`] hold it
//! together; [`daemon`] wires it.

pub mod app;
pub mod base;
pub mod batch;
pub mod dataset;
pub mod features;
pub mod ml;
pub mod model;
pub mod simulate;
pub mod store;
pub mod stream;
pub mod supervisor;
pub mod telemetry;
pub mod transport;
pub mod web;
