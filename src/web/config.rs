//! `web:` section of the config.

use crate::config::{ConfigIssue, Port, Secret, Validate};
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
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            host: "127.0.0.1".into(),
            port: Port(8080),
            admin_token: Secret::default(),
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
    }
}
