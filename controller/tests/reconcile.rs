//! The controller's own decisions, end to end: `orkestra-controller run` on the shared local
//! cluster (real API server, real OCI registry, real chart repository), one controller process per
//! test, filtered to its own groups. What the controller decides is checked exactly: which Workflow
//! it submits and what it holds (DAGs, actions, versions), the conditions, events, the last-good
//! spec, finalizers, leases, restarts. To steer it, the test decides Argo's and Flux's answers
//! by hand (see reconcile_support: Workflow phases, HelmReleases applied and their conditions), so
//! nothing here asserts on a release: the same scenarios run with real Flux, real Helm releases
//! and real Argo in rollout.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod reconcile_support;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use orkestra_shared::names::{
    FINALIZER, LAST_SUCCESSFUL_ANNOTATION, OWNER_LABEL, WORKFLOW_TYPE_LABEL,
};
use orkestra_tests::unique_name;
use reconcile_support::{
    Env, GuardedRepo, assert_lints, assert_standing, condition, entry_dag, release_named, wait_for,
};

/// Scenario 1: create → charts staged → a Workflow whose DAG follows the dependencies → Argo
/// reports success → Ready=True/Succeeded, per-application status, events.
#[tokio::test]
async fn a_new_group_is_staged_submitted_and_ready_once_its_workflow_succeeds() {
    let (env, ctl) = Env::with_controller("rc-create").await;
    let mut shop = env.app("shop", "bookinfo", "1.0.0", &["base"]);
    shop["spec"]["subcharts"] =
        serde_json::json!([{"name": "sub-1"}, {"name": "sub-2", "dependencies": ["sub-1"]}]);
    let group = env
        .create_group(
            "create",
            vec![
                env.app("base", "hello", "1.0.0", &[]),
                env.app("web", "hello", "^1.0", &["base"]),
                shop,
            ],
        )
        .await;

    let wf = env.wait_workflow(&group, Some(1), &ctl).await;
    let labels = wf.metadata.labels.clone().unwrap();
    assert_eq!(labels[WORKFLOW_TYPE_LABEL], "forward");
    assert_eq!(labels[OWNER_LABEL], group);
    let owner = &wf.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("ApplicationGroup", group.as_str(), Some(true))
    );
    let mut dag = entry_dag(&wf);
    dag.sort();
    assert_eq!(
        dag,
        vec![
            ("base".to_owned(), vec![]),
            ("shop".to_owned(), vec!["base".to_owned()]),
            ("web".to_owned(), vec!["base".to_owned()]),
        ]
    );
    // The range resolved to the newest 1.x, and every chart (split subcharts too) is staged.
    let web = env.task_release(&wf, "web").await;
    assert_eq!(web["spec"]["chart"]["spec"]["version"], "1.2.0");
    assert_eq!(
        web["spec"]["chart"]["spec"]["sourceRef"]["namespace"],
        env.namespace.as_str()
    );
    let mut tags = env.staged_tags("hello").await;
    tags.sort();
    assert_eq!(tags, ["1.0.0", "1.2.0"]);
    assert_eq!(env.staged_tags("bookinfo").await, ["1.0.0"]);
    assert_eq!(env.staged_tags("bookinfo-sub-1").await, ["0.1.0"]);
    assert_eq!(env.staged_tags("bookinfo-sub-4").await, ["0.1.0"]);
    // The unlisted ones have no dependencies; the parent waits for all four.
    let app_dag = |template: &str| -> Vec<(String, Vec<String>)> {
        let templates = wf.data["spec"]["templates"].as_array().unwrap();
        let dag = templates.iter().find(|t| t["name"] == template).unwrap();
        let mut tasks: Vec<(String, Vec<String>)> = dag["dag"]["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let deps = t["dependencies"].as_array().cloned().unwrap_or_default();
                let mut deps: Vec<String> = deps
                    .iter()
                    .map(|d| d.as_str().unwrap().to_owned())
                    .collect();
                deps.sort();
                (t["name"].as_str().unwrap().to_owned(), deps)
            })
            .collect();
        tasks.sort();
        tasks
    };
    let sub = |n: &str| format!("shop-sub-{n}");
    assert_eq!(
        app_dag("app-shop"),
        [
            (
                "shop".to_owned(),
                (1..=4).map(|n| sub(&n.to_string())).collect()
            ),
            (sub("1"), vec![]),
            (sub("2"), vec![sub("1")]),
            (sub("3"), vec![]),
            (sub("4"), vec![]),
        ]
    );
    let repo = env
        .helm_repositories()
        .get("orkestra-staging")
        .await
        .unwrap();
    assert_eq!(repo.data["spec"]["type"], "oci");
    assert_eq!(repo.data["spec"]["url"], env.staging.as_str());

    let progressing = env.wait_ready(&group, "Unknown", "Progressing", &ctl).await;
    // As Azure Orkestra wrote it: Ready and the forward condition Unknown while it runs.
    assert_standing(
        &progressing,
        &[("ForwardWorkflowSucceeded", "Unknown", "Progressing")],
    );
    assert!(
        progressing
            .metadata
            .finalizers
            .unwrap()
            .contains(&FINALIZER.to_owned())
    );

    env.run_workflow(&group, "Succeeded").await;
    let ready = env.wait_ready(&group, "True", "Succeeded", &ctl).await;
    let status = ready.status.clone().unwrap();
    assert_eq!(status.observed_generation, 1);
    assert_eq!(status.last_succeeded_generation, 1);
    assert_standing(&ready, &[("ForwardWorkflowSucceeded", "True", "Succeeded")]);
    let app = |name: &str| {
        status
            .applications
            .iter()
            .find(|a| a.name == name)
            .unwrap()
            .clone()
    };
    assert_eq!(app("base").chart.version, "1.0.0");
    assert_eq!(app("web").chart.version, "1.2.0");
    assert!(app("web").chart.staged);
    let shop = app("shop");
    // Listing sub-1 and sub-2 splits all four of bookinfo's subcharts, as Azure Orkestra did.
    assert_eq!(
        shop.subcharts.keys().collect::<Vec<_>>(),
        ["sub-1", "sub-2", "sub-3", "sub-4"]
    );
    assert!(shop.subcharts["sub-1"].staged);
    assert_eq!(shop.subcharts["sub-1"].version, "0.1.0");
    assert_eq!(app("base").chart.conditions[0].reason, "InstallSucceeded");
    // The HelmRelease conditions reach the status whenever Flux reports.
    wait_for(
        "the subchart release's conditions in the status",
        &ctl,
        || async {
            let g = env.group(&group).await?;
            let shop = g
                .status?
                .applications
                .into_iter()
                .find(|a| a.name == "shop")?;
            (!shop.subcharts["sub-2"].conditions.is_empty()).then_some(())
        },
    )
    .await;
    let annotation = ready.metadata.annotations.unwrap()[LAST_SUCCESSFUL_ANNOTATION].clone();
    let spec: serde_json::Value = serde_json::from_str(&annotation).unwrap();
    assert_eq!(spec["applications"][1]["name"], "web");

    // Events are published in the background: wait for them.
    for expected in [
        "ChartsStaged",
        "WorkflowSubmitted",
        "WorkflowSucceeded",
        "Succeeded",
    ] {
        env.wait_event(&group, expected, "", &ctl).await;
    }
}

/// The status write that follows the forward Workflow's creation fails (etcd elects a leader): the
/// next reconcile observes the Workflow, and must still know the applications it deploys (before,
/// they were written only then, so the status kept none: Ready said True, "0/0 HelmReleases
/// ready", whatever the releases said).
#[tokio::test]
async fn a_status_write_lost_after_the_workflow_was_created_loses_no_application() {
    let env = Env::new("rc-lost-status").await;
    let proxy = orkestra_tests::api_proxy::ApiProxy::start(&env.cluster)
        .await
        .unwrap();
    proxy.fail_writes_after("/apis/argoproj.io/v1alpha1/", "/status", 1);
    let ctl = env.controller_via("a", &proxy.kubeconfig(), &[]);

    let group = env
        .submitted_group("loststatus", env.base("1.0.0"), &ctl)
        .await;
    env.perform_tasks(&group).await;
    env.set_phase(&group, "Succeeded", "").await;
    let waiting = wait_for("the forward workflow's success", &ctl, || async {
        let g = env.group(&group).await?;
        (condition(&g, "ForwardWorkflowSucceeded")?.status == "True").then_some(g)
    })
    .await;
    let status_writes: Vec<bool> = proxy
        .requests()
        .iter()
        .filter(|seen| seen.is_write() && seen.uri.split('?').next().unwrap().ends_with("/status"))
        .map(|seen| seen.failed)
        .collect();
    let lost = status_writes.iter().position(|failed| *failed);
    assert!(
        lost.is_some_and(|lost| status_writes[lost + 1..].iter().any(|failed| !failed)),
        "the status write after the Workflow was lost, and a later one went through: {status_writes:?}"
    );
    assert_eq!(status_writes.iter().filter(|failed| **failed).count(), 1);

    let ready = condition(&waiting, "Ready").unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("Unknown", "Progressing"),
        "Flux has not said base is ready: {}",
        ready.message
    );
    assert!(
        ready.message.contains("0/1 HelmReleases ready"),
        "{}",
        ready.message
    );
    let applications = &waiting.status.as_ref().unwrap().applications;
    assert_eq!(applications.len(), 1, "{applications:#?}");
    assert_eq!(applications[0].chart.version, "1.0.0");
}

/// Ready=True needs more than a succeeded Workflow: every HelmRelease of the group Ready=True at
/// its current generation ("Flux" played by the test). Until then Ready=Unknown/Progressing names
/// the releases not ready; when a release fails after success, Ready=False/Progressing names it,
/// and the failure shows in the application's status.
#[tokio::test]
async fn ready_waits_for_every_helm_release_and_shows_a_release_failing_later() {
    let (env, ctl) = Env::with_controller("rc-hr-ready").await;
    let group = env
        .submitted_group("hrready", env.base_and_web(), &ctl)
        .await;
    // Argo ran the steps and reports success; Flux reports only base ready, and web at an older
    // generation than its current one.
    env.perform_tasks(&group).await;
    env.set_release_ready("base", "True", "InstallSucceeded", "installed")
        .await;
    // web's spec changed after Flux's verdict on it (as when the executor applies an upgrade).
    let changed = serde_json::json!({"spec": {"interval": "6m"}});
    let web = env
        .helm_releases()
        .patch(
            "web",
            &Default::default(),
            &kube::api::Patch::Merge(&changed),
        )
        .await
        .unwrap();
    let current = web.metadata.generation.unwrap();
    env.set_release_ready_at("web", "True", "InstallSucceeded", "installed", current - 1)
        .await;
    env.set_phase(&group, "Succeeded", "").await;

    let ns = &env.namespace;
    let waiting = wait_for("workflow success with web not ready", &ctl, || async {
        let g = env.group(&group).await?;
        let forward = condition(&g, "ForwardWorkflowSucceeded")?;
        let ready = condition(&g, "Ready")?;
        (forward.status == "True" && ready.reason == "Progressing").then_some(g)
    })
    .await;
    let ready = condition(&waiting, "Ready").unwrap();
    assert_eq!(ready.status, "Unknown", "waiting for Flux, nothing failed");
    assert!(
        ready.message.contains(&format!("{ns}/web (")),
        "{}",
        ready.message
    );
    assert!(
        !ready.message.contains(&format!("{ns}/base")),
        "{}",
        ready.message
    );
    assert!(
        ready.message.contains("1/2 HelmReleases ready"),
        "{}",
        ready.message
    );

    // Flux observes web's generation: the group is ready.
    env.set_release_ready("web", "True", "InstallSucceeded", "installed")
        .await;
    let ready = env.wait_ready(&group, "True", "Succeeded", &ctl).await;
    assert_eq!(ready.status.unwrap().last_succeeded_generation, 1);

    // Later web's upgrade fails for good: the application's status and Ready say so.
    env.set_release_ready("web", "False", "UpgradeFailed", "pre-upgrade hook failed")
        .await;
    let degraded = env.wait_ready(&group, "False", "Progressing", &ctl).await;
    let ready = condition(&degraded, "Ready").unwrap();
    assert!(
        ready
            .message
            .contains(&format!("{ns}/web (failed: UpgradeFailed)")),
        "{}",
        ready.message
    );
    let web = degraded
        .status
        .unwrap()
        .applications
        .into_iter()
        .find(|a| a.name == "web")
        .unwrap();
    let web_ready = web
        .chart
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(
        (
            web_ready.status.as_str(),
            web_ready.reason.as_str(),
            web_ready.message.as_str()
        ),
        ("False", "UpgradeFailed", "pre-upgrade hook failed")
    );
    // Ready fell from True without a new generation: a Warning, not a Normal event.
    wait_for("a Warning event for the degraded group", &ctl, || async {
        env.warnings(&group)
            .await
            .contains(&"Progressing".to_owned())
            .then_some(())
    })
    .await;
}

/// A subchart the umbrella chart aliases (`pair` bundles `cache` as `memo`), listed by its chart
/// name: the release values under the alias go to that subchart's HelmRelease, not to the
/// parent's.
#[tokio::test]
async fn values_under_a_subchart_alias_reach_that_subcharts_helm_release() {
    let (env, ctl) = Env::with_controller("rc-alias").await;
    let mut pair = env.app("pair", "pair", "1.0.0", &[]);
    pair["spec"]["subcharts"] = serde_json::json!([{"name": "primary"}, {"name": "cache"}]);
    pair["spec"]["release"]["values"] = serde_json::json!({
        "message": "for-the-parent",
        "primary": {"message": "for-primary"},
        "memo": {"message": "for-memo"},
    });
    let group = env.create_group("alias", vec![pair]).await;
    let wf = env.wait_workflow(&group, Some(1), &ctl).await;
    let releases = env.task_releases(&wf).await;
    let values = |name: &str| release_named(&releases, name)["spec"]["values"].clone();
    assert_eq!(values("pair-primary")["message"], "for-primary");
    assert_eq!(values("pair-cache")["message"], "for-memo");
    let parent = values("pair");
    assert_eq!(parent["message"], "for-the-parent");
    assert_eq!(parent.get("primary"), None, "{parent}");
    assert_eq!(parent.get("memo"), None, "{parent}");
    // The staging repository holds the split chart under the listed name.
    assert_eq!(env.staged_tags("pair-cache").await, ["0.1.0"]);
}

/// A group written as Azure Orkestra's users wrote it (`tests/fixtures/upstream-style.yaml`:
/// executors without a type, `params: null`, custom executors whose image is a container, an
/// `authSecretRef` without a namespace) on Azure Orkestra's chart shape (an umbrella chart
/// versioned `v1`, three of its four subcharts listed) deploys unchanged: the chart is pulled with
/// the Secret's credentials, every subchart gets its release, the custom step runs the container
/// as written, and the group is Ready once the Workflow and the releases are.
#[tokio::test]
async fn a_group_written_in_azure_orkestras_style_deploys_unchanged() {
    let env = Env::new("rc-upstream").await;
    env.create_credentials(&env.namespace, "repo-creds", "orkestra", "from-upstream")
        .await;
    let guarded = GuardedRepo::start("orkestra", "from-upstream").await;

    let fixture: serde_json::Value =
        serde_norway::from_str(include_str!("../../tests/fixtures/upstream-style.yaml")).unwrap();
    let mut applications = fixture["spec"]["applications"].as_array().unwrap().clone();
    for app in &mut applications {
        let is_ambassador = app["name"] == "ambassador";
        let spec = &mut app["spec"];
        spec["release"]["targetNamespace"] = serde_json::json!(env.namespace);
        if is_ambassador {
            // Kept as written: the Secret named without a namespace.
            spec["chart"]["url"] = serde_json::json!(guarded.repo.url);
            spec["chart"]["name"] = serde_json::json!("hello");
            spec["chart"]["version"] = serde_json::json!("1.0.0");
        } else {
            spec["chart"]["url"] = serde_json::json!(env.cluster.chart_repo());
            spec["chart"]["name"] = serde_json::json!("upstream-bookinfo");
            spec["chart"]["version"] = serde_json::json!("v1");
            spec["subcharts"] = serde_json::json!([
                {"name": "sub-1"},
                {"name": "sub-2", "dependencies": ["sub-1"]},
                {"name": "sub-3"},
            ]);
        }
    }
    assert_eq!(
        applications[0]["spec"]["chart"]["authSecretRef"],
        serde_json::json!({"name": "repo-creds"})
    );
    let ctl = env.controller("a");
    let group = env.create_group("upstream", applications).await;
    let wf = env.wait_workflow(&group, Some(1), &ctl).await;

    // The custom step is the container as written, Azure Orkestra's arguments after its own.
    let templates = wf.data["spec"]["templates"].as_array().unwrap();
    let smoke = templates
        .iter()
        .find(|t| t["name"] == "custom-ambassador-smoke")
        .unwrap_or_else(|| panic!("no custom leaf in {templates:?}"));
    let container = &smoke["container"];
    assert_eq!(container["image"], "example.com/smoke:1");
    assert_eq!(
        container["command"],
        serde_json::json!(["executor-contract"])
    );
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(&args[..2], ["--verbose", "--spec"]);
    for flag in ["--action", "--data", "--timeout", "--interval"] {
        assert!(args.contains(&flag), "{flag} in {args:?}");
    }
    assert_eq!(container["env"][0]["name"], "EXPECT_LEADING");
    assert_eq!(container["resources"]["limits"]["memory"], "64Mi");
    // Every subchart of the umbrella gets its release, the unlisted sub-4 too.
    let mut releases: Vec<String> = env
        .task_actions(&wf)
        .await
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    releases.dedup();
    assert_eq!(
        releases,
        [
            "ambassador",
            "bookinfo",
            "bookinfo-sub-1",
            "bookinfo-sub-2",
            "bookinfo-sub-3",
            "bookinfo-sub-4"
        ]
    );
    assert_eq!(env.task_chart_version(&wf, "bookinfo").await, "v1");

    env.run_workflow(&group, "Succeeded").await;
    let ready = env.wait_ready(&group, "True", "Succeeded", &ctl).await;
    let status = ready.status.unwrap();
    let ambassador = &status.applications[0];
    assert!(
        ambassador.chart.staged,
        "pulled with the Secret's credentials"
    );
    let bookinfo = &status.applications[1];
    assert_eq!(bookinfo.chart.version, "v1");
    assert_eq!(
        bookinfo.subcharts.keys().collect::<Vec<_>>(),
        ["sub-1", "sub-2", "sub-3", "sub-4"]
    );
}

/// Scenario 2: a chart version that does not exist → ChartPullFailed naming the version, no
/// Workflow; fixing the spec recovers.
#[tokio::test]
async fn a_missing_chart_version_is_reported_and_fixing_the_spec_recovers() {
    let (env, ctl) = Env::with_controller("rc-pull").await;
    let group = env.create_group("pull", env.base("9.9.9")).await;

    let failed = env
        .wait_ready(&group, "False", "ChartPullFailed", &ctl)
        .await;
    let ready = condition(&failed, "Ready").unwrap();
    assert!(ready.message.contains("9.9.9"), "{}", ready.message);
    assert!(ready.message.contains("hello"), "{}", ready.message);
    let status = failed.status.unwrap();
    assert_eq!(status.observed_generation, 1);
    let base = &status.applications[0];
    assert!(!base.chart.staged);
    assert!(base.chart.error.contains("9.9.9"), "{}", base.chart.error);
    assert!(
        env.workflows().get_opt(&group).await.unwrap().is_none(),
        "no Workflow for an unstaged generation"
    );
    env.wait_event(&group, "ChartPullFailed", "9.9.9", &ctl)
        .await;

    env.update_applications(&group, env.base("1.0.0")).await;
    env.wait_workflow(&group, Some(2), &ctl).await;
    let recovered = env.wait_ready(&group, "Unknown", "Progressing", &ctl).await;
    let status = recovered.status.unwrap();
    assert_eq!(status.observed_generation, 2);
    assert_eq!(status.applications[0].chart.error, "");
    assert!(status.applications[0].chart.staged);
}

/// `authSecretRef` is honoured only in the namespaces the controller is configured for; a Secret
/// elsewhere is never read (it exists here, and the repository needs no credentials, so reading
/// it would have staged the chart). Secret contents appear nowhere a user can see.
#[tokio::test]
async fn chart_credentials_come_only_from_allowed_namespaces_and_are_never_shown() {
    let env = Env::new("rc-secret").await;
    let other = env.cluster.namespace("rc-secret-other").await.unwrap();
    let password = orkestra_tests::unique_name("never-shown");
    for namespace in [&env.namespace, &other] {
        env.create_credentials(namespace, "creds", "alice", &password)
            .await;
    }
    // A repository that wants other credentials than the Secret's.
    let guarded = GuardedRepo::start("alice", "the-right-one").await;
    let ctl = env.controller("a");

    let mut elsewhere = env.app("base", "hello", "1.0.0", &[]);
    elsewhere["spec"]["chart"]["authSecretRef"] =
        serde_json::json!({"namespace": other, "name": "creds"});
    let foreign = env.create_group("foreign", vec![elsewhere]).await;
    let message = env.wait_refused(&foreign, "ChartPullFailed", &ctl).await;
    assert!(
        message.contains(&format!(
            "authSecretRef names Secret {other}/creds, but the controller reads chart credentials only from namespace(s) {}",
            env.namespace
        )),
        "{message}"
    );

    let mut refused = env.app("base", "hello", "1.0.0", &[]);
    refused["spec"]["chart"]["url"] = serde_json::json!(guarded.repo.url);
    refused["spec"]["chart"]["authSecretRef"] = serde_json::json!({"name": "creds"});
    let own = env.create_group("own", vec![refused]).await;
    let message = env.wait_refused(&own, "ChartPullFailed", &ctl).await;
    assert!(message.contains("refused access (HTTP 401)"), "{message}");
    env.wait_event(&own, "ChartPullFailed", "401", &ctl).await;

    for group in [&foreign, &own] {
        let status = serde_json::to_string(&env.group(group).await.unwrap()).unwrap();
        assert!(!status.contains(&password), "{status}");
        let events = format!("{:?}", env.events(group).await);
        assert!(!events.contains(&password), "{events}");
    }
    let log = ctl.log();
    assert!(
        log.contains("refused access"),
        "the failure was logged: {log}"
    );
    assert!(!log.contains(&password), "{log}");
}

/// A staging registry that wants credentials: the controller pushes with those of
/// `--staging-credentials-secret`, and the staging HelmRepository names that Secret so that Flux
/// pulls with them too.
#[tokio::test]
async fn a_staging_registry_with_credentials_is_pushed_to_and_named_for_flux() {
    let mut env = Env::new("rc-stagingauth").await;
    let registry = orkestra_tests::registry::Registry::start_with_basic_auth("stager", "s3cret")
        .await
        .unwrap();
    env.staging = registry.oci_url(&env.run);
    env.create_credentials(&env.namespace, "staging-creds", "stager", "s3cret")
        .await;
    let ctl = env.controller_with("a", &["--staging-credentials-secret", "staging-creds"]);
    let group = env
        .submitted_group("stagingauth", env.base("1.0.0"), &ctl)
        .await;
    // The Workflow is submitted before the status that reports it is written: wait for both.
    wait_for("the chart reported staged", &ctl, || async {
        let status = env.group(&group).await?.status?;
        status.applications.first()?.chart.staged.then_some(())
    })
    .await;
    // The chart is in the registry: it refuses to list without the credentials.
    let tags = reqwest::Client::new()
        .get(format!(
            "{}/v2/{}/hello/tags/list",
            registry.http_url(),
            env.run
        ))
        .basic_auth("stager", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(tags.status(), 200);
    let body: serde_json::Value = tags.json().await.unwrap();
    assert_eq!(body["tags"], serde_json::json!(["1.0.0"]));
    let source = env
        .helm_repositories()
        .get("orkestra-staging")
        .await
        .unwrap();
    assert_eq!(source.data["spec"]["secretRef"]["name"], "staging-creds");
    assert!(!ctl.log().contains("s3cret"));
}

/// Scenario 3: an update (new chart version, added application) → a new forward Workflow for
/// the new generation, replacing the old one.
#[tokio::test]
async fn an_update_submits_a_new_forward_workflow_for_the_new_generation() {
    let (env, ctl) = Env::with_controller("rc-update").await;
    let group = env.deployed_group("update", env.base("1.0.0"), &ctl).await;
    let first = env.workflows().get(&group).await.unwrap();

    env.update_applications(
        &group,
        vec![
            env.app("base", "hello", "1.2.0", &[]),
            env.app("extra", "hello", "1.0.0", &["base"]),
        ],
    )
    .await;
    let second = env.wait_workflow(&group, Some(2), &ctl).await;
    assert_ne!(first.metadata.uid, second.metadata.uid);
    assert_eq!(
        entry_dag(&second),
        vec![
            ("base".to_owned(), vec![]),
            ("extra".to_owned(), vec!["base".to_owned()])
        ]
    );
    assert_eq!(env.task_chart_version(&second, "base").await, "1.2.0");
    let progressing = env.wait_ready(&group, "Unknown", "Progressing", &ctl).await;
    assert_eq!(
        progressing
            .status
            .as_ref()
            .unwrap()
            .last_succeeded_generation,
        1
    );

    env.run_workflow(&group, "Succeeded").await;
    let ready = env.wait_ready(&group, "True", "Succeeded", &ctl).await;
    let status = ready.status.unwrap();
    assert_eq!(
        (status.observed_generation, status.last_succeeded_generation),
        (2, 2)
    );
    assert_eq!(
        status
            .applications
            .iter()
            .map(|a| (a.name.as_str(), a.chart.version.as_str()))
            .collect::<Vec<_>>(),
        [("base", "1.2.0"), ("extra", "1.0.0")]
    );
    env.wait_event(&group, "WorkflowReplaced", "", &ctl).await;
}

/// An update that drops an application uninstalls it: the new forward Workflow deletes its
/// HelmRelease (before installing the rest, dependents first among the removed ones), and once
/// "Argo" ran it the release is gone and the group is Ready without it.
#[tokio::test]
async fn an_update_uninstalls_the_applications_it_removes() {
    let (env, ctl) = Env::with_controller("rc-remove").await;
    let group = env
        .deployed_group(
            "remove",
            vec![
                env.app("base", "hello", "1.0.0", &[]),
                env.app("extra", "hello", "1.0.0", &["base"]),
                env.app("leaf", "hello", "1.0.0", &["extra"]),
            ],
            &ctl,
        )
        .await;
    env.update_applications(&group, env.base("1.2.0")).await;
    let update = env.wait_workflow(&group, Some(2), &ctl).await;
    assert_eq!(
        env.task_actions(&update).await,
        [
            ("base".to_owned(), "install".to_owned()),
            ("extra".to_owned(), "delete".to_owned()),
            ("leaf".to_owned(), "delete".to_owned()),
        ]
    );
    assert_eq!(
        entry_dag(&update),
        vec![
            ("extra".to_owned(), vec!["leaf".to_owned()]),
            ("leaf".to_owned(), vec![]),
            ("base".to_owned(), vec!["extra".to_owned()]),
        ],
        "removals first, dependents first; then the new spec"
    );

    env.run_workflow(&group, "Succeeded").await;
    let ready = wait_for("generation 2 Ready=True", &ctl, || async {
        let g = env.group(&group).await?;
        let done = g.status.as_ref()?.last_succeeded_generation == 2
            && condition(&g, "Ready")?.status == "True";
        done.then_some(g)
    })
    .await;
    let status = ready.status.unwrap();
    assert_eq!(status.last_succeeded_generation, 2);
    assert_eq!(
        status
            .applications
            .iter()
            .map(|a| (a.name.as_str(), a.chart.version.as_str()))
            .collect::<Vec<_>>(),
        [("base", "1.2.0")]
    );
}

/// Scenario 4: a failed upgrade → the rollback Workflow: the added application deleted first,
/// the previous versions installed; WorkflowFailed, then RollbackWorkflowSucceeded=True.
#[tokio::test]
async fn a_failed_upgrade_rolls_back_to_the_last_successful_spec() {
    let (env, ctl) = Env::with_controller("rc-rollback").await;
    let group = env
        .deployed_group("rollback", env.base("1.0.0"), &ctl)
        .await;

    env.update_applications(
        &group,
        vec![
            env.app("base", "hello", "1.2.0", &[]),
            env.app("extra", "hello", "1.0.0", &["base"]),
        ],
    )
    .await;
    env.wait_workflow(&group, Some(2), &ctl).await;
    env.set_phase(&group, "Failed", "child 'base' failed").await;

    let rollback_name = format!("{group}-rollback");
    let rollback = env.wait_workflow(&rollback_name, Some(2), &ctl).await;
    // The added application deleted, the previous version installed, nothing else.
    assert_eq!(
        env.task_actions(&rollback).await,
        [
            ("base".to_owned(), "install".to_owned()),
            ("extra".to_owned(), "delete".to_owned()),
        ]
    );
    for name in ["base", "extra"] {
        let version = env.task_chart_version(&rollback, name).await;
        assert_eq!(version, "1.0.0", "{name}");
    }

    let failed = env
        .wait_ready(&group, "False", "WorkflowFailed", &ctl)
        .await;
    assert!(
        condition(&failed, "Ready")
            .unwrap()
            .message
            .contains("child 'base' failed")
    );
    assert_standing(
        &failed,
        &[
            ("ForwardWorkflowSucceeded", "False", "Failed"),
            ("RollbackWorkflowSucceeded", "Unknown", "Progressing"),
        ],
    );

    env.run_workflow(&rollback_name, "Succeeded").await;
    let rolled_back = env
        .wait_condition(&group, "RollbackWorkflowSucceeded", "True", &ctl)
        .await;
    assert_eq!(
        condition(&rolled_back, "Ready").unwrap().reason,
        "WorkflowFailed"
    );
    assert_standing(
        &rolled_back,
        &[("RollbackWorkflowSucceeded", "True", "Succeeded")],
    );
    assert_eq!(rolled_back.status.unwrap().last_succeeded_generation, 1);
}

/// The last successful spec is recorded as it was deployed, each version range pinned to the
/// version it resolved to: a rollback restores the chart that ran, even once a newer one in the
/// range was published (and deployed by the failed update).
#[tokio::test]
async fn a_rollback_restores_the_version_that_ran_not_a_newer_one_in_its_range() {
    use orkestra_tests::chart_repo::{ChartRepo, RepoOptions};
    use orkestra_tests::charts::{Published, plain, write_repo};
    let (env, ctl) = Env::with_controller("rc-pinned").await;
    let charts = tempfile::tempdir().unwrap();
    let publish = |versions: &[&str]| {
        let published: Vec<Published> = versions
            .iter()
            .map(|v| Published::from(&plain("tool", v)))
            .collect();
        write_repo(charts.path(), &published).unwrap();
    };
    publish(&["1.0.0"]);
    let repo = ChartRepo::start(charts.path(), RepoOptions::default())
        .await
        .unwrap();
    let mut tool = env.app("tool", "tool", "^1.0", &[]);
    tool["spec"]["chart"]["url"] = repo.url.clone().into();
    let group = env.deployed_group("pinned", vec![tool.clone()], &ctl).await;
    let annotations = env
        .group(&group)
        .await
        .unwrap()
        .metadata
        .annotations
        .unwrap();
    let recorded: orkestra_shared::crd::ApplicationGroupSpec =
        serde_json::from_str(&annotations[LAST_SUCCESSFUL_ANNOTATION]).unwrap();
    assert_eq!(
        recorded.applications[0].spec.chart.version.as_deref(),
        Some("1.0.0")
    );

    publish(&["1.0.0", "1.1.0"]);
    env.update_applications(
        &group,
        vec![tool, env.app("extra", "hello", "1.0.0", &["tool"])],
    )
    .await;
    let update = env.wait_workflow(&group, Some(2), &ctl).await;
    assert_eq!(env.task_chart_version(&update, "tool").await, "1.1.0");
    env.set_phase(&group, "Failed", "child 'tool' failed").await;
    let rollback = env
        .wait_workflow(&format!("{group}-rollback"), Some(2), &ctl)
        .await;
    assert_eq!(env.task_chart_version(&rollback, "tool").await, "1.0.0");
}

/// Scenario 5: a failure on first install (no successful spec to go back to) → reverse Workflow.
/// Deleting the group afterwards does not run that teardown again: the finalizer is released
/// with the finished reverse Workflow left as it was.
#[tokio::test]
async fn a_failed_first_install_is_torn_down_once_by_the_reverse_workflow() {
    let (env, ctl) = Env::with_controller("rc-firstfail").await;
    let group = env
        .submitted_group("firstfail", env.base_and_web(), &ctl)
        .await;
    env.set_phase(&group, "Failed", "child 'web' failed").await;

    let reverse_name = format!("{group}-reverse");
    let reverse = env.wait_workflow(&reverse_name, Some(1), &ctl).await;
    // Dependents first.
    assert_eq!(
        entry_dag(&reverse),
        vec![
            ("base".to_owned(), vec!["web".to_owned()]),
            ("web".to_owned(), vec![])
        ]
    );
    assert!(
        env.task_releases(&reverse)
            .await
            .iter()
            .all(|(_, action)| action == "delete")
    );
    assert!(
        env.workflows()
            .get_opt(&format!("{group}-rollback"))
            .await
            .unwrap()
            .is_none()
    );
    env.wait_ready(&group, "False", "WorkflowFailed", &ctl)
        .await;

    env.run_workflow(&reverse_name, "Succeeded").await;
    env.wait_condition(&group, "ReverseWorkflowSucceeded", "True", &ctl)
        .await;
    let finished = env.workflows().get(&reverse_name).await.unwrap();

    env.delete_group(&group).await;
    env.wait_gone(&group, &ctl).await;
    // The garbage collector takes the group's Workflows once it is gone; until then the reverse
    // one is the finished object, not a replacement.
    if let Some(after) = env.workflows().get_opt(&reverse_name).await.unwrap() {
        assert_eq!(
            (after.metadata.uid.clone(), workflow_generation(&after)),
            (
                finished.metadata.uid.clone(),
                workflow_generation(&finished)
            ),
            "the finished reverse Workflow is not replaced"
        );
    }
    env.wait_event(&group, "Finalized", &reverse_name, &ctl)
        .await;
    assert!(
        !env.events(&group)
            .await
            .iter()
            .any(|(r, _)| r == "Terminating"),
        "no second teardown was submitted"
    );
}

/// Scenario 6: delete during a rollout → the forward Workflow is suspended, the reverse one runs,
/// the finalizer is released when it ends and the group is gone.
#[tokio::test]
async fn deleting_during_a_rollout_suspends_it_runs_the_reverse_workflow_and_releases_the_group() {
    let (env, ctl) = Env::with_controller("rc-delete").await;
    let group = env.submitted_group("delete", env.base("1.0.0"), &ctl).await;
    env.set_phase(&group, "Running", "").await;
    env.wait_ready(&group, "Unknown", "Progressing", &ctl).await;

    env.delete_group(&group).await;
    let reverse_name = format!("{group}-reverse");
    env.wait_workflow(&reverse_name, None, &ctl).await;
    let forward = env.workflows().get(&group).await.unwrap();
    assert_eq!(
        forward.data["spec"]["suspend"], true,
        "the forward workflow is suspended"
    );
    let terminating = env.wait_ready(&group, "False", "Terminating", &ctl).await;
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert_standing(
        &terminating,
        &[
            ("ForwardWorkflowSucceeded", "Unknown", "Suspended"),
            ("ReverseWorkflowSucceeded", "Unknown", "Progressing"),
        ],
    );

    env.run_workflow(&reverse_name, "Succeeded").await;
    env.wait_gone(&group, &ctl).await;
}

/// A foreground delete in the middle of a rollout: the garbage collector deletes the group's
/// Workflows at once, but their finalizer keeps them until the teardown is done. The releases are
/// still removed by the reverse Workflow, then the Workflows and the group go.
#[tokio::test]
async fn a_foreground_delete_mid_rollout_still_tears_down_by_the_reverse_workflow() {
    let (env, ctl) = Env::with_controller("rc-fg-delete").await;
    let group = env.submitted_group("fg", env.base("1.0.0"), &ctl).await;
    let installed = env.perform_tasks(&group).await;
    assert_eq!(
        installed.len(),
        1,
        "the forward Workflow installs one release"
    );
    env.set_phase(&group, "Running", "").await;

    env.delete_group_foreground(&group).await;
    // The garbage collector deletes the forward Workflow; its finalizer keeps it for the teardown.
    wait_for(
        "the forward Workflow to be marked for deletion",
        &ctl,
        || async {
            let forward = env.workflows().get_opt(&group).await.unwrap()?;
            forward.metadata.deletion_timestamp.is_some().then_some(())
        },
    )
    .await;
    let reverse_name = format!("{group}-reverse");
    let reverse = env.wait_workflow(&reverse_name, None, &ctl).await;
    // The reverse Workflow deletes the installed release (the real uninstall is proved with real
    // Flux in rollout.rs, `a_foreground_delete_mid_rollout_uninstalls_everything`). Its
    // HelmReleases, written while the garbage collector deletes the group's objects, are there.
    env.finish_teardown(&group, &reverse, &installed, &ctl)
        .await;
    for name in [&group, &reverse_name] {
        assert!(
            env.workflows().get_opt(name).await.unwrap().is_none(),
            "{name} is gone"
        );
    }
    // The ConfigMaps of the HelmReleases go with the group.
    let stores: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.namespace);
    wait_for("the group's ConfigMaps to be collected", &ctl, || async {
        let left = stores.list(&ListParams::default()).await.unwrap().items;
        left.iter()
            .all(|c| {
                !c.metadata
                    .name
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with(&group)
            })
            .then_some(())
    })
    .await;
}

/// A foreground delete while a failed first install's remediation (the reverse Workflow) still
/// runs: the garbage collector takes that Workflow with its release stores (and, with real Argo,
/// its pods), so it cannot finish, and Argo fails it. The teardown does not take that failure for
/// its own: it runs a reverse Workflow of its own, whose steps find their HelmReleases.
#[tokio::test]
async fn a_foreground_delete_during_a_remediation_tears_down_with_a_reverse_workflow_of_its_own() {
    let (env, ctl) = Env::with_controller("rc-fg-remedy").await;
    let group = env
        .submitted_group("fgremedy", env.base("1.0.0"), &ctl)
        .await;
    let installed = env.perform_tasks(&group).await;
    env.set_phase(&group, "Failed", "child 'base' failed").await;
    let reverse_name = format!("{group}-reverse");
    let remediation = env.wait_workflow(&reverse_name, Some(1), &ctl).await;
    env.set_phase(&reverse_name, "Running", "").await;
    let stores: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.namespace);
    let store_name = format!("{reverse_name}-releases-0");
    let store = stores.get(&store_name).await.unwrap();

    env.delete_group_foreground(&group).await;
    wait_for(
        "the remediation's release store to be collected",
        &ctl,
        || async {
            let now = stores.get_opt(&store_name).await.unwrap();
            (now.and_then(|s| s.metadata.uid) != store.metadata.uid).then_some(())
        },
    )
    .await;
    // Plays Argo: the collected Workflow's steps cannot run. It may already be gone (released).
    let failed = serde_json::json!({"status": {"phase": "Failed", "message": "pod deleted"}});
    let _gone = env
        .workflows()
        .patch(
            &reverse_name,
            &PatchParams::default(),
            &Patch::Merge(&failed),
        )
        .await;

    let teardown = env.wait_replaced(&remediation, &ctl).await;
    env.finish_teardown(&group, &teardown, &installed, &ctl)
        .await;
}

/// A failed first install's remediation that a later generation's rollout suspended (the user
/// fixed the spec while it ran) cannot tear the group down: nothing resumes it, and it was planned
/// from the older spec, without what the later generation installed. Deleting the group replaces
/// it with the teardown's own reverse Workflow, which removes everything (before: the teardown
/// waited for the suspended Workflow forever).
#[tokio::test]
async fn a_teardown_replaces_a_remediation_that_a_later_rollout_suspended() {
    let (env, ctl) = Env::with_controller("rc-suspended-remedy").await;
    let group = env
        .submitted_group("susremedy", env.base("1.0.0"), &ctl)
        .await;
    env.perform_tasks(&group).await;
    env.set_phase(&group, "Failed", "child 'base' failed").await;
    let reverse_name = format!("{group}-reverse");
    let remediation = env.wait_workflow(&reverse_name, Some(1), &ctl).await;
    env.set_phase(&reverse_name, "Running", "").await;

    env.update_applications(&group, env.base_and_web()).await;
    env.wait_workflow(&group, Some(2), &ctl).await;
    let suspended = env.workflows().get(&reverse_name).await.unwrap();
    assert_eq!(
        suspended.data["spec"]["suspend"], true,
        "generation 2's rollout suspended the remediation"
    );
    let installed = env.perform_tasks(&group).await;
    assert_eq!(installed.len(), 2, "{installed:?}");

    env.delete_group(&group).await;
    let teardown = env.wait_replaced(&remediation, &ctl).await;
    env.finish_teardown(&group, &teardown, &installed, &ctl)
        .await;
}

/// A failed first install's remediation that failed too (an uninstall timed out) left releases
/// installed: deleting the group replaces it with the teardown's own reverse Workflow, which
/// removes everything (before: the group was released at once, "already ran after the last
/// forward workflow", and the releases stayed).
#[tokio::test]
async fn a_teardown_replaces_a_remediation_that_failed() {
    let (env, ctl) = Env::with_controller("rc-failed-remedy").await;
    let group = env
        .submitted_group("failremedy", env.base("1.0.0"), &ctl)
        .await;
    let installed = env.perform_tasks(&group).await;
    env.set_phase(&group, "Failed", "child 'base' failed").await;
    let reverse_name = format!("{group}-reverse");
    let remediation = env.wait_workflow(&reverse_name, Some(1), &ctl).await;
    env.set_phase(&reverse_name, "Failed", "uninstall timed out")
        .await;
    env.wait_condition(&group, "ReverseWorkflowSucceeded", "False", &ctl)
        .await;

    env.delete_group(&group).await;
    let teardown = env.wait_replaced(&remediation, &ctl).await;
    env.finish_teardown(&group, &teardown, &installed, &ctl)
        .await;
}

/// A deployed group whose forward Workflow someone deleted (by hand, or an Argo TTL) still has
/// its releases: deleting the group tears them down with a reverse Workflow (before, the group
/// was released at once, "no forward workflow was ever submitted", and the releases stayed).
#[tokio::test]
async fn a_group_whose_forward_workflow_was_deleted_is_still_torn_down() {
    let (env, ctl) = Env::with_controller("rc-no-forward").await;
    let group = env
        .deployed_group("noforward", env.base_and_web(), &ctl)
        .await;
    env.delete_workflow(&group, &ctl).await;
    let installed = env.helm_release_names().await;
    assert_eq!(installed.len(), 2, "{installed:?}");

    env.delete_and_tear_down(&group, &installed, &ctl).await;
}

/// An update that dropped `web` failed and was rolled back, so `web` is installed again while the
/// spec no longer names it. Deleting the group deletes it too: the teardown first deletes the
/// group's HelmReleases that the spec does not name (before, `web` stayed installed).
#[tokio::test]
async fn a_teardown_after_a_rollback_deletes_what_the_rollback_put_back() {
    let (env, ctl) = Env::with_controller("rc-leftover").await;
    let group = env
        .deployed_group("leftover", env.base_and_web(), &ctl)
        .await;
    env.update_applications(&group, env.base("1.2.0")).await;
    env.wait_workflow(&group, Some(2), &ctl).await;
    env.run_workflow(&group, "Failed").await;
    let rollback = env
        .wait_workflow(&format!("{group}-rollback"), Some(2), &ctl)
        .await;
    env.run_workflow(rollback.metadata.name.as_deref().unwrap(), "Succeeded")
        .await;
    env.wait_condition(&group, "RollbackWorkflowSucceeded", "True", &ctl)
        .await;
    let installed = env.helm_release_names().await;
    assert_eq!(installed, ["base", "web"], "the rollback put web back");

    env.delete_and_tear_down(&group, &installed, &ctl).await;
}

/// A failed upgrade's forward Workflow deleted while its rollback runs (by a person, or an Argo
/// TTL after the failure): the rollback is still observed and its outcome reported (before, the
/// status said "rolling back … Running" for good).
#[tokio::test]
async fn a_rollback_is_still_reported_after_the_failed_forward_workflow_is_deleted() {
    let (env, ctl) = Env::with_controller("rc-rb-noforward").await;
    let group = env
        .deployed_group("rbnoforward", env.base("1.0.0"), &ctl)
        .await;
    env.update_applications(&group, env.base("1.2.0")).await;
    env.wait_workflow(&group, Some(2), &ctl).await;
    env.set_phase(&group, "Failed", "child 'base' failed").await;
    let rollback = env
        .wait_workflow(&format!("{group}-rollback"), Some(2), &ctl)
        .await;
    env.delete_workflow(&group, &ctl).await;

    env.run_workflow(rollback.metadata.name.as_deref().unwrap(), "Succeeded")
        .await;
    let rolled_back = env
        .wait_condition(&group, "RollbackWorkflowSucceeded", "True", &ctl)
        .await;
    let ready = condition(&rolled_back, "Ready").unwrap();
    assert!(
        ready.message.ends_with("rollback workflow succeeded"),
        "{ready:?}"
    );
}

/// A deployed group whose forward Workflow was deleted (an Argo TTL) still follows its releases:
/// one failing later makes Ready False (before, Ready stayed True).
#[tokio::test]
async fn ready_still_follows_the_releases_after_the_forward_workflow_is_deleted() {
    let (env, ctl) = Env::with_controller("rc-ready-noforward").await;
    let group = env
        .deployed_group("readynoforward", env.base("1.0.0"), &ctl)
        .await;
    env.delete_workflow(&group, &ctl).await;
    env.set_release_ready("base", "False", "UpgradeFailed", "Helm upgrade failed")
        .await;
    let degraded = env.wait_ready(&group, "False", "Progressing", &ctl).await;
    let ready = condition(&degraded, "Ready").unwrap();
    assert!(
        ready
            .message
            .contains(&format!("{}/base (failed: UpgradeFailed)", env.namespace)),
        "{ready:?}"
    );
}

/// An update that drops an application the generation before it installed while it was still
/// rolling out: the last good spec never had it, so only the cluster says it is there. The
/// forward Workflow deletes it first (before, it stayed installed for good).
#[tokio::test]
async fn an_update_deletes_what_an_interrupted_rollout_installed() {
    let (env, ctl) = Env::with_controller("rc-interrupted").await;
    let group = env
        .deployed_group("interrupted", env.base("1.0.0"), &ctl)
        .await;
    env.update_applications(&group, env.base_and_web()).await;
    env.wait_workflow(&group, Some(2), &ctl).await;
    env.perform_tasks(&group).await;
    assert_eq!(env.helm_release_names().await, ["base", "web"]);

    env.update_applications(&group, env.base("1.0.0")).await;
    let forward = env.wait_workflow(&group, Some(3), &ctl).await;
    assert_eq!(
        env.task_actions(&forward).await,
        [
            ("base".to_owned(), "install".to_owned()),
            ("web".to_owned(), "delete".to_owned()),
        ]
    );
    env.run_workflow(&group, "Succeeded").await;
    env.wait_ready(&group, "True", "Succeeded", &ctl).await;
    assert_eq!(env.helm_release_names().await, ["base"]);
}

/// A ConfigMap that has the name of one of the group's release stores but is someone else's is
/// neither overwritten nor taken over: the Workflow waits until it is gone.
#[tokio::test]
async fn a_foreign_config_map_with_a_release_store_name_is_left_alone() {
    let mut env = Env::new("rc-store-taken").await;
    // Nothing tells the controller that a person removed the ConfigMap: it looks again after its
    // backoff for names taken by others (a minute at first).
    env.patience = std::time::Duration::from_secs(150);
    let ctl = env.controller("a");
    let group = unique_name("taken");
    let stores: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.namespace);
    let theirs: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("{group}-releases-0")}, "data": {"mine": "keep"}}))
    .unwrap();
    stores.create(&Default::default(), &theirs).await.unwrap();
    env.create_group_named(group.clone(), env.base("1.0.0"))
        .await;
    let message = env
        .wait_refused(&group, "WorkflowTemplateGenerationFailed", &ctl)
        .await;
    assert!(
        message.starts_with(&format!(
            "ConfigMap {}/{group}-releases-0 exists and was not written by Orkestra",
            env.namespace
        )),
        "the status says what is in the way: {message}"
    );
    let kept = stores.get(&format!("{group}-releases-0")).await.unwrap();
    assert_eq!(
        kept.data.unwrap().get("mine").map(String::as_str),
        Some("keep")
    );
    assert!(env.workflows().get_opt(&group).await.unwrap().is_none());

    // Once it is gone, the Workflow goes in, with its own store.
    stores
        .delete(&format!("{group}-releases-0"), &Default::default())
        .await
        .unwrap();
    let wf = env.wait_workflow(&group, Some(1), &ctl).await;
    assert_eq!(
        env.task_chart_version(&wf, "base").await,
        "1.0.0",
        "the store the Workflow refers to is the controller's"
    );
}

/// Group `x`'s reverse Workflow and group `x-reverse`'s forward one share a name, and so the
/// names of their release stores: `x`'s remediation must neither rewrite nor delete the stores of
/// `x-reverse`'s running Workflow (before, it took them over as its own, and the other group's
/// steps then failed), and says what is in the way.
#[tokio::test]
async fn the_release_stores_of_another_groups_workflow_of_the_same_name_are_left_alone() {
    let (env, ctl) = Env::with_controller("rc-store-clash").await;
    let group = unique_name("clash");
    let other = env
        .create_group_named(format!("{group}-reverse"), env.base("1.0.0"))
        .await;
    env.wait_workflow(&other, Some(1), &ctl).await;
    let stores: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.namespace);
    let store = format!("{other}-releases-0");
    let before = stores.get(&store).await.unwrap();

    env.create_group_named(group.clone(), env.base_and_web())
        .await;
    env.wait_workflow(&group, Some(1), &ctl).await;
    env.set_phase(&group, "Failed", "child 'base' failed").await;
    let refused = wait_for("the remediation to be refused", &ctl, || async {
        let g = env.group(&group).await?;
        let ready = condition(&g, "Ready")?;
        ready
            .message
            .contains("cannot submit the reverse workflow")
            .then_some(ready.message.clone())
    })
    .await;
    let after = stores.get(&store).await.unwrap();
    assert_eq!(
        after.data, before.data,
        "the other group's HelmReleases are kept"
    );
    assert_eq!(
        after.metadata.owner_references,
        before.metadata.owner_references
    );
    let in_the_way = format!(
        "ConfigMap {}/{store} exists and was not written by Orkestra",
        env.namespace
    );
    assert!(
        refused.contains(&in_the_way),
        "the status says what is in the way: {refused}"
    );
}

/// A Workflow with the name a group's forward Workflow needs, which Orkestra did not make for
/// it, is never touched: the status says so until someone removes it.
#[tokio::test]
async fn a_foreign_workflow_with_the_groups_name_is_left_alone() {
    let mut env = Env::new("rc-wf-taken").await;
    // Nothing tells the controller that a person removed the Workflow: it looks again after its
    // backoff for names taken by others (a minute at first).
    env.patience = std::time::Duration::from_secs(150);
    let ctl = env.controller("a");
    let group = unique_name("wftaken");
    let created = foreign_workflow(&env, &group).await;
    env.create_group_named(group.clone(), env.base("1.0.0"))
        .await;
    let message = env
        .wait_refused(&group, "WorkflowTemplateGenerationFailed", &ctl)
        .await;
    assert_eq!(
        message,
        format!(
            "Workflow {}/{group} exists and was not created by Orkestra for this group: delete or rename it",
            env.namespace
        )
    );
    let kept = env.workflows().get(&group).await.unwrap();
    assert_eq!(kept.metadata.uid, created.metadata.uid, "not replaced");
    assert_eq!(kept.data["spec"], created.data["spec"], "not changed");
    assert!(kept.metadata.owner_references.is_none(), "not taken over");

    // Once it is gone, the group's own Workflow goes in.
    env.workflows()
        .delete(&group, &Default::default())
        .await
        .unwrap();
    let wf = env.wait_workflow(&group, Some(1), &ctl).await;
    assert_ne!(wf.metadata.uid, created.metadata.uid);
    env.wait_ready(&group, "Unknown", "Progressing", &ctl).await;
}

/// Creates a Workflow named `name` that Orkestra did not make; returns it as created.
async fn foreign_workflow(env: &Env, name: &str) -> DynamicObject {
    let theirs: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
        "metadata": {"name": name, "labels": {"made-by": "someone-else"}},
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "suspend": {}}]},
    }))
    .unwrap();
    env.workflows()
        .create(&Default::default(), &theirs)
        .await
        .unwrap()
}

/// A failed first install whose reverse Workflow's name is someone else's Workflow: the status
/// says so (not only the log), theirs is left as it is, and ours goes in once theirs is gone.
#[tokio::test]
async fn a_remediation_blocked_by_a_foreign_workflow_says_so() {
    let mut env = Env::new("rc-remedy-taken").await;
    // Nothing tells the controller that a person removed the Workflow: it looks again after its
    // backoff for names taken by others (a minute at first).
    env.patience = std::time::Duration::from_secs(150);
    let ctl = env.controller("a");
    let group = env
        .submitted_group("remedytaken", env.base("1.0.0"), &ctl)
        .await;
    let reverse_name = format!("{group}-reverse");
    let theirs = foreign_workflow(&env, &reverse_name).await;
    env.set_phase(&group, "Failed", "child 'base' failed").await;

    let message = env.wait_refused(&group, "WorkflowFailed", &ctl).await;
    assert!(
        message.ends_with(&format!(
            "; cannot submit the reverse workflow: Workflow {}/{reverse_name} exists and was not created by Orkestra for this group: delete or rename it",
            env.namespace
        )),
        "the status says what is in the way: {message}"
    );
    let kept = env.workflows().get(&reverse_name).await.unwrap();
    assert_eq!(kept.metadata.uid, theirs.metadata.uid, "not replaced");
    assert_eq!(kept.data["spec"], theirs.data["spec"], "not changed");

    env.workflows()
        .delete(&reverse_name, &Default::default())
        .await
        .unwrap();
    let ours = env.wait_workflow(&reverse_name, Some(1), &ctl).await;
    assert_ne!(ours.metadata.uid, theirs.metadata.uid);
}

/// A failed upgrade whose rollback needs a release-store ConfigMap name that someone else's
/// ConfigMap has: the status says so, theirs is kept, and the rollback goes in once it is gone.
#[tokio::test]
async fn a_rollback_blocked_by_a_foreign_config_map_says_so() {
    let mut env = Env::new("rc-rollback-taken").await;
    env.patience = std::time::Duration::from_secs(150);
    let ctl = env.controller("a");
    let group = env
        .deployed_group("rollbacktaken", env.base("1.0.0"), &ctl)
        .await;
    env.update_applications(&group, vec![env.app("base", "hello", "1.2.0", &[])])
        .await;
    env.wait_workflow(&group, Some(2), &ctl).await;
    let rollback_name = format!("{group}-rollback");
    let store = format!("{rollback_name}-releases-0");
    let stores: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.namespace);
    let theirs: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": store}, "data": {"mine": "keep"}}))
    .unwrap();
    stores.create(&Default::default(), &theirs).await.unwrap();
    env.set_phase(&group, "Failed", "child 'base' failed").await;

    let message = env.wait_refused(&group, "WorkflowFailed", &ctl).await;
    assert!(
        message.contains(&format!(
            "; cannot submit the rollback workflow: ConfigMap {}/{store} exists and was not written by Orkestra",
            env.namespace
        )),
        "the status says what is in the way: {message}"
    );
    let kept = stores.get(&store).await.unwrap();
    assert_eq!(
        kept.data.unwrap().get("mine").map(String::as_str),
        Some("keep")
    );
    assert!(
        env.workflows()
            .get_opt(&rollback_name)
            .await
            .unwrap()
            .is_none()
    );

    stores.delete(&store, &Default::default()).await.unwrap();
    let rollback = env.wait_workflow(&rollback_name, Some(2), &ctl).await;
    assert_eq!(env.task_chart_version(&rollback, "base").await, "1.0.0");
}

/// A teardown whose reverse Workflow's name is someone else's Workflow: the group stays, its
/// status says what is in the way, and the teardown goes on once theirs is gone.
#[tokio::test]
async fn a_teardown_blocked_by_a_foreign_workflow_says_so() {
    let mut env = Env::new("rc-teardown-taken").await;
    env.patience = std::time::Duration::from_secs(150);
    let ctl = env.controller("a");
    let group = env
        .submitted_group("teardowntaken", env.base("1.0.0"), &ctl)
        .await;
    env.set_phase(&group, "Running", "").await;
    env.wait_ready(&group, "Unknown", "Progressing", &ctl).await;
    let reverse_name = format!("{group}-reverse");
    let theirs = foreign_workflow(&env, &reverse_name).await;

    env.delete_group(&group).await;
    let message = env.wait_refused(&group, "Terminating", &ctl).await;
    assert_eq!(
        message,
        format!(
            "cannot submit the reverse workflow: Workflow {}/{reverse_name} exists and was not created by Orkestra for this group: delete or rename it",
            env.namespace
        )
    );
    let kept = env.workflows().get(&reverse_name).await.unwrap();
    assert_eq!(kept.metadata.uid, theirs.metadata.uid, "not replaced");
    assert!(
        env.group(&group).await.is_some(),
        "the group waits for its teardown"
    );

    env.workflows()
        .delete(&reverse_name, &Default::default())
        .await
        .unwrap();
    let ours = env.wait_workflow(&reverse_name, None, &ctl).await;
    assert_ne!(ours.metadata.uid, theirs.metadata.uid);
    env.run_workflow(&reverse_name, "Succeeded").await;
    env.wait_gone(&group, &ctl).await;
}

/// A group that never got a forward Workflow (its charts never staged) is released at once.
#[tokio::test]
async fn deleting_a_group_that_never_deployed_releases_it_at_once() {
    let (env, ctl) = Env::with_controller("rc-delete-now").await;
    let group = env.create_group("never", env.base("9.9.9")).await;
    env.wait_ready(&group, "False", "ChartPullFailed", &ctl)
        .await;
    env.delete_group(&group).await;
    env.wait_gone(&group, &ctl).await;
    assert!(
        env.workflows()
            .get_opt(&format!("{group}-reverse"))
            .await
            .unwrap()
            .is_none()
    );
}

/// Scenario 7: the controller killed mid-rollout and started again → the same Workflow (no
/// duplicate), and the status continues.
#[tokio::test]
async fn a_restarted_controller_continues_without_submitting_twice() {
    let env = Env::new("rc-restart").await;
    let mut first = env.controller("a");
    let group = env.create_group("restart", env.base("1.0.0")).await;
    let submitted = env.wait_workflow(&group, Some(1), &first).await;
    env.wait_ready(&group, "Unknown", "Progressing", &first)
        .await;
    // Events go out in the background: let the first replica's reach the API server before it is
    // killed, or there would be no submission to count.
    env.wait_event(&group, "WorkflowSubmitted", "", &first)
        .await;
    first.kill();

    env.set_phase(&group, "Running", "").await;
    let second = env.controller("b");
    env.wait_ready(&group, "Unknown", "Progressing", &second)
        .await;
    env.run_workflow(&group, "Succeeded").await;
    env.wait_ready(&group, "True", "Succeeded", &second).await;
    let workflows = env.workflows().list(&Default::default()).await.unwrap();
    assert_eq!(workflows.items.len(), 1, "one Workflow");
    assert_eq!(
        workflows.items[0].metadata.uid, submitted.metadata.uid,
        "the same Workflow, not a new one"
    );
    assert_eq!(submissions(&env, &group, &second).await, 1);
}

/// A group deleted while no controller ran (its finalizer removed by hand) leaves its Workflow
/// until the garbage collector gets to it, which may lag. A new group of the same name must not
/// take that Workflow, finished or not, as its own: it replaces it. The test takes the Workflow's
/// owner reference away, so this cluster's garbage collector leaves it as a lagging one would.
#[tokio::test]
async fn a_workflow_left_by_a_deleted_group_of_the_same_name_is_replaced() {
    let env = Env::new("rc-same-name").await;
    let mut first = env.controller("a");
    let group = env.create_group("same", env.base("1.0.0")).await;
    let left = env.wait_workflow(&group, Some(1), &first).await;
    first.kill();
    env.set_phase(&group, "Succeeded", "").await;
    let no_owner = serde_json::json!({"metadata": {"ownerReferences": null}});
    env.workflows()
        .patch(
            &group,
            &Default::default(),
            &kube::api::Patch::Merge(&no_owner),
        )
        .await
        .unwrap();
    let no_finalizers = serde_json::json!({"metadata": {"finalizers": null}});
    env.groups()
        .patch(
            &group,
            &Default::default(),
            &kube::api::Patch::Merge(&no_finalizers),
        )
        .await
        .unwrap();
    env.delete_group(&group).await;

    let second = env.controller("b");
    env.wait_gone(&group, &second).await;
    let still_left = env.workflows().get(&group).await.unwrap();
    assert!(
        still_left.metadata.deletion_timestamp.is_none(),
        "the left Workflow is not being deleted"
    );
    env.create_group_named(group.clone(), env.base("1.0.0"))
        .await;
    let uid = env.group(&group).await.unwrap().metadata.uid.unwrap();
    let ours = wait_for("the left Workflow to be replaced", &second, || async {
        let wf = env.workflows().get_opt(&group).await.unwrap()?;
        let owners = wf.metadata.owner_references.clone().unwrap_or_default();
        owners.iter().any(|o| o.uid == uid).then_some(wf)
    })
    .await;
    assert_lints(&ours).await;
    assert_ne!(ours.metadata.uid, left.metadata.uid);
    let progressing = env
        .wait_ready(&group, "Unknown", "Progressing", &second)
        .await;
    assert_eq!(progressing.status.unwrap().last_succeeded_generation, 0);
}

/// Scenario 8: two replicas → exactly one acts (the Lease holder); killed, the other takes over.
#[tokio::test]
async fn of_two_replicas_one_acts_and_the_other_takes_over_when_it_dies() {
    let env = Env::new("rc-ha").await;
    let mut a = env.controller("a");
    wait_for("replica a to lead", &a, || async {
        a.log().contains("leading").then_some(())
    })
    .await;
    // The standby talks to the API server through a proxy that sees every request it makes.
    let proxy = orkestra_tests::api_proxy::ApiProxy::start(&env.cluster)
        .await
        .unwrap();
    let b = env.controller_via("b", &proxy.kubeconfig(), &[]);
    let group = env.create_group("ha", env.base("1.0.0")).await;
    env.wait_workflow(&group, Some(1), &a).await;
    env.wait_ready(&group, "Unknown", "Progressing", &a).await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(
        !b.log().contains("leading"),
        "the standby does not act:\n{}",
        b.log()
    );
    let seen = proxy.requests();
    assert!(
        seen.iter().any(|r| r.is_lease()),
        "the standby tried for the Lease through the proxy"
    );
    let writes: Vec<String> = seen
        .iter()
        .filter(|r| r.is_write() && !r.is_lease())
        .map(|r| format!("{} {}", r.method, r.uri))
        .collect();
    assert!(writes.is_empty(), "the standby wrote: {writes:?}");
    assert_eq!(submissions(&env, &group, &a).await, 1);

    a.kill();
    wait_for("replica b to take over", &b, || async {
        b.log().contains("leading").then_some(())
    })
    .await;
    env.update_applications(&group, env.base("1.2.0")).await;
    env.wait_workflow(&group, Some(2), &b).await;
    env.run_workflow(&group, "Succeeded").await;
    let ready = env.wait_ready(&group, "True", "Succeeded", &b).await;
    assert_eq!(ready.status.unwrap().last_succeeded_generation, 2);
}

/// WorkflowSubmitted events of a group, once there is at least one (Events are published in the
/// background) and a moment later, so that a duplicate would have shown up too.
/// The admin address a replica logged (`--admin-addr 127.0.0.1:0` picks a free port).
async fn admin_address(ctl: &reconcile_support::Controller) -> String {
    wait_for("the admin server to listen", ctl, || async {
        let log = ctl.log();
        let line = log.lines().find(|l| l.contains("admin server listening"))?;
        // NB: the log may be coloured; the address is the one loopback address on the line.
        let port: String = line
            .split("127.0.0.1:")
            .nth(1)?
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        Some(format!("127.0.0.1:{port}"))
    })
    .await
}

/// GET `http://<admin><path>`: status and body.
async fn admin_get(admin: &str, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://{admin}{path}")).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// A replica that loses its Lease mid-reconcile (the Lease API cut off at a proxy that counts its
/// requests) stops at once: once its Lease has expired it makes no write, although a reconcile
/// was in flight (staging from a slow repository) when the Lease was lost. Standby and leader are
/// both Ready; the leader metric says which leads.
#[tokio::test]
async fn a_replica_that_loses_its_lease_writes_nothing_after_it_expires() {
    let env = Env::new("rc-lost").await;
    let proxy = orkestra_tests::api_proxy::ApiProxy::start(&env.cluster)
        .await
        .unwrap();
    let slow = orkestra_tests::hostile::Hostile::start().await.unwrap();

    let mut a = env.controller_via("a", &proxy.kubeconfig(), &[]);
    wait_for("replica a to lead", &a, || async {
        a.log().contains("leading").then_some(())
    })
    .await;
    let b = env.controller("b");
    let (a_admin, b_admin) = (admin_address(&a).await, admin_address(&b).await);
    wait_for("the standby to be ready", &b, || async {
        (admin_get(&b_admin, "/readyz").await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(admin_get(&a_admin, "/readyz").await.0, 200);
    assert!(
        admin_get(&a_admin, "/metrics")
            .await
            .1
            .contains("orkestra_leader 1")
    );
    assert!(
        admin_get(&b_admin, "/metrics")
            .await
            .1
            .contains("orkestra_leader 0")
    );

    let mut app = env.app("base", "hello", "1.0.0", &[]);
    app["spec"]["chart"]["url"] = serde_json::json!(format!("{}/slow", slow.url));
    let group = env.create_group("lost", vec![app]).await;
    let staging_since = wait_for("a to stage from the slow repository", &a, || async {
        slow.requests()
            .iter()
            .any(|s| s.path == "/slow/index.yaml")
            .then(std::time::Instant::now)
    })
    .await;

    let cut = std::time::Instant::now();
    proxy.cut_leases(true);
    // `--lease-duration 3s`: the Lease has expired 3 s after its last renewal at the latest.
    let expired = cut + std::time::Duration::from_secs(3);
    let give_up_by = std::time::Instant::now() + reconcile_support::PATIENCE;
    while a.is_running() {
        assert!(
            std::time::Instant::now() < give_up_by,
            "a never gave up:\n{}",
            a.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(a.log().contains("leadership lost"), "{}", a.log());
    wait_for("replica b to take over", &b, || async {
        b.log().contains("leading").then_some(())
    })
    .await;
    // Past the moment the slow staging answers, when a drained reconcile would write its status.
    let answered =
        staging_since + orkestra_tests::hostile::SLOW + std::time::Duration::from_secs(2);
    tokio::time::sleep(answered.saturating_duration_since(std::time::Instant::now())).await;

    let writes: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|s| s.is_write() && !s.is_lease())
        .collect();
    assert!(
        writes.iter().any(|s| s.at < cut && s.uri.contains(&group)),
        "a wrote to the group while it led: {writes:#?}"
    );
    let late: Vec<_> = writes.iter().filter(|s| s.at > expired).collect();
    assert!(
        late.is_empty(),
        "writes after the Lease expired: {late:#?}
{}",
        a.log()
    );
}

async fn submissions(env: &Env, group: &str, ctl: &reconcile_support::Controller) -> usize {
    let count = || async {
        env.events(group)
            .await
            .into_iter()
            .filter(|(r, _)| r == "WorkflowSubmitted")
            .count()
    };
    wait_for("a WorkflowSubmitted event", ctl, || async {
        (count().await > 0).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    count().await
}

/// The group generation a Workflow was planned from (its label).
fn workflow_generation(workflow: &kube::api::DynamicObject) -> Option<String> {
    workflow
        .metadata
        .labels
        .as_ref()?
        .get(orkestra_shared::names::GENERATION_LABEL)
        .cloned()
}

/// After a failover, the new leader counts every group under its Ready reason, although it has
/// nothing to write for a group already deployed (before, `orkestra_groups` counted a group only
/// when its status was written: 0 succeeded groups after any restart).
#[tokio::test]
async fn a_new_leader_counts_the_groups_it_finds_deployed() {
    let (env, mut a) = Env::with_controller("rc-gauge").await;
    env.deployed_group("gauge", env.base("1.0.0"), &a).await;
    a.kill();
    let b = env.controller("b");
    let b_admin = admin_address(&b).await;
    wait_for("b to count the deployed group", &b, || async {
        admin_get(&b_admin, "/metrics")
            .await
            .1
            .contains("orkestra_groups{reason=\"Succeeded\"} 1")
            .then_some(())
    })
    .await;
}

/// A failed update whose rollback could not be staged yet (its chart repository down), and whose
/// forward Workflow is then deleted (by a person, or an Argo TTL): the rollback is still
/// submitted once the repository is back (before, with the forward Workflow gone, nothing tried
/// it again, and the group stayed half upgraded).
#[tokio::test]
async fn a_rollback_not_yet_submitted_is_submitted_after_the_failed_forward_is_deleted() {
    use orkestra_tests::chart_repo::{ChartRepo, RepoOptions};
    let (env, ctl) = Env::with_controller("rc-late-rollback").await;
    let dir = tempfile::tempdir().unwrap();
    orkestra_tests::charts::write_repo(dir.path(), &orkestra_tests::charts::standard_fixtures())
        .unwrap();
    let repo = ChartRepo::start(dir.path(), RepoOptions::default())
        .await
        .unwrap();
    let address: std::net::SocketAddr = repo.url.trim_start_matches("http://").parse().unwrap();
    let url = repo.url.clone();
    let base = |version: &str| {
        let mut app = env.app("base", "hello", version, &[]);
        app["spec"]["chart"]["url"] = serde_json::json!(url);
        vec![app]
    };
    let group = env
        .deployed_group("laterollback", base("1.0.0"), &ctl)
        .await;
    env.update_applications(&group, base("1.2.0")).await;
    env.wait_workflow(&group, Some(2), &ctl).await;

    drop(repo);
    env.set_phase(&group, "Failed", "child 'base' failed").await;
    wait_for("the rollback's staging to fail", &ctl, || async {
        let g = env.group(&group).await?;
        condition(&g, "Ready")?
            .message
            .contains("cannot roll back")
            .then_some(())
    })
    .await;
    // NB: back before the deletion, whose event makes the next reconcile (the failed staging's
    // retry comes seconds later).
    let _repo = ChartRepo::start(
        dir.path(),
        RepoOptions {
            listen: Some(address),
            ..RepoOptions::default()
        },
    )
    .await
    .unwrap();
    env.delete_workflow(&group, &ctl).await;
    env.wait_workflow(&format!("{group}-rollback"), Some(2), &ctl)
        .await;
}
