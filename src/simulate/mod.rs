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
//! [`history`] generates labelled history in-process; the daemon task in
//! [`task`] runs the live fleet.

mod calibration;
mod config;
pub mod correlation;
mod detector;
pub mod dynamics;
pub mod export;
pub mod fleet;
pub mod history;
pub mod marginal;
pub mod profile;
pub mod scenario;

pub use calibration::Calibration;
pub use config::{FaultRates, RoomBehaviour, ScenarioRates, SimulatorConfig};
pub use history::{HistoryGenerator, HistoryOptions};

/// Why the simulator could not start or generate.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("calibrating the simulator: {0}")]
    Calibration(String),
    #[error("history options: {0}")]
    Options(String),
}
