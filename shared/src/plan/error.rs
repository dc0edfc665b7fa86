//! Why no plan could be made.

use super::release_store::MAX_RELEASE_BYTES;
use super::workflow::MAX_INLINE_RELEASE_BYTES;
use crate::limits::{MAX_DAG_TASKS, MAX_TEMPLATES};

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
    /// A custom executor whose image is neither an image reference nor a container.
    #[error(
        "custom executor {executor:?} of application {application:?} has an invalid image: {reason}"
    )]
    InvalidImage {
        /// The application.
        application: String,
        /// The executor.
        executor: String,
        /// What is wrong, one problem a line (paths relative to the image).
        reason: String,
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
    /// A HelmRelease too large for the ConfigMap that passes it to its step.
    #[error(
        "HelmRelease {name} is {bytes} bytes as JSON, more than one ConfigMap holds ({MAX_RELEASE_BYTES}): \
         its values are too large"
    )]
    ReleaseTooLarge {
        /// Name of the HelmRelease.
        name: String,
        /// Its size as JSON.
        bytes: usize,
    },
    /// A HelmRelease too large for the custom executor's `--spec` argument.
    #[error(
        "HelmRelease {name} is {bytes} bytes as the custom executor's --spec argument, more than one \
         process argument may hold ({MAX_INLINE_RELEASE_BYTES}): its values are too large for a \
         custom executor"
    )]
    InlineReleaseTooLarge {
        /// Name of the HelmRelease.
        name: String,
        /// Its size as the argument (base64 of its JSON).
        bytes: usize,
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
            Self::InvalidImage { .. } => "invalid-image",
            Self::TooLarge { .. } => "too-large",
            Self::ReleaseTooLarge { .. } | Self::InlineReleaseTooLarge { .. } => {
                "release-too-large"
            }
            Self::Encode(_) => "encode",
        }
    }
}
