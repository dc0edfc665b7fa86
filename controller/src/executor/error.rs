//! Why a workflow step failed, with the exit status the workflow pod reports.

use thiserror::Error;

use crate::kube_error::describe;

/// Exit status: the HelmRelease failed (a terminal Flux failure), vanished while installing, or
/// belongs to another group.
pub const EXIT_FAILED: i32 = 1;
/// Exit status: the arguments are unusable; nothing was written. Same as clap's usage errors.
pub const EXIT_INPUT: i32 = 2;
/// Exit status: the step did not finish within `--timeout`.
pub const EXIT_TIMEOUT: i32 = 3;
/// Exit status: the Kubernetes API refused or could not be reached (RBAC, network, schema).
pub const EXIT_API: i32 = 4;

/// A failed executor step. Every message is one line, printed as `error: <message>`.
#[derive(Debug, Error)]
pub enum ExecutorError {
    /// `--helmrelease` or another argument cannot be used; nothing was written.
    #[error("invalid input: {0}")]
    Input(String),

    /// Flux reported a failure it does not retry (see [`crate::helm_release_status::TERMINAL_REASONS`]).
    #[error("HelmRelease {namespace}/{name} failed: {reason}: {message}")]
    Failed {
        namespace: String,
        name: String,
        reason: String,
        message: String,
    },

    /// The HelmRelease was deleted by someone else while the step waited for it to become ready.
    #[error("HelmRelease {namespace}/{name} was deleted while waiting for it to become ready")]
    Vanished { namespace: String, name: String },

    /// A HelmRelease of the same name and namespace belongs to another group, or to nobody.
    #[error(
        "HelmRelease {namespace}/{name} {owner}: it is left as it is; give the application another name or release.targetNamespace"
    )]
    Taken {
        namespace: String,
        name: String,
        owner: String,
    },

    /// The step did not finish in time; `last` describes the last state seen.
    #[error("{subject}: timed out after {timeout} waiting until {waiting_for} (last seen: {last})")]
    Timeout {
        subject: String,
        timeout: String,
        waiting_for: &'static str,
        last: String,
    },

    /// A Kubernetes API call failed (connection, RBAC, validation by the API server).
    #[error("{action}: {}", describe(source))]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },

    /// No client could be built from the in-cluster environment or KUBECONFIG.
    #[error("no Kubernetes client (in-cluster config or KUBECONFIG): {}", describe(.0))]
    Client(#[source] kube::Error),
}

impl ExecutorError {
    /// A short, bounded label: "input", "failed", "vanished", "taken", "timeout", "api", "client".
    pub fn category(&self) -> &'static str {
        match self {
            Self::Input(_) => "input",
            Self::Failed { .. } => "failed",
            Self::Vanished { .. } => "vanished",
            Self::Taken { .. } => "taken",
            Self::Timeout { .. } => "timeout",
            Self::Api { .. } => "api",
            Self::Client(_) => "client",
        }
    }

    /// The process exit status for this error (see the `EXIT_*` constants).
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Input(_) => EXIT_INPUT,
            Self::Failed { .. } | Self::Vanished { .. } | Self::Taken { .. } => EXIT_FAILED,
            Self::Timeout { .. } => EXIT_TIMEOUT,
            Self::Api { .. } | Self::Client(_) => EXIT_API,
        }
    }

    pub(crate) fn api(action: impl Into<String>, source: kube::Error) -> Self {
        Self::Api {
            action: action.into(),
            source,
        }
    }
}
