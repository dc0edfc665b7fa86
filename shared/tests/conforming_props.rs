//! Admission reads valid objects straight into their typed form and keeps the CRD's schema pass for
//! the rest. These properties show that shortcut changes no decision: for randomly broken groups,
//! an object is accepted exactly when the schema accepts it and it reads as an ApplicationGroup,
//! from a JSON tree and from JSON text alike.

use orkestra_shared::admission::{Raw, parse};
use orkestra_shared::schema::application_group;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};

/// A valid group with every kind of field the schema constrains.
fn valid_group(applications: usize) -> Value {
    let apps: Vec<Value> = (0..applications)
        .map(|i| {
            json!({
                "name": format!("app-{i}"),
                "dependencies": if i == 0 { json!([]) } else { json!([format!("app-{}", i - 1)]) },
                "spec": {
                    "chart": {"url": "https://charts.example.com", "name": "web", "version": "^1.0",
                        "authSecretRef": {"name": "creds", "namespace": "orkestra"}},
                    "subcharts": [{"name": "db", "dependencies": []}, {"name": "api", "dependencies": ["db"]}],
                    "release": {"targetNamespace": "web", "timeout": "5m", "interval": "1m",
                        "values": {"replicaCount": 2, "db": {"enabled": true}},
                        "valuesFrom": [{"kind": "ConfigMap", "name": "extra", "valuesKey": "v.yaml", "optional": true}],
                        "install": {"remediation": {"retries": 3}}, "upgrade": {}},
                    "workflow": [
                        {"name": "helmrelease", "type": "helmrelease", "dependencies": []},
                        {"name": "smoke", "type": "custom", "image": "smoke:1", "dependencies": ["helmrelease"],
                            "params": {"depth": 1}}
                    ]
                }
            })
        })
        .collect();
    json!({
        "apiVersion": "orkestra.azure.microsoft.com/v1alpha1",
        "kind": "ApplicationGroup",
        "metadata": {"name": "shop", "labels": {"team": "a"}},
        "spec": {"applications": apps, "interval": "10m"},
        "status": {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True",
            "reason": "Succeeded", "message": "ok", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    })
}

/// Values a mutation writes: every JSON type (null included), empty and non-empty containers, an
/// over-long name, an unknown-field object, an enum in object form.
fn replacement() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!("text")),
        Just(json!("x".repeat(64))),
        Just(json!("")),
        Just(json!(7)),
        Just(json!(2.5)),
        Just(json!(true)),
        Just(json!({})),
        Just(json!({"unknownField": 1})),
        Just(json!({"custom": "x"})),
        Just(json!([])),
        Just(json!(["a"])),
        Just(json!("helmrelease")),
        Just(json!("ConfigMap")),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(Index, Value),
    Remove(Index),
    AddField(Index, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), replacement()).prop_map(|(at, v)| Mutation::Replace(at, v)),
        any::<Index>().prop_map(Mutation::Remove),
        (any::<Index>(), replacement()).prop_map(|(at, v)| Mutation::AddField(at, v)),
    ]
}

/// JSON pointers of every node below the root.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let child_at = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                out.push(child_at.clone());
                pointers(child, child_at, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let child_at = format!("{at}/{i}");
                out.push(child_at.clone());
                pointers(child, child_at, out);
            }
        }
        _ => {}
    }
}

fn apply(object: &mut Value, mutation: &Mutation) {
    let mut all = Vec::new();
    pointers(object, String::new(), &mut all);
    let (index, parent_pointer) = match mutation {
        Mutation::Replace(at, _) | Mutation::Remove(at) | Mutation::AddField(at, _) => {
            let pointer = &all[at.index(all.len())];
            (
                pointer.clone(),
                pointer.rsplit_once('/').map(|(p, _)| p.to_owned()),
            )
        }
    };
    match mutation {
        Mutation::Replace(_, value) => {
            if let Some(slot) = object.pointer_mut(&index) {
                *slot = value.clone();
            }
        }
        Mutation::Remove(_) => {
            let key = index.rsplit('/').next().unwrap_or_default().to_owned();
            match parent_pointer.and_then(|p| object.pointer_mut(&p)) {
                Some(Value::Object(map)) => {
                    map.remove(&key);
                }
                Some(Value::Array(items)) => {
                    if let Ok(i) = key.parse::<usize>() {
                        items.remove(i);
                    }
                }
                _ => {}
            }
        }
        Mutation::AddField(_, value) => {
            if let Some(Value::Object(map)) = object.pointer_mut(&index) {
                map.insert("addedField".to_owned(), value.clone());
            }
        }
    }
}

/// What the full reading alone decides, as the API server would: right apiVersion and kind, no
/// schema error once the nulls the API server prunes are gone, a typed form.
fn full_reading_accepts(object: &Value) -> bool {
    let pruned = application_group().without_pruned_nulls(object);
    object["apiVersion"] == "orkestra.azure.microsoft.com/v1alpha1"
        && object["kind"] == "ApplicationGroup"
        && application_group().errors(&pruned).is_empty()
        && serde_json::from_value::<orkestra_shared::crd::ApplicationGroup>(pruned).is_ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_fast_reading_decides_as_the_schema_does(
        applications in 1usize..3,
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let mut object = valid_group(applications);
        for mutation in &mutations {
            apply(&mut object, mutation);
        }
        let expected = full_reading_accepts(&object);
        prop_assert_eq!(parse(&object).is_ok(), expected, "tree: {}", object);
        let text = object.to_string();
        prop_assert_eq!(parse(Raw::Text(&text)).is_ok(), expected, "text: {}", text);
        if expected {
            prop_assert_eq!(parse(&object).ok(), parse(Raw::Text(&text)).ok());
        }
    }
}

#[test]
fn the_unmutated_group_is_accepted_both_ways() {
    let object = valid_group(3);
    assert!(full_reading_accepts(&object));
    assert!(parse(&object).is_ok());
    assert!(parse(Raw::Text(&object.to_string())).is_ok());
}

#[test]
fn a_null_in_a_field_that_is_not_nullable_is_dropped_as_the_api_server_prunes_it() {
    let mut object = valid_group(1);
    object["spec"]["applications"][0]["spec"]["release"]["values"] = Value::Null;
    let group = parse(&object).expect("accepted");
    assert_eq!(group.spec.applications[0].spec.release.values, None);
    // Next to another error, the full reading drops it too and reports only the real problem.
    object["spec"]["applications"][0]["dependencies"] = json!(5);
    let errors = parse(&object).expect_err("refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "spec.applications[0].dependencies");
    // A required field written as null is missing, as the API server says.
    let mut object = valid_group(1);
    object["spec"]["applications"][0]["name"] = Value::Null;
    let errors = parse(&object).expect_err("refused");
    assert!(
        errors
            .iter()
            .any(|e| e.path == "spec.applications[0]" && e.message.contains("name")),
        "{errors:?}"
    );
}

#[test]
fn text_that_is_not_json_is_an_error_naming_the_problem() {
    let errors = parse(Raw::Text("{\"apiVersion\": ")).expect_err("refused");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].message.starts_with("invalid JSON"), "{errors:?}");
}

#[test]
fn a_status_condition_the_schema_refuses_is_refused() {
    let mut object = valid_group(1);
    let condition = &mut object["status"]["conditions"][0];
    condition.as_object_mut().expect("object").remove("message");
    assert!(!full_reading_accepts(&object));
    let errors = parse(&object).expect_err("refused");
    assert!(
        errors
            .iter()
            .any(|e| e.path.starts_with("status.conditions[0]")),
        "{errors:?}"
    );
}
