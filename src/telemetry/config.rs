//! `telemetry:` section of the config.

use crate::base::config::{ConfigIssue, Validate};
use serde::{Deserialize, Serialize};

/// Logs and metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Record metrics and serve them at /metrics.
    pub enabled: bool,
    /// `text` for people, `json` for log shippers.
    pub log_format: LogFormat,
    /// Log filter in tracing's syntax, e.g. `info` or `info,smokewatch::stream=debug`.
    /// The RUST_LOG environment variable, when set, wins.
    pub log_level: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

/// Our INFO lines, and only the warnings and errors of rskafka: it logs
/// every broker connection at INFO, which drowned everything else (175 of
/// a Kafka daemon's first 189 lines).
pub const DEFAULT_LOG_LEVEL: &str = "info,rskafka=warn";

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            log_format: LogFormat::Text,
            log_level: DEFAULT_LOG_LEVEL.into(),
        }
    }
}

impl Validate for TelemetryConfig {
    fn validate(&self, section: &str, issues: &mut Vec<ConfigIssue>) {
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log_level) {
            issues.push(ConfigIssue::new(
                format!("{section}.log_level"),
                format!("{:?} is not a log filter: {e}", self.log_level),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;
    use tracing_subscriber::layer::SubscriberExt;

    /// With Kafka on, rskafka logs every connection at INFO (175 of the
    /// first 189 lines of a daemon); the default filter keeps its warnings
    /// and errors only, and our own INFO lines.
    #[test]
    fn default_log_filter_quiets_rskafka_info_but_keeps_its_warnings() {
        let filter = tracing_subscriber::EnvFilter::try_new(TelemetryConfig::default().log_level)
            .expect("the default is a filter");
        let subscriber = tracing_subscriber::registry().with(filter);
        tracing::subscriber::with_default(subscriber, || {
            assert!(!tracing::enabled!(target: "rskafka::connection", Level::INFO));
            assert!(tracing::enabled!(target: "rskafka::connection", Level::WARN));
            assert!(tracing::enabled!(target: "smokewatch::transport", Level::INFO));
            assert!(!tracing::enabled!(target: "smokewatch::transport", Level::DEBUG));
        });
    }
}
