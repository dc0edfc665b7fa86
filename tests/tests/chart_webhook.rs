//! The webhook binary run out of cluster as the installed chart's webhook ServiceAccount, with the
//! chart's certificate and policy: the API server reaches it through `webhook.url`, and its Secret
//! access checks work with exactly the chart's RBAC.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chart_support;

#[allow(unused_imports)]
use chart_support::*;

use std::process::Command;

use orkestra_tests::helm::Helm;
use orkestra_tests::webhook::free_port;
use orkestra_tests::{Cluster, unique_name};
use serde_json::{Value, json};

/// An ApplicationGroup this release's webhook sees (its objectSelector label), with `apps`.
fn labelled_group(name: &str, release: &str, apps: Value) -> kube::api::DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "orkestra.azure.microsoft.com/v1alpha1",
        "kind": "ApplicationGroup",
        "metadata": {"name": name, "labels": {"orkestra-chart-test": release}},
        "spec": {"applications": apps},
    }))
    .unwrap()
}

fn app(name: &str, dependencies: &[&str], chart: Value) -> Value {
    json!({"name": name, "dependencies": dependencies, "spec": {
        "chart": chart, "release": {"targetNamespace": name}}})
}

/// Server-side dry-run create: the webhook's answer, as the API server relays it.
async fn dry_run_create(
    client: kube::Client,
    group: &kube::api::DynamicObject,
) -> Result<(), String> {
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(
        client,
        &orkestra_tests::webhook::application_group_resource(),
    );
    let params = kube::api::PostParams {
        dry_run: true,
        ..Default::default()
    };
    api.create(&params, group)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn the_webhook_out_of_cluster_checks_secret_access_with_the_charts_rbac() {
    let cluster = Cluster::shared().await.unwrap();
    let helm = Helm::find().unwrap();
    let ns = cluster.namespace("chart-webhook").await.unwrap();
    let release = unique_name("ork");
    let fullname = format!("{release}-orkestra");
    let (port, admin_port) = (free_port().unwrap(), free_port().unwrap());
    let url = format!("webhook.url=https://127.0.0.1:{port}");
    let (_installed, _) = Installed::install(&helm, &cluster, &release, &ns, &[&url]);

    // The webhook runs here with what the chart installed: its generated certificate (which names
    // 127.0.0.1, webhook.url's host), its policy ConfigMap, and its ServiceAccount's permissions.
    let dir = tempfile::tempdir().unwrap();
    let tls = get_json(
        &cluster,
        &["secret", &format!("{fullname}-webhook-tls"), "-n", &ns],
    );
    for key in ["tls.crt", "tls.key"] {
        std::fs::write(dir.path().join(key), secret_data(&tls, key)).unwrap();
    }
    let policy = get_json(
        &cluster,
        &[
            "configmap",
            &format!("{fullname}-webhook-policy"),
            "-n",
            &ns,
        ],
    );
    std::fs::write(
        dir.path().join("policy.yaml"),
        policy["data"]["policy.yaml"].as_str().unwrap(),
    )
    .unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    cluster
        .write_service_account_kubeconfig(&ns, &format!("{fullname}-webhook"), &kubeconfig)
        .await
        .unwrap();
    let binary = orkestra_tests::webhook::workspace_binary("orkestra-webhook", "orkestra-webhook")
        .await
        .unwrap();
    let mut cmd = Command::new(&binary);
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--admin-listen", &format!("127.0.0.1:{admin_port}")])
        .arg("--tls-cert")
        .arg(dir.path().join("tls.crt"))
        .arg("--tls-key")
        .arg(dir.path().join("tls.key"))
        .arg("--policy")
        .arg(dir.path().join("policy.yaml"))
        .args(["--secret-namespace", &ns])
        .env("KUBECONFIG", &kubeconfig);
    let webhook = LocalProcess::spawn(&cluster, &format!("{release}-webhook"), cmd);

    // The API server reaches it through the chart's configurations (caBundle from the chart's CA):
    // a cyclic group is refused naming the cycle.
    let admin = cluster.client().await.unwrap();
    let chart =
        |name: &str| json!({"url": "https://charts.example.com", "name": name, "version": "1.0.0"});
    let cyclic = labelled_group(
        &unique_name("cyclic"),
        &release,
        json!([app("a", &["b"], chart("a")), app("b", &["a"], chart("b"))]),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let refused = loop {
        match dry_run_create(admin.clone(), &cyclic).await {
            Err(message) if message.contains("dependency cycle") => break message,
            other if std::time::Instant::now() > deadline => {
                panic!(
                    "the webhook never answered: {other:?}; log: {}",
                    webhook.log().display()
                )
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
        }
    };
    assert!(refused.contains("a -> b -> a"), "{refused}");

    // A group naming a Secret: the webhook asks the API server (a SubjectAccessReview, which the
    // chart's ClusterRole lets it create) whether the author may read it. The admin may: admitted.
    let with_secret = |name: &str| {
        let mut chart = chart("a");
        chart["authSecretRef"] = json!({"name": "repo-creds", "namespace": ns});
        labelled_group(name, &release, json!([app("a", &[], chart)]))
    };
    let group = with_secret(&unique_name("secret"));
    dry_run_create(admin, &group)
        .await
        .unwrap_or_else(|e| panic!("the admin's group naming a Secret was refused: {e}"));
    // An author who may create groups but not read that Secret is refused, naming it.
    let role = unique_name("chart-author");
    let rbac = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": role},
         "rules": [{"apiGroups": ["orkestra.azure.microsoft.com"],
                    "resources": ["applicationgroups"], "verbs": ["create"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": role},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
         "subjects": [{"kind": "ServiceAccount", "name": "author", "namespace": ns}]}]});
    let rbac_file = dir.path().join("rbac.json");
    std::fs::write(&rbac_file, rbac.to_string()).unwrap();
    let mut cmd = cluster.kubectl();
    cmd.args(["apply", "-f"]).arg(&rbac_file);
    let (ok, _, stderr) = run(cmd);
    assert!(ok, "{stderr}");
    let author = cluster.service_account_client(&ns, "author").await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let refused = loop {
        match dry_run_create(author.clone(), &group).await {
            Err(message) if message.contains("may not get Secret") => break message,
            // The binding reaches the authorizer's cache within moments.
            other if std::time::Instant::now() > deadline => panic!("{other:?}"),
            _ => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
        }
    };
    assert!(
        refused.contains(&format!(
            "user \"system:serviceaccount:{ns}:author\" may not get Secret {ns}/repo-creds"
        )),
        "{refused}"
    );

    let mut cmd = cluster.kubectl();
    cmd.args(["delete", "clusterrole,clusterrolebinding", &role]);
    run(cmd);
    let out = helm
        .run_on(
            cluster.kubeconfig(),
            ["uninstall", &release, "--namespace", &ns],
        )
        .unwrap();
    assert!(
        out.success,
        "helm uninstall failed:\n{}{}",
        out.stdout, out.stderr
    );
}
