//! Fire prediction: training and evaluating smartcore models, the on-disk
//! model registry, and hot-swapped serving to the stream and the web.
//!
//! * [`crate::dataset`] (beside, not inside, `ml`) loads labelled readings
//!   from files and the simulator; `ml` only sees [`TrainingData`].
//! * [`feature_matrix`] computes features per device ([`crate::features`]) and
//!   orders rows by event time for the honest time split.
//! * [`forest`], [`linear`] fit the models with smartcore; [`tree`] holds
//!   the compact tree evaluator used for serving.
//! * [`train`] trains and evaluates; [`metrics`] scores.
//! * [`registry`] stores versions; [`retrain`] runs champion/challenger;
//!   [`service`] is the daemon task; [`serving`] the handle readers use.

mod config;
pub mod feature_matrix;
pub mod forest;
pub mod input;
pub mod linear;
pub mod metrics;
pub mod model;
pub mod registry;
pub mod retrain;
pub mod service;
pub mod serving;
pub mod train;
pub mod tree;

pub use crate::dataset::{DataError, TrainingData};
pub use config::{
    FeaturesConfig, ForestConfig, Imputation, LogRegConfig, MlConfig, ModelKind, TreeConfig,
};
pub use model::{ModelMeta, TrainedModel};
pub use registry::{Registry, RegistryError};
pub use retrain::{Promotion, RetrainOutcome, retrain};
pub use service::{Deps, InitialData, spawn};
pub use serving::{FireModel, ModelHandle, Prediction};
pub use train::TrainError;

use crate::telemetry::names;
use std::sync::Mutex;

/// Why an ML operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MlError {
    #[error("loading training data: {0}")]
    Data(#[from] DataError),
    #[error("generating training data: {0}")]
    Generate(#[from] crate::dataset::GenerateError),
    #[error("training: {0}")]
    Train(#[from] TrainError),
    #[error("model registry: {0}")]
    Registry(#[from] RegistryError),
    #[error("background training task: {0}")]
    Task(String),
}

/// The (version, kind) labels last published as the current model.
static PUBLISHED_MODEL: Mutex<Option<(String, String)>> = Mutex::new(None);

/// Sets `smokewatch_model_info{version,kind}` to 1 for `meta`'s model and
/// to 0 for the one it replaces (an info gauge, as Prometheus exporters do).
pub(crate) fn publish_model_info(meta: &ModelMeta) {
    let labels = (meta.version.clone(), meta.kind.key().to_string());
    let mut published = PUBLISHED_MODEL.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((version, kind)) = published.take() {
        ::metrics::gauge!(names::MODEL_INFO, "version" => version, "kind" => kind).set(0.0);
    }
    ::metrics::gauge!(
        names::MODEL_INFO,
        "version" => labels.0.clone(),
        "kind" => labels.1.clone()
    )
    .set(1.0);
    *published = Some(labels);
}
