//! Every ApplicationGroup that Azure Orkestra's own CRD accepts is accepted by Orkestra, except where
//! a documented rule (README, "Coming from Azure Orkestra") refuses at admission what Azure Orkestra
//! only failed on at run time.
//!
//! The objects are generated from the upstream schema itself
//! (`tests/fixtures/upstream-orkestra/applicationgroups.crd.yaml`): a walk over its
//! `openAPIV3Schema` that makes, for every node, a value of that node's type (required properties
//! always, optional ones sometimes, enums from their values, free-form fields as any JSON). Strings
//! come from small pools chosen by field name (names, URLs, versions, durations), mostly valid, so
//! that the typical object is one a user would write and the rules below are reached too. Each object
//! is first checked against the upstream schema, so the generator cannot drift from it.

#![allow(clippy::expect_used)] // a failed expectation is the test failure

use std::sync::LazyLock;

use orkestra_shared::admission::check;
use orkestra_shared::field_error::FieldError;
use orkestra_shared::policy::Policy;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRng, TestRunner};
use serde_json::{Map, Value, json};

const UPSTREAM_CRD: &str =
    include_str!("../../tests/fixtures/upstream-orkestra/applicationgroups.crd.yaml");

/// The upstream `openAPIV3Schema` of the ApplicationGroup.
static UPSTREAM: LazyLock<Value> = LazyLock::new(|| {
    let crd: Value = serde_norway::from_str(UPSTREAM_CRD).expect("the upstream CRD is YAML");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
});

static UPSTREAM_VALIDATOR: LazyLock<jsonschema::Validator> =
    LazyLock::new(|| jsonschema::validator_for(&UPSTREAM).expect("the upstream schema compiles"));

/// The rules by which Orkestra refuses at admission an object the upstream schema accepts. Each is
/// (what the README calls it, does this error belong to it). An error that matches none is a
/// compatibility bug.
/// A documented rule: its name, and whether an error falls under it.
type Rule = (&'static str, fn(&FieldError) -> bool);

const DOCUMENTED_RULES: &[Rule] = &[
    ("names are DNS-1123 labels", |e| {
        ends_with_any(&e.path, &["name", "dependencies"]) && e.message.contains("invalid")
    }),
    ("names are unique among their siblings", |e| {
        e.message.contains("duplicate")
    }),
    ("dependencies name existing siblings", |e| {
        e.message.contains("unknown")
    }),
    ("dependencies have no cycles", |e| {
        e.message.contains("cycle") || e.message.contains("depends on itself")
    }),
    ("a chart URL is http(s):// or oci://", |e| {
        e.path.ends_with("chart.url")
    }),
    ("a chart name is a chart name", |e| {
        e.path.ends_with("chart.name")
    }),
    ("a chart version parses as Helm parses it", |e| {
        e.path.ends_with("chart.version")
    }),
    ("durations parse", |e| {
        ends_with_any(&e.path, &["timeout", "interval"])
    }),
    (
        "the target namespace is a namespace name the policy allows",
        |e| e.path.ends_with("targetNamespace"),
    ),
    ("a group lists at least one application", |e| {
        e.path == "spec" && e.message == "\"applications\" is a required property"
    }),
    ("every application has a spec (its chart)", |e| {
        e.path.starts_with("spec.applications[") && e.message == "\"spec\" is a required property"
    }),
    ("release values are an object", |e| {
        e.path.ends_with("release.values")
    }),
    ("a chart's authSecretRef names its Secret", |e| {
        e.path.ends_with("authSecretRef.name")
    }),
    (
        "the HelmRelease names of a group are unique in their namespace",
        |e| e.message.starts_with("HelmRelease name"),
    ),
    ("a custom executor names its image", |e| {
        e.path.contains(".workflow[") && e.message.contains("image")
    }),
    (
        "an executor's container follows today's Kubernetes Container schema",
        |e| e.path.contains(".image."),
    ),
    ("an application has at most one helmrelease executor", |e| {
        e.message.starts_with("at most one helmrelease executor")
    }),
    (
        "a keptn executor depends on the executor that deploys, with keptn's params",
        |e| e.message.starts_with("a keptn executor") || e.path.contains(".params"),
    ),
    ("a release name fits Helm's 53 characters", |e| {
        e.message.contains("release name")
    }),
];

fn ends_with_any(path: &str, suffixes: &[&str]) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path);
    let last = last.split('[').next().unwrap_or(last);
    suffixes.contains(&last)
}

/// The documented rule an error falls under, if any.
fn rule_of(error: &FieldError) -> Option<&'static str> {
    DOCUMENTED_RULES
        .iter()
        .find(|(_, matches)| matches(error))
        .map(|(name, _)| *name)
}

/// Names: mostly valid DNS labels, shared by applications, subcharts, executors and dependencies so
/// that dependencies often name a sibling.
const NAMES: &[&str] = &[
    "ambassador",
    "bookinfo",
    "reviews",
    "ratings",
    "details",
    "productpage",
    "db",
    "helmrelease",
    "smoke",
    "Bad_Name",
];

/// Strings by the name of the field that holds them.
fn string_pool(field: &str) -> &'static [&'static str] {
    match field {
        "name" => NAMES,
        "url" => &[
            "https://charts.example.com",
            "https://nitishm.github.io/charts",
            "oci://registry.example.com/charts",
            "http://127.0.0.1:8080",
        ],
        "version" => &[
            "1.2.3",
            "v1",
            "^1.0",
            ">=1.0 <2.0",
            "",
            "*",
            "1.x",
            "~1.2",
            "0.1.0",
        ],
        "timeout" | "interval" => &["5m", "30s", "1h", "10m0s", "1m30s"],
        "targetNamespace" | "namespace" => &["bookinfo", "ambassador", "default", "orkestra"],
        "image" => &["busybox:1", "registry.example.com/exec:v2"],
        "imagePullPolicy" => &["Always", "IfNotPresent", "Never"],
        "protocol" => &["TCP", "UDP"],
        _ => &["a", "value", "/tmp", "x-y"],
    }
}

/// Any JSON, small: what a free-form field (`values`, `params`) may hold.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0i64..100).prop_map(Value::from),
        prop::sample::select(&["on", "x", ""][..]).prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(&["data", "replicas", "enabled", "key"][..]),
                inner,
                0..3
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// Values of the schema node `node`, held by the field `field`.
fn value_of(node: &Value, field: &str) -> BoxedStrategy<Value> {
    if node.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        return if node.get("pattern").is_some() {
            prop::sample::select(&["100m", "1Gi", "2"][..])
                .prop_map(Value::from)
                .boxed()
        } else {
            prop_oneof![
                (1i64..65535).prop_map(Value::from),
                Just(Value::from("http"))
            ]
            .boxed()
        };
    }
    if let Some(Value::Array(choices)) = node.get("enum") {
        return prop::sample::select(choices.clone()).boxed();
    }
    match node.get("type").and_then(Value::as_str) {
        Some("object") => object_of(node),
        Some("array") => {
            let min = node.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
            let items = node.get("items").cloned().unwrap_or(Value::Null);
            // NB: items of a list are held by the list's field (`dependencies` items are names).
            let item_field = if field == "dependencies" {
                "name"
            } else {
                field
            };
            prop::collection::vec(value_of(&items, item_field), min..min + 3)
                .prop_map(Value::Array)
                .boxed()
        }
        Some("string") => prop::sample::select(string_pool(field))
            .prop_map(Value::from)
            .boxed(),
        Some("integer") => (0i64..5).prop_map(Value::from).boxed(),
        Some("number") => (0i64..5).prop_map(Value::from).boxed(),
        Some("boolean") => any::<bool>().prop_map(Value::Bool).boxed(),
        // NB: free-form fields (values, params) hold an object as users write them, and now and
        // then any other JSON.
        _ => prop_oneof![
            4 => any_json().prop_filter("an object", Value::is_object),
            1 => any_json(),
        ]
        .boxed(),
    }
}

/// Optional upstream properties that a documented rule requires: present nearly always, so that most
/// objects reach the other rules.
const REQUIRED_BY_A_RULE: &[&str] = &["spec", "applications", "name"];

/// Objects of an `object` node: required properties always, optional ones half of the time.
fn object_of(node: &Value) -> BoxedStrategy<Value> {
    let required: Vec<&str> = node
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(Value::Object(properties)) = node.get("properties") else {
        if let Some(extra @ Value::Object(_)) = node.get("additionalProperties") {
            return prop::collection::btree_map(
                prop::sample::select(&["cpu", "memory"][..]),
                value_of(extra, ""),
                0..3,
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
            .boxed();
        }
        return any_json()
            .prop_map(|v| if v.is_object() { v } else { json!({}) })
            .boxed();
    };
    let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = properties
        .iter()
        .map(|(name, child)| {
            let key = name.clone();
            let value = value_of(child, name).prop_map(move |v| (key.clone(), v));
            if required.contains(&name.as_str()) {
                value.prop_map(Some).boxed()
            } else if REQUIRED_BY_A_RULE.contains(&name.as_str()) {
                prop::option::weighted(0.95, value).boxed()
            } else {
                prop::option::of(value).boxed()
            }
        })
        .collect();
    fields
        .prop_map(|fields| Value::Object(fields.into_iter().flatten().collect::<Map<_, _>>()))
        .boxed()
}

/// ApplicationGroups valid under the upstream schema.
fn upstream_group() -> impl Strategy<Value = Value> {
    value_of(&UPSTREAM["properties"]["spec"], "spec").prop_map(|spec| {
        json!({
            "apiVersion": "orkestra.azure.microsoft.com/v1alpha1",
            "kind": "ApplicationGroup",
            "metadata": {"name": "group"},
            "spec": spec,
        })
    })
}

/// Judges one generated group: `Ok(true)` accepted, `Ok(false)` refused under documented rules
/// only, `Err` with the undocumented refusals.
fn judge(group: &Value) -> Result<bool, String> {
    let upstream_errors: Vec<String> = UPSTREAM_VALIDATOR
        .iter_errors(group)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(
        upstream_errors.is_empty(),
        "the generator made an object the upstream schema refuses: {upstream_errors:?}\n{group:#}"
    );
    match check(group, &Policy::default()) {
        Ok(_) => Ok(true),
        Err(errors) => {
            let undocumented: Vec<String> = errors
                .iter()
                .filter(|e| rule_of(e).is_none())
                .map(ToString::to_string)
                .collect();
            if undocumented.is_empty() {
                Ok(false)
            } else {
                Err(undocumented.join("\n"))
            }
        }
    }
}

proptest! {
    #![proptest_config(Config { cases: 512, ..Config::default() })]

    #[test]
    fn what_the_upstream_schema_accepts_is_accepted_or_refused_by_a_documented_rule(
        group in upstream_group()
    ) {
        if let Err(undocumented) = judge(&group) {
            prop_assert!(false, "refused by no documented rule:\n{undocumented}\nobject:\n{group:#}");
        }
    }
}

/// The property above would hold vacuously if every object broke some rule: a good share of the
/// generated objects must be accepted outright (about 15 % are: the random dependencies of the
/// others mostly name no sibling), so the comparison is also made on whole objects a user would
/// write.
#[test]
fn most_generated_upstream_groups_are_accepted() {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let strategy = upstream_group();
    let samples = 400;
    let mut accepted = 0;
    for _ in 0..samples {
        let group = strategy
            .new_tree(&mut runner)
            .expect("a group is generated")
            .current();
        if judge(&group) == Ok(true) {
            accepted += 1;
        }
    }
    println!("{accepted} of {samples} generated upstream groups accepted outright");
    assert!(
        accepted * 10 >= samples,
        "only {accepted} of {samples} generated groups were accepted outright"
    );
}

/// Azure Orkestra's own example, as its users wrote it: a container-object image, `params: nil`, no
/// executor type, an authSecretRef without a namespace.
#[test]
fn a_group_in_upstream_style_is_accepted() {
    let group = json!({
        "apiVersion": "orkestra.azure.microsoft.com/v1alpha1",
        "kind": "ApplicationGroup",
        "metadata": {"name": "bookinfo"},
        "spec": {"applications": [{
            "name": "bookinfo",
            "spec": {
                "chart": {"url": "https://nitishm.github.io/charts", "name": "bookinfo", "version": "v1",
                    "authSecretRef": {"name": "creds"}},
                "release": {"targetNamespace": "bookinfo", "values": {"productpage": {"replicaCount": 1}}},
                "subcharts": [{"name": "productpage", "dependencies": ["reviews"]}, {"name": "reviews"}],
                "workflow": [
                    {"name": "helmrelease", "params": null},
                    {"name": "smoke", "type": "custom", "dependencies": ["helmrelease"],
                        "image": {"name": "smoke", "image": "registry.example.com/smoke:1",
                            "env": [{"name": "LEVEL", "value": "2"}]},
                        "params": {"data": {"depth": 1}}}
                ]
            }
        }]}
    });
    assert_eq!(
        judge(&group),
        Ok(true),
        "{:?}",
        check(&group, &Policy::default()).err()
    );
}
