//! Step 4: a generation whose forward Workflow exists: map its phase and the HelmReleases'
//! conditions into the status; on success record the last good spec; on failure remediate. And
//! one whose forward Workflow ran and was deleted since ([`without_forward`]).

use orkestra_shared::crd::{ApplicationGroup, ApplicationGroupSpec, ApplicationGroupStatus};
use orkestra_shared::names::condition;

use super::context::Context;
use super::error::Error;
use super::events::{self, reason};
use super::helm_releases;
use super::outcome::{Outcome, recheck};
use super::status::{self, Standing, State};
use super::workflows::{self, GroupWorkflows, Phase};

/// Observes the forward Workflow of `generation` (`workflows.forward` is of that generation).
pub async fn forward(
    ctx: &Context,
    group: &ApplicationGroup,
    spec: &ApplicationGroupSpec,
    generation: i64,
    workflows: &GroupWorkflows,
    mut status: ApplicationGroupStatus,
) -> Result<Outcome, Error> {
    let name = group.metadata.name.as_deref().unwrap_or_default();
    status.observed_generation = generation;
    let readiness = releases_into(ctx, name, spec, &mut status).await?;
    let (ready, total) = (readiness.ready, readiness.total);

    let Some(forward) = workflows.forward.as_ref() else {
        return Ok(Outcome {
            status,
            action: Some(recheck(spec, false)),
            error: None,
        });
    };
    let workflow_name = forward.metadata.name.as_deref().unwrap_or_default();
    let phase = workflows::phase(forward);
    match phase {
        Phase::Pending | Phase::Running => {
            let standing = workflows::standing(forward);
            let how = match standing {
                Standing::Suspended => "suspended",
                _ => phase.as_str(),
            };
            let message = format!(
                "forward workflow {workflow_name} {how}: {ready}/{total} HelmReleases ready"
            );
            Ok(forward_in_progress(
                status, standing, message, spec, generation,
            ))
        }
        Phase::Succeeded => {
            if status.last_succeeded_generation != generation {
                // Annotation first: a status claiming success always has its spec recorded.
                status::record_last_good(ctx, group, &status.applications).await?;
                status.last_succeeded_generation = generation;
                events::publish(
                    ctx,
                    group,
                    false,
                    reason::WORKFLOW_SUCCEEDED,
                    "Observe",
                    format!(
                        "forward workflow {workflow_name} of generation {generation} succeeded"
                    ),
                )
                .await;
            }
            status::set_workflow(
                &mut status,
                "forward",
                Standing::Succeeded,
                format!("generation {generation}"),
                generation,
            );
            set_ready_after_success(&mut status, &readiness, workflow_name, generation);
            Ok(Outcome {
                status,
                action: Some(recheck(spec, false)),
                error: None,
            })
        }
        Phase::Failed | Phase::Error => {
            let why = workflows::message(forward)
                .unwrap_or("a step failed")
                .to_owned();
            let message = format!(
                "forward workflow {workflow_name} of generation {generation} {}: {why}",
                phase.as_str()
            );
            if status::get(&status, condition::FORWARD_WORKFLOW_SUCCEEDED)
                .is_none_or(|c| c.status != "False")
            {
                events::publish(
                    ctx,
                    group,
                    true,
                    reason::WORKFLOW_FAILED,
                    "Observe",
                    message.clone(),
                )
                .await;
            }
            status::set_workflow(
                &mut status,
                "forward",
                Standing::Failed,
                message.clone(),
                generation,
            );
            super::remediation::remediate(ctx, group, spec, generation, workflows, status, message)
                .await
        }
    }
}

/// A generation whose forward Workflow ran and was deleted since (by a person, or an Argo TTL):
/// it is not run again, but what it left is still observed: the HelmReleases (Ready follows them
/// as after a success) and, after a failure, the remediation Workflow if there is one. One that
/// was never submitted (its staging failed, say) still is; one that ran and was deleted too is
/// not run again.
pub async fn without_forward(
    ctx: &Context,
    group: &ApplicationGroup,
    spec: &ApplicationGroupSpec,
    generation: i64,
    workflows: &GroupWorkflows,
    mut status: ApplicationGroupStatus,
) -> Result<Outcome, Error> {
    let name = group.metadata.name.as_deref().unwrap_or_default();
    let forward = status::get(&status, condition::FORWARD_WORKFLOW_SUCCEEDED).cloned();
    let idle = |status| Outcome {
        status,
        action: Some(recheck(spec, false)),
        error: None,
    };
    match forward {
        Some(forward) if forward.status == "True" => {
            let readiness = releases_into(ctx, name, spec, &mut status).await?;
            let workflow_name = orkestra_shared::names::workflow_name(name, "forward");
            set_ready_after_success(&mut status, &readiness, &workflow_name, generation);
            Ok(idle(status))
        }
        Some(forward) if forward.status == "False" => {
            let direction = match super::remediation::last_good_spec(group)? {
                Some(_) => "rollback",
                None => "reverse",
            };
            let submitted = status::get(&status, status::workflow_condition(direction))
                .is_some_and(|c| c.observed_generation == Some(generation));
            if workflows.of_generation(direction, generation).is_none() && submitted {
                return Ok(idle(status));
            }
            super::remediation::remediate(
                ctx,
                group,
                spec,
                generation,
                workflows,
                status,
                forward.message,
            )
            .await
        }
        _ => Ok(idle(status)),
    }
}

/// Copies the group's HelmReleases' conditions into `status.applications`; returns how many of
/// those the spec deploys are ready.
async fn releases_into(
    ctx: &Context,
    name: &str,
    spec: &ApplicationGroupSpec,
    status: &mut ApplicationGroupStatus,
) -> Result<helm_releases::Readiness, Error> {
    let releases = helm_releases::list(ctx, name).await?;
    helm_releases::fill(&mut status.applications, spec, &releases);
    Ok(helm_releases::readiness(
        &status.applications,
        spec,
        &releases,
    ))
}

/// Ready after the forward Workflow `workflow_name` of `generation` succeeded: True once every
/// HelmRelease is ready; the Workflow's steps saw each one ready, but Ready speaks for the
/// releases as they are now: one Flux has not (re)observed holds it (Unknown), one that failed
/// since makes it False.
fn set_ready_after_success(
    status: &mut ApplicationGroupStatus,
    readiness: &helm_releases::Readiness,
    workflow_name: &str,
    generation: i64,
) {
    let (ready, total) = (readiness.ready, readiness.total);
    if readiness.all_ready() {
        status::set_ready(
            status,
            State::True,
            condition::SUCCEEDED,
            format!("generation {generation} deployed: {ready}/{total} HelmReleases ready"),
            generation,
        );
    } else {
        let state = if readiness.failed > 0 {
            State::False
        } else {
            State::Unknown
        };
        status::set_ready(
            status,
            state,
            condition::PROGRESSING,
            format!(
                "forward workflow {workflow_name} of generation {generation} succeeded; \
                 {ready}/{total} HelmReleases ready, waiting for {}",
                readiness.describe_not_ready()
            ),
            generation,
        );
    }
}

/// A forward rollout of `generation` under way, as Azure Orkestra wrote it: Ready=Unknown/
/// Progressing with `message`, the forward condition at `standing` (Progressing, or Suspended),
/// and a re-check while the Workflow runs.
pub fn forward_in_progress(
    mut status: ApplicationGroupStatus,
    standing: Standing,
    message: String,
    spec: &ApplicationGroupSpec,
    generation: i64,
) -> Outcome {
    status::set_ready(
        &mut status,
        State::Unknown,
        condition::PROGRESSING,
        message,
        generation,
    );
    status::set_workflow(
        &mut status,
        "forward",
        standing,
        format!("generation {generation}"),
        generation,
    );
    Outcome {
        status,
        action: Some(recheck(spec, true)),
        error: None,
    }
}
