//! The reconcile function, the error policy, and the Controller that runs them.

use std::hash::{Hash as _, Hasher as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{PredicateConfig, WatchStreamExt as _, watcher};
use orkestra_shared::crd::ApplicationGroup;
use orkestra_shared::names::{FINALIZER, HERITAGE_LABEL, HERITAGE_VALUE, OWNER_LABEL};
use orkestra_shared::plan;
use serde_json::json;

use super::context::Context;
use super::error::Error;
use super::events::{self, reason};
use super::outcome::Outcome;
use super::status;
use super::teardown::{self, Teardown};
use super::{helm_releases, observe, rollout, workflows};

/// Runs the controller until `shutdown` resolves (in-flight reconciles finish first).
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let client = ctx.client.clone();
    let mut groups_config = watcher::Config::default();
    if let Some(selector) = &ctx.config.group_selector {
        groups_config = groups_config.labels(selector);
    }
    let groups = Api::<ApplicationGroup>::all(client.clone());
    // NB: our own writes (status, the last-successful annotation, the finalizer) change neither
    // the generation nor the deletion timestamp: without this filter each of them would cost one
    // more reconcile of the group, which under load queues behind the work that matters. The
    // reconcile that writes carries on by itself, and Workflow/HelmRelease changes still trigger.
    let (store, writer) = reflector::store();
    let trigger = watcher(groups, groups_config)
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(spec_or_deletion, PredicateConfig::default());
    let controller = Controller::for_stream(trigger, store.clone());

    let workflow_resource = workflows::api_resource();
    let workflow_api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ctx.config.plan.workflow_namespace,
        &workflow_resource,
    );
    let release_resource = helm_releases::api_resource();
    let release_api: Api<DynamicObject> = Api::all_with(client.clone(), &release_resource);
    let heritage = format!("{HERITAGE_LABEL}={HERITAGE_VALUE}");

    // NB: Workflows are owned (owner reference to the group), but `Controller::owns` keys the
    // request with the Workflow's namespace; for a cluster-scoped group that is a second key for
    // the same group, which would let two reconciles of one group run at once. Map to the
    // cluster-scoped key instead.
    let workflow_store = store.clone();
    let release_store = store.clone();
    // NB: a Workflow without a status is one Argo has not picked up yet: it was just created (or
    // suspended) by a reconcile that wrote the group's status already, so its event would only
    // cost another reconcile. Deletions always trigger (a deleted reverse Workflow ends a
    // teardown).
    let workflow_events = watcher(workflow_api, watcher::Config::default().labels(&heritage))
        .default_backoff()
        .filter_map(|event| async move {
            match event {
                Ok(watcher::Event::Apply(wf) | watcher::Event::InitApply(wf)) => {
                    wf.data.get("status").is_some().then_some(Ok(wf))
                }
                Ok(watcher::Event::Delete(wf)) => Some(Ok(wf)),
                Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
                Err(err) => Some(Err(err)),
            }
        });
    controller
        .watches_stream_with(
            workflow_events,
            move |wf| owner_of(&workflow_store, &wf),
            workflow_resource,
        )
        .watches_with(
            release_api,
            release_resource,
            watcher::Config::default().labels(OWNER_LABEL),
            move |hr| owner_of(&release_store, &hr),
        )
        .with_config(ControllerConfig::default().concurrency(ctx.config.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!("controller: {err}");
            }
        })
        .await;
}

/// What a group event must change to trigger a reconcile: the generation (a spec change) or the
/// deletion timestamp.
fn spec_or_deletion(group: &ApplicationGroup) -> Option<u64> {
    let mut hasher = std::hash::DefaultHasher::new();
    (
        group.metadata.generation,
        group.metadata.deletion_timestamp.is_some(),
    )
        .hash(&mut hasher);
    Some(hasher.finish())
}

/// The group an object belongs to: by owner reference, else by OWNER_LABEL (matched against the
/// known groups, as a long group name's label value is a hash).
fn owner_of(
    store: &Store<ApplicationGroup>,
    object: &DynamicObject,
) -> Option<ObjectRef<ApplicationGroup>> {
    if let Some(owner) = object
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == "ApplicationGroup")
    {
        return Some(ObjectRef::new(&owner.name));
    }
    let label = object.metadata.labels.as_ref()?.get(OWNER_LABEL)?;
    let direct = ObjectRef::new(label);
    if store.get(&direct).is_some() {
        return Some(direct);
    }
    store
        .state()
        .iter()
        .filter_map(|g| g.metadata.name.as_deref())
        .find(|name| plan::owner_label_value(name) == *label)
        .map(ObjectRef::new)
}

/// Reconciles one group.
pub async fn reconcile(group: Arc<ApplicationGroup>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let name = group.metadata.name.clone().unwrap_or_default();
    let result = reconcile_inner(group, &ctx).await;
    ctx.metrics.reconciled(started.elapsed());
    tracing::debug!(group = name, took = ?started.elapsed(), ok = result.is_ok(), "reconciled");
    if result.is_ok() {
        ctx.note_success(&name);
    }
    result
}

async fn reconcile_inner(
    cached: Arc<ApplicationGroup>,
    ctx: &Arc<Context>,
) -> Result<Action, Error> {
    let api = Api::<ApplicationGroup>::all(ctx.client.clone());
    // NB: the cache can lag behind our own last write (a Workflow event may trigger this
    // reconcile first), and the status is written whole: decide from the object as stored, read
    // again unless the cached copy is the one we wrote last.
    let name = cached.metadata.name.clone().unwrap_or_default();
    let group = if ctx.is_fresh(&cached) {
        cached
    } else {
        let Some(group) = api
            .get_opt(&name)
            .await
            .map_err(Error::kube(format!("reading {name}")))?
        else {
            ctx.forget(&name);
            return Ok(Action::await_change());
        };
        Arc::new(group)
    };
    if group.metadata.deletion_timestamp.is_some() {
        if !has_finalizer(&group) {
            return Ok(Action::await_change());
        }
        // NB: the finalizer helper removes the finalizer as soon as Cleanup returns Ok, so the
        // waiting happens here, before it.
        let message = match teardown::progress(ctx, &group).await? {
            Teardown::Wait(action) => return Ok(action),
            Teardown::Done(message) => message,
        };
        workflows::release_all(ctx, &group).await?;
        let ctx2 = ctx.clone();
        return finalizer(&api, FINALIZER, group, |event| async move {
            if let FinalizerEvent::Cleanup(group) = event {
                events::publish(
                    &ctx2,
                    &group,
                    false,
                    reason::FINALIZED,
                    "Delete",
                    format!("finalizer released: {message}"),
                )
                .await;
                let name = group.metadata.name.as_deref().unwrap_or_default();
                ctx2.metrics.set_reason(name, None);
                ctx2.note_finalized(name);
            }
            Ok(Action::await_change())
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)));
    }
    // NB: not the finalizer helper here: it adds the finalizer and ends the reconcile, waiting
    // for the watch event of its own write (which the trigger filter drops, see `run`). The
    // finalizer is added, then this reconcile goes on: a new group is submitted in one reconcile.
    if has_finalizer(&group) {
        return apply(&group, ctx, None).await;
    }
    let group = add_finalizer(&api, &group, ctx).await?;
    // NB: every path adds the finalizer before it creates a Workflow, so a group that had none
    // has no Workflow of ours: one LIST fewer per new group. (One left by a deleted group of the
    // same name makes creating ours conflict: `workflows::submit` deletes it, and the retry goes on.)
    apply(&group, ctx, Some(workflows::GroupWorkflows::default())).await
}

fn has_finalizer(group: &ApplicationGroup) -> bool {
    group
        .metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == FINALIZER)
}

/// Adds FINALIZER (a JSON patch that tests the list it extends, as kube's finalizer helper does,
/// so a concurrent change of the list fails the patch instead of being lost); returns the group as
/// stored after it.
async fn add_finalizer(
    api: &Api<ApplicationGroup>,
    group: &ApplicationGroup,
    ctx: &Context,
) -> Result<ApplicationGroup, Error> {
    let name = group.metadata.name.as_deref().unwrap_or_default();
    let patch = match group.metadata.finalizers.as_deref() {
        None | Some([]) => json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]},
        ]),
        Some(existing) => json!([
            {"op": "test", "path": "/metadata/finalizers", "value": existing},
            {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER},
        ]),
    };
    let patch: json_patch::Patch =
        serde_json::from_value(patch).map_err(|source| Error::Encode {
            what: "finalizer patch",
            source,
        })?;
    let written = api
        .patch(name, &PatchParams::default(), &Patch::Json::<()>(patch))
        .await
        .map_err(Error::kube(format!("adding the finalizer to {name}")))?;
    ctx.note_written(&written);
    Ok(written)
}

/// Steps 2–5 for a group that is not being deleted.
async fn apply(
    group: &ApplicationGroup,
    ctx: &Context,
    known_workflows: Option<workflows::GroupWorkflows>,
) -> Result<Action, Error> {
    let generation = group.metadata.generation.unwrap_or(1);
    let spec = rollout::defaulted(&group.spec);
    let previous = group.status.clone().unwrap_or_default();
    let workflows = match known_workflows {
        Some(known) => known,
        None => workflows::list(ctx, group).await?,
    };

    let outcome = if workflows.of_generation("forward", generation).is_some() {
        observe::forward(ctx, group, &spec, generation, &workflows, previous.clone()).await?
    } else if previous.observed_generation == generation
        && status::get(
            &previous,
            orkestra_shared::names::condition::FORWARD_WORKFLOW_SUCCEEDED,
        )
        .is_some_and(|c| c.observed_generation == Some(generation) && c.status != "Unknown")
    {
        // This generation's forward workflow ran and was deleted since: never run it twice.
        observe::without_forward(ctx, group, &spec, generation, &workflows, previous.clone())
            .await?
    } else {
        rollout::start(ctx, group, &spec, generation, &workflows, previous.clone()).await?
    };
    finish(ctx, group, &previous, outcome).await
}

/// Writes the outcome's status, publishes an Event when Ready changed, returns its action/error.
async fn finish(
    ctx: &Context,
    group: &ApplicationGroup,
    previous: &orkestra_shared::crd::ApplicationGroupStatus,
    outcome: Outcome,
) -> Result<Action, Error> {
    let Outcome {
        status,
        action,
        error,
    } = outcome;
    status::write(ctx, group, &status).await?;
    let before = status::ready_key(previous);
    let after = status::ready_key(&status);
    // A new group's first Ready (Progressing: submitted) says what its WorkflowSubmitted (or
    // failure) event says already: one Event fewer per group.
    let first_progress = before.is_none()
        && after
            .as_ref()
            .is_some_and(|(_, reason)| reason == orkestra_shared::names::condition::PROGRESSING);
    if before != after
        && !first_progress
        && let Some(ready) = status::get(&status, orkestra_shared::names::condition::READY)
    {
        // Failures have their own, more specific events; this one says where Ready stands. It
        // warns on a failure, and on a fall from True within a generation (a release that
        // stopped being ready), which is Progressing but no rollout.
        let fell = before.as_ref().is_some_and(|(status, _)| status == "True")
            && previous.observed_generation == status.observed_generation;
        let warning = ready.status == "False"
            && (fell || ready.reason != orkestra_shared::names::condition::PROGRESSING);
        events::publish(
            ctx,
            group,
            warning,
            &ready.reason,
            "Reconcile",
            format!("Ready={}: {}", ready.status, ready.message),
        )
        .await;
    }
    match error {
        Some(err) => Err(err),
        None => Ok(action.unwrap_or_else(Action::await_change)),
    }
}

/// Picks the retry delay from the error's category and how often this group failed in a row.
pub fn error_policy(group: Arc<ApplicationGroup>, error: &Error, ctx: Arc<Context>) -> Action {
    let name = group.metadata.name.as_deref().unwrap_or_default();
    let failures = ctx.note_failure(name);
    let category = error.category();
    ctx.metrics.failed(category);
    let delay = error.backoff(failures);
    tracing::warn!(group = name, category, failures, retry_in = ?delay, "reconcile failed: {error}");
    Action::requeue(delay.max(Duration::from_millis(500)))
}
