//! Leftovers: the group's HelmReleases in the cluster that a plan does not name (one an update
//! dropped while the generation before it was still rolling out, one a rollback put back after an
//! update dropped it, one a failed generation moved to another namespace, a subchart only an older
//! chart version split out). The Workflows of rollouts, remediations and teardowns delete them
//! first (`plan::build_clearing`).

use std::collections::HashSet;

use kube::api::DynamicObject;
use orkestra_shared::plan::{self, HelmRelease, Plan, PlanError};

use super::context::Context;
use super::error::Error;
use super::helm_releases;

/// `plan`, made by `build` without leftovers, or `build`'s plan that deletes the group's
/// leftovers first when there are any. Should that plan fail (a Workflow beyond Argo's limits),
/// `plan` stands: the leftovers stay, and the log says so.
pub async fn cleared(
    ctx: &Context,
    group: &str,
    plan: Plan,
    build: impl Fn(&[HelmRelease]) -> Result<Plan, PlanError>,
) -> Result<Plan, Error> {
    let leftovers = of(ctx, group, &plan.helm_releases).await?;
    if leftovers.is_empty() {
        return Ok(plan);
    }
    match build(&leftovers) {
        Ok(clearing) => Ok(clearing),
        Err(err) => {
            tracing::warn!(group, leftovers = leftovers.len(), %err,
                "the Workflow leaves the group's HelmReleases that its plan does not name");
            Ok(plan)
        }
    }
}

/// The group's HelmReleases in the cluster that `planned` does not name, as a plan carries them.
async fn of(
    ctx: &Context,
    group: &str,
    planned: &[HelmRelease],
) -> Result<Vec<HelmRelease>, Error> {
    let planned: HashSet<(&str, &str)> = planned
        .iter()
        .map(|release| (release.namespace(), release.name()))
        .collect();
    Ok(helm_releases::objects(ctx, group)
        .await?
        .iter()
        .filter(|object| {
            let namespace = object.metadata.namespace.as_deref().unwrap_or_default();
            let name = object.metadata.name.as_deref().unwrap_or_default();
            !planned.contains(&(namespace, name))
        })
        .filter_map(as_planned)
        .collect())
}

/// A HelmRelease found in the cluster as a plan carries it (name, namespace, labels and spec);
/// `None` when its spec is not one the plan can carry.
fn as_planned(object: &DynamicObject) -> Option<HelmRelease> {
    let planned = serde_json::json!({
        "apiVersion": plan::flux::API_VERSION,
        "kind": plan::flux::KIND,
        "metadata": {
            "name": object.metadata.name,
            "namespace": object.metadata.namespace,
            "labels": object.metadata.labels,
        },
        "spec": object.data.get("spec"),
    });
    serde_json::from_value(planned).ok()
}
