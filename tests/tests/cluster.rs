//! The local control plane serves what the other tests rely on: the CRDs with their real schemas,
//! discovery and OpenAPI for kubectl and kube-rs, Namespaces and Secrets, Leases and Events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Discovery;
use orkestra_tests::{Cluster, unique_name};
use serde_json::json;

async fn namespace(cluster: &Cluster, prefix: &str) -> String {
    cluster.namespace(prefix).await.unwrap()
}

fn dynamic(
    client: &kube::Client,
    ns: &str,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    Api::namespaced_with(client.clone(), ns, &resource)
}

#[tokio::test]
async fn namespaces_and_secrets_support_create_get_list_watch_delete() {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let ns = namespace(&cluster, "secrets").await;
    let namespaces = Api::<Namespace>::all(client.clone());
    let stored = namespaces.get(&ns).await.unwrap();
    assert_eq!(
        stored.status.and_then(|s| s.phase).as_deref(),
        Some("Active")
    );

    let secrets = Api::<Secret>::namespaced(client.clone(), &ns);
    let mut watch = secrets
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "repo-creds", "labels": {"orkestra.test/kind": "creds"}},
        "stringData": {"username": "u", "password": "p"},
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();

    let got = secrets.get("repo-creds").await.unwrap();
    assert_eq!(
        got.type_.as_deref(),
        Some("Opaque"),
        "type defaults to Opaque"
    );
    let data = got.data.unwrap();
    assert_eq!(data["username"].0, b"u", "stringData is merged into data");
    assert!(got.string_data.is_none());

    let listed = secrets
        .list(&ListParams::default().labels("orkestra.test/kind=creds"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);

    // A streaming watch starts with a bookmark marking the end of the initial events; then ours.
    let added = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = watch.try_next().await.unwrap() {
            match event {
                WatchEvent::Bookmark(_) => continue,
                WatchEvent::Added(s) => return s,
                other => panic!("unexpected watch event {other:?}"),
            }
        }
        panic!("watch ended before the Added event")
    })
    .await
    .unwrap();
    assert_eq!(added.metadata.name.as_deref(), Some("repo-creds"));

    secrets
        .delete("repo-creds", &DeleteParams::default())
        .await
        .unwrap();
    let err = secrets.get("repo-creds").await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 404),
        "{err}"
    );
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn objects_in_a_missing_namespace_are_refused() {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let secrets = Api::<Secret>::namespaced(client, &unique_name("missing"));
    let err = secrets
        .create(
            &PostParams::default(),
            &Secret {
                metadata: kube::api::ObjectMeta {
                    name: Some("s".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 404 && e.message.contains("not found")),
        "{err}"
    );
}

#[tokio::test]
async fn discovery_finds_core_builtin_and_crd_kinds() {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let discovery = Discovery::new(client).run().await.unwrap();
    let kinds: Vec<String> = discovery
        .groups()
        .flat_map(|g| {
            g.recommended_resources()
                .into_iter()
                .map(|(r, _)| format!("{}/{}", r.group, r.kind))
        })
        .collect();
    for expected in [
        "/Namespace",
        "/Secret",
        "argoproj.io/Workflow",
        "helm.toolkit.fluxcd.io/HelmRelease",
        "source.toolkit.fluxcd.io/HelmRepository",
        "coordination.k8s.io/Lease",
        "events.k8s.io/Event",
        "apps/Deployment",
        "rbac.authorization.k8s.io/Role",
        "admissionregistration.k8s.io/MutatingWebhookConfiguration",
        "admissionregistration.k8s.io/ValidatingWebhookConfiguration",
    ] {
        assert!(
            kinds.iter().any(|k| k == expected),
            "{expected} not discovered in {kinds:?}"
        );
    }
}

#[tokio::test]
async fn workflows_and_helmreleases_meet_the_upstream_schemas() {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let ns = namespace(&cluster, "upstream-crds").await;

    let workflows = dynamic(
        &client,
        &ns,
        "argoproj.io",
        "v1alpha1",
        "Workflow",
        "workflows",
    );
    let workflow: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
        "metadata": {"name": "wf"},
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "dag": {"tasks": [
            {"name": "a", "template": "step"}, {"name": "b", "template": "step", "dependencies": ["a"]}]}},
            {"name": "step", "container": {"image": "busybox", "command": ["true"]}}]},
    }))
    .unwrap();
    workflows
        .create(&PostParams::default(), &workflow)
        .await
        .unwrap();

    let releases = dynamic(
        &client,
        &ns,
        "helm.toolkit.fluxcd.io",
        "v2",
        "HelmRelease",
        "helmreleases",
    );
    let release: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": "app"},
        "spec": {"interval": "5m", "chart": {"spec": {"chart": "app", "version": "1.0.0",
            "sourceRef": {"kind": "HelmRepository", "name": "staging"}}}},
    }))
    .unwrap();
    let stored = releases
        .create(&PostParams::default(), &release)
        .await
        .unwrap();
    assert_eq!(
        stored.data["spec"]["chart"]["spec"]["reconcileStrategy"], "ChartVersion",
        "CRD defaults are applied"
    );

    // The schema is enforced: a number where the HelmRelease schema wants a duration string.
    let mut bad = release.clone();
    bad.metadata.name = Some("bad".into());
    bad.data["spec"]["interval"] = json!(5);
    let err = releases
        .create(&PostParams::default(), &bad)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 422 && e.message.contains("spec.interval")),
        "{err}"
    );

    // The status subresource is separate from the spec, as Flux writes it.
    let status = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "InstallSucceeded",
        "message": "ok", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
    releases
        .patch_status("app", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let got = releases.get("app").await.unwrap();
    assert_eq!(
        got.data["status"]["conditions"][0]["reason"],
        "InstallSucceeded"
    );
}

#[tokio::test]
async fn leases_work_for_leader_election_with_conflicts() {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let ns = namespace(&cluster, "lease").await;
    let leases = Api::<Lease>::namespaced(client, &ns);
    let lease = Lease {
        metadata: kube::api::ObjectMeta {
            name: Some("orkestra-controller".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("a".into()),
            lease_duration_seconds: Some(15),
            ..Default::default()
        }),
    };
    let created = leases.create(&PostParams::default(), &lease).await.unwrap();
    let mut first = created.clone();
    first.spec.as_mut().unwrap().holder_identity = Some("b".into());
    leases
        .replace("orkestra-controller", &PostParams::default(), &first)
        .await
        .unwrap();
    // A second writer with the stale resourceVersion loses, as leader election requires.
    let mut stale = created;
    stale.spec.as_mut().unwrap().holder_identity = Some("c".into());
    let err = leases
        .replace("orkestra-controller", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 409),
        "{err}"
    );
}

#[tokio::test]
async fn events_can_be_recorded() {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let ns = namespace(&cluster, "events").await;
    let events = dynamic(&client, &ns, "events.k8s.io", "v1", "Event", "events");
    let event: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e1"},
        "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "orkestra", "reportingInstance": "x",
        "action": "Reconcile", "reason": "Progressing", "type": "Normal", "note": "started",
        "regarding": {"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "namespace": ns},
    }))
    .unwrap();
    events.create(&PostParams::default(), &event).await.unwrap();
    let series = json!({"series": {"count": 2, "lastObservedTime": "2026-01-01T00:01:00.000000Z"}});
    events
        .patch("e1", &PatchParams::default(), &Patch::Merge(&series))
        .await
        .unwrap();
}

#[tokio::test]
async fn kubectl_explains_the_applicationgroup_from_its_doc_comments() {
    let cluster = Cluster::shared().await.unwrap();
    let crd = orkestra_tests::cluster::repo_root().join("chart/crds/applicationgroups.yaml");
    assert!(crd.exists(), "{} is missing", crd.display());
    let out = cluster
        .kubectl()
        .args(["explain", "applicationgroup.spec"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("applications"), "{text}");
    assert!(
        text.contains("Applications that make up the group"),
        "doc comment text missing:\n{text}"
    );
    let short = cluster.kubectl().args(["get", "ag"]).output().unwrap();
    assert!(
        short.status.success(),
        "short name ag: {}",
        String::from_utf8_lossy(&short.stderr)
    );
}
