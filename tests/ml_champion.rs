//! Champion/challenger: a retrained model that scores worse than the
//! current one on the same held-out later rows is stored as rejected with
//! the reason, and the current model keeps being served.

mod ml_common;

use smokewatch::ml::registry::Outcome;
use smokewatch::ml::train::{EvalRows, evaluate};
use smokewatch::ml::{ModelHandle, Promotion, Registry, retrain};
use tokio_util::sync::CancellationToken;

#[test]
fn a_worse_challenger_is_rejected_and_the_champion_stays() {
    let dir = tempfile::tempdir().unwrap();
    let config = ml_common::small_config(dir.path());
    let handle = ModelHandle::new();
    let ml_common::ChampionAndChallenger {
        champion,
        challenger: outcome,
        challenger_data: data,
    } = ml_common::champion_and_challenger(&config, &handle);
    assert_eq!(champion.decision.reason, "no current model");

    assert_eq!(
        outcome.decision.outcome,
        Outcome::Rejected,
        "{:?}",
        outcome.decision
    );
    let champion_f1 = outcome.champion_metrics.as_ref().unwrap().f1;
    assert!(
        outcome.metrics.f1 < champion_f1 - config.promotion_tolerance,
        "challenger {} vs champion {champion_f1}",
        outcome.metrics.f1
    );
    assert_eq!(
        outcome.decision.champion.as_deref(),
        Some(champion.version.as_str())
    );
    assert!(
        outcome.decision.reason.contains(&champion.version),
        "{}",
        outcome.decision.reason
    );

    // The champion is still served and still current on disk.
    assert_eq!(handle.version().as_deref(), Some(champion.version.as_str()));
    let registry = Registry::open(dir.path()).unwrap();
    assert_eq!(
        registry.current_version().unwrap(),
        Some(champion.version.clone())
    );

    // Both models' F1 were measured on the same rows: recompute them.
    let challenger = registry.load(&outcome.version).unwrap();
    let champion_model = registry.load(&champion.version).unwrap();
    let from = data.len() - outcome.metrics.rows as usize;
    assert_eq!(
        evaluate(&challenger, &data, EvalRows::From(from)),
        outcome.metrics
    );
    assert_eq!(
        evaluate(&champion_model, &data, EvalRows::From(from)).f1,
        champion_f1
    );

    // The history (what the web shows) lists the rejected challenger and why.
    let history = registry.history().unwrap();
    let rejected = history
        .iter()
        .find(|r| r.version == outcome.version)
        .unwrap();
    assert!(!rejected.current);
    let decision = rejected.decision.as_ref().unwrap();
    assert_eq!(decision.outcome, Outcome::Rejected);
    assert!(decision.reason.contains("F1"), "{}", decision.reason);
    assert!(
        history
            .iter()
            .any(|r| r.current && r.version == champion.version)
    );

    // A challenger at least as good (retrained on the clean data) is promoted.
    let again = retrain(
        &config,
        &handle,
        &ml_common::training_data(ml_common::history(5_000, 2, 41)),
        None,
        Promotion::Compare,
        &CancellationToken::new(),
    )
    .unwrap();
    assert!(again.promoted(), "{:?}", again.decision);
    assert_eq!(handle.version().as_deref(), Some(again.version.as_str()));
}
