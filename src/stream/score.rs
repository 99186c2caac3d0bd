//! The score stage (the ML hook): predicts the fire probability of every
//! reading with the model its feature vector was computed for. Without a
//! model it records "no model" and leaves the probability empty — it never
//! guesses. Served models count their predictions by class and their
//! inference latency themselves (`smokewatch_predictions_total`,
//! `smokewatch_inference_latency_seconds`).

use super::message::{Batch, Item};
use super::stage::Stage;
use crate::telemetry::names;

/// Scores readings; counts predictions and readings left unscored.
#[derive(Debug, Default)]
pub struct Scorer {
    pub scored: u64,
    /// Readings the model called fire.
    pub fire: u64,
    pub unscored: u64,
}

impl Stage for Scorer {
    fn name(&self) -> &'static str {
        "score"
    }
    fn process(&mut self, batch: &mut Batch) {
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
        self.fire += fire;
    }
    fn report(&self) -> String {
        format!("{} scored, {} without a model", self.scored, self.unscored)
    }
}
