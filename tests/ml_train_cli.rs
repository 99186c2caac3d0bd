//! `smokewatch train` then `smokewatch evaluate` on a generated file in the
//! data set's exact CSV format: the file trains as-is, both commands print
//! the full metric set on the time-ordered split, and the printed metrics
//! match a confusion matrix recomputed here from the stored model.

mod common;
mod ml_common;

use smokewatch::ml::feature_matrix::FeatureMatrix;
use smokewatch::ml::{MlConfig, Registry, TrainingData};
use smokewatch::schema::csv::DATASET_HEADER;
use std::collections::BTreeMap;

const METRICS: [&str; 12] = [
    "rows",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "true_positive",
    "false_positive",
    "true_negative",
    "false_negative",
    "support_fire",
    "support_no_fire",
];

fn parse(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn number(lines: &BTreeMap<String, String>, key: &str) -> f64 {
    lines
        .get(key)
        .unwrap_or_else(|| panic!("{key} missing in {lines:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number: {lines:?}"))
}

#[test]
fn train_then_evaluate_print_metrics_that_match_a_recomputed_confusion_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    let csv = dir.path().join("smoke_detection_iot.csv");
    let mut readings = ml_common::history(6_000, 1, 11);
    ml_common::flip_labels(&mut readings, 0.08, 3);
    ml_common::write_csv(&csv, &readings);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.starts_with(&format!("{DATASET_HEADER}\r\n")),
        "exact header, CRLF"
    );
    std::fs::write(
        dir.path().join("config.yaml"),
        ml_common::small_config_yaml(&models),
    )
    .unwrap();

    let out = common::smokewatch(dir.path())
        .args(["--config", "config.yaml", "train", "--data"])
        .arg(&csv)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let trained = parse(&stdout);
    for name in METRICS {
        assert!(trained.contains_key(name), "train prints {name}: {stdout}");
    }
    assert_eq!(trained["decision"], "promoted", "{stdout}");
    assert_eq!(trained["model"], "rf");
    assert!(stderr.contains("6000 rows read, 6000 used"), "{stderr}");

    // Recompute from the stored model: same rows (the latest 20 % by
    // event time), same features, our own counting.
    let config = MlConfig::default();
    let registry = Registry::open(&models).unwrap();
    let model = registry.load_current().unwrap().expect("a current model");
    assert_eq!(model.meta().version, trained["version"]);
    let data = TrainingData::load(&csv).unwrap();
    let all = FeatureMatrix::build(&data, &model.meta().features);
    let test = all.rows(all.split_index(config.test_fraction)..all.len());
    assert!(
        test.times[0] >= all.times[all.len() - test.len() - 1],
        "the latest rows"
    );
    let p = model.probabilities(&test.x);
    let (mut tp, mut fp, mut tn, mut fn_) = (0u64, 0u64, 0u64, 0u64);
    for (p, fire) in p.iter().zip(&test.y) {
        match (*p > 0.5, *fire) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, false) => tn += 1,
            (false, true) => fn_ += 1,
        }
    }
    assert!(
        fp + fn_ > 0 && tp > 0 && tn > 0,
        "noisy labels give a real confusion matrix"
    );
    let (tp_f, fp_f, tn_f, fn_f) = (tp as f64, fp as f64, tn as f64, fn_ as f64);
    let precision = tp_f / (tp_f + fp_f);
    let recall = tp_f / (tp_f + fn_f);
    let expected = [
        ("true_positive", tp_f),
        ("false_positive", fp_f),
        ("true_negative", tn_f),
        ("false_negative", fn_f),
        ("rows", (tp + fp + tn + fn_) as f64),
        ("support_fire", tp_f + fn_f),
        ("support_no_fire", tn_f + fp_f),
        ("accuracy", (tp_f + tn_f) / (tp_f + fp_f + tn_f + fn_f)),
        ("precision", precision),
        ("recall", recall),
        ("f1", 2.0 * precision * recall / (precision + recall)),
    ];
    for (name, value) in expected {
        let printed = number(&trained, name);
        assert!(
            (printed - value).abs() < 5e-5,
            "{name}: printed {printed}, recomputed {value}"
        );
    }
    // ROC-AUC by brute force over every (fire, no-fire) pair.
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (pi, yi) in p.iter().zip(&test.y) {
        for (pj, yj) in p.iter().zip(&test.y) {
            if *yi && !*yj {
                pairs += 1.0;
                wins += if pi > pj {
                    1.0
                } else if pi == pj {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    let auc = number(&trained, "roc_auc");
    assert!(
        (auc - wins / pairs).abs() < 5e-5,
        "roc_auc {auc} vs {}",
        wins / pairs
    );

    // `evaluate` on the same file scores the same held-out rows.
    let out = common::smokewatch(dir.path())
        .args(["--config", "config.yaml", "evaluate", "--data"])
        .arg(&csv)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let evaluated = parse(&stdout);
    assert_eq!(evaluated["model"], trained["version"]);
    for name in METRICS {
        assert_eq!(evaluated[name], trained[name], "{name}");
    }
    // --all scores every row.
    let out = common::smokewatch(dir.path())
        .args(["--config", "config.yaml", "evaluate", "--all", "--data"])
        .arg(&csv)
        .output()
        .unwrap();
    let all_rows = parse(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(all_rows["rows"], "6000");
}

#[test]
fn train_refuses_a_file_that_is_not_the_data_set_format() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("other.csv");
    std::fs::write(&csv, "UTC,Temperature\n1,2\n").unwrap();
    let out = common::smokewatch(dir.path())
        .args(["train", "--data"])
        .arg(&csv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("header does not match"), "{stderr}");
}
