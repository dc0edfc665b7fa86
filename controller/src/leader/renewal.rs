//! Keeping the Lease: renewing it every `renew_every` until a deadline, re-creating it when
//! deleted, noticing another holder, and clearing it on release.

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::LeaseConfig;
use super::lease::{duration_seconds, fresh_lease, holder, now};

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
pub(super) async fn renew(
    api: Api<Lease>,
    config: LeaseConfig,
    mut held: Lease,
    mut renewed_at: Instant,
    lost: CancellationToken,
    stop: CancellationToken,
) -> Option<Lease> {
    loop {
        let deadline = renewed_at + config.lease_duration;
        // NB: never past the deadline: after a failed renewal, the next try may come later than
        // the lease runs out, and a standby may lead from then on.
        let next = (Instant::now() + config.renew_every).min(deadline);
        tokio::select! {
            () = stop.cancelled() => return Some(held),
            () = tokio::time::sleep_until(next) => {}
        }
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
pub(super) async fn clear(
    api: &Api<Lease>,
    config: &LeaseConfig,
    held: Lease,
) -> Result<(), kube::Error> {
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
