//! `config.yaml` is the documentation of every key: it must hold exactly
//! the defaults, and every key must carry a comment.

use smokewatch::app::config::Config;
use std::collections::BTreeSet;
use std::path::Path;

fn repo_config() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config.yaml")).unwrap()
}

fn leaf_paths(value: &serde_yaml::Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let serde_yaml::Value::Mapping(map) = value {
        for (k, v) in map {
            let key = k.as_str().unwrap_or_default();
            let path = if prefix.is_empty() {
                key.to_string()
            } else {
                format!("{prefix}.{key}")
            };
            out.insert(path.clone());
            leaf_paths(v, &path, out);
        }
    }
}

#[test]
fn config_yaml_holds_exactly_the_defaults() {
    let parsed = Config::from_yaml(&repo_config(), Path::new("config.yaml"), Vec::new()).unwrap();
    assert_eq!(parsed, Config::default().with_resolved_paths());
}

#[test]
fn config_yaml_lists_every_key() {
    let file: serde_yaml::Value = serde_yaml::from_str(&repo_config()).unwrap();
    let defaults = serde_yaml::to_value(Config::default()).unwrap();
    let (mut in_file, mut known) = (BTreeSet::new(), BTreeSet::new());
    leaf_paths(&file, "", &mut in_file);
    leaf_paths(&defaults, "", &mut known);
    let missing: Vec<_> = known.difference(&in_file).collect();
    assert!(
        missing.is_empty(),
        "keys missing from config.yaml: {missing:?}"
    );
}

#[test]
fn every_key_in_config_yaml_has_a_comment_above_it() {
    let text = repo_config();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let is_key = !trimmed.starts_with('#')
            && !trimmed.starts_with('-')
            && trimmed.contains(':')
            && !trimmed.is_empty();
        if is_key {
            let above = lines[..i].iter().rev().find(|l| !l.trim().is_empty());
            assert!(
                above.is_some_and(|l| l.trim_start().starts_with('#')),
                "config.yaml line {}: key without a comment: {line}",
                i + 1
            );
        }
    }
}
