//! The test control plane is upstream kube-apiserver and kube-controller-manager: RBAC is enforced,
//! SubjectAccessReview answers, the garbage collector and the namespace controller run, `apps/v1` and
//! core Events are served. Each test shows it as a user of the cluster would see it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Secret};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, PostParams, PropagationPolicy};
use orkestra_tests::{Cluster, unique_name};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn from<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).unwrap()
}

fn status_code(result: Result<impl std::fmt::Debug, kube::Error>) -> u16 {
    match result {
        Err(kube::Error::Api(status)) => status.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Polls `check` every 200 ms for up to 60 s; panics with `what` when it never holds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out after 60 s waiting for {what}");
}

async fn config_map(api: &Api<ConfigMap>, name: &str, owner: Option<&ConfigMap>) -> ConfigMap {
    let mut metadata = json!({"name": name});
    if let Some(owner) = owner {
        metadata["ownerReferences"] = json!([{
            "apiVersion": "v1", "kind": "ConfigMap",
            "name": owner.metadata.name, "uid": owner.metadata.uid,
        }]);
    }
    api.create(&PostParams::default(), &from(json!({"metadata": metadata})))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_service_account_may_do_exactly_what_its_role_grants() {
    let cluster = Cluster::shared().await.unwrap();
    let admin = cluster.client().await.unwrap();
    let (ns, other) = (
        cluster.namespace("rbac").await.unwrap(),
        cluster.namespace("rbac-other").await.unwrap(),
    );
    let unbound = cluster
        .service_account_client(&ns, "unbound")
        .await
        .unwrap();
    assert_eq!(
        status_code(
            Api::<ConfigMap>::namespaced(unbound, &ns)
                .list(&ListParams::default())
                .await
        ),
        403,
        "a ServiceAccount without bindings is denied"
    );

    Api::<Role>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &from(json!({
            "metadata": {"name": "config-reader"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        })))
        .await
        .unwrap();
    Api::<RoleBinding>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &from(json!({
            "metadata": {"name": "config-reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "config-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}],
        })))
        .await
        .unwrap();
    config_map(&Api::namespaced(admin.clone(), &ns), "settings", None).await;
    let reader = cluster.service_account_client(&ns, "reader").await.unwrap();
    let listed = Api::<ConfigMap>::namespaced(reader.clone(), &ns)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(
        listed
            .items
            .iter()
            .any(|c| c.metadata.name.as_deref() == Some("settings"))
    );
    let denied = [
        status_code(
            Api::<ConfigMap>::namespaced(reader.clone(), &ns)
                .create(
                    &PostParams::default(),
                    &from(json!({"metadata": {"name": "x"}})),
                )
                .await,
        ),
        status_code(
            Api::<Secret>::namespaced(reader.clone(), &ns)
                .list(&ListParams::default())
                .await,
        ),
        status_code(
            Api::<ConfigMap>::namespaced(reader, &other)
                .list(&ListParams::default())
                .await,
        ),
    ];
    assert_eq!(
        denied,
        [403, 403, 403],
        "create, another resource, another namespace"
    );
}

#[tokio::test]
async fn subject_access_review_answers_for_a_user_and_groups() {
    let cluster = Cluster::shared().await.unwrap();
    let reviews = Api::<SubjectAccessReview>::all(cluster.client().await.unwrap());
    let ask = |user: &str, groups: Vec<&str>| -> SubjectAccessReview {
        from(json!({"spec": {
            "user": user, "groups": groups,
            "resourceAttributes": {"namespace": "default", "verb": "get", "resource": "secrets", "name": "s"},
        }}))
    };
    let allowed = |r: SubjectAccessReview| r.status.map(|s| s.allowed);
    let admin = reviews
        .create(
            &PostParams::default(),
            &ask("someone", vec!["system:masters"]),
        )
        .await
        .unwrap();
    let nobody = reviews
        .create(
            &PostParams::default(),
            &ask("someone", vec!["system:authenticated"]),
        )
        .await
        .unwrap();
    assert_eq!((allowed(admin), allowed(nobody)), (Some(true), Some(false)));
}

#[tokio::test]
async fn the_garbage_collector_removes_owned_objects_in_background_and_foreground() {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let ns = cluster.namespace("gc").await.unwrap();
    let maps = Api::<ConfigMap>::namespaced(client, &ns);
    for (policy, name) in [
        (PropagationPolicy::Background, "background"),
        (PropagationPolicy::Foreground, "foreground"),
    ] {
        let owner = config_map(&maps, &format!("{name}-owner"), None).await;
        let owned = format!("{name}-owned");
        config_map(&maps, &owned, Some(&owner)).await;
        let params = DeleteParams {
            propagation_policy: Some(policy.clone()),
            ..DeleteParams::default()
        };
        let answer = maps
            .delete(owner.metadata.name.as_deref().unwrap(), &params)
            .await
            .unwrap();
        if policy == PropagationPolicy::Foreground {
            // The owner waits, with the garbage collector's finalizer, until its dependents are gone.
            let waiting = answer
                .left()
                .expect("a foreground delete returns the owner");
            assert_eq!(
                waiting.metadata.finalizers,
                Some(vec!["foregroundDeletion".to_owned()])
            );
        }
        for gone in [owned.clone(), format!("{name}-owner")] {
            eventually(&format!("{gone} to be deleted"), || async {
                maps.get_opt(&gone).await.unwrap().is_none()
            })
            .await;
        }
    }
}

#[tokio::test]
async fn deleting_a_namespace_removes_what_is_in_it() {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let ns = cluster.namespace("ns-delete").await.unwrap();
    config_map(&Api::namespaced(client.clone(), &ns), "inside", None).await;
    let namespaces = Api::<Namespace>::all(client.clone());
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
    eventually("the namespace to be gone", || async {
        namespaces.get_opt(&ns).await.unwrap().is_none()
    })
    .await;
    let left = Api::<ConfigMap>::all(client)
        .list(&ListParams::default().fields(&format!("metadata.namespace={ns}")))
        .await
        .unwrap();
    assert!(left.items.is_empty(), "left behind: {:?}", left.items);
}

#[tokio::test]
async fn deployments_get_their_replica_sets_and_core_events_are_served() {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let ns = cluster.namespace("apps").await.unwrap();
    let name = unique_name("web");
    Api::<Deployment>::namespaced(client.clone(), &ns)
        .create(
            &PostParams::default(),
            &from(json!({
                "metadata": {"name": name},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {"containers": [{"name": "web", "image": "orkestra.test/web:1"}]},
                    },
                },
            })),
        )
        .await
        .unwrap();
    let sets = Api::<ReplicaSet>::namespaced(client.clone(), &ns);
    eventually("the deployment controller's ReplicaSet", || async {
        !sets
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    })
    .await;
    // The deployment controller reports what it did as core/v1 Events.
    let events = Api::<Event>::namespaced(client, &ns);
    eventually("a ScalingReplicaSet event", || async {
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("ScalingReplicaSet"))
    })
    .await;
}
