//! Building the Workflow's templates and the HelmReleases (see the module docs of `plan`).

use std::collections::{HashMap, HashSet};

use base64::Engine;

use super::argo::{Arguments, DagTask, DagTemplate, Parameter, Template, WorkflowSpec};
use super::config::PlanConfig;
use super::error::PlanError;
use super::flux::HelmRelease;
use super::naming::NameSet;
use super::naming::owner_label_value;
use super::release::Charts;
use super::release_store::ReleaseStore;
use super::resolved::{Resolved, ResolvedApplication};
use crate::crd::{Application, ApplicationGroupSpec};
use crate::free_form::FreeForm;
use crate::graph::DependencyGraph;
use crate::limits::MAX_DAG_TASKS;
use leaf::{BY_REFERENCE, ExecutorCall, INLINE, leaf};
use refusals::{check_acyclic, check_argo_name, check_collisions};
use timeout::step_timeout;

pub(crate) use custom::MAX_INLINE_RELEASE_BYTES;

mod custom;
mod executors;
mod leaf;
mod refusals;
mod timeout;

/// Template names with a fixed meaning.
pub const ENTRY: &str = "entry";
/// The shared leaf that runs the HelmRelease executor.
pub const HELMRELEASE: &str = "helmrelease";
/// The shared leaf that runs Keptn evaluations.
pub const KEPTN: &str = "keptn";

/// What the leaves do with the HelmRelease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create or upgrade it and wait until it is ready.
    Install,
    /// Delete it and wait until it is gone.
    Delete,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Self::Install => "install",
            Self::Delete => "delete",
        }
    }
}

/// Accumulates templates and HelmReleases.
pub struct Builder<'c> {
    owner: String,
    config: &'c PlanConfig,
    template_names: NameSet,
    entry_names: NameSet,
    entry_tasks: Vec<DagTask>,
    templates: Vec<Template>,
    uses_keptn: bool,
    helm_releases: Vec<HelmRelease>,
    store: ReleaseStore,
}

impl<'c> Builder<'c> {
    /// A builder for the Workflow `workflow` of the group `group`.
    pub fn new(group: &str, workflow: &str, config: &'c PlanConfig) -> Self {
        let mut template_names = NameSet::default();
        for fixed in [ENTRY, HELMRELEASE, KEPTN] {
            template_names.reserve(fixed);
        }
        Self {
            owner: owner_label_value(group),
            config,
            template_names,
            entry_names: NameSet::default(),
            entry_tasks: Vec::new(),
            templates: Vec::new(),
            uses_keptn: false,
            helm_releases: Vec::new(),
            store: ReleaseStore::new(&config.workflow_namespace, workflow),
        }
    }

    /// Adds an entry task per application of `spec` that `include` selects, ordered by their
    /// dependencies (turned around for `Delete`). Tasks without dependencies wait for `after`.
    /// Returns the added tasks that no other added task waits for.
    pub fn add_applications(
        &mut self,
        spec: &ApplicationGroupSpec,
        resolved: &Resolved,
        include: impl Fn(&str) -> bool,
        action: Action,
        after: &[String],
    ) -> Result<Vec<String>, PlanError> {
        let apps: Vec<&Application> = spec
            .applications
            .iter()
            .filter(|a| include(&a.name))
            .collect();
        self.entry_tasks.reserve(apps.len());
        self.templates.reserve(apps.len() * 2);
        self.helm_releases
            .reserve(apps.iter().map(|a| a.spec.subcharts.len() + 1).sum());
        let all = DependencyGraph::new(
            spec.applications
                .iter()
                .map(|a| (a.name.as_str(), a.dependencies.iter())),
        );
        // NB: ordered through the applications left out too: deleting `a -> k -> b` without `k`
        // still deletes `a` before `b`.
        let graph = if apps.len() == spec.applications.len() {
            all
        } else {
            all.restricted_to(&include)
        };
        check_acyclic(&graph, "applications")?;
        let task_names: HashMap<&str, String> = apps
            .iter()
            .map(|a| {
                (
                    a.name.as_str(),
                    self.entry_names.allocate(&[&a.name], &a.name),
                )
            })
            .collect();
        let first_task = self.entry_tasks.len();
        let first_release = self.helm_releases.len();
        let mut owners: Vec<&str> =
            Vec::with_capacity(self.helm_releases.capacity() - first_release);
        for app in &apps {
            let before = self.helm_releases.len();
            let template =
                self.add_application(app, resolved.applications.get(&app.name), action)?;
            owners.extend(std::iter::repeat_n(
                app.name.as_str(),
                self.helm_releases.len() - before,
            ));
            let mut dependencies: Vec<String> = ordered(&graph, &app.name, action)
                .into_iter()
                .filter_map(|name| task_names.get(name).cloned())
                .collect();
            if dependencies.is_empty() {
                dependencies = after.to_vec();
            }
            let name = task_names
                .get(app.name.as_str())
                .cloned()
                .unwrap_or_default();
            check_argo_name("task", &name)?;
            self.entry_tasks.push(DagTask {
                name,
                template,
                arguments: None,
                dependencies,
            });
        }
        check_collisions(&self.helm_releases[first_release..], &owners)?;
        let added = &self.entry_tasks[first_task..];
        let awaited: HashSet<&str> = added
            .iter()
            .flat_map(|t| t.dependencies.iter().map(String::as_str))
            .collect();
        Ok(added
            .iter()
            .filter(|t| !awaited.contains(t.name.as_str()))
            .map(|t| t.name.clone())
            .collect())
    }

    /// Deletes the HelmReleases of `leftovers` with Orkestra's own HelmRelease executor, all at
    /// once: a template of at most [`MAX_DAG_TASKS`] deletions per entry task. Returns the entry
    /// tasks. For the HelmReleases of a group that no application of the plan names.
    pub fn add_leftover_deletions(
        &mut self,
        leftovers: &[HelmRelease],
    ) -> Result<Vec<String>, PlanError> {
        let executor = ExecutorCall {
            template: HELMRELEASE.into(),
            release: leaf::ReleaseInputs::REFERENCE,
            argument: None,
        };
        let mut entry = Vec::new();
        for (chunk, releases) in leftovers.chunks(MAX_DAG_TASKS).enumerate() {
            let chunk = chunk.to_string();
            let template = self.template_names.allocate(&["leftovers", &chunk], &chunk);
            let mut task_names = NameSet::default();
            let mut tasks = Vec::with_capacity(releases.len());
            for release in releases {
                let key = format!("{}/{}", release.namespace(), release.name());
                let name = task_names.allocate(&[release.name()], &key);
                tasks.push(self.chart_task(
                    name,
                    &executor,
                    release.clone(),
                    Action::Delete,
                    Vec::new(),
                )?);
            }
            self.templates.push(Template {
                name: template.clone(),
                dag: Some(DagTemplate { tasks }),
                ..Default::default()
            });
            let name = self.entry_names.allocate(&[&template], &template);
            self.entry_tasks.push(DagTask {
                name: name.clone(),
                template,
                arguments: None,
                dependencies: Vec::new(),
            });
            entry.push(name);
        }
        Ok(entry)
    }

    /// Adds the application's DAG template, then its executor DAG and custom leaves; returns the
    /// application template's name.
    fn add_application(
        &mut self,
        app: &Application,
        resolved: Option<&ResolvedApplication>,
        action: Action,
    ) -> Result<String, PlanError> {
        let template_name = self.template_names.allocate(&["app", &app.name], &app.name);
        check_argo_name("template", &template_name)?;
        let mut executor_templates = Vec::new();
        let executor = self.add_executors(app, action, &mut executor_templates)?;
        // Listed subcharts in spec order, then discovered ones by name.
        let mut subcharts: Vec<(&str, &[String])> = app
            .spec
            .subcharts
            .iter()
            .map(|s| (s.name.as_str(), s.dependencies.as_slice()))
            .collect();
        if let Some(resolved) = resolved {
            for name in resolved.subcharts.keys() {
                if !app.spec.subcharts.iter().any(|listed| &listed.name == name) {
                    subcharts.push((name.as_str(), &[]));
                }
            }
        }
        let graph = DependencyGraph::new(subcharts.iter().map(|(name, deps)| (*name, deps.iter())));
        check_acyclic(&graph, &format!("subcharts of {}", app.name))?;
        let charts = Charts {
            owner: &self.owner,
            config: self.config,
            app,
            resolved,
            subcharts: &subcharts,
            values: app.spec.release.values.as_ref().map(FreeForm::to_value),
        };

        let mut task_names = NameSet::default();
        let mut subchart_tasks: HashMap<&str, String> = HashMap::new();
        let mut releases_of_subcharts = Vec::with_capacity(subcharts.len());
        for (subchart, _) in &subcharts {
            let release = charts.helm_release(Some(subchart))?;
            subchart_tasks.insert(subchart, task_names.allocate(&[release.name()], subchart));
            releases_of_subcharts.push((*subchart, release));
        }
        let parent_release = charts.helm_release(None)?;
        let parent_task = task_names.allocate(&[parent_release.name()], "");

        let mut tasks = Vec::with_capacity(subcharts.len() + 1);
        for (subchart, release) in releases_of_subcharts {
            let mut dependencies: Vec<String> = ordered(&graph, subchart, action)
                .into_iter()
                .filter_map(|name| subchart_tasks.get(name).cloned())
                .collect();
            if action == Action::Delete {
                dependencies.push(parent_task.clone());
            }
            let name = subchart_tasks.get(subchart).cloned().unwrap_or_default();
            tasks.push(self.chart_task(name, &executor, release, action, dependencies)?);
        }
        let dependencies = match action {
            Action::Install => tasks.iter().map(|t: &DagTask| t.name.clone()).collect(),
            Action::Delete => Vec::new(),
        };
        let parent =
            self.chart_task(parent_task, &executor, parent_release, action, dependencies)?;
        match action {
            Action::Install => tasks.push(parent),
            Action::Delete => tasks.insert(0, parent),
        }
        self.templates.push(Template {
            name: template_name.clone(),
            dag: Some(DagTemplate { tasks }),
            ..Default::default()
        });
        self.templates.append(&mut executor_templates);
        Ok(template_name)
    }

    /// One chart task: records its HelmRelease and passes it to the executor (leaf or DAG), by
    /// reference, inline or both, as the executor takes it.
    fn chart_task(
        &mut self,
        name: String,
        executor: &ExecutorCall,
        release: HelmRelease,
        action: Action,
        dependencies: Vec<String>,
    ) -> Result<DagTask, PlanError> {
        check_argo_name("task", &name)?;
        // NB: sized for a typical HelmRelease so that the buffer rarely grows (planning is
        // allocation-bound: a large group carries over a thousand of these).
        let mut json = Vec::with_capacity(2048);
        serde_json::to_writer(&mut json, &release)
            .map_err(|e| PlanError::Encode(format!("{}: {e}", release.name())))?;
        let mut parameters = Vec::with_capacity(5);
        if executor.release.inline {
            let encoded = base64::engine::general_purpose::STANDARD.encode(&json);
            if action == Action::Install && encoded.len() > MAX_INLINE_RELEASE_BYTES {
                return Err(PlanError::InlineReleaseTooLarge {
                    name: release.name().to_owned(),
                    bytes: encoded.len(),
                });
            }
            parameters.push(Parameter::new(INLINE, encoded));
        }
        if executor.release.by_reference {
            let json = String::from_utf8(json)
                .map_err(|e| PlanError::Encode(format!("{}: {e}", release.name())))?;
            let reference = self.store.add(release.name(), json)?;
            parameters.push(Parameter::new(BY_REFERENCE, reference.to_string()));
        }
        parameters.extend([
            Parameter::new("timeout", step_timeout(&release, action)),
            Parameter::new("action", action.as_str()),
        ]);
        parameters.extend(executor.argument.clone());
        self.helm_releases.push(release);
        Ok(DagTask {
            name,
            template: executor.template.clone(),
            arguments: Some(Arguments { parameters }),
            dependencies,
        })
    }

    /// The Workflow spec (entry first, then application templates, then the shared leaves), the
    /// HelmReleases, and the store of those passed by reference.
    pub fn finish(self) -> (WorkflowSpec, Vec<HelmRelease>, ReleaseStore) {
        let image = self.config.executor_image.clone();
        let command = vec!["orkestra-controller".to_owned()];
        let mut templates = Vec::with_capacity(self.templates.len() + 3);
        templates.push(Template {
            name: ENTRY.into(),
            dag: Some(DagTemplate {
                tasks: self.entry_tasks,
            }),
            ..Default::default()
        });
        templates.extend(self.templates);
        templates.push(leaf(
            HELMRELEASE.into(),
            image.clone(),
            command.clone(),
            vec!["executor".to_owned()],
            false,
        ));
        if self.uses_keptn {
            let args = ["executor", "--type", "keptn"].map(str::to_owned).to_vec();
            templates.push(leaf(KEPTN.into(), image, command, args, true));
        }
        let spec = WorkflowSpec {
            entrypoint: ENTRY.into(),
            parallelism: self.config.parallelism,
            service_account_name: Some(self.config.service_account.clone())
                .filter(|s| !s.is_empty()),
            templates,
        };
        (spec, self.helm_releases, self.store)
    }
}

/// The nodes `name`'s task waits for: its dependencies to install, its dependents to delete.
fn ordered<'g>(graph: &'g DependencyGraph, name: &str, action: Action) -> Vec<&'g str> {
    let found = match action {
        Action::Install => graph.dependencies_of(name),
        Action::Delete => graph.dependents_of(name),
    };
    // NB: the graph keeps a self-dependency as an edge; Argo refuses a task waiting for itself.
    found.into_iter().filter(|n| *n != name).collect()
}
