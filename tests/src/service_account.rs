//! Acting as a ServiceAccount: a token from the TokenRequest API, as a `kube::Client` or a
//! kubeconfig, so a test runs the controller or the webhook with exactly the permissions RBAC gives
//! that account (a chart's Roles, say) instead of the admin's.

use std::path::Path;

use anyhow::Context as _;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::{Cluster, unique_name};

/// How long a test token is valid: longer than any test, short enough to expire after the run.
const TOKEN_SECONDS: i64 = 3600;

impl Cluster {
    /// Creates namespace `unique_name(prefix)` as the admin and returns its name.
    pub async fn namespace(&self, prefix: &str) -> anyhow::Result<String> {
        let name = unique_name(prefix);
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
        Api::<Namespace>::all(self.client().await?)
            .create(&PostParams::default(), &ns)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        Ok(name)
    }

    /// Creates ServiceAccount `namespace/name` (if missing) and returns a token for it.
    pub async fn service_account_token(
        &self,
        namespace: &str,
        name: &str,
    ) -> anyhow::Result<String> {
        let accounts = Api::<ServiceAccount>::namespaced(self.client().await?, namespace);
        if accounts.get_opt(name).await?.is_none() {
            let account: ServiceAccount =
                serde_json::from_value(json!({"metadata": {"name": name}}))?;
            accounts.create(&PostParams::default(), &account).await?;
        }
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                expiration_seconds: Some(TOKEN_SECONDS),
                ..TokenRequestSpec::default()
            }),
            ..TokenRequest::default()
        };
        let answer = accounts
            .create_token_request(name, &PostParams::default(), &request)
            .await
            .with_context(|| format!("TokenRequest for ServiceAccount {namespace}/{name}"))?;
        let token = answer.status.and_then(|s| s.token).unwrap_or_default();
        anyhow::ensure!(
            !token.is_empty(),
            "TokenRequest for {namespace}/{name} returned no token"
        );
        Ok(token)
    }

    /// A client that authenticates as ServiceAccount `namespace/name` (created if missing).
    pub async fn service_account_client(
        &self,
        namespace: &str,
        name: &str,
    ) -> anyhow::Result<kube::Client> {
        let token = self.service_account_token(namespace, name).await?;
        let mut config = self.admin_config().await?;
        config.auth_info = kube::config::AuthInfo {
            token: Some(token.into()),
            ..kube::config::AuthInfo::default()
        };
        Ok(kube::Client::try_from(config)?)
    }

    /// Writes a kubeconfig at `path` that authenticates as ServiceAccount `namespace/name` (created
    /// if missing), for running a binary with that account's permissions.
    pub async fn write_service_account_kubeconfig(
        &self,
        namespace: &str,
        name: &str,
        path: &Path,
    ) -> anyhow::Result<()> {
        let token = self.service_account_token(namespace, name).await?;
        let admin: serde_json::Value =
            serde_norway::from_str(&std::fs::read_to_string(self.kubeconfig())?)?;
        let cluster = admin
            .pointer("/clusters/0/cluster")
            .cloned()
            .context("the admin kubeconfig has no cluster")?;
        let user = format!("system:serviceaccount:{namespace}:{name}");
        let config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "orkestra-test", "cluster": cluster}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": "orkestra-test",
                          "context": {"cluster": "orkestra-test", "user": user, "namespace": namespace}}],
            "current-context": "orkestra-test",
        });
        std::fs::write(path, serde_norway::to_string(&config)?)
            .with_context(|| format!("writing {}", path.display()))
    }
}
