//! Where the stream's results leave the pipeline: files, Kafka topics and
//! the in-memory rings the web UI reads.

mod config;

pub use config::SinksConfig;
