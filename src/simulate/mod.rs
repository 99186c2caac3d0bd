//! Simulated fleet of homes, rooms, smoke detectors and room sensors: the
//! source of readings when no real devices are connected.

mod config;

pub use config::SimulatorConfig;
