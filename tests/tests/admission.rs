//! Issue 4, end to end: `kubectl apply` against the real API server with orkestra-webhook
//! registered as mutating and validating admission webhook. Each test has its own webhook
//! ([`TestWebhook`]) that only sees objects carrying its label, so tests run in parallel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use orkestra_tests::webhook::{TestWebhook, application_group_resource, workspace_binary};
use orkestra_tests::{Cluster, unique_name};
use serde_json::{Value, json};

fn app(name: &str, deps: &[&str], namespace: &str) -> Value {
    json!({"name": name, "dependencies": deps, "spec": {
        "chart": {"url": "https://charts.example.com", "name": name},
        "release": {"targetNamespace": namespace}}})
}

fn group(name: &str, labels: Value, apps: Vec<Value>) -> Value {
    json!({"apiVersion": "orkestra.azure.microsoft.com/v1alpha1", "kind": "ApplicationGroup",
        "metadata": {"name": name, "labels": labels}, "spec": {"applications": apps}})
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn exists(cluster: &Cluster, name: &str) -> bool {
    cluster
        .kubectl()
        .args(["get", "applicationgroup", name])
        .output()
        .unwrap()
        .status
        .success()
}

#[tokio::test]
async fn cyclic_group_is_refused_with_the_cycle_and_nothing_is_stored() {
    let cluster = Cluster::shared().await.unwrap();
    let webhook = TestWebhook::start(&cluster, None).await.unwrap();
    let name = unique_name("cyclic");
    let object = group(
        &name,
        webhook.labels(),
        vec![
            app("a", &["c"], "a"),
            app("b", &["a"], "b"),
            app("c", &["b"], "c"),
        ],
    );
    let out = cluster.kubectl_with_object(&["apply"], &object).unwrap();
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("denied the request"), "{said}");
    assert!(said.contains("dependency cycle"), "{said}");
    assert!(
        ["a -> c -> b -> a", "b -> a -> c -> b", "c -> b -> a -> c"]
            .iter()
            .any(|c| said.contains(c)),
        "the cycle itself is named: {said}"
    );
    assert!(
        said.contains("spec.applications"),
        "the field path is named: {said}"
    );
    assert!(
        !exists(&cluster, &name),
        "a refused group must not be stored"
    );
}

#[tokio::test]
async fn valid_group_is_stored_with_defaults_and_shows_print_columns() {
    let cluster = Cluster::shared().await.unwrap();
    let webhook = TestWebhook::start(&cluster, None).await.unwrap();
    let name = unique_name("valid");
    let object = group(
        &name,
        webhook.labels(),
        vec![app("db", &[], "data"), app("web", &["db"], "web")],
    );
    let out = cluster.kubectl_with_object(&["apply"], &object).unwrap();
    assert!(out.status.success(), "{}", text(&out));

    let api: Api<DynamicObject> = Api::all_with(
        cluster.client().await.unwrap(),
        &application_group_resource(),
    );
    let stored = api.get(&name).await.unwrap();
    let db = &stored.data["spec"]["applications"][0]["spec"];
    assert_eq!(
        db["chart"]["version"], "*",
        "chart version defaults to *: {db}"
    );
    assert_eq!(db["release"]["timeout"], "5m", "{db}");
    assert_eq!(db["release"]["interval"], "5m", "{db}");

    let table = cluster
        .kubectl()
        .args(["get", "ag", &name])
        .output()
        .unwrap();
    let header = String::from_utf8_lossy(&table.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let columns: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        columns,
        ["NAME", "READY", "REASON", "MESSAGE", "ROLLEDBACK", "AGE"],
        "{}",
        text(&table)
    );
    api.delete(&name, &Default::default()).await.unwrap();
}

#[tokio::test]
async fn moving_an_application_to_another_namespace_shows_a_warning() {
    let cluster = Cluster::shared().await.unwrap();
    let webhook = TestWebhook::start(&cluster, None).await.unwrap();
    let name = unique_name("moving");
    let before = group(&name, webhook.labels(), vec![app("db", &[], "data")]);
    let out = cluster.kubectl_with_object(&["apply"], &before).unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let after = group(&name, webhook.labels(), vec![app("db", &[], "data-v2")]);
    let out = cluster.kubectl_with_object(&["apply"], &after).unwrap();
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("Warning:"),
        "kubectl shows the admission warning: {said}"
    );
    assert!(
        said.contains("\"data\"") && said.contains("\"data-v2\""),
        "{said}"
    );
    cluster
        .kubectl()
        .args(["delete", "ag", &name])
        .output()
        .unwrap();
}

/// A policy made stricter while a group exists holds changes to its spec, not the group itself:
/// updates that leave the spec alone pass, so the controller can still write its annotations and
/// release the group's finalizer when it is deleted (before, the group stayed Terminating).
#[tokio::test]
async fn a_stricter_policy_does_not_hold_a_deletion() {
    let cluster = Cluster::shared().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "").unwrap();
    let webhook = TestWebhook::start(&cluster, Some(&policy)).await.unwrap();
    let name = unique_name("stricter");
    let mut object = group(&name, webhook.labels(), vec![app("db", &[], "locked")]);
    object["metadata"]["finalizers"] = json!(["orkestra.test/hold"]);
    let out = cluster.kubectl_with_object(&["create"], &object).unwrap();
    assert!(out.status.success(), "{}", text(&out));

    std::fs::write(&policy, "forbiddenNamespaces: [locked]\n").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    for patch in 0.. {
        // A new version each time: a change of the spec, until the stricter policy is read.
        let mut changed = app("db", &[], "locked");
        changed["spec"]["chart"]["version"] = json!(format!("1.2.{patch}"));
        let spec_change = json!({"spec": {"applications": [changed]}}).to_string();
        let out = cluster
            .kubectl()
            .args(["patch", "ag", &name, "--type=merge", "-p", &spec_change])
            .output()
            .unwrap();
        let said = text(&out);
        if !out.status.success() {
            assert!(
                said.contains("namespace \"locked\" is forbidden by the cluster policy"),
                "{said}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the webhook never read the stricter policy"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }

    let out = cluster
        .kubectl()
        .args(["delete", "ag", &name, "--wait=false"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = cluster
        .kubectl()
        .args([
            "patch",
            "ag",
            &name,
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the finalizer's release is admitted: {}",
        text(&out)
    );
    let out = cluster
        .kubectl()
        .args(["wait", "--for=delete", "ag", &name, "--timeout=30s"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(!exists(&cluster, &name));
}

#[tokio::test]
async fn a_stopped_webhook_with_failure_policy_fail_refuses_writes() {
    let cluster = Cluster::shared().await.unwrap();
    let mut webhook = TestWebhook::start(&cluster, None).await.unwrap();
    webhook.stop();
    let name = unique_name("nowebhook");
    let out = cluster
        .kubectl_with_object(
            &["apply"],
            &group(&name, webhook.labels(), vec![app("db", &[], "data")]),
        )
        .unwrap();
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("failed calling webhook"), "{said}");
    assert!(!exists(&cluster, &name));
}

#[tokio::test]
async fn a_wrong_type_is_refused_by_the_api_server_schema() {
    // No webhook label: only the CRD's structural schema judges this object.
    let cluster = Cluster::shared().await.unwrap();
    let name = unique_name("wrongtype");
    let mut object = group(&name, json!({}), vec![app("db", &[], "data")]);
    object["spec"]["applications"][0]["dependencies"] = json!(5);
    let out = cluster.kubectl_with_object(&["apply"], &object).unwrap();
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("spec.applications[0].dependencies"), "{said}");
    assert!(said.contains("array"), "{said}");
    assert!(!exists(&cluster, &name));
}

#[tokio::test]
async fn every_planned_workflow_config_map_and_helmrelease_is_accepted_by_the_api_server() {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let controller = workspace_binary("orkestra-controller", "orkestra-controller")
        .await
        .unwrap();
    let examples = orkestra_tests::cluster::repo_root().join("examples");
    let mut files: Vec<_> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no examples/*.yaml");

    // Objects keep their names but go to a namespace of this test, so runs and tests never collide.
    let ns = unique_name("plan");
    cluster
        .kubectl()
        .args(["create", "namespace", &ns])
        .output()
        .unwrap();
    let mut checked = 0;
    for file in files {
        let out = Command::new(&controller)
            .arg("plan")
            .arg(&file)
            .args(["--output", "yaml"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "plan {}: {}",
            file.display(),
            text(&out)
        );
        let yaml = String::from_utf8(out.stdout).unwrap();
        for doc in serde_norway::Deserializer::from_str(&yaml) {
            let value: Value = serde::Deserialize::deserialize(doc).unwrap();
            let Some(kind) = value["kind"].as_str() else {
                continue;
            };
            let plural = match kind {
                "Workflow" => "workflows",
                "ConfigMap" => "configmaps",
                "HelmRelease" => "helmreleases",
                _ => continue,
            };
            let mut object: DynamicObject = serde_json::from_value(value.clone()).unwrap();
            object.metadata.namespace = Some(ns.clone());
            let types = object.types.clone().unwrap();
            // NB: the core group's apiVersion (a ConfigMap's `v1`) has no group part.
            let (group, version) = types
                .api_version
                .split_once('/')
                .unwrap_or(("", types.api_version.as_str()));
            let resource = kube::core::ApiResource::from_gvk_with_plural(
                &kube::core::GroupVersionKind::gvk(group, version, kind),
                plural,
            );
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &resource);
            let name = object.metadata.name.clone().unwrap_or_default();
            api.create(
                &PostParams {
                    dry_run: true,
                    ..Default::default()
                },
                &object,
            )
            .await
            .unwrap_or_else(|e| panic!("{} {kind} {name} refused: {e}", file.display()));
            checked += 1;
        }
    }
    assert!(
        checked > 0,
        "plan printed no Workflow, ConfigMap or HelmRelease"
    );
    cluster
        .kubectl()
        .args(["delete", "namespace", &ns, "--wait=false"])
        .output()
        .unwrap();
}

/// A group of one application whose chart credentials are Secret `namespace/secret`.
fn group_naming_secret(name: &str, labels: Value, namespace: &str, secret: &str) -> Value {
    let mut application = app("web", &[], "web");
    application["spec"]["chart"]["authSecretRef"] = json!({"namespace": namespace, "name": secret});
    group(name, labels, vec![application])
}

/// What the API server said refusing a request; empty when it was accepted.
fn refusal<T>(result: kube::Result<T>) -> String {
    result.err().map(|err| err.to_string()).unwrap_or_default()
}

/// Applies RBAC objects (Roles, ClusterRoles, bindings) as the admin.
fn apply_rbac(cluster: &Cluster, objects: &[Value]) {
    for object in objects {
        let out = cluster.kubectl_with_object(&["apply"], object).unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
}

#[tokio::test]
async fn a_group_naming_a_secret_its_author_may_not_read_is_refused_naming_the_secret() {
    let cluster = Cluster::shared().await.unwrap();
    let webhook = TestWebhook::start(&cluster, None).await.unwrap();
    let ns = cluster.namespace("sar").await.unwrap();
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "repo-creds", "namespace": ns},
        "stringData": {"username": "u", "password": "p"}});
    apply_rbac(&cluster, &[secret]);
    // The author may create ApplicationGroups, and nothing else.
    let role = unique_name("ag-author");
    apply_rbac(
        &cluster,
        &[
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": role},
                "rules": [{"apiGroups": ["orkestra.azure.microsoft.com"],
                           "resources": ["applicationgroups"], "verbs": ["create", "get", "delete"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": role},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"kind": "ServiceAccount", "name": "author", "namespace": ns}]}),
        ],
    );
    let author = cluster.service_account_client(&ns, "author").await.unwrap();
    let groups: Api<DynamicObject> = Api::all_with(author, &application_group_resource());
    let name = unique_name("sar");
    let object: DynamicObject = serde_json::from_value(group_naming_secret(
        &name,
        webhook.labels(),
        &ns,
        "repo-creds",
    ))
    .unwrap();

    let message = refusal(groups.create(&PostParams::default(), &object).await);
    assert!(
        message.contains(&format!(
            "spec.applications[0].spec.chart.authSecretRef: user \"system:serviceaccount:{ns}:author\" may not get Secret {ns}/repo-creds"
        )),
        "{message}"
    );
    assert!(!exists(&cluster, &name), "a refused group is not stored");

    // Allowed to read exactly that Secret, the author may use it.
    apply_rbac(
        &cluster,
        &[
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "read-repo-creds", "namespace": ns},
                "rules": [{"apiGroups": [""], "resources": ["secrets"],
                           "resourceNames": ["repo-creds"], "verbs": ["get"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "read-repo-creds", "namespace": ns},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-repo-creds"},
                "subjects": [{"kind": "ServiceAccount", "name": "author", "namespace": ns}]}),
        ],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match groups.create(&PostParams::default(), &object).await {
            Ok(_) => break,
            // RBAC changes reach the authorizer's cache within moments.
            Err(err) if std::time::Instant::now() < deadline => {
                assert!(format!("{err:?}").contains("may not get Secret"), "{err:?}");
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            Err(err) => panic!("still refused after the Role was bound: {err:?}"),
        }
    }
    assert!(exists(&cluster, &name));
    groups.delete(&name, &Default::default()).await.unwrap();
    let _ = cluster
        .kubectl()
        .args(["delete", "clusterrole,clusterrolebinding", &role])
        .output();
}

/// A reference an update leaves alone is not checked again (a GitOps agent that may not read the
/// Secret keeps updating the group), unless the update sends the Secret to another repository:
/// the controller would send its contents to whatever the application's chart URL says.
#[tokio::test]
async fn an_update_that_sends_a_secret_to_another_repository_is_checked_again() {
    let cluster = Cluster::shared().await.unwrap();
    let webhook = TestWebhook::start(&cluster, None).await.unwrap();
    let ns = cluster.namespace("sar-url").await.unwrap();
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "repo-creds", "namespace": ns},
        "stringData": {"username": "u", "password": "p"}});
    // The editor may change ApplicationGroups, and read no Secret.
    let role = unique_name("ag-editor");
    apply_rbac(
        &cluster,
        &[
            secret,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": role},
                "rules": [{"apiGroups": ["orkestra.azure.microsoft.com"],
                           "resources": ["applicationgroups"], "verbs": ["get", "patch", "delete"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": role},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"kind": "ServiceAccount", "name": "editor", "namespace": ns}]}),
        ],
    );
    // The admin, who may read every Secret, creates the group.
    let name = unique_name("sar-url");
    let created = cluster
        .kubectl_with_object(
            &["create"],
            &group_naming_secret(&name, webhook.labels(), &ns, "repo-creds"),
        )
        .unwrap();
    assert!(created.status.success(), "{}", text(&created));
    let editor = cluster.service_account_client(&ns, "editor").await.unwrap();
    let groups: Api<DynamicObject> = Api::all_with(editor, &application_group_resource());
    // A merge patch replaces the whole list: the one application with one chart field changed.
    let edit = |field: &str, value: &str| {
        let mut spec = group_naming_secret(&name, json!({}), &ns, "repo-creds")["spec"].clone();
        spec["applications"][0]["spec"]["chart"][field] = json!(value);
        Patch::Merge(json!({"spec": spec}))
    };

    groups
        .patch(&name, &PatchParams::default(), &edit("version", "1.2.3"))
        .await
        .expect("an update that keeps the reference and its repository is not checked again");
    let message = refusal(
        groups
            .patch(
                &name,
                &PatchParams::default(),
                &edit("url", "https://elsewhere.example.net/charts"),
            )
            .await,
    );
    assert!(
        message.contains(&format!(
            "spec.applications[0].spec.chart.authSecretRef: user \"system:serviceaccount:{ns}:editor\" may not get Secret {ns}/repo-creds, so the group may not send it to https://elsewhere.example.net/charts"
        )),
        "{message}"
    );
    let stored = groups.get(&name).await.unwrap();
    assert_eq!(
        stored.data["spec"]["applications"][0]["spec"]["chart"]["url"],
        "https://charts.example.com",
        "the refused update is not stored"
    );
    groups.delete(&name, &Default::default()).await.unwrap();
    let _ = cluster
        .kubectl()
        .args(["delete", "clusterrole,clusterrolebinding", &role])
        .output();
}

#[tokio::test]
async fn when_the_access_check_itself_fails_the_group_is_refused_with_the_reason() {
    let cluster = Cluster::shared().await.unwrap();
    // The webhook runs as an account that may not create SubjectAccessReviews: every check fails.
    let ns = cluster.namespace("sar-fail").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    cluster
        .write_service_account_kubeconfig(&ns, "powerless", &kubeconfig)
        .await
        .unwrap();
    let webhook = TestWebhook::start_as(&cluster, None, &kubeconfig)
        .await
        .unwrap();
    let name = unique_name("sar-fail");
    // The admin may read every Secret; the answer still cannot be known, so it is no.
    let out = cluster
        .kubectl_with_object(
            &["create"],
            &group_naming_secret(&name, webhook.labels(), &ns, "any"),
        )
        .unwrap();
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "could not check whether user \"orkestra-admin\" may get Secret {ns}/any (denied to be safe)"
        )),
        "{said}"
    );
    assert!(
        said.contains("forbidden"),
        "the reason is the API's refusal: {said}"
    );
    assert!(!exists(&cluster, &name));
    // A group naming no Secret needs no check and is admitted.
    let plain = group(
        &unique_name("sar-none"),
        webhook.labels(),
        vec![app("web", &[], "web")],
    );
    let out = cluster.kubectl_with_object(&["create"], &plain).unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let _ = cluster.kubectl_with_object(&["delete"], &plain).unwrap();
}
