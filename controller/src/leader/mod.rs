//! Leader election with a `coordination.k8s.io/v1` Lease, so only one controller replica
//! reconciles at a time while standbys wait.
//!
//! # Safety
//! Every write of the Lease is a replace guarded by the `resourceVersion` the writer last read
//! (or a create, which fails when the Lease exists): of two candidates that both see the Lease
//! free or expired, exactly one write succeeds; the other gets `409 Conflict` and keeps waiting.
//!
//! # Expiry without trusting clocks
//! As client-go does, a candidate does not compare the holder's `renewTime` with its own clock
//! (clocks of different nodes disagree). It remembers when it first saw the Lease's current
//! `resourceVersion` and treats the Lease as expired once that version has not changed for
//! `leaseDurationSeconds` (the holder's value) on its own monotonic clock. So a new candidate
//! waits one full lease duration before taking over a dead holder's Lease, however old it is.
//! A Lease without holder (released) is taken at once; so is one held under our own identity
//! (this process restarted): identities must be unique per replica (the pod name).
//!
//! # Renewal and loss
//! The holder renews every `renew_every`. Leadership is lost ([`Leadership::lost`] is cancelled)
//! when another identity holds the Lease (seen on a conflicting renewal), or when no renewal has
//! succeeded for `lease_duration` counted from the *start* of the last successful renewal request:
//! candidates count from when they *saw* that renewal, which is later, so the old holder stops
//! believing it leads before anyone else may take over. Failed renewals are retried every
//! `renew_every`, each bounded by that deadline. A deleted Lease is re-created (create fails if
//! someone else created it first). The token is also cancelled after [`Leadership::release`] and
//! when the [`Leadership`] is dropped (which stops renewing without clearing the holder: a
//! standby takes over after expiry, as after a crash).
//!
//! API errors while waiting are logged and retried, except those retrying cannot fix (401, 403,
//! 400, 422: RBAC or an invalid Lease name), which [`acquire`] returns.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use thiserror::Error;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use lease::{is_permanent, try_acquire};
use renewal::{clear, renew};

mod lease;
mod renewal;

/// Where the Lease lives, who we are, and the timing.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Name of the Lease object.
    pub name: String,
    /// Namespace of the Lease object.
    pub namespace: String,
    /// This replica's identity, unique among candidates (the pod name).
    pub identity: String,
    /// How long a Lease stays valid without renewal (rounded up to whole seconds in the Lease).
    pub lease_duration: Duration,
    /// How often the holder renews; also how often a candidate retries. Less than `lease_duration`.
    pub renew_every: Duration,
}

/// Why leader election could not proceed.
#[derive(Debug, Error)]
pub enum LeaderError {
    /// The configuration cannot work (empty names, renewal not shorter than the lease).
    #[error("invalid leader election settings: {0}")]
    Config(String),

    /// The API server refused in a way that retrying does not fix (RBAC, invalid Lease name).
    #[error(
        "{action} Lease {namespace}/{name}: {}",
        crate::kube_error::describe(source)
    )]
    Api {
        action: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
}

impl LeaderError {
    /// A short, bounded label: "config" or "api".
    pub fn category(&self) -> &'static str {
        match self {
            Self::Config(_) => "config",
            Self::Api { .. } => "api",
        }
    }
}

/// Held leadership: renewed in a background task until released, dropped or lost.
#[derive(Debug)]
pub struct Leadership {
    api: Api<Lease>,
    config: LeaseConfig,
    lost: CancellationToken,
    stop: CancellationToken,
    renewal: Option<JoinHandle<Option<Lease>>>,
}

/// Waits until this process holds the lease (creating it if missing, taking it over when expired), then renews it in a background task.
pub async fn acquire(client: kube::Client, config: LeaseConfig) -> Result<Leadership, LeaderError> {
    check(&config)?;
    let api = Api::<Lease>::namespaced(client, &config.namespace);
    let mut seen: Option<(String, Instant)> = None;
    loop {
        let started = Instant::now();
        match try_acquire(&api, &config, &mut seen).await {
            Ok(Some(lease)) => {
                tracing::info!(lease = %config.name, namespace = %config.namespace, identity = %config.identity, "acquired leadership");
                let lost = CancellationToken::new();
                let stop = CancellationToken::new();
                let renewal = tokio::spawn(renew(
                    api.clone(),
                    config.clone(),
                    lease,
                    started,
                    lost.clone(),
                    stop.clone(),
                ));
                return Ok(Leadership {
                    api,
                    config,
                    lost,
                    stop,
                    renewal: Some(renewal),
                });
            }
            Ok(None) => {}
            Err(e) if is_permanent(&e) => {
                return Err(LeaderError::Api {
                    action: "acquiring",
                    namespace: config.namespace.clone(),
                    name: config.name.clone(),
                    source: Box::new(e),
                });
            }
            Err(e) => {
                tracing::warn!(error = %crate::kube_error::describe(&e), lease = %config.name, "leader election: retrying")
            }
        }
        tokio::time::sleep(config.renew_every).await;
    }
}

impl Leadership {
    /// Cancelled when leadership is lost (renewal failed past the lease duration or another holder took it).
    pub fn lost(&self) -> tokio_util::sync::CancellationToken {
        self.lost.clone()
    }

    /// Gives the lease up at once (clears holderIdentity) so a standby takes over without waiting for expiry.
    pub async fn release(mut self) {
        self.stop.cancel();
        let held = match self.renewal.take() {
            Some(task) => task.await.ok().flatten(),
            None => None,
        };
        if let Some(held) = held.filter(|_| !self.lost.is_cancelled()) {
            // Bounded: a shutdown must not hang on an unreachable API server.
            let cleared = tokio::time::timeout(
                self.config.lease_duration,
                clear(&self.api, &self.config, held),
            )
            .await;
            match cleared {
                Ok(Ok(())) => tracing::info!(lease = %self.config.name, "released leadership"),
                Ok(Err(e)) => {
                    tracing::warn!(error = %crate::kube_error::describe(&e), "releasing the lease; it will expire")
                }
                Err(_) => tracing::warn!("releasing the lease timed out; it will expire"),
            }
        }
        self.lost.cancel();
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        self.stop.cancel();
        self.lost.cancel();
    }
}

fn check(config: &LeaseConfig) -> Result<(), LeaderError> {
    let problem = if config.name.is_empty() || config.namespace.is_empty() {
        "the Lease name and namespace must not be empty"
    } else if config.identity.is_empty() {
        "the identity must not be empty"
    } else if config.renew_every.is_zero() || config.renew_every >= config.lease_duration {
        "renew_every must be more than zero and less than lease_duration"
    } else {
        return Ok(());
    };
    Err(LeaderError::Config(problem.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn config(lease: u64, renew: u64) -> LeaseConfig {
        LeaseConfig {
            name: "orkestra".into(),
            namespace: "orkestra".into(),
            identity: "pod-a".into(),
            lease_duration: Duration::from_millis(lease),
            renew_every: Duration::from_millis(renew),
        }
    }

    #[test]
    fn settings_that_cannot_work_are_refused() {
        assert!(check(&config(15_000, 5_000)).is_ok());
        assert!(check(&config(5_000, 5_000)).is_err());
        assert!(check(&config(5_000, 0)).is_err());
        assert!(
            check(&LeaseConfig {
                identity: String::new(),
                ..config(15_000, 5_000)
            })
            .is_err()
        );
    }
}
