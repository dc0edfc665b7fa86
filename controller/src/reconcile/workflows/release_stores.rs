//! The ConfigMaps holding the HelmReleases a Workflow passes by reference
//! (`orkestra_shared::plan::release_store`), written just before the Workflow is created.
//!
//! Owned by the group, not by the Workflow: they must exist before the Workflow's first step reads
//! them, when the Workflow has no uid yet. The owner reference does not block the group's deletion,
//! so the garbage collector leaves those written during a foreground deletion (the teardown's) in
//! place until the group is gone. Each Workflow name has fixed ConfigMap names; a plan that needs
//! fewer than the last one deletes the rest. A ConfigMap of such a name that Orkestra did not write
//! for that Workflow of this group is left alone (group `x`'s reverse Workflow and group
//! `x-reverse`'s forward one share a name), and the Workflow is not submitted until it is gone.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Resource as _;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use orkestra_shared::crd::ApplicationGroup;
use orkestra_shared::plan::release_store::WORKFLOW_LABEL;

use crate::reconcile::context::{CONTROLLER_NAME, Context};
use crate::reconcile::error::Error;

/// Applies `stores` (owned by `group`) and deletes the other ConfigMaps of the Workflow `workflow`.
pub async fn write(
    ctx: &Context,
    group: &ApplicationGroup,
    workflow: &str,
    stores: &[ConfigMap],
) -> Result<(), Error> {
    let api: Api<ConfigMap> =
        Api::namespaced(ctx.client.clone(), &ctx.config.plan.workflow_namespace);
    let selector = format!("{WORKFLOW_LABEL}={workflow}");
    let owner = group.controller_owner_ref(&());
    let owned_by_group = |store: &kube::api::PartialObjectMeta<ConfigMap>| {
        let uid = owner.as_ref().map(|o| o.uid.as_str());
        store
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| Some(o.uid.as_str()) == uid)
    };
    let ours: Vec<String> = api
        .list_metadata(&ListParams::default().labels(&selector))
        .await
        .map_err(Error::kube(format!(
            "listing the ConfigMaps of Workflow {workflow}"
        )))?
        .items
        .into_iter()
        .filter(owned_by_group)
        .filter_map(|c| c.metadata.name)
        .collect();
    let params = PatchParams::apply(CONTROLLER_NAME).force();
    for store in stores {
        let name = store.metadata.name.clone().unwrap_or_default();
        // NB: one of that name without this Workflow's label and this group as owner is someone
        // else's (another group's Workflow of the same name, a deleted group of the same name):
        // it is not taken over.
        if !ours.contains(&name) {
            let existing = api
                .get_metadata_opt(&name)
                .await
                .map_err(Error::kube(format!("reading ConfigMap {name}")))?;
            if existing.is_some() {
                return Err(Error::ReleaseStoreNameTaken(format!(
                    "{}/{name}",
                    ctx.config.plan.workflow_namespace
                )));
            }
        }
        let mut store = store.clone();
        store.metadata.owner_references = owner.clone().map(|o| vec![o]);
        api.patch(&name, &params, &Patch::Apply(&store))
            .await
            .map_err(Error::kube(format!(
                "writing ConfigMap {name} (HelmReleases of Workflow {workflow})"
            )))?;
    }
    let planned = |name: &String| {
        stores
            .iter()
            .any(|s| s.metadata.name.as_ref() == Some(name))
    };
    for name in ours.iter().filter(|name| !planned(name)) {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(source) => {
                return Err(Error::Kube {
                    action: format!("deleting ConfigMap {name} of an earlier Workflow {workflow}"),
                    source,
                });
            }
        }
    }
    Ok(())
}
