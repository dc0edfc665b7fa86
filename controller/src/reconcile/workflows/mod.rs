//! A group's Argo Workflows: finding them (here), reading one ([`object`]), submitting one,
//! replacing an older generation's ([`submit`]), the ConfigMaps of the HelmReleases it passes by
//! reference ([`release_stores`]), suspending the others ([`suspend`]), and their
//! finalizer ([`finalizer`]).
//!
//! Each direction has one fixed name (`<group>`, `<group>-reverse`, `<group>-rollback`), so a
//! Workflow can never run twice: before creating one, the existing object's GENERATION_LABEL says
//! whether this generation was already submitted (e.g. by a replica that died right after).
//! Only a Workflow owned by the group (its uid in the owner references) counts as the group's: one
//! left by a deleted group of the same name is neither observed nor kept, but replaced.
//!
//! Every Workflow carries the group's FINALIZER, as Azure Orkestra's did: a foreground delete of the
//! group lets the garbage collector delete the owned Workflows at once, and without the finalizer
//! the forward one (the record that something was deployed) and the reverse one (the teardown) would
//! be gone before the teardown ran. The controller removes it when the group is released
//! ([`release_all`]), before it replaces a Workflow, and from one deleted while its group lives.

mod finalizer;
mod object;
mod release_stores;
mod submit;
mod suspend;

use kube::api::{Api, DynamicObject, ListParams};
use orkestra_shared::crd::ApplicationGroup;
use orkestra_shared::names::{OWNER_LABEL, WORKFLOW_TYPE_LABEL};
use orkestra_shared::plan;

use super::context::Context;
use super::error::Error;
use finalizer::release;
pub use object::{
    GroupWorkflows, Phase, api_resource, generation, is_suspended, message, phase, standing,
};
use object::{api, label, owned_by};
pub use submit::{Submitted, submit};
pub use suspend::suspend_others;

/// Reads the group's Workflows from the API server (not a cache: the decision to create one must
/// see the latest state). Workflows with the group's names that another object owns are left out.
pub async fn list(ctx: &Context, owner: &ApplicationGroup) -> Result<GroupWorkflows, Error> {
    let group = owner.metadata.name.as_deref().unwrap_or_default();
    let selector = format!("{OWNER_LABEL}={}", plan::owner_label_value(group));
    let list = api(ctx)
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(Error::kube(format!("listing the Workflows of {group}")))?;
    let mut out = GroupWorkflows::default();
    let owned: Vec<DynamicObject> = list
        .items
        .into_iter()
        .filter(|w| owned_by(w, owner))
        .collect();
    let collected_by_gc = if owned
        .iter()
        .any(|w| w.metadata.deletion_timestamp.is_some())
    {
        in_foreground_deletion(ctx, group).await?
    } else {
        false
    };
    for workflow in owned {
        if !collected_by_gc && workflow.metadata.deletion_timestamp.is_some() {
            // Someone deleted it: let it go, it counts as gone (a deleted reverse Workflow
            // releases the group being torn down).
            release(&api(ctx), &workflow).await?;
            continue;
        }
        let name = workflow.metadata.name.as_deref().unwrap_or_default();
        let direction = label(&workflow, WORKFLOW_TYPE_LABEL);
        // NB: match on the fixed name too: a long group name's owner label is a hash and could,
        // in theory, be shared.
        for (label, slot) in [
            ("forward", &mut out.forward),
            ("reverse", &mut out.reverse),
            ("rollback", &mut out.rollback),
        ] {
            if direction == Some(label)
                && name == orkestra_shared::names::workflow_name(group, label)
            {
                *slot = Some(workflow.clone());
            }
        }
    }
    Ok(out)
}

/// Whether the group is being deleted in the foreground, read from the API server (a cached copy may
/// predate the deletion). Only then does the garbage collector delete its Workflows while it is still
/// there; any other deletion of one is a person's or a tool's. A group already gone counts as such.
async fn in_foreground_deletion(ctx: &Context, group: &str) -> Result<bool, Error> {
    let fresh = Api::<ApplicationGroup>::all(ctx.client.clone())
        .get_opt(group)
        .await
        .map_err(Error::kube(format!("reading the ApplicationGroup {group}")))?;
    Ok(fresh.is_none_or(|g| {
        g.metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == "foregroundDeletion")
    }))
}

/// Removes FINALIZER from every Workflow of `group`: the group is being released, and the garbage
/// collector (or the group's foreground deletion) may take them.
pub async fn release_all(ctx: &Context, group: &ApplicationGroup) -> Result<(), Error> {
    let workflows = list(ctx, group).await?;
    for workflow in [workflows.forward, workflows.reverse, workflows.rollback]
        .iter()
        .flatten()
    {
        release(&api(ctx), workflow).await?;
    }
    Ok(())
}
