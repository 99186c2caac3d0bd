//! The alert scoreboard: runs the simulated fleet (or a labelled file)
//! through the real stream and scores its alerts against the ground truth
//! at the level people judge an alarm by — incidents, not readings.
//!
//! [`run`] drives the pipeline and collects alerts, [`score`] compares
//! them with the simulator's incident log ([`crate::simulate::truth`]),
//! [`report`] prints the table. `smokewatch bench alerts` and the CI test
//! `tests/alerts_scoreboard.rs` use it; [`judge`] gives the daemon's
//! dashboard the same verdict live.

pub mod judge;
pub mod report;
pub mod run;
pub mod score;

use crate::app::config::Config;
use crate::ml::{FireModel, ModelHandle};
use crate::schema::{DeviceId, EventTime, HomeId, RoomId};
use crate::stream::Severity;
use crate::stream::sinks::{AlertChange, AlertEvent};
use std::collections::HashMap;
use tokio_util::sync::CancellationToken;

pub use run::{RunOutput, run_file, run_fleet};
pub use score::{Scoreboard, score};

/// Why a scoreboard run failed.
#[derive(Debug, thiserror::Error)]
pub enum ScoreboardError {
    #[error("simulator: {0}")]
    Simulate(#[from] crate::simulate::SimulateError),
    #[error("stream: {0}")]
    Stream(String),
    #[error("starting the stream: {0}")]
    Start(#[from] crate::stream::StreamError),
    #[error("scratch folder: {0}")]
    Io(#[from] std::io::Error),
    #[error("reading the labelled data: {0}")]
    Data(#[from] crate::ml::DataError),
    #[error("training the model: {0}")]
    Train(String),
    #[error("{0} holds no readings")]
    Empty(String),
}

/// One alert over its life: what the scoring needs.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    pub rule: String,
    /// Empty for room rules.
    pub device: Option<DeviceId>,
    pub home: HomeId,
    pub room: RoomId,
    /// Event time it opened.
    pub opened: EventTime,
    /// Event time its condition cleared (or the end of the run).
    pub end: EventTime,
    pub max_severity: Severity,
    /// Event time it first was critical.
    pub critical_at: Option<EventTime>,
}

/// Folds alert events (opened, escalated, resolved) into [`AlertRecord`]s.
#[derive(Debug, Default)]
pub struct AlertLog {
    alerts: HashMap<uuid::Uuid, AlertRecord>,
}

impl AlertLog {
    pub fn apply(&mut self, event: &AlertEvent) {
        let a = &event.alert;
        let record = self.alerts.entry(a.id).or_insert_with(|| AlertRecord {
            rule: a.rule.clone(),
            device: a.device.clone(),
            home: a.home.clone(),
            room: a.room.clone(),
            opened: a.event_time,
            end: EventTime(i64::MAX),
            max_severity: a.severity,
            critical_at: None,
        });
        record.max_severity = record.max_severity.max(a.severity);
        if a.severity == Severity::Critical && record.critical_at.is_none() {
            record.critical_at = Some(match event.change {
                AlertChange::Opened => a.event_time,
                _ => a.last_event_time,
            });
        }
        if event.change == AlertChange::Resolved {
            record.end = a.resolved_time.unwrap_or(a.last_event_time);
        }
    }

    /// Every alert, those still open ending at `end`, in opening order.
    pub fn finish(self, end: EventTime) -> Vec<AlertRecord> {
        let mut alerts: Vec<AlertRecord> = self
            .alerts
            .into_values()
            .map(|mut a| {
                if a.end.millis() == i64::MAX {
                    a.end = end;
                }
                a
            })
            .collect();
        alerts.sort_by(|a, b| (a.opened, &a.rule).cmp(&(b.opened, &b.rule)));
        alerts
    }
}

/// The model the daemon would train at its first start (the configured
/// initial training data and model kind), served by the returned handle.
/// `None` when ML is off.
pub fn initial_model(config: &Config) -> Result<Option<ModelHandle>, ScoreboardError> {
    if !config.ml.enabled {
        return Ok(None);
    }
    let data =
        crate::dataset::initial_training_data(&config.ml.initial_training, &config.simulator)
            .map_err(|e| ScoreboardError::Train(e.to_string()))?;
    let trained = crate::ml::train::train(
        &data,
        config.ml.model,
        &config.ml,
        &CancellationToken::new(),
    )
    .map_err(|e| ScoreboardError::Train(e.to_string()))?;
    let handle = ModelHandle::new();
    let model: Box<dyn FireModel> = Box::new(trained.model);
    handle.swap(model);
    Ok(Some(handle))
}
