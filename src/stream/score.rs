//! The score stage (the ML hook): predicts the fire probability of every
//! reading with the model its feature vector was computed for. Without a
//! model it records "no model" and leaves the probability empty — it never
//! guesses.

use super::message::{Batch, Item};
use crate::telemetry::names;
use std::time::Instant;

/// Scores readings; counts predictions and readings left unscored.
#[derive(Debug, Default)]
pub struct Scorer {
    pub scored: u64,
    pub unscored: u64,
}

impl Scorer {
    pub fn process(&mut self, batch: &mut Batch) {
        let readings = batch
            .items
            .iter()
            .filter(|i| matches!(i, Item::Reading(_)))
            .count() as u64;
        if readings == 0 {
            return;
        }
        let Some(model) = batch.vectors.model.clone() else {
            self.unscored += readings;
            metrics::counter!(names::SCORING_SKIPPED, "reason" => "no_model").increment(readings);
            return;
        };
        let started = Instant::now();
        let (mut fire, mut no_fire) = (0u64, 0u64);
        for item in &mut batch.items {
            let Item::Reading(r) = item else { continue };
            let Some(row) = r.vector_row else { continue };
            let prediction = model.predict(batch.vectors.row(row));
            if prediction.fire {
                fire += 1;
            } else {
                no_fire += 1;
            }
            r.fire_probability = Some(prediction.probability);
        }
        self.scored += fire + no_fire;
        if fire + no_fire > 0 {
            let per_reading = started.elapsed().as_secs_f64() / (fire + no_fire) as f64;
            metrics::histogram!(names::INFERENCE_LATENCY).record(per_reading);
        }
        metrics::counter!(names::PREDICTIONS, "class" => "fire").increment(fire);
        metrics::counter!(names::PREDICTIONS, "class" => "no_fire").increment(no_fire);
    }
}
