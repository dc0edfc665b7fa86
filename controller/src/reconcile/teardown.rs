//! Step 6: a deleted group. Its reverse workflow removes the releases, dependents first; the
//! finalizer is released when that workflow ends (success or failure: a failed teardown must not
//! hold the group forever, the event and the Workflow say what is left) or when someone deletes it.
//! A group with no Workflow and no HelmRelease left never deployed anything (or was already torn
//! down) and is released at once.
//!
//! Which reverse Workflow is the teardown's: one created at or after the deletion timestamp, one
//! still running (a first-install remediation already tearing down), or a succeeded one planned
//! from the generation of the last forward Workflow or a later one (a failed first install was
//! already torn down: nothing was deployed since, so it is not run again). A finished reverse
//! Workflow older than the last forward one is replaced by a new one. So is a remediation that
//! cannot tear the group down and has not succeeded (see [`superseded`]): one a later rollout
//! suspended or planned before the last forward Workflow (it would leave what that installed),
//! one that failed (it left releases installed), or one the garbage collector is taking (a
//! foreground deletion: its pods and release stores go with the group's other objects, so it
//! cannot finish). The teardown's own Workflow (marked with
//! TEARDOWN_ANNOTATION), written during the deletion, keeps its stores.

use std::time::Duration;

use kube::api::DynamicObject;
use kube::runtime::controller::Action;
use orkestra_shared::crd::{ApplicationGroup, ApplicationGroupSpec, ApplicationGroupStatus};
use orkestra_shared::names::{TEARDOWN_ANNOTATION, condition};
use orkestra_shared::plan::{self, Direction, HelmRelease, Plan, PlanError, Resolved};

use super::context::Context;
use super::error::Error;
use super::events::{self, reason};
use super::helm_releases;
use super::leftovers;
use super::staging_step;
use super::status::{self, Standing, State};
use super::workflows::{self, Submitted};

/// Safety net while the reverse workflow runs (its changes trigger reconciles anyway).
const WAIT: Duration = Duration::from_secs(60);

/// Where a deletion stands.
#[derive(Debug)]
pub enum Teardown {
    /// The finalizer may be released; the message says why.
    Done(String),
    /// Still tearing down.
    Wait(Action),
}

/// Advances the teardown of a group being deleted.
pub async fn progress(ctx: &Context, group: &ApplicationGroup) -> Result<Teardown, Error> {
    let name = group.metadata.name.as_deref().unwrap_or_default();
    let generation = group.metadata.generation.unwrap_or(1);
    let workflows = workflows::list(ctx, group).await?;
    // NB: not from the forward Workflow alone: a person (or an Argo TTL) may have deleted it
    // after it installed releases.
    if workflows.forward.is_none()
        && workflows.reverse.is_none()
        && helm_releases::objects(ctx, name).await?.is_empty()
    {
        return Ok(Teardown::Done(
            "no forward workflow and no HelmRelease of the group: nothing to tear down".into(),
        ));
    }
    let mut status = group.status.clone().unwrap_or_default();
    let deleted_at = group.metadata.deletion_timestamp.as_ref().map(|t| t.0);
    let reverse_name = orkestra_shared::names::workflow_name(name, "reverse");

    let superseded = workflows
        .reverse
        .as_ref()
        .and_then(|reverse| superseded(reverse, workflows.forward.as_ref()));
    if let Some(why) = superseded {
        // NB: said in the status before it is replaced: a reverse Workflow that disappears while
        // the teardown is Progressing counts as deleted by a person (the branch below).
        status::set_workflow(
            &mut status,
            "reverse",
            Standing::Failed,
            format!(
                "the remediation's reverse workflow {reverse_name} {why}: the teardown runs its own"
            ),
            generation,
        );
        status::write(ctx, group, &status).await?;
    } else if let Some(reverse) = &workflows.reverse {
        let created = reverse.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let terminating = status::get(&status, condition::READY)
            .is_some_and(|c| c.reason == condition::TERMINATING);
        let ours = terminating || matches!((created, deleted_at), (Some(c), Some(d)) if c >= d);
        let after_last_forward = planned_after_last_forward(reverse, workflows.forward.as_ref());
        let phase = workflows::phase(reverse);
        if phase.is_completed() && (ours || after_last_forward) {
            let why = match phase {
                workflows::Phase::Succeeded => "succeeded".to_owned(),
                _ => format!(
                    "{}: {}",
                    phase.as_str(),
                    workflows::message(reverse).unwrap_or("a step failed")
                ),
            };
            let message = if ours {
                format!("reverse workflow {reverse_name} {why}")
            } else {
                format!(
                    "reverse workflow {reverse_name} already ran after the last forward \
                     workflow ({why}): nothing more to tear down"
                )
            };
            status::set_workflow(
                &mut status,
                "reverse",
                workflows::standing(reverse),
                message.clone(),
                generation,
            );
            // Best effort: the group is about to go away.
            let _ = status::write(ctx, group, &status).await;
            return Ok(Teardown::Done(message));
        }
        if !phase.is_completed() {
            workflows::suspend_others(ctx, &workflows, "reverse", &mut status, generation).await?;
            let message = format!("reverse workflow {reverse_name} {}", phase.as_str());
            return tearing_down(ctx, group, status, message, generation).await;
        }
    } else if status::get(&status, condition::READY)
        .is_some_and(|c| c.reason == condition::TERMINATING)
        && status::get(&status, condition::REVERSE_WORKFLOW_SUCCEEDED)
            .is_some_and(|c| c.status == "Unknown")
    {
        return Ok(Teardown::Done(format!(
            "reverse workflow {reverse_name} was deleted"
        )));
    }

    // Submit the teardown.
    let mut spec = group.spec.clone();
    orkestra_shared::defaults::apply(&mut spec);
    let resolved = staging_step::resolved_from_status(&status.applications);
    let mut plan = match plan_teardown(ctx, name, generation, &spec, &resolved).await? {
        Ok(plan) => plan,
        // Nothing can be torn down from a spec that cannot be planned; do not hold the group.
        Err(err) => {
            return Ok(Teardown::Done(format!(
                "cannot plan the reverse workflow: {err}"
            )));
        }
    };
    plan.workflow
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(TEARDOWN_ANNOTATION.to_owned(), "true".to_owned());
    workflows::suspend_others(ctx, &workflows, "reverse", &mut status, generation).await?;
    let submitted = match workflows::submit(ctx, group, &plan, workflows.reverse.as_ref()).await {
        // NB: only a person can free the name (nothing tells the controller when): the status
        // says what is in the way, and the teardown is retried after the backoff.
        Err(err) if err.is_name_taken() => {
            status::set_ready(
                &mut status,
                State::False,
                condition::TERMINATING,
                format!("cannot submit the reverse workflow: {err}"),
                generation,
            );
            status::write(ctx, group, &status).await?;
            return Err(err);
        }
        other => other?,
    };
    if submitted == Submitted::Created {
        events::publish(
            ctx,
            group,
            false,
            reason::TERMINATING,
            "Delete",
            format!("submitted reverse Workflow {reverse_name} to tear the group down"),
        )
        .await;
    }
    let message = format!("reverse workflow {reverse_name} submitted");
    tearing_down(ctx, group, status, message, generation).await
}

/// The teardown's plan: the spec's reverse Workflow, which first deletes the group's leftovers.
async fn plan_teardown(
    ctx: &Context,
    name: &str,
    generation: i64,
    spec: &ApplicationGroupSpec,
    resolved: &Resolved,
) -> Result<Result<Plan, PlanError>, Error> {
    let build = |leftovers: &[HelmRelease]| {
        plan::build_clearing(
            name,
            generation,
            spec,
            resolved,
            Direction::Reverse,
            leftovers,
            &ctx.config.plan,
        )
    };
    match build(&[]) {
        Ok(reverse) => Ok(Ok(leftovers::cleared(ctx, name, reverse, build).await?)),
        Err(err) => Ok(Err(err)),
    }
}

/// Why a reverse Workflow that the teardown did not make cannot tear the group down and must be
/// replaced, if so: a later rollout suspended it (nothing resumes it), it was planned before the
/// last forward Workflow (it would leave what that installed), it failed (what it did not remove
/// is still installed), or the garbage collector is taking it. `None` for the teardown's own, for one that succeeded (the finished branch decides), and
/// for a remediation of the last forward Workflow still running (the teardown waits for it).
fn superseded(reverse: &DynamicObject, forward: Option<&DynamicObject>) -> Option<String> {
    let teardowns = reverse
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(TEARDOWN_ANNOTATION));
    let phase = workflows::phase(reverse);
    if teardowns || phase == workflows::Phase::Succeeded {
        return None;
    }
    // NB: in this order, so that the reason stays the same once the replacement deletes it.
    if workflows::is_suspended(reverse) {
        Some(format!(
            "was suspended by a later rollout ({})",
            phase.as_str()
        ))
    } else if !phase.is_completed() && !planned_after_last_forward(reverse, forward) {
        Some(format!(
            "was planned before the last forward workflow ({})",
            phase.as_str()
        ))
    } else if reverse.metadata.deletion_timestamp.is_some() {
        Some(format!("was collected with the group ({})", phase.as_str()))
    } else if phase.is_completed() {
        Some(format!(
            "failed before the group was deleted ({}: {})",
            phase.as_str(),
            workflows::message(reverse).unwrap_or("a step failed")
        ))
    } else {
        None
    }
}

/// Whether `reverse` was planned from the generation of the last forward Workflow or a later one
/// (or no forward Workflow is left to be later than it).
/// NB: by generation label, not creation time: a remediation reverse Workflow carries the
/// generation of the forward one it undid, and a later forward has a later generation.
fn planned_after_last_forward(reverse: &DynamicObject, forward: Option<&DynamicObject>) -> bool {
    let Some(forward) = forward else {
        return true;
    };
    matches!(
        (workflows::generation(reverse), workflows::generation(forward)),
        (Some(r), Some(f)) if r >= f
    )
}

/// Writes that the reverse Workflow is running (`message` says how far) and waits for it.
async fn tearing_down(
    ctx: &Context,
    group: &ApplicationGroup,
    mut status: ApplicationGroupStatus,
    message: String,
    generation: i64,
) -> Result<Teardown, Error> {
    status::set_ready(
        &mut status,
        State::False,
        condition::TERMINATING,
        message,
        generation,
    );
    status::set_workflow(
        &mut status,
        "reverse",
        Standing::Progressing,
        "tearing down",
        generation,
    );
    status::write(ctx, group, &status).await?;
    Ok(Teardown::Wait(Action::requeue(WAIT)))
}
