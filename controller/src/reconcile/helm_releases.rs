//! The HelmReleases of a group (found by OWNER_LABEL, in any namespace) and their conditions,
//! copied into `status.applications[]` and its `subcharts` map.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use orkestra_shared::crd::{ApplicationGroupSpec, ApplicationStatus};
use orkestra_shared::names::{self, OWNER_LABEL};
use orkestra_shared::plan;

use super::context::Context;
use super::error::Error;

/// Namespace of a release whose target namespace is empty (the plan's default).
const DEFAULT_NAMESPACE: &str = "default";

/// The HelmRelease kind.
pub fn api_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", "HelmRelease"),
        "helmreleases",
    )
}

/// Conditions of a group's HelmReleases by (namespace, name).
pub type ReleaseConditions = BTreeMap<(String, String), Vec<Condition>>;

/// Lists the group's HelmReleases.
pub async fn conditions(ctx: &Context, group: &str) -> Result<ReleaseConditions, Error> {
    let api: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &api_resource());
    let selector = format!("{OWNER_LABEL}={}", plan::owner_label_value(group));
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(Error::kube(format!("listing the HelmReleases of {group}")))?;
    Ok(list
        .items
        .into_iter()
        .map(|release| {
            let conditions: Vec<Condition> = release
                .data
                .pointer("/status/conditions")
                .cloned()
                .and_then(|c| serde_json::from_value(c).ok())
                .unwrap_or_default();
            let key = (
                release.metadata.namespace.unwrap_or_default(),
                release.metadata.name.unwrap_or_default(),
            );
            (key, conditions)
        })
        .collect())
}

/// Copies the conditions into `applications` (each release found by the name the plan gives it).
pub fn fill(
    applications: &mut [ApplicationStatus],
    spec: &ApplicationGroupSpec,
    releases: &ReleaseConditions,
) {
    for status in applications {
        let Some(app) = spec.applications.iter().find(|a| a.name == status.name) else {
            continue;
        };
        let namespace = match app.spec.release.target_namespace.as_str() {
            "" => DEFAULT_NAMESPACE,
            ns => ns,
        };
        let get = |name: String| {
            releases
                .get(&(namespace.to_owned(), name))
                .cloned()
                .unwrap_or_default()
        };
        status.chart.conditions = get(names::release_name(&app.name));
        for (sub, chart) in &mut status.subcharts {
            chart.conditions = get(names::subchart_release_name(&app.name, sub));
        }
    }
}

/// Releases (of those listed) whose Ready condition is True, out of all listed.
pub fn ready_count(releases: &ReleaseConditions) -> (usize, usize) {
    let ready = releases
        .values()
        .filter(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
        .count();
    (ready, releases.len())
}
