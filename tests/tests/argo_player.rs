//! The Argo player (`orkestra_tests::argo::ArgoPlayer`) against the real API server: it must run a
//! Workflow as Argo's workflow-controller would, or the rollout tests that rely on it prove
//! nothing. Each step here is `sh -c …` (the leaf's command word `sh` mapped to /bin/sh), appending
//! to a file what it did, so the order and overlap of steps are seen from outside.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use orkestra_tests::Cluster;
use orkestra_tests::argo::ArgoPlayer;
use serde_json::{Value, json};

/// One test's namespace, player, and the file its steps write.
struct World {
    workflows: Api<DynamicObject>,
    journal: PathBuf,
    _player: ArgoPlayer,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start(prefix: &str) -> World {
        let cluster = Cluster::shared().await.unwrap();
        let client = cluster.client().await.unwrap();
        let namespace = cluster.namespace(prefix).await.unwrap();
        let account: ServiceAccount =
            serde_json::from_value(json!({"metadata": {"name": "runner"}})).unwrap();
        Api::<ServiceAccount>::namespaced(client.clone(), &namespace)
            .create(&PostParams::default(), &account)
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let player = ArgoPlayer::start(
            &cluster,
            &namespace,
            &[("sh", Path::new("/bin/sh"))],
            &dir.path().join("steps"),
        )
        .await
        .unwrap();
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Workflow"),
            "workflows",
        );
        World {
            workflows: Api::namespaced_with(client, &namespace, &resource),
            journal: dir.path().join("journal"),
            _player: player,
            _dir: dir,
        }
    }

    /// Submits a Workflow `name` whose entry DAG has `tasks` (name, dependencies, seconds the step
    /// takes, its exit status), with `spec` merged in.
    async fn submit(&self, name: &str, tasks: &[(&str, &[&str], f32, u8)], spec: Value) {
        let dag: Vec<Value> = tasks
            .iter()
            .map(|(task, deps, seconds, exit)| {
                json!({"name": task, "template": "step", "dependencies": deps,
                    "arguments": {"parameters": [{"name": "name", "value": task},
                        {"name": "seconds", "value": seconds.to_string()},
                        {"name": "exit", "value": exit.to_string()}]}})
            })
            .collect();
        let mut workflow = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": name},
            "spec": {
                "entrypoint": "entry", "serviceAccountName": "runner",
                "templates": [
                    {"name": "entry", "dag": {"tasks": dag}},
                    {"name": "step",
                     "inputs": {"parameters": [{"name": "name"}, {"name": "seconds"}, {"name": "exit"}]},
                     "container": {"image": "busybox", "command": ["sh", "-c"],
                        "args": [STEP],
                        "env": [{"name": "JOURNAL", "value": self.journal.display().to_string()}]}},
                ],
            },
        });
        for (key, value) in spec.as_object().into_iter().flatten() {
            workflow["spec"][key] = value.clone();
        }
        let object: DynamicObject = serde_json::from_value(workflow).unwrap();
        self.workflows
            .create(&PostParams::default(), &object)
            .await
            .unwrap();
    }

    /// The Workflow once its phase is final.
    async fn finished(&self, name: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let wf = self.workflows.get(name).await.unwrap();
            let wf = serde_json::to_value(wf).unwrap();
            if matches!(wf["status"]["phase"].as_str(), Some("Succeeded" | "Failed")) {
                return wf;
            }
            assert!(Instant::now() < deadline, "{name} never finished: {wf}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The journal's lines.
    fn journal(&self) -> Vec<String> {
        std::fs::read_to_string(&self.journal)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The position of `line` in the journal.
    fn at(&self, line: &str) -> usize {
        let journal = self.journal();
        journal
            .iter()
            .position(|l| l == line)
            .unwrap_or_else(|| panic!("{line:?} not in {journal:?}"))
    }
}

/// The step: notes its start, takes its seconds, then notes its end, or its failure and exits so.
const STEP: &str = "echo {{inputs.parameters.name}} start >> $JOURNAL; \
    sleep {{inputs.parameters.seconds}}; \
    if [ {{inputs.parameters.exit}} != 0 ]; then \
    echo {{inputs.parameters.name}} failed >> $JOURNAL; exit {{inputs.parameters.exit}}; fi; \
    echo {{inputs.parameters.name}} end >> $JOURNAL";

/// The nodes of a Workflow by display name: (phase, children's display names).
fn nodes(wf: &Value) -> Vec<(String, String, Vec<String>)> {
    let all = wf["status"]["nodes"].as_object().unwrap();
    let display = |id: &Value| {
        all[id.as_str().unwrap()]["displayName"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let mut out: Vec<(String, String, Vec<String>)> = all
        .values()
        .map(|n| {
            let mut children: Vec<String> = n["children"]
                .as_array()
                .into_iter()
                .flatten()
                .map(display)
                .collect();
            children.sort();
            (
                n["displayName"].as_str().unwrap().to_owned(),
                n["phase"].as_str().unwrap().to_owned(),
                children,
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn tasks_run_in_dependency_order_and_independent_ones_at_once() {
    let w = World::start("argo-order").await;
    w.submit(
        "order",
        &[
            ("a", &[], 1.0, 0),
            ("b", &["a"], 1.0, 0),
            ("c", &["a"], 1.0, 0),
            ("d", &["b", "c"], 1.0, 0),
        ],
        json!({}),
    )
    .await;
    let wf = w.finished("order").await;
    assert_eq!(wf["status"]["phase"], "Succeeded", "{wf}");
    assert!(w.at("a end") < w.at("b start") && w.at("a end") < w.at("c start"));
    // b and c overlap: each started before the other ended.
    assert!(w.at("b start") < w.at("c end") && w.at("c start") < w.at("b end"));
    assert!(w.at("b end") < w.at("d start") && w.at("c end") < w.at("d start"));
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        nodes(&wf),
        [
            ("a".into(), "Succeeded".into(), s(&["b", "c"])),
            ("b".into(), "Succeeded".into(), s(&["d"])),
            ("c".into(), "Succeeded".into(), s(&["d"])),
            ("d".into(), "Succeeded".into(), s(&[])),
            ("order".into(), "Succeeded".into(), s(&["a"])),
        ]
    );
}

#[tokio::test]
async fn parallelism_one_runs_independent_tasks_one_after_the_other() {
    let w = World::start("argo-serial").await;
    w.submit(
        "serial",
        &[("b", &[], 0.5, 0), ("c", &[], 0.5, 0)],
        json!({"parallelism": 1}),
    )
    .await;
    assert_eq!(w.finished("serial").await["status"]["phase"], "Succeeded");
    let journal = w.journal();
    let first = journal[0].split(' ').next().unwrap().to_owned();
    assert_eq!(
        journal[1],
        format!("{first} end"),
        "no overlap: {journal:?}"
    );
}

#[tokio::test]
async fn after_a_failure_running_tasks_finish_and_no_new_one_starts() {
    let w = World::start("argo-failfast").await;
    w.submit(
        "failfast",
        &[
            ("b", &[], 0.0, 3),
            ("c", &[], 1.5, 0),
            ("d", &["c"], 1.5, 0),
        ],
        json!({}),
    )
    .await;
    let wf = w.finished("failfast").await;
    assert_eq!(wf["status"]["phase"], "Failed");
    let journal = w.journal();
    assert!(
        journal.contains(&"c end".to_owned()),
        "c ran to its end: {journal:?}"
    );
    assert!(
        !journal.iter().any(|l| l.starts_with('d')),
        "d never started: {journal:?}"
    );
    let failed = nodes(&wf).into_iter().find(|(n, ..)| n == "b").unwrap();
    assert_eq!(failed.1, "Failed");
    let b = wf["status"]["nodes"]
        .as_object()
        .unwrap()
        .values()
        .find(|n| n["displayName"] == "b")
        .unwrap();
    assert_eq!(b["message"], "Error (exit code 3)");
    assert_eq!(
        wf["status"]["message"],
        format!("child '{}' failed", b["id"].as_str().unwrap())
    );
}

#[tokio::test]
async fn a_suspended_workflow_starts_nothing_until_resumed() {
    let w = World::start("argo-suspend").await;
    w.submit("held", &[("a", &[], 0.1, 0)], json!({"suspend": true}))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        w.journal(),
        Vec::<String>::new(),
        "nothing ran while suspended"
    );
    let resume = json!({"spec": {"suspend": false}});
    w.workflows
        .patch("held", &PatchParams::default(), &Patch::Merge(&resume))
        .await
        .unwrap();
    assert_eq!(w.finished("held").await["status"]["phase"], "Succeeded");
    assert_eq!(w.journal(), ["a start", "a end"]);
}

#[tokio::test]
async fn a_deleted_workflows_running_step_is_killed() {
    let w = World::start("argo-delete").await;
    w.submit("doomed", &[("a", &[], 4.0, 0)], json!({})).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while w.journal().is_empty() {
        assert!(Instant::now() < deadline, "the step never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    w.workflows
        .delete("doomed", &Default::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        w.journal(),
        ["a start"],
        "the step was killed before its end"
    );
}

#[tokio::test]
async fn a_workflow_argo_would_refuse_fails_with_argos_message() {
    let w = World::start("argo-invalid").await;
    // `b` depends on a task that does not exist.
    w.submit(
        "invalid",
        &[("a", &[], 0.1, 0), ("b", &["nope"], 0.1, 0)],
        json!({}),
    )
    .await;
    let wf = w.finished("invalid").await;
    assert_eq!(wf["status"]["phase"], "Failed");
    let message = wf["status"]["message"].as_str().unwrap();
    assert!(message.starts_with("invalid spec: "), "{message}");
    assert!(message.contains("nope"), "{message}");
    assert_eq!(w.journal(), Vec::<String>::new(), "nothing ran");
}
