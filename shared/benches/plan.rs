//! Planning the largest group Argo's limits allow: 190 applications (layers of 10, two
//! dependencies each) × 5 chained subcharts = 1,140 HelmReleases, 192 templates.
//! Target: under 10 ms per direction. Also prints the size of the emitted Workflow (target: at most
//! 512 KiB, so that Argo's status of every node fits beside it in one object under etcd's default
//! 1.5 MiB request limit) and of the ConfigMaps holding its HelmReleases.
//!
//! `cargo bench -p orkestra-shared --bench plan`

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/plan_support/mod.rs"]
mod plan_support;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use orkestra_shared::plan::{self, Direction, PlanConfig, Resolved};
use std::hint::black_box;

/// Bytes of Argo's status of one node of a planned Workflow. Real Argo (v3.7.3) wrote 630 to 750
/// bytes for a finished step of the `helmrelease` leaf in the rollout tests (Workflow names of 15
/// to 25 characters): id, names, type, template, phase, times, progress, resource durations, the
/// inputs (the reference, timeout, action), outputs, children, host. 800 leaves room for longer
/// names and for the DAG nodes' lists of children.
const NODE_BYTES: usize = 800;

fn bench(c: &mut Criterion) {
    let spec = plan_support::large(190, 5);
    let config = PlanConfig::default();
    let resolved = Resolved::default();
    let forward = plan::build("large", 1, &spec, &resolved, Direction::Forward, &config).unwrap();
    let json = serde_json::to_vec(&forward.workflow).unwrap();
    let yaml = serde_norway::to_string(&forward.workflow).unwrap();
    println!(
        "plan of 190 applications x 5 subcharts: {} templates, {} HelmReleases, Workflow {} KiB as JSON \
         (target at most 512 KiB), {} KiB as YAML",
        forward.workflow.spec.templates.len(),
        forward.helm_releases.len(),
        json.len() / 1024,
        yaml.len() / 1024,
    );
    let stores: Vec<usize> = forward
        .release_stores
        .iter()
        .map(|c| {
            let data = c.data.as_ref().unwrap();
            data.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() / 1024
        })
        .collect();
    println!(
        "  HelmReleases by reference: {} ConfigMaps holding {stores:?} KiB of data (the API server's limit: 1024 KiB each)",
        stores.len()
    );
    // Argo writes one status node per task and per DAG (and one for the Workflow) into the same
    // object; NODE_BYTES is what real Argo wrote per node for a Workflow of this plan (BENCHMARKS.md).
    let nodes = 1 + forward
        .workflow
        .spec
        .templates
        .iter()
        .map(|t| t.tasks().len())
        .sum::<usize>();
    println!(
        "  with Argo's status of its {nodes} nodes at {NODE_BYTES} bytes each: {} KiB of etcd's 1536 KiB request limit",
        (json.len() + nodes * NODE_BYTES) / 1024
    );

    // NB: criterion measures wall-clock time, which a busy machine inflates (the shared build
    // box runs several compilers on 2 cores); the thread's own CPU time is what planning costs.
    if let Some(per_plan) = cpu_time_per_iteration(50, || {
        black_box(plan::build("large", 1, &spec, &resolved, Direction::Forward, &config).unwrap());
    }) {
        println!(
            "forward plan 190x5: {:.2} ms CPU time per plan (mean of 50, this thread's schedstat)",
            per_plan * 1e3
        );
    }

    let mut group = c.benchmark_group("plan");
    group.bench_function("forward 190x5", |b| {
        b.iter(|| {
            plan::build(
                "large",
                1,
                black_box(&spec),
                &resolved,
                Direction::Forward,
                &config,
            )
            .unwrap()
        })
    });
    group.bench_function("reverse 190x5", |b| {
        b.iter(|| {
            plan::build(
                "large",
                1,
                black_box(&spec),
                &resolved,
                Direction::Reverse,
                &config,
            )
            .unwrap()
        })
    });
    let last_good = plan_support::large(150, 5);
    group.bench_function("rollback 190x5 to 150x5", |b| {
        b.iter(|| {
            let direction = Direction::Rollback {
                last_good: &last_good,
                last_good_resolved: &resolved,
            };
            plan::build("large", 1, black_box(&spec), &resolved, direction, &config).unwrap()
        })
    });
    group.bench_function("forward 190x5 + JSON", |b| {
        b.iter_batched(
            || (),
            |()| {
                let plan = plan::build(
                    "large",
                    1,
                    black_box(&spec),
                    &resolved,
                    Direction::Forward,
                    &config,
                )
                .unwrap();
                serde_json::to_vec(&plan.workflow).unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Mean CPU seconds per call of `f`, from Linux's per-thread scheduler statistics.
fn cpu_time_per_iteration(iterations: u32, mut f: impl FnMut()) -> Option<f64> {
    let on_cpu_ns = || -> Option<u64> {
        std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    f(); // warm up
    let start = on_cpu_ns()?;
    for _ in 0..iterations {
        f();
    }
    Some((on_cpu_ns()? - start) as f64 / 1e9 / f64::from(iterations))
}

criterion_group!(benches, bench);
criterion_main!(benches);
