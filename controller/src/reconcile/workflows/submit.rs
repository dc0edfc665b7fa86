//! Submitting a group's Workflow: creating it, or replacing one of an older generation.

use kube::Resource as _;
use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use orkestra_shared::crd::ApplicationGroup;
use orkestra_shared::names::{FINALIZER, GENERATION_LABEL, OWNER_LABEL};
use orkestra_shared::plan::{self, Plan};

use super::finalizer::release;
use super::object::{api, generation, label, owned_by};
use super::release_stores;
use crate::reconcile::context::Context;
use crate::reconcile::error::Error;

/// What [`submit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// The Workflow was created.
    Created,
    /// A Workflow of this generation already existed; nothing was done.
    AlreadyThere,
}

/// Creates the Workflow of `plan` (owned by `group`) after the ConfigMaps of the HelmReleases it
/// refers to, first deleting `existing` when it is from another generation. Returns
/// [`Error::WorkflowTerminating`] while the old one is still going away.
pub async fn submit(
    ctx: &Context,
    group: &ApplicationGroup,
    plan: &Plan,
    existing: Option<&DynamicObject>,
) -> Result<Submitted, Error> {
    let workflow = &plan.workflow;
    let api = api(ctx);
    let name = workflow.metadata.name.clone().unwrap_or_default();
    let wanted_generation = workflow
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(GENERATION_LABEL))
        .and_then(|g| g.parse::<i64>().ok());
    if let Some(old) = existing {
        if generation(old) == wanted_generation && old.metadata.deletion_timestamp.is_none() {
            return Ok(Submitted::AlreadyThere);
        }
        if old.metadata.deletion_timestamp.is_some() {
            release(&api, old).await?;
            return Err(Error::WorkflowTerminating(name));
        }
        release(&api, old).await?;
        // NB: foreground, and the new one only once the old one is gone: the garbage collector
        // deletes the old Workflow's pods first. Argo names a step's pod after the Workflow and the
        // node, so the new Workflow's pods have the same names; created while the old ones are
        // still being deleted, Argo takes the old pod for its own, sees it deleted and fails the
        // step (seen with real Argo: an upgrade failed before its HelmRelease was applied).
        let deleted = api
            .delete(&name, &DeleteParams::foreground())
            .await
            .map_err(Error::kube(format!("deleting the old Workflow {name}")));
        match deleted {
            Ok(either) if either.is_left() => return Err(Error::WorkflowTerminating(name)),
            Ok(_) => {}
            Err(Error::Kube {
                source: kube::Error::Api(status),
                ..
            }) if status.code == 404 => {}
            Err(err) => return Err(err),
        }
    }
    release_stores::write(ctx, group, &name, &plan.release_stores).await?;
    let mut object: DynamicObject = serde_json::to_value(workflow)
        .and_then(serde_json::from_value)
        .map_err(|source| Error::Encode {
            what: "Workflow",
            source,
        })?;
    if let Some(mut owner) = group.controller_owner_ref(&()) {
        // NB: blocking, so a foreground deletion of the group keeps its foregroundDeletion
        // finalizer until the Workflows are gone: that is how a Workflow deleted by the garbage
        // collector is told from one a person deleted (see `in_foreground_deletion`).
        owner.block_owner_deletion = Some(true);
        object.metadata.owner_references = Some(vec![owner]);
    }
    object.metadata.finalizers = Some(vec![FINALIZER.to_owned()]);
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => Ok(Submitted::Created),
        // Another writer (an old replica) created it meanwhile: look again on the next reconcile.
        // Or it is not ours at all (left by a deleted group of the same name): it goes first.
        Err(kube::Error::Api(status)) if status.code == 409 => {
            delete_if_foreign(&api, &name, group).await?;
            Err(Error::WorkflowTerminating(name))
        }
        Err(source) => Err(Error::Kube {
            action: format!("creating Workflow {name}"),
            source,
        }),
    }
}

/// When the Workflow `name` is not `group`'s: deletes it if Orkestra made it for a former group of
/// the same name (its owner label), and refuses to touch it otherwise.
async fn delete_if_foreign(
    api: &Api<DynamicObject>,
    name: &str,
    group: &ApplicationGroup,
) -> Result<(), Error> {
    let existing = api
        .get_opt(name)
        .await
        .map_err(Error::kube(format!("reading the Workflow {name}")))?;
    let Some(foreign) = existing.filter(|w| !owned_by(w, group)) else {
        return Ok(());
    };
    let group_name = group.metadata.name.as_deref().unwrap_or_default();
    let made_for_this_name =
        label(&foreign, OWNER_LABEL) == Some(plan::owner_label_value(group_name).as_str());
    if !made_for_this_name {
        let namespace = foreign.metadata.namespace.as_deref().unwrap_or_default();
        return Err(Error::WorkflowNameTaken(format!("{namespace}/{name}")));
    }
    tracing::info!(
        workflow = name,
        "deleting the Workflow a deleted group of the same name left"
    );
    release(api, &foreign).await?;
    api.delete(name, &DeleteParams::foreground())
        .await
        .map_err(Error::kube(format!(
            "deleting the left-over Workflow {name}"
        )))?;
    Ok(())
}
