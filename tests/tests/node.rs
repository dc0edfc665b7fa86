//! With a node (`tests/cluster/up --with-node`; `ORKESTRA_TEST_NODE=1` for the shared cluster): a
//! real kubelet with containerd and runc registers its Node, runs pods to completion and serves their
//! logs through the API server. Without a node each test prints why it skips and passes.
//!
//! No scheduler runs: pods name the node in `spec.nodeName`. The pod network is a bridge on the
//! machine (10.244.n.0/24, reachable from the host only); `hostNetwork` pods work too. Nothing can
//! be pulled: the image is the node's local busybox.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, LogParams, PostParams};
use orkestra_tests::Cluster;
use serde_json::json;

/// The node's name and image, or `None` (after printing why) when the cluster has no node.
fn node_of(cluster: &Cluster, test: &str) -> Option<(String, String)> {
    match (cluster.node(), cluster.node_image()) {
        (Some(node), Some(image)) => Some((node.to_owned(), image.to_owned())),
        _ => {
            eprintln!(
                "SKIPPED {test}: the cluster in {} was started without a node; run with \
                 ORKESTRA_TEST_NODE=1 (or start it with tests/cluster/up --with-node)",
                cluster.dir().display()
            );
            None
        }
    }
}

/// A namespace whose default ServiceAccount exists (the ServiceAccount admission plugin refuses
/// pods until the service-account controller has made it).
async fn namespace(cluster: &Cluster, client: &kube::Client, prefix: &str) -> String {
    let ns = cluster.namespace(prefix).await.unwrap();
    let accounts = Api::<ServiceAccount>::namespaced(client.clone(), &ns);
    for _ in 0..150 {
        if accounts.get_opt("default").await.unwrap().is_some() {
            return ns;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no default ServiceAccount in {ns} after 30 s");
}

/// Creates a one-container pod on `node` running `sh -c script` (on the host's network when
/// `host_network`), and waits (up to 120 s) until it has finished.
async fn run_to_completion(
    pods: &Api<Pod>,
    name: &str,
    (node, image): (&str, &str),
    host_network: bool,
    script: &str,
) -> Pod {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "nodeName": node,
            "hostNetwork": host_network,
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "main",
                "image": image,
                "imagePullPolicy": "Never",
                "command": ["sh", "-c", script],
                "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            }],
        },
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    for _ in 0..600 {
        let pod = pods.get(name).await.unwrap();
        let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
        if matches!(phase.as_deref(), Some("Succeeded" | "Failed")) {
            return pod;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let pod = pods.get(name).await.unwrap();
    panic!(
        "pod {name} did not finish within 120 s; status: {}",
        serde_json::to_string_pretty(&pod.status).unwrap()
    );
}

fn exit_code(pod: &Pod) -> Option<i32> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?
        .terminated
        .as_ref()
        .map(|t| t.exit_code)
}

async fn delete_namespace(client: &kube::Client, ns: &str) {
    Api::<Namespace>::all(client.clone())
        .delete(ns, &DeleteParams::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_kubelet_registers_its_node_with_the_control_planes_release() {
    let cluster = Cluster::shared().await.unwrap();
    let Some((node, _)) = node_of(&cluster, "the_kubelet_registers_its_node") else {
        return;
    };
    let client = cluster.client().await.unwrap();
    let stored = Api::<Node>::all(client).get(&node).await.unwrap();
    let info = stored.status.unwrap().node_info.unwrap();
    let version = cluster
        .kubectl()
        .args(["version", "-o", "json"])
        .output()
        .unwrap();
    let version: serde_json::Value = serde_json::from_slice(&version.stdout).unwrap();
    assert_eq!(
        Some(info.kubelet_version.as_str()),
        version["serverVersion"]["gitVersion"].as_str(),
        "kubelet and kube-apiserver are one release"
    );
    assert!(
        info.container_runtime_version.starts_with("containerd://"),
        "{}",
        info.container_runtime_version
    );
}

#[tokio::test]
async fn a_pod_runs_to_completion_and_its_logs_are_read_through_the_api_server() {
    let cluster = Cluster::shared().await.unwrap();
    let Some((node, image)) = node_of(&cluster, "a_pod_runs_to_completion") else {
        return;
    };
    let client = cluster.client().await.unwrap();
    let ns = namespace(&cluster, &client, "node-pod").await;
    let pods = Api::<Pod>::namespaced(client.clone(), &ns);

    let script = "echo \"hello from $POD_NAME\"; \
                  test -s /var/run/secrets/kubernetes.io/serviceaccount/token && echo token mounted; \
                  echo namespace $(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace)";
    let pod = run_to_completion(&pods, "hello", (&node, &image), false, script).await;
    assert_eq!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded"),
        "{:#?}",
        pod.status
    );
    assert_eq!(exit_code(&pod), Some(0));

    // kube-apiserver → kubelet (its client certificate, the kubelet's webhook authorization).
    let logs = pods.logs("hello", &LogParams::default()).await.unwrap();
    assert_eq!(
        logs,
        format!("hello from hello\ntoken mounted\nnamespace {ns}\n"),
        "the container's stdout, with the downward API and the service-account token volume"
    );
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn a_failing_container_fails_its_pod_with_its_exit_code() {
    let cluster = Cluster::shared().await.unwrap();
    let Some((node, image)) = node_of(&cluster, "a_failing_container_fails_its_pod") else {
        return;
    };
    let client = cluster.client().await.unwrap();
    let ns = namespace(&cluster, &client, "node-fail").await;
    let pods = Api::<Pod>::namespaced(client.clone(), &ns);

    let pod = run_to_completion(
        &pods,
        "fails",
        (&node, &image),
        true,
        "echo about to fail >&2; exit 3",
    )
    .await;
    assert_eq!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Failed")
    );
    assert_eq!(exit_code(&pod), Some(3));
    let logs = pods.logs("fails", &LogParams::default()).await.unwrap();
    assert_eq!(logs, "about to fail\n", "stderr is in the logs too");
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn a_pod_on_the_pod_network_gets_its_own_address_and_passes_an_http_readiness_probe() {
    let cluster = Cluster::shared().await.unwrap();
    let Some((node, image)) = node_of(&cluster, "a_pod_on_the_pod_network") else {
        return;
    };
    let client = cluster.client().await.unwrap();
    let ns = namespace(&cluster, &client, "node-net").await;
    let pods = Api::<Pod>::namespaced(client.clone(), &ns);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "httpd",
                "image": image,
                "imagePullPolicy": "Never",
                "command": ["sh", "-c", "mkdir /tmp/www && echo ok >/tmp/www/ready && exec httpd -f -p 8080 -h /tmp/www"],
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 1},
            }],
        },
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();

    // The kubelet probes the pod's own address: the pod network reaches it from the host.
    let mut ready = None;
    for _ in 0..300 {
        let pod = pods.get("web").await.unwrap();
        let status = pod.status.clone().unwrap_or_default();
        if status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
        {
            ready = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = ready.expect("pod web did not become Ready within 60 s");
    let (pod_ip, host_ip) = (status.pod_ip.unwrap(), status.host_ip.unwrap());
    assert!(pod_ip.starts_with("10.244."), "{pod_ip}");
    assert_ne!(pod_ip, host_ip, "the pod has an address of its own");
    delete_namespace(&client, &ns).await;
}
