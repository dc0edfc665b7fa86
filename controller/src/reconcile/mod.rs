//! The reconciler (`orkestra-controller run`, issue 6): a kube-rs `Controller` over
//! ApplicationGroups, in the six steps below.
//!
//! Per reconcile ([`reconciler::reconcile`]), inside `kube::runtime::finalizer` with FINALIZER:
//! 1. the group's Workflows are read from the API server ([`workflows::list`]);
//! 2. no forward Workflow of the current generation → [`rollout::start`]: stage every chart
//!    ([`staging_step`]; credentials from the `authSecretRef` Secret), plan with
//!    `orkestra_shared::plan::build` (Resolved filled from staging), apply the staging
//!    HelmRepository ([`helm_repository`]), suspend the group's other running Workflows, submit;
//! 3. otherwise [`observe::forward`]: Workflow phase + HelmRelease conditions → status; a
//!    succeeded Workflow records `lastSucceededGeneration` and the LAST_SUCCESSFUL_ANNOTATION;
//!    `Ready=True/Succeeded` needs that AND every HelmRelease the spec deploys Ready=True at its
//!    current generation (read as the executor reads it), else `Progressing` naming those not
//!    ready yet; failure → [`remediation`] (rollback to the last good spec, or reverse when there
//!    is none);
//! 4. deletion → [`teardown`]: reverse workflow, finalizer released when it ends.
//!
//! Status is written by server-side apply on the status subresource ([`status::write`]); an
//! unchanged status is not written. Events ([`events`]) on every Ready transition and submission.
//!
//! Decisions worth knowing:
//! - "Action only on a new generation" = a forward Workflow labelled with the current generation
//!   exists or not. That label (not `status.observedGeneration`) is the record, because it is
//!   written atomically with the Workflow: a controller killed between submitting and writing
//!   the status finds the Workflow on restart and does not submit it again.
//! - A Workflow of an older generation is deleted before the new one is created under the same
//!   name; while it is still terminating the reconcile retries in about a second.
//! - A chart that cannot be staged sets Ready=False/ChartPullFailed with the staging error (which
//!   names the chart, the requested version and the repository) and is retried with a backoff
//!   (10 s… for an unreachable repository, 1 min… otherwise); a spec change retries at once.
//! - Workflows and HelmReleases trigger reconciles of their group through the owner reference or
//!   the OWNER_LABEL (see [`reconciler::run`] for why not `Controller::owns`). A group's own
//!   events trigger only when its generation or deletion timestamp changes: our writes (status,
//!   annotation, finalizer) do not cost another reconcile, and a new group gets its finalizer and
//!   its Workflow in one reconcile. The group is read from the cache when the cached copy is the
//!   one we wrote last (or we never wrote it), else from the API server.
//! - A periodic re-check runs at `spec.interval` when set; while a Workflow runs, at most every
//!   [`IN_FLIGHT_RECHECK`] as a safety net for missed watch events.
//! - An `authSecretRef` without a namespace is looked up in [`ReconcilerConfig::secret_namespace`]
//!   (Orkestra's own namespace by default). Credentials are read only from that namespace and the
//!   `--allowed-secret-namespace`s: a reference elsewhere would let anyone who may create a group
//!   send any Secret the controller can read to a URL of their choosing.
//! - The webhook may not be installed: the spec is defaulted here as admission would.

pub mod context;
pub mod error;
pub mod events;
pub mod freshness;
pub mod helm_releases;
pub mod helm_repository;
pub mod leftovers;
pub mod metrics;
pub mod observe;
pub mod outcome;
pub mod reconciler;
pub mod remediation;
pub mod rollout;
pub mod staging_step;
pub mod status;
pub mod teardown;
pub mod workflows;

pub use context::{Context, ReconcilerConfig};
pub use error::Error;
pub use metrics::Metrics;
pub use outcome::{IN_FLIGHT_RECHECK, Outcome, recheck};
pub use reconciler::{error_policy, reconcile, run};
