//! The executor's ServiceAccount and RBAC, exactly as the chart renders them (`chart/`,
//! `app.kubernetes.io/component: executor`), for tests that run the real executor as its pods would.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::Cluster;
use crate::helm::Helm;

/// The executor's ServiceAccount, as the chart names it (`workflow.executor.serviceAccount.name`).
pub const EXECUTOR_ACCOUNT: &str = "orkestra-executor";

impl Cluster {
    /// Renders the chart as release `release` into `namespace` (the workflow namespace), applies its
    /// executor objects (ServiceAccount, ClusterRole, Role and bindings) and waits until RBAC lets
    /// the account write HelmReleases. `release` names the cluster-scoped objects: one per test.
    pub async fn install_executor_account(
        &self,
        helm: &Helm,
        namespace: &str,
        release: &str,
    ) -> anyhow::Result<()> {
        let objects = helm
            .template(
                release,
                namespace,
                &["staging.url=oci://127.0.0.1:1/unused"],
            )?
            .map_err(|e| anyhow::anyhow!("helm template of the chart: {e}"))?;
        let executor: Vec<Value> = objects
            .into_iter()
            .filter(|o| o["metadata"]["labels"]["app.kubernetes.io/component"] == "executor")
            .collect();
        if !executor
            .iter()
            .any(|o| o["kind"] == "ServiceAccount" && o["metadata"]["name"] == EXECUTOR_ACCOUNT)
        {
            bail!("the chart renders no executor ServiceAccount {EXECUTOR_ACCOUNT}");
        }
        let list = json!({"apiVersion": "v1", "kind": "List", "items": executor});
        let mut file = tempfile::Builder::new().suffix(".json").tempfile()?;
        std::io::Write::write_all(&mut file, list.to_string().as_bytes())?;
        let out = self
            .kubectl()
            .args(["apply", "-f"])
            .arg(file.path())
            .output()
            .context("running kubectl apply")?;
        if !out.status.success() {
            bail!(
                "applying the executor's RBAC: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        self.wait_until_executor_may_write(namespace).await
    }

    /// RBAC takes effect a moment after the binding is written: waits until the account may patch
    /// HelmReleases, so a test's first step is not refused by that lag.
    async fn wait_until_executor_may_write(&self, namespace: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let user = format!("system:serviceaccount:{namespace}:{EXECUTOR_ACCOUNT}");
        loop {
            let out = self
                .kubectl()
                .args([
                    "auth",
                    "can-i",
                    "patch",
                    "helmreleases.helm.toolkit.fluxcd.io",
                ])
                .args(["--all-namespaces", "--as", &user])
                .output()
                .context("running kubectl auth can-i")?;
            if String::from_utf8_lossy(&out.stdout).trim() == "yes" {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the executor's RBAC never applied: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
