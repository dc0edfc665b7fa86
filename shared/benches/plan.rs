//! Planning the largest group Argo's limits allow: 190 applications (layers of 10, two
//! dependencies each) × 5 chained subcharts = 1,140 HelmReleases, 192 templates.
//! Target: under 10 ms per direction. Also prints the size of the emitted Workflow (target: at most
//! 512 KiB), of the ConfigMaps holding its HelmReleases, and of the Workflow with Argo's status of
//! every node, which Argo keeps under its MAX_WORKFLOW_SIZE (1 MiB by default; past it, it gzips the
//! nodes, and fails a Workflow still over it) and etcd under its 1.5 MiB request limit.
//!
//! `cargo bench -p orkestra-shared --bench plan`

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/plan_support/mod.rs"]
mod plan_support;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use orkestra_shared::plan::{self, Direction, PlanConfig, Resolved};
use serde_json::json;
use std::hint::black_box;

/// Argo's status of every node of `workflow` once it succeeded, one JSON text per node, and the
/// size of them all as Argo stores them when the Workflow is too large (`status.compressedNodes`:
/// gzip, then base64). Each node has the fields real Argo (v3.7.3) wrote for this plan's nodes in
/// the rollout tests (`kubectl get wf -o json` on the engines cluster): a step of the
/// `helmrelease` leaf came to 630–750 bytes there. Node ids are random numbers, as Argo's hashes
/// are to gzip.
fn argo_status(workflow: &plan::Workflow) -> (Vec<String>, usize) {
    let name = workflow.metadata.name.clone().unwrap_or_default();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut id = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        format!("{name}-{}", seed % 4_000_000_000)
    };
    let mut nodes = Vec::new();
    let templates: std::collections::HashMap<&str, &plan::argo::Template> = workflow
        .spec
        .templates
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let times = json!({"startedAt": "2026-12-04T01:44:42Z", "finishedAt": "2026-12-04T01:54:46Z"});
    // (template, path, boundary) of each DAG node still to write.
    let entry = id();
    let mut pending = vec![(
        workflow.spec.entrypoint.as_str(),
        name.clone(),
        entry,
        String::new(),
    )];
    while let Some((template, path, node_id, boundary)) = pending.pop() {
        let tasks = templates.get(template).map_or(&[][..], |t| t.tasks());
        let mut children = Vec::with_capacity(tasks.len());
        for task in tasks {
            let child = id();
            children.push(child.clone());
            let called = templates.get(task.template.as_str());
            if called.is_some_and(|t| t.container.is_some()) {
                let parameters: Vec<_> = task
                    .arguments
                    .iter()
                    .flat_map(|a| &a.parameters)
                    .map(|p| json!({"name": p.name, "value": p.value}))
                    .collect();
                nodes.push(
                    json!({"boundaryID": node_id, "children": [id()], "displayName": task.name,
                        "finishedAt": times["finishedAt"], "hostNodeName": "orkestra-node-1", "id": child,
                        "inputs": {"parameters": parameters}, "name": format!("{path}.{}", task.name),
                        "outputs": {"exitCode": "0"}, "phase": "Succeeded", "progress": "1/1",
                        "resourcesDuration": {"cpu": 0, "memory": 5}, "startedAt": times["startedAt"],
                        "taskResultSynced": true, "templateName": task.template,
                        "templateScope": format!("local/{name}"), "type": "Pod"})
                    .to_string(),
                );
            } else {
                pending.push((
                    task.template.as_str(),
                    format!("{path}.{}", task.name),
                    child,
                    node_id.clone(),
                ));
            }
        }
        nodes.push(
            json!({"boundaryID": boundary, "children": children, "displayName": path.rsplit('.').next(),
                "finishedAt": times["finishedAt"], "id": node_id, "name": path, "phase": "Succeeded",
                "progress": format!("{}/{}", tasks.len(), tasks.len()),
                "resourcesDuration": {"cpu": 0, "memory": 5}, "startedAt": times["startedAt"],
                "templateName": template, "templateScope": format!("local/{name}"), "type": "DAG"})
            .to_string(),
        );
    }
    let all = format!("{{{}}}", nodes.join(","));
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gzip, all.as_bytes()).unwrap();
    let compressed = gzip.finish().unwrap().len().div_ceil(3) * 4;
    (nodes, compressed)
}

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
    let (status, compressed) = argo_status(&forward.workflow);
    println!(
        "  with Argo's status of its {} nodes: {} KiB as JSON, so {} KiB in all; past Argo's MAX_WORKFLOW_SIZE \
         (1024 KiB) Argo stores the nodes gzipped: {} KiB, so {} KiB in all (Argo fails a Workflow over it)",
        status.len(),
        status.iter().map(String::len).sum::<usize>() / 1024,
        (json.len() + status.iter().map(String::len).sum::<usize>()) / 1024,
        compressed / 1024,
        (json.len() + compressed) / 1024,
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
