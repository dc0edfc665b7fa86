//! A new generation: stage → plan → submit the forward Workflow (steps 2 and 3).

use std::time::Instant;

use orkestra_shared::crd::{ApplicationGroup, ApplicationGroupSpec, ApplicationGroupStatus};
use orkestra_shared::names::condition;
use orkestra_shared::plan::{self, Direction};

use super::context::Context;
use super::error::Error;
use super::events::{self, reason};
use super::leftovers;
use super::observe;
use super::outcome::Outcome;
use super::status::Standing;
use super::workflows::{self, GroupWorkflows, Submitted};

/// Stages, plans and submits the forward Workflow of `generation`.
pub async fn start(
    ctx: &Context,
    group: &ApplicationGroup,
    spec: &ApplicationGroupSpec,
    generation: i64,
    existing: &GroupWorkflows,
    mut status: ApplicationGroupStatus,
) -> Result<Outcome, Error> {
    let started = Instant::now();
    let name = group.metadata.name.as_deref().unwrap_or_default();
    status.observed_generation = generation;

    let staged = super::staging_step::stage(ctx, spec).await;
    let staged_after = started.elapsed();
    // What the status knew before this generation: the charts of the applications an update
    // removes (their split subcharts' release names).
    let before = plan::Resolved::from_status(&status.applications);
    status.applications = staged.applications;
    if let Some((message, transient)) = staged.failure {
        return Ok(Outcome::not_ready(
            status,
            condition::CHART_PULL_FAILED,
            message.clone(),
            generation,
            Error::Staging { message, transient },
        ));
    }

    // An update uninstalls the applications the last successful spec had and this one drops.
    let last_good = match super::remediation::last_good_spec(group) {
        Ok(last_good) => last_good,
        Err(err) => {
            return Ok(Outcome::not_ready(
                status,
                condition::WORKFLOW_TEMPLATE_GENERATION_FAILED,
                format!("cannot plan the forward workflow: {err}"),
                generation,
                err,
            ));
        }
    };
    let build = |leftovers: &[plan::HelmRelease]| {
        let direction = match &last_good {
            Some(last_good) => Direction::Update {
                last_good,
                last_good_resolved: &before,
            },
            None => Direction::Forward,
        };
        plan::build_clearing(
            name,
            generation,
            spec,
            &staged.resolved,
            direction,
            leftovers,
            &ctx.config.plan,
        )
    };
    let plan = match build(&[]) {
        Ok(plan) => leftovers::cleared(ctx, name, plan, build).await?,
        Err(source) => {
            let message = format!("cannot plan the forward workflow: {source}");
            return Ok(Outcome::not_ready(
                status,
                condition::WORKFLOW_TEMPLATE_GENERATION_FAILED,
                message,
                generation,
                Error::Plan {
                    direction: "forward",
                    source,
                },
            ));
        }
    };

    super::helm_repository::ensure(ctx).await?;
    for suspended in
        workflows::suspend_others(ctx, existing, "forward", &mut status, generation).await?
    {
        events::publish(ctx, group, false, reason::WORKFLOW_SUSPENDED, "Suspend", format!("suspended Workflow {suspended}: the forward workflow of generation {generation} runs now")).await;
    }
    let replaced = existing
        .forward
        .as_ref()
        .and_then(workflows::generation)
        .filter(|g| *g != generation);
    // NB: the staged applications are written before the Workflow exists: once it does, the next
    // reconcile only observes it, and reads the applications (their staged charts, which
    // readiness and the last good record go by) from the status. Should the write after the
    // submission be lost, they are there all the same. Ready says the generation is on its way
    // (not the last one's True, which `kubectl wait` would take for this generation's).
    let workflow_name = plan.workflow.metadata.name.clone().unwrap_or_default();
    let status = observe::forward_in_progress(
        status,
        Standing::Progressing,
        format!("forward workflow {workflow_name} of generation {generation} being submitted"),
        spec,
        generation,
    )
    .status;
    super::status::write(ctx, group, &status).await?;
    let submitted = workflows::submit(ctx, group, &plan, existing.forward.as_ref()).await;
    // The old generation's Workflow is deleted first (its pods must go before the new one's):
    // say so once, when its deletion starts.
    let deletion_started = existing
        .forward
        .as_ref()
        .is_some_and(|w| w.metadata.deletion_timestamp.is_none());
    if let (Some(old), Err(Error::WorkflowTerminating(_)), true) =
        (replaced, &submitted, deletion_started)
    {
        events::publish(
            ctx,
            group,
            false,
            reason::WORKFLOW_REPLACED,
            "Replace",
            format!("replacing the forward Workflow of generation {old} (deleting it first)"),
        )
        .await;
    }
    let submitted = match submitted {
        // NB: only a person can free the name (nothing tells the controller when), so the status
        // says what is in the way: under Azure Orkestra's reason for a Workflow that cannot be made.
        Err(err) if err.is_name_taken() => {
            return Ok(Outcome::not_ready(
                status,
                condition::WORKFLOW_TEMPLATE_GENERATION_FAILED,
                err.to_string(),
                generation,
                err,
            ));
        }
        other => other?,
    };
    if submitted == Submitted::Created {
        ctx.metrics.submitted(started.elapsed());
        tracing::debug!(group = name, generation, staged = ?staged_after, submitted = ?started.elapsed(), "forward workflow submitted");
        if let Some(old) = replaced {
            events::publish(
                ctx,
                group,
                false,
                reason::WORKFLOW_REPLACED,
                "Replace",
                format!("replaced the forward Workflow of generation {old}"),
            )
            .await;
        }
        let versions: Vec<String> = status
            .applications
            .iter()
            .map(|a| format!("{} {}", a.name, a.chart.version))
            .collect();
        events::publish(
            ctx,
            group,
            false,
            reason::CHARTS_STAGED,
            "Stage",
            format!("staged {}", versions.join(", ")),
        )
        .await;
        events::publish(
            ctx,
            group,
            false,
            reason::WORKFLOW_SUBMITTED,
            "Submit",
            format!(
                "submitted forward Workflow {}/{workflow_name} for generation {generation}",
                ctx.config.plan.workflow_namespace
            ),
        )
        .await;
    }
    let message = format!("forward workflow {workflow_name} of generation {generation} submitted");
    Ok(observe::forward_in_progress(
        status,
        Standing::Progressing,
        message,
        spec,
        generation,
    ))
}

/// The spec to plan from: the group's, defaulted as admission would have.
pub fn defaulted(spec: &ApplicationGroupSpec) -> ApplicationGroupSpec {
    let mut spec = spec.clone();
    orkestra_shared::defaults::apply(&mut spec);
    spec
}
