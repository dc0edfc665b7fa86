//! Admission cost for large groups: parse + schema check + default + validate.
//! `cargo bench -p orkestra-shared --bench admission` prints the time per group size; the target is
//! under 50 ms for 10,000 applications, growing linearly (10,000 < 15 × 1,000, judged on `tree_cold`:
//! see BENCHMARKS.md "Admission").

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use orkestra_shared::admission::{Raw, check};
use orkestra_shared::policy::Policy;
use serde_json::{Value, json};

// The allocator of the binaries that run admission (`orkestra-webhook serve` and `check`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A group of `n` applications with random acyclic dependencies (about 3 each, always on earlier
/// applications) and 3 ordered subcharts each. Deterministic: a small LCG, no RNG crate needed.
fn group(n: usize) -> Value {
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move |bound: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 33) as usize) % bound.max(1)
    };
    let apps: Vec<Value> = (0..n)
        .map(|i| {
            let mut deps: Vec<String> = if i == 0 { Vec::new() } else { (0..3).map(|_| format!("app-{}", next(i))).collect() };
            deps.sort();
            deps.dedup();
            json!({
                "name": format!("app-{i}"),
                "dependencies": deps,
                "spec": {
                    "chart": {"url": "https://charts.example.com/stable", "name": format!("chart-{i}"), "version": "^1.2"},
                    "subcharts": [
                        {"name": "db", "dependencies": []},
                        {"name": "api", "dependencies": ["db"]},
                        {"name": "ui", "dependencies": ["api"]}
                    ],
                    "release": {"targetNamespace": format!("ns-{}", i % 50), "timeout": "10m",
                        "values": {"replicaCount": 2, "api": {"image": {"tag": "1.0"}}}}
                }
            })
        })
        .collect();
    json!({"apiVersion": "orkestra.azure.microsoft.com/v1alpha1", "kind": "ApplicationGroup",
        "metadata": {"name": "large"}, "spec": {"applications": apps}})
}

/// More than the machine's last-level cache (105 MiB), and the size of one application's JSON tree
/// (11 objects, each a B-tree node of about 640 bytes, and their strings).
const COLD_BYTES: usize = 256 << 20;
const TREE_BYTES_PER_APP: usize = 8 << 10;

fn admission(c: &mut Criterion) {
    let policy = Policy {
        max_applications: 100_000,
        ..Policy::default()
    };
    let mut bench = c.benchmark_group("validate_and_default");
    bench.sample_size(20);
    for n in [1_000, 10_000] {
        let object = group(n);
        // Only the workflow engine's limits may complain: every other rule passes and so runs fully.
        let errors = check(&object, &policy).err().unwrap_or_default();
        assert!(
            errors
                .iter()
                .all(|e| e.message.contains("Argo Workflows' limit")),
            "{errors:?}"
        );
        bench.throughput(Throughput::Elements(n as u64));
        bench.bench_with_input(BenchmarkId::new("tree", n), &object, |b, object| {
            b.iter(|| check(object, &policy))
        });
        let text = object.to_string();
        bench.bench_with_input(BenchmarkId::new("text", n), text.as_str(), |b, text| {
            b.iter(|| check(Raw::Text(text), &policy))
        });
        // Copies of the group in turn, enough that they do not fit in the caches together: each
        // iteration reads a group the previous ones did not touch, as each review is a new object.
        let copies: Vec<Value> = vec![object; COLD_BYTES / (n * TREE_BYTES_PER_APP) + 1];
        bench.bench_with_input(BenchmarkId::new("tree_cold", n), &copies, |b, copies| {
            let mut next = copies.iter().cycle();
            b.iter(|| check(next.next().unwrap_or(&copies[0]), &policy))
        });
    }
    bench.finish();
}

criterion_group!(benches, admission);
criterion_main!(benches);
