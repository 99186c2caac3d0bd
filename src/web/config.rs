//! `web:` section of the config.

use crate::base::config::{ConfigIssue, Port, Secret, Validate};
use serde::{Deserialize, Serialize};

/// The HTTP server: dashboard, JSON API, health and Prometheus metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Serve the web UI, the JSON API, /health and /metrics.
    pub enabled: bool,
    /// Address to listen on; 0.0.0.0 to accept connections from other hosts.
    pub host: String,
    /// TCP port; 0 picks a free port (logged at start).
    pub port: Port,
    /// Bearer token for admin endpoints; admin endpoints are off when unset.
    pub admin_token: Secret,
    /// Bearer token for `POST /api/ingest/*` (HTTP ingest of readings and
    /// room events); ingest is off (403) while it is unset.
    pub ingest_token: Secret,
    /// Largest ingest request body, in bytes (413 beyond).
    pub ingest_max_body_bytes: u64,
}

/// Default `web.ingest_max_body_bytes`: 64 MiB, about 150 000 readings
/// of smokewatch's shape as NDJSON.
pub const DEFAULT_INGEST_MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            host: "127.0.0.1".into(),
            port: Port(8080),
            admin_token: Secret::default(),
            ingest_token: Secret::default(),
            ingest_max_body_bytes: DEFAULT_INGEST_MAX_BODY_BYTES,
        }
    }
}

impl WebConfig {
    /// The socket address to bind.
    pub fn socket_addr(&self) -> Result<std::net::SocketAddr, String> {
        let ip: std::net::IpAddr = self
            .host
            .parse()
            .map_err(|_| format!("{:?} is not an IP address", self.host))?;
        Ok(std::net::SocketAddr::new(ip, self.port.0))
    }
}

impl Validate for WebConfig {
    fn validate(&self, section: &str, issues: &mut Vec<ConfigIssue>) {
        if let Err(reason) = self.socket_addr() {
            issues.push(ConfigIssue::new(format!("{section}.host"), reason));
        }
        if self.ingest_max_body_bytes < 1024 {
            issues.push(ConfigIssue::new(
                format!("{section}.ingest_max_body_bytes"),
                format!(
                    "{} bytes would refuse a few readings; use at least 1024",
                    self.ingest_max_body_bytes
                ),
            ));
        }
    }
}
