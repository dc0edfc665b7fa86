//! The mutating webhook's patch is made from what an object leaves out (`defaults::patch`), not by
//! comparing the whole defaulted object with the one sent. This property shows the shortcut makes
//! the same object as that comparison (the reference: read the group, apply the defaults, diff the
//! written-out spec against the sent one, keep additions and replacements) for groups where every
//! field a default depends on is, at random, absent, null, empty or set.

#![allow(clippy::expect_used)] // a failed expectation is the test failure

use orkestra_shared::admission::{mutate, parse};
use orkestra_shared::defaults;
use proptest::prelude::*;
use serde_json::{Value, json};

/// The reference patch: a diff of the whole defaulted spec against the sent one; `None` when the
/// object is no ApplicationGroup.
fn reference_patch(object: &Value) -> Option<json_patch::Patch> {
    use json_patch::PatchOperation::{Add, Replace};
    let mut group = parse(object).ok()?;
    defaults::apply(&mut group.spec);
    let defaulted = serde_json::to_value(&group.spec).expect("written out");
    let spec = object.get("spec").unwrap_or(&Value::Null);
    Some(json_patch::Patch(
        json_patch::diff(spec, &defaulted)
            .0
            .into_iter()
            .filter_map(|op| match op {
                Add(mut add) => {
                    add.path.push_front("spec");
                    Some(Add(add))
                }
                Replace(mut replace) => {
                    replace.path.push_front("spec");
                    Some(Replace(replace))
                }
                _ => None,
            })
            .collect(),
    ))
}

/// How a field is written: left out, `null`, the empty form (`""`, `[]`) or the given value.
fn written(value: Value, empty: Value) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        Just(Some(empty)),
        Just(Some(value)),
    ]
}

fn put(object: &mut Value, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        object[key] = value;
    }
}

fn node(name: &'static str) -> impl Strategy<Value = Value> {
    written(json!([]), json!([])).prop_map(move |dependencies| {
        let mut node = json!({"name": name});
        put(&mut node, "dependencies", dependencies);
        node
    })
}

fn executor(name: &'static str) -> impl Strategy<Value = Value> {
    (
        written(json!([]), json!([])),
        prop_oneof![
            Just(None),
            Just(Some(Value::Null)),
            Just(Some(json!("helmrelease")))
        ],
    )
        .prop_map(move |(dependencies, kind)| {
            let mut executor = json!({"name": name});
            put(&mut executor, "dependencies", dependencies);
            put(&mut executor, "type", kind);
            executor
        })
}

fn application(i: usize) -> impl Strategy<Value = Value> {
    (
        written(json!([]), json!([])),
        written(json!("^1.0"), json!("")),
        written(json!("10m"), json!("10m")),
        written(json!("1m"), json!("1m")),
        prop::option::of(prop::collection::vec(node("db"), 0..3)),
        prop_oneof![
            Just(None),
            Just(Some(Value::Null)),
            Just(Some(json!([]))),
            prop::collection::vec(executor("deploy"), 1..3).prop_map(|e| Some(Value::Array(e))),
        ],
    )
        .prop_map(
            move |(dependencies, version, timeout, interval, subcharts, workflow)| {
                let mut chart = json!({"url": "https://charts.example.com", "name": "web"});
                put(&mut chart, "version", version);
                let mut release = json!({"targetNamespace": "web"});
                put(&mut release, "timeout", timeout);
                put(&mut release, "interval", interval);
                let mut spec = json!({"chart": chart, "release": release});
                put(&mut spec, "subcharts", subcharts.map(Value::Array));
                put(&mut spec, "workflow", workflow);
                let mut app = json!({"name": format!("app-{i}"), "spec": spec});
                put(&mut app, "dependencies", dependencies);
                app
            },
        )
}

fn group() -> impl Strategy<Value = Value> {
    (1usize..4)
        .prop_flat_map(|n| (0..n).map(application).collect::<Vec<_>>())
        .prop_map(|apps| {
            json!({
                "apiVersion": "orkestra.azure.microsoft.com/v1alpha1",
                "kind": "ApplicationGroup",
                "metadata": {"name": "shop"},
                "spec": {"applications": apps},
            })
        })
}

fn patched(object: &Value, patch: &json_patch::Patch) -> Value {
    let mut object = object.clone();
    json_patch::patch(&mut object, patch).expect("the patch applies");
    object
}

proptest! {
    #[test]
    fn the_patch_of_what_is_left_out_makes_the_fully_defaulted_object(object in group()) {
        let text = serde_json::to_string(&object).expect("text");
        let patches = [mutate(&object), mutate(text.as_str())];
        match reference_patch(&object) {
            // NB: some nulls are refused (`dependencies: null`); the patch is refused alike.
            None => prop_assert!(patches.iter().all(Result::is_err)),
            Some(reference) => {
                for patch in patches {
                    let patch = patch.expect("a patch");
                    prop_assert_eq!(patched(&object, &patch), patched(&object, &reference));
                }
            }
        }
    }
}
