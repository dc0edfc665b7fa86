//! What every reconcile shares: one [`Context`] in an `Arc`.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};
use orkestra_shared::crd::ApplicationGroup;
use orkestra_shared::plan::PlanConfig;

use super::freshness::Freshness;
use super::metrics::Metrics;
use crate::staging::Stager;

/// Name under which the controller writes (server-side apply field manager, event reporter).
pub const CONTROLLER_NAME: &str = "orkestra-controller";

/// Most Events being sent at once (the rest wait their turn, in no particular order).
pub const EVENTS_IN_FLIGHT: usize = 4;

/// How the reconciler runs.
#[derive(Debug, Clone)]
pub struct ReconcilerConfig {
    /// Where Workflows run and what they point at.
    pub plan: PlanConfig,
    /// Namespace of an `authSecretRef` that names none.
    pub secret_namespace: String,
    /// The only namespaces chart credentials are read from (`secret_namespace` among them): a
    /// reference elsewhere fails its application and the Secret is never read.
    pub allowed_secret_namespaces: Vec<String>,
    /// The Secret with the staging repository's credentials, named by the staging
    /// HelmRepository's `secretRef` (in its namespace).
    pub staging_credentials_secret: Option<String>,
    /// Only groups matching this label selector are reconciled (all when `None`).
    pub group_selector: Option<String>,
    /// Most groups reconciled at once.
    pub concurrency: u16,
    /// This replica's name (event reporting instance).
    pub identity: String,
}

/// The reconciler's shared state.
pub struct Context {
    /// The Kubernetes client.
    pub client: Client,
    /// Publishes Kubernetes Events about groups.
    pub recorder: Recorder,
    /// Bounds the Events sent at once (see `events`).
    pub(crate) event_slots: std::sync::Arc<tokio::sync::Semaphore>,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Configuration.
    pub config: ReconcilerConfig,
    /// Stages charts into the staging repository.
    pub stager: Stager,
    /// Consecutive failed reconciles per group, for the backoff (reset on success).
    failures: Mutex<HashMap<String, u32>>,
    /// When the staging HelmRepository was last applied.
    pub(crate) staging_source_applied: Mutex<Option<std::time::Instant>>,
    /// Which cached copies of groups are as new as the stored objects.
    freshness: Freshness,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .field("stager", &self.stager)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Builds the context.
    pub fn new(client: Client, config: ReconcilerConfig, stager: Stager, metrics: Metrics) -> Self {
        let reporter = Reporter {
            controller: CONTROLLER_NAME.to_owned(),
            instance: Some(config.identity.clone()),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            event_slots: std::sync::Arc::new(tokio::sync::Semaphore::new(EVENTS_IN_FLIGHT)),
            client,
            metrics,
            config,
            stager,
            failures: Mutex::new(HashMap::new()),
            staging_source_applied: Mutex::new(None),
            freshness: Freshness::default(),
        }
    }

    /// Stops the writes that outlive a reconcile: events still waiting for a slot are dropped.
    /// For a replica that lost the Lease (its reconciles are dropped by the caller).
    pub fn stop_writing(&self) {
        self.event_slots.close();
    }

    /// Notes `group` as this process just wrote it (the API server's answer to a write).
    pub fn note_written(&self, group: &ApplicationGroup) {
        if let (Some(name), Some(version)) =
            (&group.metadata.name, &group.metadata.resource_version)
        {
            self.freshness.note_written(name, version);
        }
    }

    /// Whether a cached copy of a group can be trusted (see [`Freshness`]).
    pub fn is_fresh(&self, cached: &ApplicationGroup) -> bool {
        cached.metadata.name.as_deref().is_some_and(|name| {
            self.freshness
                .is_fresh(name, cached.metadata.resource_version.as_deref())
        })
    }

    /// Notes that this process removed the group's finalizer: its cached copy is stale.
    pub fn note_finalized(&self, group: &str) {
        self.freshness.note_finalized(group);
        self.note_success(group);
    }

    /// Forgets a group that is gone (its finalizer released by someone else, say).
    pub fn forget(&self, group: &str) {
        self.freshness.forget(group);
        self.note_success(group);
        self.metrics.set_reason(group, None);
    }

    /// Counts a failure of `group` and returns how many happened in a row.
    pub fn note_failure(&self, group: &str) -> u32 {
        let Ok(mut failures) = self.failures.lock() else {
            return 1;
        };
        let count = failures.entry(group.to_owned()).or_default();
        *count = count.saturating_add(1);
        *count
    }

    /// Forgets the failures of `group` after a successful reconcile.
    pub fn note_success(&self, group: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(group);
        }
    }
}
