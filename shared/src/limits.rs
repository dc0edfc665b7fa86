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
//! Validation counts this shape without building the plan, so a group the engine would refuse is
//! denied at admission; the plan's tests check that the count equals what it emits.

use crate::crd::{ApplicationGroupSpec, ExecutorType};

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
    /// The shape of the forward Workflow of `spec` (the reverse and rollback ones are no larger).
    /// `spec` is expected to be defaulted: an application without executors counts one.
    pub fn of(spec: &ApplicationGroupSpec) -> Self {
        let applications = spec.applications.len();
        let mut templates = 1 + applications + 1; // entry, one per application, helmrelease
        let mut largest_dag = applications;
        let mut uses_keptn = false;
        for app in &spec.applications {
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
            largest_dag,
        }
    }
}
