//! The Flux `HelmRepository` (source.toolkit.fluxcd.io/v1) through which HelmReleases pull the
//! staged charts: created or updated by server-side apply before each submission, so it exists and
//! points at the current staging URL even if someone deleted or edited it.

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use orkestra_shared::names::{HERITAGE_LABEL, HERITAGE_VALUE};
use serde_json::json;

use super::context::{CONTROLLER_NAME, Context};
use super::error::Error;

/// How often Flux refreshes the staging repository's index (OCI repositories have none).
const INTERVAL: &str = "5m";

/// The HelmRepository kind.
pub fn api_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "HelmRepository"),
        "helmrepositories",
    )
}

/// The HelmRepository object for a staging URL: `type: oci` for `oci://`; `insecure` (plain HTTP)
/// when staging itself speaks plain HTTP to the registry (`Stager::staging_is_plain_http`); the
/// credentials Secret, if any, as `secretRef`.
pub fn object(
    name: &str,
    namespace: &str,
    staging_url: &str,
    plain_http: bool,
    secret: Option<&str>,
) -> serde_json::Value {
    let mut spec = json!({"url": staging_url, "interval": INTERVAL});
    if let Some(secret) = secret {
        spec["secretRef"] = json!({"name": secret});
    }
    if staging_url.starts_with("oci://") {
        spec["type"] = json!("oci");
        if plain_http {
            spec["insecure"] = json!(true);
        }
    }
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": name, "namespace": namespace, "labels": {HERITAGE_LABEL: HERITAGE_VALUE}},
        "spec": spec,
    })
}

/// How long an applied HelmRepository is trusted to still be there before applying it again (one
/// API call per submission saved under load; a deleted one is back within this time).
const REAPPLY: std::time::Duration = std::time::Duration::from_secs(60);

/// Creates or updates the staging HelmRepository (at most every [`REAPPLY`]).
pub async fn ensure(ctx: &Context) -> Result<(), Error> {
    let fresh = ctx
        .staging_source_applied
        .lock()
        .ok()
        .and_then(|applied| *applied)
        .is_some_and(|at| at.elapsed() < REAPPLY);
    if fresh {
        return Ok(());
    }
    let source = &ctx.config.plan.staging_source;
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &source.namespace, &api_resource());
    let body = object(
        &source.name,
        &source.namespace,
        &ctx.stager.staging_url(),
        ctx.stager.staging_is_plain_http(),
        ctx.config.staging_credentials_secret.as_deref(),
    );
    api.patch(
        &source.name,
        &PatchParams::apply(CONTROLLER_NAME).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(Error::kube(format!(
        "applying HelmRepository {}/{}",
        source.namespace, source.name
    )))?;
    if let Ok(mut applied) = ctx.staging_source_applied.lock() {
        *applied = Some(std::time::Instant::now());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oci_staging_registry_is_an_oci_helm_repository() {
        let repo = object("s", "ns", "oci://127.0.0.1:5000/charts", true, None);
        assert_eq!(repo["spec"]["type"], "oci");
        assert_eq!(repo["spec"]["insecure"], true);
        let repo = object(
            "s",
            "ns",
            "oci://registry.example.com/charts",
            false,
            Some("creds"),
        );
        assert_eq!(repo["spec"]["secretRef"]["name"], "creds");
        assert_eq!(repo["spec"].get("insecure"), None);
        let repo = object("s", "ns", "https://museum.example.com", false, None);
        assert_eq!(repo["spec"].get("type"), None);
    }
}
