//! What one step of a reconcile decided, and when to look at a group again.

use std::time::Duration;

use kube::runtime::controller::Action;
use orkestra_shared::crd::{ApplicationGroupSpec, ApplicationGroupStatus};

use super::error::Error;
use super::status::{self, State};

/// Safety-net re-check while a Workflow runs (its changes trigger reconciles anyway).
pub const IN_FLIGHT_RECHECK: Duration = Duration::from_secs(300);

/// The shortest `spec.interval` honoured (Azure Orkestra's short requeue): `0s` re-read the
/// group, its Workflows and every HelmRelease back to back, for good.
pub const MIN_RECHECK: Duration = Duration::from_secs(5);

/// What one step decided: the status to write, then either an action or an error to return.
#[derive(Debug)]
pub struct Outcome {
    /// The new status.
    pub status: ApplicationGroupStatus,
    /// When to look again (`None`: on the next change).
    pub action: Option<Action>,
    /// A failure to report after the status is written (picks the backoff).
    pub error: Option<Error>,
}

impl Outcome {
    /// A step that failed with `error`: `Ready` is `False` with `reason` and `message` in the
    /// status written before the error is returned.
    pub fn not_ready(
        mut status: ApplicationGroupStatus,
        reason: &str,
        message: impl Into<String>,
        generation: i64,
        error: Error,
    ) -> Outcome {
        status::set_ready(&mut status, State::False, reason, message, generation);
        Outcome {
            status,
            action: None,
            error: Some(error),
        }
    }
}

/// When to look at a group again: at `spec.interval` when set (at least [`MIN_RECHECK`]), and
/// while a Workflow runs at most every [`IN_FLIGHT_RECHECK`].
pub fn recheck(spec: &ApplicationGroupSpec, in_flight: bool) -> Action {
    let interval = spec
        .interval
        .as_deref()
        .and_then(|i| orkestra_shared::duration::parse(i).ok())
        .map(|interval| interval.max(MIN_RECHECK));
    match (interval, in_flight) {
        (Some(interval), true) => Action::requeue(interval.min(IN_FLIGHT_RECHECK)),
        (Some(interval), false) => Action::requeue(interval),
        (None, true) => Action::requeue(IN_FLIGHT_RECHECK),
        (None, false) => Action::await_change(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(interval: &str) -> ApplicationGroupSpec {
        ApplicationGroupSpec {
            interval: Some(interval.to_owned()),
            ..ApplicationGroupSpec::default()
        }
    }

    #[test]
    fn a_group_is_looked_at_again_no_sooner_than_the_shortest_interval() {
        for in_flight in [false, true] {
            assert_eq!(
                recheck(&every("0s"), in_flight),
                Action::requeue(MIN_RECHECK)
            );
            assert_eq!(
                recheck(&every("1ms"), in_flight),
                Action::requeue(MIN_RECHECK)
            );
        }
        assert_eq!(
            recheck(&every("30s"), false),
            Action::requeue(Duration::from_secs(30))
        );
        assert_eq!(
            recheck(&every("1h"), true),
            Action::requeue(IN_FLIGHT_RECHECK)
        );
        assert_eq!(
            recheck(&ApplicationGroupSpec::default(), false),
            Action::await_change()
        );
    }
}
