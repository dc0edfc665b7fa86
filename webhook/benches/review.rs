//! In-process cost of one review, without TLS or HTTP: `review::answer` on the load run's body (an
//! AdmissionReview of a 50-application group, compact JSON as the API server sends it).
//! `cargo bench -p orkestra-webhook --bench review` prints the time per review for validate, mutate
//! and a DELETE (read, no rules); benches/load.sh measures the same bodies over TLS. `json_floor`
//! only walks the body's JSON, keeping nothing: the least any review of it costs with serde_json.

use criterion::{Criterion, criterion_group, criterion_main};
use orkestra_shared::policy::Policy;
use orkestra_webhook::metrics::Endpoint;
use orkestra_webhook::review::answer;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

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

fn reviews(c: &mut Criterion) {
    let policy = Policy::default();
    let (create, delete) = (review("CREATE"), review("DELETE"));
    assert!(
        answer(Endpoint::Validate, &create, Some(&policy), None)
            .outcome
            .allowed()
    );
    let mut group = c.benchmark_group("review_50_apps");
    group.bench_function("validate", |b| {
        b.iter(|| answer(Endpoint::Validate, &create, Some(&policy), None))
    });
    group.bench_function("mutate", |b| {
        b.iter(|| answer(Endpoint::Mutate, &create, Some(&policy), None))
    });
    group.bench_function("delete", |b| {
        b.iter(|| answer(Endpoint::Validate, &delete, Some(&policy), None))
    });
    group.bench_function("json_floor", |b| {
        b.iter(|| serde_json::from_slice::<IgnoredAny>(&create).is_ok())
    });
    group.finish();
}

criterion_group!(benches, reviews);
criterion_main!(benches);
