//! Support for the reconciler's end-to-end tests (controller/tests/reconcile*.rs).
//!
//! Each test gets its own controller process (the real `orkestra-controller run` binary) against
//! the shared local cluster, filtered to the test's groups by a label selector
//! (`orkestra.test/run=<id>`), with its own workflow namespace, Lease and staging path in the
//! real OCI registry. Tests can run in parallel without seeing each other.
//!
//! **Decides Argo's and Flux's answers by hand** (no Argo or Flux controller runs on the shared
//! cluster): tests built on it assert on the controller's decisions, not on releases. Argo's verdict: the test sets the Workflow's `status.phase`
//! ([`Env::set_phase`]); [`Env::perform_tasks`] applies (or deletes) every task's HelmRelease at
//! once, ignoring `dependencies`, only so that the releases the controller then watches exist.
//! Flux's: the test writes the HelmReleases' status as helm-controller does
//! (`orkestra_tests::flux_status`, the one play of it). Real Argo and real Flux run for
//! the rollout tests (rollout_support, on `Cluster::with_engines`).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use orkestra_shared::crd::ApplicationGroup;
use orkestra_shared::plan::ReleaseRef;
use orkestra_tests::{Cluster, unique_name};
use serde_json::{Value, json};

/// Label that ties a test's groups to its controller.
pub const RUN_LABEL: &str = "orkestra.test/run";
/// How long a test waits for the controller to react.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// One test's world: cluster, client, namespace, run id, staging URL.
pub struct Env {
    pub cluster: Arc<Cluster>,
    pub client: kube::Client,
    /// Workflow namespace, also the releases' target namespace.
    pub namespace: String,
    /// The run id (label value, Lease name).
    pub run: String,
    /// `oci://<registry>/<run>`.
    pub staging: String,
    /// How long the waits for the controller (and what it drives) last: [`PATIENCE`] unless set.
    pub patience: Duration,
}

impl Env {
    pub async fn new(prefix: &str) -> Env {
        Env::on(Cluster::shared().await.unwrap(), prefix).await
    }

    /// A test's world on the shared cluster with its controller replica `a` started.
    pub async fn with_controller(prefix: &str) -> (Env, Controller) {
        let env = Env::new(prefix).await;
        let ctl = env.controller("a");
        (env, ctl)
    }

    /// A test's world on `cluster` (e.g. [`Cluster::with_engines`]).
    pub async fn on(cluster: Arc<Cluster>, prefix: &str) -> Env {
        let client = cluster.client().await.unwrap();
        let run = cluster.namespace(prefix).await.unwrap();
        let staging = format!("oci://{}/{run}", cluster.registry());
        Env {
            cluster,
            client,
            namespace: run.clone(),
            run,
            staging,
            patience: PATIENCE,
        }
    }

    /// Starts a controller replica for this test.
    pub fn controller(&self, identity: &str) -> Controller {
        self.controller_with(identity, &[])
    }

    /// Starts a controller replica for this test with extra arguments.
    pub fn controller_with(&self, identity: &str, extra: &[&str]) -> Controller {
        self.controller_via(identity, self.cluster.kubeconfig(), extra)
    }

    /// Starts a controller replica that reaches the API server through `kubeconfig`.
    pub fn controller_via(
        &self,
        identity: &str,
        kubeconfig: &std::path::Path,
        extra: &[&str],
    ) -> Controller {
        let log_dir = orkestra_tests::cluster::state_dir().with_file_name("reconcile-logs");
        std::fs::create_dir_all(&log_dir).unwrap();
        let log = log_dir.join(format!("{}-{identity}.log", self.run));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_orkestra-controller"))
            .args([
                "run",
                "--staging",
                &self.staging,
                "--workflow-namespace",
                &self.namespace,
            ])
            .args(["--selector", &format!("{RUN_LABEL}={}", self.run)])
            .args([
                "--admin-addr",
                "127.0.0.1:0",
                "--lease-name",
                &self.run,
                "--identity",
                identity,
            ])
            .args(["--lease-duration", "3s", "--lease-renew", "1s"])
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env(
                "RUST_LOG",
                std::env::var("ORKESTRA_TEST_CONTROLLER_LOG")
                    .unwrap_or_else(|_| "info,kube=warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Controller { child, log }
    }

    pub fn groups(&self) -> Api<ApplicationGroup> {
        Api::all(self.client.clone())
    }

    pub fn workflows(&self) -> Api<DynamicObject> {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Workflow"),
            "workflows",
        );
        Api::namespaced_with(self.client.clone(), &self.namespace, &ar)
    }

    pub fn helm_releases(&self) -> Api<DynamicObject> {
        self.helm_releases_in(&self.namespace)
    }

    /// The HelmReleases of `namespace`.
    pub fn helm_releases_in(&self, namespace: &str) -> Api<DynamicObject> {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", "HelmRelease"),
            "helmreleases",
        );
        Api::namespaced_with(self.client.clone(), namespace, &ar)
    }

    pub fn helm_repositories(&self) -> Api<DynamicObject> {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "HelmRepository"),
            "helmrepositories",
        );
        Api::namespaced_with(self.client.clone(), &self.namespace, &ar)
    }

    /// An application of the standard chart repository, released into the test namespace.
    pub fn app(&self, name: &str, chart: &str, version: &str, dependencies: &[&str]) -> Value {
        json!({
            "name": name,
            "dependencies": dependencies,
            "spec": {
                "chart": {"url": self.cluster.chart_repo(), "name": chart, "version": version},
                "release": {"targetNamespace": self.namespace},
            },
        })
    }

    /// Creates Secret `name` in `namespace` holding basic-auth credentials, as a user would for
    /// `authSecretRef` or `--staging-credentials-secret`.
    pub async fn create_credentials(
        &self,
        namespace: &str,
        name: &str,
        username: &str,
        password: &str,
    ) {
        let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
            "metadata": {"name": name},
            "stringData": {"username": username, "password": password},
        }))
        .unwrap();
        Api::<k8s_openapi::api::core::v1::Secret>::namespaced(self.client.clone(), namespace)
            .create(&Default::default(), &secret)
            .await
            .unwrap();
    }

    /// One application, `base`, of the `hello` chart at `version`.
    pub fn base(&self, version: &str) -> Vec<Value> {
        vec![self.app("base", "hello", version, &[])]
    }

    /// Two applications of the `hello` chart 1.0.0: `base`, and `web` depending on it.
    pub fn base_and_web(&self) -> Vec<Value> {
        vec![
            self.app("base", "hello", "1.0.0", &[]),
            self.app("web", "hello", "1.0.0", &["base"]),
        ]
    }

    /// Creates a group of this run with `applications`.
    pub async fn create_group(&self, prefix: &str, applications: Vec<Value>) -> String {
        self.create_group_named(unique_name(prefix), applications)
            .await
    }

    /// Creates the group `name` of this run with `applications`.
    pub async fn create_group_named(&self, name: String, applications: Vec<Value>) -> String {
        let group: ApplicationGroup = serde_json::from_value(json!({
            "apiVersion": "orkestra.azure.microsoft.com/v1alpha1",
            "kind": "ApplicationGroup",
            "metadata": {"name": name, "labels": {RUN_LABEL: self.run}},
            "spec": {"applications": applications},
        }))
        .unwrap();
        self.groups()
            .create(&PostParams::default(), &group)
            .await
            .unwrap();
        name
    }

    /// Replaces the group's applications (a new generation).
    pub async fn update_applications(&self, group: &str, applications: Vec<Value>) {
        let patch = json!({"spec": {"applications": applications}});
        self.groups()
            .patch(group, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }

    pub async fn group(&self, name: &str) -> Option<ApplicationGroup> {
        self.groups().get_opt(name).await.unwrap()
    }

    /// The Workflow `name` once it exists and (when `generation` is given) is of that generation;
    /// panics with Argo's message unless `argo lint --offline` accepts it ([`assert_lints`]).
    pub async fn wait_workflow(
        &self,
        name: &str,
        generation: Option<i64>,
        ctl: &Controller,
    ) -> DynamicObject {
        let api = self.workflows();
        let wf = wait_within(
            self.patience,
            &format!("Workflow {name} (generation {generation:?})"),
            ctl,
            || {
                let api = api.clone();
                async move {
                    let wf = api.get_opt(name).await.unwrap()?;
                    let gen_label = wf
                        .metadata
                        .labels
                        .as_ref()?
                        .get(orkestra_shared::names::GENERATION_LABEL)?
                        .parse()
                        .ok();
                    (generation.is_none() || gen_label == generation).then_some(wf)
                }
            },
        )
        .await;
        assert_lints(&wf).await;
        wf
    }

    /// Deletes the Workflow `name` as a person (or an Argo TTL) would, and waits until the
    /// controller let it go.
    pub async fn delete_workflow(&self, name: &str, ctl: &Controller) {
        self.workflows()
            .delete(name, &Default::default())
            .await
            .unwrap();
        wait_within(
            self.patience,
            &format!("Workflow {name} to be let go"),
            ctl,
            || async {
                self.workflows()
                    .get_opt(name)
                    .await
                    .unwrap()
                    .is_none()
                    .then_some(())
            },
        )
        .await;
    }

    /// The names of the HelmReleases in the test's namespace, sorted.
    pub async fn helm_release_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .helm_releases()
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|release| release.metadata.name)
            .collect();
        names.sort();
        names
    }

    /// The Workflow that replaced `old` under its name, once there is one: the teardown's own
    /// reverse Workflow in place of a remediation it could not use.
    pub async fn wait_replaced(&self, old: &DynamicObject, ctl: &Controller) -> DynamicObject {
        let name = old.metadata.name.as_deref().unwrap();
        wait_within(
            self.patience,
            &format!("a Workflow {name} in place of the one it had"),
            ctl,
            || async {
                let now = self.workflows().get_opt(name).await.unwrap()?;
                (now.metadata.uid != old.metadata.uid).then_some(now)
            },
        )
        .await
    }

    /// Waits until the group's Ready condition is `False` with `reason`; returns its message.
    pub async fn wait_refused(&self, group: &str, reason: &str, ctl: &Controller) -> String {
        let group = self.wait_ready(group, "False", reason, ctl).await;
        condition(&group, "Ready")
            .map(|c| c.message)
            .unwrap_or_default()
    }

    /// Waits until the group's Ready condition has `status` and `reason`; returns the group.
    pub async fn wait_ready(
        &self,
        group: &str,
        status: &str,
        reason: &str,
        ctl: &Controller,
    ) -> ApplicationGroup {
        wait_within(
            self.patience,
            &format!("{group} Ready={status}/{reason}"),
            ctl,
            || async move {
                let g = self.group(group).await?;
                let ready = condition(&g, "Ready")?;
                (ready.status == status && ready.reason == reason).then_some(g)
            },
        )
        .await
    }

    /// Creates a group and waits until `ctl` submitted its first forward Workflow.
    pub async fn submitted_group(
        &self,
        prefix: &str,
        applications: Vec<Value>,
        ctl: &Controller,
    ) -> String {
        let group = self.create_group(prefix, applications).await;
        self.wait_workflow(&group, Some(1), ctl).await;
        group
    }

    /// Creates a group and plays its first forward Workflow to success: the group is
    /// Ready=True/Succeeded at generation 1 when this returns.
    pub async fn deployed_group(
        &self,
        prefix: &str,
        applications: Vec<Value>,
        ctl: &Controller,
    ) -> String {
        let group = self.submitted_group(prefix, applications, ctl).await;
        self.run_workflow(&group, "Succeeded").await;
        self.wait_ready(&group, "True", "Succeeded", ctl).await;
        group
    }

    /// Deletes a group (as `kubectl delete ag NAME` does: the finalizer holds it).
    pub async fn delete_group(&self, group: &str) {
        self.groups()
            .delete(group, &DeleteParams::default())
            .await
            .unwrap();
    }

    /// `kubectl delete --cascade=foreground`: the garbage collector deletes what the group owns
    /// while the group waits.
    pub async fn delete_group_foreground(&self, group: &str) {
        self.groups()
            .delete(group, &DeleteParams::foreground())
            .await
            .unwrap();
    }

    /// Checks that the group waits for its teardown and that the reverse Workflow `reverse` deletes
    /// exactly the releases `installed` (read from its release stores); plays it to success and
    /// waits until the group is gone.
    pub async fn finish_teardown(
        &self,
        group: &str,
        reverse: &DynamicObject,
        installed: &[String],
        ctl: &Controller,
    ) {
        assert!(
            self.group(group).await.is_some(),
            "the group waits for the teardown"
        );
        let mut deletes: Vec<(String, String)> = installed
            .iter()
            .map(|release| (release.clone(), "delete".to_owned()))
            .collect();
        deletes.sort();
        assert_eq!(self.task_actions(reverse).await, deletes);
        let name = reverse.metadata.name.as_deref().unwrap();
        self.run_workflow(name, "Succeeded").await;
        self.wait_gone(group, ctl).await;
    }

    /// Deletes the group, then plays its teardown's reverse Workflow ([`Env::finish_teardown`]):
    /// it must delete exactly `installed`.
    pub async fn delete_and_tear_down(&self, group: &str, installed: &[String], ctl: &Controller) {
        self.delete_group(group).await;
        let reverse = self
            .wait_workflow(&format!("{group}-reverse"), None, ctl)
            .await;
        self.finish_teardown(group, &reverse, installed, ctl).await;
    }

    /// Waits until the group is gone (its finalizer released).
    pub async fn wait_gone(&self, group: &str, ctl: &Controller) {
        wait_within(
            self.patience,
            &format!("{group} to be gone"),
            ctl,
            || async move { self.group(group).await.is_none().then_some(()) },
        )
        .await;
    }

    /// Waits until the group's condition `type_` has `status`; returns the group.
    pub async fn wait_condition(
        &self,
        group: &str,
        type_: &str,
        status: &str,
        ctl: &Controller,
    ) -> ApplicationGroup {
        wait_within(
            self.patience,
            &format!("{group} {type_}={status}"),
            ctl,
            || async move {
                let g = self.group(group).await?;
                (condition(&g, type_)?.status == status).then_some(g)
            },
        )
        .await
    }

    /// Waits for an Event about the group with `reason` whose note contains `note` (Events are
    /// published in the background); returns the note.
    pub async fn wait_event(
        &self,
        group: &str,
        reason: &str,
        note: &str,
        ctl: &Controller,
    ) -> String {
        wait_within(
            self.patience,
            &format!("a {reason} event ({note:?})"),
            ctl,
            || async move {
                self.events(group)
                    .await
                    .into_iter()
                    .find(|(r, n)| r == reason && n.contains(note))
                    .map(|(_, n)| n)
            },
        )
        .await
    }

    /// Plays Argo and Flux for a Workflow: performs every task (install → HelmRelease created and
    /// marked Ready by "Flux"; delete → HelmRelease deleted), then sets the Workflow's phase.
    pub async fn run_workflow(&self, name: &str, phase: &str) {
        for release in self.perform_tasks(name).await {
            self.set_release_ready(
                &release,
                "True",
                "InstallSucceeded",
                "Helm install succeeded",
            )
            .await;
        }
        self.set_phase(name, phase, "").await;
    }

    /// Plays Argo's executor steps only: every install task's HelmRelease applied, every delete
    /// task's deleted (no Flux status). Returns the names of the installed releases.
    pub async fn perform_tasks(&self, name: &str) -> Vec<String> {
        let wf = self.workflows().get(name).await.unwrap();
        let mut installed = Vec::new();
        for (release, action) in self.task_releases(&wf).await {
            let release_name = release["metadata"]["name"].as_str().unwrap().to_owned();
            if action == "delete" {
                let _ = self
                    .helm_releases()
                    .delete(&release_name, &DeleteParams::default())
                    .await;
                continue;
            }
            self.helm_releases()
                .patch(
                    &release_name,
                    &PatchParams::apply("test-argo").force(),
                    &Patch::Apply(&release),
                )
                .await
                .unwrap();
            installed.push(release_name);
        }
        installed
    }

    /// Plays Argo: sets the Workflow's `status.phase` (and `status.message`).
    pub async fn set_phase(&self, name: &str, phase: &str, message: &str) {
        let patch = json!({"status": {"phase": phase, "message": message}});
        self.workflows()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }

    /// Plays Flux ([`orkestra_tests::flux_status`]): its verdict on the HelmRelease's current
    /// generation.
    pub async fn set_release_ready(&self, name: &str, status: &str, reason: &str, message: &str) {
        let generation = self
            .helm_releases()
            .get(name)
            .await
            .unwrap()
            .metadata
            .generation;
        self.set_release_ready_at(name, status, reason, message, generation.unwrap_or(1))
            .await;
    }

    /// Plays Flux ([`orkestra_tests::flux_status`]): its verdict on the HelmRelease's attempt at
    /// `observed_generation`.
    pub async fn set_release_ready_at(
        &self,
        name: &str,
        status: &str,
        reason: &str,
        message: &str,
        observed_generation: i64,
    ) {
        let verdict = orkestra_tests::flux_status::Verdict {
            ready: status,
            reason,
            message,
        };
        orkestra_tests::flux_status::report(
            &self.helm_releases(),
            name,
            observed_generation,
            verdict,
        )
        .await
        .unwrap();
    }

    /// Events about a group (as `kubectl describe` lists them): (reason, note).
    pub async fn events(&self, group: &str) -> Vec<(String, String)> {
        self.events_about(group)
            .await
            .into_iter()
            .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
            .collect()
    }

    /// The reasons of the Warning events about a group.
    pub async fn warnings(&self, group: &str) -> Vec<String> {
        self.events_about(group)
            .await
            .into_iter()
            .filter(|e| e.type_.as_deref() == Some("Warning"))
            .map(|e| e.reason.unwrap_or_default())
            .collect()
    }

    async fn events_about(&self, group: &str) -> Vec<Event> {
        let events = Api::<Event>::namespaced(self.client.clone(), "default")
            .list(&ListParams::default())
            .await
            .unwrap();
        events
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(group))
            .collect()
    }

    /// Tags of a chart in the staging registry.
    pub async fn staged_tags(&self, chart: &str) -> Vec<String> {
        let url = format!(
            "http://{}/v2/{}/{chart}/tags/list",
            self.cluster.registry(),
            self.run
        );
        let Ok(response) = reqwest::get(&url).await else {
            return Vec::new();
        };
        let body: Value = response.json().await.unwrap_or_default();
        body["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect()
    }
}

/// A running controller process; killed on drop.
pub struct Controller {
    pub child: Child,
    pub log: PathBuf,
}

impl Controller {
    /// The controller's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: as a crashed pod.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit.
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `check` until it returns Some (panics with the controller's log after [`PATIENCE`]).
pub async fn wait_for<T, F, Fut>(what: &str, ctl: &Controller, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wait_within(PATIENCE, what, ctl, check).await
}

/// Polls `check` until it returns Some (panics with the controller's log after `patience`).
pub async fn wait_within<T, F, Fut>(
    patience: Duration,
    what: &str,
    ctl: &Controller,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + patience;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() > deadline {
            panic!(
                "timed out waiting for {what}; controller log:\n{}",
                ctl.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Panics with Argo's message unless the real `argo lint --offline` accepts `workflow` (as read
/// from the cluster): what `argo submit` would have refused, Argo's controller would fail.
pub async fn assert_lints(workflow: &DynamicObject) {
    let value = serde_json::to_value(workflow).unwrap();
    // NB: one lint runs a process for ~0.2 s; off the test's runtime thread.
    tokio::task::spawn_blocking(move || orkestra_tests::argo::lint(&value))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e:#}"));
}

/// A condition of a group.
pub fn condition(group: &ApplicationGroup, type_: &str) -> Option<Condition> {
    group
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .cloned()
}

/// A condition's (status, reason), `("", "")` when it is not set: what `kubectl get ag` prints.
pub fn standing(group: &ApplicationGroup, type_: &str) -> (String, String) {
    condition(group, type_)
        .map(|c| (c.status, c.reason))
        .unwrap_or_default()
}

/// Asserts each `(condition type, status, reason)` of `group`, naming the condition that differs.
pub fn assert_standing(group: &ApplicationGroup, expected: &[(&str, &str, &str)]) {
    for &(type_, status, reason) in expected {
        assert_eq!(
            standing(group, type_),
            (status.to_owned(), reason.to_owned()),
            "condition {type_}"
        );
    }
}

/// The entry DAG: task name → dependencies.
pub fn entry_dag(wf: &DynamicObject) -> Vec<(String, Vec<String>)> {
    let templates = wf.data["spec"]["templates"].as_array().unwrap();
    let entry = templates.iter().find(|t| t["name"] == "entry").unwrap();
    entry["dag"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let deps = t["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| d.as_str().unwrap().to_owned())
                .collect();
            (t["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

impl Env {
    /// Every task's HelmRelease and action, in template order: read from the ConfigMap key its
    /// reference names (as the executor reads it), or decoded when inline.
    pub async fn task_releases(&self, wf: &DynamicObject) -> Vec<(Value, String)> {
        let mut stores: HashMap<(String, String), ConfigMap> = HashMap::new();
        let mut out = Vec::new();
        for template in wf.data["spec"]["templates"].as_array().unwrap() {
            for task in template["dag"]["tasks"].as_array().into_iter().flatten() {
                let params = task["arguments"]["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten();
                let get = |name: &str| {
                    params
                        .clone()
                        .find(|p| p["name"] == name)
                        .and_then(|p| p["value"].as_str())
                        // Tasks of executor DAGs pass their caller's parameters down (`{{inputs.…}}`).
                        .filter(|v| !v.starts_with("{{"))
                        .map(str::to_owned)
                };
                let Some(action) = get("action") else {
                    continue;
                };
                let release = if let Some(reference) = get("helmrelease") {
                    let reference = ReleaseRef::parse(&reference).unwrap().unwrap();
                    let key = (reference.namespace.clone(), reference.config_map.clone());
                    if !stores.contains_key(&key) {
                        let api: Api<ConfigMap> =
                            Api::namespaced(self.client.clone(), &reference.namespace);
                        stores.insert(key.clone(), api.get(&reference.config_map).await.unwrap());
                    }
                    let json = &stores[&key].data.as_ref().unwrap()[&reference.key];
                    reference.verify(json.as_bytes()).unwrap();
                    serde_json::from_str(json).unwrap()
                } else if let Some(inline) = get("spec") {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(inline)
                        .unwrap();
                    serde_json::from_slice(&bytes).unwrap()
                } else {
                    continue;
                };
                out.push((release, action));
            }
        }
        out
    }

    /// The HelmRelease a Workflow's tasks carry under `name` (panics naming those there are).
    pub async fn task_release(&self, wf: &DynamicObject, name: &str) -> Value {
        release_named(&self.task_releases(wf).await, name).clone()
    }

    /// The chart version of the HelmRelease `name` of a Workflow's tasks.
    pub async fn task_chart_version(&self, wf: &DynamicObject, name: &str) -> Value {
        self.task_release(wf, name).await["spec"]["chart"]["spec"]["version"].clone()
    }

    /// (HelmRelease name, action) of every task of a Workflow, sorted.
    pub async fn task_actions(&self, wf: &DynamicObject) -> Vec<(String, String)> {
        names_and_actions(&self.task_releases(wf).await)
    }
}

/// The HelmRelease `name` of a Workflow's `releases` ([`Env::task_releases`]); panics naming those
/// there are.
pub fn release_named<'r>(releases: &'r [(Value, String)], name: &str) -> &'r Value {
    releases
        .iter()
        .find(|(r, _)| r["metadata"]["name"] == name)
        .map(|(r, _)| r)
        .unwrap_or_else(|| panic!("no HelmRelease {name} in {:?}", names_and_actions(releases)))
}

/// (HelmRelease name, action) of `releases`, sorted.
fn names_and_actions(releases: &[(Value, String)]) -> Vec<(String, String)> {
    let mut actions: Vec<(String, String)> = releases
        .iter()
        .map(|(r, action)| {
            (
                r["metadata"]["name"].as_str().unwrap().to_owned(),
                action.clone(),
            )
        })
        .collect();
    actions.sort();
    actions
}

/// A chart repository serving the standard fixtures that wants basic-auth credentials; it serves
/// while this lives.
pub struct GuardedRepo {
    pub repo: orkestra_tests::chart_repo::ChartRepo,
    _charts: tempfile::TempDir,
}

impl GuardedRepo {
    /// Starts one that accepts only `username` and `password`.
    pub async fn start(username: &str, password: &str) -> Self {
        let charts = tempfile::tempdir().unwrap();
        orkestra_tests::charts::write_repo(
            charts.path(),
            &orkestra_tests::charts::standard_fixtures(),
        )
        .unwrap();
        let repo = orkestra_tests::chart_repo::ChartRepo::start(
            charts.path(),
            orkestra_tests::chart_repo::RepoOptions {
                basic_auth: Some((username.into(), password.into())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        Self {
            repo,
            _charts: charts,
        }
    }
}
