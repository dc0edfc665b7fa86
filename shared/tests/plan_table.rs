//! What the plan emits for typical and awkward groups: names, values, versions, executors,
//! rollback content, and the errors it refuses with.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod plan_support;

use base64::Engine;
use orkestra_shared::crd::{ApplicationGroupSpec, ExecutorType};
use orkestra_shared::names;
use orkestra_shared::plan::argo::{DagTask, Workflow};
use orkestra_shared::plan::flux::HelmRelease;
use orkestra_shared::plan::{self, Direction, Plan, PlanConfig, PlanError, Resolved, render};
use plan_support::{app, bookinfo, bookinfo_resolved, executor, group, large, subchart, template};
use pretty_assertions::assert_eq;
use serde_json::json;

fn forward(spec: &ApplicationGroupSpec) -> Plan {
    plan::build(
        "demo",
        7,
        spec,
        &Resolved::default(),
        Direction::Forward,
        &PlanConfig::default(),
    )
    .unwrap()
}

/// The forward Workflow of an update from `last_good` to `next` (generation 7).
fn update(next: &ApplicationGroupSpec, last_good: &ApplicationGroupSpec) -> Plan {
    let none = Resolved::default();
    plan::build(
        "demo",
        7,
        next,
        &none,
        Direction::Update {
            last_good,
            last_good_resolved: &none,
        },
        &PlanConfig::default(),
    )
    .unwrap()
}

/// The rollback Workflow from `failed` to `last_good` (generation 8).
fn rollback(failed: &ApplicationGroupSpec, last_good: &ApplicationGroupSpec) -> Plan {
    let none = Resolved::default();
    plan::build(
        "demo",
        8,
        failed,
        &none,
        Direction::Rollback {
            last_good,
            last_good_resolved: &none,
        },
        &PlanConfig::default(),
    )
    .unwrap()
}

fn release<'p>(plan: &'p Plan, name: &str) -> &'p HelmRelease {
    plan.helm_releases
        .iter()
        .find(|r| r.name() == name)
        .unwrap_or_else(|| panic!("no HelmRelease {name}"))
}

fn summary(tasks: &[DagTask]) -> Vec<(String, String, Vec<String>)> {
    tasks
        .iter()
        .map(|t| (t.name.clone(), t.template.clone(), t.dependencies.clone()))
        .collect()
}

/// The `action` argument of the first task of application `app`'s template.
fn first_action(workflow: &Workflow, app: &str) -> Option<String> {
    template(workflow, &format!("app-{app}")).tasks()[0]
        .argument("action")
        .map(str::to_owned)
}

fn s(items: &[&str]) -> Vec<String> {
    items.iter().map(|i| (*i).to_owned()).collect()
}

#[test]
fn bookinfo_plans_to_the_documented_shape() {
    let plan = forward(&bookinfo());
    let workflow = &plan.workflow;
    assert_eq!(workflow.metadata.name.as_deref(), Some("demo"));
    assert_eq!(workflow.metadata.namespace.as_deref(), Some("orkestra"));
    let labels = workflow.metadata.labels.clone().unwrap();
    assert_eq!(labels[names::OWNER_LABEL], "demo");
    assert_eq!(labels[names::HERITAGE_LABEL], "orkestra");
    assert_eq!(labels[names::WORKFLOW_TYPE_LABEL], "forward");
    assert_eq!(labels[names::GENERATION_LABEL], "7");
    assert_eq!(workflow.spec.entrypoint, "entry");
    let template_names: Vec<&str> = workflow
        .spec
        .templates
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(
        template_names,
        [
            "entry",
            "app-ambassador",
            "app-bookinfo",
            "executors-bookinfo",
            "custom-bookinfo-smoke",
            "helmrelease",
            "keptn"
        ]
    );
    assert_eq!(
        summary(template(workflow, "entry").tasks()),
        [
            ("ambassador".into(), "app-ambassador".into(), s(&[])),
            ("bookinfo".into(), "app-bookinfo".into(), s(&["ambassador"]))
        ]
    );
    let e = "executors-bookinfo".to_owned();
    assert_eq!(
        summary(template(workflow, "app-bookinfo").tasks()),
        [
            (
                "bookinfo-productpage".into(),
                e.clone(),
                s(&["bookinfo-reviews"])
            ),
            (
                "bookinfo-reviews".into(),
                e.clone(),
                s(&["bookinfo-details", "bookinfo-ratings"])
            ),
            ("bookinfo-details".into(), e.clone(), s(&[])),
            ("bookinfo-ratings".into(), e.clone(), s(&[])),
            (
                "bookinfo".into(),
                e,
                s(&[
                    "bookinfo-productpage",
                    "bookinfo-reviews",
                    "bookinfo-details",
                    "bookinfo-ratings"
                ])
            ),
        ]
    );
    assert_eq!(
        summary(template(workflow, "executors-bookinfo").tasks()),
        [
            ("helmrelease".into(), "helmrelease".into(), s(&[])),
            (
                "smoke".into(),
                "custom-bookinfo-smoke".into(),
                s(&["helmrelease"])
            ),
            ("quality".into(), "keptn".into(), s(&["helmrelease"])),
        ]
    );
    // The single-executor application calls the leaf directly.
    assert_eq!(
        template(workflow, "app-ambassador").tasks()[0].template,
        "helmrelease"
    );
    let leaf = template(workflow, "helmrelease").container.clone().unwrap();
    assert_eq!(leaf.image.as_deref(), Some(plan::DEFAULT_EXECUTOR_IMAGE));
    assert_eq!(
        leaf.args.unwrap(),
        s(&[
            "executor",
            "--action",
            "{{inputs.parameters.action}}",
            "--helmrelease",
            "{{inputs.parameters.helmrelease}}",
            "--timeout",
            "{{inputs.parameters.timeout}}"
        ])
    );
    // A custom image may ignore --timeout: its pod is stopped five minutes after it (5m here).
    assert_eq!(
        template(workflow, "custom-bookinfo-smoke").active_deadline_seconds,
        Some(600)
    );
    assert_eq!(
        template(workflow, "helmrelease").active_deadline_seconds,
        None
    );
    let custom = template(workflow, "custom-bookinfo-smoke")
        .container
        .clone()
        .unwrap();
    assert_eq!(custom.image.as_deref(), Some("example.com/smoke:1"));
    assert_eq!(custom.name, "smoke", "named after the executor");
    assert_eq!(custom.command, None, "the image's own entrypoint runs");
    assert_eq!(
        custom.args.unwrap(),
        s(&[
            "--spec",
            "{{inputs.parameters.spec}}",
            "--action",
            "{{inputs.parameters.action}}",
            "--data",
            "{{inputs.parameters.data}}",
            "--timeout",
            "{{inputs.parameters.timeout}}",
            "--interval",
            "1s"
        ]),
        "Azure Orkestra's custom executor contract"
    );
    let leaf_flags = |extra: &[&str]| -> Vec<String> {
        ["action", "helmrelease", "timeout"]
            .iter()
            .chain(extra)
            .flat_map(|p| [format!("--{p}"), format!("{{{{inputs.parameters.{p}}}}}")])
            .collect()
    };
    let keptn = template(workflow, "keptn").container.clone().unwrap();
    let keptn_args = keptn.args.unwrap();
    assert_eq!(keptn_args[..3], s(&["executor", "--type", "keptn"])[..]);
    assert_eq!(keptn_args[3..], leaf_flags(&["params"])[..]);
    let tasks = template(workflow, "executors-bookinfo").tasks();
    assert_eq!(tasks[2].argument("params"), Some(r#"{"check":"quality"}"#));
    assert_eq!(tasks[1].argument("data"), Some(""), "params without data");
    // The executor DAG passes the reference to the controller image's leaves and the inline
    // HelmRelease to the custom one only.
    fn passed(task: &DagTask) -> Vec<&str> {
        let parameters = &task.arguments.as_ref().unwrap().parameters;
        parameters.iter().map(|p| p.name.as_str()).collect()
    }
    assert_eq!(passed(&tasks[0]), ["helmrelease", "timeout", "action"]);
    assert_eq!(passed(&tasks[1]), ["spec", "timeout", "action", "data"]);
    assert_eq!(
        passed(&tasks[2]),
        ["helmrelease", "timeout", "action", "params"]
    );
    assert_eq!(plan.helm_releases.len(), 6);
}

#[test]
fn a_task_refers_to_its_helm_release_in_a_config_map_of_the_workflow() {
    let plan = forward(&bookinfo());
    let task = &template(&plan.workflow, "app-ambassador").tasks()[0];
    let reference = plan::ReleaseRef::parse(task.argument("helmrelease").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(reference.namespace, "orkestra", "the Workflow's namespace");
    let store = plan
        .release_stores
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some(reference.config_map.as_str()))
        .unwrap();
    assert_eq!(store.metadata.namespace.as_deref(), Some("orkestra"));
    assert_eq!(
        store.metadata.labels.as_ref().unwrap()[plan::release_store::WORKFLOW_LABEL],
        plan.workflow.metadata.name.clone().unwrap()
    );
    let decoded: HelmRelease =
        serde_json::from_str(&store.data.as_ref().unwrap()[&reference.key]).unwrap();
    assert_eq!(&decoded, release(&plan, "ambassador"));
    assert_eq!(task.argument("action"), Some("install"));
    assert_eq!(task.argument("timeout"), Some("5m"));
    assert_eq!(
        task.argument("spec"),
        None,
        "inline only for custom executors"
    );
}

#[test]
fn a_custom_executor_gets_its_helm_release_inline_as_base64_json() {
    let plan = forward(&bookinfo());
    let task = &template(&plan.workflow, "app-bookinfo").tasks()[0];
    let encoded = task.argument("spec").unwrap();
    let decoded: HelmRelease = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(decoded.name(), "bookinfo-productpage");
    assert_eq!(&decoded, release(&plan, "bookinfo-productpage"));
}

#[test]
fn values_are_split_between_the_parent_and_its_subcharts() {
    let plan = forward(&bookinfo());
    assert_eq!(
        release(&plan, "bookinfo").spec.values,
        Some(json!({"global": {"domain": "example.com"}, "ingress": {"enabled": true}}))
    );
    assert_eq!(
        release(&plan, "bookinfo-productpage").spec.values,
        Some(json!({"replicas": 2, "global": {"domain": "example.com"}}))
    );
    assert_eq!(
        release(&plan, "bookinfo-details").spec.values,
        Some(json!({"global": {"domain": "example.com"}}))
    );
    let subchart = release(&plan, "bookinfo-reviews");
    assert_eq!(subchart.spec.chart.spec.chart, "bookinfo-reviews");
    assert_eq!(subchart.spec.chart.spec.version, "*");
    assert_eq!(
        subchart.metadata.labels.clone().unwrap()[names::CHART_LABEL],
        "bookinfo-reviews"
    );
    assert_eq!(subchart.namespace(), "bookinfo");
    assert_eq!(subchart.spec.release_name, "bookinfo-reviews");
}

#[test]
fn values_from_reaches_the_parent_only() {
    let mut spec = bookinfo();
    let reference = orkestra_shared::crd::ValuesReference {
        kind: orkestra_shared::crd::ValuesKind::Secret,
        name: "bookinfo-values".into(),
        ..Default::default()
    };
    let bookinfo = spec.applications.iter_mut().find(|a| a.name == "bookinfo");
    bookinfo.expect("bookinfo").spec.release.values_from = vec![reference.clone()];
    let plan = forward(&spec);
    assert_eq!(release(&plan, "bookinfo").spec.values_from, [reference]);
    for subchart in [
        "bookinfo-productpage",
        "bookinfo-details",
        "bookinfo-reviews",
    ] {
        assert_eq!(release(&plan, subchart).spec.values_from, [], "{subchart}");
    }
}

#[test]
fn a_step_waits_as_long_as_flux_may_take_for_its_action() {
    let timeouts = |spec: &ApplicationGroupSpec, direction: Direction<'_>| {
        let plan = plan::build(
            "demo",
            7,
            spec,
            &Resolved::default(),
            direction,
            &PlanConfig::default(),
        )
        .unwrap();
        let tasks = template(&plan.workflow, "app-a").tasks().to_vec();
        tasks
            .iter()
            .map(|t| t.argument("timeout").unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    let mut spec = group(vec![app("a", "a", &[])]);
    let release = &mut spec.applications[0].spec.release;
    release.timeout = Some("2m".into());
    assert_eq!(timeouts(&spec, Direction::Forward), ["2m"]);
    let release = &mut spec.applications[0].spec.release;
    release.install = Some(json!({"timeout": "20m"}).into());
    release.upgrade = Some(json!({"timeout": "1m"}).into());
    release.uninstall = Some(json!({"timeout": "1h"}).into());
    assert_eq!(timeouts(&spec, Direction::Forward), ["20m"]);
    assert_eq!(timeouts(&spec, Direction::Reverse), ["1h"]);
    let release = &mut spec.applications[0].spec.release;
    release.install = Some(json!({"timeout": "90s", "remediation": {"retries": 1}}).into());
    release.uninstall = None;
    // Flux may try the install twice, 90s each.
    assert_eq!(timeouts(&spec, Direction::Forward), ["3m"]);
    assert_eq!(timeouts(&spec, Direction::Reverse), ["2m"]);
    let release = &mut spec.applications[0].spec.release;
    release.install = None;
    release.upgrade = Some(json!({"remediation": {"retries": 2}}).into());
    // Three upgrade attempts of the release's own 2m.
    assert_eq!(timeouts(&spec, Direction::Forward), ["6m"]);
    let release = &mut spec.applications[0].spec.release;
    release.upgrade = Some(json!({"remediation": {"retries": -1}}).into());
    // Retrying forever: the step still ends, after one attempt's time.
    assert_eq!(timeouts(&spec, Direction::Forward), ["2m"]);
}

#[test]
fn resolved_versions_aliases_and_discovered_subcharts_are_used() {
    let spec = bookinfo();
    let resolved = bookinfo_resolved(Some("rev"), None);
    let mut spec_with_alias = spec.clone();
    spec_with_alias.applications[1].spec.release.values = Some(
        json!({"rev": {"version": "v2"}, "mongodb": {"auth": false}, "reviews": {"kept": true}})
            .into(),
    );
    let plan = plan::build(
        "demo",
        1,
        &spec_with_alias,
        &resolved,
        Direction::Forward,
        &PlanConfig::default(),
    )
    .unwrap();
    assert_eq!(release(&plan, "bookinfo").spec.chart.spec.version, "1.2.3");
    assert_eq!(
        release(&plan, "bookinfo-reviews").spec.chart.spec.version,
        "0.4.0"
    );
    assert_eq!(
        release(&plan, "bookinfo-reviews").spec.values,
        Some(json!({"version": "v2"}))
    );
    assert_eq!(
        release(&plan, "bookinfo-mongodb").spec.values,
        Some(json!({"auth": false}))
    );
    assert_eq!(
        release(&plan, "bookinfo").spec.values,
        Some(json!({"reviews": {"kept": true}}))
    );
    let tasks = template(&plan.workflow, "app-bookinfo").tasks();
    let mongodb = tasks.iter().find(|t| t.name == "bookinfo-mongodb").unwrap();
    assert!(
        mongodb.dependencies.is_empty(),
        "a discovered subchart has no dependencies"
    );
    assert!(
        tasks
            .last()
            .unwrap()
            .dependencies
            .contains(&"bookinfo-mongodb".to_owned())
    );
}

#[test]
fn two_applications_with_the_same_chart_get_distinct_names() {
    let mut one = app("frontend-eu", "nginx", &[]);
    let mut two = app("frontend-us", "nginx", &[]);
    one.spec.release.target_namespace = "web".into();
    two.spec.release.target_namespace = "web".into();
    for a in [&mut one, &mut two] {
        a.spec.subcharts = vec![subchart("cache", &[])];
    }
    let plan = forward(&group(vec![one, two]));
    let names: Vec<&str> = plan.helm_releases.iter().map(HelmRelease::name).collect();
    assert_eq!(
        names,
        [
            "frontend-eu-cache",
            "frontend-eu",
            "frontend-us-cache",
            "frontend-us"
        ]
    );
    assert_eq!(plan.helm_releases[0].spec.chart.spec.chart, "nginx-cache");
    assert_eq!(plan.helm_releases[2].spec.chart.spec.chart, "nginx-cache");
}

#[test]
fn long_and_digit_first_names_are_shortened_and_stay_valid() {
    let long = "a".repeat(63);
    let mut first = app(&long, "chart", &[]);
    first.spec.subcharts = vec![subchart(&"s".repeat(63), &[])];
    first.spec.workflow = vec![
        executor("helmrelease", ExecutorType::Helmrelease, &[]),
        executor(&"c".repeat(63), ExecutorType::Custom, &["helmrelease"]),
    ];
    let second = app("1st", "chart", &[&long]);
    let plan = forward(&group(vec![first, second]));
    for r in &plan.helm_releases {
        assert!(
            names::is_dns1123_label(r.name()) && r.name().len() <= 53,
            "{}",
            r.name()
        );
    }
    let entry = template(&plan.workflow, "entry").tasks();
    assert_eq!(entry[0].name, long);
    assert_eq!(entry[1].name, "t-1st");
    assert_eq!(entry[1].dependencies, [long.as_str()]);
    for t in &plan.workflow.spec.templates {
        assert!(plan::naming::is_valid_argo_name(&t.name), "{}", t.name);
    }
}

#[test]
fn the_reverse_plan_deletes_dependents_first() {
    let plan = plan::build(
        "demo",
        7,
        &bookinfo(),
        &Resolved::default(),
        Direction::Reverse,
        &PlanConfig::default(),
    )
    .unwrap();
    assert_eq!(plan.workflow.metadata.name.as_deref(), Some("demo-reverse"));
    let entry = template(&plan.workflow, "entry").tasks();
    assert_eq!(
        summary(entry)[0],
        (
            "ambassador".into(),
            "app-ambassador".into(),
            s(&["bookinfo"])
        )
    );
    let tasks = template(&plan.workflow, "app-bookinfo").tasks();
    assert_eq!(tasks[0].name, "bookinfo");
    assert!(tasks[0].dependencies.is_empty());
    let reviews = tasks.iter().find(|t| t.name == "bookinfo-reviews").unwrap();
    assert_eq!(
        reviews.dependencies,
        s(&["bookinfo-productpage", "bookinfo"])
    );
    assert!(tasks.iter().all(|t| t.argument("action") == Some("delete")));
}

/// A teardown first deletes the group's leftovers, HelmReleases that no application of its spec
/// names (here `cache`'s, which a rollback put back after an update dropped it), then the spec's,
/// dependents first.
#[test]
fn a_teardown_deletes_the_leftover_helm_releases_before_the_specs() {
    let last_good = group(vec![
        app("db", "postgres", &[]),
        app("cache", "redis", &["db"]),
    ]);
    let spec = group(vec![app("db", "postgres", &[]), app("api", "api", &["db"])]);
    let none = Resolved::default();
    let config = PlanConfig::default();
    let rolled_back = plan::build("demo", 3, &last_good, &none, Direction::Forward, &config)
        .unwrap()
        .helm_releases;
    let leftovers: Vec<_> = rolled_back
        .into_iter()
        .filter(|r| r.name() == "cache")
        .collect();
    let plan = plan::build_clearing(
        "demo",
        4,
        &spec,
        &none,
        Direction::Reverse,
        &leftovers,
        &config,
    )
    .unwrap();
    assert_eq!(plan.workflow.metadata.name.as_deref(), Some("demo-reverse"));
    let entry = template(&plan.workflow, "entry").tasks();
    assert_eq!(
        summary(entry),
        [
            ("leftovers-0".into(), "leftovers-0".into(), s(&[])),
            ("db".into(), "app-db".into(), s(&["api"])),
            ("api".into(), "app-api".into(), s(&["leftovers-0"])),
        ]
    );
    let leftover = template(&plan.workflow, "leftovers-0").tasks();
    assert_eq!(
        summary(leftover),
        [("cache".into(), "helmrelease".into(), s(&[]))]
    );
    assert_eq!(leftover[0].argument("action"), Some("delete"));
    let names: Vec<&str> = plan.helm_releases.iter().map(|r| r.name()).collect();
    assert_eq!(names, ["cache", "db", "api"]);
    assert_eq!(
        first_action(&plan.workflow, "api").as_deref(),
        Some("delete")
    );
}

#[test]
fn the_rollback_deletes_what_the_upgrade_added_then_installs_the_last_good_spec() {
    let last_good = group(vec![app("db", "postgres", &[]), app("api", "api", &["db"])]);
    let mut failed = last_good.clone();
    failed.applications[1].spec.chart.version = Some("2.0.0".into());
    failed.applications.push(app("cache", "redis", &["db"]));
    failed
        .applications
        .push(app("worker", "worker", &["cache", "api"]));
    let plan = rollback(&failed, &last_good);
    assert_eq!(
        plan.workflow.metadata.name.as_deref(),
        Some("demo-rollback")
    );
    let entry = template(&plan.workflow, "entry").tasks();
    assert_eq!(
        summary(entry),
        [
            ("cache".into(), "app-cache".into(), s(&["worker"])),
            ("worker".into(), "app-worker".into(), s(&[])),
            ("db".into(), "app-db".into(), s(&["cache"])),
            ("api".into(), "app-api".into(), s(&["db"])),
        ]
    );
    let action = |app: &str| first_action(&plan.workflow, app);
    assert_eq!(action("cache").as_deref(), Some("delete"));
    assert_eq!(action("api").as_deref(), Some("install"));
    assert_eq!(
        release(&plan, "api").spec.chart.spec.version,
        "*",
        "the last good spec's version"
    );
    assert_eq!(plan.helm_releases.len(), 4);
}

/// The deletions keep the order that runs through applications they leave alone: the failed
/// spec added `first -> kept -> second` (it made `kept` depend on the added `second`), so the
/// rollback deletes `first` before `second` although neither names the other.
#[test]
fn a_rollback_deletes_in_the_order_that_runs_through_kept_applications() {
    let last_good = group(vec![app("kept", "kept", &[])]);
    let failed = group(vec![
        app("second", "second", &[]),
        app("kept", "kept", &["second"]),
        app("first", "first", &["kept"]),
    ]);
    let plan = rollback(&failed, &last_good);
    let entry = template(&plan.workflow, "entry").tasks();
    assert_eq!(
        summary(entry),
        [
            ("second".into(), "app-second".into(), s(&["first"])),
            ("first".into(), "app-first".into(), s(&[])),
            ("kept".into(), "app-kept".into(), s(&["second"])),
        ]
    );
}

#[test]
fn a_rollback_with_nothing_added_is_the_forward_plan_of_the_last_good_spec() {
    let last_good = group(vec![app("db", "postgres", &[]), app("api", "api", &["db"])]);
    let none = Resolved::default();
    let rollback = Direction::Rollback {
        last_good: &last_good,
        last_good_resolved: &none,
    };
    let plan = plan::build(
        "demo",
        2,
        &last_good,
        &none,
        rollback,
        &PlanConfig::default(),
    )
    .unwrap();
    let forward_plan = forward(&last_good);
    // Only the name of the ConfigMap the references point into differs: it is the Workflow's.
    let templates = |plan: &Plan, workflow: &str| {
        serde_json::to_string(&plan.workflow.spec.templates)
            .unwrap()
            .replace(&format!("/{workflow}-releases-"), "/WORKFLOW-releases-")
    };
    assert_eq!(
        templates(&plan, "demo-rollback"),
        templates(&forward_plan, "demo")
    );
    let data =
        |plan: &Plan| -> Vec<_> { plan.release_stores.iter().map(|c| c.data.clone()).collect() };
    assert_eq!(data(&plan), data(&forward_plan));
}

#[test]
fn an_update_deletes_the_removed_applications_dependents_first_before_installing() {
    let last_good = group(vec![
        app("db", "postgres", &[]),
        app("cache", "redis", &["db"]),
        app("worker", "worker", &["cache"]),
        app("api", "api", &["db"]),
    ]);
    let mut next = last_good.clone();
    next.applications
        .retain(|a| a.name == "db" || a.name == "api");
    next.applications.push(app("web", "web", &["api"]));
    let plan = update(&next, &last_good);
    assert_eq!(plan.workflow.metadata.name.as_deref(), Some("demo"));
    let labels = plan.workflow.metadata.labels.clone().unwrap();
    assert_eq!(labels[names::WORKFLOW_TYPE_LABEL], "forward");
    let entry = template(&plan.workflow, "entry").tasks();
    // Removals first (worker before cache, its dependency), then the new spec; its roots wait
    // for the last removal.
    assert_eq!(
        summary(entry),
        [
            ("cache".into(), "app-cache".into(), s(&["worker"])),
            ("worker".into(), "app-worker".into(), s(&[])),
            ("db".into(), "app-db".into(), s(&["cache"])),
            ("api".into(), "app-api".into(), s(&["db"])),
            ("web".into(), "app-web".into(), s(&["api"])),
        ]
    );
    let action = |app: &str| first_action(&plan.workflow, app);
    for (app, expected) in [
        ("cache", "delete"),
        ("worker", "delete"),
        ("db", "install"),
        ("api", "install"),
        ("web", "install"),
    ] {
        assert_eq!(action(app).as_deref(), Some(expected), "{app}");
    }
}

#[test]
fn an_update_that_removes_nothing_is_the_forward_plan() {
    let last_good = group(vec![app("db", "postgres", &[]), app("api", "api", &["db"])]);
    let mut next = last_good.clone();
    next.applications.push(app("web", "web", &["api"]));
    let update = update(&next, &last_good);
    assert_eq!(update, forward(&next));
}

#[test]
fn impossible_groups_are_refused_with_the_reason() {
    let cyclic = group(vec![app("a", "a", &["b"]), app("b", "b", &["a"])]);
    let mut subchart_cycle = group(vec![app("a", "a", &[])]);
    subchart_cycle.applications[0].spec.subcharts =
        vec![subchart("x", &["y"]), subchart("y", &["x"])];
    let mut no_image = group(vec![app("a", "a", &[])]);
    no_image.applications[0].spec.workflow[0] = executor("smoke", ExecutorType::Custom, &[]);
    no_image.applications[0].spec.workflow[0].image = None;
    let mut collision = group(vec![app("a-b", "x", &[]), app("a", "y", &[])]);
    collision.applications[1].spec.subcharts = vec![subchart("b", &[])];
    for a in &mut collision.applications {
        a.spec.release.target_namespace = "shared".into();
    }
    let cases: Vec<(ApplicationGroupSpec, &str)> = vec![
        (cyclic, "dependency cycle among applications: a -> b -> a"),
        (
            subchart_cycle,
            "dependency cycle among subcharts of a: x -> y -> x",
        ),
        (
            no_image,
            "custom executor \"smoke\" of application \"a\" has no image",
        ),
        (
            collision,
            "HelmRelease shared/a-b would be created for both chart x of application a-b and chart y-b of application a",
        ),
        (
            large(199, 1),
            "the workflow would have 201 templates (at most 200) and 199 tasks in its largest DAG (at most 200)",
        ),
    ];
    for (spec, message) in cases {
        let err = plan::build(
            "g",
            1,
            &spec,
            &Resolved::default(),
            Direction::Forward,
            &PlanConfig::default(),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), message);
    }
    assert!(matches!(
        plan::build(
            "g",
            1,
            &large(10, 200),
            &Resolved::default(),
            Direction::Forward,
            &PlanConfig::default()
        ),
        Err(PlanError::TooLarge {
            largest_dag: 201,
            ..
        })
    ));
}

/// A custom executor gets its HelmRelease inline as one process argument (Azure Orkestra's
/// `--spec`), which Linux caps at 128 KiB: an install whose argument would be longer is refused
/// at planning, naming the release, instead of failing the step's pod at run time. Its teardown
/// is still planned (a teardown that cannot be planned lets the group go with its releases
/// installed), and the same values with only the HelmRelease executor go by reference and plan.
#[test]
fn a_custom_executors_release_too_large_for_one_argument_is_refused() {
    let big = serde_json::json!({"blob": "x".repeat(100 * 1024)});
    let mut custom = app("big", "hello", &[]);
    custom.spec.release.values = Some((&big).into());
    custom.spec.workflow = vec![
        executor("helmrelease", ExecutorType::Helmrelease, &[]),
        executor("smoke", ExecutorType::Custom, &["helmrelease"]),
    ];
    let err = plan::build(
        "g",
        1,
        &group(vec![custom.clone()]),
        &Resolved::default(),
        Direction::Forward,
        &PlanConfig::default(),
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("HelmRelease big is ")
            && message.contains("bytes as the custom executor's --spec argument")
            && message.contains("(131071)"),
        "{message}"
    );
    assert_eq!(err.category(), "release-too-large");
    let teardown = plan::build(
        "g",
        1,
        &group(vec![custom.clone()]),
        &Resolved::default(),
        Direction::Reverse,
        &PlanConfig::default(),
    );
    assert!(teardown.is_ok(), "{teardown:?}");

    custom.spec.workflow = vec![executor("helmrelease", ExecutorType::Helmrelease, &[])];
    let plan = forward(&group(vec![custom]));
    assert_eq!(plan.helm_releases.len(), 1);
}

#[test]
fn renderers_draw_applications_with_their_charts() {
    let plan = forward(&bookinfo());
    let mermaid = render::mermaid(&plan.workflow);
    assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
    assert!(
        mermaid.contains("  subgraph g1[\"bookinfo\"]\n"),
        "{mermaid}"
    );
    assert!(
        mermaid.contains("    g1t1 --> g1t0\n"),
        "reviews before productpage: {mermaid}"
    );
    assert!(
        mermaid.contains("  g0 --> g1\n"),
        "ambassador before bookinfo: {mermaid}"
    );
    let dot = render::dot(&plan.workflow);
    assert!(dot.starts_with("digraph \"demo\" {"), "{dot}");
    assert!(
        dot.contains("\"g1/bookinfo-reviews\" -> \"g1/bookinfo-productpage\";"),
        "{dot}"
    );
    assert!(
        dot.contains("g0_anchor -> g1_anchor [ltail=cluster_0, lhead=cluster_1];"),
        "{dot}"
    );
}

#[test]
fn what_the_status_records_of_staging_resolves_versions_and_subcharts() {
    use orkestra_shared::crd::{ApplicationStatus, ChartStatus};
    let chart = |version: &str| ChartStatus {
        version: version.into(),
        staged: true,
        ..ChartStatus::default()
    };
    let status = vec![
        ApplicationStatus {
            name: "ambassador".into(),
            chart: chart(""),
            subcharts: Default::default(),
        },
        ApplicationStatus {
            name: "bookinfo".into(),
            chart: chart("1.2.3"),
            subcharts: [
                ("reviews".to_owned(), chart("0.4.0")),
                ("mongodb".to_owned(), chart("10.0.0")),
            ]
            .into(),
        },
    ];
    let resolved = Resolved::from_status(&status);
    let plan = plan::build(
        "demo",
        1,
        &bookinfo(),
        &resolved,
        Direction::Forward,
        &PlanConfig::default(),
    )
    .unwrap();
    assert_eq!(
        release(&plan, "ambassador").spec.chart.spec.version,
        "*",
        "no resolved version: the constraint"
    );
    assert_eq!(release(&plan, "bookinfo").spec.chart.spec.version, "1.2.3");
    assert_eq!(
        release(&plan, "bookinfo-reviews").spec.chart.spec.version,
        "0.4.0"
    );
    assert_eq!(
        release(&plan, "bookinfo-mongodb").spec.chart.spec.version,
        "10.0.0"
    );
    assert_eq!(plan.helm_releases.len(), 7);
}
