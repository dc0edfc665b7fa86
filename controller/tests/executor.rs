//! `orkestra-controller executor`, run as a workflow pod runs it: the real binary against the real
//! local API server (`orkestra_tests::Cluster::shared()`), with KUBECONFIG set.
//!
//! No Flux controller runs here: the tests play helm-controller's part by patching the
//! HelmRelease's status subresource (Ready/Stalled conditions and observedGeneration), and its
//! finalizer's part by holding and removing a finalizer of their own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use orkestra_tests::{Cluster, unique_name};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// A HelmRelease as the plan emits it.
fn release(namespace: &str, name: &str, version: &str) -> Value {
    json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": namespace,
            "labels": {"orkestra.azure.microsoft.com/owner": "bookinfo"}},
        "spec": {"releaseName": name, "interval": "5m", "timeout": "5m",
            "chart": {"spec": {"chart": name, "version": version,
                "sourceRef": {"kind": "HelmRepository", "name": "orkestra-staging", "namespace": "orkestra"}}},
            "values": {"replicas": 2}},
    })
}

fn encode(value: &Value) -> String {
    base64::engine::general_purpose::STANDARD.encode(value.to_string())
}

fn releases(client: &kube::Client, namespace: &str) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", "HelmRelease"),
        "helmreleases",
    );
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// Starts the executor with `args` against the cluster, as its admin.
fn start(cluster: &Cluster, args: &[&str]) -> Child {
    start_as(cluster.kubeconfig(), args)
}

/// Starts the executor with `args` and the credentials of `kubeconfig`.
fn start_as(kubeconfig: &Path, args: &[&str]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_orkestra-controller"));
    command
        .arg("executor")
        .args(args)
        .env("KUBECONFIG", kubeconfig);
    for var in [
        "ACTION",
        "HELMRELEASE",
        "TIMEOUT",
        "READY_CHECKS",
        "CHECK_INTERVAL",
        "TYPE",
        "PARAMS",
    ] {
        command.env_remove(format!("ORKESTRA_EXECUTOR_{var}"));
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command.spawn().unwrap()
}

/// The executor's arguments for `action` on an encoded HelmRelease.
fn action<'a>(action: &'a str, encoded: &'a str, timeout: &'a str) -> [&'a str; 6] {
    [
        "--action",
        action,
        "--helmrelease",
        encoded,
        "--timeout",
        timeout,
    ]
}

fn install(cluster: &Cluster, release: &Value, timeout: &str) -> Child {
    let encoded = encode(release);
    let mut args = action("install", &encoded, timeout).to_vec();
    args.extend(["--ready-checks", "3", "--check-interval", "200ms"]);
    start(cluster, &args)
}

async fn finish(child: Child, within: Duration) -> Output {
    tokio::time::timeout(within, child.wait_with_output())
        .await
        .expect("the executor did not exit in time")
        .unwrap()
}

/// Asserts the executor is still running after `time`.
async fn still_running(child: &mut Child, time: Duration) {
    if let Ok(status) = tokio::time::timeout(time, child.wait()).await {
        panic!("the executor exited early: {status:?}");
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The one-line error the executor printed.
/// Asserts the executor succeeded.
fn succeeded(output: &Output) {
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
}

/// Asserts the executor succeeded and said `expected` on stdout.
fn succeeded_saying(output: &Output, expected: &str) {
    succeeded(output);
    let stdout = text(&output.stdout);
    assert!(stdout.contains(expected), "{stdout}");
}

/// Asserts the executor exited with `code` and returns its `error:` line.
fn error_line(output: &Output, code: i32) -> String {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in {stderr:?}"));
    line.to_owned()
}

/// Waits until the executor has applied the HelmRelease; returns it.
async fn applied(api: &Api<DynamicObject>, name: &str) -> DynamicObject {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(object) = api.get_opt(name).await.unwrap() {
            return object;
        }
        assert!(
            Instant::now() < deadline,
            "HelmRelease {name} was never applied"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Plays Flux: writes the Ready condition for `generation`.
async fn flux_reports(
    api: &Api<DynamicObject>,
    name: &str,
    generation: i64,
    status: &str,
    reason: &str,
    message: &str,
) {
    let patch = json!({"status": {"observedGeneration": generation, "lastAttemptedGeneration": generation, "conditions": [{
        "type": "Ready", "status": status, "reason": reason, "message": message,
        "observedGeneration": generation, "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

/// Creates a HelmRelease that plays Flux's finalizer: once deleted, it stays until the (pretend)
/// uninstall is done, i.e. until the test removes the finalizer.
async fn create_held(api: &Api<DynamicObject>, namespace: &str, name: &str) {
    let mut held = release(namespace, name, "1.0.0");
    held["metadata"]["finalizers"] = json!(["test.orkestra.azure.microsoft.com/uninstall"]);
    api.create(
        &PostParams::default(),
        &serde_json::from_value(held).unwrap(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn install_creates_the_namespace_applies_and_succeeds_once_flux_reports_ready() {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let namespace = unique_name("exec-install");
    let wanted = release(&namespace, "productpage", "1.0.0");
    let mut child = install(&cluster, &wanted, "60s");

    let api = releases(&client, &namespace);
    let object = applied(&api, "productpage").await;
    assert!(
        Api::<Namespace>::all(client.clone())
            .get_opt(&namespace)
            .await
            .unwrap()
            .is_some(),
        "namespace created"
    );
    assert_eq!(object.data["spec"]["values"], json!({"replicas": 2}));
    assert_eq!(
        object.metadata.labels.unwrap()["orkestra.azure.microsoft.com/owner"],
        "bookinfo"
    );
    let managers: Vec<String> = object
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        managers.contains(&"orkestra-executor".to_owned()),
        "{managers:?}"
    );
    let generation = object.metadata.generation.unwrap();

    // Not ready yet: Flux is still installing.
    flux_reports(
        &api,
        "productpage",
        generation,
        "Unknown",
        "Progressing",
        "Fulfilling prerequisites",
    )
    .await;
    still_running(&mut child, Duration::from_millis(1500)).await;

    flux_reports(
        &api,
        "productpage",
        generation,
        "True",
        "InstallSucceeded",
        "Helm install succeeded",
    )
    .await;
    let output = finish(child, Duration::from_secs(20)).await;
    succeeded_saying(
        &output,
        &format!("HelmRelease {namespace}/productpage is ready"),
    );
}

#[tokio::test]
async fn an_upgrade_waits_for_flux_to_observe_the_new_generation() {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let namespace = cluster.namespace("exec-upgrade").await.unwrap();
    let api = releases(&client, &namespace);
    let old: DynamicObject =
        serde_json::from_value(release(&namespace, "reviews", "1.0.0")).unwrap();
    let created = api.create(&PostParams::default(), &old).await.unwrap();
    let old_generation = created.metadata.generation.unwrap();
    flux_reports(
        &api,
        "reviews",
        old_generation,
        "True",
        "InstallSucceeded",
        "installed 1.0.0",
    )
    .await;

    let mut child = install(&cluster, &release(&namespace, "reviews", "2.0.0"), "60s");
    let deadline = Instant::now() + Duration::from_secs(30);
    let new_generation = loop {
        let object = api.get("reviews").await.unwrap();
        if object.data["spec"]["chart"]["spec"]["version"] == "2.0.0" {
            break object.metadata.generation.unwrap();
        }
        assert!(Instant::now() < deadline, "the new spec was never applied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(new_generation > old_generation);
    // Ready=True about the old generation must not end the step.
    still_running(&mut child, Duration::from_secs(2)).await;

    flux_reports(
        &api,
        "reviews",
        new_generation,
        "True",
        "UpgradeSucceeded",
        "upgraded to 2.0.0",
    )
    .await;
    let output = finish(child, Duration::from_secs(20)).await;
    succeeded(&output);
}

#[tokio::test]
async fn install_fails_at_once_when_flux_reports_install_failed() {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let namespace = unique_name("exec-failed");
    let started = Instant::now();
    let child = install(&cluster, &release(&namespace, "ratings", "1.0.0"), "120s");
    let api = releases(&client, &namespace);
    let generation = applied(&api, "ratings").await.metadata.generation.unwrap();
    flux_reports(
        &api,
        "ratings",
        generation,
        "False",
        "InstallFailed",
        "Helm install failed: image pull backoff",
    )
    .await;

    let output = finish(child, Duration::from_secs(30)).await;
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "failed fast, not at the timeout"
    );
    let line = error_line(&output, 1);
    assert_eq!(
        line,
        format!(
            "error: HelmRelease {namespace}/ratings failed: InstallFailed: Helm install failed: image pull backoff"
        )
    );
}

#[tokio::test]
async fn install_fails_at_once_when_flux_stalls() {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let namespace = unique_name("exec-stalled");
    let child = install(&cluster, &release(&namespace, "details", "1.0.0"), "120s");
    let api = releases(&client, &namespace);
    let generation = applied(&api, "details").await.metadata.generation.unwrap();
    let patch = json!({"status": {"observedGeneration": generation, "conditions": [
        {"type": "Ready", "status": "False", "reason": "DependencyNotReady", "message": "waiting",
         "observedGeneration": generation, "lastTransitionTime": "2026-01-01T00:00:00Z"},
        {"type": "Stalled", "status": "True", "reason": "RetriesExceeded", "message": "Failed to install after 3 attempts",
         "observedGeneration": generation, "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
    api.patch_status("details", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();

    let output = finish(child, Duration::from_secs(30)).await;
    let line = error_line(&output, 1);
    assert!(
        line.contains("RetriesExceeded: Failed to install after 3 attempts"),
        "{}",
        line
    );
}

#[tokio::test]
async fn install_times_out_when_flux_never_reports_ready() {
    let cluster = Cluster::shared().await.unwrap();
    let namespace = unique_name("exec-timeout");
    let started = Instant::now();
    let output = finish(
        install(&cluster, &release(&namespace, "slow", "1.0.0"), "3s"),
        Duration::from_secs(30),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(20));
    let line = error_line(&output, 3);
    assert!(
        line.contains(&format!(
            "HelmRelease {namespace}/slow: timed out after 3s waiting until Flux reports it ready"
        )),
        "{line}"
    );
    assert!(line.contains("no Ready condition yet"), "{line}");
}

#[tokio::test]
async fn delete_waits_until_the_release_is_gone() {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let namespace = cluster.namespace("exec-delete").await.unwrap();
    let api = releases(&client, &namespace);
    create_held(&api, &namespace, "ambassador").await;

    let encoded = encode(&release(&namespace, "ambassador", "1.0.0"));
    let mut child = start(&cluster, &action("delete", &encoded, "60s"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while api
        .get("ambassador")
        .await
        .unwrap()
        .metadata
        .deletion_timestamp
        .is_none()
    {
        assert!(Instant::now() < deadline, "the delete was never requested");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    still_running(&mut child, Duration::from_millis(1500)).await;

    let release_finalizer = json!({"metadata": {"finalizers": null}});
    api.patch(
        "ambassador",
        &PatchParams::default(),
        &Patch::Merge(&release_finalizer),
    )
    .await
    .unwrap();
    let output = finish(child, Duration::from_secs(20)).await;
    succeeded_saying(&output, "is gone");
    assert!(api.get_opt("ambassador").await.unwrap().is_none());
}

#[tokio::test]
async fn delete_of_a_release_that_is_already_gone_succeeds() {
    let cluster = Cluster::shared().await.unwrap();
    let namespace = unique_name("exec-gone");
    let encoded = encode(&release(&namespace, "nothing", "1.0.0"));
    let output = finish(
        start(&cluster, &action("delete", &encoded, "30s")),
        Duration::from_secs(30),
    )
    .await;
    succeeded_saying(&output, "already gone");
}

#[tokio::test]
async fn delete_times_out_while_the_uninstall_does_not_finish() {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let namespace = cluster.namespace("exec-stuck").await.unwrap();
    let api = releases(&client, &namespace);
    create_held(&api, &namespace, "stuck").await;

    let encoded = encode(&release(&namespace, "stuck", "1.0.0"));
    let output = finish(
        start(&cluster, &action("delete", &encoded, "2s")),
        Duration::from_secs(30),
    )
    .await;
    let line = error_line(&output, 3);
    assert!(
        line.contains("timed out after 2s waiting until it is deleted"),
        "{line}"
    );
    assert!(
        line.contains("test.orkestra.azure.microsoft.com/uninstall"),
        "names what holds it: {line}"
    );
    api.patch(
        "stuck",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn bad_input_exits_2_with_the_reason_and_writes_nothing() {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let namespace = unique_name("exec-bad");
    let valid = release(&namespace, "app", "1.0.0");
    let mut workflow = valid.clone();
    workflow["apiVersion"] = json!("argoproj.io/v1alpha1");
    workflow["kind"] = json!("Workflow");
    let mut nameless = valid.clone();
    nameless["metadata"] = json!({"namespace": namespace});
    let mut no_namespace = valid.clone();
    no_namespace["metadata"] = json!({"name": "app"});
    let base64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--helmrelease".into(), "not base64!".into()],
            "is not base64",
        ),
        (
            vec!["--helmrelease".into(), base64("apiVersion: v2")],
            "is not JSON",
        ),
        (
            vec!["--helmrelease".into(), encode(&workflow)],
            "not a HelmRelease of helm.toolkit.fluxcd.io/v2",
        ),
        (
            vec!["--helmrelease".into(), encode(&nameless)],
            "has no metadata.name",
        ),
        (
            vec!["--helmrelease".into(), encode(&no_namespace)],
            "has no metadata.namespace",
        ),
        (
            vec![
                "--helmrelease".into(),
                encode(&valid),
                "--timeout".into(),
                "soon".into(),
            ],
            "invalid duration",
        ),
        (
            vec![
                "--helmrelease".into(),
                encode(&valid),
                "--type".into(),
                "keptn".into(),
            ],
            "keptn steps fail in this version of Orkestra",
        ),
    ];
    for (args, expected) in cases {
        let mut all: Vec<&str> = vec!["--action", "install"];
        all.extend(args.iter().map(String::as_str));
        let output = finish(start(&cluster, &all), Duration::from_secs(30)).await;
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&output.stderr)
        );
        let first = text(&output.stderr)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(
            first.starts_with("error:") && first.contains(expected),
            "{args:?}: {first}"
        );
    }
    assert!(
        Api::<Namespace>::all(client.clone())
            .get_opt(&namespace)
            .await
            .unwrap()
            .is_none(),
        "nothing was written"
    );
}

#[tokio::test]
async fn the_planned_leaf_command_line_installs_and_deletes_its_release() {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plan_fixtures/bookinfo.yaml");
    let planned = std::process::Command::new(env!("CARGO_BIN_EXE_orkestra-controller"))
        .args(["plan", fixture.to_str().unwrap(), "--output", "json"])
        .output()
        .unwrap();
    assert!(planned.status.success(), "{}", text(&planned.stderr));
    let objects: Vec<Value> = serde_json::from_slice(&planned.stdout).unwrap();
    let templates = objects[0]["spec"]["templates"].as_array().unwrap();
    let leaf = templates
        .iter()
        .find(|t| t["name"] == "helmrelease")
        .unwrap();
    let task = templates
        .iter()
        .filter_map(|t| t["dag"]["tasks"].as_array())
        .flatten()
        .find(|t| t["template"] == "helmrelease")
        .expect("a task calling the helmrelease leaf");
    let mut parameters: Vec<(String, String)> = task["arguments"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();

    // The planned release, moved to a namespace of its own so that tests do not meet.
    let namespace = unique_name("exec-planned");
    let (_, encoded) = parameters
        .iter_mut()
        .find(|(n, _)| n == "helmrelease")
        .unwrap();
    let mut release: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(encoded.as_bytes())
            .unwrap(),
    )
    .unwrap();
    release["metadata"]["namespace"] = json!(namespace);
    *encoded = encode(&release);
    let name = release["metadata"]["name"].as_str().unwrap().to_owned();

    let args = orkestra_tests::argo::substitute(
        leaf["container"]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap()),
        &parameters,
    );
    assert_eq!(args[0], "executor");
    let args: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    let mut step: Vec<&str> = args.clone();
    step.extend(["--check-interval", "200ms"]);
    let child = start(&cluster, &step);
    let api = releases(&client, &namespace);
    let generation = applied(&api, &name).await.metadata.generation.unwrap();
    flux_reports(
        &api,
        &name,
        generation,
        "True",
        "InstallSucceeded",
        "Helm install succeeded",
    )
    .await;
    let output = finish(child, Duration::from_secs(30)).await;
    succeeded(&output);

    // The reverse workflow runs the same leaf with action delete.
    let (_, action) = parameters.iter_mut().find(|(n, _)| n == "action").unwrap();
    *action = "delete".into();
    let args = orkestra_tests::argo::substitute(
        leaf["container"]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap()),
        &parameters,
    );
    let args: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    let output = finish(start(&cluster, &args), Duration::from_secs(30)).await;
    succeeded(&output);
    assert!(api.get_opt(&name).await.unwrap().is_none());
}

#[tokio::test]
async fn install_fails_when_the_release_is_deleted_while_waiting() {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let namespace = unique_name("exec-vanished");
    let child = install(&cluster, &release(&namespace, "gone", "1.0.0"), "60s");
    let api = releases(&client, &namespace);
    applied(&api, "gone").await;
    api.delete("gone", &Default::default()).await.unwrap();
    let output = finish(child, Duration::from_secs(30)).await;
    let line = error_line(&output, 1);
    assert_eq!(
        line,
        format!(
            "error: HelmRelease {namespace}/gone was deleted while waiting for it to become ready"
        )
    );
}

/// A kubeconfig for a user the API server authenticates but does not authorize: a client
/// certificate from the cluster's CA outside `system:masters` (the local API server denies
/// everyone else everything, as RBAC without bindings would).
fn unauthorized_kubeconfig(cluster: &Cluster, dir: &Path) -> PathBuf {
    let run = |program: &str, args: &[&str]| {
        let out = std::process::Command::new(program)
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{program} {args:?}: {stderr}");
    };
    let openssl = |line: &str| run("openssl", &line.split(' ').collect::<Vec<_>>());
    let pki = cluster.dir().join("pki");
    let (ca, ca_key) = (pki.join("ca.crt"), pki.join("ca.key"));
    // NB: rustls only takes X.509 v3 certificates; extensions make openssl write v3.
    std::fs::write(dir.join("ext.cnf"), "extendedKeyUsage=clientAuth\n").unwrap();
    openssl("ecparam -genkey -name prime256v1 -noout -out user.key");
    openssl("req -new -key user.key -subj /CN=orkestra-executor -out user.csr");
    openssl(&format!(
        "x509 -req -in user.csr -CA {} -CAkey {} -set_serial 7 -days 1 -extfile ext.cnf -out user.crt",
        ca.display(),
        ca_key.display()
    ));
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let (key, crt, config) = (path("user.key"), path("user.crt"), path("kubeconfig"));
    std::fs::copy(cluster.kubeconfig(), &config).unwrap();
    let user = format!("--client-certificate={crt}");
    let user_key = format!("--client-key={key}");
    run(
        "kubectl",
        &[
            "--kubeconfig",
            &config,
            "config",
            "set-credentials",
            "executor",
            &user,
            &user_key,
            "--embed-certs",
        ],
    );
    run(
        "kubectl",
        &[
            "--kubeconfig",
            &config,
            "config",
            "set-context",
            "--current",
            "--user=executor",
        ],
    );
    PathBuf::from(config)
}

#[tokio::test]
async fn a_refused_service_account_fails_at_once_with_the_reason() {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = unauthorized_kubeconfig(&cluster, dir.path());
    let namespace = unique_name("exec-refused");
    let encoded = encode(&release(&namespace, "app", "1.0.0"));
    let started = Instant::now();
    let output = finish(
        start_as(&kubeconfig, &action("install", &encoded, "60s")),
        Duration::from_secs(30),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "failed at once, not at the timeout"
    );
    let line = error_line(&output, 4);
    assert!(
        line.starts_with(&format!(
            "error: creating namespace {namespace}: HTTP 403 Forbidden:"
        )),
        "{line}"
    );
    assert!(line.contains("orkestra-executor"), "names the user: {line}");
    assert!(
        Api::<Namespace>::all(client)
            .get_opt(&namespace)
            .await
            .unwrap()
            .is_none()
    );

    // Delete is refused the same way.
    let output = finish(
        start_as(&kubeconfig, &action("delete", &encoded, "60s")),
        Duration::from_secs(30),
    )
    .await;
    let line = error_line(&output, 4);
    assert!(line.contains("HTTP 403 Forbidden"), "{}", line);
}
