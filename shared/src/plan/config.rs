//! Where and how the Workflow runs, and the defaults that suit the Helm chart's installation.

use super::flux::SourceRef;

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
