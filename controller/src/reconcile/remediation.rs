//! Step 5: a failed forward workflow is remediated once per generation: the rollback workflow to
//! the last successful spec (the LAST_SUCCESSFUL_ANNOTATION; applications the failed upgrade
//! added are deleted first, see the plan), or the reverse workflow when no generation ever
//! succeeded (a failed first install leaves nothing half-installed behind). Either first deletes
//! the group's releases it does not name (see `leftovers`). Starting it suspends the group's
//! other Workflows, so only one runs at a time.

use orkestra_shared::crd::{ApplicationGroup, ApplicationGroupSpec, ApplicationGroupStatus};
use orkestra_shared::names::{LAST_SUCCESSFUL_ANNOTATION, condition};
use orkestra_shared::plan::{self, Direction};

use super::context::Context;
use super::error::Error;
use super::events::{self, reason};
use super::leftovers;
use super::outcome::{Outcome, recheck};
use super::staging_step;
use super::status::{self, Standing, State};
use super::workflows::{self, GroupWorkflows, Phase, Submitted};

/// The last successful spec from the annotation, defaulted; `None` when there is none.
pub fn last_good_spec(group: &ApplicationGroup) -> Result<Option<ApplicationGroupSpec>, Error> {
    let Some(text) = group
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(LAST_SUCCESSFUL_ANNOTATION))
    else {
        return Ok(None);
    };
    let mut spec: ApplicationGroupSpec =
        serde_json::from_str(text).map_err(|err| Error::LastGoodSpec(err.to_string()))?;
    orkestra_shared::defaults::apply(&mut spec);
    Ok(Some(spec))
}

/// Starts or observes the remediation of the failed forward workflow of `generation`.
pub async fn remediate(
    ctx: &Context,
    group: &ApplicationGroup,
    spec: &ApplicationGroupSpec,
    generation: i64,
    workflows: &GroupWorkflows,
    mut status: ApplicationGroupStatus,
    failure: String,
) -> Result<Outcome, Error> {
    let name = group.metadata.name.as_deref().unwrap_or_default();
    let last_good = last_good_spec(group)?;
    let direction = match last_good {
        Some(_) => "rollback",
        None => "reverse",
    };
    let what = match direction {
        "rollback" => format!(
            "rolling back to generation {}",
            status.last_succeeded_generation
        ),
        _ => "removing the group's releases (reverse workflow): no generation has succeeded yet"
            .to_owned(),
    };
    let workflow_name = orkestra_shared::names::workflow_name(name, direction);

    let Some(existing) = workflows.of_generation(direction, generation) else {
        // Plan and submit the remediation.
        let current = staging_step::resolved_from_status(&status.applications);
        let staged_last_good = match &last_good {
            Some(good) => {
                let staged = staging_step::stage(ctx, good).await;
                if let Some((message, transient)) = staged.failure {
                    let message = format!(
                        "{failure}; cannot roll back: staging the last successful spec failed: {message}"
                    );
                    return Ok(Outcome::not_ready(
                        status,
                        condition::WORKFLOW_FAILED,
                        message.clone(),
                        generation,
                        Error::Staging { message, transient },
                    ));
                }
                Some(staged.resolved)
            }
            None => None,
        };
        let build = |leftovers: &[plan::HelmRelease]| {
            let direction = match (&last_good, &staged_last_good) {
                (Some(good), Some(resolved)) => Direction::Rollback {
                    last_good: good,
                    last_good_resolved: resolved,
                },
                _ => Direction::Reverse,
            };
            plan::build_clearing(
                name,
                generation,
                spec,
                &current,
                direction,
                leftovers,
                &ctx.config.plan,
            )
        };
        // NB: the group's releases that the remediation does not name go first, as in a rollout:
        // a release the failed generation moved to another namespace (or a subchart only its
        // chart version split out) would otherwise keep running beside the restored one.
        let planned = match build(&[]) {
            Ok(plan) => Ok(leftovers::cleared(ctx, name, plan, build).await?),
            Err(source) => Err(source),
        };
        let plan = match planned {
            Ok(plan) => plan,
            Err(source) => {
                let message = format!("{failure}; cannot plan the {direction} workflow: {source}");
                return Ok(Outcome::not_ready(
                    status,
                    condition::WORKFLOW_FAILED,
                    message,
                    generation,
                    Error::Plan {
                        direction: if direction == "rollback" {
                            "rollback"
                        } else {
                            "reverse"
                        },
                        source,
                    },
                ));
            }
        };
        super::helm_repository::ensure(ctx).await?;
        workflows::suspend_others(ctx, workflows, direction, &mut status, generation).await?;
        let submitted = match workflows::submit(ctx, group, &plan, workflows.get(direction)).await {
            // NB: only a person can free the name (nothing tells the controller when): the status
            // says what is in the way, and the submission is retried after the backoff.
            Err(err) if err.is_name_taken() => {
                let message = format!("{failure}; cannot submit the {direction} workflow: {err}");
                return Ok(Outcome::not_ready(
                    status,
                    condition::WORKFLOW_FAILED,
                    message,
                    generation,
                    err,
                ));
            }
            other => other?,
        };
        if submitted == Submitted::Created {
            events::publish(
                ctx,
                group,
                true,
                reason::WORKFLOW_SUBMITTED,
                "Remediate",
                format!("forward workflow of generation {generation} failed: submitted {direction} Workflow {workflow_name}, {what}"),
            )
            .await;
        }
        status::set_workflow(
            &mut status,
            direction,
            Standing::Progressing,
            format!("generation {generation}: {what}"),
            generation,
        );
        status::set_ready(
            &mut status,
            State::False,
            condition::WORKFLOW_FAILED,
            format!("{failure}; {what}"),
            generation,
        );
        return Ok(Outcome {
            status,
            action: Some(recheck(spec, true)),
            error: None,
        });
    };

    let phase = workflows::phase(existing);
    let standing = workflows::standing(existing);
    let previous =
        status::get(&status, status::workflow_condition(direction)).map(|c| c.status.clone());
    let outcome = match standing {
        Standing::Progressing => format!("{direction} workflow {}", phase.as_str()),
        Standing::Suspended => format!("{direction} workflow suspended"),
        Standing::Succeeded => format!("{direction} workflow succeeded"),
        Standing::Failed => {
            let why = workflows::message(existing).unwrap_or("a step failed");
            format!("{direction} workflow {}: {why}", phase.as_str())
        }
    };
    if phase.is_completed() && previous.as_deref() == Some("Unknown") {
        let event_reason = if phase == Phase::Succeeded {
            reason::WORKFLOW_SUCCEEDED
        } else {
            reason::WORKFLOW_FAILED
        };
        events::publish(
            ctx,
            group,
            phase != Phase::Succeeded,
            event_reason,
            "Observe",
            format!("{direction} Workflow {workflow_name} of generation {generation}: {outcome}"),
        )
        .await;
    }
    status::set_workflow(
        &mut status,
        direction,
        standing,
        format!("generation {generation}: {outcome}"),
        generation,
    );
    status::set_ready(
        &mut status,
        State::False,
        condition::WORKFLOW_FAILED,
        format!("{failure}; {what}: {outcome}"),
        generation,
    );
    Ok(Outcome {
        status,
        action: Some(recheck(spec, !phase.is_completed())),
        error: None,
    })
}
