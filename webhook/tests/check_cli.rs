//! `orkestra-webhook check`, run as a real process over temporary files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const VALID: &str = r#"
apiVersion: orkestra.azure.microsoft.com/v1alpha1
kind: ApplicationGroup
metadata:
  name: bookinfo
spec:
  applications:
  - name: ambassador
    spec:
      chart: {url: "https://charts.example.com", name: ambassador, version: "6.6.0"}
      release: {targetNamespace: ambassador}
  - name: bookinfo
    dependencies: [ambassador]
    spec:
      chart: {url: "https://charts.example.com", name: bookinfo}
      release: {targetNamespace: bookinfo}
"#;

const INVALID: &str = r#"
apiVersion: orkestra.azure.microsoft.com/v1alpha1
kind: ApplicationGroup
metadata:
  name: broken
spec:
  applications:
  - name: web
    dependencies: [db]
    spec:
      chart: {url: "https://charts.example.com", name: web}
      release: {targetNamespace: kube-system}
"#;

const CONFIG_MAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\ndata: {a: b}\n";

fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orkestra-webhook"))
        .arg("check")
        .args(args)
        .output()
        .unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn valid_documents_exit_0_and_other_kinds_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "groups.yaml",
        &format!("{VALID}---\n{CONFIG_MAP}---\n"),
    );
    let output = check(&[&file]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("checked 1 ApplicationGroup(s): 0 invalid"),
        "{}",
        stderr(&output)
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn invalid_documents_exit_1_with_one_line_per_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.yaml", VALID);
    let bad = write(dir.path(), "bad.yaml", &format!("{VALID}---{INVALID}"));
    let output = check(&[&good, &bad]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{bad}: broken: ")))
        .collect();
    assert!(
        lines.iter().any(|l| l.starts_with(&format!(
            "{bad}: broken: spec.applications[0].dependencies[0]: "
        ))),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with(&format!(
            "{bad}: broken: spec.applications[0].spec.release.targetNamespace: "
        ))),
        "{text}"
    );
    assert!(
        !text.contains(&format!("{good}: ")),
        "the good file has no errors: {text}"
    );
    assert!(
        text.contains("checked 3 ApplicationGroup(s): 1 invalid"),
        "{text}"
    );
}

#[test]
fn print_defaulted_writes_the_defaulted_groups_as_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "groups.yaml", VALID);
    let output = check(&["--print-defaulted", &file]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    let groups: Vec<serde_json::Value> = serde_norway::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .collect();
    assert_eq!(groups.len(), 1, "{text}");
    let app = &groups[0]["spec"]["applications"][1];
    assert_eq!(app["spec"]["chart"]["version"], "*", "{text}");
    assert_eq!(app["spec"]["release"]["timeout"], "5m", "{text}");
    assert_eq!(
        groups[0]["spec"]["applications"][0]["spec"]["chart"]["version"],
        "6.6.0"
    );
}

/// A field left empty in YAML (`dependencies:`, `type:`) is null; where the CRD has a default the
/// API server stores the default, so `check` reads it so too.
#[test]
fn empty_fields_with_a_default_read_as_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"
apiVersion: orkestra.azure.microsoft.com/v1alpha1
kind: ApplicationGroup
metadata:
  name: empty-fields
spec:
  applications:
  - name: web
    dependencies:
    spec:
      chart: {url: "https://charts.example.com", name: web}
      release: {targetNamespace: web}
      workflow:
      - name: install
        type:
"#;
    let file = write(dir.path(), "group.yaml", text);
    let output = check(&["--print-defaulted", &file]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let printed = String::from_utf8(output.stdout).unwrap();
    let group: serde_json::Value = serde_norway::from_str(&printed).unwrap();
    let app = &group["spec"]["applications"][0];
    assert_eq!(app["dependencies"], serde_json::json!([]), "{printed}");
    assert_eq!(
        app["spec"]["workflow"][0]["type"], "helmrelease",
        "{printed}"
    );
}

/// A group written as Azure Orkestra's users wrote them (container images, `params: null`, no
/// executor type, a Secret without namespace), shared with the custom executor tests.
const UPSTREAM_STYLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/upstream-style.yaml"
);

#[test]
fn a_group_written_for_azure_orkestra_passes_with_its_container_images_kept() {
    let output = check(&["--print-defaulted", UPSTREAM_STYLE]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    let group: serde_json::Value = serde_norway::from_str(&text).unwrap();
    let written: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(UPSTREAM_STYLE).unwrap()).unwrap();
    let workflow =
        |group: &serde_json::Value| group["spec"]["applications"][0]["spec"]["workflow"].clone();
    assert_eq!(
        workflow(&group)[1]["image"],
        workflow(&written)[1]["image"],
        "{text}"
    );
    assert_eq!(workflow(&group)[0]["type"], "helmrelease", "{text}");
}

#[test]
fn a_bad_executor_image_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(UPSTREAM_STYLE).unwrap().replace(
        "          name: smoke\n          image: example.com/smoke:1",
        "          name: smoke\n          image: 5",
    );
    let file = write(dir.path(), "bad-image.yaml", &text);
    let output = check(&[&file]);
    assert_eq!(output.status.code(), Some(1));
    let errors = stderr(&output);
    assert!(
        errors.contains(&format!(
            "{file}: upstream-style: spec.applications[0].spec.workflow[1].image.image: value is not of type \"string\""
        )),
        "{errors}"
    );
}

#[test]
fn json_files_and_standard_input_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let group: serde_json::Value = serde_norway::from_str(VALID).unwrap();
    let file = write(
        dir.path(),
        "group.json",
        &serde_json::to_string_pretty(&group).unwrap(),
    );
    assert_eq!(check(&[&file]).status.code(), Some(0));

    let mut child = Command::new(env!("CARGO_BIN_EXE_orkestra-webhook"))
        .args(["check", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(INVALID.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("-: broken: spec.applications[0].dependencies[0]: "),
        "{}",
        stderr(&output)
    );
}

#[test]
fn malformed_yaml_exits_2_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "broken.yaml",
        &format!("{VALID}---\nkind: ApplicationGroup\nspec: [unclosed\n"),
    );
    let output = check(&[&file]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(
        text.contains(&file) && text.contains("document 2") && text.contains("line"),
        "{text}"
    );
}

#[test]
fn an_unreadable_file_exits_2() {
    let output = check(&["/nonexistent/groups.yaml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("/nonexistent/groups.yaml: cannot read"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(check(&[]).status.code(), Some(2));
    assert_eq!(check(&["--no-such-flag", "x.yaml"]).status.code(), Some(2));
}

#[test]
fn the_policy_file_is_applied_and_a_bad_one_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "groups.yaml", VALID);
    let strict = write(
        dir.path(),
        "strict.yaml",
        "allowedChartRepositories: [\"https://charts.internal/\"]\n",
    );
    let output = check(&["--policy", &strict, &file]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("bookinfo: spec.applications[0].spec.chart.url: "),
        "{}",
        stderr(&output)
    );

    let broken = write(dir.path(), "broken-policy.yaml", "noSuchField: 1\n");
    let output = check(&["--policy", &broken, &file]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains(&broken), "{}", stderr(&output));
}

#[test]
fn a_group_of_another_api_version_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "old.yaml",
        &VALID.replace("v1alpha1", "v1alpha0"),
    );
    let output = check(&[&file]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output)
            .contains("bookinfo: apiVersion: expected \"orkestra.azure.microsoft.com/v1alpha1\""),
        "{}",
        stderr(&output)
    );
}
