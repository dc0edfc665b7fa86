//! The independent check: Helm's own Go SDK (helm-python-sdk, installed by
//! `controller/tests/prereqs` into target/helm-venv) pulls the staged charts back from the
//! registry and renders them. The parent no longer renders the split subcharts' resources; each
//! split subchart renders its own, with the parent's values for it, the parent's globals and the
//! parent's helper templates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod staging_support;

use std::path::PathBuf;

use serde_json::{Value, json};
use staging_support::{Env, app, with_subcharts};

/// The venv python with helm_python, or a clear failure telling how to get it.
fn helm_python() -> PathBuf {
    let venv = std::env::var_os("ORKESTRA_HELM_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/helm-venv"));
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run controller/tests/prereqs",
        python.display()
    );
    python
}

/// Stages `app` (asserting it staged) and renders its parent chart, as staged, with Helm and no
/// values: the staging, and the names of the ConfigMaps the parent renders.
async fn stage_and_render_parent(
    env: &Env,
    app: &orkestra_shared::crd::Application,
    version: &str,
) -> (
    orkestra_controller::staging::ApplicationStaging,
    Vec<String>,
) {
    let result = env.stage(app, None).await;
    assert!(result.is_staged(), "{result:#?}");
    let rendered = helm_render(
        result.chart.reference.as_deref().unwrap(),
        version,
        &json!({}),
    )
    .await;
    let names = configmaps(&rendered).into_keys().collect();
    (result, names)
}

/// Pulls `oci://…/name:version` with Helm and renders it with `values`.
async fn helm_render(reference: &str, version: &str, values: &Value) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/staging_helm_render.py");
    let output = tokio::process::Command::new(helm_python())
        .arg(script)
        .args([reference, version, &values.to_string()])
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "helm failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The rendered ConfigMaps' data by name.
fn configmaps(rendered: &Value) -> std::collections::BTreeMap<String, Value> {
    rendered["manifests"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|text| text.as_str().unwrap().split("\n---"))
        .filter_map(|doc| serde_norway::from_str::<Value>(doc).ok())
        .filter(|doc| doc["kind"] == "ConfigMap")
        .map(|doc| {
            (
                doc["metadata"]["name"].as_str().unwrap().to_owned(),
                doc["data"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn helm_pulls_and_renders_the_split_charts() {
    let env = Env::start().await;
    let app = with_subcharts(
        app("shop", &env.repo.url, "bookinfo", None),
        &["sub-1", "sub-4"],
    );
    let (result, names) = stage_and_render_parent(&env, &app, "1.0.0").await;
    assert_eq!(
        names,
        ["rel-bookinfo"],
        "listing sub-1 and sub-4 splits all four out: the parent renders only its own"
    );
    assert_eq!(result.subcharts.len(), 4, "{result:#?}");
    let sub2 = &result.subcharts["sub-2"];
    let rendered = helm_render(
        sub2.reference.as_deref().unwrap(),
        &sub2.version,
        &json!({}),
    )
    .await;
    assert_eq!(
        configmaps(&rendered)["rel-sub-2"]["message"],
        "from-bookinfo-for-sub-2"
    );

    let sub4 = &result.subcharts["sub-4"];
    let rendered = helm_render(
        sub4.reference.as_deref().unwrap(),
        &sub4.version,
        &json!({}),
    )
    .await;
    assert_eq!(rendered["metadata"]["name"], "bookinfo-sub-4");
    assert_eq!(
        configmaps(&rendered)["rel-sub-4"],
        json!({"message": "from-bookinfo-for-sub-4", "env": "prod", "greeting": "hello from bookinfo"})
    );

    // Release values for the subchart, as the HelmRelease will pass them, still apply on top.
    let sub1 = &result.subcharts["sub-1"];
    let values = json!({"message": "override", "global": {"env": "staging"}});
    let rendered = helm_render(sub1.reference.as_deref().unwrap(), &sub1.version, &values).await;
    assert_eq!(configmaps(&rendered)["rel-sub-1"]["message"], "override");
    assert_eq!(configmaps(&rendered)["rel-sub-1"]["env"], "staging");
}

/// A Helm 2 style umbrella (apiVersion v1, its dependencies in `requirements.yaml`, as many charts
/// of Azure Orkestra's days are): the split subchart is switched off where Helm reads the
/// dependencies, so the parent no longer renders it, and a subchart its condition turns off is
/// not split out. Before, the condition went into Chart.yaml, which Helm ignores for such a chart:
/// the parent still rendered `web` beside its split release.
#[tokio::test]
async fn a_v1_umbrella_with_requirements_yaml_is_split_where_helm_reads_it() {
    let mut parent = orkestra_tests::charts::plain("legacy", "1.0.0");
    for sub in ["web", "cache"] {
        parent.bundle(&orkestra_tests::charts::plain(sub, "0.1.0"), sub == "cache");
    }
    parent
        .set(
            "Chart.yaml",
            "apiVersion: v1\nname: legacy\nversion: 1.0.0\n",
        )
        .set(
            "requirements.yaml",
            "dependencies:\n- name: web\n  version: 0.1.0\n\
             - name: cache\n  version: 0.1.0\n  condition: cache.enabled\n",
        )
        .set(
            "values.yaml",
            "message: parent\nweb:\n  message: from-legacy\ncache:\n  enabled: false\n",
        );
    let env = Env::start_with(
        orkestra_tests::chart_repo::RepoOptions::default(),
        &[(&parent).into()],
    )
    .await;
    let app = with_subcharts(app("old", &env.repo.url, "legacy", None), &["web"]);
    let (result, names) = stage_and_render_parent(&env, &app, "1.0.0").await;
    let split: Vec<&String> = result.subcharts.keys().collect();
    assert_eq!(split, ["web"], "cache is off by its condition: {result:#?}");
    assert_eq!(names, ["rel-legacy"]);
    let web = &result.subcharts["web"];
    let rendered = helm_render(web.reference.as_deref().unwrap(), &web.version, &json!({})).await;
    assert_eq!(configmaps(&rendered)["rel-web"]["message"], "from-legacy");
}

/// A parent whose `values.schema.json` closes a subchart's section (`additionalProperties:
/// false`): the split parent's schema accepts the `enabled: false` that turns the subchart off,
/// so staging's check and Helm's pass (before, the parent failed its own schema once any
/// subchart was listed).
#[tokio::test]
async fn a_parent_schema_closing_a_subcharts_section_still_takes_the_switch() {
    let mut parent = orkestra_tests::charts::umbrella("closed", "1.0.0", 2);
    parent.set(
        "values.schema.json",
        r#"{"type": "object", "additionalProperties": false, "properties": {
            "message": {"type": "string"}, "global": {"type": "object"},
            "sub-1": {"type": "object", "additionalProperties": false,
                      "properties": {"message": {"type": "string"}}},
            "sub-2": {"type": "object"}}}"#,
    );
    let env = Env::start_with(
        orkestra_tests::chart_repo::RepoOptions::default(),
        &[(&parent).into()],
    )
    .await;
    let app = with_subcharts(app("c", &env.repo.url, "closed", None), &["sub-1"]);
    // Helm checks the values against the schema when it renders.
    let (_, names) = stage_and_render_parent(&env, &app, "1.0.0").await;
    assert_eq!(names, ["rel-closed"]);
}

#[tokio::test]
async fn helm_renders_a_placeholder_for_a_parent_with_nothing_left() {
    let mut umbrella = orkestra_tests::charts::umbrella("hollow", "1.0.0", 1);
    umbrella.files.remove("templates/configmap.yaml");
    let env = Env::start_with(Default::default(), &[(&umbrella).into()]).await;
    let result = env
        .stage(
            &with_subcharts(app("h", &env.repo.url, "hollow", None), &["sub-1"]),
            None,
        )
        .await;
    assert!(result.is_staged(), "{result:#?}");
    let parent = helm_render(
        result.chart.reference.as_deref().unwrap(),
        "1.0.0",
        &json!({}),
    )
    .await;
    let names: Vec<String> = configmaps(&parent).into_keys().collect();
    assert_eq!(names, ["rel-orkestra-placeholder"]);
}

/// A Chart.yaml with a numeric `appVersion` (`1.0`, as YAML reads it): Helm pulls by decoding the
/// manifest's config into its metadata, whose `appVersion` is a string, so the config carries it
/// as one (before, Helm's pull failed with "cannot unmarshal number", and so did Flux's).
#[tokio::test]
async fn helm_pulls_a_chart_whose_app_version_is_a_number() {
    let mut chart = orkestra_tests::charts::plain("numeric", "1.0.0");
    chart.set(
        "Chart.yaml",
        "apiVersion: v2\nname: numeric\nversion: 1.0.0\nappVersion: 1.0\ntype: application\n",
    );
    let env = Env::start_with(
        orkestra_tests::chart_repo::RepoOptions::default(),
        &[(&chart).into()],
    )
    .await;
    let result = env
        .stage(&app("web", &env.repo.url, "numeric", None), None)
        .await;
    assert!(result.is_staged(), "{result:#?}");
    let rendered = helm_render(
        result.chart.reference.as_deref().unwrap(),
        "1.0.0",
        &json!({}),
    )
    .await;
    // As Helm's loader reads `1.0` from the archive's Chart.yaml.
    assert_eq!(rendered["metadata"]["appVersion"], "1");
    // And as the config the registry holds says it.
    let (_, manifest) = env
        .registry_get(
            "/v2/staging/numeric/manifests/1.0.0",
            "application/vnd.oci.image.manifest.v1+json",
        )
        .await;
    let manifest: Value = serde_json::from_slice(&manifest).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let (_, config) = env
        .registry_get(&format!("/v2/staging/numeric/blobs/{config_digest}"), "*/*")
        .await;
    let config: Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(config["appVersion"], "1");
    assert_eq!(
        configmaps(&rendered)["rel-numeric"]["message"],
        "hello",
        "{rendered}"
    );
}

#[tokio::test]
async fn charts_helm_pushed_to_a_registry_can_be_staged_from_it() {
    let env = Env::start().await;
    let dir = tempfile::tempdir().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/staging_helm_render.py");
    for version in ["0.9.0", "1.0.0", "1.1.0-beta.1"] {
        let tgz = dir.path().join(format!("hello-{version}.tgz"));
        std::fs::write(&tgz, orkestra_tests::charts::plain("hello", version).tgz()).unwrap();
        let output = tokio::process::Command::new(helm_python())
            .arg(&script)
            .arg("--push")
            .arg(&tgz)
            .arg(env.registry.oci_url("helm-published"))
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "helm push failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let result = env
        .stage(
            &app(
                "web",
                &env.registry.oci_url("helm-published"),
                "hello",
                Some(">=0.9"),
            ),
            None,
        )
        .await;
    assert!(result.is_staged(), "{result:#?}");
    assert_eq!(
        result.chart.version, "1.0.0",
        "pre-releases are not picked by a range"
    );
}
