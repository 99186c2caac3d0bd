//! Helpers shared by the web tests: the web state without a daemon (for
//! `warp::test`), an in-process daemon on a free port, and a test-only fire
//! model that can be swapped into a daemon's `ModelHandle`.

#![allow(dead_code)]

use smokewatch::app::config::Config;
use smokewatch::app::daemon::{Daemon, Handles};
use smokewatch::base::config::Secret;
use smokewatch::features::FeatureSpec;
use smokewatch::ml::{FireModel, ModelHandle, Prediction};
use smokewatch::schema::registry::DeviceRegistry;
use smokewatch::supervisor::{Health, Queues};
use smokewatch::transport::Transport;
use smokewatch::web::App;
use std::path::Path;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The admin token the tests configure when they need one.
pub const TOKEN: &str = "test-admin-token-0123456789";

/// Web state over fresh shared handles; `admin_token` set or not.
pub fn app(admin_token: Option<&str>) -> App {
    let mut config = Config::default();
    if let Some(t) = admin_token {
        config.web.admin_token = Secret::new(t);
    }
    app_with(config)
}

/// Web state over fresh shared handles with `config`.
pub fn app_with(config: Config) -> App {
    app_with_batch(config, smokewatch::batch::BatchStatus::new())
}

/// Web state with `config` showing the batch layer `batch` (e.g. one a
/// test ran a job on).
pub fn app_with_batch(config: Config, batch: smokewatch::batch::BatchStatus) -> App {
    let handles = Handles {
        transport: Transport::embedded(&config.kafka),
        config: Arc::new(config),
        health: Health::new(),
        metrics: Some(smokewatch::telemetry::metrics_handle()),
        model: ModelHandle::new(),
        devices: DeviceRegistry::new(),
        batch,
        queues: Queues::default(),
        progress: None,
        live: smokewatch::stream::sinks::LiveViews::default(),
    };
    App::new(handles.web_deps(), CancellationToken::new()).expect("templates load")
}

/// A daemon started in this process with `extra` YAML appended to a config
/// that keeps state in `dir` and listens on a free port. ML is off: the
/// tests swap their own model into the handle.
pub async fn daemon(dir: &Path, extra: &str) -> Daemon {
    let yaml = format!(
        "daemon:\n  data_dir: {}\nweb:\n  port: 0\nml:\n  enabled: false\n{extra}",
        dir.join("data").display()
    );
    let config = Config::from_yaml(&yaml, Path::new("test.yaml"), Vec::new()).expect("config");
    Daemon::start(Arc::new(config))
        .await
        .expect("daemon starts")
}

pub fn base_url(daemon: &Daemon) -> String {
    format!("http://{}", daemon.web_addr().expect("web enabled"))
}

/// A fire model for tests only: a transparent rule on the two channels
/// that separate the classes in the Smoke Detection Dataset (fire rows
/// have high TVOC and low raw ethanol). Probability = share of the two
/// conditions met, so the page shows a real number.
pub struct RuleModel {
    version: Arc<str>,
    spec: FeatureSpec,
}

impl RuleModel {
    pub fn new(version: &str) -> Self {
        Self {
            version: version.into(),
            spec: FeatureSpec::raw(),
        }
    }
}

impl FireModel for RuleModel {
    fn version(&self) -> &Arc<str> {
        &self.version
    }

    fn feature_spec(&self) -> &FeatureSpec {
        &self.spec
    }

    fn predict(&self, features: &[f64]) -> Prediction {
        let tvoc = features[2];
        let ethanol = features[5];
        let met = u8::from(tvoc > 500.0) + u8::from(ethanol < 19_800.0);
        let probability = f64::from(met) / 2.0 * 0.9 + 0.05;
        Prediction {
            fire: probability >= 0.5,
            probability,
            model_version: self.version.clone(),
        }
    }
}

/// The "normal air" reading as JSON (no-fire medians of the data set).
pub fn normal_reading() -> serde_json::Value {
    serde_json::json!({
        "temperature_c": 20.54, "humidity_pct": 46.14, "tvoc_ppb": 86.0, "eco2_ppm": 400.0,
        "raw_h2": 12840.0, "raw_ethanol": 20160.0, "pressure_hpa": 937.5, "pm1_0": 1.45,
        "pm2_5": 1.52, "nc0_5": 9.97, "nc1_0": 1.578, "nc2_5": 0.039
    })
}

/// One parsed SSE event.
#[derive(Debug)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<u64>,
    pub data: serde_json::Value,
}

/// Reads events from an open response until `count` have arrived.
pub async fn read_events(response: &mut reqwest::Response, count: usize) -> Vec<SseEvent> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    while events.len() < count {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), response.chunk())
            .await
            .expect("an event within 10 s")
            .expect("stream readable")
            .expect("stream still open");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut event = SseEvent {
                event: "message".into(),
                id: None,
                data: serde_json::Value::Null,
            };
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event.event = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("id:") {
                    event.id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v);
                }
            }
            if !data.is_empty() {
                event.data = serde_json::from_str(&data).expect("event data is JSON");
                events.push(event);
            }
        }
    }
    events
}
