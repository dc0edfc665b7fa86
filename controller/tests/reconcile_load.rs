//! Load run of `orkestra-controller run` (not part of the normal test run; see
//! controller/benches/reconcile_load.sh and BENCHMARKS.md "Controller"): N groups (default 100)
//! of 10 applications created at once against the local cluster, after one warm-up group;
//! prints p50/p99 of create → forward Workflow created (seen by a watch) and the controller's peak
//! RSS (VmHWM).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod reconcile_support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use kube::api::DynamicObject;
use kube::runtime::watcher;
use reconcile_support::{Env, wait_for};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test]
#[ignore = "load run: controller/benches/reconcile_load.sh"]
async fn load_groups_created_at_once() {
    let groups = env_or("ORKESTRA_LOAD_GROUPS", 100);
    let apps = env_or("ORKESTRA_LOAD_APPS", 10);
    let concurrency = env_or("ORKESTRA_LOAD_CONCURRENCY", 32).to_string();
    let env = Env::new("rc-load").await;
    let cache = tempfile::tempdir().unwrap();
    let ctl = env.controller_with(
        "a",
        &[
            "--chart-cache",
            cache.path().to_str().unwrap(),
            "--concurrency",
            &concurrency,
        ],
    );
    wait_for("the controller to lead", &ctl, || async {
        ctl.log().contains("leading").then_some(())
    })
    .await;

    // Warm-up, as the webhook's load run has one: a group of another chart goes through first, so
    // the fresh test API server has set up its Workflow, HelmRelease and Event handlers (the Argo
    // CRD's schema is large) and the registry has served a push. The measured groups' charts are
    // still fetched and pushed during the run: this run's staging repository is new.
    let warm_up = env
        .create_group(
            "warm-up",
            vec![env.app("umbrella", "bookinfo", "1.0.0", &[])],
        )
        .await;
    env.wait_workflow(&warm_up, Some(1), &ctl).await;

    // Watch Workflows before creating anything, and note when each one appears (and what it is:
    // every one is linted once the run is measured).
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, DynamicObject)>();
    let api = env.workflows();
    let watch = tokio::spawn(async move {
        let mut stream = watcher(api, watcher::Config::default()).boxed();
        while let Some(event) = stream.next().await {
            if let Ok(watcher::Event::Apply(wf) | watcher::Event::InitApply(wf)) = event {
                let _ = tx.send((Instant::now(), wf));
            }
        }
    });

    let applications: Vec<serde_json::Value> = (0..apps)
        .map(|i| {
            let deps: Vec<String> = if i == 0 {
                vec![]
            } else {
                vec![format!("app-{}", (i - 1) / 2)]
            };
            let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
            env.app(
                &format!("app-{i}"),
                "hello",
                if i % 2 == 0 { "1.0.0" } else { "^1.0" },
                &deps,
            )
        })
        .collect();
    let creations = (0..groups).map(|i| {
        let env = &env;
        let applications = applications.clone();
        async move {
            let start = Instant::now();
            let name = env.create_group(&format!("load-{i}"), applications).await;
            (name, start)
        }
    });
    let started = Instant::now();
    let created: HashMap<String, Instant> = futures::future::join_all(creations)
        .await
        .into_iter()
        .collect();
    let create_all = started.elapsed();

    let mut seen: HashMap<String, (Instant, DynamicObject)> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    while seen.len() < groups && Instant::now() < deadline {
        if let Ok(Some((at, wf))) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await
            && let Some(name) = wf.metadata.name.clone()
            && created.contains_key(&name)
        {
            seen.entry(name).or_insert((at, wf));
        }
    }
    watch.abort();
    assert_eq!(
        seen.len(),
        groups,
        "every group got its Workflow; controller log:\n{}",
        ctl.log()
    );

    let mut latencies: Vec<Duration> = seen
        .iter()
        .map(|(name, (at, _))| at.duration_since(created[name]))
        .collect();
    latencies.sort();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    let status = std::fs::read_to_string(format!("/proc/{}/status", ctl.child.id())).unwrap();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?")
        .to_owned();
    println!(
        "reconcile load: {groups} groups x {apps} applications, concurrency {concurrency}; created all in {create_all:?}\n\
         create -> Workflow submitted: p50 {:?}  p99 {:?}  max {:?}\n\
         controller peak RSS: {}",
        pct(0.50),
        pct(0.99),
        latencies[latencies.len() - 1],
        hwm.split_whitespace().skip(1).collect::<Vec<_>>().join(" ")
    );

    // After the figures: Argo's own lint of every submitted Workflow, in one run.
    let workflows: Vec<serde_json::Value> = seen
        .into_values()
        .map(|(_, wf)| serde_json::to_value(wf).unwrap())
        .collect();
    orkestra_tests::argo::lint_all(&workflows).unwrap_or_else(|e| panic!("{e:#}"));
}
