//! Real-time processing: validate → clean → features → windows → detect →
//! score → sinks, as tasks joined by bounded channels.

mod config;

pub use config::{StreamConfig, WindowConfig};
