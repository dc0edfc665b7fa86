//! Azure Orkestra's scenarios (its controllers/appgroup_controller_test.go) with real releases:
//! the real controller, the real executor, **real Flux** (source-controller and helm-controller
//! pulling the staged charts from the real OCI registry) and real Helm releases in the API server;
//! Argo's workflow-controller is played (see rollout_support and `orkestra_tests::argo::player`).
//! Each test asserts what a user sees: `kubectl get ag` (the group's conditions), the HelmReleases
//! and `helm list`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod reconcile_support;
mod rollout_support;

use reconcile_support::standing;
use rollout_support::{HelmListed, Rollout};

/// Scenario 1: an umbrella chart with two of its subcharts listed, and a second application it
/// depends on → every split subchart and the parent installed by Flux in DAG order → Ready=True;
/// delete → every release uninstalled, parents before what they depend on, and the group gone.
#[tokio::test]
async fn a_group_installs_in_dag_order_and_uninstalls_in_reverse() {
    let t = Rollout::start("ro-create").await;
    let mut shop = t.app("shop", "bookinfo", "1.0.0", &["base"]);
    shop["spec"]["subcharts"] =
        serde_json::json!([{"name": "sub-1"}, {"name": "sub-2", "dependencies": ["sub-1"]}]);
    let group = t
        .env
        .create_group("create", vec![t.app("base", "hello", "1.0.0", &[]), shop])
        .await;

    let ready = t.wait_ready(&group, "True", "Succeeded").await;
    assert_eq!(ready.status.as_ref().unwrap().observed_generation, 1);
    let releases = t.helm_list();
    let names: Vec<&str> = releases.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "base",
            "shop",
            "shop-sub-1",
            "shop-sub-2",
            "shop-sub-3",
            "shop-sub-4"
        ],
        "{}",
        t.explain()
    );
    for release in &releases {
        assert_eq!(
            (release.status.as_str(), release.revision.as_str()),
            ("deployed", "1"),
            "{release:?}"
        );
    }
    let chart = |name: &str| find(&releases, name).chart.clone();
    assert_eq!(chart("base"), "hello-1.0.0");
    assert_eq!(chart("shop"), "bookinfo-1.0.0");
    assert_eq!(chart("shop-sub-2"), "bookinfo-sub-2-0.1.0");
    // DAG order: each release was installed after everything it depends on.
    let updated = |name: &str| find(&releases, name).updated.clone();
    for (before, after) in [
        ("base", "shop-sub-1"),
        ("base", "shop-sub-3"),
        ("shop-sub-1", "shop-sub-2"),
        ("shop-sub-2", "shop"),
        ("shop-sub-3", "shop"),
        ("shop-sub-4", "shop"),
    ] {
        assert!(
            updated(before) < updated(after),
            "{before} ({}) was not installed before {after} ({})",
            updated(before),
            updated(after)
        );
    }
    // The objects of the charts are there.
    let configmaps = t
        .env
        .cluster
        .kubectl()
        .args(["get", "configmaps", "-o", "name", "-n", &t.env.namespace])
        .output()
        .unwrap();
    let configmaps = String::from_utf8_lossy(&configmaps.stdout);
    for expected in ["configmap/base-hello", "configmap/shop-sub-2-sub-2"] {
        assert!(configmaps.contains(expected), "{expected} in {configmaps}");
    }

    let removals = t.record_removals().await;
    t.env.delete_group(&group).await;
    t.env.wait_gone(&group, &t.ctl).await;
    assert_eq!(t.helm_list(), [], "every Helm release uninstalled");
    let removed = removals.names();
    let position = |name: &str| {
        removed
            .iter()
            .position(|r| r == name)
            .unwrap_or_else(|| panic!("{name} was not removed: {removed:?}"))
    };
    for (first, then) in [
        ("shop", "shop-sub-2"),
        ("shop", "shop-sub-4"),
        ("shop-sub-2", "shop-sub-1"),
        ("shop-sub-1", "base"),
        ("shop-sub-3", "base"),
    ] {
        assert!(
            position(first) < position(then),
            "{first} was not uninstalled before {then}: {removed:?}"
        );
    }
    let left = t
        .env
        .helm_releases()
        .list(&Default::default())
        .await
        .unwrap();
    assert!(left.items.is_empty(), "HelmReleases left behind");
}

/// Scenario 5: upgrading a chart version → the new version is the deployed Helm revision.
#[tokio::test]
async fn an_upgrade_deploys_the_new_chart_version_as_a_new_helm_revision() {
    let t = Rollout::start("ro-upgrade").await;
    let group = t
        .env
        .create_group("upgrade", vec![t.app("app", "hello", "1.0.0", &[])])
        .await;
    t.wait_ready(&group, "True", "Succeeded").await;

    t.env
        .update_applications(&group, vec![t.app("app", "hello", "1.2.0", &[])])
        .await;
    let ready = t.wait_ready_at(&group, 2).await;
    assert_eq!(standing(&ready, "Ready").1, "Succeeded");
    let release = t.helm_release("app").unwrap();
    assert_eq!(
        (
            release.chart.as_str(),
            release.revision.as_str(),
            release.status.as_str()
        ),
        ("hello-1.2.0", "2", "deployed")
    );
}

/// Scenario 6: an upgrade that fails in Helm (the API server refuses the new manifest) → the
/// rollback Workflow → the previous version deployed again, `RollbackWorkflowSucceeded=True`,
/// Ready=False with reason WorkflowFailed.
#[tokio::test]
async fn a_refused_upgrade_rolls_back_to_the_previous_version() {
    upgrade_that_fails_rolls_back("ro-refused", "2.0.0", None).await;
}

/// Scenario 6, timed out: the upgrade's install outlasts its Helm timeout (a Deployment that never
/// becomes available) → rolled back as above.
#[tokio::test]
async fn an_upgrade_that_times_out_rolls_back_to_the_previous_version() {
    upgrade_that_fails_rolls_back("ro-timeout", "2.1.0", Some(rollout_support::SHORT_TIMEOUT))
        .await;
}

async fn upgrade_that_fails_rolls_back(prefix: &str, bad_version: &str, timeout: Option<&str>) {
    let t = Rollout::start(prefix).await;
    let app = |version: &str| {
        let mut app = t.app("app", "hello", version, &[]);
        if let Some(timeout) = timeout {
            app["spec"]["release"]["timeout"] = serde_json::json!(timeout);
        }
        app
    };
    let group = t.env.create_group("fails", vec![app("1.0.0")]).await;
    t.wait_ready(&group, "True", "Succeeded").await;

    t.env
        .update_applications(&group, vec![app(bad_version)])
        .await;
    let rolled_back = t
        .env
        .wait_condition(&group, "RollbackWorkflowSucceeded", "True", &t.ctl)
        .await;
    assert_eq!(
        standing(&rolled_back, "Ready"),
        ("False".into(), "WorkflowFailed".into()),
        "{}",
        t.explain()
    );
    let release = t.helm_release("app").unwrap();
    assert_eq!(
        (release.chart.as_str(), release.status.as_str()),
        ("hello-1.0.0", "deployed"),
        "{}",
        t.explain()
    );
    // Revision 1 installed 1.0.0, revision 2 was the failed upgrade, the rollback's is newer.
    assert!(release.revision.parse::<u32>().unwrap() >= 3, "{release:?}");
}

fn find<'a>(releases: &'a [HelmListed], name: &str) -> &'a HelmListed {
    releases
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no Helm release {name} in {releases:?}"))
}
