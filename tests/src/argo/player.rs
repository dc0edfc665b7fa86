//! **Plays Argo Workflows' workflow-controller** (v3.7) for the Workflows of one namespace: the
//! one Argo player of the tests.
//!
//! Why a play: the test node has no route from a pod to the API server (no kube-proxy, and the
//! `kubernetes` Service has no endpoints, tests/README.md), which Argo's `argoexec` sidecar and the
//! executor step both need, and no image of either can be pulled. So the steps run as processes
//! on this machine, against the same API server, with the same command lines.
//!
//! What it plays, as Argo does:
//! - a Workflow of the namespace that has no final phase starts when it appears, after Argo's own
//!   validation (the real `argo lint --offline`, [`super::lint`]): an invalid one ends at once,
//!   `Failed` with Argo's message `invalid spec: …`; a valid one gets `status.phase` `Running`,
//!   `startedAt`, then the entrypoint template;
//! - **DAG templates**: a task starts once every task in its `dependencies` succeeded;
//!   independent tasks run at the same time, at most `parallelism` of them (the template's, and
//!   the Workflow's `spec.parallelism` across all leaves); **failFast** (Argo's default, and
//!   `failFast: false`): after a failure no further task starts, running ones finish, the DAG
//!   fails; tasks never started because of that are not written, as Argo leaves them out;
//! - task `arguments.parameters` with `{{inputs.parameters.NAME}}` of the enclosing template
//!   substituted; **leaf (`container`) templates**: `command` + `args` after substitution, the
//!   command's first word mapped to a program on this machine (the real executor binary; an
//!   unmapped command fails the node as a pod whose image cannot start would), the container's
//!   literal `env` values, stdout and stderr to a log file per step; exit status 0 → `Succeeded`,
//!   else `Failed` with Argo's message `Error (exit code N)`;
//! - the step runs as the Workflow's `spec.serviceAccountName` (a TokenRequest token in a
//!   kubeconfig), so RBAC applies as it would to the pod; a missing account fails the node with the
//!   API server's message, as pod creation would;
//! - **`spec.suspend: true`**: no new step starts until it is false again (running ones finish);
//! - a Workflow deleted (gone, or being deleted in the foreground, when the garbage collector
//!   deletes its pods first): its running steps are killed and nothing more is written;
//! - `status.nodes` as Argo writes them: one node per DAG and per task (`id`, `name` — the parent's
//!   name + `.` + task name —, `displayName`, `type` `DAG` or `Pod`, `templateName`, `phase`,
//!   `boundaryID`, `children` — a DAG node's are its root tasks, a task's are the tasks that depend
//!   on it —, `startedAt`, `finishedAt`, `message`); the root node's id is the
//!   Workflow's name, others `<workflow>-<fnv-1a 32 of the node name>` (Argo's scheme);
//!   `status.phase` `Succeeded`/`Failed`, `finishedAt`, and on failure Argo's message
//!   `child '<id>' failed`.
//!
//! Not played: `steps`, `script`, `resource` and `suspend` templates, `when`, `depends`
//! expressions, retries, `activeDeadlineSeconds`, outputs and artifacts, pod specs beyond
//! command, args and env (a template that needs them fails as unsupported, loudly), the pods
//! themselves (nothing in `kubectl get pods`), `spec.shutdown`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use crate::Cluster;

/// How often the player looks for new, changed and deleted Workflows.
const POLL: Duration = Duration::from_millis(250);

/// A running Argo player; stops (killing every running step) when dropped.
#[derive(Debug)]
pub struct ArgoPlayer {
    task: JoinHandle<()>,
    log_dir: PathBuf,
}

impl Drop for ArgoPlayer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ArgoPlayer {
    /// Starts playing Argo for the Workflows of `namespace`. `programs` maps a leaf container's
    /// first command word to the program that runs it here (e.g. `orkestra-controller` → the built
    /// binary). Step logs go to `log_dir`.
    pub async fn start(
        cluster: &Cluster,
        namespace: &str,
        programs: &[(&str, &Path)],
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(log_dir)?;
        let world = Arc::new(World {
            cluster: cluster.clone(),
            workflows: Api::namespaced_with(cluster.client().await?, namespace, &resource()),
            namespace: namespace.to_owned(),
            programs: programs
                .iter()
                .map(|(word, path)| ((*word).to_owned(), path.to_path_buf()))
                .collect(),
            log_dir: log_dir.to_path_buf(),
        });
        let task = tokio::spawn(watch(world));
        Ok(Self {
            task,
            log_dir: log_dir.to_path_buf(),
        })
    }

    /// Everything the steps printed so far, each log under its file name (for failure messages).
    pub fn step_logs(&self) -> String {
        let mut out = String::new();
        let mut entries: Vec<_> = std::fs::read_dir(&self.log_dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            out.push_str(&format!("--- {}\n{text}", path.display()));
        }
        out
    }
}

/// Argo's Workflow kind.
fn resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Workflow"),
        "workflows",
    )
}

/// What every run of the player shares.
struct World {
    cluster: Cluster,
    workflows: Api<DynamicObject>,
    namespace: String,
    programs: HashMap<String, PathBuf>,
    log_dir: PathBuf,
}

/// Starts a run for each new unfinished Workflow; aborts the run of one deleted.
async fn watch(world: Arc<World>) {
    let mut runs: HashMap<String, JoinHandle<()>> = HashMap::new();
    loop {
        if let Ok(list) = world.workflows.list(&Default::default()).await {
            let mut present = HashSet::new();
            for wf in list.items {
                let Some(uid) = wf.metadata.uid.clone() else {
                    continue;
                };
                if being_collected(&wf) {
                    continue;
                }
                present.insert(uid.clone());
                let finished = matches!(
                    wf.data["status"]["phase"].as_str(),
                    Some("Succeeded" | "Failed" | "Error")
                );
                if !finished && !runs.contains_key(&uid) {
                    runs.insert(uid, tokio::spawn(run(world.clone(), wf)));
                }
            }
            runs.retain(|uid, run| {
                let keep = present.contains(uid);
                if !keep {
                    // Dropping a run drops its steps' processes (kill_on_drop).
                    run.abort();
                }
                keep
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Gone for Argo's purposes: deleted in the foreground, so the garbage collector deletes its pods
/// before the Workflow itself.
fn being_collected(wf: &DynamicObject) -> bool {
    wf.metadata.deletion_timestamp.is_some()
        && wf
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == "foregroundDeletion")
}

/// One Workflow's run: the status it writes and what its steps share.
struct Run {
    world: Arc<World>,
    name: String,
    templates: HashMap<String, Value>,
    service_account: String,
    /// `spec.parallelism`: leaves running at once across the Workflow.
    pods: Arc<Semaphore>,
    status: Mutex<Status>,
}

#[derive(Default)]
struct Status {
    nodes: BTreeMap<String, Value>,
}

/// A node's outcome.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Succeeded,
    Failed,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
        }
    }
}

async fn run(world: Arc<World>, wf: DynamicObject) {
    let name = wf.metadata.name.clone().unwrap_or_default();
    let spec = &wf.data["spec"];
    let templates = spec["templates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t["name"].as_str()?.to_owned(), t.clone())))
        .collect();
    let parallelism = spec["parallelism"]
        .as_u64()
        .map_or(Semaphore::MAX_PERMITS, |n| n as usize);
    let run = Arc::new(Run {
        world,
        name: name.clone(),
        templates,
        service_account: spec["serviceAccountName"]
            .as_str()
            .unwrap_or("default")
            .to_owned(),
        pods: Arc::new(Semaphore::new(parallelism.max(1))),
        status: Mutex::default(),
    });
    let object = serde_json::to_value(&wf).unwrap_or_default();
    let valid = tokio::task::spawn_blocking(move || super::lint(&object)).await;
    if let Ok(Err(invalid)) = valid {
        let message = format!("invalid spec: {invalid:#}");
        run.write(
            json!({"phase": "Failed", "startedAt": now(), "finishedAt": now(), "message": message}),
        )
        .await;
        return;
    }
    run.write(json!({"phase": "Running", "startedAt": now()}))
        .await;
    let entry = spec["entrypoint"].as_str().unwrap_or_default().to_owned();
    let (phase, message) = match run
        .clone()
        .node(name.clone(), name.clone(), entry, Vec::new(), None)
        .await
    {
        (Phase::Succeeded, _) => (Phase::Succeeded, String::new()),
        (Phase::Failed, message) => (Phase::Failed, message),
    };
    run.write(json!({"phase": phase.as_str(), "finishedAt": now(), "message": message}))
        .await;
}

impl Run {
    /// Runs template `template` as node `node_name`; returns its phase and, on failure, the
    /// message its parent's DAG reports.
    fn node(
        self: Arc<Self>,
        id: String,
        node_name: String,
        template: String,
        inputs: Vec<(String, String)>,
        boundary: Option<String>,
    ) -> futures::future::BoxFuture<'static, (Phase, String)> {
        Box::pin(async move {
            let Some(body) = self.templates.get(&template).cloned() else {
                let message = format!("templates.{template} not found");
                self.set_node(&id, &node_name, &template, "Pod", boundary.as_deref());
                self.finish_node(&id, Phase::Failed, &message).await;
                return (Phase::Failed, message);
            };
            if body.get("dag").is_some() {
                self.set_node(&id, &node_name, &template, "DAG", boundary.as_deref());
                self.flush().await;
                let phase = self.clone().dag(&id, &node_name, &body, &inputs).await;
                let message = match &phase {
                    Ok(()) => String::new(),
                    Err(failed_child) => format!("child '{failed_child}' failed"),
                };
                let phase = if phase.is_ok() {
                    Phase::Succeeded
                } else {
                    Phase::Failed
                };
                self.finish_node(&id, phase, &message).await;
                (phase, message)
            } else {
                self.set_node(&id, &node_name, &template, "Pod", boundary.as_deref());
                self.flush().await;
                let (phase, message) = self.leaf(&id, &body, &inputs).await;
                self.finish_node(&id, phase, &message).await;
                (phase, message)
            }
        })
    }

    /// Runs a DAG's tasks in dependency order; `Err` names the first child that failed.
    async fn dag(
        self: Arc<Self>,
        id: &str,
        node_name: &str,
        body: &Value,
        inputs: &[(String, String)],
    ) -> Result<(), String> {
        let dag = &body["dag"];
        let tasks: Vec<&Value> = dag["tasks"].as_array().into_iter().flatten().collect();
        let fail_fast = dag["failFast"].as_bool().unwrap_or(true);
        let limit = body["parallelism"]
            .as_u64()
            .map_or(usize::MAX, |n| n as usize)
            .max(1);
        let mut done: HashMap<String, Phase> = HashMap::new();
        let mut started: HashSet<String> = HashSet::new();
        let mut running = JoinSet::new();
        let mut first_failure: Option<String> = None;
        loop {
            let may_start = first_failure.is_none() || !fail_fast;
            if may_start && !self.suspended().await {
                for task in &tasks {
                    let task_name = task["name"].as_str().unwrap_or_default().to_owned();
                    if started.contains(&task_name) || running.len() >= limit {
                        continue;
                    }
                    let deps: Vec<&str> = task["dependencies"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    if !deps.iter().all(|d| done.get(*d) == Some(&Phase::Succeeded)) {
                        continue;
                    }
                    started.insert(task_name.clone());
                    let child_name = format!("{node_name}.{task_name}");
                    let child_id = node_id(&self.name, &child_name);
                    // As Argo links a DAG: the DAG node's children are its root tasks; every other
                    // task is a child of each task it depends on.
                    if deps.is_empty() {
                        self.add_child(id, &child_id);
                    }
                    for dep in &deps {
                        self.add_child(
                            &node_id(&self.name, &format!("{node_name}.{dep}")),
                            &child_id,
                        );
                    }
                    let arguments = task["arguments"]["parameters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| {
                            let value = p["value"].as_str().unwrap_or_default();
                            (
                                p["name"].as_str().unwrap_or_default().to_owned(),
                                super::substitute([value], inputs).remove(0),
                            )
                        })
                        .collect();
                    let template = task["template"].as_str().unwrap_or_default().to_owned();
                    let child = self.clone().node(
                        child_id.clone(),
                        child_name,
                        template,
                        arguments,
                        Some(id.to_owned()),
                    );
                    running.spawn(async move { (task_name, child_id, child.await.0) });
                }
            }
            if running.is_empty() {
                // Nothing runs: finished, stopped by a failure, suspended, or stuck on a failed
                // dependency (failFast: false).
                let runnable = may_start
                    && tasks.iter().any(|t| {
                        let name = t["name"].as_str().unwrap_or_default();
                        !started.contains(name)
                            && t["dependencies"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(Value::as_str)
                                .all(|d| done.get(d) == Some(&Phase::Succeeded))
                    });
                if !runnable {
                    break;
                }
                tokio::time::sleep(POLL).await;
                continue;
            }
            tokio::select! {
                Some(Ok((task_name, child_id, phase))) = running.join_next() => {
                    if phase == Phase::Failed && first_failure.is_none() {
                        first_failure = Some(child_id);
                    }
                    done.insert(task_name, phase);
                }
                () = tokio::time::sleep(POLL) => {}
            }
        }
        let all_succeeded = tasks
            .iter()
            .all(|t| done.get(t["name"].as_str().unwrap_or_default()) == Some(&Phase::Succeeded));
        match first_failure {
            Some(child) => Err(child),
            None if all_succeeded => Ok(()),
            // Never started because a dependency failed: Argo fails the DAG on that dependency.
            None => Err(String::from("a dependency failed")),
        }
    }

    /// Runs a leaf template's container as a process.
    async fn leaf(&self, id: &str, body: &Value, inputs: &[(String, String)]) -> (Phase, String) {
        let Some(container) = body.get("container") else {
            return (
                Phase::Failed,
                format!("the Argo player does not play this template: {body}"),
            );
        };
        let words = |key: &str| -> Vec<String> {
            super::substitute(
                container[key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str),
                inputs,
            )
        };
        let command = words("command");
        let args = words("args");
        let Some(program) = command.first().and_then(|c| self.world.programs.get(c)) else {
            return (
                Phase::Failed,
                format!(
                    "no program here plays image {} (command {command:?})",
                    container["image"]
                ),
            );
        };
        let kubeconfig = match self.step_kubeconfig(id).await {
            Ok(kubeconfig) => kubeconfig,
            Err(message) => return (Phase::Failed, message),
        };
        let _pod = self.pods.clone().acquire_owned().await;
        let log = match std::fs::File::create(self.world.log_dir.join(format!("{id}.log"))) {
            Ok(log) => log,
            Err(e) => return (Phase::Failed, format!("step log: {e}")),
        };
        let mut process = tokio::process::Command::new(program);
        process
            .args(&command[1..])
            .args(&args)
            .env("KUBECONFIG", &kubeconfig)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        for var in container["env"].as_array().into_iter().flatten() {
            if let (Some(name), Some(value)) = (var["name"].as_str(), var["value"].as_str()) {
                process.env(name, value);
            }
        }
        let status = log.try_clone().context("step log").and_then(|out| {
            process.stdout(out).stderr(log);
            process.spawn().context("starting the step")
        });
        let mut child = match status {
            Ok(child) => child,
            Err(e) => return (Phase::Failed, format!("{e:#}")),
        };
        match child.wait().await {
            Ok(status) if status.success() => (Phase::Succeeded, String::new()),
            Ok(status) => (
                Phase::Failed,
                format!("Error (exit code {})", status.code().unwrap_or(-1)),
            ),
            Err(e) => (Phase::Failed, format!("waiting for the step: {e}")),
        }
    }

    /// A kubeconfig for the Workflow's service account; without the account, the message pod
    /// creation would fail with.
    async fn step_kubeconfig(&self, id: &str) -> Result<PathBuf, String> {
        let (namespace, account) = (&self.world.namespace, &self.service_account);
        let accounts = self
            .world
            .cluster
            .client()
            .await
            .map(|c| Api::<ServiceAccount>::namespaced(c, namespace))
            .map_err(|e| format!("{e:#}"))?;
        if !matches!(accounts.get_opt(account).await, Ok(Some(_))) {
            return Err(format!(
                "pods \"{id}\" is forbidden: error looking up service account \
                 {namespace}/{account}: serviceaccount \"{account}\" not found"
            ));
        }
        let kubeconfig = self.world.log_dir.join(format!("{id}.kubeconfig"));
        self.world
            .cluster
            .write_service_account_kubeconfig(namespace, account, &kubeconfig)
            .await
            .map_err(|e| format!("a token for {namespace}/{account}: {e:#}"))?;
        Ok(kubeconfig)
    }

    /// Whether the Workflow asks to be suspended now.
    async fn suspended(&self) -> bool {
        match self.world.workflows.get_opt(&self.name).await {
            Ok(Some(wf)) => wf.data["spec"]["suspend"].as_bool() == Some(true),
            _ => false,
        }
    }

    fn set_node(&self, id: &str, name: &str, template: &str, kind: &str, boundary: Option<&str>) {
        let display = name.rsplit('.').next().unwrap_or(name);
        let mut node = json!({
            "id": id, "name": name, "displayName": display, "type": kind,
            "templateName": template, "phase": "Running", "startedAt": now(),
        });
        if let Some(boundary) = boundary {
            node["boundaryID"] = json!(boundary);
        }
        if let Ok(mut status) = self.status.lock() {
            status.nodes.insert(id.to_owned(), node);
        }
    }

    fn add_child(&self, parent: &str, child: &str) {
        if let Ok(mut status) = self.status.lock()
            && let Some(node) = status.nodes.get_mut(parent)
        {
            match node["children"].as_array_mut() {
                Some(children) => children.push(json!(child)),
                None => node["children"] = json!([child]),
            }
        }
    }

    async fn finish_node(&self, id: &str, phase: Phase, message: &str) {
        if let Ok(mut status) = self.status.lock()
            && let Some(node) = status.nodes.get_mut(id)
        {
            node["phase"] = json!(phase.as_str());
            node["finishedAt"] = json!(now());
            if !message.is_empty() {
                node["message"] = json!(message);
            }
        }
        self.flush().await;
    }

    /// Writes the nodes.
    async fn flush(&self) {
        let nodes = self
            .status
            .lock()
            .map(|s| s.nodes.clone())
            .unwrap_or_default();
        self.write(json!({"nodes": nodes})).await;
    }

    /// Merges `status` into the Workflow's status (Argo's Workflow has no status subresource).
    async fn write(&self, status: Value) {
        let patch = json!({"status": status});
        let _ = self
            .world
            .workflows
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await;
    }
}

/// Argo's node id: `<workflow>-<fnv-1a 32 of the node name>`.
fn node_id(workflow: &str, node_name: &str) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in node_name.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("{workflow}-{hash}")
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn node_ids_are_argos_fnv_hash_of_the_node_name() {
        // FNV-1a 32 of "a" is 0xe40c292c.
        assert_eq!(super::node_id("wf", "a"), format!("wf-{}", 0xe40c_292c_u32));
    }
}
