//! The `ApplicationGroup` API (`orkestra.azure.microsoft.com/v1alpha1`).
//!
//! Wire-compatible with Azure Orkestra's v1alpha1: every object its CRD accepted is accepted here with
//! the same meaning. Additions: OCI chart URLs, semver ranges in `chart.version`, `release.valuesFrom`.
//! Doc comments on these types become `kubectl explain` text: they are written for users.

use crate::executor_image::ExecutorImage;
use crate::free_form::FreeForm;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// An ApplicationGroup deploys a group of inter-dependent Helm charts in dependency order, gates every
/// step on the health of the one before, rolls the whole group back to its last good spec on failure,
/// and tears everything down in reverse order on delete.
// NB: every print column repeats `type_ = "string"`, which clippy mistakes for a repeated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "orkestra.azure.microsoft.com",
    version = "v1alpha1",
    kind = "ApplicationGroup",
    plural = "applicationgroups",
    shortname = "ag",
    shortname = "appgroup",
    status = "ApplicationGroupStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "ApplicationGroup deploys a group of inter-dependent Helm charts in dependency order, with \
           health gates, group rollback and ordered teardown.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].reason"#
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].message"#
    ),
    printcolumn(
        name = "RolledBack",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="RollbackWorkflowSucceeded")].status"#
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplicationGroupSpec {
    /// Applications that make up the group, each a Helm chart with its release settings. Applications
    /// are deployed in the order their dependencies give; independent ones in parallel.
    #[schemars(length(min = 1))]
    #[serde(deserialize_with = "crate::json_form::objects")]
    pub applications: Vec<Application>,

    /// Interval between periodic re-checks of the deployed group (a Go duration such as "5m").
    /// When unset, the group is only reconciled when its spec changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
}

/// An application: a Helm chart, its release settings, and the applications it depends on.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Application {
    /// Name of the application, unique in the group. It names the HelmRelease, so it must be a valid
    /// DNS-1123 label (lower case letters, digits and '-', at most 63 characters).
    pub name: String,

    /// Names of other applications in this group that must be deployed and healthy before this one.
    #[serde(default)]
    pub dependencies: Vec<String>,

    /// The chart to deploy and how to release it.
    #[serde(deserialize_with = "crate::json_form::object")]
    // NB: boxed: an application is moved several times while a list of them is read, and the
    // spec is most of its bytes (admission spent a tenth of a review copying them).
    pub spec: Box<ApplicationSpec>,
}

/// The chart of an application, its release settings, the order of its subcharts and its executors.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplicationSpec {
    /// Where to pull the chart from.
    #[serde(deserialize_with = "crate::json_form::object")]
    pub chart: ChartRef,

    /// Settings of the Helm release: namespace, values, timeouts and Helm actions.
    #[serde(deserialize_with = "crate::json_form::object")]
    pub release: Release,

    /// Dependency order among the subcharts of an umbrella chart. Each subchart listed here is split
    /// out into a chart of its own and deployed before the parent chart, in this order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "crate::json_form::objects")]
    pub subcharts: Vec<Dag>,

    /// Executors to run for this application, as a DAG of their own. Defaults to one `helmrelease`
    /// executor that installs the chart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "crate::json_form::objects")]
    pub workflow: Vec<Executor>,
}

/// A named node with dependencies on its siblings (subcharts of one chart, or executors of one
/// application).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dag {
    /// Name of the node: the subchart's name in the parent chart, or the executor's name.
    pub name: String,

    /// Names of sibling nodes that must complete before this one.
    #[serde(default)]
    pub dependencies: Vec<String>,
}

/// What an executor is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorType {
    /// Installs or upgrades the chart through a Flux HelmRelease (the default).
    #[default]
    Helmrelease,
    /// Runs Keptn quality-gate evaluations after a deployment executor.
    Keptn,
    /// Runs the container image given in `image`.
    Custom,
}

/// A step run for an application, ordered among the application's other executors.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Executor {
    /// Name of the executor, unique among the application's executors (a DNS-1123 label).
    pub name: String,

    /// Names of other executors of this application that must complete before this one.
    #[serde(default)]
    pub dependencies: Vec<String>,

    /// Kind of executor: helmrelease (when left out, as in Azure Orkestra), keptn or custom.
    #[serde(rename = "type", default)]
    #[serde(deserialize_with = "crate::json_form::string")]
    pub executor_type: ExecutorType,

    /// The container a custom executor runs, as in Azure Orkestra: a Kubernetes container (name,
    /// image, command, args, env, resources, …), or a string as a shorthand for `{image: "…"}`.
    /// Required for custom executors. The step runs the container's command (the image's
    /// entrypoint when it has none) with its args followed by Azure Orkestra's executor arguments:
    /// `--spec <HelmRelease, base64> --action install|delete --data <params.data, base64> --timeout
    /// <release timeout> --interval 1s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ExecutorImage>,

    /// Executor-specific parameters, any JSON (as in Azure Orkestra), passed to the executor as
    /// they are; the executor that reads them checks what it needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserved_any")]
    pub params: Option<Value>,
}

/// Where and how to pull a chart.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChartRef {
    /// The chart repository: an http(s) Helm repository URL (with an index.yaml), or an OCI registry
    /// path such as oci://registry.example.com/charts.
    pub url: String,

    /// Name of the chart in the repository.
    pub name: String,

    /// Chart version: an exact version ("1.2.3") or a semver range ("^1.2", ">=1.0 <2.0"). The newest
    /// matching version in the repository is used. Defaults to "*", the newest version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,

    /// Secret holding the repository credentials: `username`/`password`, `ca.crt`, and
    /// `tls.crt`/`tls.key` for client certificates.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::json_form::object_reference"
    )]
    // NB: boxed: rarely set, and 168 bytes inline in every application otherwise.
    pub auth_secret_ref: Option<Box<ObjectReference>>,
}

/// Settings of the Helm release of an application.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Release {
    /// Interval at which Flux reconciles the Helm release (a duration such as "5m"). Defaults to 5m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,

    /// Namespace the chart is installed into. The HelmRelease is created there too.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 63))]
    pub target_namespace: String,

    /// Time to wait for any individual Kubernetes operation during a Helm action (a duration such as
    /// "10m"). Defaults to 5m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,

    /// Values for the release. Values for a subchart go under the subchart's key; `global` reaches
    /// every subchart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserved_object")]
    pub values: Option<FreeForm>,

    /// References to Secrets or ConfigMaps holding further values, merged in order before `values`.
    /// Passed to the valuesFrom of the HelmRelease of the application's own chart, not of its
    /// split subcharts (put a subchart's values under its key in `values`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "crate::json_form::objects")]
    pub values_from: Vec<ValuesReference>,

    /// Helm install settings, passed to the HelmRelease's spec.install as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserved_object")]
    pub install: Option<FreeForm>,

    /// Helm upgrade settings, passed to the HelmRelease's spec.upgrade as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserved_object")]
    pub upgrade: Option<FreeForm>,

    /// Helm rollback settings, passed to the HelmRelease's spec.rollback as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserved_object")]
    pub rollback: Option<FreeForm>,

    /// Helm uninstall settings, passed to the HelmRelease's spec.uninstall as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserved_object")]
    pub uninstall: Option<FreeForm>,
}

/// A Secret or ConfigMap holding values for a release (Flux's ValuesReference).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValuesReference {
    /// Kind of the values source: Secret or ConfigMap.
    #[serde(deserialize_with = "crate::json_form::string")]
    pub kind: ValuesKind,

    /// Name of the Secret or ConfigMap in the release's target namespace.
    pub name: String,

    /// Key in the data holding the values. Defaults to values.yaml.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_key: Option<String>,

    /// Path in the values at which to put the referenced value, instead of merging at the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_path: Option<String>,

    /// When true, a missing Secret, ConfigMap or key is not an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// Kind of a values source.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ValuesKind {
    /// A Secret.
    #[default]
    Secret,
    /// A ConfigMap.
    ConfigMap,
}

/// The observed state of an ApplicationGroup.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationGroupStatus {
    /// Status of each application's chart and subcharts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applications: Vec<ApplicationStatus>,

    /// The generation of the spec the controller has acted on.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub observed_generation: i64,

    /// The last generation whose forward workflow completed successfully.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub last_succeeded_generation: i64,

    /// Conditions of the group: Ready (reasons Progressing, Succeeded, WorkflowFailed,
    /// ChartPullFailed, WorkflowTemplateGenerationFailed, Terminating), ForwardWorkflowSucceeded,
    /// ReverseWorkflowSucceeded and RollbackWorkflowSucceeded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Status of an application's chart and of its subcharts.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationStatus {
    /// Name of the application.
    pub name: String,

    /// Status of the application's own chart.
    #[serde(flatten)]
    pub chart: ChartStatus,

    /// Status of each split subchart, by subchart name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub subcharts: BTreeMap<String, ChartStatus>,
}

/// Status of one chart: staging and its HelmRelease's conditions.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChartStatus {
    /// Why staging or releasing the chart failed, if it did.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,

    /// The chart version resolved from the requested version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,

    /// True once the chart has been pushed to the staging repository.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub staged: bool,

    /// Conditions of the chart's HelmRelease, as Flux reports them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// An object whose fields are kept as they are (Helm values, Flux settings, executor parameters).
fn preserved_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

fn preserved_any(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

impl ApplicationGroup {
    /// The application with this name, if any.
    pub fn application(&self, name: &str) -> Option<&Application> {
        self.spec.applications.iter().find(|app| app.name == name)
    }
}
