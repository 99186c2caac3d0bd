//! The one configuration every task shares (as `Arc<Config>`).
//!
//! Loaded from YAML (`config.yaml` documents every key), then overridden by
//! environment variables `SMOKEWATCH__SECTION__KEY=value` (double
//! underscores separate levels, so `SMOKEWATCH__STREAM__WINDOW__SIZE=30s`
//! sets `stream.window.size`). Unknown keys, wrong types and invalid values
//! are refused at start with the key path and the reason; nothing starts on
//! a config that is half understood.
//!
//! Each subsystem owns its section's struct (vector-style): the section
//! types live next to the code that uses them and are gathered here.

mod env;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::base::config::{Capacity, ConfigIssue, Duration, Validate};
use crate::batch::BatchConfig;
use crate::ml::MlConfig;
use crate::simulate::SimulatorConfig;
use crate::stream::StreamConfig;
use crate::stream::sinks::SinksConfig;
use crate::supervisor::RestartPolicy;
use crate::telemetry::TelemetryConfig;
use crate::transport::KafkaConfig;
use crate::web::WebConfig;

/// Prefix of environment variables that override config keys.
pub const ENV_PREFIX: &str = "SMOKEWATCH__";

/// The whole configuration: one section per subsystem, plus the daemon's own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub daemon: DaemonConfig,
    pub simulator: SimulatorConfig,
    pub kafka: KafkaConfig,
    pub stream: StreamConfig,
    pub sinks: SinksConfig,
    pub batch: BatchConfig,
    pub ml: MlConfig,
    pub web: WebConfig,
    pub telemetry: TelemetryConfig,
    /// Devices to register at every start (beside the simulator's fleet
    /// and those registered through the API or automatically).
    pub devices: Vec<crate::schema::registry::DeviceEntry>,
}

/// How the supervisor runs tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DaemonConfig {
    /// Upper bound for a graceful stop: intake stops, in-flight data drains,
    /// sinks flush, the final checkpoint is written. 30 s (Kubernetes'
    /// default grace period): 10,000 detectors beside two busy cores took
    /// 9 s to drain and write the final checkpoint on a dev build.
    pub shutdown_timeout: Duration,
    /// Default capacity of the bounded channels between pipeline stages.
    pub channel_capacity: Capacity,
    /// Root for state the daemon keeps across restarts (checkpoints, models,
    /// history) unless a section names its own path.
    pub data_dir: PathBuf,
    pub restart: RestartPolicy,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            shutdown_timeout: Duration::from_secs(30),
            channel_capacity: Capacity::new(4096),
            data_dir: PathBuf::from("data"),
            restart: RestartPolicy::default(),
        }
    }
}

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {} is not valid YAML: {reason}", path.display())]
    Syntax { path: PathBuf, reason: String },
    #[error("invalid configuration:\n{}", issues.iter().map(|i| format!("  {i}")).collect::<Vec<_>>().join("\n"))]
    Invalid { issues: Vec<ConfigIssue> },
}

impl ConfigError {
    /// The issues found, for tests and the API; empty for read/syntax errors.
    pub fn issues(&self) -> &[ConfigIssue] {
        match self {
            ConfigError::Invalid { issues } => issues,
            _ => &[],
        }
    }
}

impl Config {
    /// Reads `path`, applies overrides from the process environment and validates.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_yaml(&text, path, std::env::vars())
    }

    /// Parses YAML text, applies `SMOKEWATCH__…` overrides found in `vars`,
    /// and validates. `origin` names the text in error messages.
    pub fn from_yaml(
        text: &str,
        origin: &Path,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut tree: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|e| ConfigError::Syntax {
                path: origin.to_path_buf(),
                reason: e.to_string(),
            })?;
        if tree.is_null() {
            tree = serde_yaml::Value::Mapping(Default::default());
        }
        let mut issues = Vec::new();
        let origins = env::apply_overrides(&mut tree, vars, &mut issues);
        if !issues.is_empty() {
            return Err(ConfigError::Invalid { issues });
        }
        let config: Config = serde_path_to_error::deserialize(tree).map_err(|err| {
            let key = err.path().to_string();
            let mut issue = ConfigIssue::new(
                if key == "." {
                    "(top level)".to_string()
                } else {
                    key
                },
                err.into_inner().to_string(),
            );
            issue.from_env = env::origin_of(&origins, &issue.key);
            ConfigError::Invalid {
                issues: vec![issue],
            }
        })?;
        let mut issues = config.validate();
        for issue in &mut issues {
            issue.from_env = env::origin_of(&origins, &issue.key);
        }
        if issues.is_empty() {
            Ok(config.with_resolved_paths())
        } else {
            Err(ConfigError::Invalid { issues })
        }
    }

    /// Every issue serde could not see.
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        self.daemon.validate("daemon", &mut issues);
        self.simulator.validate("simulator", &mut issues);
        self.kafka.validate("kafka", &mut issues);
        self.stream.validate("stream", &mut issues);
        self.sinks.validate("sinks", &mut issues);
        self.batch.validate("batch", &mut issues);
        self.ml.validate("ml", &mut issues);
        self.web.validate("web", &mut issues);
        self.telemetry.validate("telemetry", &mut issues);
        crate::schema::registry::validate_entries(&self.devices, "devices", &mut issues);
        issues
    }

    /// The config with every relative state path placed under
    /// `daemon.data_dir`, so one key moves all state (a container volume, a
    /// test's temporary folder) and nothing depends on the working
    /// directory. Absolute paths are kept. Idempotent only for absolute
    /// `data_dir`s, so it is applied once, at load.
    pub fn with_resolved_paths(mut self) -> Config {
        let root = self.daemon.data_dir.clone();
        for path in [
            &mut self.sinks.dir,
            &mut self.batch.incoming_dir,
            &mut self.batch.store_dir,
            &mut self.batch.state_dir,
            &mut self.ml.model_dir,
        ] {
            if path.is_relative() {
                *path = root.join(&*path);
            }
        }
        self
    }

    /// The effective configuration as YAML, secrets masked.
    pub fn to_masked_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_else(|e| format!("# cannot print config: {e}\n"))
    }
}

impl Validate for DaemonConfig {
    fn validate(&self, section: &str, issues: &mut Vec<ConfigIssue>) {
        if self.shutdown_timeout.is_zero() {
            issues.push(ConfigIssue::new(
                format!("{section}.shutdown_timeout"),
                "must be longer than 0s",
            ));
        }
        self.restart.validate(&format!("{section}.restart"), issues);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::config::Port;

    fn parse(yaml: &str) -> Result<Config, ConfigError> {
        Config::from_yaml(yaml, Path::new("test.yaml"), Vec::new())
    }

    fn only_issue(yaml: &str) -> ConfigIssue {
        let err = parse(yaml).unwrap_err();
        let issues = err.issues();
        assert_eq!(issues.len(), 1, "{err}");
        issues[0].clone()
    }

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(parse("").unwrap(), Config::default().with_resolved_paths());
    }

    #[test]
    fn relative_state_paths_live_under_the_data_dir() {
        let config = parse("daemon:\n  data_dir: /var/lib/sw\nml:\n  model_dir: m\nbatch:\n  store_dir: /abs/store\n").unwrap();
        assert_eq!(config.ml.model_dir, Path::new("/var/lib/sw/m"));
        assert_eq!(config.sinks.dir, Path::new("/var/lib/sw/out"));
        assert_eq!(config.batch.incoming_dir, Path::new("/var/lib/sw/incoming"));
        assert_eq!(
            config.batch.store_dir,
            Path::new("/abs/store"),
            "absolute paths are kept"
        );
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Config::default().validate(), vec![]);
    }

    #[test]
    fn unknown_key_is_named_with_its_path() {
        let issue = only_issue("web:\n  colour: red\n");
        assert_eq!(issue.key, "web.colour");
        assert!(issue.reason.contains("unknown field"), "{issue}");
    }

    #[test]
    fn bad_duration_names_key_and_value() {
        let issue = only_issue("stream:\n  window:\n    size: abc\n");
        assert_eq!(
            issue.to_string(),
            format!(
                "stream.window.size: \"abc\" is not a duration (write e.g. \"500ms\", \"60s\", \"5m\", \"1h\")"
            )
        );
    }

    #[test]
    fn negative_capacity_bad_port_and_wrong_type_are_refused() {
        assert_eq!(
            only_issue("daemon:\n  channel_capacity: -5\n").key,
            "daemon.channel_capacity"
        );
        assert_eq!(only_issue("web:\n  port: 70000\n").key, "web.port");
        let issue = only_issue("web:\n  enabled: maybe\n");
        assert_eq!(issue.key, "web.enabled");
        assert!(issue.reason.contains("expected a boolean"), "{issue}");
    }

    #[test]
    fn an_evidence_only_rule_over_room_state_alone_is_refused() {
        let issue = only_issue(
            "stream:\n  detect:\n    rules:\n      - name: dark\n        when: light == off\n        evidence_only: true\n",
        );
        assert_eq!(issue.key, "stream.detect.rules[0].evidence_only");
        assert!(issue.reason.contains("\"dark\""), "{issue}");
        // Over a reading's channel it is accepted, with no severity needed.
        let config = parse(
            "stream:\n  detect:\n    rules:\n      - name: warm\n        when: temperature_c > 30\n        evidence_only: true\n",
        )
        .unwrap();
        assert!(config.stream.detect.rules[0].evidence_only);
    }

    #[test]
    fn a_drift_baseline_no_slower_than_the_drift_mean_is_refused() {
        let issue = only_issue("stream:\n  clean:\n    drift_baseline_span: 30m\n");
        assert_eq!(issue.key, "stream.clean.drift_baseline_span");
        assert!(issue.reason.contains("drift_span (1h)"), "{issue}");
    }

    #[test]
    fn a_corroborated_vote_count_outside_min_votes_to_window_is_refused() {
        let issue = only_issue("stream:\n  detect:\n    ml:\n      corroborated_min_votes: 50\n");
        assert_eq!(issue.key, "stream.detect.ml.corroborated_min_votes");
        assert!(issue.reason.contains("window (45)"), "{issue}");
        let config =
            parse("stream:\n  detect:\n    ml:\n      corroborated_min_votes: 40\n").unwrap();
        assert_eq!(config.stream.detect.ml.corroborated_votes(), 40);
    }

    #[test]
    fn a_window_longer_than_a_pane_can_hold_is_refused() {
        let issue = only_issue("stream:\n  window:\n    size: 50d\n");
        assert_eq!(issue.key, "stream.window.size");
        assert!(issue.reason.contains("batch job"), "{issue}");
        let issue =
            only_issue("stream:\n  window:\n    sliding:\n      size: 60d\n      slide: 50d\n");
        assert_eq!(issue.key, "stream.window.sliding.slide");
        assert!(parse("stream:\n  window:\n    size: 49d\n").is_ok());
    }

    #[test]
    fn env_override_changes_the_effective_config() {
        let vars = vec![
            ("SMOKEWATCH__WEB__PORT".to_string(), "9191".to_string()),
            ("SMOKEWATCH__KAFKA__ENABLED".to_string(), "true".to_string()),
            (
                "SMOKEWATCH__STREAM__WINDOW__SIZE".to_string(),
                "30s".to_string(),
            ),
            ("UNRELATED".to_string(), "x".to_string()),
        ];
        let config = Config::from_yaml("web:\n  port: 8080\n", Path::new("t"), vars).unwrap();
        assert_eq!(config.web.port, Port(9191));
        assert!(config.kafka.enabled);
        assert_eq!(config.stream.window.size, Duration::from_secs(30));
    }

    #[test]
    fn bad_env_override_names_the_variable() {
        let vars = vec![("SMOKEWATCH__WEB__PORT".to_string(), "http".to_string())];
        let err = Config::from_yaml("", Path::new("t"), vars).unwrap_err();
        let issue = &err.issues()[0];
        assert_eq!(issue.key, "web.port");
        assert_eq!(issue.from_env.as_deref(), Some("SMOKEWATCH__WEB__PORT"));
        let vars = vec![("SMOKEWATCH__WEB__COLOUR".to_string(), "red".to_string())];
        let err = Config::from_yaml("", Path::new("t"), vars).unwrap_err();
        assert_eq!(err.issues()[0].key, "web.colour");
        assert_eq!(
            err.issues()[0].from_env.as_deref(),
            Some("SMOKEWATCH__WEB__COLOUR")
        );
    }

    #[test]
    fn a_bad_schedule_in_yaml_names_the_key() {
        let err = Config::from_yaml(
            "batch:\n  job:\n    schedule: \"61 * * * *\"\n",
            std::path::Path::new("t.yaml"),
            Vec::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("batch.job.schedule"), "{err}");
    }
}
