//! The subset of Argo Workflows' `Workflow` (argoproj.io/v1alpha1) that the plan emits.
//!
//! Only the fields Orkestra sets exist here; everything optional is skipped when empty so the
//! object stays minimal and reads like a hand-written one. The upstream CRD in
//! `shared/fixtures/crds` is the reference: the plan's tests validate every emitted Workflow
//! against it.

pub use k8s_openapi::api::core::v1::Container;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

/// API version of Argo's Workflow.
pub const API_VERSION: &str = "argoproj.io/v1alpha1";
/// Kind of Argo's Workflow.
pub const KIND: &str = "Workflow";

/// An Argo Workflow.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Workflow {
    /// Always [`API_VERSION`].
    pub api_version: String,
    /// Always [`KIND`].
    pub kind: String,
    /// Name, namespace and labels.
    pub metadata: ObjectMeta,
    /// Templates and how to run them.
    pub spec: WorkflowSpec,
}

/// The spec of a Workflow.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowSpec {
    /// Name of the template the Workflow starts with.
    pub entrypoint: String,
    /// Most pods running at once; unlimited when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<i64>,
    /// Service account the workflow pods run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Every template: DAGs and leaf containers.
    pub templates: Vec<Template>,
}

/// A template: either a DAG of tasks or a container.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    /// Name, unique in the Workflow.
    pub name: String,
    /// Parameters the template takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Inputs>,
    /// Tasks, when the template is a DAG.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag: Option<DagTemplate>,
    /// How long the leaf's pod may run before it is stopped (Argo's field, counted from the
    /// pod's start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<u64>,
    /// The container, when the template is a leaf (Kubernetes' Container, as Argo's is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
}

impl Template {
    /// The DAG's tasks, or none for a leaf.
    pub fn tasks(&self) -> &[DagTask] {
        self.dag.as_ref().map_or(&[], |dag| dag.tasks.as_slice())
    }
}

/// Input parameters of a template.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Inputs {
    /// The parameters, by name.
    pub parameters: Vec<Parameter>,
}

impl Inputs {
    /// Declares parameters without values.
    pub fn named(names: &[&str]) -> Self {
        Self {
            parameters: names
                .iter()
                .map(|name| Parameter {
                    name: (*name).to_owned(),
                    value: None,
                })
                .collect(),
        }
    }
}

/// A named parameter, with its value when passed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Parameter {
    /// Name of the parameter.
    pub name: String,
    /// Its value (may be an Argo expression such as `{{inputs.parameters.x}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl Parameter {
    /// A parameter with a value.
    pub fn new(name: &str, value: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            value: Some(value.into()),
        }
    }
}

/// A DAG template's tasks.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DagTemplate {
    /// The tasks; each runs once all of its dependencies succeeded.
    pub tasks: Vec<DagTask>,
}

/// One task of a DAG.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DagTask {
    /// Name, unique in its DAG.
    pub name: String,
    /// The template the task runs.
    pub template: String,
    /// Parameters passed to the template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Arguments>,
    /// Names of the tasks of the same DAG that must succeed first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
}

impl DagTask {
    /// The value of the argument `name`, if passed.
    pub fn argument(&self, name: &str) -> Option<&str> {
        self.arguments
            .as_ref()?
            .parameters
            .iter()
            .find(|p| p.name == name)?
            .value
            .as_deref()
    }
}

/// Arguments of a task.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Arguments {
    /// The parameters passed.
    pub parameters: Vec<Parameter>,
}
