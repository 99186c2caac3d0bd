//! How the rest of the daemon uses a model: through a [`ModelHandle`],
//! read lock-free by the stream's scoring stage and the web predictor, and
//! swapped atomically when a new model is promoted. A swap never pauses or
//! drops a reading: a reader holds the `Arc` of the model it started with.

use crate::features::FeatureSpec;
use arc_swap::ArcSwapOption;
use std::sync::Arc;

/// A fire prediction for one feature vector.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Prediction {
    /// The model's verdict at its decision threshold.
    pub fire: bool,
    /// Probability of fire, 0–1.
    pub probability: f64,
    /// Version of the model that made the prediction.
    pub model_version: Arc<str>,
}

/// A trained fire model, ready to serve.
pub trait FireModel: Send + Sync {
    /// Registry version, e.g. `20261123T101500Z-rf`.
    fn version(&self) -> &Arc<str>;
    /// The features the model reads, in the order [`FireModel::predict`]
    /// expects them (computed with [`crate::features`]).
    fn feature_spec(&self) -> &FeatureSpec;
    /// Predicts from one feature vector; NaN marks a missing value, which
    /// the model imputes the way it was trained to.
    fn predict(&self, features: &[f64]) -> Prediction;
}

/// The model currently served. Cheap to clone; every clone sees swaps.
#[derive(Clone, Default)]
pub struct ModelHandle {
    current: Arc<ArcSwapOption<Box<dyn FireModel>>>,
}

impl ModelHandle {
    pub fn new() -> Self {
        Self::default()
    }

    /// The model to use for the next prediction(s); `None` until one is
    /// trained or loaded ("no model" — callers must not guess).
    pub fn current(&self) -> Option<Arc<Box<dyn FireModel>>> {
        self.current.load_full()
    }

    /// Makes `model` current for every later `current()` call.
    pub fn swap(&self, model: Box<dyn FireModel>) {
        self.current.store(Some(Arc::new(model)));
    }

    /// Version of the current model, if any.
    pub fn version(&self) -> Option<Arc<str>> {
        self.current().map(|m| m.version().clone())
    }
}

impl std::fmt::Debug for ModelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelHandle")
            .field("version", &self.version())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Constant {
        version: Arc<str>,
        spec: FeatureSpec,
        p: f64,
    }

    impl FireModel for Constant {
        fn version(&self) -> &Arc<str> {
            &self.version
        }
        fn feature_spec(&self) -> &FeatureSpec {
            &self.spec
        }
        fn predict(&self, _features: &[f64]) -> Prediction {
            Prediction {
                fire: self.p >= 0.5,
                probability: self.p,
                model_version: self.version.clone(),
            }
        }
    }

    #[test]
    fn readers_keep_their_model_while_a_swap_happens() {
        let handle = ModelHandle::new();
        assert!(handle.current().is_none());
        handle.swap(Box::new(Constant {
            version: "v1".into(),
            spec: FeatureSpec::raw(),
            p: 0.2,
        }));
        let held = handle.current().unwrap();
        handle.swap(Box::new(Constant {
            version: "v2".into(),
            spec: FeatureSpec::raw(),
            p: 0.9,
        }));
        assert_eq!(&**held.version(), "v1", "an in-flight reader keeps v1");
        let next = handle.clone().current().unwrap();
        assert_eq!(&**next.version(), "v2");
        assert!(next.predict(&[]).fire);
    }
}
