//! Leader election against the real local API server, where `coordination.k8s.io/v1` Leases are
//! served (as a CRD with the upstream schema). Short leases (2 s, renewed every 300 ms) keep
//! the tests quick; each test uses its own namespace.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use kube::api::{Api, ObjectMeta, PostParams};
use orkestra_controller::leader::{self, Leadership, LeaseConfig};
use orkestra_tests::Cluster;
use tokio::task::JoinHandle;

const LEASE: &str = "orkestra-controller";

async fn setup(prefix: &str) -> (kube::Client, String) {
    let cluster = Cluster::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let name = cluster.namespace(prefix).await.unwrap();
    (client, name)
}

fn config(namespace: &str, identity: &str) -> LeaseConfig {
    LeaseConfig {
        name: LEASE.into(),
        namespace: namespace.into(),
        identity: identity.into(),
        lease_duration: Duration::from_secs(2),
        renew_every: Duration::from_millis(300),
    }
}

async fn holder(client: &kube::Client, namespace: &str) -> Option<String> {
    let lease = Api::<Lease>::namespaced(client.clone(), namespace)
        .get(LEASE)
        .await
        .unwrap();
    lease
        .spec
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty())
}

fn candidate(client: &kube::Client, namespace: &str, identity: &str) -> JoinHandle<Leadership> {
    let (client, config) = (client.clone(), config(namespace, identity));
    tokio::spawn(async move { leader::acquire(client, config).await.unwrap() })
}

async fn acquired(handle: JoinHandle<Leadership>, within: Duration) -> Leadership {
    tokio::time::timeout(within, handle)
        .await
        .expect("the candidate never became leader")
        .unwrap()
}

#[tokio::test]
async fn of_two_candidates_exactly_one_holds_until_it_releases() {
    let (client, ns) = setup("leader-two").await;
    let a = acquired(candidate(&client, &ns, "pod-a"), Duration::from_secs(10)).await;
    assert_eq!(holder(&client, &ns).await.as_deref(), Some("pod-a"));
    let lost_a = a.lost();

    let b = candidate(&client, &ns, "pod-b");
    // Well past the lease duration: pod-a keeps renewing, so pod-b keeps waiting.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        !b.is_finished(),
        "pod-b became leader while pod-a held the lease"
    );
    assert!(!lost_a.is_cancelled());
    assert_eq!(holder(&client, &ns).await.as_deref(), Some("pod-a"));

    // Releasing hands over at once, without waiting for expiry.
    let released = Instant::now();
    a.release().await;
    assert!(
        lost_a.is_cancelled(),
        "a released leadership is no longer held"
    );
    let b = acquired(b, Duration::from_secs(10)).await;
    // The clearing write restarts pod-b's expiry clock: taking over by expiry would need the full
    // 2 s after it, so anything shorter proves the release handed over.
    assert!(
        released.elapsed() < Duration::from_millis(1900),
        "took {:?}",
        released.elapsed()
    );
    assert_eq!(holder(&client, &ns).await.as_deref(), Some("pod-b"));
    let lease = Api::<Lease>::namespaced(client.clone(), &ns)
        .get(LEASE)
        .await
        .unwrap();
    assert_eq!(lease.spec.unwrap().lease_transitions, Some(1));
    b.release().await;
    assert_eq!(holder(&client, &ns).await, None);
}

#[tokio::test]
async fn a_holder_that_dies_is_replaced_after_the_lease_expires() {
    let (client, ns) = setup("leader-dies").await;
    let a = acquired(candidate(&client, &ns, "pod-a"), Duration::from_secs(10)).await;
    let lost_a = a.lost();
    let b = candidate(&client, &ns, "pod-b");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!b.is_finished());

    // Dropped without release, as when the process dies: renewals stop, the holder stays written.
    let died = Instant::now();
    drop(a);
    assert!(lost_a.is_cancelled());
    assert_eq!(holder(&client, &ns).await.as_deref(), Some("pod-a"));
    let b = acquired(b, Duration::from_secs(15)).await;
    let waited = died.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "took over after {waited:?}, before the lease expired"
    );
    assert_eq!(holder(&client, &ns).await.as_deref(), Some("pod-b"));
    assert!(!b.lost().is_cancelled());
    b.release().await;
}

#[tokio::test]
async fn candidates_racing_for_an_expired_lease_get_exactly_one_leader() {
    let (client, ns) = setup("leader-race").await;
    let leases = Api::<Lease>::namespaced(client.clone(), &ns);
    // A lease left behind by a holder that is gone.
    let ghost = Lease {
        metadata: ObjectMeta {
            name: Some(LEASE.into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("ghost".into()),
            lease_duration_seconds: Some(1),
            ..Default::default()
        }),
    };
    leases.create(&PostParams::default(), &ghost).await.unwrap();

    let candidates: Vec<(String, JoinHandle<Leadership>)> = (0..4)
        .map(|i| format!("pod-{i}"))
        .map(|id| (id.clone(), candidate(&client, &ns, &id)))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !candidates.iter().any(|(_, c)| c.is_finished()) {
        assert!(
            Instant::now() < deadline,
            "nobody took over the expired lease"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every candidate writes with the resourceVersion it read: the first write wins, the
    // others carry a stale version and are refused with 409, then see a live holder.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (finished, waiting): (Vec<_>, Vec<_>) =
        candidates.into_iter().partition(|(_, c)| c.is_finished());
    assert_eq!(
        finished.len(),
        1,
        "leaders: {:?}",
        finished.iter().map(|(id, _)| id).collect::<Vec<_>>()
    );
    let (leader_id, leader) = finished.into_iter().next().unwrap();
    assert_eq!(holder(&client, &ns).await, Some(leader_id));
    let leader = leader.await.unwrap();
    assert!(!leader.lost().is_cancelled());
    for (_, c) in waiting {
        c.abort();
    }
    leader.release().await;
}

#[tokio::test]
async fn leadership_is_lost_when_another_holder_takes_the_lease() {
    let (client, ns) = setup("leader-taken").await;
    let a = acquired(candidate(&client, &ns, "pod-a"), Duration::from_secs(10)).await;
    let lost = a.lost();

    // Someone else writes the lease (e.g. a replica that misjudged expiry and won the write).
    let leases = Api::<Lease>::namespaced(client.clone(), &ns);
    let mut taken = leases.get(LEASE).await.unwrap();
    taken.spec.as_mut().unwrap().holder_identity = Some("intruder".into());
    leases
        .replace(LEASE, &PostParams::default(), &taken)
        .await
        .unwrap();

    tokio::time::timeout(Duration::from_secs(5), lost.cancelled())
        .await
        .expect("the holder did not notice");
    // pod-a's renewal conflicted and stopped; it did not write itself back.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(holder(&client, &ns).await.as_deref(), Some("intruder"));
    a.release().await;
    assert_eq!(
        holder(&client, &ns).await.as_deref(),
        Some("intruder"),
        "release leaves another holder's lease alone"
    );
}

#[tokio::test]
async fn a_deleted_lease_is_recreated_by_its_holder() {
    let (client, ns) = setup("leader-deleted").await;
    let a = acquired(candidate(&client, &ns, "pod-a"), Duration::from_secs(10)).await;
    Api::<Lease>::namespaced(client.clone(), &ns)
        .delete(LEASE, &Default::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(holder(&client, &ns).await.as_deref(), Some("pod-a"));
    assert!(!a.lost().is_cancelled());
    a.release().await;
}

#[tokio::test]
async fn unusable_settings_are_refused() {
    let (client, ns) = setup("leader-config").await;
    let mut bad = config(&ns, "pod-a");
    bad.renew_every = bad.lease_duration;
    let err = leader::acquire(client, bad).await.unwrap_err();
    assert_eq!(err.category(), "config");
    assert!(err.to_string().contains("renew_every"), "{err}");
}

/// A TCP forwarder to the API server that the test can cut, as a network partition would.
struct Partition {
    url: String,
    cut: tokio_util::sync::CancellationToken,
}

impl Partition {
    async fn to(api_server: &str) -> Partition {
        let upstream = api_server.trim_start_matches("https://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let cut = tokio_util::sync::CancellationToken::new();
        let stop = cut.clone();
        tokio::spawn(async move {
            loop {
                let (mut inbound, _) = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => accepted.unwrap(),
                };
                let (upstream, stop) = (upstream.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut outbound = tokio::net::TcpStream::connect(upstream).await.unwrap();
                    tokio::select! {
                        () = stop.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    }
                });
            }
        });
        Partition { url, cut }
    }
}

#[tokio::test]
async fn leadership_is_lost_when_renewals_fail_for_the_lease_duration() {
    let (client, ns) = setup("leader-partition").await;
    let cluster = Cluster::shared().await.unwrap();
    let partition = Partition::to(cluster.api_server()).await;
    let kubeconfig = kube::config::Kubeconfig::read_from(cluster.kubeconfig()).unwrap();
    let mut settings = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    settings.cluster_url = partition.url.parse().unwrap();
    let cut_off = kube::Client::try_from(settings).unwrap();

    let a = leader::acquire(cut_off, config(&ns, "pod-a"))
        .await
        .unwrap();
    let lost = a.lost();
    let b = candidate(&client, &ns, "pod-b");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!lost.is_cancelled() && !b.is_finished());

    let cut = Instant::now();
    partition.cut.cancel();
    tokio::time::timeout(Duration::from_secs(10), lost.cancelled())
        .await
        .expect("pod-a never gave up");
    let gave_up = cut.elapsed();
    // pod-a stops believing it leads before pod-b may take over.
    assert!(
        !b.is_finished(),
        "pod-b took over before pod-a gave up ({gave_up:?})"
    );
    assert!(
        gave_up <= Duration::from_secs(5),
        "gave up after {gave_up:?}"
    );
    let b = acquired(b, Duration::from_secs(15)).await;
    assert_eq!(holder(&client, &ns).await.as_deref(), Some("pod-b"));
    b.release().await;
    a.release().await;
}

/// A renewal that fails before the lease runs out is retried; but the holder must give up when
/// the lease runs out, not at the next retry: a standby may take the Lease then. Renewals every
/// 1.5 s of a 2 s lease, every write answered 500 (as while etcd elects a leader; the client
/// does not retry those) from the start: before, the holder gave up at the retry after the
/// deadline (3 s), a second after another replica could lead.
#[tokio::test]
async fn leadership_is_lost_when_the_lease_runs_out_not_at_the_next_retry() {
    let (_, ns) = setup("leader-deadline").await;
    let cluster = Cluster::shared().await.unwrap();
    let proxy = orkestra_tests::api_proxy::ApiProxy::start(&cluster)
        .await
        .unwrap();
    let client = proxy.client().await.unwrap();
    let config = LeaseConfig {
        renew_every: Duration::from_millis(1500),
        ..config(&ns, "pod-a")
    };

    let a = leader::acquire(client, config).await.unwrap();
    let acquired_at = Instant::now();
    proxy.fail_next_writes(usize::MAX);
    tokio::time::timeout(Duration::from_secs(10), a.lost().cancelled())
        .await
        .expect("pod-a never gave up");
    let gave_up = acquired_at.elapsed();
    assert!(
        gave_up < Duration::from_millis(2500),
        "pod-a gave up {gave_up:?} after it renewed a 2 s lease"
    );
    // The renewal that failed at 1.5 s did not end the leadership: only the lease running out did.
    let failed_renewals = proxy
        .requests()
        .iter()
        .filter(|seen| seen.is_lease() && seen.is_write() && seen.failed)
        .count();
    assert!(failed_renewals >= 1, "no renewal was tried");
    assert!(
        gave_up >= Duration::from_millis(1700),
        "pod-a gave up {gave_up:?} after its lease was renewed, at the first failed renewal"
    );
    proxy.fail_next_writes(0);
    a.release().await;
}
