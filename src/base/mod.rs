//! Shared basics at the bottom of the layering: every component may import
//! this module, and it imports nothing of the project.
//!
//! * [`config`]: the primitives config sections are built from (durations,
//!   capacities, ports, secrets, validation issues).
//! * [`durable`]: crash-safe file writes (temporary file, fsync, rename,
//!   fsync of the folder), the one way state files are written.
//! * [`backoff`]: exponential backoff for retries and restarts.

pub mod backoff;
pub mod config;
pub mod durable;
