//! `SMOKEWATCH__SECTION__KEY=value` overrides, applied to the YAML tree
//! before it is typed, so an override is checked exactly like the file.

use super::{ConfigIssue, ENV_PREFIX};
use serde_yaml::{Mapping, Value};
use std::collections::BTreeMap;

/// Dotted key path → the variable that set it.
pub(super) type Origins = BTreeMap<String, String>;

/// Writes every `SMOKEWATCH__…` variable of `vars` into `tree`. The value is
/// read as a YAML scalar, so `true`, `8080` and `[a, b]` get their types and
/// `30s` stays a string.
pub(super) fn apply_overrides(
    tree: &mut Value,
    vars: impl IntoIterator<Item = (String, String)>,
    issues: &mut Vec<ConfigIssue>,
) -> Origins {
    let mut origins = Origins::new();
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(name, _)| name.starts_with(ENV_PREFIX))
        .collect();
    // Deterministic order, whatever the environment's.
    vars.sort();
    for (name, raw) in vars {
        let path: Vec<String> = name[ENV_PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if path.iter().any(String::is_empty) {
            issues.push(ConfigIssue {
                key: path.join("."),
                reason: "environment variable name has an empty key segment".into(),
                from_env: Some(name),
            });
            continue;
        }
        let key = path.join(".");
        let value = parse_scalar(&raw);
        if let Err(reason) = set_path(tree, &path, value) {
            issues.push(ConfigIssue {
                key,
                reason,
                from_env: Some(name),
            });
            continue;
        }
        origins.insert(key, name);
    }
    origins
}

/// The variable behind `key`, or behind a key above or below it.
pub(super) fn origin_of(origins: &Origins, key: &str) -> Option<String> {
    origins.iter().find_map(|(path, var)| {
        let related = key == path
            || key.starts_with(&format!("{path}."))
            || path.starts_with(&format!("{key}."));
        related.then(|| var.clone())
    })
}

fn parse_scalar(raw: &str) -> Value {
    if raw.is_empty() {
        return Value::String(String::new());
    }
    serde_yaml::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

fn set_path(tree: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let mut node = tree;
    for (depth, segment) in path.iter().enumerate() {
        if node.is_null() {
            *node = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(map) = node else {
            return Err(format!(
                "cannot set a key below {}: it is not a section",
                path[..depth].join(".")
            ));
        };
        let key = Value::String(segment.clone());
        if depth + 1 == path.len() {
            map.insert(key, value);
            return Ok(());
        }
        node = map.entry(key).or_insert(Value::Null);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_keys_are_created_and_typed() {
        let mut tree: Value = serde_yaml::from_str("web:\n  port: 1\n").unwrap();
        let mut issues = vec![];
        let origins = apply_overrides(
            &mut tree,
            vec![
                ("SMOKEWATCH__WEB__PORT".into(), "2".into()),
                ("SMOKEWATCH__STREAM__WINDOW__SIZE".into(), "30s".into()),
                (
                    "SMOKEWATCH__KAFKA__BOOTSTRAP_SERVERS".into(),
                    "[a:1, b:2]".into(),
                ),
            ],
            &mut issues,
        );
        assert!(issues.is_empty());
        assert_eq!(tree["web"]["port"], Value::from(2));
        assert_eq!(tree["stream"]["window"]["size"], Value::from("30s"));
        assert_eq!(tree["kafka"]["bootstrap_servers"][1], Value::from("b:2"));
        assert_eq!(
            origin_of(&origins, "web.port").as_deref(),
            Some("SMOKEWATCH__WEB__PORT")
        );
        assert_eq!(origin_of(&origins, "web.host"), None);
    }

    #[test]
    fn setting_below_a_scalar_is_an_issue() {
        let mut tree: Value = serde_yaml::from_str("web: 5\n").unwrap();
        let mut issues = vec![];
        apply_overrides(
            &mut tree,
            vec![("SMOKEWATCH__WEB__PORT".into(), "2".into())],
            &mut issues,
        );
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].key, "web.port");
    }
}
