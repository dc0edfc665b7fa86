//! Planning the largest group Argo's limits allow: 190 applications (layers of 10, two
//! dependencies each) × 5 chained subcharts = 1,140 HelmReleases, 192 templates.
//! Target: under 10 ms per direction. Also prints the size of the emitted Workflow, which has to fit
//! in one Kubernetes object (etcd's default request limit is 1.5 MiB).
//!
//! `cargo bench -p orkestra-shared --bench plan`

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/plan_support/mod.rs"]
mod plan_support;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use orkestra_shared::plan::{self, Direction, PlanConfig, Resolved};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let spec = plan_support::large(190, 5);
    let config = PlanConfig::default();
    let resolved = Resolved::default();
    let forward = plan::build("large", 1, &spec, &resolved, Direction::Forward, &config).unwrap();
    let json = serde_json::to_vec(&forward.workflow).unwrap();
    let yaml = serde_norway::to_string(&forward.workflow).unwrap();
    println!(
        "plan of 190 applications x 5 subcharts: {} templates, {} HelmReleases, Workflow {} KiB as JSON, {} KiB as YAML",
        forward.workflow.spec.templates.len(),
        forward.helm_releases.len(),
        json.len() / 1024,
        yaml.len() / 1024,
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
