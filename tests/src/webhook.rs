//! A webhook per test: `orkestra-webhook serve` on free loopback ports with its own certificates,
//! registered in its own Mutating- and ValidatingWebhookConfiguration whose `objectSelector` only
//! matches objects carrying this webhook's label. Tests therefore run in parallel against the one
//! shared cluster without seeing each other's webhooks, and a test may stop its webhook.
//!
//! The process is killed and the configurations are deleted on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::cluster::{Cluster, repo_root, unique_name};

/// The label key whose value selects one test webhook.
pub const SELECTOR_LABEL: &str = "orkestra.test/webhook";

/// A running webhook registered in the shared cluster.
#[derive(Debug)]
pub struct TestWebhook {
    /// Name of the configurations and value of [`SELECTOR_LABEL`].
    pub name: String,
    /// `https://127.0.0.1:PORT` of the admission listener.
    pub url: String,
    /// `127.0.0.1:PORT` of the admin listener.
    pub admin: String,
    /// Where the webhook logs (stdout and stderr).
    pub log: PathBuf,
    child: Option<Child>,
    cluster: Arc<Cluster>,
    _certs: tempfile::TempDir,
}

impl TestWebhook {
    /// Builds (once per process) and starts the webhook, waits for /readyz, registers it, and waits
    /// until the API server calls it.
    pub async fn start(
        cluster: &Arc<Cluster>,
        policy: Option<&Path>,
    ) -> anyhow::Result<TestWebhook> {
        Self::start_as(cluster, policy, cluster.kubeconfig()).await
    }

    /// [`TestWebhook::start`], with the webhook's own API calls (its SubjectAccessReviews) made
    /// as the user of `kubeconfig`.
    pub async fn start_as(
        cluster: &Arc<Cluster>,
        policy: Option<&Path>,
        kubeconfig: &Path,
    ) -> anyhow::Result<TestWebhook> {
        let binary = webhook_binary().await?;
        let name = unique_name("wh");
        let certs = tempfile::tempdir()?;
        let request = orkestra_certs::CertRequest {
            dns_names: vec!["localhost".into()],
            ips: vec!["127.0.0.1".parse()?],
            days: 2,
        };
        orkestra_certs::ensure_dir(certs.path(), &request, false)?;
        let (port, admin_port) = (free_port()?, free_port()?);
        let log = cluster.dir().join("logs").join(format!("{name}.log"));
        let log_file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = Command::new(&binary);
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--admin-listen", &format!("127.0.0.1:{admin_port}")])
            .arg("--tls-cert")
            .arg(certs.path().join(orkestra_certs::TLS_CERT_FILE))
            .arg("--tls-key")
            .arg(certs.path().join(orkestra_certs::TLS_KEY_FILE))
            .env("KUBECONFIG", kubeconfig)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        if let Some(policy) = policy {
            cmd.arg("--policy").arg(policy);
        }
        // Own process group, pid recorded in the cluster's pids/: if this test process is killed
        // before Drop runs, tests/cluster/down still stops the webhook.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid_file = cluster.dir().join("pids").join(format!("{name}.pid"));
        let _ = std::fs::write(pid_file, child.id().to_string());
        let mut webhook = TestWebhook {
            name,
            url: format!("https://127.0.0.1:{port}"),
            admin: format!("127.0.0.1:{admin_port}"),
            log,
            child: Some(child),
            cluster: cluster.clone(),
            _certs: certs,
        };
        webhook.wait_ready().await?;
        let ca = std::fs::read(webhook._certs.path().join(orkestra_certs::CA_CERT_FILE))?;
        webhook
            .register(&base64::engine::general_purpose::STANDARD.encode(ca))
            .await?;
        webhook.wait_active().await?;
        Ok(webhook)
    }

    /// The labels an object needs for this webhook to see it.
    pub fn labels(&self) -> serde_json::Value {
        json!({ SELECTOR_LABEL: self.name })
    }

    /// Kills the webhook process; its configurations stay registered (failurePolicy: Fail).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            let pid_file = self
                .cluster
                .dir()
                .join("pids")
                .join(format!("{}.pid", self.name));
            let _ = std::fs::remove_file(pid_file);
        }
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "orkestra-webhook exited ({status}); log: {}",
                    tail(&self.log)
                );
            }
            if http_status(&self.admin, "/readyz").await == Some(200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "orkestra-webhook not ready after 30s; log: {}",
                    tail(&self.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn register(&self, ca_bundle: &str) -> anyhow::Result<()> {
        let client = self.cluster.client().await?;
        for (kind, path) in [
            ("MutatingWebhookConfiguration", "/mutate"),
            ("ValidatingWebhookConfiguration", "/validate"),
        ] {
            let plural = format!("{}s", kind.to_ascii_lowercase());
            let resource = ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", kind),
                &plural,
            );
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
            let mut webhook = json!({
                "name": format!("{}.orkestra.azure.microsoft.com", if path == "/mutate" { "mutating" } else { "validating" }),
                "clientConfig": {"url": format!("{}{path}", self.url), "caBundle": ca_bundle},
                "rules": [{"apiGroups": ["orkestra.azure.microsoft.com"], "apiVersions": ["v1alpha1"],
                    "resources": ["applicationgroups"], "operations": ["CREATE", "UPDATE"], "scope": "*"}],
                "failurePolicy": "Fail", "matchPolicy": "Equivalent", "sideEffects": "None",
                "timeoutSeconds": 10, "admissionReviewVersions": ["v1"],
                "namespaceSelector": {},
                "objectSelector": {"matchLabels": {SELECTOR_LABEL: self.name}},
            });
            if path == "/mutate" {
                webhook["reinvocationPolicy"] = json!("Never");
            }
            let config = json!({
                "apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
                "metadata": {"name": self.name}, "webhooks": [webhook],
            });
            api.patch(
                &self.name,
                &PatchParams::apply("orkestra-tests").force(),
                &Patch::Apply(&config),
            )
            .await
            .with_context(|| format!("registering {kind} {}", self.name))?;
        }
        Ok(())
    }

    /// The admission plugins learn about new configurations through an informer: probe with a
    /// server-side dry run of a cyclic group until our webhook answers.
    async fn wait_active(&self) -> anyhow::Result<()> {
        let client = self.cluster.client().await?;
        let api: Api<DynamicObject> = Api::all_with(client, &application_group_resource());
        let probe: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "orkestra.azure.microsoft.com/v1alpha1", "kind": "ApplicationGroup",
            "metadata": {"name": format!("{}-probe", self.name), "labels": self.labels()},
            "spec": {"applications": [
                {"name": "a", "dependencies": ["b"], "spec": {"chart": {"url": "https://charts.example.com", "name": "a"}, "release": {"targetNamespace": "a"}}},
                {"name": "b", "dependencies": ["a"], "spec": {"chart": {"url": "https://charts.example.com", "name": "b"}, "release": {"targetNamespace": "b"}}},
            ]},
        }))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match api
                .create(
                    &kube::api::PostParams {
                        dry_run: true,
                        ..Default::default()
                    },
                    &probe,
                )
                .await
            {
                Err(kube::Error::Api(e)) if e.message.contains("->") => return Ok(()),
                _ if Instant::now() > deadline => {
                    bail!(
                        "the API server did not call webhook {} within 20s; log: {}",
                        self.name,
                        tail(&self.log)
                    )
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}

impl Drop for TestWebhook {
    fn drop(&mut self) {
        self.stop();
        for kind in [
            "mutatingwebhookconfigurations",
            "validatingwebhookconfigurations",
        ] {
            let _ = self
                .cluster
                .kubectl()
                .args([
                    "delete",
                    kind,
                    &self.name,
                    "--ignore-not-found",
                    "--wait=false",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The ApplicationGroup resource, for dynamic clients.
pub fn application_group_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(
            "orkestra.azure.microsoft.com",
            "v1alpha1",
            "ApplicationGroup",
        ),
        "applicationgroups",
    )
}

/// Builds a workspace binary once per test process and returns its path. With
/// `ORKESTRA_TESTS_PREBUILT=1` (set by tests/run after `cargo build --workspace --bins`) an existing
/// binary is used as it is.
pub async fn workspace_binary(package: &str, binary: &str) -> anyhow::Result<PathBuf> {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo_root().join("target"), PathBuf::from);
    let path = target.join("debug").join(binary);
    let prebuilt = std::env::var_os("ORKESTRA_TESTS_PREBUILT").is_some_and(|v| v == "1");
    if prebuilt && path.exists() {
        return Ok(path);
    }
    let already = BUILT
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .iter()
        .any(|b| b == binary);
    if !already {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let package = package.to_owned();
        let output = tokio::task::spawn_blocking(move || {
            Command::new(cargo)
                .current_dir(repo_root())
                .args(["build", "-q", "-p", &package])
                .output()
        })
        .await??;
        if !output.status.success() {
            bail!(
                "cargo build -p {binary} failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        BUILT
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .push(binary.to_owned());
    }
    Ok(path)
}

async fn webhook_binary() -> anyhow::Result<PathBuf> {
    workspace_binary("orkestra-webhook", "orkestra-webhook").await
}

/// A free TCP port on 127.0.0.1 (the kernel picks it; there is a small race until it is bound).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Status code of a plain HTTP/1.0 GET, or None when nothing answers.
async fn http_status(addr: &str, path: &str) -> Option<u16> {
    let mut stream =
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
            .await
            .ok()?
            .ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut head = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut head))
        .await
        .ok()?
        .ok()?;
    std::str::from_utf8(&head[..n])
        .ok()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
