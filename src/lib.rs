//! smokewatch: an IoT smoke-detection pipeline in one tokio daemon.
//!
//! The modules follow the data: [`simulate`] produces readings, the
//! [`transport`] carries them (Kafka or in-process), the [`stream`]
//! validates, windows, detects and scores them and writes the results.
//! Beside the flow: [`batch`] (watched folder and scheduled jobs) over the
//! [`store`], [`ml`] (fire models) trained on a [`dataset`], [`web`] (UI,
//! API, health, metrics). Below them: [`supervisor`], [`features`],
//! [`schema`], [`telemetry`] and [`base`]; above them [`app`] (config,
//! daemon, CLI) wires it. A module imports only modules below it
//! (ARCHITECTURE.md, `tests/layering.rs`).

pub mod app;
pub mod base;
pub mod batch;
pub mod dataset;
pub mod features;
pub mod ml;
pub mod schema;
pub mod simulate;
pub mod store;
pub mod stream;
pub mod supervisor;
pub mod telemetry;
pub mod transport;
pub mod web;
