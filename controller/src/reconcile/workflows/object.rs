//! One Workflow object as the API server returns it (its kind, phase, message, labels, owner), and
//! a group's Workflows by direction.

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use orkestra_shared::crd::ApplicationGroup;
use orkestra_shared::names::GENERATION_LABEL;

use crate::reconcile::context::Context;
use crate::reconcile::status::Standing;

/// The Workflow kind (argoproj.io/v1alpha1).
pub fn api_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Workflow"),
        "workflows",
    )
}

/// The Workflows of the configured workflow namespace.
pub fn api(ctx: &Context) -> Api<DynamicObject> {
    Api::namespaced_with(
        ctx.client.clone(),
        &ctx.config.plan.workflow_namespace,
        &api_resource(),
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
pub fn label<'a>(workflow: &'a DynamicObject, key: &str) -> Option<&'a str> {
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
pub fn is_suspended(workflow: &DynamicObject) -> bool {
    workflow
        .data
        .pointer("/spec/suspend")
        .and_then(|v| v.as_bool())
        == Some(true)
}

/// Whether `owner` (this very object, by uid) owns `workflow`.
pub fn owned_by(workflow: &DynamicObject, owner: &ApplicationGroup) -> bool {
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
