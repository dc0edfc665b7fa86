//! A group's Argo Workflows: finding them, their phase, submitting one (replacing an older
//! generation's), suspending the others.
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

use kube::Resource as _;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use orkestra_shared::crd::{ApplicationGroup, ApplicationGroupStatus};
use orkestra_shared::names::{FINALIZER, GENERATION_LABEL, OWNER_LABEL, WORKFLOW_TYPE_LABEL};
use orkestra_shared::plan::{self, Workflow};
use serde_json::json;

use super::context::Context;
use super::error::Error;
use super::status::{self, Standing};

/// The Workflow kind (argoproj.io/v1alpha1).
pub fn api_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Workflow"),
        "workflows",
    )
}

/// Argo's `status.phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not started yet (no phase, or Pending).
    Pending,
    /// Running.
    Running,
    /// Every task succeeded.
    Succeeded,
    /// A task failed.
    Failed,
    /// The engine could not run it.
    Error,
}

impl Phase {
    /// True once the Workflow ended.
    pub fn is_completed(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Error)
    }

    /// The phase as Argo writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Error => "Error",
        }
    }
}

/// The phase of a Workflow object.
pub fn phase(workflow: &DynamicObject) -> Phase {
    match workflow
        .data
        .pointer("/status/phase")
        .and_then(|v| v.as_str())
    {
        Some("Running") => Phase::Running,
        Some("Succeeded") => Phase::Succeeded,
        Some("Failed") => Phase::Failed,
        Some("Error") => Phase::Error,
        _ => Phase::Pending,
    }
}

/// Argo's `status.message` (why it failed), if any.
pub fn message(workflow: &DynamicObject) -> Option<&str> {
    workflow
        .data
        .pointer("/status/message")
        .and_then(|v| v.as_str())
        .filter(|m| !m.is_empty())
}

/// The group generation a Workflow was planned from.
pub fn generation(workflow: &DynamicObject) -> Option<i64> {
    label(workflow, GENERATION_LABEL)?.parse().ok()
}

/// The value of one of the Workflow's labels.
fn label<'a>(workflow: &'a DynamicObject, key: &str) -> Option<&'a str> {
    workflow
        .metadata
        .labels
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// Where `workflow` stands, for its workflow condition (Argo keeps a suspended Workflow Running).
pub fn standing(workflow: &DynamicObject) -> Standing {
    match phase(workflow) {
        Phase::Succeeded => Standing::Succeeded,
        Phase::Failed | Phase::Error => Standing::Failed,
        Phase::Pending | Phase::Running if is_suspended(workflow) => Standing::Suspended,
        Phase::Pending | Phase::Running => Standing::Progressing,
    }
}

/// Whether `spec.suspend` is set.
fn is_suspended(workflow: &DynamicObject) -> bool {
    workflow
        .data
        .pointer("/spec/suspend")
        .and_then(|v| v.as_bool())
        == Some(true)
}

/// A group's Workflows by direction.
#[derive(Debug, Default, Clone)]
pub struct GroupWorkflows {
    /// `<group>`.
    pub forward: Option<DynamicObject>,
    /// `<group>-reverse`.
    pub reverse: Option<DynamicObject>,
    /// `<group>-rollback`.
    pub rollback: Option<DynamicObject>,
}

impl GroupWorkflows {
    /// The Workflow of `direction` ("forward", "reverse", "rollback").
    pub fn get(&self, direction: &str) -> Option<&DynamicObject> {
        match direction {
            "forward" => self.forward.as_ref(),
            "reverse" => self.reverse.as_ref(),
            _ => self.rollback.as_ref(),
        }
    }

    /// The Workflow of `direction` when it was planned from `generation`.
    pub fn of_generation(&self, direction: &str, generation: i64) -> Option<&DynamicObject> {
        self.get(direction)
            .filter(|w| self::generation(w) == Some(generation))
    }
}

fn api(ctx: &Context) -> Api<DynamicObject> {
    Api::namespaced_with(
        ctx.client.clone(),
        &ctx.config.plan.workflow_namespace,
        &api_resource(),
    )
}

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

/// Whether `owner` (this very object, by uid) owns `workflow`.
fn owned_by(workflow: &DynamicObject, owner: &ApplicationGroup) -> bool {
    let Some(uid) = owner.metadata.uid.as_deref() else {
        return true;
    };
    workflow
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|reference| reference.uid == uid)
}

/// What [`submit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// The Workflow was created.
    Created,
    /// A Workflow of this generation already existed; nothing was done.
    AlreadyThere,
}

/// Creates `workflow` (owned by `group`), first deleting `existing` when it is from another
/// generation. Returns [`Error::WorkflowTerminating`] while the old one is still going away.
pub async fn submit(
    ctx: &Context,
    group: &ApplicationGroup,
    workflow: &Workflow,
    existing: Option<&DynamicObject>,
) -> Result<Submitted, Error> {
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
        let deleted = api
            .delete(&name, &DeleteParams::background())
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
        return Err(Error::WorkflowNameTaken(name.to_owned()));
    }
    tracing::info!(
        workflow = name,
        "deleting the Workflow a deleted group of the same name left"
    );
    release(api, &foreign).await?;
    api.delete(name, &DeleteParams::background())
        .await
        .map_err(Error::kube(format!(
            "deleting the left-over Workflow {name}"
        )))?;
    Ok(())
}

/// Removes FINALIZER from `workflow` (nothing when it has none). A Workflow gone meanwhile is fine.
async fn release(api: &Api<DynamicObject>, workflow: &DynamicObject) -> Result<(), Error> {
    let finalizers = workflow.metadata.finalizers.as_deref().unwrap_or_default();
    if !finalizers.iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let name = workflow.metadata.name.as_deref().unwrap_or_default();
    let kept: Vec<&String> = finalizers.iter().filter(|f| *f != FINALIZER).collect();
    // NB: the resourceVersion makes it a compare-and-swap: finalizers others add meanwhile stay.
    let patch = json!({"metadata": {
        "finalizers": kept,
        "resourceVersion": workflow.metadata.resource_version,
    }});
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => {
            Err(Error::WorkflowTerminating(name.to_owned()))
        }
        Err(source) => Err(Error::Kube {
            action: format!("removing the finalizer of Workflow {name}"),
            source,
        }),
    }
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

/// Suspends `workflow` unless it ended or is suspended already. Returns whether it patched.
pub async fn suspend(ctx: &Context, workflow: &DynamicObject) -> Result<bool, Error> {
    if phase(workflow).is_completed()
        || is_suspended(workflow)
        || workflow.metadata.deletion_timestamp.is_some()
    {
        return Ok(false);
    }
    let name = workflow.metadata.name.clone().unwrap_or_default();
    let patch = json!({"spec": {"suspend": true}});
    match api(ctx)
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(source) => Err(Error::Kube {
            action: format!("suspending Workflow {name}"),
            source,
        }),
    }
}

/// Suspends every running Workflow of the group except the `keep` direction, and marks each
/// `Suspended` in `status`; returns the names it suspended now.
pub async fn suspend_others(
    ctx: &Context,
    workflows: &GroupWorkflows,
    keep: &str,
    status: &mut ApplicationGroupStatus,
    generation: i64,
) -> Result<Vec<String>, Error> {
    let mut suspended = Vec::new();
    for direction in ["forward", "reverse", "rollback"] {
        if direction == keep {
            continue;
        }
        let Some(workflow) = workflows.get(direction) else {
            continue;
        };
        let name = workflow.metadata.name.clone().unwrap_or_default();
        if suspend(ctx, workflow).await? {
            suspended.push(name.clone());
        } else if standing(workflow) != Standing::Suspended {
            continue;
        }
        status::set_workflow(
            status,
            direction,
            Standing::Suspended,
            format!("{direction} workflow {name} suspended: the {keep} workflow runs now"),
            generation,
        );
    }
    Ok(suspended)
}
