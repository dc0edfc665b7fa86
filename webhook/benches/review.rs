//! In-process cost of one review, without TLS or HTTP: `review::answer` on the load run's body (an
//! AdmissionReview of a 50-application group, compact JSON as the API server sends it).
//! `cargo bench -p orkestra-webhook --bench review` prints the time per review for validate, mutate
//! and a DELETE (read, no rules), and for validate and mutate of the same group as kubectl apply
//! makes the API server send it (`*_applied`: managedFields and the last-applied annotation), and
//! for validate of a deployed group (the last-successful annotation too, the ratio only);
//! benches/load.sh measures the same bodies over TLS. `json_floor`
//! only walks the body's JSON, keeping nothing: the least any review of it costs with serde_json.

use criterion::{Criterion, criterion_group, criterion_main};
use orkestra_shared::policy::Policy;
use orkestra_webhook::metrics::Endpoint;
use orkestra_webhook::review::{answer, read_fast};
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use std::time::Instant;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The load run's review: a chain of 50 applications with chart, release settings and values.
fn review(operation: &str) -> Vec<u8> {
    let applications: Vec<Value> = (0..50)
        .map(|i| {
            json!({
                "name": format!("app-{i}"),
                "dependencies": if i == 0 { json!([]) } else { json!([format!("app-{}", i - 1)]) },
                "spec": {
                    "chart": {"url": "https://charts.example.com/stable", "name": format!("app-{i}"),
                        "version": format!("1.{i}.0")},
                    "release": {"targetNamespace": format!("ns-{i}"), "timeout": "5m", "interval": "5m",
                        "values": {"replicaCount": 2,
                            "image": {"repository": format!("example/app-{i}"), "tag": "1.2.3"}}},
                    "workflow": [{"name": "helmrelease", "type": "helmrelease", "dependencies": []}]
                }
            })
        })
        .collect();
    let review = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "orkestra.azure.microsoft.com", "version": "v1alpha1", "kind": "ApplicationGroup"},
            "resource": {"group": "orkestra.azure.microsoft.com", "version": "v1alpha1", "resource": "applicationgroups"},
            "name": "load", "operation": operation,
            "userInfo": {"username": "admin", "groups": ["system:masters"]},
            "dryRun": false, "oldObject": null,
            "object": {"apiVersion": "orkestra.azure.microsoft.com/v1alpha1", "kind": "ApplicationGroup",
                "metadata": {"name": "load"}, "spec": {"applications": applications}}
        }
    });
    serde_json::to_vec(&review).unwrap_or_default()
}

/// The same review as a real API server sends it after `kubectl apply`: the object's metadata
/// carries what the server set (uid, resourceVersion, generation, creationTimestamp), the
/// `last-applied-configuration` annotation (the whole object again, as a JSON string) and the
/// `managedFields` entry of kubectl's client-side apply (the CRD's lists are atomic, so the
/// applications are one field).
fn applied(review: &[u8]) -> Vec<u8> {
    let mut review: Value = serde_json::from_slice(review).unwrap_or_default();
    let object = &mut review["request"]["object"];
    let mut as_applied = object.clone();
    as_applied["metadata"] = json!({"name": "load"});
    let last_applied = serde_json::to_string(&as_applied).unwrap_or_default() + "\n";
    object["metadata"] = json!({
        "name": "load",
        "uid": "2c3f6b8e-1d1a-4f7e-9a51-7c2a9d1e0b44",
        "resourceVersion": "1834",
        "generation": 1,
        "creationTimestamp": "2026-12-03T10:00:00Z",
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": last_applied},
        "managedFields": [{
            "manager": "kubectl-client-side-apply",
            "operation": "Update",
            "apiVersion": "orkestra.azure.microsoft.com/v1alpha1",
            "time": "2026-12-03T10:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:annotations": {".": {},
                    "f:kubectl.kubernetes.io/last-applied-configuration": {}}},
                "f:spec": {".": {}, "f:applications": {}}
            }
        }]
    });
    serde_json::to_vec(&review).unwrap_or_default()
}

/// The applied review of a group that was deployed: its metadata also carries the controller's
/// `last-successful-appgroup` annotation (the deployed spec as JSON), whose update and rollback
/// Workflows admission checks against Argo's limits.
fn deployed(applied: &[u8]) -> Vec<u8> {
    let mut review: Value = serde_json::from_slice(applied).unwrap_or_default();
    let object = &mut review["request"]["object"];
    let spec = serde_json::to_string(&object["spec"]).unwrap_or_default();
    object["metadata"]["annotations"]["orkestra.azure.microsoft.com/last-successful-appgroup"] =
        spec.into();
    serde_json::to_vec(&review).unwrap_or_default()
}

fn reviews(c: &mut Criterion) {
    let policy = Policy::default();
    let (create, delete) = (review("CREATE"), review("DELETE"));
    let create_applied = applied(&create);
    assert!(
        answer(Endpoint::Validate, &create_applied, Some(&policy), None)
            .outcome
            .allowed()
    );
    println!(
        "bodies: plain {} bytes, as applied by kubectl {} bytes",
        create.len(),
        create_applied.len()
    );
    assert!(
        answer(Endpoint::Validate, &create, Some(&policy), None)
            .outcome
            .allowed()
    );
    // Ratios first, each measured in alternating rounds so that the machine's drift (a shared
    // VM's speed moves by half within minutes) falls on both sides alike.
    let validate = || drop(answer(Endpoint::Validate, &create, Some(&policy), None));
    let validate_applied = || {
        drop(answer(
            Endpoint::Validate,
            &create_applied,
            Some(&policy),
            None,
        ))
    };
    let create_deployed = deployed(&create_applied);
    assert!(read_fast(Endpoint::Validate, &create_deployed, &mut Vec::new()).is_some());
    let validate_deployed = || {
        drop(answer(
            Endpoint::Validate,
            &create_deployed,
            Some(&policy),
            None,
        ))
    };
    let mutate = || drop(answer(Endpoint::Mutate, &create, Some(&policy), None));
    let mutate_applied = || {
        drop(answer(
            Endpoint::Mutate,
            &create_applied,
            Some(&policy),
            None,
        ))
    };
    let floor = || drop(serde_json::from_slice::<IgnoredAny>(&create));
    let floor_applied = || drop(serde_json::from_slice::<IgnoredAny>(&create_applied));
    let floor_deployed = || drop(serde_json::from_slice::<IgnoredAny>(&create_deployed));
    for (what, ratio, target) in [
        (
            "mutate / validate",
            paired_ratio(validate, mutate),
            "<= 1.5",
        ),
        (
            "validate as applied / validate",
            paired_ratio(validate, validate_applied),
            "<= 1.1",
        ),
        (
            "validate as deployed / validate as applied (the update and rollback shapes)",
            paired_ratio(validate_applied, validate_deployed),
            "-",
        ),
        (
            "JSON walk as deployed / JSON walk as applied (what reading the longer body adds)",
            paired_ratio(floor_applied, floor_deployed),
            "-",
        ),
        (
            "mutate as applied / mutate",
            paired_ratio(mutate, mutate_applied),
            "<= 1.1",
        ),
        (
            "JSON walk as applied / JSON walk (the least any reader adds)",
            paired_ratio(floor, floor_applied),
            "-",
        ),
    ] {
        println!("{what}: {ratio:.2} (target {target})");
    }

    let mut group = c.benchmark_group("review_50_apps");
    group.bench_function("validate", |b| {
        b.iter(|| answer(Endpoint::Validate, &create, Some(&policy), None))
    });
    group.bench_function("mutate", |b| {
        b.iter(|| answer(Endpoint::Mutate, &create, Some(&policy), None))
    });
    group.bench_function("validate_applied", |b| {
        b.iter(|| answer(Endpoint::Validate, &create_applied, Some(&policy), None))
    });
    group.bench_function("mutate_applied", |b| {
        b.iter(|| answer(Endpoint::Mutate, &create_applied, Some(&policy), None))
    });
    group.bench_function("read", |b| {
        b.iter(|| read_fast(Endpoint::Validate, &create, &mut Vec::new()).is_some())
    });
    group.bench_function("read_applied", |b| {
        b.iter(|| read_fast(Endpoint::Validate, &create_applied, &mut Vec::new()).is_some())
    });
    group.bench_function("delete", |b| {
        b.iter(|| answer(Endpoint::Validate, &delete, Some(&policy), None))
    });
    group.bench_function("json_floor", |b| {
        b.iter(|| serde_json::from_slice::<IgnoredAny>(&create).is_ok())
    });
    group.bench_function("json_floor_applied", |b| {
        b.iter(|| serde_json::from_slice::<IgnoredAny>(&create_applied).is_ok())
    });
    group.finish();
}

/// The median, over 41 rounds, of the time `b` takes over the time `a` takes, each round running
/// `a` then `b` 200 times.
fn paired_ratio(mut a: impl FnMut(), mut b: impl FnMut()) -> f64 {
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..200 {
            f();
        }
        start.elapsed().as_secs_f64()
    };
    time(&mut a);
    time(&mut b);
    let mut ratios: Vec<f64> = (0..41)
        .map(|_| time(&mut a).recip() * time(&mut b))
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

criterion_group!(benches, reviews);
criterion_main!(benches);
