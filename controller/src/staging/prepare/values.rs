//! Helm values: merging (as Helm coalesces them) and checking against `values.schema.json`.

use serde_json::{Map, Value};

use crate::staging::error::StagingError;
use crate::staging::prepare::chart::Chart;

/// A chart's values schema.
pub const SCHEMA_FILE: &str = "values.schema.json";

/// Merges `overlay` into `base`: maps merge key by key, anything else in `overlay` replaces what
/// is in `base`, and an explicit `null` deletes the key (Helm's rule for user values).
pub fn merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                if value.is_null() {
                    base.remove(key);
                } else if let Some(existing) = base.get_mut(key) {
                    merge(existing, value);
                } else {
                    base.insert(key.clone(), value.clone());
                }
            }
        }
        (base, overlay) => *base = overlay.clone(),
    }
}

/// The values a subchart sees inside its parent, made standalone: the subchart's defaults, then
/// the parent's section for it (`parent[key]`), with `global` merged from both (parent wins).
pub fn subchart_values(sub_defaults: &Value, parent: &Value, key: &str) -> Value {
    let mut values = sub_defaults.clone();
    if !values.is_object() {
        values = Value::Object(Map::new());
    }
    if let Some(section) = parent.get(key).filter(|v| v.is_object()) {
        merge(&mut values, section);
    }
    if let Some(global) = parent.get("global").filter(|v| v.is_object())
        && let Value::Object(map) = &mut values
    {
        let slot = map
            .entry("global")
            .or_insert_with(|| Value::Object(Map::new()));
        merge(slot, global);
    }
    values
}

/// Checks the values a release would get (the chart's defaults merged with `release_values`)
/// against the chart's `values.schema.json`, when it has one. Every violation is reported with
/// its JSON path (`/replicas: "three" is not of type "integer"`).
pub fn check_schema(chart: &Chart, release_values: Option<&Value>) -> Result<(), StagingError> {
    let Some(raw) = chart.files.get(SCHEMA_FILE) else {
        return Ok(());
    };
    let invalid = |reason: String| StagingError::invalid_chart(&chart.name, reason);
    let schema: Value = serde_json::from_slice(raw)
        .map_err(|err| invalid(format!("values.schema.json is not JSON: {err}")))?;
    let validator = match jsonschema::validator_for(&schema) {
        Ok(validator) => validator,
        // NB: Helm fetches such references when it installs; staging does not reach out to the
        // hosts a chart names, so it leaves the check to Helm rather than refuse the chart.
        Err(err) if refers_remotely(&schema) => {
            tracing::warn!(chart = %chart.name, error = %err,
                "values.schema.json refers to schemas on other hosts: the values are checked by Helm at install, not at staging");
            return Ok(());
        }
        Err(err) => {
            return Err(invalid(format!(
                "values.schema.json is not a valid JSON schema: {err}"
            )));
        }
    };
    let mut values = chart.values()?;
    if let Some(overlay) = release_values {
        merge(&mut values, overlay);
    }
    let violations: Vec<String> = validator
        .iter_errors(&values)
        .map(|err| {
            let path = err.instance_path().to_string();
            let path = if path.is_empty() {
                "/".to_owned()
            } else {
                path
            };
            format!("{path}: {err}")
        })
        .collect();
    if violations.is_empty() {
        Ok(())
    } else {
        Err(StagingError::InvalidValues {
            chart: chart.name.clone(),
            violations,
        })
    }
}

/// `values.schema.json` changed to accept the `<key>.enabled: false` that turns each of `keys`
/// off in a split parent: a schema that closes the values or a section
/// (`additionalProperties: false`) would otherwise refuse the parent's own values, in staging's
/// check and in Helm's. `None` when nothing needs to change, or the schema is not a JSON object.
pub fn schema_accepting_switches(raw: &[u8], keys: &[&str]) -> Option<Vec<u8>> {
    let mut schema: Value = serde_json::from_slice(raw).ok()?;
    let closed =
        |node: &Map<String, Value>| node.get("additionalProperties") == Some(&Value::Bool(false));
    let mut changed = false;
    let root = schema.as_object_mut()?;
    for key in keys {
        let root_closed = closed(root);
        let properties = root.get("properties").and_then(Value::as_object);
        if root_closed && properties.is_none_or(|p| !p.contains_key(*key)) {
            let properties = root
                .entry("properties")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(properties) = properties.as_object_mut() {
                properties.insert((*key).to_owned(), serde_json::json!({"type": "object"}));
                changed = true;
            }
        }
        let section = root
            .get_mut("properties")
            .and_then(|p| p.get_mut(*key))
            .and_then(Value::as_object_mut);
        if let Some(section) = section
            && closed(section)
        {
            let properties = section
                .entry("properties")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(properties) = properties.as_object_mut()
                && !properties.contains_key("enabled")
            {
                properties.insert("enabled".into(), serde_json::json!({"type": "boolean"}));
                changed = true;
            }
        }
    }
    changed
        .then(|| serde_json::to_vec_pretty(&schema).ok())
        .flatten()
}

/// Whether `schema` has a `$ref` to an http(s) URL.
fn refers_remotely(schema: &Value) -> bool {
    match schema {
        Value::Object(map) => map.iter().any(|(key, value)| {
            (key == "$ref"
                && value
                    .as_str()
                    .is_some_and(|r| r.starts_with("http://") || r.starts_with("https://")))
                || refers_remotely(value)
        }),
        Value::Array(items) => items.iter().any(refers_remotely),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_closed_schema_takes_the_switches_of_split_subcharts() {
        let schema = br#"{"type": "object", "additionalProperties": false,
            "properties": {"db": {"type": "object", "additionalProperties": false}}}"#;
        let changed = schema_accepting_switches(schema, &["db", "cache"]).unwrap();
        let changed: Value = serde_json::from_slice(&changed).unwrap();
        assert_eq!(
            changed["properties"]["db"]["properties"]["enabled"],
            json!({"type": "boolean"})
        );
        assert_eq!(changed["properties"]["cache"], json!({"type": "object"}));
        let validator = jsonschema::validator_for(&changed).unwrap();
        assert!(
            validator.is_valid(&json!({"db": {"enabled": false}, "cache": {"enabled": false}}))
        );
        // An open schema needs nothing.
        assert_eq!(
            schema_accepting_switches(br#"{"type": "object"}"#, &["db"]),
            None
        );
    }

    #[test]
    fn merge_follows_helm_coalescing() {
        let mut base = json!({"a": {"b": 1, "c": 2}, "list": [1, 2], "gone": 1});
        merge(
            &mut base,
            &json!({"a": {"c": 3}, "list": [9], "gone": null, "new": true}),
        );
        assert_eq!(
            base,
            json!({"a": {"b": 1, "c": 3}, "list": [9], "new": true})
        );
    }

    #[test]
    fn subchart_values_take_the_parent_section_and_globals() {
        let sub = json!({"replicas": 1, "global": {"env": "dev", "sub": true}});
        let parent = json!({"db": {"replicas": 3}, "global": {"env": "prod"}, "other": {"x": 1}});
        assert_eq!(
            subchart_values(&sub, &parent, "db"),
            json!({"replicas": 3, "global": {"env": "prod", "sub": true}})
        );
    }
}
