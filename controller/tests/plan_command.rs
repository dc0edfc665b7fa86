//! `orkestra-controller plan`, run as a user would: the real binary on example files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde::Deserialize as _;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/plan_fixtures")
        .join(name)
}

fn plan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orkestra-controller"))
        .arg("plan")
        .args(args)
        .env_remove("ORKESTRA_WORKFLOW_PARALLELISM")
        .env_remove("ORKESTRA_EXECUTOR_IMAGE")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "stdout: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn yaml_documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap())
        .collect()
}

fn write_temp(text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

#[test]
fn the_forward_plan_is_a_workflow_followed_by_its_helm_releases() {
    let file = fixture("bookinfo.yaml");
    let documents = yaml_documents(&stdout(&plan(&[
        file.to_str().unwrap(),
        "--parallelism",
        "3",
    ])));
    let kinds: Vec<&str> = documents
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "Workflow",
            "ConfigMap",
            "HelmRelease",
            "HelmRelease",
            "HelmRelease",
            "HelmRelease",
            "HelmRelease",
            "HelmRelease"
        ]
    );
    let workflow = &documents[0];
    assert_eq!(workflow["metadata"]["name"], "bookinfo");
    assert_eq!(workflow["spec"]["parallelism"], 3);
    // The HelmReleases its tasks refer to, in the ConfigMap named after the Workflow.
    assert_eq!(documents[1]["metadata"]["name"], "bookinfo-releases-0");
    assert_eq!(documents[1]["data"].as_object().unwrap().len(), 6);
    let names: Vec<&str> = documents[2..]
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "ambassador",
            "bookinfo-productpage",
            "bookinfo-reviews",
            "bookinfo-details",
            "bookinfo-ratings",
            "bookinfo"
        ]
    );
    // Defaulted before planning: the interval nobody wrote.
    assert_eq!(documents[2]["spec"]["interval"], "5m");
    assert_eq!(documents[2]["spec"]["chart"]["spec"]["version"], "6.6.0");
}

#[test]
fn json_output_and_configuration_from_the_environment() {
    let file = fixture("bookinfo.yaml");
    let output = Command::new(env!("CARGO_BIN_EXE_orkestra-controller"))
        .args([
            "plan",
            file.to_str().unwrap(),
            "--output",
            "json",
            "--direction",
            "reverse",
        ])
        .env(
            "ORKESTRA_EXECUTOR_IMAGE",
            "registry.example.com/orkestra:test",
        )
        .env("ORKESTRA_WORKFLOW_NAMESPACE", "argo")
        .output()
        .unwrap();
    let objects: Vec<Value> = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(objects.len(), 8);
    let workflow = &objects[0];
    assert_eq!(workflow["metadata"]["name"], "bookinfo-reverse");
    assert_eq!(workflow["metadata"]["namespace"], "argo");
    assert_eq!(
        objects[1]["metadata"]["name"],
        "bookinfo-reverse-releases-0"
    );
    assert_eq!(objects[1]["metadata"]["namespace"], "argo");
    let templates = workflow["spec"]["templates"].as_array().unwrap();
    let leaf = templates
        .iter()
        .find(|t| t["name"] == "helmrelease")
        .unwrap();
    assert_eq!(
        leaf["container"]["image"],
        "registry.example.com/orkestra:test"
    );
}

#[test]
fn graphs_render_as_mermaid_and_dot() {
    let file = fixture("bookinfo.yaml");
    let mermaid = stdout(&plan(&[file.to_str().unwrap(), "-o", "mermaid"]));
    assert!(
        mermaid.starts_with("flowchart LR\n") && mermaid.contains("g0 --> g1"),
        "{mermaid}"
    );
    let dot = stdout(&plan(&[file.to_str().unwrap(), "-o", "dot"]));
    assert!(dot.starts_with("digraph \"bookinfo\" {"), "{dot}");
}

#[test]
fn the_rollback_uses_the_last_successful_spec_annotation() {
    let file = fixture("bookinfo.yaml");
    let documents = yaml_documents(&stdout(&plan(&[
        file.to_str().unwrap(),
        "--direction",
        "rollback",
    ])));
    assert_eq!(documents[0]["metadata"]["name"], "bookinfo-rollback");
    let entry = &documents[0]["spec"]["templates"][0]["dag"]["tasks"];
    assert_eq!(
        entry[0]["name"], "bookinfo",
        "the added application is deleted first"
    );
    assert_eq!(entry[1]["name"], "ambassador");
    assert_eq!(entry[1]["dependencies"][0], "bookinfo");
}

#[test]
fn a_rollback_without_a_last_good_spec_is_refused_clearly() {
    let file = write_temp(
        "apiVersion: orkestra.azure.microsoft.com/v1alpha1\nkind: ApplicationGroup\nmetadata: {name: fresh}\nspec:\n  applications:\n  - name: a\n    spec: {chart: {url: 'https://charts.example.com', name: a}, release: {targetNamespace: a}}\n",
    );
    let message = stderr(&plan(&[
        file.path().to_str().unwrap(),
        "--direction",
        "rollback",
    ]));
    assert!(
        message.contains("cannot plan a rollback of fresh: it has no orkestra.azure.microsoft.com/last-successful-appgroup annotation"),
        "{message}"
    );
}

#[test]
fn an_invalid_group_is_refused_with_every_problem() {
    let file = write_temp(
        r#"{"apiVersion": "orkestra.azure.microsoft.com/v1alpha1", "kind": "ApplicationGroup", "metadata": {"name": "bad"},
            "spec": {"applications": [
              {"name": "a", "dependencies": ["b"], "spec": {"chart": {"url": "https://charts.example.com", "name": "a"}, "release": {}}},
              {"name": "b", "dependencies": ["a"], "spec": {"chart": {"url": "https://charts.example.com", "name": "b"}, "release": {}}}]}}"#,
    );
    let message = stderr(&plan(&[file.path().to_str().unwrap()]));
    assert!(
        message.contains("the ApplicationGroup is invalid"),
        "{message}"
    );
    assert!(message.contains("a -> b -> a"), "{message}");
}

#[test]
fn a_file_without_a_group_is_refused() {
    let file = write_temp("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n");
    let message = stderr(&plan(&[file.path().to_str().unwrap()]));
    assert!(
        message.contains("holds no ApplicationGroup document"),
        "{message}"
    );
}

/// Every ApplicationGroup file the plan command is shown or tested with: examples/*.yaml and the
/// fixtures of this test.
fn group_files() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [root.join("../examples"), root.join("tests/plan_fixtures")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(!files.is_empty());
    files
}

/// `file` as a user would plan its rollback: when the group has no last-successful spec, a copy
/// whose annotation holds the group's roots (its applications without dependencies), so the
/// rollback deletes the rest and goes back to them.
fn with_last_good(file: &std::path::Path) -> tempfile::NamedTempFile {
    let mut documents = yaml_documents(&std::fs::read_to_string(file).unwrap());
    let group = documents
        .iter_mut()
        .find(|d| d["kind"] == "ApplicationGroup")
        .unwrap();
    let annotation = orkestra_shared::names::LAST_SUCCESSFUL_ANNOTATION;
    if group["metadata"]["annotations"][annotation].is_null() {
        let roots: Vec<&Value> = group["spec"]["applications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["dependencies"].as_array().is_none_or(Vec::is_empty))
            .collect();
        let last_good = serde_json::json!({"applications": roots}).to_string();
        group["metadata"]["annotations"][annotation] = last_good.into();
    }
    write_temp(&serde_json::to_string(group).unwrap())
}

#[test]
fn every_planned_workflow_passes_argo_lint() {
    let (mut workflows, mut planned) = (Vec::new(), Vec::new());
    for group in group_files() {
        let rollback = with_last_good(&group);
        for (file, direction) in [
            (group.as_path(), "forward"),
            (group.as_path(), "reverse"),
            (rollback.path(), "rollback"),
        ] {
            let documents = yaml_documents(&stdout(&plan(&[
                file.to_str().unwrap(),
                "--direction",
                direction,
            ])));
            assert_eq!(documents[0]["kind"], "Workflow");
            workflows.push(documents[0].clone());
            planned.push(format!("{} {direction}", group.display()));
        }
    }
    if let Err(e) = orkestra_tests::argo::lint_all(&workflows) {
        panic!("{e:#}\nWorkflows by index: {planned:#?}");
    }
}
