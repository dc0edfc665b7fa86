//! Suspending a group's other Workflows, so that one runs at a time.

use kube::api::{DynamicObject, Patch, PatchParams};
use orkestra_shared::crd::ApplicationGroupStatus;
use serde_json::json;

use super::object::{GroupWorkflows, api, is_suspended, phase, standing};
use crate::reconcile::context::Context;
use crate::reconcile::error::Error;
use crate::reconcile::status::{self, Standing};

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
