//! The CRD in chart/crds is the one generated from the Rust types, and it is a structural schema.

#![allow(clippy::expect_used)] // a failed expectation is the test failure

use serde_json::Value;

const CHECKED_IN: &str = include_str!("../../chart/crds/applicationgroups.yaml");

#[test]
fn checked_in_crd_matches_the_generated_one() {
    assert!(
        CHECKED_IN == orkestra_shared::crd_yaml(),
        "chart/crds/applicationgroups.yaml is stale: run `cargo run -p orkestra-shared --bin crdgen > chart/crds/applicationgroups.yaml`"
    );
}

/// The API server's structural-schema rules that generated schemas can break: every node has a
/// type (unless it preserves unknown fields or is int-or-string), and no `$ref` survives.
fn structural_problems(schema: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(map) = schema.as_object() else {
        return;
    };
    let preserves = map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if !map.contains_key("type") && !preserves && !map.contains_key("x-kubernetes-int-or-string") {
        problems.push(format!("{path}: no type"));
    }
    for forbidden in ["$ref", "oneOf", "additionalItems", "definitions"] {
        if map.contains_key(forbidden) {
            problems.push(format!("{path}: {forbidden}"));
        }
    }
    if let Some(Value::Object(properties)) = map.get("properties") {
        for (name, child) in properties {
            structural_problems(child, &format!("{path}.{name}"), problems);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child @ Value::Object(_)) = map.get(key) {
            structural_problems(child, &format!("{path}[]"), problems);
        }
    }
}

#[test]
fn generated_schema_is_structural_with_user_documentation() {
    let crd: Value = serde_norway::from_str(CHECKED_IN).expect("CRD YAML");
    let version = &crd["spec"]["versions"][0];
    assert_eq!(crd["spec"]["scope"], "Cluster");
    assert_eq!(
        crd["spec"]["names"]["shortNames"],
        serde_json::json!(["ag", "appgroup"])
    );
    assert_eq!(version["subresources"]["status"], serde_json::json!({}));
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(columns, ["Ready", "Reason", "Message", "RolledBack", "Age"]);

    let schema = &version["schema"]["openAPIV3Schema"];
    let mut problems = Vec::new();
    structural_problems(schema, "", &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
    let chart = &schema["properties"]["spec"]["properties"]["applications"]["items"]["properties"]
        ["spec"]["properties"]["chart"];
    assert!(
        chart["properties"]["version"]["description"]
            .as_str()
            .expect("doc")
            .contains("semver range")
    );
}
