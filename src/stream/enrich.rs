//! The features stage: keeps each device's [`DeviceFeatures`] and attaches
//! to every reading what later stages read — deltas and z-scores for the
//! detectors, the features rules name, and (when a model is served) the
//! model's feature vector, computed from the same state, so the model sees
//! the numbers it was trained on.
//!
//! The state covers the spans of `features.spans` plus those of the served
//! model's spec; when a newly promoted model needs other spans the device
//! histories restart (logged), since they cannot be recomputed.

use super::message::{Batch, Item, Vectors};
use super::stage::Stage;
use crate::features::{DeviceFeatures, Feature, FeatureKind, FeatureSpec};
use crate::ml::ModelHandle;
use crate::schema::{Channel, DeviceId};
use crate::stream::checkpoint::{CheckpointError, StateSnapshot, StoredPart};
use crate::stream::cow_map::CowMap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// State a checkpoint keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureState {
    spec: FeatureSpec,
    devices: CowMap<DeviceId, DeviceFeatures>,
}

/// Per-device features.
pub struct FeatureStage {
    state: FeatureState,
    spike_span: u32,
    config_spans: Vec<u32>,
    max_gap_secs: u32,
    rule_features: Vec<Feature>,
    /// `None` when ML scoring is off.
    model: Option<ModelHandle>,
    model_version: Option<Arc<str>>,
    /// A device's state before its first reading, for the current spec:
    /// new devices start as a clone of it, so they share its spans.
    fresh: DeviceFeatures,
    scratch: Vec<f64>,
}

impl FeatureStage {
    pub fn new(
        spans: &[u32],
        max_gap_secs: u32,
        spike_span: u32,
        rule_features: Vec<Feature>,
        model: Option<ModelHandle>,
    ) -> Self {
        let mut all_spans = spans.to_vec();
        all_spans.push(spike_span);
        all_spans.extend(rule_features.iter().filter_map(|f| span_of(f.kind)));
        let spec = spec_with(&all_spans, max_gap_secs);
        Self {
            fresh: DeviceFeatures::new(&spec),
            state: FeatureState {
                spec,
                devices: CowMap::default(),
            },
            spike_span,
            config_spans: all_spans,
            max_gap_secs,
            rule_features,
            model,
            model_version: None,
            scratch: Vec::new(),
        }
    }

    pub fn devices(&self) -> usize {
        self.state.devices.len()
    }

    /// Makes the state cover `spec`'s spans (restarting histories if not).
    fn adopt_spec(&mut self, version: &Arc<str>, spec: &FeatureSpec) {
        if self.model_version.as_ref() == Some(version) {
            return;
        }
        self.model_version = Some(version.clone());
        let covered = spec.features.iter().all(|f| {
            span_of(f.kind).is_none_or(|s| {
                self.state
                    .spec
                    .features
                    .iter()
                    .any(|g| span_of(g.kind) == Some(s))
            })
        }) && spec.max_gap_secs == self.state.spec.max_gap_secs;
        if covered {
            return;
        }
        let mut spans = self.config_spans.clone();
        spans.extend(spec.features.iter().filter_map(|f| span_of(f.kind)));
        tracing::warn!(
            model = %version,
            "model needs feature spans or a reset gap the stream did not keep; device histories restart"
        );
        self.state.spec = spec_with(&spans, spec.max_gap_secs);
        self.fresh = DeviceFeatures::new(&self.state.spec);
        self.max_gap_secs = spec.max_gap_secs;
        self.state.devices.clear();
    }
}

fn span_of(kind: FeatureKind) -> Option<u32> {
    match kind {
        FeatureKind::Mean(s) | FeatureKind::Std(s) | FeatureKind::ZScore(s) => Some(s),
        FeatureKind::Raw | FeatureKind::Delta => None,
    }
}

fn spec_with(spans: &[u32], max_gap_secs: u32) -> FeatureSpec {
    let mut spans = spans.to_vec();
    spans.sort_unstable();
    spans.dedup();
    let mut spec = FeatureSpec::engineered(&spans);
    spec.max_gap_secs = max_gap_secs;
    spec
}

impl Stage for FeatureStage {
    fn name(&self) -> &'static str {
        "features"
    }
    /// Updates features and fills signals, rule features and model vectors.
    fn process(&mut self, batch: &mut Batch) {
        let model = self.model.as_ref().and_then(ModelHandle::current);
        if let Some(m) = &model {
            self.adopt_spec(m.version(), m.feature_spec());
        }
        let mut vectors = Vectors {
            width: model.as_ref().map_or(0, |m| m.feature_spec().len()),
            model,
            values: Vec::new(),
        };
        let delta = |c| Feature {
            channel: c,
            kind: FeatureKind::Delta,
        };
        let z = |c| Feature {
            channel: c,
            kind: FeatureKind::ZScore(self.spike_span),
        };
        let mean = |c| Feature {
            channel: c,
            kind: FeatureKind::Mean(self.spike_span),
        };
        let mut rows = 0u32;
        for item in &mut batch.items {
            let Item::Reading(r) = item else { continue };
            let reading = &r.reading;
            let fresh = &self.fresh;
            let features = self
                .state
                .devices
                .get_or_insert_with(&reading.device_id, || fresh.clone());
            features.update(reading.event_time, &reading.values);
            for c in Channel::ALL {
                r.signals.delta[c.index()] = features.value(&delta(c));
                r.signals.z[c.index()] = features.value(&z(c));
                r.signals.dev[c.index()] = reading
                    .values
                    .get(c)
                    .map_or(f64::NAN, |v| v - features.value(&mean(c)));
            }
            for (slot, f) in r.rule_features.iter_mut().zip(&self.rule_features) {
                *slot = features.value(f);
            }
            if let Some(m) = &vectors.model {
                features.vector_into(m.feature_spec(), &mut self.scratch);
                vectors.values.extend_from_slice(&self.scratch);
                r.vector_row = Some(rows);
                rows += 1;
            }
        }
        batch.vectors = vectors;
    }
    fn snapshot(&mut self) -> Option<Box<dyn StateSnapshot>> {
        Some(Box::new(FeatureState {
            spec: self.state.spec.clone(),
            devices: self.state.devices.checkpoint_snapshot(),
        }))
    }
    fn restore(&mut self, part: StoredPart<'_>) -> Result<(), CheckpointError> {
        self.state = part.decode()?;
        self.fresh = DeviceFeatures::new(&self.state.spec);
        Ok(())
    }
    fn report(&self) -> String {
        format!("{} devices", self.devices())
    }
}
