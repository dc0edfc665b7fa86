//! Reading and taking the Lease: who holds it, whether it expired (on our own clock), and the
//! guarded create or replace that makes us its holder.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::time::Instant;

use super::LeaseConfig;

/// Whole seconds of the lease, rounded up (a Lease counts in seconds).
pub(super) fn duration_seconds(config: &LeaseConfig) -> i32 {
    let millis = config.lease_duration.as_millis().div_ceil(1000);
    i32::try_from(millis).unwrap_or(i32::MAX).max(1)
}

pub(super) fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

pub(super) fn is_permanent(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if matches!(status.code, 400 | 401 | 403 | 422))
}

pub(super) fn holder(lease: &Lease) -> &str {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref())
        .unwrap_or_default()
}

/// A Lease held by us from now on.
pub(super) fn fresh_lease(config: &LeaseConfig) -> Lease {
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
pub(super) async fn try_acquire(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leader::tests::config;

    #[test]
    fn lease_seconds_round_up() {
        assert_eq!(duration_seconds(&config(15_000, 1)), 15);
        assert_eq!(duration_seconds(&config(1_500, 1)), 2);
        assert_eq!(duration_seconds(&config(10, 1)), 1);
    }
}
