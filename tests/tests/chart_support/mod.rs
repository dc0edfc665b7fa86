//! What the chart tests share: the rendered objects, the API server's dry run, the installed
//! release's objects.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use base64::Engine as _;
use orkestra_tests::Cluster;
use orkestra_tests::helm::Helm;
use serde_json::{Value, json};

pub const STAGING: &str = "staging.url=oci://registry.example.com/orkestra/charts";

/// Kind and name of every object, as `Kind/name`.
pub fn names(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|o| format!("{}/{}", o["kind"].as_str().unwrap(), name_of(o)))
        .collect()
}

pub fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

pub fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && name_of(o) == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} in {:?}", names(objects)))
}

pub fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

pub fn run(mut cmd: Command) -> (bool, String, String) {
    let out = cmd.output().expect("running a command");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `kubectl apply --dry-run=server` of `objects`: the API server (admission, schema, RBAC
/// escalation checks) accepts each one, and persists none.
pub fn server_accepts(cluster: &Cluster, objects: &[Value]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("objects.json");
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    std::fs::write(&file, serde_json::to_vec(&list).unwrap()).unwrap();
    let mut cmd = cluster.kubectl();
    cmd.args(["apply", "--dry-run=server", "-o", "name", "-f"])
        .arg(&file);
    let (ok, stdout, stderr) = run(cmd);
    assert!(ok, "the API server refused the rendered objects:\n{stderr}");
    let accepted = stdout.lines().count();
    assert_eq!(
        accepted,
        objects.len(),
        "accepted {accepted} of {}:\n{stdout}",
        objects.len()
    );
}

/// Decoded `data` entry of a rendered or read Secret.
pub fn secret_data(secret: &Value, key: &str) -> Vec<u8> {
    let text = secret["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("Secret {} has no {key}", name_of(secret)));
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

pub fn webhook_configurations(objects: &[Value]) -> Vec<&Value> {
    objects
        .iter()
        .filter(|o| {
            o["kind"] == "MutatingWebhookConfiguration"
                || o["kind"] == "ValidatingWebhookConfiguration"
        })
        .collect()
}

/// The subjectAltName extension of a PEM certificate, and whether `ca` verifies it, by openssl.
pub fn certificate_check(ca: &[u8], cert: &[u8]) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (ca_file, cert_file) = (dir.path().join("ca.crt"), dir.path().join("tls.crt"));
    std::fs::write(&ca_file, ca).unwrap();
    std::fs::write(&cert_file, cert).unwrap();
    let mut cmd = Command::new("openssl");
    cmd.args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(&cert_file);
    let (ok, sans, stderr) = run(cmd);
    assert!(ok, "openssl x509: {stderr}");
    let mut cmd = Command::new("openssl");
    cmd.arg("verify")
        .arg("-CAfile")
        .arg(&ca_file)
        .arg(&cert_file);
    let (_, verified, stderr) = run(cmd);
    (sans, format!("{verified}{stderr}"))
}

pub fn env_of<'a>(deployment: &'a Value, name: &str) -> Option<&'a str> {
    deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)?["value"]
        .as_str()
}

/// Objects labelled as this release's, `Kind/name` per line, of the given kinds.
pub fn labelled(
    cluster: &Cluster,
    release: &str,
    kinds: &str,
    namespace: Option<&str>,
) -> Vec<String> {
    let mut cmd = cluster.kubectl();
    cmd.args(["get", kinds, "-o", "name", "-l"]).arg(format!(
        "app.kubernetes.io/instance={release},app.kubernetes.io/managed-by=Helm"
    ));
    match namespace {
        Some(ns) => cmd.args(["-n", ns]),
        None => cmd.arg("--all-namespaces"),
    };
    let (ok, stdout, stderr) = run(cmd);
    assert!(ok, "kubectl get {kinds}: {stderr}");
    stdout.lines().map(str::to_owned).collect()
}

pub const NAMESPACED: &str = "deployments,replicasets,pods,services,serviceaccounts,secrets,configmaps,roles,rolebindings,poddisruptionbudgets,persistentvolumeclaims";
pub const CLUSTER_SCOPED: &str = "mutatingwebhookconfigurations,validatingwebhookconfigurations,clusterroles,clusterrolebindings";

pub fn get_json(cluster: &Cluster, args: &[&str]) -> Value {
    let mut cmd = cluster.kubectl();
    cmd.args(["get", "-o", "json"]).args(args);
    let (ok, stdout, stderr) = run(cmd);
    assert!(ok, "kubectl get {args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap()
}

pub fn install_args(verb: &str, release: &str, ns: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        verb,
        release,
        &Helm::chart().display().to_string(),
        "--namespace",
        ns,
    ]
    .map(str::to_owned)
    .to_vec();
    // Only groups carrying this label reach this release's webhook: the webhook pods never run
    // here (no scheduler), and failurePolicy Fail must not stop the other tests' groups.
    let selector = format!("webhook.objectSelector.matchLabels.orkestra-chart-test={release}");
    // NB: not the bundled registry: this cluster runs no volume controllers, so its claim would
    // keep the pvc-protection finalizer forever after `helm uninstall` (it is rendered and checked
    // by the API server in bundled_registry_and_webhook_url_render_objects_the_api_server_accepts).
    let sets = [STAGING, selector.as_str()];
    for set in sets.iter().chain(extra) {
        args.extend(["--set".into(), (*set).to_owned()]);
    }
    args
}

/// An installed release, uninstalled on drop (also when the test fails half-way).
pub struct Installed<'a> {
    pub helm: &'a Helm,
    pub cluster: &'a Cluster,
    pub release: String,
    pub namespace: String,
}

impl<'a> Installed<'a> {
    /// `helm install` of the chart as `release` into `namespace` with `extra` values (see
    /// [`install_args`]); panics with Helm's output when it fails. Returns the installed release
    /// and what Helm printed.
    pub fn install(
        helm: &'a Helm,
        cluster: &'a Cluster,
        release: &str,
        namespace: &str,
        extra: &[&str],
    ) -> (Installed<'a>, String) {
        let out = helm
            .run_on(
                cluster.kubeconfig(),
                install_args("install", release, namespace, extra),
            )
            .unwrap();
        assert!(
            out.success,
            "helm install failed:\n{}{}",
            out.stdout, out.stderr
        );
        let installed = Installed {
            helm,
            cluster,
            release: release.to_owned(),
            namespace: namespace.to_owned(),
        };
        (installed, out.stdout)
    }
}

impl Drop for Installed<'_> {
    fn drop(&mut self) {
        let _ = self.helm.run_on(
            self.cluster.kubeconfig(),
            ["uninstall", &self.release, "--namespace", &self.namespace],
        );
    }
}

/// A process of the product run here in place of a pod, killed on drop. Its pid is in the
/// cluster's pids/, so tests/cluster/down stops it if the test dies first.
pub struct LocalProcess {
    child: std::process::Child,
    pid_file: std::path::PathBuf,
    log: std::path::PathBuf,
}

impl LocalProcess {
    /// Spawns `cmd` in a process group of its own, recorded as `name`, with no stdin and its
    /// output in the cluster's `logs/<name>.log`.
    pub fn spawn(cluster: &Cluster, name: &str, mut cmd: Command) -> LocalProcess {
        let log = cluster.dir().join("logs").join(format!("{name}.log"));
        let log_file = std::fs::File::create(&log).unwrap();
        cmd.stdin(std::process::Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().unwrap();
        let pid_file = cluster.dir().join("pids").join(format!("{name}.pid"));
        std::fs::write(&pid_file, child.id().to_string()).unwrap();
        LocalProcess {
            child,
            pid_file,
            log,
        }
    }

    /// Where its output goes.
    pub fn log(&self) -> &std::path::Path {
        &self.log
    }
}

impl Drop for LocalProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.pid_file);
    }
}
