//! Azure Orkestra's scenarios (its controllers/appgroup_controller_test.go) with real releases:
//! the real controller, the real executor, **real Flux** (source-controller and helm-controller
//! pulling the staged charts from the real OCI registry), **real Argo** (its workflow-controller
//! running each step as a pod on the cluster's node; see rollout_support) and real Helm releases in
//! the API server.
//! Each test asserts what a user sees: `kubectl get ag` (the group's conditions), the HelmReleases
//! and `helm list`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod reconcile_support;
mod rollout_support;

use kube::api::{DynamicObject, Patch, PatchParams};
use orkestra_tests::chartmuseum::{ChartMuseum, MuseumOptions};
use orkestra_tests::helm::HelmListed;
use reconcile_support::{assert_standing, standing};
use rollout_support::{PATIENCE, Rollout, STAGING_SECRET, Staging};

/// Scenario 1: an umbrella chart with two of its subcharts listed, and a second application it
/// depends on → every split subchart and the parent installed by Flux in DAG order → Ready=True;
/// delete → every release uninstalled, parents before what they depend on, and the group gone.
#[tokio::test]
async fn a_group_installs_in_dag_order_and_uninstalls_in_reverse() {
    let t = Rollout::start("ro-create").await;
    let mut shop = t.env.app("shop", "bookinfo", "1.0.0", &["base"]);
    shop["spec"]["subcharts"] =
        serde_json::json!([{"name": "sub-1"}, {"name": "sub-2", "dependencies": ["sub-1"]}]);
    let group = t
        .create_group(
            "create",
            vec![t.env.app("base", "hello", "1.0.0", &[]), shop],
        )
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
    let configmaps = t.configmaps();
    for expected in ["base-hello", "shop-sub-2-sub-2"] {
        assert!(
            configmaps.contains(&expected.to_owned()),
            "{expected} in {configmaps:?}"
        );
    }

    let removals = t.record_removals().await;
    t.env.delete_group(&group).await;
    t.env.wait_gone(&group, &t.ctl).await;
    t.assert_nothing_installed().await;
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
}

/// Scenario 2: an umbrella chart whose subcharts are not listed → one Helm release per
/// application, the subcharts rendered inside the parent's.
#[tokio::test]
async fn unlisted_subcharts_stay_inside_their_parents_release() {
    let t = Rollout::start("ro-whole").await;
    t.deployed(
        "whole",
        vec![
            t.env.app("base", "hello", "1.0.0", &[]),
            t.env.app("shop", "bookinfo", "1.0.0", &["base"]),
        ],
    )
    .await;
    let releases = t.helm_list();
    let listed: Vec<(&str, &str)> = releases
        .iter()
        .map(|r| (r.name.as_str(), r.chart.as_str()))
        .collect();
    assert_eq!(
        listed,
        [("base", "hello-1.0.0"), ("shop", "bookinfo-1.0.0")],
        "{}",
        t.explain()
    );
    let configmaps = t.configmaps();
    for sub in 1..=4 {
        // The parent's release renders each subchart (`{{ .Release.Name }}-sub-N`).
        assert!(
            configmaps.contains(&format!("shop-sub-{sub}")),
            "{configmaps:?}"
        );
    }
}

/// Scenario 3: a chart version that does not exist → Ready=False/ChartPullFailed naming it, no
/// Workflow and no release; fixing the version recovers: installed, Ready=True.
#[tokio::test]
async fn a_missing_chart_version_fails_the_pull_and_fixing_it_deploys() {
    let t = Rollout::start("ro-pull").await;
    let group = t
        .create_group("pull", vec![t.env.app("app", "hello", "9.9.9", &[])])
        .await;
    let failed = t.wait_ready(&group, "False", "ChartPullFailed").await;
    let message = reconcile_support::condition(&failed, "Ready")
        .unwrap()
        .message;
    assert!(
        message.contains("hello") && message.contains("9.9.9"),
        "{message}"
    );
    assert!(t.env.workflows().get_opt(&group).await.unwrap().is_none());
    assert_eq!(t.helm_list(), []);

    t.env
        .update_applications(&group, vec![t.env.app("app", "hello", "1.2.0", &[])])
        .await;
    t.wait_ready_at(&group, 2).await;
    let release = t.helm_release("app").unwrap();
    assert_eq!(
        (release.chart.as_str(), release.status.as_str()),
        ("hello-1.2.0", "deployed")
    );
}

/// Scenario 4: an application added to a group that succeeded → installed; the group's
/// generation is its observed generation.
#[tokio::test]
async fn an_added_application_is_installed_and_the_generation_observed() {
    let t = Rollout::start("ro-add").await;
    let base = t.env.app("base", "hello", "1.0.0", &[]);
    let group = t.deployed("add", vec![base.clone()]).await;

    let added = t.env.app("added", "hello", "1.2.0", &["base"]);
    t.env.update_applications(&group, vec![base, added]).await;
    let ready = t.wait_ready_at(&group, 2).await;
    assert_eq!(ready.metadata.generation, Some(2));
    let listed: Vec<(String, String, String)> = t
        .helm_list()
        .into_iter()
        .map(|r| (r.name, r.chart, r.revision))
        .collect();
    assert_eq!(
        listed,
        [
            ("added".into(), "hello-1.2.0".into(), "1".into()),
            // Unchanged: Flux found nothing to upgrade.
            ("base".into(), "hello-1.0.0".into(), "1".into()),
        ]
    );
}

/// An update that drops applications uninstalls them (dependents first), upgrades the rest, and
/// the group is Ready without them.
#[tokio::test]
async fn an_update_uninstalls_the_applications_it_drops() {
    let t = Rollout::start("ro-drop").await;
    let group = t
        .deployed(
            "drop",
            vec![
                t.env.app("base", "hello", "1.0.0", &[]),
                t.env.app("extra", "hello", "1.0.0", &["base"]),
                t.env.app("leaf", "hello", "1.0.0", &["extra"]),
            ],
        )
        .await;
    let removals = t.record_removals().await;

    t.env
        .update_applications(&group, vec![t.env.app("base", "hello", "1.2.0", &[])])
        .await;
    t.wait_ready_at(&group, 2).await;
    let listed = t.charts();
    assert_eq!(
        listed,
        [("base".into(), "hello-1.2.0".into())],
        "{}",
        t.explain()
    );
    assert_eq!(removals.names(), ["leaf", "extra"], "dependents first");
}

/// Scenario 5: upgrading a chart version → the new version is the deployed Helm revision.
#[tokio::test]
async fn an_upgrade_deploys_the_new_chart_version_as_a_new_helm_revision() {
    let t = Rollout::start("ro-upgrade").await;
    let group = t
        .deployed("upgrade", vec![t.env.app("app", "hello", "1.0.0", &[])])
        .await;

    t.env
        .update_applications(&group, vec![t.env.app("app", "hello", "1.2.0", &[])])
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
    upgrade_that_fails_rolls_back("ro-refused", "1.1.0", None).await;
}

/// Scenario 6, timed out: the upgrade's install outlasts its Helm timeout (a Deployment that never
/// becomes available) → rolled back as above.
#[tokio::test]
async fn an_upgrade_that_times_out_rolls_back_to_the_previous_version() {
    upgrade_that_fails_rolls_back("ro-timeout", "1.2.0", Some(rollout_support::SHORT_TIMEOUT))
        .await;
}

async fn upgrade_that_fails_rolls_back(prefix: &str, bad_version: &str, timeout: Option<&str>) {
    let t = Rollout::start(prefix).await;
    let app = |version: &str| {
        let mut app = t.env.app("app", "greeter", version, &[]);
        if let Some(timeout) = timeout {
            app["spec"]["release"]["timeout"] = serde_json::json!(timeout);
        }
        app
    };
    let group = t.deployed("fails", vec![app("1.0.0")]).await;

    t.env
        .update_applications(&group, vec![app(bad_version)])
        .await;
    let rolled_back = t
        .wait_condition(&group, "RollbackWorkflowSucceeded", "True")
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
        ("greeter-1.0.0", "deployed"),
        "{}",
        t.explain()
    );
    // Revision 1 installed 1.0.0, revision 2 was the failed upgrade, the rollback's is newer.
    assert!(
        release.revision.parse::<u32>().unwrap() >= 3,
        "{release:?}\n{}",
        t.explain()
    );
}

/// Scenario 7: a foreground delete (`kubectl delete --cascade=foreground`) in the middle of a
/// rollout: the garbage collector deletes the forward Workflow, whose running step stops; the
/// reverse Workflow uninstalls every release, then the group is gone.
#[tokio::test]
async fn a_foreground_delete_mid_rollout_uninstalls_everything() {
    let t = Rollout::start("ro-fg").await;
    let group = t
        .create_group(
            "fg",
            vec![
                t.env.app("base", "hello", "1.0.0", &[]),
                slow_after_base(&t, "30s"),
            ],
        )
        .await;
    // Mid-rollout: base deployed, slow being installed (it never becomes ready).
    wait_installing(&t, "slow").await;
    assert_eq!(t.helm_release("base").unwrap().status, "deployed");

    t.env.delete_group_foreground(&group).await;
    t.env.wait_gone(&group, &t.ctl).await;
    t.assert_nothing_installed().await;
}

/// Scenario 8: the `-reverse` Workflow deleted while the group is being deleted → the group is
/// released (the user gave up on the teardown). The teardown is kept running by a release whose
/// install never becomes ready: Flux uninstalls it only once that install has timed out.
#[tokio::test]
async fn deleting_the_reverse_workflow_releases_the_group() {
    let t = Rollout::start("ro-rev-del").await;
    let group = t
        .create_group(
            "revdel",
            vec![
                slow_after_base(&t, "60s"),
                t.env.app("base", "hello", "1.0.0", &[]),
            ],
        )
        .await;
    wait_installing(&t, "slow").await;

    t.env.delete_group(&group).await;
    let reverse = format!("{group}-reverse");
    t.env.wait_workflow(&reverse, None, &t.ctl).await;
    t.env
        .workflows()
        .delete(&reverse, &Default::default())
        .await
        .unwrap();
    t.env.wait_gone(&group, &t.ctl).await;
    assert!(
        t.helm_release("slow").is_some(),
        "the teardown was cut short: slow is still there"
    );
}

/// A failed first install's remediation (the `-reverse` Workflow) still running when
/// the group is deleted in the foreground. The garbage collector takes the remediation's Workflow
/// and its pods with the group, so it cannot finish: the teardown runs a reverse Workflow of its
/// own, which uninstalls everything, and then the group is gone (see [`remediating`]).
#[tokio::test]
async fn a_foreground_delete_during_a_remediation_uninstalls_everything() {
    let t = Rollout::start("ro-fg-remedy").await;
    let base = t.env.app("base", "hello", "1.0.0", &[]);
    let (group, remediation) = remediating(&t, "fgremedy", base).await;

    t.env.delete_group_foreground(&group).await;
    torn_down_in_place_of(&t, &group, &remediation).await;
}

/// A failed first install's remediation that the user's fix suspended: the fixed spec's rollout
/// suspends the remediation still running, and nothing resumes it. Deleting the group replaces
/// it with the teardown's own reverse Workflow, which uninstalls every release (before, the
/// teardown waited for the suspended remediation for good; see [`remediating`]).
#[tokio::test]
async fn a_teardown_replaces_a_remediation_that_a_fix_suspended() {
    let t = Rollout::start("ro-sus-remedy").await;
    let base = t.env.app("base", "hello", "1.0.0", &[]);
    let (group, remediation) = remediating(&t, "susremedy", base.clone()).await;

    let web = t.env.app("web", "hello", "1.0.0", &["base"]);
    t.env.update_applications(&group, vec![base, web]).await;
    let reverse = remediation.metadata.name.as_deref().unwrap();
    reconcile_support::wait_within(PATIENCE, "the remediation suspended", &t.ctl, || async {
        let workflow = t.env.workflows().get(reverse).await.ok()?;
        (workflow.data["spec"]["suspend"] == true).then_some(())
    })
    .await;
    t.wait_ready_at(&group, 2).await;
    let names: Vec<String> = t.helm_list().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["base", "web"], "{}", t.explain());

    t.env.delete_group(&group).await;
    torn_down_in_place_of(&t, &group, &remediation).await;
}

/// Creates a group of `base` and `slow` after it, whose first install a person stops mid-rollout
/// (`argo stop`: `spec.shutdown: Stop`), so that it fails; returns it with its remediation (the
/// `-reverse` Workflow), which `slow` keeps running: Flux uninstalls it only once its install has
/// timed out.
async fn remediating(
    t: &Rollout,
    prefix: &str,
    base: serde_json::Value,
) -> (String, DynamicObject) {
    let group = t
        .create_group(prefix, vec![base, slow_after_base(t, "60s")])
        .await;
    wait_installing(t, "slow").await;
    let stop = serde_json::json!({"spec": {"shutdown": "Stop"}});
    t.env
        .workflows()
        .patch(&group, &PatchParams::default(), &Patch::Merge(&stop))
        .await
        .unwrap();
    let reverse = format!("{group}-reverse");
    let remediation = t.env.wait_workflow(&reverse, None, &t.ctl).await;
    (group, remediation)
}

/// Waits until the teardown's own reverse Workflow (annotated as such) has replaced
/// `remediation`, then until the deleted `group` is gone with nothing installed.
async fn torn_down_in_place_of(t: &Rollout, group: &str, remediation: &DynamicObject) {
    let teardown = t.env.wait_replaced(remediation, &t.ctl).await;
    let annotations = teardown.metadata.annotations.unwrap_or_default();
    assert_eq!(
        annotations
            .get("orkestra.azure.microsoft.com/teardown")
            .map(String::as_str),
        Some("true"),
        "{annotations:?}"
    );
    t.env.wait_gone(group, &t.ctl).await;
    t.assert_nothing_installed().await;
}

/// A deployed group whose forward Workflow was deleted (by a person, or an Argo TTL) still has
/// its releases, which nothing owns: deleting the group uninstalls them by a reverse Workflow,
/// dependents first (before, the group was released at once and the releases stayed).
#[tokio::test]
async fn deleting_a_group_whose_forward_workflow_is_gone_uninstalls_everything() {
    let t = Rollout::start("ro-noforward").await;
    let group = t
        .deployed(
            "noforward",
            vec![
                t.env.app("base", "hello", "1.0.0", &[]),
                t.env.app("web", "hello", "1.0.0", &["base"]),
            ],
        )
        .await;
    t.env.delete_workflow(&group, &t.ctl).await;
    let removals = t.record_removals().await;

    t.env.delete_group(&group).await;
    t.env.wait_gone(&group, &t.ctl).await;
    t.assert_nothing_installed().await;
    assert_eq!(removals.names(), ["web", "base"], "dependents first");
}

/// An update that drops what the generation before it installed while that one was still rolling
/// out (`web` deployed, `slow` being installed): the last good spec never had them, only the
/// cluster does. The new forward Workflow uninstalls both first, and the group is Ready with
/// `base` alone (before, both stayed installed for good).
#[tokio::test]
async fn an_update_uninstalls_what_an_interrupted_rollout_installed() {
    let t = Rollout::start("ro-interrupted").await;
    let base = t.env.app("base", "hello", "1.0.0", &[]);
    let group = t.deployed("interrupted", vec![base.clone()]).await;
    let web = t.env.app("web", "hello", "1.0.0", &["base"]);
    let mut slow = t.env.app("slow", "greeter", "1.2.0", &["web"]);
    slow["spec"]["release"]["timeout"] = serde_json::json!("40s");
    t.env
        .update_applications(&group, vec![base.clone(), web, slow])
        .await;
    wait_installing(&t, "slow").await;
    assert_eq!(t.helm_release("web").unwrap().status, "deployed");

    t.env.update_applications(&group, vec![base]).await;
    t.wait_ready_at(&group, 3).await;
    assert_eq!(
        t.charts(),
        [("base".into(), "hello-1.0.0".into())],
        "{}",
        t.explain()
    );
}

/// `slow`: greeter 1.2.0 (never ready) after `base`, with Helm timeout `timeout`.
fn slow_after_base(t: &Rollout, timeout: &str) -> serde_json::Value {
    let mut slow = t.env.app("slow", "greeter", "1.2.0", &["base"]);
    slow["spec"]["release"]["timeout"] = serde_json::json!(timeout);
    slow
}

/// Waits until Helm is installing `release` (mid-rollout: what it depends on is deployed).
async fn wait_installing(t: &Rollout, release: &str) {
    let what = format!("{release}'s install to start");
    reconcile_support::wait_within(PATIENCE, &what, &t.ctl, || async {
        (t.helm_release(release)?.status == "pending-install").then_some(())
    })
    .await;
}

/// Scenario 9: two applications added, the last one failing (the API server refuses its
/// manifest) → the rollback Workflow removes both added releases; the first one stays.
#[tokio::test]
async fn a_rollback_removes_every_application_the_failed_update_added() {
    let t = Rollout::start("ro-add-two").await;
    let base = t.env.app("base", "hello", "1.0.0", &[]);
    let group = t.deployed("addtwo", vec![base.clone()]).await;

    let first = t.env.app("first", "hello", "1.2.0", &["base"]);
    let broken = t.env.app("broken", "greeter", "1.1.0", &["first"]);
    let removals = t.record_removals().await;
    t.env
        .update_applications(&group, vec![base, first, broken])
        .await;
    let rolled_back = t
        .wait_condition(&group, "RollbackWorkflowSucceeded", "True")
        .await;
    assert_standing(&rolled_back, &[("Ready", "False", "WorkflowFailed")]);
    let names: Vec<String> = t.helm_list().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["base"], "{}", t.explain());
    // Both added releases were applied and removed, the dependent first.
    assert_eq!(removals.names(), ["broken", "first"], "{}", t.explain());
}

/// An update that moves `app` to another namespace and whose install there is refused is rolled
/// back: the rollback deletes the release in the new namespace before it puts the old one back
/// (before, the rollback named only the last good spec's release, and the failed one kept running
/// beside it while the group said it was rolled back).
#[tokio::test]
async fn a_rollback_removes_the_release_the_failed_update_moved_to_another_namespace() {
    let t = Rollout::start("ro-moved").await;
    let group = t
        .deployed("moved", vec![t.env.app("app", "greeter", "1.0.0", &[])])
        .await;
    let moved_to = t.env.cluster.namespace("ro-moved-to").await.unwrap();
    let removals = t.record_removals_in(&moved_to).await;
    let mut moved = t.env.app("app", "greeter", "1.1.0", &[]);
    moved["spec"]["release"]["targetNamespace"] = serde_json::json!(moved_to);
    t.env.update_applications(&group, vec![moved]).await;
    let rolled_back = t
        .wait_condition(&group, "RollbackWorkflowSucceeded", "True")
        .await;
    assert_standing(&rolled_back, &[("Ready", "False", "WorkflowFailed")]);
    assert_eq!(
        t.charts(),
        [("app".to_owned(), "greeter-1.0.0".to_owned())],
        "{}",
        t.explain()
    );
    // The failed update did install there, and the rollback removed it.
    assert_eq!(removals.names(), ["app"], "{}", t.explain());
    assert_eq!(t.helm_list_in(&moved_to), [], "{}", t.explain());
    let releases = t
        .env
        .helm_releases_in(&moved_to)
        .list(&Default::default())
        .await
        .unwrap();
    assert!(releases.items.is_empty(), "{:?}", releases.items);
}

/// An update that drops `web` and whose upgrade of `base` is refused is rolled back, which puts
/// `web` back while the spec no longer names it. Deleting the group uninstalls both: the teardown
/// first deletes the group's HelmReleases that the spec does not name.
#[tokio::test]
async fn deleting_after_a_rollback_uninstalls_what_the_rollback_put_back() {
    let t = Rollout::start("ro-leftover").await;
    let base = |version: &str| t.env.app("base", "greeter", version, &[]);
    let web = t.env.app("web", "hello", "1.0.0", &["base"]);
    let group = t.deployed("leftover", vec![base("1.0.0"), web]).await;
    t.env.update_applications(&group, vec![base("1.1.0")]).await;
    t.wait_condition(&group, "RollbackWorkflowSucceeded", "True")
        .await;
    let names: Vec<String> = t.helm_list().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["base", "web"], "{}", t.explain());

    t.env.delete_group(&group).await;
    t.env.wait_gone(&group, &t.ctl).await;
    t.assert_nothing_installed().await;
}

/// A keptn executor after the release (Azure Orkestra's shape): its step fails in this version,
/// so the first install fails, and the remediation's reverse Workflow still uninstalls the
/// release: the keptn step's delete, which runs first, has nothing to remove and succeeds
/// (before, it failed too, and Argo never ran the release's delete).
#[tokio::test]
async fn a_keptn_step_does_not_stop_the_teardown() {
    let t = Rollout::start("ro-keptn").await;
    let mut base = t.env.app("base", "hello", "1.0.0", &[]);
    base["spec"]["workflow"] = serde_json::json!([
        {"name": "helmrelease", "type": "helmrelease"},
        {"name": "gate", "type": "keptn", "dependencies": ["helmrelease"]},
    ]);
    let removals = t.record_removals().await;
    let group = t.create_group("keptn", vec![base]).await;
    let torn_down = t
        .wait_condition(&group, "ReverseWorkflowSucceeded", "True")
        .await;
    assert_standing(&torn_down, &[("Ready", "False", "WorkflowFailed")]);
    // The release was installed (the keptn step runs after it) and the teardown removed it.
    assert_eq!(removals.names(), ["base"], "{}", t.explain());
    t.assert_nothing_installed().await;
}

/// Scenario 10: a first install that fails → the reverse Workflow removes what was installed.
#[tokio::test]
async fn a_failed_first_install_is_removed_by_the_reverse_workflow() {
    let t = Rollout::start("ro-first").await;
    let removals = t.record_removals().await;
    let group = t
        .create_group(
            "first",
            vec![
                t.env.app("base", "hello", "1.0.0", &[]),
                t.env.app("broken", "greeter", "1.1.0", &["base"]),
            ],
        )
        .await;
    let torn_down = t
        .wait_condition(&group, "ReverseWorkflowSucceeded", "True")
        .await;
    assert_standing(&torn_down, &[("Ready", "False", "WorkflowFailed")]);
    // Both were applied (broken's install failed), and the teardown removed them, dependent first.
    assert_eq!(removals.names(), ["broken", "base"], "{}", t.explain());
    t.assert_nothing_installed().await;
}

fn find<'a>(releases: &'a [HelmListed], name: &str) -> &'a HelmListed {
    releases
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no Helm release {name} in {releases:?}"))
}

/// Staging into a real ChartMuseum with basic auth: the controller pushes the charts (split
/// subcharts too) and writes the staging HelmRepository with the credentials Secret; Flux pulls
/// them from ChartMuseum over HTTP with those credentials, and Helm installs them.
#[tokio::test]
async fn a_group_deploys_through_flux_from_a_chartmuseum_staging_repository() {
    let museum = ChartMuseum::start(MuseumOptions {
        basic_auth: Some(("stager".into(), "s3cret".into())),
        ..MuseumOptions::default()
    })
    .await
    .unwrap();
    let url = museum.url();
    let staging = Staging {
        url: Some(&url),
        credentials: Some(("stager", "s3cret")),
    };
    let t = Rollout::start_with("ro-museum", staging).await;
    let mut shop = t.env.app("shop", "bookinfo", "1.0.0", &["base"]);
    shop["spec"]["subcharts"] = serde_json::json!([{"name": "sub-1"}]);
    t.deployed(
        "museum",
        vec![t.env.app("base", "hello", "1.0.0", &[]), shop],
    )
    .await;

    let repository = t
        .env
        .helm_repositories()
        .get("orkestra-staging")
        .await
        .unwrap();
    assert_eq!(repository.data["spec"]["url"], url.as_str());
    assert_eq!(repository.data["spec"]["secretRef"]["name"], STAGING_SECRET);
    assert!(
        repository.data["spec"]["type"].is_null() || repository.data["spec"]["type"] == "default"
    );
    let listed = t.charts();
    assert_eq!(
        listed,
        [
            ("base".into(), "hello-1.0.0".into()),
            ("shop".into(), "bookinfo-1.0.0".into()),
            ("shop-sub-1".into(), "bookinfo-sub-1-0.1.0".into()),
            ("shop-sub-2".into(), "bookinfo-sub-2-0.1.0".into()),
            ("shop-sub-3".into(), "bookinfo-sub-3-0.1.0".into()),
            ("shop-sub-4".into(), "bookinfo-sub-4-0.1.0".into()),
        ],
        "{}",
        t.explain()
    );
    // Flux fetched them from ChartMuseum, authenticated.
    let log = museum.log();
    assert!(log.contains("/charts/bookinfo-sub-1-0.1.0.tgz"), "{log}");
}
