//! Writing a group's status (server-side apply on the status subresource, with
//! `observedGeneration`) and its last-successful annotation (a metadata merge patch).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, Patch, PatchParams};
use orkestra_shared::crd::{
    ApplicationGroup, ApplicationGroupSpec, ApplicationGroupStatus, ApplicationStatus,
};
use orkestra_shared::names::{LAST_SUCCESSFUL_ANNOTATION, condition};
use serde_json::json;

use super::context::{CONTROLLER_NAME, Context};
use super::error::Error;

/// A condition's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// "True".
    True,
    /// "False".
    False,
    /// "Unknown": still running.
    Unknown,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

/// Sets condition `type_`, keeping its `lastTransitionTime` when its status does not change (so an
/// unchanged status is an unchanged object, and writing it again is a no-op).
pub fn set(
    status: &mut ApplicationGroupStatus,
    type_: &str,
    state: State,
    reason: &str,
    message: impl Into<String>,
    generation: i64,
) {
    let message = message.into();
    let conditions = &mut status.conditions;
    if let Some(existing) = conditions.iter_mut().find(|c| c.type_ == type_) {
        if existing.status != state.as_str() {
            existing.last_transition_time = Time(k8s_openapi::jiff::Timestamp::now());
            existing.status = state.as_str().to_owned();
        }
        existing.reason = reason.to_owned();
        existing.message = message;
        existing.observed_generation = Some(generation);
        return;
    }
    conditions.push(Condition {
        type_: type_.to_owned(),
        status: state.as_str().to_owned(),
        reason: reason.to_owned(),
        message,
        observed_generation: Some(generation),
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::now()),
    });
    // Ready first, then the workflow conditions in a fixed order: stable output for kubectl.
    let rank = |t: &str| match t {
        condition::READY => 0,
        condition::FORWARD_WORKFLOW_SUCCEEDED => 1,
        condition::ROLLBACK_WORKFLOW_SUCCEEDED => 2,
        condition::REVERSE_WORKFLOW_SUCCEEDED => 3,
        _ => 4,
    };
    conditions.sort_by_key(|c| rank(&c.type_));
}

/// Sets the Ready condition.
pub fn set_ready(
    status: &mut ApplicationGroupStatus,
    state: State,
    reason: &str,
    message: impl Into<String>,
    generation: i64,
) {
    set(status, condition::READY, state, reason, message, generation);
}

/// Where a Workflow stands, as the workflow conditions (`ForwardWorkflowSucceeded`, …) report it
/// with Azure Orkestra's reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Not ended: Unknown, `Progressing`.
    Progressing,
    /// Not ended, held by `spec.suspend`: Unknown, `Suspended`.
    Suspended,
    /// Ended well: True, `Succeeded`.
    Succeeded,
    /// Ended badly (Argo's Failed or Error): False, `Failed`.
    Failed,
}

impl Standing {
    fn condition(self) -> (State, &'static str) {
        match self {
            Self::Progressing => (State::Unknown, condition::PROGRESSING),
            Self::Suspended => (State::Unknown, condition::SUSPENDED),
            Self::Succeeded => (State::True, condition::SUCCEEDED),
            Self::Failed => (State::False, condition::FAILED),
        }
    }
}

/// The workflow condition of `direction` ("forward", "reverse", "rollback").
pub fn workflow_condition(direction: &str) -> &'static str {
    match direction {
        "forward" => condition::FORWARD_WORKFLOW_SUCCEEDED,
        "rollback" => condition::ROLLBACK_WORKFLOW_SUCCEEDED,
        _ => condition::REVERSE_WORKFLOW_SUCCEEDED,
    }
}

/// Sets the workflow condition of `direction` to `standing`.
pub fn set_workflow(
    status: &mut ApplicationGroupStatus,
    direction: &str,
    standing: Standing,
    message: impl Into<String>,
    generation: i64,
) {
    let (state, reason) = standing.condition();
    set(
        status,
        workflow_condition(direction),
        state,
        reason,
        message,
        generation,
    );
}

/// The condition `type_`, if set.
pub fn get<'a>(status: &'a ApplicationGroupStatus, type_: &str) -> Option<&'a Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

/// The Ready condition's (status, reason), to detect transitions.
pub fn ready_key(status: &ApplicationGroupStatus) -> Option<(String, String)> {
    get(status, condition::READY).map(|c| (c.status.clone(), c.reason.clone()))
}

/// Writes `status` unless the group already has exactly it; counts the group under its Ready
/// reason in the metrics either way (a group another replica wrote, then left as it is, counts).
pub async fn write(
    ctx: &Context,
    group: &ApplicationGroup,
    status: &ApplicationGroupStatus,
) -> Result<(), Error> {
    let name = group.metadata.name.as_deref().unwrap_or_default();
    if group.status.as_ref() != Some(status) {
        let body = json!({
            "apiVersion": "orkestra.azure.microsoft.com/v1alpha1",
            "kind": "ApplicationGroup",
            "status": status,
        });
        let written = Api::<ApplicationGroup>::all(ctx.client.clone())
            .patch_status(
                name,
                &PatchParams::apply(CONTROLLER_NAME).force(),
                &Patch::Apply(&body),
            )
            .await
            .map_err(Error::kube(format!("writing the status of {name}")))?;
        ctx.note_written(&written);
    }
    ctx.metrics.set_reason(
        name,
        get(status, condition::READY).map(|c| c.reason.as_str()),
    );
    Ok(())
}

/// Stores the group's spec as the last successful one (JSON, as Azure Orkestra does), with each
/// chart version pinned to the one `deployed` records (see [`pinned`]).
pub async fn record_last_good(
    ctx: &Context,
    group: &ApplicationGroup,
    deployed: &[ApplicationStatus],
) -> Result<(), Error> {
    let name = group.metadata.name.as_deref().unwrap_or_default();
    let spec =
        serde_json::to_string(&pinned(&group.spec, deployed)).map_err(|source| Error::Encode {
            what: "spec",
            source,
        })?;
    if group
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(LAST_SUCCESSFUL_ANNOTATION))
        == Some(&spec)
    {
        return Ok(());
    }
    let patch = json!({"metadata": {"annotations": {LAST_SUCCESSFUL_ANNOTATION: spec}}});
    let written = Api::<ApplicationGroup>::all(ctx.client.clone())
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::kube(format!(
            "annotating {name} with its last successful spec"
        )))?;
    ctx.note_written(&written);
    Ok(())
}

/// `spec` with every chart version that staging resolved (`deployed`) in place of the spec's own:
/// a range such as `^1.0` would otherwise resolve anew when a rollback stages the spec again, to a
/// newer chart than the one that ran, if one was published since.
fn pinned(spec: &ApplicationGroupSpec, deployed: &[ApplicationStatus]) -> ApplicationGroupSpec {
    let mut spec = spec.clone();
    for app in &mut spec.applications {
        if let Some(resolved) = deployed
            .iter()
            .find(|d| d.name == app.name && !d.chart.version.is_empty())
        {
            app.spec.chart.version = Some(resolved.chart.version.clone());
        }
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_keeps_its_transition_time_while_its_status_holds() {
        let mut status = ApplicationGroupStatus::default();
        set_ready(&mut status, State::Unknown, condition::PROGRESSING, "a", 1);
        set_workflow(&mut status, "forward", Standing::Progressing, "", 1);
        let before = status.clone();
        set_ready(&mut status, State::Unknown, condition::PROGRESSING, "b", 2);
        assert_eq!(
            status.conditions[0].last_transition_time,
            before.conditions[0].last_transition_time
        );
        assert_eq!(status.conditions[0].message, "b");
        assert_eq!(status.conditions[0].observed_generation, Some(2));
        assert_eq!(
            status.conditions[1].type_,
            condition::FORWARD_WORKFLOW_SUCCEEDED
        );
        assert_eq!(
            ready_key(&status),
            Some(("Unknown".into(), condition::PROGRESSING.into()))
        );
    }
}
