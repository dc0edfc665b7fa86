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

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use thiserror::Error;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

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

/// Whole seconds of the lease, rounded up (a Lease counts in seconds).
fn duration_seconds(config: &LeaseConfig) -> i32 {
    let millis = config.lease_duration.as_millis().div_ceil(1000);
    i32::try_from(millis).unwrap_or(i32::MAX).max(1)
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

fn is_permanent(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if matches!(status.code, 400 | 401 | 403 | 422))
}

fn holder(lease: &Lease) -> &str {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref())
        .unwrap_or_default()
}

/// A Lease held by us from now on.
fn fresh_lease(config: &LeaseConfig) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(config.name.clone()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(config.identity.clone()),
            lease_duration_seconds: Some(duration_seconds(config)),
            acquire_time: Some(now()),
            renew_time: Some(now()),
            lease_transitions: Some(0),
            ..Default::default()
        }),
    }
}

/// One attempt: `Some(lease)` when we hold it now, `None` when someone else does (or won a race).
async fn try_acquire(
    api: &Api<Lease>,
    config: &LeaseConfig,
    seen: &mut Option<(String, Instant)>,
) -> Result<Option<Lease>, kube::Error> {
    let Some(current) = api.get_opt(&config.name).await? else {
        return match api
            .create(&PostParams::default(), &fresh_lease(config))
            .await
        {
            Ok(lease) => Ok(Some(lease)),
            Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(None),
            Err(e) => Err(e),
        };
    };
    let version = current
        .metadata
        .resource_version
        .clone()
        .unwrap_or_default();
    let first_seen = match seen {
        Some((v, at)) if *v == version => *at,
        _ => {
            let at = Instant::now();
            *seen = Some((version, at));
            at
        }
    };
    let spec = current.spec.clone().unwrap_or_default();
    let seconds = spec
        .lease_duration_seconds
        .filter(|s| *s > 0)
        .unwrap_or_else(|| duration_seconds(config));
    let expired = first_seen.elapsed() >= Duration::from_secs(u64::try_from(seconds).unwrap_or(1));
    let current_holder = holder(&current).to_owned();
    if !(current_holder.is_empty() || current_holder == config.identity || expired) {
        return Ok(None);
    }
    let mut taken = current;
    let spec = taken.spec.get_or_insert_with(Default::default);
    if current_holder != config.identity {
        spec.acquire_time = Some(now());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.holder_identity = Some(config.identity.clone());
    spec.lease_duration_seconds = Some(duration_seconds(config));
    spec.renew_time = Some(now());
    match api
        .replace(&config.name, &PostParams::default(), &taken)
        .await
    {
        Ok(lease) => Ok(Some(lease)),
        Err(kube::Error::Api(status)) if status.is_conflict() => Ok(None),
        Err(e) => Err(e),
    }
}

/// What one renewal found.
enum Renewal {
    Renewed(Box<Lease>),
    TakenBy(String),
}

/// One renewal: replace guarded by the version we wrote last. On conflict, re-read: still ours
/// (someone touched labels) → renew that version; someone else's → lost. Deleted → re-create.
async fn renew_once(
    api: &Api<Lease>,
    config: &LeaseConfig,
    held: &Lease,
) -> Result<Renewal, kube::Error> {
    let mut base = held.clone();
    for _ in 0..2 {
        let mut next = base.clone();
        let spec = next.spec.get_or_insert_with(Default::default);
        spec.renew_time = Some(now());
        spec.lease_duration_seconds = Some(duration_seconds(config));
        match api
            .replace(&config.name, &PostParams::default(), &next)
            .await
        {
            Ok(lease) => return Ok(Renewal::Renewed(Box::new(lease))),
            Err(kube::Error::Api(status)) if status.is_conflict() => {
                // NB: kube-apiserver answers a guarded replace of a deleted Lease with a
                // conflict (leases may be created on update, and the version does not match).
                let Some(current) = api.get_opt(&config.name).await? else {
                    return recreate(api, config).await;
                };
                if holder(&current) != config.identity {
                    return Ok(Renewal::TakenBy(holder(&current).to_owned()));
                }
                base = current;
            }
            Err(kube::Error::Api(status)) if status.is_not_found() => {
                return recreate(api, config).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(kube::Error::Api(Box::new(
        kube::core::Status::failure("the Lease kept changing during renewal", "Conflict")
            .with_code(409),
    )))
}

/// Creates the deleted Lease again; someone else creating it first took the leadership.
async fn recreate(api: &Api<Lease>, config: &LeaseConfig) -> Result<Renewal, kube::Error> {
    match api
        .create(&PostParams::default(), &fresh_lease(config))
        .await
    {
        Ok(lease) => Ok(Renewal::Renewed(Box::new(lease))),
        Err(kube::Error::Api(status)) if status.is_already_exists() => {
            let current = api.get_opt(&config.name).await?;
            Ok(Renewal::TakenBy(
                current.as_ref().map(holder).unwrap_or_default().to_owned(),
            ))
        }
        Err(e) => Err(e),
    }
}

/// The renewal task; returns the Lease as last written while still held, `None` once lost.
async fn renew(
    api: Api<Lease>,
    config: LeaseConfig,
    mut held: Lease,
    mut renewed_at: Instant,
    lost: CancellationToken,
    stop: CancellationToken,
) -> Option<Lease> {
    loop {
        tokio::select! {
            () = stop.cancelled() => return Some(held),
            () = tokio::time::sleep(config.renew_every) => {}
        }
        let deadline = renewed_at + config.lease_duration;
        let started = Instant::now();
        let outcome = tokio::select! {
            () = stop.cancelled() => return Some(held),
            outcome = tokio::time::timeout_at(deadline, renew_once(&api, &config, &held)) => outcome,
        };
        match outcome {
            Ok(Ok(Renewal::Renewed(lease))) => {
                held = *lease;
                renewed_at = started;
            }
            Ok(Ok(Renewal::TakenBy(other))) => {
                tracing::warn!(lease = %config.name, holder = %other, "leadership lost: another holder took the lease");
                lost.cancel();
                return None;
            }
            Ok(Err(e)) if Instant::now() < deadline => {
                tracing::warn!(error = %crate::kube_error::describe(&e), "renewing the lease failed; retrying");
            }
            Ok(Err(_)) | Err(_) => {
                tracing::warn!(lease = %config.name, "leadership lost: no renewal within the lease duration");
                lost.cancel();
                return None;
            }
        }
    }
}

/// Clears the holder so a standby takes over at once; only while we still hold the Lease.
async fn clear(api: &Api<Lease>, config: &LeaseConfig, held: Lease) -> Result<(), kube::Error> {
    let mut base = held;
    loop {
        let mut next = base.clone();
        let spec = next.spec.get_or_insert_with(Default::default);
        spec.holder_identity = None;
        spec.renew_time = Some(now());
        match api
            .replace(&config.name, &PostParams::default(), &next)
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(status)) if status.is_conflict() => {
                match api.get_opt(&config.name).await? {
                    Some(current) if holder(&current) == config.identity => base = current,
                    _ => return Ok(()),
                }
            }
            Err(kube::Error::Api(status)) if status.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(lease: u64, renew: u64) -> LeaseConfig {
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

    #[test]
    fn lease_seconds_round_up() {
        assert_eq!(duration_seconds(&config(15_000, 1)), 15);
        assert_eq!(duration_seconds(&config(1_500, 1)), 2);
        assert_eq!(duration_seconds(&config(10, 1)), 1);
    }
}
