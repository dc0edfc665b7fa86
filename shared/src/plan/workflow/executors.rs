//! The executors of an application: its executor DAG and the leaves it runs.

use std::collections::HashMap;

use serde_json::Value;

use super::custom::{custom_leaf, data_argument};
use super::leaf::{ExecutorCall, ReleaseInputs, input};
use super::timeout::{application_step_timeout, custom_deadline_seconds};
use super::{Action, Builder, HELMRELEASE, KEPTN, check_acyclic, check_argo_name, ordered};
use crate::crd::{Application, Executor, ExecutorType};
use crate::field_error;
use crate::graph::DependencyGraph;
use crate::plan::argo::{Arguments, DagTask, DagTemplate, Inputs, Parameter, Template};
use crate::plan::error::PlanError;
use crate::plan::naming::NameSet;

impl Builder<'_> {
    /// Adds the executor DAG and custom leaves of `app` to `templates`; returns what its chart
    /// tasks call.
    pub(super) fn add_executors(
        &mut self,
        app: &Application,
        action: Action,
        templates: &mut Vec<Template>,
    ) -> Result<ExecutorCall, PlanError> {
        let executors = &app.spec.workflow;
        let mut leaves = Vec::with_capacity(executors.len());
        let mut customs = Vec::new();
        for executor in executors {
            leaves.push(self.add_leaf(app, executor, action, &mut customs)?);
        }
        let call = match (executors.as_slice(), leaves.as_slice()) {
            ([], _) => ExecutorCall {
                template: HELMRELEASE.into(),
                release: ReleaseInputs::REFERENCE,
                argument: None,
            },
            ([_], [leaf]) => leaf.clone(),
            _ => {
                let graph = DependencyGraph::new(
                    executors
                        .iter()
                        .map(|e| (e.name.as_str(), e.dependencies.iter())),
                );
                check_acyclic(&graph, &format!("executors of {}", app.name))?;
                let name = self
                    .template_names
                    .allocate(&["executors", &app.name], &app.name);
                check_argo_name("template", &name)?;
                let mut task_names = NameSet::default();
                let names: HashMap<&str, String> = executors
                    .iter()
                    .map(|e| (e.name.as_str(), task_names.allocate(&[&e.name], &e.name)))
                    .collect();
                let release = leaves.iter().fold(ReleaseInputs::default(), |taken, leaf| {
                    taken.union(leaf.release)
                });
                let mut tasks = Vec::with_capacity(executors.len());
                for (executor, leaf) in executors.iter().zip(&leaves) {
                    let mut parameters: Vec<Parameter> = leaf
                        .release
                        .names()
                        .chain(["timeout", "action"])
                        .map(|p| Parameter::new(p, input(p)))
                        .collect();
                    parameters.extend(leaf.argument.clone());
                    let task_name = names
                        .get(executor.name.as_str())
                        .cloned()
                        .unwrap_or_default();
                    check_argo_name("task", &task_name)?;
                    let dependencies = ordered(&graph, &executor.name, action)
                        .into_iter()
                        .filter_map(|n| names.get(n).cloned())
                        .collect();
                    tasks.push(DagTask {
                        name: task_name,
                        template: leaf.template.clone(),
                        arguments: Some(Arguments { parameters }),
                        dependencies,
                    });
                }
                let inputs: Vec<&str> = release.names().chain(["timeout", "action"]).collect();
                templates.push(Template {
                    name: name.clone(),
                    inputs: Some(Inputs::named(&inputs)),
                    dag: Some(DagTemplate { tasks }),
                    ..Template::default()
                });
                ExecutorCall {
                    template: name,
                    release,
                    argument: None,
                }
            }
        };
        templates.append(&mut customs);
        Ok(call)
    }

    /// The leaf an executor runs; a custom executor's template goes to `customs`.
    fn add_leaf(
        &mut self,
        app: &Application,
        executor: &Executor,
        action: Action,
        customs: &mut Vec<Template>,
    ) -> Result<ExecutorCall, PlanError> {
        let params = || {
            executor
                .params
                .as_ref()
                .map_or_else(|| "{}".to_owned(), Value::to_string)
        };
        match executor.executor_type {
            ExecutorType::Helmrelease => Ok(ExecutorCall {
                template: HELMRELEASE.into(),
                release: ReleaseInputs::REFERENCE,
                argument: None,
            }),
            ExecutorType::Keptn => {
                self.uses_keptn = true;
                Ok(ExecutorCall {
                    template: KEPTN.into(),
                    release: ReleaseInputs::REFERENCE,
                    argument: Some(Parameter::new("params", params())),
                })
            }
            ExecutorType::Custom => {
                let missing = || PlanError::MissingImage {
                    application: app.name.clone(),
                    executor: executor.name.clone(),
                };
                let container = executor
                    .image
                    .as_ref()
                    .ok_or_else(missing)?
                    .container()
                    .map_err(|errors| PlanError::InvalidImage {
                        application: app.name.clone(),
                        executor: executor.name.clone(),
                        reason: field_error::join_lines(&errors),
                    })?;
                if container.image.as_deref().is_none_or(str::is_empty) {
                    return Err(missing());
                }
                let key = format!("{}/{}", app.name, executor.name);
                let name = self
                    .template_names
                    .allocate(&["custom", &app.name, &executor.name], &key);
                check_argo_name("template", &name)?;
                let timeout = application_step_timeout(&app.spec.release, action);
                let deadline = custom_deadline_seconds(&timeout);
                customs.push(custom_leaf(
                    name.clone(),
                    &executor.name,
                    container,
                    deadline,
                ));
                Ok(ExecutorCall {
                    template: name,
                    release: ReleaseInputs::INLINE,
                    argument: Some(data_argument(executor.params.as_ref())),
                })
            }
        }
    }
}
