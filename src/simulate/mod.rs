//! Simulated fleet of homes, rooms, smoke detectors and room sensors: the
//! source of readings when no real devices are connected, and the
//! generator of labelled history.
//!
//! The smoke detectors are calibrated to the measured statistics of the
//! real Smoke Detection Dataset ([`profile`]): per class, each channel
//! follows the measured distribution ([`marginal`]), channels move together
//! as measured ([`correlation`]), each moves from one reading to the next as
//! the real sensors did ([`dynamics`]) — a Gaussian copula in time — and
//! scenarios (nuisance, smouldering, flaming) drive the class and the levels
//! ([`scenario`], [`calibration`], [`detector`]).
//!
//! [`history`] generates labelled history in-process ([`export`] writes it
//! as CSV or Parquet); [`live`] is the running fleet with its rooms
//! ([`room`]) and faults ([`faults`]), which the daemon task in [`task`]
//! paces and sends. [`truth`] is the ground truth the live fleet records
//! (its scenarios, forgotten lights and faults) for the alert scoreboard.

mod calibration;
pub mod clock;
mod config;
pub mod correlation;
mod detector;
pub mod dynamics;
pub mod export;
pub mod faults;
pub mod fleet;
pub mod fleet_history;
pub mod history;
pub mod live;
pub mod marginal;
pub mod profile;
pub mod room;
pub mod scenario;
pub mod task;
pub mod truth;

pub use calibration::Calibration;
pub use config::{FaultRates, RoomBehaviour, ScenarioRates, SimulatorConfig};
pub use history::{HistoryGenerator, HistoryOptions};
pub use task::{Deps, spawn};

/// Why the simulator could not start or generate.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("calibrating the simulator: {0}")]
    Calibration(String),
    #[error("history options: {0}")]
    Options(String),
    #[error("sending to the transport: {0}")]
    Transport(String),
}
