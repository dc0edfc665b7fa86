//! Property tests of the review reader and answers: whatever the body, a well-formed answer and no
//! panic; whenever the request uid can be read, HTTP 200 with that uid; the one-pass and the full
//! readings agree. (`fuzz/` runs the same checks under libFuzzer.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use orkestra_shared::policy::Policy;
use orkestra_webhook::metrics::Endpoint;
use orkestra_webhook::review::{Answer, answer, readings_agree};
use proptest::prelude::*;
use serde_json::{Value, json};

fn endpoint() -> impl Strategy<Value = Endpoint> {
    prop_oneof![Just(Endpoint::Mutate), Just(Endpoint::Validate)]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-z0-9:/. *^-]{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("CREATE"),
            Just("UPDATE"),
            Just("DELETE"),
            Just("ApplicationGroup"),
            Just("kube-system")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    "[a-zA-Z]{1,10}",
                    Just("name".to_owned()),
                    Just("dependencies".to_owned()),
                    Just("spec".to_owned()),
                    Just("uid".to_owned())
                ],
                inner,
                0..6
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A valid review with one random change: a subtree replaced by random JSON, or a key removed.
fn mutated_review() -> impl Strategy<Value = Value> {
    let base = {
        let mut object = group(
            "bookinfo",
            vec![app("db", &[]), app("api", &["db"]), app("web", &["api"])],
        );
        // The metadata a real API server sends after `kubectl apply`, so that mutations reach it
        // (the validating reading checks it field by field without keeping it).
        object["metadata"] = json!({
            "name": "bookinfo", "uid": "6a0e0c44-5f0e-4bde-9d1b-3f8e3c7a9b10",
            "resourceVersion": "42", "generation": 1, "creationTimestamp": "2026-12-03T10:00:00Z",
            "labels": {"team": "a"}, "finalizers": ["orkestra.azure.microsoft.com/finalizer"],
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{\"kind\":\"ApplicationGroup\"}\n",
                "note": "x"
            },
            "managedFields": [{
                "manager": "kubectl-client-side-apply", "operation": "Update",
                "apiVersion": "orkestra.azure.microsoft.com/v1alpha1",
                "time": "2026-12-03T10:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {".": {}, "f:applications": {}}}
            }]
        });
        let mut update = review("UPDATE", Some(object.clone()), Some(object.clone()));
        update["request"]["dryRun"] = json!(true);
        prop_oneof![Just(create(object)), Just(update)]
    };
    (
        base,
        prop::collection::vec(
            (any::<prop::sample::Index>(), json_value(), any::<bool>()),
            1..4,
        ),
    )
        .prop_map(|(mut review, changes)| {
            for (index, replacement, remove) in changes {
                let paths = pointers(&review, String::new());
                let path = index.get(&paths).clone();
                if path.is_empty() {
                    continue;
                }
                if remove {
                    let (parent, key) = path.rsplit_once('/').unwrap();
                    match review.pointer_mut(parent) {
                        Some(Value::Object(map)) => {
                            map.remove(key);
                        }
                        Some(Value::Array(items)) => {
                            let i: usize = key.parse().unwrap();
                            items.remove(i);
                        }
                        _ => {}
                    }
                } else if let Some(slot) = review.pointer_mut(&path) {
                    *slot = replacement;
                }
            }
            review
        })
}

/// Every JSON pointer in `value` (keys here never contain `/` or `~`).
fn pointers(value: &Value, prefix: String) -> Vec<String> {
    let mut out = vec![prefix.clone()];
    match value {
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| out.extend(pointers(v, format!("{prefix}/{k}")))),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| out.extend(pointers(v, format!("{prefix}/{i}")))),
        _ => {}
    }
    out
}

/// Well-formed: 200 or 400, an AdmissionReview v1 with a response, which serializes.
fn assert_well_formed(answer: &Answer) -> Value {
    assert!(
        answer.status == 200 || answer.status == 400,
        "{:?}",
        answer.status
    );
    let review = serde_json::to_value(&answer.review).unwrap();
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(review["kind"], "AdmissionReview");
    assert!(review["response"]["allowed"].is_boolean(), "{review}");
    assert!(review["response"]["uid"].is_string(), "{review}");
    if answer.status == 400 {
        assert_eq!(review["response"]["allowed"], false);
    }
    review
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_get_a_well_formed_answer(endpoint in endpoint(), body in prop::collection::vec(any::<u8>(), 0..512)) {
        assert_well_formed(&answer(endpoint, &body, Some(&Policy::default()), None));
    }

    #[test]
    fn random_json_gets_a_well_formed_answer(endpoint in endpoint(), body in json_value()) {
        let bytes = serde_json::to_vec(&body).unwrap();
        assert_well_formed(&answer(endpoint, &bytes, Some(&Policy::default()), None));
    }

    #[test]
    fn mutated_reviews_get_a_well_formed_answer_carrying_their_uid(endpoint in endpoint(), review in mutated_review(), cut in any::<prop::sample::Index>(), truncate in any::<bool>()) {
        let mut bytes = serde_json::to_vec(&review).unwrap();
        if truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        let answered = assert_well_formed(&answer(endpoint, &bytes, Some(&Policy::default()), None));
        if let (false, Some(uid)) = (truncate, review.pointer("/request/uid").and_then(Value::as_str)) {
            prop_assert_eq!(&answered["response"]["uid"], uid);
        }
    }

    #[test]
    fn the_fast_and_the_full_readings_agree(endpoint in endpoint(), review in mutated_review()) {
        let bytes = serde_json::to_vec(&review).unwrap();
        if let Err(difference) = readings_agree(endpoint, &bytes, &Policy::default()) {
            prop_assert!(false, "{}", difference);
        }
    }

    #[test]
    fn no_policy_loaded_still_answers(endpoint in endpoint(), review in mutated_review()) {
        let bytes = serde_json::to_vec(&review).unwrap();
        assert_well_formed(&answer(endpoint, &bytes, None, None));
    }
}

/// A `\u` escape of a lone UTF-16 surrogate is not JSON text the full reading accepts (serde_json
/// refuses it when it unescapes a string): wherever it stands, even in a string the one-pass
/// reading only skips, both readings refuse the review alike.
#[test]
fn a_lone_surrogate_escape_is_refused_by_both_readings() {
    let mut object = group("bookinfo", vec![app("db", &[])]);
    object["metadata"]["annotations"] = json!({"note": "SURROGATE"});
    object["spec"]["applications"][0]["spec"]["release"]["values"] = json!({"text": "SURROGATE"});
    let text = serde_json::to_string(&create(object)).unwrap();
    for (at, escape) in [(0, r"\ud800"), (1, r"\udc00"), (0, r"x\uDBFFy")] {
        let mut body = text.clone();
        let place = body.match_indices("SURROGATE").nth(at).unwrap().0;
        body.replace_range(place..place + "SURROGATE".len(), escape);
        let body = body.replace("SURROGATE", "plain");
        for endpoint in [Endpoint::Validate, Endpoint::Mutate] {
            if let Err(difference) = readings_agree(endpoint, body.as_bytes(), &Policy::default()) {
                panic!("{escape} at {at}, {endpoint:?}: {difference}");
            }
        }
    }
}
