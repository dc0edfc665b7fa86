//! The plan: an ApplicationGroup's spec → the Argo `Workflow` that deploys (forward), tears down
//! (reverse) or rolls back the group, and the Flux `HelmRelease`s its tasks create.
//!
//! Pure and deterministic: the same input always gives the same objects, byte for byte.
//!
//! # Shape (what [`crate::limits::PlanShape::of`] counts)
//! - template `entry`: a DAG with one task per application; task dependencies are the
//!   application dependencies (reverse: turned around, dependents first);
//! - per application, template `app-<name>`: one task per split subchart (listed in the spec, then
//!   those staging discovered, by name) and one for the application's own chart. Subchart tasks
//!   follow the subchart DAG and the chart task depends on every subchart task. Reverse: the chart
//!   task goes first and every subchart task depends on it, subchart edges turned around;
//! - per application with more than one executor, template `executors-<name>`: the executor DAG
//!   (reverse: turned around), called by each of the application's chart tasks; with one executor
//!   the chart task calls that executor's leaf directly;
//! - leaves: `helmrelease` (always; the controller image's `executor` subcommand), `keptn` when an
//!   application uses Keptn, and `custom-<application>-<executor>` per custom executor.
//!
//! Every leaf takes the HelmRelease, `timeout` (the release timeout) and `action` (`install` or
//! `delete`). The controller image's leaves take the HelmRelease by reference, `helmrelease`
//! (`configmap:<namespace>/<name>/<key>`, a key of one of [`Plan::release_stores`], see
//! [`release_store`]); custom leaves take it inline, `spec` (base64 of its JSON); an executor DAG
//! takes what its leaves take. Keptn leaves also take `params` (the executor's params as JSON,
//! `{}` when none), custom leaves `data` (base64 of the JSON of `params.data`, empty when none). The action is a parameter, not baked into the leaf, because a
//! rollback workflow both deletes and installs. Containers:
//! - `helmrelease`: `orkestra-controller executor --action A --helmrelease H --timeout T`;
//! - `keptn`: `orkestra-controller executor --type keptn --action A --helmrelease H --timeout T --params P`;
//! - custom: the executor's container (every field the user wrote; named after the executor when
//!   unnamed) with its own command (the image's entrypoint when none) and its args followed by
//!   Azure Orkestra's contract `--spec H --action A --data D --timeout T --interval 1s`
//!   (`workflow/custom.rs`). In the reverse direction custom and Keptn executors run too
//!   (dependents first) with `--action delete`, so they can undo their work or do nothing.
//!
//! HelmReleases pull from the staging repository in [`PlanConfig::staging_source`] through
//! `spec.chart.spec.sourceRef`, which Flux only lets point at a HelmRepository (or GitRepository,
//! Bucket): an OCI staging registry is a HelmRepository of `type: oci`. Flux's OCIRepository
//! would need `spec.chartRef` and one source object per chart and version, which the plan does
//! not own.
//!
//! # Limits
//! [`build`] refuses a Workflow beyond Argo's limits ([`PlanError::TooLarge`]). Admission counts
//! the forward shape of the listed subcharts; charts that staging discovers and rollback workflows
//! (deleted + reinstalled applications together) can be larger, and are caught here.
//!
//! # Rollback
//! Input: the current spec (whose forward workflow failed) and the last spec that succeeded. The
//! rollback Workflow first deletes the applications the failed upgrade added
//! ([`graph::added_applications`]), dependents first, then runs the forward plan of the last good
//! spec with `install`: each application of it that has no dependency waits for every deletion.
//! Deleting first because an added application may depend on an application being rolled back,
//! and would run against the old version otherwise; and because its releases may hold names,
//! ports or CRDs that the last good releases expect to own. Releases of an application that both
//! specs have but the failed spec placed elsewhere (another namespace, a subchart only its chart
//! split out) are not the plan's to know: the controller finds them in the cluster and passes them
//! as leftovers (see "Leftovers").

//!
//! # Updates
//! A new generation that drops applications the last successful spec had uninstalls them in its
//! forward Workflow ([`Direction::Update`]): their HelmReleases are deleted first, dependents
//! first among them, and each application of the new spec that has no dependency waits for every
//! deletion. Removals before installs, as in a rollback: a removed release may hold names, ports
//! or CRDs that a new or upgraded release expects to own (two specs may even give one release
//! name to different charts), and nothing in the new spec can depend on a removed application.
//! The cost is that kept applications are upgraded only after the removals finished. The
//! removed applications are planned from the last good spec (their namespaces, subcharts and
//! executors, which run with `action=delete`).
//!
//! # Leftovers
//! A Workflow the controller submits for a rollout, a remediation or a teardown ([`build_clearing`]) first
//! deletes the group's HelmReleases that the controller finds in the cluster (by owner label) and
//! that the Workflow's plan does not name: one an update dropped while the generation before it
//! was still rolling out, one a rollback put back after an update dropped it, one the failed
//! generation moved to another namespace, a subchart only an older chart version split out. All at once, with Orkestra's own HelmRelease executor (at most
//! [`MAX_DAG_TASKS`] per DAG); what the Workflow installs waits for them. Nothing is known of
//! their order: the spec that had them is gone.

pub mod argo;
mod config;
mod error;
pub mod flux;
pub mod naming;
mod release;
pub mod release_store;
pub mod render;
mod resolved;
mod workflow;

use std::collections::BTreeMap;

use crate::crd::ApplicationGroupSpec;
use crate::limits::{MAX_DAG_TASKS, MAX_TEMPLATES};
use crate::names;

pub use argo::Workflow;
pub use config::{
    DEFAULT_EXECUTOR_IMAGE, DEFAULT_SERVICE_ACCOUNT, DEFAULT_STAGING_SOURCE_NAME,
    DEFAULT_STAGING_SOURCE_NAMESPACE, DEFAULT_WORKFLOW_NAMESPACE, PlanConfig,
};
pub use error::PlanError;
pub use flux::{HelmRelease, SourceRef};
pub use naming::owner_label_value;
pub use release_store::ReleaseRef;
pub use resolved::{Resolved, ResolvedApplication, ResolvedSubchart};

/// Which Workflow to plan.
#[derive(Debug, Clone, Copy)]
pub enum Direction<'a> {
    /// Install or upgrade the group, dependencies first.
    Forward,
    /// Forward, from a group whose `last_good` spec was deployed: first delete the applications
    /// that `last_good` has and the spec dropped (dependents first among them), then install the
    /// spec as [`Direction::Forward`] does. Labelled and named as the forward Workflow; without
    /// removed applications it is exactly the forward Workflow. See "Updates" above.
    Update {
        /// The last spec whose forward workflow succeeded.
        last_good: &'a ApplicationGroupSpec,
        /// What staging (or the status) knows of `last_good`'s charts; used for the names of
        /// the removed applications' split subcharts.
        last_good_resolved: &'a Resolved,
    },
    /// Tear the group down, dependents first.
    Reverse,
    /// Go back to `last_good` after a failed forward workflow.
    Rollback {
        /// The last spec whose forward workflow succeeded.
        last_good: &'a ApplicationGroupSpec,
        /// What staging learned about `last_good`'s charts.
        last_good_resolved: &'a Resolved,
    },
}

impl Direction<'_> {
    /// The `workflow-type` label value and workflow name suffix.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Forward | Self::Update { .. } => "forward",
            Self::Reverse => "reverse",
            Self::Rollback { .. } => "rollback",
        }
    }
}

/// The objects of one direction.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The Workflow to submit.
    pub workflow: Workflow,
    /// Every HelmRelease its tasks carry, in task order.
    pub helm_releases: Vec<HelmRelease>,
    /// The ConfigMaps holding the HelmReleases its tasks pass by reference (see
    /// [`release_store`]): written before the Workflow.
    pub release_stores: Vec<k8s_openapi::api::core::v1::ConfigMap>,
}

/// Plans the Workflow of `direction` for the group `group_name` at `generation`. `spec` is
/// expected defaulted (`defaults::apply`); `resolved` describes its charts.
pub fn build(
    group_name: &str,
    generation: i64,
    spec: &ApplicationGroupSpec,
    resolved: &Resolved,
    direction: Direction<'_>,
    config: &PlanConfig,
) -> Result<Plan, PlanError> {
    build_clearing(
        group_name,
        generation,
        spec,
        resolved,
        direction,
        &[],
        config,
    )
}

/// [`build`], with a Workflow that first deletes `leftovers`: HelmReleases of the group that the
/// controller finds in the cluster and that the plan of `direction` does not name (see
/// "Leftovers" above). What the Workflow installs waits for them; its other deletions run
/// alongside.
pub fn build_clearing(
    group_name: &str,
    generation: i64,
    spec: &ApplicationGroupSpec,
    resolved: &Resolved,
    direction: Direction<'_>,
    leftovers: &[HelmRelease],
    config: &PlanConfig,
) -> Result<Plan, PlanError> {
    let workflow_name = names::workflow_name(group_name, direction.label());
    let mut builder = workflow::Builder::new(group_name, &workflow_name, config);
    let cleared = builder.add_leftover_deletions(leftovers)?;
    match direction {
        Direction::Forward => {
            builder.add_applications(
                spec,
                resolved,
                |_| true,
                workflow::Action::Install,
                &cleared,
            )?;
        }
        Direction::Update {
            last_good,
            last_good_resolved,
        } => {
            // The applications of `last_good` that `spec` no longer has.
            let removed = crate::graph::added_applications(last_good, spec);
            let mut deleted = builder.add_applications(
                last_good,
                last_good_resolved,
                |name| removed.contains(&name),
                workflow::Action::Delete,
                &[],
            )?;
            deleted.extend(cleared);
            builder.add_applications(
                spec,
                resolved,
                |_| true,
                workflow::Action::Install,
                &deleted,
            )?;
        }
        Direction::Reverse => {
            builder.add_applications(
                spec,
                resolved,
                |_| true,
                workflow::Action::Delete,
                &cleared,
            )?;
        }
        Direction::Rollback {
            last_good,
            last_good_resolved,
        } => {
            let added = crate::graph::added_applications(spec, last_good);
            let mut deleted = builder.add_applications(
                spec,
                resolved,
                |name| added.contains(&name),
                workflow::Action::Delete,
                &[],
            )?;
            deleted.extend(cleared);
            builder.add_applications(
                last_good,
                last_good_resolved,
                |_| true,
                workflow::Action::Install,
                &deleted,
            )?;
        }
    }
    let (spec_out, helm_releases, store) = builder.finish();
    let templates = spec_out.templates.len();
    let largest_dag = spec_out
        .templates
        .iter()
        .map(|t| t.tasks().len())
        .max()
        .unwrap_or(0);
    if templates > MAX_TEMPLATES || largest_dag > MAX_DAG_TASKS {
        return Err(PlanError::TooLarge {
            templates,
            largest_dag,
        });
    }
    let labels = BTreeMap::from([
        (names::OWNER_LABEL.to_owned(), owner_label_value(group_name)),
        (
            names::HERITAGE_LABEL.to_owned(),
            names::HERITAGE_VALUE.to_owned(),
        ),
        (
            names::WORKFLOW_TYPE_LABEL.to_owned(),
            direction.label().to_owned(),
        ),
        (names::GENERATION_LABEL.to_owned(), generation.to_string()),
    ]);
    let release_stores = store.finish(&labels);
    let workflow = Workflow {
        api_version: argo::API_VERSION.into(),
        kind: argo::KIND.into(),
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(workflow_name),
            namespace: Some(config.workflow_namespace.clone()),
            labels: Some(labels),
            ..Default::default()
        },
        spec: spec_out,
    };
    Ok(Plan {
        workflow,
        helm_releases,
        release_stores,
    })
}
