//! What the Model page and `GET /api/model` show: the model served now
//! (from the [`crate::ml::ModelHandle`]) with its evaluation, read from the
//! on-disk registry (`meta.json`: metrics, confusion matrix, feature
//! importances), and the registry's whole history, rejected challengers
//! included. Both the page and the API are built from [`ModelView`], so
//! they cannot disagree.

use crate::ml::ModelMeta;
use crate::ml::registry::{ModelRecord, Registry};
use crate::web::Deps;
use serde::Serialize;

/// The model served and the registry's history.
#[derive(Debug, Clone, Serialize)]
pub struct ModelView {
    /// `ml.enabled`: whether the daemon follows the registry.
    pub ml_enabled: bool,
    /// A model is served now.
    pub loaded: bool,
    /// Version of the model served now, e.g. `20261123T101500Z-rf`; `None` when none is loaded.
    pub version: Option<String>,
    /// Feature names the served model reads, in order.
    pub features: Vec<String>,
    /// The served model's registry entry (metrics, confusion matrix,
    /// feature importances); `None` when it is not in the registry.
    pub current: Option<ModelMeta>,
    /// Every registry entry, newest first, with its promotion decision.
    pub history: Vec<ModelRecord>,
    /// Why the registry could not be read, when it could not.
    pub registry_problem: Option<String>,
}

impl ModelView {
    /// Reads the registry; blocking file I/O (call from `spawn_blocking`).
    pub fn read(deps: &Deps) -> ModelView {
        let model = deps.model.current();
        let version = model.as_ref().map(|m| m.version().to_string());
        let features = model
            .as_ref()
            .map(|m| m.feature_spec().names())
            .unwrap_or_default();
        let dir = &deps.sections.model_dir;
        // Reading must not create the registry folder (Registry::open does).
        let (history, registry_problem) = if !dir.is_dir() {
            (Vec::new(), None)
        } else {
            match Registry::open(dir).and_then(|r| r.history()) {
                Ok(h) => (h, None),
                Err(e) => (Vec::new(), Some(e.to_string())),
            }
        };
        let current = version.as_deref().and_then(|v| {
            history
                .iter()
                .find(|r| r.version == v)
                .and_then(|r| r.meta.clone())
        });
        ModelView {
            ml_enabled: deps.sections.ml_enabled,
            loaded: model.is_some(),
            version,
            features,
            current,
            history,
            registry_problem,
        }
    }

    /// [`Self::read`] off the async runtime.
    pub async fn load(deps: &Deps) -> ModelView {
        let deps = deps.clone();
        let fallback = deps.clone();
        match tokio::task::spawn_blocking(move || ModelView::read(&deps)).await {
            Ok(view) => view,
            Err(e) => ModelView {
                registry_problem: Some(format!("reading the registry: {e}")),
                ..ModelView::served_only(&fallback)
            },
        }
    }

    fn served_only(deps: &Deps) -> ModelView {
        let model = deps.model.current();
        ModelView {
            ml_enabled: deps.sections.ml_enabled,
            loaded: model.is_some(),
            version: model.as_ref().map(|m| m.version().to_string()),
            features: model
                .as_ref()
                .map(|m| m.feature_spec().names())
                .unwrap_or_default(),
            current: None,
            history: Vec::new(),
            registry_problem: None,
        }
    }
}
