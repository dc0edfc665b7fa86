//! `orkestra-controller executor`, run as a workflow pod runs it, against **real Flux**: the real
//! binary on the cluster where Flux's source-controller and helm-controller run
//! (`Cluster::with_engines`), as the executor's ServiceAccount with exactly the RBAC the chart renders
//! for it. Nothing plays Flux here: each test stages its fixture chart
//! (`orkestra_tests::charts`: `hello` installs, `greeter` 1.1.0 is refused by the API server,
//! `greeter` 1.2.0 never becomes available) into the cluster's OCI registry and points the
//! HelmRelease at a `HelmRepository` of its own; helm-controller installs, upgrades and uninstalls
//! it with Helm (a suspended release is suspended the way `flux suspend` does it). Each test
//! asserts what a user sees: the executor's exit status and lines, the HelmRelease, and
//! `helm list`.
//!
//! The executor's unit-level cases are in controller/tests/executor.rs: the one state real Flux
//! cannot be held in on demand (a Ready about the previous generation before Flux has looked at
//! the new one, played there), and what needs no Flux (a release already gone, bad input, RBAC
//! refusals).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod executor_support;

use std::time::{Duration, Instant};

use executor_support::flux::{FluxWorld, HOLD, PATIENCE, USER, ready};
use executor_support::{
    delete, error_line, failed_with, finish, install, releases, start, still_running,
    succeeded_saying, text,
};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, Patch, PatchParams};
use orkestra_shared::plan::ReleaseRef;
use orkestra_tests::charts::{self, Published};
use orkestra_tests::unique_name;
use serde_json::{Value, json};

#[tokio::test]
async fn install_creates_the_namespace_and_succeeds_once_flux_deployed_the_release() {
    let t = FluxWorld::start("exf-install").await;
    t.stage_fixture("hello", "1.0.0");
    // A target namespace that does not exist yet: the executor creates it.
    let target = unique_name("exf-target");
    let mut wanted = t.release(&target, "productpage", "hello", "1.0.0");
    wanted["spec"]["values"] = json!({"message": "from the plan"});

    let output = t.installed(&wanted).await;
    succeeded_saying(
        &output,
        &format!("HelmRelease {target}/productpage is ready"),
    );
    assert!(
        text(&output.stdout).contains(&format!("created namespace {target}")),
        "{}",
        text(&output.stdout)
    );
    assert!(
        Api::<Namespace>::all(t.client.clone())
            .get_opt(&target)
            .await
            .unwrap()
            .is_some(),
        "namespace created"
    );

    // The HelmRelease: as planned, written by the executor, Ready at its generation.
    let object = releases(&t.client, &target)
        .get("productpage")
        .await
        .unwrap();
    assert_eq!(
        object.metadata.labels.clone().unwrap()["orkestra.azure.microsoft.com/owner"],
        "bookinfo"
    );
    let managers: Vec<String> = object
        .metadata
        .managed_fields
        .clone()
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        managers.contains(&"orkestra-executor".to_owned()),
        "{managers:?}"
    );
    assert_eq!(
        ready(&object),
        ("True".to_owned(), "InstallSucceeded".to_owned())
    );
    assert_eq!(
        object.data["status"]["observedGeneration"].as_i64(),
        object.metadata.generation
    );

    // Helm: the release deployed with the chart version, its objects with the planned values.
    assert_eq!(
        t.helm_summary(&target),
        [["productpage", "hello-1.0.0", "1", "deployed"]]
    );
    let configmap = Api::<ConfigMap>::namespaced(t.client.clone(), &target)
        .get("productpage-hello")
        .await
        .unwrap();
    assert_eq!(
        configmap.data.unwrap()["message"],
        "from the plan",
        "the planned values reached Helm"
    );
}

#[tokio::test]
async fn an_upgrade_waits_until_flux_deployed_the_new_chart_version() {
    let t = FluxWorld::start("exf-upgrade").await;
    t.stage_fixture("hello", "1.0.0");
    t.stage_fixture("hello", "1.2.0");
    let ns = t.namespace.clone();
    let first = t
        .installed(&t.release(&ns, "reviews", "hello", "1.0.0"))
        .await;
    assert!(text(&first.stdout).contains("(generation 1)"));

    let output = t
        .installed(&t.release(&ns, "reviews", "hello", "1.2.0"))
        .await;
    succeeded_saying(&output, &format!("HelmRelease {ns}/reviews is ready"));
    assert!(
        text(&output.stdout).contains(&format!("applied HelmRelease {ns}/reviews (generation 2)")),
        "{}",
        text(&output.stdout)
    );
    // By the time the step succeeded, Helm had deployed the new version: it waited for the new
    // generation, not for the Ready of the old one.
    assert_eq!(
        t.helm_summary(&ns),
        [["reviews", "hello-1.2.0", "2", "deployed"]]
    );
    let object = releases(&t.client, &ns).get("reviews").await.unwrap();
    assert_eq!(object.metadata.generation, Some(2));
    assert_eq!(object.data["status"]["observedGeneration"], 2);
    assert_eq!(
        ready(&object),
        ("True".to_owned(), "UpgradeSucceeded".to_owned())
    );
}

/// A suspended HelmRelease is the one state real Flux holds on demand where its Ready condition
/// is about an older generation: helm-controller then sets `status.observedGeneration` to each new
/// generation without reconciling, and leaves Ready as it was. The upgrade step must wait.
#[tokio::test]
async fn an_upgrade_of_a_suspended_release_waits_until_flux_resumes_and_upgrades() {
    let t = FluxWorld::start("exf-suspended").await;
    t.stage_fixture("hello", "1.0.0");
    t.stage_fixture("hello", "1.2.0");
    let ns = t.namespace.clone();
    t.installed(&t.release(&ns, "details", "hello", "1.0.0"))
        .await;
    let api = releases(&t.client, &ns);
    t.suspend(&ns, "details", true).await;

    let mut child = install(
        &t.kubeconfig,
        &t.release(&ns, "details", "hello", "1.2.0"),
        "120s",
    );
    // Flux has looked at the upgrade's generation (and reconciled nothing).
    let deadline = Instant::now() + PATIENCE;
    loop {
        let object = api.get("details").await.unwrap();
        if object.data["spec"]["chart"]["spec"]["version"] == "1.2.0"
            && object.data["status"]["observedGeneration"].as_i64() == object.metadata.generation
        {
            assert_eq!(
                object.data["spec"]["suspend"], true,
                "the step kept the suspension"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Flux never observed the upgrade: {:?}",
            object.data["status"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    still_running(&mut child, Duration::from_secs(3)).await;
    let listed = t.helm_list(&ns);
    assert_eq!(
        (listed[0].chart.as_str(), listed[0].revision.as_str()),
        ("hello-1.0.0", "1")
    );

    t.suspend(&ns, "details", false).await;
    let output = finish(child, PATIENCE).await;
    succeeded_saying(&output, &format!("HelmRelease {ns}/details is ready"));
    assert!(
        text(&output.stdout)
            .contains("waiting: Ready=True (InstallSucceeded) is about an older generation than"),
        "{}",
        text(&output.stdout)
    );
    assert_eq!(
        t.helm_summary(&ns),
        [["details", "hello-1.2.0", "2", "deployed"]]
    );
}

/// A release deleted by someone else while the step waits for it. Suspended, so that the step
/// waits (Flux reconciles nothing) and Flux lets it go at once when it is deleted (the finalizer
/// of a suspended release is removed without an uninstall).
#[tokio::test]
async fn install_fails_when_the_release_is_deleted_while_waiting() {
    let t = FluxWorld::start("exf-vanished").await;
    t.stage_fixture("hello", "1.0.0");
    let ns = t.namespace.clone();
    let wanted = t.release(&ns, "gone", "hello", "1.0.0");
    let api = releases(&t.client, &ns);
    let mut suspended = wanted.clone();
    suspended["spec"]["suspend"] = json!(true);
    api.patch("gone", &PatchParams::apply(USER), &Patch::Apply(&suspended))
        .await
        .unwrap();

    let child = install(&t.kubeconfig, &wanted, "120s");
    // The step has applied it and Flux holds it with its finalizer.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let object = api.get("gone").await.unwrap();
        let by_executor = object
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .any(|m| m.manager.as_deref() == Some("orkestra-executor"));
        let held = object
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == "finalizers.fluxcd.io");
        if by_executor && held {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never applied and held: {object:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    api.delete("gone", &Default::default()).await.unwrap();

    let output = finish(child, PATIENCE).await;
    let line = error_line(&output, 1);
    assert_eq!(
        line,
        format!("error: HelmRelease {ns}/gone was deleted while waiting for it to become ready")
    );
    assert!(api.get_opt("gone").await.unwrap().is_none());
    assert_eq!(t.helm_list(&ns), [], "nothing was installed");
}

#[tokio::test]
async fn an_install_that_helm_fails_fails_the_step_at_once_with_fluxs_reason() {
    let t = FluxWorld::start("exf-failed").await;
    t.stage_fixture("greeter", "1.1.0");
    let ns = t.namespace.clone();
    let (line, elapsed) = failed_with(
        install(
            &t.kubeconfig,
            &t.release(&ns, "ratings", "greeter", "1.1.0"),
            "300s",
        ),
        PATIENCE,
        1,
    )
    .await;
    assert!(
        elapsed < Duration::from_secs(60),
        "failed as soon as Flux did, not at the timeout ({elapsed:?})"
    );
    let prefix = format!("error: HelmRelease {ns}/ratings failed: ");
    assert!(line.starts_with(&prefix), "{line}");
    // Flux's own words.
    let object = releases(&t.client, &ns).get("ratings").await.unwrap();
    let said_by_flux = object.data["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "False" || c["type"] == "Stalled")
        .any(|c| {
            let said = format!(
                "{prefix}{}: {}",
                c["reason"].as_str().unwrap(),
                c["message"].as_str().unwrap()
            );
            line == said.split_whitespace().collect::<Vec<_>>().join(" ")
        });
    assert!(
        said_by_flux,
        "{line}\nHelmRelease status: {:?}",
        object.data["status"]
    );
    // Helm's reason, not only that Flux gave up (`Stalled RetriesExceeded`, written beside it).
    assert!(
        line.contains("InstallFailed") && line.contains("Not_A_Valid_Name"),
        "{line}"
    );

    // Helm: the failed release.
    assert_eq!(
        t.helm_summary(&ns),
        [["ratings", "greeter-1.1.0", "1", "failed"]]
    );
}

/// Flux gives up before Helm runs: `Stalled=True` next to a Ready reason that is not terminal by
/// itself (`InvalidCELExpression`: a health check expression that does not parse). Stalled alone
/// fails the step at once.
#[tokio::test]
async fn install_fails_at_once_when_flux_stalls() {
    let t = FluxWorld::start("exf-stalled").await;
    t.stage_fixture("hello", "1.0.0");
    let ns = t.namespace.clone();
    let mut wanted = t.release(&ns, "details", "hello", "1.0.0");
    wanted["spec"]["healthCheckExprs"] =
        json!([{"apiVersion": "v1", "kind": "ConfigMap", "current": "data.("}]);
    let (line, elapsed) = failed_with(install(&t.kubeconfig, &wanted, "300s"), PATIENCE, 1).await;
    assert!(
        elapsed < Duration::from_secs(60),
        "failed as soon as Flux stalled, not at the timeout ({elapsed:?})"
    );
    assert!(
        line.starts_with(&format!(
            "error: HelmRelease {ns}/details failed: InvalidCELExpression: "
        )),
        "{line}"
    );
    let object = releases(&t.client, &ns).get("details").await.unwrap();
    let conditions = object.data["status"]["conditions"].as_array().unwrap();
    let condition = |kind: &str| {
        conditions
            .iter()
            .find(|c| c["type"] == kind)
            .map(|c| (c["status"].as_str().unwrap(), c["reason"].as_str().unwrap()))
    };
    assert_eq!(condition("Stalled"), Some(("True", "InvalidCELExpression")));
    assert_eq!(condition("Ready"), Some(("False", "InvalidCELExpression")));
    assert_eq!(t.helm_list(&ns), [], "Helm never ran");
}

#[tokio::test]
async fn an_install_that_outlasts_the_step_timeout_exits_3() {
    let t = FluxWorld::start("exf-timeout").await;
    t.stage_fixture("greeter", "1.2.0");
    let ns = t.namespace.clone();
    let mut slow = t.release(&ns, "slow", "greeter", "1.2.0");
    // Helm waits longer than the step: Helm is still installing when the step gives up.
    slow["spec"]["timeout"] = json!("30s");
    let (line, elapsed) = failed_with(install(&t.kubeconfig, &slow, "10s"), PATIENCE, 3).await;
    assert!(
        elapsed >= Duration::from_secs(10) && elapsed < Duration::from_secs(25),
        "exited at the timeout: {elapsed:?}"
    );
    assert!(
        line.starts_with(&format!(
            "error: HelmRelease {ns}/slow: timed out after 10s waiting until Flux reports it ready (last seen: "
        )),
        "{line}"
    );
    assert!(
        line.contains("Running 'install' action with timeout of 30s"),
        "says what Flux was doing: {line}"
    );
    // Flux was installing it: Helm's release is still pending.
    assert_eq!(
        t.helm_summary(&ns),
        [["slow", "greeter-1.2.0", "1", "pending-install"]],
        "{line}"
    );
}

#[tokio::test]
async fn delete_waits_until_flux_uninstalled_the_release() {
    let t = FluxWorld::start("exf-delete").await;
    t.stage_fixture("hello", "1.0.0");
    let ns = t.namespace.clone();
    let wanted = t.release(&ns, "ambassador", "hello", "1.0.0");
    t.installed(&wanted).await;
    let api = releases(&t.client, &ns);
    let finalizers = api.get("ambassador").await.unwrap().metadata.finalizers;
    assert_eq!(
        finalizers.as_deref(),
        Some(&["finalizers.fluxcd.io".to_owned()][..]),
        "Flux's finalizer holds the HelmRelease until it uninstalled the release"
    );
    assert_eq!(t.helm_list(&ns).len(), 1);

    let output = finish(delete(&t.kubeconfig, &wanted, "120s"), PATIENCE).await;
    succeeded_saying(&output, &format!("HelmRelease {ns}/ambassador is gone"));
    assert!(
        !text(&output.stdout).contains("already gone"),
        "{}",
        text(&output.stdout)
    );
    assert_eq!(t.helm_list(&ns), [], "the Helm release is uninstalled");
    assert!(api.get_opt("ambassador").await.unwrap().is_none());
    let configmaps = t.configmaps(&ns).await;
    assert!(
        !configmaps.contains(&"ambassador-hello".to_owned()),
        "Helm removed the release's objects: {configmaps:?}"
    );
}

/// An uninstall that does not finish: an object of the release that nothing lets go (a finalizer
/// of the test's own on the chart's ConfigMap), so Helm's uninstall waits for it and Flux keeps
/// its finalizer on the HelmRelease.
#[tokio::test]
async fn delete_times_out_while_flux_cannot_finish_the_uninstall() {
    let t = FluxWorld::start("exf-stuck").await;
    t.stage_fixture("hello", "1.0.0");
    let ns = t.namespace.clone();
    let wanted = t.release(&ns, "stuck", "hello", "1.0.0");
    t.installed(&wanted).await;
    let configmaps = Api::<ConfigMap>::namespaced(t.client.clone(), &ns);
    let hold = |finalizers: Value| {
        let configmaps = configmaps.clone();
        async move {
            configmaps
                .patch(
                    "stuck-hello",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"finalizers": finalizers}})),
                )
                .await
                .unwrap();
        }
    };
    hold(json!([HOLD])).await;

    let (line, elapsed) = failed_with(delete(&t.kubeconfig, &wanted, "5s"), PATIENCE, 3).await;
    assert!(
        elapsed < Duration::from_secs(20),
        "waited for the step timeout only: {elapsed:?}"
    );
    assert!(
        line.starts_with(&format!(
            "error: HelmRelease {ns}/stuck: timed out after 5s waiting until it is deleted (last seen: still present, finalizers [finalizers.fluxcd.io]"
        )),
        "names what holds it: {line}"
    );
    let listed = t.helm_list(&ns);
    assert_eq!(
        listed
            .iter()
            .map(|r| (r.name.as_str(), r.status.as_str()))
            .collect::<Vec<_>>(),
        [("stuck", "uninstalling")],
        "Helm is still uninstalling"
    );

    // Let go: Flux finishes the uninstall and the HelmRelease is gone.
    hold(Value::Null).await;
    let api = releases(&t.client, &ns);
    let deadline = Instant::now() + PATIENCE;
    while api.get_opt("stuck").await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "the uninstall never finished");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_planned_leaf_command_line_installs_and_deletes_its_release() {
    let t = FluxWorld::start("exf-planned").await;
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plan_fixtures/bookinfo.yaml");
    let planned = std::process::Command::new(env!("CARGO_BIN_EXE_orkestra-controller"))
        .args(["plan", fixture.to_str().unwrap(), "--output", "json"])
        .output()
        .unwrap();
    assert!(planned.status.success(), "{}", text(&planned.stderr));
    let objects: Vec<Value> = serde_json::from_slice(&planned.stdout).unwrap();
    let templates = objects[0]["spec"]["templates"].as_array().unwrap();
    let leaf = templates
        .iter()
        .find(|t| t["name"] == "helmrelease")
        .unwrap();
    let task = templates
        .iter()
        .filter_map(|t| t["dag"]["tasks"].as_array())
        .flatten()
        .find(|t| t["template"] == "helmrelease")
        .expect("a task calling the helmrelease leaf");
    let mut parameters: Vec<(String, String)> = task["arguments"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();

    // The planned release, moved to a namespace of its own so that tests do not meet, its chart
    // staged by this test rather than by the controller.
    // It is read by reference from the ConfigMap the plan printed with the Workflow, written here
    // in the test's workflow namespace, where the executor's account may read ConfigMaps.
    let namespace = unique_name("exf-planned-target");
    let (_, reference) = parameters
        .iter_mut()
        .find(|(n, _)| n == "helmrelease")
        .unwrap();
    let planned = ReleaseRef::parse(reference).unwrap().unwrap();
    let store = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == planned.config_map.as_str())
        .expect("the plan prints the ConfigMap its reference names");
    let mut release: Value =
        serde_json::from_str(store["data"][&planned.key].as_str().unwrap()).unwrap();
    release["metadata"]["namespace"] = json!(namespace);
    t.point_at_staging(&mut release);
    *reference = t.store_release(&planned, &release).await.to_string();
    let name = release["metadata"]["name"].as_str().unwrap().to_owned();
    let chart = &release["spec"]["chart"]["spec"];
    let (chart, version) = (
        chart["chart"].as_str().unwrap(),
        chart["version"].as_str().unwrap(),
    );
    t.stage(&Published::from(&charts::plain(chart, version)));

    let declared: Vec<&str> = leaf["inputs"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    let leaf_args = |parameters: &[(String, String)]| {
        let args: Vec<String> = leaf["container"]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                orkestra_tests::argo::substitute(a.as_str().unwrap(), &declared, parameters)
                    .unwrap()
            })
            .collect();
        assert_eq!(args[0], "executor");
        args[1..].to_vec()
    };
    // The planned command line as it is: no test-only flag.
    let args = leaf_args(&parameters);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = finish(start(&t.kubeconfig, &args), PATIENCE).await;
    succeeded_saying(&output, &format!("HelmRelease {namespace}/{name} is ready"));
    assert_eq!(
        t.helm_summary(&namespace),
        [[
            name.clone(),
            format!("{chart}-{version}"),
            "1".into(),
            "deployed".into()
        ]]
    );

    // The reverse workflow runs the same leaf with action delete.
    let (_, action) = parameters.iter_mut().find(|(n, _)| n == "action").unwrap();
    *action = "delete".into();
    let args = leaf_args(&parameters);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = finish(start(&t.kubeconfig, &args), PATIENCE).await;
    succeeded_saying(&output, &format!("HelmRelease {namespace}/{name} is gone"));
    assert_eq!(t.helm_list(&namespace), []);
    assert!(
        releases(&t.client, &namespace)
            .get_opt(&name)
            .await
            .unwrap()
            .is_none()
    );
}
