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

impl PlanShape {
    /// The shape of the forward Workflow of `spec` (the reverse one is the same size).
    /// `spec` is expected to be defaulted: an application without executors counts one.
    pub fn of(spec: &ApplicationGroupSpec) -> Self {
        Self::of_applications(spec.applications.iter())
    }

    /// The shape of the forward Workflow of `spec` when `last_good` was deployed: the
    /// applications `spec` dropped are deleted in it too (`plan::Direction::Update`).
    pub fn of_update(spec: &ApplicationGroupSpec, last_good: &ApplicationGroupSpec) -> Self {
        Self::of_applications(missing_from(last_good, spec).chain(&spec.applications))
    }

    /// The shape of the Workflow that rolls `spec` back to `last_good`: the applications `spec`
    /// added are deleted, then `last_good` is installed (`plan::Direction::Rollback`).
    pub fn of_rollback(spec: &ApplicationGroupSpec, last_good: &ApplicationGroupSpec) -> Self {
        Self::of_applications(missing_from(spec, last_good).chain(&last_good.applications))
    }

    /// The shape of a Workflow of one entry task per application of `apps`.
    fn of_applications<'a>(apps: impl Iterator<Item = &'a Application>) -> Self {
        let mut templates = 2; // entry, helmrelease
        let mut largest_dag = 0;
        let mut entry_tasks = 0;
        let mut uses_keptn = false;
        for app in apps {
            entry_tasks += 1;
            templates += 1;
            let executors = &app.spec.workflow;
            if executors.len() > 1 {
                templates += 1;
                largest_dag = largest_dag.max(executors.len());
            }
            templates += executors
                .iter()
                .filter(|e| e.executor_type == ExecutorType::Custom)
                .count();
            uses_keptn |= executors
                .iter()
                .any(|e| e.executor_type == ExecutorType::Keptn);
            largest_dag = largest_dag.max(app.spec.subcharts.len() + 1);
        }
        Self {
            templates: templates + usize::from(uses_keptn),
            largest_dag: largest_dag.max(entry_tasks),
        }
    }
}

/// The applications of `from` that `other` has none of the same name of.
fn missing_from<'a>(
    from: &'a ApplicationGroupSpec,
    other: &ApplicationGroupSpec,
) -> impl Iterator<Item = &'a Application> {
    let added = crate::graph::added_applications(from, other);
    from.applications
        .iter()
        .filter(move |app| added.contains(&app.name.as_str()))
}
