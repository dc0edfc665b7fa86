//! Why a reconcile failed, with a bounded category for metric labels and the retry backoff.

use std::time::Duration;

use orkestra_shared::names::LAST_SUCCESSFUL_ANNOTATION;
use orkestra_shared::plan::PlanError;
use thiserror::Error;

/// A failed reconcile. Every variant maps to a [`category`](Error::category) that picks the backoff:
/// an API hiccup is retried in seconds, a chart that does not exist in minutes, a spec that cannot
/// be planned only slowly (a spec change triggers a reconcile anyway).
#[derive(Debug, Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("{action}: {source}")]
    Kube {
        /// What was being done, e.g. "creating Workflow orkestra/g".
        action: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },

    /// At least one chart could not be staged; the status says which and why.
    #[error("staging failed: {message}")]
    Staging {
        /// The first application's error.
        message: String,
        /// True when every failure may heal by itself (unreachable repository, cache).
        transient: bool,
    },

    /// The Workflow could not be planned from the spec.
    #[error("cannot plan the {direction} workflow: {source}")]
    Plan {
        /// forward, reverse or rollback.
        direction: &'static str,
        /// Why.
        #[source]
        source: PlanError,
    },

    /// The last-successful annotation cannot be read back.
    #[error("the {LAST_SUCCESSFUL_ANNOTATION} annotation is not a JSON ApplicationGroup spec: {0}")]
    LastGoodSpec(String),

    /// A Workflow of an older generation is still being deleted; its name is needed.
    #[error("Workflow {0} of an older generation is still being deleted")]
    WorkflowTerminating(String),

    /// A Workflow that Orkestra did not create for this group has the name its Workflow needs.
    #[error(
        "Workflow {0} exists and was not created by Orkestra for this group: delete or rename it"
    )]
    WorkflowNameTaken(String),

    /// A ConfigMap with the name of one of a Workflow's release stores exists and is not one.
    #[error(
        "ConfigMap {0} exists and was not written by Orkestra for this group's Workflow: delete or rename it"
    )]
    ReleaseStoreNameTaken(String),

    /// An object could not be encoded (not expected to happen).
    #[error("cannot encode {what}: {source}")]
    Encode {
        /// What was encoded.
        what: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },

    /// Adding or removing the finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

impl Error {
    /// Shorthand for [`Error::Kube`].
    pub fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let action = action.into();
        move |source| Self::Kube { action, source }
    }

    /// A name the group's Workflow or release store needs is held by an object Orkestra did not
    /// make: only a person can free it, so the status says what is in the way.
    pub fn is_name_taken(&self) -> bool {
        matches!(
            self,
            Self::WorkflowNameTaken(_) | Self::ReleaseStoreNameTaken(_)
        )
    }

    /// A short, bounded label: kube, conflict, staging_transient, chart_pull, plan,
    /// last_good_spec, workflow_terminating, workflow_name_taken, encode, finalizer.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Kube {
                source: kube::Error::Api(status),
                ..
            } if status.code == 409 => "conflict",
            Self::Kube { .. } => "kube",
            Self::Staging {
                transient: true, ..
            } => "staging_transient",
            Self::Staging {
                transient: false, ..
            } => "chart_pull",
            Self::Plan { .. } => "plan",
            Self::LastGoodSpec(_) => "last_good_spec",
            Self::WorkflowTerminating(_) => "workflow_terminating",
            Self::WorkflowNameTaken(_) | Self::ReleaseStoreNameTaken(_) => "workflow_name_taken",
            Self::Encode { .. } => "encode",
            Self::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.category(),
                _ => "finalizer",
            },
        }
    }

    /// The retry delay after `failures` consecutive failures (1 for the first): the category's base
    /// delay, doubled per further failure, up to the category's cap.
    pub fn backoff(&self, failures: u32) -> Duration {
        let (base, cap) = backoff_bounds(self.category());
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
        base.saturating_mul(factor).min(cap)
    }
}

/// Base delay and cap per category. Why each:
/// - conflict / workflow_terminating: another writer or a pending deletion, gone in moments;
/// - kube: the API server may be briefly unavailable or throttling;
/// - staging_transient: a repository or registry outage, give it time;
/// - chart_pull: only a new chart version or a spec change helps (the latter triggers at once);
/// - workflow_name_taken: someone must delete a Workflow that is not ours (no event tells us);
/// - plan / last_good_spec / encode: only a spec change helps, which triggers anyway.
fn backoff_bounds(category: &str) -> (Duration, Duration) {
    let s = Duration::from_secs;
    match category {
        "conflict" | "workflow_terminating" => (s(1), s(10)),
        "kube" | "finalizer" => (s(2), s(60)),
        "staging_transient" => (s(10), s(300)),
        "chart_pull" | "workflow_name_taken" => (s(60), s(600)),
        _ => (s(300), s(1800)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_per_category_up_to_its_cap() {
        let err = Error::Staging {
            message: "x".into(),
            transient: true,
        };
        assert_eq!(err.backoff(1), Duration::from_secs(10));
        assert_eq!(err.backoff(2), Duration::from_secs(20));
        assert_eq!(err.backoff(50), Duration::from_secs(300));
        let err = Error::WorkflowTerminating("g".into());
        assert_eq!(err.backoff(1), Duration::from_secs(1));
        let err = Error::Staging {
            message: "x".into(),
            transient: false,
        };
        assert_eq!(err.category(), "chart_pull");
        assert_eq!(err.backoff(1), Duration::from_secs(60));
    }
}
