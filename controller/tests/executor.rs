//! `orkestra-controller executor`: its **unit-level cases**, which need Flux in a state that real
//! Flux cannot be brought to on demand, or no Flux at all. The real binary, run as a workflow pod
//! runs it (KUBECONFIG set), against the shared local API server (`Cluster::shared()`), where no
//! Flux controller runs.
//!
//! The behaviour of a release is tested against real Flux in controller/tests/executor_flux.rs:
//! install, upgrade, an upgrade of a suspended release, a Helm failure, Flux stalling, a timeout,
//! the release deleted while the step waits, delete, an uninstall that does not finish, the planned
//! leaf command line.
//!
//! What these tests play, and why: **helm-controller's status** (the HelmRelease's status
//! subresource, `Ready` and `observedGeneration`), for the one state that real Flux only passes
//! through for a moment: a `Ready=True` about the previous generation, before Flux has looked at
//! the new one; and the `Ready=True` ending a step whose namespace was being deleted, which is
//! about the namespace, not Flux. The other cases need no Flux at all: a delete of a release that is already gone,
//! bad input, RBAC refusals, which the executor meets before Flux could matter.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod executor_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use executor_support::{
    action, delete, encode, error_line, failed_with, finish, install, release, releases, start,
    still_running, succeeded, succeeded_saying, text,
};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::ResourceExt as _;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use orkestra_shared::plan::ReleaseRef;
use orkestra_tests::flux_status::{self, Verdict};
use orkestra_tests::{Cluster, unique_name};
use serde_json::json;

/// Flux's verdict on `generation` (see [`orkestra_tests::flux_status`]).
async fn flux_reports(
    api: &Api<DynamicObject>,
    name: &str,
    generation: i64,
    ready: &str,
    reason: &str,
    message: &str,
) {
    let verdict = Verdict {
        ready,
        reason,
        message,
    };
    flux_status::report(api, name, generation, verdict)
        .await
        .unwrap();
}

/// **Plays Flux's status.** A `Ready=True` about the previous generation must not end an upgrade
/// whose new generation Flux has not looked at yet (`status.observedGeneration` still the old
/// one). Real Flux shows that state only between the apply and its next reconcile, a moment a test
/// cannot hold open. executor_flux.rs has the real neighbours: an upgrade (the step ends with the
/// new chart deployed) and an upgrade of a suspended release (observedGeneration current, Ready
/// about the old generation).
#[tokio::test]
async fn a_ready_condition_about_the_previous_generation_does_not_end_an_upgrade() {
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

    let mut child = install(
        cluster.kubeconfig(),
        &release(&namespace, "reviews", "2.0.0"),
        "60s",
    );
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

/// **Plays Flux's status.** A release applied while its namespace is still being deleted (a group
/// deleted together with its namespace, then applied again): kube-apiserver refuses new objects
/// in a terminating namespace. The step waits until the namespace is gone, creates it again and
/// installs (before, it failed at once with HTTP 403). A ConfigMap's finalizer holds the
/// namespace in Terminating until the test lets it go.
#[tokio::test]
async fn a_namespace_being_deleted_is_waited_for_and_created_again() {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let namespace = cluster.namespace("exec-terminating").await.unwrap();
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let held: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "held", "finalizers": ["orkestra.test/hold"]}}),
    )
    .unwrap();
    configmaps
        .create(&PostParams::default(), &held)
        .await
        .unwrap();
    let namespaces = Api::<Namespace>::all(client.clone());
    namespaces
        .delete(&namespace, &Default::default())
        .await
        .unwrap();

    // NB: generous: the namespace controller backs off while the held ConfigMap is in the way, and
    // on a loaded machine the namespace took over 40 s to go once it was let go.
    let mut child = install(
        cluster.kubeconfig(),
        &release(&namespace, "web", "1.0.0"),
        "150s",
    );
    still_running(&mut child, Duration::from_secs(3)).await;
    let release_hold = json!({"metadata": {"finalizers": null}});
    configmaps
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(&release_hold),
        )
        .await
        .unwrap();

    let api = releases(&client, &namespace);
    let deadline = Instant::now() + Duration::from_secs(120);
    let generation = loop {
        if let Some(applied) = api.get_opt("web").await.unwrap() {
            break applied.metadata.generation.unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the HelmRelease was never applied"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let recreated = namespaces.get(&namespace).await.unwrap();
    assert!(
        recreated.metadata.deletion_timestamp.is_none(),
        "{recreated:?}"
    );
    flux_reports(
        &api,
        "web",
        generation,
        "True",
        "InstallSucceeded",
        "installed",
    )
    .await;
    let output = finish(child, Duration::from_secs(20)).await;
    succeeded_saying(&output, "is being deleted: waiting until it is gone");
}

/// **No Flux needed**: nothing to delete, nothing to wait for.
#[tokio::test]
async fn delete_of_a_release_that_is_already_gone_succeeds() {
    let cluster = Cluster::shared().await.unwrap();
    let namespace = unique_name("exec-gone");
    let output = finish(
        delete(
            cluster.kubeconfig(),
            &release(&namespace, "nothing", "1.0.0"),
            "30s",
        ),
        Duration::from_secs(30),
    )
    .await;
    succeeded_saying(&output, "already gone");
}

/// **No Flux needed**: a HelmRelease of another group (or one made by hand) under the same name
/// is neither taken over by an install nor uninstalled by a delete. Two groups that each have an
/// application `redis` without a `targetNamespace` both plan `default/redis`; before, the second
/// group's forced apply swapped the first's chart and owner label, and deleting the first group
/// uninstalled the second's release.
#[tokio::test]
async fn another_groups_release_of_the_same_name_is_neither_taken_over_nor_deleted() {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let namespace = cluster.namespace("exec-taken").await.unwrap();
    let api = releases(&client, &namespace);
    let mut theirs = release(&namespace, "redis", "1.0.0");
    theirs["metadata"]["labels"]["orkestra.azure.microsoft.com/owner"] = json!("other-group");
    let mut by_hand = release(&namespace, "cache", "1.0.0");
    by_hand["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("labels");
    for object in [&theirs, &by_hand] {
        let object: DynamicObject = serde_json::from_value(object.clone()).unwrap();
        api.create(&PostParams::default(), &object).await.unwrap();
    }

    let (error, _) = failed_with(
        install(
            cluster.kubeconfig(),
            &release(&namespace, "redis", "2.0.0"),
            "30s",
        ),
        Duration::from_secs(30),
        1,
    )
    .await;
    assert!(
        error.contains(&format!(
            "HelmRelease {namespace}/redis belongs to group \"other-group\""
        )) && error.contains("another name or release.targetNamespace"),
        "{error}"
    );
    let (error, _) = failed_with(
        install(
            cluster.kubeconfig(),
            &release(&namespace, "cache", "2.0.0"),
            "30s",
        ),
        Duration::from_secs(30),
        1,
    )
    .await;
    assert!(error.contains("was not made by Orkestra"), "{error}");

    let output = finish(
        delete(
            cluster.kubeconfig(),
            &release(&namespace, "redis", "2.0.0"),
            "30s",
        ),
        Duration::from_secs(30),
    )
    .await;
    succeeded_saying(&output, "left in place");

    for (name, owner) in [("redis", Some("other-group")), ("cache", None)] {
        let kept = api.get(name).await.unwrap();
        assert_eq!(
            kept.data["spec"]["chart"]["spec"]["version"], "1.0.0",
            "{name}"
        );
        assert!(kept.metadata.deletion_timestamp.is_none(), "{name}");
        assert_eq!(
            kept.labels()
                .get("orkestra.azure.microsoft.com/owner")
                .map(String::as_str),
            owner,
            "{name}"
        );
    }
}

/// **No Flux needed**: an API server that fails writes for a moment (an etcd leader change
/// answers 500) does not fail the step: the executor retries until it gets an answer (before,
/// the step failed at once, and the whole group's rollout with it).
#[tokio::test]
async fn a_write_the_api_server_fails_for_a_moment_is_retried() {
    let cluster = Cluster::shared().await.unwrap();
    let proxy = orkestra_tests::api_proxy::ApiProxy::start(&cluster)
        .await
        .unwrap();
    let kubeconfig = proxy.kubeconfig();
    proxy.fail_next_writes(2);
    let namespace = unique_name("exec-retry");
    let output = finish(
        delete(&kubeconfig, &release(&namespace, "nothing", "1.0.0"), "30s"),
        Duration::from_secs(30),
    )
    .await;
    succeeded_saying(&output, "already gone");
    assert!(
        text(&output.stdout).contains("retrying in")
            && text(&output.stdout).contains("leader changed"),
        "{}",
        text(&output.stdout)
    );
    let deletes = proxy
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .count();
    assert_eq!(deletes, 3, "two failed, the third answered");
}

/// **No Flux needed**: the executor refuses unusable arguments before it writes anything.
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
    // A ConfigMap as the controller writes a Workflow's: one key holds no HelmRelease, one a valid
    // HelmRelease that someone changed after the Workflow was planned (the Workflow names the
    // digest of what was planned: the same release at another version).
    let store = unique_name("exec-bad-store");
    let stores: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let planned = valid.to_string();
    let tampered = release(&namespace, "app", "6.6.6").to_string();
    let written = json!({"metadata": {"name": store},
        "data": {"broken": "{nope", "0-app": tampered}});
    stores
        .create(
            &PostParams::default(),
            &serde_json::from_value(written).unwrap(),
        )
        .await
        .unwrap();
    let refer = |name: &str, key: &str, value: &str| {
        let digest = ReleaseRef::digest_of(value.as_bytes());
        vec![
            "--helmrelease".into(),
            format!("configmap:default/{name}/{key}@sha256:{digest}"),
        ]
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--helmrelease".into(), "configmap:default".into()],
            "has no @sha256:<digest> of its HelmRelease",
        ),
        (
            refer(&format!("{store}-gone"), "0-app", &planned),
            "does not exist",
        ),
        (refer(&store, "1-app", &planned), "has no key \"1-app\""),
        (refer(&store, "broken", "{nope"), "is not JSON"),
        (
            refer(&store, "0-app", &planned),
            "it was changed after the controller wrote it",
        ),
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
        let output = finish(start(cluster.kubeconfig(), &all), Duration::from_secs(30)).await;
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

/// **No Flux needed**: the API server refuses the executor's first call.
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
        start(&kubeconfig, &action("install", &encoded, "60s")),
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
        start(&kubeconfig, &action("delete", &encoded, "60s")),
        Duration::from_secs(30),
    )
    .await;
    let line = error_line(&output, 4);
    assert!(line.contains("HTTP 403 Forbidden"), "{}", line);
}
