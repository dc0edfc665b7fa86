//! Shared by the two executor test files: controller/tests/executor_flux.rs (the behaviour of a
//! release, against real Flux) and controller/tests/executor.rs (the executor's unit-level cases,
//! Flux played or absent). HelmReleases as the plan emits them, and the real
//! `orkestra-controller executor` binary run as a workflow pod runs it: its arguments, KUBECONFIG
//! set, none of its `ORKESTRA_EXECUTOR_*` variables inherited from the test's environment;
//! [`flux`]: the world of the real-Flux tests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod flux;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use base64::Engine as _;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// A HelmRelease as the plan emits it: chart `name` at `version` from the staging HelmRepository
/// `orkestra/orkestra-staging`.
pub fn release(namespace: &str, name: &str, version: &str) -> Value {
    json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": namespace,
            "labels": {"orkestra.azure.microsoft.com/owner": "bookinfo"}},
        "spec": {"releaseName": name, "interval": "5m", "timeout": "5m",
            "chart": {"spec": {"chart": name, "version": version,
                "sourceRef": {"kind": "HelmRepository", "name": "orkestra-staging", "namespace": "orkestra"}}},
            "values": {"replicas": 2}},
    })
}

/// `--helmrelease` of a HelmRelease: base64 of its JSON.
pub fn encode(value: &Value) -> String {
    base64::engine::general_purpose::STANDARD.encode(value.to_string())
}

/// The HelmReleases of `namespace`.
pub fn releases(client: &kube::Client, namespace: &str) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", "HelmRelease"),
        "helmreleases",
    );
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// Starts the executor with `args` and the credentials of `kubeconfig`.
pub fn start(kubeconfig: &Path, args: &[&str]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_orkestra-controller"));
    command
        .arg("executor")
        .args(args)
        .env("KUBECONFIG", kubeconfig);
    for var in [
        "ACTION",
        "HELMRELEASE",
        "TIMEOUT",
        "READY_CHECKS",
        "CHECK_INTERVAL",
        "TYPE",
        "PARAMS",
    ] {
        command.env_remove(format!("ORKESTRA_EXECUTOR_{var}"));
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command.spawn().unwrap()
}

/// The executor's arguments for `action` on an encoded HelmRelease.
pub fn action<'a>(action: &'a str, encoded: &'a str, timeout: &'a str) -> [&'a str; 6] {
    [
        "--action",
        action,
        "--helmrelease",
        encoded,
        "--timeout",
        timeout,
    ]
}

/// Starts `executor --action install` of `release`, confirming readiness three times 200 ms
/// apart (instead of the default 1 s) to keep the tests short.
pub fn install(kubeconfig: &Path, release: &Value, timeout: &str) -> Child {
    let encoded = encode(release);
    let mut args = action("install", &encoded, timeout).to_vec();
    args.extend(["--ready-checks", "3", "--check-interval", "200ms"]);
    start(kubeconfig, &args)
}

/// Starts `executor --action delete` of `release`.
pub fn delete(kubeconfig: &Path, release: &Value, timeout: &str) -> Child {
    let encoded = encode(release);
    start(kubeconfig, &action("delete", &encoded, timeout))
}

/// Waits for the executor to exit, at most `within`.
pub async fn finish(child: Child, within: Duration) -> Output {
    tokio::time::timeout(within, child.wait_with_output())
        .await
        .expect("the executor did not exit in time")
        .unwrap()
}

/// Waits (up to `within`) for the executor to exit with `code`: its `error:` line, and how long
/// it ran from this call.
pub async fn failed_with(child: Child, within: Duration, code: i32) -> (String, Duration) {
    let started = std::time::Instant::now();
    let output = finish(child, within).await;
    (error_line(&output, code), started.elapsed())
}

/// Asserts the executor is still running after `time`.
pub async fn still_running(child: &mut Child, time: Duration) {
    if let Ok(status) = tokio::time::timeout(time, child.wait()).await {
        panic!("the executor exited early: {status:?}");
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts the executor succeeded.
pub fn succeeded(output: &Output) {
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// Asserts the executor succeeded and said `expected` on stdout.
pub fn succeeded_saying(output: &Output, expected: &str) {
    succeeded(output);
    let stdout = text(&output.stdout);
    assert!(stdout.contains(expected), "{stdout}");
}

/// Asserts the executor exited with `code` and returns the one-line error it printed
/// (`error: …`).
pub fn error_line(output: &Output, code: i32) -> String {
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {stderr}",
        text(&output.stdout)
    );
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in {stderr:?}"));
    line.to_owned()
}
