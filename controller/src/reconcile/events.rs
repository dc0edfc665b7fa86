//! Kubernetes Events (events.k8s.io) for a group's transitions. Best effort: a failed Event is
//! logged, never fails the reconcile. Groups are cluster-scoped, so their Events land in the
//! `default` namespace (kube's Recorder), as `kubectl describe ag NAME` expects.

use kube::Resource as _;
use kube::runtime::events::{Event, EventType};
use orkestra_shared::crd::ApplicationGroup;

use super::context::Context;

/// The API server refuses Event notes over 1 kB.
const MAX_NOTE: usize = 1000;

/// Event reasons (CamelCase, bounded).
pub mod reason {
    /// Every chart of a generation was staged.
    pub const CHARTS_STAGED: &str = "ChartsStaged";
    /// A chart could not be staged.
    pub const CHART_PULL_FAILED: &str = "ChartPullFailed";
    /// The Workflow could not be planned.
    pub const TEMPLATE_GENERATION_FAILED: &str = "WorkflowTemplateGenerationFailed";
    /// A Workflow was created.
    pub const WORKFLOW_SUBMITTED: &str = "WorkflowSubmitted";
    /// A Workflow of an older generation was deleted to make room for the new one.
    pub const WORKFLOW_REPLACED: &str = "WorkflowReplaced";
    /// Another of the group's Workflows was suspended so that one runs at a time.
    pub const WORKFLOW_SUSPENDED: &str = "WorkflowSuspended";
    /// A Workflow succeeded.
    pub const WORKFLOW_SUCCEEDED: &str = "WorkflowSucceeded";
    /// A Workflow failed.
    pub const WORKFLOW_FAILED: &str = "WorkflowFailed";
    /// Deletion started: the reverse workflow runs.
    pub const TERMINATING: &str = "Terminating";
    /// The finalizer was released.
    pub const FINALIZED: &str = "Finalized";
}

/// Publishes an Event about `group`.
pub async fn publish(ctx: &Context, group: &ApplicationGroup, warning: bool, reason: &str, action: &str, note: String) {
    let mut note = note;
    if note.len() > MAX_NOTE {
        let mut cut = MAX_NOTE - 3;
        while !note.is_char_boundary(cut) {
            cut -= 1;
        }
        note.truncate(cut);
        note.push_str("...");
    }
    let event = Event {
        type_: if warning { EventType::Warning } else { EventType::Normal },
        reason: reason.to_owned(),
        note: Some(note),
        action: action.to_owned(),
        secondary: None,
    };
    if let Err(err) = ctx.recorder.publish(&event, &group.object_ref(&())).await {
        tracing::warn!(group = group.metadata.name.as_deref().unwrap_or_default(), reason, "cannot publish event: {err}");
    }
}
