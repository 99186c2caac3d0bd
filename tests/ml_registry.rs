//! The model registry on disk: what a version folder holds, the atomic
//! `current` pointer, and refusal of corrupt or incompatible files.

mod ml_common;

use smokewatch::ml::feature_matrix::FeatureMatrix;
use smokewatch::ml::registry::{Outcome, RegistryError};
use smokewatch::ml::{FireModel, ModelHandle, ModelKind, Promotion, Registry, retrain};
use tokio_util::sync::CancellationToken;

fn trained_registry(dir: &std::path::Path, kinds: &[ModelKind]) -> Vec<String> {
    let config = ml_common::small_config(dir);
    let data = ml_common::training_data(ml_common::history(3_000, 2, 21));
    kinds
        .iter()
        .map(|kind| {
            retrain(
                &config,
                &ModelHandle::new(),
                &data,
                Some(*kind),
                Promotion::Force,
                &CancellationToken::new(),
            )
            .unwrap()
            .version
        })
        .collect()
}

#[test]
fn every_kind_round_trips_with_its_metadata_and_predicts_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let kinds = [
        ModelKind::RandomForest,
        ModelKind::LogisticRegression,
        ModelKind::DecisionTree,
    ];
    let versions = trained_registry(dir.path(), &kinds);
    let registry = Registry::open(dir.path()).unwrap();
    assert_eq!(
        registry.current_version().unwrap().as_deref(),
        Some(versions[2].as_str())
    );
    let data = ml_common::training_data(ml_common::history(500, 1, 99));
    for (version, kind) in versions.iter().zip(kinds) {
        assert!(version.ends_with(kind.key()), "{version}");
        let folder = dir.path().join(version);
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(folder.join("meta.json")).unwrap()).unwrap();
        for key in [
            "version",
            "kind",
            "params",
            "features",
            "training_rows",
            "data",
            "metrics",
            "created_at",
            "model_sha256",
        ] {
            assert!(!meta[key].is_null(), "{key} in meta.json of {version}");
        }
        assert_eq!(meta["kind"], kind.key());
        assert!(meta["data"]["time_from"].is_string() && meta["data"]["time_to"].is_string());
        assert!(meta["metrics"]["f1"].is_number());
        let loaded = registry.load(version).unwrap();
        assert_eq!(&**loaded.version(), version.as_str());
        // Loaded twice, the same numbers.
        let again = registry.load(version).unwrap();
        let rows = FeatureMatrix::build(&data, loaded.feature_spec());
        assert_eq!(loaded.probabilities(&rows.x), again.probabilities(&rows.x));
        let p = loaded.predict(rows.row(0));
        assert!((0.0..=1.0).contains(&p.probability));
    }
    let history = registry.history().unwrap();
    assert_eq!(history.len(), 3);
    assert!(
        history
            .iter()
            .all(|r| r.decision.as_ref().unwrap().outcome == Outcome::Promoted)
    );
    assert_eq!(history.iter().filter(|r| r.current).count(), 1);
}

#[test]
fn corrupt_or_incompatible_entries_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let versions = trained_registry(dir.path(), &[ModelKind::DecisionTree]);
    let registry = Registry::open(dir.path()).unwrap();
    let version = &versions[0];
    let folder = dir.path().join(version);
    let model_json = std::fs::read(folder.join("model.json")).unwrap();
    let meta_json = std::fs::read_to_string(folder.join("meta.json")).unwrap();

    // A flipped byte in model.json: the checksum says so.
    let mut damaged = model_json.clone();
    let i = damaged.len() / 2;
    damaged[i] = if damaged[i] == b'1' { b'2' } else { b'1' };
    std::fs::write(folder.join("model.json"), &damaged).unwrap();
    let err = registry.load(version).unwrap_err();
    assert!(matches!(err, RegistryError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("SHA-256"), "{err}");

    // A tree that points outside itself, with a matching checksum: the
    // structure check refuses it (serving it could panic).
    std::fs::write(folder.join("model.json"), &model_json).unwrap();
    let mut file: serde_json::Value = serde_json::from_slice(&model_json).unwrap();
    file["body"]["tree"]["nodes"][0]["left"] = 999_999.into();
    let bytes = serde_json::to_vec(&file).unwrap();
    std::fs::write(folder.join("model.json"), &bytes).unwrap();
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    let mut meta: serde_json::Value = serde_json::from_str(&meta_json).unwrap();
    meta["model_sha256"] = digest.into();
    std::fs::write(folder.join("meta.json"), meta.to_string()).unwrap();
    let err = registry.load(version).unwrap_err();
    assert!(matches!(err, RegistryError::Incompatible { .. }), "{err}");
    assert!(err.to_string().contains("child index"), "{err}");

    // A newer format version.
    let mut meta: serde_json::Value = serde_json::from_str(&meta_json).unwrap();
    meta["format_version"] = 99.into();
    std::fs::write(folder.join("meta.json"), meta.to_string()).unwrap();
    let err = registry.load(version).unwrap_err();
    assert!(err.to_string().contains("format version 99"), "{err}");

    // Truncated meta.json.
    std::fs::write(folder.join("meta.json"), &meta_json[..meta_json.len() / 2]).unwrap();
    assert!(matches!(
        registry.load(version),
        Err(RegistryError::Corrupt { .. })
    ));
    let history = registry.history().unwrap();
    assert!(
        history[0].problem.is_some(),
        "history shows the broken entry"
    );

    // Names that are not versions never become paths.
    for name in ["../etc", ".hidden", "a/b", ""] {
        assert!(
            matches!(registry.load(name), Err(RegistryError::BadVersionName(_))),
            "{name}"
        );
    }
    // A pointer to a folder that does not exist cannot be set.
    assert!(matches!(
        registry.set_current("nope"),
        Err(RegistryError::NotFound { .. })
    ));
}

#[test]
fn a_taken_version_name_gets_a_suffix() {
    let dir = tempfile::tempdir().unwrap();
    let versions = trained_registry(dir.path(), &[ModelKind::DecisionTree]);
    let registry = Registry::open(dir.path()).unwrap();
    let mut copy = registry.load(&versions[0]).unwrap();
    let decision = registry.history().unwrap()[0].decision.clone().unwrap();
    let saved = registry.save(&mut copy, &decision).unwrap();
    assert_eq!(saved, format!("{}-2", versions[0]));
    assert_eq!(&**copy.version(), saved.as_str());
    assert!(registry.load(&saved).is_ok());
    assert_eq!(registry.history().unwrap().len(), 2);
}
