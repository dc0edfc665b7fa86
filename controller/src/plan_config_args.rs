//! The flags that shape a planned Workflow, shared by `plan` (offline) and `run` (the reconciler) so
//! that both plan alike from the same settings.

use orkestra_shared::plan::{self, PlanConfig, SourceRef};

/// Workflow settings: where Workflows go, what their steps run, and the staging chart source.
#[derive(clap::Args, Debug, Clone)]
pub struct PlanConfigArgs {
    /// Namespace of the Workflows.
    #[arg(long, env = "ORKESTRA_WORKFLOW_NAMESPACE", default_value = plan::DEFAULT_WORKFLOW_NAMESPACE)]
    pub workflow_namespace: String,

    /// Image of the executor steps (the controller image).
    #[arg(long, env = "ORKESTRA_EXECUTOR_IMAGE", default_value = plan::DEFAULT_EXECUTOR_IMAGE)]
    pub executor_image: String,

    /// Most workflow pods running at once (unlimited when absent).
    #[arg(long, env = "ORKESTRA_WORKFLOW_PARALLELISM", value_parser = clap::value_parser!(i64).range(1..))]
    pub parallelism: Option<i64>,

    /// Service account of the workflow pods.
    #[arg(long, env = "ORKESTRA_EXECUTOR_SERVICE_ACCOUNT", default_value = plan::DEFAULT_SERVICE_ACCOUNT)]
    pub service_account: String,

    /// Name of the staging HelmRepository (`type: oci` for an OCI staging registry).
    #[arg(long, env = "ORKESTRA_STAGING_SOURCE_NAME", default_value = plan::DEFAULT_STAGING_SOURCE_NAME)]
    pub staging_source_name: String,

    /// Namespace of the staging HelmRepository (default: the workflow namespace).
    #[arg(long, env = "ORKESTRA_STAGING_SOURCE_NAMESPACE")]
    pub staging_source_namespace: Option<String>,
}

impl PlanConfigArgs {
    /// The plan configuration these flags describe.
    pub fn into_config(self) -> PlanConfig {
        let Self {
            workflow_namespace,
            executor_image,
            parallelism,
            service_account,
            staging_source_name,
            staging_source_namespace,
        } = self;
        PlanConfig {
            staging_source: SourceRef {
                kind: "HelmRepository".into(),
                name: staging_source_name,
                namespace: staging_source_namespace.unwrap_or_else(|| workflow_namespace.clone()),
            },
            workflow_namespace,
            executor_image,
            parallelism,
            service_account,
        }
    }
}
