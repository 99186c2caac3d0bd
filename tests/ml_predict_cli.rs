//! `smokewatch predict`: one JSON reading or JSON lines on stdin → class,
//! probability, model version; bad input names the field and exits 2.

mod common;
mod ml_common;

use smokewatch::ml::{ModelHandle, Promotion, retrain};
use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};
use tokio_util::sync::CancellationToken;

const READING: &str = r#"{"temperature_c":20.0,"humidity_pct":57.36,"tvoc_ppb":0,"eco2_ppm":400,"raw_h2":12306,"raw_ethanol":18520,"pressure_hpa":939.735,"pm1_0":0.0,"pm2_5":0.0,"nc0_5":0.0,"nc1_0":0.0,"nc2_5":0.0}"#;

/// A folder with config.yaml and a registry holding one current model.
fn setup() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    let config = ml_common::small_config(&models);
    let data = ml_common::training_data(ml_common::history(3_000, 2, 5));
    let outcome = retrain(
        &config,
        &ModelHandle::new(),
        &data,
        None,
        Promotion::Compare,
        &CancellationToken::new(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        ml_common::small_config_yaml(&models),
    )
    .unwrap();
    (dir, outcome.version)
}

fn predict(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = common::smokewatch(dir);
    cmd.args(["--config", "config.yaml", "predict"]).args(args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

#[test]
fn one_reading_as_argument_gives_class_probability_and_version() {
    let (dir, version) = setup();
    let out = predict(dir.path(), &[READING], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["model_version"], version.as_str());
    let p = v["probability"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p));
    assert_eq!(v["fire"], p > 0.5);
    assert_eq!(v["class"], if p > 0.5 { "fire" } else { "no_fire" });
}

#[test]
fn json_lines_are_scored_line_by_line_and_bad_lines_name_line_and_field() {
    let (dir, _) = setup();
    let bad = READING.replace("\"pm2_5\":0.0", "\"pm2_5\":NaN");
    let stdin = format!("{READING}\n{bad}\n\n{READING}\n");
    let out = predict(dir.path(), &[], Some(&stdin));
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().count(),
        2,
        "the good lines are still scored: {stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 2") && stderr.contains("pm2_5"),
        "{stderr}"
    );
}

#[test]
fn bad_input_exits_2_naming_the_field_never_panics() {
    let (dir, _) = setup();
    let cases = [
        (
            READING.replace("\"tvoc_ppb\":0,", ""),
            "tvoc_ppb",
            "missing",
        ),
        (
            READING.replace("\"raw_h2\":12306", "\"raw_h2\":\"high\""),
            "raw_h2",
            "wrong type",
        ),
        (
            READING.replace("\"nc1_0\":0.0", "\"nc1_0\":NaN"),
            "nc1_0",
            "not a finite number",
        ),
        (
            READING.replace("\"humidity_pct\":57.36", "\"humidity_pct\":157.36"),
            "humidity_pct",
            "outside the physical range",
        ),
        ("not json".to_string(), "not valid JSON", "not valid JSON"),
    ];
    for (input, field, why) in cases {
        let out = predict(dir.path(), &[&input], None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{input}: {stderr}");
        assert!(
            stderr.contains(field) && stderr.contains(why),
            "{input}: {stderr}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn without_a_model_predict_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::write(
        dir.path().join("config.yaml"),
        ml_common::small_config_yaml(&models),
    )
    .unwrap();
    let out = predict(dir.path(), &[READING], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no model"));
}
