//! The batch layer: historical Parquet store, watched folder and the
//! scheduled data-quality/KPI job that triggers retraining.

mod config;

pub use config::BatchConfig;
