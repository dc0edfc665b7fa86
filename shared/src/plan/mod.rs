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
//! Every leaf takes the parameters `helmrelease` (the HelmRelease as base64-encoded JSON), `timeout`
//! (the release timeout) and `action` (`install` or `delete`); keptn and custom leaves also take
//! `params` (the executor's params as JSON, `{}` when none). The action is a parameter, not baked
//! into the leaf, because a rollback workflow both deletes and installs. Containers:
//! - `helmrelease`: `orkestra-controller executor --action A --helmrelease H --timeout T`;
//! - `keptn`: `orkestra-controller executor --type keptn --action A --helmrelease H --timeout T --params P`;
//! - custom: the executor's image with its own entrypoint and the arguments
//!   `--action A --helmrelease H --timeout T --params P`. In the reverse direction custom and Keptn
//!   executors run too (dependents first) with `--action delete`, so they can undo their work or
//!   do nothing.
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
//! ports or CRDs that the last good releases expect to own. Subcharts that only the failed spec
//! split out of an application that both specs have are not deleted here (the application's
//! parent release is rolled back by Flux; the leftover subchart release is reported by the
//! controller's status, not by the plan).

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

pub mod argo;
pub mod flux;
pub mod naming;
mod release;
pub mod render;
mod workflow;

use std::collections::BTreeMap;

use crate::crd::ApplicationGroupSpec;
use crate::limits::{MAX_DAG_TASKS, MAX_TEMPLATES};
use crate::names::{self, MAX_LABEL_LEN};

pub use argo::Workflow;
pub use flux::{HelmRelease, SourceRef};

/// Where and how the Workflow runs. Defaults suit the Helm chart's installation.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanConfig {
    /// Namespace of the Workflows (where Argo runs the pods).
    pub workflow_namespace: String,
    /// Image of the leaf templates that run `orkestra-controller executor` (and the Keptn one).
    pub executor_image: String,
    /// Most workflow pods running at once; unlimited when `None`.
    pub parallelism: Option<i64>,
    /// Service account of the workflow pods (needs rights on HelmReleases).
    pub service_account: String,
    /// The staging repository the HelmReleases pull charts from.
    pub staging_source: SourceRef,
}

/// Default executor image: the controller's own, at this version.
pub const DEFAULT_EXECUTOR_IMAGE: &str = concat!(
    "ghcr.io/orkestra/orkestra-controller:",
    env!("CARGO_PKG_VERSION")
);
/// Default namespace of the Workflows: the one the Helm chart installs Orkestra into.
pub const DEFAULT_WORKFLOW_NAMESPACE: &str = "orkestra";
/// Default service account of the workflow pods.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "orkestra-executor";
/// Default name of the staging HelmRepository.
pub const DEFAULT_STAGING_SOURCE_NAME: &str = "orkestra-staging";
/// Default namespace of the staging HelmRepository.
pub const DEFAULT_STAGING_SOURCE_NAMESPACE: &str = "orkestra";

impl Default for PlanConfig {
    fn default() -> Self {
        Self {
            workflow_namespace: DEFAULT_WORKFLOW_NAMESPACE.into(),
            executor_image: DEFAULT_EXECUTOR_IMAGE.into(),
            parallelism: None,
            service_account: DEFAULT_SERVICE_ACCOUNT.into(),
            staging_source: SourceRef::default(),
        }
    }
}

/// What staging learned about the charts; [`Resolved::default`] knows nothing (each HelmRelease
/// then carries the spec's version constraint and only listed subcharts are planned).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolved {
    /// Per application name.
    pub applications: BTreeMap<String, ResolvedApplication>,
}

impl Resolved {
    /// What the group's status records of staging: each application's resolved version and its
    /// split subcharts (with their versions). Values keys (aliases) are not in the status, so
    /// subchart values are looked up under the subchart's name.
    pub fn from_status(applications: &[crate::crd::ApplicationStatus]) -> Self {
        let version = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        let applications = applications
            .iter()
            .map(|app| {
                let subcharts = app
                    .subcharts
                    .iter()
                    .map(|(name, chart)| {
                        (
                            name.clone(),
                            ResolvedSubchart {
                                version: version(&chart.version),
                                values_key: None,
                            },
                        )
                    })
                    .collect();
                (
                    app.name.clone(),
                    ResolvedApplication {
                        version: version(&app.chart.version),
                        subcharts,
                    },
                )
            })
            .collect();
        Self { applications }
    }
}

/// What staging learned about one application's chart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolvedApplication {
    /// The chart version the constraint resolved to.
    pub version: Option<String>,
    /// Split subcharts by name: those listed in the spec, and any others staging split out of the
    /// umbrella chart ("discovered": planned without dependencies, before the parent).
    pub subcharts: BTreeMap<String, ResolvedSubchart>,
}

/// What staging learned about one split subchart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolvedSubchart {
    /// The subchart's own version (its Chart.yaml). Unknown → `*`: the spec's constraint is the
    /// parent's, not the subchart's.
    pub version: Option<String>,
    /// The key of its values in the parent (the dependency's alias); the subchart name when unknown.
    pub values_key: Option<String>,
}

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
}

/// Why no plan could be made. Admission rejects all of these for listed subcharts; discovered
/// subcharts and hand-made specs can still hit them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A dependency cycle (the engine would refuse the DAG).
    #[error("dependency cycle among {scope}: {cycle}")]
    Cycle {
        /// Which graph: "applications", "subcharts of <app>", "executors of <app>".
        scope: String,
        /// The cycle, `a -> b -> a`.
        cycle: String,
    },
    /// Two charts would be released under one name in one namespace.
    #[error("HelmRelease {namespace}/{name} would be created for both {first} and {second}")]
    ReleaseCollision {
        /// Namespace of the HelmRelease.
        namespace: String,
        /// Name of the HelmRelease.
        name: String,
        /// The first chart.
        first: String,
        /// The second chart.
        second: String,
    },
    /// A name that cannot become a Kubernetes name.
    #[error("{what} {name:?} is not a valid name (DNS-1123 label)")]
    InvalidName {
        /// What the name names.
        what: String,
        /// The name.
        name: String,
    },
    /// A custom executor without an image.
    #[error("custom executor {executor:?} of application {application:?} has no image")]
    MissingImage {
        /// The application.
        application: String,
        /// The executor.
        executor: String,
    },
    /// The Workflow exceeds Argo's limits.
    #[error(
        "the workflow would have {templates} templates (at most {MAX_TEMPLATES}) and {largest_dag} tasks in its \
         largest DAG (at most {MAX_DAG_TASKS})"
    )]
    TooLarge {
        /// Templates in the Workflow.
        templates: usize,
        /// Tasks in its largest DAG.
        largest_dag: usize,
    },
    /// A HelmRelease could not be encoded (not expected to happen).
    #[error("cannot encode HelmRelease {0}")]
    Encode(String),
}

impl PlanError {
    /// Short category for metrics and event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Cycle { .. } => "cycle",
            Self::ReleaseCollision { .. } => "release-collision",
            Self::InvalidName { .. } => "invalid-name",
            Self::MissingImage { .. } => "missing-image",
            Self::TooLarge { .. } => "too-large",
            Self::Encode(_) => "encode",
        }
    }
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
    let mut builder = workflow::Builder::new(group_name, config);
    match direction {
        Direction::Forward => {
            builder.add_applications(spec, resolved, |_| true, workflow::Action::Install, &[])?;
        }
        Direction::Update {
            last_good,
            last_good_resolved,
        } => {
            // The applications of `last_good` that `spec` no longer has.
            let removed = crate::graph::added_applications(last_good, spec);
            let deleted = builder.add_applications(
                last_good,
                last_good_resolved,
                |name| removed.contains(&name),
                workflow::Action::Delete,
                &[],
            )?;
            builder.add_applications(
                spec,
                resolved,
                |_| true,
                workflow::Action::Install,
                &deleted,
            )?;
        }
        Direction::Reverse => {
            builder.add_applications(spec, resolved, |_| true, workflow::Action::Delete, &[])?;
        }
        Direction::Rollback {
            last_good,
            last_good_resolved,
        } => {
            let added = crate::graph::added_applications(spec, last_good);
            let deleted = builder.add_applications(
                spec,
                resolved,
                |name| added.contains(&name),
                workflow::Action::Delete,
                &[],
            )?;
            builder.add_applications(
                last_good,
                last_good_resolved,
                |_| true,
                workflow::Action::Install,
                &deleted,
            )?;
        }
    }
    let (spec_out, helm_releases) = builder.finish();
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
    let workflow = Workflow {
        api_version: argo::API_VERSION.into(),
        kind: argo::KIND.into(),
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(names::workflow_name(group_name, direction.label())),
            namespace: Some(config.workflow_namespace.clone()),
            labels: Some(BTreeMap::from([
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
            ])),
            ..Default::default()
        },
        spec: spec_out,
    };
    Ok(Plan {
        workflow,
        helm_releases,
    })
}

/// The owner label's value for a group: its name, cut with a hash when longer than a label value
/// may be (group names are DNS subdomains of up to 253 characters). Select with this value.
pub fn owner_label_value(group_name: &str) -> String {
    names::bounded_name(&[group_name], MAX_LABEL_LEN)
}
