//! The controller and the executor run out of cluster as the installed chart's ServiceAccounts,
//! with the environment of the chart's controller Deployment (so the chart and the binaries cannot
//! drift apart): with exactly the chart's permissions the controller stages a group's chart,
//! submits its Workflow (and the ConfigMap of its HelmRelease) and writes its status, and the
//! executor reads that HelmRelease, installs and deletes it.
//!
//! Replaced for running here instead of in a pod: the pod name (`POD_NAME`), the admin address
//! (a free loopback port), the chart cache directory (a temporary one). No Argo or Flux controller
//! runs here: the test runs the Workflow's step itself and plays Flux's part (the Ready condition).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chart_support;

use std::process::Command;
use std::time::{Duration, Instant};

use chart_support::{Installed, LocalProcess, get_json};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use orkestra_shared::plan::ReleaseRef;
use orkestra_tests::helm::Helm;
use orkestra_tests::{Cluster, unique_name};
use serde_json::{Value, json};

/// Label the test's groups carry and the chart's `controller.groupSelector` selects.
const GROUP_LABEL: &str = "orkestra-chart-controller";

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// The environment of the chart's controller container, as installed (`value` entries).
fn deployment_env(deployment: &Value) -> Vec<(String, String)> {
    deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_owned(),
                e["value"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// Polls `check` every 200 ms for up to a minute.
async fn wait_for<T, F, Fut>(what: &str, log: &std::path::Path, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The HelmRelease reference (`helmrelease` parameter) of the Workflow's first task that carries one.
fn task_helmrelease(workflow: &DynamicObject) -> String {
    let templates = workflow.data["spec"]["templates"].as_array().unwrap();
    templates
        .iter()
        .flat_map(|t| t["dag"]["tasks"].as_array().into_iter().flatten())
        .flat_map(|task| {
            task["arguments"]["parameters"]
                .as_array()
                .into_iter()
                .flatten()
        })
        .find(|p| p["name"] == "helmrelease")
        .and_then(|p| p["value"].as_str())
        .unwrap_or_else(|| panic!("no task carries a HelmRelease: {}", workflow.data))
        .to_owned()
}

/// Runs `orkestra-controller executor` as the account of `kubeconfig`; its exit status and output.
fn run_executor(
    binary: &std::path::Path,
    kubeconfig: &std::path::Path,
    args: &[&str],
) -> (bool, String) {
    let out = Command::new(binary)
        .arg("executor")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn the_controller_and_the_executor_do_their_work_with_exactly_the_charts_permissions() {
    let cluster = Cluster::shared().await.unwrap();
    let helm = Helm::find().unwrap();
    let ns = cluster.namespace("chart-ctl").await.unwrap();
    let release = unique_name("ork");
    let fullname = format!("{release}-orkestra");
    // A staging registry that wants credentials, given to the chart as a Secret.
    let registry = orkestra_tests::registry::Registry::start_with_basic_auth("stager", "s3cret")
        .await
        .unwrap();
    let credentials: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": "staging-creds"},
        "stringData": {"username": "stager", "password": "s3cret"},
    }))
    .unwrap();
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(cluster.client().await.unwrap(), &ns)
        .create(&PostParams::default(), &credentials)
        .await
        .unwrap();
    let staging_url = registry.oci_url(&ns);
    let staging = format!("staging.url={staging_url}");
    let selector = format!("controller.groupSelector={GROUP_LABEL}={release}");
    let (_installed, _) = Installed::install(
        &helm,
        &cluster,
        &release,
        &ns,
        &[
            &staging,
            &selector,
            "staging.credentialsSecret=staging-creds",
        ],
    );

    // The controller, as the chart's controller ServiceAccount, with its Deployment's environment.
    let dir = tempfile::tempdir().unwrap();
    let controller_config = dir.path().join("controller.kubeconfig");
    cluster
        .write_service_account_kubeconfig(
            &ns,
            &format!("{fullname}-controller"),
            &controller_config,
        )
        .await
        .unwrap();
    let deployment = get_json(
        &cluster,
        &["deployment", &format!("{fullname}-controller"), "-n", &ns],
    );
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<String> = serde_json::from_value(container["args"].clone()).unwrap();
    let binary =
        orkestra_tests::webhook::workspace_binary("orkestra-controller", "orkestra-controller")
            .await
            .unwrap();
    let mut cmd = Command::new(&binary);
    cmd.args(&args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(deployment_env(&deployment))
        .env("POD_NAME", "chart-controller-0")
        .env("ORKESTRA_ADMIN_ADDR", "127.0.0.1:0")
        .env("ORKESTRA_CHART_CACHE", dir.path().join("charts"))
        .env("KUBECONFIG", &controller_config);
    let controller = LocalProcess::spawn(&cluster, &format!("{release}-controller"), cmd);

    let admin = cluster.client().await.unwrap();
    let groups: Api<DynamicObject> = Api::all_with(
        admin.clone(),
        &orkestra_tests::webhook::application_group_resource(),
    );
    let name = unique_name("chart-ctl");
    let group: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "orkestra.azure.microsoft.com/v1alpha1", "kind": "ApplicationGroup",
        "metadata": {"name": name, "labels": {GROUP_LABEL: release}},
        "spec": {"applications": [{"name": "web", "dependencies": [], "spec": {
            "chart": {"url": cluster.chart_repo(), "name": "hello", "version": "1.0.0"},
            "release": {"targetNamespace": ns}}}]},
    }))
    .unwrap();
    groups.create(&PostParams::default(), &group).await.unwrap();

    // Staged, submitted, and the status written: all with the controller's own rights.
    let workflows: Api<DynamicObject> = Api::namespaced_with(
        admin.clone(),
        &ns,
        &resource("argoproj.io", "v1alpha1", "Workflow", "workflows"),
    );
    let workflow = wait_for("the forward Workflow", controller.log(), || async {
        workflows.get_opt(&name).await.unwrap()
    })
    .await;
    orkestra_tests::argo::lint(&serde_json::to_value(&workflow).unwrap())
        .unwrap_or_else(|e| panic!("{e:#}"));
    let status = wait_for("the group's status", controller.log(), || async {
        let stored = groups.get(&name).await.unwrap();
        let staged = stored.data["status"]["applications"][0]["staged"] == true;
        staged.then_some(stored.data["status"].clone())
    })
    .await;
    assert_eq!(status["applications"][0]["version"], "1.0.0", "{status}");
    let repositories: Api<DynamicObject> = Api::namespaced_with(
        admin.clone(),
        &ns,
        &resource(
            "source.toolkit.fluxcd.io",
            "v1",
            "HelmRepository",
            "helmrepositories",
        ),
    );
    let source = repositories.get("orkestra-staging").await.unwrap();
    assert_eq!(source.data["spec"]["url"], staging_url);
    assert_eq!(source.data["spec"]["secretRef"]["name"], "staging-creds");
    let log_text = std::fs::read_to_string(controller.log()).unwrap();
    // NB: as the controller writes an API refusal (`HTTP 403 Forbidden: …`, kube_error.rs), or
    // kube's own words for one; a bare "403" also matches timestamps and ports.
    assert!(
        !log_text.contains("HTTP 403")
            && !log_text.contains("Forbidden")
            && !log_text.contains("forbidden"),
        "no request was forbidden:\n{log_text}"
    );

    // The Workflow's step, run as the chart's executor ServiceAccount: install, then delete.
    let executor_config = dir.path().join("executor.kubeconfig");
    cluster
        .write_service_account_kubeconfig(&ns, "orkestra-executor", &executor_config)
        .await
        .unwrap();
    // The controller wrote the ConfigMap the reference names, with its own rights too.
    let helmrelease = task_helmrelease(&workflow);
    let reference = ReleaseRef::parse(&helmrelease).unwrap().unwrap();
    let store = Api::<ConfigMap>::namespaced(admin.clone(), &reference.namespace)
        .get(&reference.config_map)
        .await
        .unwrap();
    let decoded: Value =
        serde_json::from_str(&store.data.as_ref().unwrap()[&reference.key]).unwrap();
    let release_name = decoded["metadata"]["name"].as_str().unwrap().to_owned();
    let releases: Api<DynamicObject> = Api::namespaced_with(
        admin.clone(),
        &ns,
        &resource(
            "helm.toolkit.fluxcd.io",
            "v2",
            "HelmRelease",
            "helmreleases",
        ),
    );
    let install = {
        let (binary, config, hr) = (binary.clone(), executor_config.clone(), helmrelease.clone());
        tokio::task::spawn_blocking(move || {
            run_executor(
                &binary,
                &config,
                &[
                    "--action",
                    "install",
                    "--helmrelease",
                    &hr,
                    "--timeout",
                    "60s",
                    "--ready-checks",
                    "1",
                    "--check-interval",
                    "200ms",
                ],
            )
        })
    };
    // Flux's part: the release it was asked for becomes Ready.
    let created = wait_for("the executor's HelmRelease", controller.log(), || async {
        releases.get_opt(&release_name).await.unwrap()
    })
    .await;
    let generation = created.metadata.generation.unwrap();
    let verdict = orkestra_tests::flux_status::Verdict {
        ready: "True",
        reason: "InstallSucceeded",
        message: "ok",
    };
    orkestra_tests::flux_status::report(&releases, &release_name, generation, verdict)
        .await
        .unwrap();
    let (installed, said) = install.await.unwrap();
    assert!(
        installed,
        "the executor could not install as the chart's account:\n{said}"
    );

    let (deleted, said) = run_executor(
        &binary,
        &executor_config,
        &[
            "--action",
            "delete",
            "--helmrelease",
            &helmrelease,
            "--timeout",
            "60s",
        ],
    );
    assert!(
        deleted,
        "the executor could not delete as the chart's account:\n{said}"
    );
    assert!(releases.get_opt(&release_name).await.unwrap().is_none());

    // No Argo runs the teardown here: let the group go without it.
    let release_group = json!({"metadata": {"finalizers": null}});
    groups
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(&release_group),
        )
        .await
        .unwrap();
    groups.delete(&name, &Default::default()).await.unwrap();
}
