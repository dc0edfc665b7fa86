//! The workflow engine's limits, and the shape of the plan they are checked against.
//!
//! The plan (see `plan`) emits, per direction, one Workflow with:
//! - an entry DAG template with one task per application;
//! - one DAG template per application, with one task per split subchart and one for the chart itself;
//! - one executor DAG template per application that has more than one executor (its chart tasks run
//!   that sub-DAG instead of a single executor);
//! - leaf templates: one `helmrelease` template shared by every task, one `keptn` template when any
//!   application uses Keptn, and one per custom executor.
//!
//! An update that drops applications deletes them in the same forward Workflow, and a rollback
//! deletes the applications the failed spec added before it installs the last good spec: both hold
//! the applications of two specs. Validation counts these shapes without building the plan (the
//! last good spec is the group's last-successful annotation), so a group the engine would refuse
//! is denied at admission; the plan's tests check that the counts equal what it emits.

use rustc_hash::FxHashSet;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::crd::{Application, ApplicationGroupSpec, ExecutorType};

/// Most templates one Argo Workflow may hold (the upstream CRD's `maxItems`).
pub const MAX_TEMPLATES: usize = 200;
/// Most tasks one Argo DAG template may hold (the upstream CRD's `maxItems`).
pub const MAX_DAG_TASKS: usize = 200;

/// Sizes of the Workflow a group plans to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanShape {
    /// Templates in the Workflow.
    pub templates: usize,
    /// Tasks in the largest DAG template.
    pub largest_dag: usize,
}

/// What one application adds to the shape of its Workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppCounts {
    /// Its listed subcharts.
    pub subcharts: usize,
    /// Its executors.
    pub executors: usize,
    /// Its custom executors (one leaf template each).
    pub customs: usize,
    /// Whether one of its executors is Keptn.
    pub keptn: bool,
}

impl AppCounts {
    /// The counts of `app` (defaulted or not: an application without executors counts as one).
    pub fn of(app: &Application) -> Self {
        let types = app.spec.workflow.iter().map(|e| e.executor_type);
        Self::counted(app.spec.subcharts.len(), types)
    }

    fn counted(subcharts: usize, types: impl Iterator<Item = ExecutorType>) -> Self {
        let (mut executors, mut customs, mut keptn) = (0, 0, false);
        for executor_type in types {
            executors += 1;
            customs += usize::from(executor_type == ExecutorType::Custom);
            keptn |= executor_type == ExecutorType::Keptn;
        }
        Self {
            subcharts,
            executors,
            customs,
            keptn,
        }
    }
}

/// A deployed application, by name, and what it adds to the shape of a Workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppShape {
    /// The application's name.
    pub name: String,
    /// What it adds.
    pub counts: AppCounts,
}

impl AppShape {
    /// The shape of `app`.
    pub fn of(app: &Application) -> Self {
        Self {
            name: app.name.clone(),
            counts: AppCounts::of(app),
        }
    }

    /// The shapes of the applications of a spec written as JSON (the last-successful annotation),
    /// reading only what the shape needs; `None` when it is not such a spec.
    pub fn read_spec(json: &str) -> Option<Vec<Self>> {
        let spec: ShapeSpec = serde_json::from_str(json).ok()?;
        Some(
            spec.applications
                .into_iter()
                .map(|app| {
                    let types = app.spec.workflow.into_iter().map(|e| e.executor_type);
                    Self {
                        name: app.name,
                        counts: AppCounts::counted(app.spec.subcharts.len(), types),
                    }
                })
                .collect(),
        )
    }
}

/// A spec as JSON, read for its shape only (everything else is skipped, unchecked).
#[derive(Deserialize)]
struct ShapeSpec {
    #[serde(default)]
    applications: Vec<ShapeApplication>,
}

#[derive(Deserialize)]
struct ShapeApplication {
    name: String,
    #[serde(default)]
    spec: ShapeApplicationSpec,
}

#[derive(Deserialize, Default)]
struct ShapeApplicationSpec {
    #[serde(default)]
    subcharts: Vec<IgnoredAny>,
    #[serde(default)]
    workflow: Vec<ShapeExecutor>,
}

#[derive(Deserialize)]
struct ShapeExecutor {
    #[serde(rename = "type", default)]
    executor_type: ExecutorType,
}

impl PlanShape {
    /// The shape of the forward Workflow of `spec` (the reverse one is the same size).
    pub fn of(spec: &ApplicationGroupSpec) -> Self {
        Self::of_applications(spec.applications.iter().map(AppCounts::of))
    }

    /// The shape of the forward Workflow of `spec` when the applications `last_good` were
    /// deployed: the applications `spec` dropped are deleted in it too (`plan::Direction::Update`).
    pub fn of_update(spec: &ApplicationGroupSpec, last_good: &[AppShape]) -> Self {
        let kept: FxHashSet<&str> = spec.applications.iter().map(|a| a.name.as_str()).collect();
        let dropped = last_good
            .iter()
            .filter(|app| !kept.contains(app.name.as_str()))
            .map(|app| app.counts);
        Self::of_applications(dropped.chain(spec.applications.iter().map(AppCounts::of)))
    }

    /// The shape of the Workflow that rolls `spec` back to the applications `last_good`: the
    /// applications `spec` added are deleted, then `last_good` is installed
    /// (`plan::Direction::Rollback`).
    pub fn of_rollback(spec: &ApplicationGroupSpec, last_good: &[AppShape]) -> Self {
        let deployed: FxHashSet<&str> = last_good.iter().map(|app| app.name.as_str()).collect();
        let added = spec
            .applications
            .iter()
            .filter(|a| !deployed.contains(a.name.as_str()))
            .map(AppCounts::of);
        Self::of_applications(added.chain(last_good.iter().map(|app| app.counts)))
    }

    /// The shape of a Workflow of one entry task per application of `apps`.
    fn of_applications(apps: impl Iterator<Item = AppCounts>) -> Self {
        let mut templates = 2; // entry, helmrelease
        let mut largest_dag = 0;
        let mut entry_tasks = 0;
        let mut uses_keptn = false;
        for app in apps {
            entry_tasks += 1;
            templates += 1 + usize::from(app.executors > 1) + app.customs;
            if app.executors > 1 {
                largest_dag = largest_dag.max(app.executors);
            }
            uses_keptn |= app.keptn;
            largest_dag = largest_dag.max(app.subcharts + 1);
        }
        Self {
            templates: templates + usize::from(uses_keptn),
            largest_dag: largest_dag.max(entry_tasks),
        }
    }
}
