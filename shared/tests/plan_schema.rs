//! Every Workflow and HelmRelease the plan emits validates against the upstream CRDs' schemas
//! (tests/fixtures/crds: Argo Workflows' full CRD, Flux helm-controller's HelmRelease CRD), with
//! unknown fields refused, as a real API server would check them (CEL rules aside).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod plan_support;

use std::sync::LazyLock;

use orkestra_shared::crd::ExecutorType;
use orkestra_shared::plan::{self, Direction, PlanConfig, Resolved};
use orkestra_shared::schema::OpenApiValidator;
use plan_support::{app, bookinfo, bookinfo_resolved, executor, group, large};
use serde_json::Value;

fn crd_validator(file: &str) -> OpenApiValidator {
    let path = format!(
        "{}/../tests/fixtures/crds/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let crd: Value = serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let versions = crd["spec"]["versions"].as_array().expect("versions");
    let served = versions
        .iter()
        .rev()
        .find(|v| v["served"] == Value::Bool(true))
        .expect("a served version");
    OpenApiValidator::new(&served["schema"]["openAPIV3Schema"], true).expect("schema compiles")
}

static WORKFLOW: LazyLock<OpenApiValidator> =
    LazyLock::new(|| crd_validator("argoproj.io_workflows.yaml"));
static HELM_RELEASE: LazyLock<OpenApiValidator> =
    LazyLock::new(|| crd_validator("helm.toolkit.fluxcd.io_helmreleases.yaml"));

fn assert_conforms(plan: &plan::Plan) {
    let workflow = serde_json::to_value(&plan.workflow).expect("json");
    let errors = WORKFLOW.errors(&workflow);
    assert!(
        errors.is_empty(),
        "Workflow {:?}: {errors:#?}",
        plan.workflow.metadata.name
    );
    for release in &plan.helm_releases {
        let object = serde_json::to_value(release).expect("json");
        let errors = HELM_RELEASE.errors(&object);
        assert!(
            errors.is_empty(),
            "HelmRelease {}: {errors:#?}",
            release.name()
        );
    }
}

fn all_directions(spec: &orkestra_shared::crd::ApplicationGroupSpec, resolved: &Resolved) {
    let config = PlanConfig {
        parallelism: Some(4),
        ..PlanConfig::default()
    };
    let last_good = group(vec![spec.applications[0].clone()]);
    let none = Resolved::default();
    for direction in [
        Direction::Forward,
        Direction::Reverse,
        Direction::Rollback {
            last_good: &last_good,
            last_good_resolved: &none,
        },
    ] {
        let plan =
            plan::build("bookinfo-group", 3, spec, resolved, direction, &config).expect("plan");
        assert_conforms(&plan);
    }
}

#[test]
fn bookinfo_with_subcharts_and_custom_and_keptn_executors_conforms() {
    let spec = bookinfo();
    let resolved = bookinfo_resolved(None, Some("db"));
    all_directions(&spec, &Resolved::default());
    all_directions(&spec, &resolved);
}

#[test]
fn every_helm_action_setting_and_values_source_conforms() {
    let mut spec = group(vec![app("a", "a", &[])]);
    let release = &mut spec.applications[0].spec.release;
    release.install =
        Some(serde_json::json!({"createNamespace": true, "remediation": {"retries": 3}}).into());
    release.upgrade = Some(
        serde_json::json!({"remediation": {"retries": 3, "remediateLastFailure": true}}).into(),
    );
    release.rollback = Some(serde_json::json!({"cleanupOnFail": true}).into());
    release.uninstall = Some(serde_json::json!({"keepHistory": false}).into());
    release.values_from = vec![orkestra_shared::crd::ValuesReference {
        kind: orkestra_shared::crd::ValuesKind::ConfigMap,
        name: "extra".into(),
        values_key: Some("values.yaml".into()),
        target_path: None,
        optional: Some(true),
    }];
    release.target_namespace.clear();
    spec.applications[0].spec.workflow = vec![
        executor("first", ExecutorType::Custom, &[]),
        executor("second", ExecutorType::Custom, &["first"]),
    ];
    all_directions(&spec, &Resolved::default());
}

#[test]
fn the_largest_group_the_limits_allow_conforms() {
    let spec = large(190, 5);
    let plan = plan::build(
        "large",
        1,
        &spec,
        &Resolved::default(),
        Direction::Forward,
        &PlanConfig::default(),
    )
    .expect("plan");
    assert_eq!(plan.workflow.spec.templates.len(), 192);
    assert_conforms(&plan);
}

#[test]
fn the_schemas_refuse_what_the_engines_would() {
    let plan = plan::build(
        "g",
        1,
        &bookinfo(),
        &Resolved::default(),
        Direction::Forward,
        &PlanConfig::default(),
    )
    .expect("plan");
    let mut workflow = serde_json::to_value(&plan.workflow).expect("json");
    workflow["spec"]["templates"][0]["name"] = "not_a_name".into();
    workflow["spec"]["templates"][0]["colour"] = "red".into();
    let errors = WORKFLOW.errors(&workflow);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    let mut release = serde_json::to_value(&plan.helm_releases[0]).expect("json");
    release["spec"]["chart"]["spec"]["sourceRef"]["kind"] = "OCIRepository".into();
    release["spec"]["interval"] = "five minutes".into();
    let errors = HELM_RELEASE.errors(&release);
    assert_eq!(errors.len(), 2, "{errors:#?}");
}
