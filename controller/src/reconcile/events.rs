//! Kubernetes Events (events.k8s.io) for a group's transitions. Best effort and off the
//! reconcile's path: each is sent by a task of its own (an Event is one API call; waiting for
//! three of them per submission halved the controller's throughput under load), at most
//! [`EVENTS_IN_FLIGHT`](super::context::EVENTS_IN_FLIGHT) at a time, and a failed Event is logged, never fails the reconcile.
//! Groups are cluster-scoped, so their Events land in the `default` namespace (kube's Recorder),
//! as `kubectl describe ag NAME` expects.

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

/// Publishes an Event about `group` (in the background).
pub async fn publish(
    ctx: &Context,
    group: &ApplicationGroup,
    warning: bool,
    reason: &str,
    action: &str,
    note: String,
) {
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
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.to_owned(),
        note: Some(note),
        action: action.to_owned(),
        secondary: None,
    };
    let recorder = ctx.recorder.clone();
    let reference = group.object_ref(&());
    let slots = ctx.event_slots.clone();
    tokio::spawn(async move {
        // NB: a few at a time: under load they would otherwise compete with the reconciles'
        // own API calls at the moment those matter most (best effort, so they may trail).
        let Ok(_slot) = slots.acquire().await else {
            return;
        };
        if let Err(err) = recorder.publish(&event, &reference).await {
            let group = reference.name.as_deref().unwrap_or_default();
            tracing::warn!(group, reason = event.reason, "cannot publish event: {err}");
        }
    });
}
