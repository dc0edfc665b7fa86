//! The world of the real-Flux executor tests (controller/tests/executor_flux.rs): the cluster
//! where Flux's source-controller and helm-controller run (`Cluster::with_engines`), and per test a
//! namespace with the executor's ServiceAccount (the RBAC the chart renders for it) and a staging
//! `HelmRepository` of the fixture charts the test pushes to the cluster's OCI registry.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use orkestra_shared::plan::ReleaseRef;
use orkestra_tests::Cluster;
use orkestra_tests::charts::{self, Published};
use orkestra_tests::executor_account::EXECUTOR_ACCOUNT;
use orkestra_tests::helm::{Helm, HelmListed};
use serde_json::{Value, json};

use super::{finish, install, release, releases, text};

/// The name of each test's staging HelmRepository (in the test's namespace).
pub const STAGING: &str = "staging";

/// The field manager of what a test does as a user (`flux suspend`, say).
pub const USER: &str = "test-user";

/// A finalizer of the tests' own, on an object they keep from being deleted.
pub const HOLD: &str = "test.orkestra.azure.microsoft.com/hold";

/// How long a test waits for a step that Flux completes: helm-controller reconciles at once, so a
/// few seconds; generous for a loaded two-core machine.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// One test's world on the Flux cluster: a namespace holding the executor's ServiceAccount (with
/// the chart's RBAC) and the staging HelmRepository of the charts the test pushes.
pub struct FluxWorld {
    pub cluster: Arc<Cluster>,
    pub client: kube::Client,
    /// The workflow namespace: the ServiceAccount and the staging HelmRepository.
    pub namespace: String,
    /// A kubeconfig of the executor's ServiceAccount.
    pub kubeconfig: PathBuf,
    helm: Helm,
    dir: tempfile::TempDir,
}

impl FluxWorld {
    pub async fn start(prefix: &str) -> FluxWorld {
        let cluster = Cluster::with_engines().await.unwrap();
        let client = cluster.client().await.unwrap();
        let namespace = cluster.namespace(prefix).await.unwrap();
        let helm = Helm::find().unwrap();
        let dir = tempfile::tempdir().unwrap();
        cluster
            .install_executor_account(&helm, &namespace, &namespace)
            .await
            .unwrap();
        let kubeconfig = dir.path().join("executor.kubeconfig");
        cluster
            .write_service_account_kubeconfig(&namespace, EXECUTOR_ACCOUNT, &kubeconfig)
            .await
            .unwrap();
        let repository: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": STAGING, "namespace": namespace},
            "spec": {"type": "oci", "url": format!("oci://{}/{namespace}", cluster.registry()),
                "insecure": true, "interval": "1m"},
        }))
        .unwrap();
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "HelmRepository"),
            "helmrepositories",
        );
        Api::<DynamicObject>::namespaced_with(client.clone(), &namespace, &resource)
            .create(&PostParams::default(), &repository)
            .await
            .unwrap();
        FluxWorld {
            cluster,
            client,
            namespace,
            kubeconfig,
            helm,
            dir,
        }
    }

    /// Pushes `chart` to the staging repository (`helm push`, as staging does).
    pub fn stage(&self, chart: &Published) {
        let file = self
            .dir
            .path()
            .join(format!("{}-{}.tgz", chart.name, chart.version));
        std::fs::write(&file, &chart.tgz).unwrap();
        let target = format!("oci://{}/{}", self.cluster.registry(), self.namespace);
        let out = self
            .helm
            .run([
                "push".as_ref(),
                file.as_os_str(),
                target.as_ref(),
                "--plain-http".as_ref(),
            ])
            .unwrap();
        assert!(out.success, "helm push: {}", out.stderr);
    }

    /// Stages fixture `chart` `version` as the cluster's chart repository serves it.
    pub fn stage_fixture(&self, chart: &str, version: &str) {
        let published = charts::standard_fixtures()
            .into_iter()
            .find(|p| p.name == chart && p.version == version)
            .unwrap_or_else(|| panic!("no fixture chart {chart} {version}"));
        self.stage(&published);
    }

    /// A HelmRelease as the plan emits it, of `chart` `version` staged by this test.
    pub fn release(&self, namespace: &str, name: &str, chart: &str, version: &str) -> Value {
        let mut release = release(namespace, name, version);
        release["spec"]["chart"]["spec"]["chart"] = json!(chart);
        self.point_at_staging(&mut release);
        release
    }

    /// Makes `release` pull its chart from this test's staging repository.
    pub fn point_at_staging(&self, release: &mut Value) {
        release["spec"]["chart"]["spec"]["sourceRef"] =
            json!({"kind": "HelmRepository", "name": STAGING, "namespace": self.namespace});
    }

    /// `helm list --all` in `namespace`: every Helm release, whatever its state.
    pub fn helm_list(&self, namespace: &str) -> Vec<HelmListed> {
        self.helm
            .list(self.cluster.kubeconfig(), namespace)
            .unwrap()
    }

    /// [name, chart, revision, status] of every Helm release in `namespace`.
    pub fn helm_summary(&self, namespace: &str) -> Vec<[String; 4]> {
        self.helm_list(namespace)
            .into_iter()
            .map(|r| [r.name, r.chart, r.revision, r.status])
            .collect()
    }

    /// The HelmRelease `namespace/name` as `kubectl get -o json` shows it, for failure messages.
    pub async fn describe(&self, namespace: &str, name: &str) -> String {
        match releases(&self.client, namespace).get_opt(name).await {
            Ok(Some(object)) => serde_json::to_string(&object.data["status"]).unwrap(),
            other => format!("{other:?}"),
        }
    }

    /// The names of the ConfigMaps in `namespace` (what the fixture charts create).
    pub async fn configmaps(&self, namespace: &str) -> Vec<String> {
        Api::<ConfigMap>::namespaced(self.client.clone(), namespace)
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect()
    }

    /// Writes `release` as the controller writes a Workflow's HelmReleases: under the key of
    /// `planned` in a ConfigMap of that name, here in the test's workflow namespace. Returns the
    /// reference to it.
    pub async fn store_release(&self, planned: &ReleaseRef, release: &Value) -> ReleaseRef {
        let json = release.to_string();
        let reference = ReleaseRef {
            namespace: self.namespace.clone(),
            digest: ReleaseRef::digest_of(json.as_bytes()),
            ..planned.clone()
        };
        let store = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": reference.config_map, "namespace": reference.namespace},
            "data": {reference.key.clone(): json},
        });
        Api::<ConfigMap>::namespaced(self.client.clone(), &reference.namespace)
            .create(
                &PostParams::default(),
                &serde_json::from_value(store).unwrap(),
            )
            .await
            .unwrap();
        reference
    }

    /// Installs `release` with the executor and asserts it succeeded.
    pub async fn installed(&self, release: &Value) -> std::process::Output {
        let output = finish(install(&self.kubeconfig, release, "120s"), PATIENCE).await;
        if !output.status.success() {
            let (namespace, name) = namespace_and_name(release);
            panic!(
                "install failed: {}\n{}\nHelmRelease status: {}",
                text(&output.stdout),
                text(&output.stderr),
                self.describe(namespace, name).await
            );
        }
        output
    }

    /// Sets `spec.suspend` of HelmRelease `namespace/name` as `flux suspend` (`flux resume`) does,
    /// as another field manager than the executor's.
    pub async fn suspend(&self, namespace: &str, name: &str, suspend: bool) {
        releases(&self.client, namespace)
            .patch(
                name,
                &PatchParams::apply(USER).force(),
                &Patch::Apply(json!({
                    "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                    "spec": {"suspend": suspend},
                })),
            )
            .await
            .unwrap();
    }
}

fn namespace_and_name(release: &Value) -> (&str, &str) {
    (
        release["metadata"]["namespace"].as_str().unwrap(),
        release["metadata"]["name"].as_str().unwrap(),
    )
}

/// The Ready condition of a HelmRelease: (status, reason).
pub fn ready(object: &DynamicObject) -> (String, String) {
    let conditions = object.data["status"]["conditions"].as_array();
    let ready = conditions
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .unwrap_or_else(|| panic!("no Ready condition: {:?}", object.data["status"]));
    (
        ready["status"].as_str().unwrap_or_default().to_owned(),
        ready["reason"].as_str().unwrap_or_default().to_owned(),
    )
}
