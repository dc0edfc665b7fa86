//! The Helm chart installed on the shared test cluster: install, upgrade and uninstall do what a
//! user expects, and each component's RBAC grants what its code needs and no more.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chart_support;

#[allow(unused_imports)]
use chart_support::*;
use std::path::Path;

use orkestra_tests::helm::Helm;
use orkestra_tests::{Cluster, unique_name};
use serde_json::json;

#[tokio::test]
async fn install_upgrade_keeps_the_certificate_and_uninstall_leaves_only_the_crd() {
    let cluster = Cluster::shared().await.unwrap();
    let helm = Helm::find().unwrap();
    let ns = cluster.namespace("chart-install").await.unwrap();
    let release = unique_name("ork");
    let kubeconfig: &Path = cluster.kubeconfig();

    let (_installed, notes) = Installed::install(&helm, &cluster, &release, &ns, &[]);
    assert!(notes.contains("STATUS: deployed"), "{}", notes);
    assert!(
        notes.contains("helm test"),
        "NOTES say what to run next: {}",
        notes
    );
    assert!(
        notes.contains("leaves the\nApplicationGroup CRD"),
        "{}",
        notes
    );

    let fullname = format!("{release}-orkestra");
    let tls_name = format!("{fullname}-webhook-tls");
    let secret = get_json(&cluster, &["secret", &tls_name, "-n", &ns]);
    let validating = get_json(&cluster, &["validatingwebhookconfiguration", &fullname]);
    let ca_bundle = validating["webhooks"][0]["clientConfig"]["caBundle"].clone();
    assert_eq!(ca_bundle, secret["data"]["ca.crt"]);
    let deployment = get_json(
        &cluster,
        &["deployment", &format!("{fullname}-controller"), "-n", &ns],
    );
    assert_eq!(env_of(&deployment, "ORKESTRA_CONCURRENCY"), Some("32"));

    let out = helm
        .run_on(
            kubeconfig,
            install_args("upgrade", &release, &ns, &["controller.concurrency=8"]),
        )
        .unwrap();
    assert!(
        out.success,
        "helm upgrade failed:\n{}{}",
        out.stdout, out.stderr
    );
    let upgraded = get_json(
        &cluster,
        &["deployment", &format!("{fullname}-controller"), "-n", &ns],
    );
    assert_eq!(
        env_of(&upgraded, "ORKESTRA_CONCURRENCY"),
        Some("8"),
        "the upgrade applied"
    );
    let after = get_json(&cluster, &["secret", &tls_name, "-n", &ns]);
    // NB: assert!, not assert_eq!: a failure must not print the private keys.
    assert!(
        after["data"] == secret["data"],
        "helm upgrade regenerated the certificate Secret {tls_name}"
    );
    for kind in [
        "validatingwebhookconfiguration",
        "mutatingwebhookconfiguration",
    ] {
        let configuration = get_json(&cluster, &[kind, &fullname]);
        assert_eq!(
            configuration["webhooks"][0]["clientConfig"]["caBundle"], ca_bundle,
            "{kind} caBundle changed on upgrade"
        );
    }

    // A new name for the certificate (webhook.url's host): a new serving certificate from the same
    // CA, so the caBundle the API server trusts stays as it was.
    let out = helm
        .run_on(
            kubeconfig,
            install_args(
                "upgrade",
                &release,
                &ns,
                &["webhook.url=https://orkestra-dev.example.com:9443"],
            ),
        )
        .unwrap();
    assert!(
        out.success,
        "helm upgrade failed:\n{}{}",
        out.stdout, out.stderr
    );
    let renamed = get_json(&cluster, &["secret", &tls_name, "-n", &ns]);
    assert!(renamed["data"]["tls.crt"] != secret["data"]["tls.crt"]);
    assert_eq!(renamed["data"]["ca.crt"], secret["data"]["ca.crt"]);
    let (sans, verified) = certificate_check(
        &secret_data(&secret, "ca.crt"),
        &secret_data(&renamed, "tls.crt"),
    );
    assert!(sans.contains("DNS:orkestra-dev.example.com"), "{sans}");
    assert!(verified.contains(": OK"), "{verified}");
    let configuration = get_json(&cluster, &["validatingwebhookconfiguration", &fullname]);
    let client = &configuration["webhooks"][0]["clientConfig"];
    assert_eq!(client["caBundle"], ca_bundle);
    assert_eq!(
        client["url"],
        "https://orkestra-dev.example.com:9443/validate"
    );

    let before = [
        labelled(&cluster, &release, NAMESPACED, Some(&ns)),
        labelled(&cluster, &release, "roles,rolebindings", Some("default")),
        labelled(&cluster, &release, CLUSTER_SCOPED, None),
    ]
    .concat();
    for expected in [
        format!("deployment.apps/{fullname}-webhook"),
        format!("secret/{tls_name}"),
        format!("role.rbac.authorization.k8s.io/{fullname}-controller-events"),
        format!("validatingwebhookconfiguration.admissionregistration.k8s.io/{fullname}"),
        format!("clusterrole.rbac.authorization.k8s.io/{fullname}-executor"),
    ] {
        assert!(
            before.contains(&expected),
            "{expected} not installed: {before:?}"
        );
    }

    let out = helm
        .run_on(kubeconfig, ["uninstall", &release, "--namespace", &ns])
        .unwrap();
    assert!(
        out.success,
        "helm uninstall failed:\n{}{}",
        out.stdout, out.stderr
    );
    // Dependents (ReplicaSets, Pods) go through the garbage collector: give it a while.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let left = loop {
        let left = [
            labelled(&cluster, &release, NAMESPACED, Some(&ns)),
            labelled(&cluster, &release, "roles,rolebindings", Some("default")),
            labelled(&cluster, &release, CLUSTER_SCOPED, None),
        ]
        .concat();
        if left.is_empty() || std::time::Instant::now() > deadline {
            break left;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    };
    assert!(left.is_empty(), "helm uninstall left {left:?}");
    get_json(
        &cluster,
        &["crd", "applicationgroups.orkestra.azure.microsoft.com"],
    );
}

/// `kubectl auth can-i ARGS --as SUBJECT`: true for "yes".
fn can_i(cluster: &Cluster, subject: &str, args: &str) -> bool {
    let mut cmd = cluster.kubectl();
    cmd.args(["auth", "can-i"])
        .args(args.split_whitespace())
        .args(["--as", subject]);
    let (_, stdout, _) = run(cmd);
    stdout.trim() == "yes"
}

#[tokio::test]
async fn each_component_gets_what_its_code_needs_and_no_more() {
    let cluster = Cluster::shared().await.unwrap();
    let helm = Helm::find().unwrap();
    let ns = cluster.namespace("chart-rbac").await.unwrap();
    let release = unique_name("ork");
    let (_installed, _) = Installed::install(&helm, &cluster, &release, &ns, &[]);
    let account = |name: &str| format!("system:serviceaccount:{ns}:{name}");
    let controller = account(&format!("{release}-orkestra-controller"));
    let webhook = account(&format!("{release}-orkestra-webhook"));
    let executor = account("orkestra-executor");
    let ag = "applicationgroups.orkestra.azure.microsoft.com";
    let hr = "helmreleases.helm.toolkit.fluxcd.io";
    let wf = "workflows.argoproj.io";
    let expectations: Vec<(&str, String, bool)> = vec![
        (&controller, format!("watch {ag}"), true),
        (&controller, format!("patch {ag}"), true),
        (
            &controller,
            format!("patch {ag} --subresource status"),
            true,
        ),
        (
            &controller,
            format!("update {ag} --subresource finalizers"),
            true,
        ),
        (
            &controller,
            format!("update {ag} --subresource status"),
            false,
        ),
        (&controller, format!("delete {ag}"), false),
        (&controller, format!("create {wf} -n {ns}"), true),
        (&controller, format!("delete {wf} -n {ns}"), true),
        (&controller, format!("create {wf} -n default"), false),
        // The release stores: ConfigMaps next to each Workflow, in the workflow namespace only.
        (&controller, format!("get configmaps -n {ns}"), true),
        (&controller, format!("list configmaps -n {ns}"), true),
        (&controller, format!("create configmaps -n {ns}"), true),
        (&controller, format!("patch configmaps -n {ns}"), true),
        (&controller, format!("delete configmaps -n {ns}"), true),
        (&controller, "create configmaps -n default".into(), false),
        (&controller, "get configmaps -n kube-system".into(), false),
        (&controller, format!("watch {hr} -A"), true),
        (&controller, format!("create {hr} -n {ns}"), false),
        (&controller, format!("delete {hr} -n {ns}"), false),
        (
            &controller,
            "create events.events.k8s.io -n default".into(),
            true,
        ),
        (
            &controller,
            "patch events.events.k8s.io -n default".into(),
            true,
        ),
        (&controller, format!("get secrets -n {ns}"), true),
        (&controller, format!("list secrets -n {ns}"), false),
        (&controller, "watch secrets -A".into(), false),
        (&controller, "get secrets -n kube-system".into(), false),
        (
            &controller,
            format!("update leases/orkestra-controller -n {ns}"),
            true,
        ),
        (
            &controller,
            format!("update leases/kube-scheduler -n {ns}"),
            false,
        ),
        (&controller, format!("create pods -n {ns}"), false),
        (
            &webhook,
            "create subjectaccessreviews.authorization.k8s.io".into(),
            true,
        ),
        (&webhook, format!("get secrets -n {ns}"), false),
        (&webhook, format!("list {ag}"), false),
        (&executor, format!("create {hr} -n some-team"), true),
        (&executor, format!("patch {hr} -n some-team"), true),
        (&executor, format!("delete {hr} -n some-team"), true),
        (&executor, format!("watch {hr} -n some-team"), true),
        (&executor, "create namespaces".into(), true),
        (&executor, "list namespaces".into(), false),
        (&executor, "delete namespaces".into(), false),
        (&executor, format!("get secrets -n {ns}"), false),
        // A step reads its HelmRelease from a release store of its Workflow's namespace, by name.
        (&executor, format!("get configmaps -n {ns}"), true),
        (&executor, format!("list configmaps -n {ns}"), false),
        (&executor, format!("patch configmaps -n {ns}"), false),
        (&executor, "get configmaps -n some-team".into(), false),
        (&executor, format!("create {wf} -n {ns}"), false),
    ];
    let wrong: Vec<String> = expectations
        .iter()
        .filter(|(subject, args, want)| can_i(&cluster, subject, args) != *want)
        .map(|(subject, args, want)| {
            format!("{subject} {} {args}", if *want { "may not" } else { "may" })
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "RBAC differs from what the code needs:\n{}",
        wrong.join("\n")
    );

    // The staging HelmRepository: the controller's server-side apply creates and updates the one
    // it is configured with, and no other.
    let apply = |name: &str| {
        let repository = json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"url": "oci://registry.example.com/orkestra/charts", "type": "oci", "interval": "5m"}});
        let args = [
            "apply",
            "--server-side",
            "--field-manager",
            "orkestra-controller",
            "--as",
            &controller,
        ];
        let out = cluster.kubectl_with_object(&args, &repository).unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for _ in 0..2 {
        let (ok, stderr) = apply("orkestra-staging");
        assert!(
            ok,
            "the controller cannot apply its staging HelmRepository: {stderr}"
        );
    }
    let (ok, stderr) = apply("someone-elses");
    assert!(!ok && stderr.contains("forbidden"), "{stderr}");
}
