//! Support for the rollout tests (controller/tests/rollout.rs): Orkestra against the **real
//! engines**, nothing played.
//!
//! Each test gets, on the cluster where they run (`Cluster::with_engines`: Flux's
//! source-controller and helm-controller, Argo's workflow-controller and a node): its own namespace
//! (the workflow namespace and the releases' target), the cluster's chart repository of fixture
//! charts (`orkestra_tests::charts::standard_fixtures`: `greeter` 1.1.0 and 1.2.0 fail for real),
//! the executor's ServiceAccount and RBAC exactly as the chart renders them, and the real
//! controller (`orkestra-controller run`, staging into the real OCI registry, its executor image
//! the workspace's own binary on the node). Argo runs each step as a pod (argoexec's init and wait
//! containers around the executor); the HelmReleases the executor applies are reconciled by
//! helm-controller, which pulls the staged charts from the staging HelmRepository the controller
//! wrote, and Helm installs them into the API server.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::time::Duration;

use futures::StreamExt as _;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::watcher;
use orkestra_tests::Cluster;
use orkestra_tests::helm::{Helm, HelmListed};
use serde_json::Value;

use crate::reconcile_support::{Controller, Env, condition, wait_within};

/// How long a test waits for a rollout step: Flux reconciles in seconds, but a Workflow runs its
/// steps one dependency level after another, and a timeout scenario waits for Helm's timeout.
pub const PATIENCE: Duration = Duration::from_secs(180);

/// The Helm timeout of the applications that must time out.
pub const SHORT_TIMEOUT: &str = "15s";

/// The Secret holding the staging registry's credentials, when it needs them.
pub const STAGING_SECRET: &str = "staging-credentials";

/// Where a rollout test stages: the cluster's OCI registry unless `url` says otherwise, with
/// basic-auth `credentials` when it needs them.
#[derive(Debug, Default, Clone, Copy)]
pub struct Staging<'a> {
    pub url: Option<&'a str>,
    pub credentials: Option<(&'a str, &'a str)>,
}

/// One rollout test's world (see the module documentation).
pub struct Rollout {
    pub env: Env,
    pub ctl: Controller,
    helm: Helm,
}

impl Rollout {
    /// Starts everything for one test, staging into the cluster's OCI registry.
    pub async fn start(prefix: &str) -> Rollout {
        Self::start_with(prefix, Staging::default()).await
    }

    /// Starts everything for one test, staging into `staging`.
    pub async fn start_with(prefix: &str, staging: Staging<'_>) -> Rollout {
        let cluster = Cluster::with_engines().await.unwrap();
        let mut env = Env::on(cluster.clone(), prefix).await;
        env.patience = PATIENCE;
        let mut controller_args: Vec<&str> = Vec::new();
        if let Some(url) = staging.url {
            env.staging = url.to_owned();
        }
        if let Some((username, password)) = staging.credentials {
            // In the staging HelmRepository's namespace (the workflow namespace), as a user would.
            env.create_credentials(&env.namespace, STAGING_SECRET, username, password)
                .await;
            controller_args = vec!["--staging-credentials-secret", STAGING_SECRET];
        }
        let helm = Helm::find().unwrap();
        cluster
            .install_executor_account(&helm, &env.namespace, &env.run)
            .await
            .unwrap();
        let image = cluster
            .executor_image()
            .expect("the engines cluster runs real Argo")
            .to_owned();
        controller_args.extend(["--executor-image", image.as_str()]);
        let ctl = env.controller_with("a", &controller_args);
        Rollout { env, ctl, helm }
    }

    /// `helm list --all` in the test namespace: every Helm release, whatever its state.
    pub fn helm_list(&self) -> Vec<HelmListed> {
        self.helm_list_in(&self.env.namespace)
    }

    /// Every Helm release in `namespace`.
    pub fn helm_list_in(&self, namespace: &str) -> Vec<HelmListed> {
        self.helm
            .list(self.env.cluster.kubeconfig(), namespace)
            .unwrap()
    }

    /// (release, `<chart>-<version>`) of every Helm release in the test namespace.
    pub fn charts(&self) -> Vec<(String, String)> {
        self.helm_list()
            .into_iter()
            .map(|r| (r.name, r.chart))
            .collect()
    }

    /// Asserts that no Helm release and no HelmRelease is left in the test namespace.
    pub async fn assert_nothing_installed(&self) {
        assert_eq!(self.helm_list(), [], "{}", self.explain());
        let left = self
            .env
            .helm_releases()
            .list(&Default::default())
            .await
            .unwrap();
        let names: Vec<_> = left.items.iter().map(|r| r.metadata.name.clone()).collect();
        assert!(names.is_empty(), "HelmReleases left behind: {names:?}");
    }

    /// The Helm release `name`, when there is one.
    pub fn helm_release(&self, name: &str) -> Option<HelmListed> {
        self.helm_list().into_iter().find(|r| r.name == name)
    }

    /// Creates a group of this run with `applications` (see [`Env::create_group`]).
    pub async fn create_group(&self, prefix: &str, applications: Vec<Value>) -> String {
        self.env.create_group(prefix, applications).await
    }

    /// Waits until the group's condition `type_` has `status` (see [`Env::wait_condition`]).
    pub async fn wait_condition(
        &self,
        group: &str,
        type_: &str,
        status: &str,
    ) -> orkestra_shared::crd::ApplicationGroup {
        self.env
            .wait_condition(group, type_, status, &self.ctl)
            .await
    }

    /// Waits until the group's Ready condition has `status` and `reason`, naming the steps' logs
    /// when it does not come.
    pub async fn wait_ready(
        &self,
        group: &str,
        status: &str,
        reason: &str,
    ) -> orkestra_shared::crd::ApplicationGroup {
        let ready = tokio::time::timeout(
            PATIENCE + Duration::from_secs(5),
            self.env.wait_ready(group, status, reason, &self.ctl),
        )
        .await;
        ready.unwrap_or_else(|_| panic!("{group} Ready={status}/{reason}: {}", self.explain()))
    }

    /// The names of the ConfigMaps in the test namespace (what the fixture charts create).
    pub fn configmaps(&self) -> Vec<String> {
        let out = self
            .env
            .cluster
            .kubectl()
            .args(["get", "configmaps", "-o", "name", "-n", &self.env.namespace])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("configmap/"))
            .map(str::to_owned)
            .collect()
    }

    /// Creates a group of this test with `applications` and waits until it is Ready=True.
    pub async fn deployed(&self, prefix: &str, applications: Vec<Value>) -> String {
        let group = self.env.create_group(prefix, applications).await;
        self.wait_ready(&group, "True", "Succeeded").await;
        group
    }

    /// Waits until the group is Ready=True/Succeeded with `generation` observed.
    pub async fn wait_ready_at(
        &self,
        group: &str,
        generation: i64,
    ) -> orkestra_shared::crd::ApplicationGroup {
        let what = format!("{group} Ready=True/Succeeded at generation {generation}");
        wait_within(PATIENCE, &what, &self.ctl, || async {
            let g = self.env.group(group).await?;
            let ready = condition(&g, "Ready")?;
            (g.status.as_ref()?.observed_generation == generation
                && ready.status == "True"
                && ready.reason == "Succeeded")
                .then_some(g)
        })
        .await
    }

    /// What the steps printed and what Helm has: for failure messages.
    pub fn explain(&self) -> String {
        let logs = self
            .env
            .cluster
            .kubectl()
            .args([
                "logs",
                "-n",
                &self.env.namespace,
                "-l",
                "workflows.argoproj.io/workflow",
            ])
            .args(["-c", "main", "--prefix", "--max-log-requests", "50"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        format!(
            "helm releases: {:?}\nthe steps' pods (Argo's main containers):\n{logs}",
            self.helm_list()
        )
    }

    /// Records, in order, the HelmReleases of the test namespace as they are gone (Flux's
    /// finalizer released them after `helm uninstall`), until dropped.
    pub async fn record_removals(&self) -> Removals {
        self.record_removals_in(&self.env.namespace).await
    }

    /// [`Self::record_removals`] in `namespace`; returns once the watch has listed it.
    pub async fn record_removals_in(&self, namespace: &str) -> Removals {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.env.client.clone(), namespace, &helm_release_resource());
        let removed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = removed.clone();
        let (listed, watching) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut listed = Some(listed);
            let mut events = watcher(api, watcher::Config::default()).boxed();
            while let Some(event) = events.next().await {
                match event {
                    Ok(watcher::Event::Delete(release)) => sink
                        .lock()
                        .unwrap()
                        .push(release.metadata.name.unwrap_or_default()),
                    Ok(watcher::Event::InitDone) => {
                        if let Some(listed) = listed.take() {
                            let _ = listed.send(());
                        }
                    }
                    _ => {}
                }
            }
        });
        // NB: deletions are seen only once the first list is served.
        tokio::time::timeout(Duration::from_secs(30), watching)
            .await
            .expect("the HelmRelease watch never listed")
            .expect("the HelmRelease watch ended");
        Removals { removed, task }
    }
}

/// HelmReleases removed while it lived, in order (see [`Rollout::record_removals`]).
pub struct Removals {
    removed: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Removals {
    /// The names removed so far, in order.
    pub fn names(&self) -> Vec<String> {
        self.removed.lock().unwrap().clone()
    }
}

impl Drop for Removals {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn helm_release_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", "HelmRelease"),
        "helmreleases",
    )
}
