//! The group's FINALIZER on a Workflow: removing it lets the Workflow go.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use orkestra_shared::names::FINALIZER;
use serde_json::json;

use crate::reconcile::error::Error;

/// Removes FINALIZER from `workflow` (nothing when it has none). A Workflow gone meanwhile is fine.
pub async fn release(api: &Api<DynamicObject>, workflow: &DynamicObject) -> Result<(), Error> {
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
